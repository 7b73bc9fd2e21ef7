package tensor

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// Reshape returns a tensor with t's elements in a new shape. One dimension
// may be -1, inferred from the others. The result shares t's storage (a view,
// as torch.Tensor.view), so writing through Data or Set changes both.
func Reshape(t *Tensor, shape ...int) *Tensor {
	shape = inferShape("tensor.Reshape", t, shape)
	out := &Tensor{data: t.data, shape: shape}
	return Record("Reshape", out, func(g *Tensor) []*Tensor {
		return []*Tensor{Reshape(g, t.shape...)}
	}, t)
}

// View is Reshape (PyTorch's name).
func View(t *Tensor, shape ...int) *Tensor { return Reshape(t, inferShape("tensor.View", t, shape)...) }

func inferShape(op string, t *Tensor, shape []int) []int {
	shape = slices.Clone(shape)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("%s: shape %s is invalid for input of shape %s", op, FormatShape(shape), FormatShape(t.shape)))
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || len(t.data)%known != 0 {
			panic(fmt.Sprintf("%s: shape %s is invalid for input of shape %s", op, FormatShape(shape), FormatShape(t.shape)))
		}
		shape[infer] = len(t.data) / known
		known *= shape[infer]
	}
	if known != len(t.data) {
		panic(fmt.Sprintf("%s: shape %s is invalid for input of shape %s", op, FormatShape(shape), FormatShape(t.shape)))
	}
	return shape
}

// Flatten merges dimensions start..end (inclusive, negative from the end) into one.
func Flatten(t *Tensor, start, end int) *Tensor {
	if t.Dim() == 0 {
		return Reshape(t, 1)
	}
	s, e := axisIn("tensor.Flatten", start, t.Dim(), t.shape), axisIn("tensor.Flatten", end, t.Dim(), t.shape)
	if s > e {
		panic(fmt.Sprintf("tensor.Flatten: start %d after end %d for shape %s", start, end, FormatShape(t.shape)))
	}
	shape := append([]int(nil), t.shape[:s]...)
	shape = append(shape, Numel(t.shape[s:e+1]))
	shape = append(shape, t.shape[e+1:]...)
	return Reshape(t, shape...)
}

// Squeeze removes the given dimensions of size 1 (all of them when none are given).
func Squeeze(t *Tensor, axes ...int) *Tensor {
	drop := make([]bool, t.Dim())
	if len(axes) == 0 {
		for i, d := range t.shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		a = axisIn("tensor.Squeeze", a, t.Dim(), t.shape)
		drop[a] = t.shape[a] == 1
	}
	var shape []int
	for i, d := range t.shape {
		if !drop[i] {
			shape = append(shape, d)
		}
	}
	return Reshape(t, shape...)
}

// Unsqueeze inserts a dimension of size 1 at axis (in [-(ndim+1), ndim]).
func Unsqueeze(t *Tensor, axis int) *Tensor {
	a := axisIn("tensor.Unsqueeze", axis, t.Dim()+1, t.shape)
	shape := slices.Insert(slices.Clone(t.shape), a, 1)
	return Reshape(t, shape...)
}

// Permute reorders the dimensions: result dimension i is t's dimension perm[i].
func Permute(t *Tensor, perm ...int) *Tensor {
	nd := t.Dim()
	if len(perm) != nd {
		panic(fmt.Sprintf("tensor.Permute: permutation %v for a tensor of shape %s", perm, FormatShape(t.shape)))
	}
	seen := make([]bool, nd)
	p := make([]int, nd)
	for i, a := range perm {
		a = axisIn("tensor.Permute", a, nd, t.shape)
		if seen[a] {
			panic(fmt.Sprintf("tensor.Permute: repeated axis in %v for a tensor of shape %s", perm, FormatShape(t.shape)))
		}
		seen[a] = true
		p[i] = a
	}
	shape := make([]int, nd)
	for i, a := range p {
		shape[i] = t.shape[a]
	}
	out := Empty(shape...)
	// source strides of t, reordered to follow the output's dimensions
	st := contiguousStrides(t.shape)
	src := make([]int, nd)
	for i, a := range p {
		src[i] = st[a]
	}
	if nd >= 2 && src[nd-1] != 1 && out.Size() >= 1024 {
		permuteTiled(out.data, t.data, shape, src)
	} else {
		forEachRun(shape, [][]int{src}, func(off int, so []int, n int, steps []int) {
			dst := out.data[off : off+n]
			j, s := so[0], steps[0]
			if s == 1 {
				copy(dst, t.data[j:j+n])
				return
			}
			for i := range dst {
				dst[i] = t.data[j]
				j += s
			}
		})
	}
	return Record("Permute", out, func(g *Tensor) []*Tensor {
		inv := make([]int, nd)
		for i, a := range p {
			inv[a] = i
		}
		return []*Tensor{Permute(g, inv...)}
	}, t)
}

