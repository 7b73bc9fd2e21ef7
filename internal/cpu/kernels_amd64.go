//go:build !noasm

package cpu

import xcpu "golang.org/x/sys/cpu"

//go:generate go run asmgen/gen.go -out sgemm_amd64.s

// Micro-kernels in sgemm_amd64.s; see kernel.micro for what they compute.
// a holds kc*MR values, b kc*NR, and c an MR×NR tile with row stride ldc.

//go:noescape
func sgemmAVX512_12x32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX512_14x32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX512_6x64(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX512_8x48(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmAVX2_6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)

type asmMicro func(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// wrap turns an assembly micro-kernel into a kernel.micro, checking the
// slice lengths once per call so the assembly never reads out of bounds.
func wrap(mr, nr int, f asmMicro) func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	return func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
	}
}

var (
	avx512Kernel = kernel{name: "avx512", mr: 12, nr: 32, mc: 1536, kc: 384, nc: 480,
		micro: wrap(12, 32, sgemmAVX512_12x32)}
	avx2Kernel = kernel{name: "avx2", mr: 6, nr: 16, mc: 1536, kc: 256, nc: 480,
		micro: wrap(6, 16, sgemmAVX2_6x16)}
	// Alternative AVX-512 tile shapes, for benchmarking.
	avx512Variants = []kernel{
		{name: "avx512-14x32", mr: 14, nr: 32, mc: 1540, kc: 384, nc: 480, micro: wrap(14, 32, sgemmAVX512_14x32)},
		{name: "avx512-6x64", mr: 6, nr: 64, mc: 1536, kc: 384, nc: 512, micro: wrap(6, 64, sgemmAVX512_6x64)},
		{name: "avx512-8x48", mr: 8, nr: 48, mc: 1536, kc: 384, nc: 480, micro: wrap(8, 48, sgemmAVX512_8x48)},
	}
)

var hasAVX512 = xcpu.X86.HasAVX512F && xcpu.X86.HasAVX512VL
var hasAVX2 = xcpu.X86.HasAVX2 && xcpu.X86.HasFMA

// availableKernels lists the micro-kernels usable on this CPU, best first.
func availableKernels() []kernel {
	var ks []kernel
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
		ks = append(ks, avx512Variants...)
	}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

func init() { active = availableKernels()[0] }
