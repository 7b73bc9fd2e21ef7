package optim

import (
	"fmt"

	"github.com/fovea-ml/fovea/tensor"
)

// ParamGroup is one set of parameters handed to an optimizer constructor,
// with the hyperparameters it sets differently from the optimizer's options
// (PyTorch's param_groups). A nil field takes the optimizer's value; use
// Float to set one, for example no weight decay on biases and norms:
//
//	optim.ParamGroup{Name: "no_decay", Params: biases, WeightDecay: optim.Float(0)}
type ParamGroup struct {
	// Name labels the group in messages and state files (optional).
	Name string
	// Params are the tensors the group updates; each must appear in only one
	// group of an optimizer.
	Params []*tensor.Tensor

	LR          *float64 // learning rate
	WeightDecay *float64 // L2 penalty (SGD, Adam) or decoupled decay (AdamW)
	Momentum    *float64 // SGD momentum
	Dampening   *float64 // SGD dampening
	Beta1       *float64 // Adam/AdamW first-moment decay
	Beta2       *float64 // Adam/AdamW second-moment decay
	Eps         *float64 // Adam/AdamW denominator term
	Nesterov    *bool    // SGD Nesterov momentum (PyTorch's "nesterov" group key)
	AMSGrad     *bool    // Adam/AdamW AMSGrad (PyTorch's "amsgrad" group key)
	Maximize    *bool    // ascend instead of descend (PyTorch's "maximize" group key)
}

// Float returns a pointer to v, for the optional fields of ParamGroup.
func Float(v float64) *float64 { return &v }

// Bool returns a pointer to v, for the optional switches of ParamGroup:
// ParamGroup{Params: ps, AMSGrad: optim.Bool(true)}.
func Bool(v bool) *bool { return &v }

// Group is a parameter group inside an optimizer, with every hyperparameter
// resolved. Schedulers change LR (and Momentum or Beta1) between steps; a
// program may change any field, except Params, between steps too. Fields an
// optimizer does not use are left zero (Momentum for Adam, Beta1 for SGD).
type Group struct {
	Name   string
	Params []*tensor.Tensor

	LR          float64
	WeightDecay float64

	// SGD.
	Momentum  float64
	Dampening float64
	Nesterov  bool

	// Adam and AdamW.
	Beta1, Beta2 float64
	Eps          float64
	AMSGrad      bool

	// Maximize ascends the objective instead of descending it.
	Maximize bool
}

// pick returns *p if set, otherwise def.
func pick[T float64 | bool](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

// makeGroups resolves the user's groups against the optimizer's defaults and
// checks that no parameter appears twice.
func makeGroups(op string, in []ParamGroup, def Group) []*Group {
	if len(in) == 0 {
		panic(op + ": no parameter groups")
	}
	seen := map[*tensor.Tensor]int{}
	out := make([]*Group, len(in))
	for i, pg := range in {
		for j, p := range pg.Params {
			if p == nil {
				panic(fmt.Sprintf("%s: group %d (%q) parameter %d is nil", op, i, pg.Name, j))
			}
			if k, dup := seen[p]; dup {
				panic(fmt.Sprintf("%s: a parameter of shape %s is in group %d and group %d; a parameter may be in only one group",
					op, tensor.FormatShape(p.Shape()), k, i))
			}
			seen[p] = i
		}
		g := def
		g.Name = pg.Name
		g.Params = append([]*tensor.Tensor(nil), pg.Params...)
		g.LR = pick(pg.LR, def.LR)
		g.WeightDecay = pick(pg.WeightDecay, def.WeightDecay)
		g.Momentum = pick(pg.Momentum, def.Momentum)
		g.Dampening = pick(pg.Dampening, def.Dampening)
		g.Beta1 = pick(pg.Beta1, def.Beta1)
		g.Beta2 = pick(pg.Beta2, def.Beta2)
		g.Eps = pick(pg.Eps, def.Eps)
		g.Nesterov = pick(pg.Nesterov, def.Nesterov)
		g.AMSGrad = pick(pg.AMSGrad, def.AMSGrad)
		g.Maximize = pick(pg.Maximize, def.Maximize)
		out[i] = &g
	}
	return out
}

// Params is a convenience for the common case of one group holding every
// parameter: Params(ps...) is []ParamGroup{{Params: ps}}.
func Params(ps ...*tensor.Tensor) []ParamGroup {
	return []ParamGroup{{Params: ps}}
}
