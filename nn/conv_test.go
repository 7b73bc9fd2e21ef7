package nn

import (
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
