package functional_test

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// The benchmarks use the shape (8, 64, 64, 64) that is timed against PyTorch
// by `/usr/bin/python3 scripts/golden_functional.py --bench`. Besides the
// wall time they report cpu-ms/op, the process's CPU time per operation,
// which other processes on a shared machine disturb less.

// benchLoop runs fn b.N times and reports its CPU time per call.
func benchLoop(b *testing.B, fn func()) {
	start := cpuTime()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchInput() *tensor.Tensor { return genValues([]int{8, 64, 64, 64}, -1, 1, 1) }

func BenchmarkBilinear2x(b *testing.B) {
	x := benchInput()
	opt := functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear}
	b.SetBytes(int64(4 * x.Size() * 5))
	benchLoop(b, func() {
		functional.Interpolate(x, opt)
	})
}

func BenchmarkBilinear2xBackward(b *testing.B) {
	x := benchInput().SetRequiresGrad(true)
	opt := functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear}
	g := tensor.Ones(8, 64, 128, 128)
	benchLoop(b, func() {
		functional.Interpolate(x, opt).BackwardWith(g)
	})
}

// The anti-aliased down-sampling of torchvision's tensor resize: 64 → 28.
func BenchmarkBilinearAntialiasDown(b *testing.B) {
	x := benchInput()
	opt := functional.InterpolateOptions{Size: [2]int{28, 28}, Mode: functional.Bilinear, Antialias: true}
	benchLoop(b, func() {
		functional.Interpolate(x, opt)
	})
}

func BenchmarkBilinearAntialiasDownBackward(b *testing.B) {
	x := benchInput().SetRequiresGrad(true)
	opt := functional.InterpolateOptions{Size: [2]int{28, 28}, Mode: functional.Bilinear, Antialias: true}
	g := tensor.Ones(8, 64, 28, 28)
	benchLoop(b, func() {
		functional.Interpolate(x, opt).BackwardWith(g)
	})
}

func BenchmarkBicubicAntialiasDown(b *testing.B) {
	x := benchInput()
	opt := functional.InterpolateOptions{Size: [2]int{28, 28}, Mode: functional.Bicubic, Antialias: true}
	benchLoop(b, func() {
		functional.Interpolate(x, opt)
	})
}

func BenchmarkNearest2x(b *testing.B) {
	x := benchInput()
	opt := functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}}
	benchLoop(b, func() {
		functional.Interpolate(x, opt)
	})
}

func BenchmarkBicubic2x(b *testing.B) {
	x := benchInput()
	opt := functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bicubic}
	benchLoop(b, func() {
		functional.Interpolate(x, opt)
	})
}

func BenchmarkPixelShuffle(b *testing.B) {
	x := benchInput()
	b.SetBytes(int64(4 * x.Size() * 2))
	benchLoop(b, func() {
		functional.PixelShuffle(x, 2)
	})
}

func BenchmarkPixelUnshuffle(b *testing.B) {
	x := benchInput()
	benchLoop(b, func() {
		functional.PixelUnshuffle(x, 2)
	})
}

func BenchmarkMaxPool2d(b *testing.B) {
	x := benchInput()
	opt := functional.MaxPool2dOptions{Kernel: [2]int{2, 2}}
	benchLoop(b, func() {
		functional.MaxPool2d(x, opt)
	})
}

// benchForward times f on benchInput.
func benchForward(b *testing.B, f func(*tensor.Tensor) *tensor.Tensor) {
	x := benchInput()
	benchLoop(b, func() {
		f(x)
	})
}

// benchBackward times f and its backward pass on benchInput, with an
// output gradient of ones.
func benchBackward(b *testing.B, f func(*tensor.Tensor) *tensor.Tensor) {
	x := benchInput().SetRequiresGrad(true)
	g := tensor.Ones(x.Shape()...)
	benchLoop(b, func() {
		f(x).BackwardWith(g)
	})
}

func geluExact(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) }

func BenchmarkReLU(b *testing.B)            { benchForward(b, functional.ReLU) }
func BenchmarkReLUBackward(b *testing.B)    { benchBackward(b, functional.ReLU) }
func BenchmarkGELU(b *testing.B)            { benchForward(b, geluExact) }
func BenchmarkGELUBackward(b *testing.B)    { benchBackward(b, geluExact) }
func BenchmarkSiLU(b *testing.B)            { benchForward(b, functional.SiLU) }
func BenchmarkSiLUBackward(b *testing.B)    { benchBackward(b, functional.SiLU) }
func BenchmarkSigmoid(b *testing.B)         { benchForward(b, functional.Sigmoid) }
func BenchmarkSigmoidBackward(b *testing.B) { benchBackward(b, functional.Sigmoid) }
func BenchmarkTanh(b *testing.B)            { benchForward(b, functional.Tanh) }
func BenchmarkMish(b *testing.B)            { benchForward(b, functional.Mish) }

func BenchmarkConvTranspose2d(b *testing.B) {
	// A decoder stage: (8, 64, 32, 32) → (8, 32, 64, 64), kernel 4, stride 2.
	x := genValues([]int{8, 64, 32, 32}, -1, 1, 1)
	w := genValues([]int{64, 32, 4, 4}, -0.1, 0.1, 2)
	bias := genValues([]int{32}, -0.1, 0.1, 3)
	opt := functional.ConvTranspose2dOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
	benchLoop(b, func() {
		functional.ConvTranspose2d(x, w, bias, opt)
	})
}

func BenchmarkConvTranspose2dBackward(b *testing.B) {
	x := genValues([]int{8, 64, 32, 32}, -1, 1, 1).SetRequiresGrad(true)
	w := genValues([]int{64, 32, 4, 4}, -0.1, 0.1, 2).SetRequiresGrad(true)
	bias := genValues([]int{32}, -0.1, 0.1, 3).SetRequiresGrad(true)
	opt := functional.ConvTranspose2dOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
	g := tensor.Ones(8, 32, 64, 64)
	benchLoop(b, func() {
		functional.ConvTranspose2d(x, w, bias, opt).BackwardWith(g)
	})
}

// BenchmarkMaxPool3x3Stem is the ResNet stem's 3×3 stride-2 max pooling with
// padding 1 on the default GCN's (16, 32, 64, 64) feature map, forward and
// backward.
func BenchmarkMaxPool3x3Stem(b *testing.B) {
	x := tensor.RandNormal(rand.New(rand.NewPCG(1, 2)), 0, 1, 16, 32, 64, 64).SetRequiresGrad(true)
	g := tensor.Ones(16, 32, 32, 32)
	opt := functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
	benchLoop(b, func() {
		y, _ := functional.MaxPool2d(x, opt)
		y.BackwardWith(g)
	})
}
