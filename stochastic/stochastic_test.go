package stochastic

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// near reports whether a matches the closed form b within tol under the one
// golden measure (golden.Err; for one value |a − b| / |b|). NaN or Inf on
// one side is never near.
func near(a, b, tol float64) bool { return golden.Err([]float64{a}, []float64{b}) <= tol }

// TestNearSeesNaN: a NaN or infinite result is never near its reference.
func TestNearSeesNaN(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range [][2]float64{{nan, 1}, {1, nan}, {inf, 1}, {1, inf}, {-inf, inf}, {nan, 0}} {
		if near(c[0], c[1], 1e300) {
			t.Errorf("near(%v, %v) = true", c[0], c[1])
		}
	}
	if !near(1+1e-16, 1, 1e-15) {
		t.Error("near(1+1e-16, 1, 1e-15) = false")
	}
}

func TestMean(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		ws   []float64 // nil: all 1
		want float64
	}{
		{"empty", nil, nil, 0},
		{"one", []float64{5}, nil, 5},
		{"several", []float64{1, 2, 3, 4}, nil, 2.5},
		{"weighted", []float64{1, 3}, []float64{3, 1}, 1.5},
		{"zero weight", []float64{1, 100, 3}, []float64{1, 0, 1}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Mean
			for i, x := range tc.xs {
				if tc.ws == nil {
					m.Add(x)
				} else {
					m.AddWeighted(x, tc.ws[i])
				}
			}
			if !near(m.Value(), tc.want, 1e-15) {
				t.Errorf("Value = %v, want %v", m.Value(), tc.want)
			}
			if m.Count() != len(tc.xs) {
				t.Errorf("Count = %d, want %d", m.Count(), len(tc.xs))
			}
			m.Reset()
			if m.Value() != 0 || m.Count() != 0 || m.Weight() != 0 {
				t.Errorf("after Reset: %+v", m)
			}
		})
	}
}

func TestMeanLongStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m Mean
	var mv MeanVar
	sum := 0.0
	xs := make([]float64, 10000)
	for i := range xs {
		xs[i] = 1e6 + rng.NormFloat64()
		m.Add(xs[i])
		mv.Add(xs[i])
		sum += xs[i]
	}
	mean := sum / float64(len(xs))
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	if !near(m.Value(), mean, 1e-12) || !near(mv.Mean(), mean, 1e-12) {
		t.Errorf("mean %v / %v, want %v", m.Value(), mv.Mean(), mean)
	}
	if !near(mv.Var(), ss/float64(len(xs)), 1e-9) || !near(mv.UnbiasedVar(), ss/float64(len(xs)-1), 1e-9) {
		t.Errorf("var %v unbiased %v, want %v", mv.Var(), mv.UnbiasedVar(), ss/float64(len(xs)))
	}
	if !near(mv.Std(), math.Sqrt(ss/float64(len(xs))), 1e-9) {
		t.Errorf("std %v", mv.Std())
	}
}

func TestMeanBadWeight(t *testing.T) {
	for _, w := range []float64{-1, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddWeighted(1, %v) did not panic", w)
				}
			}()
			var m Mean
			m.AddWeighted(1, w)
		}()
	}
}

func TestEMA(t *testing.T) {
	e := NewEMA(0.9)
	if e.Value() != 0 {
		t.Fatalf("empty Value = %v", e.Value())
	}
	raw := 0.0
	xs := []float64{3, 1, 4, 1, 5, 9, 2, 6}
	for k, x := range xs {
		e.Add(x)
		raw = 0.9*raw + 0.1*x
		corr := raw / (1 - math.Pow(0.9, float64(k+1)))
		if !near(e.Raw(), raw, 1e-14) || !near(e.Value(), corr, 1e-14) {
			t.Fatalf("step %d: raw %v value %v, want %v %v", k, e.Raw(), e.Value(), raw, corr)
		}
	}
	// A constant stream gives exactly that constant after bias correction.
	c := NewEMA(0.99)
	for i := 0; i < 5; i++ {
		c.Add(7)
	}
	if !near(c.Value(), 7, 1e-14) {
		t.Errorf("constant stream: %v", c.Value())
	}
	c.Reset()
	if c.Count() != 0 || c.Beta != 0.99 || c.Value() != 0 {
		t.Errorf("after Reset: %+v", c)
	}
	var z EMA // zero value with Beta 0: follows the last value
	z.Add(4)
	z.Add(2)
	if z.Value() != 2 {
		t.Errorf("zero EMA: %v", z.Value())
	}
}

