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

// ImageEncoderViT is SAM's image encoder: a plain ViT over PatchSize-square patches with
// windowed attention in most blocks and global attention in a few, followed by a neck of
// two convolutions with LayerNorm2d that maps the C-wide tokens to the D-channel image
// embedding. Input (B, 3, ImageSize, ImageSize) normalised pixels; output (B, D, G, G)
// with G = ImageSize / PatchSize.
type ImageEncoderViT struct {
	PatchEmbed PatchEmbed
	PosEmbed   *tensor.Tensor // (1, G, G, C), nil without absolute positions
	Blocks     []*Block
	Neck       nn.Sequential // conv 1×1 C→D (no bias), LayerNorm2d, conv 3×3 D→D (no bias), LayerNorm2d
}

// PatchEmbed is the patch projection: a PatchSize×PatchSize convolution with stride
// PatchSize, output made channels-last: (B, 3, H, W) → (B, H/P, W/P, C).
type PatchEmbed struct {
	Proj *nn.Conv2d
}

// Block is a ViT block with pre-normalisation: x + Attn(Norm1(x)) then + MLP(Norm2(x)).
// WindowSize > 0 partitions the grid into WindowSize-square windows (padding the grid with
// zeros to a multiple) and attends within each; 0 attends globally.
type Block struct {
	Norm1      *nn.LayerNorm
	Attn       *Attention
	Norm2      *nn.LayerNorm
	MLP        *MLPBlock `nn:"mlp"`
	WindowSize int       `nn:"-"`
}

// MLPBlock is Linear → GELU (exact) → Linear (SAM's common.MLPBlock) in the encoder, or
// with ReLU in the decoder's two-way transformer.
type MLPBlock struct {
	Lin1 *nn.Linear
	Lin2 *nn.Linear
	ReLU bool `nn:"-"` // ReLU instead of GELU
}

// Forward maps x: (…, C) to (…, C).
func (m *MLPBlock) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := m.Lin1.Forward(x)
	if m.ReLU {
		h = functional.ReLU(h)
	} else {
		h = functional.GELU(h, functional.GELUExact)
	}
	return m.Lin2.Forward(h)
}

// Attention is the encoder's multi-head self-attention with optional decomposed relative
// position embeddings (MViTv2): for a query at grid cell (i, j) and a key at (k, l) the
// score gains q·RelPosH[i−k+S−1] + q·RelPosW[j−l+S−1], where S is the side the tables
// were made for (the window, or the whole grid in global blocks); the tables are
// linearly interpolated when the grid has another size.
type Attention struct {
	QKV     *nn.Linear     // C → 3C
	Proj    *nn.Linear     // C → C
	RelPosH *tensor.Tensor // (2S−1, C/heads), nil without relative positions
	RelPosW *tensor.Tensor
	Heads   int `nn:"-"`
}