// Transpose swaps dimensions a and b.
func Transpose(t *Tensor, a, b int) *Tensor {
	nd := t.Dim()
	a, b = axisIn("tensor.Transpose", a, nd, t.shape), axisIn("tensor.Transpose", b, nd, t.shape)
	perm := make([]int, nd)
	for i := range perm {
		perm[i] = i
	}
	perm[a], perm[b] = perm[b], perm[a]
	return Permute(t, perm...)
}

// permuteTiled fills dst (contiguous, shape) from src read with strides srcSt, for a
// permutation that moves the source's innermost axis away from the output's innermost:
// the two axes (the output's last, a, and the one that is innermost in the source, b)
// are copied in small tiles so that both reads and writes stay in cache, for every index
// of the other axes, on all threads.
func permuteTiled(dst, src []float32, shape, srcSt []int) {
	nd := len(shape)
	a := nd - 1
	b := -1
	for i, s := range srcSt {
		if s == 1 && shape[i] > 1 {
			b = i
		}
	}
	if b < 0 || b == a {
		// No unit-stride axis to pair with: plain strided copy.
		forEachRun(shape, [][]int{srcSt}, func(off int, so []int, n int, steps []int) {
			j, s := so[0], steps[0]
			for i := range dst[off : off+n] {
				dst[off+i] = src[j]
				j += s
			}
		})
		return
	}
	dstSt := contiguousStrides(shape)
	// The other axes, enumerated as one flat index.
	var others []int
	for i := 0; i < nd; i++ {
		if i != a && i != b {
			others = append(others, i)
		}
	}
	outer := 1
	for _, i := range others {
		outer *= shape[i]
	}
	na, nb := shape[a], shape[b]
	sa, db := srcSt[a], dstSt[b]
	// Bands of 16 output columns (16 source rows, read as sequential streams the hardware
	// prefetches), each written as one cache line per output row.
	const tj = 16
	bands := (na + tj - 1) / tj
	cpu.ParallelGrain(outer*bands, max(1, 16384/(tj*nb)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o, band := t/bands, t%bands
			// Offsets of this index of the other axes.
			so, do, r := 0, 0, o
			for k := len(others) - 1; k >= 0; k-- {
				ax := others[k]
				x := r % shape[ax]
				r /= shape[ax]
				so += x * srcSt[ax]
				do += x * dstSt[ax]
			}
			j0 := band * tj
			j1 := min(na, j0+tj)
			for i := 0; i < nb; i++ {
				d := dst[do+i*db+j0 : do+i*db+j1]
				sj := so + i + j0*sa
				for j := range d {
					d[j] = src[sj]
					sj += sa
				}
			}
		}
	})
}

func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// outerInner splits shape around axis: the product of the dimensions before
// it and after it.
func outerInner(shape []int, axis int) (outer, inner int) {
	return Numel(shape[:axis]), Numel(shape[axis+1:])
}

