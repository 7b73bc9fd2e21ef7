package tensor_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// Finite-difference gradient checks for every differentiable op. Inputs are
// chosen away from kinks (ties for max/min, 0 for Abs, the clamp bounds, the
// SmoothL1 β) by more than the finite-difference step.

type gradCase struct {
	name string
	f    func(in []*tensor.Tensor) *tensor.Tensor
	in   []*tensor.Tensor
}

// gradInputs makes leaves for gradient checks from a fixed seed.
type gradInputs struct{ rng *rand.Rand }

func newGradInputs(seed uint64) *gradInputs {
	return &gradInputs{rand.New(rand.NewPCG(seed, 99))}
}

// n returns a standard-normal leaf that requires a gradient.
func (g *gradInputs) n(shape ...int) *tensor.Tensor {
	return tensor.RandNormal(g.rng, 0, 1, shape...).SetRequiresGrad(true)
}

// pos returns a leaf with values in [0.5, 2].
func (g *gradInputs) pos(shape ...int) *tensor.Tensor {
	return tensor.RandUniform(g.rng, 0.5, 2, shape...).SetRequiresGrad(true)
}

// sep returns a leaf whose values are distinct and at least 0.1 apart
// (a shuffled ramp), so that max, min and sorting-like ops have no ties
// within the finite-difference step.
func (g *gradInputs) sep(shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	data := make([]float32, n)
	for i, p := range g.rng.Perm(n) {
		data[i] = float32(p)*0.1 - float32(n)*0.05 + 0.013
	}
	return tensor.New(data, shape...).SetRequiresGrad(true)
}

// away returns a normal leaf whose values are at least 0.05 away from each of avoid.
func (g *gradInputs) away(avoid []float32, shape ...int) *tensor.Tensor {
	t := tensor.RandNormal(g.rng, 0, 1, shape...)
	d := t.Data()
	for i := range d {
		for ok := false; !ok; {
			ok = true
			for _, a := range avoid {
				if d[i]-a < 0.05 && a-d[i] < 0.05 {
					d[i] = float32(g.rng.NormFloat64())
					ok = false
				}
			}
		}
	}
	return t.SetRequiresGrad(true)
}

// ints returns a constant tensor of integral values in [0, n).
func (g *gradInputs) ints(n int, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	for i := range t.Data() {
		t.Data()[i] = float32(g.rng.IntN(n))
	}
	return t
}

func cst(t *tensor.Tensor) *tensor.Tensor { return t.Detach() }

