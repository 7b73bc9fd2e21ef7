package optim

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/fovea-ml/fovea/tensor"
)

// State is an optimizer's complete state, laid out like PyTorch's
// optimizer.state_dict(): the groups' hyperparameters, and per parameter —
// numbered 0, 1, … in order through the groups — its step count and its
// buffers. Scalars serialise to JSON (the struct's fields); the buffers are
// in Tensors under the names "state.<index>.<buffer>" with PyTorch's buffer
// names (momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq), ready for a
// safetensors file. Save and Load write and read both in one file.
type State struct {
	Optimizer string                    `json:"optimizer"`
	Groups    []GroupState              `json:"param_groups"`
	Params    map[int]ParamState        `json:"state"`
	Tensors   map[string]*tensor.Tensor `json:"-"`
}

// GroupState is one parameter group's hyperparameters in a State, and the
// indices of its parameters.
type GroupState struct {
	Name        string  `json:"name,omitempty"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	Momentum    float64 `json:"momentum"`
	Dampening   float64 `json:"dampening"`
	Nesterov    bool    `json:"nesterov"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	AMSGrad     bool    `json:"amsgrad"`
	Maximize    bool    `json:"maximize"`
	Params      []int   `json:"params"`
}

// ParamState is one parameter's scalar state in a State.
type ParamState struct {
	Step  int   `json:"step"`
	Shape []int `json:"shape"`
}

// buffer names, as in PyTorch's state dicts.
const (
	bufMomentum = "momentum_buffer"
	bufExpAvg   = "exp_avg"
	bufExpAvgSq = "exp_avg_sq"
	bufMaxSq    = "max_exp_avg_sq"
)

// TensorName returns the key of parameter index's buffer in State.Tensors,
// "state.<index>.<buffer>".
func TensorName(index int, buffer string) string {
	return "state." + strconv.Itoa(index) + "." + buffer
}

func (ps *paramState) buffers() map[string]*[]float32 {
	return map[string]*[]float32{
		bufMomentum: &ps.momentum,
		bufExpAvg:   &ps.expAvg,
		bufExpAvgSq: &ps.expAvgSq,
		bufMaxSq:    &ps.maxSq,
	}
}

// StateDict returns a copy of the optimizer's state.
func (c *core) StateDict() *State {
	c.check("optim.StateDict")
	s := &State{Optimizer: c.kind, Params: map[int]ParamState{}, Tensors: map[string]*tensor.Tensor{}}
	idx := 0
	for gi, g := range c.groups {
		gs := GroupState{Name: g.Name, LR: g.LR, WeightDecay: g.WeightDecay, Momentum: g.Momentum,
			Dampening: g.Dampening, Nesterov: g.Nesterov, Beta1: g.Beta1, Beta2: g.Beta2, Eps: g.Eps,
			AMSGrad: g.AMSGrad, Maximize: g.Maximize, Params: []int{}}
		for pi, p := range g.Params {
			gs.Params = append(gs.Params, idx)
			st := &c.state[gi][pi]
			if st.step > 0 {
				s.Params[idx] = ParamState{Step: st.step, Shape: slices.Clone(p.Shape())}
				for name, buf := range st.buffers() {
					if *buf != nil {
						s.Tensors[TensorName(idx, name)] = tensor.FromSlice(*buf, p.Shape()...)
					}
				}
			}
			idx++
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}

// LoadStateDict replaces the optimizer's hyperparameters, step counts and
// buffers with those in s. It checks everything before changing anything, so
// on error the optimizer is unchanged.
func (c *core) LoadStateDict(s *State) error {
	c.check("optim.LoadStateDict")
	if s == nil {
		return fmt.Errorf("optim: load state: nil state")
	}
	if s.Optimizer != c.kind {
		return fmt.Errorf("optim: load state: field optimizer is %q, want %q", s.Optimizer, c.kind)
	}
	if len(s.Groups) != len(c.groups) {
		return fmt.Errorf("optim: load state: field param_groups has %d groups, want %d", len(s.Groups), len(c.groups))
	}
	newState := make([][]paramState, len(c.groups))
	used := map[string]bool{}
	idx := 0
	for gi, g := range c.groups {
		gs := s.Groups[gi]
		if len(gs.Params) != len(g.Params) {
			return fmt.Errorf("optim: load state: param_groups[%d] has %d parameters, want %d", gi, len(gs.Params), len(g.Params))
		}
		newState[gi] = make([]paramState, len(g.Params))
		for pi, p := range g.Params {
			saved := gs.Params[pi]
			if saved != idx {
				return fmt.Errorf("optim: load state: param_groups[%d].params[%d] is %d, want %d", gi, pi, saved, idx)
			}
			ps, ok := s.Params[idx]
			if ok {
				if ps.Step < 0 {
					return fmt.Errorf("optim: load state: state[%d].step is %d, want ≥ 0", idx, ps.Step)
				}
				if !tensor.SameShape(ps.Shape, p.Shape()) {
					return fmt.Errorf("optim: load state: state[%d].shape is %s, but parameter %d has shape %s",
						idx, tensor.FormatShape(ps.Shape), idx, tensor.FormatShape(p.Shape()))
				}
				st := &newState[gi][pi]
				st.step = ps.Step
				for name, buf := range st.buffers() {
					key := TensorName(idx, name)
					t, ok := s.Tensors[key]
					if !ok {
						continue
					}
					used[key] = true
					if !tensor.SameShape(t.Shape(), p.Shape()) {
						return fmt.Errorf("optim: load state: tensor %s has shape %s, want %s",
							key, tensor.FormatShape(t.Shape()), tensor.FormatShape(p.Shape()))
					}
					*buf = slices.Clone(t.Data())
				}
			}
			idx++
		}
	}
	for key := range s.Tensors {
		if !used[key] {
			return fmt.Errorf("optim: load state: unexpected tensor %s", key)
		}
	}
	for i := range s.Params {
		if i < 0 || i >= idx {
			return fmt.Errorf("optim: load state: state has parameter %d, but the optimizer has %d parameters", i, idx)
		}
	}
	for gi, g := range c.groups {
		gs := s.Groups[gi]
		g.Name = gs.Name
		g.LR, g.WeightDecay = gs.LR, gs.WeightDecay
		g.Momentum, g.Dampening, g.Nesterov = gs.Momentum, gs.Dampening, gs.Nesterov
		g.Beta1, g.Beta2, g.Eps, g.AMSGrad = gs.Beta1, gs.Beta2, gs.Eps, gs.AMSGrad
		g.Maximize = gs.Maximize
	}
	c.state = newState
	return nil
}
