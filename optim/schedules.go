package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// StepLR multiplies the learning rate by Gamma every StepSize steps:
// lr = base·Gamma^⌊t/StepSize⌋ (torch.optim.lr_scheduler.StepLR).
type StepLR struct {
	StepSize int     // > 0
	Gamma    float64 // > 0; PyTorch's default is 0.1
}

// LR returns the learning rate at step t.
func (s StepLR) LR(base float64, t int) float64 {
	return base * math.Pow(s.Gamma, float64(t/s.StepSize))
}

// Validate checks the fields.
func (s StepLR) Validate() error {
	if s.StepSize <= 0 {
		return fmt.Errorf("StepLR: StepSize = %d, want > 0", s.StepSize)
	}
	return checkGamma("StepLR", s.Gamma)
}

func checkGamma(name string, g float64) error {
	if !(g > 0) || math.IsInf(g, 0) {
		return fmt.Errorf("%s: Gamma = %v, want a finite value > 0 (PyTorch's default is 0.1)", name, g)
	}
	return nil
}

// MultiStepLR multiplies the learning rate by Gamma at each milestone:
// lr = base·Gamma^(number of milestones ≤ t). A milestone listed twice
// counts twice, as in torch.optim.lr_scheduler.MultiStepLR.
type MultiStepLR struct {
	Milestones []int   // steps at which to decay; need not be sorted
	Gamma      float64 // > 0; PyTorch's default is 0.1
}

// LR returns the learning rate at step t.
func (s MultiStepLR) LR(base float64, t int) float64 {
	n := 0
	for _, m := range s.Milestones {
		if m <= t {
			n++
		}
	}
	return base * math.Pow(s.Gamma, float64(n))
}

// Validate checks the fields.
func (s MultiStepLR) Validate() error { return checkGamma("MultiStepLR", s.Gamma) }

// ExponentialLR multiplies the learning rate by Gamma every step:
// lr = base·Gamma^t.
type ExponentialLR struct {
	Gamma float64 // > 0
}

// LR returns the learning rate at step t.
func (s ExponentialLR) LR(base float64, t int) float64 { return base * math.Pow(s.Gamma, float64(t)) }

// Validate checks the fields.
func (s ExponentialLR) Validate() error { return checkGamma("ExponentialLR", s.Gamma) }

// CosineAnnealingLR anneals the learning rate from base to EtaMin along half
// a cosine over TMax steps:
//
//	lr = EtaMin + (base − EtaMin)·(1 + cos(π·t/TMax))/2
//
// Past TMax it rises again (the cosine continues), as PyTorch's does.
type CosineAnnealingLR struct {
	TMax   int // > 0
	EtaMin float64
}

// LR returns the learning rate at step t.
func (s CosineAnnealingLR) LR(base float64, t int) float64 {
	return s.EtaMin + (base-s.EtaMin)*(1+math.Cos(math.Pi*float64(t)/float64(s.TMax)))/2
}

// Validate checks the fields.
func (s CosineAnnealingLR) Validate() error {
	if s.TMax <= 0 {
		return fmt.Errorf("CosineAnnealingLR: TMax = %d, want > 0", s.TMax)
	}
	return nil
}

// CosineAnnealingWarmRestarts is SGDR: cosine annealing from base to EtaMin
// over T_i steps, then a restart at base, with T_0 = T0 and
// T_{i+1} = TMult·T_i:
//
//	lr = EtaMin + (base − EtaMin)·(1 + cos(π·T_cur/T_i))/2
//
// where T_cur counts the steps since the last restart.
type CosineAnnealingWarmRestarts struct {
	T0     int // steps to the first restart, > 0
	TMult  int // growth of the period after each restart, ≥ 1; 0 means 1
	EtaMin float64
}

// Period returns (T_cur, T_i) at step t.
func (s CosineAnnealingWarmRestarts) Period(t int) (cur, length int) {
	mult := max(s.TMult, 1)
	cur, length = t, s.T0
	if mult == 1 {
		return cur % length, length
	}
	for cur >= length {
		cur -= length
		length *= mult
	}
	return cur, length
}

// LR returns the learning rate at step t.
func (s CosineAnnealingWarmRestarts) LR(base float64, t int) float64 {
	cur, length := s.Period(t)
	return s.EtaMin + (base-s.EtaMin)*(1+math.Cos(math.Pi*float64(cur)/float64(length)))/2
}

