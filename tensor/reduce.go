package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// reduceShapes returns the kept shape (reduced axes set to 1) and the final
// shape (reduced axes removed unless keepDim) for reducing t over axes. No
// axes means all axes.
func reduceShapes(op string, shape []int, axes []int, keepDim bool) (kept, final []int) {
	nd := len(shape)
	red := make([]bool, nd)
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		red[axisIn(op, a, nd, shape)] = true
	}
	kept = slices.Clone(shape)
	final = []int{}
	for i, d := range shape {
		if red[i] {
			kept[i] = 1
			if keepDim {
				final = append(final, 1)
			}
		} else {
			final = append(final, d)
		}
	}
	return kept, final
}

// Sum returns the sum of t over axes (all axes when none are given); the
// reduced dimensions are kept with size 1 when keepDim is true.
func Sum(t *Tensor, axes []int, keepDim bool) *Tensor {
	kept, final := reduceShapes("tensor.Sum", t.shape, axes, keepDim)
	return Reshape(SumTo(t, kept), final...)
}

// SumAll returns the sum of every element of t as a scalar.
func SumAll(t *Tensor) *Tensor { return Sum(t, nil, false) }

// Mean returns the mean of t over axes (all when none are given).
func Mean(t *Tensor, axes []int, keepDim bool) *Tensor {
	kept, _ := reduceShapes("tensor.Mean", t.shape, axes, keepDim)
	n := len(t.data) / max(Numel(kept), 1)
	if Numel(kept) == 0 {
		n = 0
	}
	return MulScalar(Sum(t, axes, keepDim), 1/float32(n))
}

// MeanAll returns the mean of every element of t as a scalar.
func MeanAll(t *Tensor) *Tensor { return Mean(t, nil, false) }

// Var returns the variance of t over axes with the given correction (1 for
// the unbiased estimate, torch's default; 0 for the population variance).
func Var(t *Tensor, axes []int, correction int, keepDim bool) *Tensor {
	kept, _ := reduceShapes("tensor.Var", t.shape, axes, true)
	n := len(t.data) / max(Numel(kept), 1)
	mean := Mean(t, axes, true)
	d := Sub(t, mean)
	return MulScalar(Sum(Mul(d, d), axes, keepDim), 1/float32(n-correction))
}

// Std returns the standard deviation of t over axes (see Var for correction).
func Std(t *Tensor, axes []int, correction int, keepDim bool) *Tensor {
	reduceShapes("tensor.Std", t.shape, axes, keepDim) // validate the axes under this op's name
	return Sqrt(Var(t, axes, correction, keepDim))
}

// Amax returns the maximum of t over axes (all when none are given). As
// torch.amax, the gradient is shared equally among tied maxima.
func Amax(t *Tensor, axes []int, keepDim bool) *Tensor {
	return extremum("tensor.Amax", t, axes, keepDim, true)
}

// Amin returns the minimum of t over axes (all when none are given).
func Amin(t *Tensor, axes []int, keepDim bool) *Tensor {
	return extremum("tensor.Amin", t, axes, keepDim, false)
}

func extremum(op string, t *Tensor, axes []int, keepDim, isMax bool) *Tensor {
	if len(t.data) == 0 {
		panic(fmt.Sprintf("%s: empty tensor of shape %s", op, FormatShape(t.shape)))
	}
	kept, final := reduceShapes(op, t.shape, axes, keepDim)
	red := Full(float32(math.Inf(-1)), kept...)
	if !isMax {
		red = Full(float32(math.Inf(1)), kept...)
	}
	st := broadcastStrides(kept, t.shape)
	forEachRun(t.shape, [][]int{st}, func(off int, so []int, n int, steps []int) {
		o := so[0]
		for i := 0; i < n; i++ {
			v := t.data[off+i]
			r := red.data[o]
			if v != v || (r == r && (isMax && v > r || !isMax && v < r)) {
				red.data[o] = v
			}
			o += steps[0]
		}
	})
	out := Reshape(red, final...).Detach()
	return Record(op[len("tensor."):], out, func(g *Tensor) []*Tensor {
		gk := Reshape(g, kept...)
		mask := Eq(t.Detach(), red)
		count := SumTo(mask, kept)
		return []*Tensor{Mul(mask, Div(gk, count))}
	}, t)
}

