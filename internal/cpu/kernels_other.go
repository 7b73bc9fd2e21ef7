//go:build !amd64 || noasm

package cpu

// availableKernels lists the micro-kernels usable on this CPU, best first.
func availableKernels() []kernel { return []kernel{genericKernel} }
