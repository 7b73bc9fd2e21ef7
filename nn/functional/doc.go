// Package functional holds fovea's differentiable neural-network functions,
// the analogue of torch.nn.functional: activations, upsampling
// (interpolation, pixel shuffle, transposed convolution, max-unpooling),
// pooling and dropout. Package nn wraps them in modules (nn.ReLU calls
// functional.ReLU, nn.Upsample calls functional.Interpolate, …).
//
// Every function takes and returns *tensor.Tensor values, never changes its
// inputs, and records itself for autograd with tensor.Record when an input
// requires a gradient; the result never shares storage with an input, except
// where a doc comment says it is a view. The numbers match PyTorch 1.13 on the
// CPU (forward and backward) to float32 rounding; where fovea differs on
// purpose the doc comment says so.
//
// Image functions work on (N, C, H, W) tensors in row-major order, so the
// element (n, c, h, w) of x is x.Data()[((n*C+c)*H+h)*W+w]. Large image
// operations run their N·C planes in parallel on the shared worker pool of
// internal/cpu.
//
// Misuse — a wrong rank, a kernel larger than the padded input, an axis out
// of range — panics with a message that names the function and the shapes,
// for example "functional.PixelShuffle: channels 10 of x (1,10,4,4) are not
// divisible by factor² 4".
package functional
