//go:build !amd64 || noasm

package cpu

// availableKernels lists the micro-kernels usable on this CPU, best first.
func availableKernels() []kernel { return []kernel{genericKernel} }

func packRowsAsm(dst, src []float32, base int, offs []int32, cols, lanes, stride int) {
	panic("cpu: no assembly packing in this build")
}

func transposePackAsm(dst []float32, dstStride int, src []float32, base int, offs []int32, rows, kc int, wmask uint32) {
	panic("cpu: no assembly packing in this build")
}

func axpyAsm(a float32, x, y []float32) { panic("cpu: no assembly in this build") }

func dotAsm(x, y []float32) float32 { panic("cpu: no assembly in this build") }

func deinterleave2Asm(even, odd, src []float32) { panic("cpu: no assembly in this build") }

func vmathAsm(op int, dst, src []float32) { panic("cpu: no assembly in this build") }

func softmaxExpAsm(dst, src []float32) float64 { panic("cpu: no assembly in this build") }

func scaleAsm(dst []float32, s float32) { panic("cpu: no assembly in this build") }

func addOuterAsm(dst, a, b []float32) { panic("cpu: no assembly in this build") }
