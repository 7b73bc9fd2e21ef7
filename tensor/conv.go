package tensor

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// ConvOptions are the options of Conv2d. Zero Stride, Dilation or Groups
// mean 1; Padding is the implicit zero padding on each side (top/bottom,
// left/right).
type ConvOptions struct {
	Stride, Padding, Dilation [2]int
	Groups                    int
}

// ConvTransposeOptions are the options of ConvTranspose2d, as
// torch.nn.functional.conv_transpose2d.
type ConvTransposeOptions struct {
	Stride, Padding, OutputPadding, Dilation [2]int
	Groups                                   int
}

func orOne(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// Conv2d returns the 2-D cross-correlation of x with w plus bias b, as
// torch.nn.functional.conv2d: x (N, Cin, H, W), w (Cout, Cin/Groups, KH, KW),
// b (Cout) or nil; the result is (N, Cout, OH, OW) with
// OH = (H + 2·PH − DH·(KH−1) − 1)/SH + 1, likewise OW.
func Conv2d(x, w, b *Tensor, opt ConvOptions) *Tensor {
	if x.Dim() != 4 || w.Dim() != 4 {
		panic(fmt.Sprintf("tensor.Conv2d: input %s and weight %s must both be 4-D", FormatShape(x.shape), FormatShape(w.shape)))
	}
	p := cpu.ConvParams{
		N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
		Cout: w.shape[0], KH: w.shape[2], KW: w.shape[3],
		StrideH: orOne(opt.Stride[0]), StrideW: orOne(opt.Stride[1]), PadH: opt.Padding[0], PadW: opt.Padding[1],
		DilH: orOne(opt.Dilation[0]), DilW: orOne(opt.Dilation[1]), Groups: orOne(opt.Groups),
	}
	if p.C%p.Groups != 0 || p.Cout%p.Groups != 0 || w.shape[1] != p.C/p.Groups {
		panic(fmt.Sprintf("tensor.Conv2d: input %s, weight %s and groups %d do not fit (weight must be (Cout, Cin/groups, KH, KW))", FormatShape(x.shape), FormatShape(w.shape), p.Groups))
	}
	if b != nil && !(b.Dim() == 1 && b.shape[0] == p.Cout) {
		panic(fmt.Sprintf("tensor.Conv2d: bias %s for %d output channels", FormatShape(b.shape), p.Cout))
	}
	if p.OutH() <= 0 || p.OutW() <= 0 || p.PadH < 0 || p.PadW < 0 {
		panic(fmt.Sprintf("tensor.Conv2d: input %s too small for weight %s with %+v", FormatShape(x.shape), FormatShape(w.shape), opt))
	}
	out := empty(p.N, p.Cout, p.OutH(), p.OutW()) // the kernels overwrite their outputs
	var bd []float32
	if b != nil {
		bd = b.data
	}
	cpu.Conv2dForward(p, x.data, w.data, bd, out.data)
	return Record("Conv2d", out, func(gy *Tensor) []*Tensor {
		var gx, gw, gb *Tensor
		if x.requiresGrad {
			gx = empty(x.shape...)
			cpu.Conv2dBackwardData(p, gy.data, w.data, gx.data)
		}
		if w.requiresGrad || b != nil && b.requiresGrad {
			gw = empty(w.shape...)
			var gbd []float32
			if b != nil && b.requiresGrad {
				gb = empty(b.shape...)
				gbd = gb.data
			}
			cpu.Conv2dBackwardWeight(p, x.data, gy.data, gw.data, gbd)
			if !w.requiresGrad {
				gw = nil
			}
		}
		return []*Tensor{gx, gw, gb}
	}, x, w, b)
}

// ConvTranspose2d returns the transposed convolution of x with w plus bias,
// as torch.nn.functional.conv_transpose2d: x (N, Cin, H, W), w (Cin,
// Cout/Groups, KH, KW), b (Cout) or nil; the result is (N, Cout, OH, OW) with
// OH = (H−1)·SH − 2·PH + DH·(KH−1) + OPH + 1. It is the gradient of Conv2d
// with respect to its input.
func ConvTranspose2d(x, w, b *Tensor, opt ConvTransposeOptions) *Tensor {
	if x.Dim() != 4 || w.Dim() != 4 {
		panic(fmt.Sprintf("tensor.ConvTranspose2d: input %s and weight %s must both be 4-D", FormatShape(x.shape), FormatShape(w.shape)))
	}
	groups := orOne(opt.Groups)
	if x.shape[1] != w.shape[0] || x.shape[1]%groups != 0 {
		panic(fmt.Sprintf("tensor.ConvTranspose2d: input %s, weight %s and groups %d do not fit (weight must be (Cin, Cout/groups, KH, KW))", FormatShape(x.shape), FormatShape(w.shape), groups))
	}
	cout := w.shape[1] * groups
	sh, sw := orOne(opt.Stride[0]), orOne(opt.Stride[1])
	dh, dw := orOne(opt.Dilation[0]), orOne(opt.Dilation[1])
	if opt.OutputPadding[0] >= max(sh, dh) || opt.OutputPadding[1] >= max(sw, dw) {
		panic(fmt.Sprintf("tensor.ConvTranspose2d: output padding %v must be smaller than stride or dilation", opt.OutputPadding))
	}
	if eh, ew := opt.OutputPadding[0]/sh, opt.OutputPadding[1]/sw; eh > 0 || ew > 0 {
		// An output padding of a stride or more (allowed when the dilation is
		// larger) is not the input gradient of any convolution; the same
		// output comes from ⌊op/s⌋ more zero rows (columns) at the end of x
		// and the remaining op − ⌊op/s⌋·s output padding.
		inner := opt
		inner.OutputPadding = [2]int{opt.OutputPadding[0] - eh*sh, opt.OutputPadding[1] - ew*sw}
		return ConvTranspose2d(Pad(x, []int{0, ew, 0, eh}, PadConstant, 0), w, b, inner)
	}
	if b != nil && !(b.Dim() == 1 && b.shape[0] == cout) {
		panic(fmt.Sprintf("tensor.ConvTranspose2d: bias %s for %d output channels", FormatShape(b.shape), cout))
	}
	kh, kw := w.shape[2], w.shape[3]
	oh := (x.shape[2]-1)*sh - 2*opt.Padding[0] + dh*(kh-1) + opt.OutputPadding[0] + 1
	ow := (x.shape[3]-1)*sw - 2*opt.Padding[1] + dw*(kw-1) + opt.OutputPadding[1] + 1
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("tensor.ConvTranspose2d: input %s and weight %s with %+v give an empty output", FormatShape(x.shape), FormatShape(w.shape), opt))
	}
	// The convolution this transposes: input (cout, oh, ow), output (cin, H, W),
	// weight (cin, cout/groups, kh, kw) read as (Cout'=cin, Cin'/g=cout/g).
	p := cpu.ConvParams{
		N: x.shape[0], C: cout, H: oh, W: ow, Cout: x.shape[1], KH: kh, KW: kw,
		StrideH: sh, StrideW: sw, PadH: opt.Padding[0], PadW: opt.Padding[1], DilH: dh, DilW: dw, Groups: groups,
	}
	tp := cpu.ConvTransposeParams{
		N: p.N, C: x.shape[1], H: x.shape[2], W: x.shape[3], Cout: cout, KH: kh, KW: kw, StrideH: sh, StrideW: sw,
		PadH: opt.Padding[0], PadW: opt.Padding[1], OutPadH: opt.OutputPadding[0], OutPadW: opt.OutputPadding[1], DilH: dh, DilW: dw, Groups: groups,
	}
	out := empty(p.N, cout, oh, ow)
	var bias []float32
	if b != nil {
		bias = b.data
	}
	cpu.ConvTranspose2dForward(tp, x.data, w.data, bias, out.data)
	return Record("ConvTranspose2d", out, func(gy *Tensor) []*Tensor {
		var gx, gw, gb *Tensor
		if x.requiresGrad {
			gx = empty(x.shape...)
			cpu.Conv2dForward(p, gy.data, w.data, nil, gx.data)
		}
		if w.requiresGrad {
			gw = empty(w.shape...)
			cpu.Conv2dBackwardWeight(p, gy.data, x.data, gw.data, nil)
		}
		if b != nil && b.requiresGrad {
			gb = empty(b.shape...)
			channelSum(gy.data, gb.data, p.N, cout, oh*ow)
		}
		return []*Tensor{gx, gw, gb}
	}, x, w, b)
}

func channelSum(y, out []float32, n, c, hw int) {
	for ch := 0; ch < c; ch++ {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range y[(i*c+ch)*hw : (i*c+ch+1)*hw] {
				s += float64(v)
			}
		}
		out[ch] = float32(s)
	}
}
