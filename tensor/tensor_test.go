package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestSmokeAutograd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := tensor.RandNormal(rng, 0, 1, 3, 4).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 4, 5).SetRequiresGrad(true)
	c := tensor.RandNormal(rng, 0, 1, 5).SetRequiresGrad(true)
	tensortest.GradCheck(t, "matmul+add+softmax", func(in []*tensor.Tensor) *tensor.Tensor {
		return tensor.Softmax(tensor.Add(tensor.MatMul(in[0], in[1]), in[2]), 1)
	}, []*tensor.Tensor{a, b, c}, tensortest.GradCheckOptions{})
}

func sameShape(t *testing.T, what string, x *tensor.Tensor, shape ...int) {
	t.Helper()
	if !tensor.SameShape(x.Shape(), shape) {
		t.Fatalf("%s: shape %s, want %s", what, tensor.FormatShape(x.Shape()), tensor.FormatShape(shape))
	}
}

func TestCreation(t *testing.T) {
	cases := []struct {
		name  string
		got   *tensor.Tensor
		shape []int
		want  []float32
	}{
		{"Zeros", tensor.Zeros(2, 3), []int{2, 3}, []float32{0, 0, 0, 0, 0, 0}},
		{"Zeros/empty", tensor.Zeros(2, 0), []int{2, 0}, []float32{}},
		{"Ones", tensor.Ones(3), []int{3}, []float32{1, 1, 1}},
		{"Full", tensor.Full(-2.5, 1, 2), []int{1, 2}, []float32{-2.5, -2.5}},
		{"Full/scalar", tensor.Full(7), []int{}, []float32{7}},
		{"Scalar", tensor.Scalar(4), []int{}, []float32{4}},
		{"ZerosLike", tensor.ZerosLike(tensor.Ones(2, 2)), []int{2, 2}, []float32{0, 0, 0, 0}},
		{"OnesLike", tensor.OnesLike(tensor.Zeros(1, 3)), []int{1, 3}, []float32{1, 1, 1}},
		{"Arange", tensor.Arange(0, 5, 1), []int{5}, []float32{0, 1, 2, 3, 4}},
		{"Arange/step", tensor.Arange(1, 2, 0.25), []int{4}, []float32{1, 1.25, 1.5, 1.75}},
		{"Arange/down", tensor.Arange(3, 0, -1), []int{3}, []float32{3, 2, 1}},
		{"Arange/empty", tensor.Arange(2, 1, 1), []int{0}, []float32{}},
		{"FromSlice", tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2), []int{3, 2}, []float32{1, 2, 3, 4, 5, 6}},
		{"New", tensor.New([]float32{9}), []int{}, []float32{9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sameShape(t, c.name, c.got, c.shape...)
			if err := tensortest.SliceClose(c.got.Data(), c.want, 0, 0); err != nil {
				t.Fatal(err)
			}
			if c.got.RequiresGrad() || !c.got.IsLeaf() || c.got.Grad() != nil {
				t.Fatal("a new tensor must be a leaf without gradient")
			}
			if c.got.Size() != len(c.want) || c.got.Dim() != len(c.shape) {
				t.Fatalf("Size %d Dim %d", c.got.Size(), c.got.Dim())
			}
		})
	}
}

func TestFromSliceCopiesNewDoesNot(t *testing.T) {
	src := []float32{1, 2, 3}
	a := tensor.FromSlice(src, 3)
	b := tensor.New(src, 3)
	src[0] = 10
	if a.At(0) != 1 || b.At(0) != 10 {
		t.Fatalf("FromSlice must copy and New must not: %v %v", a.Data(), b.Data())
	}
	shape := []int{3}
	c := tensor.Zeros(shape...)
	shape[0] = 7
	sameShape(t, "Zeros keeps its own shape", c, 3)
}

func TestAccessors(t *testing.T) {
	x := tensor.Arange(0, 24, 1)
	y := tensor.Reshape(x, 2, 3, 4)
	if y.At(1, 2, 3) != 23 || y.At(-1, 0, -4) != 12 || y.SizeOf(-1) != 4 || y.SizeOf(1) != 3 {
		t.Fatalf("At/SizeOf on %v", y)
	}
	y.Set(-1, 0, 1, 2)
	if x.At(6) != -1 {
		t.Fatalf("Reshape must share storage: Set through the view did not change the source")
	}
	c := y.Clone()
	c.Set(5, 0, 0, 0)
	if y.At(0, 0, 0) != 0 {
		t.Fatalf("Clone shares storage")
	}
	if s := tensor.FromSlice([]float32{1, 2}, 2).String(); s != "Tensor(2)[1 2]" {
		t.Errorf("String = %q", s)
	}
	if s := tensor.Zeros(8, 8).String(); s != "Tensor(8,8)" {
		t.Errorf("String of a large tensor = %q", s)
	}
	if tensor.Numel([]int{}) != 1 || tensor.Numel([]int{2, 0}) != 0 || tensor.FormatShape(nil) != "()" {
		t.Error("Numel/FormatShape")
	}
}

