package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
)

// Pair returns [2]int{k, k}, for square kernels, strides and paddings.
func Pair(k int) [2]int { return [2]int{k, k} }

// PaddingMode selects how Conv2d fills its padding (PyTorch's padding_mode).
// Every mode but PadZeros pads the input with tensor.Pad and then convolves
// with padding 0, as PyTorch's Conv2d does.
type PaddingMode int

const (
	PadZeros     PaddingMode = iota // zeros (PyTorch's default "zeros")
	PadReflect                      // mirror without repeating the edge ("reflect"); padding < size
	PadReplicate                    // repeat the edge ("replicate")
	PadCircular                     // wrap around, a periodic input ("circular"); padding ≤ size
)

// String returns PyTorch's name of the mode: "zeros", "reflect",
// "replicate" or "circular".
func (m PaddingMode) String() string {
	switch m {
	case PadZeros:
		return "zeros"
	case PadReflect:
		return "reflect"
	case PadReplicate:
		return "replicate"
	case PadCircular:
		return "circular"
	}
	return fmt.Sprintf("PaddingMode(%d)", int(m))
}

// ParsePaddingMode returns the mode PyTorch calls name ("zeros", "reflect",
// "replicate" or "circular"), or an error naming the accepted values.
func ParsePaddingMode(name string) (PaddingMode, error) {
	for m := PadZeros; m <= PadCircular; m++ {
		if m.String() == name {
			return m, nil
		}
	}
	return 0, fmt.Errorf("padding mode %q: want zeros, reflect, replicate or circular", name)
}

// Conv2dConfig describes a Conv2d layer. Zero Stride, Dilation and Groups
// mean 1; the bias is on unless NoBias.
type Conv2dConfig struct {
	In, Out                   int    // channels
	Kernel                    [2]int // (KH, KW)
	Stride, Padding, Dilation [2]int // (height, width)
	// PaddingSame pads so that the output has the input's size (PyTorch's
	// padding="same"; stride must be 1): a total of Dilation·(K−1) per axis,
	// the odd one extra on the bottom/right as PyTorch does. Padding is
	// then ignored.
	PaddingSame bool
	// PaddingMode fills the padding (PyTorch's padding_mode): zeros,
	// reflect, replicate or circular.
	PaddingMode PaddingMode
	Groups      int
	NoBias      bool
}

// Conv2d is a 2-D convolution layer (torch.nn.Conv2d). State-dict names:
// weight (Out, In/Groups, KH, KW), bias (Out) or nil.
type Conv2d struct {
	Weight                    *tensor.Tensor
	Bias                      *tensor.Tensor
	Stride, Padding, Dilation [2]int
	PaddingSame               bool
	PaddingMode               PaddingMode
	Groups                    int
	// Delta, when set, is applied to the output (see Delta); not saved.
	Delta Delta `nn:"-"`
}

// NewConv2d returns a Conv2d initialised as PyTorch does (weight and bias
// from U(±1/√fan_in), fan_in = In/Groups·KH·KW).
func NewConv2d(rng *rand.Rand, cfg Conv2dConfig) *Conv2d {
	g := max(cfg.Groups, 1)
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.In%g != 0 || cfg.Out%g != 0 || cfg.Kernel[0] <= 0 || cfg.Kernel[1] <= 0 {
		panic(fmt.Sprintf("nn.NewConv2d: %d→%d channels, kernel %v, %d groups: channels must be positive and divisible by groups, kernel positive",
			cfg.In, cfg.Out, cfg.Kernel, g))
	}
	if cfg.PaddingSame && (max(cfg.Stride[0], 1) != 1 || max(cfg.Stride[1], 1) != 1) {
		panic(fmt.Sprintf("nn.NewConv2d: padding 'same' needs stride 1, got %v", cfg.Stride))
	}
	c := &Conv2d{
		Weight: param(cfg.Out, cfg.In/g, cfg.Kernel[0], cfg.Kernel[1]),
		Stride: cfg.Stride, Padding: cfg.Padding, Dilation: cfg.Dilation,
		PaddingSame: cfg.PaddingSame, PaddingMode: cfg.PaddingMode, Groups: cfg.Groups,
	}
	if !cfg.NoBias {
		c.Bias = param(cfg.Out)
	}
	defaultWeightBias(rng, c.Weight, c.Bias)
	return c
}

// Forward convolves x: (N, In, H, W) into (N, Out, OH, OW) with
// OH = (H + 2·PH − DH·(KH−1) − 1)/SH + 1, likewise OW (OH = H with
// PaddingSame), then applies Delta if set.
func (c *Conv2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := c.conv(x)
	if c.Delta != nil {
		return c.Delta.Forward(x, y)
	}
	return y
}

func (c *Conv2d) conv(x *tensor.Tensor) *tensor.Tensor {
	kh, kw := c.Weight.SizeOf(2), c.Weight.SizeOf(3)
	dh, dw := max(c.Dilation[0], 1), max(c.Dilation[1], 1)
	var top, bottom, left, right int
	if c.PaddingSame {
		if max(c.Stride[0], 1) != 1 || max(c.Stride[1], 1) != 1 {
			panic(fmt.Sprintf("nn.Conv2d: padding 'same' needs stride 1, got %v", c.Stride))
		}
		th, tw := dh*(kh-1), dw*(kw-1)
		top, left = th/2, tw/2
		bottom, right = th-top, tw-left
	} else {
		top, bottom, left, right = c.Padding[0], c.Padding[0], c.Padding[1], c.Padding[1]
	}
	opt := tensor.ConvOptions{Stride: c.Stride, Dilation: c.Dilation, Groups: c.Groups}
	if c.PaddingMode == PadZeros && top == bottom && left == right {
		opt.Padding = [2]int{top, left}
		return tensor.Conv2d(x, c.Weight, c.Bias, opt)
	}
	mode := tensor.PadConstant
	switch c.PaddingMode {
	case PadReflect:
		mode = tensor.PadReflect
	case PadReplicate:
		mode = tensor.PadReplicate
	case PadCircular:
		mode = tensor.PadCircular
	case PadZeros:
	default:
		panic(fmt.Sprintf("nn.Conv2d: unknown padding mode %v", c.PaddingMode))
	}
	if x.Dim() != 4 {
		panic(fmt.Sprintf("nn.Conv2d: input %s, want (N, C, H, W)", tensor.FormatShape(x.Shape())))
	}
	xp := tensor.Pad(x, []int{left, right, top, bottom}, mode, 0)
	return tensor.Conv2d(xp, c.Weight, c.Bias, opt)
}

