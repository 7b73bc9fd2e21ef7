// Package coco evaluates detections and instance masks as pycocotools'
// COCOeval does, number for number: loading (COCO() and loadRes), per-image
// matching (evaluate), the precision/recall accumulation (accumulate), the
// twelve summary numbers (summarize) and per-category AP.
//
// The rules reproduced, for iouType "bbox" and "segm": IoU thresholds
// .50:.05:.95 and 101 recall points exactly as np.linspace makes them;
// maxDets 1, 10, 100 (detections beyond 100 per image and category are
// dropped, highest scores kept, ties in file order); area ranges all, small,
// medium, large with both ends inclusive, on the ground truth's "area" field
// and the detection's loadRes area; crowd ground truth (iscrowd) is ignored,
// its IoU is intersection over the detection's area, and it can be matched
// by any number of detections; each detection, in stable descending score
// order, takes the unmatched (or crowd) ground truth of highest IoU ≥ the
// threshold, preferring non-ignored ground truth; unmatched detections
// outside the area range are ignored; precision is made monotone from the
// right and sampled at the first point reaching each recall threshold (0
// beyond the curve's end); −1 marks undefined entries and is left out of
// every mean; means are taken in NumPy's pairwise order so that the float64
// results carry the same bits.
//
// Where fovea differs on purpose: bad input that pycocotools would accept
// silently or crash on (unknown image or category ids, masks whose size is
// not their image's, repeated ids, malformed JSON) is an error naming the
// file and entry; an empty results list evaluates to 0 AP instead of
// raising. Keypoint evaluation is not implemented.
package coco

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
	"github.com/fovea-ml/fovea/metrics/rle"
)

// Params are COCOeval's evaluation parameters.
type Params struct {
	// IoUType is "bbox" or "segm".
	IoUType string
	// IoUThrs: (T,), RecThrs: (R,).
	IoUThrs, RecThrs []float64
	// MaxDets: (M,) ascending; the last is the per-image, per-category cap.
	MaxDets []int
	// AreaRng: (A, 2) inclusive [min, max] of area; AreaRngLbl names them.
	AreaRng    [][2]float64
	AreaRngLbl []string
}

// DefaultParams returns pycocotools' Params(iouType) for "bbox" or "segm".
func DefaultParams(iouType string) Params {
	return Params{
		IoUType:    iouType,
		IoUThrs:    slices.Clone(metrics.COCOIoUThresholds),
		RecThrs:    slices.Clone(metrics.COCORecallThresholds),
		MaxDets:    []int{1, 10, 100},
		AreaRng:    [][2]float64{{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}},
		AreaRngLbl: []string{"all", "small", "medium", "large"},
	}
}

// Eval is the outcome of an evaluation: COCOeval.eval and .stats.
type Eval struct {
	Params Params
	// CatIDs are the evaluated categories (all of the ground truth's),
	// ascending; index k of the arrays below.
	CatIDs []int64
	// Precision: (T, R, K, A, M) row-major, −1 where there is no
	// non-ignored ground truth.
	Precision []float64
	// Recall: (T, K, A, M), −1 likewise.
	Recall []float64
	// Scores: (T, R, K, A, M), the detection score at each precision point.
	Scores []float64
	// Stats are the twelve summary numbers in pycocotools' order (AP,
	// AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl), −1 where
	// undefined.
	Stats []float64
}

