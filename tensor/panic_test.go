package tensor_test

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestPanicMessages: every programmer error panics with a message that names
// the operation and the shapes involved.
func TestPanicMessages(t *testing.T) {
	z := tensor.Zeros
	grad := func(x *tensor.Tensor) *tensor.Tensor { return x.SetRequiresGrad(true) }
	idx := func(v ...float32) *tensor.Tensor { return tensor.FromSlice(v, len(v)) }
	cases := []struct {
		name string
		f    func()
		want string
	}{
		// creation and access
		{"New", func() { tensor.New(make([]float32, 5), 2, 3) }, "tensor.New: 5 values do not fill shape (2,3) (6 elements)"},
		{"Zeros", func() { z(2, -1) }, "tensor.Zeros: negative dimension in shape (2,-1)"},
		{"Arange", func() { tensor.Arange(0, 1, 0) }, "tensor.Arange: invalid range start=0 end=1 step=0"},
		{"Item", func() { z(2).Item() }, "tensor.Item: tensor of shape (2) has 2 elements, want 1"},
		{"At", func() { z(2, 3).At(0, 3) }, "tensor.At: index [0 3] out of range for shape (2,3)"},
		{"Set", func() { z(2, 3).Set(1, 0) }, "tensor.Set: 1 indices for a tensor of shape (2,3)"},
		{"SizeOf", func() { z(2, 3).SizeOf(-3) }, "tensor.SizeOf: axis -3 out of range for shape (2,3)"},

		// broadcasting elementwise ops
		{"Add", func() { tensor.Add(z(2, 3), z(4, 3)) }, "tensor.Add: shapes (2,3) and (4,3) cannot broadcast"},
		{"Sub", func() { tensor.Sub(z(2, 3), z(2)) }, "tensor.Sub: shapes (2,3) and (2) cannot broadcast"},
		{"Mul", func() { tensor.Mul(z(5), z(4)) }, "tensor.Mul: shapes (5) and (4) cannot broadcast"},
		{"Div", func() { tensor.Div(z(2, 3, 4), z(3, 3)) }, "tensor.Div: shapes (2,3,4) and (3,3) cannot broadcast"},
		{"Pow", func() { tensor.Pow(z(2), z(3)) }, "tensor.Pow: shapes (2) and (3) cannot broadcast"},
		{"Maximum", func() { tensor.Maximum(z(2), z(3)) }, "tensor.Maximum: shapes (2) and (3) cannot broadcast"},
		{"Minimum", func() { tensor.Minimum(z(2), z(3)) }, "tensor.Minimum: shapes (2) and (3) cannot broadcast"},
		{"Eq", func() { tensor.Eq(z(2), z(3)) }, "tensor.Eq: shapes (2) and (3) cannot broadcast"},
		{"Lt", func() { tensor.Lt(z(2), z(3)) }, "tensor.Lt: shapes (2) and (3) cannot broadcast"},
		{"Where", func() { tensor.Where(z(2, 1), z(3), z(4)) }, "tensor.Where: shapes (2,3) and (4) cannot broadcast"},
		{"Clamp", func() { tensor.Clamp(z(2), 1, 0) }, "tensor.Clamp: lo 1 > hi 0"},

		// shape ops
		{"Reshape", func() { tensor.Reshape(z(2, 3), 4, -1) }, "tensor.Reshape: shape (4,-1) is invalid for input of shape (2,3)"},
		{"Reshape/two -1", func() { tensor.Reshape(z(2, 3), -1, -1) }, "tensor.Reshape: shape (-1,-1) is invalid for input of shape (2,3)"},
		{"View", func() { tensor.View(z(2, 3), 5) }, "tensor.View: shape (5) is invalid for input of shape (2,3)"},
		{"Flatten", func() { tensor.Flatten(z(2, 3, 4), 2, 1) }, "tensor.Flatten: start 2 after end 1 for shape (2,3,4)"},
		{"Squeeze", func() { tensor.Squeeze(z(2, 1), 2) }, "tensor.Squeeze: axis 2 out of range for shape (2,1)"},
		{"Unsqueeze", func() { tensor.Unsqueeze(z(2, 1), 4) }, "tensor.Unsqueeze: axis 4 out of range for shape (2,1)"},
		{"Permute/length", func() { tensor.Permute(z(2, 3), 0) }, "tensor.Permute: permutation [0] for a tensor of shape (2,3)"},
		{"Permute/repeat", func() { tensor.Permute(z(2, 3), 1, 1) }, "tensor.Permute: repeated axis in [1 1] for a tensor of shape (2,3)"},
		{"Transpose", func() { tensor.Transpose(z(2, 3), 0, 2) }, "tensor.Transpose: axis 2 out of range for shape (2,3)"},
		{"Expand", func() { tensor.Expand(z(3, 2), 3, 4) }, "tensor.Expand: shapes (3,2) and (3,4) cannot broadcast"},
		{"Expand/shrink", func() { tensor.Expand(z(3, 1), 4) }, "tensor.Expand: cannot expand shape (3,1) to (4)"},
		{"SumTo", func() { tensor.SumTo(z(2, 3), []int{4}) }, "tensor.SumTo: cannot reduce shape (2,3) to (4)"},
		{"SumTo/not a broadcast", func() { tensor.SumTo(z(1, 4), []int{3, 1}) }, "tensor.SumTo: cannot reduce shape (1,4) to (3,1)"},
		{"Cat/empty", func() { tensor.Cat(nil, 0) }, "tensor.Cat: no tensors"},
		{"Cat/rank", func() { tensor.Cat([]*tensor.Tensor{z(2, 3), z(3)}, 0) }, "tensor.Cat: shapes (2,3) and (3) differ in rank"},
		{"Cat/shape", func() { tensor.Cat([]*tensor.Tensor{z(2, 3), z(2, 4)}, 0) }, "tensor.Cat: shapes (2,3) and (2,4) differ outside axis 0"},
		{"Cat/axis", func() { tensor.Cat([]*tensor.Tensor{z(2, 3), z(2, 4)}, 2) }, "tensor.Cat: axis 2 out of range for shape (2,3)"},
		{"Stack", func() { tensor.Stack([]*tensor.Tensor{z(2, 3), z(3, 2)}, 0) }, "tensor.Stack: shapes (2,3) and (3,2) differ"},
		{"Stack/axis", func() { tensor.Stack([]*tensor.Tensor{z(2, 3), z(2, 3)}, 3) }, "tensor.Stack: axis 3 out of range for shape (2,3)"},
		{"Stack/empty", func() { tensor.Stack(nil, 0) }, "tensor.Stack: no tensors"},
		{"Narrow/axis", func() { tensor.Narrow(z(2, 5), 2, 0, 1) }, "tensor.Narrow: axis 2 out of range for shape (2,5)"},
		{"Gather/axis", func() { tensor.Gather(z(2, 5), 2, z(2, 5)) }, "tensor.Gather: axis 2 out of range for shape (2,5)"},
		{"Gather/range", func() { tensor.Gather(z(2, 5), 1, tensor.Full(5, 2, 1)) }, "tensor.Gather: index 5 out of range [0,5)"},
		{"Gather/negative", func() { tensor.Gather(z(2, 5), 1, tensor.Full(-1, 2, 1)) }, "tensor.Gather: index -1 out of range [0,5)"},
		{"ScatterAdd/negative", func() { tensor.ScatterAdd(z(2, 5), 0, tensor.Full(-2, 1, 1), z(1, 1)) }, "tensor.ScatterAdd: index -2 out of range [0,2)"},
		{"IndexSelect/negative", func() { tensor.IndexSelect(z(3, 2), 0, idx(-1)) }, "tensor.IndexSelect: index -1 out of range [0,3)"},
		{"Split", func() { tensor.Split(z(2, 5), 1, 2, 2) }, "tensor.Split: sizes [2 2] do not sum to 5 (axis 1 of shape (2,5))"},
		{"Chunk", func() { tensor.Chunk(z(2, 5), 0, 1) }, "tensor.Chunk: 0 chunks of shape (2,5)"},
		{"Narrow", func() { tensor.Narrow(z(2, 5), 1, 3, 3) }, "tensor.Narrow: range [3,6) out of bounds for axis 1 of shape (2,5)"},
		{"IndexSelect/rank", func() { tensor.IndexSelect(z(3, 2), 0, z(2, 1)) }, "tensor.IndexSelect: index of shape (2,1), want 1-D"},
		{"IndexSelect/range", func() { tensor.IndexSelect(z(3, 2), 0, idx(0, 3)) }, "tensor.IndexSelect: index 3 out of range [0,3)"},
		{"IndexSelect/fraction", func() { tensor.IndexSelect(z(3, 2), 0, idx(0.5)) }, "tensor.IndexSelect: index 0.5 out of range [0,3)"},
		{"Gather/rank", func() { tensor.Gather(z(3, 2), 0, z(3)) }, "tensor.Gather: index of shape (3) for tensor of shape (3,2) (ranks differ)"},
		{"Gather/size", func() { tensor.Gather(z(3, 2), 0, z(2, 3)) }, "tensor.Gather: index of shape (2,3) too large for tensor of shape (3,2)"},
		{"ScatterAdd", func() { tensor.ScatterAdd(z(3, 2), 0, z(2, 2), z(2, 1)) }, "tensor.ScatterAdd: index shape (2,2) and src shape (2,1) differ"},
		{"Pad/odd", func() { tensor.Pad(z(2, 3), []int{1}, tensor.PadConstant, 0) }, "tensor.Pad: pads [1] for a tensor of shape (2,3)"},
		{"Pad/too many", func() { tensor.Pad(z(3), []int{1, 1, 1, 1}, tensor.PadConstant, 0) }, "tensor.Pad: pads [1 1 1 1] for a tensor of shape (3)"},
		{"Pad/crop", func() { tensor.Pad(z(2, 3), []int{-2, -2}, tensor.PadConstant, 0) }, "tensor.Pad: pads [-2 -2] give a negative size for shape (2,3)"},
		{"Pad/reflect", func() { tensor.Pad(z(2, 3), []int{3, 0}, tensor.PadReflect, 0) }, "tensor.Pad: reflect pads [3 0] must be smaller than the dimension (shape (2,3))"},
		{"Pad/negative reflect", func() { tensor.Pad(z(2, 3), []int{-1, 0}, tensor.PadReplicate, 0) }, "tensor.Pad: negative pads [-1 0] need constant mode (shape (2,3))"},
		{"Pad/circular", func() { tensor.Pad(z(2, 3), []int{0, 4}, tensor.PadCircular, 0) }, "tensor.Pad: circular pads [0 4] must not exceed the dimension (shape (2,3))"},

		// reductions
		{"Sum", func() { tensor.Sum(z(2, 3), []int{2}, false) }, "tensor.Sum: axis 2 out of range for shape (2,3)"},
		{"Mean", func() { tensor.Mean(z(2, 3), []int{-3}, false) }, "tensor.Mean: axis -3 out of range for shape (2,3)"},
		{"Var", func() { tensor.Var(z(2, 3), []int{5}, 1, false) }, "tensor.Var: axis 5 out of range for shape (2,3)"},
		{"Std", func() { tensor.Std(z(2, 3), []int{5}, 1, false) }, "tensor.Std: axis 5 out of range for shape (2,3)"},
		{"Amax", func() { tensor.Amax(z(2, 3), []int{2}, false) }, "tensor.Amax: axis 2 out of range for shape (2,3)"},
		{"Amin/empty", func() { tensor.Amin(z(0, 3), nil, false) }, "tensor.Amin: empty tensor of shape (0,3)"},
		{"Max", func() { tensor.Max(z(2, 3), 2, false) }, "tensor.Max: axis 2 out of range for shape (2,3)"},
		{"Min/empty", func() { tensor.Min(z(2, 0), 1, false) }, "tensor.Min: empty axis 1 of shape (2,0)"},
		{"ArgMax", func() { tensor.ArgMax(z(2, 3), -3, false) }, "tensor.ArgMax: axis -3 out of range for shape (2,3)"},
		{"ArgMin", func() { tensor.ArgMin(z(2, 3), 2, false) }, "tensor.ArgMin: axis 2 out of range for shape (2,3)"},
		{"LogSumExp", func() { tensor.LogSumExp(z(2, 3), []int{2}, false) }, "tensor.LogSumExp: axis 2 out of range for shape (2,3)"},
		{"Softmax", func() { tensor.Softmax(z(2, 3), 2) }, "tensor.Softmax: axis 2 out of range for shape (2,3)"},
		{"LogSoftmax", func() { tensor.LogSoftmax(z(2, 3), -3) }, "tensor.LogSoftmax: axis -3 out of range for shape (2,3)"},

		// matmul
		{"MatMul/inner", func() { tensor.MatMul(z(2, 3), z(4, 5)) }, "tensor.MatMul: shapes (2,3) and (4,5) cannot be multiplied (3 != 4)"},
		{"MatMul/vector", func() { tensor.MatMul(z(3), z(4)) }, "tensor.MatMul: shapes (3) and (4) cannot be multiplied (3 != 4)"},
		{"MatMul/scalar", func() { tensor.MatMul(z(), z(3)) }, "tensor.MatMul: shapes () and (3): both arguments need at least 1 dimension"},
		{"MatMul/batch", func() { tensor.MatMul(z(2, 2, 3), z(3, 3, 4)) }, "tensor.MatMul: batch dimensions of (2,2,3) and (3,3,4) cannot broadcast"},

		// losses
		{"CrossEntropy/target", func() { tensor.CrossEntropy(z(4, 3), z(3), ceDefault()) }, "tensor.CrossEntropy: input (4,3) needs target of shape (4), got (3)"},
		{"CrossEntropy/spatial", func() { tensor.CrossEntropy(z(2, 3, 4, 4), z(2, 4, 5), ceDefault()) }, "tensor.CrossEntropy: input (2,3,4,4) needs target of shape (2,4,4), got (2,4,5)"},
		{"CrossEntropy/class", func() { tensor.CrossEntropy(z(2, 3), idx(1, 3), ceDefault()) }, "tensor.CrossEntropy: target 3 at element 1 is not a class in [0,3) nor the ignore index -100"},
		{"CrossEntropy/vector", func() { tensor.CrossEntropy(z(3), z(2), ceDefault()) }, "tensor.CrossEntropy: input (3) needs a scalar target, got (2)"},
		{"CrossEntropy/scalar", func() { tensor.CrossEntropy(z(), z(), ceDefault()) }, "tensor.CrossEntropy: input () needs at least 1 dimension (C) or (N,C,…)"},
		{"CrossEntropy/weight", func() {
			tensor.CrossEntropy(z(2, 3), z(2), tensor.CrossEntropyOptions{Weight: z(2)})
		}, "tensor.CrossEntropy: weight of shape (2) for 3 classes"},
		{"CrossEntropy/smoothing", func() {
			tensor.CrossEntropy(z(2, 3), z(2), tensor.CrossEntropyOptions{LabelSmoothing: 1.5})
		}, "tensor.CrossEntropy: label smoothing 1.5 outside [0,1]"},
		{"NLLLoss/target", func() { tensor.NLLLoss(z(4, 3), z(4, 1), ceDefault()) }, "tensor.NLLLoss: input (4,3) needs target of shape (4), got (4,1)"},
		{"NLLLoss/scalar", func() { tensor.NLLLoss(z(), z(), ceDefault()) }, "tensor.NLLLoss: input () needs at least 1 dimension (C) or (N,C,…)"},
		{"NLLLoss/smoothing", func() {
			tensor.NLLLoss(z(2, 3), z(2), tensor.CrossEntropyOptions{LabelSmoothing: 0.1})
		}, "tensor.NLLLoss: label smoothing is only for CrossEntropy"},
		{"BCEWithLogitsLoss", func() { tensor.BCEWithLogitsLoss(z(2, 3), z(3), tensor.BCEWithLogitsOptions{}) }, "tensor.BCEWithLogitsLoss: input (2,3) and target (3) differ"},
		{"MSELoss", func() { tensor.MSELoss(z(2, 3), z(2), tensor.ReduceMean) }, "tensor.MSELoss: shapes (2,3) and (2) cannot broadcast"},
		{"L1Loss", func() { tensor.L1Loss(z(2, 3), z(2), tensor.ReduceMean) }, "tensor.L1Loss: shapes (2,3) and (2) cannot broadcast"},
		{"SmoothL1Loss", func() { tensor.SmoothL1Loss(z(2, 3), z(2), 1, tensor.ReduceMean) }, "tensor.SmoothL1Loss: shapes (2,3) and (2) cannot broadcast"},
		{"SmoothL1Loss/beta", func() { tensor.SmoothL1Loss(z(2), z(2), -1, tensor.ReduceMean) }, "tensor.SmoothL1Loss: negative beta -1"},

		// convolution
		{"Conv2d/rank", func() { tensor.Conv2d(z(1, 2, 3), z(1, 2, 3, 3), nil, tensor.ConvOptions{}) }, "tensor.Conv2d: input (1,2,3) and weight (1,2,3,3) must both be 4-D"},
		{"Conv2d/channels", func() { tensor.Conv2d(z(1, 2, 5, 5), z(4, 3, 3, 3), nil, tensor.ConvOptions{}) }, "tensor.Conv2d: input (1,2,5,5), weight (4,3,3,3) and groups 1 do not fit (weight must be (Cout, Cin/groups, KH, KW))"},
		{"Conv2d/bias", func() { tensor.Conv2d(z(1, 2, 5, 5), z(4, 2, 3, 3), z(3), tensor.ConvOptions{}) }, "tensor.Conv2d: bias (3) for 4 output channels"},
		{"ConvTranspose2d/channels", func() { tensor.ConvTranspose2d(z(1, 2, 5, 5), z(3, 2, 3, 3), nil, tensor.ConvTransposeOptions{}) }, "tensor.ConvTranspose2d: input (1,2,5,5), weight (3,2,3,3) and groups 1 do not fit (weight must be (Cin, Cout/groups, KH, KW))"},

		// autograd
		{"Backward/non-scalar", func() { tensor.Exp(grad(z(2, 3))).Backward() }, "tensor.Backward: called on a tensor of shape (2,3); it needs a scalar (use BackwardWith for others)"},
		{"BackwardWith/shape", func() { tensor.Exp(grad(z(2, 3))).BackwardWith(z(3, 2)) }, "tensor.Backward: gradient shape (3,2) does not match tensor shape (2,3)"},
		{"Backward/no grad", func() { tensor.SumAll(z(2)).Backward() }, "tensor.Backward: tensor does not require a gradient (no input was marked with SetRequiresGrad)"},
		{"SetGrad", func() { z(2, 3).SetGrad(z(3)) }, "tensor.SetGrad: gradient shape (3) does not match tensor shape (2,3)"},
		{"SetRequiresGrad", func() { tensor.Exp(grad(z(2))).SetRequiresGrad(false) }, "tensor.SetRequiresGrad: only leaf tensors can change requires-grad; use Detach first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mustPanic(t, c.f); got != c.want {
				t.Errorf("panic message\n got  %q\n want %q", got, c.want)
			}
		})
	}
}

func ceDefault() tensor.CrossEntropyOptions {
	return tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(tensor.DefaultIgnoreIndex)}
}
