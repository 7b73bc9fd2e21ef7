package lm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// Load reads a model folder in Hugging Face's layout: config.json (ReadConfig) and
// model.safetensors (LoadWeights). The model is returned frozen (nn.Freeze: inference
// records no graph and one model serves many goroutines) and in evaluation mode; for
// training call nn.Unfreeze and nn.SetTraining, and set Model.Rng for dropout.
func Load(dir string) (*Model, error) {
	return LoadFiles(filepath.Join(dir, "config.json"), filepath.Join(dir, "model.safetensors"))
}

// LoadFiles is Load with the two files named separately.
func LoadFiles(configPath, weightsPath string) (*Model, error) {
	cfg, err := ReadConfig(configPath)
	if err != nil {
		return nil, err
	}
	m, err := New(rand.New(rand.NewPCG(0, 0)), cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	m.Rng = nil
	if err := m.LoadWeights(weightsPath); err != nil {
		return nil, err
	}
	nn.Freeze(m)
	nn.Eval(m)
	return m, nil
}

// ignored matches the tensors of GPT-2 files that are not parameters: the causal-mask
// buffers h.{i}.attn.bias and h.{i}.attn.masked_bias of older transformers versions.
var ignored = regexp.MustCompile(`^h\.[0-9]+\.attn\.(bias|masked_bias)$`)

// LoadWeights reads every parameter of m from a safetensors file by state-dict name,
// strictly: each must be present with its shape (F32, F16, BF16 or F64). The names may
// carry GPT2LMHeadModel's "transformer." prefix or not; the causal-mask buffers
// (h.{i}.attn.bias, h.{i}.attn.masked_bias) are skipped; lm_head.weight, if present,
// must equal wte.weight (the tied head). Errors name the file and the keys at fault.
func (m *Model) LoadWeights(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := ""
	for _, n := range f.Names() {
		if strings.HasPrefix(n, "transformer.") {
			prefix = "transformer."
			break
		}
	}
	src := filtered{f: f, prefix: prefix}
	if _, err := nn.LoadFrom(src, m, prefix, true, path); err != nil {
		return err
	}
	if info, ok := f.Info("lm_head.weight"); ok {
		if !tensor.SameShape(info.Shape, m.WTE.Weight.Shape()) {
			return fmt.Errorf("%s: lm_head.weight of shape %s, wte.weight %s: only the tied LM head is supported",
				path, tensor.FormatShape(info.Shape), tensor.FormatShape(m.WTE.Weight.Shape()))
		}
		head, _, err := f.Float32("lm_head.weight")
		if err != nil {
			return err
		}
		for i, v := range m.WTE.Weight.Data() {
			if head[i] != v {
				return fmt.Errorf("%s: lm_head.weight differs from wte.weight: only the tied LM head (GPT-2's) is supported", path)
			}
		}
	}
	return nil
}

// filtered is a safetensors file seen without the names LoadWeights skips.
type filtered struct {
	f      *safetensors.File
	prefix string
}

func (s filtered) Names() []string {
	var out []string
	for _, n := range s.f.Names() {
		if n == "lm_head.weight" || (strings.HasPrefix(n, s.prefix) && ignored.MatchString(strings.TrimPrefix(n, s.prefix))) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func (s filtered) Shape(name string) ([]int, bool) {
	info, ok := s.f.Info(name)
	return info.Shape, ok
}

func (s filtered) Float32Into(name string, dst []float32) error { return s.f.Float32Into(name, dst) }

// Save writes m as a Hugging Face folder: dir/config.json (WriteConfig) and
// dir/model.safetensors with GPT2LMHeadModel's names ("transformer." + the state-dict
// name; the tied lm_head is not stored, as save_pretrained does). dir is created if
// needed; each file is written atomically.
func Save(dir string, m *Model) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteConfig(filepath.Join(dir, "config.json"), m.Config); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, safetensors.Tensor{Name: "transformer." + e.Name, DType: safetensors.F32,
			Shape: e.Tensor.Shape(), Float32: e.Tensor.Data()})
	}
	return safetensors.Save(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"})
}
