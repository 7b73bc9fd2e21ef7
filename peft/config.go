package peft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// PeftType names a kind of adapter, as PEFT's PeftType enum and the
// "peft_type" field of adapter_config.json.
type PeftType string

const (
	// LoRA is low-rank adaptation (Hu et al. 2021): PEFT's "LORA".
	LoRA PeftType = "LORA"
	// BottleneckAdapter is a residual bottleneck after a module's output
	// (Houlsby et al. 2019, Pfeiffer et al. 2020). PEFT has no such type;
	// "BOTTLENECK_ADAPTER" is fovea's name in adapter_config.json.
	BottleneckAdapter PeftType = "BOTTLENECK_ADAPTER"
)

// Config is an adapter's configuration: *LoraConfig, *BottleneckConfig or
// *PrefixTuningConfig. It is what adapter_config.json holds.
type Config interface {
	// Type returns the adapter kind ("peft_type").
	Type() PeftType
	// patterns returns the target and exclude patterns.
	patterns() (target, exclude Patterns)
	// validate fills the defaults of zero fields and checks the fields
	// before an adapter is built (on the Model's copy of the config).
	validate() error
	// inferenceMode reports PEFT's inference_mode: adapters loaded for
	// inference only, their parameters frozen.
	inferenceMode() bool
	setInferenceMode(on bool)
	// marshal returns the JSON object written to adapter_config.json.
	marshal() ([]byte, error)
}

// Patterns selects modules by their state-dict-style names (those of
// nn.NamedModules, e.g. "image_encoder.blocks.3.attn.qkv"), as PEFT's
// target_modules and exclude_modules:
//
//   - Names: a module is selected when its name equals one of them or ends
//     with "." followed by one ("qkv" selects "blocks.0.attn.qkv");
//   - Regex: a regular expression the whole name must match (PEFT's
//     re.fullmatch when the field is a string). Go's RE2 syntax: Python's
//     look-arounds and back-references are refused.
//
// The string "all-linear" (Regex: AllLinear) selects every Linear layer
// (*nn.Linear and LinearModule). The zero Patterns selects nothing. In JSON
// it is null, a list of names, or a string.
type Patterns struct {
	Names []string
	Regex string
}

// AllLinear is PEFT's target_modules shortcut "all-linear".
const AllLinear = "all-linear"

// Names returns Patterns selecting modules by exact name or suffix.
func Names(names ...string) Patterns { return Patterns{Names: names} }

// Regex returns Patterns selecting modules whose whole name matches expr.
func Regex(expr string) Patterns { return Patterns{Regex: expr} }

// IsZero reports whether p selects nothing.
func (p Patterns) IsZero() bool { return len(p.Names) == 0 && p.Regex == "" }

// String formats p as in adapter_config.json.
func (p Patterns) String() string {
	b, _ := p.MarshalJSON()
	return string(b)
}

// MarshalJSON writes null, a list of names, or the regular expression.
func (p Patterns) MarshalJSON() ([]byte, error) {
	switch {
	case p.Regex != "":
		return json.Marshal(p.Regex)
	case p.Names != nil:
		return json.Marshal(p.Names)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads null, a list of names, or a string.
func (p *Patterns) UnmarshalJSON(b []byte) error {
	*p = Patterns{}
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &p.Regex)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("want null, a list of module names or a regular expression: %w", err)
	}
	p.Names = names
	return nil
}

// matcher is compiled Patterns.
type matcher struct {
	p         Patterns
	re        *regexp.Regexp
	allLinear bool
}

func compilePatterns(field string, p Patterns) (*matcher, error) {
	m := &matcher{p: p}
	switch {
	case p.Regex == AllLinear:
		m.allLinear = true
	case p.Regex != "":
		re, err := regexp.Compile(`^(?:` + p.Regex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("peft: %s %q is not a regular expression Go can compile (RE2 syntax): %w", field, p.Regex, err)
		}
		m.re = re
	}
	return m, nil
}

