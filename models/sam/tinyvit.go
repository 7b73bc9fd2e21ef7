package sam

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// tinyViTMarker is the tensor whose presence marks a TinyViT (MobileSAM) checkpoint.
const tinyViTMarker = "image_encoder.patch_embed.seq.0.c.weight"

// TinyViT is MobileSAM's image encoder (Zhang et al., "Faster Segment Anything: Towards
// Lightweight SAM for Mobile Applications", 2023; ChaoningZhang/MobileSAM,
// tiny_vit_sam.py): a TinyViT (Wu et al., ECCV 2022) whose last stage keeps the third's
// resolution, ending in SAM's neck. It maps normalised images (B, 3, H, W) to embeddings
// (B, D, H/16, W/16): a convolutional stem (/4), a stage of MBConv blocks, three stages of
// windowed-attention blocks with PatchMerging between the stages (/2, /2 and ×1), and the
// neck (conv 1×1, LayerNorm2d, conv 3×3, LayerNorm2d). The reference accepts only
// ImageSize² inputs (its stage resolutions are fixed when it is built); this one follows
// the input, for any H and W that are multiples of 16.
//
// State-dict names (those of mobile_sam.pt, under image_encoder.):
//
//	patch_embed.seq.{0,2}.{c.weight, bn.*}                       two 3×3/2 Conv2d_BN, GELU between
//	layers.0.blocks.{j}.conv{1,2,3}.{c,bn}.*                     MBConv blocks
//	layers.{i}.downsample.conv{1,2,3}.{c,bn}.*                   PatchMerging (i < 3)
//	layers.{i}.blocks.{j}.attn.attention_biases (heads, ws²)     i ≥ 1: TinyViT blocks
//	layers.{i}.blocks.{j}.attn.{norm,qkv,proj}.{weight,bias}
//	layers.{i}.blocks.{j}.local_conv.{c,bn}.*, .mlp.{norm,fc1,fc2}.{weight,bias}
//	norm_head.{weight,bias}, head.{weight,bias}                  the classifier (unused)
//	neck.{0,2}.weight, neck.{1,3}.{weight,bias}                  as SAM's
//
// where bn.* is weight, bias, running_mean, running_var, num_batches_tracked.
//
// New builds it in evaluation mode (BatchNorm with running statistics, as the reference
// after eval()). With no gradient needed, each convolution runs with its BatchNorm folded
// into weights and bias computed on the fly, GELU applied in place, and the attention of
// each window and head fused (scores, bias, softmax and values in one pass); Forward on
// the whole encoder then also keeps its intermediate maps in pooled scratch buffers.
// Otherwise (training, or gradients for attribution) every step is a differentiable
// tensor operation.
type TinyViT struct {
	PatchEmbed TinyPatchEmbed
	Layers     []TinyViTStage // *ConvLayer, then *BasicLayer
	NormHead   *nn.LayerNorm  // the ImageNet classifier's norm: in the checkpoint, unused
	Head       *nn.Linear     // the classifier (nil when Config.TinyViTNumClasses is 0): unused
	Neck       nn.Sequential  // conv 1×1 C→D (no bias), LayerNorm2d, conv 3×3 D→D (no bias), LayerNorm2d
}

// TinyViTStage is one stage of a TinyViT: *ConvLayer or *BasicLayer. Forward maps a
// feature map (B, C, H, W) to the next stage's input (B, C', H', W').
type TinyViTStage interface {
	nn.Module
	forwardSteps(x *tensor.Tensor, step func()) *tensor.Tensor
}

// Conv2dBN is a convolution without bias followed by BatchNorm2d (the reference's
// Conv2d_BN, a Sequential of c and bn). FoldBatchNorm merges bn into c.
type Conv2dBN struct {
	C  *nn.Conv2d
	BN *nn.BatchNorm2d // nil once folded into C
}

// TinyPatchEmbed is the stem: Conv2dBN 3×3/2 (3 → C0/2), GELU, Conv2dBN 3×3/2 (→ C0).
type TinyPatchEmbed struct {
	Seq nn.Sequential
}

// MBConv is an inverted residual block: 1×1 expansion, GELU, 3×3 depthwise, GELU, 1×1
// projection, plus the input, GELU.
type MBConv struct {
	Conv1 *Conv2dBN
	Conv2 *Conv2dBN
	Conv3 *Conv2dBN
}

// PatchMerging moves to the next stage: 1×1 to the new width, GELU, 3×3 depthwise with
// stride 2 (1 into the fourth stage), GELU, 1×1.
type PatchMerging struct {
	Conv1 *Conv2dBN
	Conv2 *Conv2dBN
	Conv3 *Conv2dBN
}

// ConvLayer is the first stage: MBConv blocks, then PatchMerging.
type ConvLayer struct {
	Blocks     []*MBConv
	Downsample *PatchMerging
}

// BasicLayer is an attention stage: TinyViT blocks, then PatchMerging (none in the last).
type BasicLayer struct {
	Blocks     []*TinyViTBlock
	Downsample *PatchMerging
}

// TinyViTBlock is x + Attn(x) over windows, then LocalConv (3×3 depthwise Conv2dBN, no
// residual), then + MLP. Windows are WindowSize squares of the zero-padded map
// (padding at the bottom and right, attended to like any token, as the reference).
type TinyViTBlock struct {
	Attn       *TinyAttention
	MLP        *TinyMLP `nn:"mlp"`
	LocalConv  *Conv2dBN
	WindowSize int `nn:"-"`
}

