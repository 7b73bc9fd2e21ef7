package optim

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func mustPanic(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", name)
			return
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s: panic %q, want it to mention %q", name, r, want)
		}
	}()
	f()
}

func TestGroupsResolve(t *testing.T) {
	w, b := tensor.Zeros(2, 2), tensor.Zeros(2)
	opt := NewAdamW([]ParamGroup{
		{Name: "decay", Params: []*tensor.Tensor{w}},
		{Name: "no_decay", Params: []*tensor.Tensor{b}, WeightDecay: Float(0), LR: Float(0.5), Beta1: Float(0.8), Eps: Float(1e-6)},
	}, AdamWOptions{LR: 0.1, WeightDecay: 0.05, AMSGrad: true})
	g := opt.Groups()
	if opt.Kind() != "AdamW" || len(g) != 2 {
		t.Fatalf("kind %q, %d groups", opt.Kind(), len(g))
	}
	want0 := Group{Name: "decay", LR: 0.1, WeightDecay: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, AMSGrad: true}
	want1 := Group{Name: "no_decay", LR: 0.5, WeightDecay: 0, Beta1: 0.8, Beta2: 0.999, Eps: 1e-6, AMSGrad: true}
	for i, want := range []Group{want0, want1} {
		got := *g[i]
		got.Params = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("group %d = %+v, want %+v", i, got, want)
		}
	}
	sgd := NewSGD(Params(w, b), SGDOptions{LR: 0.1, Momentum: 0.9, Dampening: 0.1})
	if gs := sgd.Groups(); len(gs) != 1 || len(gs[0].Params) != 2 || gs[0].Momentum != 0.9 || gs[0].Dampening != 0.1 {
		t.Errorf("SGD group %+v", gs[0])
	}
	adam := NewAdam(Params(w), AdamOptions{})
	if g := adam.Groups()[0]; g.LR != 1e-3 || g.Beta1 != 0.9 || g.Beta2 != 0.999 || g.Eps != 1e-8 || g.WeightDecay != 0 {
		t.Errorf("Adam defaults %+v", g)
	}
}

func TestConstructorPanics(t *testing.T) {
	w := tensor.Zeros(2)
	mustPanic(t, "duplicate", "only one group", func() {
		NewSGD([]ParamGroup{{Params: []*tensor.Tensor{w}}, {Params: []*tensor.Tensor{w}}}, SGDOptions{LR: 1})
	})
	mustPanic(t, "no groups", "no parameter groups", func() { NewAdam(nil, AdamOptions{}) })
	mustPanic(t, "nil param", "is nil", func() { NewAdam(Params(nil), AdamOptions{}) })
	mustPanic(t, "SGD LR", "LR must be > 0", func() { NewSGD(Params(w), SGDOptions{}) })
	mustPanic(t, "nesterov", "Nesterov", func() { NewSGD(Params(w), SGDOptions{LR: 1, Nesterov: true}) })
	mustPanic(t, "negative wd", "WeightDecay", func() { NewSGD(Params(w), SGDOptions{LR: 1, WeightDecay: -1}) })
	mustPanic(t, "beta", "Beta2", func() { NewAdam(Params(w), AdamOptions{Beta2: 1}) })
	mustPanic(t, "group beta", "group 0: Beta1", func() {
		NewAdamW([]ParamGroup{{Params: []*tensor.Tensor{w}, Beta1: Float(-0.1)}}, AdamWOptions{})
	})
}

func TestSkipsParamsWithoutGrad(t *testing.T) {
	for _, opt := range []func(ps ...*tensor.Tensor) Optimizer{
		func(ps ...*tensor.Tensor) Optimizer {
			return NewSGD(Params(ps...), SGDOptions{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1})
		},
		func(ps ...*tensor.Tensor) Optimizer { return NewAdam(Params(ps...), AdamOptions{WeightDecay: 0.1}) },
		func(ps ...*tensor.Tensor) Optimizer { return NewAdamW(Params(ps...), AdamWOptions{WeightDecay: 0.1}) },
	} {
		a := tensor.FromSlice([]float32{1, 2}, 2).SetRequiresGrad(true)
		b := tensor.FromSlice([]float32{3}, 1).SetRequiresGrad(true)
		o := opt(a, b)
		a.SetGrad(tensor.FromSlice([]float32{1, 1}, 2))
		o.Step()
		if b.Data()[0] != 3 {
			t.Errorf("%s: parameter without gradient moved (weight decay applied?)", o.Kind())
		}
		if a.Data()[0] == 1 {
			t.Errorf("%s: parameter with gradient did not move", o.Kind())
		}
		if _, ok := o.StateDict().Params[1]; ok {
			t.Errorf("%s: state created for a parameter never stepped", o.Kind())
		}
		o.ZeroGrad()
		if a.Grad() != nil || b.Grad() != nil {
			t.Errorf("%s: ZeroGrad left a gradient", o.Kind())
		}
	}
}

