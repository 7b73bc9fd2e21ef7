package functional

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// InterpMode is the interpolation mode of Interpolate, spelled as in PyTorch.
type InterpMode string

// The modes of Interpolate. The zero value "" means Nearest, PyTorch's default.
const (
	// Nearest copies the input pixel at floor(dst·scale) (PyTorch's
	// "nearest", which matches OpenCV's INTER_NEAREST and is not centred).
	Nearest InterpMode = "nearest"
	// NearestExact copies the input pixel at floor((dst + 0.5)·scale), the
	// centred rule of Pillow and scikit-image (PyTorch's "nearest-exact").
	NearestExact InterpMode = "nearest-exact"
	// Bilinear blends the 2×2 nearest input pixels.
	Bilinear InterpMode = "bilinear"
	// Bicubic blends the 4×4 nearest input pixels with Keys' cubic
	// convolution, A = −0.75, clamping indices at the edges; the result can
	// overshoot the input range.
	Bicubic InterpMode = "bicubic"
	// Area averages input pixels, as AdaptiveAvgPool2d (PyTorch's "area").
	Area InterpMode = "area"
)

// InterpolateOptions configure Interpolate. Exactly one of Size and
// ScaleFactor must be set (nonzero).
type InterpolateOptions struct {
	// Size is the output (height, width).
	Size [2]int
	// ScaleFactor multiplies the input (height, width): the output size is
	// floor(in·scale). Non-integer and below-one factors are allowed.
	ScaleFactor [2]float64
	// Mode is the interpolation mode; "" means Nearest.
	Mode InterpMode
	// AlignCorners (Bilinear and Bicubic only) maps the centres of the corner
	// pixels of input and output onto each other: src = dst·(in−1)/(out−1).
	// When false, pixels are areas: src = (dst + 0.5)·scale − 0.5.
	AlignCorners bool
	// RecomputeScaleFactor, with ScaleFactor, computes the output size and
	// then forgets the factor, so the source index uses in/out instead of
	// 1/ScaleFactor. With it false (PyTorch's default) the given factor is
	// used as given, which differs when in·scale is not an integer.
	RecomputeScaleFactor bool
	// Antialias (Bilinear and Bicubic only) widens the filter by the
	// scale when down-sampling, so every input pixel contributes (PyTorch's
	// antialias=True, torchvision's tensor resize default, Pillow's
	// resampling): output i blends the inputs within support = scale·r of
	// centre c = scale·(i + 0.5) (r = 1 bilinear, 2 bicubic) with weights
	// filter((j + 0.5 − c)/scale) normalised to sum to 1, where filter is
	// the triangle or Keys' cubic with A = −0.5 (Pillow's; plain Bicubic
	// uses −0.75). Up-sampling keeps r (scale 1 in the filter) but still
	// normalises at the edges instead of clamping.
	Antialias bool
}

