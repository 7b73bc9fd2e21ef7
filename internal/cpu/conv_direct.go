package cpu

import "fmt"

// Direct convolutions for a small depth Cin/Groups·KH·KW (the stem of a
// network: 3 input channels, depth 27 for a 3×3 kernel).
//
// The GEMM of such a convolution is short and wide: per image, Cout rows,
// OH·OW columns and a depth of a few dozen. Packing its B operand (the
// im2col matrix, depth × columns) copies as many values as the product
// then multiplies by each, and the weight gradient's GEMM (Cout × depth,
// depth of OH·OW per image) wastes most of a micro-tile on its few
// columns. Instead, the kernels here read the im2col matrix in place from
// the phase planes of the convolution's view (convView): row p of it at
// output row r is the contiguous run buf[offs[p] + r·Wq : … + OW].
//
//   - Forward: for each output row, tiles of mr output channels × nv
//     vectors of output columns, C[i][j] = Σ_p A[p][i]·B[p][j] with A the
//     weights packed in panels of mr rows (broadcast) and B vectors loaded
//     through the offset table; the tile is written straight into y (the
//     last vector under a mask), bias included.
//   - Weight gradient: dw[co][p] = Σ_positions dy[co][pos]·B[p][pos] as r×s
//     dot products with vector accumulators, over bands of output rows that
//     stay in L1, reduced at the end of each band.
//
// The input gradient keeps the GEMM path (conv.go).

// convKernels are the direct-convolution kernels of a micro-kernel path.
type convKernels struct {
	// fwd computes, for t < rows, i < mr and j < cols (1 ≤ cols ≤
	// 16·fwdVecs(mr)):
	//
	//	c[t·cRow + i·ldc + j] = Σ_{p<kc} a[p·aStride + i] · b[base + t·bRow + offs[p] + j] (+ bias[i])
	//
	// with lo ≤ offs[p] ≤ hi; bias may be nil.
	fwd func(rows, kc int, a []float32, aStride int, b []float32, base, bRow int, offs []int32, lo, hi int32, c []float32, ldc, cRow int, bias []float32, mr, cols int)
	// fwdRows is the largest mr of fwd; fwdVecs(mr) the most vectors of
	// 16 columns a tile of mr rows may have.
	fwdRows int
	fwdVecs func(mr int) int
	// wgt adds, for i < r and q < s (r ≤ wgtRows, s ≤ wgtCols):
	//
	//	dw[i·ldw + q] += Σ_{t<rows} Σ_{j<cols} dy[i·ldy + t·dyRow + j] · b[base + offs[q] + t·bRow + j]
	//
	// with lo ≤ offs[q] ≤ hi.
	wgt              func(rows, cols int, dy []float32, ldy, dyRow int, b []float32, base int, offs []int32, lo, hi int32, bRow int, dw []float32, ldw, r, s int)
	wgtRows, wgtCols int
}

// directMaxDepth is the largest depth Cin/Groups·KH·KW the direct kernels
// run; deeper convolutions amortise the packing of the GEMM path.
var directMaxDepth = 64

// directMinWidth is the narrowest output row the direct kernels run: their
// tiles lie within one output row, in vectors of 16 columns.
const directMinWidth = 16

// useDirect reports whether the convolution v runs on the direct kernels
// of the micro-kernel path k.
func (v *convView) useDirect(k kernel) bool {
	return k.conv != nil && v.kdim <= directMaxDepth && v.ow >= directMinWidth
}

// fwdTile returns the forward tile for coutG output channels and rows of
// ow columns: mr rows (the weights are packed in panels of mr) and at most
// nv vectors of 16 columns per tile. The panels are as tall as the kernels
// allow, evened out (13 channels run as 7 + 6, not 8 + 5), and a tile has
// about 16 accumulators: on Zen 5 the unaligned B loads cost more than the
// broadcasts, so for the stem (32 channels, 64 columns) 8×2 tiles beat
// 4×4, 6×4, 4×2 and 8×1 ones.
func (ck *convKernels) fwdTile(coutG, ow int) (mr, nv int) {
	panels := (coutG + ck.fwdRows - 1) / ck.fwdRows
	mr = (coutG + panels - 1) / panels
	vecs := (ow + 15) / 16
	nv = max(1, min(vecs, ck.fwdVecs(mr), max(2, 16/mr)))
	return mr, nv
}

