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

// convGeom describes one 2-D convolution from the point of view of the
// convolution whose input is (C, H, W) and output (OH, OW).
type convGeom struct {
	N, C, H, W, Cout, KH, KW int
	SH, SW, PH, PW, DH, DW   int
	G, OH, OW                int
}

func (g convGeom) cinG() int  { return g.C / g.G }
func (g convGeom) coutG() int { return g.Cout / g.G }
func (g convGeom) colRows() int {
	return g.cinG() * g.KH * g.KW
}
func (g convGeom) is1x1() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0
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
	g := convGeom{
		N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
		Cout: w.shape[0], KH: w.shape[2], KW: w.shape[3],
		SH: orOne(opt.Stride[0]), SW: orOne(opt.Stride[1]), PH: opt.Padding[0], PW: opt.Padding[1],
		DH: orOne(opt.Dilation[0]), DW: orOne(opt.Dilation[1]), G: orOne(opt.Groups),
	}
	if g.C%g.G != 0 || g.Cout%g.G != 0 || w.shape[1] != g.C/g.G {
		panic(fmt.Sprintf("tensor.Conv2d: input %s, weight %s and groups %d do not fit (weight must be (Cout, Cin/groups, KH, KW))", FormatShape(x.shape), FormatShape(w.shape), g.G))
	}
	if b != nil && !(b.Dim() == 1 && b.shape[0] == g.Cout) {
		panic(fmt.Sprintf("tensor.Conv2d: bias %s for %d output channels", FormatShape(b.shape), g.Cout))
	}
	g.OH = (g.H+2*g.PH-g.DH*(g.KH-1)-1)/g.SH + 1
	g.OW = (g.W+2*g.PW-g.DW*(g.KW-1)-1)/g.SW + 1
	if g.OH <= 0 || g.OW <= 0 || g.PH < 0 || g.PW < 0 {
		panic(fmt.Sprintf("tensor.Conv2d: input %s too small for weight %s with %+v", FormatShape(x.shape), FormatShape(w.shape), opt))
	}
	out := Zeros(g.N, g.Cout, g.OH, g.OW)
	convForward(g, x.data, w.data, out.data)
	if b != nil {
		addChannelBias(out.data, b.data, g.N, g.Cout, g.OH*g.OW)
	}
	inputs := []*Tensor{x, w, b}
	return Record("Conv2d", out, func(gy *Tensor) []*Tensor {
		var gx, gw, gb *Tensor
		if x.requiresGrad {
			gx = Zeros(x.shape...)
			convBackwardData(g, gy.data, w.data, gx.data)
		}
		if w.requiresGrad {
			gw = Zeros(w.shape...)
			convBackwardWeight(g, x.data, gy.data, gw.data)
		}
		if b != nil && b.requiresGrad {
			gb = Zeros(b.shape...)
			channelSum(gy.data, gb.data, g.N, g.Cout, g.OH*g.OW)
		}
		return []*Tensor{gx, gw, gb}
	}, inputs...)
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
	g := convGeom{
		N: x.shape[0], C: cout, H: oh, W: ow, Cout: x.shape[1], KH: kh, KW: kw,
		SH: sh, SW: sw, PH: opt.Padding[0], PW: opt.Padding[1], DH: dh, DW: dw, G: groups,
		OH: x.shape[2], OW: x.shape[3],
	}
	out := Zeros(g.N, cout, oh, ow)
	convBackwardData(g, x.data, w.data, out.data)
	if b != nil {
		addChannelBias(out.data, b.data, g.N, cout, oh*ow)
	}
	return Record("ConvTranspose2d", out, func(gy *Tensor) []*Tensor {
		var gx, gw, gb *Tensor
		if x.requiresGrad {
			gx = Zeros(x.shape...)
			convForward(g, gy.data, w.data, gx.data)
		}
		if w.requiresGrad {
			gw = Zeros(w.shape...)
			convBackwardWeight(g, gy.data, x.data, gw.data)
		}
		if b != nil && b.requiresGrad {
			gb = Zeros(b.shape...)
			channelSum(gy.data, gb.data, g.N, cout, oh*ow)
		}
		return []*Tensor{gx, gw, gb}
	}, x, w, b)
}

func addChannelBias(y, b []float32, n, c, hw int) {
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			v := b[ch]
			p := y[(i*c+ch)*hw : (i*c+ch+1)*hw]
			for j := range p {
				p[j] += v
			}
		}
	}
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

// convForward computes y = conv(x, w) without bias for the geometry g.
func convForward(g convGeom, x, w, y []float32) {
	rows, ohw := g.colRows(), g.OH*g.OW
	cpu.Parallel(g.N, func(lo, hi int) {
		var col []float32
		if !g.is1x1() {
			col = make([]float32, rows*ohw)
		}
		for n := lo; n < hi; n++ {
			for gi := 0; gi < g.G; gi++ {
				xg := x[(n*g.C+gi*g.cinG())*g.H*g.W : (n*g.C+(gi+1)*g.cinG())*g.H*g.W]
				b := xg
				if col != nil {
					im2col(g, xg, col)
					b = col
				}
				wg := w[gi*g.coutG()*rows : (gi+1)*g.coutG()*rows]
				yg := y[(n*g.Cout+gi*g.coutG())*ohw : (n*g.Cout+(gi+1)*g.coutG())*ohw]
				cpu.Sgemm(false, false, g.coutG(), ohw, rows, 1, wg, rows, b, ohw, 0, yg, ohw)
			}
		}
	})
}

