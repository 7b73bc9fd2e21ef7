package train

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// A checkpoint is one safetensors file: the model's state dict under
// "model.", the optimizer's buffers under "optim.", and in the metadata the
// model config ("fovea.model"), the optimizer's scalar state ("fovea.optim")
// and the run's position ("fovea.state").

func saveCheckpoint(path string, m *gcn.Model, opt optim.Optimizer, st *state) error {
	os := opt.StateDict()
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, f32("model."+e.Name, e.Tensor))
	}
	for name, t := range os.Tensors {
		ts = append(ts, f32("optim."+name, t))
	}
	meta := map[string]string{}
	for k, v := range map[string]any{"fovea.model": m.Config, "fovea.optim": os, "fovea.state": st} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		meta[k] = string(b)
	}
	return safetensors.Save(path, ts, meta)
}

func loadCheckpoint(path string, m *gcn.Model, opt optim.Optimizer, st *state) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta := f.Metadata()
	var cfg gcn.Config
	if err := json.Unmarshal([]byte(meta["fovea.model"]), &cfg); err != nil {
		return fmt.Errorf("%s: metadata fovea.model: %w", path, err)
	}
	if cfg != m.Config {
		return fmt.Errorf("%s: checkpoint model %+v differs from the configured model %+v", path, cfg, m.Config)
	}
	sd := map[string]*tensor.Tensor{}
	os := &optim.State{}
	if err := json.Unmarshal([]byte(meta["fovea.optim"]), os); err != nil {
		return fmt.Errorf("%s: metadata fovea.optim: %w", path, err)
	}
	os.Tensors = map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		data, shape, err := readFloats(f, path, name)
		if err != nil {
			return err
		}
		t := tensor.New(data, shape...)
		switch {
		case strings.HasPrefix(name, "model."):
			sd[strings.TrimPrefix(name, "model.")] = t
		case strings.HasPrefix(name, "optim."):
			os.Tensors[strings.TrimPrefix(name, "optim.")] = t
		}
	}
	if _, err := nn.LoadStateDict(m, sd, true); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := opt.LoadStateDict(os); err != nil {
		return fmt.Errorf("%s: optimizer state: %w", path, err)
	}
	if err := json.Unmarshal([]byte(meta["fovea.state"]), st); err != nil {
		return fmt.Errorf("%s: metadata fovea.state: %w", path, err)
	}
	return nil
}

// saveModel writes the model's weights with its config in the metadata, the
// file `fovea predict --checkpoint` reads.
func saveModel(path string, m *gcn.Model, extra map[string]string) error {
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, f32(e.Name, e.Tensor))
	}
	b, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{"fovea.model": string(b)}
	for k, v := range extra {
		meta[k] = v
	}
	return safetensors.Save(path, ts, meta)
}

// LoadModel rebuilds a model from a file written by training (best, last or
// checkpoint): the config from its metadata, the weights by name. The model
// is returned in eval mode and frozen (no parameter requires a gradient), so
// inference records no graph and is safe from many goroutines.
func LoadModel(path string) (*gcn.Model, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cfg gcn.Config
	if err := json.Unmarshal([]byte(f.Metadata()["fovea.model"]), &cfg); err != nil {
		return nil, fmt.Errorf("%s: no usable fovea.model metadata (is it a fovea checkpoint?): %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: metadata fovea.model: %w", path, err)
	}
	prefix := ""
	if _, ok := f.Info("model.backbone.conv1.weight"); ok {
		prefix = "model."
	}
	// The sizes in the metadata must be those of the tensors in the file
	// (whose sizes the file's length bounds) before the model is allocated.
	if err := checkModelShapes(f, path, prefix, cfg); err != nil {
		return nil, err
	}
	m, err := gcn.New(rand.New(rand.NewPCG(0, 0)), cfg) // weights are overwritten below
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sd := map[string]*tensor.Tensor{}
	for _, e := range nn.StateDictEntries(m) {
		data, shape, err := readFloats(f, path, prefix+e.Name)
		if err != nil {
			return nil, err
		}
		sd[e.Name] = tensor.New(data, shape...)
	}
	if _, err := nn.LoadStateDict(m, sd, true); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	nn.SetTraining(m, false)
	nn.Freeze(m)
	return m, nil
}

