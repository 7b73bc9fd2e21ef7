package peft

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// DefaultAdapter is the name NewModel and FromPretrained give the first
// adapter, as PEFT's "default".
const DefaultAdapter = "default"

// Model is a fovea model with adapters (PEFT's PeftModel). It does not
// replace the model's layers: it installs hooks (the nn.Delta fields of the
// adapted Linear, Conv2d and Embedding layers, nn.MultiheadAttention's
// InProjDelta), so the model keeps its type and its own Forward methods,
// and its state dict keeps its names (the adapters' tensors are not in it).
// Call the base model as before; the hooks add the active adapters.
//
// A Model is not safe for concurrent use while it is being changed
// (adapters added, switched, merged); the adapted model serves concurrent
// inference as the base model does.
type Model struct {
	base     any
	adapters map[string]*adapter
	order    []string // adapter names, in the order they were added
	sites    []*site  // hooked layers, in the order they were first adapted
	byModule map[uintptr]*site
	active   []string
	disabled bool
	training bool
	rng      *rand.Rand
	unloaded bool
	merged   []*entry // merged entries, in merge order
	biases   map[*tensor.Tensor]bool
	warnings []string
}

// adapter is one named adapter.
type adapter struct {
	name     string
	config   Config
	entries  []*entry
	warnings []string // notes from building it, kept by commit
	// prefix is a prefix-tuning adapter's prompt encoder (no entries then).
	prefix *prefixEncoder
}

// NewModel adapts base (a pointer to a model) with one adapter named
// "default" built from cfg (*LoraConfig or *BottleneckConfig), as PEFT's
// get_peft_model: it freezes every parameter of base (nn.Freeze), then
// makes the adapter's parameters — and the biases its Bias setting selects
// — trainable. rng initialises the adapters and drives LoRA dropout in
// training mode (nil means a PCG seeded with 0, 0). The Model starts in
// training mode, as a new PyTorch module.
func NewModel(base any, cfg Config, rng *rand.Rand) (*Model, error) {
	m, err := newModel(base, rng)
	if err != nil {
		return nil, err
	}
	ad, err := m.build(DefaultAdapter, cfg, false)
	if err != nil {
		return nil, err
	}
	nn.Freeze(base)
	m.commit(ad)
	m.active = []string{DefaultAdapter}
	m.applyTrainable()
	return m, nil
}

func newModel(base any, rng *rand.Rand) (*Model, error) {
	if v := reflect.ValueOf(base); !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fmt.Errorf("peft: the base model must be a non-nil pointer, got %T", base)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(0, 0))
	}
	return &Model{base: base, adapters: map[string]*adapter{}, byModule: map[uintptr]*site{}, training: true, rng: rng, biases: map[*tensor.Tensor]bool{}}, nil
}

// Base returns the adapted model (with the hooks installed).
func (m *Model) Base() any { return m.base }

// errUnloaded is returned by methods called after MergeAndUnload or Unload.
var errUnloaded = errors.New("peft: the model was unloaded (MergeAndUnload or Unload); its adapters are gone")

// AddAdapter adds an adapter named name built from cfg (PEFT's
// add_adapter). It is not active until SetAdapter selects it, and its
// parameters stay frozen until then. An error leaves the model unchanged.
func (m *Model) AddAdapter(name string, cfg Config) error {
	ad, err := m.build(name, cfg, false)
	if err != nil {
		return err
	}
	m.commit(ad)
	m.applyTrainable()
	return nil
}

// cloneConfig copies cfg, so that the Model's changes (fan_in_fan_out,
// inference_mode) do not reach the caller's value.
func cloneConfig(cfg Config) Config {
	switch c := cfg.(type) {
	case *LoraConfig:
		cc := *c
		cc.TargetModules.Names = slices.Clone(c.TargetModules.Names)
		cc.ExcludeModules.Names = slices.Clone(c.ExcludeModules.Names)
		cc.RankPattern, cc.AlphaPattern = maps.Clone(c.RankPattern), maps.Clone(c.AlphaPattern)
		return &cc
	case *BottleneckConfig:
		cc := *c
		cc.TargetModules.Names = slices.Clone(c.TargetModules.Names)
		cc.ExcludeModules.Names = slices.Clone(c.ExcludeModules.Names)
		return &cc
	case *PrefixTuningConfig:
		cc := *c
		return &cc
	}
	return cfg
}

