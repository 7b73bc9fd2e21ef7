// Package sam is Segment Anything (Kirillov et al., "Segment Anything", ICCV 2023;
// facebookresearch/segment-anything): a ViT image encoder run once per image, a prompt
// encoder for points, boxes and low-resolution masks, and a light two-way-transformer mask
// decoder that answers each prompt with masks, their predicted IoU and low-resolution
// logits. The official checkpoints (sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth,
// sam_vit_h_4b8939.pth) load by state-dict name with no mapping, and so does MobileSAM's
// mobile_sam.pt, whose image encoder is a TinyViT (see TinyViT for its names).
//
// State-dict names (those of the official checkpoints):
//
//	image_encoder.patch_embed.proj.{weight,bias}, image_encoder.pos_embed (1, G, G, C)
//	image_encoder.blocks.{i}.norm{1,2}.{weight,bias}, .attn.qkv.{weight,bias},
//	  .attn.proj.{weight,bias}, .attn.rel_pos_{h,w} (2S−1, C/heads), .mlp.lin{1,2}.{weight,bias}
//	image_encoder.neck.{0,2}.weight (convolutions), image_encoder.neck.{1,3}.{weight,bias} (LayerNorm2d)
//	prompt_encoder.pe_layer.positional_encoding_gaussian_matrix (2, D/2)
//	prompt_encoder.point_embeddings.{0..3}.weight, .not_a_point_embed.weight, .no_mask_embed.weight
//	prompt_encoder.mask_downscaling.{0,1,3,4,6}.*
//	mask_decoder.iou_token.weight, .mask_tokens.weight, .output_upscaling.{0,1,3}.*
//	mask_decoder.transformer.layers.{i}.{self_attn,cross_attn_token_to_image,cross_attn_image_to_token}.{q,k,v,out}_proj.*
//	mask_decoder.transformer.layers.{i}.norm{1..4}.*, .mlp.lin{1,2}.*
//	mask_decoder.transformer.final_attn_token_to_image.*, .norm_final_attn.*
//	mask_decoder.output_hypernetworks_mlps.{i}.layers.{0..2}.*, mask_decoder.iou_prediction_head.layers.{j}.*
package sam

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Config is the architecture of a SAM model. The JSON names are those of the keyword
// arguments of segment-anything's builders.
type Config struct {
	ImageSize                int       `json:"image_size"`                  // the encoder's square input side (1024)
	PatchSize                int       `json:"patch_size"`                  // ViT patch side (16)
	EncoderEmbedDim          int       `json:"encoder_embed_dim"`           // ViT width C (768, 1024, 1280)
	EncoderDepth             int       `json:"encoder_depth"`               // number of ViT blocks (12, 24, 32)
	EncoderNumHeads          int       `json:"encoder_num_heads"`           // attention heads per block (12, 16, 16)
	EncoderGlobalAttnIndexes []int     `json:"encoder_global_attn_indexes"` // blocks with global attention; the others use windows
	WindowSize               int       `json:"window_size"`                 // window side of windowed blocks (14)
	MLPRatio                 float64   `json:"mlp_ratio"`                   // MLP hidden width / C (4)
	UseRelPos                bool      `json:"use_rel_pos"`                 // decomposed relative position embeddings (true)
	UseAbsPos                bool      `json:"use_abs_pos"`                 // absolute position embedding pos_embed (true)
	QKVBias                  bool      `json:"qkv_bias"`                    // bias on the qkv projection (true)
	PromptEmbedDim           int       `json:"prompt_embed_dim"`            // D: image embedding channels and token width (256)
	MaskInChans              int       `json:"mask_in_chans"`               // channels of the mask-prompt downscaler (16)
	DecoderDepth             int       `json:"decoder_depth"`               // two-way transformer blocks (2)
	DecoderMLPDim            int       `json:"decoder_mlp_dim"`             // their MLP width (2048)
	DecoderNumHeads          int       `json:"decoder_num_heads"`           // their heads (8)
	NumMultimaskOutputs      int       `json:"num_multimask_outputs"`       // masks in multimask mode (3)
	IoUHeadDepth             int       `json:"iou_head_depth"`              // layers of the IoU head (3)
	IoUHeadHiddenDim         int       `json:"iou_head_hidden_dim"`         // its width (256)
	AttentionDownsampleRate  int       `json:"attention_downsample_rate"`   // cross-attention internal width = D / rate (2)
	PixelMean                []float32 `json:"pixel_mean"`                  // per-channel mean of 0..255 RGB input
	PixelStd                 []float32 `json:"pixel_std"`                   // per-channel standard deviation

	// Encoder selects the image encoder: "vit" (SAM's ImageEncoderViT, configured by the
	// encoder_* fields above; "" means the same) or "tiny_vit" (MobileSAM's TinyViT,
	// configured by the tiny_vit_* fields below, its embedding side ImageSize / 16 with
	// PatchSize 16; the ViT fields are then unused).
	Encoder string `json:"encoder,omitempty"`
	// TinyViT (MobileSAM's builder arguments; one value per stage, four stages).
	TinyViTEmbedDims         []int   `json:"tiny_vit_embed_dims,omitempty"`          // stage widths ([64, 128, 160, 320])
	TinyViTDepths            []int   `json:"tiny_vit_depths,omitempty"`              // blocks per stage ([2, 2, 6, 2]): MBConv in stage 0, attention blocks after
	TinyViTNumHeads          []int   `json:"tiny_vit_num_heads,omitempty"`           // attention heads per stage ([2, 4, 5, 10]; stage 0's is unused)
	TinyViTWindowSizes       []int   `json:"tiny_vit_window_sizes,omitempty"`        // attention window side per stage ([7, 7, 14, 7]; stage 0's is unused)
	TinyViTMLPRatio          float64 `json:"tiny_vit_mlp_ratio,omitempty"`           // MLP hidden width / stage width (4)
	TinyViTMBConvExpandRatio float64 `json:"tiny_vit_mbconv_expand_ratio,omitempty"` // MBConv hidden width / stage width (4)
	TinyViTLocalConvSize     int     `json:"tiny_vit_local_conv_size,omitempty"`     // depthwise convolution between attention and MLP (3)
	TinyViTNumClasses        int     `json:"tiny_vit_num_classes,omitempty"`         // classifier head kept in the checkpoint, unused by SAM (1000; 0: none)
}

