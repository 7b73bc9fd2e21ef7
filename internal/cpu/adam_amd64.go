//go:build !noasm

package cpu

// adamAsm is AdamUpdate's loop over n elements, a positive multiple of 8
// (AVX2 with FMA available: useReduceAsm).
//
//go:noescape
func adamAsm(theta, grad, m, v *float32, n int, k *adamAsmConsts)