// Interpolate resizes the images x (N, C, H, W) to (N, C, H', W'), as
// torch.nn.functional.interpolate in PyTorch 1.13, including its exact
// index rules (Antialias: see InterpolateOptions):
//
//   - the output size is Size, or floor(H·ScaleFactor[0]) × floor(W·ScaleFactor[1]);
//   - the source scale of a dimension is 1/ScaleFactor when a factor was
//     given and RecomputeScaleFactor is false, and in/out otherwise (and
//     (in−1)/(out−1) with AlignCorners, whatever the factor);
//   - Nearest reads floor(dst·scale); NearestExact reads
//     floor((dst + 0.5)·scale); both clamp to in−1. With one channel
//     (C = 1) Nearest instead copies when out = in and reads dst/2 when
//     out = 2·in, whatever the scale (see below);
//   - Bilinear reads src = scale·(dst + 0.5) − 0.5 clamped below at 0
//     (or scale·dst with AlignCorners) and blends pixels floor(src) and
//     floor(src)+1, the latter clamped to in−1; out = in copies;
//   - Bicubic uses the same src without the clamp and the cubic kernel with
//     A = −0.75 on pixels floor(src)−1 … floor(src)+2, each clamped to
//     [0, in−1];
//   - Area is AdaptiveAvgPool2d to the output size.
//
// Nearest and NearestExact with AlignCorners panic, as in PyTorch.
//
// Nearest with a ScaleFactor that is not exactly 1 or 2 but gives out = in or
// out = 2·in (1.1 or 2.1 on 5 pixels) follows PyTorch 1.13's CPU forward
// pass, which depends on the memory layout: an ordinary contiguous tensor
// reads floor(dst/ScaleFactor) (2.1 on rows 0…4 reads 0 0 0 1 1 2 2 3 3 4,
// 1.1 reads 0 0 1 2 3), while a channels-last-contiguous one — and every
// tensor with C = 1 is one — takes the shortcut (0 0 1 1 2 2 3 3 4 4 and
// 0 1 2 3 4). fovea's tensors are contiguous, so C > 1 reads
// floor(dst/ScaleFactor) and C = 1 takes the shortcut, as PyTorch does for
// the same tensors. PyTorch's backward pass takes the shortcut for every
// layout, so for C > 1 its gradient is not the adjoint of its own forward
// pass; fovea's gradient is always the adjoint of fovea's forward pass
// (each output gradient goes to the input pixel the output read).
//
// One difference on purpose: when Bicubic keeps the size but a ScaleFactor
// other than 1 is given (say 1.05 on 7 pixels), the forward pass resamples
// with 1/ScaleFactor in fovea and in PyTorch, but PyTorch 1.13's backward
// pass copies the output gradient as if the map were the identity, which is
// not its gradient; fovea returns the true adjoint.
// PyTorch's UpsamplingNearest2d is Interpolate with Mode Nearest, and its
// UpsamplingBilinear2d is Mode Bilinear with AlignCorners true. The
// gradient with respect to x scatters the output gradient back with the
// same indices and weights.
func Interpolate(x *tensor.Tensor, opt InterpolateOptions) *tensor.Tensor {
	shape := x.Shape()
	if len(shape) != 4 {
		panic(fmt.Sprintf("functional.Interpolate: x %s must be (N, C, H, W)", tensor.FormatShape(shape)))
	}
	mode := opt.Mode
	if mode == "" {
		mode = Nearest
	}
	h, w := shape[2], shape[3]
	oh, ow, scales := interpSize(shape, opt)
	if oh <= 0 || ow <= 0 || h <= 0 || w <= 0 {
		panic(fmt.Sprintf("functional.Interpolate: input %s and output size (%d,%d) must be positive", tensor.FormatShape(shape), oh, ow))
	}
	switch mode {
	case Nearest, NearestExact, Area:
		if opt.AlignCorners {
			panic(fmt.Sprintf("functional.Interpolate: AlignCorners can only be set with Bilinear or Bicubic, not %q", mode))
		}
	}
	if opt.Antialias {
		switch mode {
		case Bilinear:
			return antialias2d(x, aaTable(h, oh, opt.AlignCorners, scales[0], false), aaTable(w, ow, opt.AlignCorners, scales[1], false))
		case Bicubic:
			return antialias2d(x, aaTable(h, oh, opt.AlignCorners, scales[0], true), aaTable(w, ow, opt.AlignCorners, scales[1], true))
		}
		panic(fmt.Sprintf("functional.Interpolate: Antialias is only supported with Bilinear and Bicubic, not %q", mode))
	}
	switch mode {
	case Nearest, NearestExact:
		exact := mode == NearestExact
		// PyTorch's channels-last kernel (every C = 1 tensor) keeps the
		// out = in and out = 2·in shortcuts of nearest_idx; its contiguous
		// kernel does not.
		shortcut := !exact && shape[1] == 1
		return nearest2d(x, nearestTable(h, oh, scales[0], exact, shortcut), nearestTable(w, ow, scales[1], exact, shortcut))
	case Bilinear:
		return bilinear2d(x, linearTable(h, oh, opt.AlignCorners, scales[0]), linearTable(w, ow, opt.AlignCorners, scales[1]))
	case Bicubic:
		return bicubic2d(x, cubicTable(h, oh, opt.AlignCorners, scales[0]), cubicTable(w, ow, opt.AlignCorners, scales[1]))
	case Area:
		return AdaptiveAvgPool2d(x, oh, ow)
	}
	panic(fmt.Sprintf("functional.Interpolate: unknown mode %q (want nearest, nearest-exact, bilinear, bicubic or area)", mode))
}

