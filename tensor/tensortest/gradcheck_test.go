package tensortest

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// The comparators must see a failure: NaN or Inf on one side only, or a
// length mismatch, is an infinite error, never a silent pass.
func TestComparatorsSeeNaN(t *testing.T) {
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
		{"NaN in reference only", []float32{1, 2, 3}, []float32{1, nan, 3}, true},
		{"NaN on both sides", []float32{1, nan, 3}, []float32{1, nan, 3}, false},
		{"same infinity", []float32{1, inf, 3}, []float32{1, inf, 3}, false},
		{"short", []float32{1, 2}, want, true},
	}
	for _, c := range cases {
		e := MaxRelErr(c.got, c.want, 1e-3)
		if got := math.IsInf(e, 1); got != c.bad {
			t.Errorf("MaxRelErr %s: %g, want infinite = %v", c.name, e, c.bad)
		}
		w64 := make([]float64, len(c.want))
		for i, v := range c.want {
			w64[i] = float64(v)
		}
		e = MaxScaledRelErr(c.got, w64, 0.01)
		if got := math.IsInf(e, 1); got != c.bad {
			t.Errorf("MaxScaledRelErr %s: %g, want infinite = %v", c.name, e, c.bad)
		}
		err := SliceClose(c.got, c.want, 1e-5, 1e-6)
		if (err != nil) != c.bad {
			t.Errorf("SliceClose %s: %v, want error = %v", c.name, err, c.bad)
		}
	}
	if e := MaxRelErr([]float32{1.01}, []float32{1}, 1e-3); math.Abs(e-0.01) > 1e-6 {
		t.Errorf("MaxRelErr 1.01 vs 1 = %g, want 0.01", e)
	}
}

// fakeTB records what CheckTensor reports.
type fakeTB struct{ errors []string }

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Logf(string, ...any) {}

// A NaN-filled, wrongly shaped or missing tensor fails CheckTensor at any
// tolerance.
func TestCheckTensorSeesFailure(t *testing.T) {
	want := tensor.New([]float32{1, 2, 3, 4}, 2, 2)
	nan := float32(math.NaN())
	cases := []struct {
		name string
		got  *tensor.Tensor
		bad  bool
	}{
		{"equal", tensor.New([]float32{1, 2, 3, 4}, 2, 2), false},
		{"close", tensor.New([]float32{1, 2, 3, 4 * (1 + 1e-7)}, 2, 2), false},
		{"NaN-filled", tensor.New([]float32{nan, nan, nan, nan}, 2, 2), true},
		{"transposed shape", tensor.New([]float32{1, 2, 3, 4}, 4, 1), true},
		{"nil", nil, true},
	}
	for _, c := range cases {
		f := &fakeTB{}
		CheckTensor(f, c.name, c.got, want, 1e-5)
		if failed := len(f.errors) > 0; failed != c.bad {
			t.Errorf("%s: errors %q, want failure = %v", c.name, f.errors, c.bad)
		}
	}
}
