package lm

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// The fixtures come from scripts/golden_lm.py: tiny random-weight models with GPT-2's
// math written out in PyTorch (float64 reference), in Hugging Face's folder layout.

// goldenTol bounds max |go − ref| / max(|ref|, 0.01·max|ref|) over a tensor.
const goldenTol = 1e-4

var goldenModels = []string{"gpt2_tiny", "swiglu_tiny"}

func loadGoldenFile(t *testing.T, name string) map[string]*tensor.Tensor {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(testdata, name+"_golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		d, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = tensor.New(d, shape...)
	}
	return out
}

// loadTrainable loads a golden model unfrozen, in evaluation mode (no dropout).
func loadTrainable(t *testing.T, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	nn.Unfreeze(m)
	return m
}

// checkClose compares got with want under the one golden measure
// (golden.Err: max |got − want| / max(|want|, 0.01·max|want|)) within
// goldenTol; FOVEA_GOLDEN_REPORT=1 logs every figure.
func checkClose(t golden.TB, what string, got, want *tensor.Tensor) float64 {
	t.Helper()
	return tensortest.CheckTensor(t, "lm/"+what, got, want, goldenTol)
}

// TestGoldenLogitsAndGradients loads the fixtures' folders (one with Hugging Face's
// unprefixed names and causal-mask buffers, one with "transformer." names and a tied
// lm_head.weight) and compares the logits, the next-token loss with ignored labels and
// its gradients with respect to parameters with PyTorch's.
func TestGoldenLogitsAndGradients(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			m := loadTrainable(t, name)
			g := loadGoldenFile(t, name)
			logits := m.Forward(g["ids"])
			checkClose(t, "logits", logits, g["logits"])
			loss := NextTokenLoss(logits, g["labels"])
			checkClose(t, "loss", tensor.Reshape(loss, 1), g["loss"])
			loss.Backward()
			sd := nn.StateDict(m)
			n := 0
			for k, want := range g {
				if p, ok := strings.CutPrefix(k, "grad."); ok {
					param := sd[p]
					if param == nil {
						t.Fatalf("no parameter %s", p)
					}
					// StateDict gives detached views; the gradient is on the model's tensor.
					var grad *tensor.Tensor
					for _, np := range nn.NamedParameters(m) {
						if np.Name == p {
							grad = np.Tensor.Grad()
						}
					}
					if grad == nil {
						t.Fatalf("%s: no gradient", p)
					}
					checkClose(t, "grad "+p, grad, want)
					n++
				}
			}
			if n < 6 {
				t.Errorf("only %d gradients compared", n)
			}
		})
	}
}

// TestGoldenPrefix: a per-layer past of batch 1 (requiring gradients) before the tokens,
// positions from 0 (PosOffset 0, as prefix tuning), against PyTorch's logits, loss and
// gradients with respect to the past keys and values.
func TestGoldenPrefix(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			m := loadTrainable(t, name)
			nn.Freeze(m) // only the prefix learns
			g := loadGoldenFile(t, name)
			past := make([]KV, m.Config.NLayer)
			for i := range past {
				past[i] = KV{K: g[fmt.Sprintf("prefix.%d.k", i)].Clone().SetRequiresGrad(true), V: g[fmt.Sprintf("prefix.%d.v", i)].Clone().SetRequiresGrad(true)}
			}
			out := m.ForwardWith(g["prefix.ids"], ForwardOptions{Past: past})
			checkClose(t, "prefix logits", out.Logits, g["prefix.logits"])
			loss := NextTokenLoss(out.Logits, g["prefix.ids"])
			checkClose(t, "prefix loss", tensor.Reshape(loss, 1), g["prefix.loss"])
			loss.Backward()
			for i, kv := range past {
				checkClose(t, fmt.Sprintf("prefix grad %d k", i), kv.K.Grad(), g[fmt.Sprintf("prefix.grad.%d.k", i)])
				checkClose(t, fmt.Sprintf("prefix grad %d v", i), kv.V.Grad(), g[fmt.Sprintf("prefix.grad.%d.v", i)])
			}
		})
	}
}

// TestGoldenCache: logits computed token by token through the cache (and in chunks)
// equal PyTorch's full-sequence logits.
func TestGoldenCache(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join(testdata, name))
			if err != nil {
				t.Fatal(err)
			}
			g := loadGoldenFile(t, name)
			ids, want := g["cache.ids"], g["cache.logits"]
			n := ids.SizeOf(1)
			checkClose(t, "full", m.Forward(ids), want)
			for _, chunks := range [][]int{{5, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 4, 4}} {
				var past []KV
				var parts []*tensor.Tensor
				pos := 0
				for _, c := range chunks {
					out := m.ForwardWith(tensor.Narrow(ids, 1, pos, c), ForwardOptions{Past: past, PosOffset: pos, Cache: true})
					parts = append(parts, out.Logits)
					past = out.Present
					pos += c
				}
				if pos != n {
					t.Fatalf("chunks cover %d of %d", pos, n)
				}
				if past[0].Len() != n {
					t.Errorf("cache holds %d positions, want %d", past[0].Len(), n)
				}
				checkClose(t, fmt.Sprint("cached ", chunks), tensor.Cat(parts, 1), want)
			}
		})
	}
}