// newImageEncoder builds an encoder with PyTorch's default initialisation (trunc-normal
// position tables are zero in the reference; the weights are meant to be loaded).
func newImageEncoder(rng *rand.Rand, c Config) *ImageEncoderViT {
	g, dim := c.Grid(), c.EncoderEmbedDim
	e := &ImageEncoderViT{
		PatchEmbed: PatchEmbed{Proj: nn.NewConv2d(rng, nn.Conv2dConfig{In: 3, Out: dim, Kernel: [2]int{c.PatchSize, c.PatchSize}, Stride: [2]int{c.PatchSize, c.PatchSize}})},
	}
	if c.UseAbsPos {
		e.PosEmbed = tensor.Zeros(1, g, g, dim).SetRequiresGrad(true)
	}
	for i := 0; i < c.EncoderDepth; i++ {
		win := c.WindowSize
		if c.isGlobal(i) {
			win = 0
		}
		side := g
		if win > 0 {
			side = win
		}
		a := &Attention{QKV: nn.NewLinear(rng, dim, 3*dim, c.QKVBias), Proj: nn.NewLinear(rng, dim, dim, true), Heads: c.EncoderNumHeads}
		if c.UseRelPos {
			a.RelPosH = tensor.Zeros(2*side-1, dim/c.EncoderNumHeads).SetRequiresGrad(true)
			a.RelPosW = tensor.Zeros(2*side-1, dim/c.EncoderNumHeads).SetRequiresGrad(true)
		}
		e.Blocks = append(e.Blocks, &Block{
			Norm1: layerNorm(dim, 1e-6), Attn: a, Norm2: layerNorm(dim, 1e-6),
			MLP:        &MLPBlock{Lin1: nn.NewLinear(rng, dim, c.mlpDim(), true), Lin2: nn.NewLinear(rng, c.mlpDim(), dim, true)},
			WindowSize: win,
		})
	}
	d := c.PromptEmbedDim
	e.Neck = nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: dim, Out: d, Kernel: [2]int{1, 1}, NoBias: true}),
		nn.NewLayerNorm2d(d),
		nn.NewConv2d(rng, nn.Conv2dConfig{In: d, Out: d, Kernel: [2]int{3, 3}, Padding: [2]int{1, 1}, NoBias: true}),
		nn.NewLayerNorm2d(d),
	)
	return e
}

func layerNorm(dim int, eps float64) *nn.LayerNorm {
	l := nn.NewLayerNorm(dim)
	l.Eps = eps
	return l
}

// Forward encodes normalised images x: (B, 3, H, W) into (B, D, H/P, W/P). With absolute
// positions H and W must equal ImageSize; without them any multiple of the patch works.
func (e *ImageEncoderViT) Forward(x *tensor.Tensor) *tensor.Tensor {
	return e.ForwardProgress(x, nil)
}

// ForwardProgress is Forward calling progress(done, total) after the patch embedding and
// after each block (total = depth + 2, the last call after the neck); progress may be nil.
func (e *ImageEncoderViT) ForwardProgress(x *tensor.Tensor, progress func(done, total int)) *tensor.Tensor {
	report := func(done int) {
		if progress != nil {
			progress(done, len(e.Blocks)+2)
		}
	}
	h := e.PatchEmbed.Forward(x)
	if e.PosEmbed != nil {
		if h.SizeOf(1) != e.PosEmbed.SizeOf(1) || h.SizeOf(2) != e.PosEmbed.SizeOf(2) {
			panic(fmt.Sprintf("sam.ImageEncoderViT: input %s gives a %d×%d patch grid, the position embedding is %d×%d",
				tensor.FormatShape(x.Shape()), h.SizeOf(1), h.SizeOf(2), e.PosEmbed.SizeOf(1), e.PosEmbed.SizeOf(2)))
		}
		h = tensor.Add(h, e.PosEmbed)
	}
	report(1)
	for i, b := range e.Blocks {
		h = b.Forward(h)
		report(i + 2)
	}
	out := e.Neck.Forward(tensor.Permute(h, 0, 3, 1, 2))
	report(len(e.Blocks) + 2)
	return out
}

// Forward maps images (B, 3, H, W) to channels-last patch embeddings (B, H/P, W/P, C).
func (p PatchEmbed) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.Permute(p.Proj.Forward(x), 0, 2, 3, 1)
}

// Forward maps x: (B, H, W, C) to (B, H, W, C).
func (b *Block) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := b.Norm1.Forward(x)
	if b.WindowSize > 0 {
		gh, gw := x.SizeOf(1), x.SizeOf(2)
		win, ph, pw := windowPartition(h, b.WindowSize)
		h = windowUnpartition(b.Attn.Forward(win), b.WindowSize, ph, pw, gh, gw)
	} else {
		h = b.Attn.Forward(h)
	}
	x = tensor.Add(x, h)
	return tensor.Add(x, b.MLP.Forward(b.Norm2.Forward(x)))
}

