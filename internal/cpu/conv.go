package cpu

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// ConvParams describes a 2-D convolution (cross-correlation, as PyTorch's
// Conv2d) in NCHW layout:
//
//	x: (N, C, H, W)   w: (Cout, C/Groups, KH, KW)   bias: (Cout)   y: (N, Cout, OH, OW)
//	y[n, co, oh, ow] = bias[co] + Σ_{ci, kh, kw} w[co, ci, kh, kw] ·
//	    x[n, g·C/Groups + ci, oh·StrideH − PadH + kh·DilH, ow·StrideW − PadW + kw·DilW]
//
// with g = co / (Cout/Groups) and x zero outside the image. Zero StrideH,
// StrideW, DilH, DilW or Groups mean 1.
type ConvParams struct {
	N, C, H, W, Cout, KH, KW, StrideH, StrideW, PadH, PadW, DilH, DilW, Groups int
}

// OutH is the output height (H + 2·PadH − DilH·(KH−1) − 1)/StrideH + 1.
func (p ConvParams) OutH() int {
	p = p.norm()
	return (p.H+2*p.PadH-p.DilH*(p.KH-1)-1)/p.StrideH + 1
}

// OutW is the output width (W + 2·PadW − DilW·(KW−1) − 1)/StrideW + 1.
func (p ConvParams) OutW() int {
	p = p.norm()
	return (p.W+2*p.PadW-p.DilW*(p.KW-1)-1)/p.StrideW + 1
}

func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// norm replaces the zero strides, dilations and groups by 1.
func (p ConvParams) norm() ConvParams {
	p.StrideH, p.StrideW = one(p.StrideH), one(p.StrideW)
	p.DilH, p.DilW = one(p.DilH), one(p.DilW)
	p.Groups = one(p.Groups)
	return p
}

// String describes the convolution for error messages.
func (p ConvParams) String() string {
	return fmt.Sprintf("x (%d,%d,%d,%d) w (%d,%d,%d,%d) stride (%d,%d) pad (%d,%d) dil (%d,%d) groups %d",
		p.N, p.C, p.H, p.W, p.Cout, p.C/max(p.Groups, 1), p.KH, p.KW, p.StrideH, p.StrideW, p.PadH, p.PadW, p.DilH, p.DilW, p.Groups)
}

// check panics unless p is a valid convolution and the slices have the
// sizes it implies (bias may be nil).
func (p ConvParams) check(op string, x, w, bias, y []float32) {
	bad := p.N < 0 || p.C < 1 || p.H < 1 || p.W < 1 || p.Cout < 1 || p.KH < 1 || p.KW < 1 ||
		p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 || p.DilH < 1 || p.DilW < 1 ||
		p.Groups < 1 || p.C%p.Groups != 0 || p.Cout%p.Groups != 0
	if bad || p.OutH() < 1 || p.OutW() < 1 {
		panic(fmt.Sprintf("%s: invalid convolution %v", op, p))
	}
	want := func(name string, s []float32, n int) {
		if len(s) != n {
			panic(fmt.Sprintf("%s: %s has %d values, want %d for %v", op, name, len(s), n, p))
		}
	}
	want("x", x, p.N*p.C*p.H*p.W)
	want("w", w, p.Cout*(p.C/p.Groups)*p.KH*p.KW)
	if bias != nil {
		want("bias", bias, p.Cout)
	}
	want("y", y, p.N*p.Cout*p.OutH()*p.OutW())
}

