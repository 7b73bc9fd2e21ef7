// Package cpu holds fovea's floor-1 compute kernels: a BLIS-style packed
// SGEMM with AVX-512 and AVX2+FMA micro-kernels in Go assembly (chosen at run
// time) and a pure-Go fallback (always used under the noasm build tag),
// convolution and pooling kernels, vector math, and the one shared worker
// pool that all of them run on.
//
// Everything works on plain []float32 slices in row-major order; the package
// imports no other fovea package. Programmer errors (sizes that do not match
// the slices) panic with a message naming the function and the sizes.
package cpu
