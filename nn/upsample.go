package nn

import (
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// PixelShuffle rearranges (N, C·r², H, W) into (N, C, H·r, W·r) with r =
// UpscaleFactor (torch.nn.PixelShuffle, the sub-pixel convolution's last
// step).
type PixelShuffle struct {
	UpscaleFactor int
}

// Forward shuffles x: (N, C·r², H, W) to (N, C, H·r, W·r).
func (m PixelShuffle) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.PixelShuffle(x, m.UpscaleFactor)
}

// PixelUnshuffle is the inverse of PixelShuffle (torch.nn.PixelUnshuffle).
type PixelUnshuffle struct {
	DownscaleFactor int
}

// Forward maps x: (N, C, H·r, W·r) to (N, C·r², H, W).
func (m PixelUnshuffle) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.PixelUnshuffle(x, m.DownscaleFactor)
}

// Upsample resizes images (torch.nn.Upsample): set exactly one of Size
// (H', W') and ScaleFactor (non-integer and below-one factors allowed).
// Mode is "nearest" (the zero value), "nearest-exact", "bilinear",
// "bicubic" or "area"; see functional.Interpolate for the exact index rules,
// which are PyTorch 1.13's.
type Upsample struct {
	Size                 [2]int
	ScaleFactor          [2]float64
	Mode                 functional.InterpMode
	AlignCorners         bool
	RecomputeScaleFactor bool
}

// Forward resizes x: (N, C, H, W) to (N, C, H', W').
func (m Upsample) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Interpolate(x, functional.InterpolateOptions{Size: m.Size, ScaleFactor: m.ScaleFactor, Mode: m.Mode,
		AlignCorners: m.AlignCorners, RecomputeScaleFactor: m.RecomputeScaleFactor})
}

// UpsamplingNearest2d is Upsample with mode "nearest"
// (torch.nn.UpsamplingNearest2d). Set one of Size and ScaleFactor.
type UpsamplingNearest2d struct {
	Size        [2]int
	ScaleFactor [2]float64
}

// Forward resizes x: (N, C, H, W) to (N, C, H', W').
func (m UpsamplingNearest2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Interpolate(x, functional.InterpolateOptions{Size: m.Size, ScaleFactor: m.ScaleFactor, Mode: functional.Nearest})
}

// UpsamplingBilinear2d is Upsample with mode "bilinear" and
// AlignCorners true, as torch.nn.UpsamplingBilinear2d. Set one of Size and
// ScaleFactor.
type UpsamplingBilinear2d struct {
	Size        [2]int
	ScaleFactor [2]float64
}

// Forward resizes x: (N, C, H, W) to (N, C, H', W').
func (m UpsamplingBilinear2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.Interpolate(x, functional.InterpolateOptions{Size: m.Size, ScaleFactor: m.ScaleFactor, Mode: functional.Bilinear, AlignCorners: true})
}
