package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// This file holds the activation functions as modules: thin structs over
// package functional, usable in Sequential. Where PyTorch has a default
// parameter that 0 would make degenerate (LeakyReLU's slope, ELU's alpha,
// Softplus's beta), the zero value of the field means PyTorch's default.

// Heaviside is the unit step, the perceptron's activation: 1 for x > 0, 0
// for x < 0, AtZero at 0 (torch.heaviside). Grad chooses the backward pass:
// zero (the true derivative), straight-through, or clipped straight-through
// (see functional.StepGrad).
type Heaviside struct {
	AtZero float32
	Grad   functional.StepGrad
}

// Forward applies the step elementwise to x of any shape.
func (m Heaviside) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Heaviside(x, m.AtZero, m.Grad)
}

// Threshold is x where x > Threshold and Value elsewhere (torch.nn.Threshold).
type Threshold struct {
	Threshold, Value float32
}

// Forward applies the threshold elementwise to x of any shape.
func (m Threshold) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Threshold(x, m.Threshold, m.Value)
}

// Sigmoid is 1/(1 + e^−x) (torch.nn.Sigmoid).
type Sigmoid struct{}

// Forward applies the sigmoid elementwise to x of any shape.
func (Sigmoid) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.Sigmoid(x) }

// Tanh is the hyperbolic tangent (torch.nn.Tanh).
type Tanh struct{}

// Forward applies tanh elementwise to x of any shape.
func (Tanh) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.Tanh(x) }

// ReLU is max(x, 0) (torch.nn.ReLU).
type ReLU struct{}

// Forward applies ReLU elementwise to x of any shape.
func (ReLU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.ReLU(x) }

// ReLU6 is min(max(x, 0), 6) (torch.nn.ReLU6).
type ReLU6 struct{}

// Forward applies ReLU6 elementwise to x of any shape.
func (ReLU6) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.ReLU6(x) }

// Hardtanh clamps to [Min, Max] (torch.nn.Hardtanh); both zero means
// PyTorch's default [−1, 1].
type Hardtanh struct {
	Min, Max float32
}

// Forward applies Hardtanh elementwise to x of any shape.
func (m Hardtanh) Forward(x *tensor.Tensor) *tensor.Tensor {
	lo, hi := m.Min, m.Max
	if lo == 0 && hi == 0 {
		lo, hi = -1, 1
	}
	return functional.Hardtanh(x, lo, hi)
}

// LeakyReLU is x for x > 0 and NegativeSlope·x otherwise
// (torch.nn.LeakyReLU); zero NegativeSlope means PyTorch's default 0.01.
type LeakyReLU struct {
	NegativeSlope float32
}

// Forward applies LeakyReLU elementwise to x of any shape.
func (m LeakyReLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.LeakyReLU(x, orDefault(m.NegativeSlope, 0.01))
}

// PReLU is LeakyReLU with a learned slope (torch.nn.PReLU): one slope
// shared by all channels, or one per channel (axis 1). State-dict name:
// weight (1) or (C).
type PReLU struct {
	Weight *tensor.Tensor
}

// NewPReLU returns a PReLU with numParameters slopes (1, or the number of
// channels), each 0.25 as PyTorch initialises them.
func NewPReLU(numParameters int) *PReLU {
	return &PReLU{Weight: Constant(param(numParameters), 0.25)}
}

// Forward applies PReLU to x: (N, C, …) (any shape with a single slope).
func (m *PReLU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.PReLU(x, m.Weight) }

// ELU is x for x > 0 and Alpha·(eᵡ − 1) otherwise (torch.nn.ELU); zero
// Alpha means 1.
type ELU struct {
	Alpha float32
}

// Forward applies ELU elementwise to x of any shape.
func (m ELU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.ELU(x, orDefault(m.Alpha, 1))
}

// SELU is the self-normalising ELU with PyTorch's fixed constants (torch.nn.SELU).
type SELU struct{}

// Forward applies SELU elementwise to x of any shape.
func (SELU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.SELU(x) }

// CELU is max(0, x) + min(0, Alpha·(e^(x/Alpha) − 1)) (torch.nn.CELU);
// zero Alpha means 1.
type CELU struct {
	Alpha float32
}

// Forward applies CELU elementwise to x of any shape.
func (m CELU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.CELU(x, orDefault(m.Alpha, 1))
}

// GELU is x·Φ(x) (torch.nn.GELU), exact (erf) by default or with
// Approximate set to functional.GELUTanh, PyTorch's approximate="tanh".
type GELU struct {
	Approximate functional.GELUApprox
}

// Forward applies GELU elementwise to x of any shape.
func (m GELU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, m.Approximate) }

// SiLU is x·σ(x), also called Swish-1 (torch.nn.SiLU).
type SiLU struct{}

// Forward applies SiLU elementwise to x of any shape.
func (SiLU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.SiLU(x) }

// Swish is x·σ(Beta·x) (Ramachandran et al. 2017); zero Beta means 1,
// which is SiLU.
type Swish struct {
	Beta float32
}

// Forward applies Swish elementwise to x of any shape.
func (m Swish) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Swish(x, orDefault(m.Beta, 1))
}

// Mish is x·tanh(softplus(x)) (torch.nn.Mish).
type Mish struct{}

// Forward applies Mish elementwise to x of any shape.
func (Mish) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.Mish(x) }

// Softplus is log(1 + e^(Beta·x))/Beta, linear where Beta·x > Threshold
// (torch.nn.Softplus); zero Beta means 1 and zero Threshold means 20, as in
// PyTorch.
type Softplus struct {
	Beta, Threshold float32
}

