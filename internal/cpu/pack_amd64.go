//go:build !noasm

package cpu

//go:noescape
func packRowsAVX512(dst, base *float32, offs *int32, kc int, mask uint32, stride int)

func packRowsAsm(dst, src []float32, base int, offs []int32, cols, stride int) {
	packRowsAVX512(&dst[0], &src[base], &offs[0], len(offs), uint32(1<<cols-1), stride)
}

func transposePackAsm(dst []float32, dstStride int, src []float32, base, srcStride, rows, kc int, wmask uint32) {
	transposePackAVX512(&dst[0], dstStride, &src[base], srcStride, rows, kc, wmask)
}

//go:noescape
func transposePackAVX512(dst *float32, dstStride int, src *float32, srcStride int, rows, kc int, wmask uint32)
