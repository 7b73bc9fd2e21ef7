package nn

import (
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestConcurrentInference runs one model in evaluation mode from several
// goroutines at once: Forward must not mutate shared state, so every
// goroutine gets the single-threaded answer (run with -race to check).
func TestConcurrentInference(t *testing.T) {
	rng := newRng(71)
	conv := NewConv2d(rng, Conv2dConfig{In: 3, Out: 8, Kernel: Pair(3), Padding: Pair(1)})
	bn := NewBatchNorm2d(8)
	attn := NewMultiheadAttention(rng, 8, 2, true)
	ln := NewLayerNorm(8)
	drop := NewDropout(rng, 0.5)
	model := struct {
		Conv *Conv2d
		BN   *BatchNorm2d
		Attn *MultiheadAttention
		LN   *LayerNorm
		Drop *Dropout
	}{conv, bn, attn, ln, drop}
	Eval(&model)
	run := func(x *tensor.Tensor) *tensor.Tensor {
		y := model.BN.Forward(model.Conv.Forward(x))               // (1, 8, 4, 4)
		seq := tensor.Transpose(tensor.Reshape(y, 1, 8, 16), 1, 2) // (1, 16, 8)
		return model.Drop.Forward(model.LN.Forward(model.Attn.Forward(seq)))
	}
	x := tensor.RandNormal(rng, 0, 1, 1, 3, 4, 4)
	want := run(x)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				got := run(x)
				for i, v := range got.Data() {
					if v != want.Data()[i] {
						errs <- "concurrent inference differs"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
