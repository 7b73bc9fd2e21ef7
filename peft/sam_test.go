package peft

import (
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// TestSAMLoRA adapts a real fovea model — SAM's tiny windowed fixture — with
// LoRA on its "qkv" projections, checks the trainable-parameter report, and
// trains a few AdamW steps on random data: the loss decreases, the base
// weights do not move.
func TestSAMLoRA(t *testing.T) {
	dir := filepath.Join("..", "testdata", "sam")
	m, err := sam.Load(filepath.Join(dir, "tiny_win.pth"), filepath.Join(dir, "tiny_win.json"))
	if err != nil {
		t.Fatal(err)
	}
	baseTotal, _ := nn.CountParameters(m)
	pm, err := NewModel(m, &LoraConfig{R: 4, LoraAlpha: 8, TargetModules: Names("qkv")}, newRng(1))
	if err != nil {
		t.Fatal(err)
	}
	// 3 encoder blocks, qkv 32 → 96: A (4, 32) + B (96, 4) = 512 each.
	const lora = 3 * (4*32 + 96*4)
	total, trainable := pm.CountParameters()
	if trainable != lora || total != baseTotal+lora {
		t.Errorf("CountParameters %d, %d; want %d, %d", total, trainable, baseTotal+lora, lora)
	}
	if got, want := pm.TrainableReport(), reportLine(baseTotal+lora, lora); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	t.Log(pm.TrainableReport())
	var keys []string
	for _, e := range pm.adapters[DefaultAdapter].entries {
		keys = append(keys, e.key)
	}
	if len(keys) != 3 || keys[0] != "image_encoder.blocks.0.attn.qkv" {
		t.Errorf("adapted %q", keys)
	}
	// The model's own state dict is unchanged by the adapter.
	if len(nn.StateDict(m)) != len(nn.StateDict(mustLoadSAM(t))) {
		t.Error("the adapter shows in SAM's state dict")
	}

	w0 := m.ImageEncoder.(*sam.ImageEncoderViT).Blocks[1].Attn.QKV.Weight.Clone()
	rng := newRng(2)
	x := tensor.RandNormal(rng, 0, 1, 1, 3, 64, 64)
	target := tensor.RandNormal(rng, 0, 1, 1, 32, 8, 8)
	opt := optim.NewAdamW(optim.Params(pm.Parameters()...), optim.AdamWOptions{LR: 1e-2})
	var losses []float32
	for range 6 {
		opt.ZeroGrad()
		loss := tensor.MSELoss(m.ImageEncoder.Forward(x), target, tensor.ReduceMean)
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
	if d := maxAbsDiff(m.ImageEncoder.(*sam.ImageEncoderViT).Blocks[1].Attn.QKV.Weight.Data(), w0.Data()); d != 0 {
		t.Errorf("training moved a frozen base weight by %g", d)
	}
	// Merging gives the adapted encoder's output; unloading leaves plain SAM.
	nn.Eval(pm)
	adapted := m.ImageEncoder.Forward(x)
	plain, err := pm.MergeAndUnload(false)
	if err != nil {
		t.Fatal(err)
	}
	// Merged and adapted round differently in float32 through the
	// encoder's attention blocks: measured 2.3e-5 under the golden measure.
	if e := relErr(plain.(*sam.Model).ImageEncoder.Forward(x), adapted); e > 1e-4 {
		t.Errorf("merged SAM encoder vs adapted: %.3g", e)
	}
}

func mustLoadSAM(t *testing.T) *sam.Model {
	dir := filepath.Join("..", "testdata", "sam")
	m, err := sam.Load(filepath.Join(dir, "tiny_win.pth"), filepath.Join(dir, "tiny_win.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
