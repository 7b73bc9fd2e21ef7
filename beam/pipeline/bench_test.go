package pipeline

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/metrics/seg"
)

// TestSegEvalOverhead (opt-in: FOVEA_BEAM_BENCH=N label maps, e.g. 10000)
// times the seg-eval pipeline on Prism against the single-machine
// computation of `fovea eval seg` (all cores, seg.ReadLabelMap) over the
// same N 64×64 label-map pairs, and logs the pipeline's overhead per pair.
//
//	cd beam && FOVEA_BEAM_BENCH=10000 go test -run SegEvalOverhead -v ./pipeline/
func TestSegEvalOverhead(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FOVEA_BEAM_BENCH"))
	if n <= 0 {
		t.Skip("set FOVEA_BEAM_BENCH=10000 to run")
	}
	dir := t.TempDir()
	stems := makeSegData(t, dir, n, 64, 64, 20, 3)

	start := time.Now()
	m := seg.NewConfusionMatrix(21, 255, false)
	jobs := make(chan string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := m.NewLike()
			for s := range jobs {
				g, _ := seg.ReadLabelMap(filepath.Join(dir, "gt", s+".png"))
				p, _ := seg.ReadLabelMap(filepath.Join(dir, "pred", s+".png"))
				part.Update(g.Pix, p.Pix)
			}
			mu.Lock()
			m.Merge(part)
			mu.Unlock()
		}()
	}
	for _, s := range stems {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	single := time.Since(start)

	out := t.TempDir()
	o := SegOptions{GT: filepath.Join(dir, "gt", "*.png"), Pred: filepath.Join(dir, "pred", "*.png"), NumClasses: 21, IgnoreIndex: 255,
		JSON: filepath.Join(out, "s.json"), DeadLetters: filepath.Join(out, "d.jsonl"), Counts: filepath.Join(out, "c.json")}
	start = time.Now()
	runSegEval(t, o)
	pipe := time.Since(start)
	t.Logf("%d pairs of 64×64 maps, GOMAXPROCS %d: single machine %.2f s (%.1f µs/pair), Beam on Prism %.2f s (%.1f µs/pair): overhead %.1f µs/pair, ratio %.2f",
		n, runtime.GOMAXPROCS(0), single.Seconds(), single.Seconds()/float64(n)*1e6, pipe.Seconds(), pipe.Seconds()/float64(n)*1e6,
		(pipe-single).Seconds()/float64(n)*1e6, pipe.Seconds()/single.Seconds())
}
