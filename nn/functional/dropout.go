package functional

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
)

// Dropout zeroes each element of x independently with probability p and
// scales the others by 1/(1 − p) ("inverted" dropout, as
// torch.nn.functional.dropout), so the expected value is unchanged and
// inference needs no rescaling. The random choices are drawn from rng, one
// Float64 per element in row-major order, so a seeded rng gives the same mask
// every time. When training is false or p is 0 the result is a view of x
// (no copy, no randomness, rng may be nil); p = 1 gives zeros. The gradient
// is the same mask and scale applied to the output gradient. p must be in
// [0, 1].
func Dropout(x *tensor.Tensor, p float32, training bool, rng *rand.Rand) *tensor.Tensor {
	return dropout("Dropout", x, p, training, rng, 1)
}

// Dropout2d zeroes whole channels: each (n, c) plane of x (N, C, …) is
// dropped with probability p and the others are scaled by 1/(1 − p), as
// torch.nn.functional.dropout2d on (N, C, H, W). One Float64 is drawn from
// rng per plane. See Dropout for training, p = 0 and p = 1.
func Dropout2d(x *tensor.Tensor, p float32, training bool, rng *rand.Rand) *tensor.Tensor {
	if x.Dim() < 2 {
		panic(fmt.Sprintf("functional.Dropout2d: x %s needs at least 2 dimensions (N, C, …)", tensor.FormatShape(x.Shape())))
	}
	return dropout("Dropout2d", x, p, training, rng, tensor.Numel(x.Shape()[2:]))
}

// dropout drops runs of block consecutive elements together.
func dropout(op string, x *tensor.Tensor, p float32, training bool, rng *rand.Rand, block int) *tensor.Tensor {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("functional.%s: probability %v is not in [0, 1]", op, p))
	}
	if !training || p == 0 {
		return tensor.Reshape(x, x.Shape()...)
	}
	if rng == nil {
		panic(fmt.Sprintf("functional.%s: training needs a random source, got a nil *rand.Rand", op))
	}
	n := x.Size()
	scale := float32(0)
	if p < 1 {
		scale = 1 / (1 - p)
	}
	// mask holds the factor (0 or scale) of each block.
	mask := make([]float32, 0, (n+block-1)/max(block, 1))
	if block > 0 {
		for i := 0; i < n; i += block {
			if rng.Float64() >= float64(p) {
				mask = append(mask, scale)
			} else {
				mask = append(mask, 0)
			}
		}
	}
	apply := func(dst, src []float32) {
		for i, v := range src {
			dst[i] = v * mask[i/block]
		}
	}
	out := tensor.Zeros(x.Shape()...)
	apply(out.Data(), x.Data())
	return tensor.Record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(x.Shape()...)
		apply(gx.Data(), g.Data())
		return []*tensor.Tensor{gx}
	}, x)
}
