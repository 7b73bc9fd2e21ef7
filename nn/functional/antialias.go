package functional

// Anti-aliased resampling: PyTorch 1.13's _upsample_bilinear2d_aa and
// _upsample_bicubic2d_aa (F.interpolate(..., antialias=True)), the
// separable filters of Pillow's resize applied to float tensors.

import (
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// aaTap is one output index of anti-aliased resampling along one
// dimension: it reads input indices start … start+len(w)−1 with weights w.
type aaTap struct {
	start int
	w     []float32
}

// aaLinear is the triangle filter of the anti-aliased bilinear mode
// (PyTorch's HelperInterpLinear::aa_filter), in float32.
func aaLinear(x float32) float32 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// aaCubic is the cubic convolution filter of the anti-aliased bicubic mode
// with Pillow's A = −0.5 (PyTorch's HelperInterpCubic::aa_filter; plain
// Bicubic uses A = −0.75), in the precision of PyTorch's build: the first
// piece in float64, the second in float32 with the two multiply-adds fused
// (the compiler contracts them in PyTorch's AVX2 kernels; near |x| = 2 the
// polynomial cancels, so the rounding shows in the weights).
func aaCubic(x float32) float32 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		xd := float64(x)
		return float32(math.FMA(math.FMA(a+2, xd, -(a+3))*xd, xd, 1))
	}
	if x < 2 {
		t := fma32(x-5, x, 8)
		return float32(float64(fma32(t, x, -4)) * a)
	}
	return 0
}

// fma32 is a·b + c rounded once to float32 (the product is exact in
// float64).
func fma32(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}

// aaTable computes the taps of every output index as PyTorch 1.13's
// _compute_indices_weights_aa: the filter is widened by the scale when
// down-sampling (support = scale·size/2, taps read at distance/scale) and
// the weights of each output are normalised to sum to one, so pixels past
// the edges are left out instead of clamped.
func aaTable(in, out int, alignCorners bool, scale float64, cubic bool) []aaTap {
	taps := make([]aaTap, out)
	s := areaScale(in, out, alignCorners, scale)
	half := 1.0 // interp_size/2: 2 taps for bilinear, 4 for bicubic
	filter := aaLinear
	if cubic {
		half, filter = 2, aaCubic
	}
	support, invscale := float32(half), float32(1)
	if s >= 1 {
		support = float32(half * float64(s))
		invscale = float32(1 / float64(s))
	}
	for i := range taps {
		center := float32(float64(s) * (float64(i) + 0.5))
		// C++'s static_cast<int64_t> truncates toward zero, as Go's int().
		lo := max(int(float64(center-support)+0.5), 0)
		hi := min(int(float64(center+support)+0.5), in)
		w := make([]float32, max(hi-lo, 0))
		var total float32
		for j := range w {
			w[j] = filter(float32((float64(float32(j+lo)-center) + 0.5) * float64(invscale)))
			total += w[j]
		}
		if total != 0 {
			for j := range w {
				w[j] /= total
			}
		}
		taps[i] = aaTap{lo, w}
	}
	return taps
}

// antialias2d resamples each plane of x along W with tw, then along H with
// th, as PyTorch's separable kernel (horizontal pass first), accumulating
// each output in float32 in tap order. The gradient is the adjoint: the
// output gradient spread back along H, then along W, with the same weights.
func antialias2d(x *tensor.Tensor, th, tw []aaTap) *tensor.Tensor {
	h, w := x.Shape()[2], x.Shape()[3]
	oh, ow := len(th), len(tw)
	work := 0
	for _, t := range tw {
		work += h * len(t.w)
	}
	for _, t := range th {
		work += ow * len(t.w)
	}
	fwd := func() planeFunc {
		tmp := make([]float32, h*ow) // the planes resampled along W
		return func(dst, src []float32) {
			for y := range h {
				row, trow := src[y*w:(y+1)*w], tmp[y*ow:(y+1)*ow]
				for x, t := range tw {
					in := row[t.start : t.start+len(t.w)]
					var acc float32
					for j, v := range t.w {
						acc += float32(in[j] * v)
					}
					trow[x] = acc
				}
			}
			for y, t := range th {
				orow := dst[y*ow : (y+1)*ow]
				clear(orow)
				for j, v := range t.w {
					trow := tmp[(t.start+j)*ow : (t.start+j+1)*ow]
					for x := range orow {
						orow[x] += float32(trow[x] * v)
					}
				}
			}
		}
	}
	bwd := func() planeFunc {
		gtmp := make([]float32, h*ow)
		return func(gx, g []float32) {
			clear(gtmp)
			for y, t := range th {
				grow := g[y*ow : (y+1)*ow]
				for j, v := range t.w {
					trow := gtmp[(t.start+j)*ow : (t.start+j+1)*ow]
					for x := range grow {
						trow[x] += v * grow[x]
					}
				}
			}
			for y := range h {
				row, trow := gx[y*w:(y+1)*w], gtmp[y*ow:(y+1)*ow]
				for x, t := range tw {
					out := row[t.start : t.start+len(t.w)]
					gv := trow[x]
					for j, v := range t.w {
						out[j] += v * gv
					}
				}
			}
		}
	}
	return planewise("Interpolate", x, outShape(x.Shape(), oh, ow), work, fwd, bwd)
}
