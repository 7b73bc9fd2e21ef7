package sam

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// MaskDecoder predicts masks from an image embedding and prompt embeddings: an IoU token
// and M+1 mask tokens are prepended to the prompt tokens, a two-way transformer lets
// tokens and image attend to each other, the image side is upscaled ×4 by two transposed
// convolutions, and each mask token's hypernetwork MLP gives the weights that turn the
// upscaled embedding into one mask's logits; an MLP on the IoU token predicts each mask's
// quality. Mask 0 is the single-mask answer, masks 1…M the multimask answers.
type MaskDecoder struct {
	Transformer             *TwoWayTransformer
	IoUToken                *nn.Embedding `nn:"iou_token"` // (1, D)
	MaskTokens              *nn.Embedding // (M+1, D)
	OutputUpscaling         nn.Sequential // convT 2×2/2 D→D/4, LayerNorm2d, GELU, convT 2×2/2 D/4→D/8, GELU
	OutputHypernetworksMLPs []*MLP        `nn:"output_hypernetworks_mlps"`
	IoUPredictionHead       *MLP          `nn:"iou_prediction_head"`
}

// MLP is a stack of Linear layers with ReLU between them (the decoder's MLP).
type MLP struct {
	Layers []*nn.Linear
}

// Forward maps x: (…, in) to (…, out).
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	for i, l := range m.Layers {
		x = l.Forward(x)
		if i < len(m.Layers)-1 {
			x = functional.ReLU(x)
		}
	}
	return x
}

func newMLP(rng *rand.Rand, in, hidden, out, layers int) *MLP {
	m := &MLP{}
	for i := 0; i < layers; i++ {
		a, b := hidden, hidden
		if i == 0 {
			a = in
		}
		if i == layers-1 {
			b = out
		}
		m.Layers = append(m.Layers, nn.NewLinear(rng, a, b, true))
	}
	return m
}

func newMaskDecoder(rng *rand.Rand, c Config) *MaskDecoder {
	d := c.PromptEmbedDim
	m := &MaskDecoder{
		Transformer: newTwoWayTransformer(rng, c),
		IoUToken:    nn.NewEmbedding(rng, 1, d),
		MaskTokens:  nn.NewEmbedding(rng, c.NumMultimaskOutputs+1, d),
		OutputUpscaling: nn.NewSequential(
			nn.NewConvTranspose2d(rng, nn.ConvTranspose2dConfig{In: d, Out: d / 4, Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}),
			nn.NewLayerNorm2d(d/4),
			nn.GELU{},
			nn.NewConvTranspose2d(rng, nn.ConvTranspose2dConfig{In: d / 4, Out: d / 8, Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}),
			nn.GELU{},
		),
		IoUPredictionHead: newMLP(rng, d, c.IoUHeadHiddenDim, c.NumMultimaskOutputs+1, c.IoUHeadDepth),
	}
	for i := 0; i <= c.NumMultimaskOutputs; i++ {
		m.OutputHypernetworksMLPs = append(m.OutputHypernetworksMLPs, newMLP(rng, d, d, d/8, 3))
	}
	return m
}

// Forward decodes B prompts against the image embedding image: (1, D, G, G) shared by all
// prompts, or (B, D, G, G) one per prompt, with its positional encoding pe: (1, D, G, G),
// sparse prompt embeddings (B, T, D) and dense ones (B, D, G, G), or (1, D, G, G) shared
// by all prompts. A shared image with shared dense embeddings is processed once where the
// prompts do not yet differ (the first token-to-image attention's keys and values). It returns mask logits
// (B, K, 4G, 4G) and predicted IoUs (B, K), with K = M (masks 1…M) when multimask, else
// K = 1 (mask 0).
func (m *MaskDecoder) Forward(image, pe, sparse, dense *tensor.Tensor, multimask bool) (masks, iou *tensor.Tensor) {
	masks, iou = m.PredictMasks(image, pe, sparse, dense)
	k := masks.SizeOf(1)
	if multimask {
		return tensor.Narrow(masks, 1, 1, k-1), tensor.Narrow(iou, 1, 1, k-1)
	}
	return tensor.Narrow(masks, 1, 0, 1), tensor.Narrow(iou, 1, 0, 1)
}

