package cpu

import (
	"fmt"
	"math"
)

// Vector math over float32 slices: dst[i] = f(src[i]). dst and src must
// have the same length and may be the same slice. Exp, Sigmoid, SiLU, Tanh
// and Erf are within 3 ulp of the float64 functions of package math (SiLU
// loses bits only where its result is subnormal); GELU within 3 ulp of
// float64 GELU everywhere, the left tail and subnormal results included
// (PyTorch's float32 GELU cancels outright there); GELUTanh within 16 ulp
// (its cubic is rounded to float32 before the steep tail function). Long
// slices run on all Threads().

const vmathGrain = 16384

func checkVec(op string, dst, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("%s: dst has %d values and src %d", op, len(dst), len(src)))
	}
}

// Exp sets dst[i] = e^src[i].
func Exp(dst, src []float32) {
	checkVec("cpu.Exp", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(0, d, s)
			return
		}
		for i, x := range s {
			d[i] = expf(x)
		}
	})
}

// Sigmoid sets dst[i] = 1 / (1 + e^−src[i]).
func Sigmoid(dst, src []float32) {
	checkVec("cpu.Sigmoid", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(1, d, s)
			return
		}
		for i, x := range s {
			d[i] = sigmoidf(x)
		}
	})
}

// SiLU sets dst[i] = src[i] · sigmoid(src[i]) (also called swish).
func SiLU(dst, src []float32) {
	checkVec("cpu.SiLU", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(2, d, s)
			return
		}
		for i, x := range s {
			d[i] = x * sigmoidf(x)
		}
	})
}

// Tanh sets dst[i] = tanh(src[i]).
func Tanh(dst, src []float32) {
	checkVec("cpu.Tanh", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(3, d, s)
			return
		}
		for i, x := range s {
			d[i] = tanhf(x)
		}
	})
}

// Erf sets dst[i] = erf(src[i]).
func Erf(dst, src []float32) {
	checkVec("cpu.Erf", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(4, d, s)
			return
		}
		for i, x := range s {
			d[i] = erff(x)
		}
	})
}

// GELU sets dst[i] = src[i]/2 · (1 + erf(src[i]/√2)), PyTorch's default
// (approximate='none') GELU, as src[i]·Φ(src[i]) through the normal
// distribution's upper tail (see geluf; AVX-512: geluAVX512). −Inf gives
// NaN, like the formula.
func GELU(dst, src []float32) {
	checkVec("cpu.GELU", dst, src)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if active.asmPack && len(s) > 0 {
			vmathAsm(5, d, s)
			return
		}
		for i, x := range s {
			d[i] = geluf(x)
		}
	})
}

// GELUTanh sets dst[i] = src[i]/2 · (1 + tanh(√(2/π)·(src[i] + 0.044715·src[i]³))),
// PyTorch's GELU with approximate='tanh'.
func GELUTanh(dst, src []float32) {
	checkVec("cpu.GELUTanh", dst, src)
	const k = 0.7978845608028654 // √(2/π)
	ParallelGrain(len(src), vmathGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i, x := range s {
			// (1 + tanh(u))/2 = sigmoid(2u), without the cancellation for u ≪ 0.
			if x < -3 {
				// Tail, in float64: 2u is large and its rounding would cost ulps.
				x64 := float64(x)
				d[i] = float32(x64 / (1 + math.Exp(-2*k*(x64+0.044715*x64*x64*x64))))
				continue
			}
			d[i] = x * sigmoidf(2*k*(x+0.044715*x*x*x))
		}
	})
}

// Softmax sets each of the rows of dst (rows × cols, row-major) to the
// softmax of the same row of src: e^(x − max) / Σ e^(x − max), with
// x − max rounded to float32, the exponentials summed in float64, and each
// exponential multiplied by float32(1/Σ). dst and src hold rows·cols
// values each and may be the same slice (in-place softmax); partially
// overlapping slices are not allowed. A row containing a NaN or +Inf, or
// made only of −Inf, comes out all NaN. Rows run on all Threads().
//
// With AVX-512 each row runs in assembly (the max, the exponentials and
// their sum, the scaling), bit for bit as if the exponentials (the AVX-512
// exp) were summed in order: see softmaxInv. The pure-Go path (noasm build
// or no AVX-512) sums in order with expf. Against float64 softmax of the
// same inputs a result is within 3 + |x − max| ulp, the |x − max| from
// rounding x − max to float32 (measured: at most 1.52 ulp beyond |x − max|,
// absolute error at most 3.5e-8, TestSoftmaxAccuracy).
func Softmax(dst, src []float32, rows, cols int) {
	if rows < 0 || cols < 0 || len(src) != rows*cols || len(dst) != rows*cols {
		panic(fmt.Sprintf("cpu.Softmax: %d×%d rows need %d values, have dst %d and src %d", rows, cols, rows*cols, len(dst), len(src)))
	}
	if cols == 0 {
		return
	}
	ParallelGrain(rows, max(1, vmathGrain/cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
			if active.asmPack {
				sum := softmaxExpAsm(d, s)
				scaleAsm(d, softmaxInv(d, sum))
				continue
			}
			softmaxRowGo(d, s)
		}
	})
}