// Max returns the maximum of t along axis and the index of the first maximum
// (as a tensor of integral values), as torch.max(t, dim). The gradient flows
// to the element at the index.
func Max(t *Tensor, axis int, keepDim bool) (values, indices *Tensor) {
	return argExtremum("tensor.Max", t, axis, keepDim, true)
}

// Min returns the minimum of t along axis and its index, as torch.min(t, dim).
func Min(t *Tensor, axis int, keepDim bool) (values, indices *Tensor) {
	return argExtremum("tensor.Min", t, axis, keepDim, false)
}

// ArgMax returns the index of the first maximum of t along axis.
func ArgMax(t *Tensor, axis int, keepDim bool) *Tensor {
	_, idx := argExtremum("tensor.ArgMax", t.Detach(), axis, keepDim, true)
	return idx
}

// ArgMin returns the index of the first minimum of t along axis.
func ArgMin(t *Tensor, axis int, keepDim bool) *Tensor {
	_, idx := argExtremum("tensor.ArgMin", t.Detach(), axis, keepDim, false)
	return idx
}

func argExtremum(op string, t *Tensor, axis int, keepDim, isMax bool) (*Tensor, *Tensor) {
	ax := axisIn(op, axis, t.Dim(), t.shape)
	n := t.shape[ax]
	if n == 0 {
		panic(fmt.Sprintf("%s: empty axis %d of shape %s", op, axis, FormatShape(t.shape)))
	}
	kept, final := reduceShapes(op, t.shape, []int{ax}, keepDim)
	outer, inner := outerInner(t.shape, ax)
	vals, idx := Zeros(kept...), Zeros(kept...)
	pos := make([]int, outer*inner)
	for o := 0; o < outer; o++ {
		base := o * n * inner
		for i := 0; i < inner; i++ {
			best, bi := t.data[base+i], 0
			for k := 1; k < n; k++ {
				v := t.data[base+k*inner+i]
				if best != best {
					break
				}
				if v != v || isMax && v > best || !isMax && v < best {
					best, bi = v, k
				}
			}
			vals.data[o*inner+i] = best
			idx.data[o*inner+i] = float32(bi)
			pos[o*inner+i] = base + bi*inner + i
		}
	}
	vals = Reshape(vals, final...).Detach()
	idx = Reshape(idx, final...).Detach()
	vals = Record(op[len("tensor."):], vals, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for k, p := range pos {
			r.data[p] = g.data[k]
		}
		return []*Tensor{r}
	}, t)
	return vals, idx
}

// LogSumExp returns log(sum(exp(t))) over axes, computed stably.
func LogSumExp(t *Tensor, axes []int, keepDim bool) *Tensor {
	_, final := reduceShapes("tensor.LogSumExp", t.shape, axes, keepDim)
	m := Amax(t.Detach(), axes, true)
	// Where the max is infinite, shift by 0 so that inf - inf does not give NaN.
	for i, v := range m.data {
		if math.IsInf(float64(v), 0) {
			m.data[i] = 0
		}
	}
	s := Log(Sum(Exp(Sub(t, m)), axes, true))
	out := Add(s, m)
	return Reshape(out, final...)
}

// Softmax returns exp(t) normalised to sum to 1 along axis.
func Softmax(t *Tensor, axis int) *Tensor {
	ax := axisIn("tensor.Softmax", axis, t.Dim(), t.shape)
	out := empty(t.shape...)
	softmaxKernel(t.data, out.data, t.shape, ax, false)
	return Record("Softmax", out, func(g *Tensor) []*Tensor {
		// dx = y * (g - sum(g*y))
		r := Zeros(t.shape...)
		outer, inner := outerInner(t.shape, ax)
		n := t.shape[ax]
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				base := o*n*inner + i
				var dot float64
				for k := 0; k < n; k++ {
					j := base + k*inner
					dot += float64(g.data[j]) * float64(out.data[j])
				}
				for k := 0; k < n; k++ {
					j := base + k*inner
					r.data[j] = out.data[j] * (g.data[j] - float32(dot))
				}
			}
		}
		return []*Tensor{r}
	}, t)
}

