// Package seg evaluates semantic segmentation with a streaming confusion
// matrix and the scores derived from it: pixel accuracy (PA, aAcc), per-class
// accuracy and its mean (MPA, mAcc), per-class IoU and its mean (MIoU),
// frequency-weighted IoU (FWIoU), Dice, precision, recall and F-score.
//
// The semantics are mmsegmentation's (mmseg.core.evaluation.metrics):
// counts are summed over the whole data set before any ratio is taken, a
// class whose ratio is 0/0 gets NaN and is left out of the mean, a class that
// is predicted but absent from the ground truth has IoU 0 and counts in the
// mean, ground-truth pixels equal to the ignore index are skipped, and
// reduce_zero_label maps ground-truth label 0 to the ignore index and shifts
// the others down by one. A prediction outside [0, C) on a valid ground-truth
// pixel is simply wrong: it counts in the ground-truth area of the pixel's
// class and in no predicted area. A ground-truth label outside [0, C) that is
// not the ignore index counts in no ground-truth area, but its prediction
// still counts in the predicted area of the predicted class, exactly as
// mmsegmentation's intersect_and_union (torch.histc drops only the
// out-of-range label); ScoresWith(ScoreOptions{DropInvalidGT: true}) drops
// such pixels entirely instead. The golden file is written by
// mmsegmentation's own functions (scripts/golden_metrics.py).
//
// Counts are exact int64; ratios are float64 (mmsegmentation computes them in
// float32 tensors, so its numbers agree with fovea's to about 1e-6 relative,
// and exactly at the two decimals it prints).
package seg

import (
	"encoding/json"
	"fmt"
)

// DefaultIgnoreIndex is the ground-truth label that marks pixels to skip,
// mmsegmentation's default (255).
const DefaultIgnoreIndex = 255

// ConfusionMatrix accumulates pixel counts of (ground truth, prediction)
// pairs over any number of label maps. Row i, column j counts pixels whose
// ground truth is class i and whose prediction is class j.
//
// A ConfusionMatrix is not safe for concurrent use: give each goroutine its
// own (NewLike) and Merge them at the end. The zero value is not usable; call
// NewConfusionMatrix.
type ConfusionMatrix struct {
	numClasses      int
	ignoreIndex     int
	reduceZeroLabel bool

	counts    []int64 // (C, C) row-major: counts[gt*C+pred]
	missed    []int64 // (C,): valid ground truth of class c, prediction outside [0, C)
	invalidGT int64   // ground-truth pixels outside [0, C) that are not the ignore index
	// invalidPred (C,): of those, the pixels predicted as class c (mmseg counts
	// them in the predicted area of c).
	invalidPred []int64

	// Byte label maps are first counted into four 256×256 histograms of
	// (raw gt byte, raw pred byte) pairs, folded into counts lazily.
	pairs     *[4][1 << 16]uint32
	pairTotal uint64 // pixels counted in pairs since the last fold
	gtMap     [256]int32
}

// NewConfusionMatrix returns an empty confusion matrix for numClasses classes.
// Ground-truth pixels equal to ignoreIndex (DefaultIgnoreIndex is 255) are
// skipped; with reduceZeroLabel the ground truth is first remapped as
// mmsegmentation does (0 → 255, l → l−1, 255 stays 255). It panics if
// numClasses < 1.
func NewConfusionMatrix(numClasses, ignoreIndex int, reduceZeroLabel bool) *ConfusionMatrix {
	if numClasses < 1 {
		panic(fmt.Sprintf("seg.NewConfusionMatrix: numClasses = %d, want >= 1", numClasses))
	}
	m := &ConfusionMatrix{
		numClasses:      numClasses,
		ignoreIndex:     ignoreIndex,
		reduceZeroLabel: reduceZeroLabel,
		counts:          make([]int64, numClasses*numClasses),
		missed:          make([]int64, numClasses),
		invalidPred:     make([]int64, numClasses),
	}
	for g := range 256 {
		m.gtMap[g] = int32(m.mapGT(g))
	}
	return m
}

// NewLike returns an empty confusion matrix with the same settings as m, for
// another goroutine whose counts will be merged into m.
func (m *ConfusionMatrix) NewLike() *ConfusionMatrix {
	return NewConfusionMatrix(m.numClasses, m.ignoreIndex, m.reduceZeroLabel)
}

// NumClasses returns C, the number of classes.
func (m *ConfusionMatrix) NumClasses() int { return m.numClasses }

// IgnoreIndex returns the ground-truth label that is skipped.
func (m *ConfusionMatrix) IgnoreIndex() int { return m.ignoreIndex }

// ReduceZeroLabel reports whether ground-truth labels are remapped the
// mmsegmentation reduce_zero_label way.
func (m *ConfusionMatrix) ReduceZeroLabel() bool { return m.reduceZeroLabel }

