// Command plotact draws every activation of package functional and its
// derivative, computed by autograd, into one PNG grid for
// docs/activations.md: the function solid blue, the gradient its backward
// pass returns dashed red. Run from the repository root:
//
//	go run ./nn/functional/internal/plotact -o docs/img/activations.png
package main

import (
	"flag"
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// curve is one panel: a name, the function and the x range.
type curve struct {
	name   string
	f      func(x *tensor.Tensor) *tensor.Tensor
	lo, hi float64
}

func curves() []curve {
	prelu := tensor.FromSlice([]float32{0.25}, 1)
	return []curve{
		{"Heaviside, clipped STE", func(x *tensor.Tensor) *tensor.Tensor {
			return functional.Heaviside(x, 0.5, functional.StepClippedStraightThrough)
		}, -3, 3},
		{"Threshold(1, -0.5)", func(x *tensor.Tensor) *tensor.Tensor { return functional.Threshold(x, 1, -0.5) }, -3, 3},
		{"Sigmoid", functional.Sigmoid, -6, 6},
		{"Tanh", functional.Tanh, -4, 4},
		{"ReLU", functional.ReLU, -3, 3},
		{"ReLU6", functional.ReLU6, -2, 8},
		{"Hardtanh(-1, 1)", func(x *tensor.Tensor) *tensor.Tensor { return functional.Hardtanh(x, -1, 1) }, -3, 3},
		{"LeakyReLU(0.1)", func(x *tensor.Tensor) *tensor.Tensor { return functional.LeakyReLU(x, 0.1) }, -3, 3},
		{"PReLU(w=0.25)", func(x *tensor.Tensor) *tensor.Tensor { return functional.PReLU(x, prelu) }, -3, 3},
		{"ELU(1)", func(x *tensor.Tensor) *tensor.Tensor { return functional.ELU(x, 1) }, -4, 3},
		{"SELU", functional.SELU, -4, 3},
		{"CELU(0.5)", func(x *tensor.Tensor) *tensor.Tensor { return functional.CELU(x, 0.5) }, -4, 3},
		{"GELU", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUExact) }, -4, 3},
		{"GELU (tanh)", func(x *tensor.Tensor) *tensor.Tensor { return functional.GELU(x, functional.GELUTanh) }, -4, 3},
		{"SiLU", functional.SiLU, -6, 4},
		{"Swish(β=4)", func(x *tensor.Tensor) *tensor.Tensor { return functional.Swish(x, 4) }, -3, 3},
		{"Mish", functional.Mish, -6, 4},
		{"Softplus(β=1)", func(x *tensor.Tensor) *tensor.Tensor { return functional.Softplus(x, 1, 20) }, -4, 4},
		{"Softsign", functional.Softsign, -6, 6},
		{"HardSigmoid", functional.HardSigmoid, -5, 5},
		{"HardSwish", functional.HardSwish, -5, 5},
		{"GLU gate σ(b), a=1", func(x *tensor.Tensor) *tensor.Tensor { return gate(functional.GLU, x) }, -6, 6},
		{"GeGLU gate, a=1", func(x *tensor.Tensor) *tensor.Tensor { return gate(functional.GeGLU, x) }, -4, 3},
		{"SwiGLU gate, a=1", func(x *tensor.Tensor) *tensor.Tensor { return gate(functional.SwiGLU, x) }, -6, 4},
	}
}

// gate evaluates a GLU-family function with the value half fixed at 1, so
// the curve is the gate's activation of b.
func gate(f func(*tensor.Tensor, int) *tensor.Tensor, b *tensor.Tensor) *tensor.Tensor {
	n := b.Size()
	x := tensor.Cat([]*tensor.Tensor{tensor.Reshape(tensor.Ones(n), n, 1), tensor.Reshape(b, n, 1)}, 1)
	return tensor.Reshape(f(x, 1), n)
}

// sample returns the curve and its autograd derivative at n points.
func sample(c curve, n int) (fx, dfx plotter.XYs) {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(c.lo + (c.hi-c.lo)*float64(i)/float64(n-1))
	}
	x := tensor.FromSlice(xs, n).SetRequiresGrad(true)
	y := c.f(x)
	tensor.SumAll(y).Backward()
	fx, dfx = make(plotter.XYs, n), make(plotter.XYs, n)
	for i := range xs {
		fx[i] = plotter.XY{X: float64(xs[i]), Y: float64(y.Data()[i])}
		dfx[i] = plotter.XY{X: float64(xs[i]), Y: float64(x.Grad().Data()[i])}
	}
	return fx, dfx
}

func panel(c curve) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.name
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	fx, dfx := sample(c, 801)
	lf, err := plotter.NewLine(fx)
	if err != nil {
		return nil, err
	}
	lf.Color, lf.Width = color.RGBA{R: 31, G: 119, B: 180, A: 255}, vg.Points(1.8)
	ld, err := plotter.NewLine(dfx)
	if err != nil {
		return nil, err
	}
	ld.Color, ld.Width = color.RGBA{R: 214, G: 39, B: 40, A: 255}, vg.Points(1.3)
	ld.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	p.Add(lf, ld)
	return p, nil
}

func main() {
	out := flag.String("o", "docs/img/activations.png", "output PNG file")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "plotact:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	cs := curves()
	const cols = 4
	rows := (len(cs) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for i, c := range cs {
		p, err := panel(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		plots[i/cols][i%cols] = p
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(230*cols), vg.Points(180*float64(rows))), vgimg.UseDPI(96),
		vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(14),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c := range plots[r] {
			if plots[r][c] != nil {
				plots[r][c].Draw(canvases[r][c])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return f.Close()
}
