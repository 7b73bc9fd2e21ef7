package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// tinyConfig is a run small enough for a unit test: 32 images of 64×64, a
// ResNet-18 at 1/8 width, two epochs of 4 steps.
func tinyConfig(out string) Config {
	c := DefaultConfig()
	c.ImageSize, c.TrainN, c.ValN = 64, 32, 8
	c.Model.Width = 0.125
	c.Epochs, c.Batch, c.WarmupEpochs = 2, 8, 0.5
	c.Workers, c.Threads = 2, 2
	c.Out = out
	return c
}

func TestRunWritesOutputs(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), tinyConfig(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 || !(res.Val.AAcc > 0 && res.Val.AAcc <= 1) {
		t.Errorf("result %+v", res)
	}
	for _, f := range []string{"best.safetensors", "last.safetensors", "checkpoint.safetensors", "config.json", "model.json",
		"metrics.jsonl", "metrics.json", "curves.png", "per_class_iou.md", "overlays/shapes_val_000000.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	m, err := LoadModel(filepath.Join(dir, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Width != 0.125 {
		t.Errorf("loaded config %+v", m.Config)
	}
}

// An interrupted run resumed from its checkpoint ends with exactly the
// weights of a run that was never interrupted.
func TestInterruptAndResumeIsExact(t *testing.T) {
	straight := t.TempDir()
	if _, err := Run(context.Background(), tinyConfig(straight), Options{}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	_, err := Run(context.Background(), tinyConfig(split), Options{interruptAfter: 5}) // mid second epoch
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run returned %v", err)
	}
	if _, err := Run(context.Background(), tinyConfig(split), Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, err := LoadModel(filepath.Join(straight, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadModel(filepath.Join(split, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := nn.StateDict(a), nn.StateDict(b)
	for name, ta := range sa {
		if err := tensortest.AllClose(sb[name], ta, 0, 0); err != nil {
			t.Fatalf("%s differs after resume: %v", name, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.ImageSize = 100 },
		func(c *Config) { c.Epochs = 0 },
		func(c *Config) { c.Schedule = "linear" },
		func(c *Config) { c.Model.K = 4 },
		func(c *Config) { c.Model.Upsampler = "nearest" },
		func(c *Config) { c.Dataset = "/does/not/exist" },
	} {
		c := tinyConfig(t.TempDir())
		mod(&c)
		if _, err := Run(context.Background(), c, Options{}); err == nil {
			t.Errorf("config %+v: no error", c)
		}
	}
}

// A time budget smaller than one epoch plans a one-epoch run after the first
// epoch, and the run still writes its results.
func TestTimeBudgetPlansEpochs(t *testing.T) {
	c := tinyConfig(t.TempDir())
	c.Epochs, c.TimeBudget = 3, 1e-3
	res, err := Run(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 1 {
		t.Errorf("trained %d epochs, want 1", res.Epochs)
	}
}
