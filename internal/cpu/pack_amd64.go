//go:build !noasm

package cpu

//go:noescape
func packRows16AVX512(dst, base *float32, offs *int32, kc int, lmask, smask uint16, stride int)

// packRowsAsm is packRows in 16-lane groups (stride ≤ 48).
func packRowsAsm(dst, src []float32, base int, offs []int32, cols, stride int) {
	for h := 0; 16*h < stride; h++ {
		lanes := min(16, stride-16*h)
		c := min(16, max(0, cols-16*h))
		packRows16AVX512(&dst[16*h], &src[base+16*h*min(1, c)], &offs[0], len(offs), uint16(1<<c-1), uint16(1<<lanes-1), stride)
	}
}

func transposePackAsm(dst []float32, dstStride int, src []float32, base, srcStride, rows, kc int, wmask uint32) {
	transposePackAVX512(&dst[0], dstStride, &src[base], srcStride, rows, kc, wmask)
}

//go:noescape
func transposePackAVX512(dst *float32, dstStride int, src *float32, srcStride int, rows, kc int, wmask uint32)
