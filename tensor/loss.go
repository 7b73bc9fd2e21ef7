package tensor

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// Reduction says how a loss combines its per-element values.
type Reduction int

const (
	ReduceMean Reduction = iota // average (for class losses: weighted average over non-ignored targets)
	ReduceSum                   // sum
	ReduceNone                  // one value per element, in the target's shape
)

// CrossEntropyOptions are the options of CrossEntropy and NLLLoss; the zero
// value is PyTorch's defaults.
type CrossEntropyOptions struct {
	Weight         *Tensor   // (C): per-class weights, or nil for all ones
	IgnoreIndex    *int      // target value that contributes nothing (Ignore(255)), or nil for none
	LabelSmoothing float32   // ε in [0, 1]: mixes the target with a uniform distribution
	Reduction      Reduction // ReduceMean by default
}

// DefaultIgnoreIndex is PyTorch's default ignore_index. A nil
// CrossEntropyOptions.IgnoreIndex behaves the same, since no class is negative.
const DefaultIgnoreIndex = -100

// Ignore returns a pointer to v, for CrossEntropyOptions.IgnoreIndex.
func Ignore(v int) *int { return &v }

// CrossEntropy returns the cross-entropy between logits and class targets,
// as torch.nn.functional.cross_entropy with class-index targets:
// logits (N, C, d1, …) or (N, C) or (C), target (N, d1, …) (or () for (C)) of
// integral class values. With ReduceMean the result is the sum over
// non-ignored elements divided by the sum of their target classes' weights;
// label smoothing ε gives (1-ε)·nll + ε·smooth where smooth is the
// class-weighted mean of −log p over classes, normalised as PyTorch 1.13 does.
func CrossEntropy(logits, target *Tensor, opt CrossEntropyOptions) *Tensor {
	checkClassInput("tensor.CrossEntropy", logits)
	if logits.Dim() >= 3 && Numel(logits.shape[2:]) > 1 && opt.LabelSmoothing == 0 {
		return crossEntropySpatial(logits, target, opt)
	}
	classAxis := 1
	if logits.Dim() == 1 {
		classAxis = 0
	}
	return nllCore("tensor.CrossEntropy", LogSoftmax(logits, classAxis), target, opt)
}

// NLLLoss returns the negative log-likelihood loss of log-probabilities logp
// (N, C, d1, …) or (N, C) or (C) against class targets, as
// torch.nn.functional.nll_loss. LabelSmoothing must be 0.
func NLLLoss(logp, target *Tensor, opt CrossEntropyOptions) *Tensor {
	if opt.LabelSmoothing != 0 {
		panic("tensor.NLLLoss: label smoothing is only for CrossEntropy")
	}
	return nllCore("tensor.NLLLoss", logp, target, opt)
}

// checkClassInput panics when x cannot hold class scores: it needs (C) or (N, C, …).
func checkClassInput(op string, x *Tensor) {
	if x.Dim() == 0 {
		panic(fmt.Sprintf("%s: input %s needs at least 1 dimension (C) or (N,C,…)", op, FormatShape(x.shape)))
	}
}

// classLoss is the validated geometry and options of a class loss (NLL
// or cross-entropy) on input (N, C, inner…) or (C) and its target.
type classLoss struct {
	op          string
	n, c, inner int // inner: the product of the dimensions after C
	m           int // n·inner elements
	outShape    []int
	w           func(k int) float64 // class weight
	ignore      int
	eps         float64
	none        bool // ReduceNone
	reduction   Reduction
	weighted    bool
}

