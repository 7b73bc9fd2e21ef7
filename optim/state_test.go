package optim

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// resumeProblem is a small problem with a deterministic gradient per step.
type resumeProblem struct {
	c, a []float32
}

func newResumeProblem() resumeProblem {
	rng := rand.New(rand.NewPCG(5, 6))
	p := resumeProblem{c: make([]float32, 16), a: make([]float32, 16)}
	for i := range p.c {
		p.c[i] = float32(rng.NormFloat64())
		p.a[i] = float32(rng.Float64()*2 + 0.1)
	}
	return p
}

func (r resumeProblem) params() []*tensor.Tensor {
	rng := rand.New(rand.NewPCG(7, 8))
	w := tensor.RandNormal(rng, 0, 1, 3, 4).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 4).SetRequiresGrad(true)
	return []*tensor.Tensor{w, b}
}

// setGrads gives step k's gradients: (θ − c)·a + noise(k); the bias gets none
// on every fourth step.
func (r resumeProblem) setGrads(ps []*tensor.Tensor, k int) {
	rng := rand.New(rand.NewPCG(uint64(k), 9))
	off := 0
	for j, p := range ps {
		d := p.Data()
		g := make([]float32, len(d))
		for i := range d {
			g[i] = float32(float32(d[i]-r.c[off+i])*r.a[off+i]) + float32(0.3*rng.NormFloat64())
		}
		off += len(d)
		if j == 1 && k%4 == 3 {
			continue
		}
		p.SetGrad(tensor.New(g, p.Shape()...))
	}
}

func (r resumeProblem) run(opt Optimizer, sched *Scheduler, ps []*tensor.Tensor, from, to int) {
	for k := from; k < to; k++ {
		opt.ZeroGrad()
		r.setGrads(ps, k)
		ClipGradNorm(ps, 5, 2)
		opt.Step()
		sched.Step()
	}
}

func cloneParams(ps []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Clone().SetRequiresGrad(true)
	}
	return out
}

var resumeCases = []struct {
	name  string
	opt   func(ps []*tensor.Tensor) Optimizer
	sched Schedule
}{
	{"SGD nesterov + onecycle", func(ps []*tensor.Tensor) Optimizer {
		return NewSGD([]ParamGroup{{Params: ps[:1]}, {Params: ps[1:], WeightDecay: Float(0)}},
			SGDOptions{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3})
	}, OneCycleLR{MaxLR: 0.1, TotalSteps: 40}},
	{"Adam amsgrad + warmup cosine", func(ps []*tensor.Tensor) Optimizer {
		return NewAdam([]ParamGroup{{Params: ps[:1]}, {Params: ps[1:], LR: Float(5e-3)}},
			AdamOptions{LR: 1e-2, AMSGrad: true, WeightDecay: 0.01})
	}, WarmUp(CosineAnnealingLR{TMax: 35}, 5, 0.01)},
	{"AdamW + warmup poly", func(ps []*tensor.Tensor) Optimizer {
		return NewAdamW([]ParamGroup{{Params: ps[:1]}, {Params: ps[1:], WeightDecay: Float(0)}},
			AdamWOptions{LR: 1e-2, WeightDecay: 0.05})
	}, WarmUp(PolynomialLR{TotalIters: 30, Power: 0.9}, 10, 0.1)},
	{"AdamW amsgrad on one group", func(ps []*tensor.Tensor) Optimizer {
		return NewAdamW([]ParamGroup{{Params: ps[:1], AMSGrad: Bool(true)}, {Params: ps[1:], WeightDecay: Float(0)}},
			AdamWOptions{LR: 1e-2, WeightDecay: 0.05})
	}, WarmUp(CosineAnnealingLR{TMax: 35}, 5, 0.01)},
	{"SGD nesterov on one group", func(ps []*tensor.Tensor) Optimizer {
		return NewSGD([]ParamGroup{{Params: ps[:1]}, {Params: ps[1:], Nesterov: Bool(true)}},
			SGDOptions{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-3})
	}, OneCycleLR{MaxLR: 0.1, TotalSteps: 40}},
}

// TestPerGroupSwitchesInState: switches set on one group are saved with that
// group, and only an AMSGrad group keeps max_exp_avg_sq.
func TestPerGroupSwitchesInState(t *testing.T) {
	prob := newResumeProblem()
	ps := prob.params()
	opt := resumeCases[3].opt(ps)
	prob.run(opt, NewScheduler(opt, ConstantLR{Factor: 1, TotalIters: 1}), ps, 0, 3)
	st := opt.StateDict()
	if !st.Groups[0].AMSGrad || st.Groups[1].AMSGrad {
		t.Fatalf("amsgrad per group: %v, %v; want true, false", st.Groups[0].AMSGrad, st.Groups[1].AMSGrad)
	}
	for i := range ps {
		_, has := st.Tensors[TensorName(i, "max_exp_avg_sq")]
		if has != (i == 0) {
			t.Errorf("parameter %d: max_exp_avg_sq present = %v, want %v", i, has, i == 0)
		}
	}
	sgd := resumeCases[4].opt(prob.params())
	if g := sgd.Groups(); g[0].Nesterov || !g[1].Nesterov {
		t.Fatalf("nesterov per group: %v, %v; want false, true", g[0].Nesterov, g[1].Nesterov)
	}
	mustPanic(t, "group nesterov", `group 1 ("no_momentum"): Nesterov`, func() {
		NewSGD([]ParamGroup{{Params: ps[:1]}, {Name: "no_momentum", Params: ps[1:], Nesterov: Bool(true), Momentum: Float(0)}},
			SGDOptions{LR: 0.1, Momentum: 0.9})
	})
}

