package coco

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/metrics/rle"
)

// Evaluate in parts, for distributed evaluation (fovea's Beam pipeline):
// EvaluateImage matches one image's detections of one category (any image
// and category in parallel), AccumulateCategory accumulates one category's
// image results (categories in parallel), and Assemble puts the categories
// together and summarizes. The three give exactly Evaluate's numbers; all
// their types have only exported fields, so they serialise as they are.

// ImageEval is COCOeval.evaluateImg's outcome for one image and one
// category, over every area range and IoU threshold.
type ImageEval struct {
	ImageID, CategoryID int64
	// Scores: (D,) the detection scores, highest first (ties in file order),
	// at most the last of Params.MaxDets.
	Scores []float64
	// Codes: (A, T, D) row-major: 1 true positive, 2 false positive,
	// 0 ignored.
	Codes []uint8
	// NPIG: (A,) the number of non-ignored ground truths per area range.
	NPIG []int
}

// EvaluateImage is COCOeval.evaluateImg for one image and one category, all
// area ranges: gts and dts are that image's ground truths and detections of
// that category, each in file order (detections need ImageID, CategoryID,
// BBox, Area and Score; ground truths ID, BBox, Area and IsCrowd). For
// "segm", gtMasks and dtMasks are their masks (Annotation.Mask on the
// image's size), parallel to gts and dts; for "bbox" they are ignored.
func EvaluateImage(p Params, gts, dts []Annotation, gtMasks, dtMasks []rle.RLE) (ImageEval, error) {
	if p.IoUType != "bbox" && p.IoUType != "segm" {
		return ImageEval{}, fmt.Errorf("coco.EvaluateImage: iouType %q, want bbox or segm", p.IoUType)
	}
	if len(p.MaxDets) == 0 || !slices.IsSorted(p.MaxDets) {
		return ImageEval{}, fmt.Errorf("coco.EvaluateImage: maxDets %v, want a non-empty ascending list", p.MaxDets)
	}
	if p.IoUType == "segm" && (len(gtMasks) != len(gts) || len(dtMasks) != len(dts)) {
		return ImageEval{}, fmt.Errorf("coco.EvaluateImage: segm with %d/%d ground-truth masks and %d/%d detection masks", len(gtMasks), len(gts), len(dtMasks), len(dts))
	}
	var out ImageEval
	switch {
	case len(gts) > 0:
		out.ImageID, out.CategoryID = gts[0].ImageID, gts[0].CategoryID
	case len(dts) > 0:
		out.ImageID, out.CategoryID = dts[0].ImageID, dts[0].CategoryID
	}
	T, A := len(p.IoUThrs), len(p.AreaRng)
	maxDet := p.MaxDets[len(p.MaxDets)-1]
	d := make([]int32, len(dts))
	for i := range d {
		d[i] = int32(i)
	}
	// Highest score first; ties keep file order (np.argsort mergesort).
	slices.SortFunc(d, func(a, b int32) int {
		if sa, sb := dts[a].Score, dts[b].Score; sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	if len(d) > maxDet {
		d = d[:maxDet]
	}
	g := make([]int32, len(gts))
	for j := range g {
		g[j] = int32(j)
	}
	var ious []float64
	if len(d) > 0 && len(g) > 0 {
		if p.IoUType == "segm" {
			dm := make([]rle.RLE, len(d))
			for i, x := range d {
				dm[i] = dtMasks[x]
			}
			crowd := make([]bool, len(g))
			for j := range g {
				crowd[j] = gts[j].IsCrowd
			}
			ious = rle.IoU(dm, gtMasks, crowd)
		} else {
			ious = make([]float64, len(d)*len(g))
			for i, x := range d {
				for j := range gts {
					ious[i*len(g)+j] = metrics.IoUXYWH(dts[x].BBox, gts[j].BBox, gts[j].IsCrowd)
				}
			}
		}
	}
	out.Scores = make([]float64, len(d))
	for i, x := range d {
		out.Scores[i] = dts[x].Score
	}
	out.Codes = make([]uint8, A*T*len(d))
	out.NPIG = make([]int, A)
	var scratch matchScratch
	for a := range A {
		out.NPIG[a] = evaluateImg(&p, gts, dts, g, d, ious, p.AreaRng[a], &scratch, out.Codes[a*T*len(d):(a+1)*T*len(d)])
	}
	return out, nil
}

// CategoryEval is one category's accumulation: its slices of Eval's arrays
// with the category axis left out. Precision and Scores: (T, R, A, M),
// Recall: (T, A, M), −1 where there is no non-ignored ground truth.
type CategoryEval struct {
	CategoryID                int64
	Precision, Recall, Scores []float64
}

// AccumulateCategory is COCOeval.accumulate for one category: imgs are the
// ImageEvals of every image that has a ground truth or a detection of the
// category, in any order (they are put in ascending image id, as
// pycocotools does).
func AccumulateCategory(p Params, categoryID int64, imgs []ImageEval) CategoryEval {
	T, R, A, M := len(p.IoUThrs), len(p.RecThrs), len(p.AreaRng), len(p.MaxDets)
	c := CategoryEval{CategoryID: categoryID, Precision: filled(T*R*A*M, -1), Recall: filled(T*A*M, -1), Scores: filled(T*R*A*M, -1)}
	if len(imgs) == 0 {
		return c
	}
	imgs = slices.Clone(imgs)
	slices.SortFunc(imgs, func(a, b ImageEval) int { return cmp.Compare(a.ImageID, b.ImageID) })
	spans := make([]imgSpan, len(imgs))
	codeParts := make([][]uint8, len(imgs))
	var scores []float64
	npig := make([]int, A)
	for i, im := range imgs {
		spans[i] = imgSpan{len(scores), len(im.Scores)}
		scores = append(scores, im.Scores...)
		codeParts[i] = im.Codes
		for a := range A {
			npig[a] += im.NPIG[a]
		}
	}
	accumulate(&p, spans, scores, codeParts, npig, &c)
	return c
}

// imgSpan places one image's detections in a category's scores: scores[off:off+n].
type imgSpan struct{ off, n int }

// accumulate is COCOeval.accumulate's work for one category, shared by Evaluate and
// AccumulateCategory: spans place each image's detections (in ascending image id) in
// scores, codeParts[i] are image i's match codes (A, T, n), npig the non-ignored ground
// truths per area range. It writes c's Precision, Scores (T, R, A, M) and Recall
// (T, A, M), leaving −1 where an area range has no non-ignored ground truth.
func accumulate(p *Params, spans []imgSpan, scores []float64, codeParts [][]uint8, npig []int, c *CategoryEval) {
	T, R, A, M := len(p.IoUThrs), len(p.RecThrs), len(p.AreaRng), len(p.MaxDets)
	// codes laid out (A, T, totalD) so that one accumulation walks one row.
	totalD := len(scores)
	codes := make([]uint8, A*T*totalD)
	for i, sp := range spans {
		for a := range A {
			for t := range T {
				copy(codes[(a*T+t)*totalD+sp.off:], codeParts[i][(a*T+t)*sp.n:(a*T+t+1)*sp.n])
			}
		}
	}
	order := make([]int32, 0, totalD)
	pr := make([]float64, totalD)
	ntpAt := make([]int32, totalD)
	for m, md := range p.MaxDets {
		order = order[:0]
		for _, sp := range spans {
			for j := range min(md, sp.n) {
				order = append(order, int32(sp.off+j))
			}
		}
		// Stable by descending score across images in image order: the global
		// position breaks ties.
		slices.SortFunc(order, func(a, b int32) int {
			if sa, sb := scores[a], scores[b]; sa != sb {
				if sa > sb {
					return -1
				}
				return 1
			}
			return cmp.Compare(a, b)
		})
		nd := len(order)
		for a := range A {
			if npig[a] == 0 {
				continue
			}
			fnpig := float64(npig[a])
			for t := range T {
				row := codes[(a*T+t)*totalD : (a*T+t+1)*totalD]
				var ntp, nfp int32
				for i, g := range order {
					switch row[g] {
					case 1:
						ntp++
					case 2:
						nfp++
					}
					ftp := float64(ntp)
					pr[i] = ftp / (float64(nfp) + ftp + 0x1p-52)
					ntpAt[i] = ntp
				}
				ri := t*A*M + a*M + m
				if nd > 0 {
					c.Recall[ri] = float64(ntpAt[nd-1]) / fnpig
				} else {
					c.Recall[ri] = 0
				}
				for i := nd - 1; i > 0; i-- {
					if pr[i] > pr[i-1] {
						pr[i-1] = pr[i]
					}
				}
				j := 0
				for r, thr := range p.RecThrs {
					// np.searchsorted(rc, thr, 'left') with rc = tp/npig
					for j < nd && float64(ntpAt[j])/fnpig < thr {
						j++
					}
					pi := (t*R+r)*A*M + a*M + m
					if j < nd {
						c.Precision[pi] = pr[j]
						c.Scores[pi] = scores[order[j]]
					} else {
						c.Precision[pi] = 0
						c.Scores[pi] = 0
					}
				}
			}
		}
	}
}

// setCategory copies one category's accumulation into e's arrays at category index k.
func (e *Eval) setCategory(k int, c *CategoryEval) {
	p := &e.Params
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
	for t := range T {
		copy(e.Recall[(t*K+k)*A*M:(t*K+k+1)*A*M], c.Recall[t*A*M:(t+1)*A*M])
		for r := range R {
			dst := ((t*R+r)*K + k) * A * M
			src := (t*R + r) * A * M
			copy(e.Precision[dst:dst+A*M], c.Precision[src:src+A*M])
			copy(e.Scores[dst:dst+A*M], c.Scores[src:src+A*M])
		}
	}
}

// Assemble builds the Eval of the categories catIDs (all of the ground
// truth's) from their accumulations, in any order, and computes the twelve
// summary numbers. A category in catIDs without an accumulation has no
// image (−1 throughout); an accumulation of a category not in catIDs, or
// of the wrong size, is an error.
func Assemble(p Params, catIDs []int64, cats []CategoryEval) (*Eval, error) {
	e := &Eval{Params: p, CatIDs: slices.Sorted(slices.Values(catIDs))}
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
	e.Precision = filled(T*R*K*A*M, -1)
	e.Recall = filled(T*K*A*M, -1)
	e.Scores = filled(T*R*K*A*M, -1)
	for _, c := range cats {
		k, ok := slices.BinarySearch(e.CatIDs, c.CategoryID)
		if !ok {
			return nil, fmt.Errorf("coco.Assemble: category %d is not among the %d categories", c.CategoryID, K)
		}
		if len(c.Precision) != T*R*A*M || len(c.Scores) != T*R*A*M || len(c.Recall) != T*A*M {
			return nil, fmt.Errorf("coco.Assemble: category %d has %d precision and %d recall values, want %d and %d", c.CategoryID, len(c.Precision), len(c.Recall), T*R*A*M, T*A*M)
		}
		e.setCategory(k, &c)
	}
	e.Stats = e.summarize()
	return e, nil
}