// convForwardDirect is Conv2dForward on the direct kernels of k. The output
// rows run in bands: the phase-plane rows a band reads (fillRows) stay in
// L1 while every panel of weights runs over them.
func convForwardDirect(v *convView, k kernel, x, w, bias, y []float32) {
	p := v.p
	ck := k.conv
	mr, nv := ck.fwdTile(v.coutG, v.ow)
	if fwdTileOverride.mr != 0 {
		mr, nv = fwdTileOverride.mr, fwdTileOverride.nv
	}
	panels := (v.coutG + mr - 1) / mr
	aLen := panels * mr * v.kdim
	band, bh := v.fwdBand()
	wbufs := convBufPool.Get().(*convBufs)
	defer convBufPool.Put(wbufs)
	wbufs.wt = grow(wbufs.wt, p.Groups*aLen)
	apack := wbufs.wt
	for g := 0; g < p.Groups; g++ {
		packA(false, w[g*v.coutG*v.kdim:(g+1)*v.coutG*v.kdim], v.kdim, 0, v.coutG, 0, v.kdim, mr, apack[g*aLen:(g+1)*aLen])
	}
	offs, lo, hi := v.offs, v.offLo, v.offHi
	if !v.direct {
		if cap(wbufs.offs) < v.kdim {
			wbufs.offs = make([]int32, v.kdim)
		}
		offs = wbufs.offs[:v.kdim]
		v.planeOffs(bh, offs)
		lo, hi = minmax(offs)
	}
	// Column tiles of an output row: vecs vectors in tiles of at most nv,
	// evened out.
	vecs := (v.ow + 15) / 16
	ctiles := (vecs + nv - 1) / nv
	ohw := v.oh * v.ow
	halo := v.hq - v.oh
	chw := v.cg * p.H * p.W
	// rows computes the output rows [r0, r1) of image n, group g.
	rows := func(n, g, r0, r1 int, bufs *convBufs) {
		xg := x[(n*p.C+g*v.cg)*p.H*p.W:][:chw]
		ag := apack[g*aLen : (g+1)*aLen]
		yg := y[(n*p.Cout+g*v.coutG)*ohw : (n*p.Cout+(g+1)*v.coutG)*ohw]
		src := xg
		if !v.direct {
			bufs.phase = grow(bufs.phase, p.StrideH*p.StrideW*v.cg*bh*v.wq)
			src = bufs.phase
		}
		for b0 := r0; b0 < r1; b0 += band {
			nr := min(band, r1-b0)
			base := b0 * v.wq
			if !v.direct {
				v.fillRows(xg, src, b0, b0+nr+halo, bh, false)
				base = 0
			}
			for q := 0; q < panels; q++ {
				mrr := min(mr, v.coutG-q*mr)
				var bg []float32
				if bias != nil {
					bg = bias[g*v.coutG+q*mr : g*v.coutG+q*mr+mrr]
				}
				for t := 0; t < ctiles; t++ {
					c0 := t * vecs / ctiles * 16
					c1 := min(v.ow, (t+1)*vecs/ctiles*16)
					ck.fwd(nr, v.kdim, ag[q*mr*v.kdim:], mr, src, base+c0, v.wq, offs, lo, hi,
						yg[q*mr*ohw+b0*v.ow+c0:], ohw, v.ow, bg, mrr, c1-c0)
				}
			}
		}
	}
	tasks := p.N * p.Groups
	if splitImages(tasks) {
		Parallel(tasks, func(lo, hi int) {
			bufs := convBufPool.Get().(*convBufs)
			defer convBufPool.Put(bufs)
			for t := lo; t < hi; t++ {
				rows(t/p.Groups, t%p.Groups, 0, v.oh, bufs)
			}
		})
		return
	}
	for t := 0; t < tasks; t++ {
		ParallelGrain(v.oh, band, func(lo, hi int) {
			bufs := convBufPool.Get().(*convBufs)
			defer convBufPool.Put(bufs)
			rows(t/p.Groups, t%p.Groups, lo, hi, bufs)
		})
	}
}

// fwdBand returns the output rows of a band of the forward pass and the
// phase-plane rows it reads (band + Hq − OH): as many as fit in
// fwdBandBytes, at least one.
func (v *convView) fwdBand() (band, bh int) {
	p := v.p
	halo := v.hq - v.oh
	perRow := 4 * p.StrideH * p.StrideW * v.cg * v.wq
	band = max(1, min(v.oh, fwdBandBytes/perRow-halo))
	return band, band + halo
}

// fwdBandBytes is the L1 budget of the phase-plane rows of a band of the
// forward pass.
var fwdBandBytes = 16 << 10

// fwdTileOverride, when its mr is not 0, replaces fwdTile's choice (for
// benchmarks).
var fwdTileOverride struct{ mr, nv int }

// wgtBand is the number of output rows of one band of the weight gradient:
// the rows of dy (Cout/Groups of them) and of the phase planes a band
// reads fit in about wgtBandBytes.
func (v *convView) wgtBand() int {
	p := v.p
	perRow := 4 * (v.coutG*v.ow + v.cg*p.StrideH*p.StrideW*v.wq)
	return max(1, min(v.oh, wgtBandBytes/perRow))
}

// wgtBandBytes is the L1 budget of a band of the weight gradient.
var wgtBandBytes = 1 << 30