// build makes adapter name's layers without touching the model. loading
// says the adapter's tensors will be copied from a checkpoint: a
// prefix-tuning adapter then gets no projection MLP, since PEFT saves the
// encoder's output.
func (m *Model) build(name string, cfg Config, loading bool) (*adapter, error) {
	if m.unloaded {
		return nil, errUnloaded
	}
	if name == "" {
		return nil, fmt.Errorf("peft: an adapter needs a name")
	}
	if _, ok := m.adapters[name]; ok {
		return nil, fmt.Errorf("peft: the model already has an adapter named %q", name)
	}
	if cfg == nil || reflect.ValueOf(cfg).IsNil() {
		return nil, fmt.Errorf("peft: adapter %q: nil config", name)
	}
	cfg = cloneConfig(cfg)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pc, ok := cfg.(*PrefixTuningConfig); ok {
		return m.buildPrefix(name, pc, pc.InferenceMode || loading), nil
	}
	tp, ex := cfg.patterns()
	targets, err := findTargets(m.base, tp, ex)
	if err != nil {
		return nil, err
	}
	ad := &adapter{name: name, config: cfg}
	for _, t := range targets {
		s := t.site
		if old := m.byModule[moduleKey(s.module)]; old != nil {
			s = old
		} else if cur := s.installed(); cur != nil && !reflect.ValueOf(cur).IsNil() {
			return nil, fmt.Errorf("peft: module %q already has a hook (%T): adapted by another peft.Model?", s.name, cur)
		}
		var l layer
		switch c := cfg.(type) {
		case *LoraConfig:
			r, alpha, err := c.rankAlpha(t.site.name)
			if err != nil {
				return nil, err
			}
			if w := fanInFanOut(c, s); w != "" {
				ad.warnings = append(ad.warnings, w)
			}
			dropout := c.LoraDropout
			if t.noDropout {
				dropout = 0
			}
			l, err = newLoraLayer(s, r, alpha, c.UseRSLoRA, dropout, c.InitLoraWeights, m.rng)
			if err != nil {
				return nil, err
			}
		case *BottleneckConfig:
			if l, err = newBottleneck(s, c, m.rng); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("peft: adapter %q: unsupported config %T", name, cfg)
		}
		ad.entries = append(ad.entries, &entry{adapter: name, key: t.key, site: s, layer: l})
	}
	return ad, nil
}

// fanInFanOut follows the layer's weight layout as PEFT does: a Linear
// clears fan_in_fan_out, a LinearModule stored (in, out) sets it. It
// returns the warning PEFT would print, or "".
func fanInFanOut(c *LoraConfig, s *site) string {
	_, isLinear := s.module.(*nn.Linear)
	switch {
	case isLinear && c.FanInFanOut:
		c.FanInFanOut = false
		return fmt.Sprintf("fan_in_fan_out is set but module %q is an nn.Linear (weight (out, in)): setting fan_in_fan_out to false", s.name)
	case s.inOut && !c.FanInFanOut:
		c.FanInFanOut = true
		return fmt.Sprintf("fan_in_fan_out is not set but module %q stores its weight (in, out): setting fan_in_fan_out to true", s.name)
	}
	return ""
}

// commit installs a built adapter's layers.
func (m *Model) commit(ad *adapter) {
	for _, e := range ad.entries {
		s := e.site
		k := moduleKey(s.module)
		if m.byModule[k] == nil {
			m.byModule[k] = s
			m.sites = append(m.sites, s)
			s.hook = &hook{model: m, site: s}
			s.install()
		}
		s.hook.entries = append(s.hook.entries, e)
	}
	m.adapters[ad.name] = ad
	m.order = append(m.order, ad.name)
	m.warnings = append(m.warnings, ad.warnings...)
}

// isActive reports whether adapter name is active.
func (m *Model) isActive(name string) bool {
	for _, a := range m.active {
		if a == name {
			return true
		}
	}
	return false
}

// adapterParams lists an adapter's tensors with PEFT's names (without the
// adapter name), in the model's module order.
func (ad *adapter) params() []nn.Named {
	if ad.prefix != nil {
		return ad.prefix.params()
	}
	var out []nn.Named
	for _, e := range ad.entries {
		for _, p := range e.layer.params() {
			out = append(out, nn.Named{Name: keyPrefix + e.key + "." + p.Name, Tensor: p.Tensor})
		}
	}
	return out
}

