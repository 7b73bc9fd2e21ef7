package sam

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// BenchmarkAttentionGlobal is one vit_b global block's attention core (64×64 grid, 12
// heads, relative positions): qkv (1, 64, 64, 2304) → (1, 64, 64, 768).
func BenchmarkAttentionGlobal(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	qkv := tensor.RandNormal(rng, 0, 1, 1, 64, 64, 3*768)
	rh := tensor.RandNormal(rng, 0, 1, 64, 64, 64)
	rw := tensor.RandNormal(rng, 0, 1, 64, 64, 64)
	for b.Loop() {
		attentionFused(qkv, 1, 64, 64, 768, 12, rh, rw)
	}
}

// BenchmarkAttentionWindowed is one vit_b windowed block's attention core (25 windows
// of 14×14, 12 heads, relative positions).
func BenchmarkAttentionWindowed(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	qkv := tensor.RandNormal(rng, 0, 1, 25, 14, 14, 3*768)
	rh := tensor.RandNormal(rng, 0, 1, 14, 14, 64)
	rw := tensor.RandNormal(rng, 0, 1, 14, 14, 64)
	for b.Loop() {
		attentionFused(qkv, 25, 14, 14, 768, 12, rh, rw)
	}
}
