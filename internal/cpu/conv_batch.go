package cpu

// Batched convolutions. When the output map of one image is small, the
// per-image GEMMs of a convolution have few columns (layer 4 of a ResNet on
// 128×128 inputs has 4×4 maps: 16 columns per image against a micro-tile 48
// wide), so most of every micro-tile is wasted, and the backward-weight GEMM
// has a depth of only a few dozen, loading and storing C for every few FMAs.
// For such convolutions (Groups == 1, two images or more) the images run in
// chunks, each chunk as one GEMM whose columns (or depth, for the weight
// gradient) are (image, output position). A chunk holds enough images for
// batchCols columns, so that its operands stay in cache: the whole batch
// when the maps are tiny.

// batchCols is the number of GEMM columns (depth for the weight gradient) a
// chunk of images aims at: chunks hold ⌈batchCols / (OH·OW)⌉ images, and
// convolutions with OH·OW ≥ batchCols run image by image.
var batchCols = 256

// batchMaxScratch is the most scratch values (float32) a chunk may take.
var batchMaxScratch = 1 << 22

// chunkImages returns the number of images per chunk for the convolution p
// (normalised) whose batched path takes perImage scratch values per image,
// or 1 for the per-image path.
func chunkImages(p ConvParams, perImage int) int {
	if p.Groups != 1 || p.N < 2 {
		return 1
	}
	ohw := p.OutH() * p.OutW()
	c := min(p.N, (batchCols+ohw-1)/ohw, batchMaxScratch/max(perImage, 1))
	if c < 2 {
		return 1
	}
	chunks := (p.N + c - 1) / c
	return (p.N + chunks - 1) / chunks // even out the chunks
}

// forwardChunk is the chunk size of the batched forward pass (1: none).
func (v *convView) forwardChunk() int {
	s := v.p.Cout * v.oh * v.ow
	if !v.direct {
		s += v.bufLen
	}
	return chunkImages(v.p, s)
}

// weightChunk is the chunk size of the batched weight gradient (1: none).
func (v *convView) weightChunk() int {
	p := v.p
	s := p.Cout * v.oh * v.ow
	switch {
	case v.direct:
	case v.exactWidth:
		s += v.bufLen
	case p.Cout*p.KH < 16:
		// The shifted view copies the input KW times; the GEMM does about
		// Cout·KH/StrideH multiply-adds per copied value, too few to repay
		// the copy here (1×7 convolutions to 7 channels run faster image
		// by image).
		return 1
	default:
		s += p.KW * p.C * p.StrideH * v.hq * v.ow // the shifted view
	}
	return chunkImages(p, s)
}

// dataChunk is the chunk size of the batched general-case data gradient (1:
// none).
func dataChunk(p ConvParams) int {
	return chunkImages(p, p.C*p.KH*p.KW*p.OutH()*p.OutW())
}

// chunkSource returns a buffer holding the im2col views of the nb images
// of x (one group, image 0 of the chunk first) at multiples of the returned
// stride: x itself for a direct view, else bufs.phase filled with the phase
// planes of the images (in parallel).
func (v *convView) chunkSource(x []float32, nb int, bufs *convBufs) ([]float32, int) {
	p := v.p
	chw := p.C * p.H * p.W
	if v.direct {
		return x, chw
	}
	bufs.phase = grow(bufs.phase, nb*v.bufLen)
	buf := bufs.phase
	Parallel(nb, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			v.fill(x[n*chw:(n+1)*chw], buf[n*v.bufLen:(n+1)*v.bufLen])
		}
	})
	return buf, v.bufLen
}