// Evaluate runs evaluate + accumulate + summarize on all images and
// categories of gt, spreading the categories over workers goroutines
// (GOMAXPROCS if workers < 1). Errors come from segmentations that cannot be
// turned into masks (segm only).
func Evaluate(gt *Dataset, dts []Annotation, p Params, workers int) (*Eval, error) {
	if p.IoUType != "bbox" && p.IoUType != "segm" {
		return nil, fmt.Errorf("coco.Evaluate: iouType %q, want bbox or segm", p.IoUType)
	}
	if len(p.MaxDets) == 0 || !slices.IsSorted(p.MaxDets) {
		return nil, fmt.Errorf("coco.Evaluate: maxDets %v, want a non-empty ascending list", p.MaxDets)
	}
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	e := &Eval{Params: p}
	for _, c := range gt.Categories {
		e.CatIDs = append(e.CatIDs, c.ID)
	}
	slices.Sort(e.CatIDs)
	imgIDs := make([]int64, len(gt.Images))
	for i, im := range gt.Images {
		imgIDs[i] = im.ID
	}
	slices.Sort(imgIDs)
	imgRank := make(map[int64]int32, len(imgIDs))
	for i, id := range imgIDs {
		imgRank[id] = int32(i)
	}
	catRank := make(map[int64]int, len(e.CatIDs))
	for k, id := range e.CatIDs {
		catRank[id] = k
	}
	K := len(e.CatIDs)
	gtByCat := make([][]int32, K)
	for i := range gt.Annotations {
		k := catRank[gt.Annotations[i].CategoryID]
		gtByCat[k] = append(gtByCat[k], int32(i))
	}
	dtByCat := make([][]int32, K)
	for i := range dts {
		k, ok := catRank[dts[i].CategoryID]
		if !ok {
			return nil, fmt.Errorf("coco.Evaluate: detection %d has category %d, not in the ground truth", dts[i].ID, dts[i].CategoryID)
		}
		if _, ok := imgRank[dts[i].ImageID]; !ok {
			return nil, fmt.Errorf("coco.Evaluate: detection %d has image %d, not in the ground truth", dts[i].ID, dts[i].ImageID)
		}
		dtByCat[k] = append(dtByCat[k], int32(i))
	}

	var gtMasks, dtMasks []rle.RLE
	if p.IoUType == "segm" {
		var err error
		if gtMasks, err = masksOf(gt, gt.Annotations, workers, "annotations"); err != nil {
			return nil, err
		}
		if dtMasks, err = masksOf(gt, dts, workers, "results"); err != nil {
			return nil, err
		}
	}

	T, R, A, M := len(p.IoUThrs), len(p.RecThrs), len(p.AreaRng), len(p.MaxDets)
	e.Precision = filled(T*R*K*A*M, -1)
	e.Recall = filled(T*K*A*M, -1)
	e.Scores = filled(T*R*K*A*M, -1)

	c := &catEval{e: e, gt: gt, dts: dts, gtMasks: gtMasks, dtMasks: dtMasks, imgRank: imgRank}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				c.category(k, gtByCat[k], dtByCat[k])
			}
		}()
	}
	for k := range K {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	e.Stats = e.summarize()
	return e, nil
}

func filled(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// masksOf turns every annotation's segmentation into an RLE on its image.
func masksOf(gt *Dataset, anns []Annotation, workers int, what string) ([]rle.RLE, error) {
	out := make([]rle.RLE, len(anns))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(anns); i += workers {
				a := &anns[i]
				img, _ := gt.ImageByID(a.ImageID)
				if img.Height <= 0 || img.Width <= 0 {
					errs[w] = fmt.Errorf("%s[%d] (id %d): image %d has no height/width, needed for segm", what, i, a.ID, img.ID)
					return
				}
				m, err := a.Mask(img.Height, img.Width)
				if err != nil {
					errs[w] = fmt.Errorf("%s[%d] (id %d): segmentation: %w", what, i, a.ID, err)
					return
				}
				out[i] = m
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			if what == "annotations" {
				return nil, fmt.Errorf("%s: %w", gt.File, err)
			}
			return nil, err
		}
	}
	return out, nil
}

type catEval struct {
	e                *Eval
	gt               *Dataset
	dts              []Annotation
	gtMasks, dtMasks []rle.RLE
	imgRank          map[int64]int32
}

