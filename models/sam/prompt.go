package sam

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// PromptEncoder embeds prompts for the mask decoder: points and box corners become
// sparse tokens (a random-Fourier positional encoding of the coordinates plus a learned
// embedding for the kind of point), and a low-resolution mask becomes a dense
// (D, G, G) embedding; with no mask, the learned no-mask embedding fills the grid.
type PromptEncoder struct {
	PELayer         PositionEmbeddingRandom `nn:"pe_layer"`
	PointEmbeddings []*nn.Embedding         // 4 × (1, D): negative point, positive point, box top-left, box bottom-right
	NotAPointEmbed  *nn.Embedding           // (1, D): padding points (label −1)
	MaskDownscaling nn.Sequential           // conv 2×2/2 1→M/4, LayerNorm2d, GELU, conv 2×2/2 M/4→M, LayerNorm2d, GELU, conv 1×1 M→D
	NoMaskEmbed     *nn.Embedding           // (1, D)

	EmbedDim  int    `nn:"-"` // D
	Grid      [2]int `nn:"-"` // image embedding size (G, G)
	InputSize [2]int `nn:"-"` // the encoder's input size (ImageSize, ImageSize): coordinates are in its pixels

	denseMu  sync.Mutex
	denseFor []float32      // the Gaussian matrix denseAt was computed from
	denseAt  *tensor.Tensor // DensePE's cached result
}

// PositionEmbeddingRandom encodes normalised coordinates (x, y) ∈ [0, 1]² as
// [sin(2π·p), cos(2π·p)] with p = (2x − 1, 2y − 1)·G for a fixed random Gaussian matrix G
// (Tancik et al. 2020).
type PositionEmbeddingRandom struct {
	PositionalEncodingGaussianMatrix *tensor.Tensor `nn:",buffer"` // (2, D/2)
}

func newPromptEncoder(rng *rand.Rand, c Config) *PromptEncoder {
	d, m := c.PromptEmbedDim, c.MaskInChans
	p := &PromptEncoder{
		PELayer:        PositionEmbeddingRandom{PositionalEncodingGaussianMatrix: tensor.RandNormal(rng, 0, 1, 2, d/2)},
		NotAPointEmbed: nn.NewEmbedding(rng, 1, d),
		NoMaskEmbed:    nn.NewEmbedding(rng, 1, d),
		EmbedDim:       d,
		Grid:           [2]int{c.Grid(), c.Grid()},
		InputSize:      [2]int{c.ImageSize, c.ImageSize},
	}
	for i := 0; i < 4; i++ {
		p.PointEmbeddings = append(p.PointEmbeddings, nn.NewEmbedding(rng, 1, d))
	}
	p.MaskDownscaling = nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 1, Out: m / 4, Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}),
		nn.NewLayerNorm2d(m/4),
		nn.GELU{},
		nn.NewConv2d(rng, nn.Conv2dConfig{In: m / 4, Out: m, Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}),
		nn.NewLayerNorm2d(m),
		nn.GELU{},
		nn.NewConv2d(rng, nn.Conv2dConfig{In: m, Out: d, Kernel: [2]int{1, 1}}),
	)
	return p
}

// encode returns the encoding (n, D) of n normalised coordinates xy (n·2 values).
func (pe PositionEmbeddingRandom) encode(xy []float32) []float32 {
	g := pe.PositionalEncodingGaussianMatrix.Data()
	half := len(g) / 2
	n := len(xy) / 2
	out := make([]float32, n*2*half)
	twoPi := float32(2 * math.Pi)
	for i := 0; i < n; i++ {
		x, y := 2*xy[2*i]-1, 2*xy[2*i+1]-1
		row := out[i*2*half : (i+1)*2*half]
		for f := 0; f < half; f++ {
			p := twoPi * (x*g[f] + y*g[half+f])
			row[f] = float32(math.Sin(float64(p)))
			row[half+f] = float32(math.Cos(float64(p)))
		}
	}
	return out
}

// DensePE is the positional encoding of every image-embedding cell centre, (1, D, G, G)
// (segment-anything's get_dense_pe). It is computed once and cached (again if the
// Gaussian matrix changes); callers must not modify it.
func (p *PromptEncoder) DensePE() *tensor.Tensor {
	p.denseMu.Lock()
	defer p.denseMu.Unlock()
	g := p.PELayer.PositionalEncodingGaussianMatrix.Data()
	if p.denseAt == nil || !slices.Equal(g, p.denseFor) {
		p.denseAt, p.denseFor = p.densePE(), slices.Clone(g)
	}
	return p.denseAt
}

func (p *PromptEncoder) densePE() *tensor.Tensor {
	gh, gw := p.Grid[0], p.Grid[1]
	xy := make([]float32, 0, 2*gh*gw)
	for i := 0; i < gh; i++ {
		for j := 0; j < gw; j++ {
			xy = append(xy, (float32(j)+0.5)/float32(gw), (float32(i)+0.5)/float32(gh))
		}
	}
	pe := tensor.New(p.PELayer.encode(xy), gh, gw, p.EmbedDim)
	return tensor.Unsqueeze(tensor.Permute(pe, 2, 0, 1), 0)
}