// chunkColPacker is colPacker over the images of a chunk: column j of the
// im2col matrix is image j / OH·OW, position j % OH·OW, read from the
// image's view at buffer offset n·stride + oh·Wq + ow. Segments of
// contiguous values end at output rows, hence at images.
func (v *convView) chunkColPacker(buf []float32, stride int) bPacker {
	ohw := v.oh * v.ow
	return func(p0, kc, j0, nc, nr int, dst []float32) {
		offs := v.offs[p0 : p0+kc]
		for jr := 0; jr < nc; jr += nr {
			panel := dst[jr*kc : jr*kc+nr*kc]
			end := j0 + jr + min(nr, nc-jr)
			for j := j0 + jr; j < end; {
				n, q := j/ohw, j%ohw
				r, c := q/v.ow, q%v.ow
				seg := min(v.ow-c, end-j)
				lane := j - j0 - jr
				lanes := seg
				if j+seg == end {
					lanes = nr - lane // the last segment also zero-fills the panel
				}
				packRowsLanesIn(panel[lane:], buf, n*stride+r*v.wq+c, offs, v.offLo, v.offHi, seg, lanes, nr)
				j += seg
			}
		}
	}
}

// convForwardBatched is Conv2dForward in chunks of up to chunk images, each
// (nb images) as one GEMM C (Cout × nb·OH·OW) = w (Cout × kdim) · im2col
// (kdim × nb·OH·OW) whose image blocks are then copied into y.
func convForwardBatched(v *convView, x, w, bias, y []float32, chunk int) {
	p := v.p
	ohw := v.oh * v.ow
	chw := p.C * p.H * p.W
	forChunks(p.N, chunk, func(n0, nb int, bufs *convBufs, threaded bool) {
		cols := nb * ohw
		buf, stride := v.chunkSource(x[n0*chw:], nb, bufs)
		bufs.out = grow(bufs.out, p.Cout*cols)
		c := bufs.out
		pa, pb := matPacker(w, v.kdim), v.chunkColPacker(buf, stride)
		if threaded {
			gemmParallel(active, p.Cout, cols, v.kdim, 1, pa, pb, 0, c, cols, bias, nil)
		} else {
			gemmPacked(active, p.Cout, cols, v.kdim, 1, pa, pb, 0, c, cols, bias, nil)
		}
		yc := y[n0*p.Cout*ohw:]
		ParallelGrain(nb, max(1, (1<<14)/(p.Cout*ohw)), func(lo, hi int) {
			for n := lo; n < hi; n++ {
				for co := 0; co < p.Cout; co++ {
					copy(yc[(n*p.Cout+co)*ohw:(n*p.Cout+co+1)*ohw], c[co*cols+n*ohw:co*cols+(n+1)*ohw])
				}
			}
		})
	})
}

// forChunks runs one(n0, nb, bufs, threaded) for the chunks [n0, n0+nb) of
// a batch of n images, each with scratch bufs of its own: like runImages,
// either spreading whole chunks over the threads (threaded false) or
// running them in order with threaded inner work.
func forChunks(n, chunk int, one func(n0, nb int, bufs *convBufs, threaded bool)) {
	chunks := (n + chunk - 1) / chunk
	run := func(c int, threaded bool) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		one(c*chunk, min(chunk, n-c*chunk), bufs, threaded)
	}
	if splitImages(chunks) {
		Parallel(chunks, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				run(c, false)
			}
		})
		return
	}
	for c := 0; c < chunks; c++ {
		run(c, true)
	}
}

// shiftedView is the transposed im2col matrix of the images of a chunk in a
// layout without thrown-away columns: row (ci, kh, kw) of the im2col matrix
// of image n is the contiguous run
//
//	buf[n·stride + offs[(ci, kh, kw)] : … + OH·OW]
//
// so the depth of the weight-gradient GEMM is exactly nb·OH·OW. When the
// phase planes have no thrown-away columns (Wq == OW) they are that layout;
// otherwise, for each kernel column kw, the padded input rows are shifted
// by kw and cut to the OW output columns (split into row phases for
// StrideH > 1).
type shiftedView struct {
	buf    []float32
	stride int // values per image
	offs   []int32
	lo, hi int32 // bounds of offs
	ohw    int
}