// convView is the implicit-GEMM view of one image and group of a
// convolution. The zero-padded input is split into StrideH×StrideW phase
// planes of Hq×Wq (phase (a, b) holds padded rows a, a+sh, … and columns
// b, b+sw, …), so that the im2col matrix becomes a set of shifted
// contiguous rows:
//
//	col[(ci, kh, kw), oh·Wq + ow] = buf[offs[(ci, kh, kw)] + oh·Wq + ow]
//
// for ow < OW; the Wq−OW extra columns per output row are computed and
// thrown away. For stride 1 this is just the padded input.
type convView struct {
	p          ConvParams
	oh, ow     int
	cg, coutG  int // channels per group in and out
	kdim       int // cg*KH*KW
	hq, wq     int // phase plane size
	plane      int // hq*wq
	ncols      int // oh*wq: GEMM columns
	bufLen     int // phase buffer length for one image-group, with slack
	offs       []int32
	offLo      int32 // bounds of offs
	offHi      int32
	direct     bool // x itself is the buffer (stride 1, no padding, KW == 1)
	exactWidth bool // wq == ow: no thrown-away columns
	// rowOffs[y] = y·W: the input rows, for fill1.
	rowOffs []int32
	// phaseUsed[a·StrideW + b] says whether some kernel position reads
	// phase (a, b); fill only clears the others (1×1 strided kernels read
	// one phase of StrideH·StrideW).
	phaseUsed []bool
}

// viewCache keeps the views of the convolutions seen so far (they are
// read-only once built), so steady-state training builds none. It stops
// growing at maxCachedViews shapes.
var (
	viewCache  sync.Map // ConvParams → *convView
	viewCached atomic.Int32
)

const maxCachedViews = 4096

func newConvView(p ConvParams) *convView {
	if v, ok := viewCache.Load(p); ok {
		return v.(*convView)
	}
	v := buildConvView(p)
	if viewCached.Add(1) <= maxCachedViews {
		viewCache.Store(p, v)
	}
	return v
}

func buildConvView(p ConvParams) *convView {
	v := &convView{p: p, oh: p.OutH(), ow: p.OutW()}
	v.cg, v.coutG = p.C/p.Groups, p.Cout/p.Groups
	v.kdim = v.cg * p.KH * p.KW
	v.hq = v.oh + (p.KH-1)*p.DilH/p.StrideH
	v.wq = v.ow + (p.KW-1)*p.DilW/p.StrideW
	v.plane = v.hq * v.wq
	v.ncols = v.oh * v.wq
	phases := p.StrideH * p.StrideW
	v.bufLen = phases*v.cg*v.plane + v.wq
	v.direct = p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 && p.KW == 1
	v.exactWidth = v.wq == v.ow
	if v.bufLen >= 1<<31 || v.cg*p.H*p.W >= 1<<31 {
		panic(fmt.Sprintf("cpu: convolution %v: one image-group has 2³¹ values or more, beyond the kernels' 32-bit offsets", p))
	}
	v.offs = make([]int32, v.kdim)
	if phases == 1 {
		v.rowOffs = make([]int32, p.H)
		for y := range v.rowOffs {
			v.rowOffs[y] = int32(y * p.W)
		}
	}
	v.phaseUsed = make([]bool, phases)
	for kh := 0; kh < p.KH; kh++ {
		for kw := 0; kw < p.KW; kw++ {
			v.phaseUsed[kh*p.DilH%p.StrideH*p.StrideW+kw*p.DilW%p.StrideW] = true
		}
	}
	if v.direct {
		for ci := 0; ci < v.cg; ci++ {
			for kh := 0; kh < p.KH; kh++ {
				v.offs[ci*p.KH+kh] = int32(ci*p.H*p.W + kh*p.DilH*p.W) // KW == 1
			}
		}
	} else {
		v.planeOffs(v.hq, v.offs)
	}
	v.offLo, v.offHi = minmax(v.offs)
	return v
}

