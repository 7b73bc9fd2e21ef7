package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// reduceLengths covers empty input, every tail length around the 16- and
// 8-float blocks, and longer rows.
func reduceLengths() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 255, 256, 257, 1000, 4096+3)
}

func reduceInput(rng *rand.Rand, n int, off, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = off + scale*(2*rng.Float32()-1)
	}
	return s
}

// closeF64 reports whether got is within a few float64 roundings of want,
// relative to the magnitude of the summed terms.
func closeF64(got, want, mag float64) bool {
	return math.Abs(got-want) <= 1e-13*mag+1e-300
}

func TestSumSqAndSumDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range reduceLengths() {
		for _, off := range []float32{0, 100} {
			x := reduceInput(rng, n+3, off, 1)[3:] // unaligned start
			h := reduceInput(rng, n+1, -off, 2)
			var s, ss, d, mag, magD float64
			for i, v := range x {
				s += float64(v)
				ss += float64(v) * float64(v)
				d += float64(v) * float64(h[i])
				mag += math.Abs(float64(v))
				magD += math.Abs(float64(v) * float64(h[i]))
			}
			gs, gss := SumSq(x)
			if !closeF64(gs, s, mag) || !closeF64(gss, ss, ss) {
				t.Fatalf("SumSq n=%d off=%v: (%v, %v), want (%v, %v)", n, off, gs, gss, s, ss)
			}
			gs, gd := SumDot(x, h)
			if !closeF64(gs, s, mag) || !closeF64(gd, d, magD) {
				t.Fatalf("SumDot n=%d off=%v: (%v, %v), want (%v, %v)", n, off, gs, gd, s, d)
			}
		}
	}
}

func TestNormAffineAndNormGradExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range reduceLengths() {
		x := reduceInput(rng, n+1, 0.5, 3)[1:]
		g := reduceInput(rng, n+2, 0, 1)[2:]
		mean, invstd := rng.Float64()-0.5, 0.5+rng.Float64()
		scale, shift := 2*rng.Float32()-1, rng.Float32()
		y := make([]float32, n)
		NormAffine(y, x, mean, invstd, scale, shift)
		for i, v := range x {
			if want := float32((float64(v)-mean)*invstd)*scale + shift; y[i] != want {
				t.Fatalf("NormAffine n=%d: y[%d] = %v, want %v", n, i, y[i], want)
			}
		}
		k, a, c := rng.Float64()*2, rng.Float64()-0.5, rng.Float64()-0.5
		dx := make([]float32, n)
		NormGrad(dx, g, x, k, a, c)
		for i, v := range g {
			if want := float32(k*float64(v) - a*float64(x[i]) + c); dx[i] != want {
				t.Fatalf("NormGrad n=%d: dx[%d] = %v, want %v", n, i, dx[i], want)
			}
		}
	}
}

func TestMaxAccumExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	special := []float32{0, negZero, nan, float32(math.Inf(1)), float32(math.Inf(-1)), 1, -1}
	for _, n := range reduceLengths() {
		m := reduceInput(rng, n, 0, 1)
		x := reduceInput(rng, n+1, 0, 1)[1:]
		for i := range m {
			if rng.IntN(4) == 0 {
				m[i] = special[rng.IntN(len(special))]
			}
			if rng.IntN(4) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
		want := append([]float32(nil), m...)
		for i, v := range x {
			if v > want[i] {
				want[i] = v
			}
		}
		MaxAccum(m, x)
		for i := range m {
			if math.Float32bits(m[i]) != math.Float32bits(want[i]) {
				t.Fatalf("MaxAccum n=%d: m[%d] = %v, want %v (x %v)", n, i, m[i], want[i], x[i])
			}
		}
	}
}

func TestReducePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"SumDot":     func() { SumDot(make([]float32, 4), make([]float32, 3)) },
		"NormAffine": func() { NormAffine(make([]float32, 4), make([]float32, 3), 0, 1, 1, 0) },
		"NormGrad":   func() { NormGrad(make([]float32, 4), make([]float32, 4), make([]float32, 3), 1, 0, 0) },
		"MaxAccum":   func() { MaxAccum(make([]float32, 4), make([]float32, 3)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a short input did not panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkSumSq(b *testing.B) {
	x := reduceInput(rand.New(rand.NewPCG(1, 1)), 1<<16, 0, 1)
	b.Run("kernel", func(b *testing.B) {
		b.SetBytes(4 << 16)
		for b.Loop() {
			SumSq(x)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.SetBytes(4 << 16)
		for b.Loop() {
			sumSqGo(x)
		}
	})
}

func BenchmarkNormAffine(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := reduceInput(rng, 1<<16, 0, 1), make([]float32, 1<<16)
	b.SetBytes(8 << 16)
	for b.Loop() {
		NormAffine(y, x, 0.1, 1.2, 0.9, 0.1)
	}
}
