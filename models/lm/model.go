package lm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Model is the decoder-only transformer: token and position embeddings, NLayer
// pre-norm blocks (x += attn(ln_1(x)); x += mlp(ln_2(x))), a final norm and the LM head
// tied to the token embedding (logits = ln_f(x)·wteᵀ). Its state-dict names are GPT-2's
// (see the package documentation).
//
// The sub-modules are interfaces so that other packages (peft) can wrap them; New builds
// *Conv1D projections, *nn.LayerNorm or *RMSNorm norms, and *MLP or *nn.SwiGLU
// feed-forward layers. Like every fovea module the model starts in training mode
// (dropout on); Load returns it in evaluation mode.
type Model struct {
	nn.TrainMode
	WTE    *nn.Embedding `nn:"wte"` // (V, E), also the LM head
	WPE    *nn.Embedding `nn:"wpe"` // (n_positions, E)
	H      []*Block      `nn:"h"`
	LnF    nn.Module     `nn:"ln_f"`
	Config Config        `nn:"-"`
	// Rng draws the dropout masks in training mode (New sets it; a loaded model has
	// none until one is assigned).
	Rng *rand.Rand `nn:"-"`
}

// Block is one transformer layer: x += attn(ln_1(x)); x += mlp(ln_2(x)).
type Block struct {
	Ln1  nn.Module  `nn:"ln_1"`
	Attn *Attention `nn:"attn"`
	Ln2  nn.Module  `nn:"ln_2"`
	MLP  nn.Module  `nn:"mlp"`
}

// Attention is GPT-2's causal self-attention: c_attn projects x: (B, T, E) to q, k, v
// (B, T, 3E, in that order, each split into NumHeads heads of E/NumHeads), c_proj maps
// the merged heads back to E.
type Attention struct {
	CAttn    nn.Module `nn:"c_attn"` // E → 3E
	CProj    nn.Module `nn:"c_proj"` // E → E
	NumHeads int       `nn:"-"`
	// Scale multiplies the scores q·kᵀ: 1/√headDim for GPT-2 (scale_attn_weights), also
	// divided by layer index + 1 with scale_attn_by_inverse_layer_idx.
	Scale float32 `nn:"-"`
}

// MLP is GPT-2's feed-forward layer: c_proj(act(c_fc(x))).
type MLP struct {
	CFc   nn.Module `nn:"c_fc"`   // E → I
	CProj nn.Module `nn:"c_proj"` // I → E
	// Activation is a key of Config.ActivationFunction ("gelu_new", …).
	Activation string `nn:"-"`
}

// Forward maps x: (…, E) to (…, E).
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	act, ok := activations[m.Activation]
	if !ok {
		panic(fmt.Sprintf("lm.MLP: unknown activation %q", m.Activation))
	}
	return m.CProj.Forward(act(m.CFc.Forward(x)))
}

// activations are the values of activation_function the MLP supports (Hugging Face's
// ACT2FN names).
var activations = map[string]func(*tensor.Tensor) *tensor.Tensor{
	"gelu_new":          geluNew,
	"gelu_pytorch_tanh": geluNew,
	"gelu_fast":         geluNew,
	"gelu":              func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) },
	"relu":              functional.ReLU,
	"silu":              functional.SiLU,
	"swish":             functional.SiLU,
}

// Conv1D is Hugging Face's Conv1D, the linear layer of GPT-2: y = x·Weight + Bias with
// the weight stored (in, out), the transpose of nn.Linear's. State-dict names: weight
// (in, out), bias (out); Bias may be nil.
type Conv1D struct {
	Weight *tensor.Tensor // (in, out)
	Bias   *tensor.Tensor // (out), or nil
	// Delta, when set, is applied to the output as y = Delta.Forward(x, y): the hook
	// through which peft adds LoRA or a bottleneck adapter. It is not a parameter and not
	// in the state dict.
	Delta nn.Delta `nn:"-"`
}

// Forward maps x: (…, in) to (…, out).
func (c *Conv1D) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := conv1D(x, c.Weight, c.Bias)
	if c.Delta != nil {
		y = c.Delta.Forward(x, y)
	}
	return y
}