// convBackwardWeightDirect is Conv2dBackwardWeight (without dbias, dw
// cleared) on the direct kernels of k.
func convBackwardWeightDirect(v *convView, k kernel, x, dy, dw []float32) {
	p := v.p
	ck := k.conv
	ohw := v.oh * v.ow
	band := v.wgtBand()
	// image-group band adds the band of output rows [r0, r1) of image n,
	// group g (buf its view) to acc.
	imageRows := func(acc []float32, n, g int, buf []float32, r0, r1 int) {
		dyg := dy[(n*p.Cout+g*v.coutG)*ohw : (n*p.Cout+(g+1)*v.coutG)*ohw]
		dwg := acc[g*v.coutG*v.kdim : (g+1)*v.coutG*v.kdim]
		for b0 := r0; b0 < r1; b0 += band {
			rows := min(band, r1-b0)
			for i0 := 0; i0 < v.coutG; i0 += ck.wgtRows {
				r := min(ck.wgtRows, v.coutG-i0)
				for q0 := 0; q0 < v.kdim; q0 += ck.wgtCols {
					s := min(ck.wgtCols, v.kdim-q0)
					ck.wgt(rows, v.ow, dyg[i0*ohw+b0*v.ow:], ohw, v.ow, buf, b0*v.wq, v.offs[q0:q0+s], v.offLo, v.offHi,
						v.wq, dwg[i0*v.kdim+q0:], v.kdim, r, s)
				}
			}
		}
	}
	// The N·Groups·OH output rows are split evenly over the threads, each
	// accumulating into its own copy of dw (the first one dw itself).
	parts := Threads()
	total := p.N * p.Groups * v.oh
	parts = max(1, min(parts, total/max(1, min(v.oh, 8))))
	partial := make([][]float32, parts)
	partial[0] = dw
	for i := 1; i < parts; i++ {
		b := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(b)
		b.out = grow(b.out, len(dw))
		partial[i] = b.out
		clear(partial[i])
	}
	work := func(part int) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		lo, hi := part*total/parts, (part+1)*total/parts
		for t := lo; t < hi; {
			img := t / v.oh
			r0 := t % v.oh
			r1 := min(v.oh, r0+hi-t)
			n, g := img/p.Groups, img%p.Groups
			buf, _ := v.source(x, n, g, bufs)
			imageRows(partial[part], n, g, buf, r0, r1)
			t += r1 - r0
		}
	}
	parallelTasks(parts, work)
	for _, part := range partial[1:] {
		for i, val := range part {
			dw[i] += val
		}
	}
}

// genericConv is the pure-Go twin of the assembly direct kernels, for the
// generic micro-kernel path.
var genericConv = &convKernels{
	fwd:     convFwdGeneric,
	fwdRows: 4,
	fwdVecs: func(int) int { return 4 },
	wgt:     convWgtGeneric,
	wgtRows: 4,
	wgtCols: 4,
}

// checkConvB panics unless b[base+lo : base+hi+extent] lies inside b: the
// reads of a direct kernel at offsets in [lo, hi] plus up to extent values.
func checkConvB(op string, b []float32, base int, lo, hi int32, extent int) {
	if base+int(lo) < 0 || base+int(hi)+extent > len(b) {
		panic(fmt.Sprintf("cpu.%s: offsets [%d, %d]+%d outside %d values", op, base+int(lo), base+int(hi), extent, len(b)))
	}
}

// convFwdGeneric is convKernels.fwd in Go.
func convFwdGeneric(rows, kc int, a []float32, aStride int, b []float32, base, bRow int, offs []int32, lo, hi int32, c []float32, ldc, cRow int, bias []float32, mr, cols int) {
	checkConvB("convFwd", b, base, lo, hi, (rows-1)*bRow+cols)
	_ = a[(kc-1)*aStride+mr-1]
	for t := 0; t < rows; t++ {
		for i := 0; i < mr; i++ {
			row := c[t*cRow+i*ldc : t*cRow+i*ldc+cols]
			clear(row)
			for p, o := range offs[:kc] {
				av := a[p*aStride+i]
				s := base + t*bRow + int(o)
				for j, x := range b[s : s+cols] {
					row[j] += av * x
				}
			}
			if bias != nil {
				for j := range row {
					row[j] += bias[i]
				}
			}
		}
	}
}

// convWgtGeneric is convKernels.wgt in Go.
func convWgtGeneric(rows, cols int, dy []float32, ldy, dyRow int, b []float32, base int, offs []int32, lo, hi int32, bRow int, dw []float32, ldw, r, s int) {
	checkConvB("convWgt", b, base, lo, hi, (rows-1)*bRow+cols)
	for i := 0; i < r; i++ {
		for q := 0; q < s; q++ {
			var acc float32
			for t := 0; t < rows; t++ {
				d := dy[i*ldy+t*dyRow : i*ldy+t*dyRow+cols]
				src := b[base+int(offs[q])+t*bRow : base+int(offs[q])+t*bRow+cols]
				for j, x := range src {
					acc += d[j] * x
				}
			}
			dw[i*ldw+q] += acc
		}
	}
}
