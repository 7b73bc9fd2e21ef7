package optim

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// SGDOptions are the hyperparameters of SGD, with PyTorch's names and
// meaning. Zero values mean "off" (no momentum, no dampening, no weight
// decay); LR must be set. Every field but LR's requirement can also be set
// per group (ParamGroup), as PyTorch's param_group keys.
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
// Without momentum this is the Robbins–Monro recursion with step lr and the
// mini-batch gradient as the noisy observation; package stochastic explains
// why it converges when the learning rate decays with Σlr = ∞, Σlr² < ∞.
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
			panic(fmt.Sprintf("optim.NewSGD: group %d (%q): Nesterov momentum requires Momentum > 0 and Dampening = 0, got Momentum %v, Dampening %v",
				i, g.Name, g.Momentum, g.Dampening))
		}
	}
	return &SGD{newCore("SGD", gs)}
}

// Step updates every parameter that has a gradient.
func (o *SGD) Step() {
	const op = "optim.SGD.Step"
	o.check(op)
	for gi, g := range o.groups {
		for pi, p := range g.Params {
			grad := gradOf(op, p)
			if grad == nil {
				continue
			}
			st := &o.state[gi][pi]
			theta := p.Data()
			k := sgdKernel{
				wd: float32(g.WeightDecay), mu: float32(g.Momentum), damp: float32(1 - g.Dampening),
				negLR: float32(-g.LR), decay: g.WeightDecay != 0, momentum: g.Momentum != 0,
				nesterov: g.Nesterov, maximize: g.Maximize,
			}
			if k.momentum && st.momentum == nil {
				st.momentum = make([]float32, len(theta))
				k.first = true
			}
			st.step++
			buf := st.momentum
			cpu.ParallelGrain(len(theta), grain, func(lo, hi int) {
				var b []float32
				if buf != nil {
					b = buf[lo:hi]
				}
				k.run(theta[lo:hi], grad[lo:hi], b)
			})
		}
	}
}

// grain is the smallest chunk of an element-wise update worth a goroutine.
const grain = 1 << 15

// sgdKernel is one SGD update with its scalars rounded to float32 once.
type sgdKernel struct {
	wd, mu, damp, negLR                        float32
	decay, momentum, nesterov, maximize, first bool
}

// run updates theta from grad and the momentum buffer buf (nil without
// momentum), element by element in PyTorch's order of operations.
func (k *sgdKernel) run(theta, grad, buf []float32) {
	theta = theta[:len(grad)]
	// The multipliers of the fused multiply-adds, widened once.
	wd, mu, damp, negLR := float64(k.wd), k.mu, float64(k.damp), float64(k.negLR)
	decay, momentum, nesterov, maximize, first := k.decay, k.momentum, k.nesterov, k.maximize, k.first
	if momentum {
		buf = buf[:len(grad)]
	}
	for i, d := range grad {
		if maximize {
			d = -d
		}
		if decay {
			d = fmaw(d, wd, theta[i])
		}
		if momentum {
			b := d
			if !first {
				b = fmaw(buf[i]*mu, damp, d)
			}
			buf[i] = b
			if nesterov {
				d = fmaw(d, float64(mu), b)
			} else {
				d = b
			}
		}
		theta[i] = fmaw(theta[i], negLR, d)
	}
}
