package tensor_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// sharedModel is a small network whose parameters require gradients, as a
// trained model's do while it also serves requests.
type sharedModel struct {
	w1, b1, w2, big *tensor.Tensor
}

func newSharedModel() *sharedModel {
	rng := rand.New(rand.NewPCG(11, 12))
	return &sharedModel{
		w1:  tensor.RandNormal(rng, 0, 0.3, 16, 32).SetRequiresGrad(true),
		b1:  tensor.RandNormal(rng, 0, 0.1, 32).SetRequiresGrad(true),
		w2:  tensor.RandNormal(rng, 0, 0.3, 32, 10).SetRequiresGrad(true),
		big: tensor.RandNormal(rng, 0, 0.1, 96, 96).SetRequiresGrad(true),
	}
}

// forward touches most op families on the shared parameters and returns
// a few results to compare.
func (m *sharedModel) forward(x, target *tensor.Tensor) []*tensor.Tensor {
	h := tensor.Clamp(tensor.Add(tensor.MatMul(x, m.w1), m.b1), 0, float32(1e30)) // (8, 32)
	logits := tensor.MatMul(h, m.w2)                                              // (8, 10)
	loss := tensor.CrossEntropy(logits, target, tensor.CrossEntropyOptions{
		IgnoreIndex: tensor.Ignore(tensor.DefaultIgnoreIndex), LabelSmoothing: 0.1, Weight: tensor.Ones(10),
	})
	img := tensor.Reshape(tensor.Permute(tensor.Reshape(h, 2, 4, 4, 8), 0, 3, 1, 2), 2, 8, 4, 4)
	padded := tensor.Pad(img, []int{1, 1, 2, 0}, tensor.PadReflect, 0)
	stats := tensor.Cat([]*tensor.Tensor{
		tensor.Reshape(tensor.Amax(padded, []int{2, 3}, false), -1),
		tensor.Reshape(tensor.LogSumExp(padded, []int{1}, false), -1),
		tensor.Reshape(tensor.Var(m.w1, []int{0}, 1, false), -1),
		tensor.Reshape(tensor.Gather(logits, 1, tensor.Reshape(target, 8, 1)), -1),
	}, 0)
	// A product large enough to use the shared worker pool.
	prod := tensor.MatMul(tensor.Expand(m.big, 2, 96, 96), m.big)
	return []*tensor.Tensor{loss, tensor.Softmax(logits, -1), stats, tensor.SumAll(prod)}
}

// TestConcurrentInference runs the same forward pass on shared parameters
// that require gradients from many goroutines at once and checks every
// goroutine gets the sequential results. Run it with -race.
func TestConcurrentInference(t *testing.T) {
	m := newSharedModel()
	rng := rand.New(rand.NewPCG(13, 14))
	const inputs = 4
	xs := make([]*tensor.Tensor, inputs)
	targets := make([]*tensor.Tensor, inputs)
	want := make([][]*tensor.Tensor, inputs)
	for i := range xs {
		xs[i] = tensor.RandNormal(rng, 0, 1, 8, 16)
		targets[i] = tensor.Zeros(8)
		for j := range targets[i].Data() {
			targets[i].Data()[j] = float32(rng.IntN(10))
		}
		want[i] = m.forward(xs[i], targets[i])
	}
	const goroutines, rounds = 8, 3
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*rounds*inputs)
	for gi := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				i := (gi + r) % inputs
				got := m.forward(xs[i], targets[i])
				for k := range got {
					if err := tensortest.AllClose(got[k], want[i][k], 0, 0); err != nil {
						errs <- err.Error()
					}
					if !got[k].RequiresGrad() {
						errs <- "result lost its gradient tracking"
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, p := range []*tensor.Tensor{m.w1, m.b1, m.w2, m.big} {
		if p.Grad() != nil {
			t.Error("a forward pass wrote a gradient")
		}
	}
	// The graphs recorded concurrently are independent: one of them can
	// still be differentiated afterwards.
	out := m.forward(xs[0], targets[0])
	out[0].Backward()
	if m.w1.Grad() == nil || m.w2.Grad() == nil {
		t.Error("Backward after concurrent forwards gave no gradient")
	}
}