// convBackwardData computes dx = conv(·, w)ᵀ dy for the geometry g (dx is
// overwritten).
func convBackwardData(g convGeom, dy, w, dx []float32) {
	rows, ohw := g.colRows(), g.OH*g.OW
	cpu.Parallel(g.N, func(lo, hi int) {
		col := make([]float32, rows*ohw)
		for n := lo; n < hi; n++ {
			for gi := 0; gi < g.G; gi++ {
				wg := w[gi*g.coutG()*rows : (gi+1)*g.coutG()*rows]
				dyg := dy[(n*g.Cout+gi*g.coutG())*ohw : (n*g.Cout+(gi+1)*g.coutG())*ohw]
				dxg := dx[(n*g.C+gi*g.cinG())*g.H*g.W : (n*g.C+(gi+1)*g.cinG())*g.H*g.W]
				if g.is1x1() {
					cpu.Sgemm(true, false, rows, ohw, g.coutG(), 1, wg, rows, dyg, ohw, 0, dxg, ohw)
					continue
				}
				cpu.Sgemm(true, false, rows, ohw, g.coutG(), 1, wg, rows, dyg, ohw, 0, col, ohw)
				clear(dxg)
				col2im(g, col, dxg)
			}
		}
	})
}

// convBackwardWeight computes dw = dy · im2col(x)ᵀ summed over the batch
// (dw is overwritten).
func convBackwardWeight(g convGeom, x, dy, dw []float32) {
	rows, ohw := g.colRows(), g.OH*g.OW
	nchunks := min(g.N, cpu.Threads())
	partial := make([][]float32, nchunks)
	cpu.Parallel(nchunks, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			acc := make([]float32, len(dw))
			var col []float32
			if !g.is1x1() {
				col = make([]float32, rows*ohw)
			}
			for n := c * g.N / nchunks; n < (c+1)*g.N/nchunks; n++ {
				for gi := 0; gi < g.G; gi++ {
					xg := x[(n*g.C+gi*g.cinG())*g.H*g.W : (n*g.C+(gi+1)*g.cinG())*g.H*g.W]
					b := xg
					if col != nil {
						im2col(g, xg, col)
						b = col
					}
					dyg := dy[(n*g.Cout+gi*g.coutG())*ohw : (n*g.Cout+(gi+1)*g.coutG())*ohw]
					ag := acc[gi*g.coutG()*rows : (gi+1)*g.coutG()*rows]
					cpu.Sgemm(false, true, g.coutG(), rows, ohw, 1, dyg, ohw, b, ohw, 1, ag, rows)
				}
			}
			partial[c] = acc
		}
	})
	copy(dw, partial[0])
	for _, p := range partial[1:] {
		for i, v := range p {
			dw[i] += v
		}
	}
}

// im2col writes the (Cin_g·KH·KW, OH·OW) patch matrix of one group's input
// x (Cin_g, H, W) into col.
func im2col(g convGeom, x, col []float32) {
	ohw := g.OH * g.OW
	r := 0
	for c := 0; c < g.cinG(); c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				dst := col[r*ohw : (r+1)*ohw]
				r++
				p := 0
				for oy := 0; oy < g.OH; oy++ {
					iy := oy*g.SH - g.PH + ki*g.DH
					row := dst[p : p+g.OW]
					p += g.OW
					if iy < 0 || iy >= g.H {
						clear(row)
						continue
					}
					src := plane[iy*g.W : (iy+1)*g.W]
					ix := kj*g.DW - g.PW
					if g.SW == 1 && ix >= 0 && ix+g.OW <= g.W {
						copy(row, src[ix:ix+g.OW])
						continue
					}
					for ox := range row {
						if ix >= 0 && ix < g.W {
							row[ox] = src[ix]
						} else {
							row[ox] = 0
						}
						ix += g.SW
					}
				}
			}
		}
	}
}

// col2im adds the patch matrix col back into x (Cin_g, H, W), the adjoint of im2col.
func col2im(g convGeom, col, x []float32) {
	ohw := g.OH * g.OW
	r := 0
	for c := 0; c < g.cinG(); c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				src := col[r*ohw : (r+1)*ohw]
				r++
				p := 0
				for oy := 0; oy < g.OH; oy++ {
					iy := oy*g.SH - g.PH + ki*g.DH
					row := src[p : p+g.OW]
					p += g.OW
					if iy < 0 || iy >= g.H {
						continue
					}
					dst := plane[iy*g.W : (iy+1)*g.W]
					ix := kj*g.DW - g.PW
					for _, v := range row {
						if ix >= 0 && ix < g.W {
							dst[ix] += v
						}
						ix += g.SW
					}
				}
			}
		}
	}
}
