package stochastic

import (
	"fmt"
	"math"
)

// Mean is the running (incremental) mean of a stream of numbers, updated by the
// Robbins–Monro recursion with step 1/k:
//
//	w_k = w_{k−1} − (1/k)(w_{k−1} − x_k),
//
// so after k values Value is their arithmetic mean, computed in O(1) memory
// without summing large totals. Values can carry weights (AddWeighted), as a
// loss meter does when batches differ in size. The zero Mean is empty and
// ready to use.
type Mean struct {
	value  float64
	weight float64
	count  int
}

// Add includes x with weight 1.
func (m *Mean) Add(x float64) { m.AddWeighted(x, 1) }

// AddWeighted includes x with weight w ≥ 0: the mean becomes
// Σ w_i x_i / Σ w_i. A zero weight is counted but changes nothing. It panics
// if w is negative or not finite.
func (m *Mean) AddWeighted(x, w float64) {
	if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		panic(fmt.Sprintf("stochastic.Mean.AddWeighted: weight %v must be finite and ≥ 0", w))
	}
	m.count++
	if w == 0 {
		return
	}
	m.weight += w
	m.value -= (w / m.weight) * (m.value - x)
}

// Value returns the mean of the values added so far, or 0 if there are none.
func (m *Mean) Value() float64 { return m.value }

// Count returns how many values were added.
func (m *Mean) Count() int { return m.count }

// Weight returns the total weight of the values added (Count when every weight
// is 1).
func (m *Mean) Weight() float64 { return m.weight }

// Reset empties m.
func (m *Mean) Reset() { *m = Mean{} }

// EMA is the exponential moving average of a stream of numbers,
//
//	v_k = β v_{k−1} + (1 − β) x_k,   v_0 = 0,
//
// a Robbins–Monro recursion with the constant step 1 − β: it follows a
// drifting signal, forgetting old values with time constant ≈ 1/(1 − β) steps.
// Value removes the bias towards the zero start the way Adam does,
// v_k / (1 − β^k), so the first values are not pulled towards 0; Raw returns
// v_k itself. Use it for smoothed loss curves.
type EMA struct {
	// Beta is the decay β in [0, 1): the weight kept from the previous average.
	Beta float64

	raw   float64
	power float64 // β^k
	count int
}

// NewEMA returns an empty EMA with decay beta. It panics unless 0 ≤ beta < 1.
func NewEMA(beta float64) *EMA {
	if !(beta >= 0 && beta < 1) {
		panic(fmt.Sprintf("stochastic.NewEMA: beta %v must be in [0, 1)", beta))
	}
	return &EMA{Beta: beta, power: 1}
}

// Add includes x.
func (e *EMA) Add(x float64) {
	if e.count == 0 {
		e.power = 1
	}
	e.raw = e.Beta*e.raw + (1-e.Beta)*x
	e.power *= e.Beta
	e.count++
}

// Value returns the bias-corrected average v_k / (1 − β^k), or 0 if nothing
// was added.
func (e *EMA) Value() float64 {
	if e.count == 0 {
		return 0
	}
	return e.raw / (1 - e.power)
}

// Raw returns the uncorrected average v_k.
func (e *EMA) Raw() float64 { return e.raw }

// Count returns how many values were added.
func (e *EMA) Count() int { return e.count }

// Reset empties e, keeping Beta.
func (e *EMA) Reset() { *e = EMA{Beta: e.Beta, power: 1} }

// MeanVar is the running mean and variance of a stream of numbers (Welford's
// algorithm), numerically stable for long streams.
type MeanVar struct {
	n    int
	mean float64
	m2   float64 // Σ (x − mean)²
}

// Add includes x.
func (s *MeanVar) Add(x float64) {
	s.n++
	d := x - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (x - s.mean)
}

// Count returns how many values were added.
func (s *MeanVar) Count() int { return s.n }

// Mean returns the mean, or 0 if nothing was added.
func (s *MeanVar) Mean() float64 { return s.mean }

// Var returns the population variance Σ(x − mean)²/n (biased, as BatchNorm
// normalises with), or 0 for fewer than one value.
func (s *MeanVar) Var() float64 {
	if s.n == 0 {
		return 0
	}
	return s.m2 / float64(s.n)
}

// UnbiasedVar returns the sample variance Σ(x − mean)²/(n − 1) (what
// BatchNorm stores in its running variance), or 0 for fewer than two values.
func (s *MeanVar) UnbiasedVar() float64 {
	if s.n < 2 {
		return 0
	}
	return s.m2 / float64(s.n-1)
}

// Std returns the population standard deviation √Var.
func (s *MeanVar) Std() float64 { return math.Sqrt(s.Var()) }

// Reset empties s.
func (s *MeanVar) Reset() { *s = MeanVar{} }