func TestGradCheck(t *testing.T) {
	g := newGradInputs(1)
	f1 := func(f func(a *tensor.Tensor) *tensor.Tensor) func(in []*tensor.Tensor) *tensor.Tensor {
		return func(in []*tensor.Tensor) *tensor.Tensor { return f(in[0]) }
	}
	f2 := func(f func(a, b *tensor.Tensor) *tensor.Tensor) func(in []*tensor.Tensor) *tensor.Tensor {
		return func(in []*tensor.Tensor) *tensor.Tensor { return f(in[0], in[1]) }
	}
	flatCat := func(ts []*tensor.Tensor) *tensor.Tensor {
		fl := make([]*tensor.Tensor, len(ts))
		for i, x := range ts {
			fl[i] = tensor.Reshape(x, -1)
		}
		return tensor.Cat(fl, 0)
	}
	ints := func(v ...float32) *tensor.Tensor { return tensor.FromSlice(v, len(v)) }
	cases := []gradCase{
		// shape ops
		{"Reshape", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Reshape(a, 4, -1) }), []*tensor.Tensor{g.n(2, 3, 2)}},
		{"View", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.View(a, 6) }), []*tensor.Tensor{g.n(2, 3)}},
		{"Flatten", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Flatten(a, 1, -1) }), []*tensor.Tensor{g.n(2, 3, 2)}},
		{"Squeeze", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Squeeze(a) }), []*tensor.Tensor{g.n(1, 3, 1)}},
		{"Unsqueeze", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Unsqueeze(a, 1) }), []*tensor.Tensor{g.n(2, 3)}},
		{"Permute", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Permute(a, 1, 2, 0) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Transpose", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Transpose(a, -1, -2) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Expand", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Expand(a, 2, 3, 4) }), []*tensor.Tensor{g.n(3, 1)}},
		{"SumTo", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.SumTo(a, []int{3, 1}) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Cat", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Cat(in, 1) }, []*tensor.Tensor{g.n(2, 1, 2), g.n(2, 3, 2), cst(g.n(2, 2, 2))}},
		{"Stack", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Stack(in, 1) }, []*tensor.Tensor{g.n(2, 3), g.n(2, 3)}},
		{"Split", f1(func(a *tensor.Tensor) *tensor.Tensor { return flatCat(tensor.Split(a, 1, 2, 1, 2)) }), []*tensor.Tensor{g.n(2, 5)}},
		{"Chunk", f1(func(a *tensor.Tensor) *tensor.Tensor { return flatCat(tensor.Chunk(a, 3, 0)[1:]) }), []*tensor.Tensor{g.n(5, 2)}},
		{"Narrow", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Narrow(a, -1, 1, 2) }), []*tensor.Tensor{g.n(2, 4)}},
		{"IndexSelect", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.IndexSelect(in[0], 1, in[1]) },
			[]*tensor.Tensor{g.n(2, 4, 2), ints(3, 0, 3, 2)}},
		{"Gather", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Gather(in[0], 0, in[1]) },
			[]*tensor.Tensor{g.n(3, 4), g.ints(3, 4, 3)}},
		{"ScatterAdd", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.ScatterAdd(in[0], 1, in[1], in[2]) },
			[]*tensor.Tensor{g.n(3, 4), g.ints(4, 3, 5), g.n(3, 5)}},
		{"Pad/constant", f1(func(a *tensor.Tensor) *tensor.Tensor {
			return tensor.Pad(a, []int{1, 2, 0, 1}, tensor.PadConstant, 0.5)
		}), []*tensor.Tensor{g.n(2, 2, 3)}},
		{"Pad/negative", f1(func(a *tensor.Tensor) *tensor.Tensor {
			return tensor.Pad(a, []int{-1, 2, 1, -2}, tensor.PadConstant, 0)
		}), []*tensor.Tensor{g.n(2, 4, 4)}},
		{"Pad/reflect", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Pad(a, []int{2, 1, 1, 2}, tensor.PadReflect, 0) }), []*tensor.Tensor{g.n(1, 2, 3, 3)}},
		{"Pad/replicate", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Pad(a, []int{3, 1, 0, 2}, tensor.PadReplicate, 0) }), []*tensor.Tensor{g.n(2, 2, 3)}},
		{"Pad/circular", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Pad(a, []int{3, 1, 2, 0}, tensor.PadCircular, 0) }), []*tensor.Tensor{g.n(2, 2, 3)}},

		// elementwise
		{"Add", f2(tensor.Add), []*tensor.Tensor{g.n(2, 1, 3), g.n(4, 1)}},
		{"Add/same input", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Add(in[0], in[0]) }, []*tensor.Tensor{g.n(2, 3)}},
		{"Sub", f2(tensor.Sub), []*tensor.Tensor{g.n(3), g.n(2, 3)}},
		{"Mul", f2(tensor.Mul), []*tensor.Tensor{g.n(2, 3), g.n(2, 1)}},
		{"Mul/square", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Mul(in[0], in[0]) }, []*tensor.Tensor{g.n(2, 3)}},
		{"Div", f2(tensor.Div), []*tensor.Tensor{g.n(2, 3), g.pos(3)}},
		{"Pow", f2(tensor.Pow), []*tensor.Tensor{g.pos(2, 3), g.n(2, 1)}},
		{"Maximum", f2(tensor.Maximum), []*tensor.Tensor{g.sep(2, 3), g.sep(3)}},
		{"Minimum", f2(tensor.Minimum), []*tensor.Tensor{g.sep(3, 1), g.sep(3, 4)}},
		{"Neg", f1(tensor.Neg), []*tensor.Tensor{g.n(2, 3)}},
		{"Exp", f1(tensor.Exp), []*tensor.Tensor{g.n(2, 3)}},
		{"Log", f1(tensor.Log), []*tensor.Tensor{g.pos(2, 3)}},
		{"Sqrt", f1(tensor.Sqrt), []*tensor.Tensor{g.pos(2, 3)}},
		{"Abs", f1(tensor.Abs), []*tensor.Tensor{g.away([]float32{0}, 3, 4)}},
		{"Clamp", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Clamp(a, -0.5, 0.7) }), []*tensor.Tensor{g.away([]float32{-0.5, 0.7}, 4, 4)}},
		{"Where", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Where(in[0], in[1], in[2]) },
			[]*tensor.Tensor{g.ints(2, 3, 1), g.n(3, 4), g.n(4)}},
		{"AddScalar", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.AddScalar(a, 3) }), []*tensor.Tensor{g.n(2, 3)}},
		{"MulScalar", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.MulScalar(a, -1.5) }), []*tensor.Tensor{g.n(2, 3)}},
		{"PowScalar/2", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.PowScalar(a, 2) }), []*tensor.Tensor{g.n(2, 3)}},
		{"PowScalar/-1.5", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.PowScalar(a, -1.5) }), []*tensor.Tensor{g.pos(2, 3)}},
		{"PowScalar/0.5", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.PowScalar(a, 0.5) }), []*tensor.Tensor{g.pos(2, 3)}},

		// reductions
		{"Sum/all", f1(tensor.SumAll), []*tensor.Tensor{g.n(2, 3)}},
		{"Sum/axes", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Sum(a, []int{0, 2}, false) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Sum/keepDim", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Sum(a, []int{-1}, true) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Mean/all", f1(tensor.MeanAll), []*tensor.Tensor{g.n(2, 3)}},
		{"Mean/axes", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Mean(a, []int{1}, true) }), []*tensor.Tensor{g.n(2, 3, 4)}},
		{"Var/unbiased", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Var(a, []int{1}, 1, false) }), []*tensor.Tensor{g.n(2, 5, 2)}},
		{"Var/all", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Var(a, nil, 0, true) }), []*tensor.Tensor{g.n(3, 4)}},
		{"Std", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Std(a, []int{0, 2}, 1, true) }), []*tensor.Tensor{g.n(3, 2, 4)}},
		{"Amax", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Amax(a, []int{1}, false) }), []*tensor.Tensor{g.sep(3, 4, 2)}},
		{"Amax/all", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Amax(a, nil, false) }), []*tensor.Tensor{g.sep(3, 4)}},
		{"Amin", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Amin(a, []int{0, 2}, true) }), []*tensor.Tensor{g.sep(3, 4, 2)}},
		{"Max", f1(func(a *tensor.Tensor) *tensor.Tensor { v, _ := tensor.Max(a, 1, false); return v }), []*tensor.Tensor{g.sep(3, 4, 2)}},
		{"Min", f1(func(a *tensor.Tensor) *tensor.Tensor { v, _ := tensor.Min(a, -1, true); return v }), []*tensor.Tensor{g.sep(3, 4)}},
		{"LogSumExp", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.LogSumExp(a, []int{1}, false) }), []*tensor.Tensor{g.n(3, 4, 2)}},
		{"LogSumExp/all", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.LogSumExp(a, nil, true) }), []*tensor.Tensor{g.n(3, 4)}},

		// matmul, softmax
		{"MatMul/dot", f2(tensor.MatMul), []*tensor.Tensor{g.n(4), g.n(4)}},
		{"MatMul/vec-mat", f2(tensor.MatMul), []*tensor.Tensor{g.n(3), g.n(3, 4)}},
		{"MatMul/mat-vec", f2(tensor.MatMul), []*tensor.Tensor{g.n(4, 3), g.n(3)}},
		{"MatMul/2d", f2(tensor.MatMul), []*tensor.Tensor{g.n(3, 4), g.n(4, 2)}},
		{"MatMul/batched", f2(tensor.MatMul), []*tensor.Tensor{g.n(2, 3, 4), g.n(2, 4, 2)}},
		{"MatMul/broadcast", f2(tensor.MatMul), []*tensor.Tensor{g.n(2, 1, 3, 4), g.n(3, 4, 2)}},
		{"MatMul/batch-vec", f2(tensor.MatMul), []*tensor.Tensor{g.n(2, 3, 4), g.n(4)}},
		{"Softmax", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.Softmax(a, 1) }), []*tensor.Tensor{g.n(2, 4, 3)}},
		{"LogSoftmax", f1(func(a *tensor.Tensor) *tensor.Tensor { return tensor.LogSoftmax(a, -1) }), []*tensor.Tensor{g.n(3, 5)}},

		// losses
		{"MSELoss", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.MSELoss(in[0], in[1], tensor.ReduceMean) }, []*tensor.Tensor{g.n(3, 4), g.n(3, 4)}},
		{"MSELoss/none", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.MSELoss(in[0], in[1], tensor.ReduceNone) }, []*tensor.Tensor{g.n(3, 4), g.n(3, 4)}},
		{"L1Loss", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.L1Loss(in[0], cst(in[1]), tensor.ReduceSum) },
			[]*tensor.Tensor{g.away([]float32{0}, 3, 4), tensor.Zeros(3, 4)}},
		{"SmoothL1Loss", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.SmoothL1Loss(in[0], in[1], 0.5, tensor.ReduceMean)
		}, []*tensor.Tensor{g.away([]float32{-0.5, 0.5}, 4, 4), tensor.Zeros(4, 4)}},
		{"SmoothL1Loss/beta0", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.SmoothL1Loss(in[0], in[1], 0, tensor.ReduceNone)
		}, []*tensor.Tensor{g.away([]float32{0}, 4, 4), tensor.Zeros(4, 4)}},
		{"BCEWithLogitsLoss", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.BCEWithLogitsLoss(in[0], in[1], tensor.BCEWithLogitsOptions{})
		}, []*tensor.Tensor{g.n(3, 4), tensor.RandUniform(g.rng, 0, 1, 3, 4).SetRequiresGrad(true)}},
		{"BCEWithLogitsLoss/weights", func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.BCEWithLogitsLoss(in[0], in[1], tensor.BCEWithLogitsOptions{
				Weight: in[2], PosWeight: in[3], Reduction: tensor.ReduceNone,
			})
		}, []*tensor.Tensor{g.n(3, 4), tensor.RandUniform(g.rng, 0, 1, 3, 4).SetRequiresGrad(true), cst(g.pos(3, 1)), cst(g.pos(4))}},
	}
	// CrossEntropy and NLLLoss: every option alone and together, every
	// reduction, and the (N,C), (N,C,H,W) and (C) layouts.
	ceOpts := []struct {
		name string
		opt  tensor.CrossEntropyOptions
	}{
		{"plain", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(tensor.DefaultIgnoreIndex)}},
		{"ignore", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(1)}},
		{"weight", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(tensor.DefaultIgnoreIndex), Weight: tensor.FromSlice([]float32{0.5, 2, 1}, 3)}},
		{"smoothing", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(tensor.DefaultIgnoreIndex), LabelSmoothing: 0.2}},
		{"all", tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(1), Weight: tensor.FromSlice([]float32{0.5, 2, 1}, 3), LabelSmoothing: 0.1}},
	}
	layouts := []struct {
		name          string
		logits, tgt   []int
		targetsValues []float32
	}{
		{"NC", []int{4, 3}, []int{4}, []float32{0, 1, 2, 2}},
		{"NCHW", []int{2, 3, 2, 2}, []int{2, 2, 2}, []float32{0, 1, 2, 2, 1, 0, 0, 2}},
		{"C", []int{3}, []int{}, []float32{2}},
	}
	for _, o := range ceOpts {
		for _, l := range layouts {
			for _, r := range []struct {
				name string
				r    tensor.Reduction
			}{{"mean", tensor.ReduceMean}, {"sum", tensor.ReduceSum}, {"none", tensor.ReduceNone}} {
				opt := o.opt
				opt.Reduction = r.r
				tgt := tensor.FromSlice(l.targetsValues, l.tgt...)
				cases = append(cases, gradCase{"CrossEntropy/" + o.name + "/" + l.name + "/" + r.name,
					func(in []*tensor.Tensor) *tensor.Tensor { return tensor.CrossEntropy(in[0], in[1], opt) },
					[]*tensor.Tensor{g.n(l.logits...), tgt}})
				if opt.LabelSmoothing == 0 {
					cases = append(cases, gradCase{"NLLLoss/" + o.name + "/" + l.name + "/" + r.name,
						func(in []*tensor.Tensor) *tensor.Tensor { return tensor.NLLLoss(in[0], in[1], opt) },
						[]*tensor.Tensor{g.n(l.logits...), tgt}})
				}
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tensortest.GradCheck(t, c.name, c.f, c.in, tensortest.GradCheckOptions{})
		})
	}
}

