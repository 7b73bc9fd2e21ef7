package tensor

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
)

type binKind int

const (
	binAdd binKind = iota
	binSub
	binMul
	binDiv
	binPow
	binMax
	binMin
	binEq
	binNe
	binGt
	binGe
	binLt
	binLe
)

// applyBinary computes out[i] = a[i*as] (op) b[i*bs] for i in [0, len(out)).
func applyBinary(kind binKind, out, a, b []float32, as, bs int) {
	n := len(out)
	if as == 1 && bs == 1 {
		a, b = a[:n], b[:n]
		switch kind {
		case binAdd:
			for i := range out {
				out[i] = a[i] + b[i]
			}
			return
		case binSub:
			for i := range out {
				out[i] = a[i] - b[i]
			}
			return
		case binMul:
			for i := range out {
				out[i] = a[i] * b[i]
			}
			return
		case binDiv:
			for i := range out {
				out[i] = a[i] / b[i]
			}
			return
		}
	}
	if as == 1 && bs == 0 {
		a = a[:n]
		y := b[0]
		switch kind {
		case binAdd:
			for i := range out {
				out[i] = a[i] + y
			}
			return
		case binSub:
			for i := range out {
				out[i] = a[i] - y
			}
			return
		case binMul:
			for i := range out {
				out[i] = a[i] * y
			}
			return
		case binDiv:
			for i := range out {
				out[i] = a[i] / y
			}
			return
		}
	}
	ia, ib := 0, 0
	for i := range out {
		x, y := a[ia], b[ib]
		var r float32
		switch kind {
		case binAdd:
			r = x + y
		case binSub:
			r = x - y
		case binMul:
			r = x * y
		case binDiv:
			r = x / y
		case binPow:
			r = powf(x, y)
		case binMax:
			r = maxNaN(x, y)
		case binMin:
			r = minNaN(x, y)
		case binEq:
			r = b2f(x == y)
		case binNe:
			r = b2f(x != y)
		case binGt:
			r = b2f(x > y)
		case binGe:
			r = b2f(x >= y)
		case binLt:
			r = b2f(x < y)
		case binLe:
			r = b2f(x <= y)
		}
		out[i] = r
		ia += as
		ib += bs
	}
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func powf(x, y float32) float32 {
	switch y {
	case 1:
		return x
	case 2:
		return x * x
	case 0.5:
		return float32(math.Sqrt(float64(x)))
	}
	return float32(math.Pow(float64(x), float64(y)))
}

// maxNaN returns the larger of x and y, propagating NaN as torch.maximum does.
func maxNaN(x, y float32) float32 {
	if x != x || x > y {
		return x
	}
	return y
}

func minNaN(x, y float32) float32 {
	if x != x || x < y {
		return x
	}
	return y
}

// binary evaluates kind over a and b with broadcasting.
func binary(op string, kind binKind, a, b *Tensor) *Tensor {
	shape := mustBroadcast(op, a.shape, b.shape)
	out := empty(shape...) // every element is written below
	if SameShape(a.shape, b.shape) {
		cpu.ParallelGrain(len(out.data), elementGrain, func(lo, hi int) {
			applyBinary(kind, out.data[lo:hi], a.data[lo:hi], b.data[lo:hi], 1, 1)
		})
		return out
	}
	if len(b.data) == 1 && SameShape(a.shape, shape) {
		cpu.ParallelGrain(len(out.data), elementGrain, func(lo, hi int) {
			applyBinary(kind, out.data[lo:hi], a.data[lo:hi], b.data, 1, 0)
		})
		return out
	}
	sa, sb := broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)
	forEachRun(shape, [][]int{sa, sb}, func(off int, so []int, n int, steps []int) {
		applyBinary(kind, out.data[off:off+n], a.data[so[0]:], b.data[so[1]:], steps[0], steps[1])
	})
	return out
}

// Add returns a + b with broadcasting.
func Add(a, b *Tensor) *Tensor {
	out := binary("tensor.Add", binAdd, a, b)
	return Record("Add", out, func(g *Tensor) []*Tensor {
		return []*Tensor{SumTo(g, a.shape), SumTo(g, b.shape)}
	}, a, b)
}

// Sub returns a - b with broadcasting.
func Sub(a, b *Tensor) *Tensor {
	out := binary("tensor.Sub", binSub, a, b)
	return Record("Sub", out, func(g *Tensor) []*Tensor {
		var gb *Tensor
		if b.requiresGrad {
			gb = SumTo(Neg(g), b.shape)
		}
		return []*Tensor{SumTo(g, a.shape), gb}
	}, a, b)
}

