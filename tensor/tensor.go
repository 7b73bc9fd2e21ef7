// Package tensor is fovea's n-dimensional array of float32 with define-by-run
// automatic differentiation.
//
// A Tensor is row-major and contiguous: the element at index (i0, i1, …, iN-1)
// of a tensor of shape (d0, d1, …, dN-1) is Data()[i0*s0 + i1*s1 + … + iN-1],
// where sK = d(K+1)*…*d(N-1). A tensor of shape () is a scalar with one element.
//
// Operations are package functions (Add, MatMul, Sum, Reshape, …) that return
// new tensors; they never change their inputs. When any input requires a
// gradient, the result records how it was made, and Backward on a scalar
// result walks that record in reverse and accumulates gradients into the
// leaves (tensors created by the user with SetRequiresGrad(true)). When no
// input requires a gradient nothing is recorded and no gradient memory is
// allocated, so inference costs only the forward pass. Reading a tensor from
// many goroutines at once is safe, including running operations on shared
// parameters; Backward, ZeroGrad and in-place updates are not.
//
// Programmer errors — shapes that do not match, axes out of range — panic with
// a message that names the operation and the shapes, for example
// "tensor.Add: shapes (2,3) and (4,3) cannot broadcast".
package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Tensor is a float32 n-dimensional array, row-major and contiguous, that may
// take part in automatic differentiation.
type Tensor struct {
	data  []float32
	shape []int

	requiresGrad bool
	grad         *Tensor
	gradOwned    bool  // grad's storage was made by autograd for t alone (not set with SetGrad)
	node         *node // how this tensor was made; nil for leaves, emptied (backward nil) by Backward

	// bufID is nonzero when data came from the buffer pool for this tensor
	// (not a view of another tensor's storage): the allocation's number.
	bufID uint64
}

// node records one operation in the autograd graph.
type node struct {
	op       string
	inputs   []*Tensor
	backward BackwardFunc
}

// BackwardFunc receives the gradient of the loss with respect to an
// operation's output and returns the gradients with respect to each of its
// inputs, in order, each of the input's shape. An entry may be nil for an
// input that does not require a gradient (or receives none). It may return
// gradOut itself or a view of it. The gradients it allocates belong to
// Backward, which reuses their storage once they are used up, so it must
// not keep them (nor gradOut) after it returns.
type BackwardFunc func(gradOut *Tensor) []*Tensor

// New returns a tensor of the given shape with the given data, which it takes
// ownership of (no copy). It panics if len(data) does not equal the product of
// the shape.
func New(data []float32, shape ...int) *Tensor {
	n := checkShape("tensor.New", shape)
	if len(data) != n {
		panic(fmt.Sprintf("tensor.New: %d values do not fill shape %s (%d elements)", len(data), FormatShape(shape), n))
	}
	return &Tensor{data: data, shape: append([]int(nil), shape...)}
}

// FromSlice returns a tensor of the given shape holding a copy of data.
func FromSlice(data []float32, shape ...int) *Tensor {
	return New(append([]float32(nil), data...), shape...)
}

// Scalar returns a tensor of shape () holding v.
func Scalar(v float32) *Tensor { return &Tensor{data: []float32{v}, shape: []int{}} }

// Zeros returns a tensor of the given shape filled with 0.
func Zeros(shape ...int) *Tensor {
	return zeros(shape, checkShape("tensor.Zeros", shape))
}

// Ones returns a tensor of the given shape filled with 1.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// Full returns a tensor of the given shape filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	if v != 0 {
		for i := range t.data {
			t.data[i] = v
		}
	}
	return t
}

// ZerosLike returns a tensor of zeros with the shape of t.
func ZerosLike(t *Tensor) *Tensor { return Zeros(t.shape...) }

// OnesLike returns a tensor of ones with the shape of t.
func OnesLike(t *Tensor) *Tensor { return Ones(t.shape...) }