// planeOffs sets offs[(ci·KH + kh)·KW + kw] to the offset of row p =
// (ci, kh, kw) of the im2col matrix in phase planes of bh rows of Wq each
// (plane (a, b, ci) at ((a·StrideW + b)·Cg + ci)·bh·Wq, as fillRows lays
// them out): bh = Hq for the whole image, fewer for a band of rows.
func (v *convView) planeOffs(bh int, offs []int32) {
	p := v.p
	plane := bh * v.wq
	for ci := 0; ci < v.cg; ci++ {
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				dy, dx := kh*p.DilH, kw*p.DilW
				a, b := dy%p.StrideH, dx%p.StrideW
				offs[(ci*p.KH+kh)*p.KW+kw] = int32(((a*p.StrideW+b)*v.cg+ci)*plane + dy/p.StrideH*v.wq + dx/p.StrideW)
			}
		}
	}
}

// fill writes the phase planes of one image-group xg (cg, H, W) into buf
// (bufLen values).
func (v *convView) fill(xg, buf []float32) {
	p := v.p
	if p.StrideH == 1 && p.StrideW == 1 {
		v.fill1(xg, buf)
		return
	}
	v.fillRows(xg, buf, 0, v.hq, v.hq, true)
	clear(buf[len(buf)-v.wq:])
}

// fillRows writes the rows [i0, i1) of the phase planes of one image-group
// xg (cg, H, W) into buf, laid out as planes of bh ≥ i1 − i0 rows of Wq
// (plane (a, b, ci) at ((a·StrideW + b)·Cg + ci)·bh·Wq, phase row i at
// (i − i0)·Wq in it): the whole planes for i0 = 0, i1 = bh = Hq, the rows
// a band of output rows reads otherwise (see planeOffs). The planes of
// phases that no kernel position reads are cleared when clearUnused, else
// left alone. For StrideW == 2 each input row is split into its even and
// odd columns straight into the two column phases' rows, and only the few
// border positions are set one by one.
func (v *convView) fillRows(xg, buf []float32, i0, i1, bh int, clearUnused bool) {
	p := v.p
	sh, sw := p.StrideH, p.StrideW
	plane := bh * v.wq
	planeOf := func(a, b, ci int) []float32 {
		o := ((a*sw+b)*v.cg + ci) * plane
		return buf[o : o+plane]
	}
	// For StrideW == 2, phase b holds padded column 2j+b, input column
	// 2j + t with t = b − PadW: the even input columns (shifted by qe) go
	// to one phase, the odd ones (shifted by qo) to the other.
	var be, bo, qe, qo, iStart, iEnd int
	if sw == 2 {
		for b := 0; b < 2; b++ {
			t := b - p.PadW
			if t&1 == 0 {
				be, qe = b, t>>1
			} else {
				bo, qo = b, t>>1
			}
		}
		iStart = max(0, qe, qo)
		iEnd = min(p.W/2, v.wq+qe, v.wq+qo)
	}
	for a := 0; a < sh; a++ {
		for b := 0; b < sw; b++ {
			if !v.phaseUsed[a*sw+b] && (sw != 2 || !v.phaseUsed[a*sw+1-b]) {
				if clearUnused {
					for ci := 0; ci < v.cg; ci++ {
						clear(planeOf(a, b, ci)[:(i1-i0)*v.wq])
					}
				}
				continue
			}
			if sw == 2 && b == 1 {
				continue // written with b = 0
			}
			for ci := 0; ci < v.cg; ci++ {
				src := xg[ci*p.H*p.W : (ci+1)*p.H*p.W]
				dst := planeOf(a, b, ci)
				var dstO []float32
				if sw == 2 {
					dst, dstO = planeOf(a, be, ci), planeOf(a, bo, ci)
				}
				for i := i0; i < i1; i++ {
					row := dst[(i-i0)*v.wq : (i-i0+1)*v.wq]
					y := i*sh + a - p.PadH
					if sw == 2 {
						rowO := dstO[(i-i0)*v.wq : (i-i0+1)*v.wq]
						if y < 0 || y >= p.H {
							clear(row)
							clear(rowO)
							continue
						}
						srow := src[y*p.W : (y+1)*p.W]
						if iEnd > iStart {
							deinterleave2(row[iStart-qe:iEnd-qe], rowO[iStart-qo:iEnd-qo], srow[2*iStart:2*iEnd])
						}
						// The borders: row[j] = srow[2(j+qe)], rowO[j] = srow[2(j+qo)+1], 0 outside.
						fillBorder(row, srow, qe, 0, iStart, iEnd)
						fillBorder(rowO, srow, qo, 1, iStart, iEnd)
						continue
					}
					if y < 0 || y >= p.H {
						clear(row)
						continue
					}
					srow := src[y*p.W : (y+1)*p.W]
					// Columns j with 0 ≤ j*sw + b - PadW < W.
					x0 := b - p.PadW
					jlo := 0
					if x0 < 0 {
						jlo = (-x0 + sw - 1) / sw
					}
					jhi := 0
					if p.W-1-x0 >= 0 {
						jhi = (p.W-1-x0)/sw + 1
					}
					jlo, jhi = min(jlo, v.wq), min(jhi, v.wq)
					if jhi <= jlo {
						clear(row)
						continue
					}
					clear(row[:jlo])
					if sw == 1 {
						copy(row[jlo:jhi], srow[jlo+x0:jhi+x0])
					} else {
						for j := jlo; j < jhi; j++ {
							row[j] = srow[j*sw+x0]
						}
					}
					clear(row[jhi:])
				}
			}
		}
	}
}

