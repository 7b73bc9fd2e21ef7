package functional_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

func ExampleReLU() {
	x := tensor.FromSlice([]float32{-2, -0.5, 0, 0.5, 2}, 5).SetRequiresGrad(true)
	y := functional.ReLU(x)
	tensor.SumAll(y).Backward()
	fmt.Println(y.Data())
	fmt.Println(x.Grad().Data())
	// Output:
	// [0 0 0 0.5 2]
	// [0 0 0 1 1]
}

func ExampleGELU() {
	x := tensor.FromSlice([]float32{-1, 0, 1}, 3)
	fmt.Printf("%.4f\n", functional.GELU(x, functional.GELUExact).Data())
	fmt.Printf("%.4f\n", functional.GELU(x, functional.GELUTanh).Data())
	// Output:
	// [-0.1587 0.0000 0.8413]
	// [-0.1588 0.0000 0.8412]
}

func ExampleHeaviside() {
	x := tensor.FromSlice([]float32{-2, -0.5, 0, 0.5, 2}, 5).SetRequiresGrad(true)
	// A binary unit trained with the clipped straight-through estimator.
	y := functional.Heaviside(x, 0, functional.StepClippedStraightThrough)
	tensor.SumAll(y).Backward()
	fmt.Println(y.Data())
	fmt.Println(x.Grad().Data())
	// Output:
	// [0 0 0 1 1]
	// [0 1 1 1 0]
}

func ExampleSwiGLU() {
	// x holds the two projections side by side: [W3·x | W1·x].
	x := tensor.FromSlice([]float32{
		1, 2, // value a
		0, 3, // gate b
	}, 1, 4)
	y := functional.SwiGLU(x, -1) // value ⊙ silu(gate)
	fmt.Println(y.Shape())
	fmt.Printf("%.4f\n", y.Data())
	// Output:
	// [1 2]
	// [0.0000 5.7154]
}

func ExampleInterpolate() {
	x := tensor.FromSlice([]float32{
		0, 1,
		2, 3,
	}, 1, 1, 2, 2)
	up := functional.Interpolate(x, functional.InterpolateOptions{
		ScaleFactor: [2]float64{2, 2},
		Mode:        functional.Bilinear,
	})
	fmt.Println(up.Shape())
	for r := 0; r < 4; r++ {
		fmt.Println(up.Data()[r*4 : r*4+4])
	}
	// Output:
	// [1 1 4 4]
	// [0 0.25 0.75 1]
	// [0.5 0.75 1.25 1.5]
	// [1.5 1.75 2.25 2.5]
	// [2 2.25 2.75 3]
}

func ExampleInterpolate_nearest() {
	x := tensor.FromSlice([]float32{1, 2, 3}, 1, 1, 1, 3)
	// "nearest" is not centred: floor(dst·in/out); "nearest-exact" is.
	for _, mode := range []functional.InterpMode{functional.Nearest, functional.NearestExact} {
		y := functional.Interpolate(x, functional.InterpolateOptions{Size: [2]int{1, 5}, Mode: mode})
		fmt.Println(mode, y.Data())
	}
	// Output:
	// nearest [1 1 2 2 3]
	// nearest-exact [1 1 2 3 3]
}

func ExampleMaxPool2d() {
	x := tensor.FromSlice([]float32{
		1, 5, 2, 0,
		3, 4, 8, 1,
		0, 9, 6, 7,
		2, 1, 3, 4,
	}, 1, 1, 4, 4)
	opt := functional.MaxPool2dOptions{Kernel: [2]int{2, 2}}
	v, idx := functional.MaxPool2d(x, opt)
	fmt.Println(v.Data(), idx.Data())
	// MaxUnpool2d puts the maxima back where they came from.
	u := functional.MaxUnpool2d(v, idx, functional.MaxUnpool2dOptions{Kernel: opt.Kernel})
	fmt.Println(u.Data())
	// Output:
	// [5 8 9 7] [1 6 9 11]
	// [0 5 0 0 0 0 8 0 0 9 0 7 0 0 0 0]
}

func ExamplePixelShuffle() {
	// Four channels of 1×1 become one channel of 2×2.
	x := tensor.FromSlice([]float32{1, 2, 3, 4}, 1, 4, 1, 1)
	y := functional.PixelShuffle(x, 2)
	fmt.Println(y.Shape(), y.Data())
	fmt.Println(functional.PixelUnshuffle(y, 2).Data())
	// Output:
	// [1 1 2 2] [1 2 3 4]
	// [1 2 3 4]
}

func ExampleConvTranspose2d() {
	// A 2×2 kernel of ones with stride 2 repeats each pixel in a 2×2 block.
	x := tensor.FromSlice([]float32{1, 2}, 1, 1, 1, 2)
	w := tensor.Ones(1, 1, 2, 2)
	y := functional.ConvTranspose2d(x, w, nil, functional.ConvTranspose2dOptions{Stride: [2]int{2, 2}})
	fmt.Println(y.Shape(), y.Data())
	// Output:
	// [1 1 2 4] [1 1 2 2 1 1 2 2]
}

func ExampleDropout() {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.Ones(8)
	fmt.Println(functional.Dropout(x, 0.5, true, rng).Data())
	fmt.Println(functional.Dropout(x, 0.5, false, nil).Data())
	// Output:
	// [2 0 2 0 2 0 2 0]
	// [1 1 1 1 1 1 1 1]
}

func ExampleAvgPool2d() {
	x := tensor.FromSlice([]float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}, 1, 1, 3, 3)
	// A 2×2 window with stride 2 and CeilMode keeps the partial windows at the
	// right and bottom; they are averaged over their real pixels.
	y := functional.AvgPool2d(x, functional.AvgPool2dOptions{Kernel: [2]int{2, 2}, CeilMode: true})
	fmt.Println(y.Shape(), y.Data())
	// Output:
	// [1 1 2 2] [3 4.5 7.5 9]
}

func ExampleAdaptiveAvgPool2d() {
	x := tensor.Arange(0, 12, 1)
	x = tensor.Reshape(x, 1, 1, 3, 4)
	// Global average pooling, and a 2×2 grid whose windows overlap in rows.
	fmt.Println(functional.AdaptiveAvgPool2d(x, 1, 1).Data())
	fmt.Println(functional.AdaptiveAvgPool2d(x, 2, 2).Data())
	// Output:
	// [5.5]
	// [2.5 4.5 6.5 8.5]
}

func ExamplePReLU() {
	x := tensor.FromSlice([]float32{-2, 2, -2, 2}, 1, 2, 2)
	w := tensor.FromSlice([]float32{0.1, 0.5}, 2).SetRequiresGrad(true) // one slope per channel
	y := functional.PReLU(x, w)
	tensor.SumAll(y).Backward()
	fmt.Println(y.Data(), w.Grad().Data())
	// Output:
	// [-0.2 2 -1 2] [-2 -2]
}
