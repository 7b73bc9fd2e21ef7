package optim

import (
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// AdamOptions are the hyperparameters of Adam and AdamW, with PyTorch's
// names. A zero LR, Beta1, Beta2 or Eps takes PyTorch's default (1e-3, 0.9,
// 0.999, 1e-8); to use a literal 0 for a β, set it on the Group after
// construction. WeightDecay zero means none — note that PyTorch's AdamW
// defaults to 0.01, so set it explicitly. Each field can also be set per
// group (ParamGroup.AMSGrad, …), as PyTorch's param_group keys; a group
// that switches AMSGrad on after steps without it starts its running
// maximum max_exp_avg_sq from zero.
type AdamOptions struct {
	LR           float64
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	AMSGrad      bool // normalise by the running maximum of the second moment
	Maximize     bool // ascend instead of descend
}

// AdamWOptions are the hyperparameters of AdamW; see AdamOptions.
type AdamWOptions = AdamOptions

func (o AdamOptions) withDefaults() AdamOptions {
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	return o
}

// Adam is the Adam optimizer with L2 weight decay added to the gradient, step
// for step as torch.optim.Adam. With step count t, gradient g (negated if
// Maximize):
//
//	g ← g + λθ
//	m ← β₁m + (1 − β₁)g
//	v ← β₂v + (1 − β₂)g²
//	v̂ ← max(v̂, v)            (AMSGrad, on the raw second moment)
//	θ ← θ − lr/(1 − β₁ᵗ) · m / (√v (or √v̂) / √(1 − β₂ᵗ) + ε)
//
// It computes in float32 with the same roundings as PyTorch's CPU kernels.
type Adam struct {
	core
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), step for
// step as torch.optim.AdamW: before the Adam step, θ ← θ(1 − lr·λ), and the
// gradient is not changed by λ.
type AdamW struct {
	core
}

func newAdamCore(op, kind string, groups []ParamGroup, opts AdamOptions) core {
	opts = opts.withDefaults()
	def := Group{LR: opts.LR, Beta1: opts.Beta1, Beta2: opts.Beta2, Eps: opts.Eps,
		WeightDecay: opts.WeightDecay, AMSGrad: opts.AMSGrad, Maximize: opts.Maximize}
	gs := makeGroups(op, groups, def)
	for i, g := range gs {
		checkNonNeg(op, "LR", i, g.LR)
		checkNonNeg(op, "Eps", i, g.Eps)
		checkNonNeg(op, "WeightDecay", i, g.WeightDecay)
		checkBeta(op, "Beta1", i, g.Beta1)
		checkBeta(op, "Beta2", i, g.Beta2)
	}
	return newCore(kind, gs)
}

// NewAdam returns an Adam optimizer over groups; each group's unset
// hyperparameters come from opts. It panics if a hyperparameter is out of
// range or a parameter appears in two groups.
func NewAdam(groups []ParamGroup, opts AdamOptions) *Adam {
	return &Adam{newAdamCore("optim.NewAdam", "Adam", groups, opts)}
}

// NewAdamW returns an AdamW optimizer over groups; each group's unset
// hyperparameters come from opts. It panics if a hyperparameter is out of
// range or a parameter appears in two groups.
func NewAdamW(groups []ParamGroup, opts AdamWOptions) *AdamW {
	return &AdamW{newAdamCore("optim.NewAdamW", "AdamW", groups, opts)}
}

// Step updates every parameter that has a gradient.
func (o *Adam) Step() { o.adamStep("optim.Adam.Step", false) }

// Step updates every parameter that has a gradient.
func (o *AdamW) Step() { o.adamStep("optim.AdamW.Step", true) }

func (c *core) adamStep(op string, decoupled bool) {
	c.check(op)
	for gi, g := range c.groups {
		for pi, p := range g.Params {
			grad := gradOf(op, p)
			if grad == nil {
				continue
			}
			st := &c.state[gi][pi]
			theta := p.Data()
			n := len(theta)
			if st.expAvg == nil {
				st.expAvg = make([]float32, n)
				st.expAvgSq = make([]float32, n)
				if g.AMSGrad {
					st.maxSq = make([]float32, n)
				}
			}
			if g.AMSGrad && st.maxSq == nil {
				st.maxSq = make([]float32, n)
			}
			st.step++
			k := newAdamKernel(g, st.step, decoupled)
			m, v, vmax := st.expAvg, st.expAvgSq, st.maxSq
			cpu.ParallelGrain(n, grain, func(lo, hi int) {
				var vm []float32
				if vmax != nil {
					vm = vmax[lo:hi]
				}
				k.run(theta[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], vm)
			})
		}
	}
}

// adamKernel is one Adam/AdamW step's scalars, rounded to float32 as
// PyTorch rounds them (the multipliers of fused multiply-adds widened again
// to float64, which is exact).
type adamKernel struct {
	b1, b2, bc2Sqrt, eps, negStep, decay  float32
	oneMB1, wd                            float64
	oneMB2                                float32
	decoupled, decayL2, amsgrad, maximize bool
}

func newAdamKernel(g *Group, step int, decoupled bool) adamKernel {
	t := float64(step)
	bc1 := 1 - math.Pow(g.Beta1, t)
	bc2 := 1 - math.Pow(g.Beta2, t)
	return adamKernel{
		b1:        float32(g.Beta1),
		oneMB1:    float64(float32(1 - g.Beta1)),
		b2:        float32(g.Beta2),
		oneMB2:    float32(1 - g.Beta2),
		bc2Sqrt:   float32(math.Sqrt(bc2)),
		eps:       float32(g.Eps),
		negStep:   float32(-(g.LR / bc1)),
		wd:        float64(float32(g.WeightDecay)),
		decay:     float32(1 - g.LR*g.WeightDecay),
		decoupled: decoupled,
		decayL2:   !decoupled && g.WeightDecay != 0,
		amsgrad:   g.AMSGrad,
		maximize:  g.Maximize,
	}
}

// run is one Adam/AdamW step on a range of elements, in the order of
// operations of PyTorch 1.13's single-tensor implementation. vmax is nil
// without AMSGrad.
func (k *adamKernel) run(theta, grad, m, v, vmax []float32) {
	if !k.amsgrad && !k.decayL2 {
		// The vectorised kernel of the common case (AdamW, or Adam without
		// weight decay), bit for bit the loop below; Adam's θ·1 is exact.
		decay := k.decay
		if !k.decoupled {
			decay = 1
		}
		cpu.AdamUpdate(theta, grad, m, v, k.b2, cpu.AdamConsts{
			Beta1: k.b1, OneMinusBeta1: k.oneMB1, OneMinusBeta2: k.oneMB2, Bc2Sqrt: k.bc2Sqrt,
			Eps: k.eps, NegStep: k.negStep, Decay: decay, Maximize: k.maximize,
		})
		return
	}
	k.runGo(theta, grad, m, v, vmax)
}

// runGo is run in Go, for every combination of options.
func (k *adamKernel) runGo(theta, grad, m, v, vmax []float32) {
	n := len(grad)
	theta, m, v = theta[:n], m[:n], v[:n]
	if k.amsgrad {
		vmax = vmax[:n]
	}
	b1, oneMB1, b2, oneMB2 := k.b1, k.oneMB1, k.b2, k.oneMB2
	bc2Sqrt, eps, negStep, wd, decay := k.bc2Sqrt, k.eps, k.negStep, k.wd, k.decay
	decoupled, decayL2, amsgrad, maximize := k.decoupled, k.decayL2, k.amsgrad, k.maximize
	for i, d := range grad {
		if maximize {
			d = -d
		}
		if decoupled {
			theta[i] *= decay
		} else if decayL2 {
			d = fmaw(d, wd, theta[i])
		}
		mi := fmaw(m[i]*b1, oneMB1, d)
		m[i] = mi
		// addcmul: v·β₂ + ((1 − β₂)·g)·g with one rounding of the last step.
		vi := fmaw(v[i]*b2, float64(oneMB2*d), d)
		v[i] = vi
		if amsgrad {
			if vmax[i] == vmax[i] && !(vi <= vmax[i]) { // NaN propagates, as in torch.maximum
				vmax[i] = vi
			}
			vi = vmax[i]
		}
		denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + eps
		theta[i] += negStep * mi / denom
	}
}
