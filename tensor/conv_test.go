package tensor_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// naiveConv is a direct 7-loop convolution used as the reference.
func naiveConv(x, w, b *tensor.Tensor, o tensor.ConvOptions) *tensor.Tensor {
	s := func(v int) int {
		if v == 0 {
			return 1
		}
		return v
	}
	sh, sw, dh, dw, g := s(o.Stride[0]), s(o.Stride[1]), s(o.Dilation[0]), s(o.Dilation[1]), s(o.Groups)
	n, c, h, wd := x.Shape()[0], x.Shape()[1], x.Shape()[2], x.Shape()[3]
	co, kh, kw := w.Shape()[0], w.Shape()[2], w.Shape()[3]
	oh := (h+2*o.Padding[0]-dh*(kh-1)-1)/sh + 1
	ow := (wd+2*o.Padding[1]-dw*(kw-1)-1)/sw + 1
	out := tensor.Zeros(n, co, oh, ow)
	cig, cog := c/g, co/g
	for i := 0; i < n; i++ {
		for oc := 0; oc < co; oc++ {
			gi := oc / cog
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					var acc float64
					if b != nil {
						acc = float64(b.At(oc))
					}
					for ic := 0; ic < cig; ic++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy := y*sh - o.Padding[0] + ky*dh
								ix := xx*sw - o.Padding[1] + kx*dw
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								acc += float64(x.At(i, gi*cig+ic, iy, ix)) * float64(w.At(oc, ic, ky, kx))
							}
						}
					}
					out.Set(float32(acc), i, oc, y, xx)
				}
			}
		}
	}
	return out
}

func TestConv2dAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		n, c, h, w, co, kh, kw int
		opt                    tensor.ConvOptions
	}{
		{2, 3, 7, 6, 4, 3, 3, tensor.ConvOptions{Padding: [2]int{1, 1}}},
		{1, 4, 9, 9, 6, 3, 3, tensor.ConvOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, Groups: 2}},
		{2, 2, 8, 7, 3, 1, 1, tensor.ConvOptions{}},
		{1, 3, 10, 9, 2, 3, 2, tensor.ConvOptions{Dilation: [2]int{2, 1}, Padding: [2]int{2, 0}}},
		{1, 4, 6, 6, 4, 3, 3, tensor.ConvOptions{Padding: [2]int{1, 1}, Groups: 4}},
		{1, 2, 5, 11, 3, 1, 7, tensor.ConvOptions{Padding: [2]int{0, 3}}},
	}
	for i, c := range cases {
		x := tensor.RandNormal(rng, 0, 1, c.n, c.c, c.h, c.w).SetRequiresGrad(true)
		w := tensor.RandNormal(rng, 0, 1, c.co, c.c/max(c.opt.Groups, 1), c.kh, c.kw).SetRequiresGrad(true)
		b := tensor.RandNormal(rng, 0, 1, c.co).SetRequiresGrad(true)
		got := tensor.Conv2d(x, w, b, c.opt)
		want := naiveConv(x, w, b, c.opt)
		tensortest.CheckTensor(t, fmt.Sprintf("tensor/Conv2d/naive/%d", i), got, want, 1e-5)
		tensortest.GradCheck(t, "Conv2d", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.Conv2d(in[0], in[1], in[2], c.opt)
		}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})
	}
}

func TestConvTranspose2dIsConvAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []tensor.ConvTransposeOptions{
		{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, OutputPadding: [2]int{1, 1}},
		{Stride: [2]int{2, 1}, Groups: 2},
		{Dilation: [2]int{2, 2}, Padding: [2]int{1, 0}},
	}
	for i, o := range cases {
		x := tensor.RandNormal(rng, 0, 1, 2, 4, 5, 4).SetRequiresGrad(true)
		w := tensor.RandNormal(rng, 0, 1, 4, 3, 3, 3).SetRequiresGrad(true)
		b := tensor.RandNormal(rng, 0, 1, 3*max(o.Groups, 1)).SetRequiresGrad(true)
		y := tensor.ConvTranspose2d(x, w, b, o)
		// <convT(x), z> == <x, conv(z)> for the bias-free parts.
		z := tensor.RandNormal(rng, 0, 1, y.Shape()...)
		yNoBias := tensor.ConvTranspose2d(x.Detach(), w.Detach(), nil, o)
		cz := tensor.Conv2d(z, w.Detach(), nil, tensor.ConvOptions{Stride: o.Stride, Padding: o.Padding, Dilation: o.Dilation, Groups: o.Groups})
		lhs := tensor.SumAll(tensor.Mul(yNoBias, z)).Item()
		rhs := tensor.SumAll(tensor.Mul(x.Detach(), cz)).Item()
		if d := lhs - rhs; d > 1e-3 || d < -1e-3 {
			t.Errorf("case %d: adjoint mismatch %v vs %v", i, lhs, rhs)
		}
		tensortest.GradCheck(t, "ConvTranspose2d", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.ConvTranspose2d(in[0], in[1], in[2], o)
		}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})
	}
}

// An output padding of a stride or more (allowed when the dilation is larger)
// equals the transposed convolution of x with extra zero rows and columns.
func TestConvTranspose2dLargeOutputPadding(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := tensor.RandNormal(rng, 0, 1, 2, 4, 5, 4).SetRequiresGrad(true)
	w := tensor.RandNormal(rng, 0, 1, 4, 3, 3, 2).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 3).SetRequiresGrad(true)
	o := tensor.ConvTransposeOptions{Stride: [2]int{1, 2}, Dilation: [2]int{2, 3}, OutputPadding: [2]int{1, 2}}
	y := tensor.ConvTranspose2d(x, w, b, o)
	want := []int{2, 3, 5 - 1 + 2*2 + 1 + 1, (4-1)*2 + 3*1 + 2 + 1}
	if !tensor.SameShape(y.Shape(), want) {
		t.Fatalf("shape %v, want %v", y.Shape(), want)
	}
	tensortest.GradCheck(t, "ConvTranspose2d large output padding", func(in []*tensor.Tensor) *tensor.Tensor {
		return tensor.ConvTranspose2d(in[0], in[1], in[2], o)
	}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})
}

// TestConv2dStem checks a network stem's convolution (3 input channels,
// depth 27: internal/cpu's direct kernels) against the reference and by
// finite differences, and that the input gradient is not computed when the
// input does not require it (a network's first layer, whose input is data).
func TestConv2dStem(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	opt := tensor.ConvOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
	x := tensor.RandNormal(rng, 0, 1, 1, 3, 34, 36).SetRequiresGrad(true)
	w := tensor.RandNormal(rng, 0, 1, 5, 3, 3, 3).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 5).SetRequiresGrad(true)
	tensortest.CheckTensor(t, "tensor/Conv2d/stem", tensor.Conv2d(x, w, b, opt), naiveConv(x, w, b, opt), 1e-5)
	tensortest.GradCheck(t, "Conv2d stem", func(in []*tensor.Tensor) *tensor.Tensor {
		return tensor.Conv2d(in[0], in[1], in[2], opt)
	}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})

	data := tensor.RandNormal(rng, 0, 1, 2, 3, 34, 36)
	w.ZeroGrad()
	tensor.SumAll(tensor.Conv2d(data, w, nil, opt)).Backward()
	if data.Grad() != nil {
		t.Error("the input that does not require grad got a gradient")
	}
	if w.Grad() == nil {
		t.Error("the weight got no gradient")
	}
}