// TinyAttention is LeViT-style attention within a window: LayerNorm, qkv (per head
// q, k, v side by side), softmax(q·kᵀ/√d + B[h, offset(i, j)])·v, projection. B is
// attention_biases, one learned value per head and per distinct offset (|Δy|, |Δx|)
// between two cells of the window, numbered as the reference does (attention_bias_idxs,
// not stored in the checkpoint).
type TinyAttention struct {
	AttentionBiases *tensor.Tensor // (heads, offsets): offsets = window² for a square window
	Norm            *nn.LayerNorm
	QKV             *nn.Linear // C → 3C
	Proj            *nn.Linear // C → C
	Heads           int        `nn:"-"`
	biasIdx         []int32    // (N, N) offset numbers, N = window²
}

// TinyMLP is LayerNorm → Linear → GELU → Linear.
type TinyMLP struct {
	Norm *nn.LayerNorm
	FC1  *nn.Linear `nn:"fc1"`
	FC2  *nn.Linear `nn:"fc2"`
}

// newTinyViT builds the encoder of cfg with the reference's initialisation (linear
// weights trunc-normal with std 0.02 and zero biases, zero attention biases, the MBConv
// projections' BatchNorm scale 0), in evaluation mode.
func newTinyViT(rng *rand.Rand, cfg Config) *TinyViT {
	dims, depths := cfg.TinyViTEmbedDims, cfg.TinyViTDepths
	linear := func(in, out int) *nn.Linear {
		l := nn.NewLinear(rng, in, out, true)
		nn.TruncNormal(rng, l.Weight, 0, 0.02, -2, 2)
		nn.Zeros(l.Bias)
		return l
	}
	e := &TinyViT{
		PatchEmbed: TinyPatchEmbed{Seq: nn.NewSequential(
			newConv2dBN(rng, 3, dims[0]/2, 3, 2, 1), nn.GELU{}, newConv2dBN(rng, dims[0]/2, dims[0], 3, 2, 1))},
	}
	merge := func(i int) *PatchMerging {
		if i == len(dims)-1 {
			return nil
		}
		out, stride := dims[i+1], 2
		if i+1 == len(dims)-1 {
			// The reference decides by the output width (320, 448 or 576: the last
			// stage of every TinyViT size); its stage resolutions are fixed by position.
			stride = 1
		}
		return &PatchMerging{
			Conv1: newConv2dBN(rng, dims[i], out, 1, 1, 1),
			Conv2: newConv2dBN(rng, out, out, 3, stride, out),
			Conv3: newConv2dBN(rng, out, out, 1, 1, 1),
		}
	}
	stem := &ConvLayer{Downsample: merge(0)}
	hidden := int(float64(dims[0]) * cfg.TinyViTMBConvExpandRatio)
	for j := 0; j < depths[0]; j++ {
		b := &MBConv{
			Conv1: newConv2dBN(rng, dims[0], hidden, 1, 1, 1),
			Conv2: newConv2dBN(rng, hidden, hidden, 3, 1, hidden),
			Conv3: newConv2dBN(rng, hidden, dims[0], 1, 1, 1),
		}
		nn.Zeros(b.Conv3.BN.Weight)
		stem.Blocks = append(stem.Blocks, b)
	}
	e.Layers = append(e.Layers, stem)
	for i := 1; i < len(dims); i++ {
		dim, heads, win := dims[i], cfg.TinyViTNumHeads[i], cfg.TinyViTWindowSizes[i]
		l := &BasicLayer{Downsample: merge(i)}
		mlp := int(float64(dim) * cfg.TinyViTMLPRatio)
		k := cfg.TinyViTLocalConvSize
		for j := 0; j < depths[i]; j++ {
			idx, offsets := attentionBiasIndex(win, win)
			l.Blocks = append(l.Blocks, &TinyViTBlock{
				Attn: &TinyAttention{
					AttentionBiases: tensor.Zeros(heads, offsets).SetRequiresGrad(true),
					Norm:            nn.NewLayerNorm(dim), QKV: linear(dim, 3*dim), Proj: linear(dim, dim),
					Heads: heads, biasIdx: idx,
				},
				MLP:        &TinyMLP{Norm: nn.NewLayerNorm(dim), FC1: linear(dim, mlp), FC2: linear(mlp, dim)},
				LocalConv:  newConv2dBNPad(rng, dim, dim, k, 1, k/2, dim),
				WindowSize: win,
			})
		}
		e.Layers = append(e.Layers, l)
	}
	last := dims[len(dims)-1]
	e.NormHead = nn.NewLayerNorm(last)
	if cfg.TinyViTNumClasses > 0 {
		e.Head = linear(last, cfg.TinyViTNumClasses)
	}
	d := cfg.PromptEmbedDim
	e.Neck = nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: last, Out: d, Kernel: [2]int{1, 1}, NoBias: true}),
		nn.NewLayerNorm2d(d),
		nn.NewConv2d(rng, nn.Conv2dConfig{In: d, Out: d, Kernel: [2]int{3, 3}, Padding: [2]int{1, 1}, NoBias: true}),
		nn.NewLayerNorm2d(d),
	)
	nn.Eval(e)
	return e
}

// newConv2dBN is a k×k Conv2dBN padded by k/2 (the reference's pad=1 for its 3×3
// convolutions, 0 for its 1×1).
func newConv2dBN(rng *rand.Rand, in, out, k, stride, groups int) *Conv2dBN {
	return newConv2dBNPad(rng, in, out, k, stride, k/2, groups)
}

func newConv2dBNPad(rng *rand.Rand, in, out, k, stride, pad, groups int) *Conv2dBN {
	return &Conv2dBN{
		C: nn.NewConv2d(rng, nn.Conv2dConfig{In: in, Out: out, Kernel: nn.Pair(k), Stride: nn.Pair(stride),
			Padding: nn.Pair(pad), Groups: groups, NoBias: true}),
		BN: nn.NewBatchNorm2d(out),
	}
}

