package cpu

import (
	"fmt"
	"math"
)

// AdamConsts are the per-step scalars of AdamUpdate, already rounded as the
// optimizer rounds them.
type AdamConsts struct {
	Beta1, OneMinusBeta2, Bc2Sqrt, Eps, NegStep, Decay float32
	OneMinusBeta1                                      float64
	Maximize                                           bool
}

// AdamUpdate runs one Adam/AdamW step (without AMSGrad and without L2
// weight decay folded into the gradient) over θ with gradient g and moments
// m, v, element by element, in PyTorch 1.13's order of operations:
//
//	d = −g if Maximize, else g
//	θ ← θ·Decay                                          (float32; 1 for Adam)
//	m ← float32(float64(m·Beta1) + OneMinusBeta1·float64(d))
//	v ← float32(float64(v·β₂) + float64(OneMinusBeta2·d)·float64(d))
//	θ ← θ + NegStep·m / (float32(√float64(v))/Bc2Sqrt + Eps)   (float32)
//
// with β₂ = Beta2 (passed separately so that the struct holds what the
// loop needs). g, m and v must be as long as θ.
func AdamUpdate(theta, g, m, v []float32, beta2 float32, c AdamConsts) {
	n := len(theta)
	if len(g) != n || len(m) != n || len(v) != n {
		panic(fmt.Sprintf("cpu.AdamUpdate: θ has %d values, g %d, m %d, v %d", n, len(g), len(m), len(v)))
	}
	done := n &^ 7
	if useReduceAsm && done > 0 {
		k := adamAsmConsts{c.Beta1, beta2, c.OneMinusBeta2, c.Bc2Sqrt, c.Eps, c.NegStep, c.Decay, 0, c.OneMinusBeta1}
		if c.Maximize {
			k.sign = 1 << 31
		}
		adamAsm(&theta[0], &g[0], &m[0], &v[0], done, &k)
	} else {
		done = 0
	}
	for i := done; i < n; i++ {
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

// adamAsmConsts is AdamConsts as adam_amd64.s reads it (offsets in the
// comments).
type adamAsmConsts struct {
	beta1, beta2, oneMB2, bc2Sqrt, eps, negStep, decay float32 // 0 … 24
	sign                                               uint32  // 28: XORed into g
	oneMB1                                             float64 // 32
}