func TestResumeIsExact(t *testing.T) {
	prob := newResumeProblem()
	for _, c := range resumeCases {
		t.Run(c.name, func(t *testing.T) {
			// 40 uninterrupted steps.
			ref := prob.params()
			refOpt := c.opt(ref)
			prob.run(refOpt, NewScheduler(refOpt, c.sched), ref, 0, 40)

			// 20 steps, save to a file.
			ps := prob.params()
			opt := c.opt(ps)
			sched := NewScheduler(opt, c.sched)
			prob.run(opt, sched, ps, 0, 20)
			path := filepath.Join(t.TempDir(), "optim.safetensors")
			ss := sched.StateDict()
			if err := opt.StateDict().Save(path, &ss); err != nil {
				t.Fatal(err)
			}

			// A fresh optimizer and scheduler over copies of the parameters
			// (the model would be reloaded from its own checkpoint).
			ps2 := cloneParams(ps)
			opt2 := c.opt(ps2)
			sched2 := NewScheduler(opt2, c.sched)
			st, sst, err := LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			if sst == nil {
				t.Fatal("scheduler state missing from file")
			}
			if err := opt2.LoadStateDict(st); err != nil {
				t.Fatal(err)
			}
			if err := sched2.LoadStateDict(*sst); err != nil {
				t.Fatal(err)
			}
			prob.run(opt2, sched2, ps2, 20, 40)

			for i := range ref {
				if !slices.Equal(ref[i].Data(), ps2[i].Data()) {
					t.Errorf("param %d after resume differs:\n%v\n%v", i, ps2[i].Data(), ref[i].Data())
				}
			}
			if !slices.Equal(sched2.LR(), groupLRs(refOpt)) {
				t.Errorf("LRs %v differ from uninterrupted %v", sched2.LR(), groupLRs(refOpt))
			}
		})
	}
}

// groupLRs returns the LRs the optimizer's groups hold now.
func groupLRs(opt Optimizer) []float64 {
	var lrs []float64
	for _, g := range opt.Groups() {
		lrs = append(lrs, g.LR)
	}
	return lrs
}

func TestLoadStateDictErrors(t *testing.T) {
	prob := newResumeProblem()
	ps := prob.params()
	adam := NewAdam(Params(ps...), AdamOptions{})
	prob.setGrads(ps, 0)
	adam.Step()

	tests := []struct {
		name   string
		target Optimizer
		edit   func(s *State)
		want   string
	}{
		{"kind", NewSGD(Params(ps...), SGDOptions{LR: 1}), nil, `optimizer is "Adam", want "SGD"`},
		{"groups", NewAdam([]ParamGroup{{Params: ps[:1]}, {Params: ps[1:]}}, AdamOptions{}), nil, "has 1 groups, want 2"},
		{"params", NewAdam(Params(ps[0]), AdamOptions{}), nil, "has 2 parameters, want 1"},
		{"shape", NewAdam(Params(tensor.Zeros(4, 3), ps[1]), AdamOptions{}), nil, "state[0].shape is (3,4)"},
		{"extra tensor", NewAdam(Params(ps...), AdamOptions{}), func(s *State) {
			s.Tensors["state.0.bogus"] = tensor.Zeros(3, 4)
		}, "unexpected tensor state.0.bogus"},
		{"tensor shape", NewAdam(Params(ps...), AdamOptions{}), func(s *State) {
			s.Tensors["state.1.exp_avg"] = tensor.Zeros(5)
		}, "tensor state.1.exp_avg has shape (5), want (4)"},
		{"nil", NewAdam(Params(ps...), AdamOptions{}), func(s *State) { *s = State{} }, `optimizer is ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := adam.StateDict()
			if tc.edit != nil {
				tc.edit(s)
			}
			before := tc.target.StateDict()
			err := tc.target.LoadStateDict(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			after := tc.target.StateDict()
			if len(before.Tensors) != len(after.Tensors) || before.Groups[0].LR != after.Groups[0].LR {
				t.Errorf("a failed load changed the optimizer")
			}
		})
	}
}

func TestLoadStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadState(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(dir, "junk.safetensors")
	if err := os.WriteFile(junk, []byte("not a safetensors file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadState(junk); err == nil || !strings.Contains(err.Error(), "junk.safetensors") {
		t.Errorf("junk file: err = %v", err)
	}
	other := filepath.Join("..", "testdata", "safetensors", "golden.safetensors")
	if _, err := os.Stat(other); err == nil {
		if _, _, err := LoadState(other); err == nil || !strings.Contains(err.Error(), "not an optimizer state file") {
			t.Errorf("weights file: err = %v", err)
		}
	}
}

func TestStateDictIsACopy(t *testing.T) {
	prob := newResumeProblem()
	ps := prob.params()
	opt := NewSGD(Params(ps...), SGDOptions{LR: 0.1, Momentum: 0.9})
	prob.setGrads(ps, 0)
	opt.Step()
	s := opt.StateDict()
	buf := s.Tensors[TensorName(0, "momentum_buffer")]
	if buf == nil {
		t.Fatalf("no momentum buffer in %v", s.Tensors)
	}
	keep := slices.Clone(buf.Data())
	prob.setGrads(ps, 1)
	opt.Step()
	if !slices.Equal(buf.Data(), keep) {
		t.Error("StateDict's tensor changed with the optimizer")
	}
	if s.Params[0].Step != 1 || s.Params[1].Step != 1 {
		t.Errorf("steps %+v", s.Params)
	}
}
