package optim

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// Optimizer updates parameters from their gradients. SGD, Adam and AdamW
// implement it; schedulers and training loops use it.
type Optimizer interface {
	// Step updates every parameter that has a gradient, using it and the
	// optimizer's state. Parameters whose Grad is nil are skipped (their
	// state does not advance), as in PyTorch.
	Step()
	// ZeroGrad drops every parameter's gradient (PyTorch's
	// zero_grad(set_to_none=True)); the next backward pass allocates fresh
	// ones.
	ZeroGrad()
	// Groups returns the parameter groups, which callers may modify
	// (learning rate, weight decay, …) between steps.
	Groups() []*Group
	// Kind returns "SGD", "Adam" or "AdamW".
	Kind() string
	// StateDict returns a copy of the optimizer's state: hyperparameters,
	// step counts and moment buffers.
	StateDict() *State
	// LoadStateDict replaces the optimizer's state with s, which must come
	// from an optimizer of the same kind over parameters of the same shapes,
	// grouped the same way. It copies s, so s can be reused.
	LoadStateDict(s *State) error
}

// paramState is the per-parameter state of an optimizer. Buffers are nil until
// the parameter's first update.
type paramState struct {
	step     int       // updates made (Adam's bias-correction count)
	momentum []float32 // SGD momentum_buffer
	expAvg   []float32 // Adam exp_avg
	expAvgSq []float32 // Adam exp_avg_sq
	maxSq    []float32 // Adam max_exp_avg_sq (AMSGrad)
}

// core is what every optimizer shares: the groups and the per-parameter
// state, indexed like PyTorch's state_dict — parameters numbered in order
// through the groups.
type core struct {
	kind   string
	groups []*Group
	state  [][]paramState // [group][param]
}

func newCore(kind string, groups []*Group) core {
	c := core{kind: kind, groups: groups, state: make([][]paramState, len(groups))}
	for i, g := range groups {
		c.state[i] = make([]paramState, len(g.Params))
	}
	return c
}

// Groups returns the optimizer's parameter groups.
func (c *core) Groups() []*Group { return c.groups }

// Kind returns the optimizer's name as PyTorch spells it.
func (c *core) Kind() string { return c.kind }

// ZeroGrad drops every parameter's gradient.
func (c *core) ZeroGrad() {
	for _, g := range c.groups {
		for _, p := range g.Params {
			p.ZeroGrad()
		}
	}
}

// check panics if a group's Params were changed after construction, which
// would misalign the state.
func (c *core) check(op string) {
	for i, g := range c.groups {
		if len(g.Params) != len(c.state[i]) {
			panic(fmt.Sprintf("%s: group %d has %d parameters but was created with %d; Params must not change after construction",
				op, i, len(g.Params), len(c.state[i])))
		}
	}
}

// gradOf returns p's gradient data, or nil if p has no gradient. It panics
// if the gradient's size does not match p's.
func gradOf(op string, p *tensor.Tensor) []float32 {
	gt := p.Grad()
	if gt == nil {
		return nil
	}
	g := gt.Data()
	if len(g) != len(p.Data()) {
		panic(fmt.Sprintf("%s: gradient of shape %s for parameter of shape %s",
			op, tensor.FormatShape(gt.Shape()), tensor.FormatShape(p.Shape())))
	}
	return g
}

// fma32 returns a + alpha·b rounded once, as PyTorch's CPU kernels compute
// add(a, b, alpha=…) (a fused multiply-add). The product of two float32 is
// exact in float64.
func fma32(a, alpha, b float32) float32 {
	return float32(float64(a) + float64(alpha)*float64(b))
}

// fmaw is fma32 with alpha already widened from a float32.
func fmaw(a float32, alpha float64, b float32) float32 {
	return float32(float64(a) + alpha*float64(b))
}

func checkNonNeg(op, name string, i int, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		panic(fmt.Sprintf("%s: group %d: %s = %v, want a finite value ≥ 0", op, i, name, v))
	}
}

func checkBeta(op, name string, i int, v float64) {
	if !(v >= 0 && v < 1) {
		panic(fmt.Sprintf("%s: group %d: %s = %v, want 0 ≤ %s < 1", op, i, name, v, name))
	}
}
