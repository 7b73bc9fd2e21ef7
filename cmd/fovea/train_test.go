package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The main job end to end at toy size: train, predict on a folder, score the
// checkpoint on the dataset.
func TestTrainPredictEval(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	out, err := runFovea(t, "train", "--train-images", "16", "--val-images", "4", "--image-size", "64", "--width", "0.125",
		"--epochs", "1", "--time-budget", "0", "--batch", "8", "--out", run, "--quiet") // the default warm-up is clamped to fit one epoch
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if !strings.Contains(out, "val PA") || !strings.Contains(out, "done: 1 epochs") {
		t.Errorf("train output:\n%s", out)
	}
	ckpt := filepath.Join(run, "best.safetensors")
	preds := filepath.Join(dir, "preds")
	if out, err := runFovea(t, "predict", "--checkpoint", ckpt, "--input", filepath.Join(run, "overlays"), "--out", preds); err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(preds, "shapes_val_000000.png")); err != nil {
		t.Errorf("predict wrote no label map: %v", err)
	}
	if _, err := os.Stat(filepath.Join(preds, "shapes_val_000000_overlay.png")); err != nil {
		t.Errorf("predict wrote no overlay: %v", err)
	}
	out, err = runFovea(t, "eval", "seg", "--checkpoint", ckpt, "--dataset", "shapes", "--split", "val")
	if err != nil || !strings.Contains(out, "mIoU") {
		t.Errorf("eval seg --checkpoint: %v\n%s", err, out)
	}
	// Bad input: an error naming the file, no panic.
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	if _, err := runFovea(t, "predict", "--checkpoint", bad, "--input", preds, "--out", preds); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Errorf("predict with a corrupt checkpoint: %v", err)
	}
}

// Flag errors name the flag the user typed; NaN is refused.
func TestTrainFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--epochs", "2", "--warmup-epochs", "3"}, "--warmup-epochs"},
		{[]string{"--weight-decay", "NaN"}, "--weight-decay"},
		{[]string{"--lr", "Inf"}, "--lr"},
		{[]string{"--random-erasing", "NaN"}, "--random-erasing"},
	} {
		args := append([]string{"train", "--out", filepath.Join(dir, "run"), "--quiet"}, c.args...)
		_, err := runFovea(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}
