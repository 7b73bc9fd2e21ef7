package functional

import (
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// grainPointwise is the number of elements below which a pointwise loop is
// not split across the worker pool.
const grainPointwise = 32768

// blockPointwise is the number of elements an elementwise function handles
// at a time within a parallel chunk: the passes of a function built from
// several slice kernels (exp, then a blend) all run over one block while
// it is in the core's cache.
const blockPointwise = 8192

// parallelFor runs fn over [0, n) in chunks of at least grain indices on the
// shared worker pool.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	cpu.ParallelGrain(n, grain, fn)
}

// eachBlock runs fn over [0, n) in blocks of at most blockPointwise indices,
// chunks of blocks in parallel. With scratch, fn also gets tmp, a slice of
// hi − lo floats of its own to overwrite.
func eachBlock(n int, scratch bool, fn func(lo, hi int, tmp []float32)) {
	parallelFor(n, grainPointwise, func(lo, hi int) {
		var buf []float32
		if scratch {
			buf = make([]float32, min(blockPointwise, hi-lo))
		}
		for b := lo; b < hi; b += blockPointwise {
			e := min(b+blockPointwise, hi)
			var tmp []float32
			if scratch {
				tmp = buf[:e-b]
			}
			fn(b, e, tmp)
		}
	})
}

// pointwise computes a one-input elementwise function. fwd writes y = f(x)
// for a block; bwd writes gx = g · f'(x) for a block, given x, y = f(x) and
// tmp, a scratch slice as long as gx. Both must write every element: y and
// gx start with undefined values (tensor.Empty). A nil bwd makes the operation
// non-differentiable (no graph is recorded).
func pointwise(op string, x *tensor.Tensor, fwd func(y, x []float32), bwd func(gx, g, x, y, tmp []float32)) *tensor.Tensor {
	out := tensor.Empty(x.Shape()...) // fwd writes every element
	xd, yd := x.Data(), out.Data()
	eachBlock(len(xd), false, func(lo, hi int, _ []float32) { fwd(yd[lo:hi], xd[lo:hi]) })
	if bwd == nil {
		return out
	}
	return tensor.Record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(x.Shape()...) // and so does bwd
		gd, gxd := g.Data(), gx.Data()
		eachBlock(len(xd), true, func(lo, hi int, tmp []float32) {
			bwd(gxd[lo:hi], gd[lo:hi], xd[lo:hi], yd[lo:hi], tmp)
		})
		return []*tensor.Tensor{gx}
	}, x)
}

// mapPointwise is pointwise for functions given per element: f(x) and its
// derivative df(x, y) at x, where y = f(x).
func mapPointwise(op string, x *tensor.Tensor, f func(x float32) float32, df func(x, y float32) float32) *tensor.Tensor {
	fwd := func(y, x []float32) {
		x = x[:len(y)]
		for i, v := range x {
			y[i] = f(v)
		}
	}
	var bwd func(gx, g, x, y, tmp []float32)
	if df != nil {
		bwd = func(gx, g, x, y, _ []float32) {
			g, x, y = g[:len(gx)], x[:len(gx)], y[:len(gx)]
			for i := range gx {
				gx[i] = g[i] * df(x[i], y[i])
			}
		}
	}
	return pointwise(op, x, fwd, bwd)
}

// mulInto sets d[i] *= g[i].
func mulInto(d, g []float32) {
	g = g[:len(d)]
	for i, v := range g {
		d[i] *= v
	}
}

// scaleInto sets d[i] = a·s[i].
func scaleInto(d, s []float32, a float32) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] = a * v
	}
}
