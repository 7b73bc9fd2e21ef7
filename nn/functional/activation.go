package functional

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// StepGrad chooses the gradient that Heaviside passes back.
type StepGrad int

const (
	// StepZero passes no gradient: the true derivative of a step, 0 almost
	// everywhere, as for the perceptron.
	StepZero StepGrad = iota
	// StepStraightThrough passes the output gradient unchanged (the
	// straight-through estimator of Bengio et al. 2013).
	StepStraightThrough
	// StepClippedStraightThrough passes the output gradient where |x| ≤ 1
	// and 0 elsewhere: the derivative of hardtanh, the "clipped" or
	// hardtanh straight-through estimator of binarised networks.
	StepClippedStraightThrough
)

// Heaviside returns the unit step of x elementwise: 1 where x > 0, 0 where
// x < 0 (and for NaN), and atZero where x == 0, as torch.heaviside(x, atZero).
// The perceptron's step is Heaviside(x, 0, StepZero). grad chooses the
// backward pass: StepZero gives a zero gradient (torch.heaviside itself has
// none), StepStraightThrough passes the gradient unchanged, and
// StepClippedStraightThrough passes it where |x| ≤ 1.
func Heaviside(x *tensor.Tensor, atZero float32, grad StepGrad) *tensor.Tensor {
	fwd := func(y, x []float32) {
		x = x[:len(y)]
		for i, v := range x {
			switch {
			case v > 0:
				y[i] = 1
			case v == 0:
				y[i] = atZero
			default:
				y[i] = 0
			}
		}
	}
	var bwd func(gx, g, x, y, tmp []float32)
	switch grad {
	case StepZero:
		bwd = func(gx, g, x, y, _ []float32) { clear(gx) }
	case StepStraightThrough:
		bwd = func(gx, g, x, y, _ []float32) { copy(gx, g) }
	case StepClippedStraightThrough:
		bwd = func(gx, g, x, y, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			for i, v := range x {
				gx[i] = 0
				if v >= -1 && v <= 1 {
					gx[i] = g[i]
				}
			}
		}
	default:
		panic(fmt.Sprintf("functional.Heaviside: unknown StepGrad %d", grad))
	}
	return pointwise("Heaviside", x, fwd, bwd)
}

// Threshold returns x where x > threshold and value elsewhere, elementwise,
// as torch.nn.functional.threshold. The gradient is 1 where x > threshold and
// 0 elsewhere.
func Threshold(x *tensor.Tensor, threshold, value float32) *tensor.Tensor {
	return mapPointwise("Threshold", x,
		func(v float32) float32 {
			if v <= threshold {
				return value
			}
			return v // also NaN, as torch
		},
		func(v, _ float32) float32 {
			if v <= threshold {
				return 0
			}
			return 1
		})
}

// ReLU returns max(x, 0) elementwise (NaN stays NaN). Its gradient is 1
// where x > 0 and 0 elsewhere (including at 0), as in PyTorch.
func ReLU(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("ReLU", x, reluInto,
		func(gx, g, _, y, _ []float32) {
			g, y = g[:len(gx)], y[:len(gx)]
			i := 0
			for ; i+4 <= len(gx); i += 4 {
				ys, gs, ds := y[i:i+4:i+4], g[i:i+4:i+4], gx[i:i+4:i+4]
				ds[0], ds[1], ds[2], ds[3] = reluGrad(gs[0], ys[0]), reluGrad(gs[1], ys[1]), reluGrad(gs[2], ys[2]), reluGrad(gs[3], ys[3])
			}
			for ; i < len(gx); i++ {
				gx[i] = reluGrad(g[i], y[i])
			}
		})
}

// reluGrad returns g where y = max(x, 0) is not +0 and 0 where it is,
// without a branch (y ≥ 0 or NaN, so only +0 has no bit set).
func reluGrad(g, y float32) float32 {
	b := math.Float32bits(y)
	return math.Float32frombits(math.Float32bits(g) & uint32(int32(b|-b)>>31))
}

// reluInto sets y = max(x, 0), four at a time: Go's max is branch-free
// (and propagates NaN, as torch.relu), and unrolling lets the independent
// elements overlap.
func reluInto(y, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		ys[0], ys[1], ys[2], ys[3] = max(xs[0], 0), max(xs[1], 0), max(xs[2], 0), max(xs[3], 0)
	}
	for ; i < len(y); i++ {
		y[i] = max(x[i], 0)
	}
}

