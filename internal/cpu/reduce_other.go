//go:build !amd64 || noasm

package cpu

const useReduceAsm = false

func sumSqAsm(x *float32, n int) (s, ss float64) { panic("cpu: no assembly in this build") }

func sumDotAsm(g, h *float32, n int) (s, d float64) { panic("cpu: no assembly in this build") }

func normAffineAsm(y, x *float32, n int, mean, invstd float64, scale, shift float32) {
	panic("cpu: no assembly in this build")
}

func normGradAsm(dx, g, x *float32, n int, k, a, c float64) { panic("cpu: no assembly in this build") }

func maxAccumAsm(m, x *float32, n int) { panic("cpu: no assembly in this build") }
