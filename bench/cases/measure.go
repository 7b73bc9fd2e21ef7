package cases

import (
	"fmt"
	"runtime"
	"time"
)

// Options say how Measure times a case. bench/compare.py applies the same
// rule to PyTorch and NumPy.
type Options struct {
	// Warmup is the number of untimed runs first.
	Warmup int
	// Repeat is the least number of timed runs.
	Repeat int
	// MinTime is the least total time of the timed runs: Measure keeps
	// running past Repeat runs until their times add up to MinTime.
	MinTime time.Duration
}

// DefaultOptions are 2 warm-up runs, then at least 10 timed runs and 1 s.
var DefaultOptions = Options{Warmup: 2, Repeat: 10, MinTime: time.Second}

// Result is the timing of one case.
type Result struct {
	// Times holds the time of each timed run, in the order they ran.
	Times []time.Duration
	// Median is the median of Times (the mean of the two middle ones for
	// an even count); Min and Max are their extremes.
	Median, Min, Max time.Duration
}

// Ms converts a duration to milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Measure runs w.Run opt.Warmup times untimed, collects garbage, then times
// single runs until there are at least opt.Repeat of them and they add up to
// at least opt.MinTime. It panics if opt.Repeat < 1 or opt.Warmup or
// opt.MinTime is negative.
func Measure(w Work, opt Options) Result {
	if opt.Repeat < 1 || opt.Warmup < 0 || opt.MinTime < 0 {
		panic(fmt.Sprintf("cases.Measure: need Repeat ≥ 1, Warmup ≥ 0, MinTime ≥ 0, got %+v", opt))
	}
	for range opt.Warmup {
		w.Run()
	}
	runtime.GC()
	var times []time.Duration
	var total time.Duration
	for len(times) < opt.Repeat || total < opt.MinTime {
		start := time.Now()
		w.Run()
		d := time.Since(start)
		times = append(times, d)
		total += d
	}
	return summarize(times)
}

func summarize(times []time.Duration) Result {
	f := make([]float64, len(times))
	for i, t := range times {
		f[i] = float64(t)
	}
	s := sortedCopy(f)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Result{Times: times, Median: time.Duration(med), Min: time.Duration(s[0]), Max: time.Duration(s[n-1])}
}