// fill1 is fill for stride 1, where the one phase plane is the padded
// image (Hq = H + 2·PadH, Wq = W + 2·PadW). The image rows of a channel are
// copied by one packing call whose rows are Wq apart, each row followed by
// Wq − W zeros: its own right padding and the next row's left padding.
func (v *convView) fill1(xg, buf []float32) {
	p := v.p
	hw := p.H * p.W
	top := p.PadH*v.wq + p.PadW // values before the first image value
	end := top + p.H*v.wq       // after the last row and the zeros it writes
	for ci := 0; ci < v.cg; ci++ {
		dst := buf[ci*v.plane:]
		clear(dst[:top])
		packRowsLanesIn(dst[top:], xg, ci*hw, v.rowOffs, 0, int32((p.H-1)*p.W), p.W, v.wq, v.wq)
		if end < v.plane {
			clear(dst[end:v.plane])
		}
	}
	// With PadH == 0 the last row's zeros run PadW values past its plane:
	// into the next plane's top, cleared after, or from the last plane into
	// the slack, cleared here.
	clear(buf[len(buf)-v.wq:])
}

// fillBorder sets row[j] = srow[2(j+q)+odd] (0 outside srow) for the j
// whose pair index j+q is outside [iStart, iEnd), which deinterleave2 did
// not write.
func fillBorder(row, srow []float32, q, odd, iStart, iEnd int) {
	set := func(j int) {
		if x := 2*(j+q) + odd; x >= 0 && x < len(srow) {
			row[j] = srow[x]
		} else {
			row[j] = 0
		}
	}
	lo, hi := max(0, iStart-q), min(len(row), max(0, iEnd-q))
	if hi <= lo {
		lo, hi = 0, 0
	}
	for j := 0; j < min(lo, len(row)); j++ {
		set(j)
	}
	for j := max(hi, lo); j < len(row); j++ {
		set(j)
	}
}

// convBufs holds one goroutine's convolution scratch space.
type convBufs struct {
	phase, out, wt []float32
	offs           []int32
}

var convBufPool = sync.Pool{New: func() any { return new(convBufs) }}

// source returns the buffer and base offset to read the im2col view of
// image n, group g from, filling bufs.phase when needed.
func (v *convView) source(x []float32, n, g int, bufs *convBufs) ([]float32, int) {
	p := v.p
	xg := x[(n*p.C+g*v.cg)*p.H*p.W : (n*p.C+(g+1)*v.cg)*p.H*p.W]
	if v.direct {
		return xg, 0
	}
	bufs.phase = grow(bufs.phase, v.bufLen)
	v.fill(xg, bufs.phase)
	return bufs.phase, 0
}