// Cat concatenates tensors along axis; all other dimensions must match.
func Cat(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		panic("tensor.Cat: no tensors")
	}
	nd := ts[0].Dim()
	ax := axisIn("tensor.Cat", axis, nd, ts[0].shape)
	shape := slices.Clone(ts[0].shape)
	shape[ax] = 0
	for _, t := range ts {
		if t.Dim() != nd {
			panic(fmt.Sprintf("tensor.Cat: shapes %s and %s differ in rank", FormatShape(ts[0].shape), FormatShape(t.shape)))
		}
		for d := range t.shape {
			if d != ax && t.shape[d] != ts[0].shape[d] {
				panic(fmt.Sprintf("tensor.Cat: shapes %s and %s differ outside axis %d", FormatShape(ts[0].shape), FormatShape(t.shape), axis))
			}
		}
		shape[ax] += t.shape[ax]
	}
	out := Zeros(shape...)
	outer, inner := outerInner(shape, ax)
	rowOut := shape[ax] * inner
	pos := 0
	for _, t := range ts {
		w := t.shape[ax] * inner
		for o := 0; o < outer; o++ {
			copy(out.data[o*rowOut+pos:o*rowOut+pos+w], t.data[o*w:(o+1)*w])
		}
		pos += w
	}
	return Record("Cat", out, func(g *Tensor) []*Tensor {
		gs := make([]*Tensor, len(ts))
		start := 0
		for i, t := range ts {
			if t.requiresGrad {
				gs[i] = Narrow(g, ax, start, t.shape[ax])
			}
			start += t.shape[ax]
		}
		return gs
	}, ts...)
}

// Stack joins tensors of equal shape along a new axis.
func Stack(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		panic("tensor.Stack: no tensors")
	}
	ax := axisIn("tensor.Stack", axis, ts[0].Dim()+1, ts[0].shape)
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !SameShape(t.shape, ts[0].shape) {
			panic(fmt.Sprintf("tensor.Stack: shapes %s and %s differ", FormatShape(ts[0].shape), FormatShape(t.shape)))
		}
		us[i] = Unsqueeze(t, ax)
	}
	return Cat(us, ax)
}

// Narrow returns the slice [start, start+length) of t along axis (a copy).
func Narrow(t *Tensor, axis, start, length int) *Tensor {
	ax := axisIn("tensor.Narrow", axis, t.Dim(), t.shape)
	if start < 0 {
		start += t.shape[ax]
	}
	if start < 0 || length < 0 || start+length > t.shape[ax] {
		panic(fmt.Sprintf("tensor.Narrow: range [%d,%d) out of bounds for axis %d of shape %s", start, start+length, axis, FormatShape(t.shape)))
	}
	shape := slices.Clone(t.shape)
	shape[ax] = length
	out := Zeros(shape...)
	outer, inner := outerInner(t.shape, ax)
	rowIn, w := t.shape[ax]*inner, length*inner
	for o := 0; o < outer; o++ {
		copy(out.data[o*w:(o+1)*w], t.data[o*rowIn+start*inner:o*rowIn+start*inner+w])
	}
	return Record("Narrow", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for o := 0; o < outer; o++ {
			copy(r.data[o*rowIn+start*inner:o*rowIn+start*inner+w], g.data[o*w:(o+1)*w])
		}
		return []*Tensor{r}
	}, t)
}

// Split cuts t along axis into pieces of the given sizes, which must sum to
// the axis length (torch.split with a list of sizes).
func Split(t *Tensor, axis int, sizes ...int) []*Tensor {
	ax := axisIn("tensor.Split", axis, t.Dim(), t.shape)
	sum := 0
	for _, s := range sizes {
		sum += s
	}
	if sum != t.shape[ax] {
		panic(fmt.Sprintf("tensor.Split: sizes %v do not sum to %d (axis %d of shape %s)", sizes, t.shape[ax], axis, FormatShape(t.shape)))
	}
	out := make([]*Tensor, len(sizes))
	start := 0
	for i, s := range sizes {
		out[i] = Narrow(t, ax, start, s)
		start += s
	}
	return out
}

// Chunk splits t along axis into n pieces of size ceil(len/n), the last
// possibly smaller (torch.chunk; may return fewer than n pieces).
func Chunk(t *Tensor, n, axis int) []*Tensor {
	ax := axisIn("tensor.Chunk", axis, t.Dim(), t.shape)
	if n <= 0 {
		panic(fmt.Sprintf("tensor.Chunk: %d chunks of shape %s", n, FormatShape(t.shape)))
	}
	l := t.shape[ax]
	size := (l + n - 1) / n
	var sizes []int
	for s := 0; s < l; s += size {
		sizes = append(sizes, min(size, l-s))
	}
	if l == 0 {
		sizes = make([]int, n) // torch.chunk gives n empty pieces
	}
	return Split(t, ax, sizes...)
}