// Forward embeds a batch of B prompts. points: (B, N, 2) (x, y) in input-image pixels
// with labels (B, N) (1 foreground, 0 background, −1 padding; other values get no
// learned embedding, as in the reference); boxes: (B, 4) x0, y0, x1, y1; masks:
// (B, 1, 4G, 4G) low-resolution mask logits. Any of them may be nil; B comes from the
// first one given (1 if none). Without boxes, one padding point is appended to the points.
// It returns the sparse embeddings (B, N(+1) + 2·[boxes], D) and the dense embeddings
// (B, D, G, G) — or (1, D, G, G) without masks: the no-mask embedding, the same for every
// prompt, which MaskDecoder broadcasts (the reference repeats it B times).
func (p *PromptEncoder) Forward(points, labels, boxes, masks *tensor.Tensor) (sparse, dense *tensor.Tensor) {
	bs := 1
	switch {
	case points != nil:
		bs = points.SizeOf(0)
	case boxes != nil:
		bs = boxes.SizeOf(0)
	case masks != nil:
		bs = masks.SizeOf(0)
	}
	d := p.EmbedDim
	var parts []*tensor.Tensor
	if points != nil {
		if labels == nil || points.Dim() != 3 || points.SizeOf(2) != 2 || labels.Dim() != 2 ||
			labels.SizeOf(0) != bs || labels.SizeOf(1) != points.SizeOf(1) {
			panic(fmt.Sprintf("sam.PromptEncoder: points %s and labels %s, want (B, N, 2) and (B, N)",
				shapeOf(points), shapeOf(labels)))
		}
		parts = append(parts, p.embedPoints(points, labels, boxes == nil))
	}
	if boxes != nil {
		if boxes.Dim() != 2 || boxes.SizeOf(1) != 4 || boxes.SizeOf(0) != bs {
			panic(fmt.Sprintf("sam.PromptEncoder: boxes %s, want (%d, 4)", shapeOf(boxes), bs))
		}
		parts = append(parts, p.embedBoxes(boxes))
	}
	switch len(parts) {
	case 0:
		sparse = tensor.Zeros(bs, 0, d)
	case 1:
		sparse = parts[0]
	default:
		sparse = tensor.Cat(parts, 1)
	}
	gh, gw := p.Grid[0], p.Grid[1]
	if masks != nil {
		if masks.Dim() != 4 || masks.SizeOf(0) != bs || masks.SizeOf(1) != 1 || masks.SizeOf(2) != 4*gh || masks.SizeOf(3) != 4*gw {
			panic(fmt.Sprintf("sam.PromptEncoder: masks %s, want (%d, 1, %d, %d)", shapeOf(masks), bs, 4*gh, 4*gw))
		}
		dense = p.MaskDownscaling.Forward(masks)
	} else {
		// The same for every prompt: one copy, which the decoder broadcasts.
		dense = tensor.Expand(tensor.Reshape(p.NoMaskEmbed.Weight, 1, d, 1, 1), 1, d, gh, gw)
	}
	return sparse, dense
}

func shapeOf(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return tensor.FormatShape(t.Shape())
}

// embedPoints returns (B, N(+1), D): the encoding of each point's pixel centre plus the
// embedding of its label; padding points (label −1) are the not-a-point embedding alone.
func (p *PromptEncoder) embedPoints(points, labels *tensor.Tensor, pad bool) *tensor.Tensor {
	bs, n, d := points.SizeOf(0), points.SizeOf(1), p.EmbedDim
	m := n
	if pad {
		m++
	}
	xy := make([]float32, 0, 2*bs*m)
	lab := make([]float32, 0, bs*m)
	pd, ld := points.Data(), labels.Data()
	for b := 0; b < bs; b++ {
		for i := 0; i < n; i++ {
			x, y := pd[(b*n+i)*2]+0.5, pd[(b*n+i)*2+1]+0.5
			xy = append(xy, x/float32(p.InputSize[1]), y/float32(p.InputSize[0]))
			lab = append(lab, ld[b*n+i])
		}
		if pad {
			xy = append(xy, 0, 0)
			lab = append(lab, -1)
		}
	}
	pe := p.PELayer.encode(xy)
	// Rows of the label table: 0 not-a-point, 1 negative, 2 positive, 3 none (zeros).
	idx := make([]float32, len(lab))
	for i, l := range lab {
		switch l {
		case -1:
			idx[i] = 0
			clear(pe[i*d : (i+1)*d])
		case 0:
			idx[i] = 1
		case 1:
			idx[i] = 2
		default:
			idx[i] = 3
		}
	}
	table := tensor.Cat([]*tensor.Tensor{p.NotAPointEmbed.Weight, p.PointEmbeddings[0].Weight, p.PointEmbeddings[1].Weight, tensor.Zeros(1, d)}, 0)
	emb := tensor.IndexSelect(table, 0, tensor.New(idx, len(idx)))
	return tensor.Reshape(tensor.Add(tensor.New(pe, len(lab), d), emb), bs, m, d)
}

// embedBoxes returns (B, 2, D): each corner's encoding plus the corner embedding.
func (p *PromptEncoder) embedBoxes(boxes *tensor.Tensor) *tensor.Tensor {
	bs, d := boxes.SizeOf(0), p.EmbedDim
	bd := boxes.Data()
	xy := make([]float32, 4*bs)
	for i := 0; i < 2*bs; i++ {
		xy[2*i] = (bd[2*i] + 0.5) / float32(p.InputSize[1])
		xy[2*i+1] = (bd[2*i+1] + 0.5) / float32(p.InputSize[0])
	}
	pe := tensor.New(p.PELayer.encode(xy), bs, 2, d)
	corners := tensor.Reshape(tensor.Cat([]*tensor.Tensor{p.PointEmbeddings[2].Weight, p.PointEmbeddings[3].Weight}, 0), 1, 2, d)
	return tensor.Add(pe, corners)
}
