package functional_test

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

func sigmoid64(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func softplus64(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func normCDF64(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func normPDF64(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }

// TestActivationPrecision sweeps the smooth activations over wide ranges,
// tails included (the golden fixtures stay within a few units of 0), and
// bounds the error of the forward and backward passes against float64
// formulas: |got − want| / max(|want|, floor), so a floor of 1e-30 measures
// relative error and a floor of 1 absolute error for small values (used
// for derivatives that cross 0, where relative error means nothing, and
// for those computed from a rounded σ or tanh near 1, as PyTorch does).
// Where x is scaled before exp or σ (β·x, x/α), rounding the product to
// float32 costs about |β·x| half-ulps in the tails, as in PyTorch's float32
// kernels; the bounds allow for it.
func TestActivationPrecision(t *testing.T) {
	const rel, abs = 1e-30, 1.0
	type ref func(x float64) float64
	elu := func(neg, pos, in float64) (ref, ref) {
		return func(x float64) float64 {
				if x > 0 {
					return x * pos
				}
				return neg * math.Expm1(x*in)
			}, func(x float64) float64 {
				if x > 0 {
					return pos
				}
				return in * neg * math.Exp(x*in)
			}
	}
	eluF, eluD := elu(1.3, 1, 1)
	celuF, celuD := elu(0.7, 1, 1/float64(float32(0.7)))
	seluF, seluD := elu(functional.SELUAlpha*functional.SELUScale, functional.SELUScale, 1)
	const k, kappa = 0.7978845608028654, 0.044715
	mish := func(x float64) float64 { return x * math.Tanh(softplus64(x)) }
	dmish := func(x float64) float64 {
		t := math.Tanh(softplus64(x))
		return t + x*sigmoid64(x)*(1-t*t)
	}
	cases := []struct {
		name            string
		f               func(*tensor.Tensor) *tensor.Tensor
		want, dwant     ref
		lo, hi          float64
		floor, dfloor   float64
		maxErr, maxDErr float64
	}{
		{"Sigmoid", functional.Sigmoid, sigmoid64, func(x float64) float64 { s := sigmoid64(x); return s * (1 - s) },
			-80, 80, rel, abs, 3e-7, 3e-7},
		{"Tanh", functional.Tanh, math.Tanh, func(x float64) float64 { t := math.Tanh(x); return 1 - t*t },
			-12, 12, rel, abs, 3e-7, 3e-7},
		{"GELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) },
			func(x float64) float64 { return x * normCDF64(x) }, func(x float64) float64 { return normCDF64(x) + x*normPDF64(x) },
			-12, 12, rel, abs, 1e-6, 3e-7},
		{"GELUTanh", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUTanh) },
			func(x float64) float64 { return x * sigmoid64(2*k*(x+kappa*x*x*x)) },
			func(x float64) float64 {
				t := math.Tanh(k * (x + kappa*x*x*x))
				return 0.5*(1+t) + 0.5*x*(1-t*t)*k*(1+3*kappa*x*x)
			},
			-12, 12, rel, abs, 1e-6, 1e-6},
		{"SiLU", functional.SiLU, func(x float64) float64 { return x * sigmoid64(x) },
			func(x float64) float64 { s := sigmoid64(x); return s * (1 + x*(1-s)) },
			-80, 80, rel, abs, 3e-7, 1.5e-6},
		{"Swish", func(x *tensor.Tensor) *tensor.Tensor { return functional.Swish(x, 1.7) },
			func(x float64) float64 { return x * sigmoid64(1.7*x) },
			func(x float64) float64 { s := sigmoid64(1.7 * x); return s * (1 + 1.7*x*(1-s)) },
			-20, 20, rel, abs, 3e-6, 1.5e-6},
		{"Mish", functional.Mish, mish, dmish, -60, 60, rel, abs, 3e-7, 3e-7},
		{"Mish", functional.Mish, mish, dmish, 15, 1e7, rel, abs, 3e-7, 3e-7},
		{"ELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.ELU(x, 1.3) }, eluF, eluD, -20, 20, rel, rel, 5e-7, 3e-7},
		{"CELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.CELU(x, 0.7) }, celuF, celuD, -20, 20, rel, rel, 5e-7, 2e-6},
		{"SELU", functional.SELU, seluF, seluD, -20, 20, rel, rel, 5e-7, 3e-7},
		{"Softplus", func(x *tensor.Tensor) *tensor.Tensor { return functional.Softplus(x, 1, 20) },
			func(x float64) float64 {
				if x > 20 {
					return x
				}
				return softplus64(x)
			},
			func(x float64) float64 {
				if x > 20 {
					return 1
				}
				return sigmoid64(x)
			},
			-80, 40, rel, rel, 3e-7, 3e-7},
	}
	for _, c := range cases {
		// A uniform grid plus the points around 0, where relative errors
		// show cancellation.
		const n = 100001
		xs := make([]float32, 0, n+8)
		for i := range n {
			xs = append(xs, float32(c.lo+(c.hi-c.lo)*float64(i)/(n-1)))
		}
		xs = append(xs, 0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, -0.3)
		x := tensor.FromSlice(xs, len(xs)).SetRequiresGrad(true)
		y := c.f(x)
		y.BackwardWith(tensor.Ones(len(xs)))
		worst, dworst, at, dat := 0.0, 0.0, 0.0, 0.0
		for i, v := range xs {
			z := float64(v)
			if e := math.Abs(float64(y.Data()[i])-c.want(z)) / max(math.Abs(c.want(z)), c.floor); !(e <= worst) {
				worst, at = e, z
			}
			if e := math.Abs(float64(x.Grad().Data()[i])-c.dwant(z)) / max(math.Abs(c.dwant(z)), c.dfloor); !(e <= dworst) {
				dworst, dat = e, z
			}
		}
		t.Logf("%-8s forward %.2g at x = %g, backward %.2g at x = %g", c.name, worst, at, dworst, dat)
		if !(worst <= c.maxErr) {
			t.Errorf("%s: forward error %.3g at x = %g, want at most %g", c.name, worst, at, c.maxErr)
		}
		if !(dworst <= c.maxDErr) {
			t.Errorf("%s: backward error %.3g at x = %g, want at most %g", c.name, dworst, dat, c.maxDErr)
		}
		nan := c.f(tensor.FromSlice([]float32{float32(math.NaN())}, 1)).Data()[0]
		if nan == nan {
			t.Errorf("%s(NaN) = %v, want NaN", c.name, nan)
		}
	}
}
