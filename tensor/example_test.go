package tensor_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
)

func ExampleFromSlice() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // (2, 3), row-major
	fmt.Println(x.Shape(), x.At(1, 0), x.Data())
	fmt.Println(tensor.Zeros(2, 2).Data(), tensor.Full(0.5, 3).Data(), tensor.Arange(0, 1, 0.25).Data())
	// Output:
	// [2 3] 4 [1 2 3 4 5 6]
	// [0 0 0 0] [0.5 0.5 0.5] [0 0.25 0.5 0.75]
}

func ExampleRandNormal() {
	// Random tensors take an explicit source: the same seed gives the same values.
	a := tensor.RandNormal(rand.New(rand.NewPCG(1, 2)), 0, 1, 2, 3)
	b := tensor.RandNormal(rand.New(rand.NewPCG(1, 2)), 0, 1, 2, 3)
	fmt.Println(a.Shape(), fmt.Sprint(a.Data()) == fmt.Sprint(b.Data()))
	// Output:
	// [2 3] true
}

func ExampleAdd() {
	// Broadcasting as in NumPy: (2, 1) + (3) → (2, 3).
	col := tensor.FromSlice([]float32{10, 20}, 2, 1)
	row := tensor.FromSlice([]float32{1, 2, 3}, 3)
	fmt.Println(tensor.Add(col, row))
	// Output:
	// Tensor(2,3)[11 12 13 21 22 23]
}

func ExampleMatMul() {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // (2, 3)
	b := tensor.FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2) // (3, 2)
	fmt.Println(tensor.MatMul(a, b))                         // (2, 2)
	// Batch dimensions broadcast: (3, 2, 3)·(3, 2) → (3, 2, 2).
	batch := tensor.Stack([]*tensor.Tensor{a, a, a}, 0)
	fmt.Println(tensor.MatMul(batch, b).Shape())
	// A 1-D first argument is a row vector: (3)·(3, 2) → (2).
	v := tensor.FromSlice([]float32{1, 1, 1}, 3)
	fmt.Println(tensor.MatMul(v, b))
	// Output:
	// Tensor(2,2)[4 5 10 11]
	// [3 2 2]
	// Tensor(2)[2 2]
}

func ExampleTensor_Backward() {
	w := tensor.FromSlice([]float32{1, 2, 3}, 3).SetRequiresGrad(true)
	x := tensor.FromSlice([]float32{4, 5, 6}, 3)
	loss := tensor.SumAll(tensor.Mul(w, x)) // Σ w·x
	loss.Backward()
	fmt.Println(loss.Item(), w.Grad().Data())
	// Gradients accumulate until ZeroGrad.
	tensor.SumAll(tensor.Mul(w, x)).Backward()
	fmt.Println(w.Grad().Data())
	w.ZeroGrad()
	fmt.Println(w.Grad() == nil)
	// Output:
	// 32 [4 5 6]
	// [8 10 12]
	// true
}

func ExampleCrossEntropy() {
	logits := tensor.FromSlice([]float32{
		2, 0, 0, // sample 0
		0, 0, 0, // sample 1
		0, 3, 0, // sample 2 (ignored)
	}, 3, 3).SetRequiresGrad(true)
	target := tensor.FromSlice([]float32{0, 2, 255}, 3)
	loss := tensor.CrossEntropy(logits, target, tensor.CrossEntropyOptions{
		IgnoreIndex:    tensor.Ignore(255),
		LabelSmoothing: 0.1,
		Reduction:      tensor.ReduceMean,
	})
	loss.Backward()
	fmt.Printf("loss %.4f\n", loss.Item()) // F.cross_entropy gives 0.7357 too
	fmt.Printf("grad of the ignored sample %v\n", logits.Grad().Data()[6:])
	// Output:
	// loss 0.7357
	// grad of the ignored sample [0 0 0]
}