// PredictMasks is Forward returning all M+1 masks (B, M+1, 4G, 4G) and IoUs (B, M+1).
func (m *MaskDecoder) PredictMasks(image, pe, sparse, dense *tensor.Tensor) (masks, iou *tensor.Tensor) {
	bs, d := sparse.SizeOf(0), sparse.SizeOf(2)
	if image.Dim() != 4 || image.SizeOf(1) != d || (image.SizeOf(0) != 1 && image.SizeOf(0) != bs) || dense.Dim() != 4 ||
		(dense.SizeOf(0) != 1 && dense.SizeOf(0) != bs) || !tensor.SameShape(dense.Shape()[1:], []int{d, image.SizeOf(2), image.SizeOf(3)}) {
		panic(fmt.Sprintf("sam.MaskDecoder: image embedding %s, sparse %s, dense %s: want (1 or B, D, G, G), (B, T, D), (1 or B, D, G, G)",
			shapeOf(image), shapeOf(sparse), shapeOf(dense)))
	}
	gh, gw := image.SizeOf(2), image.SizeOf(3)
	nm := m.MaskTokens.Weight.SizeOf(0)
	out := tensor.Cat([]*tensor.Tensor{m.IoUToken.Weight, m.MaskTokens.Weight}, 0) // (1+M+1, D)
	out = tensor.Expand(tensor.Unsqueeze(out, 0), bs, 1+nm, d)
	tokens := out
	if sparse.SizeOf(1) > 0 {
		tokens = tensor.Cat([]*tensor.Tensor{out, sparse}, 1)
	}
	src := tensor.Add(image, dense) // broadcasts a shared image over the batch
	hs, keys := m.Transformer.Forward(src, pe, tokens)
	iouOut := tensor.Reshape(tensor.Narrow(hs, 1, 0, 1), bs, d)
	maskOut := tensor.Narrow(hs, 1, 1, nm) // (B, M+1, D)
	img := tensor.Reshape(tensor.Transpose(keys, 1, 2), bs, d, gh, gw)
	up := m.OutputUpscaling.Forward(img) // (B, D/8, 4G, 4G)
	c8, uh, uw := up.SizeOf(1), up.SizeOf(2), up.SizeOf(3)
	hyper := make([]*tensor.Tensor, nm)
	for i := range hyper {
		hyper[i] = m.OutputHypernetworksMLPs[i].Forward(tensor.Reshape(tensor.Narrow(maskOut, 1, i, 1), bs, d))
	}
	hyperIn := tensor.Stack(hyper, 1) // (B, M+1, D/8)
	masks = tensor.Reshape(tensor.MatMul(hyperIn, tensor.Reshape(up, bs, c8, uh*uw)), bs, nm, uh, uw)
	iou = m.IoUPredictionHead.Forward(iouOut)
	return masks, iou
}

// TwoWayTransformer alternates token self-attention, token-to-image cross-attention, a
// token MLP and image-to-token cross-attention in each layer, then a final
// token-to-image attention; positional encodings are re-added to queries and keys at
// every attention.
type TwoWayTransformer struct {
	Layers                []*TwoWayAttentionBlock
	FinalAttnTokenToImage *DecoderAttention
	NormFinalAttn         *nn.LayerNorm
}

// TwoWayAttentionBlock is one layer of the TwoWayTransformer.
type TwoWayAttentionBlock struct {
	SelfAttn              *DecoderAttention
	Norm1                 *nn.LayerNorm
	CrossAttnTokenToImage *DecoderAttention
	Norm2                 *nn.LayerNorm
	MLP                   *MLPBlock `nn:"mlp"`
	Norm3                 *nn.LayerNorm
	Norm4                 *nn.LayerNorm
	CrossAttnImageToToken *DecoderAttention
	SkipFirstLayerPE      bool `nn:"-"`
}