// TestEMAUpdateMatchesBatchNorm replays PyTorch 1.13 BatchNorm2d's
// running_mean updates (testdata/optim/bn_running.json, written by
// scripts/golden_optim.py) and requires identical bits.
func TestEMAUpdateMatchesBatchNorm(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "optim", "bn_running.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Momentum *float32 `json:"momentum"`
			Steps    []struct {
				Before            []float32 `json:"before"`
				BatchMean         []float32 `json:"batch_mean"`
				After             []float32 `json:"after"`
				NumBatchesTracked int       `json:"num_batches_tracked"`
			} `json:"steps"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("bn_running.json: no cases")
	}
	for _, c := range g.Cases {
		if len(c.Steps) == 0 {
			t.Fatalf("bn_running.json: momentum %v has no steps", c.Momentum)
		}
		for k, st := range c.Steps {
			avg := slices.Clone(st.Before)
			if c.Momentum != nil {
				EMAUpdate(avg, st.BatchMean, *c.Momentum)
			} else {
				MeanUpdate(avg, st.BatchMean, st.NumBatchesTracked)
			}
			if !slices.Equal(avg, st.After) {
				t.Errorf("momentum %v step %d: got %v, torch %v", c.Momentum, k, avg, st.After)
			}
		}
	}
	a64 := []float64{0, 1}
	EMAUpdate64(a64, []float64{10, 3}, 0.5)
	if a64[0] != 5 || a64[1] != 2 {
		t.Errorf("EMAUpdate64 = %v", a64)
	}
	w := []float32{1, 2}
	EMAUpdateWide(w, []float64{3, 4}, 0.5)
	if w[0] != 2 || w[1] != 3 {
		t.Errorf("EMAUpdateWide = %v", w)
	}
}

func TestMeanUpdateIsAverage(t *testing.T) {
	rows := [][]float32{{1, 2}, {3, -2}, {8, 3}}
	avg := make([]float32, 2)
	for k, r := range rows {
		MeanUpdate(avg, r, k+1)
	}
	if !near(float64(avg[0]), 4, 1e-6) || !near(float64(avg[1]), 1, 1e-6) {
		t.Errorf("MeanUpdate average = %v, want [4 1]", avg)
	}
}

func TestSlicePanics(t *testing.T) {
	cases := map[string]func(){
		"EMAUpdate length":   func() { EMAUpdate(make([]float32, 2), make([]float32, 3), 0.1) },
		"EMAUpdate64 length": func() { EMAUpdate64(make([]float64, 2), make([]float64, 3), 0.1) },
		"EMAUpdateWide":      func() { EMAUpdateWide(make([]float32, 2), make([]float64, 3), 0.1) },
		"MeanUpdate k":       func() { MeanUpdate(make([]float32, 2), make([]float32, 2), 0) },
		"MeanUpdate length":  func() { MeanUpdate(make([]float32, 2), make([]float32, 1), 1) },
		"NewEMA beta":        func() { NewEMA(1) },
		"NewRobbinsMonro":    func() { NewRobbinsMonro([]float64{0}, PowerStep{A: 1, Alpha: 0.5}) },
		"Update length":      func() { NewRobbinsMonro([]float64{0}, PowerStep{A: 1, Alpha: 1}).Update([]float64{1, 2}) },
	}
	for name, f := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestPowerStepValidate(t *testing.T) {
	tests := []struct {
		s  PowerStep
		ok bool
	}{
		{PowerStep{A: 1, B: 0, Alpha: 1}, true},
		{PowerStep{A: 0.5, B: 10, Alpha: 0.6}, true},
		{PowerStep{A: 1, B: 0, Alpha: 0.5}, false}, // Σa² = ∞
		{PowerStep{A: 1, B: 0, Alpha: 1.1}, false}, // Σa < ∞
		{PowerStep{A: 0, B: 0, Alpha: 1}, false},
		{PowerStep{A: 1, B: -1, Alpha: 1}, false},
		{PowerStep{A: math.NaN(), B: 0, Alpha: 1}, false},
	}
	for _, tc := range tests {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
	s := PowerStep{A: 2, B: 3, Alpha: 1}
	if s.At(1) != 0.5 {
		t.Errorf("At(1) = %v", s.At(1))
	}
	s.Alpha = 0.75
	if !near(s.At(13), 2/math.Pow(16, 0.75), 1e-15) {
		t.Errorf("At(13) = %v", s.At(13))
	}
}

// g(w) = (w − 2) + 0.5 sin(w − 2) is increasing with root 2; it is observed
// with standard normal noise.
func noisyG(rng *rand.Rand) func(w float64) float64 {
	return func(w float64) float64 { return (w - 2) + 0.5*math.Sin(w-2) + rng.NormFloat64() }
}

func TestRobbinsMonroConverges(t *testing.T) {
	// The error shrinks as the number of steps grows: average |w_n − 2| over
	// seeds for n = 10, 100, 10000.
	step := PowerStep{A: 1, B: 5, Alpha: 1}
	var errs []float64
	for _, n := range []int{10, 100, 10000} {
		var m Mean
		for seed := uint64(0); seed < 20; seed++ {
			rng := rand.New(rand.NewPCG(seed, 7))
			w := FindRoot(noisyG(rng), -5, step, n)
			m.Add(math.Abs(w - 2))
		}
		errs = append(errs, m.Value())
	}
	t.Logf("mean |w_n − w*| for n = 10, 100, 10000: %v", errs)
	if !(errs[0] > errs[1] && errs[1] > errs[2]) {
		t.Errorf("error does not decrease: %v", errs)
	}
	if errs[2] > 0.03 {
		t.Errorf("after 10000 steps mean error %v > 0.03", errs[2])
	}
}

func TestRobbinsMonroAveragedSGD(t *testing.T) {
	// SGD as Robbins–Monro: minimise f(w) = ½|w − c|² from noisy gradients
	// (w − c) + noise, with a slowly decaying step and iterate averaging.
	c := []float64{1, -3, 0.5}
	rng := rand.New(rand.NewPCG(3, 4))
	r := NewRobbinsMonro([]float64{0, 0, 0}, PowerStep{A: 0.5, B: 1, Alpha: 0.6})
	g := make([]float64, 3)
	r.Run(20000, func(w []float64, k int) []float64 {
		for i := range w {
			g[i] = (w[i] - c[i]) + 2*rng.NormFloat64()
		}
		return g
	})
	if r.Steps() != 20000 {
		t.Fatalf("Steps = %d", r.Steps())
	}
	avg := r.Averaged()
	for i := range c {
		if math.Abs(avg[i]-c[i]) > 0.05 {
			t.Errorf("averaged w[%d] = %v, want %v ± 0.05 (last iterate %v)", i, avg[i], c[i], r.W[i])
		}
	}
}

func TestIncrementalMeanIsRobbinsMonro(t *testing.T) {
	// With a_k = 1/k and g̃(w) = w − x_k, Robbins–Monro is the running mean.
	xs := []float64{4, 8, 15, 16, 23, 42}
	r := NewRobbinsMonro([]float64{0}, PowerStep{A: 1, B: 0, Alpha: 1})
	var m Mean
	for _, x := range xs {
		r.Update([]float64{r.W[0] - x})
		m.Add(x)
		if !near(r.W[0], m.Value(), 1e-14) {
			t.Fatalf("after %d: RM %v, mean %v", m.Count(), r.W[0], m.Value())
		}
	}
}
