package nn

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestActivationModulesGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Module
	}{
		{"threshold", Threshold{Threshold: 0.1, Value: 20}},
		{"sigmoid", Sigmoid{}},
		{"tanh", Tanh{}},
		{"relu", ReLU{}},
		{"relu6", ReLU6{}},
		{"hardtanh", Hardtanh{}},
		{"leakyrelu", LeakyReLU{}},
		{"leakyrelu_02", LeakyReLU{NegativeSlope: 0.2}},
		{"prelu", NewPReLU(1)},
		{"prelu_c", NewPReLU(4)},
		{"elu", ELU{}},
		{"elu_05", ELU{Alpha: 0.5}},
		{"selu", SELU{}},
		{"celu", CELU{Alpha: 0.7}},
		{"gelu", GELU{}},
		{"gelu_tanh", GELU{Approximate: functional.GELUTanh}},
		{"silu", SiLU{}},
		{"mish", Mish{}},
		{"softplus", Softplus{}},
		{"softplus_b2", Softplus{Beta: 2, Threshold: 5}},
		{"softsign", Softsign{}},
		{"hardsigmoid", Hardsigmoid{}},
		{"hardswish", Hardswish{}},
		{"glu", GLU{Dim: -1}},
	} {
		t.Run(c.name, func(t *testing.T) { runSingle(t, "act_"+c.name, c.m, 1e-5) })
	}
}

func TestGatedFeedForwardGolden(t *testing.T) {
	rng := newRng(31)
	runSingle(t, "swiglu", NewSwiGLU(rng, 6, 10, false), 1e-5)
	runSingle(t, "geglu", NewGeGLU(rng, 6, 10, false), 1e-5)
	runSingle(t, "reglu", NewReGLU(rng, 6, 10, false), 1e-5)
}

func TestGatedFeedForwardGradCheck(t *testing.T) {
	rng := newRng(32)
	for _, m := range []Module{NewSwiGLU(rng, 3, 4, true), NewGeGLU(rng, 3, 4, true), NewReGLU(rng, 3, 4, true)} {
		x := tensor.RandNormal(rng, 0, 1, 2, 3).SetRequiresGrad(true)
		tensortest.GradCheck(t, "gated", func(in []*tensor.Tensor) *tensor.Tensor { return m.Forward(in[0]) },
			append([]*tensor.Tensor{x}, Parameters(m)...), tensortest.GradCheckOptions{})
	}
	p := NewPReLU(3)
	x := tensor.RandNormal(rng, 0, 1, 2, 3, 4).SetRequiresGrad(true)
	tensortest.GradCheck(t, "PReLU", func(in []*tensor.Tensor) *tensor.Tensor { return p.Forward(in[0]) },
		[]*tensor.Tensor{x, p.Weight}, tensortest.GradCheckOptions{})
}

func TestUpsampleAndPoolModulesGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Module
	}{
		{"up_nearest_scale2", Upsample{ScaleFactor: [2]float64{2, 2}}},
		{"up_bilinear_size", Upsample{Size: [2]int{7, 4}, Mode: functional.Bilinear}},
		{"up_bicubic_scale_ac", Upsample{ScaleFactor: [2]float64{1.5, 1.5}, Mode: functional.Bicubic, AlignCorners: true}},
		{"up_nearest_exact", Upsample{ScaleFactor: [2]float64{0.6, 1.7}, Mode: functional.NearestExact}},
		{"up_bilinear2d", UpsamplingBilinear2d{ScaleFactor: [2]float64{2, 2}}},
		{"up_nearest2d", UpsamplingNearest2d{Size: [2]int{5, 7}}},
		{"pixelshuffle", PixelShuffle{UpscaleFactor: 2}},
		{"pixelunshuffle", PixelUnshuffle{DownscaleFactor: 2}},
		{"pool_max", MaxPool2d{Kernel: Pair(3), Stride: Pair(2), Padding: Pair(1), CeilMode: true}},
		{"pool_avg", AvgPool2d{Kernel: Pair(3), Stride: Pair(2), Padding: Pair(1), ExcludePad: true}},
		{"pool_adaptive_avg", AdaptiveAvgPool2d{OutputSize: [2]int{3, 2}}},
		{"pool_adaptive_max", AdaptiveMaxPool2d{OutputSize: [2]int{3, 2}}},
	} {
		tol := 1e-5
		if c.name == "up_bicubic_scale_ac" {
			// Bicubic weights sum four products of float32 terms in a
			// different order from PyTorch's float32 kernel: measured
			// 1.4e-5 under the golden measure.
			tol = 3e-5
		}
		t.Run(c.name, func(t *testing.T) { runSingle(t, c.name, c.m, tol) })
	}
	t.Run("unpool", func(t *testing.T) {
		f := readFixture(t, "unpool")
		x := f.input(t, "x")
		v, idx := MaxPool2d{Kernel: Pair(2), Stride: Pair(2)}.ForwardWithIndices(x)
		y := MaxUnpool2d{Kernel: Pair(2), Stride: Pair(2)}.Unpool(v, idx, [2]int{5, 7})
		f.check(t, "out.y", y, 1e-6)
		y.BackwardWith(f.get(t, "gout.y"))
		f.check(t, "grad.in.x", x.Grad(), 1e-6)
	})
}

func TestDropoutModule(t *testing.T) {
	d := NewDropout(newRng(41), 0.25)
	x := tensor.Ones(100, 100)
	y := d.Forward(x)
	zeros := 0
	for _, v := range y.Data() {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("dropout value %v", v)
		}
	}
	if frac := float64(zeros) / 1e4; math.Abs(frac-0.25) > 0.02 {
		t.Fatalf("dropped fraction %v, want 0.25", frac)
	}
	Eval(d)
	if y := d.Forward(x); y.At(3, 4) != 1 {
		t.Fatal("eval-mode dropout changed its input")
	}
	d2 := NewDropout2d(newRng(42), 0.5)
	y2 := d2.Forward(tensor.Ones(2, 8, 3, 3))
	for p := 0; p < 16; p++ {
		plane := y2.Data()[p*9 : (p+1)*9]
		for _, v := range plane {
			if v != plane[0] {
				t.Fatal("Dropout2d dropped part of a channel")
			}
		}
	}
}
