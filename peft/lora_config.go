package peft

import (
	"fmt"
	"math"
	"regexp"
)

// Bias values of LoraConfig.Bias (PEFT's bias).
const (
	BiasNone     = "none"      // no bias is trained (the default)
	BiasAll      = "all"       // every bias of the model is trained and saved with the adapter
	BiasLoraOnly = "lora_only" // the biases of the adapted layers are trained and saved
)

// LoraConfig configures a LoRA adapter; its fields are PEFT's LoraConfig
// fields, with the same JSON names in adapter_config.json. Each adapted
// layer computes y = base(x) + s·B·A·dropout(x) with A (r, in), B (out, r)
// and s = lora_alpha/r (lora_alpha/√r with UseRSLoRA).
type LoraConfig struct {
	// TaskType is PEFT's task_type ("CAUSAL_LM", "FEATURE_EXTRACTION", …),
	// written as null when empty; fovea does not use it.
	TaskType string
	// BaseModelNameOrPath records which model the adapter was trained on
	// (base_model_name_or_path); informational.
	BaseModelNameOrPath string
	// InferenceMode is PEFT's inference_mode, set on adapters loaded for
	// inference only (their parameters stay frozen) and in saved files.
	InferenceMode bool
	// R is the rank r (r); 0 means PEFT's default, 8.
	R int
	// TargetModules selects the layers to adapt (target_modules): *nn.Linear,
	// *nn.Conv2d, *nn.Embedding, *nn.MultiheadAttention, or a LinearModule.
	TargetModules Patterns
	// ExcludeModules removes modules from the selection (exclude_modules).
	ExcludeModules Patterns
	// LoraAlpha is α in the scaling (lora_alpha); 0 means PEFT's default, 8.
	LoraAlpha float64
	// LoraDropout is the dropout probability on the adapter's input in
	// training mode (lora_dropout; Linear and Conv2d only, as PEFT).
	LoraDropout float64
	// FanInFanOut says the adapted weights are stored (in, out), as GPT-2's
	// Conv1D (fan_in_fan_out). The layer's own layout decides, as in PEFT:
	// it is cleared for *nn.Linear and set for a LinearModule reporting
	// (in, out), with a note in Model.Warnings.
	FanInFanOut bool
	// Bias selects the biases trained and saved with the adapter: BiasNone
	// (""), BiasAll or BiasLoraOnly (bias).
	Bias string
	// UseRSLoRA scales by α/√r instead of α/r (use_rslora; Kalajdzievski 2023).
	UseRSLoRA bool
	// InitLoraWeights selects the initialisation (init_lora_weights).
	InitLoraWeights InitLoraWeights
	// RankPattern and AlphaPattern override R and LoraAlpha for the modules
	// whose name matches a key (rank_pattern, alpha_pattern): the key is a
	// regular expression matched against the end of the name after a dot,
	// as PEFT's re.match(rf"(.*\.)?{key}$", name); keys are tried in sorted
	// order, rank keys first.
	RankPattern  map[string]int
	AlphaPattern map[string]float64
}

// Type returns LoRA.
func (c *LoraConfig) Type() PeftType { return LoRA }

func (c *LoraConfig) inferenceMode() bool      { return c.InferenceMode }
func (c *LoraConfig) setInferenceMode(on bool) { c.InferenceMode = on }

func (c *LoraConfig) patterns() (Patterns, Patterns) { return c.TargetModules, c.ExcludeModules }

// validate fills PEFT's defaults for zero R and LoraAlpha and checks the
// fields.
func (c *LoraConfig) validate() error {
	if c.R == 0 {
		c.R = 8
	}
	if c.LoraAlpha == 0 {
		c.LoraAlpha = 8
	}
	if c.R < 0 {
		return fmt.Errorf("peft: LoraConfig: r = %d, want a positive rank", c.R)
	}
	if !(c.LoraDropout >= 0 && c.LoraDropout < 1) {
		return fmt.Errorf("peft: LoraConfig: lora_dropout = %v, want [0, 1)", c.LoraDropout)
	}
	if math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0) {
		return fmt.Errorf("peft: LoraConfig: lora_alpha = %v", c.LoraAlpha)
	}
	switch c.Bias {
	case "", BiasNone, BiasAll, BiasLoraOnly:
	default:
		return fmt.Errorf("peft: LoraConfig: bias %q, want %q, %q or %q", c.Bias, BiasNone, BiasAll, BiasLoraOnly)
	}
	if c.TargetModules.IsZero() {
		return fmt.Errorf("peft: LoraConfig: target_modules is empty")
	}
	for k, r := range c.RankPattern {
		if r <= 0 {
			return fmt.Errorf("peft: LoraConfig: rank_pattern[%q] = %d, want a positive rank", k, r)
		}
	}
	return nil
}

