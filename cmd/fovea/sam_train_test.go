package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinySAMModel writes a 32-px ViT SAM architecture for fast command tests.
func tinySAMModel(t *testing.T, dir string) string {
	t.Helper()
	cfg := map[string]any{"image_size": 32, "patch_size": 8, "encoder_embed_dim": 16, "encoder_depth": 1, "encoder_num_heads": 2,
		"encoder_global_attn_indexes": []int{}, "window_size": 0, "prompt_embed_dim": 16, "decoder_depth": 1, "decoder_mlp_dim": 32,
		"decoder_num_heads": 2, "iou_head_hidden_dim": 16}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrainFinetuneSAM: fovea train sam at toy size, then fovea finetune sam with LoRA on
// the shifted domain from its result; the adapter is saved in PEFT's layout.
func TestTrainFinetuneSAM(t *testing.T) {
	dir := t.TempDir()
	model := tinySAMModel(t, dir)
	small := []string{"--shapes-size", "32", "--train-images", "4", "--val-images", "2", "--batch", "2", "--point-rounds", "1",
		"--masks-per-image", "2", "--warmup-steps", "1", "--overlays", "1", "--quiet"}
	run := filepath.Join(dir, "run")
	out, err := runFovea(t, append([]string{"train", "sam", "--model-config", model, "--epochs", "1", "--out", run}, small...)...)
	if err != nil {
		t.Fatalf("train sam: %v\n%s", err, out)
	}
	if !strings.Contains(out, "mIoU 1 point") || !strings.Contains(out, "box as mask") {
		t.Errorf("train sam output:\n%s", out)
	}
	for _, f := range []string{"last.safetensors", "metrics.json", "curves.png", "overlays/0000.png"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Error(err)
		}
	}
	ft := filepath.Join(dir, "ft")
	out, err = runFovea(t, append([]string{"finetune", "sam", "--checkpoint", filepath.Join(run, "last.safetensors"), "--method", "lora",
		"--r", "2", "--domain", "shifted", "--epochs", "1", "--out", ft}, small...)...)
	if err != nil {
		t.Fatalf("finetune sam: %v\n%s", err, out)
	}
	for _, f := range []string{"adapter/adapter_config.json", "adapter/adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(ft, f)); err != nil {
			t.Error(err)
		}
	}
	// Bad input: errors that name the problem.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"finetune", "sam", "--method", "lora", "--out", filepath.Join(dir, "x")}, "--checkpoint is required"},
		{[]string{"finetune", "sam", "--checkpoint", filepath.Join(run, "last.safetensors"), "--method", "magic", "--out", filepath.Join(dir, "y")}, `method "magic"`},
		{[]string{"train", "sam", "--arch", "huge", "--out", filepath.Join(dir, "z")}, `--arch "huge"`},
		{[]string{"train", "sam", "--model-config", filepath.Join(dir, "missing.json"), "--out", filepath.Join(dir, "w")}, "missing.json"},
		{[]string{"train", "sam", "--model-config", model, "--out", run}, "already holds a run"},
	} {
		out, err := runFovea(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fovea %s: error %v, want one containing %q\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
}
