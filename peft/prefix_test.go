package peft

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// prefixConfig is prefix tuning for tinyLM: 2 layers, 2 heads, n_embd 8.
func prefixConfig(projection bool) *PrefixTuningConfig {
	return &PrefixTuningConfig{TaskType: "CAUSAL_LM", NumVirtualTokens: 3, TokenDim: 8, NumLayers: 2,
		NumAttentionHeads: 2, PrefixProjection: projection, EncoderHiddenSize: 5}
}

// prefixLogits runs m with pm's active prefix as the past, PosOffset 0.
func prefixLogits(t *testing.T, pm *Model, m *lm.Model, ids *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	past, err := Past[lm.KV](pm)
	if err != nil {
		t.Fatal(err)
	}
	return m.ForwardWith(ids, lm.ForwardOptions{Past: past}).Logits
}

// sharpen scales a tiny lm's matrices so that attention (and so the prefix)
// visibly moves the logits.
func sharpen(m *lm.Model, s float32) {
	for _, p := range nn.Parameters(m) {
		if p.Dim() == 2 {
			for i := range p.Data() {
				p.Data()[i] *= s
			}
		}
	}
}

// TestPrefixLayout checks the past against PEFT's get_prompt: the encoder's
// output row v viewed as (num_layers·2, heads, head_dim), layer i's keys
// in slot 2i, values in slot 2i+1.
func TestPrefixLayout(t *testing.T) {
	m := tinyLM(t, 1)
	for _, proj := range []bool{false, true} {
		pm, err := NewModel(m, prefixConfig(proj), newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		ad := pm.adapters[DefaultAdapter]
		out := ad.prefix.output().Data() // (3, 2·2·8)
		past, err := pm.Prefix()
		if err != nil || len(past) != 2 {
			t.Fatalf("Prefix: %d layers, %v", len(past), err)
		}
		const n, h, d, w = 3, 2, 4, 32
		for i, kv := range past {
			for s, x := range []*tensor.Tensor{kv.K, kv.V} {
				if !tensor.SameShape(x.Shape(), []int{1, h, n, d}) {
					t.Fatalf("layer %d: shape %s", i, tensor.FormatShape(x.Shape()))
				}
				for hh := range h {
					for v := range n {
						for dd := range d {
							got := x.Data()[(hh*n+v)*d+dd]
							want := out[v*w+(2*i+s)*8+hh*d+dd]
							if got != want {
								t.Fatalf("projection %v layer %d slot %d head %d token %d: %g, want %g", proj, i, s, hh, v, got, want)
							}
						}
					}
				}
			}
		}
		pm.Unload()
	}
}

// TestPrefixGradCheck compares the gradients reaching the prefix encoder's
// parameters (embedding and MLP) through lm's attention with finite
// differences.
func TestPrefixGradCheck(t *testing.T) {
	m := tinyLM(t, 3)
	sharpen(m, 20)
	nn.Eval(m)
	for _, proj := range []bool{false, true} {
		pm, err := NewModel(m, prefixConfig(proj), newRng(4))
		if err != nil {
			t.Fatal(err)
		}
		ids := lm.IDs([]int{1, 5, 3}, []int{4, 16, 2})
		ps := pm.Parameters()
		if want := 1 + 4*btoi(proj); len(ps) != want {
			t.Fatalf("%d trainable tensors, want %d", len(ps), want)
		}
		name := "prefix"
		if proj {
			name = "prefix with projection"
		}
		// The check is not vacuous: every tensor gets a sizeable gradient.
		lm.NextTokenLoss(prefixLogits(t, pm, m, ids), ids).Backward()
		for i, p := range ps {
			g := 0.0
			for _, v := range p.Grad().Data() {
				g = max(g, float64(abs32(v)))
			}
			if g < 1e-3 {
				t.Errorf("%s: parameter %d: max |grad| %g", name, i, g)
			}
			p.ZeroGrad()
		}
		tensortest.GradCheck(t, name, func([]*tensor.Tensor) *tensor.Tensor {
			return prefixLogits(t, pm, m, ids)
		}, ps, tensortest.GradCheckOptions{})
		pm.Unload()
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPrefixTraining trains only the prefix (with the projection MLP) of a
// tiny lm for a few AdamW steps: the loss decreases every step, the base
// model does not move, and the report counts the encoder.
func TestPrefixTraining(t *testing.T) {
	m := tinyLM(t, 1)
	sharpen(m, 10)
	baseTotal, _ := nn.CountParameters(m)
	before := nn.StateDict(m)
	w0 := map[string][]float32{}
	for k, v := range before {
		w0[k] = append([]float32(nil), v.Data()...)
	}
	pm, err := NewModel(m, prefixConfig(true), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	// embedding 3·8, Linear 8→5 (40 + 5), Linear 5→32 (160 + 32).
	const enc = 3*8 + 8*5 + 5 + 5*32 + 32
	total, trainable := pm.CountParameters()
	if trainable != enc || total != baseTotal+enc {
		t.Errorf("CountParameters %d, %d; want %d, %d", total, trainable, baseTotal+enc, enc)
	}
	if got, want := pm.TrainableReport(), reportLine(baseTotal+enc, enc); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	t.Log(pm.TrainableReport())
	if err := pm.Merge(); err == nil {
		t.Error("Merge of a prefix-tuning adapter: no error")
	}

	ids := tinyLMBatch()
	opt := optim.NewAdamW(optim.Params(pm.Parameters()...), optim.AdamWOptions{LR: 1e-2})
	var losses []float32
	for range 6 {
		opt.ZeroGrad()
		loss := lm.NextTokenLoss(prefixLogits(t, pm, m, ids), ids)
		losses = append(losses, loss.Item())
		loss.Backward()
		opt.Step()
	}
	t.Logf("losses %v", losses)
	for i := 1; i < len(losses); i++ {
		if !(losses[i] < losses[i-1]) {
			t.Errorf("loss did not decrease at step %d: %v", i, losses)
		}
	}
	for k, v := range nn.StateDict(m) {
		if d := maxAbsDiff(v.Data(), w0[k]); d != 0 {
			t.Errorf("training moved base tensor %s by %g", k, d)
		}
	}
	// Disabled adapters: no past, the base model's logits.
	pm.DisableAdapters()
	if p, err := pm.Prefix(); p != nil || err != nil {
		t.Errorf("Prefix with adapters disabled: %v, %v", p, err)
	}
	pm.EnableAdapters()
}

// TestPrefixSaveLoad saves a trained prefix-tuning adapter in PEFT's layout
// — adapter_config.json and the single tensor "prompt_embeddings" (n,
// num_layers·2·token_dim), the encoder's output — and loads it on a fresh
// copy of the base model: same logits, no MLP, frozen unless Trainable.
func TestPrefixSaveLoad(t *testing.T) {
	for _, proj := range []bool{false, true} {
		m := tinyLM(t, 1)
		sharpen(m, 10)
		nn.Eval(m)
		pm, err := NewModel(m, prefixConfig(proj), newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		ids := tinyLMBatch()
		want := prefixLogits(t, pm, m, ids)
		dir := t.TempDir()
		if err := pm.SavePretrained(dir); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Open(filepath.Join(dir, WeightsName))
		if err != nil {
			t.Fatal(err)
		}
		names := f.Names()
		info, _ := f.Info(prefixKey)
		f.Close()
		if len(names) != 1 || names[0] != prefixKey || !tensor.SameShape(info.Shape, []int{3, 32}) {
			t.Errorf("saved %v, %s shape %v; want only %q (3, 32)", names, prefixKey, info.Shape, prefixKey)
		}
		b, err := os.ReadFile(filepath.Join(dir, ConfigName))
		if err != nil {
			t.Fatal(err)
		}
		var js map[string]any
		if err := json.Unmarshal(b, &js); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 3.0, "token_dim": 8.0,
			"num_layers": 2.0, "num_attention_heads": 2.0, "num_transformer_submodules": 1.0, "prefix_projection": proj,
			"encoder_hidden_size": 5.0, "inference_mode": true, "task_type": "CAUSAL_LM"} {
			if js[k] != v {
				t.Errorf("adapter_config.json %q = %v, want %v", k, js[k], v)
			}
		}

		m2 := tinyLM(t, 1)
		sharpen(m2, 10)
		nn.Eval(m2)
		pm2, err := FromPretrained(m2, dir, nil, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(prefixLogits(t, pm2, m2, ids), want); e > 1e-6 {
			t.Errorf("projection %v: loaded prefix logits vs saved: %.3g", proj, e)
		}
		if _, trainable := pm2.CountParameters(); trainable != 0 {
			t.Errorf("loaded for inference: %d trainable", trainable)
		}
		if ps := pm2.adapters[DefaultAdapter].params(); len(ps) != 1 {
			t.Errorf("loaded encoder has %d tensors, want the embedding only", len(ps))
		}
		// Trainable: the loaded prefix itself (n·num_layers·2·token_dim) trains.
		m3 := tinyLM(t, 1)
		pm3, err := FromPretrained(m3, dir, nil, LoadOptions{Trainable: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, trainable := pm3.CountParameters(); trainable != 3*32 {
			t.Errorf("loaded trainable: %d trainable, want %d", trainable, 3*32)
		}
	}
}

// TestPrefixConfigErrors checks validation and that a wrong-shaped
// prompt_embeddings is refused.
func TestPrefixConfigErrors(t *testing.T) {
	m := tinyLM(t, 1)
	for _, c := range []*PrefixTuningConfig{
		{NumVirtualTokens: 0, TokenDim: 8, NumLayers: 2, NumAttentionHeads: 2},
		{NumVirtualTokens: 2, TokenDim: 8, NumLayers: 2, NumAttentionHeads: 3},
		{NumVirtualTokens: 2, TokenDim: 8, NumLayers: 0, NumAttentionHeads: 2},
		{NumVirtualTokens: 2, TokenDim: 8, NumLayers: 2, NumAttentionHeads: 2, NumTransformerSubmodules: 2},
	} {
		if _, err := NewModel(m, c, nil); err == nil {
			t.Errorf("%+v: no error", *c)
		} else {
			t.Log(err)
		}
	}
	bad := &Checkpoint{Config: prefixConfig(false), Tensors: []nn.Named{{Name: prefixKey, Tensor: tensor.Zeros(3, 31)}}}
	if _, err := FromCheckpoint(m, bad, nil, LoadOptions{}); err == nil {
		t.Error("wrong prompt_embeddings shape: no error")
	} else {
		t.Log(err)
	}
	pm, err := NewModel(m, prefixConfig(false), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pm.AddAdapter("second", prefixConfig(true)); err != nil {
		t.Fatal(err)
	}
	if err := pm.SetAdapter(DefaultAdapter, "second"); err != nil {
		t.Fatal(err)
	}
	if _, err := pm.Prefix(); err == nil {
		t.Error("two active prefixes: no error")
	}
}