// Image encoders selectable with Config.Encoder.
const (
	EncoderViT     = "vit"
	EncoderTinyViT = "tiny_vit"
)

// VitB is the configuration of sam_vit_b_01ec64.pth.
func VitB() Config { return official(768, 12, 12, []int{2, 5, 8, 11}) }

// VitL is the configuration of sam_vit_l_0b3195.pth.
func VitL() Config { return official(1024, 24, 16, []int{5, 11, 17, 23}) }

// VitH is the configuration of sam_vit_h_4b8939.pth.
func VitH() Config { return official(1280, 32, 16, []int{7, 15, 23, 31}) }

// VitT is the configuration of MobileSAM's mobile_sam.pt (build_sam_vit_t): the
// TinyViT-5M image encoder with SAM's prompt encoder and mask decoder.
func VitT() Config {
	c := official(0, 0, 0, nil)
	c.WindowSize, c.MLPRatio, c.UseRelPos, c.UseAbsPos, c.QKVBias = 0, 0, false, false, false
	c.Encoder = EncoderTinyViT
	c.TinyViTEmbedDims = []int{64, 128, 160, 320}
	c.TinyViTDepths = []int{2, 2, 6, 2}
	c.TinyViTNumHeads = []int{2, 4, 5, 10}
	c.TinyViTWindowSizes = []int{7, 7, 14, 7}
	c.TinyViTMLPRatio, c.TinyViTMBConvExpandRatio, c.TinyViTLocalConvSize, c.TinyViTNumClasses = 4, 4, 3, 1000
	return c
}

func official(dim, depth, heads int, global []int) Config {
	return Config{
		Encoder:   EncoderViT,
		ImageSize: 1024, PatchSize: 16, EncoderEmbedDim: dim, EncoderDepth: depth, EncoderNumHeads: heads,
		EncoderGlobalAttnIndexes: global, WindowSize: 14, MLPRatio: 4, UseRelPos: true, UseAbsPos: true, QKVBias: true,
		PromptEmbedDim: 256, MaskInChans: 16, DecoderDepth: 2, DecoderMLPDim: 2048, DecoderNumHeads: 8,
		NumMultimaskOutputs: 3, IoUHeadDepth: 3, IoUHeadHiddenDim: 256, AttentionDownsampleRate: 2,
		PixelMean: []float32{123.675, 116.28, 103.53}, PixelStd: []float32{58.395, 57.12, 57.375},
	}
}

// Grid is the side of the image embedding, ImageSize / PatchSize (64 for the official models).
func (c Config) Grid() int { return c.ImageSize / c.PatchSize }

// MaskInputSize is the side of a low-resolution mask prompt, 4·Grid (256).
func (c Config) MaskInputSize() int { return 4 * c.Grid() }

// isGlobal reports whether encoder block i uses global attention.
func (c Config) isGlobal(i int) bool {
	return c.WindowSize <= 0 || slices.Contains(c.EncoderGlobalAttnIndexes, i)
}

