package nn

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// sampleMoments returns the mean, standard deviation, minimum and maximum of t.
func sampleMoments(t *tensor.Tensor) (mean, std, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range t.Data() {
		mean += float64(v)
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	mean /= float64(t.Size())
	for _, v := range t.Data() {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(t.Size())), lo, hi
}

func TestInitDistributions(t *testing.T) {
	rng := newRng(51)
	shape := []int{256, 64, 3, 3} // fan_in 576, fan_out 2304
	fanIn, fanOut := 576.0, 2304.0
	u := func(b float64) (float64, float64, float64) { return b / math.Sqrt(3), -b, b }
	type want struct {
		std, lo, hi float64 // lo, hi: bounds (±Inf for normal)
	}
	inf := math.Inf(1)
	cases := []struct {
		name string
		fill func(*tensor.Tensor)
		want want
	}{
		{"kaiming_uniform default", func(x *tensor.Tensor) { KaimingUniform(rng, x, math.Sqrt(5), FanIn, "leaky_relu") },
			func() want { s, l, h := u(1 / math.Sqrt(fanIn)); return want{s, l, h} }()},
		{"kaiming_uniform relu fan_out", func(x *tensor.Tensor) { KaimingUniform(rng, x, 0, FanOut, "relu") },
			func() want { s, l, h := u(math.Sqrt2 * math.Sqrt(3/fanOut)); return want{s, l, h} }()},
		{"kaiming_normal relu", func(x *tensor.Tensor) { KaimingNormal(rng, x, 0, FanIn, "relu") },
			want{math.Sqrt(2 / fanIn), -inf, inf}},
		{"xavier_uniform", func(x *tensor.Tensor) { XavierUniform(rng, x, 1) },
			func() want { s, l, h := u(math.Sqrt(6 / (fanIn + fanOut))); return want{s, l, h} }()},
		{"xavier_normal tanh gain", func(x *tensor.Tensor) { XavierNormal(rng, x, CalculateGain("tanh", 0)) },
			want{5.0 / 3 * math.Sqrt(2/(fanIn+fanOut)), -inf, inf}},
		// N(0, 1) truncated to [−2, 2] has std 0.8796.
		{"trunc_normal", func(x *tensor.Tensor) { TruncNormal(rng, x, 0, 1, -2, 2) }, want{0.87962566, -2, 2}},
		{"trunc_normal vit", func(x *tensor.Tensor) { TruncNormal(rng, x, 0, 0.02, -2, 2) }, want{0.02, -2, 2}},
		{"normal", func(x *tensor.Tensor) { Normal(rng, x, 0, 0.5) }, want{0.5, -inf, inf}},
	}
	for _, c := range cases {
		x := tensor.Zeros(shape...)
		c.fill(x)
		mean, std, lo, hi := sampleMoments(x)
		n := float64(x.Size())
		if math.Abs(mean) > 5*c.want.std/math.Sqrt(n) {
			t.Errorf("%s: mean %.3g, want 0 ± %.3g", c.name, mean, 5*c.want.std/math.Sqrt(n))
		}
		if math.Abs(std/c.want.std-1) > 0.01 {
			t.Errorf("%s: std %.5g, want %.5g", c.name, std, c.want.std)
		}
		if lo < c.want.lo || hi > c.want.hi {
			t.Errorf("%s: values in [%g, %g], want within [%g, %g]", c.name, lo, hi, c.want.lo, c.want.hi)
		}
		if !math.IsInf(c.want.lo, 0) && c.want.hi-c.want.lo < 1 && (lo > c.want.lo*0.99 || hi < c.want.hi*0.99) {
			t.Errorf("%s: values in [%g, %g] do not fill [%g, %g]", c.name, lo, hi, c.want.lo, c.want.hi)
		}
	}
	z := Ones(Zeros(tensor.Ones(3)))
	if z.At(1) != 1 {
		t.Fatal("Ones")
	}
	if Zeros(tensor.Ones(2)).At(0) != 0 || Constant(tensor.Zeros(2), 3).At(1) != 3 {
		t.Fatal("Zeros/Constant")
	}
}

func TestFansAndGain(t *testing.T) {
	for _, c := range []struct {
		shape   []int
		in, out int
	}{{[]int{3, 5}, 5, 3}, {[]int{8, 4, 3, 3}, 36, 72}, {[]int{2, 6, 1}, 6, 2}} {
		if in, out := Fans(c.shape); in != c.in || out != c.out {
			t.Errorf("Fans(%v) = %d, %d, want %d, %d", c.shape, in, out, c.in, c.out)
		}
	}
	if g := CalculateGain("leaky_relu", math.Sqrt(5)); math.Abs(g-math.Sqrt(1.0/3)) > 1e-12 {
		t.Errorf("gain %v", g)
	}
	if g := CalculateGain("selu", 0); g != 0.75 {
		t.Errorf("selu gain %v", g)
	}
}
