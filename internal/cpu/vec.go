package cpu

import "fmt"

// axpy sets y[i] += a*x[i] for i < len(y) (len(x) ≥ len(y)).
func axpy(a float32, x, y []float32) {
	if active.asmPack && len(y) >= 16 {
		axpyAsm(a, x, y)
		return
	}
	x = x[:len(y)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dot returns Σ x[i]*y[i] over i < len(x) (len(y) ≥ len(x)).
func dot(x, y []float32) float32 {
	if active.asmPack && len(x) >= 16 {
		return dotAsm(x, y)
	}
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// deinterleave2 sets even[i] = src[2i] and odd[i] = src[2i+1] for
// i < len(even); odd and src must be at least that long and twice that.
func deinterleave2(even, odd, src []float32) {
	n := len(even)
	if n == 0 {
		return
	}
	if active.asmPack {
		deinterleave2Asm(even, odd, src)
		return
	}
	odd, src = odd[:n], src[:2*n]
	for i := range even {
		even[i] = src[2*i]
		odd[i] = src[2*i+1]
	}
}

// AddOuter adds the outer sum of a and b to dst: with dst a len(a) ×
// len(b) matrix, row-major (len(dst) == len(a)·len(b)), it sets
// dst[i·len(b) + j] += a[i] + b[j], the sum a[i] + b[j] rounded to float32
// before it is added (bit for bit the same with and without assembly). It
// adds a decomposed relative-position bias to attention scores: for a query
// on an h×w grid, a holds its h vertical and b its w horizontal terms and
// dst its h·w scores. dst must not overlap a or b. Large matrices run on
// all Threads(). It panics if len(dst) != len(a)·len(b).
func AddOuter(dst, a, b []float32) {
	if len(dst) != len(a)*len(b) {
		panic(fmt.Sprintf("cpu.AddOuter: dst has %d values, want len(a)·len(b) = %d·%d = %d", len(dst), len(a), len(b), len(a)*len(b)))
	}
	n := len(b)
	if len(dst) == 0 {
		return
	}
	ParallelGrain(len(a), max(1, vmathGrain/n), func(lo, hi int) {
		d, a := dst[lo*n:hi*n], a[lo:hi]
		if active.asmPack {
			addOuterAsm(d, a, b)
			return
		}
		for i, av := range a {
			row := d[i*n : (i+1)*n]
			for j, bv := range b {
				row[j] += av + bv
			}
		}
	})
}
