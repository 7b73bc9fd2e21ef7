package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/fovea-ml/fovea/models/gcn"
)

// Config is a training run: data, model, schedule and output. The zero value
// of a field means its default (DefaultConfig); `fovea train --config FILE`
// reads it from JSON, flags override it.
type Config struct {
	Dataset    string `json:"dataset"`     // "shapes" (built in) or a VOC-layout folder
	NumClasses int    `json:"num_classes"` // classes of a VOC folder (shapes: 7)
	ImageSize  int    `json:"image_size"`  // training crop side; a multiple of 32
	TrainN     int    `json:"train_images"`
	ValN       int    `json:"val_images"`
	DataSeed   uint64 `json:"data_seed"`

	Model gcn.Config `json:"model"`

	Epochs       int     `json:"epochs"`
	Batch        int     `json:"batch"`
	LR           float64 `json:"lr"`
	WeightDecay  float64 `json:"weight_decay"`
	WarmupEpochs float64 `json:"warmup_epochs"`
	Schedule     string  `json:"schedule"` // "poly" or "cosine"
	Erasing      float64 `json:"random_erasing"`
	Seed         uint64  `json:"seed"`
	Workers      int     `json:"workers"`
	Threads      int     `json:"threads"`
	// TimeBudget, if positive, fits the run into this many seconds of
	// training: after the first epoch the number of epochs is cut (from at
	// most Epochs) to what fits at that epoch's speed, so the schedule still
	// completes; training also stops outright when the budget is spent.
	TimeBudget float64 `json:"time_budget_seconds"`
	Out        string  `json:"out"`
}

// DefaultConfig is what `fovea train` runs with no arguments.
func DefaultConfig() Config {
	return Config{
		Dataset: "shapes", NumClasses: 7, ImageSize: 128, TrainN: 2000, ValN: 400,
		Model:  gcn.DefaultConfig(7),
		Epochs: 40, TimeBudget: 300, Batch: 16, LR: 2e-3, WeightDecay: 1e-4, WarmupEpochs: 1, Schedule: "poly",
		Erasing: 0.5, Workers: 2, Out: "runs/gcn",
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Dataset == "":
		return fmt.Errorf("train config: dataset is empty, want \"shapes\" or a VOC folder")
	case c.ImageSize <= 0 || c.ImageSize%32 != 0:
		return fmt.Errorf("train config: image_size (--image-size) %d, want a positive multiple of 32", c.ImageSize)
	case c.Epochs < 1:
		return fmt.Errorf("train config: epochs (--epochs) %d, want at least 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("train config: batch (--batch) %d, want at least 1", c.Batch)
	case !(c.LR > 0) || math.IsInf(c.LR, 1):
		return fmt.Errorf("train config: lr (--lr) %v, want > 0", c.LR)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 1):
		return fmt.Errorf("train config: weight_decay (--weight-decay) %v, want ≥ 0", c.WeightDecay)
	case !(c.WarmupEpochs >= 0 && c.WarmupEpochs < float64(c.Epochs)):
		return fmt.Errorf("train config: warmup_epochs (--warmup-epochs) %v, want in [0, %d) (less than the epochs)", c.WarmupEpochs, c.Epochs)
	case c.Schedule != "poly" && c.Schedule != "cosine":
		return fmt.Errorf("train config: schedule (--schedule) %q, want poly or cosine", c.Schedule)
	case !(c.Erasing >= 0 && c.Erasing <= 1):
		return fmt.Errorf("train config: random_erasing (--random-erasing) %v, want a probability in [0, 1]", c.Erasing)
	case c.Workers < 0:
		return fmt.Errorf("train config: workers (--workers) %d, want ≥ 0", c.Workers)
	case c.Out == "":
		return fmt.Errorf("train config: out (--out) is empty")
	}
	return c.Model.Validate()
}

// ReadConfig reads a Config from JSON over the defaults.
func ReadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
