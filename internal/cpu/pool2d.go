package cpu

import (
	"fmt"
	"math"
)

// PoolParams describes a 2-D max or average pooling in NCHW layout, as
// PyTorch's MaxPool2d and AvgPool2d:
//
//	x: (N, C, H, W)   y: (N, C, OH, OW)
//
// Zero StrideH/StrideW mean the kernel size (PyTorch's default) and zero
// DilH/DilW mean 1. Dilation applies to max pooling only. CeilMode rounds
// the output size up (a window must still start inside the input or its
// left/top padding). CountIncludePad and DivisorOverride apply to average
// pooling: the divisor is DivisorOverride when it is not 0, else the window
// size clipped to the padded input (CountIncludePad) or to the input.
type PoolParams struct {
	N, C, H, W, KH, KW, StrideH, StrideW, PadH, PadW, DilH, DilW int
	CeilMode, CountIncludePad                                    bool
	DivisorOverride                                              int
}

func (p PoolParams) norm() PoolParams {
	if p.StrideH == 0 {
		p.StrideH = p.KH
	}
	if p.StrideW == 0 {
		p.StrideW = p.KW
	}
	p.DilH, p.DilW = one(p.DilH), one(p.DilW)
	return p
}

func poolOut(in, k, s, pad, dil int, ceil bool) int {
	num := in + 2*pad - dil*(k-1) - 1
	if ceil {
		num += s - 1
	}
	out := num/s + 1
	if ceil && (out-1)*s >= in+pad {
		out--
	}
	return out
}

// OutH is the output height, as PyTorch computes it.
func (p PoolParams) OutH() int {
	p = p.norm()
	return poolOut(p.H, p.KH, p.StrideH, p.PadH, p.DilH, p.CeilMode)
}

// OutW is the output width, as PyTorch computes it.
func (p PoolParams) OutW() int {
	p = p.norm()
	return poolOut(p.W, p.KW, p.StrideW, p.PadW, p.DilW, p.CeilMode)
}

func (p PoolParams) check(op string, x, y []float32) {
	if p.N < 0 || p.C < 1 || p.H < 1 || p.W < 1 || p.KH < 1 || p.KW < 1 || p.StrideH < 1 || p.StrideW < 1 ||
		p.PadH < 0 || p.PadW < 0 || 2*p.PadH > (p.KH-1)*p.DilH+1 || 2*p.PadW > (p.KW-1)*p.DilW+1 || p.DilH < 1 || p.DilW < 1 ||
		p.OutH() < 1 || p.OutW() < 1 {
		panic(fmt.Sprintf("%s: invalid pooling %+v (padding must be at most half the effective kernel)", op, p))
	}
	if len(x) != p.N*p.C*p.H*p.W || len(y) != p.N*p.C*p.OutH()*p.OutW() {
		panic(fmt.Sprintf("%s: x has %d values and y %d, want %d and %d for %+v", op, len(x), len(y), p.N*p.C*p.H*p.W, p.N*p.C*p.OutH()*p.OutW(), p))
	}
}

// MaxPool2dForward sets y to the maximum of each window of x and idx to the
// position of that maximum as a flat offset ih·W + iw within its (n, c)
// plane, as PyTorch's max_pool2d with return_indices (the first maximum in
// row-major window order; a NaN wins). idx has the length of y.
func MaxPool2dForward(p PoolParams, x, y []float32, idx []int32) {
	p = p.norm()
	p.check("cpu.MaxPool2dForward", x, y)
	if len(idx) != len(y) {
		panic(fmt.Sprintf("cpu.MaxPool2dForward: idx has %d values, want %d", len(idx), len(y)))
	}
	oh, ow := p.OutH(), p.OutW()
	hw, ohw := p.H*p.W, oh*ow
	ParallelGrain(p.N*p.C, max(1, 4096/max(1, ohw*p.KH*p.KW)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			in := x[t*hw : (t+1)*hw]
			out := y[t*ohw : (t+1)*ohw]
			oi := idx[t*ohw : (t+1)*ohw]
			for r := 0; r < oh; r++ {
				ih0 := r*p.StrideH - p.PadH
				ih1 := min(ih0+(p.KH-1)*p.DilH+1, p.H)
				for ih0 < 0 {
					ih0 += p.DilH
				}
				for c := 0; c < ow; c++ {
					iw0 := c*p.StrideW - p.PadW
					iw1 := min(iw0+(p.KW-1)*p.DilW+1, p.W)
					for iw0 < 0 {
						iw0 += p.DilW
					}
					best := float32(math.Inf(-1))
					bi := ih0*p.W + iw0
					for ih := ih0; ih < ih1; ih += p.DilH {
						row := in[ih*p.W : (ih+1)*p.W]
						for iw := iw0; iw < iw1; iw += p.DilW {
							if v := row[iw]; v > best || v != v {
								best, bi = v, ih*p.W+iw
							}
						}
					}
					out[r*ow+c] = best
					oi[r*ow+c] = int32(bi)
				}
			}
		}
	})
}