// match reports whether name is selected; linear says whether the module
// is a linear layer (for "all-linear").
func (m *matcher) match(name string, linear bool) bool {
	switch {
	case m == nil:
		return false
	case m.allLinear:
		return linear
	case m.re != nil:
		return m.re.MatchString(name)
	}
	for _, t := range m.p.Names {
		if name == t || strings.HasSuffix(name, "."+t) {
			return true
		}
	}
	return false
}

// InitLoraWeights is PEFT's init_lora_weights: how a new LoRA adapter is
// initialised. The zero value is PEFT's default, true.
type InitLoraWeights string

const (
	// InitDefault (JSON true): A kaiming-uniform with a = √5 (U(±1/√fan_in),
	// PyTorch's nn.Linear default), B zero, so the adapter starts as the
	// identity. For Embedding, as PEFT: A zero, B from N(0, 1).
	InitDefault InitLoraWeights = ""
	// InitGaussian ("gaussian"): A from N(0, 1/r²), B zero (Embedding as
	// InitDefault).
	InitGaussian InitLoraWeights = "gaussian"
	// InitRandom (JSON false): B random too (nn.Linear's default for both;
	// N(0, 1) for both Embedding matrices), so the adapter changes the
	// output from the start — for tests.
	InitRandom InitLoraWeights = "false"
)

// MarshalJSON writes true, false or the string.
func (i InitLoraWeights) MarshalJSON() ([]byte, error) {
	switch i {
	case InitDefault, "true":
		return []byte("true"), nil
	case InitRandom:
		return []byte("false"), nil
	}
	return json.Marshal(string(i))
}

// UnmarshalJSON reads true, false or a string (PEFT's other methods, such
// as "pissa", load — the weights are in the file — but cannot initialise a
// new adapter).
func (i *InitLoraWeights) UnmarshalJSON(b []byte) error {
	switch s := string(bytes.TrimSpace(b)); s {
	case "true", "null":
		*i = InitDefault
		return nil
	case "false":
		*i = InitRandom
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want true, false or a string: %w", err)
	}
	*i = InitLoraWeights(s)
	if s == "true" {
		*i = InitDefault
	}
	return nil
}

// commonFields adds the fields every adapter_config.json has.
func commonFields(out map[string]any, taskType, baseModel string, inference bool) {
	out["task_type"] = nullString(taskType)
	out["base_model_name_or_path"] = nullString(baseModel)
	out["inference_mode"] = inference
	out["revision"] = nil
	out["auto_mapping"] = nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// rawConfig is a decoded adapter_config.json.
type rawConfig map[string]json.RawMessage

// get decodes field name into dst if present and not null.
func (r rawConfig) get(name string, dst any) error {
	b, ok := r[name]
	if !ok || string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("field %q: %w", name, err)
	}
	return nil
}

// isSet reports whether field name is present with a value other than
// null, false, 0, "", [] or {}.
func (r rawConfig) isSet(name string) bool {
	b, ok := r[name]
	if !ok {
		return false
	}
	switch string(bytes.Join(bytes.Fields(b), nil)) {
	case "null", "false", "0", `""`, "[]", "{}":
		return false
	}
	return true
}

func (r rawConfig) common(taskType, baseModel *string, inference *bool) error {
	if err := r.get("task_type", taskType); err != nil {
		return err
	}
	if err := r.get("base_model_name_or_path", baseModel); err != nil {
		return err
	}
	return r.get("inference_mode", inference)
}

// parseConfig decodes adapter_config.json's contents.
func parseConfig(b []byte) (Config, error) {
	var raw rawConfig
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	var t string
	if err := raw.get("peft_type", &t); err != nil {
		return nil, err
	}
	switch PeftType(t) {
	case LoRA:
		return parseLoraConfig(raw)
	case BottleneckAdapter:
		return parseBottleneckConfig(raw)
	case PrefixTuning:
		return parsePrefixTuningConfig(raw)
	case "":
		return nil, fmt.Errorf(`no "peft_type"`)
	}
	return nil, fmt.Errorf("peft_type %q is not supported (fovea reads %q, %q and %q)", t, LoRA, BottleneckAdapter, PrefixTuning)
}

// marshalFields writes fields as PEFT does: keys sorted, two-space indent.
func marshalFields(fields map[string]any) ([]byte, error) {
	return json.MarshalIndent(fields, "", "  ")
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
