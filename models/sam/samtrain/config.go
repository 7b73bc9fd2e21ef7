package samtrain

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/sam"
)

// Training methods of Config.Method.
const (
	MethodFull    = "full"    // every parameter
	MethodDecoder = "decoder" // the mask decoder only (prompt and image encoders frozen)
	MethodLoRA    = "lora"    // LoRA on the image encoder's attention qkv and proj, prompt encoder and decoder trainable (SAMed)
	MethodAdapter = "adapter" // bottleneck adapters in the image encoder's blocks, prompt encoder and decoder trainable (Medical SAM Adapter)
)

// Config is one training run: model, data, recipe and optimisation.
type Config struct {
	// Model is the architecture (ignored when Init is given: the checkpoint's
	// architecture is used, from InitConfig or its shapes).
	Model sam.Config `json:"model"`
	// Init starts from these weights: an official .pth, a safetensors file with SAM's
	// names, or a samtrain last.safetensors/best.safetensors. Empty: PyTorch's default
	// initialisation from Seed.
	Init       string `json:"init,omitempty"`
	InitConfig string `json:"init_config,omitempty"` // JSON sam.Config of Init (empty: from Init's metadata or shapes)

	// Method selects what trains: MethodFull (default), MethodDecoder, MethodLoRA or
	// MethodAdapter.
	Method string `json:"method"`
	// LoRA: rank, alpha and the image-encoder modules adapted (SAMed: qkv; fovea's
	// default qkv and proj).
	LoRARank    int      `json:"lora_r"`
	LoRAAlpha   float64  `json:"lora_alpha"`
	LoRATargets []string `json:"lora_targets"`
	// AdapterReduction is the bottleneck adapters' reduction factor (width / factor).
	AdapterReduction int `json:"adapter_reduction"`

	// Dataset is "shapes" (the built-in data, generated as Shapes says) or "coco"
	// (COCO/COCOImages for training, ValCOCO/ValCOCOImages for validation).
	Dataset       string            `json:"dataset"`
	Shapes        data.ShapesConfig `json:"shapes"`
	COCO          string            `json:"coco,omitempty"`
	COCOImages    string            `json:"coco_images,omitempty"`
	ValCOCO       string            `json:"val_coco,omitempty"`
	ValCOCOImages string            `json:"val_coco_images,omitempty"`
	// ValImages caps the validation images scored after each epoch (0: all).
	ValImages int `json:"val_images"`

	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"` // images per step
	LR          float64 `json:"lr"`    // AdamW peak learning rate
	WeightDecay float64 `json:"weight_decay"`
	WarmupSteps int     `json:"warmup_steps"` // linear warm-up from 1 % of LR (SAM: 250)
	// Schedule after the warm-up: "cosine" (to 0 at the end) or "step" (÷10 at 2/3
	// and 8/9 of the run, SAM's shape).
	Schedule string  `json:"schedule"`
	ClipNorm float64 `json:"clip_norm"` // clip the gradients' global L2 norm (0: no clipping)

	Recipe Recipe `json:"recipe"`

	Seed    uint64 `json:"seed"`
	Threads int    `json:"threads"` // compute threads (0: all cores)
	// TimeBudget, if positive, cuts the epochs to what fits in this many seconds at the
	// first epoch's speed.
	TimeBudget float64 `json:"time_budget"`
	// Overlays is the number of validation images drawn into overlays/ at the end.
	Overlays int    `json:"overlays"`
	Out      string `json:"out"`
}

// TinyViT is the default architecture of `fovea train sam`: a small ViT SAM for the
// 64-pixel shapes data (patch 8, an 8×8 embedding grid, global attention).
func TinyViT() sam.Config {
	c := sam.VitB()
	c.ImageSize, c.PatchSize = 64, 8
	c.EncoderEmbedDim, c.EncoderDepth, c.EncoderNumHeads = 96, 4, 4
	c.EncoderGlobalAttnIndexes, c.WindowSize = nil, 0
	c.PromptEmbedDim, c.MaskInChans = 64, 16
	c.DecoderDepth, c.DecoderMLPDim, c.DecoderNumHeads = 2, 256, 4
	c.IoUHeadHiddenDim = 64
	return c
}

