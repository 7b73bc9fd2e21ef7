package coco

import (
	"fmt"
	"strings"

	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
)

// SummaryLines returns the twelve lines COCOeval.summarize prints, in its
// exact format, e.g.
//
//	Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.370
func (e *Eval) SummaryLines() []string {
	p := &e.Params
	md := func(i int) int {
		if i < len(p.MaxDets) {
			return p.MaxDets[i]
		}
		return p.MaxDets[len(p.MaxDets)-1]
	}
	rows := []struct {
		ap    bool
		iou   float64
		area  string
		maxDt int
	}{
		{true, -1, "all", 100}, {true, 0.5, "all", md(2)}, {true, 0.75, "all", md(2)},
		{true, -1, "small", md(2)}, {true, -1, "medium", md(2)}, {true, -1, "large", md(2)},
		{false, -1, "all", md(0)}, {false, -1, "all", md(1)}, {false, -1, "all", md(2)},
		{false, -1, "small", md(2)}, {false, -1, "medium", md(2)}, {false, -1, "large", md(2)},
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		title, typ := "Average Precision", "(AP)"
		if !r.ap {
			title, typ = "Average Recall", "(AR)"
		}
		iouStr := fmt.Sprintf("%0.2f:%0.2f", p.IoUThrs[0], p.IoUThrs[len(p.IoUThrs)-1])
		if r.iou >= 0 {
			iouStr = fmt.Sprintf("%0.2f", r.iou)
		}
		lines[i] = fmt.Sprintf(" %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f", title, typ, iouStr, r.area, r.maxDt, e.Stats[i])
	}
	return lines
}

// Summary returns SummaryLines joined with newlines (with a final one).
func (e *Eval) Summary() string {
	return strings.Join(e.SummaryLines(), "\n") + "\n"
}

// PrecisionAtRecall returns, for each recall threshold r (Params.RecThrs),
// the precision at area "all" and the largest maxDets averaged over the
// categories k (all if k < 0) and the IoU thresholds t (all if t < 0),
// leaving out −1 entries; NaN where nothing is defined. The result: (R,),
// a precision/recall curve to chart against Params.RecThrs.
func (e *Eval) PrecisionAtRecall(k, t int) []float64 {
	p := &e.Params
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
	out := make([]float64, R)
	var vals []float64
	for r := range R {
		vals = vals[:0]
		for tt := range T {
			if t >= 0 && tt != t {
				continue
			}
			for kk := range K {
				if k >= 0 && kk != k {
					continue
				}
				if v := e.Precision[((tt*R+r)*K+kk)*A*M+M-1]; v > -1 {
					vals = append(vals, v)
				}
			}
		}
		out[r] = pairwise.Mean(vals)
	}
	return out
}