// saved lists the tensors an adapter saves and loads: its parameters, or
// for prefix tuning the prompt encoder's output, "prompt_embeddings" (n,
// num_layers·2·token_dim), as PEFT's get_prompt_embedding_to_save (a new
// tensor when the encoder has its MLP, the embedding itself otherwise).
func (ad *adapter) saved() []nn.Named {
	if ad.prefix != nil {
		return []nn.Named{{Name: prefixKey, Tensor: ad.prefix.output()}}
	}
	return ad.params()
}

// biasNames returns the base model's biases that adapter ad trains and
// saves (LoRA's bias "all" or "lora_only"), by state-dict name.
func (m *Model) biasNames(ad *adapter) []nn.Named {
	c, ok := ad.config.(*LoraConfig)
	if !ok || c.bias() == BiasNone {
		return nil
	}
	var out []nn.Named
	if c.bias() == BiasAll {
		// PEFT: every parameter whose name contains "bias".
		for _, p := range nn.NamedParameters(m.base) {
			if strings.Contains(p.Name, "bias") {
				out = append(out, p)
			}
		}
		return out
	}
	mine := map[*tensor.Tensor]bool{}
	for _, e := range ad.entries {
		if b := e.site.bias; b != nil {
			mine[b] = true
		}
	}
	for _, p := range nn.NamedParameters(m.base) {
		if mine[p.Tensor] {
			out = append(out, p)
		}
	}
	return out
}

// applyTrainable makes the parameters of the active adapters trainable
// (unless loaded for inference) and the others frozen, and the biases the
// active LoRA adapters select trainable; biases it made trainable before
// and no active adapter selects any more are frozen again. Other base
// parameters are not touched.
func (m *Model) applyTrainable() {
	want := map[*tensor.Tensor]bool{}
	for _, name := range m.order {
		ad := m.adapters[name]
		on := m.isActive(name) && !ad.config.inferenceMode()
		for _, p := range ad.params() {
			p.Tensor.SetRequiresGrad(on)
			if !on {
				p.Tensor.ZeroGrad()
			}
		}
		if on {
			for _, b := range m.biasNames(ad) {
				want[b.Tensor] = true
			}
		}
	}
	for b := range m.biases {
		if !want[b] {
			b.SetRequiresGrad(false)
			b.ZeroGrad()
		}
	}
	for b := range want {
		b.SetRequiresGrad(true)
	}
	m.biases = want
}