// attentionBiasIndex numbers the offsets (|Δy|, |Δx|) between the cells of an h×w
// window in order of first appearance, scanning query and key cells row-major (the
// reference's attention_bias_idxs); it returns the (N, N) numbers and how many offsets
// there are (h·w for any window: the first query row alone meets every offset).
func attentionBiasIndex(h, w int) ([]int32, int) {
	n := h * w
	idx := make([]int32, n*n)
	seen := map[[2]int]int32{}
	for p := 0; p < n; p++ {
		for q := 0; q < n; q++ {
			dy, dx := p/w-q/w, p%w-q%w
			off := [2]int{max(dy, -dy), max(dx, -dx)}
			k, ok := seen[off]
			if !ok {
				k = int32(len(seen))
				seen[off] = k
			}
			idx[p*n+q] = k
		}
	}
	return idx, len(seen)
}

// Forward encodes x: (B, 3, H, W) into (B, D, H/16, W/16).
func (e *TinyViT) Forward(x *tensor.Tensor) *tensor.Tensor { return e.ForwardProgress(x, nil) }

// ForwardProgress is Forward calling progress(done, total) after the stem, after each
// block (MBConv or attention) and after the neck (total = blocks + 2); progress may be nil.
func (e *TinyViT) ForwardProgress(x *tensor.Tensor, progress func(done, total int)) *tensor.Tensor {
	if x.Dim() != 4 || x.SizeOf(1) != 3 || x.SizeOf(2)%16 != 0 || x.SizeOf(3)%16 != 0 {
		panic(fmt.Sprintf("sam.TinyViT: input %s, want (B, 3, H, W) with H and W multiples of 16", tensor.FormatShape(x.Shape())))
	}
	total, done := 2, 0
	for _, l := range e.Layers {
		switch l := l.(type) {
		case *ConvLayer:
			total += len(l.Blocks)
		case *BasicLayer:
			total += len(l.Blocks)
		}
	}
	step := func() {
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	if e.inferenceOnly(x) {
		return e.forwardInference(x, step)
	}
	h := e.PatchEmbed.Forward(x)
	step()
	for _, l := range e.Layers {
		h = l.forwardSteps(h, step)
	}
	out := e.Neck.Forward(h)
	step()
	return out
}

// FoldBatchNorm folds every Conv2dBN's BatchNorm into its convolution (the reference's
// Conv2d_BN.fuse). The model then computes the same function with fewer operations in
// its differentiable path (inference already folds on the fly), but its state dict names
// c.weight and c.bias instead of c.weight and bn.*, so the official checkpoint no longer
// loads into it. It uses the running statistics, whatever the training mode.
func (e *TinyViT) FoldBatchNorm() {
	for _, m := range nn.NamedModules(e) {
		if c, ok := m.Module.(*Conv2dBN); ok {
			c.FoldBatchNorm()
		}
	}
}

// FoldBatchNorm merges BN into C: C.Weight·s and bias BN.Bias + (C.Bias − mean)·s with
// s = BN.Weight / √(running_var + eps); BN becomes nil.
func (m *Conv2dBN) FoldBatchNorm() {
	if m.BN == nil {
		return
	}
	w, b := m.folded()
	grad := m.C.Weight.RequiresGrad()
	m.C.Weight = tensor.New(w, m.C.Weight.Shape()...).SetRequiresGrad(grad)
	m.C.Bias = tensor.New(b, len(b)).SetRequiresGrad(grad)
	m.BN = nil
}

// folded returns the weight and bias of C with BN (running statistics) folded in.
func (m *Conv2dBN) folded() (w, b []float32) {
	cw := m.C.Weight.Data()
	cout := m.C.Weight.SizeOf(0)
	b = make([]float32, cout)
	if m.C.Bias != nil {
		copy(b, m.C.Bias.Data())
	}
	if m.BN == nil {
		return cw, b
	}
	w = make([]float32, len(cw))
	k := len(cw) / cout
	mean, vr := m.BN.RunningMean.Data(), m.BN.RunningVar.Data()
	for c := 0; c < cout; c++ {
		s := 1 / math.Sqrt(float64(vr[c])+m.BN.Eps)
		if m.BN.Weight != nil {
			s *= float64(m.BN.Weight.Data()[c])
		}
		shift := 0.0
		if m.BN.Bias != nil {
			shift = float64(m.BN.Bias.Data()[c])
		}
		b[c] = float32(shift + (float64(b[c])-float64(mean[c]))*s)
		for i, v := range cw[c*k : (c+1)*k] {
			w[c*k+i] = float32(float64(v) * s)
		}
	}
	return w, b
}

// Forward maps x: (B, Cin, H, W) to (B, Cout, OH, OW).
func (m *Conv2dBN) Forward(x *tensor.Tensor) *tensor.Tensor { return m.forward(x, false) }

// graph reports whether the differentiable path is needed: some input or parameter needs
// a gradient, BatchNorm is in training mode or has no running statistics, or the
// convolution pads other than with zeros.
func (m *Conv2dBN) graph(x *tensor.Tensor) bool {
	c := m.C
	if tensor.AnyRequiresGrad(x, c.Weight, c.Bias) || c.PaddingSame || c.PaddingMode != nn.PadZeros {
		return true
	}
	bn := m.BN
	return bn != nil && (tensor.AnyRequiresGrad(bn.Weight, bn.Bias) || bn.Training() || bn.RunningMean == nil || bn.RunningVar == nil)
}

// forward is Forward followed by GELU when gelu is set.
func (m *Conv2dBN) forward(x *tensor.Tensor, gelu bool) *tensor.Tensor {
	if m.graph(x) {
		y := m.C.Forward(x)
		if m.BN != nil {
			y = m.BN.Forward(y)
		}
		if gelu {
			y = functional.GELU(y, functional.GELUExact)
		}
		return y
	}
	if x.Dim() != 4 {
		panic(fmt.Sprintf("sam.Conv2dBN: input %s, want (N, C, H, W)", tensor.FormatShape(x.Shape())))
	}
	c := m.C
	p := cpu.ConvParams{
		N: x.SizeOf(0), C: x.SizeOf(1), H: x.SizeOf(2), W: x.SizeOf(3),
		Cout: c.Weight.SizeOf(0), KH: c.Weight.SizeOf(2), KW: c.Weight.SizeOf(3),
		StrideH: c.Stride[0], StrideW: c.Stride[1], PadH: c.Padding[0], PadW: c.Padding[1],
		DilH: c.Dilation[0], DilW: c.Dilation[1], Groups: max(c.Groups, 1),
	}
	if p.C%p.Groups != 0 || c.Weight.SizeOf(1) != p.C/p.Groups {
		panic(fmt.Sprintf("sam.Conv2dBN: input %s for weight %s with %d groups", tensor.FormatShape(x.Shape()), tensor.FormatShape(c.Weight.Shape()), p.Groups))
	}
	w, b := m.folded()
	y := tensor.Empty(p.N, p.Cout, p.OutH(), p.OutW())
	cpu.Conv2dForward(p, x.Data(), w, b, y.Data())
	if gelu {
		cpu.GELU(y.Data(), y.Data())
	}
	return y
}

// Forward maps images (B, 3, H, W) to (B, C0, H/4, W/4).
func (p TinyPatchEmbed) Forward(x *tensor.Tensor) *tensor.Tensor {
	if len(p.Seq) == 3 {
		c0, ok0 := p.Seq[0].(*Conv2dBN)
		_, gelu := p.Seq[1].(nn.GELU)
		c2, ok2 := p.Seq[2].(*Conv2dBN)
		if ok0 && gelu && ok2 && p.Seq[1].(nn.GELU).Approximate == functional.GELUExact {
			return c2.forward(c0.forward(x, true), false)
		}
	}
	return p.Seq.Forward(x)
}

// addGELU returns GELU(y + x), in place in y when no gradient is needed (y must then be
// a fresh result of the caller's).
func addGELU(y, x *tensor.Tensor) *tensor.Tensor {
	if tensor.AnyRequiresGrad(y, x) {
		return functional.GELU(tensor.Add(y, x), functional.GELUExact)
	}
	addInPlace(y, x)
	cpu.GELU(y.Data(), y.Data())
	return y
}

// addInPlace adds x into y (same shapes).
func addInPlace(y, x *tensor.Tensor) {
	if !tensor.SameShape(y.Shape(), x.Shape()) {
		panic(fmt.Sprintf("sam: adding %s to %s", tensor.FormatShape(x.Shape()), tensor.FormatShape(y.Shape())))
	}
	yd, xd := y.Data(), x.Data()
	cpu.ParallelGrain(len(yd), 1<<15, func(lo, hi int) {
		ys, xs := yd[lo:hi], xd[lo:hi]
		for i := range ys {
			ys[i] += xs[i]
		}
	})
}

// residual returns x + y, in place in y when no gradient is needed (y must then be a
// fresh result of the caller's).
func residual(x, y *tensor.Tensor) *tensor.Tensor {
	if tensor.AnyRequiresGrad(y, x) {
		return tensor.Add(x, y)
	}
	addInPlace(y, x)
	return y
}

// Forward maps x: (B, C, H, W) to (B, C, H, W).
func (m *MBConv) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.Conv1.forward(x, true)
	h = m.Conv2.forward(h, true)
	return addGELU(m.Conv3.forward(h, false), x)
}

