package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
		data, shape, err := f.Float32(name)
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
	m, err := gcn.New(rand.New(rand.NewPCG(0, 0)), cfg) // weights are overwritten below
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	prefix := ""
	if _, ok := f.Info("model.backbone.conv1.weight"); ok {
		prefix = "model."
	}
	sd := map[string]*tensor.Tensor{}
	for _, e := range nn.StateDictEntries(m) {
		data, shape, err := f.Float32(prefix + e.Name)
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

func f32(name string, t *tensor.Tensor) safetensors.Tensor {
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: t.Shape(), Float32: t.Data()}
}
