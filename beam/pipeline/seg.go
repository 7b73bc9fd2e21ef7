package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/fovea-ml/fovea/metrics/seg"
)

// SegOptions configure SegEval; the flags of `fovea-beam eval seg`.
type SegOptions struct {
	// GT and Pred are file patterns (globs) of PNG label maps; a ground
	// truth and a prediction pair up by file stem (base name without
	// extension).
	GT, Pred string
	// NumClasses, IgnoreIndex and ReduceZeroLabel are seg.NewConfusionMatrix's.
	NumClasses, IgnoreIndex int
	ReduceZeroLabel         bool
	// DropInvalidGT is seg.ScoreOptions' rule (--drop-invalid-gt).
	DropInvalidGT bool
	// JSON is where the scores go, in `fovea eval seg --json`'s format.
	JSON string
	// DeadLetters is where the inputs that could not be scored go, as JSON
	// lines (written even when empty).
	DeadLetters string
	// Counts, if set, receives {"images","dead_letters","unmatched_predictions","invalid_gt_pixels"}.
	Counts string
}

// SegCounts is one image's (ground truth, prediction) byte-pair histogram
// in sparse form: Count[i] pixels have ground truth Pair[i]>>8 and
// prediction Pair[i]&255. Pairs are raw bytes; what they count for (rows,
// the ignore index, reduce_zero_label, out-of-range labels) is decided once,
// at the end, by seg.ConfusionMatrix itself (see SegTotal.Matrix).
type SegCounts struct {
	Pair  []int32
	Count []int64
}

// SegTotal is the combined histogram: Count[i] pixels of pair Pair[i] over
// Images images.
type SegTotal struct {
	Pair   []int32
	Count  []int64
	Images int64

	index map[int32]int // position of each pair; rebuilt after decoding
}

func init() {
	beam.RegisterType(reflect.TypeOf((*SegCounts)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*SegTotal)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*segPairFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*segCombineFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*segWriteFn)(nil)).Elem())
	register.DoFn6x1[context.Context, string, func(*string) bool, func(*string) bool, func(SegCounts), func(DeadLetter), error](&segPairFn{})
	register.Emitter1[SegCounts]()
	register.Iter1[string]()
	register.Combiner3[SegTotal, SegCounts, SegTotal](&segCombineFn{})
	register.DoFn4x1[context.Context, []byte, func(*SegTotal) bool, func(*DeadLetter) bool, error](&segWriteFn{})
	register.Iter1[SegTotal]()
	register.Iter1[DeadLetter]()
}

// SegEval adds the segmentation-evaluation pipeline to s: ground-truth and
// predicted label maps matched by stem → one sparse confusion matrix per
// image (segPairFn, in parallel over pairs) → one matrix by a CombineFn
// (partial sums on each worker, then one merge) → the JSON of `fovea eval
// seg`, the dead letters and the counts, written by one worker.
func SegEval(s beam.Scope, o SegOptions) {
	s = s.Scope("SegEval")
	gt := beam.ParDo(s, keyByStem, fileio.MatchFiles(s.Scope("GT"), o.GT, fileio.MatchEmptyDisallow()))
	pred := beam.ParDo(s, keyByStem, fileio.MatchFiles(s.Scope("Pred"), o.Pred, fileio.MatchEmptyAllow()))
	pairs := beam.CoGroupByKey(s, gt, pred)
	counts, dead := beam.ParDo2(s, &segPairFn{}, pairs)
	total := beam.Combine(s, &segCombineFn{}, counts)
	beam.ParDo0(s, &segWriteFn{Opts: o}, beam.Impulse(s), beam.SideInput{Input: total}, beam.SideInput{Input: dead})
}

// segPairFn reads one ground-truth/prediction pair and emits its counts.
type segPairFn struct {
	NumClasses, IgnoreIndex int
	ReduceZeroLabel         bool

	gtRow, predCol [256]int32      // class of each byte value (see labelClasses)
	hist           [1 << 16]uint32 // (gt<<8 | pred) pixel pairs of one image
	touched        []uint16        // the non-zero cells of hist
	unmatched      beam.Counter
}

func (f *segPairFn) ProcessElement(ctx context.Context, key string, gtIter, predIter func(*string) bool, emit func(SegCounts), dead func(DeadLetter)) error {
	gts, preds := collect(gtIter), collect(predIter)
	slices.Sort(gts)
	slices.Sort(preds)
	switch {
	case len(gts) == 0:
		return nil // a prediction without ground truth: fovea eval seg skips it too
	case len(gts) > 1:
		for _, g := range gts {
			dead(DeadLetter{g, fmt.Sprintf("%d ground-truth files have the stem %q (%s); a stem must be unique", len(gts), key, strings.Join(gts, ", "))})
		}
		return nil
	case len(preds) == 0:
		dead(DeadLetter{gts[0], fmt.Sprintf("no prediction for ground truth %s (no --pred file has the stem %q)", gts[0], key)})
		return nil
	case len(preds) > 1:
		dead(DeadLetter{gts[0], fmt.Sprintf("%d predictions have the stem %q (%s); a stem must be unique", len(preds), key, strings.Join(preds, ", "))})
		return nil
	}
	g, err := readLabelMap(ctx, gts[0])
	if err != nil {
		dead(DeadLetter{gts[0], err.Error()})
		return nil
	}
	p, err := readLabelMap(ctx, preds[0])
	if err != nil {
		dead(DeadLetter{preds[0], err.Error()})
		return nil
	}
	if g.Width != p.Width || g.Height != p.Height {
		dead(DeadLetter{preds[0], fmt.Sprintf("prediction is %dx%d, ground truth %s is %dx%d", p.Width, p.Height, gts[0], g.Width, g.Height)})
		return nil
	}
	emit(f.count(g.Pix, p.Pix))
	return nil
}

