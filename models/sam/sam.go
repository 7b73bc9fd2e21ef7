package sam

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Model is Segment Anything: image encoder, prompt encoder and mask decoder (the
// reference's Sam module; pixel_mean and pixel_std are in Config, as they are not in the
// state dict).
type Model struct {
	ImageEncoder  ImageEncoder
	PromptEncoder *PromptEncoder
	MaskDecoder   *MaskDecoder
	Config        Config `nn:"-"`
}

// ImageEncoder maps normalised images x: (B, 3, S, S) to image embeddings (B, D, G, G):
// *ImageEncoderViT (SAM) or another backbone with the same output (MobileSAM's TinyViT).
type ImageEncoder interface {
	Forward(x *tensor.Tensor) *tensor.Tensor
	// ForwardProgress is Forward calling progress(done, total) as stages finish
	// (progress may be nil).
	ForwardProgress(x *tensor.Tensor, progress func(done, total int)) *tensor.Tensor
}

// MaskThreshold is the logit above which a pixel belongs to the mask.
const MaskThreshold = 0

// New builds a model with PyTorch's default initialisation from rng (meant to be
// overwritten by a checkpoint, or trained).
func New(rng *rand.Rand, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var enc ImageEncoder
	if cfg.Encoder == EncoderTinyViT {
		enc = newTinyViT(rng, cfg)
	} else {
		enc = newImageEncoder(rng, cfg)
	}
	return &Model{
		ImageEncoder:  enc,
		PromptEncoder: newPromptEncoder(rng, cfg),
		MaskDecoder:   newMaskDecoder(rng, cfg),
		Config:        cfg,
	}, nil
}

// Preprocess turns an RGB image already resized so that its longer side is ImageSize,
// img: (3, h, w) with values 0…255, into the encoder's input (1, 3, ImageSize, ImageSize):
// normalised by PixelMean and PixelStd, then zero-padded at the bottom and right.
func (m *Model) Preprocess(img *tensor.Tensor) *tensor.Tensor {
	s := m.Config.ImageSize
	if img.Dim() != 3 || img.SizeOf(0) != 3 || img.SizeOf(1) > s || img.SizeOf(2) > s {
		panic(fmt.Sprintf("sam.Preprocess: image %s, want (3, h, w) with h, w ≤ %d", shapeOf(img), s))
	}
	h, w := img.SizeOf(1), img.SizeOf(2)
	out := tensor.Zeros(1, 3, s, s)
	src, dst := img.Data(), out.Data()
	for c := 0; c < 3; c++ {
		mean, std := m.Config.PixelMean[c], m.Config.PixelStd[c]
		for y := 0; y < h; y++ {
			row := src[(c*h+y)*w : (c*h+y+1)*w]
			drow := dst[(c*s+y)*s : (c*s+y)*s+w]
			for x, v := range row {
				drow[x] = (v - mean) / std
			}
		}
	}
	return out
}

// PostprocessMasks maps low-resolution mask logits (B, K, 4G, 4G) to the original image:
// bilinear upscaling to ImageSize², cropping the padding off (to inputSize, the resized
// image's (h, w)), and bilinear resizing to origSize (H, W). Result (B, K, H, W) logits.
func (m *Model) PostprocessMasks(masks *tensor.Tensor, inputSize, origSize [2]int) *tensor.Tensor {
	s := m.Config.ImageSize
	x := functional.Interpolate(masks, functional.InterpolateOptions{Size: [2]int{s, s}, Mode: functional.Bilinear})
	if inputSize != [2]int{s, s} {
		x = tensor.Narrow(tensor.Narrow(x, 2, 0, inputSize[0]), 3, 0, inputSize[1])
	}
	if origSize == inputSize {
		return x // resizing to the same size is the identity
	}
	return functional.Interpolate(x, functional.InterpolateOptions{Size: origSize, Mode: functional.Bilinear})
}

// ConfigFromWeights recognises the architecture from the shapes of a checkpoint's
// tensors (names without any "model." style prefix): vit_b, vit_l and vit_h, and other
// sizes as far as shapes tell; MobileSAM (vit_t) and other TinyViT encoders by
// image_encoder.patch_embed.seq.0.c.weight (see tinyViTConfigFromWeights). The number of
// attention heads is not visible in the shapes: the encoder's comes from the
// relative-position tables (head width), the decoder's is the official 8; give a JSON
// config for models that differ.
func ConfigFromWeights(src nn.TensorSource, prefix string) (Config, error) {
	shape, need := weightShapes(src, prefix)
	if _, ok := src.Shape(prefix + tinyViTMarker); ok {
		c, err := tinyViTConfigFromWeights(src, prefix)
		if err != nil {
			return c, err
		}
		return promptDecoderFromWeights(src, prefix, c)
	}
	c := VitB()
	pw, err := need("image_encoder.patch_embed.proj.weight", 4)
	if err != nil {
		return c, err
	}
	c.EncoderEmbedDim, c.PatchSize = pw[0], pw[2]
	depth := 0
	for _, name := range src.Names() {
		rest, ok := strings.CutPrefix(name, prefix+"image_encoder.blocks.")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
		if err == nil && i+1 > depth {
			depth = i + 1
		}
	}
	if depth == 0 {
		return c, fmt.Errorf("no image_encoder.blocks: not a Segment Anything ViT checkpoint")
	}
	c.EncoderDepth = depth
	if pe := shape("image_encoder.pos_embed"); len(pe) == 4 {
		c.UseAbsPos = true
		c.ImageSize = pe[1] * c.PatchSize
	} else {
		c.UseAbsPos = false
	}
	c.UseRelPos = shape("image_encoder.blocks.0.attn.rel_pos_h") != nil
	c.QKVBias = shape("image_encoder.blocks.0.attn.qkv.bias") != nil
	switch c.EncoderEmbedDim {
	case 768:
		c.EncoderNumHeads = 12
	case 1024, 1280:
		c.EncoderNumHeads = 16
	}
	c.EncoderGlobalAttnIndexes = nil
	if c.UseRelPos {
		// Each block's table covers 2S−1 offsets: S is the grid in global blocks and
		// the window in windowed ones. Without pos_embed the grid is the largest S.
		sides := make([]int, depth)
		grid := 0
		for i := range sides {
			r := shape("image_encoder.blocks." + strconv.Itoa(i) + ".attn.rel_pos_h")
			if len(r) != 2 || r[1] < 1 {
				return c, fmt.Errorf("block %d has no 2-D attn.rel_pos_h", i)
			}
			c.EncoderNumHeads = c.EncoderEmbedDim / r[1]
			sides[i] = (r[0] + 1) / 2
			grid = max(grid, sides[i])
		}
		if c.UseAbsPos {
			grid = c.ImageSize / c.PatchSize
		} else {
			c.ImageSize = grid * c.PatchSize
		}
		c.WindowSize = 0
		for i, s := range sides {
			if s == grid {
				c.EncoderGlobalAttnIndexes = append(c.EncoderGlobalAttnIndexes, i)
			} else {
				c.WindowSize = s
			}
		}
	}
	if l1 := shape("image_encoder.blocks.0.mlp.lin1.weight"); len(l1) == 2 {
		c.MLPRatio = float64(l1[0]) / float64(c.EncoderEmbedDim)
	}
	return promptDecoderFromWeights(src, prefix, c)
}

// weightShapes returns shape(name), the shape of prefix+name or nil, and need(name,
// dims), the shape of a tensor that must exist with dims dimensions.
func weightShapes(src nn.TensorSource, prefix string) (func(string) []int, func(string, int) ([]int, error)) {
	shape := func(name string) []int {
		s, _ := src.Shape(prefix + name)
		return s
	}
	need := func(name string, dims int) ([]int, error) {
		s, ok := src.Shape(prefix + name)
		if !ok {
			return nil, fmt.Errorf("no tensor %q: not a Segment Anything checkpoint", prefix+name)
		}
		if len(s) != dims {
			return nil, fmt.Errorf("tensor %q has shape %s, want %d dimensions", prefix+name, tensor.FormatShape(s), dims)
		}
		return s, nil
	}
	return shape, need
}

// promptDecoderFromWeights completes c, whose image encoder is recognised, with the neck's
// width (the prompt embedding width), the prompt encoder and the mask decoder, and
// validates it.
func promptDecoderFromWeights(src nn.TensorSource, prefix string, c Config) (Config, error) {
	shape, need := weightShapes(src, prefix)
	n0, err := need("image_encoder.neck.0.weight", 4)
	if err != nil {
		return c, err
	}
	c.PromptEmbedDim = n0[0]
	if md := shape("prompt_encoder.mask_downscaling.3.weight"); len(md) == 4 {
		c.MaskInChans = md[0]
	}
	c.DecoderDepth = 0
	for _, name := range src.Names() {
		rest, ok := strings.CutPrefix(name, prefix+"mask_decoder.transformer.layers.")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)]); err == nil && i+1 > c.DecoderDepth {
			c.DecoderDepth = i + 1
		}
	}
	if l1 := shape("mask_decoder.transformer.layers.0.mlp.lin1.weight"); len(l1) == 2 {
		c.DecoderMLPDim = l1[0]
	}
	if q := shape("mask_decoder.transformer.final_attn_token_to_image.q_proj.weight"); len(q) == 2 && q[0] > 0 {
		c.AttentionDownsampleRate = c.PromptEmbedDim / q[0]
	}
	if mt := shape("mask_decoder.mask_tokens.weight"); len(mt) == 2 {
		c.NumMultimaskOutputs = mt[0] - 1
	}
	c.IoUHeadDepth = 0
	for {
		s := shape("mask_decoder.iou_prediction_head.layers." + strconv.Itoa(c.IoUHeadDepth) + ".weight")
		if s == nil {
			break
		}
		if c.IoUHeadDepth == 0 {
			c.IoUHeadHiddenDim = s[0]
		}
		c.IoUHeadDepth++
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("the checkpoint's shapes give an invalid configuration (%w); give a JSON config", err)
	}
	return c, nil
}
