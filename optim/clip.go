package optim

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"

	"github.com/fovea-ml/fovea/tensor"
)

// ClipGradNorm rescales the gradients of params so that their joint p-norm
// (as if all gradients were concatenated into one vector) is at most maxNorm,
// and returns that norm as it was before clipping
// (torch.nn.utils.clip_grad_norm_). normType is p ≥ 1 or math.Inf(1) for the
// largest absolute value; 2 is the usual choice. The gradients are multiplied
// in place by min(1, maxNorm/(total + 1e-6)). Parameters without a gradient
// are skipped; with none at all it returns 0. A NaN or infinite norm is
// returned, not reported: check it if the loss may diverge.
func ClipGradNorm(params []*tensor.Tensor, maxNorm, normType float64) float64 {
	if !(normType >= 1) {
		panic(fmt.Sprintf("optim.ClipGradNorm: normType %v, want p ≥ 1 or +Inf", normType))
	}
	var grads [][]float32
	for _, p := range params {
		if g := gradOf("optim.ClipGradNorm", p); g != nil {
			grads = append(grads, g)
		}
	}
	if len(grads) == 0 {
		return 0
	}
	// Per-tensor norms rounded to float32, then the norm of those, as PyTorch
	// computes torch.norm(torch.stack([torch.norm(g, p) for g in grads]), p).
	norms := make([]float32, len(grads))
	for i, g := range grads {
		norms[i] = pNorm(g, normType)
	}
	total := pNorm(norms, normType)
	coef := float32(maxNorm) / (total + float32(1e-6))
	if coef > 1 {
		coef = 1
	}
	for _, g := range grads {
		cpu.ParallelGrain(len(g), grain, func(lo, hi int) {
			for i := range g[lo:hi] {
				g[lo+i] *= coef
			}
		})
	}
	return float64(total)
}

// pNorm returns the p-norm of x, accumulated in float64 and rounded to
// float32. Blocks of normBlock elements are reduced in parallel and combined
// in order, so the result does not depend on the number of threads.
func pNorm(x []float32, p float64) float32 {
	nb := (len(x) + normBlock - 1) / normBlock
	parts := make([]float64, nb)
	cpu.Parallel(nb, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			parts[b] = normPart(x[b*normBlock:min(len(x), (b+1)*normBlock)], p)
		}
	})
	var s float64
	if math.IsInf(p, 1) {
		for _, v := range parts {
			if v > s || v != v {
				s = v
			}
			if s != s {
				break
			}
		}
		return float32(s)
	}
	for _, v := range parts {
		s += v
	}
	switch p {
	case 1:
		return float32(s)
	case 2:
		return float32(math.Sqrt(s))
	}
	return float32(math.Pow(s, 1/p))
}

const normBlock = 1 << 16

// normPart returns max |x| (p = +Inf) or Σ|x|^p for one block, with four
// accumulators.
func normPart(x []float32, p float64) float64 {
	if math.IsInf(p, 1) {
		m := 0.0
		for _, v := range x {
			a := math.Abs(float64(v))
			if a > m || a != a {
				m = a
				if m != m {
					return m
				}
			}
		}
		return m
	}
	var s0, s1, s2, s3 float64
	i := 0
	switch p {
	case 1:
		for ; i+4 <= len(x); i += 4 {
			s0 += math.Abs(float64(x[i]))
			s1 += math.Abs(float64(x[i+1]))
			s2 += math.Abs(float64(x[i+2]))
			s3 += math.Abs(float64(x[i+3]))
		}
		for ; i < len(x); i++ {
			s0 += math.Abs(float64(x[i]))
		}
	case 2:
		for ; i+4 <= len(x); i += 4 {
			a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
			s0 += a * a
			s1 += b * b
			s2 += c * c
			s3 += d * d
		}
		for ; i < len(x); i++ {
			a := float64(x[i])
			s0 += a * a
		}
	default:
		for _, v := range x {
			s0 += math.Pow(math.Abs(float64(v)), p)
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// ClipGradValue clamps every gradient element of params to [−clip, clip] in
// place (torch.nn.utils.clip_grad_value_). Parameters without a gradient are
// skipped. It panics if clip is negative.
func ClipGradValue(params []*tensor.Tensor, clip float64) {
	if !(clip >= 0) {
		panic(fmt.Sprintf("optim.ClipGradValue: clip %v, want ≥ 0", clip))
	}
	c := float32(clip)
	for _, p := range params {
		g := gradOf("optim.ClipGradValue", p)
		for i, v := range g {
			if v > c {
				g[i] = c
			} else if v < -c {
				g[i] = -c
			}
		}
	}
}