// count histograms the (gt, pred) byte pairs of one image.
func (f *segPairFn) count(gt, pred []uint8) SegCounts {
	h := &f.hist
	f.touched = f.touched[:0]
	pred = pred[:len(gt)]
	for i, g := range gt {
		k := uint16(g)<<8 | uint16(pred[i])
		if h[k] == 0 {
			f.touched = append(f.touched, k)
		}
		h[k]++
	}
	slices.Sort(f.touched)
	out := SegCounts{Pair: make([]int32, len(f.touched)), Count: make([]int64, len(f.touched))}
	for i, k := range f.touched {
		out.Pair[i], out.Count[i] = int32(k), int64(h[k])
		h[k] = 0
	}
	return out
}

// readLabelMap reads a PNG label map through Beam's filesystem with
// seg.ReadLabelMap's rules: 8-bit greyscale or palette, at most
// seg.MaxPixels pixels (checked from the header before decoding).
func readLabelMap(ctx context.Context, p string) (seg.LabelMap, error) {
	b, err := readFile(ctx, p)
	if err != nil {
		return seg.LabelMap{}, err
	}
	return decodeLabelMap(p, b)
}

func decodeLabelMap(name string, b []byte) (lm seg.LabelMap, err error) {
	if len(b) < 26 || string(b[:8]) != "\x89PNG\r\n\x1a\n" {
		return seg.LabelMap{}, fmt.Errorf("%s: not a PNG file", name)
	}
	w := int64(b[16])<<24 | int64(b[17])<<16 | int64(b[18])<<8 | int64(b[19])
	h := int64(b[20])<<24 | int64(b[21])<<16 | int64(b[22])<<8 | int64(b[23])
	if w == 0 || h == 0 {
		return seg.LabelMap{}, fmt.Errorf("%s: PNG header says %d×%d pixels, want a positive size", name, w, h)
	}
	if w*h > seg.MaxPixels {
		return seg.LabelMap{}, fmt.Errorf("%s: PNG header says %d×%d = %d pixels, more than the limit of %d (seg.MaxPixels)", name, w, h, w*h, seg.MaxPixels)
	}
	if depth, ctype := b[24], b[25]; !(ctype == 0 && depth == 8 || ctype == 3) {
		return seg.LabelMap{}, fmt.Errorf("%s: PNG colour type %d, bit depth %d; want 8-bit greyscale or palette", name, ctype, depth)
	}
	defer func() {
		if r := recover(); r != nil {
			lm, err = seg.LabelMap{}, fmt.Errorf("%s: not a readable PNG: corrupt PNG (%v)", name, r)
		}
	}()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return seg.LabelMap{}, fmt.Errorf("%s: not a readable PNG: %w", name, err)
	}
	lm, err = seg.LabelMapFromImage(img)
	if err != nil {
		return seg.LabelMap{}, fmt.Errorf("%s: %w", name, err)
	}
	return lm, nil
}

// segCombineFn sums SegCounts into a SegTotal; totals merge by addition, so
// the runner sums on each worker before the shuffle (combiner lifting).
type segCombineFn struct{}

func (c *segCombineFn) CreateAccumulator() SegTotal { return SegTotal{} }

func (t *SegTotal) add(pair int32, n int64) {
	if t.index == nil {
		t.index = make(map[int32]int, len(t.Pair))
		for i, p := range t.Pair {
			t.index[p] = i
		}
	}
	if i, ok := t.index[pair]; ok {
		t.Count[i] += n
		return
	}
	t.index[pair] = len(t.Pair)
	t.Pair = append(t.Pair, pair)
	t.Count = append(t.Count, n)
}

func (c *segCombineFn) AddInput(a SegTotal, x SegCounts) SegTotal {
	for i, p := range x.Pair {
		a.add(p, x.Count[i])
	}
	a.Images++
	return a
}

func (c *segCombineFn) MergeAccumulators(a, b SegTotal) SegTotal {
	for i, p := range b.Pair {
		a.add(p, b.Count[i])
	}
	a.Images += b.Images
	return a
}

func (c *segCombineFn) ExtractOutput(a SegTotal) SegTotal { return a }

