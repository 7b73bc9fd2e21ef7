package tensor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// Benchmarks of the operations the GCN training step spends time in
// outside the convolutions, at its sizes (batch 16, 7 classes, 128×128).

func BenchmarkCrossEntropy(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := tensor.RandNormal(rng, 0, 1, 16, 7, 128, 128).SetRequiresGrad(true)
	target := tensor.Zeros(16, 128, 128)
	for i := range target.Data() {
		target.Data()[i] = float32(rng.IntN(7))
	}
	opt := tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(255)}
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			tensor.CrossEntropy(logits.Detach(), target, opt)
		}
	})
	b.Run("fwdbwd", func(b *testing.B) {
		for b.Loop() {
			tensor.CrossEntropy(logits, target, opt).Backward()
			logits.ZeroGrad()
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.RandNormal(rng, 0, 1, 16, 32, 32, 32).SetRequiresGrad(true)
	y := tensor.RandNormal(rng, 0, 1, 16, 32, 32, 32).SetRequiresGrad(true)
	for b.Loop() {
		tensor.SumAll(tensor.Add(x, y)).Backward()
		x.ZeroGrad()
		y.ZeroGrad()
	}
}
