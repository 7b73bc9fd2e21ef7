package sam

import (
	"fmt"
	"math"
	"sync"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// DecoderImage is the part of the mask decoder's work that depends only on one image
// embedding, its positional encoding and a dense prompt embedding shared by every prompt
// (the no-mask embedding): what MaskDecoder.ForwardPrepared reuses for every batch of
// prompts against that image (the automatic mask generator's grid of points).
//
// It holds, in token layout (N = G·G rows of width D):
//   - the keys of the first layer, image + dense, and the positional encoding kpe;
//   - the first layer's projections, which no prompt changes yet: the token-to-image
//     keys (keys + kpe)·Wkᵀ + bk and values keys·Wvᵀ + bv, the image-to-token queries
//     (keys + kpe)·Wqᵀ + bq;
//   - for every later layer and the final attention, the positional part of the
//     projections of keys + kpe: kpe·Wᵀ + b, so that a batch's keys are projected by one
//     GEMM per layer (keys·[Wk; Wv; Wq]ᵀ) with these added.
//
// A DecoderImage is read-only once made and can be shared by concurrent calls.
type DecoderImage struct {
	d, c, gh, gw int       // width D, attention width C = D / downsample rate, grid
	keys0, kpe   []float32 // (N, D)
	k0, v0, q0   []float32 // (N, C): layer 0's t2i keys and values, i2t queries
	layerBias    [][]float32
	finalBias    []float32   // (N, 2C): kpe·Wkᵀ + bk | bv of the final attention
	layerW       [][]float32 // per later layer: [Wk; Wv; Wq] (3C, D), stacked
	finalW       []float32   // [Wk; Wv] (2C, D) of the final attention
	up1W, up2W   []float32   // the transposed convolutions' weights as GEMM matrices (convTWeight)
	dense        *tensor.Tensor

	mu      sync.Mutex
	scratch []*decoderScratch // free working memory of ForwardPrepared calls
}

// decoderFast reports whether m's layers are the plain ones that the prepared path
// computes directly: no adapter (Delta) on the transformer's Linear layers, no parameter
// requiring a gradient, and SAM's output upscaling (two 2×2 stride-2 transposed
// convolutions with LayerNorm2d and exact GELU).
func (m *MaskDecoder) decoderFast() bool {
	t := m.Transformer
	var lins []*nn.Linear
	attn := func(a *DecoderAttention) { lins = append(lins, a.QProj, a.KProj, a.VProj, a.OutProj) }
	for _, l := range t.Layers {
		attn(l.SelfAttn)
		attn(l.CrossAttnTokenToImage)
		attn(l.CrossAttnImageToToken)
		lins = append(lins, l.MLP.Lin1, l.MLP.Lin2)
	}
	attn(t.FinalAttnTokenToImage)
	for _, l := range lins {
		if l.Delta != nil || l.Bias == nil || tensor.AnyRequiresGrad(l.Weight, l.Bias) {
			return false
		}
	}
	if len(m.OutputUpscaling) != 5 {
		return false
	}
	c1, ok1 := m.OutputUpscaling[0].(*nn.ConvTranspose2d)
	ln, ok2 := m.OutputUpscaling[1].(*nn.LayerNorm2d)
	g1, ok3 := m.OutputUpscaling[2].(nn.GELU)
	c2, ok4 := m.OutputUpscaling[3].(*nn.ConvTranspose2d)
	g2, ok5 := m.OutputUpscaling[4].(nn.GELU)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || g1 != (nn.GELU{}) || g2 != (nn.GELU{}) || ln.Weight == nil || ln.Bias == nil {
		return false
	}
	for _, c := range []*nn.ConvTranspose2d{c1, c2} {
		if c.Stride != [2]int{2, 2} || c.Padding != [2]int{} || c.OutputPadding != [2]int{} ||
			(c.Dilation != [2]int{1, 1} && c.Dilation != [2]int{}) || c.Groups > 1 || c.Bias == nil ||
			c.Weight.Dim() != 4 || c.Weight.SizeOf(2) != 2 || c.Weight.SizeOf(3) != 2 || tensor.AnyRequiresGrad(c.Weight, c.Bias) {
			return false
		}
	}
	return !tensor.AnyRequiresGrad(ln.Weight, ln.Bias)
}

// PrepareImage computes the image-only part of decoding prompts against image: (1, D, G, G)
// with positional encoding pe: (1, D, G, G) and the dense prompt embedding dense: (1, D,
// G, G) shared by all prompts (PromptEncoder.Forward's no-mask embedding). It returns nil
// when the decoder cannot take the prepared path (a parameter requires a gradient, an
// adapter is attached, or the layers are not SAM's): then use Forward.
func (m *MaskDecoder) PrepareImage(image, pe, dense *tensor.Tensor) *DecoderImage {
	if image.Dim() != 4 || image.SizeOf(0) != 1 || !tensor.SameShape(pe.Shape(), image.Shape()) || !tensor.SameShape(dense.Shape(), image.Shape()) {
		panic(fmt.Sprintf("sam.MaskDecoder.PrepareImage: image %s, pe %s, dense %s: want three (1, D, G, G)",
			shapeOf(image), shapeOf(pe), shapeOf(dense)))
	}
	if !m.decoderFast() || tensor.AnyRequiresGrad(image, pe, dense) {
		return nil
	}
	d, gh, gw := image.SizeOf(1), image.SizeOf(2), image.SizeOf(3)
	n := gh * gw
	t := m.Transformer
	c := t.FinalAttnTokenToImage.QProj.Weight.SizeOf(0)
	di := &DecoderImage{d: d, c: c, gh: gh, gw: gw, dense: dense,
		keys0: make([]float32, n*d), kpe: make([]float32, n*d)}
	// (D, N) → (N, D), adding the dense embedding.
	id, dd, pd := image.Data(), dense.Data(), pe.Data()
	cpu.ParallelGrain(n, 256, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			kr, pr := di.keys0[p*d:(p+1)*d], di.kpe[p*d:(p+1)*d]
			for ch := 0; ch < d; ch++ {
				kr[ch] = id[ch*n+p] + dd[ch*n+p]
				pr[ch] = pd[ch*n+p]
			}
		}
	})
	keysPE := make([]float32, n*d)
	for i := range keysPE {
		keysPE[i] = di.keys0[i] + di.kpe[i]
	}
	if len(t.Layers) > 0 {
		l := t.Layers[0]
		di.k0 = affine(keysPE, n, l.CrossAttnTokenToImage.KProj)
		di.v0 = affine(di.keys0, n, l.CrossAttnTokenToImage.VProj)
		di.q0 = affine(keysPE, n, l.CrossAttnImageToToken.QProj)
	}
	for _, l := range t.Layers[min(1, len(t.Layers)):] {
		b := make([]float32, n*3*c)
		kb := affine(di.kpe, n, l.CrossAttnTokenToImage.KProj)
		qb := affine(di.kpe, n, l.CrossAttnImageToToken.QProj)
		vb := l.CrossAttnTokenToImage.VProj.Bias.Data()
		for p := 0; p < n; p++ {
			copy(b[p*3*c:], kb[p*c:(p+1)*c])
			copy(b[p*3*c+c:], vb)
			copy(b[p*3*c+2*c:], qb[p*c:(p+1)*c])
		}
		di.layerBias = append(di.layerBias, b)
		di.layerW = append(di.layerW, stackWeights(l.CrossAttnTokenToImage.KProj, l.CrossAttnTokenToImage.VProj, l.CrossAttnImageToToken.QProj))
	}
	di.finalW = stackWeights(t.FinalAttnTokenToImage.KProj, t.FinalAttnTokenToImage.VProj)
	di.up1W = convTWeight(m.OutputUpscaling[0].(*nn.ConvTranspose2d))
	di.up2W = convTWeight(m.OutputUpscaling[3].(*nn.ConvTranspose2d))
	f := t.FinalAttnTokenToImage
	kb := affine(di.kpe, n, f.KProj)
	vb := f.VProj.Bias.Data()
	di.finalBias = make([]float32, n*2*c)
	for p := 0; p < n; p++ {
		copy(di.finalBias[p*2*c:], kb[p*c:(p+1)*c])
		copy(di.finalBias[p*2*c+c:], vb)
	}
	return di
}

