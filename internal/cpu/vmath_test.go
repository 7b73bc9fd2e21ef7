package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulps is the distance in float32 units in the last place between got and
// the float64 value want, treating both NaN as equal.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if math.IsNaN(want) || w != w {
		if got != got {
			return 0
		}
		return math.Inf(1)
	}
	if math.IsInf(float64(w), 0) {
		if got == w {
			return 0
		}
		return math.Inf(1)
	}
	ulp := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if w == 0 || ulp == 0 {
		ulp = float64(math.SmallestNonzeroFloat32)
	}
	u := math.Abs(float64(got)-want) / ulp
	if math.IsNaN(u) {
		return math.Inf(1) // a NaN result against a number fails every bound
	}
	return u
}

func vmathInputs() []float32 {
	rng := rand.New(rand.NewPCG(13, 14))
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 0.625, -0.625, 0.84375, 1.25, 2.857, 4, -4,
		1e-8, -1e-8, 1e-30, 88, -87, 88.7, -103, 200, -200, 9.2, -9.2,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for i := 0; i < 20000; i++ {
		xs = append(xs, float32(rng.NormFloat64()*3))
		xs = append(xs, float32((rng.Float64()*2-1)*100))
		xs = append(xs, float32(math.Exp(rng.Float64()*40-30)))
	}
	return xs
}

func TestVectorMath(t *testing.T) {
	forEachKernel(t, testVectorMath)
}

func testVectorMath(t *testing.T) {
	xs := vmathInputs()
	for _, tc := range []struct {
		name   string
		f      func(dst, src []float32)
		ref    func(x float64) float64
		maxUlp float64
		absTol float64 // also accept this absolute error (for results near 0 from cancellation)
	}{
		{"Exp", Exp, math.Exp, 3, 0},
		{"Sigmoid", Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, 4, 0},
		{"SiLU", SiLU, func(x float64) float64 { return x / (1 + math.Exp(-x)) }, 5, 1e-37},
		{"Tanh", Tanh, math.Tanh, 4, 0},
		{"Erf", Erf, math.Erf, 4, 0},
		{"GELU", GELU, geluRef, 3, 0},
		{"GELUTanh", GELUTanh, func(x float64) float64 {
			return x / (1 + math.Exp(-2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}, 16, 1e-37},
	} {
		dst := make([]float32, len(xs))
		tc.f(dst, xs)
		worst := 0.0
		for i, x := range xs {
			want := tc.ref(float64(x))
			u := ulps(dst[i], want)
			if u > tc.maxUlp && math.Abs(float64(dst[i])-want) > tc.absTol {
				t.Errorf("%s(%g) = %g, want %g (%.1f ulp)", tc.name, x, dst[i], want, u)
				break
			}
			if u > worst {
				worst = u
			}
		}
		t.Logf("%s: worst %.1f ulp", tc.name, worst)
	}
}

// geluRef is x/2·(1 + erf(x/√2)) in float64, written with erfc so that it
// keeps its relative accuracy for x ≪ 0.
func geluRef(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }

// TestGELUSweep checks GELU against float64 on every 509th float32 of
// magnitude below 16 (past which GELU(x) rounds to x or to −0), both signs,
// and on the special values: within 3 ulp, subnormal results included.
func TestGELUSweep(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		var xs []float32
		for b := uint32(0); b < math.Float32bits(16); b += 509 {
			xs = append(xs, math.Float32frombits(b), -math.Float32frombits(b))
		}
		for _, x := range []float64{16, 20, 1e30, math.MaxFloat32, math.Inf(1), math.NaN()} {
			xs = append(xs, float32(x), float32(-x))
		}
		dst := make([]float32, len(xs))
		GELU(dst, xs)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			want := geluRef(float64(x))
			u := ulps(dst[i], want)
			if w := float32(want); u > 3 || (w == 0 && math.Signbit(float64(w)) != math.Signbit(float64(dst[i]))) {
				t.Fatalf("GELU(%g) = %g, want %g (%.2f ulp)", x, dst[i], want, u)
			}
			if u > worst {
				worst, at = u, x
			}
		}
		t.Logf("%d values: worst %.2f ulp at x = %g", len(xs), worst, at)
	})
}

// TestGELURational checks the fit behind GELU: geluU(z) against
// e^(z²/2)·erfc(z/√2)/2 on [0, 15] (the fit's bound is 6.3e-9).
func TestGELURational(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 150000; i++ {
		z := float64(i) * 1e-4
		want := math.Exp(z*z/2) * math.Erfc(z/math.Sqrt2) / 2
		worst = max(worst, math.Abs(geluU(z)/want-1))
	}
	if worst > 6.4e-9 {
		t.Errorf("geluU: relative error %.3g, want ≤ 6.4e-9", worst)
	}
	t.Logf("geluU: worst relative error %.3g", worst)
}

func TestSoftmax(t *testing.T) {
	forEachKernel(t, testSoftmax)
}

func testSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, shape := range [][2]int{{1, 1}, {3, 7}, {5, 100}, {2, 1000}} {
		rows, cols := shape[0], shape[1]
		src := randSlice(rng, rows*cols)
		for i := range src {
			src[i] *= 10
		}
		dst := make([]float32, len(src))
		Softmax(dst, src, rows, cols)
		for r := 0; r < rows; r++ {
			m := math.Inf(-1)
			for _, x := range src[r*cols : (r+1)*cols] {
				m = math.Max(m, float64(x))
			}
			var sum float64
			for _, x := range src[r*cols : (r+1)*cols] {
				sum += math.Exp(float64(x) - m)
			}
			for c := 0; c < cols; c++ {
				want := math.Exp(float64(src[r*cols+c])-m) / sum
				if u := ulps(dst[r*cols+c], want); u > 8 && math.Abs(float64(dst[r*cols+c])-want) > 1e-9 {
					t.Fatalf("%d×%d: [%d,%d] = %g, want %g", rows, cols, r, c, dst[r*cols+c], want)
				}
			}
		}
	}
}

// BenchmarkVectorMath runs each function over 1M floats drawn from
// N(0, 3²); GELU/N01 draws them from N(0, 1), like a transformer's
// activations (fewer elements in the tails).
func BenchmarkVectorMath(b *testing.B) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(1, 1))
	src, unit := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 3)
	}
	for i := range unit {
		unit[i] = float32(rng.NormFloat64())
	}
	dst := make([]float32, n)
	for _, f := range []struct {
		name string
		f    func(dst, src []float32)
		src  []float32
	}{{"Exp", Exp, src}, {"Sigmoid", Sigmoid, src}, {"Tanh", Tanh, src}, {"Erf", Erf, src},
		{"GELU", GELU, src}, {"GELU/N01", GELU, unit}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(f.src)))
			for i := 0; i < b.N; i++ {
				f.f(dst, f.src)
			}
		})
	}
}