// TestRandomDeterminism: the same seed gives the same numbers, a different
// seed different ones; the pinned values catch an unintended change of the
// sampling (they depend only on math/rand/v2's PCG stream).
func TestRandomDeterminism(t *testing.T) {
	newRng := func(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }
	for _, c := range []struct {
		name string
		gen  func(r *rand.Rand) *tensor.Tensor
	}{
		{"RandUniform", func(r *rand.Rand) *tensor.Tensor { return tensor.RandUniform(r, -1, 3, 4, 5) }},
		{"RandNormal", func(r *rand.Rand) *tensor.Tensor { return tensor.RandNormal(r, 2, 0.5, 4, 5) }},
	} {
		a, b, d := c.gen(newRng(42)), c.gen(newRng(42)), c.gen(newRng(43))
		sameShape(t, c.name, a, 4, 5)
		if err := tensortest.AllClose(a, b, 0, 0); err != nil {
			t.Errorf("%s: same seed, different values: %v", c.name, err)
		}
		if tensortest.AllClose(a, d, 0, 0) == nil {
			t.Errorf("%s: different seeds gave the same values", c.name)
		}
	}
	u := tensor.RandUniform(newRng(7), 0, 1, 3)
	n := tensor.RandNormal(newRng(7), 0, 1, 3)
	if err := tensortest.SliceClose(u.Data(), pinnedUniform, 0, 0); err != nil {
		t.Errorf("RandUniform(seed 7) changed: %v (got %v)", err, u.Data())
	}
	if err := tensortest.SliceClose(n.Data(), pinnedNormal, 0, 0); err != nil {
		t.Errorf("RandNormal(seed 7) changed: %v (got %v)", err, n.Data())
	}
}

var (
	pinnedUniform = []float32{0.18630493, 0.47462708, 0.4691022}
	pinnedNormal  = []float32{0.49815133, -0.32862434, -0.5711418}
)

func TestRandomDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	u := tensor.RandUniform(rng, -1, 3, 20000)
	for _, v := range u.Data() {
		if v < -1 || v >= 3 {
			t.Fatalf("RandUniform value %v outside [-1, 3)", v)
		}
	}
	mean := tensor.MeanAll(u).Item()
	if math.Abs(float64(mean)-1) > 0.05 {
		t.Errorf("RandUniform mean %v, want ≈ 1", mean)
	}
	n := tensor.RandNormal(rng, 2, 0.5, 20000)
	m, s := tensor.MeanAll(n).Item(), tensor.Std(n, nil, 1, false).Item()
	if math.Abs(float64(m)-2) > 0.02 || math.Abs(float64(s)-0.5) > 0.02 {
		t.Errorf("RandNormal mean %v std %v, want ≈ 2 and 0.5", m, s)
	}
}