// windowPartition pads x: (B, H, W, C) with zeros at the bottom and right to multiples of
// w and cuts it into windows (B·nH·nW, w, w, C), in row-major window order; it returns the
// padded height and width. One gather, differentiable (its gradient is windowUnpartition
// of the output gradient).
func windowPartition(x *tensor.Tensor, w int) (*tensor.Tensor, int, int) {
	b, h, wd, c := x.SizeOf(0), x.SizeOf(1), x.SizeOf(2), x.SizeOf(3)
	hp, wp := h+(w-h%w)%w, wd+(w-wd%w)%w
	out := tensor.Empty(b*(hp/w)*(wp/w), w, w, c)
	windowCopy(x.Data(), out.Data(), b, h, wd, c, w, hp, wp, true)
	return tensor.Record("sam.windowPartition", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(b, h, wd, c)
		windowCopy(gx.Data(), g.Data(), b, h, wd, c, w, hp, wp, false)
		return []*tensor.Tensor{gx}
	}, x), hp, wp
}

// windowUnpartition reverses windowPartition: windows (B·nH·nW, w, w, C) → (B, h, wd, C),
// dropping the padding of the (hp, wp) grid. Differentiable (the gradient is
// windowPartition of the output gradient, zero in the padding).
func windowUnpartition(x *tensor.Tensor, w, hp, wp, h, wd int) *tensor.Tensor {
	c := x.SizeOf(3)
	b := x.SizeOf(0) / (hp / w * (wp / w))
	out := tensor.Empty(b, h, wd, c)
	windowCopy(out.Data(), x.Data(), b, h, wd, c, w, hp, wp, false)
	return tensor.Record("sam.windowUnpartition", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gw := tensor.Empty(x.Shape()...)
		windowCopy(g.Data(), gw.Data(), b, h, wd, c, w, hp, wp, true)
		return []*tensor.Tensor{gw}
	}, x)
}

// windowCopy moves rows of C values between a grid (B, h, wd, C) and its windows
// (B·nH·nW, w, w, C) of the padded (hp, wp) grid: toWindows copies grid → windows,
// writing zeros into the padding; otherwise windows → grid, skipping the padding.
func windowCopy(grid, win []float32, b, h, wd, c, w, hp, wp int, toWindows bool) {
	nh, nw := hp/w, wp/w
	rows := b * nh * nw * w // one task per window row
	cpu.ParallelGrain(rows, max(1, 8192/(w*c)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			r := t % w
			wi := t / w // window index: (img, wy, wx)
			img, wy, wx := wi/(nh*nw), wi/nw%nh, wi%nw
			y := wy*w + r
			for col := 0; col < w; col++ {
				x := wx*w + col
				wrow := win[((wi*w+r)*w+col)*c : ((wi*w+r)*w+col+1)*c]
				if y >= h || x >= wd {
					if toWindows {
						clear(wrow)
					}
					continue
				}
				grow := grid[((img*h+y)*wd+x)*c : ((img*h+y)*wd+x+1)*c]
				if toWindows {
					copy(wrow, grow)
				} else {
					copy(grow, wrow)
				}
			}
		}
	})
}

// Forward maps x: (B, H, W, C) to (B, H, W, C).
func (a *Attention) Forward(x *tensor.Tensor) *tensor.Tensor {
	b, h, w, c := x.SizeOf(0), x.SizeOf(1), x.SizeOf(2), x.SizeOf(3)
	qkv := a.QKV.Forward(x) // (B, H, W, 3C)
	var rh, rw *tensor.Tensor
	if a.RelPosH != nil {
		rh = relPosTable(h, h, a.RelPosH) // (H, H, d)
		rw = relPosTable(w, w, a.RelPosW) // (W, W, d)
	}
	var o *tensor.Tensor
	if tensor.AnyRequiresGrad(qkv, rh, rw) {
		o = attentionGraph(qkv, b, h, w, c, a.Heads, rh, rw)
	} else {
		o = attentionFused(qkv, b, h, w, c, a.Heads, rh, rw)
	}
	return a.Proj.Forward(o)
}

