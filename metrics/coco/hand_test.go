package coco

import (
	"fmt"
	"strings"
	"testing"
)

// handGT: image 1 (100×100) with a 20×20 box of category 1 (id 1) and a crowd
// region of category 1 (id 2); image 2 empty; category 2 has no ground truth.
const handGT = `{"images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 50, "height": 50}],
 "categories": [{"id": 1, "name": "box"}, {"id": 2, "name": "none"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
  {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "area": 1600, "iscrowd": 1}]}`

func det(img, cat int, box string, score float64) string {
	return fmt.Sprintf(`{"image_id": %d, "category_id": %d, "bbox": %s, "score": %v}`, img, cat, box, score)
}

func TestHandChecked(t *testing.T) {
	hit := "[10, 10, 20, 20]"
	miss := "[0, 60, 5, 5]"
	inCrowd := "[60, 60, 10, 10]"
	many := func(n int, box string, score float64) []string {
		var out []string
		for range n {
			out = append(out, det(1, 1, box, score))
		}
		return out
	}
	tests := []struct {
		name  string
		dets  []string
		ap    float64 // stats[0]
		ar100 float64 // stats[8]
	}{
		{"perfect", []string{det(1, 1, hit, 0.9)}, 1, 1},
		// Equal scores keep file order: TP first gives precision 1 at recall 1.
		{"tie, hit first", []string{det(1, 1, hit, 0.5), det(1, 1, miss, 0.5)}, 1, 1},
		// FP first: precision 0 then 0.5; the envelope is 0.5 everywhere.
		{"tie, miss first", []string{det(1, 1, miss, 0.5), det(1, 1, hit, 0.5)}, 0.5, 1},
		// A detection inside the crowd region is ignored, not a FP.
		{"crowd absorbs", []string{det(1, 1, inCrowd, 0.9), det(1, 1, inCrowd, 0.8), det(1, 1, hit, 0.7)}, 1, 1},
		// Only the 100 highest-scoring detections of an image and category count.
		{"101st detection dropped", append(many(100, miss, 0.9), det(1, 1, hit, 0.1)), 0, 0},
		{"hit above 100 misses", append(many(100, miss, 0.5), det(1, 1, hit, 0.6)), 1, 1},
		// Detections of a category without ground truth change nothing.
		{"category without gt", []string{det(1, 1, hit, 0.9), det(2, 2, hit, 0.9)}, 1, 1},
		{"no detections", nil, 0, 0},
	}
	gt, err := ParseDataset("gt.json", []byte(handGT))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		dts, err := ParseResults("res.json", []byte("["+strings.Join(tc.dets, ",")+"]"), gt)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Evaluate(gt, dts, DefaultParams("bbox"), 1)
		if err != nil {
			t.Fatal(err)
		}
		// A perfect curve has precision tp/(tp+fp+ε) = 1−ε, as in pycocotools.
		near := func(a, b float64) bool { return a == b || (a-b < 1e-15 && b-a < 1e-15) }
		if !near(e.Stats[0], tc.ap) || e.Stats[8] != tc.ar100 {
			t.Errorf("%s: AP %v AR100 %v, want %v %v", tc.name, e.Stats[0], e.Stats[8], tc.ap, tc.ar100)
		}
		if e.CategoryAP(1) != -1 {
			t.Errorf("%s: AP of the category without ground truth = %v, want -1", tc.name, e.CategoryAP(1))
		}
		// The box is 400 px: small. Nothing is medium, so APm is −1.
		if !near(e.Stats[3], tc.ap) || e.Stats[4] != -1 {
			t.Errorf("%s: APs %v APm %v, want %v -1", tc.name, e.Stats[3], e.Stats[4], tc.ap)
		}
	}
}
