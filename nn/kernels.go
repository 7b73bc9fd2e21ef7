package nn

import "github.com/fovea-ml/fovea/internal/cpu"

// Reduction kernels of the normalisation layers. They sum float32 data in
// float64; the ones written here keep four independent accumulators, so
// that the loop is not bound by the latency of one chain of additions.

// sumSq returns Σa and Σa² of a (internal/cpu's vectorised kernel).
func sumSq(a []float32) (s, ss float64) { return cpu.SumSq(a) }

// centredSq returns Σ(a − m)².
func centredSq(a []float32, m float64) float64 {
	var q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := float64(a[i])-m, float64(a[i+1])-m, float64(a[i+2])-m, float64(a[i+3])-m
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := float64(a[i]) - m
		q0 += d * d
	}
	return (q0 + q1) + (q2 + q3)
}

// sumDot returns Σg and Σg·h (internal/cpu's vectorised kernel).
func sumDot(g, h []float32) (s, d float64) { return cpu.SumDot(g, h) }

// sumDotW returns Σg·w and Σg·w·h.
func sumDotW(g, w, h []float32) (s, d float64) {
	w, h = w[:len(g)], h[:len(g)]
	var s0, s1, s2, s3, d0, d1, d2, d3 float64
	i := 0
	for ; i+4 <= len(g); i += 4 {
		g0 := float64(g[i]) * float64(w[i])
		g1 := float64(g[i+1]) * float64(w[i+1])
		g2 := float64(g[i+2]) * float64(w[i+2])
		g3 := float64(g[i+3]) * float64(w[i+3])
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
		gi := float64(g[i]) * float64(w[i])
		s0 += gi
		d0 += gi * float64(h[i])
	}
	return (s0 + s1) + (s2 + s3), (d0 + d1) + (d2 + d3)
}