// Forward maps x: (B, C, H, W) to (B, C', H/s, W/s).
func (m *PatchMerging) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.Conv1.forward(x, true)
	h = m.Conv2.forward(h, true)
	return m.Conv3.forward(h, false)
}

// Forward maps x: (B, C, H, W) to the next stage's input.
func (l *ConvLayer) Forward(x *tensor.Tensor) *tensor.Tensor { return l.forwardSteps(x, func() {}) }

func (l *ConvLayer) forwardSteps(x *tensor.Tensor, step func()) *tensor.Tensor {
	for _, b := range l.Blocks {
		x = b.Forward(x)
		step()
	}
	if l.Downsample != nil {
		x = l.Downsample.Forward(x)
	}
	return x
}

// Forward maps x: (B, C, H, W) to the next stage's input (or the last stage's output).
func (l *BasicLayer) Forward(x *tensor.Tensor) *tensor.Tensor { return l.forwardSteps(x, func() {}) }

func (l *BasicLayer) forwardSteps(x *tensor.Tensor, step func()) *tensor.Tensor {
	t := tensor.Permute(x, 0, 2, 3, 1) // tokens (B, H, W, C)
	for _, b := range l.Blocks {
		t = b.Forward(t)
		step()
	}
	x = tensor.Permute(t, 0, 3, 1, 2)
	if l.Downsample != nil {
		x = l.Downsample.Forward(x)
	}
	return x
}

// Forward maps tokens x: (B, H, W, C) to (B, H, W, C).
func (b *TinyViTBlock) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = residual(x, b.Attn.forwardWindows(x, b.WindowSize))
	c := b.LocalConv.forward(tensor.Permute(x, 0, 3, 1, 2), false)
	x = tensor.Permute(c, 0, 2, 3, 1)
	return residual(x, b.MLP.Forward(x))
}

// Forward maps x: (…, C) to (…, C).
func (m *TinyMLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.FC1.Forward(m.Norm.Forward(x))
	if h.RequiresGrad() {
		h = functional.GELU(h, functional.GELUExact)
	} else {
		cpu.GELU(h.Data(), h.Data())
	}
	return m.FC2.Forward(h)
}

// Forward attends within x: (B, S, S, C), one window of side S (the table's).
func (a *TinyAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	return a.forwardWindows(x, x.SizeOf(1))
}