// mapGT returns the row of ground-truth label g, or -1 if the pixel is the
// ignore index, -2 if it is skipped because it is outside [0, C).
func (m *ConfusionMatrix) mapGT(g int) int {
	if m.reduceZeroLabel {
		// mmseg: label[label == 0] = 255; label -= 1; label[label == 254] = 255
		if g == 0 {
			g = 255
		}
		g--
		if g == 254 {
			g = 255
		}
	}
	if g == m.ignoreIndex {
		return -1
	}
	if g < 0 || g >= m.numClasses {
		return -2
	}
	return g
}

// Update adds one label map pair. gt and pred: (H*W,) class indices in the
// same pixel order (typically row-major). It panics if the lengths differ.
func (m *ConfusionMatrix) Update(gt, pred []uint8) {
	if len(gt) != len(pred) {
		panic(fmt.Sprintf("seg.ConfusionMatrix.Update: gt has %d pixels, pred has %d", len(gt), len(pred)))
	}
	if m.pairs == nil {
		m.pairs = new([4][1 << 16]uint32)
	}
	// Keep every bucket below 2^32: fold before a bucket could overflow.
	for len(gt) > 0 {
		n := len(gt)
		const chunk = 1 << 30
		if n > chunk {
			n = chunk
		}
		if m.pairTotal+uint64(n) >= 1<<32 {
			m.fold()
		}
		countPairs(m.pairs, gt[:n], pred[:n])
		m.pairTotal += uint64(n)
		gt, pred = gt[n:], pred[n:]
	}
}

// countPairs adds the (gt, pred) byte pairs to h, spreading consecutive
// pixels over four histograms so that runs of equal pairs, the common case in
// label maps, do not serialise on one memory location.
func countPairs(h *[4][1 << 16]uint32, gt, pred []uint8) {
	pred = pred[:len(gt)]
	n := len(gt) &^ 3
	i := 0
	for ; i < n; i += 4 {
		h[0][uint16(gt[i])<<8|uint16(pred[i])]++
		h[1][uint16(gt[i+1])<<8|uint16(pred[i+1])]++
		h[2][uint16(gt[i+2])<<8|uint16(pred[i+2])]++
		h[3][uint16(gt[i+3])<<8|uint16(pred[i+3])]++
	}
	for ; i < len(gt); i++ {
		h[0][uint16(gt[i])<<8|uint16(pred[i])]++
	}
}

// UpdateInts adds one label map pair given as ints. gt and pred: (H*W,).
// It panics if the lengths differ.
func (m *ConfusionMatrix) UpdateInts(gt, pred []int) {
	if len(gt) != len(pred) {
		panic(fmt.Sprintf("seg.ConfusionMatrix.UpdateInts: gt has %d pixels, pred has %d", len(gt), len(pred)))
	}
	c := m.numClasses
	for i, g := range gt {
		row := m.mapGTInt(g)
		if row < 0 {
			if row == -2 {
				m.invalidGT++
				if p := pred[i]; p >= 0 && p < c {
					m.invalidPred[p]++
				}
			}
			continue
		}
		p := pred[i]
		if p < 0 || p >= c {
			m.missed[row]++
			continue
		}
		m.counts[row*c+p]++
	}
}

func (m *ConfusionMatrix) mapGTInt(g int) int {
	if g >= 0 && g < 256 {
		return int(m.gtMap[g])
	}
	if m.reduceZeroLabel {
		g--
	}
	if g == m.ignoreIndex {
		return -1
	}
	if g < 0 || g >= m.numClasses {
		return -2
	}
	return g
}

// fold moves the byte-pair histogram into counts.
func (m *ConfusionMatrix) fold() {
	if m.pairs == nil || m.pairTotal == 0 {
		return
	}
	c := m.numClasses
	for k := range m.pairs {
		h := &m.pairs[k]
		for g := range 256 {
			row := int(m.gtMap[g])
			bucket := h[g<<8 : g<<8+256]
			if row < 0 {
				if row == -2 {
					for p, n := range bucket {
						m.invalidGT += int64(n)
						if p < c {
							m.invalidPred[p] += int64(n)
						}
					}
				}
				clear(bucket)
				continue
			}
			for p, n := range bucket {
				if n == 0 {
					continue
				}
				if p < c {
					m.counts[row*c+p] += int64(n)
				} else {
					m.missed[row] += int64(n)
				}
				bucket[p] = 0
			}
		}
	}
	m.pairTotal = 0
}

