package stochastic_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/stochastic"
)

// A loss meter: the average loss over an epoch, weighted by batch size.
func ExampleMean() {
	var loss stochastic.Mean
	loss.AddWeighted(0.9, 32) // batch of 32 with mean loss 0.9
	loss.AddWeighted(0.6, 32)
	loss.AddWeighted(0.3, 16) // last, smaller batch
	fmt.Printf("%.2f over %d batches\n", loss.Value(), loss.Count())
	// Output: 0.66 over 3 batches
}

// BatchNorm's running mean with momentum 0.1.
func ExampleEMAUpdate() {
	running := []float32{0, 0}
	stochastic.EMAUpdate(running, []float32{1, -2}, 0.1)
	stochastic.EMAUpdate(running, []float32{1, -2}, 0.1)
	fmt.Printf("%.2f\n", running)
	// Output: [0.19 -0.38]
}

// Find where a function observed only with noise crosses zero: here
// g(w) = w³ + w − 10, whose root is 2.
func ExampleFindRoot() {
	rng := rand.New(rand.NewPCG(1, 1))
	g := func(w float64) float64 { return w*w*w + w - 10 + rng.NormFloat64() }
	step := stochastic.PowerStep{A: 0.1, B: 10, Alpha: 1} // a_k = 0.1/(k+10)
	w := stochastic.FindRoot(g, 1, step, 50000)
	fmt.Printf("root ≈ %.2f\n", w)
	fmt.Println(math.Abs(w-2) < 0.01)
	// Output:
	// root ≈ 2.00
	// true
}

// SGD as Robbins–Monro: minimise f(w) = ½(w − 3)² from noisy gradients.
func ExampleRobbinsMonro() {
	rng := rand.New(rand.NewPCG(2, 2))
	r := stochastic.NewRobbinsMonro([]float64{0}, stochastic.PowerStep{A: 1, B: 1, Alpha: 0.7})
	r.Run(10000, func(w []float64, k int) []float64 {
		return []float64{(w[0] - 3) + rng.NormFloat64()} // ∇f(w) + noise
	})
	fmt.Printf("averaged iterate ≈ %.1f\n", r.Averaged()[0])
	// Output: averaged iterate ≈ 3.0
}

// A smoothed loss curve: the exponential moving average with Adam-style bias
// correction, so the first values are not pulled towards zero.
func ExampleEMA() {
	e := stochastic.NewEMA(0.9)
	for _, loss := range []float64{2.0, 1.8, 1.7, 1.5, 1.6} {
		e.Add(loss)
	}
	fmt.Printf("smoothed %.3f (raw %.3f) after %d values\n", e.Value(), e.Raw(), e.Count())
	// Output: smoothed 1.697 (raw 0.695) after 5 values
}

// Running mean and variance of a stream (Welford), with the unbiased
// variance BatchNorm keeps.
func ExampleMeanVar() {
	var s stochastic.MeanVar
	for _, x := range []float64{2, 4, 4, 4, 5, 5, 7, 9} {
		s.Add(x)
	}
	fmt.Printf("mean %.1f, var %.1f, unbiased %.3f, std %.1f\n", s.Mean(), s.Var(), s.UnbiasedVar(), s.Std())
	// Output: mean 5.0, var 4.0, unbiased 4.571, std 2.0
}

// BatchNorm with momentum None: the running mean is the plain average of the
// batch means.
func ExampleMeanUpdate() {
	running := []float32{0}
	for k, batchMean := range []float32{1, 2, 6} {
		stochastic.MeanUpdate(running, []float32{batchMean}, k+1)
	}
	fmt.Println(running)
	// Output: [3]
}