// Forward applies Softplus elementwise to x of any shape.
func (m Softplus) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Softplus(x, orDefault(m.Beta, 1), orDefault(m.Threshold, 20))
}

// Softsign is x/(1 + |x|) (torch.nn.Softsign).
type Softsign struct{}

// Forward applies Softsign elementwise to x of any shape.
func (Softsign) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.Softsign(x) }

// Hardsigmoid is min(max(x + 3, 0), 6)/6 (torch.nn.Hardsigmoid).
type Hardsigmoid struct{}

// Forward applies Hardsigmoid elementwise to x of any shape.
func (Hardsigmoid) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.HardSigmoid(x) }

// Hardswish is x·min(max(x + 3, 0), 6)/6 (torch.nn.Hardswish).
type Hardswish struct{}

// Forward applies Hardswish elementwise to x of any shape.
func (Hardswish) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.HardSwish(x) }

// GLU is the gated linear unit a ⊙ σ(b) of the two halves a (first) and b
// (second) of x along Dim (torch.nn.GLU). Dim is used as given: PyTorch's
// default is −1, so write GLU{Dim: -1}.
type GLU struct {
	Dim int
}

// Forward maps x: (…, 2D, …) to (…, D, …), halving axis Dim.
func (m GLU) Forward(x *tensor.Tensor) *tensor.Tensor { return functional.GLU(x, m.Dim) }

func orDefault(v, def float32) float32 {
	if v == 0 {
		return def
	}
	return v
}

// The gated feed-forward layers below are LLaMA's FeedForward and the
// "GLU Variants Improve Transformer" layers (Shazeer 2020):
//
//	y = W2(act(W1·x) ⊙ W3·x)
//
// with W1, W3: dim → hidden and W2: hidden → dim. State-dict names: w1, w2,
// w3 (each a Linear: w1.weight (hidden, dim), …), as in LLaMA.

// SwiGLU is the gated feed-forward layer with act = SiLU (LLaMA, PaLM).
type SwiGLU struct {
	W1, W2, W3 *Linear
}

// GeGLU is the gated feed-forward layer with act = exact GELU.
type GeGLU struct {
	W1, W2, W3 *Linear
}

// ReGLU is the gated feed-forward layer with act = ReLU.
type ReGLU struct {
	W1, W2, W3 *Linear
}

func newGated(rng *rand.Rand, dim, hidden int, bias bool) (w1, w2, w3 *Linear) {
	if dim <= 0 || hidden <= 0 {
		panic(fmt.Sprintf("nn: gated feed-forward with dim %d and hidden %d", dim, hidden))
	}
	return NewLinear(rng, dim, hidden, bias), NewLinear(rng, hidden, dim, bias), NewLinear(rng, dim, hidden, bias)
}

// NewSwiGLU returns a SwiGLU layer dim → hidden → dim with PyTorch's default
// Linear initialisation (LLaMA uses no bias).
func NewSwiGLU(rng *rand.Rand, dim, hidden int, bias bool) *SwiGLU {
	w1, w2, w3 := newGated(rng, dim, hidden, bias)
	return &SwiGLU{w1, w2, w3}
}

// NewGeGLU returns a GeGLU layer dim → hidden → dim.
func NewGeGLU(rng *rand.Rand, dim, hidden int, bias bool) *GeGLU {
	w1, w2, w3 := newGated(rng, dim, hidden, bias)
	return &GeGLU{w1, w2, w3}
}

// NewReGLU returns a ReGLU layer dim → hidden → dim.
func NewReGLU(rng *rand.Rand, dim, hidden int, bias bool) *ReGLU {
	w1, w2, w3 := newGated(rng, dim, hidden, bias)
	return &ReGLU{w1, w2, w3}
}

func gatedFFN(x *tensor.Tensor, w1, w2, w3 *Linear, act func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	return w2.Forward(tensor.Mul(act(w1.Forward(x)), w3.Forward(x)))
}

// Forward maps x: (…, dim) to (…, dim).
func (m *SwiGLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return gatedFFN(x, m.W1, m.W2, m.W3, functional.SiLU)
}

// Forward maps x: (…, dim) to (…, dim).
func (m *GeGLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return gatedFFN(x, m.W1, m.W2, m.W3, func(t *tensor.Tensor) *tensor.Tensor { return functional.GELU(t, functional.GELUExact) })
}

// Forward maps x: (…, dim) to (…, dim).
func (m *ReGLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return gatedFFN(x, m.W1, m.W2, m.W3, functional.ReLU)
}

// Dropout zeroes each element with probability P in training mode and
// scales the rest by 1/(1 − P) (torch.nn.Dropout); in evaluation mode it
// is the identity. Rng draws the mask.
type Dropout struct {
	TrainMode
	P   float32
	Rng *rand.Rand `nn:"-"`
}

// NewDropout returns a Dropout with probability p drawing from rng.
func NewDropout(rng *rand.Rand, p float32) *Dropout { return &Dropout{P: p, Rng: rng} }

// Forward applies dropout to x of any shape.
func (m *Dropout) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Dropout(x, m.P, m.Training(), m.Rng)
}

// Dropout2d zeroes whole channels of (N, C, H, W) with probability P in
// training mode (torch.nn.Dropout2d).
type Dropout2d struct {
	TrainMode
	P   float32
	Rng *rand.Rand `nn:"-"`
}

// NewDropout2d returns a Dropout2d with probability p drawing from rng.
func NewDropout2d(rng *rand.Rand, p float32) *Dropout2d { return &Dropout2d{P: p, Rng: rng} }

// Forward applies channel dropout to x: (N, C, …).
func (m *Dropout2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Dropout2d(x, m.P, m.Training(), m.Rng)
}
