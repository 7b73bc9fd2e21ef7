package peft

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/torchfile"
)

// File names of a saved adapter folder, as PEFT's.
const (
	ConfigName     = "adapter_config.json"
	WeightsName    = "adapter_model.safetensors"
	weightsNameBin = "adapter_model.bin"
	// keyPrefix starts every key of a PEFT LoRA state dict: the PeftModel's
	// base_model (the tuner) holding the user's model as .model.
	keyPrefix = "base_model.model."
)

// Checkpoint is an adapter as saved: its configuration and its tensors under
// PEFT's names, "base_model.model.<module>.lora_A.weight" and so on, without
// the adapter's name (PEFT's get_peft_model_state_dict). ExtractLoRA makes
// one; Model.Checkpoint takes one from a model; ReadCheckpoint reads a
// folder.
type Checkpoint struct {
	Config  Config
	Tensors []nn.Named
	// Source is the folder it was read from ("" if made in memory), for
	// messages.
	Source string
}

// Checkpoint returns adapter name's configuration and tensors (views
// sharing the adapter's storage) as they would be saved, with the biases
// the LoRA Bias setting selects under PEFT's names (<module>.base_layer.bias
// for the adapted layers).
func (m *Model) Checkpoint(name string) (*Checkpoint, error) {
	if m.unloaded {
		return nil, errUnloaded
	}
	ad, ok := m.adapters[name]
	if !ok {
		return nil, fmt.Errorf("peft: no adapter named %q (the model has %s)", name, quoteList(m.order))
	}
	var ts []nn.Named
	for _, p := range ad.saved() {
		ts = append(ts, nn.Named{Name: p.Name, Tensor: p.Tensor.Detach()})
	}
	for _, b := range m.biasNames(ad) {
		ts = append(ts, nn.Named{Name: keyPrefix + m.wrappedName(b.Name), Tensor: b.Tensor.Detach()})
	}
	return &Checkpoint{Config: cloneConfig(ad.config), Tensors: ts}, nil
}

// StateDict returns adapter name's tensors by PEFT key (see Checkpoint).
func (m *Model) StateDict(name string) (map[string]*tensor.Tensor, error) {
	c, err := m.Checkpoint(name)
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor.Tensor{}
	for _, t := range c.Tensors {
		out[t.Name] = t.Tensor
	}
	return out, nil
}

// wrappedName returns a base parameter's name in PEFT's wrapped model,
// where each adapted module holds the original as base_layer:
// "blocks.0.attn.qkv.bias" → "blocks.0.attn.qkv.base_layer.bias".
func (m *Model) wrappedName(name string) string {
	wrapped := map[string]bool{}
	for _, s := range m.sites {
		wrapped[s.name] = true
	}
	parts := strings.Split(name, ".")
	out := make([]string, 0, len(parts)+2)
	for i, p := range parts {
		out = append(out, p)
		if i < len(parts)-1 && wrapped[strings.Join(parts[:i+1], ".")] {
			out = append(out, "base_layer")
		}
	}
	return strings.Join(out, ".")
}

// unwrapName undoes wrappedName and removes "base_model.model.".
func unwrapName(key string) string {
	key = strings.TrimPrefix(key, keyPrefix)
	parts := strings.Split(key, ".")
	parts = slices.DeleteFunc(parts, func(p string) bool { return p == "base_layer" })
	return strings.Join(parts, ".")
}

// Save writes the checkpoint to folder dir (created if needed) as PEFT's
// save_pretrained does: adapter_config.json (keys sorted, inference_mode
// true) and adapter_model.safetensors (float32, metadata {"format": "pt"}).
// Both files are written atomically.
func (c *Checkpoint) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	cfg := cloneConfig(c.Config)
	cfg.setInferenceMode(true)
	js, err := cfg.marshal()
	if err != nil {
		return fmt.Errorf("peft: %s: %w", filepath.Join(dir, ConfigName), err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ConfigName), append(js, '\n')); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	ts := make([]safetensors.Tensor, len(c.Tensors))
	for i, t := range c.Tensors {
		ts[i] = safetensors.Tensor{Name: t.Name, DType: safetensors.F32, Shape: t.Tensor.Shape(), Float32: t.Tensor.Data()}
	}
	if err := safetensors.Save(filepath.Join(dir, WeightsName), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	return nil
}

