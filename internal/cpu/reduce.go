package cpu

import "fmt"

// Reductions and affine maps for the normalisation layers (batch, layer
// and group norm). They read float32 data and compute in float64, as the
// layers' statistics need; on amd64 with AVX2 and FMA they run in assembly
// (reduce_amd64.s), four float64 lanes at a time, and give the same results
// as the Go loops below up to the order of the float64 additions in
// SumSq and SumDot (NormAffine and NormGrad are bit for bit the same).

// reduceBlock is the number of elements the assembly sums per iteration;
// shorter tails are summed in Go.
const reduceBlock = 16

// SumSq returns Σx and Σx² of x, accumulated in float64.
func SumSq(x []float32) (s, ss float64) {
	n := len(x) &^ (reduceBlock - 1)
	if useReduceAsm && n > 0 {
		s, ss = sumSqAsm(&x[0], n)
	} else {
		n = 0
	}
	a, b := sumSqGo(x[n:])
	return s + a, ss + b
}

// SumDot returns Σg and Σg·h over i < len(g), accumulated in float64; h
// must be at least as long as g.
func SumDot(g, h []float32) (s, d float64) {
	if len(h) < len(g) {
		panic(fmt.Sprintf("cpu.SumDot: %d values of h for %d of g", len(h), len(g)))
	}
	n := len(g) &^ (reduceBlock - 1)
	if useReduceAsm && n > 0 {
		s, d = sumDotAsm(&g[0], &h[0], n)
	} else {
		n = 0
	}
	a, b := sumDotGo(g[n:], h[n:len(g)])
	return s + a, d + b
}

// NormAffine sets y[i] = float32((float64(x[i]) − mean)·invstd)·scale + shift
// (the float32 product and sum rounded separately) for i < len(y); x must
// be at least as long as y.
func NormAffine(y, x []float32, mean, invstd float64, scale, shift float32) {
	if len(x) < len(y) {
		panic(fmt.Sprintf("cpu.NormAffine: %d values of x for %d of y", len(x), len(y)))
	}
	n := len(y) &^ 7
	if useReduceAsm && n > 0 {
		normAffineAsm(&y[0], &x[0], n, mean, invstd, scale, shift)
	} else {
		n = 0
	}
	x = x[n:len(y)]
	y = y[n:]
	for i, v := range x {
		y[i] = float32((float64(v)-mean)*invstd)*scale + shift
	}
}

// NormGrad sets dx[i] = float32(k·float64(g[i]) − a·float64(x[i]) + c) for
// i < len(dx), evaluated left to right in float64; g and x must be at least
// as long as dx. It is the input gradient of a normalisation with the
// statistics' gradients folded into a and c.
func NormGrad(dx, g, x []float32, k, a, c float64) {
	if len(g) < len(dx) || len(x) < len(dx) {
		panic(fmt.Sprintf("cpu.NormGrad: %d values of g and %d of x for %d of dx", len(g), len(x), len(dx)))
	}
	n := len(dx) &^ 7
	if useReduceAsm && n > 0 {
		normGradAsm(&dx[0], &g[0], &x[0], n, k, a, c)
	} else {
		n = 0
	}
	g, x = g[n:len(dx)], x[n:len(dx)]
	dx = dx[n:]
	for i, v := range g {
		dx[i] = float32(k*float64(v) - a*float64(x[i]) + c)
	}
}

// MaxAccum sets m[i] = x[i] where x[i] > m[i], for i < len(m): a running
// maximum that keeps m[i] when either value is NaN or both are zeros (as
// the comparison does); x must be at least as long as m.
func MaxAccum(m, x []float32) {
	if len(x) < len(m) {
		panic(fmt.Sprintf("cpu.MaxAccum: %d values of x for %d of m", len(x), len(m)))
	}
	n := len(m) &^ 7
	if useReduceAsm && n > 0 {
		maxAccumAsm(&m[0], &x[0], n)
	} else {
		n = 0
	}
	x = x[n:len(m)]
	m = m[n:]
	for i, v := range x {
		if v > m[i] {
			m[i] = v
		}
	}
}

// sumSqGo is SumSq with four float64 accumulators.
func sumSqGo(a []float32) (s, ss float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		v0, v1, v2, v3 := float64(a[i]), float64(a[i+1]), float64(a[i+2]), float64(a[i+3])
		s0 += v0
		s1 += v1
		s2 += v2
		s3 += v3
		q0 += v0 * v0
		q1 += v1 * v1
		q2 += v2 * v2
		q3 += v3 * v3
	}
	for ; i < len(a); i++ {
		v := float64(a[i])
		s0 += v
		q0 += v * v
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// sumDotGo is SumDot with four float64 accumulators (len(h) == len(g)).
func sumDotGo(g, h []float32) (s, d float64) {
	h = h[:len(g)]
	var s0, s1, s2, s3, d0, d1, d2, d3 float64
	i := 0
	for ; i+4 <= len(g); i += 4 {
		g0, g1, g2, g3 := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
		s0 += g0
		s1 += g1
		s2 += g2
		s3 += g3
		d0 += g0 * float64(h[i])
		d1 += g1 * float64(h[i+1])
		d2 += g2 * float64(h[i+2])
		d3 += g3 * float64(h[i+3])
	}
	for ; i < len(g); i++ {
		s0 += float64(g[i])
		d0 += float64(g[i]) * float64(h[i])
	}
	return (s0 + s1) + (s2 + s3), (d0 + d1) + (d2 + d3)
}
