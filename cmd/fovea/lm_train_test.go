package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/peft"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// tinyLMPretrain is a pre-training run of a few seconds: one block of width 16.
func tinyLMPretrain(out string) lmPretrainOptions {
	o := defaultLMPretrainOptions()
	o.Out, o.Layers, o.Width, o.Heads, o.Positions = out, 1, 16, 2, 448
	o.Docs, o.Seq, o.Batch, o.Steps, o.Warmup, o.EvalEvery, o.CheckpointEvery = 20, 32, 2, 6, 2, 3, 0
	return o
}

// TestTrainLM pre-trains through the command line, checks the folder (loadable by
// models/lm, with metrics and chart), then checks that a run interrupted at step 3
// and resumed ends with exactly the weights of the uninterrupted run.
func TestTrainLM(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "base")
	out, err := runFovea(t, "train", "lm", "--out", run, "--layers", "1", "--width", "16", "--heads", "2", "--positions", "448",
		"--docs", "20", "--seq", "32", "--batch", "2", "--steps", "6", "--eval-every", "3", "--quiet")
	if err != nil {
		t.Fatalf("train lm: %v\n%s", err, out)
	}
	if !strings.Contains(out, "done: 6 steps") {
		t.Errorf("output:\n%s", out)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer_config.json", "metrics.json", "loss.png", "checkpoint.safetensors"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	m, err := lm.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != 258 || m.Config.NEmbd != 16 {
		t.Errorf("config %+v", m.Config)
	}
	// A second run into the same folder is refused without --overwrite.
	if _, err := runFovea(t, "train", "lm", "--out", run, "--steps", "6", "--quiet"); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("second run: %v", err)
	}
	// Bad flags: errors naming the flag.
	for _, args := range [][]string{{"--seq", "1"}, {"--heads", "3"}, {"--steps", "0"}} {
		_, err := runFovea(t, append([]string{"train", "lm", "--out", filepath.Join(dir, "bad"), "--quiet"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v", args, err)
		}
	}

	// Interrupt at step 3, resume, compare with an uninterrupted run.
	full := tinyLMPretrain(filepath.Join(dir, "full"))
	if _, err := runLMPretrain(context.Background(), full, io.Discard); err != nil {
		t.Fatal(err)
	}
	part := tinyLMPretrain(filepath.Join(dir, "part"))
	part.stopAt = 3
	if _, err := runLMPretrain(context.Background(), part, io.Discard); !errors.Is(err, errLMInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	part.stopAt, part.Resume = 0, true
	res, err := runLMPretrain(context.Background(), part, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 6 {
		t.Errorf("resumed run ended at step %d", res.Steps)
	}
	a, err := lm.Load(full.Out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lm.Load(part.Out)
	if err != nil {
		t.Fatal(err)
	}
	if err := tensortest.AllClose(b.WTE.Weight, a.WTE.Weight, 0, 0); err != nil {
		t.Errorf("resumed run differs from the uninterrupted one: %v", err)
	}
	if err := tensortest.AllClose(b.H[0].Attn.CAttn.(*lm.Conv1D).Weight, a.H[0].Attn.CAttn.(*lm.Conv1D).Weight, 0, 0); err != nil {
		t.Errorf("resumed run differs from the uninterrupted one: %v", err)
	}
}

// TestFinetuneLM fine-tunes a tiny base with each method for one short epoch: eval.json
// and the saved model or adapter, which loads back with peft.FromPretrained.
func TestFinetuneLM(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	if _, err := runLMPretrain(context.Background(), tinyLMPretrain(base), io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"full", "lora", "adapter", "prefix"} {
		out := filepath.Join(dir, method)
		text, err := runFovea(t, "finetune", "lm", "--base", base, "--out", out, "--method", method, "--train-mrs", "4",
			"--train-refs", "1", "--test-mrs", "2", "--epochs", "1", "--batch", "2", "--max-new-tokens", "6", "--quiet")
		if err != nil {
			t.Fatalf("finetune lm --method %s: %v\n%s", method, err, text)
		}
		if !strings.Contains(text, "BLEU") || !strings.Contains(text, "trainable: ") {
			t.Errorf("%s output:\n%s", method, text)
		}
		ev, err := readLMEval(filepath.Join(out, "eval.json"))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Method != method || ev.TestMRs != 2 || ev.Trainable <= 0 || ev.Steps != 2 || len(ev.Samples) != 2 {
			t.Errorf("%s eval: %+v", method, ev)
		}
		if method == "full" {
			if ev.Trainable != ev.Total || ev.Stored != ev.Total {
				t.Errorf("full: trainable %d, stored %d, total %d", ev.Trainable, ev.Stored, ev.Total)
			}
			if _, err := lm.Load(filepath.Join(out, "model")); err != nil {
				t.Error(err)
			}
			continue
		}
		if ev.Trainable >= ev.Total/2 && method != "prefix" {
			t.Errorf("%s: trainable %d of %d", method, ev.Trainable, ev.Total)
		}
		m, err := lm.Load(base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peft.FromPretrained(m, filepath.Join(out, "adapter"), nil, peft.LoadOptions{}); err != nil {
			t.Errorf("%s adapter does not load back: %v", method, err)
		}
	}
	// Bad input: errors naming the flag or the folder.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "ia3"}, "--method"},
		{[]string{"--base", filepath.Join(dir, "nothing")}, "--base"},
		{[]string{"--method", "lora", "--r", "0"}, "--r"},
	} {
		args := append([]string{"finetune", "lm", "--base", base, "--out", filepath.Join(dir, "bad"), "--quiet"}, c.args...)
		if _, err := runFovea(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

// TestExperimentLMPEFT runs the study at toy size with two methods, then again to check
// that the base model and the finished methods are reused.
func TestExperimentLMPEFT(t *testing.T) {
	dir := t.TempDir()
	args := []string{"experiment", "lm-peft", "--out", dir, "--methods", "full,lora", "--layers", "1", "--width", "16", "--heads", "2",
		"--positions", "448", "--pretrain-steps", "4", "--pretrain-batch", "2", "--pretrain-seq", "32", "--docs", "20",
		"--epochs", "1", "--batch", "2", "--train-mrs", "4", "--train-refs", "1", "--test-mrs", "2", "--quiet"}
	out, err := runFovea(t, args...)
	if err != nil {
		t.Fatalf("experiment lm-peft: %v\n%s", err, out)
	}
	if !strings.Contains(out, "| full fine-tuning |") || !strings.Contains(out, "| LoRA r=4") {
		t.Errorf("table:\n%s", out)
	}
	for _, f := range []string{"study.md", "study.json", "study.png", "base/model.safetensors", "lora/eval.json", "full/model/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	first, _ := os.ReadFile(filepath.Join(dir, "study.md"))
	out2, err := runFovea(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "study.md"))
	if !strings.Contains(out2, "reusing") || string(second) != string(first) {
		t.Errorf("rerun (everything reused) gave another table:\n%s\nwant\n%s", second, first)
	}
	if _, err := runFovea(t, "experiment", "lm-peft", "--out", dir, "--methods", "bitfit", "--quiet"); err == nil || !strings.Contains(err.Error(), "--methods") {
		t.Errorf("unknown method: %v", err)
	}
}
