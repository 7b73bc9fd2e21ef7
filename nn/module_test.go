package nn

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func TestSnakeCase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Weight", "weight"},
		{"RunningMean", "running_mean"},
		{"NumBatchesTracked", "num_batches_tracked"},
		{"InProjWeight", "in_proj_weight"},
		{"QKV", "qkv"},
		{"Conv1", "conv1"},
		{"FC2", "fc2"},
		{"Block2Norm", "block2_norm"},
		{"HTTPProxy", "http_proxy"},
		{"OutProj", "out_proj"},
		{"W1", "w1"},
		{"x", "x"},
	} {
		if got := SnakeCase(c.in); got != c.want {
			t.Errorf("SnakeCase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

type testAct struct{}

func (testAct) Forward(x *tensor.Tensor) *tensor.Tensor { return x }

type testDrop struct{ TrainMode }

func (*testDrop) Forward(x *tensor.Tensor) *tensor.Tensor { return x }

type testAttn struct {
	QKV  *Linear
	Proj *Linear
}

type testBlock struct {
	Norm1 *LayerNorm
	Attn  *testAttn
	Scale *tensor.Tensor `nn:"gamma"`
	Skip  *tensor.Tensor `nn:"-"`
	Count *tensor.Tensor `nn:"count,buffer"`
	Act   Module
	note  *tensor.Tensor //nolint:unused // unexported: ignored
}

type testEncoder struct {
	TrainMode
	Rng      *rand.Rand // not a module: left out of NamedModules
	PosEmbed *tensor.Tensor
	Blocks   []*testBlock
	Neck     Sequential
	Head     *Linear
}

type testModel struct {
	Encoder *testEncoder
	Shared  *Linear // the same *Linear as Encoder.Head
}

func newTestModel() *testModel {
	rng := newRng(9)
	enc := &testEncoder{PosEmbed: param(1, 4), Rng: rng}
	for range 2 {
		enc.Blocks = append(enc.Blocks, &testBlock{
			Norm1: NewLayerNorm(4),
			Attn:  &testAttn{QKV: NewLinear(rng, 4, 12, true), Proj: NewLinear(rng, 4, 4, false)},
			Scale: param(4),
			Skip:  param(3),
			Count: tensor.Zeros(1),
			Act:   testAct{},
		})
	}
	enc.Neck = NewSequential(NewLinear(rng, 4, 4, false), testAct{}, &testDrop{})
	enc.Head = NewLinear(rng, 4, 2, true)
	return &testModel{Encoder: enc, Shared: enc.Head}
}

func TestStateDictNames(t *testing.T) {
	m := newTestModel()
	var got []string
	for _, n := range StateDictEntries(m) {
		got = append(got, n.Name)
	}
	want := []string{
		"encoder.pos_embed",
		"encoder.blocks.0.gamma", "encoder.blocks.0.count",
		"encoder.blocks.0.norm1.weight", "encoder.blocks.0.norm1.bias",
		"encoder.blocks.0.attn.qkv.weight", "encoder.blocks.0.attn.qkv.bias",
		"encoder.blocks.0.attn.proj.weight",
		"encoder.blocks.1.gamma", "encoder.blocks.1.count",
		"encoder.blocks.1.norm1.weight", "encoder.blocks.1.norm1.bias",
		"encoder.blocks.1.attn.qkv.weight", "encoder.blocks.1.attn.qkv.bias",
		"encoder.blocks.1.attn.proj.weight",
		"encoder.neck.0.weight",
		"encoder.head.weight", "encoder.head.bias",
		"shared.weight", "shared.bias",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state dict names\n got %q\nwant %q", got, want)
	}
	// Parameters skip buffers and list the shared head once.
	var pn []string
	for _, n := range NamedParameters(m) {
		pn = append(pn, n.Name)
	}
	if len(pn) != len(want)-2-2 || pn[len(pn)-1] != "encoder.head.bias" {
		t.Fatalf("parameter names %q", pn)
	}
	if b := NamedBuffers(m); len(b) != 2 || b[1].Name != "encoder.blocks.1.count" {
		t.Fatalf("buffers %v", b)
	}
	total, trainable := CountParameters(m)
	wantTotal := 4 + 2*(4+4+4+48+12+16) + 16 + 8 + 2
	if total != wantTotal || trainable != wantTotal {
		t.Fatalf("CountParameters = %d, %d, want %d", total, trainable, wantTotal)
	}
	Freeze(m.Encoder.Blocks)
	if total2, tr := CountParameters(m); total2 != total || tr != total-2*(4+4+4+48+12+16) {
		t.Fatalf("after Freeze: %d, %d", total2, tr)
	}
	Unfreeze(m)
	if _, tr := CountParameters(m); tr != total {
		t.Fatalf("after Unfreeze: trainable %d", tr)
	}
}

func TestNamedModules(t *testing.T) {
	m := newTestModel()
	var names []string
	for _, nm := range NamedModules(m) {
		names = append(names, nm.Name)
	}
	got := strings.Join(names, " ")
	want := " encoder encoder.blocks encoder.blocks.0 encoder.blocks.0.norm1 encoder.blocks.0.attn encoder.blocks.0.attn.qkv encoder.blocks.0.attn.proj encoder.blocks.0.act " +
		"encoder.blocks.1 encoder.blocks.1.norm1 encoder.blocks.1.attn encoder.blocks.1.attn.qkv encoder.blocks.1.attn.proj encoder.blocks.1.act " +
		"encoder.neck encoder.neck.0 encoder.neck.1 encoder.neck.2 encoder.head shared"
	if got != want {
		t.Fatalf("modules\n got %q\nwant %q", got, want)
	}
}

func TestSetTraining(t *testing.T) {
	m := newTestModel()
	drop := m.Encoder.Neck[2].(*testDrop)
	if !m.Encoder.Training() || !drop.Training() {
		t.Fatal("new modules should be in training mode")
	}
	Eval(m)
	if m.Encoder.Training() || drop.Training() {
		t.Fatal("Eval did not reach every module")
	}
	SetTraining(m, true)
	if !m.Encoder.Training() || !drop.Training() {
		t.Fatal("SetTraining(true) did not reach every module")
	}
}

func TestLoadStateDict(t *testing.T) {
	src, dst := newTestModel(), newTestModel()
	for i, p := range Parameters(src) {
		for j := range p.Data() {
			p.Data()[j] = float32(i*100 + j)
		}
	}
	sd := StateDict(src)
	// A fully matching state dict loads strictly, keeping dst's tensors.
	w := dst.Encoder.Head.Weight
	rep, err := LoadStateDict(dst, sd, true)
	if err != nil || !rep.OK() {
		t.Fatalf("strict load: %v %v", rep, err)
	}
	if dst.Encoder.Head.Weight != w || w.At(1, 2) != src.Encoder.Head.Weight.At(1, 2) {
		t.Fatal("load did not copy into the existing tensor")
	}
	// Missing, unexpected and mis-shaped keys.
	bad := map[string]*tensor.Tensor{}
	for k, v := range sd {
		bad[k] = v
	}
	delete(bad, "encoder.pos_embed")
	bad["encoder.extra"] = tensor.Zeros(2)
	bad["encoder.head.bias"] = tensor.Zeros(3)
	before := dst.Encoder.Blocks[0].Attn.QKV.Weight.Clone()
	for i := range sd["encoder.blocks.0.attn.qkv.weight"].Data() {
		sd["encoder.blocks.0.attn.qkv.weight"].Data()[i] = -1
	}
	rep, err = LoadStateDict(dst, bad, true)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("strict load of a bad state dict: err %v", err)
	}
	want := LoadReport{
		Missing:    []string{"encoder.pos_embed"},
		Unexpected: []string{"encoder.extra"},
		Mismatched: []ShapeMismatch{{"encoder.head.bias", []int{2}, []int{3}}},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	if got := dst.Encoder.Blocks[0].Attn.QKV.Weight; got.At(0, 0) != before.At(0, 0) {
		t.Fatal("a failed strict load changed the model")
	}
	for _, s := range []string{`missing key(s): "encoder.pos_embed"`, `unexpected key(s): "encoder.extra"`, "size mismatch for encoder.head.bias: shape (3) in the state dict, (2) in the model"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// Non-strict loads the rest.
	rep, err = LoadStateDict(dst, bad, false)
	if err != nil || !reflect.DeepEqual(rep, want) {
		t.Fatalf("non-strict: %+v %v", rep, err)
	}
	if dst.Encoder.Blocks[0].Attn.QKV.Weight.At(0, 0) != -1 {
		t.Fatal("non-strict load skipped a matching key")
	}
}

func TestKaimingDefaultBound(t *testing.T) {
	l := NewLinear(newRng(5), 64, 200, true)
	bound := float32(1.0 / 8)
	for _, p := range []*tensor.Tensor{l.Weight, l.Bias} {
		lo, hi := float32(1), float32(-1)
		for _, v := range p.Data() {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo < -bound || hi > bound || lo > -0.9*bound || hi < 0.9*bound {
			t.Errorf("values in [%v, %v], want filling [-%v, %v]", lo, hi, bound, bound)
		}
	}
}

// Freezing a frozen model only reads it, so concurrent Freeze calls do not race
// (run with -race).
func TestFreezeConcurrent(t *testing.T) {
	l := NewLinear(rand.New(rand.NewPCG(1, 2)), 4, 3, true)
	Freeze(l)
	done := make(chan bool)
	for i := 0; i < 4; i++ {
		go func() { Freeze(l); done <- true }()
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if l.Weight.RequiresGrad() {
		t.Fatal("still requires grad")
	}
}