// category evaluates category k over all images and accumulates it.
func (c *catEval) category(k int, gtIdx, dtIdx []int32) {
	p := &c.e.Params
	T, A := len(p.IoUThrs), len(p.AreaRng)
	maxDet := p.MaxDets[len(p.MaxDets)-1]
	gtAnn, dtAnn := c.gt.Annotations, c.dts
	// Group by image in ascending image id, each image keeping the file
	// order of its annotations (pycocotools' imgToAnns lists): sorting on
	// (image rank, file index) is a stable sort by image.
	byImage := func(anns []Annotation) func(a, b int32) int {
		return func(a, b int32) int {
			ra, rb := c.imgRank[anns[a].ImageID], c.imgRank[anns[b].ImageID]
			if ra != rb {
				return cmp.Compare(ra, rb)
			}
			return cmp.Compare(a, b)
		}
	}
	slices.SortFunc(gtIdx, byImage(gtAnn))
	slices.SortFunc(dtIdx, byImage(dtAnn))
	// Highest score first; ties keep file order (np.argsort mergesort on
	// -score).
	byScore := func(a, b int32) int {
		if sa, sb := dtAnn[a].Score, dtAnn[b].Score; sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	}

	var imgs []imgSpan
	var scores []float64
	var codeParts [][]uint8 // per image: (A, T, D) codes
	npig := make([]int, A)
	gi, di := 0, 0
	var scratch matchScratch
	var d []int32
	for gi < len(gtIdx) || di < len(dtIdx) {
		rank := int32(math.MaxInt32)
		if gi < len(gtIdx) {
			rank = c.imgRank[gtAnn[gtIdx[gi]].ImageID]
		}
		if di < len(dtIdx) {
			rank = min(rank, c.imgRank[dtAnn[dtIdx[di]].ImageID])
		}
		g0, d0 := gi, di
		for gi < len(gtIdx) && c.imgRank[gtAnn[gtIdx[gi]].ImageID] == rank {
			gi++
		}
		for di < len(dtIdx) && c.imgRank[dtAnn[dtIdx[di]].ImageID] == rank {
			di++
		}
		g := gtIdx[g0:gi]
		d = append(d[:0], dtIdx[d0:di]...)
		slices.SortFunc(d, byScore)
		if len(d) > maxDet {
			d = d[:maxDet]
		}
		ious := c.iouMatrix(d, g)
		imgs = append(imgs, imgSpan{len(scores), len(d)})
		for _, x := range d {
			scores = append(scores, dtAnn[x].Score)
		}
		codes := make([]uint8, A*T*len(d))
		for a := range A {
			npig[a] += evaluateImg(p, gtAnn, dtAnn, g, d, ious, p.AreaRng[a], &scratch, codes[a*T*len(d):(a+1)*T*len(d)])
		}
		codeParts = append(codeParts, codes)
	}
	if len(imgs) == 0 {
		return // no image has this category: precision stays −1
	}
	T, R, M := len(p.IoUThrs), len(p.RecThrs), len(p.MaxDets)
	ce := CategoryEval{Precision: filled(T*R*A*M, -1), Recall: filled(T*A*M, -1), Scores: filled(T*R*A*M, -1)}
	accumulate(p, imgs, scores, codeParts, npig, &ce)
	c.e.setCategory(k, &ce)
}

// iouMatrix returns ious[d*G+g] for the sorted detections d and the ground
// truths g of one image and category (empty if either is empty).
func (c *catEval) iouMatrix(d, g []int32) []float64 {
	if len(d) == 0 || len(g) == 0 {
		return nil
	}
	G := len(g)
	out := make([]float64, len(d)*G)
	if c.e.Params.IoUType == "segm" {
		dm := make([]rle.RLE, len(d))
		for i, x := range d {
			dm[i] = c.dtMasks[x]
		}
		gm := make([]rle.RLE, G)
		crowd := make([]bool, G)
		for j, x := range g {
			gm[j] = c.gtMasks[x]
			crowd[j] = c.gt.Annotations[x].IsCrowd
		}
		return rle.IoU(dm, gm, crowd)
	}
	for i, x := range d {
		db := c.dts[x].BBox
		for j, y := range g {
			ga := &c.gt.Annotations[y]
			out[i*G+j] = metrics.IoUXYWH(db, ga.BBox, ga.IsCrowd)
		}
	}
	return out
}

type matchScratch struct {
	gtOrder []int
	gtIg    []bool
	crowd   []bool
	gtm     []bool
	dtIg    []bool
	dtm     []bool
}

