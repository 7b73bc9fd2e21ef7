// Command eval_seg times seg.ConfusionMatrix.Update on label maps written by
// bench/eval_compare.py (which times NumPy's bincount on the same maps and
// prints the ratio). Input: a raw file of N (gt, pred) pairs of H×W uint8
// maps, gt then pred, one pair after another.
//
//	go run ./bench/eval_seg FILE N H W C REPEATS
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/fovea-ml/fovea/metrics/seg"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: eval_seg FILE N H W C REPEATS")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var v [5]int
	for i := range v {
		v[i], err = strconv.Atoi(os.Args[2+i])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	n, h, w, c, reps := v[0], v[1], v[2], v[3], v[4]
	px := h * w
	if len(data) != 2*n*px {
		fmt.Fprintf(os.Stderr, "%s: %d bytes, want 2*N*H*W = %d\n", os.Args[1], len(data), 2*n*px)
		os.Exit(1)
	}
	best := time.Duration(1 << 62)
	var m *seg.ConfusionMatrix
	for range reps {
		m = seg.NewConfusionMatrix(c, 255, false)
		t0 := time.Now()
		for i := range n {
			off := 2 * i * px
			m.Update(data[off:off+px], data[off+px:off+2*px])
		}
		_ = m.Counts() // include the final fold into the (C, C) matrix
		best = min(best, time.Since(t0))
	}
	var sum int64
	for _, x := range m.Counts() {
		sum += x
	}
	fmt.Printf("%.6f %d\n", best.Seconds(), sum)
}
