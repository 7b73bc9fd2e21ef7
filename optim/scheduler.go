package optim

import (
	"fmt"
	"slices"
)

// Schedule gives the learning rate of a parameter group at step t, where
// t = 0 is before the first optimizer step (the value a Scheduler sets when it
// is created) and t = k after the k-th call of Scheduler.Step; base is the
// group's initial learning rate. Schedules are plain values and pure
// functions of (base, t), the closed forms of torch.optim.lr_scheduler's
// schedulers.
type Schedule interface {
	LR(base float64, t int) float64
}

// MomentumSchedule is a Schedule that also sets the momentum at step t (SGD's
// Momentum, or Adam's and AdamW's Beta1), as OneCycleLR does. ok is false
// when the momentum is to be left unchanged.
type MomentumSchedule interface {
	Schedule
	Momentum(t int) (m float64, ok bool)
}

// validator is implemented by schedules that can check their fields.
type validator interface {
	Validate() error
}

// Scheduler applies a Schedule to an optimizer's parameter groups, as a
// torch.optim.lr_scheduler object does: created after the optimizer, it sets
// each group's LR to the schedule's value at t = 0, and each Step (called
// after Optimizer.Step) advances t and sets the next value. The base LR of
// each group is its LR when the Scheduler is created.
type Scheduler struct {
	opt   Optimizer
	sched Schedule
	base  []float64
	t     int
	last  []float64
}

// NewScheduler attaches schedule to opt and sets the learning rates for
// t = 0. It panics if the schedule's fields are invalid.
func NewScheduler(opt Optimizer, schedule Schedule) *Scheduler {
	if v, ok := schedule.(validator); ok {
		if err := v.Validate(); err != nil {
			panic("optim.NewScheduler: " + err.Error())
		}
	}
	s := &Scheduler{opt: opt, sched: schedule}
	for _, g := range opt.Groups() {
		s.base = append(s.base, g.LR)
	}
	s.apply()
	return s
}

// Step advances the schedule by one step and sets the groups' learning rates
// (and momenta, for a MomentumSchedule).
func (s *Scheduler) Step() {
	s.t++
	s.apply()
}

func (s *Scheduler) apply() {
	groups := s.opt.Groups()
	if len(groups) != len(s.base) {
		panic(fmt.Sprintf("optim.Scheduler: optimizer has %d groups, the scheduler was created for %d", len(groups), len(s.base)))
	}
	s.last = s.last[:0]
	ms, hasMomentum := s.sched.(MomentumSchedule)
	for i, g := range groups {
		g.LR = s.sched.LR(s.base[i], s.t)
		s.last = append(s.last, g.LR)
		if hasMomentum {
			if m, ok := ms.Momentum(s.t); ok {
				if s.opt.Kind() == "SGD" {
					g.Momentum = m
				} else {
					g.Beta1 = m
				}
			}
		}
	}
}

// LR returns the learning rate last set for each group (PyTorch's
// get_last_lr).
func (s *Scheduler) LR() []float64 { return slices.Clone(s.last) }

// Steps returns t, the number of Step calls so far (PyTorch's last_epoch).
func (s *Scheduler) Steps() int { return s.t }

// BaseLRs returns each group's base learning rate (PyTorch's base_lrs).
func (s *Scheduler) BaseLRs() []float64 { return slices.Clone(s.base) }

// SchedulerState is what a Scheduler needs to resume: the step count and the
// base learning rates. It serialises to JSON.
type SchedulerState struct {
	Step    int       `json:"last_epoch"`
	BaseLRs []float64 `json:"base_lrs"`
}

// StateDict returns the scheduler's state.
func (s *Scheduler) StateDict() SchedulerState {
	return SchedulerState{Step: s.t, BaseLRs: slices.Clone(s.base)}
}

// LoadStateDict restores a state saved by StateDict and sets the groups'
// learning rates for it.
func (s *Scheduler) LoadStateDict(st SchedulerState) error {
	if len(st.BaseLRs) != len(s.base) {
		return fmt.Errorf("optim: load scheduler state: field base_lrs has %d values, want %d (one per group)", len(st.BaseLRs), len(s.base))
	}
	if st.Step < 0 {
		return fmt.Errorf("optim: load scheduler state: field last_epoch is %d, want ≥ 0", st.Step)
	}
	s.t = st.Step
	s.base = slices.Clone(st.BaseLRs)
	s.apply()
	return nil
}