func TestParamsChangedPanics(t *testing.T) {
	a := tensor.Zeros(2)
	o := NewSGD(Params(a), SGDOptions{LR: 1})
	o.Groups()[0].Params = append(o.Groups()[0].Params, tensor.Zeros(1))
	mustPanic(t, "changed params", "must not change", o.Step)
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string // "" for valid
	}{
		{StepLR{StepSize: 3, Gamma: 0.1}, ""},
		{StepLR{StepSize: 0, Gamma: 0.1}, "StepSize"},
		{StepLR{StepSize: 3}, "Gamma"},
		{MultiStepLR{Milestones: []int{3}}, "Gamma"},
		{ExponentialLR{Gamma: math.Inf(1)}, "Gamma"},
		{CosineAnnealingLR{}, "TMax"},
		{CosineAnnealingWarmRestarts{T0: 0}, "T0"},
		{CosineAnnealingWarmRestarts{T0: 3, TMult: -1}, "TMult"},
		{ConstantLR{Factor: 2, TotalIters: 3}, "Factor"},
		{ConstantLR{Factor: 0.5}, "TotalIters"},
		{LinearLR{StartFactor: 0, EndFactor: 1, TotalIters: 5}, ""},
		{LinearLR{TotalIters: 5}, "both 0"},
		{LinearLR{StartFactor: 1.5, EndFactor: 1, TotalIters: 5}, "StartFactor"},
		{LinearLR{StartFactor: 0.5, EndFactor: 1}, "TotalIters"},
		{PolynomialLR{TotalIters: 10}, "Power"},
		{PolynomialLR{Power: 1}, "TotalIters"},
		{OneCycleLR{TotalSteps: 10}, ""},
		{OneCycleLR{}, "TotalSteps"},
		{OneCycleLR{TotalSteps: 10, PctStart: 2}, "PctStart"},
		{SequentialLR{}, "no schedules"},
		{SequentialLR{Schedules: []Schedule{StepLR{1, 0.5}, StepLR{1, 0.5}}}, "milestones"},
		{SequentialLR{Schedules: []Schedule{StepLR{1, 0.5}, StepLR{1, 0.5}, StepLR{1, 0.5}}, Milestones: []int{5, 3}}, "increasing"},
		{SequentialLR{Schedules: []Schedule{StepLR{1, 0.5}, PolynomialLR{}}, Milestones: []int{5}}, "schedule 1"},
		{WarmUp(CosineAnnealingLR{TMax: 10}, 5, 0), ""},
		{ChainedLR{StepLR{1, 0.5}, nil}, "nil"},
		{ChainedLR{StepLR{1, 0.5}, ExponentialLR{}}, "schedule 1"},
	}
	for _, tc := range tests {
		err := tc.s.(validator).Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%#v: unexpected error %v", tc.s, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%#v: error %v, want it to mention %q", tc.s, err, tc.want)
		}
	}
	o := NewSGD(Params(tensor.Zeros(1)), SGDOptions{LR: 1})
	mustPanic(t, "NewScheduler", "optim.NewScheduler: PolynomialLR", func() { NewScheduler(o, PolynomialLR{}) })
}