// affine returns x·wᵀ + b for x (n, in) and the Linear l (out, in).
func affine(x []float32, n int, l *nn.Linear) []float32 {
	out, in := l.Weight.SizeOf(0), l.Weight.SizeOf(1)
	y := make([]float32, n*out)
	b := l.Bias.Data()
	for r := 0; r < n; r++ {
		copy(y[r*out:(r+1)*out], b)
	}
	cpu.Sgemm(false, true, n, out, in, 1, x, in, l.Weight.Data(), in, 1, y, out)
	return y
}

// stackWeights returns the rows of the Linear layers' weights one after another:
// (Σ out, in), the weight of one Linear layer that computes all of them.
func stackWeights(ls ...*nn.Linear) []float32 {
	var w []float32
	for _, l := range ls {
		w = append(w, l.Weight.Data()...)
	}
	return w
}

// decoderScratch is the per-call working memory of ForwardPrepared, kept by the
// DecoderImage so that its stream of batches does not allocate (and fault in) it again;
// it is freed with the DecoderImage. (A sync.Pool would drop it at every collection.)
type decoderScratch struct {
	keys, keys2, proj, attn, up1, up2, masks []float32
}

func (img *DecoderImage) getScratch() *decoderScratch {
	img.mu.Lock()
	defer img.mu.Unlock()
	if n := len(img.scratch); n > 0 {
		sc := img.scratch[n-1]
		img.scratch = img.scratch[:n-1]
		return sc
	}
	return &decoderScratch{}
}