// colPacker packs the im2col matrix of one image (rows p = (ci, kh, kw),
// columns j = oh·OW + ow) as op(B) of a GEMM, reading column j at buffer
// position base + oh·Wq + ow (so the thrown-away columns are never computed).
func (v *convView) colPacker(buf []float32, base int) bPacker {
	return v.chunkColPacker(buf[base:], 0)
}

// colTPacker packs the transposed im2col view (rows j', columns p) as
// op(B) of a GEMM.
func (v *convView) colTPacker(buf []float32, base int) bPacker {
	return func(p0, kc, j0, nc, nr int, dst []float32) {
		for jr := 0; jr < nc; jr += nr {
			nrr := min(nr, nc-jr)
			packTransposeOffsIn(dst[jr*kc:jr*kc+nr*kc], buf, base+p0, v.offs[j0+jr:j0+jr+nrr], v.offLo, v.offHi, kc, nr)
		}
	}
}

// matPacker packs a row-major matrix (stride ld) as op(A) = A.
func matPacker(a []float32, ld int) aPacker {
	return func(i0, mc, p0, kc, mr int, dst []float32) { packA(false, a, ld, i0, mc, p0, kc, mr, dst) }
}

// splitImages reports whether to run whole images on separate threads
// (true) or to run images one after another with threaded GEMMs.
func splitImages(tasks int) bool {
	t := Threads()
	return t > 1 && tasks >= t && (tasks%t == 0 || tasks >= 4*t)
}

// Conv2dForward computes y = conv2d(x, w) + bias for the convolution p (see
// ConvParams for the shapes); bias may be nil; y is overwritten.
func Conv2dForward(p ConvParams, x, w, bias, y []float32) {
	p = p.norm()
	p.check("cpu.Conv2dForward", x, w, bias, y)
	if p.N == 0 {
		return
	}
	if p.Groups == p.C && p.Cout == p.C {
		depthwiseForward(p, x, w, bias, y)
		return
	}
	v := newConvView(p)
	if chunk := v.forwardChunk(); chunk > 1 {
		convForwardBatched(v, x, w, bias, y, chunk)
		return
	}
	if k := active; v.useDirect(k) {
		convForwardDirect(v, k, x, w, bias, y)
		return
	}
	ohw := v.oh * v.ow
	one := func(n, g int, threaded bool) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		buf, base := v.source(x, n, g, bufs)
		wg := w[g*v.coutG*v.kdim : (g+1)*v.coutG*v.kdim]
		yg := y[(n*p.Cout+g*v.coutG)*ohw : (n*p.Cout+(g+1)*v.coutG)*ohw]
		var bg []float32
		if bias != nil {
			bg = bias[g*v.coutG : (g+1)*v.coutG]
		}
		pa, pb := matPacker(wg, v.kdim), v.colPacker(buf, base)
		if threaded {
			gemmParallel(active, v.coutG, ohw, v.kdim, 1, pa, pb, 0, yg, ohw, bg, nil)
		} else {
			gemmPacked(active, v.coutG, ohw, v.kdim, 1, pa, pb, 0, yg, ohw, bg, nil)
		}
	}
	runImages(p.N, p.Groups, one)
}

