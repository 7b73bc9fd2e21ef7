//go:build !noasm

package cpu

// The AVX-512 direct-convolution kernels (conv_direct.go), generated into
// sgemm_amd64.s with the GEMM micro-kernels; see genConvFwd and genConvWgt
// in asmgen/gen.go for what they compute.

// asmConvFwd is the signature of the forward kernels: the last of the tile's
// vectors is read and written under mask (a low prefix of 16 lanes).
type asmConvFwd func(rows, kc int, a *float32, aStride int, b *float32, bRow int, offs *int32, c *float32, ldc, cRow int, bias *float32, mask int)

// asmConvWgt is the signature of the weight-gradient kernels: vecs whole
// vectors per row, then one under mask when mask is not 0.
type asmConvWgt func(rows, vecs, mask int, dy *float32, ldy, dyRow int, b *float32, offs *int32, bRow int, dw *float32, ldw int)

// avx512Conv runs the generated kernels, checking every slice bound once per
// call so that the assembly never reads or writes out of bounds.
var avx512Conv = &convKernels{
	fwd:     convFwdAVX512,
	fwdRows: len(convFwdAVX512Tiles) - 1,
	fwdVecs: func(mr int) int {
		n := 0
		for nv, f := range convFwdAVX512Tiles[mr] {
			if f != nil {
				n = nv
			}
		}
		return n
	},
	wgt:     convWgtAVX512,
	wgtRows: len(convWgtAVX512Tiles) - 1,
	wgtCols: len(convWgtAVX512Tiles[1]) - 1,
}

func convFwdAVX512(rows, kc int, a []float32, aStride int, b []float32, base, bRow int, offs []int32, lo, hi int32, c []float32, ldc, cRow int, bias []float32, mr, cols int) {
	nv := (cols + 15) / 16
	f := convFwdAVX512Tiles[mr][nv]
	checkConvB("convFwd", b, base, lo, hi, (rows-1)*bRow+cols)
	_ = offs[kc-1]
	_ = a[(kc-1)*aStride+mr-1]
	_ = c[(rows-1)*cRow+(mr-1)*ldc+cols-1]
	var pb *float32
	if bias != nil {
		_ = bias[mr-1]
		pb = &bias[0]
	}
	mask := 1<<(cols-16*(nv-1)) - 1
	f(rows, kc, &a[0], aStride, &b[base], bRow, &offs[0], &c[0], ldc, cRow, pb, mask)
}

func convWgtAVX512(rows, cols int, dy []float32, ldy, dyRow int, b []float32, base int, offs []int32, lo, hi int32, bRow int, dw []float32, ldw, r, s int) {
	f := convWgtAVX512Tiles[r][s]
	checkConvB("convWgt", b, base, lo, hi, (rows-1)*bRow+cols)
	_ = offs[s-1]
	_ = dy[(r-1)*ldy+(rows-1)*dyRow+cols-1]
	_ = dw[(r-1)*ldw+s-1]
	f(rows, cols/16, 1<<(cols%16)-1, &dy[0], ldy, dyRow, &b[base], &offs[0], bRow, &dw[0], ldw)
}
