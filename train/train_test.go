package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// The overlays written at the end of a run show what `fovea predict` gives for the
// final checkpoint: evaluation mode, not BatchNorm on one image's statistics. A 32×32
// run (a 1×1 map at the last stage) used to panic here.
func TestOverlaysMatchPredict(t *testing.T) {
	for _, size := range []int{64, 32} {
		dir := t.TempDir()
		cfg := tinyConfig(dir)
		cfg.ImageSize, cfg.Epochs = size, 1
		if _, err := Run(context.Background(), cfg, Options{}); err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(filepath.Join(dir, "last.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		_, val, _, err := openData(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := t.TempDir()
		if err := writeOverlays(want, m, val, 2); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"shapes_val_000000.png", "shapes_val_000001.png"} {
			a, err := os.ReadFile(filepath.Join(dir, "overlays", name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(want, name))
			if err != nil {
				t.Fatal(err)
			}
			if string(a) != string(b) {
				t.Errorf("size %d: overlay %s differs from a prediction with the saved model", size, name)
			}
		}
	}
}

// A folder that holds a run is not silently replaced.
func TestRunRefusesExistingRun(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(dir)
	cfg.Epochs = 1
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "already holds a run") || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("second run into %s: %v", dir, err)
	}
	if _, err := Run(context.Background(), cfg, Options{Overwrite: true}); err != nil {
		t.Fatalf("with Overwrite: %v", err)
	}
}