// newShiftedView builds the shifted view of the nb images of x (image 0 of
// the chunk first) in bufs.
func newShiftedView(v *convView, x []float32, nb int, bufs *convBufs) *shiftedView {
	p := v.p
	sv := &shiftedView{ohw: v.oh * v.ow}
	if v.direct || v.exactWidth {
		sv.buf, sv.stride = v.chunkSource(x, nb, bufs)
		sv.offs, sv.lo, sv.hi = v.offs, v.offLo, v.offHi
		return sv
	}
	sh, sw := p.StrideH, p.StrideW
	rows := p.C * sh * v.hq // rows per shift: for each channel, sh row phases of hq rows
	block := rows * v.ow
	sv.stride = p.KW * block
	// offs: the rows of the im2col matrix; rowOffs: where the shifted
	// view's rows start in the phase planes, for shift 0.
	if cap(bufs.offs) < v.kdim+rows {
		bufs.offs = make([]int32, v.kdim+rows)
	}
	sv.offs = bufs.offs[:v.kdim]
	rowOffs := bufs.offs[v.kdim : v.kdim+rows]
	for ci := 0; ci < p.C; ci++ {
		for kh := 0; kh < p.KH; kh++ {
			dy := kh * p.DilH
			for kw := 0; kw < p.KW; kw++ {
				sv.offs[(ci*p.KH+kh)*p.KW+kw] = int32(kw*block + ((ci*sh+dy%sh)*v.hq+dy/sh)*v.ow)
			}
		}
		for a := 0; a < sh; a++ {
			for i := 0; i < v.hq; i++ {
				rowOffs[(ci*sh+a)*v.hq+i] = int32((a*sw*p.C+ci)*v.plane + i*v.wq)
			}
		}
	}
	sv.lo, sv.hi = minmax(sv.offs)
	rlo, rhi := minmax(rowOffs)
	bufs.phase = grow(bufs.phase, nb*sv.stride)
	sv.buf = bufs.phase
	chw := p.C * p.H * p.W
	Parallel(nb, func(lo, hi int) {
		scratch := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(scratch)
		scratch.wt = grow(scratch.wt, v.bufLen)
		phase := scratch.wt
		for n := lo; n < hi; n++ {
			v.fill(x[n*chw:(n+1)*chw], phase)
			dst := sv.buf[n*sv.stride : (n+1)*sv.stride]
			for kw := 0; kw < p.KW; kw++ {
				dx := kw * p.DilW
				base := dx%sw*p.C*v.plane + dx/sw
				packRowsLanesIn(dst[kw*block:], phase, base, rowOffs, rlo, rhi, v.ow, v.ow, v.ow)
			}
		}
	})
	return sv
}

// packer packs the transposed view (rows: depth positions (n, oh, ow),
// columns: (ci, kh, kw)) as op(B) of a GEMM. A block of depth may span
// several images; it is packed one image's piece at a time.
func (sv *shiftedView) packer() bPacker {
	return func(p0, kc, j0, nc, nr int, dst []float32) {
		for jr := 0; jr < nc; jr += nr {
			nrr := min(nr, nc-jr)
			offs := sv.offs[j0+jr : j0+jr+nrr]
			panel := dst[jr*kc : jr*kc+nr*kc]
			for q := p0; q < p0+kc; {
				n, t := q/sv.ohw, q%sv.ohw
				seg := min(sv.ohw-t, p0+kc-q)
				packTransposeOffsIn(panel[(q-p0)*nr:(q-p0+seg)*nr], sv.buf, n*sv.stride+t, offs, sv.lo, sv.hi, seg, nr)
				q += seg
			}
		}
	}
}

