package functional_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

func TestPanics(t *testing.T) {
	x4 := tensor.Zeros(1, 3, 4, 4)
	cases := []struct {
		name, want string
		f          func()
	}{
		{"GLU odd", "functional.GLU: axis 1 of x (1,3,4,4) has odd length 3", func() { functional.GLU(x4, 1) }},
		{"GLU axis", "functional.SwiGLU: axis 4 out of range", func() { functional.SwiGLU(x4, 4) }},
		{"PReLU channels", "functional.PReLU: weight (2) does not match the channels", func() { functional.PReLU(x4, tensor.Zeros(2)) }},
		{"Hardtanh range", "functional.Hardtanh: lo 1 > hi 0", func() { functional.Hardtanh(x4, 1, 0) }},
		{"Interpolate rank", "functional.Interpolate: x (3,4,4) must be (N, C, H, W)", func() {
			functional.Interpolate(tensor.Zeros(3, 4, 4), functional.InterpolateOptions{Size: [2]int{2, 2}})
		}},
		{"Interpolate both", "both Size", func() {
			functional.Interpolate(x4, functional.InterpolateOptions{Size: [2]int{2, 2}, ScaleFactor: [2]float64{2, 2}})
		}},
		{"Interpolate none", "set Size or ScaleFactor", func() { functional.Interpolate(x4, functional.InterpolateOptions{}) }},
		{"Interpolate align nearest", "AlignCorners can only be set", func() {
			functional.Interpolate(x4, functional.InterpolateOptions{Size: [2]int{2, 2}, AlignCorners: true})
		}},
		{"Interpolate mode", `unknown mode "trilinear"`, func() {
			functional.Interpolate(x4, functional.InterpolateOptions{Size: [2]int{2, 2}, Mode: "trilinear"})
		}},
		{"Interpolate scale", "ScaleFactor [-1 2] must be positive", func() {
			functional.Interpolate(x4, functional.InterpolateOptions{ScaleFactor: [2]float64{-1, 2}})
		}},
		{"Interpolate empty", "output size (0,2) must be positive", func() {
			functional.Interpolate(x4, functional.InterpolateOptions{ScaleFactor: [2]float64{0.1, 0.5}})
		}},
		{"PixelShuffle", "functional.PixelShuffle: channels 3 of x (1,3,4,4) are not divisible by factor² 4", func() { functional.PixelShuffle(x4, 2) }},
		{"PixelUnshuffle", "functional.PixelUnshuffle: height and width of x (1,3,4,4) are not divisible by factor 3", func() { functional.PixelUnshuffle(x4, 3) }},
		{"MaxPool pad", "functional.MaxPool2d: padding [2 2] must be at most half the kernel [3 3]", func() {
			functional.MaxPool2d(x4, functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Padding: [2]int{2, 2}})
		}},
		{"MaxPool big", "functional.MaxPool2d: output size (0,0) is too small", func() {
			functional.MaxPool2d(x4, functional.MaxPool2dOptions{Kernel: [2]int{5, 5}})
		}},
		{"AvgPool kernel", "functional.AvgPool2d: kernel [0 2]", func() {
			functional.AvgPool2d(x4, functional.AvgPool2dOptions{Kernel: [2]int{0, 2}})
		}},
		{"MaxUnpool index", "functional.MaxUnpool2d: index 99 at position 0 is not in [0, 16)", func() {
			functional.MaxUnpool2d(tensor.Zeros(1, 1, 1, 1), tensor.Full(99, 1, 1, 1, 1), functional.MaxUnpool2dOptions{OutputSize: [2]int{4, 4}})
		}},
		{"ConvTranspose2d channels", "tensor.ConvTranspose2d: input (1,3,4,4), weight (2,1,3,3) and groups 1 do not fit", func() {
			functional.ConvTranspose2d(x4, tensor.Zeros(2, 1, 3, 3), nil, functional.ConvTranspose2dOptions{})
		}},
		{"ConvTranspose2d output padding", "functional.ConvTranspose2d: x (1,3,4,4), weight (3,1,3,3), options {Stride:[0 0] Padding:[0 0] OutputPadding:[1 1] Dilation:[0 0] Groups:0}: output padding must be smaller", func() {
			functional.ConvTranspose2d(x4, tensor.Zeros(3, 1, 3, 3), nil, functional.ConvTranspose2dOptions{OutputPadding: [2]int{1, 1}})
		}},
		{"ConvTranspose2d negative", "functional.ConvTranspose2d: x (1,3,4,4), weight (3,1,3,3), options {Stride:[0 0] Padding:[-1 0] OutputPadding:[0 0] Dilation:[0 0] Groups:0}: no option may be negative", func() {
			functional.ConvTranspose2d(x4, tensor.Zeros(3, 1, 3, 3), nil, functional.ConvTranspose2dOptions{Padding: [2]int{-1, 0}})
		}},
		{"Dropout p", "functional.Dropout: probability 1.5 is not in [0, 1]", func() { functional.Dropout(x4, 1.5, true, nil) }},
		{"Dropout rng", "functional.Dropout: training needs a random source", func() { functional.Dropout(x4, 0.5, true, nil) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("no panic, want %q", c.want)
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, c.want) {
					t.Fatalf("panic %q, want it to contain %q", msg, c.want)
				}
			}()
			c.f()
		})
	}
}