// interpSize returns the output size and the scale factors the kernels see:
// 0 where none is given (or it was recomputed), as PyTorch's optional scales.
func interpSize(shape []int, opt InterpolateOptions) (oh, ow int, scales [2]float64) {
	hasSize := opt.Size != [2]int{}
	hasScale := opt.ScaleFactor != [2]float64{}
	switch {
	case hasSize && hasScale:
		panic(fmt.Sprintf("functional.Interpolate: both Size %v and ScaleFactor %v are set; set one", opt.Size, opt.ScaleFactor))
	case hasSize:
		if opt.RecomputeScaleFactor {
			panic("functional.Interpolate: RecomputeScaleFactor is only meaningful with ScaleFactor, not Size")
		}
		return opt.Size[0], opt.Size[1], scales
	case hasScale:
		for d, s := range opt.ScaleFactor {
			if !(s > 0) || math.IsInf(s, 0) {
				panic(fmt.Sprintf("functional.Interpolate: ScaleFactor %v must be positive and finite in both dimensions", opt.ScaleFactor))
			}
			size := int(math.Floor(float64(shape[2+d]) * s))
			if d == 0 {
				oh = size
			} else {
				ow = size
			}
		}
		if !opt.RecomputeScaleFactor {
			scales = opt.ScaleFactor
		}
		return oh, ow, scales
	}
	panic("functional.Interpolate: set Size or ScaleFactor")
}

// scaleValue is PyTorch's compute_scales_value<float>: 1/scale when a scale
// was given, in/out otherwise.
func scaleValue(scale float64, in, out int) float32 {
	if scale > 0 {
		return float32(1 / scale)
	}
	return float32(in) / float32(out)
}

// areaScale is PyTorch's area_pixel_compute_scale<float>.
func areaScale(in, out int, alignCorners bool, scale float64) float32 {
	if alignCorners {
		if out > 1 {
			return float32(in-1) / float32(out-1)
		}
		return 0
	}
	return scaleValue(scale, in, out)
}

