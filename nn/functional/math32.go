package functional

import "math"

// Float32 versions of the transcendental functions the activations need,
// faster than converting to float64 for package math. expf, tanhf and the
// erf polynomials follow the Cephes single-precision library (S. L.
// Moshier), the same approximations PyTorch's vectorised CPU kernels use;
// math32_test.go bounds their error against package math.

const (
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375    // ln 2 rounded to 9 bits, so n·ln2Hi is exact
	ln2Lo = -2.12194440e-4 // ln 2 − ln2Hi
)

// expf returns e^x with an error of about one ulp. Outside (−87, 88), where
// the result is subnormal or overflows, and for NaN, it defers to math.Exp.
func expf(x float32) float32 {
	if !(x > -87 && x < 88) {
		return float32(math.Exp(float64(x)))
	}
	// n = round(x/ln 2) by truncating x/ln 2 ± ½ (no branch), so
	// |r| ≤ ln(2)/2.
	t := x * log2e
	k := int32(t + copySign(0.5, t))
	n := float32(k)
	r := x - n*ln2Hi - n*ln2Lo
	return expPoly(r) * math.Float32frombits(uint32(k+127)<<23)
}

// expPoly returns e^r for |r| ≤ ln(2)/2 (Cephes expf's polynomial).
func expPoly(r float32) float32 {
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	return p*r*r + r + 1
}

// copySign returns |m| with the sign of s.
func copySign(m, s float32) float32 {
	return math.Float32frombits(math.Float32bits(m)&^(1<<31) | math.Float32bits(s)&(1<<31))
}

// signMask returns all ones when x's sign bit is set (x < 0, or −0), else 0.
func signMask(x float32) uint32 { return uint32(int32(math.Float32bits(x)) >> 31) }

// choose returns a where mask is all ones and b where it is 0, without a
// branch (activations see random signs, which branches mispredict).
func choose(mask uint32, a, b float32) float32 {
	return math.Float32frombits(math.Float32bits(a)&mask | math.Float32bits(b)&^mask)
}

// sigmoidf returns 1/(1 + e^−x) without overflow at either end: with
// e = e^−|x|, 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0.
func sigmoidf(x float32) float32 {
	e := expf(-abs32(x))
	s := 1 / (1 + e)
	return choose(signMask(x), e*s, s)
}

// tanhf returns tanh x: an odd polynomial below |x| = 0.625, where
// 1 − 2/(e^{2|x|} + 1) would lose relative precision, that formula above
// (both are computed and one is chosen, without a branch).
func tanhf(x float32) float32 {
	a := abs32(x)
	z := x * x
	p := float32(-5.70498872745e-3)
	p = p*z + 2.06390887954e-2
	p = p*z - 5.37397155531e-2
	p = p*z + 1.33314422036e-1
	p = p*z - 3.33332819422e-1
	small := p*z*x + x
	large := copySign(1-2/(expf(min(a+a, 40))+1), x) // tanh 20 rounds to 1
	return choose(uint32(int32(math.Float32bits(a-0.625))>>31), small, large)
}

// erff returns erf x for |x| < 1 (Cephes: x·T(x²)).
func erfSmall(x float32) float32 {
	z := x * x
	p := float32(7.853861353153693e-5)
	p = p*z - 8.010193625184903e-4
	p = p*z + 5.188327685732524e-3
	p = p*z - 2.685381193529856e-2
	p = p*z + 1.128358514861418e-1
	p = p*z - 3.761262582423300e-1
	p = p*z + 1.128379165726710
	return x * p
}

// expNegSquare returns e^(−c·x²) for c = 1 or ½ without rounding x² to
// float32 first (which would cost up to ~100 ulp in the far tail): x² is
// exact in float64, and so is the range reduction.
func expNegSquare(x, c float32) float32 {
	a := -float64(c) * float64(x) * float64(x)
	if !(a > -87) {
		return float32(math.Exp(a))
	}
	k := int32(a*log2e - 0.5) // round to nearest; a ≤ 0
	r := float32(a - float64(k)*math.Ln2)
	return expPoly(r) * math.Float32frombits(uint32(k+127)<<23)
}

// erfcTail returns erfc(a)·e^(a²) for a ≥ 1 (Cephes: P(1/a²)/a, with one
// polynomial on [1, 2) and another from 2 on).
func erfcTail(a float32) float32 {
	q := 1 / a
	z := q * q
	var p float32
	if a < 2 {
		p = 2.326819970068386e-2
		p = p*z - 1.387039388740657e-1
		p = p*z + 3.687424674597105e-1
		p = p*z - 5.824733027278666e-1
		p = p*z + 6.210004621745983e-1
		p = p*z - 4.944515323274145e-1
		p = p*z + 3.404879937665872e-1
		p = p*z - 2.741127028184656e-1
		p = p*z + 5.638259427386472e-1
	} else {
		p = -1.047766399936249e1
		p = p*z + 1.297719955372516e1
		p = p*z - 7.495518717768503
		p = p*z + 2.921019019210786
		p = p*z - 1.015265279202700
		p = p*z + 4.218463358204948e-1
		p = p*z - 2.820767439740514e-1
		p = p*z + 5.641895067754075e-1
	}
	return q * p
}

// normCDF returns Φ(x) = ½·erfc(−x/√2), the standard normal CDF, keeping its
// relative precision in the lower tail.
func normCDF(x float32) float32 {
	a := -x * invSqrt2
	if !(abs32(a) >= 1) { // also NaN
		return 0.5 * (1 - erfSmall(a))
	}
	t := 0.5 * expNegSquare(x, 0.5) * erfcTail(abs32(a)) // ½·erfc(|a|)
	if a < 0 {
		return 1 - t
	}
	return t
}

// normCDFExp returns Φ(x) and e^(−x²/2), which Φ needs for |x| ≥ √2 and
// φ(x) = e^(−x²/2)/√(2π) always. The exponential is computed from x itself,
// not from the rounded x/√2, so Φ keeps its relative precision far into the
// lower tail.
func normCDFExp(x float32) (cdf, e float32) {
	e = expNegSquare(x, 0.5)
	a := -x * invSqrt2
	if !(abs32(a) >= 1) { // also NaN
		return 0.5 * (1 - erfSmall(a)), e
	}
	t := 0.5 * e * erfcTail(abs32(a)) // ½·erfc(|a|)
	if a < 0 {
		return 1 - t, e
	}
	return t, e
}

// normPDF returns φ(x) = e^(−x²/2)/√(2π).
func normPDF(x float32) float32 { return expNegSquare(x, 0.5) * invSqrt2Pi }
