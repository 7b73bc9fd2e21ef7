// Package gcn is the Global Convolutional Network for semantic segmentation
// (Peng et al., "Large Kernel Matters — Improve Semantic Segmentation by
// Global Convolutional Network", CVPR 2017): a ResNet backbone, a GCN module
// with large separable kernels on each of its four stages, Boundary
// Refinement blocks, and a decoder that upsamples the coarsest score map ×2
// at a time, adding the next stage's score map.
//
// State-dict names (stable; bench/train_torch.py builds the same names):
//
//	backbone.conv1.weight, backbone.bn1.{weight,bias,running_mean,running_var,num_batches_tracked}
//	backbone.layer{1..4}.{i}.conv{1,2[,3]}.weight, .bn{1,2[,3]}.*, .downsample.{0.weight,1.*}
//	gcn.{0..3}.{left1,left2,right1,right2}.{weight,bias}
//	br_score.{0..3}.conv{1,2}.{weight,bias}   (Boundary Refinement after each GCN)
//	br_merge.{0..2}.conv{1,2}.{weight,bias}   (after each ×2 upsample + add)
//	br_final.{0,1}.conv{1,2}.{weight,bias}    (after the last two ×2 upsamples)
//	up.{0..4}.deconv.{weight,bias}            (Upsampler "deconv")
//	up.{0..4}.conv.{weight,bias}              (Upsampler "pixelshuffle")
package gcn

import (
	"encoding/json"
	"fmt"
	"os"
)

// Config is everything needed to rebuild a model; it is saved as JSON beside
// every checkpoint.
type Config struct {
	NumClasses int     `json:"num_classes"`
	Backbone   string  `json:"backbone"`  // "resnet18", "resnet34" or "resnet50"
	Width      float64 `json:"width"`     // channel multiplier of the backbone (1 = the standard ResNet)
	K          int     `json:"k"`         // GCN kernel size, odd; 1 is the baseline without large kernels
	Upsampler  string  `json:"upsampler"` // "bilinear", "deconv" (transposed convolution) or "pixelshuffle"
	BR         bool    `json:"br"`        // use Boundary Refinement blocks
}

// DefaultConfig is the model `fovea train` builds by default: ResNet-18 at
// half width, k = 7, bilinear decoder, with Boundary Refinement.
func DefaultConfig(numClasses int) Config {
	return Config{NumClasses: numClasses, Backbone: "resnet18", Width: 0.5, K: 7, Upsampler: "bilinear", BR: true}
}

// Upsamplers lists the decoder's upsampling choices.
var Upsamplers = []string{"bilinear", "deconv", "pixelshuffle"}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.NumClasses < 1 {
		return fmt.Errorf("gcn config: num_classes %d, want at least 1", c.NumClasses)
	}
	if _, ok := layouts[c.Backbone]; !ok {
		return fmt.Errorf("gcn config: backbone %q, want resnet18, resnet34 or resnet50", c.Backbone)
	}
	if !(c.Width > 0 && c.Width <= 4) {
		return fmt.Errorf("gcn config: width %v, want a multiplier in (0, 4]", c.Width)
	}
	if c.K < 1 || c.K%2 == 0 {
		return fmt.Errorf("gcn config: k %d, want an odd kernel size ≥ 1", c.K)
	}
	switch c.Upsampler {
	case "bilinear", "deconv", "pixelshuffle":
	default:
		return fmt.Errorf("gcn config: upsampler %q, want bilinear, deconv or pixelshuffle", c.Upsampler)
	}
	return nil
}

// ReadConfig reads a Config from a JSON file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
