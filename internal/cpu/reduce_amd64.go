//go:build !noasm

package cpu

// useReduceAsm says whether the normalisation kernels of reduce.go run in
// assembly (AVX2 with FMA).
var useReduceAsm = hasAVX2

// sumSqAsm returns Σx and Σx² over n floats at x; n is a positive multiple
// of 16.
//
//go:noescape
func sumSqAsm(x *float32, n int) (s, ss float64)

// sumDotAsm returns Σg and Σg·h over n floats, g at gp; n is a positive
// multiple of 16.
//
//go:noescape
func sumDotAsm(gp, h *float32, n int) (s, d float64)

// normAffineAsm is NormAffine over n floats, a positive multiple of 8.
//
//go:noescape
func normAffineAsm(y, x *float32, n int, mean, invstd float64, scale, shift float32)

// normGradAsm is NormGrad over n floats, a positive multiple of 8.
//
//go:noescape
func normGradAsm(dx, gp, x *float32, n int, k, a, c float64)

// maxAccumAsm is MaxAccum over n floats, a positive multiple of 8.
//
//go:noescape
func maxAccumAsm(m, x *float32, n int)
