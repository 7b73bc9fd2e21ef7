package functional

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// ConvTranspose2dOptions configure ConvTranspose2d, as
// torch.nn.ConvTranspose2d. Zero Stride, Dilation and Groups mean 1.
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
func ConvTranspose2d(x, weight, bias *tensor.Tensor, opt ConvTranspose2dOptions) *tensor.Tensor {
	xs, ws := x.Shape(), weight.Shape()
	fail := func(why string) {
		bs := "nil"
		if bias != nil {
			bs = tensor.FormatShape(bias.Shape())
		}
		panic(fmt.Sprintf("functional.ConvTranspose2d: x %s, weight %s, bias %s, options %+v: %s", tensor.FormatShape(xs), tensor.FormatShape(ws), bs, opt, why))
	}
	if len(xs) != 4 || len(ws) != 4 {
		fail("x must be (N, Cin, H, W) and weight (Cin, Cout/groups, kH, kW)")
	}
	groups := max(opt.Groups, 1)
	sh, sw := opt.Stride[0], opt.Stride[1]
	if sh == 0 && sw == 0 {
		sh, sw = 1, 1
	}
	dh, dw := opt.Dilation[0], opt.Dilation[1]
	if dh == 0 && dw == 0 {
		dh, dw = 1, 1
	}
	ph, pw := opt.Padding[0], opt.Padding[1]
	oph, opw := opt.OutputPadding[0], opt.OutputPadding[1]
	n, cin, h, w := xs[0], xs[1], xs[2], xs[3]
	coutG, kh, kw := ws[1], ws[2], ws[3]
	cout := coutG * groups
	switch {
	case opt.Groups < 0 || cin%groups != 0:
		fail("groups must divide the input channels")
	case ws[0] != cin:
		fail("weight's first dimension must equal the input channels")
	case sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || ph < 0 || pw < 0 || oph < 0 || opw < 0:
		fail("stride and dilation must be positive, padding and output padding non-negative")
	case (oph >= sh && oph >= dh) || (opw >= sw && opw >= dw):
		fail("output padding must be smaller than either the stride or the dilation")
	case bias != nil && (bias.Dim() != 1 || bias.Size() != cout):
		fail(fmt.Sprintf("bias must be (%d)", cout))
	}
	oh := (h-1)*sh - 2*ph + dh*(kh-1) + oph + 1
	ow := (w-1)*sw - 2*pw + dw*(kw-1) + opw + 1
	if oh <= 0 || ow <= 0 {
		fail(fmt.Sprintf("output size (%d,%d) is not positive", oh, ow))
	}
	geo := colGeom{c: coutG, h: oh, w: ow, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, dh: dh, dw: dw, ih: h, iw: w}
	cinG := cin / groups
	rows := coutG * kh * kw // rows of the column matrix
	hw, ohw := h*w, oh*ow
	out := tensor.Zeros(n, cout, oh, ow)
	xd, wd, yd := x.Data(), weight.Data(), out.Data()
	cols := make([]float32, rows*hw)
	for b := 0; b < n; b++ {
		for gi := 0; gi < groups; gi++ {
			// cols (rows × HW) = W_gᵀ (rows × CinG) · x_g (CinG × HW)
			wg := wd[gi*cinG*rows : (gi+1)*cinG*rows]
			xg := xd[(b*cin+gi*cinG)*hw : (b*cin+(gi+1)*cinG)*hw]
			cpu.Sgemm(true, false, rows, hw, cinG, 1, wg, rows, xg, hw, 0, cols, hw)
			col2im(yd[(b*cout+gi*coutG)*ohw:(b*cout+(gi+1)*coutG)*ohw], cols, geo)
		}
	}
	if bias != nil {
		bd := bias.Data()
		parallelFor(n*cout, planeGrain(ohw), func(lo, hi int) {
			for p := lo; p < hi; p++ {
				v := bd[p%cout]
				for i := range yd[p*ohw : (p+1)*ohw] {
					yd[p*ohw+i] += v
				}
			}
		})
	}
	return tensor.Record("ConvTranspose2d", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw, gb *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Zeros(xs...)
		}
		if weight.RequiresGrad() {
			gw = tensor.Zeros(ws...)
		}
		gcols := make([]float32, rows*hw)
		for b := 0; b < n; b++ {
			for gi := 0; gi < groups; gi++ {
				im2col(gcols, gd[(b*cout+gi*coutG)*ohw:(b*cout+(gi+1)*coutG)*ohw], geo)
				if gx != nil {
					// gx_g (CinG × HW) = W_g (CinG × rows) · gcols (rows × HW)
					wg := wd[gi*cinG*rows : (gi+1)*cinG*rows]
					cpu.Sgemm(false, false, cinG, hw, rows, 1, wg, rows, gcols, hw, 0, gx.Data()[(b*cin+gi*cinG)*hw:], hw)
				}
				if gw != nil {
					// gW_g (CinG × rows) += x_g (CinG × HW) · gcolsᵀ (HW × rows)
					xg := xd[(b*cin+gi*cinG)*hw : (b*cin+(gi+1)*cinG)*hw]
					cpu.Sgemm(false, true, cinG, rows, hw, 1, xg, hw, gcols, hw, 1, gw.Data()[gi*cinG*rows:], rows)
				}
			}
		}
		if bias != nil && bias.RequiresGrad() {
			acc := make([]float64, cout)
			for p := 0; p < n*cout; p++ {
				var s float64
				for _, v := range gd[p*ohw : (p+1)*ohw] {
					s += float64(v)
				}
				acc[p%cout] += s
			}
			gb = tensor.Zeros(cout)
			for c, v := range acc {
				gb.Data()[c] = float32(v)
			}
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, weight, bias)
}

