package functional_test

import (
	"testing"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// TestParallelMatchesSerial runs the plane-parallel operations on a batch
// large enough to be split over the worker pool and checks every plane,
// forward and backward, bit for bit against the same operation on that plane
// alone (which runs serially).
func TestParallelMatchesSerial(t *testing.T) {
	const n, c, h, w = 2, 64, 17, 19 // 41,344 elements: every op splits over the pool
	ops := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"bilinear": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Interpolate(x, functional.InterpolateOptions{ScaleFactor: [2]float64{2, 1.5}, Mode: functional.Bilinear})
		},
		"bicubic": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Interpolate(x, functional.InterpolateOptions{Size: [2]int{30, 9}, Mode: functional.Bicubic})
		},
		"nearest": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Interpolate(x, functional.InterpolateOptions{ScaleFactor: [2]float64{2.5, 2}})
		},
		"maxpool": func(x *tensor.Tensor) *tensor.Tensor {
			v, _ := functional.MaxPool2d(x, functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}})
			return v
		},
		"avgpool": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.AvgPool2d(x, functional.AvgPool2dOptions{Kernel: [2]int{2, 3}, CeilMode: true})
		},
		"adaptive":  func(x *tensor.Tensor) *tensor.Tensor { return functional.AdaptiveAvgPool2d(x, 5, 4) },
		"gelu":      func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) },
		"gelu_tanh": func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUTanh) },
		"relu":      functional.ReLU,
		"sigmoid":   functional.Sigmoid,
		"tanh":      functional.Tanh,
		"silu":      functional.SiLU,
		"swish":     func(x *tensor.Tensor) *tensor.Tensor { return functional.Swish(x, 1.5) },
		"mish":      functional.Mish,
		"elu":       func(x *tensor.Tensor) *tensor.Tensor { return functional.ELU(x, 1.2) },
		"softplus":  func(x *tensor.Tensor) *tensor.Tensor { return functional.Softplus(x, 2, 3) },
		"hardswish": functional.HardSwish,
		"prelu":     func(x *tensor.Tensor) *tensor.Tensor { return functional.PReLU(x, tensor.Full(0.25, 1)) },
		"step": func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Heaviside(x, 0.5, functional.StepClippedStraightThrough)
		},
	}
	for name, f := range ops {
		x := genValues([]int{n, c, h, w}, -2, 2, 3).SetRequiresGrad(true)
		// Results taken from tensor.Empty must be written in full.
		poison(x.Size())
		poison(f(x).Size())
		y := f(x)
		gy := genValues(y.Shape(), -1, 1, 4)
		poison(x.Size())
		y.BackwardWith(gy)
		oh, ow := y.Shape()[2], y.Shape()[3]
		for p := 0; p < n*c; p++ {
			xp := tensor.FromSlice(x.Data()[p*h*w:(p+1)*h*w], 1, 1, h, w).SetRequiresGrad(true)
			yp := f(xp)
			yp.BackwardWith(tensor.FromSlice(gy.Data()[p*oh*ow:(p+1)*oh*ow], 1, 1, oh, ow))
			if !equal(yp.Data(), y.Data()[p*oh*ow:(p+1)*oh*ow]) {
				t.Fatalf("%s: plane %d of the batched forward pass differs", name, p)
			}
			if !equal(xp.Grad().Data(), x.Grad().Data()[p*h*w:(p+1)*h*w]) {
				t.Fatalf("%s: plane %d of the batched gradient differs", name, p)
			}
		}
	}
}

func TestPixelShuffleLarge(t *testing.T) {
	x := genValues([]int{2, 64, 9, 7}, -1, 1, 5)
	poison(x.Size())
	y := functional.PixelShuffle(x, 2)
	for _, idx := range [][4]int{{0, 0, 0, 0}, {1, 15, 17, 13}, {1, 3, 8, 5}, {0, 9, 3, 12}} {
		b, c, hh, ww := idx[0], idx[1], idx[2], idx[3]
		want := x.At(b, c*4+(hh%2)*2+ww%2, hh/2, ww/2)
		if got := y.At(b, c, hh, ww); got != want {
			t.Errorf("PixelShuffle%v = %v, want %v", idx, got, want)
		}
	}
	poison(x.Size())
	if !equal(functional.PixelUnshuffle(y, 2).Data(), x.Data()) {
		t.Error("PixelUnshuffle(PixelShuffle(x)) != x")
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