// Validate reports the first field that cannot build a model.
func (c Config) Validate() error {
	pos := func(name string, v int) error {
		if v < 1 {
			return fmt.Errorf("sam config: %s %d, want at least 1", name, v)
		}
		return nil
	}
	tiny := false
	switch c.Encoder {
	case "", EncoderViT:
	case EncoderTinyViT:
		tiny = true
	default:
		return fmt.Errorf("sam config: encoder %q, want %q or %q", c.Encoder, EncoderViT, EncoderTinyViT)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"image_size", c.ImageSize}, {"patch_size", c.PatchSize}, {"prompt_embed_dim", c.PromptEmbedDim},
		{"mask_in_chans", c.MaskInChans}, {"decoder_depth", c.DecoderDepth}, {"decoder_mlp_dim", c.DecoderMLPDim},
		{"decoder_num_heads", c.DecoderNumHeads}, {"num_multimask_outputs", c.NumMultimaskOutputs},
		{"iou_head_depth", c.IoUHeadDepth}, {"iou_head_hidden_dim", c.IoUHeadHiddenDim},
		{"attention_downsample_rate", c.AttentionDownsampleRate},
	} {
		if err := pos(f.name, f.v); err != nil {
			return err
		}
	}
	if tiny {
		if err := c.validateTinyViT(); err != nil {
			return err
		}
	} else if err := c.validateViT(); err != nil {
		return err
	}
	switch {
	case c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("sam config: image_size %d is not a multiple of patch_size %d", c.ImageSize, c.PatchSize)
	case c.MaskInChans%4 != 0:
		return fmt.Errorf("sam config: mask_in_chans %d, want a multiple of 4", c.MaskInChans)
	case c.PromptEmbedDim%8 != 0 || c.PromptEmbedDim%2 != 0:
		return fmt.Errorf("sam config: prompt_embed_dim %d, want a multiple of 8", c.PromptEmbedDim)
	case c.PromptEmbedDim%c.AttentionDownsampleRate != 0 || (c.PromptEmbedDim/c.AttentionDownsampleRate)%c.DecoderNumHeads != 0 || c.PromptEmbedDim%c.DecoderNumHeads != 0:
		return fmt.Errorf("sam config: prompt_embed_dim %d with attention_downsample_rate %d is not divisible among %d decoder heads",
			c.PromptEmbedDim, c.AttentionDownsampleRate, c.DecoderNumHeads)
	case len(c.PixelMean) != 3 || len(c.PixelStd) != 3:
		return fmt.Errorf("sam config: pixel_mean and pixel_std need 3 values each, have %d and %d", len(c.PixelMean), len(c.PixelStd))
	}
	for i, s := range c.PixelStd {
		if !(s > 0) {
			return fmt.Errorf("sam config: pixel_std[%d] = %v, want > 0", i, s)
		}
	}
	return nil
}

// validateViT checks the fields of the ViT image encoder.
func (c Config) validateViT() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"encoder_embed_dim", c.EncoderEmbedDim}, {"encoder_depth", c.EncoderDepth}, {"encoder_num_heads", c.EncoderNumHeads}} {
		if f.v < 1 {
			return fmt.Errorf("sam config: %s %d, want at least 1", f.name, f.v)
		}
	}
	switch {
	case c.EncoderEmbedDim%c.EncoderNumHeads != 0:
		return fmt.Errorf("sam config: encoder_embed_dim %d is not a multiple of encoder_num_heads %d", c.EncoderEmbedDim, c.EncoderNumHeads)
	case !(c.MLPRatio > 0):
		return fmt.Errorf("sam config: mlp_ratio %v, want > 0", c.MLPRatio)
	case c.WindowSize < 0:
		return fmt.Errorf("sam config: window_size %d, want ≥ 0 (0: all blocks global)", c.WindowSize)
	}
	for _, i := range c.EncoderGlobalAttnIndexes {
		if i < 0 || i >= c.EncoderDepth {
			return fmt.Errorf("sam config: encoder_global_attn_indexes holds %d, want block indexes in [0, %d)", i, c.EncoderDepth)
		}
	}
	return nil
}

// ReadConfig reads a Config from a JSON file; fields left out take vit_b's values, or
// with "encoder": "tiny_vit" vit_t's (except tiny_vit_num_classes: left out, no head).
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c := VitB()
	c.EncoderGlobalAttnIndexes = nil
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if c.Encoder == EncoderTinyViT {
		c = VitT()
		c.TinyViTNumClasses = 0 // omitted from JSON when 0
		if err := json.Unmarshal(b, &c); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// mlpDim is the hidden width of the encoder blocks' MLP, int(C·MLPRatio) as Python's int().
func (c Config) mlpDim() int { return int(float64(c.EncoderEmbedDim) * c.MLPRatio) }

// Describe names the architecture's image encoder and its size in a few words, e.g.
// "ViT width 768, depth 12, 1024 px" or "TinyViT widths [64 128 160 320], depths [2 2 6 2],
// 1024 px", for messages and for checking that an embedding fits a model.
func (c Config) Describe() string {
	if c.Encoder == EncoderTinyViT {
		return fmt.Sprintf("TinyViT widths %v, depths %v, %d px, embedding %d", c.TinyViTEmbedDims, c.TinyViTDepths, c.ImageSize, c.PromptEmbedDim)
	}
	return fmt.Sprintf("ViT width %d, depth %d, %d px, embedding %d", c.EncoderEmbedDim, c.EncoderDepth, c.ImageSize, c.PromptEmbedDim)
}
