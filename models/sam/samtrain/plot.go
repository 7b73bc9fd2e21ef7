package samtrain

import (
	"bytes"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// PlotCurves draws the training loss per epoch and the validation mIoU (1 point, 3
// points, box, and the box-as-mask baseline; epoch 0 is before training) side by side
// into a PNG at path.
func PlotCurves(path string, before EvalResult, hist []EpochRecord) error {
	loss := make(plotter.XYs, len(hist))
	series := [4]plotter.XYs{}
	add := func(x float64, r EvalResult) {
		for i, v := range []float64{r.MIoU1, r.MIoU3, r.MIoUBox, r.BoxBaseline} {
			series[i] = append(series[i], plotter.XY{X: x, Y: v})
		}
	}
	add(0, before)
	for i, r := range hist {
		loss[i] = plotter.XY{X: float64(r.Epoch), Y: r.Loss}
		add(float64(r.Epoch), r.EvalResult)
	}
	pl := plot.New()
	pl.Title.Text = "training loss"
	pl.X.Label.Text = "epoch"
	pl.Y.Label.Text = "20·focal + dice + IoU MSE"
	pl.Add(plotter.NewGrid())
	if err := addLine(pl, "", loss, 0); err != nil {
		return err
	}
	pm := plot.New()
	pm.Title.Text = "validation mIoU"
	pm.X.Label.Text = "epoch"
	pm.Y.Label.Text = "mIoU"
	pm.Y.Min, pm.Y.Max = 0, 1
	pm.Add(plotter.NewGrid())
	pm.Legend.Top, pm.Legend.Left = false, false
	for i, name := range []string{"1 point", "3 points", "box", "box as mask"} {
		if err := addLine(pm, name, series[i], i); err != nil {
			return err
		}
	}
	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{pl, pm}}, tiles, dc)
	pl.Draw(canvases[0][0])
	pm.Draw(canvases[0][1])
	return savePNG(path, img)
}

func addLine(p *plot.Plot, name string, pts plotter.XYs, i int) error {
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color = plotColor(i)
	s.Color = plotColor(i)
	s.Shape = draw.CircleGlyph{}
	if i == 3 {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l, s)
	if name != "" {
		p.Legend.Add(name, l, s)
	}
	return nil
}

func savePNG(path string, c *vgimg.Canvas) error {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// plotColor is a colour of the Tableau 10 palette.
func plotColor(i int) color.Color {
	pal := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {127, 127, 127, 255},
		{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}}
	return pal[i%len(pal)]
}