// MaxPool2dBackward sets dx (N, C, H, W) to the gradient of max pooling:
// each dy value is added to the input position idx recorded by
// MaxPool2dForward. dx is overwritten.
func MaxPool2dBackward(p PoolParams, dy []float32, idx []int32, dx []float32) {
	p = p.norm()
	p.check("cpu.MaxPool2dBackward", dx, dy)
	if len(idx) != len(dy) {
		panic(fmt.Sprintf("cpu.MaxPool2dBackward: idx has %d values, want %d", len(idx), len(dy)))
	}
	hw, ohw := p.H*p.W, p.OutH()*p.OutW()
	ParallelGrain(p.N*p.C, max(1, 8192/max(1, ohw+hw)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			d := dx[t*hw : (t+1)*hw]
			clear(d)
			g := dy[t*ohw : (t+1)*ohw]
			for i, j := range idx[t*ohw : (t+1)*ohw] {
				d[j] += g[i]
			}
		}
	})
}

// avgWindow returns the clipped window [ih0, ih1)×[iw0, iw1) of output
// (r, c) and its divisor; the divisor is 0 for a window with no input.
func (p PoolParams) avgWindow(r, c int) (ih0, ih1, iw0, iw1 int, div float32) {
	ih0, iw0 = r*p.StrideH-p.PadH, c*p.StrideW-p.PadW
	ih1, iw1 = min(ih0+p.KH, p.H+p.PadH), min(iw0+p.KW, p.W+p.PadW)
	size := (ih1 - ih0) * (iw1 - iw0)
	ih0, iw0 = max(ih0, 0), max(iw0, 0)
	ih1, iw1 = min(ih1, p.H), min(iw1, p.W)
	if ih0 >= ih1 || iw0 >= iw1 {
		return ih0, ih1, iw0, iw1, 0
	}
	switch {
	case p.DivisorOverride != 0:
		div = float32(p.DivisorOverride)
	case p.CountIncludePad:
		div = float32(size)
	default:
		div = float32((ih1 - ih0) * (iw1 - iw0))
	}
	return ih0, ih1, iw0, iw1, div
}

// AvgPool2dForward sets y to the mean of each window of x (see PoolParams
// for the divisor), as PyTorch's avg_pool2d.
func AvgPool2dForward(p PoolParams, x, y []float32) {
	p = p.norm()
	p.check("cpu.AvgPool2dForward", x, y)
	if p.DilH != 1 || p.DilW != 1 {
		panic("cpu.AvgPool2dForward: average pooling has no dilation")
	}
	oh, ow := p.OutH(), p.OutW()
	hw, ohw := p.H*p.W, oh*ow
	ParallelGrain(p.N*p.C, max(1, 4096/max(1, ohw*p.KH*p.KW)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			in := x[t*hw : (t+1)*hw]
			out := y[t*ohw : (t+1)*ohw]
			for r := 0; r < oh; r++ {
				for c := 0; c < ow; c++ {
					ih0, ih1, iw0, iw1, div := p.avgWindow(r, c)
					if div == 0 {
						out[r*ow+c] = 0
						continue
					}
					var s float32
					for ih := ih0; ih < ih1; ih++ {
						for _, v := range in[ih*p.W+iw0 : ih*p.W+iw1] {
							s += v
						}
					}
					out[r*ow+c] = s / div
				}
			}
		}
	})
}

// AvgPool2dBackward sets dx (N, C, H, W) to the gradient of average pooling
// from dy (N, C, OH, OW); dx is overwritten.
func AvgPool2dBackward(p PoolParams, dy, dx []float32) {
	p = p.norm()
	p.check("cpu.AvgPool2dBackward", dx, dy)
	if p.DilH != 1 || p.DilW != 1 {
		panic("cpu.AvgPool2dBackward: average pooling has no dilation")
	}
	oh, ow := p.OutH(), p.OutW()
	hw, ohw := p.H*p.W, oh*ow
	ParallelGrain(p.N*p.C, max(1, 4096/max(1, ohw*p.KH*p.KW)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			d := dx[t*hw : (t+1)*hw]
			clear(d)
			g := dy[t*ohw : (t+1)*ohw]
			for r := 0; r < oh; r++ {
				for c := 0; c < ow; c++ {
					ih0, ih1, iw0, iw1, div := p.avgWindow(r, c)
					if div == 0 {
						continue
					}
					v := g[r*ow+c] / div
					for ih := ih0; ih < ih1; ih++ {
						row := d[ih*p.W+iw0 : ih*p.W+iw1]
						for i := range row {
							row[i] += v
						}
					}
				}
			}
		}
	})
}
