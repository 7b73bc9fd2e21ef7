package cpu

// genericKernel is the pure-Go micro-kernel, used on CPUs without AVX2+FMA,
// on other architectures and under the noasm build tag.
var genericKernel = kernel{
	name: "generic",
	mr:   4, nr: 4,
	mc: 256, kc: 256, nc: 512,
	micro: microGeneric4x4,
	conv:  genericConv,
}

// microGeneric4x4 is the pure-Go 4×4 micro-kernel (see kernel.micro).
func microGeneric4x4(kc int, a, b, c []float32, ldc int, alpha, beta float32, bias []float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*kc]
	b = b[:4*kc]
	for p := 0; p < kc; p++ {
		av := a[4*p : 4*p+4 : 4*p+4]
		bv := b[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := av[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := av[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := av[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := av[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	var b0, b1, b2, b3 float32
	if bias != nil {
		b0, b1, b2, b3 = bias[0], bias[1], bias[2], bias[3]
	}
	storeRow4(c[0:4:4], c00, c01, c02, c03, alpha, beta, b0)
	storeRow4(c[ldc:ldc+4:ldc+4], c10, c11, c12, c13, alpha, beta, b1)
	storeRow4(c[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23, alpha, beta, b2)
	storeRow4(c[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33, alpha, beta, b3)
}

func storeRow4(c []float32, v0, v1, v2, v3, alpha, beta, bias float32) {
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*v0+bias, alpha*v1+bias, alpha*v2+bias, alpha*v3+bias
		return
	}
	c[0] = alpha*v0 + beta*c[0] + bias
	c[1] = alpha*v1 + beta*c[1] + bias
	c[2] = alpha*v2 + beta*c[2] + bias
	c[3] = alpha*v3 + beta*c[3] + bias
}