// TestComparisonsRecordNoGraph: masks never require a gradient, and Where
// sends no gradient to its condition.
func TestComparisonsRecordNoGraph(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3}, 3).SetRequiresGrad(true)
	b := tensor.FromSlice([]float32{2}, 1).SetRequiresGrad(true)
	want := map[string][]float32{
		"Eq": {0, 1, 0}, "Ne": {1, 0, 1}, "Gt": {0, 0, 1}, "Ge": {0, 1, 1}, "Lt": {1, 0, 0}, "Le": {1, 1, 0},
	}
	for name, f := range map[string]func(a, b *tensor.Tensor) *tensor.Tensor{
		"Eq": tensor.Eq, "Ne": tensor.Ne, "Gt": tensor.Gt, "Ge": tensor.Ge, "Lt": tensor.Lt, "Le": tensor.Le,
	} {
		m := f(a, b)
		if m.RequiresGrad() {
			t.Errorf("%s: mask requires a gradient", name)
		}
		if err := tensortest.SliceClose(m.Data(), want[name], 0, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cond := tensor.Gt(a, b).SetRequiresGrad(true)
	tensor.SumAll(tensor.Where(cond, a, tensor.Zeros(3))).Backward()
	if cond.Grad() != nil {
		t.Error("Where gave its condition a gradient")
	}
	wantData(t, "Where a.Grad", a.Grad(), []float32{0, 0, 1})
}

// TestSpecialValues: NaN and infinities behave as in PyTorch 1.13.
func TestSpecialValues(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	v := func(x ...float32) *tensor.Tensor { return tensor.FromSlice(x, len(x)) }
	maxv, maxi := tensor.Max(tensor.FromSlice([]float32{1, nan, 3, nan}, 1, 4), 1, false)
	cases := []struct {
		name string
		got  *tensor.Tensor
		want []float32
	}{
		{"Maximum/NaN", tensor.Maximum(v(nan, 1), v(1, nan)), []float32{nan, nan}},
		{"Minimum/NaN", tensor.Minimum(v(nan), v(2)), []float32{nan}},
		{"Amax/NaN", tensor.Amax(v(1, nan, 3), nil, false), []float32{nan}},
		{"Max/NaN value", maxv, []float32{nan}},
		{"Max/NaN index", maxi, []float32{1}},
		{"ArgMax/NaN", tensor.ArgMax(v(1, nan, 3), 0, false), []float32{1}},
		{"LogSumExp/all -inf", tensor.LogSumExp(v(-inf, -inf), nil, false), []float32{-inf}},
		{"LogSumExp/+inf", tensor.LogSumExp(v(inf, 1), nil, false), []float32{inf}},
		{"Softmax/-inf", tensor.Softmax(v(-inf, 0), 0), []float32{0, 1}},
		{"Softmax/all -inf", tensor.Softmax(v(-inf, -inf), 0), []float32{nan, nan}},
		{"LogSoftmax/-inf", tensor.LogSoftmax(v(-inf, 0), 0), []float32{-inf, 0}},
		{"Clamp/NaN", tensor.Clamp(v(nan), 0, 1), []float32{nan}},
		{"Pow/0^0", tensor.Pow(v(0), v(0)), []float32{1}},
		{"PowScalar/0^-1", tensor.PowScalar(v(0), -1), []float32{inf}},
		{"BCEWithLogits/large", tensor.BCEWithLogitsLoss(v(100, -100), v(1, 0), tensor.BCEWithLogitsOptions{Reduction: tensor.ReduceNone}), []float32{0, 0}},
		{"CrossEntropy/all ignored mean", tensor.CrossEntropy(tensor.Zeros(2, 3), v(5, 5), tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(5)}), []float32{nan}},
		{"CrossEntropy/all ignored sum", tensor.CrossEntropy(tensor.Zeros(2, 3), v(5, 5), tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(5), Reduction: tensor.ReduceSum}), []float32{0}},
	}
	for _, c := range cases {
		if err := tensortest.SliceClose(c.got.Data(), c.want, 0, 1e-30); err != nil {
			t.Errorf("%s: %v (got %v)", c.name, err, c.got.Data())
		}
	}
	// The gradient of √x at 0 is +Inf and of x^0 is 0, as in PyTorch.
	x := v(0, 2).SetRequiresGrad(true)
	tensor.SumAll(tensor.PowScalar(x, 0.5)).Backward()
	if g := x.Grad().Data(); !math.IsInf(float64(g[0]), 1) || math.Abs(float64(g[1])-0.35355339) > 1e-6 {
		t.Errorf("d√x at (0, 2) = %v", g)
	}
	x.ZeroGrad()
	tensor.SumAll(tensor.Pow(x, v(2, 0))).Backward()
	wantData(t, "d(x^(2,0)) at (0, 2)", x.Grad(), []float32{0, 0})
}

// TestEmptyTensors: zero-size dimensions behave as in PyTorch.
func TestEmptyTensors(t *testing.T) {
	z := tensor.Zeros
	a := z(2, 0).SetRequiresGrad(true)
	b := z(0, 3).SetRequiresGrad(true)
	p := tensor.MatMul(a, b) // an empty sum: zeros
	sameShape(t, "MatMul (2,0)·(0,3)", p, 2, 3)
	wantData(t, "MatMul (2,0)·(0,3)", p, []float32{0, 0, 0, 0, 0, 0})
	tensor.SumAll(p).Backward()
	sameShape(t, "a.Grad", a.Grad(), 2, 0)
	sameShape(t, "b.Grad", b.Grad(), 0, 3)
	sameShape(t, "MatMul (0,2)·(2,3)", tensor.MatMul(z(0, 2), z(2, 3)), 0, 3)
	if n := len(tensor.Chunk(z(0, 2), 3, 0)); n != 3 {
		t.Errorf("Chunk of an empty axis into 3: %d pieces, torch.chunk gives 3", n)
	}
	wantData(t, "SumAll of empty", tensor.SumAll(z(0, 3)), []float32{0})
	wantData(t, "Sum of empty axis", tensor.Sum(z(0, 3), []int{0}, false), []float32{0, 0, 0})
	sameShape(t, "Cat with an empty piece", tensor.Cat([]*tensor.Tensor{z(0, 2), tensor.Ones(1, 2)}, 0), 1, 2)
	sameShape(t, "Narrow of length 0", tensor.Narrow(z(3, 2), 0, 3, 0), 0, 2)
	sameShape(t, "IndexSelect with no indices", tensor.IndexSelect(z(3, 2), 0, z(0)), 0, 2)
	sameShape(t, "Expand to 0", tensor.Expand(z(1, 3), 0, 3), 0, 3)
}
