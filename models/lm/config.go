// Package lm is a decoder-only transformer language model in GPT-2's layout (Radford et
// al., "Language Models are Unsupervised Multitask Learners", 2019), with a key/value
// cache, sampling, and GPT-2's byte-level BPE tokenizer.
//
// A Hugging Face GPT-2 folder (config.json + model.safetensors) loads by state-dict name
// with no mapping (Load). The model trains with package optim (Forward is
// differentiable), generates with a cache so that each new token costs one position
// (Generate), and takes a per-layer past of keys and values that may require gradients,
// which is how prefix tuning (Li & Liang 2021) is built on it. BPE is GPT-2's byte-level
// tokenizer (vocab.json + merges.txt), ByteTokenizer a plain byte-level one. See
// docs/lm.md for the API, the checks against PyTorch and the reference tokenizers, and
// speed.
//
// State-dict names, those of Hugging Face's GPT2LMHeadModel's transformer part (a file
// may add the "transformer." prefix; the LM head is tied to wte):
//
//	wte.weight (V, E), wpe.weight (n_positions, E)
//	h.{i}.ln_1.{weight,bias} (E), h.{i}.ln_2.{weight,bias} (E)
//	h.{i}.attn.c_attn.weight (E, 3E), h.{i}.attn.c_attn.bias (3E)   Conv1D: weight is (in, out)
//	h.{i}.attn.c_proj.weight (E, E), h.{i}.attn.c_proj.bias (E)
//	h.{i}.mlp.c_fc.weight (E, I), h.{i}.mlp.c_fc.bias (I)           I = n_inner, 4E by default
//	h.{i}.mlp.c_proj.weight (I, E), h.{i}.mlp.c_proj.bias (E)
//	ln_f.{weight,bias} (E)
//
// fovea's variants (config keys "feed_forward" and "norm") change two kinds of names:
// feed_forward "swiglu" replaces the MLP by h.{i}.mlp.w1.weight (I, E), h.{i}.mlp.w2.weight
// (E, I), h.{i}.mlp.w3.weight (I, E) (nn.SwiGLU: Linear layout (out, in), no biases,
// W2(SiLU(W1 x) ⊙ W3 x)); norm "rmsnorm" makes every norm RMSNorm with only a weight
// (ln_1.weight, ln_2.weight, ln_f.weight).
package lm

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// Config is a model's architecture: the fields of GPT-2's config.json (Hugging Face's
// GPT2Config, same JSON names and defaults) plus fovea's two variants.
type Config struct {
	ModelType                  string  `json:"model_type,omitempty"`            // "gpt2" (or empty)
	VocabSize                  int     `json:"vocab_size"`                      // V (50257)
	NPositions                 int     `json:"n_positions"`                     // largest context, rows of wpe (1024)
	NEmbd                      int     `json:"n_embd"`                          // width E (768)
	NLayer                     int     `json:"n_layer"`                         // blocks (12)
	NHead                      int     `json:"n_head"`                          // attention heads; E must be divisible by it (12)
	NInner                     int     `json:"n_inner,omitempty"`               // feed-forward width; 0 = default (see Inner)
	ActivationFunction         string  `json:"activation_function"`             // MLP activation: "gelu_new" (tanh GELU, GPT-2), "gelu", "relu", "silu"
	LayerNormEpsilon           float64 `json:"layer_norm_epsilon"`              // ε of every norm (1e-5)
	AttnPdrop                  float64 `json:"attn_pdrop"`                      // dropout on attention weights in training mode (0.1)
	ResidPdrop                 float64 `json:"resid_pdrop"`                     // dropout on each block's two branch outputs (0.1)
	EmbdPdrop                  float64 `json:"embd_pdrop"`                      // dropout on the embeddings' sum (0.1)
	ScaleAttnWeights           bool    `json:"scale_attn_weights"`              // divide scores by √headDim (true)
	ScaleAttnByInverseLayerIdx bool    `json:"scale_attn_by_inverse_layer_idx"` // also divide layer i's scores by i+1 (false)
	TieWordEmbeddings          bool    `json:"tie_word_embeddings"`             // LM head = wte (true; the only supported value)
	BosTokenID                 int     `json:"bos_token_id"`                    // 50256
	EosTokenID                 int     `json:"eos_token_id"`                    // 50256

	// FeedForward is fovea's choice of feed-forward layer: "gelu" (GPT-2's MLP, c_fc →
	// activation_function → c_proj; the default) or "swiglu" (nn.SwiGLU, names w1, w2, w3).
	FeedForward string `json:"feed_forward,omitempty"`
	// Norm is fovea's choice of normalisation: "layernorm" (GPT-2, the default) or
	// "rmsnorm" (RMSNorm: x/√(mean(x²)+ε)·weight, no bias).
	Norm string `json:"norm,omitempty"`
}

