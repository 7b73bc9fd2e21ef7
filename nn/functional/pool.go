package functional

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// MaxPool2dOptions configure MaxPool2d, as torch.nn.MaxPool2d. Zero Stride
// means Kernel and zero Dilation means 1.
type MaxPool2dOptions struct {
	Kernel   [2]int // (kH, kW), required
	Stride   [2]int // (sH, sW); zero: Kernel
	Padding  [2]int // implicit −∞ padding on both sides, at most half the kernel
	Dilation [2]int // spacing of the kernel taps; zero: 1
	CeilMode bool   // round the output size up instead of down
}

// AvgPool2dOptions configure AvgPool2d, as torch.nn.AvgPool2d. Zero Stride
// means Kernel.
type AvgPool2dOptions struct {
	Kernel   [2]int // (kH, kW), required
	Stride   [2]int // (sH, sW); zero: Kernel
	Padding  [2]int // implicit zero padding on both sides, at most half the kernel
	CeilMode bool   // round the output size up instead of down
	// ExcludePad leaves padded positions out of the divisor: it is
	// PyTorch's count_include_pad=False (the zero value is PyTorch's
	// default, count_include_pad=True).
	ExcludePad bool
	// DivisorOverride, when nonzero, is the divisor of every window.
	DivisorOverride int
}

// poolGeom is the geometry of a 2-D pooling: planes of h×w in, oh×ow out.
type poolGeom struct {
	planes, h, w, oh, ow   int
	kh, kw, sh, sw, ph, pw int
	dh, dw                 int
}

