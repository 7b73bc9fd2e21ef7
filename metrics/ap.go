package metrics

import (
	"math"
	"sort"

	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
)

// PRCurve is a precision/recall curve: point i holds the recall and
// precision after the i+1 highest-scoring detections. Recall and Precision:
// (D,), Scores: (D,) the score of detection i (descending).
type PRCurve struct {
	Recall, Precision, Scores []float64
}

// NewPRCurve builds the curve of detections with the given scores, each
// marked true positive, false positive, or neither (both false: a match to
// an ignored/"difficult" object, which moves neither count), against npos
// positives. Detections are sorted by descending score, ties kept in input
// order (stable, as the VOC devkit and pycocotools' mergesort). Precision is
// tp / max(tp+fp, ε) with ε the float64 machine epsilon, as the VOC devkit's
// Python port; recall is tp / npos (NaN for every point when npos is 0).
// scores, tp, fp: (D,). It panics if the lengths differ.
func NewPRCurve(scores []float64, tp, fp []bool, npos int) PRCurve {
	checkSameLen("NewPRCurve", len(scores), len(tp))
	checkSameLen("NewPRCurve", len(scores), len(fp))
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	c := PRCurve{
		Recall:    make([]float64, len(scores)),
		Precision: make([]float64, len(scores)),
		Scores:    make([]float64, len(scores)),
	}
	var ntp, nfp float64
	for i, k := range order {
		if tp[k] {
			ntp++
		}
		if fp[k] {
			nfp++
		}
		c.Recall[i] = ntp / float64(npos)
		c.Precision[i] = ntp / math.Max(ntp+nfp, 0x1p-52)
		c.Scores[i] = scores[k]
	}
	return c
}

// AP11Point returns the VOC2007 11-point interpolated average precision: the
// mean over t = 0, 0.1, …, 1 (computed as NumPy's arange: t = i·0.1) of the
// highest precision at recall ≥ t (0 if none), summed as ap += p/11.
// recall, precision: (D,).
func AP11Point(recall, precision []float64) float64 {
	checkSameLen("AP11Point", len(recall), len(precision))
	ap := 0.0
	for i := range 11 {
		t := float64(i) * 0.1
		p, found := 0.0, false
		for j, r := range recall {
			if r >= t && (!found || precision[j] > p) {
				p, found = precision[j], true
			}
		}
		ap += p / 11
	}
	return ap
}

// APArea returns the VOC2010+ average precision: the area under the
// precision envelope (precision made monotonically decreasing from the
// right) of the curve extended with (0, 0) and (1, 0), summed over the
// points where recall changes, as the devkit's VOCap. recall, precision: (D,).
func APArea(recall, precision []float64) float64 {
	checkSameLen("APArea", len(recall), len(precision))
	n := len(recall) + 2
	mrec := make([]float64, n)
	mpre := make([]float64, n)
	copy(mrec[1:], recall)
	copy(mpre[1:], precision)
	mrec[n-1] = 1
	for i := n - 1; i > 0; i-- {
		mpre[i-1] = math.Max(mpre[i-1], mpre[i])
	}
	var terms []float64
	for i := 0; i+1 < n; i++ {
		if mrec[i+1] != mrec[i] {
			terms = append(terms, (mrec[i+1]-mrec[i])*mpre[i+1])
		}
	}
	return pairwise.Sum(terms)
}

// COCORecallThresholds are the 101 recall points of COCO AP, bit-identical to
// pycocotools' np.linspace(0, 1, 101).
var COCORecallThresholds = linspace(0, 1, 101)

// COCOIoUThresholds are the ten IoU thresholds 0.50:0.05:0.95 of COCO AP,
// bit-identical to pycocotools' np.linspace(.5, 0.95, 10).
var COCOIoUThresholds = linspace(0.5, 0.95, 10)

// linspace reproduces np.linspace(start, stop, num) with endpoint=True.
func linspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	div := float64(num - 1)
	delta := stop - start
	step := delta / div
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[num-1] = stop
	return out
}

// InterpolatedPrecision returns pycocotools' interpolated precision of a
// curve at each recall threshold: the precision envelope (running maximum
// from the right) sampled at the first point whose recall is ≥ the
// threshold, 0 where the curve never reaches it. recall, precision: (D,);
// the result: (len(thresholds),).
func InterpolatedPrecision(recall, precision, thresholds []float64) []float64 {
	checkSameLen("InterpolatedPrecision", len(recall), len(precision))
	pr := append([]float64(nil), precision...)
	for i := len(pr) - 1; i > 0; i-- {
		if pr[i] > pr[i-1] {
			pr[i-1] = pr[i]
		}
	}
	q := make([]float64, len(thresholds))
	j := 0
	for ri, t := range thresholds {
		// np.searchsorted(recall, t, side='left') for non-decreasing recall
		for j < len(recall) && recall[j] < t {
			j++
		}
		if j == len(recall) {
			break
		}
		q[ri] = pr[j]
	}
	return q
}

// APCOCO returns the COCO-style average precision of one curve: the mean of
// InterpolatedPrecision at the 101 COCORecallThresholds (np.mean order).
func APCOCO(recall, precision []float64) float64 {
	return pairwise.Mean(InterpolatedPrecision(recall, precision, COCORecallThresholds))
}
