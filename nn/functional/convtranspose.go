package functional

import (
	"fmt"

	"github.com/fovea-ml/fovea/tensor"
)

// ConvTranspose2dOptions configure ConvTranspose2d, as
// torch.nn.ConvTranspose2d. A zero entry of Stride or Dilation, and a zero
// Groups, mean 1.
type ConvTranspose2dOptions struct {
	Stride        [2]int // (sH, sW): the upsampling factor; zero: 1
	Padding       [2]int // removed from both sides of the full output
	OutputPadding [2]int // added to the bottom/right; smaller than the stride or the dilation
	Dilation      [2]int // spacing of the kernel taps; zero: 1
	Groups        int    // zero: 1
}

// ConvTranspose2d is the transposed ("fractionally strided") 2-D
// convolution, the adjoint of Conv2d with the same weight, as
// torch.nn.functional.conv_transpose2d:
//
//	x: (N, Cin, H, W), weight: (Cin, Cout/groups, kH, kW), bias: (Cout) or nil
//	→ (N, Cout, H', W') with H' = (H−1)·sH − 2·pH + dH·(kH−1) + opH + 1
//
// and W' likewise. Input pixel (h, w) of channel ci spreads
// x·weight[ci, co, i, j] onto output pixel (h·sH − pH + i·dH, w·sW − pW + j·dW)
// of every channel co of its group. x, weight and bias all receive gradients.
// It is tensor.ConvTranspose2d (the layer nn.ConvTranspose2d calls), which
// panics on shapes that do not fit.
func ConvTranspose2d(x, weight, bias *tensor.Tensor, opt ConvTranspose2dOptions) *tensor.Tensor {
	fail := func(why string) {
		panic(fmt.Sprintf("functional.ConvTranspose2d: x %s, weight %s, options %+v: %s",
			tensor.FormatShape(x.Shape()), tensor.FormatShape(weight.Shape()), opt, why))
	}
	for _, v := range [...]int{opt.Stride[0], opt.Stride[1], opt.Padding[0], opt.Padding[1],
		opt.OutputPadding[0], opt.OutputPadding[1], opt.Dilation[0], opt.Dilation[1], opt.Groups} {
		if v < 0 {
			fail("no option may be negative")
		}
	}
	for d := range 2 {
		if op := opt.OutputPadding[d]; op >= max(opt.Stride[d], 1) && op >= max(opt.Dilation[d], 1) {
			fail("output padding must be smaller than either the stride or the dilation")
		}
	}
	topt := tensor.ConvTransposeOptions{
		Stride: opt.Stride, Padding: opt.Padding, OutputPadding: opt.OutputPadding,
		Dilation: opt.Dilation, Groups: opt.Groups,
	}
	return tensor.ConvTranspose2d(x, weight, bias, topt)
}
