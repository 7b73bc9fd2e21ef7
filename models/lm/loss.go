package lm

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// IgnoreIndex is the label value that NextTokenLoss skips (PyTorch's and Hugging Face's
// -100).
const IgnoreIndex = tensor.DefaultIgnoreIndex

// NextTokenLoss is the causal language-modelling loss of Hugging Face's
// GPT2LMHeadModel(labels=…): the mean cross-entropy of predicting labels[b, t+1] from
// logits[b, t], over the pairs whose label is not IgnoreIndex. logits (B, T, V), labels
// (B, T) of integral values (usually the input ids, with IgnoreIndex on prompt and
// padding tokens; see MaskLabels). The last position predicts nothing. With every label
// ignored the result is NaN, as in PyTorch.
func NextTokenLoss(logits, labels *tensor.Tensor) *tensor.Tensor {
	if logits.Dim() != 3 || labels.Dim() != 2 || labels.SizeOf(0) != logits.SizeOf(0) || labels.SizeOf(1) != logits.SizeOf(1) {
		panic(fmt.Sprintf("lm.NextTokenLoss: logits %s, labels %s: want (B, T, V) and (B, T)",
			tensor.FormatShape(logits.Shape()), tensor.FormatShape(labels.Shape())))
	}
	b, t, v := logits.SizeOf(0), logits.SizeOf(1), logits.SizeOf(2)
	target := make([]float32, b*t)
	ld := labels.Data()
	for i := 0; i < b; i++ {
		for j := 0; j < t; j++ {
			y := float32(IgnoreIndex)
			if j+1 < t {
				y = ld[i*t+j+1]
			}
			target[i*t+j] = y
		}
	}
	// The last position of each row gets IgnoreIndex instead of being cut off, so the
	// logits are used as they are (no shifted copy).
	return crossEntropy(tensor.Reshape(logits, b*t, v), target)
}

// crossEntropy is tensor.CrossEntropy with ReduceMean and IgnoreIndex for class-index
// targets, logits (N, V), fused for large vocabularies: one pass over each row forward
// (max, vectorised exponentials into a row of scratch, their sum in float64: the row's
// log-sum-exp) and one backward (softmax − one-hot, scaled), with no (N, V) intermediate.
func crossEntropy(logits *tensor.Tensor, target []float32) *tensor.Tensor {
	n, v := logits.SizeOf(0), logits.SizeOf(1)
	xd := logits.Data()
	tgt := make([]int, n)
	count := 0
	for i, y := range target {
		k := int(y)
		if float32(k) != y || (k != IgnoreIndex && (k < 0 || k >= v)) {
			panic(fmt.Sprintf("lm.NextTokenLoss: label %v out of range [0, %d) (and not IgnoreIndex)", y, v))
		}
		tgt[i] = k
		if k != IgnoreIndex {
			count++
		}
	}
	lse := make([]float64, n)
	losses := make([]float64, n)
	grain := max(1, 1<<16/max(v, 1))
	cpu.ParallelGrain(n, grain, func(lo, hi int) {
		buf := make([]float32, v)
		for r := lo; r < hi; r++ {
			if tgt[r] == IgnoreIndex {
				continue
			}
			row := xd[r*v : (r+1)*v]
			m := float32(math.Inf(-1))
			for _, x := range row {
				m = max(m, x)
			}
			for i, x := range row {
				buf[i] = x - m
			}
			cpu.Exp(buf, buf)
			var sum float64
			for _, e := range buf {
				sum += float64(e)
			}
			lse[r] = float64(m) + math.Log(sum)
			losses[r] = lse[r] - float64(row[tgt[r]])
		}
	})
	var total float64
	for _, l := range losses {
		total += l
	}
	out := tensor.Scalar(float32(total / float64(count)))
	return tensor.Record("CrossEntropy", out, func(g *tensor.Tensor) []*tensor.Tensor {
		scale := g.Item() / float32(count)
		gx := tensor.Empty(n, v)
		gd := gx.Data()
		cpu.ParallelGrain(n, grain, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dst := gd[r*v : (r+1)*v]
				if tgt[r] == IgnoreIndex {
					clear(dst)
					continue
				}
				l := float32(lse[r])
				for i, x := range xd[r*v : (r+1)*v] {
					dst[i] = x - l
				}
				cpu.Exp(dst, dst)
				for i := range dst {
					dst[i] *= scale
				}
				dst[tgt[r]] -= scale
			}
		})
		return []*tensor.Tensor{gx}
	}, logits)
}

// MaskLabels returns a copy of ids (B, T) with IgnoreIndex wherever mask (B, T) is 0:
// the labels for NextTokenLoss that train on the tokens marked 1 only (the answer, not
// the prompt; not the padding).
func MaskLabels(ids, mask *tensor.Tensor) *tensor.Tensor {
	if !tensor.SameShape(ids.Shape(), mask.Shape()) {
		panic(fmt.Sprintf("lm.MaskLabels: ids %s, mask %s: want the same shape", tensor.FormatShape(ids.Shape()), tensor.FormatShape(mask.Shape())))
	}
	out := ids.Clone()
	d := out.Data()
	for i, m := range mask.Data() {
		if m == 0 {
			d[i] = IgnoreIndex
		}
	}
	return out
}