// softmaxRowGo is one row of Softmax in Go (len(d) == len(s) > 0, d may be s).
func softmaxRowGo(d, s []float32) {
	m := float32(math.Inf(-1))
	for _, x := range s {
		if x > m || x != x {
			m = x
		}
	}
	for i, x := range s {
		d[i] = expf(x - m)
	}
	var sum float64
	for _, e := range d {
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range d {
		d[i] *= inv
	}
}

// softmaxSlack scales the bound on the difference between two float64 sums
// of the same non-negative terms that softmaxInv relies on (2 would do; 4
// leaves room for the rounding of the interval's ends); tests raise it to
// force the in-order summation.
var softmaxSlack = 4.0

// softmaxInv returns float32(1/Σ), Σ being the in-order float64 sum of the
// exponentials d (what softmaxRowGo uses), given sum, a float64 sum of the
// same d in another order. Any two float64 sums of n non-negative terms
// are within 2(n−1)·2⁻⁵³ (1+O(2⁻⁵³)) of each other relative to the sum;
// when float32(1/x) is the same at both ends of a wider interval around
// sum, it is the value in-order summation would give. Otherwise (about 4
// rows in 100 000 of 4096 columns, fewer for shorter rows, and rows whose
// sum is NaN) d is summed again in order.
func softmaxInv(d []float32, sum float64) float32 {
	slack := softmaxSlack * float64(len(d)) * 0x1p-53
	lo, hi := float32(1/(sum*(1+slack))), float32(1/(sum*(1-slack)))
	if lo == hi {
		return lo
	}
	var seq float64
	for _, e := range d {
		seq += float64(e)
	}
	return float32(1 / seq)
}

// expf is e^x in float32: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
// polynomial (Cephes' expf coefficients), then scaled by 2^n.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	switch {
	case x != x:
		return x
	case x > 88.72283905206835:
		return float32(math.Inf(1))
	case x < -103.97207708399179:
		return 0
	}
	fx := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - fx*ln2Hi
	r -= fx * ln2Lo
	z := r * r
	y := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y = y*z + r + 1
	n := int32(fx)
	n1 := n / 2
	return y * pow2f(n1) * pow2f(n-n1)
}

// pow2f is 2^n for n in [-126, 127].
func pow2f(n int32) float32 { return math.Float32frombits(uint32(n+127) << 23) }

// sigmoidf is 1/(1+e^−x), written as e^x/(1+e^x) for x < 0 so that it
// keeps its relative accuracy down to the smallest float32.
func sigmoidf(x float32) float32 {
	if x < 0 {
		e := expf(x)
		return e / (1 + e)
	}
	return 1 / (1 + expf(-x))
}

// tanhf is tanh(x) in float32 (Cephes' tanhf: an odd polynomial below
// 0.625, 1 − 2/(e^2x + 1) above).
func tanhf(x float32) float32 {
	z := x
	if z < 0 {
		z = -z
	}
	switch {
	case x != x:
		return x
	case z > 9.1:
		if x < 0 {
			return -1
		}
		return 1
	case z >= 0.625:
		e := expf(2 * z)
		t := 1 - 2/(e+1)
		if x < 0 {
			return -t
		}
		return t
	}
	s := x * x
	p := (((-5.70498872745e-3*s+2.06390887954e-2)*s-5.37397155531e-2)*s+1.33314422036e-1)*s - 3.33332819422e-1
	return p*s*x + x
}