func TestLoadPrefixedAndSave(t *testing.T) {
	m, err := Load(filepath.Join(testdata, "gpt2_tiny"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(dir, m); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	f.Close()
	if _, ok := slicesFind(names, "transformer.h.1.mlp.c_proj.weight"); !ok {
		t.Errorf("saved names %v lack the transformer. prefix", names[:3])
	}
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Config != m.Config {
		t.Errorf("config after a round trip: %+v, want %+v", m2.Config, m.Config)
	}
	ids := IDs([]int{1, 2, 3, 299})
	if err := tensortest.AllClose(m2.Forward(ids), m.Forward(ids), 0, 0); err != nil {
		t.Error(err)
	}
	// A missing tensor is an error naming the file and the key.
	bad := t.TempDir()
	sd := nn.StateDictEntries(m)
	var ts []safetensors.Tensor
	for _, e := range sd[1:] {
		ts = append(ts, safetensors.Tensor{Name: e.Name, DType: safetensors.F32, Shape: e.Tensor.Shape(), Float32: e.Tensor.Data()})
	}
	if err := safetensors.Save(filepath.Join(bad, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfig(filepath.Join(bad, "config.json"), m.Config); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), sd[0].Name) {
		t.Errorf("load without %s: %v", sd[0].Name, err)
	}
	// An untied lm_head is refused.
	ts = append(ts, safetensors.Tensor{Name: sd[0].Name, DType: safetensors.F32, Shape: sd[0].Tensor.Shape(), Float32: sd[0].Tensor.Data()})
	head := make([]float32, m.WTE.Weight.Size())
	ts = append(ts, safetensors.Tensor{Name: "lm_head.weight", DType: safetensors.F32, Shape: m.WTE.Weight.Shape(), Float32: head})
	if err := safetensors.Save(filepath.Join(bad, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "tied") {
		t.Errorf("untied lm_head: %v", err)
	}
}

func slicesFind(s []string, v string) (int, bool) {
	for i, x := range s {
		if x == v {
			return i, true
		}
	}
	return -1, false
}

func TestConfig(t *testing.T) {
	c, err := ReadConfig(filepath.Join(testdata, "gpt2_tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.VocabSize, want.NPositions, want.NEmbd, want.NLayer, want.NHead = 300, 64, 32, 2, 4
	want.BosTokenID, want.EosTokenID = 299, 299
	if c != want {
		t.Errorf("config %+v, want %+v", c, want)
	}
	c, err = ParseConfig([]byte(`{}`))
	if err != nil || c != DefaultConfig() {
		t.Errorf("empty config: %+v, %v", c, err)
	}
	if c.Inner() != 3072 {
		t.Errorf("GPT-2 inner %d", c.Inner())
	}
	c.FeedForward = "swiglu"
	if c.Inner() != 2048 {
		t.Errorf("swiglu inner %d", c.Inner())
	}
	for _, bad := range []string{
		`{"n_embd": 10, "n_head": 3}`, `{"model_type": "llama"}`, `{"activation_function": "gelu_magic"}`,
		`{"feed_forward": "moe"}`, `{"norm": "batchnorm"}`, `{"attn_pdrop": 1}`, `{"tie_word_embeddings": false}`,
		`{"vocab_size": 0}`, `{"n_embd": "wide"}`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// nanTB records whether a helper under test failed.
type nanTB struct{ failed bool }

func (n *nanTB) Helper()               {}
func (n *nanTB) Errorf(string, ...any) { n.failed = true }
func (n *nanTB) Logf(string, ...any)   {}

// TestCheckCloseSeesNaN: a NaN-filled output fails checkClose.
func TestCheckCloseSeesNaN(t *testing.T) {
	want := tensor.FromSlice([]float32{1, -2, 3, 0.5}, 2, 2)
	fake := &nanTB{}
	checkClose(fake, "nan", tensor.Full(float32(math.NaN()), 2, 2), want)
	if !fake.failed {
		t.Error("checkClose passed a NaN-filled output")
	}
	fake = &nanTB{}
	checkClose(fake, "same", want.Clone(), want)
	if fake.failed {
		t.Error("checkClose failed an exact output")
	}
}