// poolOutSize is PyTorch's pooling_output_shape.
func poolOutSize(in, k, pad, stride, dil int, ceil bool) int {
	num := in + 2*pad - dil*(k-1) - 1
	if ceil {
		num += stride - 1
	}
	out := floorDiv(num, stride) + 1
	if ceil && (out-1)*stride >= in+pad {
		out--
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// planesOf checks that x is (N, C, H, W) or (C, H, W) and returns the
// number of planes and the plane size.
func planesOf(op string, x *tensor.Tensor) (planes, h, w int) {
	s := x.Shape()
	if len(s) != 3 && len(s) != 4 {
		panic(fmt.Sprintf("functional.%s: x %s must be (N, C, H, W) or (C, H, W)", op, tensor.FormatShape(s)))
	}
	nd := len(s)
	return tensor.Numel(s[:nd-2]), s[nd-2], s[nd-1]
}

// outShape replaces the last two dimensions of shape with (oh, ow).
func outShape(shape []int, oh, ow int) []int {
	out := append([]int(nil), shape...)
	out[len(out)-2], out[len(out)-1] = oh, ow
	return out
}

func poolGeometry(op string, x *tensor.Tensor, kernel, stride, padding, dilation [2]int, ceil bool) poolGeom {
	g := poolGeom{kh: kernel[0], kw: kernel[1], sh: stride[0], sw: stride[1], ph: padding[0], pw: padding[1], dh: dilation[0], dw: dilation[1]}
	if g.sh == 0 && g.sw == 0 {
		g.sh, g.sw = g.kh, g.kw
	}
	if g.dh == 0 && g.dw == 0 {
		g.dh, g.dw = 1, 1
	}
	g.planes, g.h, g.w = planesOf(op, x)
	shape := tensor.FormatShape(x.Shape())
	if g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.ph < 0 || g.pw < 0 {
		panic(fmt.Sprintf("functional.%s: kernel %v, stride %v, dilation %v must be positive and padding %v non-negative (x %s)", op, kernel, [2]int{g.sh, g.sw}, [2]int{g.dh, g.dw}, padding, shape))
	}
	if g.ph > g.kh/2 || g.pw > g.kw/2 {
		panic(fmt.Sprintf("functional.%s: padding %v must be at most half the kernel %v (x %s)", op, padding, kernel, shape))
	}
	g.oh = poolOutSize(g.h, g.kh, g.ph, g.sh, g.dh, ceil)
	g.ow = poolOutSize(g.w, g.kw, g.pw, g.sw, g.dw, ceil)
	if g.oh < 1 || g.ow < 1 {
		panic(fmt.Sprintf("functional.%s: output size (%d,%d) is too small for x %s with kernel %v, padding %v, dilation %v", op, g.oh, g.ow, shape, kernel, padding, [2]int{g.dh, g.dw}))
	}
	return g
}

// MaxPool2d takes the maximum over windows of x (N, C, H, W) (or (C, H, W)),
// as torch.nn.functional.max_pool2d with return_indices=True. It returns the
// values (N, C, H', W') with H' = floor((H + 2·pad − dil·(k−1) − 1)/stride) + 1
// (or rounded up with CeilMode, dropping a last window that would start in
// the right padding) and the indices of the maxima in the same shape: each
// the flat offset h·W + w within its (H, W) plane, an integral float32, as
// MaxUnpool2d takes them (so a plane may have at most 2^24 pixels). A NaN in
// a window wins; among equal maxima the first in row-major order wins. The
// gradient flows to the maxima only; the indices record no graph.
func MaxPool2d(x *tensor.Tensor, opt MaxPool2dOptions) (values, indices *tensor.Tensor) {
	g := poolGeometry("MaxPool2d", x, opt.Kernel, opt.Stride, opt.Padding, opt.Dilation, opt.CeilMode)
	checkIndexable("MaxPool2d", x, g.h*g.w)
	oshape := outShape(x.Shape(), g.oh, g.ow)
	out, idx := tensor.Zeros(oshape...), tensor.Zeros(oshape...)
	xd, yd, id := x.Data(), out.Data(), idx.Data()
	hw, ohw := g.h*g.w, g.oh*g.ow
	// The common 2×2 window with stride 2 and every window inside the image.
	fast := g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
		g.dh == 1 && g.dw == 1 && 2*g.oh <= g.h && 2*g.ow <= g.w
	parallelFor(g.planes, planeGrain(ohw*g.kh*g.kw), func(lo, hi int) {
		var keys []int32
		for p := lo; p < hi; p++ {
			src, dst, di := xd[p*hw:(p+1)*hw], yd[p*ohw:(p+1)*ohw], id[p*ohw:(p+1)*ohw]
			if fast {
				maxPool2x2(dst, di, src, g.w, g.oh, g.ow)
				continue
			}
			if g.dh == 1 && g.dw == 1 {
				if keys = orderKeys(keys, src); keys != nil {
					maxPoolKeys(dst, di, src, keys, g)
					continue
				}
			}
			for oy := 0; oy < g.oh; oy++ {
				y0 := oy*g.sh - g.ph
				y1 := min(y0+(g.kh-1)*g.dh+1, g.h)
				for y0 < 0 {
					y0 += g.dh
				}
				for ox := 0; ox < g.ow; ox++ {
					x0 := ox*g.sw - g.pw
					x1 := min(x0+(g.kw-1)*g.dw+1, g.w)
					for x0 < 0 {
						x0 += g.dw
					}
					best, bi := float32(math.Inf(-1)), y0*g.w+x0
					for y := y0; y < y1; y += g.dh {
						row := src[y*g.w:]
						for xx := x0; xx < x1; xx += g.dw {
							if v := row[xx]; v > best || v != v {
								best, bi = v, y*g.w+xx
							}
						}
					}
					dst[oy*g.ow+ox], di[oy*g.ow+ox] = best, float32(bi)
				}
			}
		}
	})
	shape := x.Shape()
	out = tensor.Record("MaxPool2d", out, func(gr *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		scatterPlanes(gx.Data(), gr.Data(), id, g.planes, hw, ohw)
		return []*tensor.Tensor{gx}
	}, x)
	return out, idx
}

// maxPool2x2 is MaxPool2d of one plane of width w with a 2×2 window and
// stride 2, every window inside the plane: the same comparisons in the same
// order as the general loop.
func maxPool2x2(dst, di, src []float32, w, oh, ow int) {
	for oy := 0; oy < oh; oy++ {
		r0, r1 := src[2*oy*w:(2*oy+1)*w], src[(2*oy+1)*w:(2*oy+2)*w]
		d, dix := dst[oy*ow:(oy+1)*ow], di[oy*ow:(oy+1)*ow]
		base := 2 * oy * w
		for ox := range d {
			x0 := 2 * ox
			best, bi := float32(math.Inf(-1)), base+x0
			if v := r0[x0]; v > best || v != v {
				best = v
			}
			if v := r0[x0+1]; v > best || v != v {
				best, bi = v, base+x0+1
			}
			if v := r1[x0]; v > best || v != v {
				best, bi = v, base+w+x0
			}
			if v := r1[x0+1]; v > best || v != v {
				best, bi = v, base+w+x0+1
			}
			d[ox], dix[ox] = best, float32(bi)
		}
	}
}

// orderKeys returns, in buf (grown as needed), integer keys of the values of
// src that order as the values do, with −0 and +0 equal, or nil if src holds
// a NaN. Comparing keys compiles to conditional moves where comparing floats
// branches, and the branches of a running maximum over noise mispredict.
func orderKeys(buf []int32, src []float32) []int32 {
	if cap(buf) < len(src) {
		buf = make([]int32, len(src))
	}
	buf = buf[:len(src)]
	nan := false
	for i, v := range src {
		b := int32(math.Float32bits(v))
		mag := b & 0x7fffffff
		nan = nan || mag > 0x7f800000
		m := b >> 31 // 0 or −1
		buf[i] = (mag ^ m) - m
	}
	if nan {
		return nil
	}
	return buf
}

// maxPoolKeys is the general MaxPool2d loop (dilation 1) of one plane on the
// order keys of src: the same windows, the same first maximum in row-major
// order.
func maxPoolKeys(dst, di, src []float32, keys []int32, g poolGeom) {
	for oy := 0; oy < g.oh; oy++ {
		y0 := max(oy*g.sh-g.ph, 0)
		y1 := min(oy*g.sh-g.ph+g.kh, g.h)
		for ox := 0; ox < g.ow; ox++ {
			x0 := max(ox*g.sw-g.pw, 0)
			x1 := min(ox*g.sw-g.pw+g.kw, g.w)
			bi := y0*g.w + x0
			best := keys[bi]
			for y := y0; y < y1; y++ {
				row := keys[y*g.w+x0 : y*g.w+x1]
				for j, k := range row {
					// if k > best { best, bi = k, … } without a branch
					m := (int64(best) - int64(k)) >> 63
					best ^= (best ^ k) & int32(m)
					bi ^= (bi ^ (y*g.w + x0 + j)) & int(m)
				}
			}
			dst[oy*g.ow+ox], di[oy*g.ow+ox] = src[bi], float32(bi)
		}
	}
}

// maxIndexable is the largest plane whose flat offsets are all exact in a
// float32 index tensor.
const maxIndexable = 1 << 24

func checkIndexable(op string, x *tensor.Tensor, plane int) {
	if plane > maxIndexable {
		panic(fmt.Sprintf("functional.%s: planes of %d pixels (x %s) are too large for float32 indices (at most 2^24)", op, plane, tensor.FormatShape(x.Shape())))
	}
}

// scatterPlanes adds src[p, i] into dst[p, idx[p, i]] for every plane p.
func scatterPlanes(dst, src, idx []float32, planes, hw, ohw int) {
	parallelFor(planes, planeGrain(ohw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d, s, ix := dst[p*hw:(p+1)*hw], src[p*ohw:(p+1)*ohw], idx[p*ohw:(p+1)*ohw]
			for i, v := range s {
				d[int(ix[i])] += v
			}
		}
	})
}

// AvgPool2d averages x (N, C, H, W) (or (C, H, W)) over windows, as
// torch.nn.functional.avg_pool2d. The output size follows MaxPool2d (without
// dilation). Each window's sum is divided by its size including the zero
// padding but not the part beyond it that CeilMode adds (PyTorch's
// count_include_pad=True), by the number of real pixels with ExcludePad, or by
// DivisorOverride; a window lying wholly in the padding gives 0.
func AvgPool2d(x *tensor.Tensor, opt AvgPool2dOptions) *tensor.Tensor {
	g := poolGeometry("AvgPool2d", x, opt.Kernel, opt.Stride, opt.Padding, [2]int{1, 1}, opt.CeilMode)
	if opt.DivisorOverride < 0 {
		panic(fmt.Sprintf("functional.AvgPool2d: DivisorOverride %d is negative", opt.DivisorOverride))
	}
	// window returns the clipped window of an output pixel and its divisor
	// (0 for an empty window).
	window := func(oy, ox int) (y0, y1, x0, x1 int, div float32) {
		y0, x0 = oy*g.sh-g.ph, ox*g.sw-g.pw
		y1, x1 = min(y0+g.kh, g.h+g.ph), min(x0+g.kw, g.w+g.pw)
		size := (y1 - y0) * (x1 - x0)
		y0, x0 = max(y0, 0), max(x0, 0)
		y1, x1 = min(y1, g.h), min(x1, g.w)
		if y0 >= y1 || x0 >= x1 {
			return y0, y1, x0, x1, 0
		}
		switch {
		case opt.DivisorOverride != 0:
			size = opt.DivisorOverride
		case opt.ExcludePad:
			size = (y1 - y0) * (x1 - x0)
		}
		return y0, y1, x0, x1, float32(size)
	}
	return windowMean("AvgPool2d", x, g.oh, g.ow, g.kh*g.kw, window)
}

// windowMean averages each (H, W) plane of x over one window per output
// pixel of an (oh, ow) plane: window(oy, ox) returns the rows [y0, y1) and
// columns [x0, x1) of output pixel (oy, ox) and the divisor of their sum (0
// for an empty window, whose output is 0). The backward pass spreads each
// output gradient over its window, divided likewise. area is the largest
// window's size.
func windowMean(op string, x *tensor.Tensor, oh, ow, area int, window func(oy, ox int) (y0, y1, x0, x1 int, div float32)) *tensor.Tensor {
	w := x.Shape()[x.Dim()-1]
	return planewise(op, x, outShape(x.Shape(), oh, ow), oh*ow*area,
		func() planeFunc {
			return func(dst, src []float32) {
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						y0, y1, x0, x1, div := window(oy, ox)
						if div == 0 {
							dst[oy*ow+ox] = 0
							continue
						}
						var s float32
						for y := y0; y < y1; y++ {
							for _, v := range src[y*w+x0 : y*w+x1] {
								s += v
							}
						}
						dst[oy*ow+ox] = s / div
					}
				}
			}
		},
		func() planeFunc {
			return func(gx, g []float32) {
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						y0, y1, x0, x1, div := window(oy, ox)
						if div == 0 {
							continue
						}
						v := g[oy*ow+ox] / div
						for y := y0; y < y1; y++ {
							row := gx[y*w+x0 : y*w+x1]
							for i := range row {
								row[i] += v
							}
						}
					}
				}
			}
		})
}