// LogSoftmax returns log(Softmax(t, axis)), computed stably.
func LogSoftmax(t *Tensor, axis int) *Tensor {
	ax := axisIn("tensor.LogSoftmax", axis, t.Dim(), t.shape)
	out := empty(t.shape...)
	softmaxKernel(t.data, out.data, t.shape, ax, true)
	return Record("LogSoftmax", out, func(g *Tensor) []*Tensor {
		// dx = g − exp(y)·Σg over the axis
		r := empty(t.shape...)
		cpu.Exp(r.data, out.data)
		outer, inner := outerInner(t.shape, ax)
		n := t.shape[ax]
		cpu.ParallelGrain(outer, max(1, elementGrain/(n*inner)), func(lo, hi int) {
			s := make([]float32, inner)
			for o := lo; o < hi; o++ {
				gb, rb := g.data[o*n*inner:(o+1)*n*inner], r.data[o*n*inner:(o+1)*n*inner]
				clear(s)
				for k := 0; k < n; k++ {
					for i, v := range gb[k*inner : (k+1)*inner] {
						s[i] += v
					}
				}
				for k := 0; k < n; k++ {
					gs, rs := gb[k*inner:(k+1)*inner], rb[k*inner:(k+1)*inner]
					for i := range rs {
						rs[i] = gs[i] - rs[i]*s[i]
					}
				}
			}
		})
		return []*Tensor{r}
	}, t)
}

// softmaxKernel writes softmax (or log-softmax) of x along axis into y.
// With inner > 1 (a class axis before spatial ones) it works on blocks of
// softmaxBlock positions across all classes, so that the exponentials run
// through the vectorised cpu.Exp and the block's rows stay in the L1
// cache; the blocks run in parallel.
func softmaxKernel(x, y []float32, shape []int, ax int, logOut bool) {
	outer, inner := outerInner(shape, ax)
	n := shape[ax]
	if inner == 1 {
		cpu.ParallelGrain(outer, max(1, elementGrain/max(n, 1)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				softmaxRow(x[o*n:(o+1)*n], y[o*n:(o+1)*n], logOut)
			}
		})
		return
	}
	blocks := (inner + softmaxBlock - 1) / softmaxBlock
	cpu.ParallelGrain(outer*blocks, max(1, elementGrain/(n*softmaxBlock)), func(lo, hi int) {
		var m, e [softmaxBlock]float32
		var s [softmaxBlock]float64 // sums in float64, as the row path
		for t := lo; t < hi; t++ {
			o, i0 := t/blocks, t%blocks*softmaxBlock
			w := min(softmaxBlock, inner-i0)
			base := o*n*inner + i0
			m, e, s := m[:w], e[:w], s[:w]
			copy(m, x[base:base+w])
			for k := 1; k < n; k++ {
				cpu.MaxAccum(m, x[base+k*inner:base+k*inner+w])
			}
			for i, v := range m {
				if math.IsInf(float64(v), -1) {
					m[i] = 0
				}
			}
			clear(s)
			for k := 0; k < n; k++ {
				xs, ys := x[base+k*inner:base+k*inner+w], y[base+k*inner:base+k*inner+w]
				for i, v := range xs {
					ys[i] = v - m[i]
				}
				cpu.Exp(e, ys)
				for i, v := range e {
					s[i] += float64(v)
				}
				if !logOut {
					copy(ys, e)
				}
			}
			// e now holds, per position, the log of the sum (or its inverse).
			for i, v := range s {
				if logOut {
					e[i] = float32(math.Log(v))
				} else {
					e[i] = float32(1 / v)
				}
			}
			for k := 0; k < n; k++ {
				ys := y[base+k*inner : base+k*inner+w]
				for i := range ys {
					if logOut {
						ys[i] -= e[i]
					} else {
						ys[i] *= e[i]
					}
				}
			}
		}
	})
}

// softmaxBlock is the number of positions softmaxKernel handles at once
// along a strided class axis.
const softmaxBlock = 512

// softmaxRow writes softmax (or log-softmax) of one contiguous row x into y.
func softmaxRow(x, y []float32, logOut bool) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	if math.IsInf(float64(m), -1) {
		m = 0
	}
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		s += e
		if !logOut {
			y[i] = float32(e)
		}
	}
	if logOut {
		ls := float32(math.Log(s))
		for i, v := range x {
			y[i] = v - m - ls
		}
		return
	}
	inv := float32(1 / s)
	for i := range y {
		y[i] *= inv
	}
}
