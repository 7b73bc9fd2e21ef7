package optim

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// benchParams returns 1M parameters in 4 tensors, with gradients.
func benchParams() []*tensor.Tensor {
	rng := rand.New(rand.NewPCG(1, 1))
	var ps []*tensor.Tensor
	for i := 0; i < 4; i++ {
		p := tensor.RandNormal(rng, 0, 1, 512, 512).SetRequiresGrad(true)
		p.SetGrad(tensor.RandNormal(rng, 0, 1, 512, 512))
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkSGDMomentumStep1M(b *testing.B) {
	ps := benchParams()
	o := NewSGD(Params(ps...), SGDOptions{LR: 1e-3, Momentum: 0.9, WeightDecay: 1e-4})
	b.SetBytes(4 << 20)
	for b.Loop() {
		o.Step()
	}
}

func BenchmarkAdamWStep1M(b *testing.B) {
	ps := benchParams()
	o := NewAdamW(Params(ps...), AdamWOptions{LR: 1e-3, WeightDecay: 1e-2})
	b.SetBytes(4 << 20)
	for b.Loop() {
		o.Step()
	}
}

func BenchmarkClipGradNorm1M(b *testing.B) {
	ps := benchParams()
	b.SetBytes(4 << 20)
	for b.Loop() {
		ClipGradNorm(ps, 1e9, 2)
	}
}
