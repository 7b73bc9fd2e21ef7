package functional

import (
	"math"
	"testing"
)

func TestNotPositive(t *testing.T) {
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-45, -1e-45, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32} {
		want := uint32(0)
		if !(v > 0) {
			want = ^uint32(0)
		}
		if got := notPositive(v); got != want {
			t.Errorf("%v: %x want %x", v, got, want)
		}
	}
}