// forwardWindows maps tokens x: (B, H, W, C) to the attention output (B, H, W, C) over
// win×win windows of the map padded with zero tokens at the bottom and right (which are
// normalised and attended to like the others, as the reference).
func (a *TinyAttention) forwardWindows(x *tensor.Tensor, win int) *tensor.Tensor {
	h, w, c := x.SizeOf(1), x.SizeOf(2), x.SizeOf(3)
	n := win * win
	if len(a.biasIdx) != n*n {
		panic(fmt.Sprintf("sam.TinyAttention: bias index for %d cells, window %d×%d", int(math.Sqrt(float64(len(a.biasIdx)))), win, win))
	}
	t, ph, pw := x, h, w
	if h != win || w != win {
		t, ph, pw = windowPartition(x, win)
	}
	qkv := a.QKV.Forward(a.Norm.Forward(t)) // (Bw, win, win, 3C)
	bw := qkv.SizeOf(0)
	var o *tensor.Tensor
	if tensor.AnyRequiresGrad(qkv, a.AttentionBiases) {
		o = a.graphCore(qkv, bw, n, c)
	} else {
		o = a.fusedCore(qkv, bw, n, c)
	}
	o = tensor.Reshape(o, bw, win, win, c)
	if h != win || w != win {
		o = windowUnpartition(o, win, ph, pw, h, w)
	}
	return a.Proj.Forward(o)
}

// biasTable returns B[h, idx[i, j]] as (heads, N, N) values.
func (a *TinyAttention) biasTable(n int) []float32 {
	heads, offs := a.AttentionBiases.SizeOf(0), a.AttentionBiases.SizeOf(1)
	src := a.AttentionBiases.Data()
	out := make([]float32, heads*n*n)
	for hd := 0; hd < heads; hd++ {
		row := src[hd*offs : (hd+1)*offs]
		dst := out[hd*n*n : (hd+1)*n*n]
		for i, k := range a.biasIdx {
			dst[i] = row[k]
		}
	}
	return out
}

// fusedCore is the attention of every window and head without a graph: qkv (Bw, N, 3C)
// → (Bw, N, C). The scores start as the bias table and gain scale·q·kᵀ in one GEMM
// straight out of the qkv rows (no head permutes), then softmax and ·v into the output
// columns of the head.
func (a *TinyAttention) fusedCore(qkv *tensor.Tensor, bw, n, c int) *tensor.Tensor {
	out := tensor.Empty(bw, n, c)
	windowAttention(qkv.Data(), out.Data(), bw, n, c, a.Heads, a.biasTable(n))
	return out
}

// windowAttention is the attention core on raw slices: qkv (Bw, N, 3C) with each head's
// q, k, v side by side, bias (heads, N, N), out (Bw, N, C).
func windowAttention(src, dst []float32, bw, n, c, heads int, bias []float32) {
	d := c / heads
	scale := float32(1 / math.Sqrt(float64(d)))
	ld := 3 * c
	cpu.Parallel(bw*heads, func(lo, hi int) {
		s := make([]float32, n*n)
		for t := lo; t < hi; t++ {
			wi, hd := t/heads, t%heads
			base := wi*n*ld + hd*3*d
			copy(s, bias[hd*n*n:(hd+1)*n*n])
			cpu.Sgemm(false, true, n, n, d, scale, src[base:], ld, src[base+d:], ld, 1, s, n)
			cpu.Softmax(s, s, n, n)
			cpu.Sgemm(false, false, n, d, n, 1, s, n, src[base+2*d:], ld, 0, dst[wi*n*c+hd*d:], c)
		}
	})
}

// graphCore is fusedCore from differentiable tensor operations (the reference's order:
// (q·kᵀ)·scale + bias, softmax, ·v).
func (a *TinyAttention) graphCore(qkv *tensor.Tensor, bw, n, c int) *tensor.Tensor {
	heads := a.Heads
	d := c / heads
	t := tensor.Permute(tensor.Reshape(qkv, bw, n, heads, 3*d), 0, 2, 1, 3) // (Bw, heads, N, 3d)
	parts := tensor.Split(t, 3, d, d, d)
	q := tensor.Reshape(parts[0], bw*heads, n, d)
	k := tensor.Reshape(parts[1], bw*heads, n, d)
	v := tensor.Reshape(parts[2], bw*heads, n, d)
	scale := float32(1 / math.Sqrt(float64(d)))
	attn := tensor.MulScalar(tensor.MatMul(q, tensor.Transpose(k, 1, 2)), scale)
	idx := make([]float32, len(a.biasIdx))
	for i, k := range a.biasIdx {
		idx[i] = float32(k)
	}
	bias := tensor.Reshape(tensor.IndexSelect(a.AttentionBiases, 1, tensor.FromSlice(idx, len(idx))), heads, n, n)
	attn = tensor.Add(tensor.Reshape(attn, bw, heads, n, n), bias)
	attn = tensor.Softmax(tensor.Reshape(attn, bw*heads, n, n), -1)
	o := tensor.Reshape(tensor.MatMul(attn, v), bw, heads, n, d)
	return tensor.Reshape(tensor.Permute(o, 0, 2, 1, 3), bw, n, c)
}