// Mul returns a * b elementwise with broadcasting.
func Mul(a, b *Tensor) *Tensor {
	out := binary("tensor.Mul", binMul, a, b)
	return Record("Mul", out, func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = SumTo(binary("tensor.Mul", binMul, g, b), a.shape)
		}
		if b.requiresGrad {
			gb = SumTo(binary("tensor.Mul", binMul, g, a), b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Div returns a / b elementwise with broadcasting.
func Div(a, b *Tensor) *Tensor {
	out := binary("tensor.Div", binDiv, a, b)
	return Record("Div", out, func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			ga = SumTo(binary("tensor.Div", binDiv, g, b), a.shape)
		}
		if b.requiresGrad {
			// d(a/b)/db = -a/b² = -out/b
			t := binary("tensor.Div", binDiv, binary("tensor.Mul", binMul, g, out), b)
			gb = SumTo(Neg(t), b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Pow returns a raised to the power b elementwise with broadcasting.
func Pow(a, b *Tensor) *Tensor {
	out := binary("tensor.Pow", binPow, a, b)
	return Record("Pow", out, func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		shape := out.shape
		if a.requiresGrad {
			// b * a^(b-1)
			ae, be := Expand(a.Detach(), shape...), Expand(b.Detach(), shape...)
			t := Zeros(shape...)
			for i := range t.data {
				x, y := ae.data[i], be.data[i]
				if y == 0 {
					t.data[i] = 0
				} else {
					t.data[i] = g.data[i] * y * powf(x, y-1)
				}
			}
			ga = SumTo(t, a.shape)
		}
		if b.requiresGrad {
			// a^b * log(a), 0 where a == 0 and b >= 0 (as PyTorch)
			ae := Expand(a.Detach(), shape...)
			t := Zeros(shape...)
			for i := range t.data {
				x := ae.data[i]
				if x == 0 {
					continue
				}
				t.data[i] = g.data[i] * out.data[i] * float32(math.Log(float64(x)))
			}
			gb = SumTo(t, b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// Maximum returns the elementwise maximum of a and b (NaN propagates). Where
// a == b the gradient is split equally, as in PyTorch.
func Maximum(a, b *Tensor) *Tensor { return minmax("tensor.Maximum", binMax, a, b) }

// Minimum returns the elementwise minimum of a and b (NaN propagates).
func Minimum(a, b *Tensor) *Tensor { return minmax("tensor.Minimum", binMin, a, b) }

func minmax(op string, kind binKind, a, b *Tensor) *Tensor {
	out := binary(op, kind, a, b)
	return Record(op[len("tensor."):], out, func(g *Tensor) []*Tensor {
		ae, be := Expand(a.Detach(), out.shape...), Expand(b.Detach(), out.shape...)
		wa, wb := Zeros(out.shape...), Zeros(out.shape...)
		for i, o := range out.data {
			x, y := ae.data[i], be.data[i]
			switch {
			case x == y:
				wa.data[i], wb.data[i] = g.data[i]/2, g.data[i]/2
			case o == x || o != o && x != x:
				wa.data[i] = g.data[i]
			default:
				wb.data[i] = g.data[i]
			}
		}
		return []*Tensor{SumTo(wa, a.shape), SumTo(wb, b.shape)}
	}, a, b)
}

// Eq returns a mask (1 where a == b, else 0) with broadcasting. Comparison
// masks never require a gradient.
func Eq(a, b *Tensor) *Tensor { return binary("tensor.Eq", binEq, a, b) }

// Ne returns a mask of a != b.
func Ne(a, b *Tensor) *Tensor { return binary("tensor.Ne", binNe, a, b) }

// Gt returns a mask of a > b.
func Gt(a, b *Tensor) *Tensor { return binary("tensor.Gt", binGt, a, b) }

// Ge returns a mask of a >= b.
func Ge(a, b *Tensor) *Tensor { return binary("tensor.Ge", binGe, a, b) }

// Lt returns a mask of a < b.
func Lt(a, b *Tensor) *Tensor { return binary("tensor.Lt", binLt, a, b) }

// Le returns a mask of a <= b.
func Le(a, b *Tensor) *Tensor { return binary("tensor.Le", binLe, a, b) }

// Where returns x where cond is nonzero and y elsewhere, with all three
// broadcast together. cond receives no gradient.
func Where(cond, x, y *Tensor) *Tensor {
	shape := mustBroadcast("tensor.Where", mustBroadcast("tensor.Where", cond.shape, x.shape), y.shape)
	out := Zeros(shape...)
	sc, sx, sy := broadcastStrides(cond.shape, shape), broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape)
	forEachRun(shape, [][]int{sc, sx, sy}, func(off int, so []int, n int, st []int) {
		ic, ix, iy := so[0], so[1], so[2]
		for i := 0; i < n; i++ {
			if cond.data[ic] != 0 {
				out.data[off+i] = x.data[ix]
			} else {
				out.data[off+i] = y.data[iy]
			}
			ic += st[0]
			ix += st[1]
			iy += st[2]
		}
	})
	return Record("Where", out, func(g *Tensor) []*Tensor {
		c := Expand(cond.Detach(), shape...)
		gx, gy := Zeros(shape...), Zeros(shape...)
		for i, v := range c.data {
			if v != 0 {
				gx.data[i] = g.data[i]
			} else {
				gy.data[i] = g.data[i]
			}
		}
		return []*Tensor{nil, SumTo(gx, x.shape), SumTo(gy, y.shape)}
	}, cond, x, y)
}

// elementGrain is the smallest number of elements worth a goroutine in
// element-wise loops.
const elementGrain = 1 << 15

// unary applies f to every element of t into a new tensor, on all threads
// for large tensors.
func unary(t *Tensor, f func(float32) float32) *Tensor {
	out := empty(t.shape...)
	cpu.ParallelGrain(len(t.data), elementGrain, func(lo, hi int) {
		dst := out.data[lo:hi]
		for i, v := range t.data[lo:hi] {
			dst[i] = f(v)
		}
	})
	return out
}

// Neg returns -t.
func Neg(t *Tensor) *Tensor {
	out := empty(t.shape...)
	for i, v := range t.data {
		out.data[i] = -v
	}
	return Record("Neg", out, func(g *Tensor) []*Tensor { return []*Tensor{Neg(g)} }, t)
}

// AddScalar returns t + s.
func AddScalar(t *Tensor, s float32) *Tensor {
	out := empty(t.shape...)
	for i, v := range t.data {
		out.data[i] = v + s
	}
	return Record("AddScalar", out, func(g *Tensor) []*Tensor { return []*Tensor{g} }, t)
}

// MulScalar returns t * s.
func MulScalar(t *Tensor, s float32) *Tensor {
	out := empty(t.shape...)
	for i, v := range t.data {
		out.data[i] = v * s
	}
	return Record("MulScalar", out, func(g *Tensor) []*Tensor { return []*Tensor{MulScalar(g, s)} }, t)
}

// PowScalar returns t raised to the constant power p.
func PowScalar(t *Tensor, p float32) *Tensor {
	out := unary(t, func(v float32) float32 { return powf(v, p) })
	return Record("PowScalar", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		if p != 0 {
			for i, v := range t.data {
				r.data[i] = g.data[i] * p * powf(v, p-1)
			}
		}
		return []*Tensor{r}
	}, t)
}

// Exp returns e^t elementwise.
func Exp(t *Tensor) *Tensor {
	out := unary(t, func(v float32) float32 { return float32(math.Exp(float64(v))) })
	return Record("Exp", out, func(g *Tensor) []*Tensor {
		return []*Tensor{binary("tensor.Exp", binMul, g, out)}
	}, t)
}

// Log returns the natural logarithm of t elementwise.
func Log(t *Tensor) *Tensor {
	out := unary(t, func(v float32) float32 { return float32(math.Log(float64(v))) })
	return Record("Log", out, func(g *Tensor) []*Tensor {
		return []*Tensor{binary("tensor.Log", binDiv, g, t)}
	}, t)
}

// Sqrt returns the square root of t elementwise.
func Sqrt(t *Tensor) *Tensor {
	out := unary(t, func(v float32) float32 { return float32(math.Sqrt(float64(v))) })
	return Record("Sqrt", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for i, o := range out.data {
			r.data[i] = g.data[i] / (2 * o)
		}
		return []*Tensor{r}
	}, t)
}

// Abs returns |t| elementwise; its gradient at 0 is 0, as in PyTorch.
func Abs(t *Tensor) *Tensor {
	out := unary(t, func(v float32) float32 { return float32(math.Abs(float64(v))) })
	return Record("Abs", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for i, v := range t.data {
			switch {
			case v > 0:
				r.data[i] = g.data[i]
			case v < 0:
				r.data[i] = -g.data[i]
			}
		}
		return []*Tensor{r}
	}, t)
}

// Clamp limits t to [lo, hi] elementwise (use ±Inf for one-sided clamps).
// The gradient passes where lo <= t <= hi, as in PyTorch.
func Clamp(t *Tensor, lo, hi float32) *Tensor {
	if lo > hi {
		panic(fmt.Sprintf("tensor.Clamp: lo %v > hi %v", lo, hi))
	}
	out := unary(t, func(v float32) float32 {
		if v < lo {
			return lo
		}
		if v > hi {
			return hi
		}
		return v
	})
	return Record("Clamp", out, func(g *Tensor) []*Tensor {
		r := Zeros(t.shape...)
		for i, v := range t.data {
			if v >= lo && v <= hi {
				r.data[i] = g.data[i]
			}
		}
		return []*Tensor{r}
	}, t)
}