// checkModelShapes checks the model config in a checkpoint's metadata
// against two tensors of the file: the stem convolution (the width) and the
// first GCN branch (the class count and the kernel size).
func checkModelShapes(f *safetensors.File, path, prefix string, cfg gcn.Config) error {
	stem := prefix + "backbone.conv1.weight"
	want := []int{max(1, int(math.Round(64*cfg.Width))), 3, 7, 7}
	if got, ok := f.Shape(stem); !ok || !slices.Equal(got, want) {
		return fmt.Errorf("%s: tensor %q has shape %v, but the metadata fovea.model (width %v) needs %v: the file is not a consistent fovea checkpoint", path, stem, got, cfg.Width, want)
	}
	branch := prefix + "gcn.0.left1.weight"
	got, ok := f.Shape(branch)
	if !ok || len(got) != 4 || got[0] != cfg.NumClasses || got[2] != cfg.K || got[3] != 1 {
		return fmt.Errorf("%s: tensor %q has shape %v, but the metadata fovea.model (num_classes %d, k %d) needs (%d, C, %d, 1): the file is not a consistent fovea checkpoint", path, branch, got, cfg.NumClasses, cfg.K, cfg.NumClasses, cfg.K)
	}
	return nil
}

// readFloats reads a weight as float32, refusing a tensor stored with an
// integer or boolean dtype where floats belong (BatchNorm's
// num_batches_tracked may be an integer, as PyTorch saves it) and any NaN
// or infinite value, naming the tensor.
func readFloats(f *safetensors.File, path, name string) ([]float32, []int, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, nil, fmt.Errorf("%s: no tensor %q (is it a checkpoint of this model?)", path, name)
	}
	switch info.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
	default:
		if !strings.HasSuffix(name, "num_batches_tracked") {
			return nil, nil, fmt.Errorf("%s: tensor %q has dtype %s, want a floating-point weight (F32, F16, BF16 or F64)", path, name, info.DType)
		}
	}
	data, shape, err := f.Float32(name)
	if err != nil {
		return nil, nil, err
	}
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, fmt.Errorf("%s: tensor %q element %d is %v: the weights are not finite (a diverged run or a corrupt file)", path, name, i, v)
		}
	}
	return data, shape, nil
}

func f32(name string, t *tensor.Tensor) safetensors.Tensor {
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: t.Shape(), Float32: t.Data()}
}

// resumeMayChange are the settings a resumed run may change: they do not
// alter what is trained (the output folder, the cores used, the wall-clock
// budget).
var resumeMayChange = map[string]bool{"out": true, "workers": true, "threads": true, "time_budget_seconds": true}

// checkResume refuses to resume the run saved in ckpt with settings cfg that
// differ from the run's own. saved is nil for a checkpoint written before
// fovea kept the settings in it; then the run's config.json beside it is
// used, if there is one. The error lists every difference.
func checkResume(ckpt string, saved *Config, cfg Config) error {
	if saved == nil {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(ckpt), "config.json"))
		if err != nil {
			return nil
		}
		saved = new(Config)
		if err := json.Unmarshal(b, saved); err != nil {
			return nil
		}
	}
	flat := func(c Config) map[string]string {
		b, _ := json.Marshal(c)
		var m map[string]json.RawMessage
		json.Unmarshal(b, &m)
		out := map[string]string{}
		for k, v := range m {
			if k == "model" {
				var mm map[string]json.RawMessage
				json.Unmarshal(v, &mm)
				for k2, v2 := range mm {
					out["model."+k2] = string(v2)
				}
				continue
			}
			out[k] = string(v)
		}
		return out
	}
	old, now := flat(*saved), flat(cfg)
	var diffs []string
	for k, v := range now {
		if !resumeMayChange[k] && old[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s %s (now %s)", k, old[k], v))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	return fmt.Errorf("resume: %s was trained with %s: resume with the run's own settings (fovea train --config %s --resume), or start a new run (another --out, or --overwrite)",
		ckpt, strings.Join(diffs, ", "), filepath.Join(filepath.Dir(ckpt), "config.json"))
}
