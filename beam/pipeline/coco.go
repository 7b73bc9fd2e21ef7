package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/fovea-ml/fovea/metrics/coco"
	"github.com/fovea-ml/fovea/metrics/rle"
)

// COCOOptions configure COCOEval; the flags of `fovea-beam eval coco`.
type COCOOptions struct {
	// GT is the COCO annotation file (instances_*.json).
	GT string
	// DT is a file pattern of results files. Each is either a COCO results
	// file (a JSON list of detections) or JSON lines, one detection object a
	// line. Their detections are taken in the order of the sorted file
	// names, then of position in the file: the order that breaks score ties.
	DT string
	// IoUType is "bbox" or "segm".
	IoUType string
	// JSON receives `fovea eval coco --json`'s {"stats","per_category"}.
	JSON string
	// Summary, if set, receives the twelve-line summary as printed by
	// pycocotools.
	Summary string
	// DeadLetters receives the detections (lines or files) and ground
	// truths that could not be used, as JSON lines.
	DeadLetters string
	// Counts, if set, receives {"detections","ground_truths","image_categories","dead_letters"}.
	Counts string
}

// cocoItem is one ground truth or detection on its way to its (image,
// category) group. File and Index give its place in the input: ties in
// score are broken by it.
type cocoItem struct {
	File                    string
	Index                   int64
	ID, ImageID, CategoryID int64
	BBox                    []float64 // x, y, width, height
	Area, Score             float64
	IsCrowd                 bool
	// Segmentation is a ground truth's raw "segmentation" JSON and
	// Height, Width its image's size (segm only); Mask is a detection's
	// mask as a compressed RLE string (segm only).
	Segmentation  []byte
	Height, Width int
	Mask          string
}

// COCOCounts is what a COCO evaluation used: the --counts file.
type COCOCounts struct {
	Detections      int64 `json:"detections"`
	GroundTruths    int64 `json:"ground_truths"`
	ImageCategories int64 `json:"image_categories"`
	DeadLetters     int64 `json:"dead_letters"`
}

