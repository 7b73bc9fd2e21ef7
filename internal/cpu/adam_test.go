package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// adamGo is AdamUpdate's pure-Go loop written out element by element. It is
// not an oracle (it restates the implementation): it pins the assembly path
// to the Go path. The oracle is PyTorch itself, in
// optim.TestAdamStepMatchesTorchBits (testdata/optim/adam_step.json).
func adamGo(theta, g, m, v []float32, beta2 float32, c AdamConsts) {
	for i := range theta {
		d := g[i]
		if c.Maximize {
			d = -d
		}
		theta[i] *= c.Decay
		mi := float32(float64(m[i]*c.Beta1) + c.OneMinusBeta1*float64(d))
		m[i] = mi
		vi := float32(float64(v[i]*beta2) + float64(c.OneMinusBeta2*d)*float64(d))
		v[i] = vi
		denom := float32(math.Sqrt(float64(vi)))/c.Bc2Sqrt + c.Eps
		theta[i] += c.NegStep * mi / denom
	}
}

// TestAdamUpdateAsmMatchesGo compares two paths of the same kernel, the
// assembly (lengths ≥ 8) and the Go loop, bit for bit; it says nothing about
// agreement with PyTorch.
func TestAdamUpdateAsmMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range reduceLengths() {
		for _, maximize := range []bool{false, true} {
			theta := reduceInput(rng, n, 0, 1)
			g := reduceInput(rng, n, 0, 1e-2)
			m := reduceInput(rng, n, 0, 1e-3)
			v := reduceInput(rng, n, 0, 1e-3)
			for i := range v {
				v[i] *= v[i] // second moments are not negative
			}
			if n > 5 {
				g[1], g[2], theta[3], v[4] = 0, float32(math.Inf(1)), float32(math.NaN()), 0
			}
			c := AdamConsts{Beta1: 0.9, OneMinusBeta1: float64(float32(0.1)), OneMinusBeta2: float32(1 - 0.999),
				Bc2Sqrt: float32(math.Sqrt(1 - math.Pow(0.999, 3))), Eps: 1e-8, NegStep: float32(-1e-3 / (1 - math.Pow(0.9, 3))),
				Decay: float32(1 - 1e-3*1e-2), Maximize: maximize}
			wt, wm, wv := append([]float32(nil), theta...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamGo(wt, g, wm, wv, 0.999, c)
			AdamUpdate(theta, g, m, v, 0.999, c)
			for i := range theta {
				for _, p := range [][2]float32{{theta[i], wt[i]}, {m[i], wm[i]}, {v[i], wv[i]}} {
					if math.Float32bits(p[0]) != math.Float32bits(p[1]) && !(p[0] != p[0] && p[1] != p[1]) {
						t.Fatalf("n=%d maximize=%v element %d: θ, m, v = %v %v %v, want %v %v %v", n, maximize, i, theta[i], m[i], v[i], wt[i], wm[i], wv[i])
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AdamUpdate with a short gradient did not panic")
		}
	}()
	AdamUpdate(make([]float32, 4), make([]float32, 3), make([]float32, 4), make([]float32, 4), 0.999, AdamConsts{})
}
