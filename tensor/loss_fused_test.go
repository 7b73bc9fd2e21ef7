package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestCrossEntropySpatialMatchesComposition checks that CrossEntropy on
// (N, C, d…) logits, which fuses log-softmax and the NLL loss, gives bit
// for bit the loss and gradient of NLLLoss(LogSoftmax(logits, 1)).
func TestCrossEntropySpatialMatchesComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	// Spatial sizes past a loss block (8192) and a softmax block (512), an
	// image boundary inside a block, and 1×1 (which takes the other path).
	shapes := [][]int{{2, 3, 4, 5}, {3, 5, 37, 300}, {1, 7, 8193}, {2, 2, 1, 1}}
	opts := []struct {
		name string
		opt  tensor.CrossEntropyOptions
	}{
		{"mean", tensor.CrossEntropyOptions{}},
		{"ignore", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(1)}},
		{"weight/sum", tensor.CrossEntropyOptions{Reduction: tensor.ReduceSum}},
		{"none", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(0), Reduction: tensor.ReduceNone}},
		{"all ignored", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(0)}},
	}
	for _, shape := range shapes {
		c := shape[1]
		for _, o := range opts {
			name, opt := o.name, o.opt
			if name == "weight/sum" {
				w := make([]float32, c)
				for i := range w {
					w[i] = 0.25 + rng.Float32()
				}
				opt.Weight = tensor.FromSlice(w, c)
			}
			logits := tensor.RandNormal(rng, 0, 3, shape...)
			if len(logits.Data()) > 10 {
				logits.Data()[3] = float32(math.Inf(-1))
			}
			tshape := append([]int{shape[0]}, shape[2:]...)
			target := tensor.Zeros(tshape...)
			for i := range target.Data() {
				if name != "all ignored" {
					target.Data()[i] = float32(rng.IntN(c))
				}
			}
			x1 := logits.Clone().SetRequiresGrad(true)
			x2 := logits.Clone().SetRequiresGrad(true)
			l1 := tensor.CrossEntropy(x1, target, opt)
			l2 := tensor.NLLLoss(tensor.LogSoftmax(x2, 1), target, opt)
			sameBits(t, fmt.Sprint(shape, " ", name, " loss"), l1.Data(), l2.Data())
			seed := tensor.RandNormal(rng, 0, 1, l1.Shape()...)
			l1.BackwardWith(seed)
			l2.BackwardWith(seed)
			sameBits(t, fmt.Sprint(shape, " ", name, " gradient"), x1.Grad().Data(), x2.Grad().Data())
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}
