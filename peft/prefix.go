package peft

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// PrefixTuning is PEFT's "PREFIX_TUNING" (Li & Liang 2021).
const PrefixTuning PeftType = "PREFIX_TUNING"

// prefixKey is the one tensor PEFT saves for a prefix-tuning adapter: the
// prompt encoder's output for the virtual tokens (get_prompt_embedding_to_save).
const prefixKey = "prompt_embeddings"

// PrefixTuningConfig configures prefix tuning (Li & Liang 2021; PEFT's
// PrefixTuningConfig, same JSON names): NumVirtualTokens trainable key and
// value vectors per layer and per head, which every query of the model
// attends to before the real tokens. It hooks no module: the adapter
// computes a per-layer past (Model.Prefix, Past) that the caller hands to a
// model taking one, such as models/lm's ForwardOptions.Past.
//
// The prompt encoder is PEFT's PrefixEncoder: an embedding
// (num_virtual_tokens, num_layers·2·token_dim) whose rows are the prefix,
// or, with PrefixProjection, an embedding (num_virtual_tokens, token_dim)
// followed by Linear(token_dim, encoder_hidden_size) → Tanh →
// Linear(encoder_hidden_size, num_layers·2·token_dim). Its output row v is
// viewed as (num_layers·2, heads, head_dim): layer i's key is slot 2i, its
// value slot 2i+1.
type PrefixTuningConfig struct {
	// TaskType is PEFT's task_type ("CAUSAL_LM", …), written as null when
	// empty; fovea does not use it.
	TaskType string
	// BaseModelNameOrPath records which model the adapter was trained on.
	BaseModelNameOrPath string
	// InferenceMode is PEFT's inference_mode. As in PEFT, an adapter built
	// in inference mode has no projection MLP: its embedding is the
	// (num_virtual_tokens, num_layers·2·token_dim) prefix itself.
	InferenceMode bool
	// NumVirtualTokens is the prefix length (num_virtual_tokens).
	NumVirtualTokens int
	// TokenDim is the model's hidden size (token_dim; GPT-2's n_embd).
	TokenDim int
	// NumLayers is the number of transformer layers (num_layers).
	NumLayers int
	// NumAttentionHeads is the number of heads (num_attention_heads);
	// it must divide TokenDim.
	NumAttentionHeads int
	// NumTransformerSubmodules is PEFT's num_transformer_submodules: 1 for
	// a decoder-only model (0 means 1); 2 (encoder-decoder) is refused.
	NumTransformerSubmodules int
	// PrefixProjection reparameterises the prefix through the two-layer
	// tanh MLP (prefix_projection).
	PrefixProjection bool
	// EncoderHiddenSize is the MLP's hidden width (encoder_hidden_size; 0
	// means TokenDim, as PEFT fills it in).
	EncoderHiddenSize int
}

// Type returns PrefixTuning.
func (c *PrefixTuningConfig) Type() PeftType { return PrefixTuning }

func (c *PrefixTuningConfig) inferenceMode() bool      { return c.InferenceMode }
func (c *PrefixTuningConfig) setInferenceMode(on bool) { c.InferenceMode = on }

func (c *PrefixTuningConfig) patterns() (Patterns, Patterns) { return Patterns{}, Patterns{} }

func (c *PrefixTuningConfig) validate() error {
	if c.NumTransformerSubmodules == 0 {
		c.NumTransformerSubmodules = 1
	}
	if c.EncoderHiddenSize == 0 {
		c.EncoderHiddenSize = c.TokenDim
	}
	switch {
	case c.NumVirtualTokens < 1:
		return fmt.Errorf("peft: PrefixTuningConfig: num_virtual_tokens %d, want ≥ 1", c.NumVirtualTokens)
	case c.NumLayers < 1:
		return fmt.Errorf("peft: PrefixTuningConfig: num_layers %d, want ≥ 1 (the base model's number of layers)", c.NumLayers)
	case c.TokenDim < 1:
		return fmt.Errorf("peft: PrefixTuningConfig: token_dim %d, want ≥ 1 (the base model's hidden size)", c.TokenDim)
	case c.NumAttentionHeads < 1 || c.TokenDim%c.NumAttentionHeads != 0:
		return fmt.Errorf("peft: PrefixTuningConfig: num_attention_heads %d must be ≥ 1 and divide token_dim %d", c.NumAttentionHeads, c.TokenDim)
	case c.NumTransformerSubmodules != 1:
		return fmt.Errorf("peft: PrefixTuningConfig: num_transformer_submodules %d: fovea implements decoder-only models (1)", c.NumTransformerSubmodules)
	case c.EncoderHiddenSize < 1:
		return fmt.Errorf("peft: PrefixTuningConfig: encoder_hidden_size %d, want ≥ 1", c.EncoderHiddenSize)
	}
	return nil
}