// Validate checks the fields.
func (s CosineAnnealingWarmRestarts) Validate() error {
	if s.T0 <= 0 {
		return fmt.Errorf("CosineAnnealingWarmRestarts: T0 = %d, want > 0", s.T0)
	}
	if s.TMult < 0 {
		return fmt.Errorf("CosineAnnealingWarmRestarts: TMult = %d, want ≥ 1", s.TMult)
	}
	return nil
}

// ConstantLR multiplies the learning rate by Factor for the first TotalIters
// steps, then leaves it at base.
type ConstantLR struct {
	Factor     float64 // in [0, 1]; PyTorch's default is 1/3
	TotalIters int     // > 0; PyTorch's default is 5
}

// LR returns the learning rate at step t.
func (s ConstantLR) LR(base float64, t int) float64 {
	if t >= s.TotalIters {
		return base
	}
	return base * s.Factor
}

// Validate checks the fields.
func (s ConstantLR) Validate() error {
	if !(s.Factor >= 0 && s.Factor <= 1) {
		return fmt.Errorf("ConstantLR: Factor = %v, want a value in [0, 1]", s.Factor)
	}
	if s.TotalIters <= 0 {
		return fmt.Errorf("ConstantLR: TotalIters = %d, want > 0", s.TotalIters)
	}
	return nil
}

// LinearLR changes the learning rate's factor linearly from StartFactor at
// t = 0 to EndFactor at t = TotalIters, and keeps EndFactor after:
//
//	lr = base·(StartFactor + (EndFactor − StartFactor)·min(t, TotalIters)/TotalIters)
//
// With EndFactor 1 it is a linear warm-up; StartFactor 0 starts from zero.
type LinearLR struct {
	StartFactor float64 // in [0, 1]; PyTorch's default is 1/3
	EndFactor   float64 // in [0, 1]; PyTorch's default is 1
	TotalIters  int     // > 0; PyTorch's default is 5
}

// LR returns the learning rate at step t.
func (s LinearLR) LR(base float64, t int) float64 {
	return base * (s.StartFactor + (s.EndFactor-s.StartFactor)*float64(min(s.TotalIters, t))/float64(s.TotalIters))
}

// Validate checks the fields.
func (s LinearLR) Validate() error {
	switch {
	case !(s.StartFactor >= 0 && s.StartFactor <= 1):
		return fmt.Errorf("LinearLR: StartFactor = %v, want a value in [0, 1]", s.StartFactor)
	case !(s.EndFactor >= 0 && s.EndFactor <= 1):
		return fmt.Errorf("LinearLR: EndFactor = %v, want a value in [0, 1]", s.EndFactor)
	case s.StartFactor == 0 && s.EndFactor == 0:
		return errors.New("LinearLR: StartFactor and EndFactor are both 0 (PyTorch's defaults are 1/3 and 1)")
	case s.TotalIters <= 0:
		return fmt.Errorf("LinearLR: TotalIters = %d, want > 0", s.TotalIters)
	}
	return nil
}

// PolynomialLR is the "poly" schedule of semantic segmentation (DeepLab,
// mmsegmentation), torch.optim.lr_scheduler.PolynomialLR:
//
//	lr = base·(1 − min(t, TotalIters)/TotalIters)^Power
//
// reaching 0 at TotalIters. Power 0.9 is the usual choice.
type PolynomialLR struct {
	TotalIters int     // > 0
	Power      float64 // > 0; PyTorch's default is 1
}

// LR returns the learning rate at step t.
func (s PolynomialLR) LR(base float64, t int) float64 {
	return base * math.Pow(1-float64(min(s.TotalIters, t))/float64(s.TotalIters), s.Power)
}

// Validate checks the fields.
func (s PolynomialLR) Validate() error {
	if s.TotalIters <= 0 {
		return fmt.Errorf("PolynomialLR: TotalIters = %d, want > 0", s.TotalIters)
	}
	if !(s.Power > 0) || math.IsInf(s.Power, 0) {
		return fmt.Errorf("PolynomialLR: Power = %v, want a finite value > 0 (PyTorch's default is 1, poly uses 0.9)", s.Power)
	}
	return nil
}