// LinearWeights returns the weight, the bias and true (the weight is stored (in, out),
// PEFT's fan_in_fan_out): with DeltaHook it makes Conv1D a peft.LinearModule.
func (c *Conv1D) LinearWeights() (weight, bias *tensor.Tensor, fanInFanOut bool) {
	return c.Weight, c.Bias, true
}

// DeltaHook returns the address of the Delta field, where peft installs its hook.
func (c *Conv1D) DeltaHook() *nn.Delta { return &c.Delta }

// RMSNorm is root-mean-square normalisation over the last dimension (Zhang & Sennrich
// 2019; LLaMA): y = x/√(mean(x²) + Eps)·Weight. State-dict name: weight (d); Weight may
// be nil (no scale). It is one fused operation with float64 statistics.
type RMSNorm struct {
	Weight *tensor.Tensor
	Eps    float64 `nn:"-"`
}

// Forward normalises x: (…, d), giving the same shape.
func (r *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor { return rmsNorm(x, r.Weight, r.Eps) }

// New builds a model with GPT-2's initialisation from rng: weights N(0, 0.02), the
// output projections of each block (attn.c_proj, mlp.c_proj or mlp.w2) N(0,
// 0.02/√(2·n_layer)), biases 0, norms 1. rng also draws the dropout masks (Model.Rng).
func New(rng *rand.Rand, cfg Config) (*Model, error) {
	if cfg.FeedForward == "" {
		cfg.FeedForward = "gelu"
	}
	if cfg.Norm == "" {
		cfg.Norm = "layernorm"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e, inner := cfg.NEmbd, cfg.Inner()
	const std = 0.02
	projStd := std / math.Sqrt(2*float64(max(cfg.NLayer, 1)))
	normal := func(std float64, shape ...int) *tensor.Tensor {
		return nn.Normal(rng, tensor.Zeros(shape...).SetRequiresGrad(true), 0, std)
	}
	conv := func(in, out int, std float64) *Conv1D {
		return &Conv1D{Weight: normal(std, in, out), Bias: tensor.Zeros(out).SetRequiresGrad(true)}
	}
	norm := func() nn.Module {
		if cfg.Norm == "rmsnorm" {
			return &RMSNorm{Weight: tensor.Ones(e).SetRequiresGrad(true), Eps: cfg.LayerNormEpsilon}
		}
		ln := nn.NewLayerNorm(e)
		ln.Eps = cfg.LayerNormEpsilon
		return ln
	}
	m := &Model{
		WTE:    &nn.Embedding{Weight: normal(std, cfg.VocabSize, e), PaddingIdx: -1},
		WPE:    &nn.Embedding{Weight: normal(std, cfg.NPositions, e), PaddingIdx: -1},
		LnF:    norm(),
		Config: cfg,
		Rng:    rng,
	}
	for i := 0; i < cfg.NLayer; i++ {
		blk := &Block{
			Ln1:  norm(),
			Attn: &Attention{CAttn: conv(e, 3*e, std), CProj: conv(e, e, projStd), NumHeads: cfg.NHead, Scale: attnScale(cfg, i)},
			Ln2:  norm(),
		}
		if cfg.FeedForward == "swiglu" {
			blk.MLP = &nn.SwiGLU{
				W1: &nn.Linear{Weight: normal(std, inner, e)},
				W2: &nn.Linear{Weight: normal(projStd, e, inner)},
				W3: &nn.Linear{Weight: normal(std, inner, e)},
			}
		} else {
			blk.MLP = &MLP{CFc: conv(e, inner, std), CProj: conv(inner, e, projStd), Activation: cfg.ActivationFunction}
		}
		m.H = append(m.H, blk)
	}
	return m, nil
}

// attnScale is the factor applied to layer i's attention scores.
func attnScale(cfg Config, i int) float32 {
	s := 1.0
	if cfg.ScaleAttnWeights {
		s /= math.Sqrt(float64(cfg.HeadDim()))
	}
	if cfg.ScaleAttnByInverseLayerIdx {
		s /= float64(i + 1)
	}
	return float32(s)
}

// KV is one layer's keys and values for the positions before the current tokens: K and
// V are (B, NHead, P, HeadDim), the heads split as the attention uses them. It is both
// the cache that generation carries from call to call and the learned prefix of prefix
// tuning.
type KV struct {
	K, V *tensor.Tensor
}

// Len returns P, the number of positions held (0 for an empty KV).
func (kv KV) Len() int {
	if kv.K == nil {
		return 0
	}
	return kv.K.SizeOf(2)
}

// ForwardOptions are the optional inputs of ForwardWith. The zero value runs the
// tokens alone from position 0, as Forward does.
type ForwardOptions struct {
	// Past is nil or one KV per layer, all of the same length P: keys and values of
	// positions that precede the tokens. Every query attends to all P of them, and the
	// causal mask applies among the tokens themselves (query t sees past 0…P−1 and tokens
	// 0…t). The attention's keys and values are Past ⧺ the tokens' own, so gradients flow
	// into Past tensors that require them (prefix tuning). A Past of batch size 1 is
	// broadcast to the batch of ids. Past does not move the positions: see PosOffset.
	Past []KV
	// PosOffset is the position id of the first token: token t gets position embedding
	// wpe[PosOffset + t]. For a cache continuing a sequence, set it to the number of real
	// tokens already seen (the cache's length when there is no prefix); for a prefix
	// (prefix tuning) leave it 0, so the real tokens keep positions 0, 1, … as without
	// the prefix. PosOffset + T must not exceed n_positions.
	PosOffset int
	// Cache asks for Output.Present.
	Cache bool
	// LastOnly computes the logits of the last position only ((B, 1, V)), as generation
	// needs; Hidden still has every position.
	LastOnly bool
}

// Output is what ForwardWith returns.
type Output struct {
	Logits *tensor.Tensor // (B, T, V), or (B, 1, V) with LastOnly
	Hidden *tensor.Tensor // (B, T, E): the final hidden states, after ln_f
	// Present (with ForwardOptions.Cache) holds each layer's Past ⧺ this call's keys and
	// values, (B, NHead, P+T, HeadDim): the Past to pass with the next tokens.
	Present []KV
}

// Forward maps token ids: (B, T) of integral values in [0, V) to logits (B, T, V), the
// tokens at positions 0 … T−1 with no past. It is differentiable, and applies dropout
// in training mode.
func (m *Model) Forward(ids *tensor.Tensor) *tensor.Tensor {
	return m.run(ids, ForwardOptions{}, m.Training()).Logits
}

// ForwardWith is Forward with a past (a cache or a prefix), a position offset, and the
// keys and values returned for the next call; see ForwardOptions.
func (m *Model) ForwardWith(ids *tensor.Tensor, opt ForwardOptions) Output {
	return m.run(ids, opt, m.Training())
}

// IDs turns rows of token ids, all of the same length, into the (B, T) tensor that
// Forward takes.
func IDs(rows ...[]int) *tensor.Tensor {
	if len(rows) == 0 {
		return tensor.Zeros(0, 0)
	}
	t := len(rows[0])
	out := tensor.Zeros(len(rows), t)
	d := out.Data()
	for i, r := range rows {
		if len(r) != t {
			panic(fmt.Sprintf("lm.IDs: row %d has %d ids, row 0 has %d", i, len(r), t))
		}
		for j, v := range r {
			d[i*t+j] = float32(v)
		}
	}
	return out
}

func (m *Model) run(ids *tensor.Tensor, opt ForwardOptions, training bool) Output {
	cfg := m.Config
	if ids.Dim() != 2 {
		panic(fmt.Sprintf("lm.Model: ids %s, want (B, T)", tensor.FormatShape(ids.Shape())))
	}
	t := ids.SizeOf(1)
	if opt.PosOffset < 0 || opt.PosOffset+t > m.WPE.Weight.SizeOf(0) {
		panic(fmt.Sprintf("lm.Model: positions %d…%d of ids %s do not fit in n_positions %d",
			opt.PosOffset, opt.PosOffset+t-1, tensor.FormatShape(ids.Shape()), m.WPE.Weight.SizeOf(0)))
	}
	if opt.Past != nil && len(opt.Past) != len(m.H) {
		panic(fmt.Sprintf("lm.Model: %d past entries for %d layers", len(opt.Past), len(m.H)))
	}
	if opt.LastOnly && t == 0 {
		panic("lm.Model: LastOnly with no tokens")
	}
	drop := func(x *tensor.Tensor, p float64) *tensor.Tensor {
		if !training || p == 0 {
			return x
		}
		if m.Rng == nil {
			panic("lm.Model: training mode with dropout needs Model.Rng (or nn.Eval for inference)")
		}
		return dropout(x, float32(p), m.Rng)
	}
	pos := make([]float32, t)
	for i := range pos {
		pos[i] = float32(opt.PosOffset + i)
	}
	x := tensor.Add(m.WTE.Forward(ids), m.WPE.Forward(tensor.FromSlice(pos, t))) // (B, T, E)
	x = drop(x, cfg.EmbdPdrop)
	var present []KV
	if opt.Cache {
		present = make([]KV, len(m.H))
	}
	pastLen := -1
	for i, blk := range m.H {
		var past KV
		if opt.Past != nil {
			past = opt.Past[i]
			if l := past.Len(); pastLen >= 0 && l != pastLen {
				panic(fmt.Sprintf("lm.Model: past of layer %d has %d positions, layer 0 has %d", i, l, pastLen))
			} else {
				pastLen = l
			}
		}
		attnDrop := 0.0
		if training {
			attnDrop = cfg.AttnPdrop
		}
		a, kv := blk.Attn.forward(blk.Ln1.Forward(x), past, opt.Cache, float32(attnDrop), m.Rng)
		x = tensor.Add(x, drop(a, cfg.ResidPdrop))
		x = tensor.Add(x, drop(blk.MLP.Forward(blk.Ln2.Forward(x)), cfg.ResidPdrop))
		if opt.Cache {
			present[i] = kv
		}
	}
	hidden := m.LnF.Forward(x)
	h := hidden
	if opt.LastOnly {
		h = tensor.Narrow(hidden, 1, t-1, 1)
	}
	return Output{Logits: nn.Affine(h, m.WTE.Weight, nil), Hidden: hidden, Present: present}
}

// forward runs the attention of x: (B, T, E) after past, returning (B, T, E) and, when
// cache is set, the keys and values past ⧺ x's (B, H, P+T, D).
func (a *Attention) forward(x *tensor.Tensor, past KV, cache bool, drop float32, rng *rand.Rand) (*tensor.Tensor, KV) {
	qkv := a.CAttn.Forward(x) // (B, T, 3E)
	if (past.K == nil) != (past.V == nil) {
		panic(fmt.Sprintf("lm.Attention: past K %s and V %s: give both or neither", shapeOf(past.K), shapeOf(past.V)))
	}
	o := attention(qkv, past.K, past.V, a.NumHeads, a.Scale, drop, rng)
	var present KV
	if cache {
		b, t, e := qkv.SizeOf(0), qkv.SizeOf(1), qkv.SizeOf(2)/3
		h := a.NumHeads
		d := e / h
		kv := tensor.Permute(tensor.Reshape(tensor.Narrow(qkv, 2, e, 2*e), b, t, 2, h, d), 2, 0, 3, 1, 4) // (2, B, H, T, D)
		parts := tensor.Split(kv, 0, 1, 1)
		k, v := tensor.Reshape(parts[0], b, h, t, d), tensor.Reshape(parts[1], b, h, t, d)
		if past.K != nil && past.K.SizeOf(2) > 0 {
			pk, pv := past.K, past.V
			if pk.SizeOf(0) != b {
				pk = tensor.Expand(pk, b, h, pk.SizeOf(2), d)
				pv = tensor.Expand(pv, b, h, pv.SizeOf(2), d)
			}
			k = tensor.Cat([]*tensor.Tensor{pk, k}, 2)
			v = tensor.Cat([]*tensor.Tensor{pv, v}, 2)
		}
		present = KV{K: k, V: v}
	}
	return a.CProj.Forward(o), present
}