func newClassLoss(op string, input, target *Tensor, opt CrossEntropyOptions) *classLoss {
	checkClassInput(op, input)
	l := &classLoss{op: op, reduction: opt.Reduction, weighted: opt.Weight != nil}
	switch {
	case input.Dim() == 1:
		l.n, l.c, l.inner = 1, input.shape[0], 1
		if target.Dim() != 0 && !(target.Dim() == 1 && target.shape[0] == 1) {
			panic(fmt.Sprintf("%s: input %s needs a scalar target, got %s", op, FormatShape(input.shape), FormatShape(target.shape)))
		}
	default:
		l.n, l.c = input.shape[0], input.shape[1]
		l.inner = Numel(input.shape[2:])
		want := append([]int{l.n}, input.shape[2:]...)
		if !SameShape(target.shape, want) {
			panic(fmt.Sprintf("%s: input %s needs target of shape %s, got %s", op, FormatShape(input.shape), FormatShape(want), FormatShape(target.shape)))
		}
	}
	l.outShape = target.shape
	l.m = l.n * l.inner
	if opt.Weight != nil && !(opt.Weight.Dim() == 1 && opt.Weight.shape[0] == l.c) {
		panic(fmt.Sprintf("%s: weight of shape %s for %d classes", op, FormatShape(opt.Weight.shape), l.c))
	}
	if opt.LabelSmoothing < 0 || opt.LabelSmoothing > 1 {
		panic(fmt.Sprintf("%s: label smoothing %v outside [0,1]", op, opt.LabelSmoothing))
	}
	l.w = func(k int) float64 { return 1 }
	if opt.Weight != nil {
		l.w = func(k int) float64 { return float64(opt.Weight.data[k]) }
	}
	l.ignore = DefaultIgnoreIndex
	if opt.IgnoreIndex != nil {
		l.ignore = *opt.IgnoreIndex
	}
	l.eps = float64(opt.LabelSmoothing)
	l.none = opt.Reduction == ReduceNone
	if !l.none && opt.Reduction != ReduceSum && opt.Reduction != ReduceMean {
		panic(fmt.Sprintf("%s: unknown reduction %d", op, opt.Reduction))
	}
	return l
}

// class returns the class of target value tv: -1 when it is the ignore
// index, -2 when it is not a class.
func (l *classLoss) class(tv float32) int {
	if int(tv) == l.ignore && float32(int(tv)) == tv {
		return -1
	}
	y := int(tv)
	if float32(y) != tv || y < 0 || y >= l.c {
		return -2
	}
	return y
}

// lossPartial holds one block's sums.
type lossPartial struct {
	a, b, wsum float64
	valid      int
	bad        int // first element with an invalid target, or -1
}

// finish adds up the blocks' sums in block order (panicking at the first
// invalid target) and returns the loss and the scales of its nll and
// smoothing parts; nll and smooth hold per-element values for ReduceNone.
func (l *classLoss) finish(target *Tensor, parts []lossPartial, cls []int32, nll, smooth []float64) (out *Tensor, nllScale, smoothScale float64) {
	var a, b, wsum float64
	valid := 0
	for _, pt := range parts {
		if pt.bad >= 0 {
			panic(fmt.Sprintf("%s: target %v at element %d is not a class in [0,%d) nor the ignore index %d", l.op, target.data[pt.bad], pt.bad, l.c, l.ignore))
		}
		a += pt.a
		b += pt.b
		wsum += pt.wsum
		valid += pt.valid
	}
	nllScale, smoothScale = 1-l.eps, l.eps/float64(l.c)
	if l.none {
		out = Zeros(l.outShape...)
		for e, y := range cls {
			if y >= 0 {
				out.data[e] = float32(nllScale*nll[e] + smoothScale*smooth[e])
			}
		}
		return out, nllScale, smoothScale
	}
	if l.reduction == ReduceMean {
		nllScale /= wsum
		if l.weighted {
			smoothScale /= wsum
		} else {
			smoothScale /= float64(valid)
		}
	}
	return Scalar(float32(nllScale*a + smoothScale*b)), nllScale, smoothScale
}

// perElement returns slices for the per-element nll and smoothing values
// (nil unless ReduceNone).
func (l *classLoss) perElement() (nll, smooth []float64) {
	if l.none {
		return make([]float64, l.m), make([]float64, l.m)
	}
	return nil, nil
}

// lossBlock is the number of elements per block of the class losses:
// elements are taken in fixed blocks, in parallel; each block keeps its own
// sums, added up in block order afterwards, so the result does not depend
// on the number of threads.
const lossBlock = 8192