// Hardtanh clamps x to [lo, hi] elementwise, as torch.nn.functional.hardtanh.
// The gradient is 1 where lo < x < hi and 0 elsewhere (also at the ends).
func Hardtanh(x *tensor.Tensor, lo, hi float32) *tensor.Tensor {
	if lo > hi {
		panic(fmt.Sprintf("functional.Hardtanh: lo %v > hi %v", lo, hi))
	}
	return mapPointwise("Hardtanh", x,
		func(v float32) float32 { return min(max(v, lo), hi) },
		func(v, _ float32) float32 {
			if v > lo && v < hi {
				return 1
			}
			return 0
		})
}

// ReLU6 returns min(max(x, 0), 6) elementwise, which is Hardtanh(x, 0, 6).
func ReLU6(x *tensor.Tensor) *tensor.Tensor { return Hardtanh(x, 0, 6) }

// LeakyReLU returns x where x > 0 and slope·x elsewhere, elementwise
// (torch's negative_slope, 0.01 by default there).
func LeakyReLU(x *tensor.Tensor, slope float32) *tensor.Tensor {
	return mapPointwise("LeakyReLU", x,
		func(v float32) float32 {
			if v > 0 {
				return v
			}
			return v * slope
		},
		func(v, _ float32) float32 {
			if v > 0 {
				return 1
			}
			return slope
		})
}

// PReLU returns x where x > 0 and w·x elsewhere, with the learnable slope
// weight w of shape (1) shared by all elements or (C) with one slope per
// channel, the channel being axis 1 of x: (N, C, …). Both x and weight
// receive gradients: ∂/∂w sums x·g over the elements where x ≤ 0, as
// torch.nn.functional.prelu.
func PReLU(x, weight *tensor.Tensor) *tensor.Tensor {
	if weight.Dim() != 1 {
		panic(fmt.Sprintf("functional.PReLU: weight %s must be 1-D", tensor.FormatShape(weight.Shape())))
	}
	nw := weight.Size()
	shape := x.Shape()
	inner, channels := 1, 1
	if x.Dim() > 0 {
		inner = shape[len(shape)-1] // any block size works for a shared slope
	}
	if nw != 1 {
		if x.Dim() < 2 || shape[1] != nw {
			panic(fmt.Sprintf("functional.PReLU: weight %s does not match the channels (axis 1) of x %s", tensor.FormatShape(weight.Shape()), tensor.FormatShape(shape)))
		}
		channels = nw
		inner = tensor.Numel(shape[2:])
	}
	xd, wd := x.Data(), weight.Data()
	out := tensor.Empty(shape...)
	yd := out.Data()
	// Blocks of inner elements share one slope: block b has slope wd[b%channels].
	blocks := len(xd) / max(inner, 1)
	grain := max(1, grainPointwise/max(inner, 1))
	parallelFor(blocks, grain, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			xs := xd[b*inner : (b+1)*inner]
			preluRow(yd[b*inner:(b+1)*inner], xs, xs, wd[b%channels])
		}
	})
	return tensor.Record("PReLU", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Empty(shape...)
			gxd := gx.Data()
			parallelFor(blocks, grain, func(lo, hi int) {
				for b := lo; b < hi; b++ {
					s := b * inner
					preluRow(gxd[s:s+inner], gd[s:s+inner], xd[s:s+inner], wd[b%channels])
				}
			})
		}
		if weight.RequiresGrad() {
			acc := make([]float64, nw)
			for b := 0; b < blocks; b++ {
				var s float64
				gs, xs := gd[b*inner:(b+1)*inner], xd[b*inner:(b+1)*inner]
				for i, v := range xs {
					if v <= 0 {
						s += float64(v) * float64(gs[i])
					}
				}
				acc[b%channels] += s
			}
			gw = tensor.Zeros(nw)
			for c, s := range acc {
				gw.Data()[c] = float32(s)
			}
		}
		return []*tensor.Tensor{gx, gw}
	}, x, weight)
}

// preluRow sets dst[i] = src[i] where x[i] > 0 and w·src[i] elsewhere: with
// src = x it is PReLU, with src the output gradient its input gradient.
func preluRow(dst, src, x []float32, w float32) {
	src, x = src[:len(dst)], x[:len(dst)]
	for i, v := range x {
		dst[i] = choose(notPositive(v), w*src[i], src[i])
	}
}