// runImages runs one(n, g, threaded) for every image and group, either
// spreading (n, g) pairs over the threads or running them in order with
// threaded inner work.
func runImages(n, groups int, one func(n, g int, threaded bool)) {
	tasks := n * groups
	if splitImages(tasks) {
		Parallel(tasks, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				one(t/groups, t%groups, false)
			}
		})
		return
	}
	for t := 0; t < tasks; t++ {
		one(t/groups, t%groups, true)
	}
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// flippedWeights returns w (Cout, Cg, KH, KW) rearranged as the weight of
// the transposed convolution per group: w'[g·Cg + ci, co, KH−1−kh, KW−1−kw]
// = w[g·CoutG + co, ci, kh, kw], shape (C, CoutG, KH, KW).
func flippedWeights(p ConvParams, w, dst []float32) {
	cg, coutG := p.C/p.Groups, p.Cout/p.Groups
	kk := p.KH * p.KW
	for g := 0; g < p.Groups; g++ {
		for co := 0; co < coutG; co++ {
			src := w[(g*coutG+co)*cg*kk : (g*coutG+co+1)*cg*kk]
			for ci := 0; ci < cg; ci++ {
				s := src[ci*kk : ci*kk+kk]
				d := dst[((g*cg+ci)*coutG+co)*kk:][:len(s)]
				if len(s) == 9 {
					d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] = s[8], s[7], s[6], s[5], s[4], s[3], s[2], s[1], s[0]
					continue
				}
				for i := range d {
					d[i] = s[len(s)-1-i]
				}
			}
		}
	}
}

// Conv2dBackwardData computes dx, the gradient of the loss with respect to
// the input x of the convolution p, from dy (N, Cout, OH, OW) and w; dx
// (N, C, H, W) is overwritten.
func Conv2dBackwardData(p ConvParams, dy, w, dx []float32) {
	p = p.norm()
	p.check("cpu.Conv2dBackwardData", dx, w, nil, dy)
	if p.N == 0 {
		return
	}
	oh, ow := p.OutH(), p.OutW()
	padH, padW := p.DilH*(p.KH-1)-p.PadH, p.DilW*(p.KW-1)-p.PadW
	if p.StrideH == 1 && p.StrideW == 1 && padH >= 0 && padW >= 0 {
		// With stride 1 the input gradient is the convolution of dy with
		// the flipped, transposed weights.
		q := ConvParams{N: p.N, C: p.Cout, H: oh, W: ow, Cout: p.C, KH: p.KH, KW: p.KW,
			StrideH: 1, StrideW: 1, PadH: padH, PadW: padW, DilH: p.DilH, DilW: p.DilW, Groups: p.Groups}
		if q.OutH() == p.H && q.OutW() == p.W {
			bufs := convBufPool.Get().(*convBufs)
			bufs.wt = grow(bufs.wt, len(w))
			flippedWeights(p, w, bufs.wt)
			Conv2dForward(q, dy, bufs.wt, nil, dx)
			convBufPool.Put(bufs)
			return
		}
	}
	if p.Groups == p.C && p.Cout == p.C {
		depthwiseBackwardData(p, dy, w, dx)
		return
	}
	// General case: dcol = wᵀ·dy, then col2im.
	cg, coutG := p.C/p.Groups, p.Cout/p.Groups
	kdim := cg * p.KH * p.KW
	ohw := oh * ow
	if chunk := dataChunk(p); chunk > 1 {
		convBackwardDataBatched(p, dy, w, dx, chunk)
		return
	}
	one := func(n, g int, threaded bool) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		bufs.out = grow(bufs.out, kdim*ohw)
		col := bufs.out
		wg := w[g*coutG*kdim : (g+1)*coutG*kdim]
		dyg := dy[(n*p.Cout+g*coutG)*ohw : (n*p.Cout+(g+1)*coutG)*ohw]
		pa := func(i0, mc, p0, kc, mr int, dst []float32) { packA(true, wg, kdim, i0, mc, p0, kc, mr, dst) }
		pb := func(p0, kc, j0, nc, nr int, dst []float32) { packB(false, dyg, ohw, p0, kc, j0, nc, nr, dst) }
		if threaded {
			gemmParallel(active, kdim, ohw, coutG, 1, pa, pb, 0, col, ohw, nil, nil)
		} else {
			gemmPacked(active, kdim, ohw, coutG, 1, pa, pb, 0, col, ohw, nil, nil)
		}
		dxg := dx[(n*p.C+g*cg)*p.H*p.W : (n*p.C+(g+1)*cg)*p.H*p.W]
		clear(dxg)
		Col2im(p, col, dxg)
	}
	runImages(p.N, p.Groups, one)
}

