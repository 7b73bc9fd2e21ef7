//go:build !noasm

package cpu

import xcpu "golang.org/x/sys/cpu"

//go:generate go run asmgen/gen.go -out sgemm_amd64.s -go sgemm_amd64.go

// The micro-kernels are in sgemm_amd64.s, declared in sgemm_amd64.go; see
// kernel.micro for what they compute. For a packing of MR rows × NR columns,
// a holds kc*MR values, b kc*NR, and c an MR×NR tile with row stride ldc; the
// edge kernels compute only the first mr rows and nv vectors.

// asmMicro is the signature of the assembly micro-kernels.
type asmMicro func(kc int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32)

// wrap turns an assembly micro-kernel into a kernel.micro, checking the
// slice lengths once per call so the assembly never reads out of bounds.
// The kernel reads packed panels of mr×nr and writes rows×cols of c.
func wrap(mr, nr, rows, cols int, f asmMicro) microFunc {
	return func(kc int, a, b, c []float32, ldc int, alpha, beta float32, bias []float32) {
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		_ = c[(rows-1)*ldc+cols-1]
		var pb *float32
		if bias != nil {
			_ = bias[rows-1]
			pb = &bias[0]
		}
		f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, pb)
	}
}

// asmMicroDirect is the signature of the assembly micro-kernels that read A
// unpacked (row i at a + i·lda).
type asmMicroDirect func(kc int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lda int)

// directs returns a kernel.direct for a table of direct-A kernels indexed
// [rows][vectors] on a B packing of nr columns, width floats per vector.
func directs(nr, width int, tiles [][]asmMicroDirect) func(mrr, nrr int) microDirectFunc {
	table := make([][]microDirectFunc, len(tiles))
	for rows, row := range tiles {
		table[rows] = make([]microDirectFunc, len(row))
		for nv, f := range row {
			if f == nil {
				continue
			}
			cols := nv * width
			table[rows][nv] = func(kc int, a []float32, lda int, b, c []float32, ldc int, alpha, beta float32, bias []float32) {
				_ = a[(rows-1)*lda+kc-1]
				_ = b[kc*nr-1]
				_ = c[(rows-1)*ldc+cols-1]
				var pb *float32
				if bias != nil {
					_ = bias[rows-1]
					pb = &bias[0]
				}
				f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, pb, lda)
			}
		}
	}
	return func(mrr, nrr int) microDirectFunc {
		if nrr%width != 0 || mrr >= len(table) || nrr/width >= len(table[mrr]) {
			return nil
		}
		return table[mrr][nrr/width]
	}
}

// edges returns a kernel.edge for a table of edge kernels indexed
// [rows][vectors] (see sgemm_amd64.go) on a packing of mr×nr, width floats
// per vector.
func edges(mr, nr, width int, tiles [][]asmMicro) func(mrr, nrr int) microFunc {
	var table [][]microFunc
	for rows, row := range tiles {
		var r []microFunc
		for nv, f := range row {
			if f == nil {
				r = append(r, nil)
			} else {
				r = append(r, wrap(mr, nr, rows, nv*width, f))
			}
		}
		table = append(table, r)
	}
	return func(mrr, nrr int) microFunc {
		if nrr%width != 0 || mrr >= len(table) || nrr/width >= len(table[mrr]) {
			return nil
		}
		return table[mrr][nrr/width]
	}
}

var (
	// avx512Kernel is the AVX-512 path: 8×48 tiles (24 accumulators, three
	// 16-float vectors of B and eight broadcasts of A per step), measured the
	// fastest of the generated shapes on Zen 5.
	avx512Kernel = kernel{name: "avx512", mr: 8, nr: 48, vecs: 3, mc: 1536, kc: 384, nc: 480, asmPack: true,
		micro:  wrap(8, 48, 8, 48, sgemmAVX512_8x48_8x48),
		edge:   edges(8, 48, 16, sgemmAVX512_8x48Tiles),
		direct: directs(48, 16, sgemmAVX512_8x48dTiles),
		conv:   avx512Conv}
	avx2Kernel = kernel{name: "avx2", mr: 6, nr: 16, mc: 1536, kc: 256, nc: 480,
		micro: wrap(6, 16, 6, 16, sgemmAVX2_6x16_6x16),
		edge:  edges(6, 16, 8, sgemmAVX2_6x16Tiles)}
	// Alternative AVX-512 tile shapes, kept for benchmarking.
	avx512Variants = []kernel{
		{name: "avx512-12x32", mr: 12, nr: 32, mc: 1536, kc: 384, nc: 480, asmPack: true,
			micro: wrap(12, 32, 12, 32, sgemmAVX512_12x32_12x32),
			edge:  edges(12, 32, 16, sgemmAVX512_12x32Tiles)},
		{name: "avx512-14x32", mr: 14, nr: 32, mc: 1540, kc: 384, nc: 480, asmPack: true,
			micro: wrap(14, 32, 14, 32, sgemmAVX512_14x32_14x32)},
	}
)

var hasAVX512 = xcpu.X86.HasAVX512F && xcpu.X86.HasAVX512VL && xcpu.X86.HasAVX512DQ
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
