package optim

import (
	"fmt"
	"math"

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
		for i := range g {
			g[i] *= coef
		}
	}
	return float64(total)
}

// pNorm returns the p-norm of x, accumulated in float64 and rounded to
// float32.
func pNorm(x []float32, p float64) float32 {
	switch {
	case math.IsInf(p, 1):
		m := float32(0)
		for _, v := range x {
			a := float32(math.Abs(float64(v)))
			if a > m || a != a {
				m = a
			}
			if m != m {
				return m
			}
		}
		return m
	case p == 1:
		s := 0.0
		for _, v := range x {
			s += math.Abs(float64(v))
		}
		return float32(s)
	case p == 2:
		s := 0.0
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		return float32(math.Sqrt(s))
	}
	s := 0.0
	for _, v := range x {
		s += math.Pow(math.Abs(float64(v)), p)
	}
	return float32(math.Pow(s, 1/p))
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