func nllCore(op string, logp, target *Tensor, opt CrossEntropyOptions) *Tensor {
	l := newClassLoss(op, logp, target, opt)
	c, inner, m, w, eps, none := l.c, l.inner, l.m, l.w, l.eps, l.none
	cls := make([]int32, m) // the target class, -1 for ignored
	nll, smooth := l.perElement()
	blocks := (m + lossBlock - 1) / lossBlock
	parts := make([]lossPartial, blocks)
	cpu.Parallel(blocks, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			pt := lossPartial{bad: -1}
			for e := blk * lossBlock; e < min(m, (blk+1)*lossBlock); e++ {
				y := l.class(target.data[e])
				cls[e] = int32(max(y, -1))
				if y == -2 {
					pt.bad = e
					break
				}
				if y < 0 {
					continue
				}
				base := e/inner*c*inner + e%inner
				nl := -w(y) * float64(logp.data[base+y*inner])
				pt.wsum += w(y)
				pt.valid++
				var sm float64
				if eps != 0 {
					for k := 0; k < c; k++ {
						sm -= w(k) * float64(logp.data[base+k*inner])
					}
				}
				if none {
					nll[e], smooth[e] = nl, sm
				} else {
					pt.a += nl
					pt.b += sm
				}
			}
			parts[blk] = pt
		}
	})
	out, nllScale, smoothScale := l.finish(target, parts, cls, nll, smooth)
	return Record(op[len("tensor."):], out, func(g *Tensor) []*Tensor {
		r := Zeros(logp.shape...)
		cpu.Parallel(blocks, func(lo, hi int) {
			for e := lo * lossBlock; e < min(m, hi*lossBlock); e++ {
				y := int(cls[e])
				if y < 0 {
					continue
				}
				gv := float64(g.data[0])
				if none {
					gv = float64(g.data[e])
				}
				base := e/inner*c*inner + e%inner
				r.data[base+y*inner] -= float32(gv * nllScale * w(y))
				if eps != 0 {
					for k := 0; k < c; k++ {
						r.data[base+k*inner] -= float32(gv * smoothScale * w(k))
					}
				}
			}
		})
		return []*Tensor{r, nil}
	}, logp, target)
}

