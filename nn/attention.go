package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// MultiheadAttention is multi-head scaled dot-product attention
// (torch.nn.MultiheadAttention):
//
//	Q = q·Wqᵀ + bq,  K = k·Wkᵀ + bk,  V = v·Wvᵀ + bv
//	K ← [K; bias_k; 0],  V ← [V; bias_v; 0]             (AddBiasKV, AddZeroAttn: extra keys)
//	head h: A_h = softmax(Q_h·K_hᵀ/√D + mask),  O_h = A_h·V_h   (D = E/NumHeads)
//	out = concat_h(O_h)·Woᵀ + bo                         (OutProj)
//
// Wq, Wk, Wv are the rows of InProjWeight (3E, E) when keys and values have
// the embedding size E, as PyTorch's packed in-projection; with kdim or vdim
// different from E (NewMultiheadAttentionConfig) they are QProjWeight
// (E, E), KProjWeight (E, kdim) and VProjWeight (E, vdim), and InProjWeight
// is nil, as PyTorch's q_proj_weight, k_proj_weight, v_proj_weight.
//
// State-dict names, as PyTorch: in_proj_weight (3E, E) or q_proj_weight,
// k_proj_weight, v_proj_weight; in_proj_bias (3E) or nil; bias_k, bias_v
// (1, 1, E) with AddBiasKV; out_proj.weight (E, E), out_proj.bias (E) or
// nil. Dropout on the attention weights applies in training mode only,
// drawn from Rng.
//
// Tensors are batch first, (N, L, E), unless SequenceFirst, which takes and
// returns (L, N, E) as PyTorch's default batch_first=False; unbatched
// (L, E) inputs are accepted in both layouts.
type MultiheadAttention struct {
	TrainMode
	InProjWeight *tensor.Tensor
	QProjWeight  *tensor.Tensor
	KProjWeight  *tensor.Tensor
	VProjWeight  *tensor.Tensor
	InProjBias   *tensor.Tensor
	BiasK        *tensor.Tensor
	BiasV        *tensor.Tensor
	OutProj      *Linear
	NumHeads     int
	Dropout      float32
	// SequenceFirst takes and returns (L, N, E) (PyTorch's
	// batch_first=False); false is (N, L, E).
	SequenceFirst bool `nn:"-"`
	// AddZeroAttn appends a key and a value of zeros to every sequence,
	// after bias_k and bias_v (PyTorch's add_zero_attn).
	AddZeroAttn bool       `nn:"-"`
	Rng         *rand.Rand `nn:"-"`
	// InProjDelta, when set, supplies ΔW added to InProjWeight for each
	// forward pass (see WeightDelta); not saved. OutProj is a Linear and
	// has its own Delta. It needs the packed InProjWeight.
	InProjDelta WeightDelta `nn:"-"`
}

// NewMultiheadAttention returns attention over embed-dimensional tokens
// with heads heads (embed must be divisible by heads), batch first,
// initialised as PyTorch: in_proj_weight Xavier-uniform, out_proj.weight
// kaiming_uniform(a=√5), biases zero. Without bias both biases are nil. rng
// also drives dropout if Dropout is set later.
func NewMultiheadAttention(rng *rand.Rand, embed, heads int, bias bool) *MultiheadAttention {
	if heads <= 0 || embed%heads != 0 {
		panic(fmt.Sprintf("nn.NewMultiheadAttention: embed dim %d is not divisible by %d heads", embed, heads))
	}
	m := &MultiheadAttention{InProjWeight: param(3*embed, embed), OutProj: NewLinear(rng, embed, embed, bias), NumHeads: heads, Rng: rng}
	XavierUniform(rng, m.InProjWeight, 1)
	if bias {
		m.InProjBias = param(3 * embed)
		Zeros(m.OutProj.Bias)
	}
	return m
}

// MultiheadAttentionConfig describes a MultiheadAttention with PyTorch's
// constructor arguments.
type MultiheadAttentionConfig struct {
	EmbedDim, NumHeads int
	// NoBias leaves out in_proj_bias and out_proj.bias (PyTorch's
	// bias=False).
	NoBias bool
	// AddBiasKV learns one extra key and value, bias_k and bias_v (1, 1, E),
	// appended to every sequence (PyTorch's add_bias_kv).
	AddBiasKV bool
	// AddZeroAttn appends a key and a value of zeros (add_zero_attn).
	AddZeroAttn bool
	// KDim and VDim are the feature sizes of the keys and values; zero means
	// EmbedDim. If either differs from EmbedDim the in-projection is split
	// into q_proj_weight, k_proj_weight and v_proj_weight.
	KDim, VDim int
	// Dropout is the probability of dropping an attention weight in
	// training mode.
	Dropout float32
	// SequenceFirst takes (L, N, E) tensors: PyTorch's default
	// batch_first=False. Leave it false for PyTorch's batch_first=True.
	SequenceFirst bool
}