func (img *DecoderImage) putScratch(sc *decoderScratch) {
	img.mu.Lock()
	img.scratch = append(img.scratch, sc)
	img.mu.Unlock()
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// ForwardPrepared is Forward for B prompts with sparse embeddings sparse: (B, T, D)
// against the image that img was prepared from (PrepareImage), with no mask input. It
// computes the same masks (B, K, 4G, 4G) and IoUs (B, K) as Forward(image, pe, sparse,
// dense, multimask) up to float32 rounding: the keys of all B prompts are projected by
// one GEMM per layer (the token-to-image keys and values and the image-to-token queries
// together, the positional terms taken from img), the image-to-token output projection
// and its residual by one GEMM, the transposed convolutions run as GEMMs on the token
// layout (channels last, no transposes), only the K masks asked for are computed, and
// the large intermediates live in recycled buffers. It records no graph.
func (m *MaskDecoder) ForwardPrepared(img *DecoderImage, sparse *tensor.Tensor, multimask bool) (masks, iou *tensor.Tensor) {
	k := 1
	if multimask {
		k = m.MaskTokens.Weight.SizeOf(0) - 1
	}
	masks = tensor.Empty(sparse.SizeOf(0), k, 4*img.gh, 4*img.gw)
	iou = m.ForwardPreparedTo(masks.Data(), img, sparse, multimask)
	return masks, iou
}

// ForwardPreparedTo is ForwardPrepared writing the masks into dst (B·K·4G·4G values,
// the masks (B, K, 4G, 4G) row-major), so that a caller can reuse one buffer for a
// stream of batches; it returns the IoUs (B, K).
func (m *MaskDecoder) ForwardPreparedTo(dst []float32, img *DecoderImage, sparse *tensor.Tensor, multimask bool) (iou *tensor.Tensor) {
	if sparse.Dim() != 3 || sparse.SizeOf(2) != img.d {
		panic(fmt.Sprintf("sam.MaskDecoder.ForwardPrepared: sparse %s, want (B, T, %d)", shapeOf(sparse), img.d))
	}
	bs, d, c := sparse.SizeOf(0), img.d, img.c
	n := img.gh * img.gw
	t := m.Transformer
	nm := m.MaskTokens.Weight.SizeOf(0)

	sc := img.getScratch()
	defer img.putScratch(sc)

	out := tensor.Cat([]*tensor.Tensor{m.IoUToken.Weight, m.MaskTokens.Weight}, 0) // (1+M+1, D)
	tokens := tensor.Expand(tensor.Unsqueeze(out, 0), bs, 1+nm, d)
	if sparse.SizeOf(1) > 0 {
		tokens = tensor.Cat([]*tensor.Tensor{tokens, sparse}, 1)
	}
	nt := tokens.SizeOf(1)
	queries := tokens
	var keys []float32 // (B, N, D); nil while the keys are still img.keys0 for every prompt
	sc.keys = grow(sc.keys, bs*n*d)
	sc.keys2 = grow(sc.keys2, bs*n*d)
	sc.attn = grow(sc.attn, bs*n*c)
	for li, l := range t.Layers {
		if li == 0 && l.SkipFirstLayerPE {
			queries = l.SelfAttn.Forward(queries, queries, queries)
		} else {
			q := tensor.Add(queries, tokens)
			queries = tensor.Add(queries, l.SelfAttn.Forward(q, q, queries))
		}
		queries = l.Norm1.Forward(queries)

		// Projections of the image side: shared (layer 0) or one GEMM for the batch.
		var kd, vd, qd []float32 // t2i keys and values, i2t queries
		var ld, bstride int      // their row and batch strides
		if keys == nil {
			kd, vd, qd, ld, bstride = img.k0, img.v0, img.q0, c, 0
		} else {
			sc.proj = grow(sc.proj, bs*n*3*c)
			bias := img.layerBias[li-1]
			cpu.ParallelGrain(bs, 1, func(lo, hi int) {
				for b := lo; b < hi; b++ {
					copy(sc.proj[b*n*3*c:(b+1)*n*3*c], bias)
				}
			})
			cpu.Sgemm(false, true, bs*n, 3*c, d, 1, keys, d, img.layerW[li-1], d, 1, sc.proj, 3*c)
			kd, vd, qd, ld, bstride = sc.proj, sc.proj[c:], sc.proj[2*c:], 3*c, n*3*c
		}

		// Token to image.
		a := l.CrossAttnTokenToImage
		qp := a.QProj.Forward(tensor.Add(queries, tokens))
		o := attendTokens(qp, kd, vd, ld, bstride, n, a.Heads)
		queries = l.Norm2.Forward(tensor.Add(queries, a.OutProj.Forward(o)))
		queries = l.Norm3.Forward(tensor.Add(queries, l.MLP.Forward(queries)))

		// Image to token: attention output (B, N, C), then keys + out·Woᵀ + bo, Norm4.
		a = l.CrossAttnImageToToken
		kp := a.KProj.Forward(tensor.Add(queries, tokens)).Data()
		vp := a.VProj.Forward(queries).Data()
		attendImage(sc.attn, qd, ld, bstride, kp, vp, bs, n, nt, c, a.Heads)
		next := sc.keys
		if keys != nil && &keys[0] == &sc.keys[0] {
			next = sc.keys2
		}
		cpu.Sgemm(false, true, bs*n, d, c, 1, sc.attn, c, a.OutProj.Weight.Data(), c, 0, next, d)
		resid, period := keys, bs*n
		if keys == nil {
			resid, period = img.keys0, n
		}
		normRowsInPlace(next, d, resid, period, a.OutProj.Bias.Data(), l.Norm4.Weight.Data(), l.Norm4.Bias.Data(), l.Norm4.Eps)
		keys = next
	}
	if keys == nil { // no layers
		keys = sc.keys
		for b := 0; b < bs; b++ {
			copy(keys[b*n*d:(b+1)*n*d], img.keys0)
		}
	}

	// Final token-to-image attention: keys·[Wk; Wv]ᵀ + (kpe·Wkᵀ + bk | bv).
	f := t.FinalAttnTokenToImage
	sc.proj = grow(sc.proj, bs*n*2*c)
	cpu.ParallelGrain(bs, 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			copy(sc.proj[b*n*2*c:(b+1)*n*2*c], img.finalBias)
		}
	})
	cpu.Sgemm(false, true, bs*n, 2*c, d, 1, keys, d, img.finalW, d, 1, sc.proj, 2*c)
	qp := f.QProj.Forward(tensor.Add(queries, tokens))
	o := attendTokens(qp, sc.proj, sc.proj[c:], 2*c, n*2*c, n, f.Heads)
	queries = t.NormFinalAttn.Forward(tensor.Add(queries, f.OutProj.Forward(o)))

	// Which masks: 1…M−1 (multimask) or 0.
	first, k := 0, 1
	if multimask {
		first, k = 1, nm-1
	}
	iouAll := m.IoUPredictionHead.Forward(tensor.Reshape(tensor.Narrow(queries, 1, 0, 1), bs, d))
	iou = tensor.Narrow(iouAll, 1, first, k)
	hyper := make([]*tensor.Tensor, k)
	for i := range hyper {
		hyper[i] = m.OutputHypernetworksMLPs[first+i].Forward(tensor.Reshape(tensor.Narrow(queries, 1, 1+first+i, 1), bs, d))
	}
	hyperIn := tensor.Stack(hyper, 1).Data() // (B, K, D/8)
	if len(dst) != bs*k*16*n {
		panic(fmt.Sprintf("sam.MaskDecoder.ForwardPreparedTo: %d values for %d×%d masks of %d×%d", len(dst), bs, k, 4*img.gh, 4*img.gw))
	}
	m.upscaleMasks(dst, img, sc, keys, hyperIn, bs, k)
	return iou
}