// eluCore is torch's ELU family: x·pos where x > 0, and
// neg·(exp(x·inScale) − 1) elsewhere. The forward pass takes e^z − 1 as
// 2t/(1 − t) with t = tanh(z/2), which keeps its relative precision near
// z = 0, where e^z − 1 would cancel; the backward pass takes e^z from
// cpu.Exp.
func eluCore(op string, x *tensor.Tensor, neg, pos, inScale float32) *tensor.Tensor {
	return pointwise(op, x,
		func(y, x []float32) {
			x = x[:len(y)]
			scaleInto(y, x, inScale/2)
			cpu.Tanh(y, y)
			for i, v := range x {
				t := y[i]
				y[i] = choose(notPositive(v), neg*(2*t/(1-t)), v*pos)
			}
		},
		func(gx, g, x, _, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			scaleInto(gx, x, inScale)
			cpu.Exp(gx, gx)
			for i, v := range x {
				gx[i] = g[i] * choose(notPositive(v), inScale*neg*gx[i], pos)
			}
		})
}

// ELU returns x where x > 0 and alpha·(exp(x) − 1) elsewhere, elementwise
// (torch's alpha is 1 by default).
func ELU(x *tensor.Tensor, alpha float32) *tensor.Tensor {
	return eluCore("ELU", x, alpha, 1, 1)
}

// SELU constants (Klambauer et al. 2017), as in PyTorch.
const (
	SELUAlpha = 1.6732632423543772848170429916717
	SELUScale = 1.0507009873554804934193349852946
)

// SELU returns scale·x where x > 0 and scale·alpha·(exp(x) − 1) elsewhere,
// with the fixed SELUAlpha and SELUScale.
func SELU(x *tensor.Tensor) *tensor.Tensor {
	return eluCore("SELU", x, SELUAlpha*SELUScale, SELUScale, 1)
}

// CELU returns x where x > 0 and alpha·(exp(x/alpha) − 1) elsewhere,
// elementwise (continuously differentiable ELU; alpha must not be 0).
func CELU(x *tensor.Tensor, alpha float32) *tensor.Tensor {
	if alpha == 0 {
		panic("functional.CELU: alpha must not be 0")
	}
	return eluCore("CELU", x, alpha, 1, 1/alpha)
}

// Sigmoid returns 1 / (1 + exp(−x)) elementwise; its derivative is y·(1 − y).
func Sigmoid(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Sigmoid", x, cpu.Sigmoid,
		func(gx, g, _, y, _ []float32) {
			g, y = g[:len(gx)], y[:len(gx)]
			for i, v := range y {
				gx[i] = g[i] * v * (1 - v)
			}
		})
}

// Tanh returns tanh(x) elementwise; its derivative is 1 − y².
func Tanh(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Tanh", x, cpu.Tanh,
		func(gx, g, _, y, _ []float32) {
			g, y = g[:len(gx)], y[:len(gx)]
			for i, v := range y {
				gx[i] = g[i] * (1 - v*v)
			}
		})
}

// GELUApprox selects the form of GELU.
type GELUApprox int

const (
	// GELUExact is x·Φ(x) with the Gaussian CDF Φ written with erf
	// (torch's approximate="none").
	GELUExact GELUApprox = iota
	// GELUTanh is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
	// (torch's approximate="tanh").
	GELUTanh
)

const (
	sqrt2OverPi = 0.7978845608028654 // √(2/π)
	geluKappa   = 0.044715
	invSqrt2    = 0.7071067811865476 // 1/√2
	invSqrt2Pi  = 0.3989422804014327 // 1/√(2π)
)

// GELU returns the Gaussian error linear unit of x elementwise, exact or with
// the tanh approximation.
func GELU(x *tensor.Tensor, approx GELUApprox) *tensor.Tensor {
	switch approx {
	case GELUExact:
		return pointwise("GELU", x, cpu.GELU,
			func(gx, g, x, _, tmp []float32) { geluGrad(gx, x, g, tmp) })
	case GELUTanh:
		return pointwise("GELU", x, cpu.GELUTanh,
			func(gx, g, x, _, _ []float32) { geluTanhGrad(gx, x, g) })
	}
	panic(fmt.Sprintf("functional.GELU: unknown GELUApprox %d", approx))
}

