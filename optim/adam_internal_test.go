package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamKernelPathsAgree checks that the vectorised path of adamKernel.run
// gives bit for bit what its Go loop gives, for every option it covers.
func TestAdamKernelPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	randn := func(n int, s float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = s * float32(rng.NormFloat64())
		}
		return x
	}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 100, 1027} {
		for _, decoupled := range []bool{false, true} {
			for _, maximize := range []bool{false, true} {
				g := &Group{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Maximize: maximize}
				if decoupled {
					g.WeightDecay = 0.05
				}
				theta, grad, m, v := randn(n, 1), randn(n, 0.1), randn(n, 0.01), randn(n, 0.01)
				for i := range v {
					v[i] *= v[i]
				}
				t2, m2, v2 := append([]float32(nil), theta...), append([]float32(nil), m...), append([]float32(nil), v...)
				for step := 1; step <= 3; step++ {
					k := newAdamKernel(g, step, decoupled)
					k.run(theta, grad, m, v, nil)
					k.runGo(t2, grad, m2, v2, nil)
				}
				for i := range theta {
					if math.Float32bits(theta[i]) != math.Float32bits(t2[i]) || m[i] != m2[i] || v[i] != v2[i] {
						t.Fatalf("n=%d decoupled=%v maximize=%v element %d: θ %v m %v v %v, Go loop θ %v m %v v %v",
							n, decoupled, maximize, i, theta[i], m[i], v[i], t2[i], m2[i], v2[i])
					}
				}
			}
		}
	}
}