// Matrix turns the pair histogram into a seg.ConfusionMatrix with the given
// settings. A confusion matrix is linear in its pixels, so the matrix of n
// pixels of pair (g, p) is n times the matrix seg.ConfusionMatrix builds
// from that one pixel: every count field of its serialised form (all but
// the settings) is summed with weight n. The pipeline's numbers are thereby
// the single-machine code's by construction, whatever rules it applies.
func (t SegTotal) Matrix(numClasses, ignoreIndex int, reduceZero bool) (*seg.ConfusionMatrix, error) {
	probe := seg.NewConfusionMatrix(numClasses, ignoreIndex, reduceZero)
	sum := map[string][]int64{}
	var one [1]uint8
	var two [1]uint8
	for i, pair := range t.Pair {
		probe.Reset()
		one[0], two[0] = uint8(pair>>8), uint8(pair)
		probe.Update(one[:], two[:])
		b, err := probe.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, err
		}
		for k, raw := range fields {
			if segSettings[k] {
				continue
			}
			var v []int64
			if err := json.Unmarshal(raw, &v); err != nil {
				var x int64
				if err := json.Unmarshal(raw, &x); err != nil {
					return nil, fmt.Errorf("confusion matrix field %q: %s is not a count", k, raw)
				}
				v = []int64{x}
			}
			acc := sum[k]
			if acc == nil {
				acc = make([]int64, len(v))
			}
			for j := range v {
				acc[j] += t.Count[i] * v[j]
			}
			sum[k] = acc
		}
	}
	out := map[string]any{"num_classes": numClasses, "ignore_index": ignoreIndex, "reduce_zero_label": reduceZero}
	for k, v := range sum {
		if k == "invalid_gt" {
			out[k] = v[0]
		} else {
			out[k] = v
		}
	}
	if out["counts"] == nil {
		out["counts"] = make([]int64, numClasses*numClasses)
	}
	j, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	m := seg.NewConfusionMatrix(numClasses, ignoreIndex, reduceZero)
	return m, m.UnmarshalJSON(j)
}

// segSettings are the fields of a serialised seg.ConfusionMatrix that are
// settings, not counts.
var segSettings = map[string]bool{"num_classes": true, "ignore_index": true, "reduce_zero_label": true}

// SegResult is the JSON of `fovea eval seg --json`.
type SegResult struct {
	AAcc     evalFloat `json:"aAcc"`
	MAcc     evalFloat `json:"mAcc"`
	MIoU     evalFloat `json:"mIoU"`
	FWIoU    evalFloat `json:"fwIoU"`
	MDice    evalFloat `json:"mDice"`
	PerClass struct {
		IoU  []evalFloat `json:"IoU"`
		Acc  []evalFloat `json:"Acc"`
		Dice []evalFloat `json:"Dice"`
	} `json:"per_class"`
}

// SegJSON renders scores exactly as `fovea eval seg --json` does.
func SegJSON(s seg.Scores) ([]byte, error) {
	r := SegResult{AAcc: evalFloat(s.AAcc), MAcc: evalFloat(s.MAcc), MIoU: evalFloat(s.MIoU), FWIoU: evalFloat(s.FWIoU), MDice: evalFloat(s.MDice)}
	r.PerClass.IoU = evalFloats(s.IoU)
	r.PerClass.Acc = evalFloats(s.Acc)
	r.PerClass.Dice = evalFloats(s.Dice)
	return indentJSON(r)
}

// SegRunCounts is the --counts file of `fovea-beam eval seg`.
type SegRunCounts struct {
	Images          int64 `json:"images"`
	DeadLetters     int64 `json:"dead_letters"`
	InvalidGTPixels int64 `json:"invalid_gt_pixels"`
}

// segWriteFn writes the scores, the dead letters and the counts, once.
type segWriteFn struct {
	Opts SegOptions
}

func (f *segWriteFn) ProcessElement(ctx context.Context, _ []byte, totals func(*SegTotal) bool, deads func(*DeadLetter) bool) error {
	o := f.Opts
	var t SegTotal
	for _, x := range collect(totals) {
		t = (&segCombineFn{}).MergeAccumulators(t, x)
	}
	dls := collect(deads)
	if o.DeadLetters != "" {
		if err := writeFile(ctx, o.DeadLetters, deadLetterLines(dls)); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	if t.Images == 0 {
		return fmt.Errorf("eval seg: no image pair could be scored (%d dead letters in %s)", len(dls), o.DeadLetters)
	}
	m, err := t.Matrix(o.NumClasses, o.IgnoreIndex, o.ReduceZeroLabel)
	if err != nil {
		return err
	}
	b, err := SegJSON(m.ScoresWith(seg.ScoreOptions{DropInvalidGT: o.DropInvalidGT}))
	if err != nil {
		return err
	}
	if err := writeFile(ctx, o.JSON, b); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if o.Counts != "" {
		c, _ := indentJSON(SegRunCounts{Images: t.Images, DeadLetters: int64(len(dls)), InvalidGTPixels: m.InvalidGT()})
		if err := writeFile(ctx, o.Counts, c); err != nil {
			return fmt.Errorf("--counts: %w", err)
		}
	}
	return nil
}
