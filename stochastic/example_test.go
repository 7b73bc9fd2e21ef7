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