// relPosTable returns the relative position embeddings for every (query, key) pair along
// one axis: (q, k, d), table row q·max(k/q,1) − k·max(q/k,1) + (k−1)·max(q/k,1) of rel
// (L, d), first resized linearly to 2·max(q, k)−1 rows when L differs (as
// segment-anything's get_rel_pos).
func relPosTable(q, k int, rel *tensor.Tensor) *tensor.Tensor {
	maxDist := 2*max(q, k) - 1
	if rel.SizeOf(0) != maxDist {
		// (L, d) → (1, d, 1, L) → linear resize along the last axis → (maxDist, d).
		l, d := rel.SizeOf(0), rel.SizeOf(1)
		t := tensor.Reshape(tensor.Transpose(rel, 0, 1), 1, d, 1, l)
		t = functional.Interpolate(t, functional.InterpolateOptions{Size: [2]int{1, maxDist}, Mode: functional.Bilinear})
		rel = tensor.Transpose(tensor.Reshape(t, d, maxDist), 0, 1)
	}
	qs, ks := max(float32(k)/float32(q), 1), max(float32(q)/float32(k), 1)
	idx := make([]float32, q*k)
	for i := 0; i < q; i++ {
		for j := 0; j < k; j++ {
			idx[i*k+j] = float32(int64(float32(i)*qs - float32(j)*ks + float32(k-1)*ks))
		}
	}
	g := tensor.IndexSelect(rel, 0, tensor.FromSlice(idx, q*k))
	return tensor.Reshape(g, q, k, rel.SizeOf(1))
}

// attentionGraph is the attention core built from differentiable tensor operations, the
// reference path taken when gradients are needed: qkv (B, H, W, 3C) → (B, H, W, C)
// before the output projection.
func attentionGraph(qkv *tensor.Tensor, b, h, w, c, heads int, rh, rw *tensor.Tensor) *tensor.Tensor {
	n, d := h*w, c/heads
	t := tensor.Permute(tensor.Reshape(qkv, b, n, 3, heads, d), 2, 0, 3, 1, 4) // (3, B, heads, N, d)
	t = tensor.Reshape(t, 3, b*heads, n, d)
	parts := tensor.Split(t, 0, 1, 1, 1)
	q := tensor.Reshape(parts[0], b*heads, n, d)
	k := tensor.Reshape(parts[1], b*heads, n, d)
	v := tensor.Reshape(parts[2], b*heads, n, d)
	scale := float32(1 / math.Sqrt(float64(d)))
	attn := tensor.MatMul(tensor.MulScalar(q, scale), tensor.Transpose(k, 1, 2)) // (BH, N, N)
	if rh != nil {
		bh := b * heads
		rq := tensor.Reshape(q, bh, h, w, d)
		// rel_h[b, i, j, k] = Σ_c rq[b, i, j, c]·rh[i, k, c]
		relH := tensor.MatMul(tensor.Reshape(tensor.Permute(rq, 1, 0, 2, 3), h, bh*w, d), tensor.Transpose(rh, 1, 2)) // (h, BH·w, h)
		relH = tensor.Permute(tensor.Reshape(relH, h, bh, w, h), 1, 0, 2, 3)                                          // (BH, h, w, kh)
		// rel_w[b, i, j, l] = Σ_c rq[b, i, j, c]·rw[j, l, c]
		relW := tensor.MatMul(tensor.Reshape(tensor.Permute(rq, 2, 0, 1, 3), w, bh*h, d), tensor.Transpose(rw, 1, 2)) // (w, BH·h, w)
		relW = tensor.Permute(tensor.Reshape(relW, w, bh, h, w), 1, 2, 0, 3)                                          // (BH, h, w, kw)
		a5 := tensor.Reshape(attn, bh, h, w, h, w)
		a5 = tensor.Add(a5, tensor.Reshape(relH, bh, h, w, h, 1))
		a5 = tensor.Add(a5, tensor.Reshape(relW, bh, h, w, 1, w))
		attn = tensor.Reshape(a5, bh, n, n)
	}
	attn = tensor.Softmax(attn, -1)
	o := tensor.MatMul(attn, v)                                             // (BH, N, d)
	o = tensor.Permute(tensor.Reshape(o, b, heads, h, w, d), 0, 2, 3, 1, 4) // (B, h, w, heads, d)
	return tensor.Reshape(o, b, h, w, c)
}