func init() {
	for _, t := range []any{(*cocoItem)(nil), (*COCOCounts)(nil), (*coco.ImageEval)(nil), (*coco.CategoryEval)(nil),
		(*cocoGTFn)(nil), (*cocoDTFn)(nil), (*cocoImageFn)(nil), (*cocoCategoryFn)(nil), (*cocoWriteFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	register.DoFn4x1[context.Context, string, func(string, cocoItem), func(DeadLetter), error](&cocoGTFn{})
	register.DoFn4x1[context.Context, fileio.FileMetadata, func(string, cocoItem), func(DeadLetter), error](&cocoDTFn{})
	register.DoFn7x1[context.Context, string, func(*cocoItem) bool, func(*cocoItem) bool, func(int64, coco.ImageEval), func(COCOCounts), func(DeadLetter), error](&cocoImageFn{})
	register.DoFn3x0[int64, func(*coco.ImageEval) bool, func(coco.CategoryEval)](&cocoCategoryFn{})
	register.DoFn5x1[context.Context, []byte, func(*coco.CategoryEval) bool, func(*COCOCounts) bool, func(*DeadLetter) bool, error](&cocoWriteFn{})
	register.Emitter2[string, cocoItem]()
	register.Emitter2[int64, coco.ImageEval]()
	register.Emitter1[coco.CategoryEval]()
	register.Emitter1[COCOCounts]()
	register.Iter1[cocoItem]()
	register.Iter1[coco.ImageEval]()
	register.Iter1[coco.CategoryEval]()
	register.Iter1[COCOCounts]()
	register.Function2x1(sumCOCOCounts)
}

// COCOEval adds the COCO-evaluation pipeline to s: ground truths (one
// reader) and detections (one reader per results file) keyed by (image,
// category) → COCOeval.evaluateImg per key in parallel (coco.EvaluateImage)
// → grouped by category, the accumulation per category in parallel
// (coco.AccumulateCategory) → one worker assembles the categories, computes
// the twelve numbers and per-category AP (coco.Assemble) and writes
// `fovea eval coco --json`'s JSON, the summary, the dead letters and the counts.
func COCOEval(s beam.Scope, o COCOOptions) {
	s = s.Scope("COCOEval")
	gts, gtDead := beam.ParDo2(s, &cocoGTFn{IoUType: o.IoUType}, beam.Create(s, o.GT))
	dts, dtDead := beam.ParDo2(s, &cocoDTFn{GT: o.GT, IoUType: o.IoUType}, fileio.MatchFiles(s, o.DT, fileio.MatchEmptyDisallow()))
	groups := beam.CoGroupByKey(s, gts, dts)
	imgs, counts, imgDead := beam.ParDo3(s, &cocoImageFn{IoUType: o.IoUType}, groups)
	cats := beam.ParDo(s, &cocoCategoryFn{IoUType: o.IoUType}, beam.GroupByKey(s, imgs))
	total := beam.Combine(s, sumCOCOCounts, counts)
	dead := beam.Flatten(s, gtDead, dtDead, imgDead)
	beam.ParDo0(s, &cocoWriteFn{Opts: o}, beam.Impulse(s), beam.SideInput{Input: cats}, beam.SideInput{Input: total}, beam.SideInput{Input: dead})
}

func sumCOCOCounts(a, b COCOCounts) COCOCounts {
	return COCOCounts{a.Detections + b.Detections, a.GroundTruths + b.GroundTruths, a.ImageCategories + b.ImageCategories, a.DeadLetters + b.DeadLetters}
}

func cocoKey(img, cat int64) string {
	return strconv.FormatInt(img, 10) + "/" + strconv.FormatInt(cat, 10)
}

// loadCOCOGT reads and parses the ground-truth file.
func loadCOCOGT(ctx context.Context, p string) (*coco.Dataset, error) {
	b, err := readFile(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("--gt: %w", err)
	}
	return coco.ParseDataset(p, b)
}

// cocoGTFn reads the ground-truth file and emits every annotation under its
// (image, category) key.
type cocoGTFn struct {
	IoUType string
}

func (f *cocoGTFn) ProcessElement(ctx context.Context, p string, emit func(string, cocoItem), dead func(DeadLetter)) error {
	gt, err := loadCOCOGT(ctx, p)
	if err != nil {
		return err // without the ground truth nothing can be scored
	}
	for i, a := range gt.Annotations {
		it := cocoItem{File: p, Index: int64(i), ID: a.ID, ImageID: a.ImageID, CategoryID: a.CategoryID,
			BBox: a.BBox[:], Area: a.Area, IsCrowd: a.IsCrowd}
		if f.IoUType == "segm" {
			img, _ := gt.ImageByID(a.ImageID)
			it.Segmentation, it.Height, it.Width = a.Segmentation, img.Height, img.Width
		}
		emit(cocoKey(a.ImageID, a.CategoryID), it)
	}
	return nil
}

// cocoDTFn reads one results file (a JSON list or JSON lines) and emits its
// detections completed as pycocotools' loadRes does, each under its (image,
// category) key. The ground truth is loaded once per worker, in Setup.
type cocoDTFn struct {
	GT, IoUType string

	gt *coco.Dataset
}

func (f *cocoDTFn) Setup(ctx context.Context) error {
	gt, err := loadCOCOGT(ctx, f.GT)
	if err != nil {
		return err
	}
	f.gt = gt
	return nil
}

func (f *cocoDTFn) ProcessElement(ctx context.Context, md fileio.FileMetadata, emit func(string, cocoItem), dead func(DeadLetter)) error {
	name := md.Path
	b, err := readFile(ctx, name)
	if err != nil {
		dead(DeadLetter{name, err.Error()})
		return nil
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		dts, err := coco.ParseResults(name, b, f.gt)
		if err != nil {
			dead(DeadLetter{name, err.Error()})
			return nil
		}
		for i := range dts {
			if err := f.emit(name, int64(i), &dts[i], emit); err != nil {
				dead(DeadLetter{fmt.Sprintf("%s[%d]", name, i), err.Error()})
			}
		}
		return nil
	}
	line := 0
	for len(b) > 0 {
		line++
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, line)
		// Each line is a results list of one: loadRes's completion (area,
		// box or mask) decided by the line itself.
		dts, err := coco.ParseResults(where, append(append([]byte("["), l...), ']'), f.gt)
		if err == nil && len(dts) != 1 {
			err = fmt.Errorf("want one detection object on the line, found %d", len(dts))
		}
		if err != nil {
			dead(DeadLetter{where, err.Error()})
			continue
		}
		if err := f.emit(name, int64(line), &dts[0], emit); err != nil {
			dead(DeadLetter{where, err.Error()})
		}
	}
	return nil
}

func (f *cocoDTFn) emit(name string, index int64, a *coco.Annotation, emit func(string, cocoItem)) error {
	it := cocoItem{File: name, Index: index, ID: a.ID, ImageID: a.ImageID, CategoryID: a.CategoryID,
		BBox: a.BBox[:], Area: a.Area, Score: a.Score}
	if f.IoUType == "segm" {
		img, _ := f.gt.ImageByID(a.ImageID)
		if img.Height <= 0 || img.Width <= 0 {
			return fmt.Errorf("image %d has no height/width, needed for segm", img.ID)
		}
		m, err := a.Mask(img.Height, img.Width)
		if err != nil {
			return fmt.Errorf("segmentation: %w", err)
		}
		it.Mask, it.Height, it.Width = m.String(), img.Height, img.Width
	}
	emit(cocoKey(a.ImageID, a.CategoryID), it)
	return nil
}

func (it *cocoItem) annotation() coco.Annotation {
	return coco.Annotation{ID: it.ID, ImageID: it.ImageID, CategoryID: it.CategoryID, BBox: [4]float64(it.BBox),
		Area: it.Area, IsCrowd: it.IsCrowd, Score: it.Score, Segmentation: it.Segmentation}
}

// cocoImageFn matches one (image, category) group.
type cocoImageFn struct {
	IoUType string

	params coco.Params
}

func (f *cocoImageFn) Setup() { f.params = coco.DefaultParams(f.IoUType) }

func (f *cocoImageFn) ProcessElement(ctx context.Context, key string, gtIter, dtIter func(*cocoItem) bool, emit func(int64, coco.ImageEval), count func(COCOCounts), dead func(DeadLetter)) error {
	order := func(a, b cocoItem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Index, b.Index))
	}
	gtItems, dtItems := collect(gtIter), collect(dtIter)
	slices.SortFunc(gtItems, order)
	slices.SortFunc(dtItems, order)
	gts := make([]coco.Annotation, len(gtItems))
	dts := make([]coco.Annotation, len(dtItems))
	var gtMasks, dtMasks []rle.RLE
	for i := range gtItems {
		gts[i] = gtItems[i].annotation()
		if f.IoUType == "segm" {
			it := &gtItems[i]
			if it.Height <= 0 || it.Width <= 0 {
				dead(DeadLetter{it.File, fmt.Sprintf("annotations[%d] (id %d): image %d has no height/width, needed for segm; image %d, category %d not scored", it.Index, it.ID, it.ImageID, it.ImageID, it.CategoryID)})
				return nil
			}
			m, err := gts[i].Mask(it.Height, it.Width)
			if err != nil {
				dead(DeadLetter{it.File, fmt.Sprintf("annotations[%d] (id %d): segmentation: %v; image %d, category %d not scored", it.Index, it.ID, err, it.ImageID, it.CategoryID)})
				return nil
			}
			gtMasks = append(gtMasks, m)
		}
	}
	for i := range dtItems {
		dts[i] = dtItems[i].annotation()
		if f.IoUType == "segm" {
			it := &dtItems[i]
			m, err := rle.FromString(it.Mask, it.Height, it.Width)
			if err != nil {
				return fmt.Errorf("%s[%d]: mask: %w", it.File, it.Index, err) // written by cocoDTFn: a defect, not bad input
			}
			dtMasks = append(dtMasks, m)
		}
	}
	ie, err := coco.EvaluateImage(f.params, gts, dts, gtMasks, dtMasks)
	if err != nil {
		return err
	}
	emit(ie.CategoryID, ie)
	count(COCOCounts{Detections: int64(len(dts)), GroundTruths: int64(len(gts)), ImageCategories: 1})
	return nil
}

