package tensor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// recycleGraph builds, from the leaf x (n elements) and the constant c, a
// graph whose backward pass shares gradient storage between inputs (Add
// hands the same gradient to both, and here that gradient is a buffer
// autograd allocated, which must not be updated in place while shared),
// passes gradients through views (Reshape) and feeds one tensor twice to
// an operation; dloss/dx = c·(20 + 24x).
func recycleGraph(x, c *tensor.Tensor) (loss *tensor.Tensor, inter []*tensor.Tensor) {
	n := x.Size()
	p := tensor.MulScalar(x, 2)
	q := tensor.MulScalar(x, 3)
	m := tensor.Mul(p, q)                                                 // 6x²
	s := tensor.Add(p, q)                                                 // 5x
	r := tensor.MulScalar(tensor.Add(m, s), 1)                            // 6x² + 5x
	u := tensor.Add(tensor.Reshape(r, 2, n/2), tensor.Reshape(s, 2, n/2)) // 6x² + 10x
	d := tensor.Add(u, u)                                                 // 12x² + 20x
	loss = tensor.SumAll(tensor.Mul(tensor.Reshape(d, n), c))
	return loss, []*tensor.Tensor{p, q, m, s, r, u, d}
}

func wantRecycleGrad(t *testing.T, what string, x, c *tensor.Tensor) {
	t.Helper()
	want := make([]float32, x.Size())
	for i, v := range x.Data() {
		want[i] = c.Data()[i] * (20 + 24*v)
	}
	if x.Grad() == nil {
		t.Fatalf("%s: no gradient", what)
	}
	if err := tensortest.SliceClose(x.Grad().Data(), want, 1e-5, 1e-5); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantSame fails unless got holds exactly want.
func wantSame(t *testing.T, what string, got *tensor.Tensor, want []float32) {
	t.Helper()
	if got == nil || len(got.Data()) != len(want) {
		t.Fatalf("%s: %v, want %d values", what, got, len(want))
	}
	for i, v := range got.Data() {
		if v != want[i] {
			t.Fatalf("%s: element %d is %v, want %v", what, i, v, want[i])
		}
	}
}

// churn allocates and scribbles over many pooled buffers of the sizes used
// by recycleGraph, so that storage wrongly returned to the pool gets
// overwritten.
func churn(t *testing.T, n int) {
	t.Helper()
	for range 20 {
		for _, shape := range [][]int{{n}, {2, n / 2}} {
			e := tensor.Empty(shape...)
			for i := range e.Data() {
				e.Data()[i] = 1e9
			}
			z := tensor.Zeros(shape...)
			for i, v := range z.Data() {
				if v != 0 {
					t.Fatalf("Zeros returned a dirty buffer: element %d is %v", i, v)
				}
			}
		}
	}
}

func TestBackwardRecyclesOnlyDeadGradients(t *testing.T) {
	const n = 6000 // large enough for pooled buffers
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.RandUniform(rng, -1, 1, n).SetRequiresGrad(true)
	c := tensor.RandUniform(rng, -1, 1, n)
	cCopy := c.Clone()
	loss, inter := recycleGraph(x, c)
	p := inter[0]
	pCopy := p.Clone()
	loss.Backward()
	churn(t, n)
	wantRecycleGrad(t, "x.Grad after one Backward", x, c)
	wantSame(t, "constant input", c, cCopy.Data())
	wantSame(t, "intermediate kept by plain Backward", p, pCopy.Data())

	// A second pass adds the same gradient into the existing one.
	twice := x.Grad().Clone()
	for i := range twice.Data() {
		twice.Data()[i] *= 2
	}
	loss, _ = recycleGraph(x, c)
	loss.Backward()
	churn(t, n)
	wantSame(t, "x.Grad after two Backward calls", x.Grad(), twice.Data())

	// The caller's seed is never recycled.
	x.ZeroGrad()
	y := tensor.MulScalar(x, 3)
	seed := tensor.Full(2, n)
	y.BackwardWith(seed)
	churn(t, n)
	wantSame(t, "seed", seed, tensor.Full(2, n).Data())
	wantSame(t, "x.Grad from a seed", x.Grad(), tensor.Full(6, n).Data())
}

func TestBackwardRelease(t *testing.T) {
	const n = 6000
	rng := rand.New(rand.NewPCG(3, 4))
	x := tensor.RandUniform(rng, -1, 1, n).SetRequiresGrad(true)
	xCopy := x.Clone()
	c := tensor.RandUniform(rng, -1, 1, n)
	cCopy := c.Clone()
	view := tensor.Reshape(x, 2, n/2) // a view of a leaf inside the graph
	loss, inter := recycleGraph(tensor.Reshape(view, n), c)
	want := loss.Item()
	loss.BackwardRelease()
	churn(t, n)
	wantRecycleGrad(t, "x.Grad", x, c)
	wantSame(t, "leaf", x, xCopy.Data())
	wantSame(t, "constant input", c, cCopy.Data())
	if loss.Item() != want {
		t.Errorf("loss changed from %v to %v", want, loss.Item())
	}
	for i, u := range inter {
		if u.Data() != nil {
			t.Errorf("intermediate %d still has data after BackwardRelease", i)
		}
	}
	if view.Data() != nil {
		t.Errorf("a view of a leaf inside the graph was not emptied")
	}
	// The leaf, its gradient and the constant stay usable in the next step.
	x.ZeroGrad()
	loss, _ = recycleGraph(x, c)
	loss.BackwardRelease()
	churn(t, n)
	wantRecycleGrad(t, "x.Grad in the next step", x, c)
}

// TestReleaseGrad checks that ReleaseGrad drops the gradient, recycles only
// storage autograd made, and that the next backward pass is still right.
func TestReleaseGrad(t *testing.T) {
	w := tensor.Full(2, 8192).SetRequiresGrad(true)
	for step := 0; step < 3; step++ {
		tensor.SumAll(tensor.MulScalar(w, 3)).Backward()
		for _, v := range w.Grad().Data() {
			if v != 3 {
				t.Fatalf("step %d: gradient %v, want 3", step, v)
			}
		}
		old := w.Grad()
		w.ReleaseGrad()
		if w.Grad() != nil || old.Data() != nil {
			t.Fatalf("step %d: ReleaseGrad kept the gradient or its storage", step)
		}
	}
	// A gradient set by the caller is not autograd's to recycle.
	mine := tensor.Full(7, 8192)
	w.SetGrad(mine)
	w.ReleaseGrad()
	if w.Grad() != nil || len(mine.Data()) != 8192 || mine.Data()[0] != 7 {
		t.Fatal("ReleaseGrad recycled a gradient set with SetGrad")
	}
}
