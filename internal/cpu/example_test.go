package cpu_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
)

func ExampleSgemm() {
	// C (2×2) = A (2×3) · Bᵀ, with B stored as 2×3.
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 1, 0, 1, 0}
	c := make([]float32, 4)
	cpu.Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}

func ExampleParallel() {
	squares := make([]int, 10)
	cpu.Parallel(len(squares), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	})
	fmt.Println(squares)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}

func ExampleConv2dForward() {
	// One 3×3 image, one 2×2 filter of ones, stride 1, no padding.
	p := cpu.ConvParams{N: 1, C: 1, H: 3, W: 3, Cout: 1, KH: 2, KW: 2}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	w := []float32{1, 1, 1, 1}
	y := make([]float32, p.OutH()*p.OutW())
	cpu.Conv2dForward(p, x, w, []float32{0.5}, y)
	fmt.Println(p.OutH(), p.OutW(), y)
	// Output: 2 2 [12.5 16.5 24.5 28.5]
}

func ExampleMaxPool2dForward() {
	p := cpu.PoolParams{N: 1, C: 1, H: 2, W: 4, KH: 2, KW: 2}
	x := []float32{1, 5, 2, 0, 3, 4, 8, 7}
	y := make([]float32, 2)
	idx := make([]int32, 2)
	cpu.MaxPool2dForward(p, x, y, idx)
	fmt.Println(y, idx)
	// Output: [5 8] [1 6]
}

func ExampleGELU() {
	x := []float32{-1, 0, 1}
	y := make([]float32, 3)
	cpu.GELU(y, x)
	fmt.Printf("%.4f\n", y)
	// Output: [-0.1587 0.0000 0.8413]
}
