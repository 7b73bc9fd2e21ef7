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

func nllCore(op string, logp, target *Tensor, opt CrossEntropyOptions) *Tensor {
	checkClassInput(op, logp)
	var n, c, inner int
	var outShape []int
	switch {
	case logp.Dim() == 1:
		n, c, inner = 1, logp.shape[0], 1
		if target.Dim() != 0 && !(target.Dim() == 1 && target.shape[0] == 1) {
			panic(fmt.Sprintf("%s: input %s needs a scalar target, got %s", op, FormatShape(logp.shape), FormatShape(target.shape)))
		}
		outShape = target.shape
	default:
		n, c = logp.shape[0], logp.shape[1]
		inner = Numel(logp.shape[2:])
		want := append([]int{n}, logp.shape[2:]...)
		if !SameShape(target.shape, want) {
			panic(fmt.Sprintf("%s: input %s needs target of shape %s, got %s", op, FormatShape(logp.shape), FormatShape(want), FormatShape(target.shape)))
		}
		outShape = target.shape
	}
	if opt.Weight != nil && !(opt.Weight.Dim() == 1 && opt.Weight.shape[0] == c) {
		panic(fmt.Sprintf("%s: weight of shape %s for %d classes", op, FormatShape(opt.Weight.shape), c))
	}
	if opt.LabelSmoothing < 0 || opt.LabelSmoothing > 1 {
		panic(fmt.Sprintf("%s: label smoothing %v outside [0,1]", op, opt.LabelSmoothing))
	}
	w := func(k int) float64 { return 1 }
	if opt.Weight != nil {
		w = func(k int) float64 { return float64(opt.Weight.data[k]) }
	}
	ignore := DefaultIgnoreIndex
	if opt.IgnoreIndex != nil {
		ignore = *opt.IgnoreIndex
	}
	eps := float64(opt.LabelSmoothing)
	m := n * inner
	none := opt.Reduction == ReduceNone
	if !none && opt.Reduction != ReduceSum && opt.Reduction != ReduceMean {
		panic(fmt.Sprintf("%s: unknown reduction %d", op, opt.Reduction))
	}
	// Elements are taken in fixed blocks of lossBlock, in parallel; each
	// block keeps its own sums, added up in block order afterwards, so the
	// result does not depend on the number of threads.
	cls := make([]int32, m) // the target class, -1 for ignored
	var nll, smooth []float64
	if none {
		nll, smooth = make([]float64, m), make([]float64, m)
	}
	blocks := (m + lossBlock - 1) / lossBlock
	type partial struct {
		a, b, wsum float64
		valid      int
		bad        int // first element with an invalid target, or -1
	}
	parts := make([]partial, blocks)
	cpu.Parallel(blocks, func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			pt := partial{bad: -1}
			for e := blk * lossBlock; e < min(m, (blk+1)*lossBlock); e++ {
				tv := target.data[e]
				if int(tv) == ignore && float32(int(tv)) == tv {
					cls[e] = -1
					continue
				}
				y := int(tv)
				if float32(y) != tv || y < 0 || y >= c {
					pt.bad = e
					break
				}
				cls[e] = int32(y)
				base := e/inner*c*inner + e%inner
				l := -w(y) * float64(logp.data[base+y*inner])
				pt.wsum += w(y)
				pt.valid++
				var sm float64
				if eps != 0 {
					for k := 0; k < c; k++ {
						sm -= w(k) * float64(logp.data[base+k*inner])
					}
				}
				if none {
					nll[e], smooth[e] = l, sm
				} else {
					pt.a += l
					pt.b += sm
				}
			}
			parts[blk] = pt
		}
	})
	var a, b, wsum float64
	valid := 0
	for _, pt := range parts {
		if pt.bad >= 0 {
			panic(fmt.Sprintf("%s: target %v at element %d is not a class in [0,%d) nor the ignore index %d", op, target.data[pt.bad], pt.bad, c, ignore))
		}
		a += pt.a
		b += pt.b
		wsum += pt.wsum
		valid += pt.valid
	}
	// Scales applied to the nll and smoothing parts of each element.
	nllScale, smoothScale := 1-eps, eps/float64(c)
	var out *Tensor
	if none {
		out = Zeros(outShape...)
		for e, y := range cls {
			if y >= 0 {
				out.data[e] = float32(nllScale*nll[e] + smoothScale*smooth[e])
			}
		}
	} else {
		if opt.Reduction == ReduceMean {
			nllScale /= wsum
			if opt.Weight != nil {
				smoothScale /= wsum
			} else {
				smoothScale /= float64(valid)
			}
		}
		out = Scalar(float32(nllScale*a + smoothScale*b))
	}
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

// lossBlock is the number of elements per block of the class losses.
const lossBlock = 8192

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