// validateTinyViT checks the tiny_vit_* fields.
func (c Config) validateTinyViT() error {
	if c.PatchSize != 16 {
		return fmt.Errorf("sam config: patch_size %d with encoder %q, want 16 (TinyViT's embedding is image_size/16)", c.PatchSize, EncoderTinyViT)
	}
	for _, f := range []struct {
		name string
		v    []int
	}{
		{"tiny_vit_embed_dims", c.TinyViTEmbedDims}, {"tiny_vit_depths", c.TinyViTDepths},
		{"tiny_vit_num_heads", c.TinyViTNumHeads}, {"tiny_vit_window_sizes", c.TinyViTWindowSizes},
	} {
		if len(f.v) != 4 {
			return fmt.Errorf("sam config: %s has %d values, want 4 (one per stage)", f.name, len(f.v))
		}
		for i, v := range f.v {
			if v < 1 {
				return fmt.Errorf("sam config: %s[%d] = %d, want at least 1", f.name, i, v)
			}
		}
	}
	dims := c.TinyViTEmbedDims
	switch {
	case dims[0] < 2:
		return fmt.Errorf("sam config: tiny_vit_embed_dims[0] = %d, want at least 2 (the stem's first convolution has half of it)", dims[0])
	case !(c.TinyViTMBConvExpandRatio > 0) || int(float64(dims[0])*c.TinyViTMBConvExpandRatio) < 1:
		return fmt.Errorf("sam config: tiny_vit_mbconv_expand_ratio %v leaves no hidden channels", c.TinyViTMBConvExpandRatio)
	case c.TinyViTLocalConvSize < 1 || c.TinyViTLocalConvSize%2 == 0:
		return fmt.Errorf("sam config: tiny_vit_local_conv_size %d, want an odd size", c.TinyViTLocalConvSize)
	case c.TinyViTNumClasses < 0:
		return fmt.Errorf("sam config: tiny_vit_num_classes %d, want ≥ 0", c.TinyViTNumClasses)
	}
	for i := 1; i < 4; i++ {
		if dims[i]%c.TinyViTNumHeads[i] != 0 {
			return fmt.Errorf("sam config: tiny_vit_embed_dims[%d] = %d is not a multiple of tiny_vit_num_heads[%d] = %d", i, dims[i], i, c.TinyViTNumHeads[i])
		}
		if !(c.TinyViTMLPRatio > 0) || int(float64(dims[i])*c.TinyViTMLPRatio) < 1 {
			return fmt.Errorf("sam config: tiny_vit_mlp_ratio %v leaves no hidden units", c.TinyViTMLPRatio)
		}
	}
	return nil
}

// tinyViTConfigFromWeights recognises a TinyViT encoder from a checkpoint's shapes: the
// stage widths from the stem and the PatchMerging convolutions, the depths by counting
// blocks, each stage's heads and window from attention_biases (heads, window²), the
// ratios from the first blocks, the local convolution from its kernel, the classifier
// from head.weight. What the shapes do not show keeps vit_t's values: the image size
// (1024), and stage 0's heads and window (unused). The prompt encoder and decoder are
// left to the caller.
func tinyViTConfigFromWeights(src nn.TensorSource, prefix string) (Config, error) {
	shape, need := weightShapes(src, prefix)
	const ie = "image_encoder."
	c := VitT()
	dims := []int{0, 0, 0, 0}
	s, err := need(ie+"patch_embed.seq.2.c.weight", 4)
	if err != nil {
		return c, err
	}
	dims[0] = s[0]
	for i := 1; i < 4; i++ {
		s, err := need(ie+"layers."+strconv.Itoa(i-1)+".downsample.conv1.c.weight", 4)
		if err != nil {
			return c, fmt.Errorf("%w (TinyViT with 4 stages)", err)
		}
		dims[i] = s[0]
	}
	depths := []int{0, 0, 0, 0}
	for _, name := range src.Names() {
		rest, ok := strings.CutPrefix(name, prefix+ie+"layers.")
		if !ok {
			continue
		}
		stage, rest, _ := strings.Cut(rest, ".")
		rest, ok = strings.CutPrefix(rest, "blocks.")
		if !ok {
			continue
		}
		blk, _, _ := strings.Cut(rest, ".")
		i, err1 := strconv.Atoi(stage)
		j, err2 := strconv.Atoi(blk)
		if err1 != nil || err2 != nil || i < 0 || i >= 4 {
			return c, fmt.Errorf("tensor %q is not part of a 4-stage TinyViT", name)
		}
		depths[i] = max(depths[i], j+1)
	}
	heads, windows := slices.Clone(c.TinyViTNumHeads), slices.Clone(c.TinyViTWindowSizes)
	for i := 1; i < 4; i++ {
		if depths[i] == 0 {
			return c, fmt.Errorf("no %slayers.%d.blocks: TinyViT stages need at least one block", ie, i)
		}
		ab, err := need(ie+"layers."+strconv.Itoa(i)+".blocks.0.attn.attention_biases", 2)
		if err != nil {
			return c, err
		}
		heads[i] = ab[0]
		windows[i] = int(math.Round(math.Sqrt(float64(ab[1]))))
		if windows[i]*windows[i] != ab[1] {
			return c, fmt.Errorf("tensor %q has %d offsets, not those of a square window", ie+"layers."+strconv.Itoa(i)+".blocks.0.attn.attention_biases", ab[1])
		}
	}
	if depths[0] == 0 {
		return c, fmt.Errorf("no %slayers.0.blocks: TinyViT stages need at least one block", ie)
	}
	c.TinyViTEmbedDims, c.TinyViTDepths, c.TinyViTNumHeads, c.TinyViTWindowSizes = dims, depths, heads, windows
	if s := shape(ie + "layers.0.blocks.0.conv1.c.weight"); len(s) == 4 {
		c.TinyViTMBConvExpandRatio = float64(s[0]) / float64(dims[0])
	}
	if s := shape(ie + "layers.1.blocks.0.mlp.fc1.weight"); len(s) == 2 {
		c.TinyViTMLPRatio = float64(s[0]) / float64(dims[1])
	}
	if s := shape(ie + "layers.1.blocks.0.local_conv.c.weight"); len(s) == 4 {
		c.TinyViTLocalConvSize = s[2]
	}
	c.TinyViTNumClasses = 0
	if s := shape(ie + "head.weight"); len(s) == 2 {
		c.TinyViTNumClasses = s[0]
	}
	return c, nil
}

