package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/gcn"
)

// Config is a training run: data, model, schedule and output. Start from
// DefaultConfig; `fovea train --config FILE` reads it from JSON over the
// defaults (unknown keys are refused), flags override it. Validate states
// the limits.
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
	case c.ImageSize <= 0 || c.ImageSize%32 != 0 || c.ImageSize > MaxImageSize:
		return fmt.Errorf("train config: image_size (--image-size) %d, want a positive multiple of 32, at most %d", c.ImageSize, MaxImageSize)
	case c.Dataset == "shapes" && c.TrainN < 1:
		return fmt.Errorf("train config: train_images (--train-images) %d, want at least 1", c.TrainN)
	case c.Dataset == "shapes" && c.ValN < 1:
		return fmt.Errorf("train config: val_images (--val-images) %d, want at least 1", c.ValN)
	case c.Dataset == "shapes" && (int64(c.TrainN)+int64(c.ValN))*int64(c.ImageSize)*int64(c.ImageSize)*3 > MaxShapesBytes:
		return fmt.Errorf("train config: train_images (--train-images) %d + val_images (--val-images) %d at image_size %d would hold %.1f GiB of generated images in memory, more than %d GiB",
			c.TrainN, c.ValN, c.ImageSize, float64((int64(c.TrainN)+int64(c.ValN))*int64(c.ImageSize)*int64(c.ImageSize)*3)/(1<<30), MaxShapesBytes>>30)
	case c.Epochs < 1:
		return fmt.Errorf("train config: epochs (--epochs) %d, want at least 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("train config: batch (--batch) %d, want at least 1", c.Batch)
	case int64(c.Batch)*int64(c.ImageSize)*int64(c.ImageSize) > data.MaxPixels:
		return fmt.Errorf("train config: batch (--batch) %d of %d×%d images is %d pixels, more than data.MaxPixels %d (--max-pixels)",
			c.Batch, c.ImageSize, c.ImageSize, int64(c.Batch)*int64(c.ImageSize)*int64(c.ImageSize), data.MaxPixels)
	case c.Batch*(c.ImageSize/32)*(c.ImageSize/32) < 2:
		// The backbone downsamples 32×; BatchNorm in training needs more
		// than one value per channel (PyTorch refuses the same).
		return fmt.Errorf("train config: image_size (--image-size) %d with batch (--batch) %d: the network downsamples 32×, so its deepest BatchNorm would see %d value per channel, want at least 2 (a larger image size or batch)",
			c.ImageSize, c.Batch, c.Batch*(c.ImageSize/32)*(c.ImageSize/32))
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
	case c.Workers < 0 || c.Workers > 256:
		return fmt.Errorf("train config: workers (--workers) %d, want 0 … 256", c.Workers)
	case c.Threads < 0 || c.Threads > 1024:
		return fmt.Errorf("train config: threads (--threads) %d, want 0 (all cores) … 1024", c.Threads)
	case !(c.TimeBudget >= 0) || math.IsInf(c.TimeBudget, 1):
		return fmt.Errorf("train config: time_budget_seconds (--time-budget) %v, want ≥ 0 seconds (0 = no limit)", c.TimeBudget)
	case c.Out == "":
		return fmt.Errorf("train config: out (--out) is empty")
	}
	return c.Model.Validate()
}

// MaxImageSize is the largest training image side (image_size).
const MaxImageSize = 4096

// MaxShapesBytes bounds the memory the built-in shapes data may take (3 bytes
// a pixel, generated before training starts).
const MaxShapesBytes = 4 << 30

// ReadConfig reads a Config from JSON over the defaults. A key that is not a
// field of Config (or of its "model") is an error naming it: a misspelt key
// would otherwise silently leave its setting at the default.
func ReadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("train config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return c, fmt.Errorf("%s: unknown key %s, want one of %s (model: %s)", path, k, jsonKeys(Config{}), jsonKeys(gcn.Config{}))
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return c, fmt.Errorf("%s: empty file, want a JSON object of training settings", path)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return c, fmt.Errorf("%s: key %q: want a JSON %s, got a JSON %s", path, te.Field, jsonKind(te.Type.Kind()), te.Value)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte{'\n'})
			return c, fmt.Errorf("%s: line %d: not valid JSON: %w", path, line, err)
		}
		return c, fmt.Errorf("%s: %w (want a JSON object of training settings)", path, err)
	}
	if dec.More() {
		return c, fmt.Errorf("%s: more than one JSON value (want one object of training settings)", path)
	}
	return c, nil
}

// jsonKind names what JSON value a Go kind is read from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "string"
	case reflect.Struct:
		return "object"
	}
	return k.String()
}

// jsonKeys lists the JSON keys of a struct's fields.
func jsonKeys(v any) string {
	t := reflect.TypeOf(v)
	var keys []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}