// ReadCheckpoint reads an adapter folder: adapter_config.json and
// adapter_model.safetensors (or PEFT's older adapter_model.bin, a
// torch.save file). Errors name the file and the field.
func ReadCheckpoint(dir string) (*Checkpoint, error) {
	cpath := filepath.Join(dir, ConfigName)
	b, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("peft: reading adapter folder: %w", err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("peft: %s: %w", cpath, err)
	}
	c := &Checkpoint{Config: cfg, Source: dir}
	wpath := filepath.Join(dir, WeightsName)
	if f, err := safetensors.Open(wpath); err == nil {
		defer f.Close()
		for _, name := range f.Names() {
			data, shape, err := f.Float32(name)
			if err != nil {
				return nil, fmt.Errorf("peft: %s: %w", wpath, err)
			}
			c.Tensors = append(c.Tensors, nn.Named{Name: name, Tensor: tensor.New(data, shape...)})
		}
		return c, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	bpath := filepath.Join(dir, weightsNameBin)
	f, err := torchfile.Open(bpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("peft: %s: no %s or %s", dir, WeightsName, weightsNameBin)
		}
		return nil, err
	}
	defer f.Close()
	for _, name := range f.Names() {
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("peft: %s: %w", bpath, err)
		}
		c.Tensors = append(c.Tensors, nn.Named{Name: name, Tensor: tensor.New(data, shape...)})
	}
	return c, nil
}

// SaveAdapter writes adapter name to folder dir (Checkpoint, then Save).
func (m *Model) SaveAdapter(dir, name string) error {
	c, err := m.Checkpoint(name)
	if err != nil {
		return err
	}
	return c.Save(dir)
}

// SavePretrained writes every adapter as PEFT's save_pretrained does:
// "default" in dir itself, each other adapter in dir/<name>.
func (m *Model) SavePretrained(dir string) error {
	if m.unloaded {
		return errUnloaded
	}
	for _, name := range m.order {
		d := dir
		if name != DefaultAdapter {
			d = filepath.Join(dir, name)
		}
		if err := m.SaveAdapter(d, name); err != nil {
			return err
		}
	}
	return nil
}

// LoadOptions tune FromPretrained and LoadAdapter.
type LoadOptions struct {
	// AdapterName names the loaded adapter ("default" when empty).
	AdapterName string
	// Trainable keeps the adapter's parameters trainable (PEFT's
	// is_trainable); by default it is loaded for inference, frozen.
	Trainable bool
}

func (o LoadOptions) name() string {
	if o.AdapterName == "" {
		return DefaultAdapter
	}
	return o.AdapterName
}

// FromPretrained adapts base with the adapter saved in folder dir and
// makes it active (PEFT's PeftModel.from_pretrained), freezing base as
// NewModel does. Unless opt.Trainable, the adapter's parameters stay frozen
// and the model is put in evaluation mode (SetTraining(false)), as PEFT
// does. rng drives LoRA dropout in training mode (nil: a PCG
// seeded with 0, 0). Every tensor of the file must match a tensor of the
// adapter by name and shape; errors name the file and the key.
func FromPretrained(base any, dir string, rng *rand.Rand, opt LoadOptions) (*Model, error) {
	c, err := ReadCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	return FromCheckpoint(base, c, rng, opt)
}

// FromCheckpoint is FromPretrained from a checkpoint in memory, such as
// ExtractLoRA's result.
func FromCheckpoint(base any, c *Checkpoint, rng *rand.Rand, opt LoadOptions) (*Model, error) {
	m, err := newModel(base, rng)
	if err != nil {
		return nil, err
	}
	name := opt.name()
	ad, err := m.fill(name, c, opt)
	if err != nil {
		return nil, err
	}
	nn.Freeze(base)
	m.commitFilled(ad)
	m.active = []string{name}
	m.applyTrainable()
	if !opt.Trainable {
		m.SetTraining(false)
	}
	return m, nil
}

// LoadAdapter adds the adapter saved in folder dir (PEFT's load_adapter);
// like AddAdapter it does not make it active. Unless opt.Trainable, the
// model is put in evaluation mode, as PEFT does.
func (m *Model) LoadAdapter(dir string, opt LoadOptions) error {
	c, err := ReadCheckpoint(dir)
	if err != nil {
		return err
	}
	return m.AddCheckpoint(c, opt)
}

// AddCheckpoint adds an adapter from a checkpoint in memory (ExtractLoRA's
// result, or ReadCheckpoint's) under opt.AdapterName, not active (unless
// opt.Trainable, frozen, and the model in evaluation mode). An error leaves
// the model unchanged.
func (m *Model) AddCheckpoint(c *Checkpoint, opt LoadOptions) error {
	ad, err := m.fill(opt.name(), c, opt)
	if err != nil {
		return err
	}
	m.commitFilled(ad)
	m.applyTrainable()
	if !opt.Trainable {
		m.SetTraining(false)
	}
	return nil
}

// filled is an adapter built from a checkpoint with the base biases to copy.
type filled struct {
	ad     *adapter
	biases map[*tensor.Tensor]*tensor.Tensor
}

