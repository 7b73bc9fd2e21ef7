package functional

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// GLU returns the gated linear unit of x along axis (Dauphin et al. 2017),
// as torch.nn.functional.glu: x is split into halves a (the first) and b
// (the second) along axis, whose length must be even, and the result is
// a ⊙ σ(b), with axis halved. x: (…, 2D, …) → (…, D, …).
func GLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("GLU", x, axis, cpu.Sigmoid, func(v, d, b []float32) {
		cpu.Sigmoid(v, b)
		for i, s := range v {
			d[i] = s * (1 - s)
		}
	})
}

// ReGLU returns a ⊙ relu(b) for the halves a (first) and b (second) of x
// along axis, the ReLU variant of GLU of Shazeer 2020 ("GLU Variants Improve
// Transformer") applied to an already projected x = [xV, xW]. As in GLU, the
// first half is the value and the second half is the gate that goes through
// the activation. x: (…, 2D, …) → (…, D, …).
func ReGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("ReGLU", x, axis, reluInto, func(v, d, b []float32) {
		reluInto(v, b)
		for i, bv := range b {
			d[i] = choose(notPositive(bv), 0, 1)
		}
	})
}

// GeGLU returns a ⊙ gelu(b) for the halves a (first) and b (second) of x
// along axis, with the exact (erf) GELU; see ReGLU for the convention.
// x: (…, 2D, …) → (…, D, …).
func GeGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("GeGLU", x, axis, cpu.GELU, func(v, d, b []float32) {
		geluGrad(d, b, nil, v) // v is scratch until it gets gelu(b)
		cpu.GELU(v, b)
	})
}

// SwiGLU returns a ⊙ silu(b) for the halves a (first) and b (second) of x
// along axis; see ReGLU for the convention. The LLaMA feed-forward layer
// W2(silu(W1·x) ⊙ W3·x) is SwiGLU applied to the concatenation [W3·x, W1·x]
// (value projection first, gate projection second) followed by W2.
// x: (…, 2D, …) → (…, D, …).
func SwiGLU(x *tensor.Tensor, axis int) *tensor.Tensor {
	return gated("SwiGLU", x, axis, cpu.SiLU, func(v, d, b []float32) {
		swishGrad(d, b, nil, 1)
		cpu.SiLU(v, b)
	})
}

// gated computes a ⊙ act(b) for the two halves of x along axis. act(v, b)
// sets v = act(b) for a run of gate values b; grad(v, d, b) sets v = act(b)
// and d = act′(b), and may use v as scratch before it sets it.
func gated(op string, x *tensor.Tensor, axis int, act func(v, b []float32), grad func(v, d, b []float32)) *tensor.Tensor {
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
	out := tensor.Empty(outShape...) // every output element and, in the backward pass, every gx element is written
	yd := out.Data()
	// Output element i = o·half + j reads a = x[2o·half + j] and
	// b = x[(2o+1)·half + j]: a run of n consecutive j within one o is
	// contiguous in the output, in a and in b.
	runs := func(fn func(i, ia, ib, n int)) {
		eachBlock(outer*half, false, func(lo, hi int, _ []float32) {
			for i := lo; i < hi; {
				o, j := i/half, i%half
				n := min(hi, (o+1)*half) - i
				fn(i, 2*o*half+j, (2*o+1)*half+j, n)
				i += n
			}
		})
	}
	runs(func(i, ia, ib, n int) {
		y := yd[i : i+n]
		act(y, xd[ib:ib+n])
		mulInto(y, xd[ia:ia+n])
	})
	return tensor.Record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(shape...)
		gd, gxd := g.Data(), gx.Data()
		runs(func(i, ia, ib, n int) {
			ga, gb, a, gs := gxd[ia:ia+n], gxd[ib:ib+n], xd[ia:ia+n], gd[i:i+n]
			grad(ga, gb, xd[ib:ib+n]) // ga = act(b), gb = act′(b)
			for k, gv := range gs {
				gb[k] *= gv * a[k]
				ga[k] *= gv
			}
		})
		return []*tensor.Tensor{gx}
	}, x)
}
