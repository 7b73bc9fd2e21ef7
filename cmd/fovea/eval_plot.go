package main

import (
	"fmt"

	"github.com/fovea-ml/fovea/metrics/prplot"
	"github.com/fovea-ml/fovea/metrics/voc"
)

// writeVOCPRCurves charts the precision/recall curve of every class.
func writeVOCPRCurves(path string, res voc.Result, year int) error {
	var series []prplot.Series
	for _, c := range res.Classes {
		series = append(series, prplot.Series{
			Name:      fmt.Sprintf("%s (AP %.3f)", c.Class, c.AP),
			Recall:    c.Curve.Recall,
			Precision: c.Curve.Precision,
		})
	}
	return prplot.Save(path, fmt.Sprintf("VOC%d precision/recall, mAP %.4f", year, res.MAP), series)
}
