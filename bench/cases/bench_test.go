package cases

import "testing"

// BenchmarkCases runs every case at Full size, the same work `fovea bench`
// times: go test -bench . -run '^$' ./bench/cases/
func BenchmarkCases(b *testing.B) {
	for _, c := range All() {
		b.Run(c.Name, func(b *testing.B) {
			w := c.Setup(Full)
			w.Run()
			b.ResetTimer()
			for b.Loop() {
				w.Run()
			}
			if w.Flops > 0 {
				b.ReportMetric(w.Flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
		})
	}
}