// TinyTinyViT is a small MobileSAM-style TinyViT SAM for the 64-pixel shapes data.
func TinyTinyViT() sam.Config {
	c := sam.VitT()
	c.ImageSize = 64
	c.TinyViTEmbedDims = []int{32, 48, 64, 96}
	c.TinyViTDepths = []int{1, 1, 2, 1}
	c.TinyViTNumHeads = []int{1, 2, 2, 4}
	c.TinyViTWindowSizes = []int{4, 4, 4, 4}
	c.TinyViTNumClasses = 0
	c.PromptEmbedDim, c.MaskInChans = 64, 16
	c.DecoderDepth, c.DecoderMLPDim, c.DecoderNumHeads = 2, 256, 4
	c.IoUHeadHiddenDim = 64
	return c
}

// DefaultConfig is `fovea train sam`'s default: TinyViT on 64-pixel shapes, the epochs cut to
// fit 9 minutes of training.
func DefaultConfig() Config {
	return Config{
		Model: TinyViT(), Method: MethodFull, LoRARank: 4, LoRAAlpha: 8, LoRATargets: []string{"qkv", "proj"},
		AdapterReduction: 4, Dataset: "shapes",
		Shapes:    data.ShapesConfig{Size: 64, Train: 1200, Val: 100, MinRadius: 0.14, MaxRadius: 0.45},
		ValImages: 100, Epochs: 6, Batch: 4, LR: 3e-4, WeightDecay: 0.1, WarmupSteps: 50, Schedule: "cosine",
		ClipNorm: 1, Recipe: DefaultRecipe(), Seed: 0, TimeBudget: 540, Overlays: 8, Out: "runs/sam",
	}
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	switch c.Method {
	case MethodFull, MethodDecoder, MethodLoRA, MethodAdapter:
	default:
		return fmt.Errorf("samtrain: method %q, want %s, %s, %s or %s", c.Method, MethodFull, MethodDecoder, MethodLoRA, MethodAdapter)
	}
	switch {
	case c.Method == MethodLoRA && (c.LoRARank < 1 || len(c.LoRATargets) == 0):
		return fmt.Errorf("samtrain: LoRA rank %d with targets %q, want a rank ≥ 1 and at least one target", c.LoRARank, c.LoRATargets)
	case c.Method == MethodAdapter && c.AdapterReduction < 1:
		return fmt.Errorf("samtrain: adapter reduction %d, want ≥ 1", c.AdapterReduction)
	case c.Dataset != "shapes" && c.Dataset != "coco":
		return fmt.Errorf("samtrain: dataset %q, want shapes or coco", c.Dataset)
	case c.Dataset == "coco" && (c.COCO == "" || c.COCOImages == ""):
		return fmt.Errorf("samtrain: the coco dataset needs an annotation file and an image folder")
	case c.Epochs < 1 || c.Batch < 1:
		return fmt.Errorf("samtrain: epochs %d, batch %d, want ≥ 1", c.Epochs, c.Batch)
	case !(c.LR > 0) || c.WeightDecay < 0 || c.WarmupSteps < 0 || c.ClipNorm < 0 || c.TimeBudget < 0:
		return fmt.Errorf("samtrain: lr %v, weight decay %v, warm-up %d, clip %v, time budget %v: want lr > 0, the others ≥ 0",
			c.LR, c.WeightDecay, c.WarmupSteps, c.ClipNorm, c.TimeBudget)
	case c.Schedule != "cosine" && c.Schedule != "step":
		return fmt.Errorf("samtrain: schedule %q, want cosine or step", c.Schedule)
	case c.Out == "":
		return fmt.Errorf("samtrain: no output folder")
	}
	if c.Init == "" {
		if err := c.Model.Validate(); err != nil {
			return err
		}
	}
	return c.Recipe.Validate()
}

// ReadConfig reads a JSON Config; fields left out keep DefaultConfig's values.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
