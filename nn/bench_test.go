package nn

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// Benchmarks of the fused layers, forward and backward, on the sizes of
// scripts/golden_nn.py --bench (which times PyTorch on the same shapes).

func benchFwdBwd(b *testing.B, m Module, shape ...int) {
	rng := newRng(61)
	x := tensor.RandNormal(rng, 0, 1, shape...).SetRequiresGrad(true)
	y := m.Forward(x)
	g := tensor.RandNormal(rng, 0, 1, y.Shape()...)
	b.ResetTimer()
	for range b.N {
		y := m.Forward(x)
		y.BackwardWith(g)
		x.ZeroGrad()
		for _, p := range Parameters(m) {
			p.ZeroGrad()
		}
	}
}

func BenchmarkBatchNorm2d(b *testing.B) { benchFwdBwd(b, NewBatchNorm2d(64), 8, 64, 64, 64) }
func BenchmarkLayerNorm(b *testing.B)   { benchFwdBwd(b, NewLayerNorm(256), 8, 1024, 256) }
func BenchmarkLayerNorm2d(b *testing.B) { benchFwdBwd(b, NewLayerNorm2d(64), 8, 64, 64, 64) }
func BenchmarkGroupNorm(b *testing.B)   { benchFwdBwd(b, NewGroupNorm(32, 64), 8, 64, 64, 64) }
func BenchmarkLinear(b *testing.B) {
	benchFwdBwd(b, NewLinear(newRng(1), 256, 1024, true), 8, 1024, 256)
}