// fill builds adapter name from checkpoint c and copies its tensors in,
// checking every key and shape, without touching the model.
func (m *Model) fill(name string, c *Checkpoint, opt LoadOptions) (*filled, error) {
	src := c.Source
	if src == "" {
		src = "checkpoint"
	} else {
		src = filepath.Join(src, WeightsName)
	}
	if c.Config == nil {
		return nil, fmt.Errorf("peft: %s: no configuration", src)
	}
	cfg := cloneConfig(c.Config)
	cfg.setInferenceMode(!opt.Trainable)
	ad, err := m.build(name, cfg, true)
	if err != nil {
		if c.Source != "" {
			return nil, fmt.Errorf("%w (adapter %s)", err, c.Source)
		}
		return nil, err
	}
	want := map[string]*tensor.Tensor{}
	canonical := map[string]string{}
	for _, p := range ad.saved() {
		want[p.Name] = p.Tensor
		canonical[p.Name] = p.Name
		// PEFT writes nn.MultiheadAttention's out_proj under
		// <name>.base_layer.out_proj; accept <name>.out_proj too.
		if alias := strings.ReplaceAll(p.Name, ".base_layer.", "."); alias != p.Name {
			want[alias] = p.Tensor
			canonical[alias] = p.Name
		}
	}
	biasOK := false
	if lc, ok := ad.config.(*LoraConfig); ok && lc.bias() != BiasNone {
		biasOK = true
	}
	baseParams := map[string]*tensor.Tensor{}
	for _, p := range nn.NamedParameters(m.base) {
		baseParams[p.Name] = p.Tensor
	}
	f := &filled{ad: ad, biases: map[*tensor.Tensor]*tensor.Tensor{}}
	got := map[string]bool{}
	for _, t := range c.Tensors {
		key := t.Name
		if !strings.HasPrefix(key, keyPrefix) && want[keyPrefix+key] != nil {
			key = keyPrefix + key
		}
		// Hugging Face's GPT2LMHeadModel nests the transformer one level deeper than
		// models/lm: PEFT saves base_model.model.transformer.h.0.attn.c_attn.lora_A.weight.
		if rest, ok := strings.CutPrefix(key, keyPrefix+"transformer."); ok && want[key] == nil && want[keyPrefix+rest] != nil {
			key = keyPrefix + rest
		}
		if dst, ok := want[key]; ok {
			if !tensor.SameShape(dst.Shape(), t.Tensor.Shape()) {
				return nil, fmt.Errorf("peft: %s: %q has shape %s, the model's adapter wants %s (check r, rank_pattern and the base model)",
					src, t.Name, tensor.FormatShape(t.Tensor.Shape()), tensor.FormatShape(dst.Shape()))
			}
			if got[canonical[key]] {
				return nil, fmt.Errorf("peft: %s: %q is stored twice (under PEFT's and fovea's name)", src, t.Name)
			}
			got[canonical[key]] = true
			copy(dst.Data(), t.Tensor.Data())
			continue
		}
		if bn := unwrapName(key); biasOK && strings.Contains(bn, "bias") && baseParams[bn] != nil {
			b := baseParams[bn]
			if !tensor.SameShape(b.Shape(), t.Tensor.Shape()) {
				return nil, fmt.Errorf("peft: %s: bias %q has shape %s, the model's %q is %s",
					src, t.Name, tensor.FormatShape(t.Tensor.Shape()), bn, tensor.FormatShape(b.Shape()))
			}
			f.biases[b] = t.Tensor
			continue
		}
		return nil, fmt.Errorf("peft: %s: %q matches no tensor of the adapter built from %s on %T (keys look like %q)",
			src, t.Name, ConfigName, m.base, firstKey(ad))
	}
	for _, p := range ad.saved() {
		if !got[p.Name] {
			return nil, fmt.Errorf("peft: %s: no tensor %q (%s targets module %q)", src, p.Name, ConfigName, moduleOfKey(p.Name))
		}
	}
	return f, nil
}

func firstKey(ad *adapter) string {
	if ps := ad.saved(); len(ps) > 0 {
		return ps[0].Name
	}
	return ""
}

// moduleOfKey returns the module part of a PEFT key.
func moduleOfKey(key string) string {
	key = strings.TrimPrefix(key, keyPrefix)
	for _, marker := range []string{".lora_", ".adapter_"} {
		if i := strings.Index(key, marker); i >= 0 {
			return key[:i]
		}
	}
	return key
}

// commitFilled installs a filled adapter and copies its biases in.
func (m *Model) commitFilled(f *filled) {
	for dst, src := range f.biases {
		copy(dst.Data(), src.Data())
	}
	m.commit(f.ad)
}