// upscaleMasks runs the output upscaling on keys (B, N, D) in token layout and returns
// into md the masks (B, K, 4G, 4G) of the hypernetwork weights hyper (B, K, C2). Both transposed
// convolutions (kernel 2, stride 2) are GEMMs with the weight's columns ordered (dy, dx,
// channel): every input pixel's output is its 2×2 block of channel vectors, kept in that
// order (LayerNorm2d and GELU are per pixel and the second convolution and the mask
// product per pixel too), and the pixels are put in image order only in the masks.
func (m *MaskDecoder) upscaleMasks(md []float32, img *DecoderImage, sc *decoderScratch, keys, hyper []float32, bs, k int) {
	gh, gw := img.gh, img.gw
	ct1 := m.OutputUpscaling[0].(*nn.ConvTranspose2d)
	ln := m.OutputUpscaling[1].(*nn.LayerNorm2d)
	ct2 := m.OutputUpscaling[3].(*nn.ConvTranspose2d)
	d, c1, c2 := ct1.Weight.SizeOf(0), ct1.Weight.SizeOf(1), ct2.Weight.SizeOf(1)
	n := gh * gw
	// (B·N, D) · (D, 4·C1) → rows of 4 sub-pixels × C1.
	sc.up1 = grow(sc.up1, bs*n*4*c1)
	cpu.Sgemm(false, false, bs*n, 4*c1, d, 1, keys, d, img.up1W, 4*c1, 0, sc.up1, 4*c1)
	normRowsInPlace(sc.up1, c1, nil, 1, ct1.Bias.Data(), ln.Weight.Data(), ln.Bias.Data(), ln.Eps)
	cpu.GELU(sc.up1, sc.up1)
	// (B·4N, C1) · (C1, 4·C2) → rows of 4 sub-pixels × C2.
	sc.up2 = grow(sc.up2, bs*n*16*c2)
	cpu.Sgemm(false, false, bs*n*4, 4*c2, c1, 1, sc.up1, c1, img.up2W, 4*c2, 0, sc.up2, 4*c2)
	b2 := ct2.Bias.Data()
	cpu.ParallelGrain(bs*n*16, 1024, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := sc.up2[r*c2 : (r+1)*c2]
			for j := range row {
				row[j] += b2[j]
			}
		}
		chunk := sc.up2[lo*c2 : hi*c2]
		cpu.GELU(chunk, chunk) // inline: the pool is busy with this loop
	})
	// Mask logits in the pixel order of up2, then into image order: pixel (i, j) of the
	// grid, sub-pixel (a, b) of the first convolution and (e, f) of the second land at
	// row 4i + 2a + e, column 4j + 2b + f.
	// (np, C2) · hyperᵀ (C2, K) per prompt: every pixel's K logits together.
	np := 16 * n
	sc.masks = grow(sc.masks, np*k)
	w4 := 4 * gw
	for b := 0; b < bs; b++ {
		cpu.Sgemm(false, true, np, k, c2, 1, sc.up2[b*np*c2:], c2, hyper[b*k*c2:], c2, 0, sc.masks, k)
		cpu.ParallelGrain(gh, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				src := sc.masks[i*gw*16*k:]
				for mi := 0; mi < k; mi++ {
					dst := md[(b*k+mi)*np:]
					for j := 0; j < gw; j++ {
						s := src[j*16*k:]
						for ab := 0; ab < 4; ab++ {
							a, bb := ab>>1, ab&1
							for ef := 0; ef < 4; ef++ {
								e, f := ef>>1, ef&1
								dst[(4*i+2*a+e)*w4+4*j+2*bb+f] = s[(ab*4+ef)*k+mi]
							}
						}
					}
				}
			}
		})
	}
}