// The inference path. When nothing needs a gradient and every BatchNorm is in
// evaluation mode, TinyViT.Forward runs on raw slices: intermediate maps come from a pool
// of scratch buffers and go back to it as soon as they are consumed, so a forward pass
// reuses the memory of the last one (at 1024² the stem and first stage move maps of
// 16–64 MiB, which freshly allocated cost more in page faults than in arithmetic).
// Each function below consumes its input map (returns it to the pool) unless noted.

// scratchPools holds buffers by capacity class: class k has capacity 2^k.
var scratchPools [48]sync.Pool // of *[]float32

func scratchGet(n int) []float32 {
	k := bits.Len(uint(max(n, 1) - 1))
	if v := scratchPools[k].Get(); v != nil {
		return (*v.(*[]float32))[:n]
	}
	return make([]float32, n, 1<<k)
}

func scratchPut(b []float32) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	b = b[:c]
	scratchPools[bits.Len(uint(c-1))].Put(&b)
}

// inferenceOnly reports whether the inference path applies: no gradient anywhere, every
// BatchNorm in evaluation mode with running statistics, zero-padded convolutions, and the
// module layout newTinyViT builds.
func (e *TinyViT) inferenceOnly(x *tensor.Tensor) bool {
	if x.RequiresGrad() || len(e.PatchEmbed.Seq) != 3 || len(e.Layers) < 1 {
		return false
	}
	for _, p := range nn.Parameters(e) {
		if p.RequiresGrad() {
			return false
		}
	}
	if _, ok := e.PatchEmbed.Seq[1].(nn.GELU); !ok || e.PatchEmbed.Seq[1].(nn.GELU).Approximate != functional.GELUExact {
		return false
	}
	for _, m := range []nn.Module{e.PatchEmbed.Seq[0], e.PatchEmbed.Seq[2]} {
		if _, ok := m.(*Conv2dBN); !ok {
			return false
		}
	}
	for i, l := range e.Layers {
		if _, ok := l.(*ConvLayer); ok != (i == 0) {
			return false
		}
	}
	for _, m := range nn.NamedModules(e) {
		if c, ok := m.Module.(*Conv2dBN); ok && c.graph(x) {
			return false
		}
	}
	return true
}

// fmap is a feature map (N, C, H, W) on a scratch buffer.
type fmap struct {
	d          []float32
	n, c, h, w int
}

func (e *TinyViT) forwardInference(x *tensor.Tensor, step func()) *tensor.Tensor {
	in := fmap{x.Data(), x.SizeOf(0), x.SizeOf(1), x.SizeOf(2), x.SizeOf(3)}
	a := e.PatchEmbed.Seq[0].(*Conv2dBN).fast(in, true, false) // the caller's input is kept
	h := e.PatchEmbed.Seq[2].(*Conv2dBN).fast(a, false, true)
	step()
	for _, l := range e.Layers {
		switch l := l.(type) {
		case *ConvLayer:
			for _, b := range l.Blocks {
				h = b.fast(h)
				step()
			}
			if l.Downsample != nil {
				h = l.Downsample.fast(h)
			}
		case *BasicLayer:
			t := scratchGet(len(h.d))
			transposeMaps(t, h.d, h.n, h.c, h.h*h.w)
			scratchPut(h.d)
			for _, b := range l.Blocks {
				t = b.fast(t, h.n, h.h, h.w, h.c)
				step()
			}
			h.d = scratchGet(len(t))
			transposeMaps(h.d, t, h.n, h.h*h.w, h.c)
			scratchPut(t)
			if l.Downsample != nil {
				h = l.Downsample.fast(h)
			}
		}
	}
	out := e.Neck.Forward(tensor.New(h.d, h.n, h.c, h.h, h.w))
	if od := out.Data(); len(od) == 0 || &od[0] != &h.d[0] { // a neck of Identity would return h.d
		scratchPut(h.d)
	}
	step()
	return out
}

// fast is forward on a scratch map; release says whether x goes back to the pool.
func (m *Conv2dBN) fast(x fmap, gelu, release bool) fmap {
	c := m.C
	p := cpu.ConvParams{
		N: x.n, C: x.c, H: x.h, W: x.w,
		Cout: c.Weight.SizeOf(0), KH: c.Weight.SizeOf(2), KW: c.Weight.SizeOf(3),
		StrideH: c.Stride[0], StrideW: c.Stride[1], PadH: c.Padding[0], PadW: c.Padding[1],
		DilH: c.Dilation[0], DilW: c.Dilation[1], Groups: max(c.Groups, 1),
	}
	if p.C%p.Groups != 0 || c.Weight.SizeOf(1) != p.C/p.Groups {
		panic(fmt.Sprintf("sam.Conv2dBN: input (%d, %d, %d, %d) for weight %s with %d groups", x.n, x.c, x.h, x.w, tensor.FormatShape(c.Weight.Shape()), p.Groups))
	}
	w, b := m.folded()
	y := fmap{n: p.N, c: p.Cout, h: p.OutH(), w: p.OutW()}
	y.d = scratchGet(y.n * y.c * y.h * y.w)
	cpu.Conv2dForward(p, x.d, w, b, y.d)
	if release {
		scratchPut(x.d)
	}
	if gelu {
		cpu.GELU(y.d, y.d)
	}
	return y
}

func (m *MBConv) fast(x fmap) fmap {
	h := m.Conv1.fast(x, true, false)
	h = m.Conv2.fast(h, true, true)
	y := m.Conv3.fast(h, false, true)
	addSlices(y.d, x.d)
	scratchPut(x.d)
	cpu.GELU(y.d, y.d)
	return y
}

func (m *PatchMerging) fast(x fmap) fmap {
	h := m.Conv1.fast(x, true, true)
	h = m.Conv2.fast(h, true, true)
	return m.Conv3.fast(h, false, true)
}

