package samtrain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/safetensors"
)

// tinyRunConfig is a run small enough for tests: a 32-px ViT SAM on 8 shapes images.
func tinyRunConfig(out, method string) Config {
	c := DefaultConfig()
	m := TinyViT()
	m.ImageSize, m.PatchSize = 32, 8
	m.EncoderEmbedDim, m.EncoderDepth, m.EncoderNumHeads = 16, 1, 2
	m.PromptEmbedDim, m.DecoderDepth, m.DecoderMLPDim, m.DecoderNumHeads, m.IoUHeadHiddenDim = 16, 1, 32, 2, 16
	c.Model = m
	c.Method = method
	c.Shapes = data.ShapesConfig{Size: 32, Train: 8, Val: 2, MinRadius: 0.2, MaxRadius: 0.45}
	c.ValImages, c.Epochs, c.Batch, c.WarmupSteps, c.Overlays, c.TimeBudget = 2, 2, 2, 2, 1, 0
	c.Recipe.PointRounds, c.Recipe.MaskRounds, c.Recipe.MasksPerImage = 1, 1, 3
	c.Out = out
	return c
}

func readTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, n := range f.Names() {
		d, _, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = d
	}
	return out
}

// TestRunResumeExact: a run interrupted after 3 steps and resumed ends with the same
// weights, optimizer state and scores as an uninterrupted run, for full training and
// for LoRA; the outputs are all written.
func TestRunResumeExact(t *testing.T) {
	for _, method := range []string{MethodFull, MethodLoRA} {
		dir := t.TempDir()
		whole, err := Run(context.Background(), tinyRunConfig(filepath.Join(dir, "whole"), method), Options{})
		if err != nil {
			t.Fatal(err)
		}
		cut := tinyRunConfig(filepath.Join(dir, "cut"), method)
		if _, err := Run(context.Background(), cut, Options{interruptAfter: 3}); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("%s: interrupted run: %v", method, err)
		}
		if _, err := Run(context.Background(), cut, Options{}); err == nil {
			t.Fatalf("%s: a second run into a folder holding one was not refused", method)
		}
		resumed, err := Run(context.Background(), cut, Options{Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if whole.Val != resumed.Val || whole.Before != resumed.Before {
			t.Errorf("%s: scores differ: %+v vs %+v", method, whole.Val, resumed.Val)
		}
		a := readTensors(t, filepath.Join(dir, "whole", "checkpoint.safetensors"))
		b := readTensors(t, filepath.Join(dir, "cut", "checkpoint.safetensors"))
		if len(a) != len(b) {
			t.Fatalf("%s: checkpoints of %d and %d tensors", method, len(a), len(b))
		}
		for name, x := range a {
			y := b[name]
			for i := range x {
				if x[i] != y[i] {
					t.Fatalf("%s: %s[%d] = %v resumed, %v uninterrupted", method, name, i, y[i], x[i])
				}
			}
		}
		files := []string{"last.safetensors", "best.safetensors", "metrics.json", "metrics.jsonl", "curves.png", "model.json", "config.json", "overlays/0000.png"}
		if method == MethodLoRA {
			files = append(files, "adapter/adapter_config.json", "adapter/adapter_model.safetensors")
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, "cut", f)); err != nil {
				t.Errorf("%s: %v", method, err)
			}
		}
		if method == MethodLoRA && whole.TrainableParams >= whole.TotalParams/2 {
			t.Errorf("LoRA trains %d of %d parameters", whole.TrainableParams, whole.TotalParams)
		}
		// The saved model loads back (architecture from its metadata).
		m, err := LoadModel(filepath.Join(dir, "cut", "last.safetensors"), "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.ImageSize != 32 {
			t.Errorf("reloaded model of %d px", m.Config.ImageSize)
		}
	}
}

// TestRunFinetuneFromCheckpoint: every method starts from a saved model; decoder-only
// training leaves the image encoder as it was.
func TestRunFinetuneFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	base := tinyRunConfig(filepath.Join(dir, "base"), MethodFull)
	base.Epochs = 1
	if _, err := Run(context.Background(), base, Options{}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "base", "last.safetensors")
	before := readTensors(t, ckpt)
	for _, method := range []string{MethodDecoder, MethodAdapter} {
		c := tinyRunConfig(filepath.Join(dir, method), method)
		c.Init, c.Epochs = ckpt, 1
		c.Shapes.Domain = data.DomainShifted
		res, err := Run(context.Background(), c, Options{})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		after := readTensors(t, filepath.Join(dir, method, "last.safetensors"))
		w := "image_encoder.blocks.0.attn.qkv.weight"
		for i := range before[w] {
			if before[w][i] != after[w][i] {
				t.Fatalf("%s: the image encoder moved", method)
			}
		}
		d := "mask_decoder.iou_token.weight"
		same := true
		for i := range before[d] {
			same = same && before[d][i] == after[d][i]
		}
		if same {
			t.Errorf("%s: the decoder did not train", method)
		}
		t.Logf("%s: %d of %d parameters trainable", method, res.TrainableParams, res.TotalParams)
	}
	if _, err := Run(context.Background(), Config{}, Options{}); err == nil {
		t.Error("empty config accepted")
	}
}