// Merge adds the counts of o into m (o is unchanged). It panics if the two
// matrices have different settings.
func (m *ConfusionMatrix) Merge(o *ConfusionMatrix) {
	if o.numClasses != m.numClasses || o.ignoreIndex != m.ignoreIndex || o.reduceZeroLabel != m.reduceZeroLabel {
		panic(fmt.Sprintf("seg.ConfusionMatrix.Merge: settings differ (C=%d ignore=%d reduce=%v vs C=%d ignore=%d reduce=%v)",
			m.numClasses, m.ignoreIndex, m.reduceZeroLabel, o.numClasses, o.ignoreIndex, o.reduceZeroLabel))
	}
	m.fold()
	o.fold()
	for i, v := range o.counts {
		m.counts[i] += v
	}
	for i, v := range o.missed {
		m.missed[i] += v
	}
	m.invalidGT += o.invalidGT
	for i, v := range o.invalidPred {
		m.invalidPred[i] += v
	}
}

// Reset sets every count to zero, keeping the settings.
func (m *ConfusionMatrix) Reset() {
	clear(m.counts)
	clear(m.missed)
	m.invalidGT = 0
	clear(m.invalidPred)
	if m.pairs != nil {
		*m.pairs = [4][1 << 16]uint32{}
	}
	m.pairTotal = 0
}

// Counts returns a copy of the matrix: (C, C) row-major, row = ground truth,
// column = prediction.
func (m *ConfusionMatrix) Counts() []int64 {
	m.fold()
	return append([]int64(nil), m.counts...)
}

// OutOfRange returns, for each class c: (C,), the number of valid
// ground-truth pixels of class c whose prediction was outside [0, C).
func (m *ConfusionMatrix) OutOfRange() []int64 {
	m.fold()
	return append([]int64(nil), m.missed...)
}

// InvalidGT returns the number of ground-truth pixels that were skipped
// because their label (after the reduce_zero_label remapping) is outside
// [0, C) and is not the ignore index. mmsegmentation skips them silently;
// a non-zero count usually means the wrong --num-classes or ignore index.
func (m *ConfusionMatrix) InvalidGT() int64 {
	m.fold()
	return m.invalidGT
}

// InvalidGTPredictions returns, for each class c: (C,), how many of the
// InvalidGT pixels were predicted as c. mmsegmentation counts them in the
// predicted area of c (and so in its union); see ScoreOptions.
func (m *ConfusionMatrix) InvalidGTPredictions() []int64 {
	m.fold()
	return append([]int64(nil), m.invalidPred...)
}

// matrixJSON is the serialised form of a ConfusionMatrix.
type matrixJSON struct {
	NumClasses      int     `json:"num_classes"`
	IgnoreIndex     int     `json:"ignore_index"`
	ReduceZeroLabel bool    `json:"reduce_zero_label"`
	Counts          []int64 `json:"counts"`
	OutOfRange      []int64 `json:"out_of_range"`
	InvalidGT       int64   `json:"invalid_gt,omitempty"`
	InvalidGTPred   []int64 `json:"invalid_gt_pred,omitempty"`
}

// MarshalJSON writes the settings and counts, so that matrices computed on
// different machines can be merged.
func (m *ConfusionMatrix) MarshalJSON() ([]byte, error) {
	m.fold()
	return json.Marshal(matrixJSON{m.numClasses, m.ignoreIndex, m.reduceZeroLabel, m.counts, m.missed, m.invalidGT, m.invalidPred})
}

// UnmarshalJSON reads what MarshalJSON wrote, replacing m.
func (m *ConfusionMatrix) UnmarshalJSON(b []byte) error {
	var j matrixJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("confusion matrix: %w", err)
	}
	if j.NumClasses < 1 {
		return fmt.Errorf("confusion matrix: num_classes = %d, want >= 1", j.NumClasses)
	}
	if j.NumClasses > len(j.Counts) || len(j.Counts) != j.NumClasses*j.NumClasses {
		return fmt.Errorf("confusion matrix: counts has %d values, want num_classes² = %d", len(j.Counts), j.NumClasses*j.NumClasses)
	}
	if j.OutOfRange == nil {
		j.OutOfRange = make([]int64, j.NumClasses)
	}
	if len(j.OutOfRange) != j.NumClasses {
		return fmt.Errorf("confusion matrix: out_of_range has %d values, want num_classes = %d", len(j.OutOfRange), j.NumClasses)
	}
	if j.InvalidGTPred != nil && len(j.InvalidGTPred) != j.NumClasses {
		return fmt.Errorf("confusion matrix: invalid_gt_pred has %d values, want num_classes = %d", len(j.InvalidGTPred), j.NumClasses)
	}
	*m = *NewConfusionMatrix(j.NumClasses, j.IgnoreIndex, j.ReduceZeroLabel)
	copy(m.counts, j.Counts)
	copy(m.missed, j.OutOfRange)
	m.invalidGT = j.InvalidGT
	copy(m.invalidPred, j.InvalidGTPred)
	return nil
}
