package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// softmaxSeq is Softmax as it was before the row kernel: the max in Go,
// x − max rounded to float32, Exp (the AVX-512 kernel or expf, as the
// active kernel selects), the exponentials summed in order in float64, then
// each multiplied by float32(1/sum).
func softmaxSeq(dst, src []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		s, d := src[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
		m := float32(math.Inf(-1))
		for _, x := range s {
			if x > m || x != x {
				m = x
			}
		}
		for i, x := range s {
			d[i] = x - m
		}
		Exp(d, d)
		var sum float64
		for _, e := range d {
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for i := range d {
			d[i] *= inv
		}
	}
}

// softmaxCols covers every tail length of the 16-, 32- and 64-float loops
// and the attention row lengths.
func softmaxCols() []int {
	var cs []int
	for c := 1; c <= 70; c++ {
		cs = append(cs, c)
	}
	return append(cs, 127, 128, 129, 196, 255, 1000, 4096, 4096+17)
}

func nanSlice(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestSoftmaxBitExact checks that Softmax gives bit for bit the in-order
// result (softmaxSeq) for every kernel, into a separate dst and in place,
// with the shortcut of softmaxInv on and forced off.
func TestSoftmaxBitExact(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, slack := range []float64{4, 1e12} {
			saved := softmaxSlack
			softmaxSlack = slack
			for _, cols := range softmaxCols() {
				for _, scale := range []float32{0.1, 3, 30} {
					rows := 3
					src := randSlice(rng, rows*cols)
					for i := range src {
						src[i] = src[i]*scale + 5 // an offset, so max subtraction matters
					}
					want := make([]float32, len(src))
					softmaxSeq(want, src, rows, cols)
					dst := nanSlice(len(src))
					Softmax(dst, src, rows, cols)
					inPlace := append([]float32(nil), src...)
					Softmax(inPlace, inPlace, rows, cols)
					for i := range want {
						if !sameBits(dst[i], want[i]) || !sameBits(inPlace[i], want[i]) {
							t.Fatalf("slack %g, cols %d, scale %g: [%d] = %g (in place %g), want %g",
								slack, cols, scale, i, dst[i], inPlace[i], want[i])
						}
					}
				}
			}
			softmaxSlack = saved
		}
	})
}

// TestSoftmaxAccuracy measures Softmax against float64 softmax of the same
// float32 inputs on attention-sized rows. Rounding x − max to float32
// perturbs the exponent by up to 2⁻²⁴·|x − max|, so a result e^(x−max)/Σ
// can be off by about |x − max| ulp on top of the exp's 3 ulp and the
// rounding of 1/Σ and of the product: the test allows 3 + |x − max| ulp
// (and 1e-44 absolute for subnormal results). Measured with the seed below
// (the same for every kernel): at most 1.52 ulp beyond |x − max|; 9.3 ulp
// at worst where the result is ≥ 1e-4, 64 ulp at worst overall (results
// near 1e-30); absolute error at most 3.5e-8.
func TestSoftmaxAccuracy(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(23, 24))
		var worstBig, worst, worstExcess, worstAbs float64
		for _, cols := range []int{196, 4096} {
			for _, scale := range []float32{1, 3, 10} {
				rows := 64
				src := randSlice(rng, rows*cols)
				for i := range src {
					src[i] *= scale
				}
				dst := nanSlice(len(src))
				Softmax(dst, src, rows, cols)
				for r := 0; r < rows; r++ {
					row := src[r*cols : (r+1)*cols]
					m := math.Inf(-1)
					for _, x := range row {
						m = math.Max(m, float64(x))
					}
					var sum float64
					for _, x := range row {
						sum += math.Exp(float64(x) - m)
					}
					for c, x := range row {
						want := math.Exp(float64(x)-m) / sum
						got := dst[r*cols+c]
						abs := math.Abs(float64(got) - want)
						worstAbs = math.Max(worstAbs, abs)
						if want < 0x1p-126 {
							if abs > 1e-44 {
								t.Fatalf("cols %d scale %g: [%d,%d] = %g, want %g", cols, scale, r, c, got, want)
							}
							continue
						}
						u, dx := ulps(got, want), m-float64(x)
						if u > 3+dx {
							t.Fatalf("cols %d scale %g: [%d,%d] = %g, want %g (%.1f ulp, x − max = %g)", cols, scale, r, c, got, want, u, -dx)
						}
						worst = math.Max(worst, u)
						worstExcess = math.Max(worstExcess, u-dx)
						if want >= 1e-4 {
							worstBig = math.Max(worstBig, u)
						}
					}
				}
			}
		}
		t.Logf("worst %.2f ulp where ≥ 1e-4, %.2f ulp overall, %.2f ulp beyond |x − max|; worst absolute %.3g",
			worstBig, worst, worstExcess, worstAbs)
	})
}

