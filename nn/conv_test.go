package nn

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestConvGolden(t *testing.T) {
	rng := newRng(11)
	cases := []struct {
		name string
		m    Module
	}{
		{"conv2d_basic", NewConv2d(rng, Conv2dConfig{In: 3, Out: 4, Kernel: Pair(3), Padding: Pair(1)})},
		{"conv2d_stride_dil_groups", NewConv2d(rng, Conv2dConfig{In: 4, Out: 6, Kernel: [2]int{3, 2}, Stride: [2]int{2, 1},
			Padding: [2]int{1, 2}, Dilation: [2]int{2, 1}, Groups: 2})},
		{"conv2d_same_odd", NewConv2d(rng, Conv2dConfig{In: 2, Out: 3, Kernel: Pair(3), PaddingSame: true, Dilation: Pair(2)})},
		{"conv2d_same_even", NewConv2d(rng, Conv2dConfig{In: 2, Out: 2, Kernel: [2]int{4, 2}, PaddingSame: true, NoBias: true})},
		{"conv2d_depthwise", NewConv2d(rng, Conv2dConfig{In: 3, Out: 3, Kernel: Pair(3), Stride: Pair(2), Padding: Pair(1), Groups: 3})},
		{"convt2d_basic", NewConvTranspose2d(rng, ConvTranspose2dConfig{In: 3, Out: 2, Kernel: Pair(3), Stride: Pair(2),
			Padding: Pair(1), OutputPadding: Pair(1)})},
		{"convt2d_groups_dil", NewConvTranspose2d(rng, ConvTranspose2dConfig{In: 4, Out: 6, Kernel: [2]int{2, 3}, Stride: [2]int{1, 2},
			Padding: [2]int{0, 1}, Dilation: [2]int{2, 1}, Groups: 2, NoBias: true})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runSingle(t, c.name, c.m, 1e-5) })
	}
}

func TestConvPaddingModes(t *testing.T) {
	rng := newRng(12)
	x := tensor.RandNormal(rng, 0, 1, 1, 2, 5, 4).SetRequiresGrad(true)
	for _, mode := range []PaddingMode{PadReflect, PadReplicate} {
		c := NewConv2d(rng, Conv2dConfig{In: 2, Out: 2, Kernel: Pair(3), Padding: Pair(1), PaddingMode: mode})
		y := c.Forward(x)
		if !tensor.SameShape(y.Shape(), []int{1, 2, 5, 4}) {
			t.Fatalf("mode %d: shape %v", mode, y.Shape())
		}
		tensortest.GradCheck(t, "Conv2d padding mode", func(in []*tensor.Tensor) *tensor.Tensor {
			return c.Forward(in[0])
		}, []*tensor.Tensor{x, c.Weight}, tensortest.GradCheckOptions{})
	}
}

func TestConvDefaultInit(t *testing.T) {
	c := NewConvTranspose2d(newRng(13), ConvTranspose2dConfig{In: 8, Out: 4, Kernel: Pair(2), Groups: 2})
	// fan_in from weight (8, 2, 2, 2) is 2·2·2 = 8: bound 1/√8.
	bound := float32(0.35356)
	for _, v := range c.Weight.Data() {
		if v < -bound || v > bound {
			t.Fatalf("weight %v outside ±%v", v, bound)
		}
	}
}

// TestConvPaddingModeGolden: padding_mode circular, reflect and replicate
// against PyTorch 1.13 (scripts/golden_nn.py parity_cases), including
// 'same' with circular padding and a circular pad as large as the input.
func TestConvPaddingModeGolden(t *testing.T) {
	rng := newRng(14)
	cases := []struct {
		name string
		cfg  Conv2dConfig
	}{
		{"conv2d_circular", Conv2dConfig{In: 2, Out: 3, Kernel: Pair(3), Padding: [2]int{1, 2}, PaddingMode: PadCircular}},
		{"conv2d_circular_same", Conv2dConfig{In: 2, Out: 2, Kernel: [2]int{4, 3}, PaddingSame: true, Dilation: [2]int{1, 2}, PaddingMode: PadCircular}},
		{"conv2d_circular_stride_full", Conv2dConfig{In: 3, Out: 4, Kernel: Pair(3), Stride: Pair(2), Padding: [2]int{5, 4}, PaddingMode: PadCircular, NoBias: true}},
		{"conv2d_reflect", Conv2dConfig{In: 2, Out: 3, Kernel: Pair(3), Stride: [2]int{1, 2}, Padding: Pair(2), PaddingMode: PadReflect}},
		{"conv2d_replicate", Conv2dConfig{In: 2, Out: 2, Kernel: [2]int{3, 5}, Padding: [2]int{1, 2}, Groups: 2, PaddingMode: PadReplicate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := runSingle(t, c.name, NewConv2d(rng, c.cfg), 1e-5)
			if want := `"` + c.cfg.PaddingMode.String() + `"`; f.meta["padding_mode"] != want {
				t.Errorf("fixture padding_mode %s, want %s", f.meta["padding_mode"], want)
			}
		})
	}
}

