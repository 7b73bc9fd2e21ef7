package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddOuter checks AddOuter bit for bit against the Go loop for len(a)
// 0..70 and len(b) around the 16- and 64-float blocks, with a NaN guard
// after dst (a write past the end would show), single- and multi-threaded
// (the last shapes span several grains, so they are split between threads).
func TestAddOuter(t *testing.T) {
	type shape struct{ na, nb int }
	var shapes []shape
	for _, nb := range []int{1, 3, 14, 15, 16, 17, 31, 33, 63, 64, 65, 79, 130, 300} {
		for na := 0; na <= 70; na++ {
			shapes = append(shapes, shape{na, nb})
		}
	}
	shapes = append(shapes, shape{2403, 14}, shape{517, 64}, shape{333, 113})
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(31, 32))
		for _, threads := range []int{1, 2} {
			saved := Threads()
			SetThreads(threads)
			for _, sh := range shapes {
				na, nb := sh.na, sh.nb
				a, b := randSlice(rng, na), randSlice(rng, nb)
				init := randSlice(rng, na*nb)
				want := append([]float32(nil), init...)
				for i := range a {
					for j := range b {
						want[i*nb+j] += a[i] + b[j]
					}
				}
				buf := append(append([]float32(nil), init...), nanSlice(17)...)
				AddOuter(buf[:na*nb], a, b)
				for i, w := range want {
					if math.Float32bits(buf[i]) != math.Float32bits(w) {
						t.Fatalf("threads %d, %d×%d: dst[%d] = %v, want %v", threads, na, nb, i, buf[i], w)
					}
				}
				for i, v := range buf[na*nb:] {
					if v == v {
						t.Fatalf("threads %d, %d×%d: wrote %v past dst at +%d", threads, na, nb, v, i)
					}
				}
			}
			SetThreads(saved)
		}
	})
}

func TestAddOuterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"short dst": func() { AddOuter(make([]float32, 5), make([]float32, 2), make([]float32, 3)) },
		"long dst":  func() { AddOuter(make([]float32, 7), make([]float32, 2), make([]float32, 3)) },
		"empty b":   func() { AddOuter(make([]float32, 1), make([]float32, 1), nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddOuter with %s did not panic", name)
				}
			}()
			f()
		}()
	}
	AddOuter(nil, nil, make([]float32, 3)) // empty: nothing to do
	AddOuter(nil, make([]float32, 3), nil)
}

// BenchmarkAddOuter adds a 64×64 outer sum to one 4096-long row of
// attention scores (SAM's relative position bias in its global-attention
// blocks), and a 64×14 one (the tail path); bytes are those of dst, read
// and written.
func BenchmarkAddOuter(b *testing.B) {
	for _, nb := range []int{64, 14} {
		b.Run(fmt.Sprintf("64x%d", nb), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			a, bb, dst := randSlice(rng, 64), randSlice(rng, nb), randSlice(rng, 64*nb)
			b.SetBytes(int64(8 * len(dst)))
			for b.Loop() {
				AddOuter(dst, a, bb)
			}
		})
	}
}