// adaptiveRange is PyTorch's adaptive pooling window of output index o:
// [floor(o·in/out), ceil((o+1)·in/out)).
func adaptiveRange(o, in, out int) (lo, hi int) {
	return o * in / out, ((o+1)*in + out - 1) / out
}

func adaptiveCheck(op string, x *tensor.Tensor, oh, ow int) (planes, h, w int) {
	planes, h, w = planesOf(op, x)
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("functional.%s: output size (%d,%d) must be positive (x %s)", op, oh, ow, tensor.FormatShape(x.Shape())))
	}
	return planes, h, w
}

// AdaptiveAvgPool2d averages x (N, C, H, W) (or (C, H, W)) to the output
// size (oh, ow), as torch.nn.functional.adaptive_avg_pool2d: output pixel
// (i, j) averages rows [floor(i·H/oh), ceil((i+1)·H/oh)) and the columns
// likewise. Windows overlap when the size does not divide evenly.
func AdaptiveAvgPool2d(x *tensor.Tensor, oh, ow int) *tensor.Tensor {
	_, h, w := adaptiveCheck("AdaptiveAvgPool2d", x, oh, ow)
	area := ((h+oh-1)/oh + 1) * ((w+ow-1)/ow + 1) // bounds the window size
	return windowMean("AdaptiveAvgPool2d", x, oh, ow, area, func(oy, ox int) (y0, y1, x0, x1 int, div float32) {
		y0, y1 = adaptiveRange(oy, h, oh)
		x0, x1 = adaptiveRange(ox, w, ow)
		return y0, y1, x0, x1, float32((y1 - y0) * (x1 - x0))
	})
}

