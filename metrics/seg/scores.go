package seg

import (
	"math"

	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
)

// Scores are the segmentation metrics of a confusion matrix. Per-class slices
// have length C; a per-class ratio that is 0/0 is NaN and the means (NaN-mean,
// as mmsegmentation's np.nanmean) leave it out. All values are fractions in
// [0, 1].
type Scores struct {
	// AAcc is the pixel accuracy (PA): correctly labelled pixels over all
	// valid ground-truth pixels.
	AAcc float64
	// MAcc is the mean class accuracy (MPA): the NaN-mean of Acc.
	MAcc float64
	// MIoU is the NaN-mean of IoU.
	MIoU float64
	// FWIoU is the frequency-weighted IoU: the sum over classes present in the
	// ground truth of (ground-truth pixels of the class / all valid
	// ground-truth pixels) × IoU.
	FWIoU float64
	// MDice is the NaN-mean of Dice.
	MDice float64
	// MPrecision, MRecall and MFscore are the NaN-means of Precision, Recall
	// and Fscore.
	MPrecision, MRecall, MFscore float64

	// Acc[c] = intersect / GT area (recall of class c).
	Acc []float64
	// IoU[c] = intersect / (pred area + GT area − intersect).
	IoU []float64
	// Dice[c] = 2·intersect / (pred area + GT area).
	Dice []float64
	// Precision[c] = intersect / pred area; Recall[c] = intersect / GT area.
	Precision, Recall []float64
	// Fscore[c] = 2·P·R / (P + R) (mmsegmentation's f_score with beta 1; NaN
	// when P + R is 0 or either is NaN).
	Fscore []float64

	// Intersect, PredArea, LabelArea and Union are the per-class pixel counts
	// the ratios come from.
	Intersect, PredArea, LabelArea, Union []int64
}

// ScoreOptions choose between rules where tools differ.
type ScoreOptions struct {
	// DropInvalidGT skips ground-truth pixels whose label is outside [0, C)
	// (and not the ignore index) entirely. By default their predictions count
	// in the predicted area, as mmsegmentation's intersect_and_union counts
	// them; both rules agree when the ground truth holds only classes and the
	// ignore index.
	DropInvalidGT bool
}

// Scores computes the metrics from the counts accumulated so far, with
// mmsegmentation's rules (ScoresWith with the zero ScoreOptions).
func (m *ConfusionMatrix) Scores() Scores { return m.ScoresWith(ScoreOptions{}) }

// ScoresWith computes the metrics from the counts accumulated so far.
func (m *ConfusionMatrix) ScoresWith(opt ScoreOptions) Scores {
	m.fold()
	c := m.numClasses
	s := Scores{
		Acc: make([]float64, c), IoU: make([]float64, c), Dice: make([]float64, c),
		Precision: make([]float64, c), Recall: make([]float64, c), Fscore: make([]float64, c),
		Intersect: make([]int64, c), PredArea: make([]int64, c), LabelArea: make([]int64, c), Union: make([]int64, c),
	}
	var totalInter, totalLabel int64
	for i := range c {
		row := m.counts[i*c : i*c+c]
		var l int64
		for j, v := range row {
			l += v
			s.PredArea[j] += v
		}
		l += m.missed[i]
		s.LabelArea[i] = l
		s.Intersect[i] = row[i]
		totalInter += row[i]
		totalLabel += l
	}
	if !opt.DropInvalidGT {
		for j, v := range m.invalidPred {
			s.PredArea[j] += v
		}
	}
	div := func(a, b int64) float64 { return float64(a) / float64(b) } // 0/0 = NaN
	for i := range c {
		in, p, l := s.Intersect[i], s.PredArea[i], s.LabelArea[i]
		s.Union[i] = p + l - in
		s.IoU[i] = div(in, s.Union[i])
		s.Acc[i] = div(in, l)
		s.Dice[i] = div(2*in, p+l)
		s.Precision[i] = div(in, p)
		s.Recall[i] = s.Acc[i]
		pr, rc := s.Precision[i], s.Recall[i]
		s.Fscore[i] = 2 * (pr * rc) / (pr + rc)
	}
	s.AAcc = div(totalInter, totalLabel)
	s.MAcc = pairwise.NaNMean(s.Acc)
	s.MIoU = pairwise.NaNMean(s.IoU)
	s.MDice = pairwise.NaNMean(s.Dice)
	s.MPrecision = pairwise.NaNMean(s.Precision)
	s.MRecall = pairwise.NaNMean(s.Recall)
	s.MFscore = pairwise.NaNMean(s.Fscore)

	// FWIoU as FCN's score: (freq[freq > 0] * iu[freq > 0]).sum().
	var terms []float64
	for i := range c {
		if s.LabelArea[i] > 0 {
			freq := div(s.LabelArea[i], totalLabel)
			terms = append(terms, freq*s.IoU[i])
		}
	}
	if totalLabel == 0 {
		s.FWIoU = math.NaN()
	} else {
		s.FWIoU = pairwise.Sum(terms)
	}
	return s
}