// NewMultiheadAttentionConfig returns the MultiheadAttention cfg describes,
// initialised as PyTorch: the in-projection weights (packed or each of the
// three) Xavier-uniform, bias_k and bias_v Xavier-normal, out_proj.weight
// kaiming_uniform(a=√5), biases zero. rng also drives dropout.
func NewMultiheadAttentionConfig(rng *rand.Rand, cfg MultiheadAttentionConfig) *MultiheadAttention {
	e, h := cfg.EmbedDim, cfg.NumHeads
	kd, vd := cfg.KDim, cfg.VDim
	if kd == 0 {
		kd = e
	}
	if vd == 0 {
		vd = e
	}
	if e <= 0 || h <= 0 || e%h != 0 || kd < 0 || vd < 0 || !(cfg.Dropout >= 0 && cfg.Dropout < 1) {
		panic(fmt.Sprintf("nn.NewMultiheadAttentionConfig: %+v: embed dim must be positive and divisible by the heads, kdim and vdim ≥ 0, 0 ≤ dropout < 1", cfg))
	}
	m := &MultiheadAttention{NumHeads: h, Dropout: cfg.Dropout, SequenceFirst: cfg.SequenceFirst,
		AddZeroAttn: cfg.AddZeroAttn, Rng: rng}
	if kd == e && vd == e {
		m.InProjWeight = param(3*e, e)
	} else {
		m.QProjWeight, m.KProjWeight, m.VProjWeight = param(e, e), param(e, kd), param(e, vd)
	}
	if !cfg.NoBias {
		m.InProjBias = param(3 * e)
	}
	m.OutProj = NewLinear(rng, e, e, !cfg.NoBias)
	if cfg.AddBiasKV {
		m.BiasK, m.BiasV = param(1, 1, e), param(1, 1, e)
	}
	// PyTorch's _reset_parameters order.
	if m.InProjWeight != nil {
		XavierUniform(rng, m.InProjWeight, 1)
	} else {
		XavierUniform(rng, m.QProjWeight, 1)
		XavierUniform(rng, m.KProjWeight, 1)
		XavierUniform(rng, m.VProjWeight, 1)
	}
	if m.InProjBias != nil {
		Zeros(m.InProjBias)
		Zeros(m.OutProj.Bias)
	}
	if m.BiasK != nil {
		XavierNormal(rng, m.BiasK, 1)
		XavierNormal(rng, m.BiasV, 1)
	}
	return m
}

// AttentionOptions are the optional inputs of MultiheadAttention.Attend.
type AttentionOptions struct {
	// KeyPaddingMask (N, S) marks with a nonzero value the keys to ignore
	// (PyTorch's boolean key_padding_mask, True = ignore).
	KeyPaddingMask *tensor.Tensor
	// AttnMask (L, S) or (N·NumHeads, L, S) is added to the attention
	// scores (PyTorch's float attn_mask; use −Inf to forbid), or with
	// BoolAttnMask set, nonzero entries forbid attending (PyTorch's
	// boolean attn_mask, True = not allowed). The keys AddBiasKV and
	// AddZeroAttn append are never masked.
	AttnMask     *tensor.Tensor
	BoolAttnMask bool
	// NeedWeights asks for the attention weights as the second result:
	// averaged over the heads, (N, L, S), unless PerHeadWeights, then
	// (N, NumHeads, L, S), in either layout; S counts the appended keys.
	// (PyTorch's need_weights defaults to true; fovea computes them only
	// when asked.)
	NeedWeights    bool
	PerHeadWeights bool
}

// Forward is self-attention: Attend(x, x, x) with no masks, x: (N, L, E)
// or, with SequenceFirst, (L, N, E).
func (m *MultiheadAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	out, _ := m.Attend(x, x, x, AttentionOptions{})
	return out
}