// evaluateImg is COCOeval.evaluateImg for one area range: g in file order,
// d sorted and capped, ious[d*len(g)+g] in those orders.
// It writes codes: (T, D), 1 true positive, 2 false positive, 0 ignored,
// and returns the number of non-ignored ground truths.
func evaluateImg(p *Params, gtAnn, dtAnn []Annotation, g, d []int32, ious []float64, rng [2]float64, s *matchScratch, codes []uint8) int {
	G, D := len(g), len(d)
	npig := 0
	// gt ignore flags; stable sort with non-ignored first
	s.gtOrder = s.gtOrder[:0]
	s.gtIg = s.gtIg[:0]
	s.crowd = s.crowd[:0]
	for pass := 0; pass < 2; pass++ {
		for j, x := range g {
			a := &gtAnn[x]
			ig := a.IsCrowd || a.Area < rng[0] || a.Area > rng[1]
			if ig == (pass == 1) {
				s.gtOrder = append(s.gtOrder, j)
				s.gtIg = append(s.gtIg, ig)
				s.crowd = append(s.crowd, a.IsCrowd)
				if !ig {
					npig++
				}
			}
		}
	}
	s.gtm = resize(s.gtm, G)
	s.dtIg = resize(s.dtIg, D)
	s.dtm = resize(s.dtm, D)
	for t, thr := range p.IoUThrs {
		clear(s.gtm)
		clear(s.dtIg)
		clear(s.dtm)
		if len(ious) > 0 {
			for di := range D {
				iou := min(thr, 1-1e-10)
				m := -1
				for gi := range G {
					if s.gtm[gi] && !s.crowd[gi] {
						continue
					}
					if m > -1 && !s.gtIg[m] && s.gtIg[gi] {
						break
					}
					v := ious[di*G+s.gtOrder[gi]]
					if v < iou {
						continue
					}
					iou, m = v, gi
				}
				if m == -1 {
					continue
				}
				s.dtIg[di] = s.gtIg[m]
				// dtMatches holds the gt id; pycocotools tests it for != 0,
				// so a match to a ground truth with id 0 counts as none.
				s.dtm[di] = gtAnn[g[s.gtOrder[m]]].ID != 0
				s.gtm[m] = true
			}
		}
		for di := range D {
			a := dtAnn[d[di]].Area
			ig := s.dtIg[di] || (!s.dtm[di] && (a < rng[0] || a > rng[1]))
			switch {
			case ig:
			case s.dtm[di]:
				codes[t*D+di] = 1
			default:
				codes[t*D+di] = 2
			}
		}
	}
	return npig
}

func resize(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

// summarize computes the twelve numbers of COCOeval.summarize (detections).
func (e *Eval) summarize() []float64 {
	p := &e.Params
	last := p.MaxDets[len(p.MaxDets)-1]
	md := func(i int) int {
		if i < len(p.MaxDets) {
			return p.MaxDets[i]
		}
		return last
	}
	return []float64{
		e.Summarize(true, -1, "all", 100),
		e.Summarize(true, 0.5, "all", md(2)),
		e.Summarize(true, 0.75, "all", md(2)),
		e.Summarize(true, -1, "small", md(2)),
		e.Summarize(true, -1, "medium", md(2)),
		e.Summarize(true, -1, "large", md(2)),
		e.Summarize(false, -1, "all", md(0)),
		e.Summarize(false, -1, "all", md(1)),
		e.Summarize(false, -1, "all", md(2)),
		e.Summarize(false, -1, "small", md(2)),
		e.Summarize(false, -1, "medium", md(2)),
		e.Summarize(false, -1, "large", md(2)),
	}
}

// Summarize is COCOeval.summarize's _summarize: the mean, leaving out −1,
// of precision (ap) or recall over all IoU thresholds (iouThr < 0) or the
// one equal to iouThr, the area range labelled areaLbl and maxDets; −1 if
// nothing is defined.
func (e *Eval) Summarize(ap bool, iouThr float64, areaLbl string, maxDets int) float64 {
	p := &e.Params
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
	var vals []float64
	for t := range T {
		if iouThr >= 0 && p.IoUThrs[t] != iouThr {
			continue
		}
		for a := range A {
			if p.AreaRngLbl[a] != areaLbl {
				continue
			}
			for m := range M {
				if p.MaxDets[m] != maxDets {
					continue
				}
				if ap {
					for r := range R {
						for k := range K {
							if v := e.Precision[((t*R+r)*K+k)*A*M+a*M+m]; v > -1 {
								vals = append(vals, v)
							}
						}
					}
				} else {
					for k := range K {
						if v := e.Recall[(t*K+k)*A*M+a*M+m]; v > -1 {
							vals = append(vals, v)
						}
					}
				}
			}
		}
	}
	if len(vals) == 0 {
		return -1
	}
	return pairwise.Mean(vals)
}

// CategoryAP returns the AP of category index k: the mean of its precision
// over IoU thresholds and recall points at area "all" and the largest
// maxDets, leaving out −1 (detectron2's per-category AP); −1 if undefined.
func (e *Eval) CategoryAP(k int) float64 {
	p := &e.Params
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
	var vals []float64
	for t := range T {
		for r := range R {
			if v := e.Precision[((t*R+r)*K+k)*A*M+0*M+M-1]; v > -1 {
				vals = append(vals, v)
			}
		}
	}
	if len(vals) == 0 {
		return -1
	}
	return pairwise.Mean(vals)
}