// cocoCategoryFn accumulates one category's image results.
type cocoCategoryFn struct {
	IoUType string
}

func (f *cocoCategoryFn) ProcessElement(cat int64, iter func(*coco.ImageEval) bool, emit func(coco.CategoryEval)) {
	emit(coco.AccumulateCategory(coco.DefaultParams(f.IoUType), cat, collect(iter)))
}

// COCOResult is `fovea eval coco --json`'s file.
type COCOResult struct {
	Stats       []evalFloat      `json:"stats"`
	PerCategory []COCOCategoryAP `json:"per_category"`
}

// COCOCategoryAP is one entry of COCOResult.PerCategory.
type COCOCategoryAP struct {
	CategoryID int64     `json:"category_id"`
	Name       string    `json:"name"`
	AP         evalFloat `json:"AP"`
}

// COCOJSON renders an evaluation exactly as `fovea eval coco --json` does.
func COCOJSON(e *coco.Eval, gt *coco.Dataset) ([]byte, error) {
	out := COCOResult{Stats: evalFloats(e.Stats), PerCategory: []COCOCategoryAP{}}
	for k, id := range e.CatIDs {
		c, _ := gt.CategoryByID(id)
		out.PerCategory = append(out.PerCategory, COCOCategoryAP{id, c.Name, evalFloat(e.CategoryAP(k))})
	}
	return indentJSON(out)
}

// cocoWriteFn assembles the categories and writes the outputs, once.
type cocoWriteFn struct {
	Opts COCOOptions
}

func (f *cocoWriteFn) ProcessElement(ctx context.Context, _ []byte, catIter func(*coco.CategoryEval) bool, countIter func(*COCOCounts) bool, deadIter func(*DeadLetter) bool) error {
	o := f.Opts
	gt, err := loadCOCOGT(ctx, o.GT)
	if err != nil {
		return err
	}
	var ids []int64
	for _, c := range gt.Categories {
		ids = append(ids, c.ID)
	}
	e, err := coco.Assemble(coco.DefaultParams(o.IoUType), ids, collect(catIter))
	if err != nil {
		return err
	}
	dls := collect(deadIter)
	if o.DeadLetters != "" {
		if err := writeFile(ctx, o.DeadLetters, deadLetterLines(dls)); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	b, err := COCOJSON(e, gt)
	if err != nil {
		return err
	}
	if err := writeFile(ctx, o.JSON, b); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if o.Summary != "" {
		if err := writeFile(ctx, o.Summary, []byte(e.Summary())); err != nil {
			return fmt.Errorf("--summary: %w", err)
		}
	}
	if o.Counts != "" {
		var c COCOCounts
		for _, x := range collect(countIter) {
			c = sumCOCOCounts(c, x)
		}
		c.DeadLetters = int64(len(dls))
		j, _ := indentJSON(c)
		if err := writeFile(ctx, o.Counts, j); err != nil {
			return fmt.Errorf("--counts: %w", err)
		}
	}
	return nil
}