// Attend attends from query: (N, L, E) to key: (N, S, kdim) and value:
// (N, S, vdim), returning the output (N, L, E) and, if opt.NeedWeights, the
// attention weights (else nil). With SequenceFirst the three inputs and the
// output are (L, N, ·) instead; unbatched inputs (L, E), (S, kdim),
// (S, vdim) give (L, E), a key padding mask (S) and weights without the N
// axis, as PyTorch. A row whose keys are all masked gives NaN, as in
// PyTorch.
func (m *MultiheadAttention) Attend(query, key, value *tensor.Tensor, opt AttentionOptions) (out, weights *tensor.Tensor) {
	if query.Dim() == 2 && key.Dim() == 2 && value.Dim() == 2 {
		// Unbatched: one sequence, N = 1 in the batch-first layout.
		if kp := opt.KeyPaddingMask; kp != nil && kp.Dim() == 1 {
			opt.KeyPaddingMask = tensor.Unsqueeze(kp, 0)
		}
		q := tensor.Unsqueeze(query, 0)
		k, v := q, q
		if key != query {
			k = tensor.Unsqueeze(key, 0)
		}
		if value == key {
			v = k
		} else if value != query {
			v = tensor.Unsqueeze(value, 0)
		}
		out, weights = m.attend(q, k, v, opt)
		out = tensor.Squeeze(out, 0)
		if weights != nil {
			weights = tensor.Squeeze(weights, 0)
		}
		return out, weights
	}
	if !m.SequenceFirst || query.Dim() != 3 || key.Dim() != 3 || value.Dim() != 3 {
		return m.attend(query, key, value, opt)
	}
	// (L, N, E) → (N, L, E), keeping self-attention's shared input shared.
	q := tensor.Transpose(query, 0, 1)
	k, v := q, q
	if key != query {
		k = tensor.Transpose(key, 0, 1)
	}
	if value == key {
		v = k
	} else if value != query {
		v = tensor.Transpose(value, 0, 1)
	}
	out, weights = m.attend(q, k, v, opt)
	return tensor.Transpose(out, 0, 1), weights
}

// attend is Attend on batch-first inputs.
func (m *MultiheadAttention) attend(query, key, value *tensor.Tensor, opt AttentionOptions) (out, weights *tensor.Tensor) {
	packed := m.InProjWeight != nil
	var e, kd, vd int
	if packed {
		e = m.InProjWeight.SizeOf(1)
		kd, vd = e, e
	} else {
		if m.QProjWeight == nil || m.KProjWeight == nil || m.VProjWeight == nil {
			panic("nn.MultiheadAttention: needs InProjWeight, or all of QProjWeight, KProjWeight and VProjWeight")
		}
		e, kd, vd = m.QProjWeight.SizeOf(1), m.KProjWeight.SizeOf(1), m.VProjWeight.SizeOf(1)
	}
	h := m.NumHeads
	if query.Dim() != 3 || key.Dim() != 3 || value.Dim() != 3 || query.SizeOf(2) != e || key.SizeOf(2) != kd || value.SizeOf(2) != vd ||
		key.SizeOf(0) != query.SizeOf(0) || value.SizeOf(0) != query.SizeOf(0) || key.SizeOf(1) != value.SizeOf(1) || h <= 0 || e%h != 0 {
		layout := "(N, L, E), (N, S, kdim), (N, S, vdim)"
		if m.SequenceFirst {
			layout = "(L, N, E), (S, N, kdim), (S, N, vdim) (batch-first shapes shown)"
		}
		panic(fmt.Sprintf("nn.MultiheadAttention: query %s, key %s, value %s with embed dim %d, kdim %d, vdim %d and %d heads: want %s",
			tensor.FormatShape(query.Shape()), tensor.FormatShape(key.Shape()), tensor.FormatShape(value.Shape()), e, kd, vd, h, layout))
	}
	n, l, s, d := query.SizeOf(0), query.SizeOf(1), key.SizeOf(1), e/h
	var q, k, v *tensor.Tensor
	if packed {
		win := m.InProjWeight
		if m.InProjDelta != nil {
			if dw := m.InProjDelta.DeltaWeight(); dw != nil {
				win = tensor.Add(win, dw)
			}
		}
		if query == key && key == value {
			qkv := Affine(query, win, m.InProjBias)
			parts := tensor.Split(qkv, -1, e, e, e)
			q, k, v = parts[0], parts[1], parts[2]
		} else {
			ws := tensor.Split(win, 0, e, e, e)
			bs := []*tensor.Tensor{nil, nil, nil}
			if m.InProjBias != nil {
				bs = tensor.Split(m.InProjBias, 0, e, e, e)
			}
			q = Affine(query, ws[0], bs[0])
			k = Affine(key, ws[1], bs[1])
			v = Affine(value, ws[2], bs[2])
		}
	} else {
		if m.InProjDelta != nil {
			panic("nn.MultiheadAttention: InProjDelta needs the packed InProjWeight (kdim = vdim = embed dim)")
		}
		bs := []*tensor.Tensor{nil, nil, nil}
		if m.InProjBias != nil {
			bs = tensor.Split(m.InProjBias, 0, e, e, e)
		}
		q = Affine(query, m.QProjWeight, bs[0])
		k = Affine(key, m.KProjWeight, bs[1])
		v = Affine(value, m.VProjWeight, bs[2])
	}
	// Extra keys: bias_k/bias_v, then zeros, appended to every sequence.
	extra := 0
	if m.BiasK != nil || m.BiasV != nil {
		if m.BiasK == nil || m.BiasV == nil || !tensor.SameShape(m.BiasK.Shape(), []int{1, 1, e}) || !tensor.SameShape(m.BiasV.Shape(), []int{1, 1, e}) {
			panic(fmt.Sprintf("nn.MultiheadAttention: BiasK and BiasV must both be (1, 1, %d)", e))
		}
		k = tensor.Cat([]*tensor.Tensor{k, tensor.Expand(m.BiasK, n, 1, e)}, 1)
		v = tensor.Cat([]*tensor.Tensor{v, tensor.Expand(m.BiasV, n, 1, e)}, 1)
		extra++
	}
	if m.AddZeroAttn {
		zero := tensor.Zeros(n, 1, e)
		k = tensor.Cat([]*tensor.Tensor{k, zero}, 1)
		v = tensor.Cat([]*tensor.Tensor{v, zero}, 1)
		extra++
	}
	sk := s + extra
	heads := func(t *tensor.Tensor, len int) *tensor.Tensor {
		return tensor.Permute(tensor.Reshape(t, n, len, h, d), 0, 2, 1, 3) // (N, H, len, D)
	}
	q, k, v = heads(q, l), heads(k, sk), heads(v, sk)
	scores := tensor.MatMul(tensor.MulScalar(q, float32(1/math.Sqrt(float64(d)))), tensor.Transpose(k, 2, 3)) // (N, H, L, S')
	if mask := m.attentionMask(n, l, s, sk, opt); mask != nil {
		scores = tensor.Add(scores, mask)
	}
	attn := tensor.Softmax(scores, -1)
	if m.Dropout > 0 && m.Training() {
		attn = functional.Dropout(attn, m.Dropout, true, m.Rng)
	}
	o := tensor.MatMul(attn, v)                                // (N, H, L, D)
	o = tensor.Reshape(tensor.Permute(o, 0, 2, 1, 3), n, l, e) // (N, L, E)
	out = m.OutProj.Forward(o)
	if opt.NeedWeights {
		weights = attn
		if !opt.PerHeadWeights {
			weights = tensor.Mean(attn, []int{1}, false)
		}
	}
	return out, weights
}

