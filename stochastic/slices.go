package stochastic

import "fmt"

// EMAUpdate moves each running average towards a new observation, in place:
//
//	avg[i] = momentum·x[i] + (1 − momentum)·avg[i]
//
// which is PyTorch BatchNorm's update of running_mean (momentum 0.1 by
// default; there momentum is the weight of the new value, the opposite of
// EMA's Beta). It rounds as PyTorch's CPU kernel does — float32 arithmetic,
// 1 − momentum rounded to float32, each product rounded, no fused
// multiply-add — so given the same batch means the result is bit-identical
// (checked against PyTorch 1.13 in the tests). avg, x: (n). It panics if the
// lengths differ.
func EMAUpdate(avg, x []float32, momentum float32) {
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.EMAUpdate: avg has %d values, x has %d", len(avg), len(x)))
	}
	emaUpdate(avg, x, momentum)
}

func emaUpdate(avg, x []float32, m float32) {
	keep := 1 - m
	for i, v := range x {
		// Explicit conversions keep each product rounded (no FMA).
		avg[i] = float32(m*v) + float32(keep*avg[i])
	}
}

// EMAUpdateWide is EMAUpdate for observations computed in float64, rounding
// as PyTorch's BatchNorm does for running_var (whose observation, the
// unbiased batch variance var_sum/(n − 1), is a double there):
//
//	avg[i] = float32(momentum·x[i] + float32((1 − momentum)·avg[i]))
//
// with the sum in float64. avg, x: (n). It panics if the lengths differ.
func EMAUpdateWide(avg []float32, x []float64, momentum float32) {
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.EMAUpdateWide: avg has %d values, x has %d", len(avg), len(x)))
	}
	keep := 1 - momentum
	m := float64(momentum)
	for i, v := range x {
		avg[i] = float32(m*v + float64(float32(keep*avg[i])))
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
// so avg is the average of all k observations (up to float32 rounding). This
// is PyTorch BatchNorm's update when momentum is None (the cumulative moving
// average: momentum 1/k with k = num_batches_tracked after incrementing),
// computed as EMAUpdate with momentum float32(1/k), as PyTorch does. avg, x:
// (n). It panics if the lengths differ or k < 1.
func MeanUpdate(avg, x []float32, k int) {
	if k < 1 {
		panic(fmt.Sprintf("stochastic.MeanUpdate: count k = %d must be ≥ 1", k))
	}
	if len(avg) != len(x) {
		panic(fmt.Sprintf("stochastic.MeanUpdate: avg has %d values, x has %d", len(avg), len(x)))
	}
	emaUpdate(avg, x, float32(1/float64(k)))
}
