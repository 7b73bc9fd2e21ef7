package functional

import (
	"fmt"
	"math"

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
	var bwd func(gx, g, x, y []float32)
	switch grad {
	case StepZero:
		bwd = func(gx, g, x, y []float32) {} // gx is already zero
	case StepStraightThrough:
		bwd = func(gx, g, x, y []float32) { copy(gx, g) }
	case StepClippedStraightThrough:
		bwd = func(gx, g, x, y []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			for i, v := range x {
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
	return pointwise("ReLU", x,
		func(y, x []float32) {
			x = x[:len(y)]
			for i, v := range x {
				y[i] = max(v, 0) // branch-free; NaN propagates as in torch.relu
			}
		},
		func(gx, g, x, y []float32) {
			g, y = g[:len(gx)], y[:len(gx)]
			for i, v := range y {
				// y ≥ 0 (or NaN): keep g where y != +0, without a branch.
				b := math.Float32bits(v)
				mask := uint32(int32(b|-b) >> 31)
				gx[i] = math.Float32frombits(math.Float32bits(g[i]) & mask)
			}
		})
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
	out := tensor.Zeros(shape...)
	yd := out.Data()
	// Blocks of inner elements share one slope: block b has slope wd[b%channels].
	blocks := len(xd) / max(inner, 1)
	grain := max(1, grainPointwise/max(inner, 1))
	parallelFor(blocks, grain, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			w := wd[b%channels]
			y, xs := yd[b*inner:(b+1)*inner], xd[b*inner:(b+1)*inner]
			for i, v := range xs {
				if v > 0 {
					y[i] = v
				} else {
					y[i] = w * v
				}
			}
		}
	})
	return tensor.Record("PReLU", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Zeros(shape...)
			gxd := gx.Data()
			parallelFor(blocks, grain, func(lo, hi int) {
				for b := lo; b < hi; b++ {
					w := wd[b%channels]
					gs, xs := gd[b*inner:(b+1)*inner], xd[b*inner:(b+1)*inner]
					for i, v := range xs {
						if v > 0 {
							gxd[b*inner+i] = gs[i]
						} else {
							gxd[b*inner+i] = w * gs[i]
						}
					}
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

// eluCore is torch's ELU family: x·pos where x > 0, and
// neg·(exp(x·inScale) − 1) elsewhere.
func eluCore(op string, x *tensor.Tensor, neg, pos, inScale float64) *tensor.Tensor {
	return mapPointwise(op, x,
		func(v float32) float32 {
			if v > 0 {
				return float32(float64(v) * pos)
			}
			return float32(neg * math.Expm1(float64(v)*inScale))
		},
		func(v, _ float32) float32 {
			if v > 0 {
				return float32(pos)
			}
			return float32(inScale * neg * math.Exp(float64(v)*inScale))
		})
}

// ELU returns x where x > 0 and alpha·(exp(x) − 1) elsewhere, elementwise
// (torch's alpha is 1 by default).
func ELU(x *tensor.Tensor, alpha float32) *tensor.Tensor {
	return eluCore("ELU", x, float64(alpha), 1, 1)
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
	return eluCore("CELU", x, float64(alpha), 1, 1/float64(alpha))
}

func sigmoid64(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// Sigmoid returns 1 / (1 + exp(−x)) elementwise; its derivative is y·(1 − y).
func Sigmoid(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Sigmoid", x,
		func(y, x []float32) {
			x = x[:len(y)]
			for i, v := range x {
				y[i] = sigmoidf(v)
			}
		},
		func(gx, g, _, y []float32) {
			g, y = g[:len(gx)], y[:len(gx)]
			for i, v := range y {
				gx[i] = g[i] * v * (1 - v)
			}
		})
}

// Tanh returns tanh(x) elementwise; its derivative is 1 − y².
func Tanh(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Tanh", x,
		func(y, x []float32) {
			x = x[:len(y)]
			for i, v := range x {
				y[i] = tanhf(v)
			}
		},
		func(gx, g, _, y []float32) {
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
		return pointwise("GELU", x,
			func(y, x []float32) {
				x = x[:len(y)]
				for i, v := range x {
					y[i] = v * normCDF(v)
				}
			},
			func(gx, g, x, _ []float32) {
				g, x = g[:len(gx)], x[:len(gx)]
				for i, v := range x {
					gx[i] = g[i] * geluGrad(v)
				}
			})
	case GELUTanh:
		return pointwise("GELU", x,
			func(y, x []float32) {
				x = x[:len(y)]
				for i, v := range x {
					y[i] = 0.5 * v * (1 + tanhf(sqrt2OverPi*(v+geluKappa*v*v*v)))
				}
			},
			func(gx, g, x, _ []float32) {
				g, x = g[:len(gx)], x[:len(gx)]
				for i, v := range x {
					t := tanhf(sqrt2OverPi * (v + geluKappa*v*v*v))
					gx[i] = g[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*sqrt2OverPi*(1+3*geluKappa*v*v))
				}
			})
	}
	panic(fmt.Sprintf("functional.GELU: unknown GELUApprox %d", approx))
}

// gelu is the exact GELU x·Φ(x) and geluGrad its derivative Φ(x) + x·φ(x).
func gelu(v float32) float32 { return v * normCDF(v) }
func geluGrad(v float32) float32 {
	cdf, e := normCDFExp(v)
	return cdf + v*e*invSqrt2Pi
}

// SiLU returns x·σ(x) elementwise (the sigmoid linear unit, Swish with β = 1).
func SiLU(x *tensor.Tensor) *tensor.Tensor { return swish("SiLU", x, 1) }

// Swish returns x·σ(β·x) elementwise (Ramachandran et al. 2017) for a fixed
// β; β = 1 is SiLU. Its derivative is σ(βx) + βx·σ(βx)·(1 − σ(βx)).
func Swish(x *tensor.Tensor, beta float32) *tensor.Tensor { return swish("Swish", x, beta) }

func swish(op string, x *tensor.Tensor, beta float32) *tensor.Tensor {
	return pointwise(op, x,
		func(y, x []float32) {
			x = x[:len(y)]
			for i, v := range x {
				y[i] = v * sigmoidf(beta*v)
			}
		},
		func(gx, g, x, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			for i, v := range x {
				gx[i] = g[i] * swishGrad(v, beta)
			}
		})
}

// swishGrad is the derivative of x·σ(βx).
func swishGrad(v, beta float32) float32 {
	s := sigmoidf(beta * v)
	return s * (1 + beta*v*(1-s))
}

// softplus64 is log(1 + exp(v)) without overflow.
func softplus64(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

// Mish returns x·tanh(softplus(x)) elementwise (Misra 2019).
func Mish(x *tensor.Tensor) *tensor.Tensor {
	return pointwise("Mish", x,
		func(y, x []float32) {
			x = x[:len(y)]
			for i, v := range x {
				t, _ := mishParts(v)
				y[i] = v * t
			}
		},
		func(gx, g, x, _ []float32) {
			g, x = g[:len(gx)], x[:len(gx)]
			for i, v := range x {
				t, dt := mishParts(v)
				gx[i] = g[i] * (t + v*dt)
			}
		})
}

// mishParts returns t = tanh(softplus(x)) and its derivative σ(x)·(1 − t²)
// from one exponential: with n = eˣ and w = n(n + 2), t = w/(w + 2) and
// 1 − t² = 4(w + 1)/(w + 2)².
func mishParts(v float32) (t, dt float32) {
	if v >= 15 { // t rounds to 1 and x·dt < 1e-11
		return 1, 0
	}
	n := expf(v)
	w := n * (n + 2)
	d := w + 2
	t = w / d
	return t, n / (1 + n) * 4 * (w + 1) / (d * d)
}

// Softplus returns log(1 + exp(β·x))/β elementwise, and x itself where
// β·x > threshold (torch's defaults are β = 1, threshold = 20). The
// derivative is σ(β·x), and 1 above the threshold.
func Softplus(x *tensor.Tensor, beta, threshold float32) *tensor.Tensor {
	if beta == 0 {
		panic("functional.Softplus: beta must not be 0")
	}
	b := float64(beta)
	return mapPointwise("Softplus", x,
		func(v float32) float32 {
			if v*beta > threshold {
				return v
			}
			return float32(softplus64(float64(v)*b) / b)
		},
		func(v, _ float32) float32 {
			if v*beta > threshold {
				return 1
			}
			return sigmoidf(v * beta)
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