// crossEntropySpatial is CrossEntropy without label smoothing for logits
// (N, C, d1, …) with more than one position: log-softmax and the negative log-likelihood fused, so that
// the log-probabilities are neither stored nor read back. The forward pass
// keeps, per position, the maximum over the classes and the log of the sum
// of exponentials, from which the backward pass recomputes what it needs.
// Every operation is the one LogSoftmax and nllCore do in the same order,
// so the loss and the gradient are bit for bit those of
// NLLLoss(LogSoftmax(logits, 1), target).
func crossEntropySpatial(logits, target *Tensor, opt CrossEntropyOptions) *Tensor {
	l := newClassLoss("tensor.CrossEntropy", logits, target, opt)
	c, inner, m, w, none := l.c, l.inner, l.m, l.w, l.none
	x := logits.data
	cls := make([]int32, m)
	nll, _ := l.perElement()
	maxs, _, _ := getBuf(m) // per position: the class maximum (0 if −∞)
	lses, _, _ := getBuf(m) // and the log of the sum of exponentials
	blocks := (m + lossBlock - 1) / lossBlock
	parts := make([]lossPartial, blocks)
	// runs calls fn on the runs of at most softmaxBlock positions of each
	// block that stay within one image, in order.
	runs := func(blk int, fn func(e0, w, base int)) {
		for e := blk * lossBlock; e < min(m, (blk+1)*lossBlock); {
			j := e % inner
			w := min(softmaxBlock, inner-j, min(m, (blk+1)*lossBlock)-e)
			fn(e, w, e/inner*c*inner+j)
			e += w
		}
	}
	cpu.Parallel(blocks, func(lo, hi int) {
		var t, ex [softmaxBlock]float32
		var s [softmaxBlock]float64
		for blk := lo; blk < hi; blk++ {
			pt := lossPartial{bad: -1}
			runs(blk, func(e0, n, base int) {
				mx, lse, t, ex, s := maxs[e0:e0+n], lses[e0:e0+n], t[:n], ex[:n], s[:n]
				copy(mx, x[base:base+n])
				for k := 1; k < c; k++ {
					cpu.MaxAccum(mx, x[base+k*inner:base+k*inner+n])
				}
				for i, v := range mx {
					if math.IsInf(float64(v), -1) {
						mx[i] = 0
					}
				}
				clear(s)
				for k := 0; k < c; k++ {
					for i, v := range x[base+k*inner : base+k*inner+n] {
						t[i] = v - mx[i]
					}
					cpu.Exp(ex, t)
					for i, v := range ex {
						s[i] += float64(v)
					}
				}
				for i, v := range s {
					lse[i] = float32(math.Log(v))
				}
				if pt.bad >= 0 {
					return
				}
				for i := range n {
					e := e0 + i
					y := l.class(target.data[e])
					cls[e] = int32(max(y, -1))
					if y == -2 {
						pt.bad = e
						return
					}
					if y < 0 {
						continue
					}
					logp := x[base+y*inner+i] - mx[i]
					logp -= lse[i]
					wy := w(y)
					nl := -wy * float64(logp)
					pt.wsum += wy
					pt.valid++
					if none {
						nll[e] = nl
					} else {
						pt.a += nl
					}
				}
			})
			parts[blk] = pt
		}
	})
	var zeros []float64
	if none {
		zeros = make([]float64, m)
	}
	out, nllScale, _ := l.finish(target, parts, cls, nll, zeros)
	return Record("CrossEntropy", out, func(g *Tensor) []*Tensor {
		dx := empty(logits.shape...)
		// With one gradient for the whole loss, the target's share
		// g·scale·w(y) depends on the class only.
		var share []float32
		if !none {
			share = make([]float32, c)
			for k := range share {
				share[k] = float32(float64(g.data[0]) * nllScale * w(k))
			}
		}
		cpu.Parallel(blocks, func(lo, hi int) {
			var ex, t, gy, sg [softmaxBlock]float32
			for blk := lo; blk < hi; blk++ {
				runs(blk, func(e0, n, base int) {
					mx, lse, ex, t, gy, sg := maxs[e0:e0+n], lses[e0:e0+n], ex[:n], t[:n], gy[:n], sg[:n]
					// LogSoftmax's backward, dx = gLS − exp(logp)·ΣgLS, where
					// the gradient gLS of the log-probabilities is 0 − share
					// at the target (as nllCore accumulates it into zeros)
					// and +0 elsewhere; its sum over the classes, taken from
					// +0 in class order, is then +0 + gLS[target].
					var zero float32
					for i := range n {
						gy[i] = zero
						if y := cls[e0+i]; y >= 0 {
							if none {
								gy[i] = zero - float32(float64(g.data[e0+i])*nllScale*w(int(y)))
							} else {
								gy[i] = zero - share[y]
							}
						}
						sg[i] = zero + gy[i]
					}
					for k := 0; k < c; k++ {
						xs, ds := x[base+k*inner:base+k*inner+n], dx.data[base+k*inner:base+k*inner+n]
						for i, v := range xs {
							ds[i] = v - mx[i]
							ds[i] -= lse[i]
						}
						cpu.Exp(ex, ds)
						for i, e := range ex {
							ds[i] = zero - e*sg[i]
						}
					}
					// The targets' entries: gLS − exp(logp)·ΣgLS with the
					// same exponential (recomputed from the same value).
					for i := range n {
						t[i] = 0
						if y := int(cls[e0+i]); y >= 0 {
							t[i] = x[base+y*inner+i] - mx[i]
							t[i] -= lse[i]
						}
					}
					cpu.Exp(ex, t)
					for i := range n {
						if y := int(cls[e0+i]); y >= 0 {
							dx.data[base+y*inner+i] = gy[i] - ex[i]*sg[i]
						}
					}
				})
			}
		})
		putBuf(maxs)
		putBuf(lses)
		return []*Tensor{dx, nil}
	}, logits, target)
}

// reduce combines per-element losses l as r says.
func reduce(l *Tensor, r Reduction) *Tensor {
	switch r {
	case ReduceMean:
		return MeanAll(l)
	case ReduceSum:
		return SumAll(l)
	case ReduceNone:
		return l
	}
	panic(fmt.Sprintf("tensor: unknown reduction %d", r))
}

