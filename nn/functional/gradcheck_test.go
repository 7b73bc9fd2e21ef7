package functional_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// awayFrom returns values spread over [lo, hi] in shape, none within 0.05 of
// a kink, so finite differences do not straddle one.
func awayFrom(shape []int, lo, hi float64, seed int, kinks ...float64) *tensor.Tensor {
	t := genValues(shape, lo, hi, seed)
	d := t.Data()
	for i, v := range d {
		for _, k := range kinks {
			if math.Abs(float64(v)-k) < 0.05 {
				d[i] = float32(k + 0.1)
			}
		}
	}
	return t.SetRequiresGrad(true)
}

func TestGradCheckActivations(t *testing.T) {
	shape := []int{3, 7}
	cases := []struct {
		name  string
		f     func(x *tensor.Tensor) *tensor.Tensor
		kinks []float64
	}{
		{"Threshold", func(x *tensor.Tensor) *tensor.Tensor { return functional.Threshold(x, 0.5, -2) }, []float64{0.5}},
		{"ReLU", functional.ReLU, []float64{0}},
		{"ReLU6", functional.ReLU6, []float64{0, 6}},
		{"Hardtanh", func(x *tensor.Tensor) *tensor.Tensor { return functional.Hardtanh(x, -1.5, 2) }, []float64{-1.5, 2}},
		{"LeakyReLU", func(x *tensor.Tensor) *tensor.Tensor { return functional.LeakyReLU(x, 0.1) }, []float64{0}},
		{"ELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.ELU(x, 1.3) }, []float64{0}},
		{"SELU", functional.SELU, []float64{0}},
		{"CELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.CELU(x, 0.7) }, []float64{0}},
		{"Sigmoid", functional.Sigmoid, nil},
		{"Tanh", functional.Tanh, nil},
		{"GELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) }, nil},
		{"GELUTanh", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUTanh) }, nil},
		{"SiLU", functional.SiLU, nil},
		{"Swish", func(x *tensor.Tensor) *tensor.Tensor { return functional.Swish(x, 1.7) }, nil},
		{"Mish", functional.Mish, nil},
		{"Softplus", func(x *tensor.Tensor) *tensor.Tensor { return functional.Softplus(x, 1, 20) }, nil},
		{"SoftplusBeta", func(x *tensor.Tensor) *tensor.Tensor { return functional.Softplus(x, 2, 5) }, []float64{2.5}},
		{"Softsign", functional.Softsign, []float64{0}},
		{"HardSigmoid", functional.HardSigmoid, []float64{-3, 3}},
		{"HardSwish", functional.HardSwish, []float64{-3, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := awayFrom(shape, -7, 7, 3, c.kinks...)
			tensortest.GradCheck(t, c.name, func(in []*tensor.Tensor) *tensor.Tensor { return c.f(in[0]) },
				[]*tensor.Tensor{x}, tensortest.GradCheckOptions{})
		})
	}
}

func TestGradCheckGated(t *testing.T) {
	cases := []struct {
		name string
		f    func(x *tensor.Tensor, axis int) *tensor.Tensor
	}{
		{"GLU", functional.GLU}, {"ReGLU", functional.ReGLU}, {"GeGLU", functional.GeGLU}, {"SwiGLU", functional.SwiGLU},
	}
	for _, c := range cases {
		for _, axis := range []int{-1, 1, 0} {
			x := awayFrom([]int{4, 6, 2}, -3, 3, 5, 0)
			tensortest.GradCheck(t, c.name, func(in []*tensor.Tensor) *tensor.Tensor { return c.f(in[0], axis) },
				[]*tensor.Tensor{x}, tensortest.GradCheckOptions{})
		}
	}
}

func TestGradCheckPReLU(t *testing.T) {
	for _, ws := range [][]float32{{0.25}, {0.1, -0.3, 0.6}} {
		x := awayFrom([]int{2, 3, 2, 2}, -2, 2, 4, 0)
		w := tensor.FromSlice(ws, len(ws)).SetRequiresGrad(true)
		tensortest.GradCheck(t, "PReLU", func(in []*tensor.Tensor) *tensor.Tensor { return functional.PReLU(in[0], in[1]) },
			[]*tensor.Tensor{x, w}, tensortest.GradCheckOptions{})
	}
}

func TestGradCheckInterpolate(t *testing.T) {
	opts := []functional.InterpolateOptions{
		{Size: [2]int{7, 5}, Mode: functional.Nearest},
		{ScaleFactor: [2]float64{1.5, 0.6}, Mode: functional.NearestExact},
		{Size: [2]int{7, 5}, Mode: functional.Bilinear},
		{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear, AlignCorners: true},
		{Size: [2]int{2, 3}, Mode: functional.Bilinear},
		{Size: [2]int{7, 5}, Mode: functional.Bicubic},
		{ScaleFactor: [2]float64{1.3, 0.7}, Mode: functional.Bicubic, AlignCorners: true},
		// Same size, but the given factor is used: PyTorch 1.13's backward
		// copies the gradient here, which is wrong; fovea's is the adjoint.
		{ScaleFactor: [2]float64{1.1, 1.05}, Mode: functional.Bicubic},
		{Size: [2]int{2, 2}, Mode: functional.Area},
		// Factors near 1 and 2 whose sizes are in and 2·in: with C > 1 the
		// forward pass reads floor(dst/s) as PyTorch's, and the gradient is
		// its adjoint (PyTorch's is not); with C = 1 the shortcut's adjoint.
		{ScaleFactor: [2]float64{2.1, 1.1}, Mode: functional.Nearest},
		{ScaleFactor: [2]float64{1.1, 2.1}, Mode: functional.NearestExact},
		// Anti-aliased down-, up- and mixed sampling.
		{Size: [2]int{2, 2}, Mode: functional.Bilinear, Antialias: true},
		{ScaleFactor: [2]float64{0.6, 1.4}, Mode: functional.Bicubic, Antialias: true},
		{Size: [2]int{3, 2}, Mode: functional.Bicubic, Antialias: true, AlignCorners: true},
	}
	for _, o := range opts {
		for _, shape := range [][]int{{1, 2, 4, 3}, {2, 1, 4, 3}} {
			if shape[1] == 1 && o.Mode != functional.Nearest {
				continue
			}
			x := genValues(shape, -1, 1, 9).SetRequiresGrad(true)
			tensortest.GradCheck(t, "Interpolate "+string(o.Mode), func(in []*tensor.Tensor) *tensor.Tensor {
				return functional.Interpolate(in[0], o)
			}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
		}
	}
}

func TestGradCheckShuffle(t *testing.T) {
	x := genValues([]int{1, 8, 2, 3}, -1, 1, 10).SetRequiresGrad(true)
	tensortest.GradCheck(t, "PixelShuffle", func(in []*tensor.Tensor) *tensor.Tensor { return functional.PixelShuffle(in[0], 2) },
		[]*tensor.Tensor{x}, tensortest.GradCheckOptions{})
	y := genValues([]int{2, 1, 6, 3}, -1, 1, 11).SetRequiresGrad(true)
	tensortest.GradCheck(t, "PixelUnshuffle", func(in []*tensor.Tensor) *tensor.Tensor { return functional.PixelUnshuffle(in[0], 3) },
		[]*tensor.Tensor{y}, tensortest.GradCheckOptions{})
}

func TestGradCheckConvTranspose2d(t *testing.T) {
	opts := []functional.ConvTranspose2dOptions{
		{},
		{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, OutputPadding: [2]int{1, 1}},
		{Stride: [2]int{2, 1}, Dilation: [2]int{1, 2}, Groups: 2},
		{Stride: [2]int{1, 2}, Dilation: [2]int{2, 3}, OutputPadding: [2]int{1, 2}}, // output padding ≥ stride
	}
	for _, o := range opts {
		x := genValues([]int{2, 2, 3, 3}, -1, 1, 12).SetRequiresGrad(true)
		w := genValues([]int{2, 2, 2, 3}, -1, 1, 13).SetRequiresGrad(true)
		cout := 2 * max(o.Groups, 1)
		b := genValues([]int{cout}, -1, 1, 14).SetRequiresGrad(true)
		tensortest.GradCheck(t, "ConvTranspose2d", func(in []*tensor.Tensor) *tensor.Tensor {
			return functional.ConvTranspose2d(in[0], in[1], in[2], o)
		}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})
	}
}

func TestGradCheckPooling(t *testing.T) {
	// Values 0.04 apart, so a 0.01 step never changes which one is largest.
	x := func() *tensor.Tensor { return genValues([]int{1, 2, 5, 6}, -40, 40, 15).SetRequiresGrad(true) }
	check := func(name string, f func(*tensor.Tensor) *tensor.Tensor) {
		t.Helper()
		tensortest.GradCheck(t, name, func(in []*tensor.Tensor) *tensor.Tensor { return f(in[0]) },
			[]*tensor.Tensor{x()}, tensortest.GradCheckOptions{})
	}
	check("MaxPool2d", func(x *tensor.Tensor) *tensor.Tensor {
		v, _ := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, CeilMode: true})
		return v
	})
	check("MaxPool2dDilated", func(x *tensor.Tensor) *tensor.Tensor {
		v, _ := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{2, 2}, Stride: [2]int{1, 1}, Dilation: [2]int{2, 2}})
		return v
	})
	check("AvgPool2d", func(x *tensor.Tensor) *tensor.Tensor {
		return functional.AvgPool2d(x, functional.AvgPool2dOptions{Kernel: [2]int{3, 2}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, CeilMode: true, ExcludePad: true})
	})
	check("AdaptiveAvgPool2d", func(x *tensor.Tensor) *tensor.Tensor { return functional.AdaptiveAvgPool2d(x, 3, 4) })
	check("AdaptiveMaxPool2d", func(x *tensor.Tensor) *tensor.Tensor {
		v, _ := functional.AdaptiveMaxPool2d(x, 2, 4)
		return v
	})
	_, idx := functional.MaxPool2d(x(), functional.MaxPool2dOptions{Kernel: [2]int{2, 2}})
	check("MaxUnpool2d", func(x *tensor.Tensor) *tensor.Tensor {
		v := tensor.Reshape(tensor.Narrow(tensor.Reshape(x, 2, 30), 1, 0, 6), 1, 2, 2, 3)
		return functional.MaxUnpool2d(v, idx, functional.MaxUnpool2dOptions{Kernel: [2]int{2, 2}, OutputSize: [2]int{5, 6}})
	})
}

func TestGradCheckDropout(t *testing.T) {
	x := genValues([]int{4, 5}, -1, 1, 16).SetRequiresGrad(true)
	tensortest.GradCheck(t, "Dropout", func(in []*tensor.Tensor) *tensor.Tensor {
		return functional.Dropout(in[0], 0.3, true, rand.New(rand.NewPCG(1, 2)))
	}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
	y := genValues([]int{2, 3, 2, 2}, -1, 1, 17).SetRequiresGrad(true)
	tensortest.GradCheck(t, "Dropout2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return functional.Dropout2d(in[0], 0.5, true, rand.New(rand.NewPCG(3, 4)))
	}, []*tensor.Tensor{y}, tensortest.GradCheckOptions{})
}