// nearestTable returns the source index of every output index along one
// dimension. With shortcut (Nearest only), out = in copies and out = 2·in
// reads dst/2 whatever the scale, as PyTorch's nearest_idx.
func nearestTable(in, out int, scale float64, exact, shortcut bool) []int {
	idx := make([]int, out)
	if shortcut && out == in {
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	if shortcut && out == 2*in {
		for i := range idx {
			idx[i] = i >> 1
		}
		return idx
	}
	s := scaleValue(scale, in, out)
	for i := range idx {
		var src float32
		if exact {
			// C++: floorf((dst + 0.5) * scale) with the product in double.
			src = float32((float64(i) + 0.5) * float64(s))
		} else {
			src = float32(i) * s
		}
		idx[i] = min(int(math.Floor(float64(src))), in-1)
	}
	return idx
}

// nearest2d copies x[n, c, ih[oh], iw[ow]] into every output pixel.
func nearest2d(x *tensor.Tensor, ih, iw []int) *tensor.Tensor {
	w, oh, ow := x.Shape()[3], len(ih), len(iw)
	return planewise("Interpolate", x, outShape(x.Shape(), oh, ow), oh*ow,
		func() planeFunc {
			return func(dst, src []float32) {
				for y, sy := range ih {
					row, orow := src[sy*w:(sy+1)*w], dst[y*ow:(y+1)*ow]
					for x, sx := range iw {
						orow[x] = row[sx]
					}
				}
			}
		},
		func() planeFunc {
			return func(gx, g []float32) {
				for y, sy := range ih {
					row, grow := gx[sy*w:(sy+1)*w], g[y*ow:(y+1)*ow]
					for x, sx := range iw {
						row[sx] += grow[x]
					}
				}
			}
		})
}

// linearTap is one output index of linear interpolation: it reads i0 and i1
// with weights l0 and l1.
type linearTap struct {
	i0, i1 int
	l0, l1 float32
}

// linearTable is PyTorch's compute_source_index_and_lambda for every output
// index: the scale in float32, the source index in float64.
func linearTable(in, out int, alignCorners bool, scale float64) []linearTap {
	taps := make([]linearTap, out)
	s := float64(areaScale(in, out, alignCorners, scale))
	for i := range taps {
		if out == in {
			taps[i] = linearTap{i, i, 1, 0}
			continue
		}
		var src float64
		if alignCorners {
			src = s * float64(i)
		} else {
			src = max(s*(float64(i)+0.5)-0.5, 0)
		}
		i0 := int(src)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := float32(src - float64(i0))
		taps[i] = linearTap{i0, i1, 1 - l1, l1}
	}
	return taps
}

// rowPair holds two rows of values, each tagged with the input row it
// belongs to (−1: none). Bilinear interpolation reads input rows i0 and i1
// for each output row, and neither decreases from one output row to the
// next, so with two slots each input row is handled once per plane.
type rowPair struct {
	key [2]int
	buf [2][]float32
}

func newRowPair(n int) *rowPair {
	return &rowPair{key: [2]int{-1, -1}, buf: [2][]float32{make([]float32, n), make([]float32, n)}}
}

// row returns the buffer of input row r. If no slot holds r, it claims the
// one that does not hold row keep and returns fresh = true and the row the
// slot held before (−1 for none), whose values are still in buf.
func (c *rowPair) row(r, keep int) (buf []float32, prev int, fresh bool) {
	for k := range c.key {
		if c.key[k] == r {
			return c.buf[k], r, false
		}
	}
	k := 0
	if c.key[0] == keep {
		k = 1
	}
	prev, c.key[k] = c.key[k], r
	return c.buf[k], prev, true
}

// bilinear2d blends the 2×2 input pixels of each output pixel.
func bilinear2d(x *tensor.Tensor, th, tw []linearTap) *tensor.Tensor {
	w, oh, ow := x.Shape()[3], len(th), len(tw)
	return planewise("Interpolate", x, outShape(x.Shape(), oh, ow), oh*ow,
		func() planeFunc {
			// The input rows interpolated along W, each once per plane.
			rows := newRowPair(ow)
			return func(dst, src []float32) {
				rows.key = [2]int{-1, -1}
				// row returns input row r interpolated along W, keeping row keep.
				row := func(r, keep int) []float32 {
					buf, _, fresh := rows.row(r, keep)
					if fresh {
						buf, in := buf[:len(tw)], src[r*w:(r+1)*w]
						for x, tx := range tw {
							buf[x] = tx.l0*in[tx.i0] + tx.l1*in[tx.i1]
						}
					}
					return buf
				}
				for y, ty := range th {
					r0 := row(ty.i0, ty.i1)
					r1 := row(ty.i1, ty.i0)
					orow := dst[y*ow : (y+1)*ow]
					r0, r1 = r0[:len(orow)], r1[:len(orow)]
					h0, h1 := ty.l0, ty.l1
					for x := range orow {
						orow[x] = h0*r0[x] + h1*r1[x]
					}
				}
			}
		},
		func() planeFunc {
			// The adjoint of the forward pass: output-row gradients are
			// accumulated into the gradients of the W-interpolated input
			// rows, and each is scattered along W once, when its slot is
			// reused or at the end of the plane.
			rows := newRowPair(ow)
			return func(gx, g []float32) {
				rows.key = [2]int{-1, -1}
				flush := func(r int, buf []float32) {
					if r < 0 {
						return
					}
					buf, out := buf[:len(tw)], gx[r*w:(r+1)*w]
					for x, tx := range tw {
						out[tx.i0] += tx.l0 * buf[x]
						out[tx.i1] += tx.l1 * buf[x]
					}
					clear(buf)
				}
				row := func(r, keep int) []float32 {
					buf, prev, fresh := rows.row(r, keep)
					if fresh {
						flush(prev, buf)
					}
					return buf
				}
				for y, ty := range th {
					a := row(ty.i0, ty.i1)
					b := row(ty.i1, ty.i0)
					grow := g[y*ow : (y+1)*ow]
					a, b = a[:len(grow)], b[:len(grow)]
					h0, h1 := ty.l0, ty.l1
					for x, v := range grow {
						a[x] += h0 * v
						b[x] += h1 * v
					}
				}
				flush(rows.key[0], rows.buf[0])
				flush(rows.key[1], rows.buf[1])
			}
		})
}

// cubicTap is one output index of bicubic interpolation: four clamped
// source indices and their weights.
type cubicTap struct {
	i [4]int
	w [4]float32
}

// cubicCoeffs returns Keys' cubic convolution weights (A = −0.75) for the
// four pixels around a source position with fractional part t, in float32
// as PyTorch's get_cubic_upsample_coefficients<float>.
func cubicCoeffs(t float32) [4]float32 {
	const a = float32(-0.75)
	conv1 := func(x float32) float32 { return ((a+2)*x-(a+3))*x*x + 1 }
	conv2 := func(x float32) float32 { return ((a*x-5*a)*x+8*a)*x - 4*a }
	x2 := 1 - t
	return [4]float32{conv2(t + 1), conv1(t), conv1(x2), conv2(x2 + 1)}
}

// cubicTable computes the taps of every output index, in float32 as PyTorch.
func cubicTable(in, out int, alignCorners bool, scale float64) []cubicTap {
	taps := make([]cubicTap, out)
	s := areaScale(in, out, alignCorners, scale)
	for i := range taps {
		var src float32
		if alignCorners {
			src = s * float32(i)
		} else {
			src = s*(float32(i)+0.5) - 0.5
		}
		i0 := int(math.Floor(float64(src)))
		taps[i].w = cubicCoeffs(src - float32(i0))
		for j := range 4 {
			taps[i].i[j] = min(max(i0-1+j, 0), in-1)
		}
	}
	return taps
}

// bicubic2d blends the 4×4 input pixels of each output pixel.
func bicubic2d(x *tensor.Tensor, th, tw []cubicTap) *tensor.Tensor {
	w, oh, ow := x.Shape()[3], len(th), len(tw)
	return planewise("Interpolate", x, outShape(x.Shape(), oh, ow), 16*oh*ow,
		func() planeFunc {
			// Input rows interpolated along W, cached in four slots: the
			// source rows of successive output rows never decrease, so each
			// input row is interpolated once per plane.
			var keys [4]int
			var bufs [4][]float32
			for k := range bufs {
				bufs[k] = make([]float32, ow)
			}
			return func(dst, src []float32) {
				keys = [4]int{-1, -1, -1, -1}
				row := func(r int, need *[4]int) []float32 {
					free := -1
					for k, key := range keys {
						if key == r {
							return bufs[k]
						}
						if free < 0 && key != need[0] && key != need[1] && key != need[2] && key != need[3] {
							free = k
						}
					}
					keys[free] = r
					buf, in := bufs[free][:len(tw)], src[r*w:(r+1)*w]
					for x, tx := range tw {
						buf[x] = tx.w[0]*in[tx.i[0]] + tx.w[1]*in[tx.i[1]] + tx.w[2]*in[tx.i[2]] + tx.w[3]*in[tx.i[3]]
					}
					return buf
				}
				for y := range th {
					ty := &th[y]
					r0, r1, r2, r3 := row(ty.i[0], &ty.i), row(ty.i[1], &ty.i), row(ty.i[2], &ty.i), row(ty.i[3], &ty.i)
					orow := dst[y*ow : (y+1)*ow]
					r0, r1, r2, r3 = r0[:len(orow)], r1[:len(orow)], r2[:len(orow)], r3[:len(orow)]
					w0, w1, w2, w3 := ty.w[0], ty.w[1], ty.w[2], ty.w[3]
					for x := range orow {
						orow[x] = w0*r0[x] + w1*r1[x] + w2*r2[x] + w3*r3[x]
					}
				}
			}
		},
		func() planeFunc {
			return func(gx, g []float32) {
				for y, ty := range th {
					grow := g[y*ow : (y+1)*ow]
					for x, tx := range tw {
						v := grow[x]
						for j := range 4 {
							row := gx[ty.i[j]*w : (ty.i[j]+1)*w]
							vy := v * ty.w[j]
							for i := range 4 {
								row[tx.i[i]] += vy * tx.w[i]
							}
						}
					}
				}
			}
		})
}