// MSELoss returns the mean (or sum, or per-element) squared error (x - y)².
// x and y broadcast.
func MSELoss(x, y *Tensor, r Reduction) *Tensor {
	mustBroadcast("tensor.MSELoss", x.shape, y.shape)
	d := Sub(x, y)
	return reduce(Mul(d, d), r)
}

// L1Loss returns the mean (or sum, or per-element) absolute error |x - y|.
func L1Loss(x, y *Tensor, r Reduction) *Tensor {
	mustBroadcast("tensor.L1Loss", x.shape, y.shape)
	return reduce(Abs(Sub(x, y)), r)
}

// SmoothL1Loss returns the Huber-like loss of torch.nn.SmoothL1Loss:
// 0.5·d²/β where |d| < β, else |d| − 0.5·β, with d = x − y. β = 0 is L1.
func SmoothL1Loss(x, y *Tensor, beta float32, r Reduction) *Tensor {
	if beta < 0 {
		panic(fmt.Sprintf("tensor.SmoothL1Loss: negative beta %v", beta))
	}
	mustBroadcast("tensor.SmoothL1Loss", x.shape, y.shape)
	d := Sub(x, y)
	out := unary(d, func(v float32) float32 {
		a := float32(math.Abs(float64(v)))
		if a < beta {
			return 0.5 * v * v / beta
		}
		return a - 0.5*beta
	})
	out = Record("SmoothL1", out, func(g *Tensor) []*Tensor {
		res := Zeros(d.shape...)
		for i, v := range d.data {
			switch a := float32(math.Abs(float64(v))); {
			case a < beta:
				res.data[i] = g.data[i] * v / beta
			case v > 0:
				res.data[i] = g.data[i]
			case v < 0:
				res.data[i] = -g.data[i]
			}
		}
		return []*Tensor{res}
	}, d)
	return reduce(out, r)
}

// BCEWithLogitsOptions are the options of BCEWithLogitsLoss.
type BCEWithLogitsOptions struct {
	Weight    *Tensor // broadcasts to the input: per-element rescaling, or nil
	PosWeight *Tensor // broadcasts to the input along the class (last) axis: weight of positives, or nil
	Reduction Reduction
}

// BCEWithLogitsLoss returns the binary cross-entropy of sigmoid(x) against
// targets y in [0, 1], computed stably as torch.nn.BCEWithLogitsLoss:
// ℓ = (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x), times weight.
func BCEWithLogitsLoss(x, y *Tensor, opt BCEWithLogitsOptions) *Tensor {
	if !SameShape(x.shape, y.shape) {
		panic(fmt.Sprintf("tensor.BCEWithLogitsLoss: input %s and target %s differ", FormatShape(x.shape), FormatShape(y.shape)))
	}
	pw := Ones(x.shape...)
	if opt.PosWeight != nil {
		pw = Expand(opt.PosWeight.Detach(), x.shape...)
	}
	out := Zeros(x.shape...)
	for i, v := range x.data {
		t := y.data[i]
		lw := 1 + (pw.data[i]-1)*t
		out.data[i] = (1-t)*v + lw*softplusNeg(v)
	}
	out = Record("BCEWithLogits", out, func(g *Tensor) []*Tensor {
		gx, gy := Zeros(x.shape...), Zeros(x.shape...)
		for i, v := range x.data {
			t := y.data[i]
			lw := 1 + (pw.data[i]-1)*t
			sig := float32(1 / (1 + math.Exp(float64(v)))) // sigmoid(-v)
			gx.data[i] = g.data[i] * ((1 - t) - lw*sig)
			gy.data[i] = g.data[i] * (-v + (pw.data[i]-1)*softplusNeg(v))
		}
		return []*Tensor{gx, gy}
	}, x, y)
	if opt.Weight != nil {
		out = Mul(out, opt.Weight)
	}
	return reduce(out, opt.Reduction)
}

// softplusNeg returns log(1 + exp(−v)) without overflow.
func softplusNeg(v float32) float32 {
	return float32(math.Log1p(math.Exp(-math.Abs(float64(v))))) + max(-v, 0)
}