func TestHeavisideGradients(t *testing.T) {
	data := []float32{-2, -1, -0.5, 0, 0.5, 1, 2, float32(math.NaN())}
	cases := []struct {
		grad functional.StepGrad
		want []float32
	}{
		{functional.StepZero, []float32{0, 0, 0, 0, 0, 0, 0, 0}},
		{functional.StepStraightThrough, []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		{functional.StepClippedStraightThrough, []float32{0, 2, 3, 4, 5, 6, 0, 0}},
	}
	for _, c := range cases {
		x := tensor.FromSlice(data, len(data)).SetRequiresGrad(true)
		y := functional.Heaviside(x, 0.5, c.grad)
		if got, want := fmt.Sprint(y.Data()), "[0 0 0 0.5 1 1 1 0]"; got != want {
			t.Errorf("forward %s, want %s", got, want)
		}
		y.BackwardWith(tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 8))
		if got, want := fmt.Sprint(x.Grad().Data()), fmt.Sprint(c.want); got != want {
			t.Errorf("StepGrad %d: gradient %s, want %s", c.grad, got, want)
		}
	}
}

func TestDropout(t *testing.T) {
	x := tensor.Ones(100000)
	a := functional.Dropout(x, 0.3, true, rand.New(rand.NewPCG(5, 6)))
	b := functional.Dropout(x, 0.3, true, rand.New(rand.NewPCG(5, 6)))
	if fmt.Sprint(a.Data()[:50]) != fmt.Sprint(b.Data()[:50]) {
		t.Fatal("the same seed gave different masks")
	}
	zeros, scale := 0, float32(1/(1-0.3))
	for _, v := range a.Data() {
		switch v {
		case 0:
			zeros++
		case scale:
		default:
			t.Fatalf("value %v is neither 0 nor 1/(1-p) = %v", v, scale)
		}
	}
	if frac := float64(zeros) / 100000; math.Abs(frac-0.3) > 0.01 {
		t.Errorf("dropped fraction %.4f, want 0.3", frac)
	}
	if y := functional.Dropout(x, 1, true, rand.New(rand.NewPCG(1, 1))); tensor.SumAll(y).Item() != 0 {
		t.Error("p = 1 did not give zeros")
	}
	// Not training: a view with the same values.
	e := functional.Dropout(x, 0.3, false, nil)
	if &e.Data()[0] != &x.Data()[0] {
		t.Error("evaluation mode copied the input; want a view")
	}
	// Dropout2d drops whole planes.
	p := functional.Dropout2d(tensor.Ones(4, 8, 3, 3), 0.5, true, rand.New(rand.NewPCG(2, 2)))
	d := p.Data()
	for plane := 0; plane < 32; plane++ {
		for i := 1; i < 9; i++ {
			if d[plane*9+i] != d[plane*9] {
				t.Fatalf("plane %d is not dropped as a whole: %v", plane, d[plane*9:plane*9+9])
			}
		}
	}
}

// TestNoAliasNoGraph checks that results never share the input's storage
// and that nothing is recorded for inputs that need no gradient.
func TestNoAliasNoGraph(t *testing.T) {
	x := genValues([]int{1, 4, 4, 6}, -2, 2, 1)
	fns := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"ReLU": functional.ReLU,
		"GLU":  func(x *tensor.Tensor) *tensor.Tensor { return functional.GLU(x, 1) },
		"Identity": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Interpolate(x, functional.InterpolateOptions{ScaleFactor: [2]float64{1, 1}})
		},
		"Shuffle1": func(x *tensor.Tensor) *tensor.Tensor { return functional.PixelShuffle(x, 1) },
		"AvgPool1": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.AvgPool2d(x, functional.AvgPool2dOptions{Kernel: [2]int{1, 1}})
		},
	}
	for name, f := range fns {
		y := f(x)
		if &y.Data()[0] == &x.Data()[0] {
			t.Errorf("%s: result aliases its input", name)
		}
		if y.RequiresGrad() || !y.IsLeaf() {
			t.Errorf("%s: recorded a graph for an input without gradient", name)
		}
	}
}