// convTWeight returns a 2×2 transposed convolution's weight (In, Out, 2, 2) as the
// matrix (In, 4·Out) with columns ordered (dy, dx, out channel).
func convTWeight(ct *nn.ConvTranspose2d) []float32 {
	w := ct.Weight.Data()
	in, out := ct.Weight.SizeOf(0), ct.Weight.SizeOf(1)
	m := make([]float32, in*4*out)
	for i := 0; i < in; i++ {
		for o := 0; o < out; o++ {
			for s := 0; s < 4; s++ {
				m[i*4*out+s*out+o] = w[((i*out)+o)*4+s]
			}
		}
	}
	return m
}

// normRowsInPlace normalises every row r of width d of x in place after adding the
// residual row r mod period of resid (nil: none) and add (d values, or nil), with the
// per-element affine w, b: nn.LayerNorm's arithmetic (float64 moments,
// y = float32((x − μ)·σ⁻¹)·w + b). The sum is resid + (x + add), the reference's
// keys + (attention output with its bias).
func normRowsInPlace(x []float32, d int, resid []float32, period int, add, w, b []float32, eps float64) {
	rows := len(x) / d
	cpu.ParallelGrain(rows, max(1, 16384/d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*d : (r+1)*d]
			if add != nil {
				for j := range row {
					row[j] += add[j]
				}
			}
			if resid != nil {
				rr := resid[(r%period)*d : (r%period+1)*d]
				for j := range row {
					row[j] = rr[j] + row[j]
				}
			}
			s, ss := cpu.SumSq(row)
			nf := float64(d)
			mu := s / nf
			v := ss/nf - mu*mu
			if v <= 1e-8*mu*mu {
				v = 0
				for _, x := range row {
					dv := float64(x) - mu
					v += dv * dv
				}
				v /= nf
			}
			is := 1 / math.Sqrt(max(v, 0)+eps)
			for j, x := range row {
				row[j] = float32((float64(x)-mu)*is)*w[j] + b[j]
			}
		}
	})
}

