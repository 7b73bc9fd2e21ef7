package pairwise

import (
	"math"
	"testing"
)

// naive sums left to right.
func naive(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

func TestSumOrder(t *testing.T) {
	// 0.1 summed 200 times: NumPy's np.sum([0.1]*200) is 20.0
	// (pairwise), a left-to-right loop gives 20.000000000000014.
	x := make([]float64, 200)
	for i := range x {
		x[i] = 0.1
	}
	if got, want := Sum(x), 20.0; got != want {
		t.Errorf("Sum(0.1 × 200) = %.17g, want NumPy's %.17g", got, want)
	}
	if naive(x) == Sum(x) {
		t.Errorf("test does not distinguish pairwise from naive order")
	}
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{nil, 0},
		{[]float64{1, 2, 3}, 6},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 45},
	} {
		if got := Sum(tc.x); got != tc.want {
			t.Errorf("Sum(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if got := NaNMean([]float64{1, math.NaN(), 3}); got != 2 {
		t.Errorf("NaNMean = %v, want 2", got)
	}
	if !math.IsNaN(NaNMean([]float64{math.NaN()})) || !math.IsNaN(Mean(nil)) {
		t.Errorf("empty means should be NaN")
	}
}