// SetAdapter makes the named adapters the active ones (PEFT's
// set_adapter; several are summed, in the order they were added): their
// parameters become trainable, the others' frozen. Merged adapters are
// unmerged first, as PEFT does.
func (m *Model) SetAdapter(names ...string) error {
	if m.unloaded {
		return errUnloaded
	}
	if len(names) == 0 {
		return fmt.Errorf("peft: SetAdapter needs at least one adapter name")
	}
	for _, n := range names {
		if _, ok := m.adapters[n]; !ok {
			return fmt.Errorf("peft: no adapter named %q (the model has %s)", n, quoteList(m.order))
		}
	}
	if len(m.merged) > 0 {
		m.warnings = append(m.warnings, "SetAdapter on a merged model: unmerging first")
		m.Unmerge()
	}
	m.active = slices.Clone(names)
	m.applyTrainable()
	return nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// ActiveAdapters returns the names of the active adapters.
func (m *Model) ActiveAdapters() []string { return slices.Clone(m.active) }

// Adapters returns the names of every adapter, in the order they were added.
func (m *Model) Adapters() []string { return slices.Clone(m.order) }

// Config returns a copy of adapter name's configuration, or nil.
func (m *Model) Config(name string) Config {
	if ad, ok := m.adapters[name]; ok {
		return cloneConfig(ad.config)
	}
	return nil
}

// DisableAdapters makes the model compute as the base model (PEFT's
// disable_adapter context); merged adapters are unmerged first, as PEFT
// does on the next forward pass. EnableAdapters undoes it.
func (m *Model) DisableAdapters() {
	if len(m.merged) > 0 {
		m.Unmerge()
	}
	m.disabled = true
}

// EnableAdapters turns the active adapters back on after DisableAdapters.
func (m *Model) EnableAdapters() { m.disabled = false }

// AdaptersDisabled reports whether DisableAdapters is in effect.
func (m *Model) AdaptersDisabled() bool { return m.disabled }

// DeleteAdapter removes an adapter (PEFT's delete_adapter); a module left
// without adapters loses its hook. If it was active, the first remaining
// adapter becomes active, as in PEFT. A merged adapter must be unmerged
// first.
func (m *Model) DeleteAdapter(name string) error {
	if m.unloaded {
		return errUnloaded
	}
	ad, ok := m.adapters[name]
	if !ok {
		return fmt.Errorf("peft: no adapter named %q (the model has %s)", name, quoteList(m.order))
	}
	for _, e := range ad.entries {
		if e.merged {
			return fmt.Errorf("peft: adapter %q is merged into the weights; Unmerge before deleting it", name)
		}
	}
	for _, e := range ad.entries {
		h := e.site.hook
		h.entries = slices.DeleteFunc(h.entries, func(x *entry) bool { return x == e })
		if len(h.entries) == 0 {
			e.site.uninstall()
			delete(m.byModule, moduleKey(e.site.module))
			m.sites = slices.DeleteFunc(m.sites, func(s *site) bool { return s == e.site })
		}
	}
	for _, p := range ad.params() {
		p.Tensor.SetRequiresGrad(false)
		p.Tensor.ZeroGrad()
	}
	delete(m.adapters, name)
	m.order = slices.DeleteFunc(m.order, func(n string) bool { return n == name })
	m.active = slices.DeleteFunc(m.active, func(n string) bool { return n == name })
	if len(m.active) == 0 && len(m.order) > 0 {
		m.active = []string{m.order[0]}
	}
	m.applyTrainable()
	return nil
}

// SetTraining puts the base model (nn.SetTraining) and the adapters into
// training or evaluation mode; LoRA dropout applies in training mode only.
// nn.SetTraining(m, on) calls it too.
func (m *Model) SetTraining(on bool) {
	nn.SetTraining(m.base, on)
	m.training = on
}

// Training reports whether the adapters are in training mode.
func (m *Model) Training() bool { return m.training }

// Warnings returns the notes PEFT would print as warnings (fan_in_fan_out
// corrected, unmerging before SetAdapter).
func (m *Model) Warnings() []string { return slices.Clone(m.warnings) }

// allParams returns every parameter of the base model and of every adapter,
// each tensor once.
func (m *Model) allParams() []*tensor.Tensor {
	ps := nn.Parameters(m.base)
	seen := map[*tensor.Tensor]bool{}
	for _, p := range ps {
		seen[p] = true
	}
	for _, name := range m.order {
		for _, p := range m.adapters[name].params() {
			if !seen[p.Tensor] {
				seen[p.Tensor] = true
				ps = append(ps, p.Tensor)
			}
		}
	}
	return ps
}

// Parameters returns the parameters to train — those requiring a gradient:
// the active adapters' and the biases their Bias setting selects (and any
// base parameter the caller unfroze) — for an optimizer.
func (m *Model) Parameters() []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, p := range m.allParams() {
		if p.RequiresGrad() {
			out = append(out, p)
		}
	}
	return out
}

// CountParameters returns the number of parameter elements of the base
// model and every adapter, and of those that require a gradient (PEFT's
// get_nb_trainable_parameters, in nn.CountParameters' order).
func (m *Model) CountParameters() (total, trainable int) {
	for _, p := range m.allParams() {
		total += p.Size()
		if p.RequiresGrad() {
			trainable += p.Size()
		}
	}
	return total, trainable
}

// TrainableReport returns PEFT's print_trainable_parameters line, e.g.
// "trainable params: 294,912 || all params: 31,260,672 || trainable%: 0.9434".
func (m *Model) TrainableReport() string {
	return reportLine(m.CountParameters())
}

func reportLine(total, trainable int) string {
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(trainable) / float64(total)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(trainable), commas(total), pct)
}