// attentionFused is the attention core for inference, with no graph: for each image (or
// window) and head, blocks of query rows are multiplied against all keys straight out of
// the qkv projection (strided GEMMs, no head permutes), the relative position bias is
// added, and the softmax rows are multiplied by the values into the output, so the
// N×N score matrix never exists whole (a block is about 1 MiB). qkv (B, H, W, 3C) →
// (B, H, W, C).
func attentionFused(qkv *tensor.Tensor, b, h, w, c, heads int, rh, rw *tensor.Tensor) *tensor.Tensor {
	n, d := h*w, c/heads
	out := tensor.Empty(b, h, w, c)
	src, dst := qkv.Data(), out.Data()
	var rhd, rwd []float32
	if rh != nil {
		rhd, rwd = rh.Data(), rw.Data()
	}
	scale := float32(1 / math.Sqrt(float64(d)))
	// Grid rows per block: about 4 Mi scores (16 MiB, so K is packed once per 1024 query rows at
	// 4096 keys), at least one grid row.
	gridRows := min(h, max(1, (1<<22)/(w*n)))
	blocks := (h + gridRows - 1) / gridRows
	ld := 3 * c
	cpu.Parallel(b*heads*blocks, func(lo, hi int) {
		s := make([]float32, gridRows*w*n)
		var relH, relW []float32
		if rhd != nil {
			relH = make([]float32, gridRows*w*h)
			relW = make([]float32, gridRows*w*w)
		}
		for t := lo; t < hi; t++ {
			img, hd, blk := t/(heads*blocks), t/blocks%heads, t%blocks
			i0 := blk * gridRows
			i1 := min(h, i0+gridRows)
			rows := (i1 - i0) * w
			base := img * n * ld
			q := src[base+i0*w*ld+hd*d:]
			k := src[base+c+hd*d:]
			v := src[base+2*c+hd*d:]
			sb := s[:rows*n]
			cpu.Sgemm(false, true, rows, n, d, scale, q, ld, k, ld, 0, sb, n)
			if rhd != nil {
				// relH[(i−i0)·w + j, kh] = q(i, j)·rh[i, kh]; relW[…, kw] = q(i, j)·rw[j, kw].
				for i := i0; i < i1; i++ {
					cpu.Sgemm(false, true, w, h, d, 1, src[base+i*w*ld+hd*d:], ld, rhd[i*h*d:], d, 0, relH[(i-i0)*w*h:], h)
				}
				for j := 0; j < w; j++ {
					cpu.Sgemm(false, true, i1-i0, w, d, 1, src[base+(i0*w+j)*ld+hd*d:], w*ld, rwd[j*w*d:], d, 0, relW[j*w:], w*w)
				}
				for r := 0; r < rows; r++ {
					cpu.AddOuter(sb[r*n:(r+1)*n], relH[r*h:(r+1)*h], relW[r*w:(r+1)*w])
				}
			}
			cpu.Softmax(sb, sb, rows, n)
			cpu.Sgemm(false, false, rows, d, n, 1, sb, n, v, ld, 0, dst[(img*n+i0*w)*c+hd*d:], c)
		}
	})
	return out
}
