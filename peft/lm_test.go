package peft

import (
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// tinyLMConfig is a 2-layer GPT-2 layout model small enough for tests.
func tinyLMConfig() lm.Config {
	cfg := lm.DefaultConfig()
	cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.NLayer, cfg.NHead = 17, 16, 8, 2, 2
	cfg.AttnPdrop, cfg.ResidPdrop, cfg.EmbdPdrop = 0, 0, 0
	return cfg
}

func tinyLM(t *testing.T, seed uint64) *lm.Model {
	t.Helper()
	m, err := lm.New(newRng(seed), tinyLMConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tinyLMBatch() *tensor.Tensor {
	return lm.IDs([]int{1, 5, 3, 9, 2, 7}, []int{4, 4, 11, 0, 16, 8})
}

// TestLoRAOnLM adapts models/lm's Conv1D "c_attn" (a LinearModule stored
// (in, out)): fan_in_fan_out is set from the layer, the adapted output equals
// the merged one, unmerging restores the weights, a few AdamW steps lower the
// loss, and the report counts the LoRA matrices.
func TestLoRAOnLM(t *testing.T) {
	m := tinyLM(t, 1)
	baseTotal, _ := nn.CountParameters(m)
	pm, err := NewModel(m, &LoraConfig{R: 2, LoraAlpha: 4, TargetModules: Names("c_attn"), InitLoraWeights: InitRandom}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	if c := pm.Config(DefaultAdapter).(*LoraConfig); !c.FanInFanOut {
		t.Error("fan_in_fan_out not set for lm.Conv1D")
	}
	// 2 layers, c_attn 8 → 24: A (2, 8) + B (24, 2) = 64 each.
	const lora = 2 * (2*8 + 24*2)
	total, trainable := pm.CountParameters()
	if trainable != lora || total != baseTotal+lora {
		t.Errorf("CountParameters %d, %d; want %d, %d", total, trainable, baseTotal+lora, lora)
	}
	if got, want := pm.TrainableReport(), reportLine(baseTotal+lora, lora); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	sd, err := pm.StateDict(DefaultAdapter)
	if err != nil {
		t.Fatal(err)
	}
	if a := sd["base_model.model.h.1.attn.c_attn.lora_A.weight"]; a == nil || !tensor.SameShape(a.Shape(), []int{2, 8}) {
		t.Errorf("state dict keys: %v", sortedKeys(sd))
	}

	ids := tinyLMBatch()
	nn.Eval(pm)
	adapted := m.Forward(ids)
	base := func() *tensor.Tensor {
		pm.DisableAdapters()
		defer pm.EnableAdapters()
		return m.Forward(ids)
	}()
	if relErr(adapted, base) < 1e-3 {
		t.Fatal("the adapter does not change the output")
	}
	w0 := m.H[0].Attn.CAttn.(*lm.Conv1D).Weight.Clone()
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	// Merged (W + BA) and adapted (W x + B A x) round differently in
	// float32: measured 1.0e-5 under the golden measure.
	if e := relErr(m.Forward(ids), adapted); e > 5e-5 {
		t.Errorf("merged vs adapted: %.3g", e)
	}
	pm.Unmerge()
	if d := maxAbsDiff(m.H[0].Attn.CAttn.(*lm.Conv1D).Weight.Data(), w0.Data()); d > 1e-6 {
		t.Errorf("unmerge left the weight %g away", d)
	}
	if e := relErr(m.Forward(ids), adapted); e > 5e-5 {
		t.Errorf("unmerged vs adapted: %.3g", e)
	}

	w1 := m.H[0].Attn.CAttn.(*lm.Conv1D).Weight.Clone() // after the round trip
	nn.SetTraining(pm, true)
	opt := optim.NewAdamW(optim.Params(pm.Parameters()...), optim.AdamWOptions{LR: 2e-2})
	var losses []float32
	for range 5 {
		opt.ZeroGrad()
		loss := lm.NextTokenLoss(m.Forward(ids), ids)
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
	if d := maxAbsDiff(m.H[0].Attn.CAttn.(*lm.Conv1D).Weight.Data(), w1.Data()); d != 0 {
		t.Errorf("training moved a frozen base weight by %g", d)
	}
}

// TestLoRAOnLMTiedHead checks the caveat of docs/peft.md: LoRA on "wte"
// changes the input embedding through the hook, but lm's output head reads
// wte.weight directly, so the unmerged adapter does not reach the logits'
// projection; merging changes both, so merged ≠ adapted.
func TestLoRAOnLMTiedHead(t *testing.T) {
	m := tinyLM(t, 1)
	pm, err := NewModel(m, &LoraConfig{R: 2, LoraAlpha: 4, TargetModules: Names("wte"), InitLoraWeights: InitRandom}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	nn.Eval(pm)
	ids := tinyLMBatch()
	adapted := m.Forward(ids)
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	merged := m.Forward(ids)
	if e := relErr(merged, adapted); e < 1e-3 {
		t.Errorf("merged vs adapted %.3g: expected the tied head to differ", e)
	}
	pm.Unmerge()
}

// An adapter saved by PEFT from Hugging Face's GPT2LMHeadModel has keys with a
// "transformer." level (base_model.model.transformer.h.0.attn.c_attn.lora_A.weight);
// it loads onto models/lm, whose names have none.
func TestLoRAOnLMHuggingFaceKeys(t *testing.T) {
	m := tinyLM(t, 1)
	pm, err := NewModel(m, &LoraConfig{R: 2, LoraAlpha: 4, TargetModules: Names("c_attn"), InitLoraWeights: InitRandom}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pm.Checkpoint(DefaultAdapter)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Tensors {
		c.Tensors[i].Name = strings.Replace(c.Tensors[i].Name, "base_model.model.", "base_model.model.transformer.", 1)
	}
	ids := tinyLMBatch()
	nn.Eval(pm)
	want := m.Forward(ids)
	fresh := tinyLM(t, 1)
	qm, err := FromCheckpoint(fresh, c, newRng(3), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nn.Eval(qm)
	if err := tensortest.AllClose(fresh.Forward(ids), want, 1e-6, 1e-6); err != nil {
		t.Fatalf("adapter with transformer. keys: %v", err)
	}
}
