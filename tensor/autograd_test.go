package tensor_test

import (
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func wantData(t *testing.T, what string, got *tensor.Tensor, want []float32) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil, want %v", what, want)
	}
	if err := tensortest.SliceClose(got.Data(), want, 1e-6, 1e-6); err != nil {
		t.Fatalf("%s: %v (got %v, want %v)", what, err, got.Data(), want)
	}
}

// mustPanic runs f and returns its panic message, failing when f returns.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("no panic")
		}
		msg = toString(r)
	}()
	f()
	return ""
}

func toString(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case error:
		return v.Error()
	}
	return "non-string panic"
}

func TestBackwardScalarLoss(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 3}, 3).SetRequiresGrad(true)
	loss := tensor.SumAll(tensor.Mul(x, x)) // Σ x², gradient 2x
	if loss.Dim() != 0 || !loss.RequiresGrad() || loss.IsLeaf() {
		t.Fatalf("loss: shape %v, requiresGrad %v, leaf %v", loss.Shape(), loss.RequiresGrad(), loss.IsLeaf())
	}
	loss.Backward()
	wantData(t, "x.Grad", x.Grad(), []float32{2, 4, 6})
	if loss.Grad() != nil {
		t.Errorf("a non-leaf kept a gradient")
	}
}

func TestBackwardOnLeaf(t *testing.T) {
	x := tensor.Scalar(3).SetRequiresGrad(true)
	x.Backward()
	x.Backward()
	wantData(t, "x.Grad", x.Grad(), []float32{2})
}

func TestGradientsAccumulate(t *testing.T) {
	x := tensor.FromSlice([]float32{1, -2}, 2).SetRequiresGrad(true)
	for pass := 1; pass <= 2; pass++ {
		tensor.SumAll(tensor.MulScalar(x, 3)).Backward()
		wantData(t, "x.Grad", x.Grad(), []float32{3 * float32(pass), 3 * float32(pass)})
	}
	// A tensor used twice in one graph gets both contributions, and a
	// diamond (y feeds two branches that meet again) sums them.
	x.ZeroGrad()
	y := tensor.Exp(x)
	z := tensor.Add(tensor.Mul(y, y), y) // dz/dx = (2y + 1)·y
	tensor.SumAll(z).Backward()
	want := make([]float32, 2)
	for i, v := range y.Data() {
		want[i] = (2*v + 1) * v
	}
	wantData(t, "diamond x.Grad", x.Grad(), want)
}

func TestZeroGrad(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2}, 2).SetRequiresGrad(true)
	tensor.SumAll(x).Backward()
	x.ZeroGrad()
	if x.Grad() != nil {
		t.Fatalf("ZeroGrad left %v", x.Grad())
	}
	tensor.SumAll(tensor.MulScalar(x, 5)).Backward()
	wantData(t, "x.Grad after ZeroGrad", x.Grad(), []float32{5, 5})
	x.SetGrad(tensor.Zeros(2))
	tensor.SumAll(x).Backward()
	wantData(t, "x.Grad after SetGrad(zeros)", x.Grad(), []float32{1, 1})
	x.SetGrad(nil)
	if x.Grad() != nil {
		t.Fatal("SetGrad(nil) kept a gradient")
	}
}

func TestGradDoesNotAlias(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2}, 2).SetRequiresGrad(true)
	seed := tensor.FromSlice([]float32{1, 1}, 2)
	tensor.AddScalar(x, 1).BackwardWith(seed) // AddScalar passes the seed through unchanged
	seed.Data()[0] = 100
	wantData(t, "x.Grad", x.Grad(), []float32{1, 1})
	tensor.AddScalar(x, 1).BackwardWith(seed)
	wantData(t, "x.Grad", x.Grad(), []float32{101, 2})
	if seed.Data()[0] != 100 || seed.Data()[1] != 1 {
		t.Fatalf("Backward changed the seed gradient: %v", seed.Data())
	}
}

func TestDetach(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 3}, 3).SetRequiresGrad(true)
	d := x.Detach()
	if d.RequiresGrad() || !d.IsLeaf() {
		t.Fatalf("Detach: requiresGrad %v, leaf %v", d.RequiresGrad(), d.IsLeaf())
	}
	if &d.Data()[0] != &x.Data()[0] {
		t.Fatalf("Detach copied the data; it must share it")
	}
	// y = x · detach(x): the detached factor is a constant, so dy/dx = x.
	tensor.SumAll(tensor.Mul(x, d)).Backward()
	wantData(t, "x.Grad", x.Grad(), []float32{1, 2, 3})
	// Detaching an intermediate cuts the graph there.
	x.ZeroGrad()
	y := tensor.Exp(x)
	z := tensor.Add(tensor.Mul(y.Detach(), x), x)
	tensor.SumAll(z).Backward()
	want := make([]float32, 3)
	for i, v := range y.Data() {
		want[i] = v + 1
	}
	wantData(t, "x.Grad through a detached intermediate", x.Grad(), want)
	// A detached result can be marked as a new leaf.
	leaf := y.Detach().SetRequiresGrad(true)
	tensor.SumAll(leaf).Backward()
	wantData(t, "new leaf Grad", leaf.Grad(), []float32{1, 1, 1})
}

func TestInputsWithoutGradGetNone(t *testing.T) {
	w := tensor.FromSlice([]float32{1, 2}, 2).SetRequiresGrad(true)
	c := tensor.FromSlice([]float32{3, 4}, 2)
	tensor.SumAll(tensor.Mul(w, c)).Backward()
	wantData(t, "w.Grad", w.Grad(), []float32{3, 4})
	if c.Grad() != nil {
		t.Fatalf("a constant input got a gradient")
	}
}

