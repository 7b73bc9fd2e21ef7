package functional

import (
	"fmt"

	"github.com/fovea-ml/fovea/tensor"
)

// GLU returns the gated linear unit of x along axis (Dauphin et al. 2017),
// as torch.nn.functional.glu: x is split into halves a (the first) and b
// (the second) along axis, whose length must be even, and the result is
// a ⊙ σ(b), with axis halved. x: (…, 2D, …) → (…, D, …).
func GLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("GLU", x, axis, sigmoidf, func(_, s float32) float32 { return s * (1 - s) })
}

// ReGLU returns a ⊙ relu(b) for the halves a (first) and b (second) of x
// along axis, the ReLU variant of GLU of Shazeer 2020 ("GLU Variants Improve
// Transformer") applied to an already projected x = [xV, xW]. As in GLU, the
// first half is the value and the second half is the gate that goes through
// the activation. x: (…, 2D, …) → (…, D, …).
func ReGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("ReGLU", x, axis,
		func(v float32) float32 { return max(v, 0) },
		func(v, _ float32) float32 {
			if v > 0 {
				return 1
			}
			return 0
		})
}

// GeGLU returns a ⊙ gelu(b) for the halves a (first) and b (second) of x
// along axis, with the exact (erf) GELU; see ReGLU for the convention.
// x: (…, 2D, …) → (…, D, …).
func GeGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("GeGLU", x, axis,
		gelu, func(v, _ float32) float32 { return geluGrad(v) })
}

// SwiGLU returns a ⊙ silu(b) for the halves a (first) and b (second) of x
// along axis; see ReGLU for the convention. The LLaMA feed-forward layer
// W2(silu(W1·x) ⊙ W3·x) is SwiGLU applied to the concatenation [W3·x, W1·x]
// (value projection first, gate projection second) followed by W2.
// x: (…, 2D, …) → (…, D, …).
func SwiGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("SwiGLU", x, axis,
		func(v float32) float32 { return v * sigmoidf(v) },
		func(v, _ float32) float32 { return swishGrad(v, 1) })
}

// gated computes a ⊙ act(b) for the two halves of x along axis. dact(b, act(b))
// is the derivative of act.
func gated(op string, x *tensor.Tensor, axis int, act func(float32) float32, dact func(b, ab float32) float32) *tensor.Tensor {
	shape := x.Shape()
	ax := axis
	if ax < 0 {
		ax += len(shape)
	}
	if ax < 0 || ax >= len(shape) {
		panic(fmt.Sprintf("functional.%s: axis %d out of range for x %s", op, axis, tensor.FormatShape(shape)))
	}
	if shape[ax]%2 != 0 {
		panic(fmt.Sprintf("functional.%s: axis %d of x %s has odd length %d; it must split into two halves", op, axis, tensor.FormatShape(shape), shape[ax]))
	}
	outShape := append([]int(nil), shape...)
	outShape[ax] /= 2
	outer := tensor.Numel(shape[:ax])
	half := outShape[ax] * tensor.Numel(shape[ax+1:]) // elements of one half per outer index
	xd := x.Data()
	out := tensor.Zeros(outShape...)
	yd := out.Data()
	// Output element i = o·half + j reads a = x[2o·half + j], b = x[(2o+1)·half + j].
	each := func(fn func(i, ia, ib int)) {
		parallelFor(outer*half, grainPointwise, func(lo, hi int) {
			for i := lo; i < hi; {
				o, j := i/half, i%half
				end := min(hi, (o+1)*half)
				for ; i < end; i, j = i+1, j+1 {
					fn(i, 2*o*half+j, (2*o+1)*half+j)
				}
			}
		})
	}
	each(func(i, ia, ib int) { yd[i] = xd[ia] * act(xd[ib]) })
	return tensor.Record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		gd, gxd := g.Data(), gx.Data()
		each(func(i, ia, ib int) {
			b := xd[ib]
			ab := act(b)
			gxd[ia] = gd[i] * ab
			gxd[ib] = gd[i] * xd[ia] * dact(b, ab)
		})
		return []*tensor.Tensor{gx}
	}, x)
}