func TestPaddingModeNames(t *testing.T) {
	for m := PadZeros; m <= PadCircular; m++ {
		got, err := ParsePaddingMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParsePaddingMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParsePaddingMode("wrap"); err == nil || !strings.Contains(err.Error(), "circular") {
		t.Errorf("ParsePaddingMode(wrap): error %v, want one naming the modes", err)
	}
}

func TestConvCircularGradCheck(t *testing.T) {
	rng := newRng(15)
	x := tensor.RandNormal(rng, 0, 1, 1, 2, 4, 3).SetRequiresGrad(true)
	c := NewConv2d(rng, Conv2dConfig{In: 2, Out: 2, Kernel: Pair(3), Stride: [2]int{2, 1}, Padding: [2]int{2, 3}, PaddingMode: PadCircular})
	tensortest.GradCheck(t, "Conv2d circular", func(in []*tensor.Tensor) *tensor.Tensor {
		return c.Forward(in[0])
	}, []*tensor.Tensor{x, c.Weight, c.Bias}, tensortest.GradCheckOptions{})
	// Circular pads wrap: the padded row above row 0 is the last row.
	p := tensor.Pad(tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3), []int{2, 1, 1, 2}, tensor.PadCircular, 0)
	want := []float32{
		5, 6, 4, 5, 6, 4,
		2, 3, 1, 2, 3, 1,
		5, 6, 4, 5, 6, 4,
		2, 3, 1, 2, 3, 1,
		5, 6, 4, 5, 6, 4,
	}
	if !slices.Equal(p.Data(), want) {
		t.Errorf("circular pad:\n got %v\nwant %v", p.Data(), want)
	}
}

// TestConvTransposeOutputSizeGolden: forward(x, output_size) against
// PyTorch 1.13, and PyTorch's range check.
func TestConvTransposeOutputSizeGolden(t *testing.T) {
	rng := newRng(16)
	cases := []struct {
		name string
		cfg  ConvTranspose2dConfig
		size [2]int
	}{
		{"convt2d_output_size", ConvTranspose2dConfig{In: 3, Out: 2, Kernel: Pair(3), Stride: Pair(2), Padding: Pair(1)}, [2]int{8, 9}},
		{"convt2d_output_size_full", ConvTranspose2dConfig{In: 2, Out: 4, Kernel: [2]int{2, 3}, Stride: [2]int{3, 2},
			Padding: [2]int{0, 1}, Dilation: [2]int{2, 1}, OutputPadding: Pair(1)}, [2]int{11, 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewConvTranspose2d(rng, c.cfg)
			f := readFixture(t, c.name)
			f.load(t, m)
			x := f.input(t, "x")
			y := m.ForwardOutputSize(x, c.size)
			f.check(t, "out.y", y, 1e-5)
			y.BackwardWith(f.get(t, "gout.y"))
			f.check(t, "grad.in.x", x.Grad(), 1e-5)
			f.checkGrads(t, m, 1e-5)
		})
	}
	m := NewConvTranspose2d(rng, cases[0].cfg)
	x := tensor.Zeros(1, 3, 4, 5)
	if got := m.OutputPaddingFor(x.Shape(), [2]int{7, 10}); got != [2]int{0, 1} {
		t.Errorf("OutputPaddingFor (7, 10) = %v, want [0 1]", got)
	}
	for _, size := range [][2]int{{6, 9}, {9, 9}, {8, 11}} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				want := "nn.ConvTranspose2d: requested an output size of " + fmt.Sprint(size) + ", but valid sizes range from [7 9] to [8 10] (for an input of [4 5])"
				if msg != want {
					t.Errorf("size %v: panic %q, want %q", size, msg, want)
				}
			}()
			m.ForwardOutputSize(x, size)
		}()
	}
}
