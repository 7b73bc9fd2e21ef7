package peft

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

func newRng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "testdata", "peft"}, parts...)...)
}

// fixture is one golden file of scripts/golden_peft.py.
type fixture struct {
	path string
	t    map[string]*tensor.Tensor
	meta map[string]string
}

func readFixture(t *testing.T, name string) *fixture {
	t.Helper()
	path := testdata(name + ".safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fx := &fixture{path: path, t: map[string]*tensor.Tensor{}, meta: f.Metadata()}
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		if info.DType == safetensors.F64 {
			continue // read with sigma64
		}
		data, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		fx.t[n] = tensor.New(data, shape...)
	}
	return fx
}

func (f *fixture) get(t *testing.T, key string) *tensor.Tensor {
	t.Helper()
	v, ok := f.t[key]
	if !ok {
		t.Fatalf("%s: no %q", f.path, key)
	}
	return v
}

// with returns the tensors whose names start with prefix, prefix removed.
func (f *fixture) with(prefix string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range f.t {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

// relErr is the one golden error figure (golden.Err: max |got − want| /
// max(|want|, 0.01·max|want|)); +Inf for a shape mismatch or NaN.
func relErr(got, want *tensor.Tensor) float64 {
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		return math.Inf(1)
	}
	return golden.Err(got.Data(), want.Data())
}

// check compares got with want under the golden measure, failing above tol;
// FOVEA_GOLDEN_REPORT=1 logs every error.
func check(t golden.TB, what string, got, want *tensor.Tensor, tol float64) float64 {
	t.Helper()
	return tensortest.CheckTensor(t, "peft/"+what, got, want, tol)
}

// setAdapter copies tensors (PEFT names relative to module) into adapter
// name of m.
func setAdapter(t *testing.T, m *Model, name, module string, ts map[string]*tensor.Tensor) {
	t.Helper()
	sd, err := m.StateDict(name)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ts {
		dst, ok := sd[keyPrefix+module+"."+k]
		if !ok {
			t.Fatalf("adapter %q has no %q (has %v)", name, keyPrefix+module+"."+k, sortedKeys(sd))
		}
		if !tensor.SameShape(dst.Shape(), v.Shape()) {
			t.Fatalf("%s: shape %v, fixture %v", k, dst.Shape(), v.Shape())
		}
		copy(dst.Data(), v.Data())
	}
}

// The tiny model of scripts/golden_peft.py's TinyNet: every kind of layer
// peft adapts.
type tinyBlock struct {
	Attn *nn.MultiheadAttention
	FC   *nn.Linear
}

type tinyNet struct {
	Embed  *nn.Embedding
	Stem   *nn.Conv2d
	Blocks []*tinyBlock
	Head   *nn.Linear
}

func newTinyNet(rng *rand.Rand) *tinyNet {
	n := &tinyNet{
		Embed: nn.NewEmbedding(rng, 10, 8),
		Stem:  nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 8, Kernel: nn.Pair(3), Padding: nn.Pair(1)}),
		Head:  nn.NewLinear(rng, 8, 4, true),
	}
	for range 2 {
		b := &tinyBlock{Attn: nn.NewMultiheadAttention(rng, 8, 2, true), FC: nn.NewLinear(rng, 8, 8, true)}
		nn.Normal(rng, b.Attn.InProjBias, 0, 0.1)
		n.Blocks = append(n.Blocks, b)
	}
	return n
}

// Forward maps token indices idx (N, L) and images img (N, 2, H, W) to
// (N, L, 4).
func (n *tinyNet) Forward(idx, img *tensor.Tensor) *tensor.Tensor {
	x := n.Embed.Forward(idx)
	s := tensor.Mean(n.Stem.Forward(img), []int{2, 3}, false)
	x = tensor.Add(x, tensor.Unsqueeze(s, 1))
	for _, b := range n.Blocks {
		x = tensor.Add(x, b.Attn.Forward(x))
		x = tensor.Add(x, functional.ReLU(b.FC.Forward(x)))
	}
	return n.Head.Forward(x)
}

// tinyInputs returns fixed inputs for tinyNet.
func tinyInputs() (idx, img *tensor.Tensor) {
	rng := newRng(77)
	d := make([]float32, 8)
	for i := range d {
		d[i] = float32(rng.IntN(10))
	}
	return tensor.FromSlice(d, 2, 4), tensor.RandNormal(rng, 0, 1, 2, 2, 5, 5)
}

// cloneTiny returns a tinyNet with a copy of n's weights (no hooks).
func cloneTiny(t *testing.T, n *tinyNet) *tinyNet {
	t.Helper()
	c := newTinyNet(newRng(999))
	sd := map[string]*tensor.Tensor{}
	for k, v := range nn.StateDict(n) {
		sd[k] = v.Clone()
	}
	if _, err := nn.LoadStateDict(c, sd, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// conv1D is GPT-2's Conv1D: weight (in, out), y = x·W + b; a LinearModule.
type conv1D struct {
	Weight *tensor.Tensor
	Bias   *tensor.Tensor
	Delta  nn.Delta `nn:"-"`
}

func (c *conv1D) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.Add(tensor.MatMul(x, c.Weight), c.Bias)
	if c.Delta != nil {
		y = c.Delta.Forward(x, y)
	}
	return y
}

func (c *conv1D) LinearWeights() (w, b *tensor.Tensor, fanInFanOut bool) {
	return c.Weight, c.Bias, true
}
func (c *conv1D) DeltaHook() *nn.Delta { return &c.Delta }

// maxAbsDiff is max |a − b|, +Inf when the lengths differ or a difference
// is NaN (so "> tol" fails and "== 0" is false on a NaN output).
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// nanTB records whether a helper under test failed.
type nanTB struct{ failed bool }

func (n *nanTB) Helper()               {}
func (n *nanTB) Errorf(string, ...any) { n.failed = true }
func (n *nanTB) Logf(string, ...any)   {}

// TestHelpersSeeNaN: a NaN-filled output fails check, relErr and
// maxAbsDiff at any tolerance.
func TestHelpersSeeNaN(t *testing.T) {
	want := tensor.FromSlice([]float32{1, -2, 3, 0.5}, 2, 2)
	nan := tensor.Full(float32(math.NaN()), 2, 2)
	for _, tol := range []float64{0, 1e-5, 1, 1e300} {
		fake := &nanTB{}
		check(fake, "nan", nan, want, tol)
		if !fake.failed {
			t.Errorf("check passed a NaN-filled output at tolerance %g", tol)
		}
		fake = &nanTB{}
		check(fake, "same", want.Clone(), want, tol)
		if fake.failed {
			t.Errorf("check failed an exact output at tolerance %g", tol)
		}
	}
	if e := relErr(nan, want); !math.IsInf(e, 1) {
		t.Errorf("relErr of a NaN output = %g", e)
	}
	if d := maxAbsDiff(nan.Data(), want.Data()); !math.IsInf(d, 1) {
		t.Errorf("maxAbsDiff of a NaN output = %g", d)
	}
}
