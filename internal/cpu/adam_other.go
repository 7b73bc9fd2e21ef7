//go:build !amd64 || noasm

package cpu

func adamAsm(theta, g, m, v *float32, n int, k *adamAsmConsts) {
	panic("cpu: no assembly in this build")
}