// Arange returns the 1-D tensor start, start+step, … up to but excluding end,
// as torch.arange does.
func Arange(start, end, step float64) *Tensor {
	if step == 0 || math.IsNaN(start) || math.IsNaN(end) || math.IsNaN(step) {
		panic(fmt.Sprintf("tensor.Arange: invalid range start=%v end=%v step=%v", start, end, step))
	}
	n := int(math.Ceil((end - start) / step))
	if n < 0 {
		n = 0
	}
	t := Zeros(n)
	for i := range t.data {
		t.data[i] = float32(start + float64(i)*step)
	}
	return t
}

// RandUniform returns a tensor of the given shape with values drawn uniformly
// from [lo, hi) using rng.
func RandUniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.data {
		t.data[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// RandNormal returns a tensor of the given shape with values drawn from the
// normal distribution N(mean, std²) using rng.
func RandNormal(rng *rand.Rand, mean, std float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.data {
		t.data[i] = mean + std*float32(rng.NormFloat64())
	}
	return t
}

// Shape returns the tensor's shape. The caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns the number of dimensions (0 for a scalar).
func (t *Tensor) Dim() int { return len(t.shape) }

// Size returns the number of elements.
func (t *Tensor) Size() int { return len(t.data) }

// SizeOf returns the length of dimension axis; negative axes count from the end.
func (t *Tensor) SizeOf(axis int) int {
	return t.shape[axisIn("tensor.SizeOf", axis, len(t.shape), t.shape)]
}

// Data returns the tensor's elements in row-major order. It is the tensor's
// own storage: writing to it changes the tensor (and is not recorded by
// autograd).
func (t *Tensor) Data() []float32 { return t.data }

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float32 {
	if len(t.data) != 1 {
		panic(fmt.Sprintf("tensor.Item: tensor of shape %s has %d elements, want 1", FormatShape(t.shape), len(t.data)))
	}
	return t.data[0]
}

// offset returns the flat index of idx, panicking when it is out of range.
func (t *Tensor) offset(op string, idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("%s: %d indices for a tensor of shape %s", op, len(idx), FormatShape(t.shape)))
	}
	off := 0
	for i, v := range idx {
		d := t.shape[i]
		if v < 0 {
			v += d
		}
		if v < 0 || v >= d {
			panic(fmt.Sprintf("%s: index %v out of range for shape %s", op, idx, FormatShape(t.shape)))
		}
		off = off*d + v
	}
	return off
}

// At returns the element at idx (negative indices count from the end).
func (t *Tensor) At(idx ...int) float32 { return t.data[t.offset("tensor.At", idx)] }

// Set writes v at idx. It is not recorded by autograd.
func (t *Tensor) Set(v float32, idx ...int) { t.data[t.offset("tensor.Set", idx)] = v }

// Clone returns a copy of t's data and shape that does not require a gradient
// and has no history.
func (t *Tensor) Clone() *Tensor {
	out := empty(t.shape...)
	copy(out.data, t.data)
	return out
}

// String formats small tensors in full and large ones by shape.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%s", FormatShape(t.shape))
	if len(t.data) <= 32 {
		fmt.Fprintf(&b, "%v", t.data)
	}
	return b.String()
}

// FormatShape formats a shape as PyTorch prints it in messages: "(2,3)".
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Numel returns the product of the dimensions of shape (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func checkShape(op string, shape []int) int {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("%s: negative dimension in shape %s", op, FormatShape(shape)))
		}
	}
	return Numel(shape)
}

// axisIn maps a possibly negative axis into [0, n), panicking with a message
// that names shape when it is out of range. n is len(shape), or len(shape)+1
// for operations that insert an axis.
func axisIn(op string, axis, n int, shape []int) int {
	a := axis
	if a < 0 {
		a += n
	}
	if a < 0 || a >= n {
		panic(fmt.Sprintf("%s: axis %d out of range for shape %s", op, axis, FormatShape(shape)))
	}
	return a
}
