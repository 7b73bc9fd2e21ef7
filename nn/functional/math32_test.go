package functional

import (
	"math"
	"testing"
)

// ulps returns the distance between got and the float64 value want in units
// of the last place of want rounded to float32.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if got == w || math.IsNaN(float64(got)) && math.IsNaN(want) {
		return 0
	}
	ulp := math.Float32frombits(math.Float32bits(abs32(w))+1) - abs32(w)
	if ulp == 0 || math.IsInf(float64(ulp), 0) {
		return math.Inf(1)
	}
	return math.Abs(float64(got)-want) / float64(ulp)
}

func TestMath32(t *testing.T) {
	cases := []struct {
		name    string
		f       func(float32) float32
		ref     func(float64) float64
		lo, hi  float64
		maxUlps float64
	}{
		{"expf", expf, math.Exp, -100, 88.7, 2},
		{"sigmoidf", sigmoidf, sigmoid64, -100, 100, 3},
		{"tanhf", tanhf, math.Tanh, -12, 12, 3},
		{"normCDF", normCDF, func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }, -13, 8, 12},
		{"normCDFExp", func(x float32) float32 { c, _ := normCDFExp(x); return c }, func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }, -13, 8, 12},
		{"normPDF", normPDF, func(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }, -13, 13, 4},
	}
	for _, c := range cases {
		worst, at := 0.0, 0.0
		const n = 200001
		for i := 0; i < n; i++ {
			x := float32(c.lo + (c.hi-c.lo)*float64(i)/(n-1))
			if e := ulps(c.f(x), c.ref(float64(x))); e > worst {
				worst, at = e, float64(x)
			}
		}
		t.Logf("%-8s max error %.2f ulp at x = %g", c.name, worst, at)
		if worst > c.maxUlps {
			t.Errorf("%s: error %.2f ulp at x = %g, want at most %g", c.name, worst, at, c.maxUlps)
		}
	}
	// The GELU derivative crosses zero near −0.75, where ulps mean nothing:
	// bound its absolute error instead.
	var worst float64
	for i := 0; i <= 200000; i++ {
		x := float32(-8 + 16*float64(i)/200000)
		z := float64(x)
		want := 0.5*math.Erfc(-z/math.Sqrt2) + z*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi)
		worst = max(worst, math.Abs(float64(geluGrad(x))-want))
	}
	t.Logf("geluGrad max absolute error %.3g", worst)
	if worst > 3e-7 {
		t.Errorf("geluGrad: absolute error %.3g > 3e-7", worst)
	}
	for _, f := range []func(float32) float32{expf, sigmoidf, tanhf, normCDF, geluGrad} {
		if v := f(float32(math.NaN())); v == v {
			t.Errorf("NaN gave %v", v)
		}
	}
	if expf(float32(math.Inf(1))) != float32(math.Inf(1)) || expf(float32(math.Inf(-1))) != 0 {
		t.Error("expf(±Inf) wrong")
	}
}