// DecoderAttention is multi-head attention with separate q/k/v projections that may
// narrow the width to D / downsample rate (the decoder's Attention).
type DecoderAttention struct {
	QProj, KProj, VProj, OutProj *nn.Linear
	Heads                        int `nn:"-"`
}

func newDecoderAttention(rng *rand.Rand, d, heads, rate int) *DecoderAttention {
	in := d / rate
	return &DecoderAttention{
		QProj: nn.NewLinear(rng, d, in, true), KProj: nn.NewLinear(rng, d, in, true),
		VProj: nn.NewLinear(rng, d, in, true), OutProj: nn.NewLinear(rng, in, d, true), Heads: heads,
	}
}

func newTwoWayTransformer(rng *rand.Rand, c Config) *TwoWayTransformer {
	d, h, r := c.PromptEmbedDim, c.DecoderNumHeads, c.AttentionDownsampleRate
	t := &TwoWayTransformer{FinalAttnTokenToImage: newDecoderAttention(rng, d, h, r), NormFinalAttn: nn.NewLayerNorm(d)}
	for i := 0; i < c.DecoderDepth; i++ {
		t.Layers = append(t.Layers, &TwoWayAttentionBlock{
			SelfAttn:              newDecoderAttention(rng, d, h, 1),
			Norm1:                 nn.NewLayerNorm(d),
			CrossAttnTokenToImage: newDecoderAttention(rng, d, h, r),
			Norm2:                 nn.NewLayerNorm(d),
			MLP:                   &MLPBlock{Lin1: nn.NewLinear(rng, d, c.DecoderMLPDim, true), Lin2: nn.NewLinear(rng, c.DecoderMLPDim, d, true), ReLU: true},
			Norm3:                 nn.NewLayerNorm(d),
			Norm4:                 nn.NewLayerNorm(d),
			CrossAttnImageToToken: newDecoderAttention(rng, d, h, r),
			SkipFirstLayerPE:      i == 0,
		})
	}
	return t
}

// Forward runs the transformer on the image embedding image: (B, D, G, G) with its
// positional encoding pe: (B or 1, D, G, G) and the tokens (B, T, D); it returns the
// processed tokens (B, T, D) and image keys (B, G·G, D).
func (t *TwoWayTransformer) Forward(image, pe, tokens *tensor.Tensor) (queries, keys *tensor.Tensor) {
	keys = tensor.Permute(tensor.Flatten(image, 2, 3), 0, 2, 1)
	kpe := tensor.Permute(tensor.Flatten(pe, 2, 3), 0, 2, 1)
	queries = tokens
	for _, l := range t.Layers {
		queries, keys = l.Forward(queries, keys, tokens, kpe)
	}
	q := tensor.Add(queries, tokens)
	k := tensor.Add(keys, kpe)
	queries = tensor.Add(queries, t.FinalAttnTokenToImage.Forward(q, k, keys))
	return t.NormFinalAttn.Forward(queries), keys
}

// Forward runs one layer: queries (B, T, D), keys (B, N, D) with their positional
// encodings qpe (B, T, D) and kpe (B, N, D).
func (b *TwoWayAttentionBlock) Forward(queries, keys, qpe, kpe *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if b.SkipFirstLayerPE {
		queries = b.SelfAttn.Forward(queries, queries, queries)
	} else {
		q := tensor.Add(queries, qpe)
		queries = tensor.Add(queries, b.SelfAttn.Forward(q, q, queries))
	}
	queries = b.Norm1.Forward(queries)
	q := tensor.Add(queries, qpe)
	k := tensor.Add(keys, kpe)
	queries = b.Norm2.Forward(tensor.Add(queries, b.CrossAttnTokenToImage.Forward(q, k, keys)))
	queries = b.Norm3.Forward(tensor.Add(queries, b.MLP.Forward(queries)))
	q = tensor.Add(queries, qpe)
	keys = b.Norm4.Forward(tensor.Add(keys, b.CrossAttnImageToToken.Forward(k, q, queries)))
	return queries, keys
}