// erff is erf(x) in float32, evaluating the rational approximations of
// fdlibm's erf (as in Go's math.Erf) in float32 on the ranges that matter
// for float32 (|erf(x)| rounds to 1 beyond 4).
func erff(x float32) float32 {
	if x != x {
		return x
	}
	sign := x < 0
	if sign {
		x = -x
	}
	var r float32
	switch {
	case x < 0.84375:
		if x < 1.0/(1<<14) {
			r = x + 1.28379167095512586316e-01*x
			break
		}
		z := x * x
		p := 1.28379167095512558561e-01 + z*(-3.25042107247001499370e-01+z*(-2.84817495755985104766e-02+z*(-5.77027029648944159157e-03+z*-2.37630166566501626084e-05)))
		q := 1 + z*(3.97917223959155352819e-01+z*(6.50222499887672944485e-02+z*(5.08130628187576562776e-03+z*(1.32494738004321644526e-04+z*-3.96022827877536812320e-06))))
		r = x + x*(p/q)
	case x < 1.25:
		s := x - 1
		p := -2.36211856075265944077e-03 + s*(4.14856118683748331666e-01+s*(-3.72207876035701323847e-01+s*(3.18346619901161753674e-01+s*(-1.10894694282396677476e-01+s*(3.54783043256182359371e-02+s*-2.16637559486879084300e-03)))))
		q := 1 + s*(1.06420880400844228286e-01+s*(5.40397917702171048937e-01+s*(7.18286544141962662868e-02+s*(1.26171219808761642112e-01+s*(1.36370839120290507362e-02+s*1.19844998467991074170e-02)))))
		r = 8.45062911510467529297e-01 + p/q
	case x < 4:
		r = 1 - erfcTail(x)
	default:
		r = 1
	}
	if sign {
		return -r
	}
	return r
}

// erfcTail is erfc(x) for x ≥ 1.25 (fdlibm's rational approximations of
// x·e^(x²)·erfc(x), evaluated in float32); 0 past 10.1, where erfc
// underflows float32.
func erfcTail(x float32) float32 {
	if x > 10.1 {
		return 0
	}
	s := 1 / (x * x)
	var R, S float32
	if x < 1/0.35 {
		R = -9.86494403484714822705e-03 + s*(-6.93858572707181764372e-01+s*(-1.05586262253232909814e+01+s*(-6.23753324503260060396e+01+s*(-1.62396669462573470355e+02+s*(-1.84605092906711035994e+02+s*(-8.12874355063065934246e+01+s*-9.81432934416914548592e+00))))))
		S = 1 + s*(1.96512716674392571292e+01+s*(1.37657754143519042600e+02+s*(4.34565877475229228821e+02+s*(6.45387271733267880336e+02+s*(4.29008140027567833386e+02+s*(1.08635005541779435134e+02+s*(6.57024977031928170135e+00+s*-6.04244152148580987438e-02)))))))
	} else {
		R = -9.86494292470009928597e-03 + s*(-7.99283237680523006574e-01+s*(-1.77579549177547519889e+01+s*(-1.60636384855821916062e+02+s*(-6.37566443368389627722e+02+s*(-1.02509513161107724954e+03+s*-4.83519191608651397019e+02)))))
		S = 1 + s*(3.03380607434824582924e+01+s*(3.25792512996573918826e+02+s*(1.53672958608443695994e+03+s*(3.19985821950859553908e+03+s*(2.55305040643316442583e+03+s*(4.74528541206955367215e+02+s*-2.24409524465858183362e+01))))))
	}
	// e^(−x²) split as e^(−x²−0.5625)·e^(R/S) keeps the exponent argument
	// small where it matters.
	return expf(-x*x-0.5625) * expf(R/S) / x
}

// geluf is x/2·(1 + erf(x/√2)) = x·Φ(x), Φ the standard normal CDF, in
// float64 by the method of geluAVX512: the upper tail Q(z) = 1 − Φ(z) of
// z = |x| is e^(−z²/2)·U(z) with U(z) = e^(z²/2)·Q(z) = erfcx(z/√2)/2 given
// by geluU, and Φ(x) = Q(z) for x ≤ 0, 1 − Q(z) for x > 0. Within 1.1 ulp;
// x = −Inf gives NaN (−Inf·0, as the formula does).
func geluf(x float32) float32 {
	x64 := float64(x)
	z := min(math.Abs(x64), 15) // U's range; past it GELU(x) rounds to x or −0
	q := math.Exp(-0.5*x64*x64) * geluU(z)
	if x > 0 {
		q = 1 - q
	}
	return float32(x64 * q)
}

// geluU is U(z) = e^(z²/2)·Q(z) for 0 ≤ z ≤ 15, Q(z) the upper tail of
// the standard normal distribution, by a (4, 5) rational fitted for
// relative error (6.3e-9 on [0, 15], Lawson's algorithm); geluAVX512 uses
// the same coefficients.
func geluU(z float64) float64 {
	p := 0.5000000031505325 + z*(0.4392829749243424+z*(0.18396880476401356+z*(0.04088101650371972+z*0.0041532136894922855)))
	q := 1 + z*(1.6764509568825885+z*(1.2055468862356868+z*(0.4714078181253383+z*(0.10247962853476733+z*0.010410451196264596))))
	return p / q
}
