package tensor

import "fmt"

// BroadcastShapes returns the shape that a and b broadcast to under NumPy
// rules (align trailing dimensions; a dimension of 1 stretches), and false if
// they cannot broadcast.
func BroadcastShapes(a, b []int) ([]int, bool) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, false
		}
	}
	return out, true
}

func mustBroadcast(op string, a, b []int) []int {
	s, ok := BroadcastShapes(a, b)
	if !ok {
		panic(fmt.Sprintf("%s: shapes %s and %s cannot broadcast", op, FormatShape(a), FormatShape(b)))
	}
	return s
}

// broadcastStrides returns, for each dimension of out, the stride of src in
// that dimension (0 where src is broadcast).
func broadcastStrides(src, out []int) []int {
	st := make([]int, len(out))
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(src) - len(out) + i
		if j < 0 {
			continue
		}
		if src[j] != 1 {
			st[i] = stride
		}
		stride *= src[j]
	}
	return st
}

// forEachRun visits the output of shape out in runs along its last
// dimension. For each run it calls fn with the flat offsets of the run's
// first element in out and in each source, and the run length; the sources
// advance by steps[k] per element within the run.
func forEachRun(out []int, srcStrides [][]int, fn func(outOff int, srcOff []int, n int, steps []int)) {
	nd := len(out)
	total := Numel(out)
	if total == 0 {
		return
	}
	k := len(srcStrides)
	offs := make([]int, k)
	steps := make([]int, k)
	if nd == 0 {
		fn(0, offs, 1, steps)
		return
	}
	inner := out[nd-1]
	for s := range srcStrides {
		steps[s] = srcStrides[s][nd-1]
	}
	idx := make([]int, nd)
	for outOff := 0; outOff < total; outOff += inner {
		fn(outOff, offs, inner, steps)
		// advance the multi-index over dimensions 0..nd-2
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			for s := range srcStrides {
				offs[s] += srcStrides[s][d]
			}
			if idx[d] < out[d] {
				break
			}
			for s := range srcStrides {
				offs[s] -= srcStrides[s][d] * out[d]
			}
			idx[d] = 0
		}
	}
}

// SumTo sums t over the dimensions that were broadcast to reach t's shape
// from shape, returning a tensor of shape. It is the adjoint of Expand and is
// used to reduce gradients of broadcasting operations.
func SumTo(t *Tensor, shape []int) *Tensor {
	if SameShape(t.shape, shape) {
		return t
	}
	if full, ok := BroadcastShapes(shape, t.shape); !ok || !SameShape(full, t.shape) {
		panic(fmt.Sprintf("tensor.SumTo: cannot reduce shape %s to %s", FormatShape(t.shape), FormatShape(shape)))
	}
	out := Zeros(shape...)
	st := broadcastStrides(shape, t.shape)
	forEachRun(t.shape, [][]int{st}, func(off int, so []int, n int, steps []int) {
		src := t.data[off : off+n]
		o := so[0]
		if steps[0] == 0 {
			var s float32
			for _, v := range src {
				s += v
			}
			out.data[o] += s
			return
		}
		dst := out.data[o : o+n]
		for i, v := range src {
			dst[i] += v
		}
	})
	return Record("SumTo", out, func(g *Tensor) []*Tensor { return []*Tensor{Expand(g, t.shape...)} }, t)
}

// Expand returns t broadcast to shape (a copy; torch.Tensor.expand). Its
// gradient sums back over the broadcast dimensions.
func Expand(t *Tensor, shape ...int) *Tensor {
	full := mustBroadcast("tensor.Expand", t.shape, shape)
	if !SameShape(full, shape) {
		panic(fmt.Sprintf("tensor.Expand: cannot expand shape %s to %s", FormatShape(t.shape), FormatShape(shape)))
	}
	if SameShape(t.shape, shape) {
		return t
	}
	out := Zeros(shape...)
	st := broadcastStrides(t.shape, shape)
	forEachRun(shape, [][]int{st}, func(off int, so []int, n int, steps []int) {
		dst := out.data[off : off+n]
		if steps[0] == 0 {
			v := t.data[so[0]]
			for i := range dst {
				dst[i] = v
			}
			return
		}
		copy(dst, t.data[so[0]:so[0]+n])
	})
	return Record("Expand", out, func(g *Tensor) []*Tensor { return []*Tensor{SumTo(g, t.shape)} }, t)
}