// AdaptiveMaxPool2d takes the maximum of x (N, C, H, W) (or (C, H, W)) over
// the windows of AdaptiveAvgPool2d, as
// torch.nn.functional.adaptive_max_pool2d with return_indices=True. Values
// and indices are as in MaxPool2d.
func AdaptiveMaxPool2d(x *tensor.Tensor, oh, ow int) (values, indices *tensor.Tensor) {
	planes, h, w := adaptiveCheck("AdaptiveMaxPool2d", x, oh, ow)
	checkIndexable("AdaptiveMaxPool2d", x, h*w)
	oshape := outShape(x.Shape(), oh, ow)
	out, idx := tensor.Zeros(oshape...), tensor.Zeros(oshape...)
	xd, yd, id := x.Data(), out.Data(), idx.Data()
	hw, ohw := h*w, oh*ow
	parallelFor(planes, planeGrain(hw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst, di := xd[p*hw:(p+1)*hw], yd[p*ohw:(p+1)*ohw], id[p*ohw:(p+1)*ohw]
			for oy := 0; oy < oh; oy++ {
				y0, y1 := adaptiveRange(oy, h, oh)
				for ox := 0; ox < ow; ox++ {
					x0, x1 := adaptiveRange(ox, w, ow)
					best, bi := float32(math.Inf(-1)), y0*w+x0
					for y := y0; y < y1; y++ {
						for xx := x0; xx < x1; xx++ {
							if v := src[y*w+xx]; v > best || v != v {
								best, bi = v, y*w+xx
							}
						}
					}
					dst[oy*ow+ox], di[oy*ow+ox] = best, float32(bi)
				}
			}
		}
	})
	shape := x.Shape()
	out = tensor.Record("AdaptiveMaxPool2d", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		scatterPlanes(gx.Data(), g.Data(), id, planes, hw, ohw)
		return []*tensor.Tensor{gx}
	}, x)
	return out, idx
}

