package cases

import (
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// The Segment Anything cases time the vit_b model of models/sam with random weights
// (PyTorch's default initialisation from the cases' seeded source), frozen with nn.Freeze
// so that inference records no graph. Building the model is part of Setup, not timed.
var (
	samEncoderCase = Case{
		Name: "sam-vitb-encoder-1024",
		API:  "sam.ImageEncoderViT.Forward",
		Doc: "SAM vit_b image encoder on one normalised image x (1, 3, 1024, 1024) → (1, 256, 64, 64): " +
			"16×16 patch conv, 12 ViT blocks (768 wide, 12 heads; 14×14 windows, global in blocks 2, 5, 8, 11), neck",
		Flops: samEncoderFlops(sam.VitB()),
		Setup: samEncoderSetup,
	}
	samDecoderCase = Case{
		Name: "sam-vitb-prompt-decoder",
		API:  "sam.PromptEncoder.Forward+MaskDecoder.Forward",
		Doc: "SAM vit_b prompt encoder and mask decoder: one positive point (500, 375) in 1024-pixel input " +
			"coordinates, fixed image embedding (1, 256, 64, 64), multimask → low-res logits (1, 3, 256, 256) and IoU (1, 3)",
		Setup: samDecoderSetup,
	}
	mobileSAMEncoderCase = Case{
		Name: "mobilesam-encoder-1024",
		API:  "sam.TinyViT.Forward",
		Doc: "MobileSAM (vit_t) TinyViT image encoder on one normalised image x (1, 3, 1024, 1024) → (1, 256, 64, 64): " +
			"conv stem, MBConv stage, three stages of windowed attention blocks with attention biases, neck",
		Setup: mobileSAMEncoderSetup,
	}
	samGridDecoderCase = Case{
		Name: "sam-vitb-grid-decoder-32",
		API:  "automask.Generator.DecodePoints",
		Doc: "the automatic mask generator's decoder work for one image: the 1,024 points of a 32×32 grid over a " +
			"1024×768 image through the vit_b prompt encoder and mask decoder in batches of 64 (points_per_batch), " +
			"multimask, against a fixed image embedding (1, 256, 64, 64) → low-res logits (1024, 3, 256, 256) and IoUs",
		Setup: samGridDecoderSetup,
	}
	samAutoCase = Case{
		Name: "sam-vitb-auto-1024x768",
		API:  "automask.Generator.Generate",
		Doc: "segment everything with vit_b on one random 1024×768 RGB image, default options (32×32 points, " +
			"batches of 64, pred_iou_thresh 0.88, stability 0.95, no crops), encoder included; with random weights " +
			"no mask passes the thresholds",
		Setup: func(s Size) Work { return autoSetup(s, sam.VitB(), false) },
	}
	mobileSAMAutoCase = Case{
		Name:  "mobilesam-auto-1024x768",
		API:   "automask.Generator.Generate",
		Doc:   "segment everything with MobileSAM (vit_t) on one random 1024×768 RGB image, default options, encoder included",
		Setup: func(s Size) Work { return autoSetup(s, sam.VitT(), false) },
	}
	mobileSAMAutoKeepAllCase = Case{
		Name: "mobilesam-auto-1024x768-keepall",
		API:  "automask.Generator.Generate",
		Doc: "mobilesam-auto-1024x768 with pred_iou_thresh and stability_score_thresh 0: every one of the 3,072 masks " +
			"is upscaled to 1024×768, scored, boxed and run-length encoded, then box NMS (0.7) and records",
		Setup: func(s Size) Work { return autoSetup(s, sam.VitT(), true) },
	}
)

// The generator and MobileSAM cases follow the SAM cases of the registry.
func init() {
	registry = append(registry, samGridDecoderCase, samAutoCase, mobileSAMEncoderCase, mobileSAMAutoCase, mobileSAMAutoKeepAllCase)
}

// samConfig is vit_b, or at Tiny size a model of the same structure small enough to run
// in milliseconds: 128-pixel image (8×8 grid of 16-pixel patches), width 64, two blocks of
// 2 heads, the first in 3×3 windows (which pad the grid to 9×9, as vit_b's 14×14 windows
// pad 64×64 to 70×70; 4×4 windows would not pad), the second global; a 32-wide prompt
// encoder and decoder with 2 heads and MLP width 64.
func samConfig(s Size) sam.Config {
	c := sam.VitB()
	if s == Tiny {
		c.ImageSize, c.PatchSize = 128, 16
		c.EncoderEmbedDim, c.EncoderDepth, c.EncoderNumHeads = 64, 2, 2
		c.WindowSize, c.EncoderGlobalAttnIndexes = 3, []int{1}
		c.PromptEmbedDim, c.MaskInChans = 32, 4
		c.DecoderMLPDim, c.DecoderNumHeads, c.IoUHeadHiddenDim = 64, 2, 32
	}
	return c
}

// mobileSAMConfig is vit_t, or at Tiny size a TinyViT of the same structure on a
// 128-pixel image with the Tiny prompt encoder and decoder of samConfig.
func mobileSAMConfig(s Size) sam.Config {
	c := sam.VitT()
	if s == Tiny {
		t := samConfig(Tiny)
		c.ImageSize = t.ImageSize
		c.TinyViTEmbedDims, c.TinyViTDepths = []int{8, 16, 16, 32}, []int{1, 1, 1, 1}
		c.TinyViTNumHeads, c.TinyViTWindowSizes, c.TinyViTNumClasses = []int{1, 1, 1, 2}, []int{7, 7, 7, 7}, 0
		c.PromptEmbedDim, c.MaskInChans = t.PromptEmbedDim, t.MaskInChans
		c.DecoderMLPDim, c.DecoderNumHeads, c.IoUHeadHiddenDim = t.DecoderMLPDim, t.DecoderNumHeads, t.IoUHeadHiddenDim
	}
	return c
}

// newSAM builds the frozen model of size s.
func newSAM(s Size) *sam.Model { return newModel(samConfig(s)) }

// newModel builds the frozen model of configuration c with the cases' seeded weights.
func newModel(c sam.Config) *sam.Model {
	m, err := sam.New(newRNG(), c)
	if err != nil {
		panic("bench/cases: " + err.Error())
	}
	nn.Freeze(m)
	return m
}

// samEncoderFlops counts the image encoder's matrix-product and convolution FLOPs
// (2 per multiply-add) for one image, as segment-anything's ImageEncoderViT computes them.
// With grid G = ImageSize/P, tokens T = G², width C, MLP width M, heads h (head width
// C/h), window S and Tw = ⌈G/S⌉²·S² tokens of the zero-padded window grid:
//
//	patch embedding   2·T·C·(3·P²)
//	windowed block    qkv 2·Tw·C·3C + proj 2·Tw·C·C (both on the padded windows)
//	                  + QKᵀ and PV 2·2·Tw·S²·C (⌈G/S⌉² windows of S² tokens, all heads)
//	                  + relative positions 2·2·Tw·S·C (q against the S height and S width
//	                    offsets, the two einsums of add_decomposed_rel_pos)
//	                  + MLP 2·2·T·C·M
//	global block      the same with Tw → T and S² → T, S → G
//	neck              1×1 conv 2·T·D·C + 3×3 conv 2·T·D·D·9
//
// Normalisations, GELU, softmax, the residual and position-embedding additions and the
// window partitioning are not counted. vit_b (G 64, C 768, M 3072, S 14, Tw 4900, eight
// windowed and four global blocks, D 256) comes to 972.1 GFLOP: 4.8 patch embedding,
// 8 × 64.9 windowed blocks, 4 × 110.3 global blocks, 6.4 neck. The MLPs are 40 % of it
// (38.7 per block), global attention's QKᵀ and PV 21 % (51.5 per global block).
func samEncoderFlops(c sam.Config) float64 {
	g := float64(c.Grid())
	t := g * g
	cw := float64(c.EncoderEmbedDim)
	m := float64(int(float64(c.EncoderEmbedDim) * c.MLPRatio))
	d := float64(c.PromptEmbedDim)
	p := float64(c.PatchSize)
	total := 2*t*cw*3*p*p + 2*t*d*cw + 2*t*d*d*9
	for i := 0; i < c.EncoderDepth; i++ {
		global := c.WindowSize <= 0
		for _, j := range c.EncoderGlobalAttnIndexes {
			global = global || j == i
		}
		tw, keys, side := t, t, g // tokens the attention runs on, keys per query, rel-pos side
		if !global {
			s := c.WindowSize
			n := (c.Grid() + s - 1) / s
			tw, keys, side = float64(n*n*s*s), float64(s*s), float64(s)
		}
		total += 2*tw*cw*3*cw + 2*tw*cw*cw // qkv, proj
		total += 2 * 2 * tw * keys * cw    // QKᵀ, PV
		if c.UseRelPos {
			total += 2 * 2 * tw * side * cw
		}
		total += 2 * 2 * t * cw * m // MLP
	}
	return total
}

func samEncoderSetup(s Size) Work {
	m := newSAM(s)
	c := m.Config
	x := tensor.New(uniform(newRNG(), 3*c.ImageSize*c.ImageSize), 1, 3, c.ImageSize, c.ImageSize)
	return Work{Run: func() { m.ImageEncoder.Forward(x) }, Flops: samEncoderFlops(c)}
}

// samDecoderSetup times one point prompt: the point (500, 375) of a 1024-pixel input
// (scaled to the Tiny model's input), label 1, no box or mask, against a fixed uniform
// image embedding. Each run asks for the dense positional encoding, as segment-anything's
// predictor passes get_dense_pe() with every prompt (fovea caches it, PyTorch computes it).
func samDecoderSetup(s Size) Work {
	m := newSAM(s)
	c := m.Config
	g, d := c.Grid(), c.PromptEmbedDim
	emb := tensor.New(uniform(newRNG(), d*g*g), 1, d, g, g)
	f := float32(c.ImageSize) / 1024
	pts := tensor.New([]float32{500 * f, 375 * f}, 1, 1, 2)
	labels := tensor.New([]float32{1}, 1, 1)
	return Work{Run: func() {
		sparse, dense := m.PromptEncoder.Forward(pts, labels, nil, nil)
		m.MaskDecoder.Forward(emb, m.PromptEncoder.DensePE(), sparse, dense, true)
	}}
}

func mobileSAMEncoderSetup(s Size) Work {
	m := newModel(mobileSAMConfig(s))
	c := m.Config
	x := tensor.New(uniform(newRNG(), 3*c.ImageSize*c.ImageSize), 1, 3, c.ImageSize, c.ImageSize)
	return Work{Run: func() { m.ImageEncoder.Forward(x) }}
}

// autoImage is the image of the segment-everything cases: H×W = 768×1024 (Tiny: 96×128)
// 8-bit RGB, uniform random bytes from the cases' source.
func autoImage(s Size) (pix []uint8, h, w int) {
	h, w = 768, 1024
	if s == Tiny {
		h, w = 96, 128
	}
	rng := newRNG()
	pix = make([]uint8, h*w*3)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	return pix, h, w
}

// autoOptions are the reference's defaults (4×4 points at Tiny size), with the
// predicted-IoU and stability filters off when keepAll.
func autoOptions(s Size, keepAll bool) automask.Options {
	opt := automask.DefaultOptions()
	if s == Tiny {
		opt.PointsPerSide = 4
	}
	if keepAll {
		opt.PredIoUThresh, opt.StabilityScoreThresh = 0, 0
	}
	return opt
}

// samGridDecoderSetup times DecodePoints on the 32×32 grid (4×4 at Tiny size) scaled to
// the resized frame of a 1024×768 image, as the generator's apply_coords gives them.
func samGridDecoderSetup(s Size) Work {
	m := newSAM(s)
	c := m.Config
	g, err := automask.New(m, autoOptions(s, false))
	if err != nil {
		panic("bench/cases: " + err.Error())
	}
	_, h, w := autoImage(s)
	nh, nw := sam.PreprocessShape(h, w, c.ImageSize)
	side := 32
	if s == Tiny {
		side = 4
	}
	grid := automask.BuildPointGrid(side)
	pts := make([][2]float64, len(grid))
	for i, p := range grid {
		pts[i] = [2]float64{p[0] * float64(w) * float64(nw) / float64(w), p[1] * float64(h) * float64(nh) / float64(h)}
	}
	emb := tensor.New(uniform(newRNG(), c.PromptEmbedDim*c.Grid()*c.Grid()), 1, c.PromptEmbedDim, c.Grid(), c.Grid())
	return Work{Run: func() { g.DecodePoints(emb, pts, nil) }}
}

// autoSetup times Generate on the random image with the model of configuration c
// (shrunk at Tiny size).
func autoSetup(s Size, c sam.Config, keepAll bool) Work {
	if s == Tiny {
		if c.Encoder == sam.EncoderTinyViT {
			c = mobileSAMConfig(Tiny)
		} else {
			c = samConfig(Tiny)
		}
	}
	g, err := automask.New(newModel(c), autoOptions(s, keepAll))
	if err != nil {
		panic("bench/cases: " + err.Error())
	}
	pix, h, w := autoImage(s)
	return Work{Run: func() {
		if _, err := g.Generate(pix, h, w); err != nil {
			panic("bench/cases: " + err.Error())
		}
	}}
}