// convBackwardWeightBatched is Conv2dBackwardWeight (without dbias) in
// chunks of up to chunk images, each (nb images) as one GEMM of depth
// nb·OH·OW accumulated into dw: dw (Cout × kdim) += dy' (Cout × nb·OH·OW) · view (nb·OH·OW × kdim),
// dy' holding image n's dy in columns n·OH·OW on and view the shifted view
// of the chunk's images.
func convBackwardWeightBatched(v *convView, x, dy, dw []float32, chunk int) {
	p := v.p
	ohw := v.oh * v.ow
	chw := p.C * p.H * p.W
	bufs := convBufPool.Get().(*convBufs)
	defer convBufPool.Put(bufs)
	for n0 := 0; n0 < p.N; n0 += chunk {
		nb := min(chunk, p.N-n0)
		k := nb * ohw
		sv := newShiftedView(v, x[n0*chw:], nb, bufs)
		bufs.out = grow(bufs.out, p.Cout*k)
		a := bufs.out
		dyc := dy[n0*p.Cout*ohw:]
		ParallelGrain(nb, max(1, (1<<14)/(p.Cout*ohw)), func(lo, hi int) {
			for n := lo; n < hi; n++ {
				for co := 0; co < p.Cout; co++ {
					copy(a[co*k+n*ohw:co*k+(n+1)*ohw], dyc[(n*p.Cout+co)*ohw:(n*p.Cout+co+1)*ohw])
				}
			}
		})
		var da *directA
		if v.kdim <= directMaxPanels*active.nr {
			da = &directA{a, k} // few columns: read dy' in place
		}
		beta := float32(1)
		if n0 == 0 {
			beta = 0
		}
		// B (the view, nb·OH·OW × kdim) is the big operand: split its columns.
		gemmColumns(active, p.Cout, v.kdim, k, 1, matPacker(a, k), sv.packer(), beta, dw, v.kdim, nil, da)
	}
}

// convBackwardDataBatched is the general case of Conv2dBackwardData (p
// normalised, one group) in chunks of up to chunk images, each (nb images)
// as one GEMM dcol (kdim × nb·OH·OW) = wᵀ · dy', dy' (Cout × nb·OH·OW) holding image n's
// dy in columns n·OH·OW on, followed by Col2im per image (in parallel).
func convBackwardDataBatched(p ConvParams, dy, w, dx []float32, chunk int) {
	kdim := p.C * p.KH * p.KW
	ohw := p.OutH() * p.OutW()
	chw := p.C * p.H * p.W
	tbl := convBufPool.Get().(*convBufs)
	defer convBufPool.Put(tbl)
	if cap(tbl.offs) < p.Cout {
		tbl.offs = make([]int32, p.Cout)
	}
	offs := tbl.offs[:p.Cout]
	for co := range offs {
		offs[co] = int32(co * ohw)
	}
	pa := func(i0, mc, p0, kc, mr int, dst []float32) { packA(true, w, kdim, i0, mc, p0, kc, mr, dst) }
	forChunks(p.N, chunk, func(n0, nb int, bufs *convBufs, threaded bool) {
		cols := nb * ohw
		bufs.out = grow(bufs.out, kdim*cols)
		col := bufs.out
		dyc := dy[n0*p.Cout*ohw:]
		// op(B)[co, j] = dy[n, co, q] with n = n0 + j / OH·OW, q = j % OH·OW.
		pb := func(p0, kc, j0, nc, nr int, dst []float32) {
			o := offs[p0 : p0+kc]
			lo, hi := o[0], o[kc-1]
			for jr := 0; jr < nc; jr += nr {
				panel := dst[jr*kc : jr*kc+nr*kc]
				end := j0 + jr + min(nr, nc-jr)
				for j := j0 + jr; j < end; {
					n, q := j/ohw, j%ohw
					seg := min(ohw-q, end-j)
					lane := j - j0 - jr
					lanes := seg
					if j+seg == end {
						lanes = nr - lane
					}
					packRowsLanesIn(panel[lane:], dyc, n*p.Cout*ohw+q, o, lo, hi, seg, lanes, nr)
					j += seg
				}
			}
		}
		if threaded {
			gemmParallel(active, kdim, cols, p.Cout, 1, pa, pb, 0, col, cols, nil, nil)
		} else {
			gemmPacked(active, kdim, cols, p.Cout, 1, pa, pb, 0, col, cols, nil, nil)
		}
		Parallel(nb, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				dxn := dx[(n0+n)*chw : (n0+n+1)*chw]
				clear(dxn)
				col2im(p, col[n*ohw:], cols, dxn)
			}
		})
	})
}
