package cpu

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackPaths checks every packing routine of each kernel path against
// the pure-Go one on many shapes, including odd tails.
func TestPackPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := randSlice(rng, 6000)
	type res struct{ rows, tr []float32 }
	run := func() (out []res) {
		for _, stride := range []int{4, 6, 12, 16, 17, 32, 48} {
			for _, cols := range []int{0, 1, 5, 12, 16, 17, 31, 32, 40, 48} {
				if cols > stride {
					continue
				}
				for _, kc := range []int{1, 3, 16, 17, 40} {
					offs := make([]int32, kc)
					for i := range offs {
						offs[i] = int32(rng.IntN(3000))
					}
					rows := make([]float32, kc*stride)
					for i := range rows {
						rows[i] = 99
					}
					packRows(rows, src, 7, offs, cols, stride)
					tr := make([]float32, kc*stride)
					for i := range tr {
						tr[i] = 99
					}
					packTranspose(tr, src, 11, 97, cols, kc, stride)
					out = append(out, res{rows, tr})
				}
			}
		}
		return out
	}
	saved := active
	defer func() { active = saved }()
	active = genericKernel
	rng = rand.New(rand.NewPCG(7, 8))
	want := run()
	for _, name := range Kernels() {
		if err := UseKernel(name); err != nil {
			t.Fatal(err)
		}
		rng = rand.New(rand.NewPCG(7, 8))
		got := run()
		for i := range want {
			if !slices.Equal(got[i].rows, want[i].rows) || !slices.Equal(got[i].tr, want[i].tr) {
				t.Fatalf("%s: case %d differs from the pure-Go packing", name, i)
			}
		}
	}
}
