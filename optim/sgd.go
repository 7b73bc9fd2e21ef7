package optim

import (
	"github.com/fovea-ml/fovea/tensor"
)

// SGDOptions are the hyperparameters of SGD, with PyTorch's names and
// meaning. Zero values mean "off" (no momentum, no dampening, no weight
// decay); LR must be set.
type SGDOptions struct {
	LR          float64 // learning rate, > 0 (PyTorch requires it too)
	Momentum    float64 // momentum factor μ
	Dampening   float64 // dampening τ of the momentum's gradient term
	WeightDecay float64 // L2 penalty λ, added to the gradient
	Nesterov    bool    // Nesterov momentum (needs Momentum > 0 and Dampening = 0)
	Maximize    bool    // ascend instead of descend
}

// SGD is stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum and L2 weight decay, step for step as torch.optim.SGD:
//
//	g ← ∇θ (negated if Maximize) + λθ
//	b ← g                      on the first step,
//	b ← μb + (1 − τ)g          afterwards (when μ ≠ 0)
//	g ← g + μb (Nesterov)  or  g ← b
//	θ ← θ − lr·g
//
// It computes in float32 with the same roundings as PyTorch's CPU kernels.
type SGD struct {
	core
}

// NewSGD returns an SGD optimizer over groups; each group's unset
// hyperparameters come from opts. It panics if a hyperparameter is out of
// range or a parameter appears in two groups.
func NewSGD(groups []ParamGroup, opts SGDOptions) *SGD {
	const op = "optim.NewSGD"
	if !(opts.LR > 0) {
		panic("optim.NewSGD: SGDOptions.LR must be > 0")
	}
	def := Group{LR: opts.LR, Momentum: opts.Momentum, Dampening: opts.Dampening,
		WeightDecay: opts.WeightDecay, Nesterov: opts.Nesterov, Maximize: opts.Maximize}
	gs := makeGroups(op, groups, def)
	for i, g := range gs {
		checkNonNeg(op, "LR", i, g.LR)
		checkNonNeg(op, "Momentum", i, g.Momentum)
		checkNonNeg(op, "WeightDecay", i, g.WeightDecay)
		if g.Nesterov && (g.Momentum <= 0 || g.Dampening != 0) {
			panic("optim.NewSGD: Nesterov momentum requires Momentum > 0 and Dampening = 0")
		}
	}
	return &SGD{newCore("SGD", gs)}
}

// Step updates every parameter that has a gradient.
func (o *SGD) Step() {
	const op = "optim.SGD.Step"
	o.check(op)
	for gi, g := range o.groups {
		wd := float32(g.WeightDecay)
		mu := float32(g.Momentum)
		damp := float32(1 - g.Dampening)
		negLR := float32(-g.LR)
		for pi, p := range g.Params {
			grad := gradOf(op, p)
			if grad == nil {
				continue
			}
			st := &o.state[gi][pi]
			sgdUpdate(p, grad, st, g, wd, mu, damp, negLR)
		}
	}
}

func sgdUpdate(p *tensor.Tensor, grad []float32, st *paramState, g *Group, wd, mu, damp, negLR float32) {
	theta := p.Data()
	first := st.momentum == nil
	if g.Momentum != 0 && first {
		st.momentum = make([]float32, len(theta))
	}
	st.step++
	buf := st.momentum
	for i, d := range grad {
		if g.Maximize {
			d = -d
		}
		if g.WeightDecay != 0 {
			d = fma32(d, wd, theta[i])
		}
		if g.Momentum != 0 {
			if first {
				buf[i] = d
			} else {
				buf[i] = fma32(buf[i]*mu, damp, d)
			}
			if g.Nesterov {
				d = fma32(d, mu, buf[i])
			} else {
				d = buf[i]
			}
		}
		theta[i] = fma32(theta[i], negLR, d)
	}
}
