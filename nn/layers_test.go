package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func newRng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func TestLinearGolden(t *testing.T) {
	rng := newRng(1)
	runSingle(t, "linear", NewLinear(rng, 5, 3, true), 1e-5)
	runSingle(t, "linear_nobias", NewLinear(rng, 4, 6, false), 1e-5)
}

func TestAffineGradCheck(t *testing.T) {
	rng := newRng(2)
	x := tensor.RandNormal(rng, 0, 1, 2, 3, 4).SetRequiresGrad(true)
	w := tensor.RandNormal(rng, 0, 1, 5, 4).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 5).SetRequiresGrad(true)
	tensortest.GradCheck(t, "Affine", func(in []*tensor.Tensor) *tensor.Tensor {
		return Affine(in[0], in[1], in[2])
	}, []*tensor.Tensor{x, w, b}, tensortest.GradCheckOptions{})
}

func TestEmbeddingGolden(t *testing.T) {
	f := readFixture(t, "embedding")
	e := NewEmbeddingPadded(newRng(3), 7, 4, 2)
	f.load(t, e)
	y := e.Forward(f.get(t, "in.idx"))
	f.check(t, "out.y", y, 1e-6)
	y.BackwardWith(f.get(t, "gout.y"))
	f.checkGrads(t, e, 1e-6)
}

func TestSequentialIdentity(t *testing.T) {
	rng := newRng(4)
	s := NewSequential(NewLinear(rng, 3, 4, true), Identity{}, NewLinear(rng, 4, 2, false))
	y := s.Forward(tensor.Ones(5, 3))
	if !tensor.SameShape(y.Shape(), []int{5, 2}) {
		t.Fatalf("shape %v", y.Shape())
	}
	var names []string
	for _, n := range StateDictEntries(s) {
		names = append(names, n.Name)
	}
	want := []string{"0.weight", "0.bias", "2.weight"}
	if len(names) != len(want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("names %v, want %v", names, want)
		}
	}
}