// attentionMask builds the additive mask (N, H, L, S') from the options, or
// nil when there is none. The masks given cover the S keys; the S' − S
// appended ones are never masked.
func (m *MultiheadAttention) attentionMask(n, l, s, sk int, opt AttentionOptions) *tensor.Tensor {
	if opt.AttnMask == nil && opt.KeyPaddingMask == nil {
		return nil
	}
	h := m.NumHeads
	mask := tensor.Zeros(n, h, l, sk)
	md := mask.Data()
	ninf := float32(math.Inf(-1))
	if am := opt.AttnMask; am != nil {
		var per int // elements per (n, h) block in am: 0 when shared
		switch {
		case tensor.SameShape(am.Shape(), []int{l, s}):
		case tensor.SameShape(am.Shape(), []int{n * h, l, s}):
			per = l * s
		default:
			panic(fmt.Sprintf("nn.MultiheadAttention: attention mask %s, want (%d, %d) or (%d, %d, %d)",
				tensor.FormatShape(am.Shape()), l, s, n*h, l, s))
		}
		ad := am.Data()
		for b := 0; b < n*h; b++ {
			for i := 0; i < l; i++ {
				src := ad[b*per+i*s : b*per+(i+1)*s]
				dst := md[(b*l+i)*sk : (b*l+i)*sk+s]
				for j, v := range src {
					if opt.BoolAttnMask {
						if v != 0 {
							dst[j] = ninf
						}
					} else {
						dst[j] = v
					}
				}
			}
		}
	}
	if kp := opt.KeyPaddingMask; kp != nil {
		if !tensor.SameShape(kp.Shape(), []int{n, s}) {
			panic(fmt.Sprintf("nn.MultiheadAttention: key padding mask %s, want (%d, %d)", tensor.FormatShape(kp.Shape()), n, s))
		}
		kd := kp.Data()
		for b := 0; b < n*h; b++ {
			row := kd[(b/h)*s : (b/h+1)*s]
			for i := 0; i < l; i++ {
				dst := md[(b*l+i)*sk : (b*l+i)*sk+s]
				for j, v := range row {
					if v != 0 {
						dst[j] = ninf
					}
				}
			}
		}
	}
	return mask
}
