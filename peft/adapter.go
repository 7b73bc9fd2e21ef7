package peft

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Non-linearities of BottleneckConfig.NonLinearity.
const (
	ReLU  = "relu"
	GELU  = "gelu"  // exact (erf) GELU
	Swish = "swish" // x·σ(x) (SiLU)
)

// Initialisations of BottleneckConfig.InitWeights.
const (
	// InitZeroUp: the down-projection as nn.Linear's default, the
	// up-projection (weight and bias) zero, so the adapter starts as the
	// identity.
	InitZeroUp = "zero"
	// InitNearIdentity: both projections from N(0, InitStd²) (default std
	// 1e-2), biases zero: Houlsby et al.'s near-identity initialisation.
	InitNearIdentity = "normal"
)

// BottleneckConfig configures bottleneck adapters (Houlsby et al. 2019,
// Pfeiffer et al. 2020): after each selected module's output y (…, d) the
// model continues with
//
//	y + up(act(down(y)))       down: d → d/ReductionFactor, up: back to d
//
// (with LayerNorm, down(LayerNorm(y))). Select the attention output
// projections and the feed-forward outputs for Houlsby's placement, the
// feed-forward outputs only for Pfeiffer's (see Houlsby and Pfeiffer). The
// selected modules must give (…, d) outputs: Linear, LinearModule or
// Embedding layers. PEFT has no bottleneck adapter; fovea saves them in the
// same folder layout with peft_type "BOTTLENECK_ADAPTER" (docs/peft.md).
type BottleneckConfig struct {
	// TaskType is PEFT's task_type ("CAUSAL_LM", "FEATURE_EXTRACTION", …),
	// written as null when empty; fovea does not use it.
	TaskType string
	// BaseModelNameOrPath records which model the adapter was trained on
	// (base_model_name_or_path); informational.
	BaseModelNameOrPath string
	// InferenceMode is PEFT's inference_mode, set on adapters loaded for
	// inference only (their parameters stay frozen) and in saved files.
	InferenceMode bool
	// TargetModules and ExcludeModules select the modules whose output
	// passes through an adapter (target_modules, exclude_modules).
	TargetModules, ExcludeModules Patterns
	// ReductionFactor sets the bottleneck width, d / ReductionFactor rounded
	// down, at least 1 (reduction_factor; default 16).
	ReductionFactor int
	// NonLinearity is ReLU (default), GELU or Swish (non_linearity).
	NonLinearity string
	// InitWeights is InitZeroUp (default) or InitNearIdentity
	// (init_weights); InitStd the latter's standard deviation (init_std,
	// default 1e-2).
	InitWeights string
	InitStd     float64
	// LayerNorm adds a LayerNorm (ones and zeros, ε 1e-5) on the adapter's
	// input (layer_norm).
	LayerNorm bool
}

// Houlsby returns Houlsby et al.'s placement: an adapter after the attention
// output projection attnOut and one after the feed-forward output ffOut
// (names or suffixes, such as "attn.proj" and "mlp.lin2" in SAM's image
// encoder), with the given reduction factor and Swish, as AdapterHub's
// HoulsbyConfig.
func Houlsby(attnOut, ffOut string, reductionFactor int) *BottleneckConfig {
	return &BottleneckConfig{TargetModules: Names(attnOut, ffOut), ReductionFactor: reductionFactor, NonLinearity: Swish}
}

// Pfeiffer returns Pfeiffer et al.'s placement: one adapter after the
// feed-forward output ffOut, with ReLU, as AdapterHub's PfeifferConfig.
func Pfeiffer(ffOut string, reductionFactor int) *BottleneckConfig {
	return &BottleneckConfig{TargetModules: Names(ffOut), ReductionFactor: reductionFactor, NonLinearity: ReLU}
}

// Type returns BottleneckAdapter.
func (c *BottleneckConfig) Type() PeftType { return BottleneckAdapter }

func (c *BottleneckConfig) inferenceMode() bool      { return c.InferenceMode }
func (c *BottleneckConfig) setInferenceMode(on bool) { c.InferenceMode = on }

func (c *BottleneckConfig) patterns() (Patterns, Patterns) { return c.TargetModules, c.ExcludeModules }

func (c *BottleneckConfig) reduction() int {
	if c.ReductionFactor == 0 {
		return 16
	}
	return c.ReductionFactor
}

func (c *BottleneckConfig) act() string {
	if c.NonLinearity == "" {
		return ReLU
	}
	return c.NonLinearity
}

func (c *BottleneckConfig) init() string {
	if c.InitWeights == "" {
		return InitZeroUp
	}
	return c.InitWeights
}

func (c *BottleneckConfig) std() float64 {
	if c.InitStd == 0 {
		return 1e-2
	}
	return c.InitStd
}

