package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no training images", func(c *Config) { c.TrainN = 0 }, "--train-images"},
		{"no validation images", func(c *Config) { c.ValN = 0 }, "--val-images"},
		{"negative time budget", func(c *Config) { c.TimeBudget = -1 }, "--time-budget"},
		{"negative threads", func(c *Config) { c.Threads = -2 }, "--threads"},
		{"too small for the stride", func(c *Config) { c.ImageSize, c.Batch = 32, 1 }, "BatchNorm"},
		{"image too large", func(c *Config) { c.ImageSize = 8192 }, "--image-size"},
		{"too much shapes data", func(c *Config) { c.TrainN = 1 << 30 }, "GiB"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.ImageSize, cfg.Batch = 32, 2 // two values per channel at the deepest BatchNorm: enough
	if err := cfg.Validate(); err != nil {
		t.Errorf("image size 32, batch 2: %v", err)
	}
}

func TestReadConfigRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ json, want string }{
		{`{"batch_size": 4}`, `unknown key "batch_size"`},
		{`{"model": {"kernel": 9}}`, `unknown key "kernel"`},
		{"{\n\"epochs\": }", "line 2"},
		{`{"epochs": 2} {"epochs": 3}`, "more than one JSON value"},
	} {
		p := filepath.Join(dir, "c.json")
		os.WriteFile(p, []byte(c.json), 0o644)
		_, err := ReadConfig(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "c.json") {
			t.Errorf("%s: %v, want an error naming c.json and %s", c.json, err, c.want)
		}
	}
}

func TestCheckResume(t *testing.T) {
	saved := DefaultConfig()
	now := saved
	now.Workers, now.Threads, now.TimeBudget, now.Out = 7, 1, 5, "elsewhere"
	if err := checkResume("run/checkpoint.safetensors", &saved, now); err != nil {
		t.Errorf("only workers, threads, time budget and out changed: %v", err)
	}
	now.Batch, now.Model.K = 4, 9
	err := checkResume("run/checkpoint.safetensors", &saved, now)
	if err == nil || !strings.Contains(err.Error(), "batch 16 (now 4)") || !strings.Contains(err.Error(), "model.k 7 (now 9)") {
		t.Errorf("batch and k changed: %v", err)
	}
}