// TestSoftmaxSpecial covers NaN, ±Inf, huge and equal inputs.
func TestSoftmaxSpecial(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	forEachKernel(t, func(t *testing.T) {
		for _, cols := range []int{1, 5, 16, 37, 100} {
			for _, tc := range []struct {
				name string
				set  func(row []float32)
			}{
				{"NaN", func(row []float32) { row[len(row)/2] = nan }},
				{"+Inf", func(row []float32) { row[len(row)-1] = inf }},
				{"-Inf", func(row []float32) { row[0] = -inf }},
				{"all -Inf", func(row []float32) {
					for i := range row {
						row[i] = -inf
					}
				}},
				{"equal", func(row []float32) {
					for i := range row {
						row[i] = -7
					}
				}},
				{"huge", func(row []float32) {
					for i := range row {
						row[i] = float32(i%7-3) * 1e30
					}
				}},
			} {
				src := make([]float32, 2*cols)
				for i := range src {
					src[i] = float32(i%11) - 5
				}
				tc.set(src[cols:])
				want := make([]float32, len(src))
				softmaxSeq(want, src, 2, cols)
				dst := nanSlice(len(src))
				Softmax(dst, src, 2, cols)
				for i := range want {
					if !sameBits(dst[i], want[i]) {
						t.Fatalf("%s, cols %d: [%d] = %g, want %g", tc.name, cols, i, dst[i], want[i])
					}
				}
				row := dst[cols:]
				switch tc.name {
				case "NaN", "+Inf", "all -Inf":
					for i, v := range row {
						if v == v {
							t.Fatalf("%s, cols %d: [%d] = %g, want NaN", tc.name, cols, i, v)
						}
					}
				case "-Inf":
					if row[0] != 0 && cols > 1 {
						t.Fatalf("-Inf, cols %d: got %g, want 0", cols, row[0])
					}
				case "equal":
					for i, v := range row {
						if math.Abs(float64(v)-1/float64(cols)) > 1e-7 {
							t.Fatalf("equal, cols %d: [%d] = %g, want 1/%d", cols, i, v, cols)
						}
					}
				}
			}
		}
	})
}

func TestSoftmaxPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"short dst": func() { Softmax(make([]float32, 5), make([]float32, 6), 2, 3) },
		"short src": func() { Softmax(make([]float32, 6), make([]float32, 5), 2, 3) },
		"negative":  func() { Softmax(nil, nil, -1, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Softmax with %s did not panic", name)
				}
			}()
			f()
		}()
	}
	Softmax(nil, nil, 3, 0) // empty rows: nothing to do
	Softmax(nil, nil, 0, 5)
}

// BenchmarkSoftmax runs Softmax over rows×cols scores (N(0, 3²) values,
// like scaled attention logits) into a separate dst; it reports the bytes
// read and written once each, and the wall time per row (on all Threads()).
func BenchmarkSoftmax(b *testing.B) {
	for _, shape := range [][2]int{{4096, 4096}, {4096, 196}} {
		rows, cols := shape[0], shape[1]
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			src := make([]float32, rows*cols)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 3)
			}
			dst := make([]float32, len(src))
			b.SetBytes(int64(8 * len(src)))
			for b.Loop() {
				Softmax(dst, src, rows, cols)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
