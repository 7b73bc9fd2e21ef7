package peft

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
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

// relErr is the golden error figure: max |got − want| / max(|want|, 0.1·max|want|).
func relErr(got, want *tensor.Tensor) float64 {
	w := make([]float64, want.Size())
	for i, v := range want.Data() {
		w[i] = float64(v)
	}
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		return 1e300
	}
	return tensortest.MaxScaledRelErr(got.Data(), w, 0.1)
}

// check compares got with want, failing above tol; PEFT_GOLDEN_REPORT=1
// logs every error.
func check(t *testing.T, what string, got, want *tensor.Tensor, tol float64) float64 {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil", what)
		return 1e300
	}
	e := relErr(got, want)
	if os.Getenv("PEFT_GOLDEN_REPORT") != "" {
		t.Logf("%-40s max error %.2g", what, e)
	}
	if e > tol {
		t.Errorf("%s: max error %.3g > %.1g (shapes %s, %s)", what, e, tol, tensor.FormatShape(got.Shape()), tensor.FormatShape(want.Shape()))
	}
	return e
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

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
	}
	return m
}