// fast maps tokens t: (B, H, W, C) on a scratch buffer to the block's output.
func (b *TinyViTBlock) fast(t []float32, nb, h, w, c int) []float32 {
	a, win := b.Attn, b.WindowSize
	n := win * win
	if len(a.biasIdx) != n*n {
		panic(fmt.Sprintf("sam.TinyViTBlock: bias index for %d cells, window %d×%d", int(math.Sqrt(float64(len(a.biasIdx)))), win, win))
	}
	hp, wp := h+(win-h%win)%win, w+(win-w%win)%win
	bw := nb * (hp / win) * (wp / win)
	rows, tokens := bw*n, nb*h*w
	src, windowed := t, h != win || w != win // one window holding the whole map needs no copy
	if windowed {
		src = scratchGet(rows * c)
		windowCopy(t, src, nb, h, w, c, win, hp, wp, true)
	}
	nrm := scratchGet(rows * c)
	layerNormRows(nrm, src, c, a.Norm)
	if windowed {
		scratchPut(src)
	}
	qkv := scratchGet(rows * 3 * c)
	linearRows(qkv, nrm, rows, a.QKV)
	scratchPut(nrm)
	att := scratchGet(rows * c)
	bias := a.biasTable(n)
	windowAttention(qkv, att, bw, n, c, a.Heads, bias)
	scratchPut(qkv)
	if windowed {
		u := scratchGet(tokens * c)
		windowCopy(u, att, nb, h, w, c, win, hp, wp, false)
		scratchPut(att)
		att = u
	}
	x := scratchGet(tokens * c)
	linearRows(x, att, tokens, a.Proj)
	scratchPut(att)
	addSlices(x, t)
	scratchPut(t)
	// The local convolution runs on channel planes.
	cm := fmap{scratchGet(tokens * c), nb, c, h, w}
	transposeMaps(cm.d, x, nb, h*w, c)
	scratchPut(x)
	cm = b.LocalConv.fast(cm, false, true)
	x = scratchGet(tokens * c)
	transposeMaps(x, cm.d, nb, c, h*w)
	scratchPut(cm.d)
	// x + MLP(x)
	m := b.MLP
	nrm = scratchGet(tokens * c)
	layerNormRows(nrm, x, c, m.Norm)
	hid := scratchGet(tokens * m.FC1.Weight.SizeOf(0))
	linearRows(hid, nrm, tokens, m.FC1)
	scratchPut(nrm)
	cpu.GELU(hid, hid)
	out := scratchGet(tokens * c)
	linearRows(out, hid, tokens, m.FC2)
	scratchPut(hid)
	addSlices(out, x)
	scratchPut(x)
	return out
}

// addSlices adds x into y.
func addSlices(y, x []float32) {
	cpu.ParallelGrain(len(y), 1<<15, func(lo, hi int) {
		ys, xs := y[lo:hi], x[lo:hi]
		for i := range ys {
			ys[i] += xs[i]
		}
	})
}

// transposeMaps writes each of n (rows, cols) matrices of src transposed into dst:
// (N, C, HW) ↔ (N, HW, C). Bands of 16 source rows are read as 16 sequential streams
// and written as one cache line per output row (as tensor.Permute does).
func transposeMaps(dst, src []float32, n, rows, cols int) {
	const band = 16
	bands := (rows + band - 1) / band
	cpu.ParallelGrain(n*bands, max(1, 16384/(band*cols)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			img, i0 := t/bands, t%bands*band
			i1 := min(rows, i0+band)
			s, d := src[img*rows*cols:(img+1)*rows*cols], dst[img*rows*cols:(img+1)*rows*cols]
			for j := 0; j < cols; j++ {
				out := d[j*rows+i0 : j*rows+i1]
				for k := range out {
					out[k] = s[(i0+k)*cols+j]
				}
			}
		}
	})
}

// layerNormRows normalises each row of C values of src into dst with l's weight, bias
// and eps (statistics in float64).
func layerNormRows(dst, src []float32, c int, l *nn.LayerNorm) {
	if len(l.NormalizedShape) != 1 || l.NormalizedShape[0] != c {
		panic(fmt.Sprintf("sam: LayerNorm over %v for rows of %d", l.NormalizedShape, c))
	}
	var wd, bd []float32
	if l.Weight != nil {
		wd = l.Weight.Data()
	}
	if l.Bias != nil {
		bd = l.Bias.Data()
	}
	rows := len(src) / c
	cpu.ParallelGrain(rows, max(1, 4096/c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x, y := src[r*c:(r+1)*c], dst[r*c:(r+1)*c]
			s, ss := cpu.SumSq(x)
			mean := s / float64(c)
			v := max(ss/float64(c)-mean*mean, 0)
			cpu.NormAffine(y, x, mean, 1/math.Sqrt(v+l.Eps), 1, 0)
			if wd != nil {
				for i := range y {
					y[i] *= wd[i]
				}
			}
			if bd != nil {
				for i := range y {
					y[i] += bd[i]
				}
			}
		}
	})
}

// linearRows sets dst (rows, out) = src (rows, in)·Weightᵀ + Bias (through l.Forward when
// l has a Delta).
func linearRows(dst, src []float32, rows int, l *nn.Linear) {
	out, in := l.Weight.SizeOf(0), l.Weight.SizeOf(1)
	if l.Delta != nil {
		copy(dst, l.Forward(tensor.New(src, rows, in)).Data())
		return
	}
	beta := float32(0)
	if l.Bias != nil {
		bd := l.Bias.Data()
		cpu.ParallelGrain(rows, max(1, 8192/out), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(dst[r*out:(r+1)*out], bd)
			}
		})
		beta = 1
	}
	cpu.Sgemm(false, true, rows, out, in, 1, src, in, l.Weight.Data(), in, beta, dst, out)
}