// width is num_layers·2·token_dim, the size of one virtual token's output.
func (c *PrefixTuningConfig) width() int { return c.NumLayers * 2 * c.TokenDim }

func (c *PrefixTuningConfig) marshal() ([]byte, error) {
	f := map[string]any{
		"peft_type":                  string(PrefixTuning),
		"num_virtual_tokens":         c.NumVirtualTokens,
		"token_dim":                  c.TokenDim,
		"num_layers":                 c.NumLayers,
		"num_attention_heads":        c.NumAttentionHeads,
		"num_transformer_submodules": max(c.NumTransformerSubmodules, 1),
		"prefix_projection":          c.PrefixProjection,
		"encoder_hidden_size":        c.EncoderHiddenSize,
	}
	commonFields(f, c.TaskType, c.BaseModelNameOrPath, c.InferenceMode)
	return marshalFields(f)
}

func parsePrefixTuningConfig(raw rawConfig) (*PrefixTuningConfig, error) {
	c := &PrefixTuningConfig{}
	if err := raw.common(&c.TaskType, &c.BaseModelNameOrPath, &c.InferenceMode); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"num_virtual_tokens", &c.NumVirtualTokens}, {"token_dim", &c.TokenDim}, {"num_layers", &c.NumLayers},
		{"num_attention_heads", &c.NumAttentionHeads}, {"num_transformer_submodules", &c.NumTransformerSubmodules},
		{"prefix_projection", &c.PrefixProjection}, {"encoder_hidden_size", &c.EncoderHiddenSize},
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

// prefixEncoder is PEFT's PrefixEncoder for one adapter.
type prefixEncoder struct {
	cfg *PrefixTuningConfig
	// emb is the embedding weight: (n, token_dim) with the projection,
	// (n, num_layers·2·token_dim) without (or when built from a saved
	// prompt_embeddings).
	emb *tensor.Tensor
	// w1 (hidden, token_dim), b1, w2 (width, hidden), b2: the projection
	// MLP, nil without it.
	w1, b1, w2, b2 *tensor.Tensor
}

// newPrefixEncoder initialises the encoder as PyTorch does: the embedding
// from N(0, 1), the Linear layers from U(±1/√fan_in). direct builds the
// encoder without the MLP whatever PrefixProjection says (PEFT in
// inference mode, or a saved prefix being loaded).
func newPrefixEncoder(c *PrefixTuningConfig, direct bool, rng *rand.Rand) *prefixEncoder {
	p := &prefixEncoder{cfg: c}
	param := func(shape ...int) *tensor.Tensor { return tensor.Zeros(shape...).SetRequiresGrad(true) }
	if c.PrefixProjection && !direct {
		p.emb = nn.Normal(rng, param(c.NumVirtualTokens, c.TokenDim), 0, 1)
		h := c.EncoderHiddenSize
		p.w1, p.b1 = param(h, c.TokenDim), param(h)
		p.w2, p.b2 = param(c.width(), h), param(c.width())
		for _, l := range [][2]*tensor.Tensor{{p.w1, p.b1}, {p.w2, p.b2}} {
			bound := 1 / math.Sqrt(float64(l[0].SizeOf(1)))
			nn.Uniform(rng, l[0], -bound, bound)
			nn.Uniform(rng, l[1], -bound, bound)
		}
	} else {
		p.emb = nn.Normal(rng, param(c.NumVirtualTokens, c.width()), 0, 1)
	}
	return p
}