// TestNearestRules pins PyTorch's index rules that the fixtures cover only
// through values: out = 2·in reads dst/2 whatever the factor, and a given
// factor is used as 1/scale for the source index.
func TestNearestRules(t *testing.T) {
	x := tensor.Arange(0, 5, 1)
	x = tensor.Reshape(x, 1, 1, 1, 5)
	get := func(opt functional.InterpolateOptions) string {
		return fmt.Sprint(functional.Interpolate(x, opt).Data())
	}
	cases := []struct {
		opt  functional.InterpolateOptions
		want string
	}{
		// 5·2.1 = 10.5 → 10 = 2·5: the special case reads dst>>1.
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 2.1}}, "[0 0 1 1 2 2 3 3 4 4]"},
		// 5·2.9 → 14: floor(dst/2.9).
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 2.9}}, "[0 0 0 1 1 1 2 2 2 3 3 3 4 4]"},
		// 5·0.7 → 3 pixels: floor(dst/0.7) = 0, 1, 2, but recomputed
		// floor(dst·5/3) = 0, 1, 3.
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 0.7}}, "[0 1 2]"},
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 0.7}, RecomputeScaleFactor: true}, "[0 1 3]"},
		// Down-scaling by 0.5 gives 2 pixels: floor(dst·2) = 0, 2.
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 0.5}}, "[0 2]"},
		// By 0.5 recomputed: floor(dst·5/2) = 0, 2.
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 0.5}, RecomputeScaleFactor: true}, "[0 2]"},
		{functional.InterpolateOptions{ScaleFactor: [2]float64{1, 0.5}, Mode: functional.NearestExact}, "[1 3]"},
	}
	for _, c := range cases {
		if got := get(c.opt); got != c.want {
			t.Errorf("%+v: got %s, want %s", c.opt, got, c.want)
		}
	}
}

// TestMaxPoolNaN pins PyTorch's NaN rule (a NaN wins, and a later NaN wins
// over an earlier one) in the 2×2 fast path, the general path and the
// adaptive pooling; the expectations are PyTorch 1.13's.
func TestMaxPoolNaN(t *testing.T) {
	n := float32(math.NaN())
	x := tensor.FromSlice([]float32{
		1, n, 3, n,
		0, 2, -1, -5,
		7, n, 4, 4,
		2, 8, 4, 9,
	}, 1, 1, 4, 4)
	v2, i2 := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{2, 2}})
	v3, i3 := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}})
	va, ia := functional.AdaptiveMaxPool2d(x, 2, 2)
	for _, c := range []struct {
		name     string
		v, i     *tensor.Tensor
		wantV    string
		wantIdxs string
	}{
		{"2x2", v2, i2, "[NaN NaN NaN 9]", "[1 3 9 15]"},
		{"3x3", v3, i3, "[NaN NaN NaN NaN]", "[9 9 9 9]"},
		{"adaptive", va, ia, "[NaN NaN NaN 9]", "[1 3 9 15]"},
	} {
		if got := fmt.Sprint(c.v.Data()); got != c.wantV {
			t.Errorf("%s: values %s, want %s", c.name, got, c.wantV)
		}
		if got := fmt.Sprint(c.i.Data()); got != c.wantIdxs {
			t.Errorf("%s: indices %s, want %s", c.name, got, c.wantIdxs)
		}
	}
}

// TestMaxPoolTiesAndZeros checks the integer-key path of MaxPool2d against a
// plain float loop on values full of ties, signed zeros and infinities: the
// first maximum in row-major window order wins, and −0 equals +0.
func TestMaxPoolTiesAndZeros(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pool := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, -2, float32(math.Inf(1)), float32(math.Inf(-1)), 1.5e-39, -1.5e-39}
	for _, c := range []struct{ k, s, p, h, w int }{{3, 2, 1, 9, 8}, {3, 1, 1, 5, 6}, {2, 1, 0, 4, 7}, {5, 3, 2, 11, 10}, {3, 2, 0, 7, 7}} {
		x := tensor.Zeros(2, 3, c.h, c.w)
		for i := range x.Data() {
			x.Data()[i] = pool[rng.IntN(len(pool))]
		}
		v, idx := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{c.k, c.k}, Stride: [2]int{c.s, c.s}, Padding: [2]int{c.p, c.p}})
		oh, ow := v.SizeOf(2), v.SizeOf(3)
		for pl := 0; pl < 6; pl++ {
			src := x.Data()[pl*c.h*c.w : (pl+1)*c.h*c.w]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					best, bi := float32(math.Inf(-1)), -1
					for y := oy*c.s - c.p; y < oy*c.s-c.p+c.k; y++ {
						for xx := ox*c.s - c.p; xx < ox*c.s-c.p+c.k; xx++ {
							if y < 0 || y >= c.h || xx < 0 || xx >= c.w {
								continue
							}
							if val := src[y*c.w+xx]; bi < 0 || val > best {
								best, bi = val, y*c.w+xx
							}
						}
					}
					o := pl*oh*ow + oy*ow + ox
					got, gi := v.Data()[o], int(idx.Data()[o])
					if gi != bi || math.Float32bits(got) != math.Float32bits(best) {
						t.Fatalf("%+v plane %d out (%d,%d): got %v at %d, want %v at %d", c, pl, oy, ox, got, gi, best, bi)
					}
				}
			}
		}
	}
}
