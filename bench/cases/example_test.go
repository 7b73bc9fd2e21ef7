package cases_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/bench/cases"
)

// Select picks cases by name or glob; Setup prepares one and Measure times it.
func Example() {
	sel, err := cases.Select([]string{"gemm-*"})
	if err != nil {
		panic(err)
	}
	for _, c := range sel {
		fmt.Printf("%s: %s, %.3g GFLOP\n", c.Name, c.API, c.Flops/1e9)
	}
	// Tiny sizes keep this example fast; use cases.Full for real numbers.
	w := sel[0].Setup(cases.Tiny)
	r := cases.Measure(w, cases.Options{Warmup: 1, Repeat: 3})
	fmt.Println(len(r.Times), "timed runs")
	// Output:
	// gemm-1024: cpu.Sgemm, 2.15 GFLOP
	// gemm-2048: cpu.Sgemm, 17.2 GFLOP
	// gemm-4096x576x64: cpu.Sgemm, 0.302 GFLOP
	// 3 timed runs
}
