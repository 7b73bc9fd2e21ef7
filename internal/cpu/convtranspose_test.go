package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvTransposeTiling checks the stride = kernel fast path against the general
// transposed convolution (Conv2dBackwardData plus bias), writing into NaN-filled outputs.
func TestConvTransposeTiling(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 2*rng.Float32() - 1
		}
		return s
	}
	for _, p := range []ConvTransposeParams{
		{N: 1, C: 8, H: 4, W: 4, Cout: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{N: 2, C: 5, H: 3, W: 7, Cout: 6, KH: 3, KW: 2, StrideH: 3, StrideW: 2},
		{N: 3, C: 1, H: 1, W: 1, Cout: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
		{N: 1, C: 64, H: 16, W: 16, Cout: 32, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	} {
		if !tiling(p) {
			t.Fatalf("%+v should take the tiling path", p)
		}
		for _, withBias := range []bool{false, true} {
			x := fill(p.N * p.C * p.H * p.W)
			w := fill(p.C * p.Cout * p.KH * p.KW)
			var bias []float32
			if withBias {
				bias = fill(p.Cout)
			}
			oh, ow := p.OutH(), p.OutW()
			got := make([]float32, p.N*p.Cout*oh*ow)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			ConvTranspose2dForward(p, x, w, bias, got)
			want := make([]float32, len(got))
			Conv2dBackwardData(p.Conv(), x, w, want)
			for n := 0; n < p.N; n++ {
				for o := 0; o < p.Cout && bias != nil; o++ {
					for i := 0; i < oh*ow; i++ {
						want[(n*p.Cout+o)*oh*ow+i] += bias[o]
					}
				}
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
					t.Fatalf("%+v bias %v: element %d = %v, want %v", p, withBias, i, got[i], want[i])
				}
			}
		}
	}
}
