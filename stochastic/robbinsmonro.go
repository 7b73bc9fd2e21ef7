package stochastic

import (
	"fmt"
	"math"
)

// PowerStep is the step-size schedule a_k = A/(k + B)^Alpha for k = 1, 2, …
// With A > 0, B ≥ 0 and 0.5 < Alpha ≤ 1 it satisfies the Robbins–Monro
// conditions Σ a_k = ∞ and Σ a_k² < ∞. Alpha = 1 (a/(k+b)) is the classic
// choice; smaller Alpha takes larger steps for longer and, combined with
// iterate averaging (RobbinsMonro.Averaged), converges at the optimal rate
// without knowing the slope of g (Polyak–Ruppert).
type PowerStep struct {
	A, B, Alpha float64
}

// Validate returns an error unless A > 0, B ≥ 0 and 0.5 < Alpha ≤ 1.
func (s PowerStep) Validate() error {
	switch {
	case !(s.A > 0) || math.IsInf(s.A, 0):
		return fmt.Errorf("stochastic.PowerStep: A = %v, want a finite value > 0", s.A)
	case !(s.B >= 0) || math.IsInf(s.B, 0):
		return fmt.Errorf("stochastic.PowerStep: B = %v, want a finite value ≥ 0", s.B)
	case !(s.Alpha > 0.5 && s.Alpha <= 1):
		return fmt.Errorf("stochastic.PowerStep: Alpha = %v, want 0.5 < Alpha ≤ 1 (so that Σa_k = ∞ and Σa_k² < ∞)", s.Alpha)
	}
	return nil
}

// At returns a_k for step k ≥ 1.
func (s PowerStep) At(k int) float64 {
	if s.Alpha == 1 {
		return s.A / (float64(k) + s.B)
	}
	return s.A / math.Pow(float64(k)+s.B, s.Alpha)
}

// RobbinsMonro finds a root w* of a function g: ℝⁿ → ℝⁿ that can only be
// observed with noise, by the recursion
//
//	w_{k+1} = w_k − a_k g̃(w_k)
//
// where g̃(w_k) is an unbiased noisy observation of g(w_k) and a_k follows
// Step. For the iteration to move towards the root g must point away from it
// (for a scalar g: g(w) < 0 below w*, > 0 above, as for an increasing
// function; for a gradient ∇f of a convex f this holds). It also keeps the
// running average of the iterates (Polyak–Ruppert averaging), which is less
// noisy than the last iterate.
//
// Stochastic gradient descent is the case g̃ = a mini-batch gradient: see the
// package documentation.
type RobbinsMonro struct {
	// W is the current estimate w_k, updated in place by Update.
	W []float64
	// Step gives the step size a_k.
	Step PowerStep

	k   int       // number of updates done
	avg []float64 // mean of the iterates w_1 … w_k (after each update)
}

// NewRobbinsMonro starts a root search at w0 (copied) with step sizes step.
// It panics if step does not satisfy the Robbins–Monro conditions (see
// PowerStep.Validate).
func NewRobbinsMonro(w0 []float64, step PowerStep) *RobbinsMonro {
	if err := step.Validate(); err != nil {
		panic("stochastic.NewRobbinsMonro: " + err.Error())
	}
	w := append([]float64(nil), w0...)
	return &RobbinsMonro{W: w, Step: step, avg: append([]float64(nil), w0...)}
}

// Update takes one step with the noisy observation g = g̃(W): W ← W − a_k g
// with k the number of this update (from 1). g: (len(W)). It returns a_k.
func (r *RobbinsMonro) Update(g []float64) float64 {
	if len(g) != len(r.W) {
		panic(fmt.Sprintf("stochastic.RobbinsMonro.Update: observation has %d values, W has %d", len(g), len(r.W)))
	}
	if len(r.avg) != len(r.W) {
		r.avg = append(r.avg[:0], r.W...)
	}
	r.k++
	a := r.Step.At(r.k)
	for i, gi := range g {
		r.W[i] -= a * gi
	}
	// Averaged iterates: mean of w_1 … w_k, by the 1/k recursion.
	inv := 1 / float64(r.k)
	for i, w := range r.W {
		r.avg[i] -= inv * (r.avg[i] - w)
	}
	return a
}

// Run performs n updates, observing g̃ by calling observe(W, k), where k is
// the number of the update about to be made; observe returns the noisy value
// of g at W, of W's length. It returns W.
func (r *RobbinsMonro) Run(n int, observe func(w []float64, k int) []float64) []float64 {
	for i := 0; i < n; i++ {
		r.Update(observe(r.W, r.k+1))
	}
	return r.W
}

// Steps returns the number of updates made.
func (r *RobbinsMonro) Steps() int { return r.k }

// Averaged returns the Polyak–Ruppert average of the iterates w_1 … w_k
// produced by the updates so far (W itself before any update).
func (r *RobbinsMonro) Averaged() []float64 {
	if r.k == 0 {
		return append([]float64(nil), r.W...)
	}
	return append([]float64(nil), r.avg...)
}

// FindRoot runs the scalar Robbins–Monro recursion w ← w − a_k g̃(w) for n
// steps from w0 and returns the last iterate. observe returns a noisy
// observation of g at w. It panics if step is invalid.
func FindRoot(observe func(w float64) float64, w0 float64, step PowerStep, n int) float64 {
	r := NewRobbinsMonro([]float64{w0}, step)
	buf := []float64{0}
	for i := 0; i < n; i++ {
		buf[0] = observe(r.W[0])
		r.Update(buf)
	}
	return r.W[0]
}
