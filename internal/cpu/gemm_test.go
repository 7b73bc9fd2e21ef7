package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// naiveGemm is the float64 reference for Sgemm.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[offA(transA, i, p, lda)]) * float64(b[offB(transB, p, j, ldb)])
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra stride on each of A, B, C
	alpha, beta    float32
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	sizes := [][3]int{
		{1, 1, 1}, {7, 7, 7}, {33, 33, 33}, {129, 129, 129},
		{1, 17, 5}, {17, 1, 5}, {5, 3, 1}, {13, 35, 300}, {70, 45, 9},
		{31, 64, 530}, {300, 17, 40}, {2, 700, 33}, {260, 130, 70},
	}
	for _, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				cases = append(cases, gemmCase{ta, tb, s[0], s[1], s[2], 0, 1, 0})
				cases = append(cases, gemmCase{ta, tb, s[0], s[1], s[2], 3, -0.5, 1.5})
			}
		}
	}
	cases = append(cases,
		gemmCase{false, false, 9, 8, 7, 2, 2, 1},
		gemmCase{true, true, 40, 41, 42, 5, 1, -1},
		gemmCase{false, true, 0, 5, 5, 0, 1, 0},
		gemmCase{false, false, 5, 5, 0, 0, 1, 2},
		gemmCase{false, false, 5, 5, 5, 0, 0, 0.5},
	)
	return cases
}

func runGemmCase(t *testing.T, rng *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := max(ac, 1)+tc.pad, max(bc, 1)+tc.pad, max(tc.n, 1)+tc.pad
	a := randSlice(rng, max(ar*lda, 1))
	b := randSlice(rng, max(br*ldb, 1))
	c := randSlice(rng, max(tc.m*ldc, 1))
	if tc.beta == 0 {
		// beta == 0 must not read C.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want := naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	orig := append([]float32(nil), c...)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	res := make([]float32, 0, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if got != orig[i*ldc+j] && !(math.IsNaN(float64(got)) && math.IsNaN(float64(orig[i*ldc+j]))) {
					t.Fatalf("%+v: C[%d,%d] past n changed", tc, i, j)
				}
				continue
			}
			res = append(res, got)
		}
	}
	// Against the float64 reference under the one golden measure
	// (golden.Err), element i·n + j being C[i,j].
	golden.Check(t, fmt.Sprintf("cpu/sgemm %+v", tc), res, want, gemmTol(tc.k))
}

// forEachKernel runs f once with each micro-kernel path available here.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	saved := active
	defer func() { active = saved }()
	for _, name := range Kernels() {
		if err := UseKernel(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, f)
	}
}

func TestSgemm(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, tc := range gemmCases() {
			runGemmCase(t, rng, tc)
		}
	})
}

// TestSgemmBlocking shrinks each kernel's block sizes so that small products
// cross the mc/kc/nc block boundaries, single- and multi-threaded.
func TestSgemmBlocking(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		k := active
		k.mc, k.kc, k.nc = 2*k.mr, 5, 2*k.nr
		active = k
		savedMin := parallelMinMNK
		parallelMinMNK = 0 // split even these small products across threads
		defer func() { parallelMinMNK = savedMin }()
		for _, threads := range []int{1, 2, 3} {
			saved := Threads()
			SetThreads(threads)
			for _, tc := range []gemmCase{
				{false, false, k.mc + 3, k.nc + 5, k.kc + 7, 1, 1, 0},
				{true, false, k.mc + k.mr, 2*k.nr + 1, 2*k.kc + 1, 0, 0.5, 2},
				{false, true, 3, k.nc + 2*k.nr + 3, k.kc + 1, 2, 1, 1},
				{true, true, 2*k.mr + 1, 3 * k.nr, 90, 1, 1, 0},
				{false, false, 3*k.mc + 1, 3*k.nc + 1, 100, 0, 1, 0},
			} {
				runGemmCase(t, rng, tc)
			}
			SetThreads(saved)
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Sgemm(false, false, -1, 1, 1, 1, nil, 1, nil, 1, 0, nil, 1) },
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

func TestParallel(t *testing.T) {
	for _, threads := range []int{1, 2, 5} {
		saved := Threads()
		SetThreads(threads)
		for _, n := range []int{0, 1, 2, 3, 10, 1000} {
			seen := make([]int32, n)
			Parallel(n, func(lo, hi int) {
				// Nested calls run inline and must still cover their range.
				Parallel(hi-lo, func(l, h int) {
					for i := lo + l; i < lo+h; i++ {
						seen[i]++
					}
				})
			})
			for i, s := range seen {
				if s != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, s)
				}
			}
		}
		SetThreads(saved)
	}
}

// TestParallelPanic checks that a panic in a worker reaches the caller and
// leaves the pool usable.
func TestParallelPanic(t *testing.T) {
	saved := Threads()
	SetThreads(2)
	defer SetThreads(saved)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		Parallel(4, func(lo, hi int) {
			if lo > 0 {
				panic("boom")
			}
		})
	}()
	n := 0
	Parallel(2, func(lo, hi int) {})
	Parallel(1, func(lo, hi int) { n++ })
	if n != 1 {
		t.Fatal("pool unusable after a panic")
	}
}

func benchGemm(b *testing.B, m, n, k int) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := randSlice(rng, m*k)
	bb := randSlice(rng, k*n)
	c := make([]float32, m*n)
	// Follow go test -cpu.
	saved := Threads()
	SetThreads(runtime.GOMAXPROCS(0))
	defer SetThreads(saved)
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
	cpu := cpuTime() - start
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// Per busy core: the kernels' efficiency, less disturbed by other
	// processes than the wall-clock figure.
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/s/core")
}

// BenchmarkSgemm runs square and conv-shaped products with every kernel path
// (m×n×k in the name).
func BenchmarkSgemm(b *testing.B) {
	saved := active
	defer func() { active = saved }()
	for _, name := range Kernels() {
		for _, s := range [][3]int{{256, 256, 256}, {1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 64, 576}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", name, s[0], s[1], s[2]), func(b *testing.B) {
				if err := UseKernel(name); err != nil {
					b.Fatal(err)
				}
				benchGemm(b, s[0], s[1], s[2])
			})
		}
	}
}

// BenchmarkParallelOverhead times a Parallel call with no work: the pool's
// hand-off latency.
func BenchmarkParallelOverhead(b *testing.B) {
	saved := Threads()
	SetThreads(runtime.GOMAXPROCS(0))
	defer SetThreads(saved)
	for i := 0; i < b.N; i++ {
		Parallel(2, func(lo, hi int) {})
	}
}

// gemmTol is the tolerance of Sgemm against the float64 reference under the
// golden measure for inner dimension k: the float32 error of a k-term dot
// product grows like √k; measured worst case 2.3e-6·√(k+1) (1.9e-5 at
// m 260, n 130, k 70).
func gemmTol(k int) float64 { return 1e-5 * math.Sqrt(float64(k)+1) }