func (c *BottleneckConfig) validate() error {
	if c.reduction() < 1 {
		return fmt.Errorf("peft: BottleneckConfig: reduction_factor %d, want ≥ 1", c.ReductionFactor)
	}
	switch c.act() {
	case ReLU, GELU, Swish:
	default:
		return fmt.Errorf("peft: BottleneckConfig: non_linearity %q, want %q, %q or %q", c.NonLinearity, ReLU, GELU, Swish)
	}
	switch c.init() {
	case InitZeroUp, InitNearIdentity:
	default:
		return fmt.Errorf("peft: BottleneckConfig: init_weights %q, want %q or %q", c.InitWeights, InitZeroUp, InitNearIdentity)
	}
	if !(c.std() > 0) || math.IsInf(c.std(), 0) {
		return fmt.Errorf("peft: BottleneckConfig: init_std %v, want > 0", c.InitStd)
	}
	if c.TargetModules.IsZero() {
		return fmt.Errorf("peft: BottleneckConfig: target_modules is empty")
	}
	return nil
}

func (c *BottleneckConfig) marshal() ([]byte, error) {
	f := map[string]any{
		"peft_type":        string(BottleneckAdapter),
		"target_modules":   c.TargetModules,
		"exclude_modules":  c.ExcludeModules,
		"reduction_factor": c.reduction(),
		"non_linearity":    c.act(),
		"init_weights":     c.init(),
		"init_std":         c.std(),
		"layer_norm":       c.LayerNorm,
		"modules_to_save":  nil,
	}
	commonFields(f, c.TaskType, c.BaseModelNameOrPath, c.InferenceMode)
	return marshalFields(f)
}

func parseBottleneckConfig(raw rawConfig) (*BottleneckConfig, error) {
	c := &BottleneckConfig{}
	if err := raw.common(&c.TaskType, &c.BaseModelNameOrPath, &c.InferenceMode); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"target_modules", &c.TargetModules}, {"exclude_modules", &c.ExcludeModules},
		{"reduction_factor", &c.ReductionFactor}, {"non_linearity", &c.NonLinearity},
		{"init_weights", &c.InitWeights}, {"init_std", &c.InitStd}, {"layer_norm", &c.LayerNorm},
	} {
		if err := raw.get(f.name, f.dst); err != nil {
			return nil, err
		}
	}
	if raw.isSet("modules_to_save") {
		return nil, fmt.Errorf(`field "modules_to_save" is set: fovea does not implement it`)
	}
	return c, c.validate()
}

// bottleneck is one adapter after one module: y + up(act(down(norm(y)))).
type bottleneck struct {
	down, up *nn.Linear
	norm     *nn.LayerNorm // or nil
	act      string
}

func newBottleneck(s *site, c *BottleneckConfig, rng *rand.Rand) (*bottleneck, error) {
	if s.kind != kindLinear && s.kind != kindEmbedding {
		return nil, fmt.Errorf("peft: module %q is a %T: a bottleneck adapter needs a (…, d) output (Linear, LinearModule or Embedding)", s.name, s.module)
	}
	d := s.out
	h := max(1, d/c.reduction())
	b := &bottleneck{down: nn.NewLinear(rng, d, h, true), up: nn.NewLinear(rng, h, d, true), act: c.act()}
	if c.init() == InitZeroUp {
		nn.Zeros(b.up.Weight)
		nn.Zeros(b.up.Bias)
	} else {
		for _, l := range []*nn.Linear{b.down, b.up} {
			nn.Normal(rng, l.Weight, 0, c.std())
			nn.Zeros(l.Bias)
		}
	}
	if c.LayerNorm {
		b.norm = nn.NewLayerNorm(d)
	}
	return b, nil
}

func (b *bottleneck) forward(x, y *tensor.Tensor, training bool, rng *rand.Rand) *tensor.Tensor {
	z := y
	if b.norm != nil {
		z = b.norm.Forward(y)
	}
	h := nn.Affine(z, b.down.Weight, b.down.Bias)
	switch b.act {
	case GELU:
		h = functional.GELU(h, functional.GELUExact)
	case Swish:
		h = functional.SiLU(h)
	default:
		h = functional.ReLU(h)
	}
	return tensor.Add(y, nn.Affine(h, b.up.Weight, b.up.Bias))
}

func (b *bottleneck) params() []nn.Named {
	ps := []nn.Named{
		{Name: "adapter_down.weight", Tensor: b.down.Weight}, {Name: "adapter_down.bias", Tensor: b.down.Bias},
		{Name: "adapter_up.weight", Tensor: b.up.Weight}, {Name: "adapter_up.bias", Tensor: b.up.Bias},
	}
	if b.norm != nil {
		ps = append(ps, nn.Named{Name: "adapter_norm.weight", Tensor: b.norm.Weight}, nn.Named{Name: "adapter_norm.bias", Tensor: b.norm.Bias})
	}
	return ps
}

func (b *bottleneck) mergeDelta() ([]float64, error) {
	return nil, fmt.Errorf("a bottleneck adapter is not linear and cannot be merged into the weights")
}