// OneCycleLR is the 1cycle policy (torch.optim.lr_scheduler.OneCycleLR):
// the learning rate rises from MaxLR/DivFactor to MaxLR over the first
// PctStart of TotalSteps, then anneals to MaxLR/(DivFactor·FinalDivFactor);
// the momentum (SGD's Momentum, Adam's Beta1) moves the opposite way between
// MaxMomentum and BaseMomentum. With ThreePhase the rise and the fall back to
// the initial LR are symmetric and a third phase anneals to the minimum.
// Zero fields take PyTorch's defaults (shown). Stepping past TotalSteps
// panics, as PyTorch raises.
type OneCycleLR struct {
	// MaxLR is the peak learning rate; 0 uses each group's base LR as its
	// peak (PyTorch's per-group max_lr list).
	MaxLR          float64
	TotalSteps     int     // > 0
	PctStart       float64 // fraction of the cycle spent rising (0.3)
	Linear         bool    // anneal linearly instead of by cosine ("cos")
	DivFactor      float64 // initial LR = MaxLR/DivFactor (25)
	FinalDivFactor float64 // minimum LR = initial LR/FinalDivFactor (1e4)
	ThreePhase     bool    // use the three-phase schedule of the original paper
	BaseMomentum   float64 // momentum at the peak LR (0.85)
	MaxMomentum    float64 // momentum at the start and end (0.95)
	FixedMomentum  bool    // leave the momentum alone (PyTorch's cycle_momentum=False)
}

func (s OneCycleLR) withDefaults() OneCycleLR {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.PctStart, 0.3)
	def(&s.DivFactor, 25)
	def(&s.FinalDivFactor, 1e4)
	def(&s.BaseMomentum, 0.85)
	def(&s.MaxMomentum, 0.95)
	return s
}

// Validate checks the fields.
func (s OneCycleLR) Validate() error {
	d := s.withDefaults()
	switch {
	case s.TotalSteps <= 0:
		return fmt.Errorf("OneCycleLR: TotalSteps = %d, want > 0", s.TotalSteps)
	case !(d.PctStart >= 0 && d.PctStart <= 1):
		return fmt.Errorf("OneCycleLR: PctStart = %v, want a value in [0, 1]", s.PctStart)
	case s.MaxLR < 0, d.DivFactor < 0, d.FinalDivFactor < 0:
		return errors.New("OneCycleLR: MaxLR, DivFactor and FinalDivFactor must be ≥ 0")
	}
	return nil
}

// phase is one segment of the 1cycle schedule, from the previous phase's end
// step to end, moving between the named levels.
type phase struct {
	end              float64
	startLR, endLR   int // 0 initial, 1 max, 2 min
	startMom, endMom int // 0 max momentum, 1 base momentum
}

func (s OneCycleLR) phases() []phase {
	n := float64(s.TotalSteps)
	if s.ThreePhase {
		return []phase{
			{s.PctStart*n - 1, 0, 1, 0, 1},
			{2*s.PctStart*n - 2, 1, 0, 1, 0},
			{n - 1, 0, 2, 0, 0},
		}
	}
	return []phase{
		{s.PctStart*n - 1, 0, 1, 0, 1},
		{n - 1, 1, 2, 1, 0},
	}
}

// at finds the phase of step t and the fraction pct of it done.
func (s OneCycleLR) at(t int) (phase, float64) {
	if t > s.TotalSteps {
		panic(fmt.Sprintf("optim.OneCycleLR: step %d is past TotalSteps = %d", t, s.TotalSteps))
	}
	ph := s.phases()
	start := 0.0
	for i, p := range ph {
		if float64(t) <= p.end || i == len(ph)-1 {
			return p, (float64(t) - start) / (p.end - start)
		}
		start = p.end
	}
	panic("unreachable")
}

func (s OneCycleLR) anneal(a, b, pct float64) float64 {
	if s.Linear {
		return (b-a)*pct + a
	}
	return b + (a-b)/2.0*(math.Cos(math.Pi*pct)+1)
}

// LR returns the learning rate at step t.
func (s OneCycleLR) LR(base float64, t int) float64 {
	s = s.withDefaults()
	maxLR := s.MaxLR
	if maxLR == 0 {
		maxLR = base
	}
	initial := maxLR / s.DivFactor
	levels := [3]float64{initial, maxLR, initial / s.FinalDivFactor}
	p, pct := s.at(t)
	return s.anneal(levels[p.startLR], levels[p.endLR], pct)
}

// Momentum returns the momentum at step t (ok is false with FixedMomentum).
func (s OneCycleLR) Momentum(t int) (float64, bool) {
	if s.FixedMomentum {
		return 0, false
	}
	s = s.withDefaults()
	levels := [2]float64{s.MaxMomentum, s.BaseMomentum}
	p, pct := s.at(t)
	return s.anneal(levels[p.startMom], levels[p.endMom], pct), true
}