// The derivatives below set d = g·f′(x) for the values x and the output
// gradient g, taking the product in their last pass over d: a pass of
// scalar Go costs more than the vector kernels. geluGrad and swishGrad,
// which the gated functions use too, set d = f′(x) when g is nil.

// geluGrad sets d = g·(Φ(x) + x·φ(x)), with the derivative of the exact
// GELU as PyTorch computes it: Φ(x) = (1 + erf(x/√2))/2 with cpu.Erf and
// φ(x) = e^(−x²/2)/√(2π) with cpu.Exp. tmp is scratch as long as d.
func geluGrad(d, x, g, tmp []float32) {
	x, tmp = x[:len(d)], tmp[:len(d)]
	for i, v := range x {
		d[i] = v * invSqrt2
		tmp[i] = -0.5 * v * v
	}
	cpu.Erf(d, d)
	cpu.Exp(tmp, tmp)
	if g == nil {
		for i, v := range x {
			d[i] = 0.5*(1+d[i]) + v*tmp[i]*invSqrt2Pi
		}
		return
	}
	g = g[:len(d)]
	for i, v := range x {
		d[i] = g[i] * (0.5*(1+d[i]) + v*tmp[i]*invSqrt2Pi)
	}
}

// geluTanhGrad sets d = g·f′(x) for the tanh-approximated GELU,
// f′(x) = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²) with
// t = tanh(√(2/π)(x + 0.044715x³)) from cpu.Tanh.
func geluTanhGrad(d, x, g []float32) {
	x, g = x[:len(d)], g[:len(d)]
	for i, v := range x {
		d[i] = sqrt2OverPi * (v + geluKappa*v*v*v)
	}
	cpu.Tanh(d, d)
	for i, v := range x {
		t := d[i]
		d[i] = g[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*sqrt2OverPi*(1+3*geluKappa*v*v))
	}
}

// SiLU returns x·σ(x) elementwise (the sigmoid linear unit, Swish with β = 1).
func SiLU(x *tensor.Tensor) *tensor.Tensor { return swish("SiLU", x, 1) }

// Swish returns x·σ(β·x) elementwise (Ramachandran et al. 2017) for a fixed
// β; β = 1 is SiLU. Its derivative is σ(βx) + βx·σ(βx)·(1 − σ(βx)).
func Swish(x *tensor.Tensor, beta float32) *tensor.Tensor { return swish("Swish", x, beta) }

func swish(op string, x *tensor.Tensor, beta float32) *tensor.Tensor {
	fwd := cpu.SiLU
	if beta != 1 {
		fwd = func(y, x []float32) {
			scaleInto(y, x, beta)
			cpu.Sigmoid(y, y)
			mulInto(y, x)
		}
	}
	return pointwise(op, x, fwd,
		func(gx, g, x, _, _ []float32) { swishGrad(gx, x, g, beta) })
}

// swishGrad sets d = g·f′(x) for f(x) = x·σ(βx),
// f′(x) = σ(βx)·(1 + βx·(1 − σ(βx))), with σ from cpu.Sigmoid.
func swishGrad(d, x, g []float32, beta float32) {
	x = x[:len(d)]
	if beta == 1 {
		cpu.Sigmoid(d, x)
	} else {
		scaleInto(d, x, beta)
		cpu.Sigmoid(d, d)
	}
	if g == nil {
		for i, v := range x {
			s := d[i]
			d[i] = s * (1 + beta*v*(1-s))
		}
		return
	}
	g = g[:len(d)]
	for i, v := range x {
		s := d[i]
		d[i] = g[i] * (s * (1 + beta*v*(1-s)))
	}
}

// Mish returns x·tanh(softplus(x)) elementwise (Misra 2019). With n = eˣ
// (from cpu.Exp) and w = n(n + 2), tanh(softplus(x)) = w/(w + 2) and its
// derivative is σ(x)·(1 − t²) = n/(1 + n) · 4(w + 1)/(w + 2)². From
// x = mishCap on, t rounds to 1 and the derivative to 0, so eˣ is taken of
// min(x, mishCap), which never overflows.
func Mish(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Mish", x,
		func(y, x []float32) {
			x = x[:len(y)]
			mishExp(y, x)
			for i, v := range x {
				n := y[i]
				w := n * (n + 2)
				y[i] = v * (w / (w + 2))
			}
		},
		func(gx, g, x, _, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			mishExp(gx, x)
			for i, v := range x {
				n := gx[i]
				w := n * (n + 2)
				d := w + 2
				dy := w/d + v*(n/(1+n)*4*(w+1)/(d*d))
				if v >= mishCap { // rare, so the branch is predicted
					dy = 1
				}
				gx[i] = g[i] * dy
			}
		})
}

