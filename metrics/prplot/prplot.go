// Package prplot draws precision/recall curves as PNG (or SVG, PDF, by the
// file extension) charts with gonum.org/v1/plot.
package prplot

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one curve. Recall and Precision: (N,), the points in order of
// increasing rank (recall non-decreasing). Name goes in the legend.
type Series struct {
	Name              string
	Recall, Precision []float64
}

// Save draws the series on one chart (recall on x, precision on y, both in
// [0, 1]) and writes it to path; the format follows the extension (.png,
// .svg, .pdf). Points with a NaN coordinate are skipped. It returns an error
// naming path if the chart cannot be written.
func Save(path, title string, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "recall"
	p.Y.Label.Text = "precision"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
	p.Add(plotter.NewGrid())
	p.Legend.Top = true // curves fall towards the bottom right; the top right is usually free
	for i, s := range series {
		if len(s.Recall) != len(s.Precision) {
			panic(fmt.Sprintf("prplot.Save: series %q has %d recall and %d precision values", s.Name, len(s.Recall), len(s.Precision)))
		}
		xy := make(plotter.XYs, 0, len(s.Recall))
		for j := range s.Recall {
			if math.IsNaN(s.Recall[j]) || math.IsNaN(s.Precision[j]) {
				continue
			}
			xy = append(xy, plotter.XY{X: s.Recall[j], Y: s.Precision[j]})
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("%s: series %q: %w", path, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		if i >= len(plotutil.DefaultColors) {
			l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		}
		l.Width = vg.Points(1.5)
		p.Add(l)
		if s.Name != "" {
			p.Legend.Add(s.Name, l)
		}
	}
	if err := p.Save(7*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
