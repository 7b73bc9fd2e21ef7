package stochastic

import (
	"fmt"
	"strconv"
)

// EMAUpdate moves each running average towards a new observation, in place:
//
//	avg[i] = (1 − momentum)·avg[i] + momentum·x[i]
//
// which is PyTorch BatchNorm's update of running_mean and running_var
// (momentum 0.1 by default; there momentum is the weight of the new value, the
// opposite of EMA's Beta). Like PyTorch's CPU kernel it computes in float64
// and rounds once; momentum is widened through its shortest decimal form, so
// float32(0.1) acts as the float64 0.1 that PyTorch uses. avg, x: (n). It
// panics if the lengths differ.
func EMAUpdate(avg, x []float32, momentum float32) {
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.EMAUpdate: avg has %d values, x has %d", len(avg), len(x)))
	}
	emaUpdate(avg, x, widen(momentum))
}

// widen returns the float64 nearest the shortest decimal that rounds to m.
func widen(m float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(m), 'g', -1, 32), 64)
	if err != nil { // cannot happen for a formatted float
		return float64(m)
	}
	return v
}

func emaUpdate(avg, x []float32, m float64) {
	for i, v := range x {
		avg[i] = float32(m*float64(v) + (1-m)*float64(avg[i]))
	}
}

// EMAUpdate64 is EMAUpdate for float64 slices. avg, x: (n).
func EMAUpdate64(avg, x []float64, momentum float64) {
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.EMAUpdate64: avg has %d values, x has %d", len(avg), len(x)))
	}
	for i, v := range x {
		avg[i] = momentum*v + (1-momentum)*avg[i]
	}
}

// MeanUpdate folds the k-th observation (k counted from 1) into running
// averages of the k − 1 before it, in place:
//
//	avg[i] = avg[i] − (1/k)(avg[i] − x[i])
//
// so avg is the plain average of all k observations. This is PyTorch
// BatchNorm's update when momentum is None (the cumulative moving average,
// momentum 1/k with k = num_batches_tracked after incrementing), computed the
// same way as EMAUpdate. avg, x: (n). It panics if the lengths differ or
// k < 1.
func MeanUpdate(avg, x []float32, k int) {
	if k < 1 {
		panic(fmt.Sprintf("stochastic.MeanUpdate: count k = %d must be ≥ 1", k))
	}
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.MeanUpdate: avg has %d values, x has %d", len(avg), len(x)))
	}
	emaUpdate(avg, x, 1/float64(k))
}