// mishExp sets n = e^min(x, mishCap).
func mishExp(n, x []float32) {
	x = x[:len(n)]
	for i, v := range x {
		n[i] = min(v, mishCap)
	}
	cpu.Exp(n, n)
}

// mishCap is where Mish's t = tanh(softplus(x)) rounds to 1 and x·t′ is
// below 1e-11.
const mishCap = 15

// Softplus returns log(1 + exp(β·x))/β elementwise, and x itself where
// β·x > threshold (torch's defaults are β = 1, threshold = 20). The
// derivative is σ(β·x), and 1 above the threshold.
func Softplus(x *tensor.Tensor, beta, threshold float32) *tensor.Tensor {
	if beta == 0 {
		panic("functional.Softplus: beta must not be 0")
	}
	return pointwise("Softplus", x,
		func(y, x []float32) {
			// log(1 + e^z) = max(z, 0) + log1p(e^−|z|), which neither
			// overflows nor loses the small values.
			x = x[:len(y)]
			for i, v := range x {
				y[i] = -abs32(v * beta)
			}
			cpu.Exp(y, y)
			for i, v := range x {
				z := v * beta
				r := float32((float64(max(z, 0)) + math.Log1p(float64(y[i]))) / float64(beta))
				if z > threshold { // rare, so the branch is predicted
					r = v
				}
				y[i] = r
			}
		},
		func(gx, g, x, _, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			scaleInto(gx, x, beta)
			cpu.Sigmoid(gx, gx)
			for i, v := range x {
				s := gx[i]
				if v*beta > threshold {
					s = 1
				}
				gx[i] = g[i] * s
			}
		})
}

// Softsign returns x / (1 + |x|) elementwise; its derivative is 1/(1 + |x|)².
func Softsign(x *tensor.Tensor) *tensor.Tensor {
	return mapPointwise("Softsign", x,
		func(v float32) float32 { return v / (1 + abs32(v)) },
		func(v, _ float32) float32 {
			d := 1 + abs32(v)
			return 1 / (d * d)
		})
}

// abs32 returns |v| by clearing the sign bit (no branch).
func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// notPositive returns all ones where !(v > 0) — v ≤ 0, −0 and NaN — and 0
// where v > 0, without a branch: activations see random signs, which
// branches mispredict. The bits b of v > 0 are those in [1, 0x7f800000].
func notPositive(v float32) uint32 {
	d := int64(math.Float32bits(v) - 1) // uint32 arithmetic: +0 wraps to 2³² − 1
	return uint32((0x7f7fffff - d) >> 63)
}

// choose returns a where mask is all ones and b where it is 0, without a
// branch.
func choose(mask uint32, a, b float32) float32 {
	return math.Float32frombits(math.Float32bits(a)&mask | math.Float32bits(b)&^mask)
}

// HardSigmoid returns min(max(x + 3, 0), 6)/6 elementwise, a piecewise-linear
// sigmoid; its gradient is 1/6 where −3 < x < 3 and 0 elsewhere.
func HardSigmoid(x *tensor.Tensor) *tensor.Tensor {
	return mapPointwise("HardSigmoid", x,
		func(v float32) float32 { return min(max(v+3, 0), 6) / 6 },
		func(v, _ float32) float32 {
			if v > -3 && v < 3 {
				return 1.0 / 6
			}
			return 0
		})
}

// HardSwish returns x·min(max(x + 3, 0), 6)/6 elementwise (MobileNetV3); its
// gradient is 0 for x < −3, x/3 + 1/2 for −3 ≤ x < 3 and 1 from 3 on, as in
// PyTorch 1.13.
func HardSwish(x *tensor.Tensor) *tensor.Tensor {
	return mapPointwise("HardSwish", x,
		func(v float32) float32 { return v * min(max(v+3, 0), 6) / 6 },
		func(v, _ float32) float32 {
			switch {
			case v < -3:
				return 0
			case v < 3:
				return v/3 + 0.5
			}
			return 1
		})
}