// ConvTranspose2dConfig describes a ConvTranspose2d layer. Zero Stride,
// Dilation and Groups mean 1; the bias is on unless NoBias.
type ConvTranspose2dConfig struct {
	In, Out                                  int
	Kernel                                   [2]int
	Stride, Padding, OutputPadding, Dilation [2]int
	Groups                                   int
	NoBias                                   bool
}

// ConvTranspose2d is a transposed 2-D convolution layer
// (torch.nn.ConvTranspose2d), the gradient of Conv2d with respect to its
// input, used to upsample. State-dict names: weight (In, Out/Groups, KH,
// KW), bias (Out) or nil.
type ConvTranspose2d struct {
	Weight                                   *tensor.Tensor
	Bias                                     *tensor.Tensor
	Stride, Padding, OutputPadding, Dilation [2]int
	Groups                                   int
}

// NewConvTranspose2d returns a ConvTranspose2d initialised as PyTorch does:
// weight and bias from U(±1/√fan_in) where, as in PyTorch, fan_in is
// computed from the weight's second dimension: Out/Groups·KH·KW.
func NewConvTranspose2d(rng *rand.Rand, cfg ConvTranspose2dConfig) *ConvTranspose2d {
	g := max(cfg.Groups, 1)
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.In%g != 0 || cfg.Out%g != 0 || cfg.Kernel[0] <= 0 || cfg.Kernel[1] <= 0 {
		panic(fmt.Sprintf("nn.NewConvTranspose2d: %d→%d channels, kernel %v, %d groups: channels must be positive and divisible by groups, kernel positive",
			cfg.In, cfg.Out, cfg.Kernel, g))
	}
	c := &ConvTranspose2d{
		Weight: param(cfg.In, cfg.Out/g, cfg.Kernel[0], cfg.Kernel[1]),
		Stride: cfg.Stride, Padding: cfg.Padding, OutputPadding: cfg.OutputPadding, Dilation: cfg.Dilation, Groups: cfg.Groups,
	}
	if !cfg.NoBias {
		c.Bias = param(cfg.Out)
	}
	defaultWeightBias(rng, c.Weight, c.Bias)
	return c
}

// Forward maps x: (N, In, H, W) to (N, Out, OH, OW) with
// OH = (H−1)·SH − 2·PH + DH·(KH−1) + OPH + 1, likewise OW.
func (c *ConvTranspose2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return c.forward(x, c.OutputPadding)
}

func (c *ConvTranspose2d) forward(x *tensor.Tensor, outputPadding [2]int) *tensor.Tensor {
	return tensor.ConvTranspose2d(x, c.Weight, c.Bias, tensor.ConvTransposeOptions{
		Stride: c.Stride, Padding: c.Padding, OutputPadding: outputPadding, Dilation: c.Dilation, Groups: c.Groups,
	})
}

// ForwardOutputSize maps x: (N, In, H, W) to (N, Out, size[0], size[1]), as
// PyTorch's forward(x, output_size=size): a strided convolution maps
// several input sizes onto one output size, and this picks the transposed
// one that restores a given size (a decoder matching its skip connection).
// The output padding is size − min per axis, where
// min = (H−1)·SH − 2·PH + DH·(KH−1) + 1 is the size with no output padding;
// the layer's own OutputPadding is ignored, as in PyTorch. It panics, with
// PyTorch's message, unless min ≤ size ≤ min + SH − 1 on both axes.
func (c *ConvTranspose2d) ForwardOutputSize(x *tensor.Tensor, size [2]int) *tensor.Tensor {
	return c.forward(x, c.OutputPaddingFor(x.Shape(), size))
}

// OutputPaddingFor returns the output padding that makes the layer map an
// input of shape (N, In, H, W) to spatial size size (PyTorch's
// ConvTranspose2d._output_padding); see ForwardOutputSize.
func (c *ConvTranspose2d) OutputPaddingFor(inShape []int, size [2]int) [2]int {
	if len(inShape) != 4 {
		panic(fmt.Sprintf("nn.ConvTranspose2d: input %s, want (N, C, H, W)", tensor.FormatShape(inShape)))
	}
	var minSize, maxSize, pad [2]int
	for d := range 2 {
		s, dil := max(c.Stride[d], 1), max(c.Dilation[d], 1)
		k := c.Weight.SizeOf(2 + d)
		minSize[d] = (inShape[2+d]-1)*s - 2*c.Padding[d] + dil*(k-1) + 1
		maxSize[d] = minSize[d] + s - 1
	}
	for d := range 2 {
		if size[d] < minSize[d] || size[d] > maxSize[d] {
			panic(fmt.Sprintf("nn.ConvTranspose2d: requested an output size of %v, but valid sizes range from %v to %v (for an input of %v)",
				size, minSize, maxSize, inShape[2:]))
		}
		pad[d] = size[d] - minSize[d]
	}
	return pad
}
