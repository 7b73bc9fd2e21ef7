package functional

import (
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// grainPointwise is the number of elements below which a pointwise loop is
// not split across the worker pool.
const grainPointwise = 16384

// parallelFor runs fn over [0, n) in chunks of at least grain indices on the
// shared worker pool.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	cpu.ParallelGrain(n, grain, fn)
}

// pointwise computes a one-input elementwise function. fwd writes y = f(x)
// for a chunk; bwd writes gx = g · f'(x) for a chunk, given x and y = f(x).
// A nil bwd makes the operation non-differentiable (no graph is recorded).
func pointwise(op string, x *tensor.Tensor, fwd func(y, x []float32), bwd func(gx, g, x, y []float32)) *tensor.Tensor {
	out := tensor.Zeros(x.Shape()...)
	xd, yd := x.Data(), out.Data()
	parallelFor(len(xd), grainPointwise, func(lo, hi int) { fwd(yd[lo:hi], xd[lo:hi]) })
	if bwd == nil {
		return out
	}
	return tensor.Record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(x.Shape()...)
		gd, gxd := g.Data(), gx.Data()
		parallelFor(len(xd), grainPointwise, func(lo, hi int) {
			bwd(gxd[lo:hi], gd[lo:hi], xd[lo:hi], yd[lo:hi])
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
	var bwd func(gx, g, x, y []float32)
	if df != nil {
		bwd = func(gx, g, x, y []float32) {
			g, x, y = g[:len(gx)], x[:len(gx)], y[:len(gx)]
			for i := range gx {
				gx[i] = g[i] * df(x[i], y[i])
			}
		}
	}
	return pointwise(op, x, fwd, bwd)
}
