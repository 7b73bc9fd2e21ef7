package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestPermuteTiled checks the tiled path of Permute against an index-by-index
// reference on shapes that are not multiples of the tile, with unit axes.
func TestPermuteTiled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		shape []int
		perm  []int
	}{
		{[]int{67, 45}, []int{1, 0}},
		{[]int{2, 33, 70}, []int{0, 2, 1}},
		{[]int{3, 1, 40, 50}, []int{0, 3, 1, 2}},
		{[]int{2, 5, 7, 3, 40}, []int{4, 0, 2, 1, 3}},
		{[]int{1, 256, 64, 64}, []int{0, 2, 3, 1}},
		{[]int{4, 9, 9, 3, 16}, []int{3, 0, 4, 1, 2}},
	}
	for _, c := range cases {
		x := RandNormal(rng, 0, 1, c.shape...)
		got := Permute(x, c.perm...)
		st := contiguousStrides(c.shape)
		gs := got.Shape()
		idx := make([]int, len(gs))
		for k, v := range got.Data() {
			r := k
			for d := len(gs) - 1; d >= 0; d-- {
				idx[d] = r % gs[d]
				r /= gs[d]
			}
			off := 0
			for d, a := range c.perm {
				off += idx[d] * st[a]
			}
			if v != x.Data()[off] {
				t.Fatalf("Permute%v of %v: element %d is %v, want %v", c.perm, c.shape, k, v, x.Data()[off])
			}
		}
	}
}

// BenchmarkPermuteTranspose is SAM's (1, 256, 64·64) → (1, 4096, 256) token transpose.
func BenchmarkPermuteTranspose(b *testing.B) {
	x := RandNormal(rand.New(rand.NewPCG(1, 2)), 0, 1, 1, 256, 4096)
	for i := 0; i < b.N; i++ {
		Permute(x, 0, 2, 1)
	}
}