// Conv2dBackwardWeight computes dw (Cout, C/Groups, KH, KW), the gradient of
// the loss with respect to the weight of the convolution p, from x and dy
// (N, Cout, OH, OW), and dbias (Cout) when it is not nil. Both are
// overwritten.
func Conv2dBackwardWeight(p ConvParams, x, dy, dw, dbias []float32) {
	p = p.norm()
	p.check("cpu.Conv2dBackwardWeight", x, dw, dbias, dy)
	oh, ow := p.OutH(), p.OutW()
	ohw := oh * ow
	if dbias != nil {
		clear(dbias)
		for n := 0; n < p.N; n++ {
			for co := 0; co < p.Cout; co++ {
				dbias[co] += sum(dy[(n*p.Cout+co)*ohw : (n*p.Cout+co+1)*ohw])
			}
		}
	}
	clear(dw)
	if p.N == 0 {
		return
	}
	if p.Groups == p.C && p.Cout == p.C {
		depthwiseBackwardWeight(p, x, dy, dw)
		return
	}
	v := newConvView(p)
	if chunk := v.weightChunk(); chunk > 1 {
		convBackwardWeightBatched(v, x, dy, dw, chunk)
		return
	}
	if k := active; v.useDirect(k) {
		convBackwardWeightDirect(v, k, x, dy, dw)
		return
	}
	// Each thread accumulates into its own copy of dw.
	threads := Threads()
	parts := 1
	if splitImages(p.N) {
		parts = threads
	}
	partial := make([][]float32, parts)
	partial[0] = dw
	for i := 1; i < parts; i++ {
		b := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(b)
		b.wt = grow(b.wt, len(dw))
		partial[i] = b.wt
		clear(partial[i])
	}
	work := func(part, nlo, nhi int, threaded bool) {
		acc := partial[part]
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		for n := nlo; n < nhi; n++ {
			for g := 0; g < p.Groups; g++ {
				buf, base := v.source(x, n, g, bufs)
				dyg := dy[(n*p.Cout+g*v.coutG)*ohw : (n*p.Cout+(g+1)*v.coutG)*ohw]
				a := dyg
				if !v.exactWidth {
					// dy in the padded-width layout, zero in the extra columns.
					bufs.out = grow(bufs.out, v.coutG*v.ncols)
					dyBuf := bufs.out
					for co := 0; co < v.coutG; co++ {
						for r := 0; r < oh; r++ {
							d := dyBuf[co*v.ncols+r*v.wq : co*v.ncols+(r+1)*v.wq]
							copy(d, dyg[co*ohw+r*ow:co*ohw+(r+1)*ow])
							clear(d[ow:])
						}
					}
					a = dyBuf
				}
				dwg := acc[g*v.coutG*v.kdim : (g+1)*v.coutG*v.kdim]
				pa, pb := matPacker(a, v.ncols), v.colTPacker(buf, base)
				var da *directA
				if v.kdim <= directMaxPanels*active.nr {
					da = &directA{a, v.ncols} // few columns: read dy in place
				}
				if threaded {
					gemmParallel(active, v.coutG, v.kdim, v.ncols, 1, pa, pb, 1, dwg, v.kdim, nil, da)
				} else {
					gemmPacked(active, v.coutG, v.kdim, v.ncols, 1, pa, pb, 1, dwg, v.kdim, nil, da)
				}
			}
		}
	}
	if parts == 1 {
		work(0, 0, p.N, true)
		return
	}
	parallelTasks(parts, func(t int) { work(t, t*p.N/parts, (t+1)*p.N/parts, false) })
	for _, part := range partial[1:] {
		for i, val := range part {
			dw[i] += val
		}
	}
}