// checkIndex converts an integral float index to int, panicking when it is not in [0, n).
func checkIndex(op string, v float32, n int) int {
	i := int(v)
	if float32(i) != v || i < 0 || i >= n {
		panic(fmt.Sprintf("%s: index %v out of range [0,%d)", op, v, n))
	}
	return i
}

// IndexSelect picks the entries idx (a 1-D tensor of integral values) along axis.
func IndexSelect(t *Tensor, axis int, idx *Tensor) *Tensor {
	ax := axisIn("tensor.IndexSelect", axis, t.Dim(), t.shape)
	if idx.Dim() != 1 {
		panic(fmt.Sprintf("tensor.IndexSelect: index of shape %s, want 1-D", FormatShape(idx.shape)))
	}
	shape := slices.Clone(t.shape)
	shape[ax] = idx.Size()
	out := Zeros(shape...)
	outer, inner := outerInner(t.shape, ax)
	pos := make([]int, idx.Size())
	for i, v := range idx.data {
		pos[i] = checkIndex("tensor.IndexSelect", v, t.shape[ax])
	}
	rowIn, rowOut := t.shape[ax]*inner, len(pos)*inner
	for o := 0; o < outer; o++ {
		for i, p := range pos {
			copy(out.data[o*rowOut+i*inner:o*rowOut+(i+1)*inner], t.data[o*rowIn+p*inner:o*rowIn+(p+1)*inner])
		}
	}
	return Record("IndexSelect", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for o := 0; o < outer; o++ {
			for i, p := range pos {
				dst := r.data[o*rowIn+p*inner : o*rowIn+(p+1)*inner]
				src := g.data[o*rowOut+i*inner : o*rowOut+(i+1)*inner]
				for j, v := range src {
					dst[j] += v
				}
			}
		}
		return []*Tensor{r, nil}
	}, t, idx)
}

// gatherOffsets returns, for every element of index (same rank as t, each
// dimension other than axis no larger than t's), the flat offset into t that
// torch.gather reads.
func gatherOffsets(op string, t *Tensor, axis int, index *Tensor) []int {
	if index.Dim() != t.Dim() {
		panic(fmt.Sprintf("%s: index of shape %s for tensor of shape %s (ranks differ)", op, FormatShape(index.shape), FormatShape(t.shape)))
	}
	for d := range index.shape {
		if d != axis && index.shape[d] > t.shape[d] {
			panic(fmt.Sprintf("%s: index of shape %s too large for tensor of shape %s", op, FormatShape(index.shape), FormatShape(t.shape)))
		}
	}
	st := contiguousStrides(t.shape)
	offs := make([]int, index.Size())
	idx := make([]int, index.Dim())
	for k, v := range index.data {
		off := 0
		for d, i := range idx {
			if d == axis {
				off += checkIndex(op, v, t.shape[d]) * st[d]
			} else {
				off += i * st[d]
			}
		}
		offs[k] = off
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < index.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return offs
}

// Gather returns out[i][j][k] = t[i][index[i][j][k]][k] for axis 1 (and
// likewise for other axes), as torch.gather. index has t's rank and holds
// integral values; out has index's shape.
func Gather(t *Tensor, axis int, index *Tensor) *Tensor {
	ax := axisIn("tensor.Gather", axis, t.Dim(), t.shape)
	offs := gatherOffsets("tensor.Gather", t, ax, index)
	out := Zeros(index.shape...)
	for k, off := range offs {
		out.data[k] = t.data[off]
	}
	return Record("Gather", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for k, off := range offs {
			r.data[off] += g.data[k]
		}
		return []*Tensor{r, nil}
	}, t, index)
}

