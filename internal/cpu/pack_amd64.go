//go:build !noasm

package cpu

//go:noescape
func packRows16AVX512(dst, base *float32, offs *int32, kc int, lmask, smask uint16, stride int)

//go:noescape
func packRows48AVX512(dst, base *float32, offs *int32, kc int, lmask, smask uint64, stride int)

// packRowsAsm is packRowsLanes for lanes ≤ 48.
func packRowsAsm(dst, src []float32, base int, offs []int32, cols, lanes, stride int) {
	from := &dst[0] // read nowhere when cols == 0
	if cols > 0 {
		from = &src[base]
	}
	if lanes > 16 {
		packRows48AVX512(&dst[0], from, &offs[0], len(offs), uint64(1)<<cols-1, uint64(1)<<lanes-1, stride)
		return
	}
	packRows16AVX512(&dst[0], from, &offs[0], len(offs), uint16(1<<cols-1), uint16(1<<lanes-1), stride)
}

func transposePackAsm(dst []float32, dstStride int, src []float32, base int, offs []int32, rows, kc int, wmask uint32) {
	_ = offs[max(rows, 1)-1]
	transposePackAVX512(&dst[0], dstStride, &src[base], &offs[0], rows, kc, wmask)
}

//go:noescape
func transposePackAVX512(dst *float32, dstStride int, src *float32, offs *int32, rows, kc int, wmask uint32)

//go:noescape
func axpyAVX512(a float32, x, y *float32, n int)

//go:noescape
func dotAVX512(x, y *float32, n int) float32

func axpyAsm(a float32, x, y []float32) {
	_ = x[len(y)-1]
	axpyAVX512(a, &x[0], &y[0], len(y))
}

func dotAsm(x, y []float32) float32 {
	_ = y[len(x)-1]
	return dotAVX512(&x[0], &y[0], len(x))
}

//go:noescape
func deinterleave2AVX512(even, odd, src *float32, n int)

func deinterleave2Asm(even, odd, src []float32) {
	n := len(even)
	_, _ = odd[n-1], src[2*n-1]
	deinterleave2AVX512(&even[0], &odd[0], &src[0], n)
}

//go:noescape
func expAVX512(dst, src *float32, n int)

//go:noescape
func sigmoidAVX512(dst, src *float32, n int, silu bool)

//go:noescape
func tanhAVX512(dst, src *float32, n int)

//go:noescape
func erfAVX512(dst, src *float32, n int)

//go:noescape
func geluAVX512(dst, src *float32, n int)

// vmathAsm runs one of the vector math kernels over dst, src (same length,
// non-empty): 0 exp, 1 sigmoid, 2 SiLU, 3 tanh, 4 erf, 5 GELU.
func vmathAsm(op int, dst, src []float32) {
	_ = dst[len(src)-1]
	switch op {
	case 0:
		expAVX512(&dst[0], &src[0], len(src))
	case 1, 2:
		sigmoidAVX512(&dst[0], &src[0], len(src), op == 2)
	case 3:
		tanhAVX512(&dst[0], &src[0], len(src))
	case 4:
		erfAVX512(&dst[0], &src[0], len(src))
	case 5:
		geluAVX512(&dst[0], &src[0], len(src))
	}
}

//go:noescape
func softmaxRowAVX512(dst, src *float32, n int) float64

//go:noescape
func scaleAVX512(dst *float32, n int, s float32)

// softmaxExpAsm sets dst[i] = e^(src[i] − max(src)) and returns Σ dst[i],
// accumulated in float64 in a blocked order (see softmaxRowAVX512).
// len(dst) == len(src) > 0; dst may be src.
func softmaxExpAsm(dst, src []float32) float64 {
	_ = dst[len(src)-1]
	return softmaxRowAVX512(&dst[0], &src[0], len(src))
}

// scaleAsm sets dst[i] *= s; len(dst) > 0.
func scaleAsm(dst []float32, s float32) { scaleAVX512(&dst[0], len(dst), s) }

//go:noescape
func addOuterAVX512(dst, a, b *float32, m, n int)

// addOuterAsm is AddOuter's loop for non-empty a and b (len(dst) ==
// len(a)·len(b)).
func addOuterAsm(dst, a, b []float32) {
	_ = dst[len(a)*len(b)-1]
	addOuterAVX512(&dst[0], &a[0], &b[0], len(a), len(b))
}
