package nn

import (
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// MaxPool2d takes the maximum over sliding windows (torch.nn.MaxPool2d).
// Zero Stride means Kernel; zero Dilation means 1.
type MaxPool2d struct {
	Kernel, Stride, Padding, Dilation [2]int
	CeilMode                          bool
}

func (m MaxPool2d) options() functional.MaxPool2dOptions {
	return functional.MaxPool2dOptions{Kernel: m.Kernel, Stride: m.Stride, Padding: m.Padding, Dilation: m.Dilation, CeilMode: m.CeilMode}
}

// Forward pools x: (N, C, H, W) to (N, C, OH, OW).
func (m MaxPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	v, _ := functional.MaxPool2d(x, m.options())
	return v
}

// ForwardWithIndices also returns the flat offset of each maximum within
// its (H, W) plane (PyTorch's return_indices=True), for MaxUnpool2d.
func (m MaxPool2d) ForwardWithIndices(x *tensor.Tensor) (values, indices *tensor.Tensor) {
	return functional.MaxPool2d(x, m.options())
}

// AvgPool2d averages over sliding windows (torch.nn.AvgPool2d). Zero
// Stride means Kernel. ExcludePad is PyTorch's count_include_pad=False.
type AvgPool2d struct {
	Kernel, Stride, Padding [2]int
	CeilMode, ExcludePad    bool
	DivisorOverride         int
}

// Forward pools x: (N, C, H, W) to (N, C, OH, OW).
func (m AvgPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.AvgPool2d(x, functional.AvgPool2dOptions{Kernel: m.Kernel, Stride: m.Stride, Padding: m.Padding,
		CeilMode: m.CeilMode, ExcludePad: m.ExcludePad, DivisorOverride: m.DivisorOverride})
}

// AdaptiveAvgPool2d averages x to a fixed output size
// (torch.nn.AdaptiveAvgPool2d).
type AdaptiveAvgPool2d struct {
	OutputSize [2]int // (OH, OW)
}

// Forward pools x: (N, C, H, W) to (N, C, OH, OW).
func (m AdaptiveAvgPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return functional.AdaptiveAvgPool2d(x, m.OutputSize[0], m.OutputSize[1])
}

// AdaptiveMaxPool2d takes maxima to a fixed output size
// (torch.nn.AdaptiveMaxPool2d).
type AdaptiveMaxPool2d struct {
	OutputSize [2]int // (OH, OW)
}

// Forward pools x: (N, C, H, W) to (N, C, OH, OW).
func (m AdaptiveMaxPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	v, _ := functional.AdaptiveMaxPool2d(x, m.OutputSize[0], m.OutputSize[1])
	return v
}

// MaxUnpool2d puts pooled maxima back where MaxPool2d found them, zeros
// elsewhere (torch.nn.MaxUnpool2d). Kernel, Stride and Padding are the
// pooling's; zero Stride means Kernel.
type MaxUnpool2d struct {
	Kernel, Stride, Padding [2]int
}

// Unpool maps x and indices: (N, C, H', W') from MaxPool2d.ForwardWithIndices
// to (N, C, H, W). outputSize (H, W) may be zero for
// ((H'−1)·SH − 2·PH + KH, (W'−1)·SW − 2·PW + KW); give it to undo a
// pooling that dropped rows or used CeilMode.
func (m MaxUnpool2d) Unpool(x, indices *tensor.Tensor, outputSize [2]int) *tensor.Tensor {
	return functional.MaxUnpool2d(x, indices, functional.MaxUnpool2dOptions{Kernel: m.Kernel, Stride: m.Stride, Padding: m.Padding, OutputSize: outputSize})
}