// ScatterAdd returns a copy of t with src[i][j][k] added at
// [i][index[i][j][k]][k] for axis 1 (torch.scatter_add). index and src have
// the same shape.
func ScatterAdd(t *Tensor, axis int, index, src *Tensor) *Tensor {
	ax := axisIn("tensor.ScatterAdd", axis, t.Dim(), t.shape)
	if !SameShape(index.shape, src.shape) {
		panic(fmt.Sprintf("tensor.ScatterAdd: index shape %s and src shape %s differ", FormatShape(index.shape), FormatShape(src.shape)))
	}
	offs := gatherOffsets("tensor.ScatterAdd", t, ax, index)
	out := t.Clone()
	for k, off := range offs {
		out.data[off] += src.data[k]
	}
	return Record("ScatterAdd", out, func(g *Tensor) []*Tensor {
		gs := Zeros(src.shape...)
		for k, off := range offs {
			gs.data[k] = g.data[off]
		}
		return []*Tensor{g, nil, gs}
	}, t, index, src)
}

// PadMode selects how Pad fills the border.
type PadMode int

const (
	PadConstant  PadMode = iota // a constant value
	PadReflect                  // mirror without repeating the edge: 3 2 | 1 2 3 | 2 1
	PadReplicate                // repeat the edge: 1 1 | 1 2 3 | 3 3
	PadCircular                 // wrap around: 2 3 | 1 2 3 | 1 2 (pads at most the dimension's size)
)

// Pad pads the last len(pads)/2 dimensions of t, as torch.nn.functional.pad:
// pads = (left, right) for the last dimension, then (top, bottom) for the one
// before, and so on. Negative pads crop (constant mode only). value is used
// by PadConstant.
func Pad(t *Tensor, pads []int, mode PadMode, value float32) *Tensor {
	if len(pads)%2 != 0 || len(pads)/2 > t.Dim() {
		panic(fmt.Sprintf("tensor.Pad: pads %v for a tensor of shape %s", pads, FormatShape(t.shape)))
	}
	nd := t.Dim()
	before, after := make([]int, nd), make([]int, nd)
	shape := slices.Clone(t.shape)
	for i := 0; i < len(pads)/2; i++ {
		d := nd - 1 - i
		before[d], after[d] = pads[2*i], pads[2*i+1]
		shape[d] += before[d] + after[d]
		if shape[d] < 0 {
			panic(fmt.Sprintf("tensor.Pad: pads %v give a negative size for shape %s", pads, FormatShape(t.shape)))
		}
		if mode != PadConstant && (before[d] < 0 || after[d] < 0) {
			panic(fmt.Sprintf("tensor.Pad: negative pads %v need constant mode (shape %s)", pads, FormatShape(t.shape)))
		}
		if mode == PadReflect && (before[d] >= t.shape[d] || after[d] >= t.shape[d]) {
			panic(fmt.Sprintf("tensor.Pad: reflect pads %v must be smaller than the dimension (shape %s)", pads, FormatShape(t.shape)))
		}
		if mode == PadCircular && (before[d] > t.shape[d] || after[d] > t.shape[d]) {
			panic(fmt.Sprintf("tensor.Pad: circular pads %v must not exceed the dimension (shape %s)", pads, FormatShape(t.shape)))
		}
		if mode == PadReplicate && t.shape[d] == 0 && before[d]+after[d] > 0 {
			panic(fmt.Sprintf("tensor.Pad: cannot replicate-pad an empty dimension (shape %s)", FormatShape(t.shape)))
		}
	}
	// src[k] maps the output index k (flat) to the flat input offset, or -1 for the constant.
	src := make([]int, Numel(shape))
	st := contiguousStrides(t.shape)
	idx := make([]int, nd)
	for k := range src {
		off := 0
		for d := 0; d < nd; d++ {
			i := idx[d] - before[d]
			n := t.shape[d]
			if i < 0 || i >= n {
				switch mode {
				case PadConstant:
					off = -1
				case PadReflect:
					if i < 0 {
						i = -i
					} else {
						i = 2*(n-1) - i
					}
				case PadReplicate:
					i = min(max(i, 0), n-1)
				case PadCircular:
					i = (i + n) % n
				}
			}
			if off < 0 {
				break
			}
			off += i * st[d]
		}
		src[k] = off
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	out := Zeros(shape...)
	for k, off := range src {
		if off < 0 {
			out.data[k] = value
		} else {
			out.data[k] = t.data[off]
		}
	}
	return Record("Pad", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for k, off := range src {
			if off >= 0 {
				r.data[off] += g.data[k]
			}
		}
		return []*Tensor{r}
	}, t)
}
