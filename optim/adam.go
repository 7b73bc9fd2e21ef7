package optim

import (
	"math"
)

// AdamOptions are the hyperparameters of Adam and AdamW, with PyTorch's
// names. A zero LR, Beta1, Beta2 or Eps takes PyTorch's default (1e-3, 0.9,
// 0.999, 1e-8); to use a literal 0 for a β, set it on the Group after
// construction. WeightDecay zero means none — note that PyTorch's AdamW
// defaults to 0.01, so set it explicitly.
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
			adamUpdate(theta, grad, st, g, decoupled)
		}
	}
}

// adamUpdate is one Adam/AdamW step on one parameter, in the order of
// operations of PyTorch 1.13's single-tensor implementation.
func adamUpdate(theta, grad []float32, st *paramState, g *Group, decoupled bool) {
	t := float64(st.step)
	bc1 := 1 - math.Pow(g.Beta1, t)
	bc2 := 1 - math.Pow(g.Beta2, t)
	stepSize := g.LR / bc1
	var (
		b1      = float32(g.Beta1)
		oneMB1  = float32(1 - g.Beta1)
		b2      = float32(g.Beta2)
		oneMB2  = float32(1 - g.Beta2)
		bc2Sqrt = float32(math.Sqrt(bc2))
		eps     = float32(g.Eps)
		negStep = float32(-stepSize)
		wd      = float32(g.WeightDecay)
		decay   = float32(1 - g.LR*g.WeightDecay)
	)
	m, v, vmax := st.expAvg, st.expAvgSq, st.maxSq
	for i, d := range grad {
		if g.Maximize {
			d = -d
		}
		if decoupled {
			theta[i] *= decay
		} else if g.WeightDecay != 0 {
			d = fma32(d, wd, theta[i])
		}
		m[i] = fma32(m[i]*b1, oneMB1, d)
		v[i] = fma32(v[i]*b2, oneMB2*d, d)
		sq := v[i]
		if g.AMSGrad {
			if vmax[i] == vmax[i] && !(v[i] <= vmax[i]) { // NaN propagates, as in torch.maximum
				vmax[i] = v[i]
			}
			sq = vmax[i]
		}
		denom := float32(math.Sqrt(float64(sq)))/bc2Sqrt + eps
		theta[i] += negStep * m[i] / denom
	}
}
