package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// MultiheadAttention is multi-head scaled dot-product attention
// (torch.nn.MultiheadAttention with batch_first=True and kdim = vdim =
// embed_dim):
//
//	Q = q·Wqᵀ + bq,  K = k·Wkᵀ + bk,  V = v·Wvᵀ + bv   (Wq, Wk, Wv: rows of InProjWeight)
//	head h: A_h = softmax(Q_h·K_hᵀ/√D + mask),  O_h = A_h·V_h   (D = E/NumHeads)
//	out = concat_h(O_h)·Woᵀ + bo                         (OutProj)
//
// State-dict names, as PyTorch: in_proj_weight (3E, E), in_proj_bias (3E)
// or nil, out_proj.weight (E, E), out_proj.bias (E) or nil. Dropout on the
// attention weights applies in training mode only, drawn from Rng.
type MultiheadAttention struct {
	TrainMode
	InProjWeight *tensor.Tensor
	InProjBias   *tensor.Tensor
	OutProj      *Linear
	NumHeads     int
	Dropout      float32
	Rng          *rand.Rand `nn:"-"`
	// InProjDelta, when set, supplies ΔW added to InProjWeight for each
	// forward pass (see WeightDelta); not saved. OutProj is a Linear and
	// has its own Delta.
	InProjDelta WeightDelta `nn:"-"`
}

// NewMultiheadAttention returns attention over embed-dimensional tokens
// with heads heads (embed must be divisible by heads), initialised as
// PyTorch: in_proj_weight Xavier-uniform, out_proj.weight
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

// AttentionOptions are the optional inputs of MultiheadAttention.Attend.
type AttentionOptions struct {
	// KeyPaddingMask (N, S) marks with a nonzero value the keys to ignore
	// (PyTorch's boolean key_padding_mask, True = ignore).
	KeyPaddingMask *tensor.Tensor
	// AttnMask (L, S) or (N·NumHeads, L, S) is added to the attention
	// scores (PyTorch's float attn_mask; use −Inf to forbid), or with
	// BoolAttnMask set, nonzero entries forbid attending (PyTorch's
	// boolean attn_mask, True = not allowed).
	AttnMask     *tensor.Tensor
	BoolAttnMask bool
	// NeedWeights asks for the attention weights as the second result:
	// averaged over the heads, (N, L, S), unless PerHeadWeights, then
	// (N, NumHeads, L, S). (PyTorch's need_weights defaults to true; fovea
	// computes them only when asked.)
	NeedWeights    bool
	PerHeadWeights bool
}

// Forward is self-attention: Attend(x, x, x) with no masks, x: (N, L, E).
func (m *MultiheadAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	out, _ := m.Attend(x, x, x, AttentionOptions{})
	return out
}

// Attend attends from query: (N, L, E) to key: (N, S, E) and value:
// (N, S, E), returning the output (N, L, E) and, if opt.NeedWeights, the
// attention weights (else nil). A row whose keys are all masked gives NaN,
// as in PyTorch.
func (m *MultiheadAttention) Attend(query, key, value *tensor.Tensor, opt AttentionOptions) (out, weights *tensor.Tensor) {
	e := m.InProjWeight.SizeOf(1)
	h := m.NumHeads
	if query.Dim() != 3 || key.Dim() != 3 || value.Dim() != 3 || query.SizeOf(2) != e || key.SizeOf(2) != e || value.SizeOf(2) != e ||
		key.SizeOf(0) != query.SizeOf(0) || value.SizeOf(0) != query.SizeOf(0) || key.SizeOf(1) != value.SizeOf(1) || h <= 0 || e%h != 0 {
		panic(fmt.Sprintf("nn.MultiheadAttention: query %s, key %s, value %s with embed dim %d and %d heads: want (N, L, E), (N, S, E), (N, S, E)",
			tensor.FormatShape(query.Shape()), tensor.FormatShape(key.Shape()), tensor.FormatShape(value.Shape()), e, h))
	}
	n, l, s, d := query.SizeOf(0), query.SizeOf(1), key.SizeOf(1), e/h
	win := m.InProjWeight
	if m.InProjDelta != nil {
		if dw := m.InProjDelta.DeltaWeight(); dw != nil {
			win = tensor.Add(win, dw)
		}
	}
	var q, k, v *tensor.Tensor
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
	heads := func(t *tensor.Tensor, len int) *tensor.Tensor {
		return tensor.Permute(tensor.Reshape(t, n, len, h, d), 0, 2, 1, 3) // (N, H, len, D)
	}
	q, k, v = heads(q, l), heads(k, s), heads(v, s)
	scores := tensor.MatMul(tensor.MulScalar(q, float32(1/math.Sqrt(float64(d)))), tensor.Transpose(k, 2, 3)) // (N, H, L, S)
	if mask := m.attentionMask(n, l, s, opt); mask != nil {
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

// attentionMask builds the additive mask (N, H, L, S) from the options, or
// nil when there is none.
func (m *MultiheadAttention) attentionMask(n, l, s int, opt AttentionOptions) *tensor.Tensor {
	if opt.AttnMask == nil && opt.KeyPaddingMask == nil {
		return nil
	}
	h := m.NumHeads
	mask := tensor.Zeros(n, h, l, s)
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
			src := ad[b*per : b*per+l*s]
			dst := md[b*l*s : (b+1)*l*s]
			for i, v := range src {
				if opt.BoolAttnMask {
					if v != 0 {
						dst[i] = ninf
					}
				} else {
					dst[i] = v
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
				dst := md[(b*l+i)*s : (b*l+i+1)*s]
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
