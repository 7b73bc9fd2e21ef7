package cpu

import "fmt"

// ConvTransposeParams describes a 2-D transposed convolution in NCHW
// layout, as PyTorch's ConvTranspose2d:
//
//	x: (N, C, H, W)   w: (C, Cout/Groups, KH, KW)   bias: (Cout)   y: (N, Cout, OH, OW)
//	OH = (H − 1)·StrideH − 2·PadH + DilH·(KH − 1) + OutPadH + 1   (likewise OW)
//
// It is the gradient with respect to the input of the convolution Conv()
// from (N, Cout, OH, OW) to (N, C, H, W) with the same weight, and is
// computed that way. Zero strides, dilations or groups mean 1; OutPadH must
// be below StrideH or DilH (likewise OutPadW).
type ConvTransposeParams struct {
	N, C, H, W, Cout, KH, KW, StrideH, StrideW, PadH, PadW, OutPadH, OutPadW, DilH, DilW, Groups int
}

// OutH is the output height.
func (p ConvTransposeParams) OutH() int {
	return (p.H-1)*one(p.StrideH) - 2*p.PadH + one(p.DilH)*(p.KH-1) + p.OutPadH + 1
}

// OutW is the output width.
func (p ConvTransposeParams) OutW() int {
	return (p.W-1)*one(p.StrideW) - 2*p.PadW + one(p.DilW)*(p.KW-1) + p.OutPadW + 1
}

// Conv returns the convolution whose input gradient this transposed
// convolution computes: from (N, Cout, OH, OW) to (N, C, H, W).
func (p ConvTransposeParams) Conv() ConvParams {
	q := ConvParams{N: p.N, C: p.Cout, H: p.OutH(), W: p.OutW(), Cout: p.C, KH: p.KH, KW: p.KW,
		StrideH: p.StrideH, StrideW: p.StrideW, PadH: p.PadH, PadW: p.PadW, DilH: p.DilH, DilW: p.DilW, Groups: p.Groups}
	q = q.norm()
	if p.OutPadH < 0 || p.OutPadW < 0 || (p.OutPadH >= q.StrideH && p.OutPadH >= q.DilH) || (p.OutPadW >= q.StrideW && p.OutPadW >= q.DilW) ||
		q.H < 1 || q.W < 1 || q.OutH() != p.H || q.OutW() != p.W {
		panic(fmt.Sprintf("cpu.ConvTranspose2d: invalid transposed convolution %+v", p))
	}
	return q
}

// ConvTranspose2dForward computes y = conv_transpose2d(x, w) + bias (see
// ConvTransposeParams for the shapes); bias may be nil; y is overwritten.
func ConvTranspose2dForward(p ConvTransposeParams, x, w, bias, y []float32) {
	q := p.Conv()
	if tiling(p) {
		convTransposeTiling(p, x, w, bias, y)
		return
	}
	Conv2dBackwardData(q, x, w, y)
	if bias != nil {
		if len(bias) != q.C {
			panic(fmt.Sprintf("cpu.ConvTranspose2dForward: bias has %d values, want %d", len(bias), q.C))
		}
		hw := q.H * q.W
		for n := 0; n < q.N; n++ {
			for c := 0; c < q.C; c++ {
				row := y[(n*q.C+c)*hw : (n*q.C+c+1)*hw]
				for i := range row {
					row[i] += bias[c]
				}
			}
		}
	}
}

// ConvTranspose2dBackwardData computes dx (N, C, H, W) from dy
// (N, Cout, OH, OW); dx is overwritten.
func ConvTranspose2dBackwardData(p ConvTransposeParams, dy, w, dx []float32) {
	Conv2dForward(p.Conv(), dy, w, nil, dx)
}

// ConvTranspose2dBackwardWeight computes dw (C, Cout/Groups, KH, KW) and,
// when not nil, dbias (Cout) from x and dy; both are overwritten.
func ConvTranspose2dBackwardWeight(p ConvTransposeParams, x, dy, dw, dbias []float32) {
	q := p.Conv()
	Conv2dBackwardWeight(q, dy, x, dw, nil)
	if dbias != nil {
		if len(dbias) != q.C {
			panic(fmt.Sprintf("cpu.ConvTranspose2dBackwardWeight: dbias has %d values, want %d", len(dbias), q.C))
		}
		hw := q.H * q.W
		clear(dbias)
		for n := 0; n < q.N; n++ {
			for c := 0; c < q.C; c++ {
				dbias[c] += sum(dy[(n*q.C+c)*hw : (n*q.C+c+1)*hw])
			}
		}
	}
}

// tiling reports whether the transposed convolution's kernel footprints tile the output
// without overlap or gaps: stride = kernel, no padding, dilation or output padding, one
// group (SAM's and U-Net's 2×2 stride-2 upsampling).
func tiling(p ConvTransposeParams) bool {
	return p.KH == one(p.StrideH) && p.KW == one(p.StrideW) && p.PadH == 0 && p.PadW == 0 &&
		p.OutPadH == 0 && p.OutPadW == 0 && one(p.DilH) == 1 && one(p.DilW) == 1 && one(p.Groups) == 1
}

// convTransposeTiling is ConvTranspose2dForward for tiling kernels: for each image one
// GEMM Z (Cout·KH·KW, H·W) = Wᵀ · X, whose row (o, di, dj) is then scattered to output
// pixels (i·KH + di, j·KW + dj) with the bias added.
func convTransposeTiling(p ConvTransposeParams, x, w, bias, y []float32) {
	c, co, kh, kw, h, wd := p.C, p.Cout, p.KH, p.KW, p.H, p.W
	if len(x) < p.N*c*h*wd || len(w) < c*co*kh*kw || len(y) < p.N*co*h*kh*wd*kw || (bias != nil && len(bias) != co) {
		panic(fmt.Sprintf("cpu.ConvTranspose2dForward: slices too short for %+v", p))
	}
	rows, hw := co*kh*kw, h*wd
	ow := wd * kw
	z := make([]float32, rows*hw)
	for n := 0; n < p.N; n++ {
		Sgemm(true, false, rows, hw, c, 1, w, rows, x[n*c*hw:], hw, 0, z, hw)
		yn := y[n*co*hw*kh*kw:]
		ParallelGrain(co, max(1, 4096/(hw*kh*kw)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				var b float32
				if bias != nil {
					b = bias[o]
				}
				for di := 0; di < kh; di++ {
					for dj := 0; dj < kw; dj++ {
						zr := z[((o*kh+di)*kw+dj)*hw:]
						for i := 0; i < h; i++ {
							out := yn[(o*h*kh+i*kh+di)*ow+dj:]
							src := zr[i*wd : (i+1)*wd]
							for j, v := range src {
								out[j*kw] = v + b
							}
						}
					}
				}
			}
		})
	}
}
