package golden

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// fakeTB records what Check reports.
type fakeTB struct{ errors, logs []string }

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

// The comparator must see a failure: NaN or Inf on one side only, or a
// length mismatch, is an infinite error and fails Check at any tolerance.
func TestCheckSeesNaN(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	want := []float32{1, 2, 3}
	cases := []struct {
		name string
		got  []float32
		want []float32
		bad  bool
	}{
		{"equal", []float32{1, 2, 3}, want, false},
		{"NaN output", []float32{nan, nan, nan}, want, true},
		{"one NaN", []float32{1, nan, 3}, want, true},
		{"Inf output", []float32{1, inf, 3}, want, true},
		{"-Inf output", []float32{1, -inf, 3}, want, true},
		{"NaN in reference only", []float32{1, 2, 3}, []float32{1, nan, 3}, true},
		{"Inf in reference only", []float32{1, 2, 3}, []float32{1, inf, 3}, true},
		{"opposite infinities", []float32{1, -inf, 3}, []float32{1, inf, 3}, true},
		{"NaN on both sides", []float32{1, nan, 3}, []float32{1, nan, 3}, false},
		{"same infinity", []float32{1, inf, 3}, []float32{1, inf, 3}, false},
		{"short", []float32{1, 2}, want, true},
		{"long", []float32{1, 2, 3, 4}, want, true},
		{"empty output", nil, want, true},
	}
	for _, c := range cases {
		e := Err(c.got, c.want)
		if got := math.IsInf(e, 1); got != c.bad {
			t.Errorf("Err %s: %g, want infinite = %v", c.name, e, c.bad)
		}
		w64 := make([]float64, len(c.want))
		for i, v := range c.want {
			w64[i] = float64(v)
		}
		if e64 := Err(c.got, w64); e64 != e {
			t.Errorf("Err %s against float64: %g, against float32 %g", c.name, e64, e)
		}
		for _, tol := range []float64{0, 1e-5, 1, math.MaxFloat64} {
			f := &fakeTB{}
			Check(f, c.name, c.got, c.want, tol)
			if failed := len(f.errors) > 0; failed != c.bad {
				t.Errorf("Check %s tol %g: errors %q, want failure = %v", c.name, tol, f.errors, c.bad)
			}
		}
	}
	// A NaN tolerance fails everything but an exact match.
	f := &fakeTB{}
	Check(f, "nan tol", []float32{1.5}, []float32{1}, math.NaN())
	if len(f.errors) == 0 {
		t.Error("Check with a NaN tolerance passed a difference")
	}
}

// Inf in the reference must not become the scale that hides every other
// element's error.
func TestScaleIgnoresInfinities(t *testing.T) {
	inf := math.Inf(1)
	e := Err([]float32{float32(inf), 2}, []float64{inf, 1})
	if math.Abs(e-1) > 1e-12 {
		t.Errorf("Err = %g, want 1 (the finite element's relative error)", e)
	}
}

func TestMeasure(t *testing.T) {
	cases := []struct {
		got, want []float64
		err       float64
		at        int
	}{
		{[]float64{1.01}, []float64{1}, 0.01, 0},
		// The small element is judged against 1 % of 100 = 1.
		{[]float64{100, 0.001 + 1e-3}, []float64{100, 0.001}, 1e-3, 1},
		// Above the floor, each element against itself.
		{[]float64{100, 4.02}, []float64{100, 4}, 0.005, 1},
		{[]float64{-2, 3}, []float64{-2, 3}, 0, -1},
		// An all-zero reference has no scale.
		{[]float64{0, 1e-300}, []float64{0, 0}, 1e-300 / math.SmallestNonzeroFloat64, 1},
	}
	for _, c := range cases {
		e, at := Worst(c.got, c.want)
		if math.Abs(e-c.err) > 1e-9*math.Max(1, c.err) || at != c.at {
			t.Errorf("Worst(%v, %v) = %g at %d, want %g at %d", c.got, c.want, e, at, c.err, c.at)
		}
	}
}

func TestCheckMessageAndReport(t *testing.T) {
	f := &fakeTB{}
	e := Check(f, "conv fwd", []float32{1, 2.5}, []float32{1, 2}, 1e-5)
	if e != 0.25 || len(f.errors) != 1 || !strings.Contains(f.errors[0], "conv fwd") ||
		!strings.Contains(f.errors[0], "element 1") || !strings.Contains(f.errors[0], Measure) {
		t.Errorf("Check = %g, errors %q", e, f.errors)
	}
	t.Setenv(ReportEnv, "1")
	f = &fakeTB{}
	Check(f, "op/fwd", []float32{1}, []float32{1}, 1e-5)
	if len(f.logs) != 1 || f.logs[0] != "golden\top/fwd\t0.00e+00\t1e-05" {
		t.Errorf("report lines %q", f.logs)
	}
	t.Setenv(ReportEnv, "0")
	f = &fakeTB{}
	Check(f, "op/fwd", []float32{1}, []float32{1}, 1e-5)
	if len(f.logs) != 0 {
		t.Errorf("FOVEA_GOLDEN_REPORT=0 logged %q", f.logs)
	}
}