// SequentialLR runs Schedules one after another, switching at Milestones
// (len(Schedules) − 1 increasing steps), as torch.optim.lr_scheduler.
// SequentialLR does: schedule i runs from milestone i−1, with its own step
// count starting again at 0 and the same base LR. A linear warm-up into
// cosine decay is
//
//	SequentialLR{Schedules: []Schedule{LinearLR{0.01, 1, 5}, CosineAnnealingLR{TMax: 95}}, Milestones: []int{5}}
//
// (see WarmUp). The momentum, if any schedule sets it, comes from the
// schedule running.
type SequentialLR struct {
	Schedules  []Schedule
	Milestones []int
}

// active returns the schedule running at step t and its local step.
func (s SequentialLR) active(t int) (Schedule, int) {
	i := sort.Search(len(s.Milestones), func(i int) bool { return s.Milestones[i] > t }) // bisect_right
	if i == 0 {
		return s.Schedules[0], t
	}
	return s.Schedules[i], t - s.Milestones[i-1]
}

// LR returns the learning rate at step t.
func (s SequentialLR) LR(base float64, t int) float64 {
	sc, lt := s.active(t)
	return sc.LR(base, lt)
}

// Momentum returns the running schedule's momentum at step t, if it sets one.
func (s SequentialLR) Momentum(t int) (float64, bool) {
	sc, lt := s.active(t)
	if ms, ok := sc.(MomentumSchedule); ok {
		return ms.Momentum(lt)
	}
	return 0, false
}

// Validate checks the fields and every schedule's.
func (s SequentialLR) Validate() error {
	if len(s.Schedules) == 0 {
		return errors.New("SequentialLR: no schedules")
	}
	if len(s.Milestones) != len(s.Schedules)-1 {
		return fmt.Errorf("SequentialLR: %d schedules need %d milestones, got %d",
			len(s.Schedules), len(s.Schedules)-1, len(s.Milestones))
	}
	if !slices.IsSorted(s.Milestones) || (len(s.Milestones) > 0 && s.Milestones[0] < 0) {
		return fmt.Errorf("SequentialLR: Milestones %v must be increasing and ≥ 0", s.Milestones)
	}
	for i, sc := range s.Schedules {
		if sc == nil {
			return fmt.Errorf("SequentialLR: schedule %d is nil", i)
		}
		if v, ok := sc.(validator); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("SequentialLR: schedule %d: %w", i, err)
			}
		}
	}
	return nil
}

// WarmUp returns after preceded by a linear warm-up of steps steps whose
// factor rises from startFactor to 1: SequentialLR{LinearLR{startFactor, 1,
// steps}, after} with milestone steps. after's step count restarts at 0 when
// the warm-up ends, so a decay over a whole run of N steps should be given
// N − steps steps (PolynomialLR{TotalIters: N − steps, …}).
func WarmUp(after Schedule, steps int, startFactor float64) SequentialLR {
	return SequentialLR{
		Schedules:  []Schedule{LinearLR{StartFactor: startFactor, EndFactor: 1, TotalIters: steps}, after},
		Milestones: []int{steps},
	}
}

// ChainedLR applies several schedules at once by multiplying their factors:
// lr = base·Π_i (S_i.LR(base, t)/base). It matches
// torch.optim.lr_scheduler.ChainedScheduler for the multiplicative schedules
// (StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR, and
// CosineAnnealingLR with EtaMin 0 within TMax), e.g. a warm-up multiplied
// into a poly decay that counts steps from 0:
//
//	ChainedLR{LinearLR{0.1, 1, 10}, PolynomialLR{TotalIters: 1000, Power: 0.9}}
type ChainedLR []Schedule

// LR returns the learning rate at step t.
func (s ChainedLR) LR(base float64, t int) float64 {
	if base == 0 {
		return 0
	}
	lr := base
	for _, sc := range s {
		lr *= sc.LR(base, t) / base
	}
	return lr
}

// Validate checks every schedule.
func (s ChainedLR) Validate() error {
	for i, sc := range s {
		if sc == nil {
			return fmt.Errorf("ChainedLR: schedule %d is nil", i)
		}
		if v, ok := sc.(validator); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("ChainedLR: schedule %d: %w", i, err)
			}
		}
	}
	return nil
}