// commas formats n with thousands separators, as Python's "{:,d}".
func commas(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// selected returns the adapters named, or the active ones.
func (m *Model) selected(names []string) ([]*adapter, error) {
	if m.unloaded {
		return nil, errUnloaded
	}
	if len(names) == 0 {
		names = m.active
	}
	var out []*adapter
	for _, n := range names {
		ad, ok := m.adapters[n]
		if !ok {
			return nil, fmt.Errorf("peft: no adapter named %q (the model has %s)", n, quoteList(m.order))
		}
		out = append(out, ad)
	}
	return out, nil
}

// pendingMerge is one weight's merged values, computed before anything is
// written.
type pendingMerge struct {
	e      *entry
	merged []float32
}

// prepareMerge computes the merged weights of the unmerged entries of ads.
// With safe set it refuses, naming the adapter and the module, when a
// merged weight is not finite.
func (m *Model) prepareMerge(op string, ads []*adapter, safe bool) ([]pendingMerge, error) {
	var out []pendingMerge
	// Entries on the same weight accumulate, so compute from a running copy.
	cur := map[*tensor.Tensor][]float32{}
	for _, ad := range ads {
		for _, e := range ad.entries {
			if e.merged {
				continue
			}
			d, err := e.layer.mergeDelta()
			if err != nil {
				return nil, fmt.Errorf("peft: %s: adapter %q, module %q: %w", op, ad.name, e.site.name, err)
			}
			w := e.site.weight
			base, ok := cur[w]
			if !ok {
				base = w.Data()
			}
			merged := make([]float32, len(base))
			for i, v := range base {
				merged[i] = float32(float64(v) + d[i])
			}
			if safe {
				for _, v := range merged {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						return nil, fmt.Errorf("peft: %s: merging adapter %q into module %q gives NaN or infinite weights; the adapter seems to be broken (nothing was merged)", op, ad.name, e.site.name)
					}
				}
			}
			cur[w] = merged
			out = append(out, pendingMerge{e, merged})
		}
	}
	return out, nil
}

func (m *Model) doMerge(op string, names []string, safe bool) error {
	ads, err := m.selected(names)
	if err != nil {
		return err
	}
	for _, ad := range ads {
		if ad.prefix != nil {
			return fmt.Errorf("peft: %s: adapter %q is prefix tuning, which has no weights to merge into", op, ad.name)
		}
	}
	pend, err := m.prepareMerge(op, ads, safe)
	if err != nil {
		return err
	}
	for _, p := range pend {
		copy(p.e.site.weight.Data(), p.merged)
		p.e.merged = true
		m.merged = append(m.merged, p.e)
	}
	return nil
}

// Merge adds the named adapters (the active ones when none is named) into
// the base weights, W ← W + s·B·A (laid out as the weight: transposed for
// fan_in_fan_out, (B·A)ᵀ for Embedding), and stops applying them in the
// forward pass (PEFT's merge_adapter). Already merged adapters are skipped.
// Bottleneck adapters cannot be merged (an error, and nothing is merged).
func (m *Model) Merge(names ...string) error { return m.doMerge("Merge", names, false) }

// SafeMerge is Merge that first computes every merged weight on a copy and
// refuses — merging nothing — if any is NaN or infinite (PEFT's
// safe_merge=True).
func (m *Model) SafeMerge(names ...string) error { return m.doMerge("SafeMerge", names, true) }

// Unmerge subtracts every merged adapter from the weights again, the last
// merged first (PEFT's unmerge_adapter); the weights come back to within
// float32 rounding.
func (m *Model) Unmerge() {
	for i := len(m.merged) - 1; i >= 0; i-- {
		e := m.merged[i]
		d, _ := e.layer.mergeDelta()
		w := e.site.weight.Data()
		for j, v := range w {
			w[j] = float32(float64(v) - d[j])
		}
		e.merged = false
	}
	m.merged = nil
}

// MergedAdapters returns the names of the adapters merged into the weights.
func (m *Model) MergedAdapters() []string {
	var out []string
	for _, e := range m.merged {
		if !slices.Contains(out, e.adapter) {
			out = append(out, e.adapter)
		}
	}
	return out
}

// MergeAndUnload merges the named adapters (the active ones when none is
// named; SafeMerge's check when safe), removes every hook and returns the
// base model, now a plain model whose weights include the adapters (PEFT's
// merge_and_unload). The Model cannot be used afterwards.
func (m *Model) MergeAndUnload(safe bool, names ...string) (any, error) {
	if err := m.doMerge("MergeAndUnload", names, safe); err != nil {
		return nil, err
	}
	m.removeHooks()
	return m.base, nil
}

// Unload removes every hook without merging and returns the base model with
// its original weights (merged adapters are unmerged first; PEFT's unload).
// The Model cannot be used afterwards.
func (m *Model) Unload() any {
	if !m.unloaded {
		m.Unmerge()
		m.removeHooks()
	}
	return m.base
}

func (m *Model) removeHooks() {
	for _, s := range m.sites {
		s.uninstall()
	}
	m.sites, m.byModule, m.merged, m.unloaded = nil, map[uintptr]*site{}, nil, true
}