// attendTokens is the token-to-image attention core: queries q (B, T, C) projected,
// keys and values of the image side in k, v with row stride ld and batch stride bstride
// (0: shared), N rows each; result (B, T, C) before the output projection.
func attendTokens(q *tensor.Tensor, k, v []float32, ld, bstride, n, h int) *tensor.Tensor {
	bs, nt, c := q.SizeOf(0), q.SizeOf(1), q.SizeOf(2)
	dh := c / h
	out := tensor.Empty(bs, nt, c)
	qd, od := q.Data(), out.Data()
	scale := float32(1 / math.Sqrt(float64(dh)))
	cpu.Parallel(bs*h, func(lo, hi int) {
		s := make([]float32, nt*n)
		for t := lo; t < hi; t++ {
			b, hd := t/h, t%h
			cpu.Sgemm(false, true, nt, n, dh, scale, qd[b*nt*c+hd*dh:], c, k[b*bstride+hd*dh:], ld, 0, s, n)
			cpu.Softmax(s, s, nt, n)
			cpu.Sgemm(false, false, nt, dh, n, 1, s, n, v[b*bstride+hd*dh:], ld, 0, od[b*nt*c+hd*dh:], c)
		}
	})
	return out
}

// attendImage is the image-to-token attention core: image queries q (N rows of stride
// ld, batch stride bstride, 0 when shared) against the T tokens' projected keys k and
// values v (B, T, C); it writes (B, N, C) to out.
func attendImage(out, q []float32, ld, bstride int, k, v []float32, bs, n, nt, c, h int) {
	dh := c / h
	scale := float32(1 / math.Sqrt(float64(dh)))
	const rows = 512 // query rows per task
	nb := (n + rows - 1) / rows
	cpu.Parallel(bs*h*nb, func(lo, hi int) {
		s := make([]float32, rows*nt)
		for t := lo; t < hi; t++ {
			b, hd, blk := t/(h*nb), t/nb%h, t%nb
			r0 := blk * rows
			r := min(rows, n-r0)
			cpu.Sgemm(false, true, r, nt, dh, scale, q[b*bstride+r0*ld+hd*dh:], ld, k[b*nt*c+hd*dh:], c, 0, s, nt)
			cpu.Softmax(s[:r*nt], s[:r*nt], r, nt)
			cpu.Sgemm(false, false, r, dh, nt, 1, s, nt, v[b*nt*c+hd*dh:], c, 0, out[(b*n+r0)*c+hd*dh:], c)
		}
	})
}
