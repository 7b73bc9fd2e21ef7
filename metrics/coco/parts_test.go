package coco

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// evaluateByParts runs EvaluateImage on every (image, category) key,
// AccumulateCategory per category and Assemble, in scrambled orders, as a
// distributed runner would.
func evaluateByParts(t *testing.T, gt *Dataset, dts []Annotation, p Params) *Eval {
	t.Helper()
	type key struct{ img, cat int64 }
	type group struct {
		gts, dts   []Annotation
		gtMs, dtMs []rle.RLE
	}
	groups := map[key]*group{}
	get := func(k key) *group {
		if groups[k] == nil {
			groups[k] = &group{}
		}
		return groups[k]
	}
	for _, a := range gt.Annotations {
		g := get(key{a.ImageID, a.CategoryID})
		g.gts = append(g.gts, a)
		if p.IoUType == "segm" {
			im, _ := gt.ImageByID(a.ImageID)
			m, err := a.Mask(im.Height, im.Width)
			if err != nil {
				t.Fatal(err)
			}
			g.gtMs = append(g.gtMs, m)
		}
	}
	for _, a := range dts {
		g := get(key{a.ImageID, a.CategoryID})
		g.dts = append(g.dts, a)
		if p.IoUType == "segm" {
			im, _ := gt.ImageByID(a.ImageID)
			m, err := a.Mask(im.Height, im.Width)
			if err != nil {
				t.Fatal(err)
			}
			g.dtMs = append(g.dtMs, m)
		}
	}
	byCat := map[int64][]ImageEval{}
	for k, g := range groups {
		ie, err := EvaluateImage(p, g.gts, g.dts, g.gtMs, g.dtMs)
		if err != nil {
			t.Fatal(err)
		}
		if ie.ImageID != k.img || ie.CategoryID != k.cat {
			t.Fatalf("EvaluateImage keyed %v, want %v", [2]int64{ie.ImageID, ie.CategoryID}, k)
		}
		byCat[k.cat] = append(byCat[k.cat], ie)
	}
	var cats []CategoryEval
	for id, imgs := range byCat {
		slices.Reverse(imgs)
		cats = append(cats, AccumulateCategory(p, id, imgs))
	}
	var ids []int64
	for _, c := range gt.Categories {
		ids = append(ids, c.ID)
	}
	e, err := Assemble(p, ids, cats)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPartsEqualEvaluate checks that evaluating in parts gives Evaluate's
// arrays and stats bit for bit on every golden case.
func TestPartsEqualEvaluate(t *testing.T) {
	for _, c := range loadCases(t) {
		gt, err := LoadDataset(filepath.Join(testdata, c.GT))
		if err != nil {
			t.Fatal(err)
		}
		dts, err := LoadResults(filepath.Join(testdata, c.Results), gt)
		if err != nil {
			t.Fatal(err)
		}
		p := DefaultParams(c.IoUType)
		want, err := Evaluate(gt, dts, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := evaluateByParts(t, gt, dts, p)
		name := c.Results + "/" + c.IoUType
		for _, arr := range []struct {
			what      string
			got, want []float64
		}{{"stats", got.Stats, want.Stats}, {"precision", got.Precision, want.Precision}, {"recall", got.Recall, want.Recall}, {"scores", got.Scores, want.Scores}} {
			if !slices.Equal(arr.got, arr.want) {
				t.Errorf("%s: %s differ from Evaluate's", name, arr.what)
			}
		}
		if !slices.Equal(got.CatIDs, want.CatIDs) {
			t.Errorf("%s: CatIDs %v, want %v", name, got.CatIDs, want.CatIDs)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	p := DefaultParams("bbox")
	if _, err := Assemble(p, []int64{1, 2}, []CategoryEval{{CategoryID: 3}}); err == nil {
		t.Error("Assemble accepted an unknown category")
	}
	if _, err := Assemble(p, []int64{1}, []CategoryEval{{CategoryID: 1, Precision: []float64{1}}}); err == nil {
		t.Error("Assemble accepted a category of the wrong size")
	}
	if _, err := EvaluateImage(Params{IoUType: "keypoints", MaxDets: []int{1}}, nil, nil, nil, nil); err == nil {
		t.Error("EvaluateImage accepted iouType keypoints")
	}
}