func TestScheduleEdgeCases(t *testing.T) {
	// Warm-up from exactly zero.
	w := WarmUp(ConstantLR{Factor: 1, TotalIters: 1}, 4, 0)
	for tt, want := range []float64{0, 0.25, 0.5, 0.75, 1, 1} {
		if got := w.LR(1, tt); math.Abs(got-want) > 1e-15 {
			t.Errorf("warm-up from 0, t=%d: %v, want %v", tt, got, want)
		}
	}
	// Poly stays at 0 after TotalIters.
	if got := (PolynomialLR{TotalIters: 10, Power: 0.9}).LR(1, 25); got != 0 {
		t.Errorf("poly after end: %v", got)
	}
	// OneCycle: stepping past the end panics, at the end is allowed.
	oc := OneCycleLR{MaxLR: 1, TotalSteps: 10}
	_ = oc.LR(1, 10)
	mustPanic(t, "OneCycle past end", "past TotalSteps", func() { oc.LR(1, 11) })
	if _, ok := (OneCycleLR{TotalSteps: 10, FixedMomentum: true}).Momentum(3); ok {
		t.Error("FixedMomentum still sets momentum")
	}
	// OneCycle with Adam sets Beta1.
	p := tensor.Zeros(1)
	adam := NewAdam(Params(p), AdamOptions{})
	NewScheduler(adam, OneCycleLR{MaxLR: 0.1, TotalSteps: 10})
	if g := adam.Groups()[0]; g.Beta1 != 0.95 || g.Momentum != 0 || math.Abs(g.LR-0.004) > 1e-15 {
		t.Errorf("OneCycle on Adam: %+v", g)
	}
	// ChainedLR with a zero base.
	if got := (ChainedLR{StepLR{1, 0.5}}).LR(0, 3); got != 0 {
		t.Errorf("chained zero base: %v", got)
	}
	// SequentialLR passes OneCycle's momentum through.
	seq := SequentialLR{Schedules: []Schedule{ConstantLR{Factor: 1, TotalIters: 1}, OneCycleLR{TotalSteps: 10}}, Milestones: []int{2}}
	if _, ok := seq.Momentum(1); ok {
		t.Error("momentum from ConstantLR")
	}
	if m, ok := seq.Momentum(2); !ok || m != 0.95 {
		t.Errorf("momentum at OneCycle start: %v %v", m, ok)
	}
	// Period of warm restarts.
	s := CosineAnnealingWarmRestarts{T0: 5, TMult: 2}
	for _, c := range []struct{ t, cur, length int }{{0, 0, 5}, {4, 4, 5}, {5, 0, 10}, {14, 9, 10}, {15, 0, 20}, {35, 0, 40}} {
		if cur, length := s.Period(c.t); cur != c.cur || length != c.length {
			t.Errorf("Period(%d) = %d, %d, want %d, %d", c.t, cur, length, c.cur, c.length)
		}
	}
}

func TestSchedulerState(t *testing.T) {
	o := NewSGD([]ParamGroup{{Params: []*tensor.Tensor{tensor.Zeros(1)}}, {Params: []*tensor.Tensor{tensor.Zeros(1)}, LR: Float(0.5)}}, SGDOptions{LR: 1})
	s := NewScheduler(o, ExponentialLR{Gamma: 0.5})
	s.Step()
	s.Step()
	st := s.StateDict()
	if st.Step != 2 || st.BaseLRs[0] != 1 || st.BaseLRs[1] != 0.5 || s.Steps() != 2 {
		t.Errorf("state %+v", st)
	}
	if lr := s.LR(); lr[0] != 0.25 || lr[1] != 0.125 {
		t.Errorf("LR %v", lr)
	}
	if err := s.LoadStateDict(SchedulerState{Step: 1, BaseLRs: []float64{1}}); err == nil || !strings.Contains(err.Error(), "base_lrs") {
		t.Errorf("err %v", err)
	}
	if err := s.LoadStateDict(SchedulerState{Step: -1, BaseLRs: []float64{1, 1}}); err == nil || !strings.Contains(err.Error(), "last_epoch") {
		t.Errorf("err %v", err)
	}
	if err := s.LoadStateDict(SchedulerState{Step: 1, BaseLRs: []float64{2, 2}}); err != nil || o.Groups()[1].LR != 1 {
		t.Errorf("err %v, lr %v", err, o.Groups()[1].LR)
	}
	if b := s.BaseLRs(); b[0] != 2 {
		t.Errorf("BaseLRs %v", b)
	}
}