// colGeom is the geometry linking an image of c channels h×w (the
// transposed convolution's output) with a column matrix of c·kh·kw rows and
// ih·iw columns (one per input pixel).
type colGeom struct {
	c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ih, iw int
}

// col2im adds every column entry to the image pixel it lands on:
// img[c, y·sh − ph + i·dh, x·sw − pw + j·dw] += cols[(c·kh + i)·kw + j, y·iw + x].
// Channels run in parallel.
func col2im(img, cols []float32, g colGeom) {
	hw, ihw := g.h*g.w, g.ih*g.iw
	parallelFor(g.c, planeGrain(ihw*g.kh*g.kw), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := img[c*hw : (c+1)*hw]
			for i := 0; i < g.kh; i++ {
				for j := 0; j < g.kw; j++ {
					col := cols[((c*g.kh+i)*g.kw+j)*ihw:]
					for y := 0; y < g.ih; y++ {
						oy := y*g.sh - g.ph + i*g.dh
						if oy < 0 || oy >= g.h {
							continue
						}
						row, src := plane[oy*g.w:(oy+1)*g.w], col[y*g.iw:(y+1)*g.iw]
						ox := -g.pw + j*g.dw
						for x := 0; x < g.iw; x++ {
							if ox >= 0 && ox < g.w {
								row[ox] += src[x]
							}
							ox += g.sw
						}
					}
				}
			}
		}
	})
}

// im2col is the adjoint of col2im: it fills cols[(c·kh + i)·kw + j, y·iw + x]
// with img[c, y·sh − ph + i·dh, x·sw − pw + j·dw], or 0 outside the image.
func im2col(cols, img []float32, g colGeom) {
	hw, ihw := g.h*g.w, g.ih*g.iw
	parallelFor(g.c, planeGrain(ihw*g.kh*g.kw), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := img[c*hw : (c+1)*hw]
			for i := 0; i < g.kh; i++ {
				for j := 0; j < g.kw; j++ {
					col := cols[((c*g.kh+i)*g.kw+j)*ihw:]
					for y := 0; y < g.ih; y++ {
						dst := col[y*g.iw : (y+1)*g.iw]
						oy := y*g.sh - g.ph + i*g.dh
						if oy < 0 || oy >= g.h {
							clear(dst)
							continue
						}
						row := plane[oy*g.w : (oy+1)*g.w]
						ox := -g.pw + j*g.dw
						for x := range dst {
							if ox >= 0 && ox < g.w {
								dst[x] = row[ox]
							} else {
								dst[x] = 0
							}
							ox += g.sw
						}
					}
				}
			}
		}
	})
}