// Forward attends from q: (B, L, D) to k: (B, S, D) with values v: (B, S, D); result (B, L, D).
func (a *DecoderAttention) Forward(q, k, v *tensor.Tensor) *tensor.Tensor {
	q, k, v = a.QProj.Forward(q), a.KProj.Forward(k), a.VProj.Forward(v)
	var o *tensor.Tensor
	if tensor.AnyRequiresGrad(q, k, v) {
		// Broadcast a shared (batch 1) side to the other's batch.
		b := max(q.SizeOf(0), k.SizeOf(0))
		expand := func(t *tensor.Tensor) *tensor.Tensor {
			if t.SizeOf(0) == b {
				return t
			}
			return tensor.Expand(t, b, t.SizeOf(1), t.SizeOf(2))
		}
		o = decoderAttentionGraph(expand(q), expand(k), expand(v), a.Heads)
	} else {
		o = decoderAttentionFused(q, k, v, a.Heads)
	}
	return a.OutProj.Forward(o)
}

// decoderAttentionGraph is the attention core from differentiable tensor operations:
// q (B, L, C), k and v (B, S, C) projected; result (B, L, C) before the output projection.
func decoderAttentionGraph(q, k, v *tensor.Tensor, h int) *tensor.Tensor {
	b, l, s, c := q.SizeOf(0), q.SizeOf(1), k.SizeOf(1), q.SizeOf(2)
	d := c / h
	heads := func(t *tensor.Tensor, n int) *tensor.Tensor {
		return tensor.Transpose(tensor.Reshape(t, b, n, h, d), 1, 2) // (B, h, n, d)
	}
	q, k, v = heads(q, l), heads(k, s), heads(v, s)
	attn := tensor.MulScalar(tensor.MatMul(q, tensor.Transpose(k, 2, 3)), float32(1/math.Sqrt(float64(d))))
	attn = tensor.Softmax(attn, -1)
	return tensor.Reshape(tensor.Transpose(tensor.MatMul(attn, v), 1, 2), b, l, c)
}

// decoderAttentionFused is decoderAttentionGraph for inference, with no graph and no head
// permutes: each (batch, head) multiplies its strided columns of q, k and v directly.
// Either side may have batch 1 and be shared by the other's batch.
func decoderAttentionFused(q, k, v *tensor.Tensor, h int) *tensor.Tensor {
	l, s, c := q.SizeOf(1), k.SizeOf(1), q.SizeOf(2)
	b := max(q.SizeOf(0), k.SizeOf(0))
	// Batch strides: 0 for a shared side.
	stride := func(t *tensor.Tensor, per int) int {
		if t.SizeOf(0) == 1 {
			return 0
		}
		return per
	}
	sq, sk := stride(q, l*c), stride(k, s*c)
	d := c / h
	out := tensor.Empty(b, l, c)
	qd, kd, vd, od := q.Data(), k.Data(), v.Data(), out.Data()
	scale := float32(1 / math.Sqrt(float64(d)))
	cpu.Parallel(b*h, func(lo, hi int) {
		sc := make([]float32, l*s)
		for t := lo; t < hi; t++ {
			bi, hd := t/h, t%h
			cpu.Sgemm(false, true, l, s, d, scale, qd[bi*sq+hd*d:], c, kd[bi*sk+hd*d:], c, 0, sc, s)
			cpu.Softmax(sc, sc, l, s)
			cpu.Sgemm(false, false, l, d, s, 1, sc, s, vd[bi*sk+hd*d:], c, 0, od[bi*l*c+hd*d:], c)
		}
	})
	return out
}