func TestBackwardWith(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3).SetRequiresGrad(true)
	b := tensor.FromSlice([]float32{1, 0, -1}, 3).SetRequiresGrad(true)
	seed := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	tensor.Mul(a, b).BackwardWith(seed)
	wantData(t, "a.Grad", a.Grad(), []float32{1, 0, -3, 4, 0, -6})
	wantData(t, "b.Grad", b.Grad(), []float32{1*1 + 4*4, 2*2 + 5*5, 3*3 + 6*6})
}

func TestGraphFreedAfterBackward(t *testing.T) {
	x := tensor.Full(0.5, 64).SetRequiresGrad(true)
	y := tensor.Exp(x)
	wy := weak.Make(y)
	loss := tensor.SumAll(tensor.Mul(y, y))
	y = nil
	runtime.GC()
	if wy.Value() == nil {
		t.Fatal("the graph did not keep its intermediate alive before Backward")
	}
	loss.Backward()
	runtime.GC()
	if wy.Value() != nil {
		t.Fatal("the intermediate is still reachable after Backward: the graph was not freed")
	}
	if loss.IsLeaf() {
		t.Error("after Backward the loss claims to be a leaf")
	}
	msg := mustPanic(t, func() { loss.Backward() })
	if !strings.Contains(msg, "tensor.Backward") || !strings.Contains(msg, "second time") {
		t.Errorf("second Backward through a freed graph: panic %q", msg)
	}
	// A graph sharing the freed part cannot be differentiated either.
	z := tensor.Exp(x)
	l1 := tensor.SumAll(z)
	l2 := tensor.SumAll(tensor.MulScalar(z, 2))
	l1.Backward()
	if msg := mustPanic(t, func() { l2.Backward() }); !strings.Contains(msg, "second time") {
		t.Errorf("Backward through a node freed by another Backward: panic %q", msg)
	}
}

func TestNoGraphWithoutGrad(t *testing.T) {
	x := tensor.Full(0.5, 64, 64)
	w := tensor.Full(0.25, 64, 64)
	y := tensor.MatMul(x, w)
	wy := weak.Make(y)
	out := tensor.Softmax(tensor.Add(tensor.Exp(y), x), -1)
	y = nil
	runtime.GC()
	if wy.Value() != nil {
		t.Error("an intermediate of a computation without gradients is kept alive: a graph was recorded")
	}
	if out.RequiresGrad() || !out.IsLeaf() {
		t.Errorf("result: requiresGrad %v, leaf %v; want false, true", out.RequiresGrad(), out.IsLeaf())
	}
	if x.Grad() != nil || w.Grad() != nil || out.Grad() != nil {
		t.Error("gradient memory was allocated")
	}
	if msg := mustPanic(t, func() { tensor.SumAll(out).Backward() }); !strings.Contains(msg, "does not require a gradient") {
		t.Errorf("Backward without gradients: panic %q", msg)
	}
	// Record is a no-op when no input requires a gradient.
	o := tensor.Zeros(2)
	if r := tensor.Record("Custom", o, func(g *tensor.Tensor) []*tensor.Tensor { return nil }, tensor.Ones(2)); r != o || !r.IsLeaf() || r.RequiresGrad() {
		t.Error("Record recorded an operation with no input requiring a gradient")
	}
	// Inference allocates only the results: a chain of n elementwise ops on
	// a 64 KiB tensor allocates about n·64 KiB, with nothing for gradients.
	big := tensor.Full(0.5, 16384)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 8
	r := big
	for range n {
		r = tensor.Exp(tensor.MulScalar(r, 0.5))
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*n*16384*4*5/4); got > limit {
		t.Errorf("inference allocated %d bytes for %d outputs of 64 KiB (limit %d)", got, 2*n, limit)
	}
	runtime.KeepAlive(r)
}

func TestSetRequiresGradOnlyOnLeaves(t *testing.T) {
	x := tensor.Ones(2).SetRequiresGrad(true)
	y := tensor.Exp(x)
	if msg := mustPanic(t, func() { y.SetRequiresGrad(false) }); !strings.Contains(msg, "leaf") {
		t.Errorf("SetRequiresGrad on a non-leaf: panic %q", msg)
	}
	if x.SetRequiresGrad(false).RequiresGrad() {
		t.Error("SetRequiresGrad(false) did not clear the flag")
	}
}

// TestCustomOp defines a differentiable op with Record, as package nn does.
func TestCustomOp(t *testing.T) {
	cube := func(x *tensor.Tensor) *tensor.Tensor {
		out := tensor.Zeros(x.Shape()...)
		for i, v := range x.Data() {
			out.Data()[i] = v * v * v
		}
		return tensor.Record("Cube", out, func(g *tensor.Tensor) []*tensor.Tensor {
			r := tensor.Zeros(x.Shape()...)
			for i, v := range x.Data() {
				r.Data()[i] = 3 * v * v * g.Data()[i]
			}
			return []*tensor.Tensor{r}
		}, x)
	}
	g := newGradInputs(5)
	tensortest.GradCheck(t, "Cube", func(in []*tensor.Tensor) *tensor.Tensor { return cube(in[0]) },
		[]*tensor.Tensor{g.n(2, 3)}, tensortest.GradCheckOptions{})
	bad := func(x *tensor.Tensor) *tensor.Tensor {
		return tensor.Record("Bad", tensor.Zeros(2), func(g *tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{tensor.Zeros(3)}
		}, x)
	}
	msg := mustPanic(t, func() { tensor.SumAll(bad(tensor.Ones(2).SetRequiresGrad(true))).Backward() })
	if !strings.Contains(msg, "Bad returned gradient of shape (3) for input 0 of shape (2)") {
		t.Errorf("wrong gradient shape from a custom op: panic %q", msg)
	}
}
