package functional

import "github.com/fovea-ml/fovea/tensor"

// planeGrain is the number of planes of size elements each worth one
// parallel chunk.
func planeGrain(size int) int { return max(1, 32768/max(size, 1)) }

// A planeFunc maps one plane of an image operation's input to one plane of
// its output, or, in the backward pass, adds one plane of the output
// gradient into the matching plane of the input gradient.
type planeFunc func(dst, src []float32)

// planewise applies an image operation to x (…, H, W) plane by plane,
// giving a result of shape out, which ends in (oh, ow), recorded as op for
// autograd. fwd makes the function that writes an output plane from an
// input plane (it must write every element: the result comes from
// tensor.Empty); bwd makes the one that adds an output-gradient plane into
// an input-gradient plane, which starts at zero. Planes run in parallel,
// and each chunk of planes calls fwd or bwd once, so that the functions
// can keep scratch space of their own. work is the cost of one plane (the
// elements it touches), which sets how many planes make a chunk.
func planewise(op string, x *tensor.Tensor, out []int, work int, fwd, bwd func() planeFunc) *tensor.Tensor {
	shape := x.Shape()
	nd, no := len(shape), len(out)
	planes, hw, ohw := tensor.Numel(shape[:nd-2]), shape[nd-2]*shape[nd-1], out[no-2]*out[no-1]
	y := tensor.Empty(out...)
	xd, yd := x.Data(), y.Data()
	grain := planeGrain(work)
	parallelFor(planes, grain, func(lo, hi int) {
		f := fwd()
		for p := lo; p < hi; p++ {
			f(yd[p*ohw:(p+1)*ohw], xd[p*hw:(p+1)*hw])
		}
	})
	return tensor.Record(op, y, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		gd, gxd := g.Data(), gx.Data()
		parallelFor(planes, grain, func(lo, hi int) {
			f := bwd()
			for p := lo; p < hi; p++ {
				f(gxd[p*hw:(p+1)*hw], gd[p*ohw:(p+1)*ohw])
			}
		})
		return []*tensor.Tensor{gx}
	}, x)
}