// recordTB records the failures GradCheck reports instead of failing the test.
type recordTB struct{ errors []string }

func (r *recordTB) Helper() {}
func (r *recordTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordTB) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestGradCheckCatchesWrongGradient makes sure the checker itself fails on
// a backward that is off by a factor, and on an output that needs no gradient.
func TestGradCheckCatchesWrongGradient(t *testing.T) {
	g := newGradInputs(3)
	wrongSquare := func(in []*tensor.Tensor) *tensor.Tensor {
		x := in[0]
		out := tensor.Mul(x.Detach(), x.Detach())
		return tensor.Record("WrongSquare", out, func(gr *tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{tensor.Mul(gr, x.Detach())} // should be 2·x·g
		}, x)
	}
	var r recordTB
	tensortest.GradCheck(&r, "wrong", wrongSquare, []*tensor.Tensor{g.pos(2, 3)}, tensortest.GradCheckOptions{})
	if len(r.errors) == 0 {
		t.Fatal("GradCheck accepted a gradient off by a factor of 2")
	}
	r = recordTB{}
	tensortest.GradCheck(&r, "nograd", func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Exp(in[0]) },
		[]*tensor.Tensor{tensor.Ones(2)}, tensortest.GradCheckOptions{})
	if len(r.errors) == 0 {
		t.Fatal("GradCheck accepted an output that requires no gradient")
	}
}