// DefaultConfig is GPT-2 small (124M parameters), GPT2Config's defaults.
func DefaultConfig() Config {
	return Config{
		ModelType: "gpt2", VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12,
		ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5,
		AttnPdrop: 0.1, ResidPdrop: 0.1, EmbdPdrop: 0.1,
		ScaleAttnWeights: true, TieWordEmbeddings: true, BosTokenID: 50256, EosTokenID: 50256,
		FeedForward: "gelu", Norm: "layernorm",
	}
}

// HeadDim is the width of one attention head, NEmbd / NHead.
func (c Config) HeadDim() int { return c.NEmbd / c.NHead }

// Inner is the feed-forward width: NInner when set, else 4·NEmbd for "gelu" and
// ⌈(2/3)·4·NEmbd / 8⌉·8 for "swiglu" (about the parameter count of the 4E MLP, as LLaMA).
func (c Config) Inner() int {
	if c.NInner > 0 {
		return c.NInner
	}
	if c.FeedForward == "swiglu" {
		return (8*c.NEmbd/3 + 7) / 8 * 8
	}
	return 4 * c.NEmbd
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.ModelType != "" && c.ModelType != "gpt2":
		return fmt.Errorf("lm config: model_type %q, want \"gpt2\"", c.ModelType)
	case c.VocabSize < 1:
		return fmt.Errorf("lm config: vocab_size %d, want at least 1", c.VocabSize)
	case c.NPositions < 1:
		return fmt.Errorf("lm config: n_positions %d, want at least 1", c.NPositions)
	case c.NEmbd < 1 || c.NHead < 1 || c.NEmbd%c.NHead != 0:
		return fmt.Errorf("lm config: n_embd %d and n_head %d, want n_embd a positive multiple of n_head", c.NEmbd, c.NHead)
	case c.NLayer < 0:
		return fmt.Errorf("lm config: n_layer %d, want at least 0", c.NLayer)
	case c.NInner < 0:
		return fmt.Errorf("lm config: n_inner %d, want 0 (default) or positive", c.NInner)
	case !(c.LayerNormEpsilon >= 0):
		return fmt.Errorf("lm config: layer_norm_epsilon %v, want ≥ 0", c.LayerNormEpsilon)
	case !c.TieWordEmbeddings:
		return fmt.Errorf("lm config: tie_word_embeddings false: only the tied LM head (GPT-2's) is supported")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"attn_pdrop", c.AttnPdrop}, {"resid_pdrop", c.ResidPdrop}, {"embd_pdrop", c.EmbdPdrop}} {
		if !(p.v >= 0 && p.v < 1) {
			return fmt.Errorf("lm config: %s %v, want a probability in [0, 1)", p.name, p.v)
		}
	}
	if _, ok := activations[c.ActivationFunction]; !ok && c.FeedForward != "swiglu" {
		return fmt.Errorf("lm config: activation_function %q, want gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu or silu", c.ActivationFunction)
	}
	switch c.FeedForward {
	case "", "gelu", "swiglu":
	default:
		return fmt.Errorf("lm config: feed_forward %q, want \"gelu\" or \"swiglu\"", c.FeedForward)
	}
	switch c.Norm {
	case "", "layernorm", "rmsnorm":
	default:
		return fmt.Errorf("lm config: norm %q, want \"layernorm\" or \"rmsnorm\"", c.Norm)
	}
	return nil
}

// ParseConfig reads a config.json: keys missing from data take GPT2Config's defaults
// (DefaultConfig), unknown keys (architectures, task_specific_params, …) are ignored.
func ParseConfig(data []byte) (Config, error) {
	c := DefaultConfig() // json.Unmarshal keeps these for missing keys and for null (n_inner: null)
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("lm config: %w", err)
	}
	if c.FeedForward == "" {
		c.FeedForward = "gelu"
	}
	if c.Norm == "" {
		c.Norm = "layernorm"
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ReadConfig reads a config.json file (see ParseConfig); errors name the file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes c as a config.json that Hugging Face's GPT2Config also reads (the
// fovea keys feed_forward and norm are written only when they are not GPT-2's).
func WriteConfig(path string, c Config) error {
	out := c
	if out.ModelType == "" {
		out.ModelType = "gpt2"
	}
	if out.FeedForward == "gelu" {
		out.FeedForward = ""
	}
	if out.Norm == "layernorm" {
		out.Norm = ""
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}