// bias returns Bias with "" read as "none".
func (c *LoraConfig) bias() string {
	if c.Bias == "" {
		return BiasNone
	}
	return c.Bias
}

// rankAlpha returns r and α for the module name, with RankPattern and
// AlphaPattern applied as PEFT does.
func (c *LoraConfig) rankAlpha(name string) (int, float64, error) {
	r, alpha := c.R, c.LoraAlpha
	if len(c.RankPattern) == 0 && len(c.AlphaPattern) == 0 {
		return r, alpha, nil
	}
	keys := append(sortedKeys(c.RankPattern), sortedKeys(c.AlphaPattern)...)
	for _, k := range keys {
		re, err := regexp.Compile(`^(?:.*\.)?(?:` + k + `)$`)
		if err != nil {
			return 0, 0, fmt.Errorf("peft: LoraConfig: rank_pattern/alpha_pattern key %q: %w", k, err)
		}
		if re.MatchString(name) {
			if v, ok := c.RankPattern[k]; ok {
				r = v
			}
			if v, ok := c.AlphaPattern[k]; ok {
				alpha = v
			}
			break
		}
	}
	return r, alpha, nil
}

// scaling returns α/r, or α/√r with rsLoRA.
func scaling(alpha float64, r int, rs bool) float64 {
	if rs {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

func (c *LoraConfig) marshal() ([]byte, error) {
	f := map[string]any{
		"peft_type":           string(LoRA),
		"r":                   c.R,
		"lora_alpha":          c.LoraAlpha,
		"lora_dropout":        c.LoraDropout,
		"target_modules":      c.TargetModules,
		"exclude_modules":     c.ExcludeModules,
		"fan_in_fan_out":      c.FanInFanOut,
		"bias":                c.bias(),
		"use_rslora":          c.UseRSLoRA,
		"init_lora_weights":   c.InitLoraWeights,
		"modules_to_save":     nil,
		"rank_pattern":        orEmpty(c.RankPattern),
		"alpha_pattern":       orEmpty(c.AlphaPattern),
		"layers_to_transform": nil,
		"layers_pattern":      nil,
		"layer_replication":   nil,
		"loftq_config":        map[string]any{},
		"megatron_config":     nil,
		"megatron_core":       "megatron.core",
		"use_dora":            false,
		"lora_bias":           false,
	}
	commonFields(f, c.TaskType, c.BaseModelNameOrPath, c.InferenceMode)
	return marshalFields(f)
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// parseLoraConfig reads a LoRA adapter_config.json, refusing the PEFT
// features fovea does not implement rather than ignoring them.
func parseLoraConfig(raw rawConfig) (*LoraConfig, error) {
	c := &LoraConfig{R: 8, LoraAlpha: 8}
	if err := raw.common(&c.TaskType, &c.BaseModelNameOrPath, &c.InferenceMode); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"r", &c.R}, {"lora_alpha", &c.LoraAlpha}, {"lora_dropout", &c.LoraDropout},
		{"target_modules", &c.TargetModules}, {"exclude_modules", &c.ExcludeModules},
		{"fan_in_fan_out", &c.FanInFanOut}, {"bias", &c.Bias}, {"use_rslora", &c.UseRSLoRA},
		{"init_lora_weights", &c.InitLoraWeights}, {"rank_pattern", &c.RankPattern}, {"alpha_pattern", &c.AlphaPattern},
	} {
		if err := raw.get(f.name, f.dst); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"use_dora", "modules_to_save", "layers_to_transform", "layer_replication", "lora_bias", "megatron_config", "trainable_token_indices"} {
		if raw.isSet(name) {
			return nil, fmt.Errorf("field %q is set: fovea's LoRA does not implement it", name)
		}
	}
	if raw.isSet("loftq_config") {
		return nil, fmt.Errorf(`field "loftq_config" is set: fovea's LoRA does not implement LoftQ`)
	}
	return c, nil
}
