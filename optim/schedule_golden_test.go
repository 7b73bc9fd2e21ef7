package optim

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

type schedCase struct {
	Name      string      `json:"name"`
	Optimizer string      `json:"optimizer"`
	LR        [][]float64 `json:"lr"`
	Momentum  [][]float64 `json:"momentum"`
}

// goldenSchedules are the Go equivalents of the cases in
// scripts/golden_optim.py; groupLRs overrides the groups' initial LRs (for
// OneCycleLR's per-group max_lr).
var goldenSchedules = map[string]struct {
	s        Schedule
	groupLRs []float64
}{
	"step":                 {s: StepLR{StepSize: 7, Gamma: 0.5}},
	"multistep":            {s: MultiStepLR{Milestones: []int{5, 12, 12, 30}, Gamma: 0.3}},
	"exponential":          {s: ExponentialLR{Gamma: 0.93}},
	"cosine":               {s: CosineAnnealingLR{TMax: 20, EtaMin: 1e-4}},
	"cosine_restarts":      {s: CosineAnnealingWarmRestarts{T0: 7, TMult: 1, EtaMin: 1e-5}},
	"cosine_restarts_mult": {s: CosineAnnealingWarmRestarts{T0: 5, TMult: 2, EtaMin: 1e-5}},
	"linear":               {s: LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: 10}},
	"linear_decay":         {s: LinearLR{StartFactor: 1, EndFactor: 0.2, TotalIters: 30}},
	"constant":             {s: ConstantLR{Factor: 0.5, TotalIters: 4}},
	"poly":                 {s: PolynomialLR{TotalIters: 40, Power: 0.9}},
	"poly2":                {s: PolynomialLR{TotalIters: 50, Power: 2}},
	"onecycle_cos":         {s: OneCycleLR{TotalSteps: 50}, groupLRs: []float64{0.1, 0.05}},
	"onecycle_linear":      {s: OneCycleLR{MaxLR: 0.1, TotalSteps: 60, PctStart: 0.25, Linear: true}},
	"onecycle_three_phase": {s: OneCycleLR{TotalSteps: 50, ThreePhase: true, DivFactor: 10, FinalDivFactor: 100}, groupLRs: []float64{0.1, 0.05}},
	"warmup_cosine":        {s: WarmUp(CosineAnnealingLR{TMax: 45}, 5, 0.01)},
	"warmup_poly":          {s: WarmUp(PolynomialLR{TotalIters: 40, Power: 0.9}, 10, 0.1)},
	"constant_then_step": {s: SequentialLR{
		Schedules:  []Schedule{ConstantLR{Factor: 0.1, TotalIters: 3}, StepLR{StepSize: 10, Gamma: 0.5}},
		Milestones: []int{3}}},
	"three_stage": {s: SequentialLR{
		Schedules:  []Schedule{LinearLR{StartFactor: 0.25, EndFactor: 1, TotalIters: 4}, ExponentialLR{Gamma: 0.9}, CosineAnnealingLR{TMax: 20, EtaMin: 1e-3}},
		Milestones: []int{4, 20}}},
	"chained_warmup_poly": {s: ChainedLR{LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: 10}, PolynomialLR{TotalIters: 50, Power: 0.9}}},
	"chained_step_exp":    {s: ChainedLR{StepLR{StepSize: 10, Gamma: 0.5}, ExponentialLR{Gamma: 0.98}}},
}

func TestSchedulersMatchTorch(t *testing.T) {
	var g struct {
		Cases []schedCase `json:"cases"`
	}
	readGolden(t, "schedulers.json", &g)
	if len(g.Cases) != len(goldenSchedules) {
		t.Errorf("golden file has %d cases, the test knows %d", len(g.Cases), len(goldenSchedules))
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			gs, ok := goldenSchedules[c.Name]
			if !ok {
				t.Fatalf("no Go schedule for %q", c.Name)
			}
			p1, p2 := tensor.Zeros(2), tensor.Zeros(2)
			groups := []ParamGroup{{Params: []*tensor.Tensor{p1}}, {Params: []*tensor.Tensor{p2}, LR: Float(0.02)}}
			if gs.groupLRs != nil {
				groups[0].LR, groups[1].LR = Float(gs.groupLRs[0]), Float(gs.groupLRs[1])
			}
			var opt Optimizer
			if c.Optimizer == "SGD" {
				opt = NewSGD(groups, SGDOptions{LR: 0.1, Momentum: 0.9})
			} else {
				opt = NewAdam(groups, AdamOptions{LR: 0.1})
			}
			sched := NewScheduler(opt, gs.s)
			// The LR and momentum of every group at every step, compared
			// under the one golden measure.
			var gotLR, wantLR, gotM, wantM []float64
			for k := range c.LR {
				if k > 0 {
					opt.Step()
					sched.Step()
				}
				for i, grp := range opt.Groups() {
					m := grp.Momentum
					if c.Optimizer != "SGD" {
						m = grp.Beta1
					}
					if got := sched.LR()[i]; got != grp.LR {
						t.Fatalf("step %d: Scheduler.LR %v != group LR %v", k, got, grp.LR)
					}
					gotLR, wantLR = append(gotLR, grp.LR), append(wantLR, c.LR[k][i])
					gotM, wantM = append(gotM, m), append(wantM, c.Momentum[k][i])
				}
			}
			// Element 2k+i is group i after step k. The schedules are
			// float64 on both sides: measured worst case 1.2e-15.
			golden.Check(t, "optim/schedule/"+c.Name+"/lr", gotLR, wantLR, 1e-12)
			golden.Check(t, "optim/schedule/"+c.Name+"/momentum", gotM, wantM, 1e-12)
		})
	}
}