// params lists the encoder's trainable tensors under PEFT's names in the
// PeftModel (without the adapter name).
func (p *prefixEncoder) params() []nn.Named {
	out := []nn.Named{{Name: "prompt_encoder.embedding.weight", Tensor: p.emb}}
	if p.w1 != nil {
		out = append(out,
			nn.Named{Name: "prompt_encoder.transform.0.weight", Tensor: p.w1},
			nn.Named{Name: "prompt_encoder.transform.0.bias", Tensor: p.b1},
			nn.Named{Name: "prompt_encoder.transform.2.weight", Tensor: p.w2},
			nn.Named{Name: "prompt_encoder.transform.2.bias", Tensor: p.b2})
	}
	return out
}

// output is the encoder's output for the virtual tokens 0…n−1:
// (n, num_layers·2·token_dim), differentiable.
func (p *prefixEncoder) output() *tensor.Tensor {
	if p.w1 == nil {
		return p.emb // Embedding(arange(n)) is the whole weight
	}
	h := functional.Tanh(nn.Affine(p.emb, p.w1, p.b1))
	return nn.Affine(h, p.w2, p.b2)
}

// past reshapes the output as PEFT's get_prompt: view (n, L·2, H, D),
// permute to (L·2, H, n, D); layer i's keys are slot 2i, its values 2i+1,
// each (1, H, n, D).
func (p *prefixEncoder) past() []PrefixKV {
	c := p.cfg
	n, l, h := c.NumVirtualTokens, c.NumLayers, c.NumAttentionHeads
	d := c.TokenDim / h
	all := tensor.Permute(tensor.Reshape(p.output(), n, 2*l, h, d), 1, 2, 0, 3) // (2L, H, n, D)
	out := make([]PrefixKV, l)
	for i := range out {
		out[i] = PrefixKV{
			K: tensor.Reshape(tensor.Narrow(all, 0, 2*i, 1), 1, h, n, d),
			V: tensor.Reshape(tensor.Narrow(all, 0, 2*i+1, 1), 1, h, n, d),
		}
	}
	return out
}

// PrefixKV is one layer's learned prefix: keys K and values V, each
// (1, num_attention_heads, num_virtual_tokens, head_dim), batch 1 to be
// broadcast over the batch. Its fields are those of models/lm's KV, so
// lm.KV(p) converts one; Past converts a whole list.
type PrefixKV struct {
	K, V *tensor.Tensor
}

// Prefix returns the active prefix-tuning adapter's per-layer keys and
// values, computed through its prompt encoder (differentiable: a loss's
// gradient reaches the encoder's parameters). It returns nil and no error
// when no prefix-tuning adapter is active or adapters are disabled (the
// base model then runs without a past), and an error when more than one is
// active. Call it once per forward pass: with PrefixProjection each call
// runs the MLP.
func (m *Model) Prefix() ([]PrefixKV, error) {
	if m.unloaded {
		return nil, errUnloaded
	}
	if m.disabled {
		return nil, nil
	}
	var enc *prefixEncoder
	var names []string
	for _, name := range m.active {
		if ad := m.adapters[name]; ad.prefix != nil {
			enc = ad.prefix
			names = append(names, name)
		}
	}
	if len(names) > 1 {
		return nil, fmt.Errorf("peft: %d prefix-tuning adapters are active (%s); activate one", len(names), quoteList(names))
	}
	if enc == nil {
		return nil, nil
	}
	return enc.past(), nil
}

// Past is Prefix converted to a model's own key/value type — any struct
// with exactly the fields K, V *tensor.Tensor, such as models/lm's KV — so
// that peft needs no import of the model's package:
//
//	past, err := peft.Past[lm.KV](pm)
//	out := m.ForwardWith(ids, lm.ForwardOptions{Past: past}) // PosOffset 0
func Past[T ~struct{ K, V *tensor.Tensor }](m *Model) ([]T, error) {
	p, err := m.Prefix()
	if p == nil || err != nil {
		return nil, err
	}
	out := make([]T, len(p))
	for i, kv := range p {
		out[i] = T(kv)
	}
	return out, nil
}

// buildPrefix makes a prefix-tuning adapter; direct: without the MLP.
func (m *Model) buildPrefix(name string, c *PrefixTuningConfig, direct bool) *adapter {
	return &adapter{name: name, config: c, prefix: newPrefixEncoder(c, direct, m.rng)}
}
