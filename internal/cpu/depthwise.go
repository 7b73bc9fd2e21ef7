package cpu

// Depthwise convolutions (Groups == C == Cout): each channel is convolved
// with its own KH×KW filter. They use the same shifted-row view of the
// padded input as the GEMM path (see convView), with axpy and dot loops
// over whole output rows instead of a GEMM of one row.

// depthwiseForward is Conv2dForward for Groups == C == Cout.
func depthwiseForward(p ConvParams, x, w, bias, y []float32) {
	v := newConvView(p)
	kk := p.KH * p.KW
	ohw := v.oh * v.ow
	ParallelGrain(p.N*p.C, 1, func(lo, hi int) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		bufs.out = grow(bufs.out, v.ncols)
		out := bufs.out
		for t := lo; t < hi; t++ {
			n, c := t/p.C, t%p.C
			buf, base := v.source(x, n, c, bufs)
			b := float32(0)
			if bias != nil {
				b = bias[c]
			}
			fill(out, b)
			wc := w[c*kk : (c+1)*kk]
			for q, o := range v.offs {
				axpy(wc[q], buf[base+int(o):base+int(o)+v.ncols], out)
			}
			yc := y[t*ohw : (t+1)*ohw]
			for r := 0; r < v.oh; r++ {
				copy(yc[r*v.ow:(r+1)*v.ow], out[r*v.wq:r*v.wq+v.ow])
			}
		}
	})
}

// depthwiseBackwardData is Conv2dBackwardData for Groups == C == Cout and
// strides above 1 (stride 1 runs as a forward depthwise convolution).
func depthwiseBackwardData(p ConvParams, dy, w, dx []float32) {
	oh, ow := p.OutH(), p.OutW()
	kk := p.KH * p.KW
	ParallelGrain(p.N*p.C, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			c := t % p.C
			d := dx[t*p.H*p.W : (t+1)*p.H*p.W]
			clear(d)
			g := dy[t*oh*ow : (t+1)*oh*ow]
			wc := w[c*kk : (c+1)*kk]
			for kh := 0; kh < p.KH; kh++ {
				for kw := 0; kw < p.KW; kw++ {
					wv := wc[kh*p.KW+kw]
					for r := 0; r < oh; r++ {
						iy := r*p.StrideH - p.PadH + kh*p.DilH
						if iy < 0 || iy >= p.H {
							continue
						}
						drow := d[iy*p.W : (iy+1)*p.W]
						grow := g[r*ow : (r+1)*ow]
						ix := kw*p.DilW - p.PadW
						for _, gv := range grow {
							if ix >= 0 && ix < p.W {
								drow[ix] += wv * gv
							}
							ix += p.StrideW
						}
					}
				}
			}
		}
	})
}

// depthwiseBackwardWeight is Conv2dBackwardWeight (without dbias) for
// Groups == C == Cout; dw is zero on entry.
func depthwiseBackwardWeight(p ConvParams, x, dy, dw []float32) {
	v := newConvView(p)
	kk := p.KH * p.KW
	ohw := v.oh * v.ow
	ParallelGrain(p.C, 1, func(lo, hi int) {
		bufs := convBufPool.Get().(*convBufs)
		defer convBufPool.Put(bufs)
		bufs.out = grow(bufs.out, v.ncols)
		g := bufs.out
		for c := lo; c < hi; c++ {
			wc := dw[c*kk : (c+1)*kk]
			for n := 0; n < p.N; n++ {
				buf, base := v.source(x, n, c, bufs)
				dyc := dy[(n*p.C+c)*ohw : (n*p.C+c+1)*ohw]
				for r := 0; r < v.oh; r++ {
					row := g[r*v.wq : (r+1)*v.wq]
					copy(row, dyc[r*v.ow:(r+1)*v.ow])
					clear(row[v.ow:])
				}
				for q, o := range v.offs {
					wc[q] += dot(g, buf[base+int(o):base+int(o)+v.ncols])
				}
			}
		}
	})
}