// MaxUnpool2dOptions configure MaxUnpool2d, as torch.nn.MaxUnpool2d. They
// only set the default output size.
type MaxUnpool2dOptions struct {
	Kernel  [2]int // the pooling's (kH, kW)
	Stride  [2]int // the pooling's stride; zero: Kernel
	Padding [2]int // the pooling's padding
	// OutputSize is the (H, W) of the result; zero means
	// ((H'−1)·sH − 2·pH + kH, (W'−1)·sW − 2·pW + kW). Give it when the
	// pooling used CeilMode or dropped rows, to get the original size back.
	OutputSize [2]int
}

// MaxUnpool2d is the partial inverse of MaxPool2d, as
// torch.nn.functional.max_unpool2d: it returns zeros of shape (N, C, H, W)
// (or (C, H, W)) with x[n, c, i, j] written at the flat offset
// indices[n, c, i, j] of plane (n, c). x and indices are (N, C, H', W') as
// MaxPool2d returns them; an index outside [0, H·W) panics, and where two
// indices coincide the later one in row-major order wins. The gradient with
// respect to x gathers the output gradient at the indices; indices receive
// none.
func MaxUnpool2d(x, indices *tensor.Tensor, opt MaxUnpool2dOptions) *tensor.Tensor {
	planes, ih, iw := planesOf("MaxUnpool2d", x)
	if !tensor.SameShape(x.Shape(), indices.Shape()) {
		panic(fmt.Sprintf("functional.MaxUnpool2d: indices %s do not match x %s", tensor.FormatShape(indices.Shape()), tensor.FormatShape(x.Shape())))
	}
	oh, ow := opt.OutputSize[0], opt.OutputSize[1]
	if oh == 0 && ow == 0 {
		sh, sw := opt.Stride[0], opt.Stride[1]
		if sh == 0 && sw == 0 {
			sh, sw = opt.Kernel[0], opt.Kernel[1]
		}
		oh = (ih-1)*sh - 2*opt.Padding[0] + opt.Kernel[0]
		ow = (iw-1)*sw - 2*opt.Padding[1] + opt.Kernel[1]
	}
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("functional.MaxUnpool2d: output size (%d,%d) must be positive (x %s, options %+v)", oh, ow, tensor.FormatShape(x.Shape()), opt))
	}
	checkIndexable("MaxUnpool2d", x, oh*ow)
	hw, ihw := oh*ow, ih*iw
	idx := indices.Data()
	for i, v := range idx {
		if j := int(v); float32(j) != v || j < 0 || j >= hw {
			panic(fmt.Sprintf("functional.MaxUnpool2d: index %v at position %d is not in [0, %d) for output size (%d,%d)", v, i, hw, oh, ow))
		}
	}
	shape := x.Shape()
	out := tensor.Zeros(outShape(shape, oh, ow)...)
	xd, yd := x.Data(), out.Data()
	parallelFor(planes, planeGrain(ihw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d, s, ix := yd[p*hw:(p+1)*hw], xd[p*ihw:(p+1)*ihw], idx[p*ihw:(p+1)*ihw]
			for i, v := range s {
				d[int(ix[i])] = v
			}
		}
	})
	return tensor.Record("MaxUnpool2d", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		gxd, gd := gx.Data(), g.Data()
		parallelFor(planes, planeGrain(ihw), func(lo, hi int) {
			for p := lo; p < hi; p++ {
				d, s, ix := gxd[p*ihw:(p+1)*ihw], gd[p*hw:(p+1)*hw], idx[p*ihw:(p+1)*ihw]
				for i := range d {
					d[i] = s[int(ix[i])]
				}
			}
		})
		return []*tensor.Tensor{gx}
	}, x)
}