func sum(s []float32) float32 {
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a0 += s[i]
		a1 += s[i+1]
		a2 += s[i+2]
		a3 += s[i+3]
	}
	for ; i < len(s); i++ {
		a0 += s[i]
	}
	return (a0 + a1) + (a2 + a3)
}

// Im2col writes the patch matrix of one image-group xg (C/Groups, H, W) of
// the convolution p into col, of shape (C/Groups·KH·KW, OH·OW): row
// (ci·KH + kh)·KW + kw, column oh·OW + ow holds
// xg[ci, oh·StrideH − PadH + kh·DilH, ow·StrideW − PadW + kw·DilW] (0 outside).
func Im2col(p ConvParams, xg, col []float32) {
	p = p.norm()
	oh, ow := p.OutH(), p.OutW()
	cg := p.C / p.Groups
	if len(xg) != cg*p.H*p.W || len(col) != cg*p.KH*p.KW*oh*ow {
		panic(fmt.Sprintf("cpu.Im2col: x has %d values and col %d, want %d and %d for %v", len(xg), len(col), cg*p.H*p.W, cg*p.KH*p.KW*oh*ow, p))
	}
	r := 0
	for c := 0; c < cg; c++ {
		plane := xg[c*p.H*p.W : (c+1)*p.H*p.W]
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				dst := col[r*oh*ow : (r+1)*oh*ow]
				r++
				for y := 0; y < oh; y++ {
					row := dst[y*ow : (y+1)*ow]
					iy := y*p.StrideH - p.PadH + kh*p.DilH
					if iy < 0 || iy >= p.H {
						clear(row)
						continue
					}
					src := plane[iy*p.W : (iy+1)*p.W]
					ix := kw*p.DilW - p.PadW
					if p.StrideW == 1 && ix >= 0 && ix+ow <= p.W {
						copy(row, src[ix:ix+ow])
						continue
					}
					for i := range row {
						if ix >= 0 && ix < p.W {
							row[i] = src[ix]
						} else {
							row[i] = 0
						}
						ix += p.StrideW
					}
				}
			}
		}
	}
}

// Col2im adds the patch matrix col (C/Groups·KH·KW, OH·OW) of the
// convolution p back into one image-group xg (C/Groups, H, W): the adjoint
// of Im2col. xg is accumulated into, not overwritten.
func Col2im(p ConvParams, col, xg []float32) {
	p = p.norm()
	oh, ow := p.OutH(), p.OutW()
	cg := p.C / p.Groups
	if len(xg) != cg*p.H*p.W || len(col) != cg*p.KH*p.KW*oh*ow {
		panic(fmt.Sprintf("cpu.Col2im: x has %d values and col %d, want %d and %d for %v", len(xg), len(col), cg*p.H*p.W, cg*p.KH*p.KW*oh*ow, p))
	}
	col2im(p, col, oh*ow, xg)
}

// col2im is Col2im (p normalised, sizes checked) reading row r of the patch
// matrix from col[r·ld:].
func col2im(p ConvParams, col []float32, ld int, xg []float32) {
	oh, ow := p.OutH(), p.OutW()
	cg := p.C / p.Groups
	r := 0
	for c := 0; c < cg; c++ {
		plane := xg[c*p.H*p.W : (c+1)*p.H*p.W]
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				src := col[r*ld : r*ld+oh*ow]
				r++
				for y := 0; y < oh; y++ {
					row := src[y*ow : (y+1)*ow]
					iy := y*p.StrideH - p.PadH + kh*p.DilH
					if iy < 0 || iy >= p.H {
						continue
					}
					dst := plane[iy*p.W : (iy+1)*p.W]
					ix := kw*p.DilW - p.PadW
					for _, val := range row {
						if ix >= 0 && ix < p.W {
							dst[ix] += val
						}
						ix += p.StrideW
					}
				}
			}
		}
	}
}
