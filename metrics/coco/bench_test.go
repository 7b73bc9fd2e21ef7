package coco

import (
	"math/rand/v2"
	"os"
	"testing"
)

// synthetic returns a COCO-like case: images × 7 objects over cats
// categories and 100 detections per image.
func synthetic(images, cats int) (*Dataset, []Annotation) {
	r := rand.New(rand.NewPCG(1, 2))
	gt := &Dataset{File: "synthetic", imageIndex: map[int64]int{}, catIndex: map[int64]int{}}
	for c := range cats {
		gt.catIndex[int64(c+1)] = c
		gt.Categories = append(gt.Categories, Category{ID: int64(c + 1)})
	}
	var dts []Annotation
	for i := range images {
		gt.imageIndex[int64(i+1)] = i
		gt.Images = append(gt.Images, Image{ID: int64(i + 1), Width: 640, Height: 480})
		n := 0
		for range 7 {
			b := [4]float64{r.Float64() * 500, r.Float64() * 400, 5 + r.Float64()*130, 5 + r.Float64()*70}
			c := int64(1 + r.IntN(cats))
			gt.Annotations = append(gt.Annotations, Annotation{ID: int64(len(gt.Annotations) + 1), ImageID: int64(i + 1), CategoryID: c, BBox: b, Area: b[2] * b[3]})
			for range 3 {
				d := b
				d[0] += r.NormFloat64() * 3
				d[1] += r.NormFloat64() * 3
				dts = append(dts, Annotation{ImageID: int64(i + 1), CategoryID: c, BBox: d, Area: d[2] * d[3], Score: r.Float64()})
				n++
			}
		}
		for ; n < 100; n++ {
			b := [4]float64{r.Float64() * 500, r.Float64() * 400, 5 + r.Float64()*130, 5 + r.Float64()*70}
			dts = append(dts, Annotation{ImageID: int64(i + 1), CategoryID: int64(1 + r.IntN(cats)), BBox: b, Area: b[2] * b[3], Score: r.Float64() * 0.5})
		}
	}
	for i := range dts {
		dts[i].ID = int64(i + 1)
	}
	return gt, dts
}

func BenchmarkEvaluate500Images(b *testing.B) {
	gt, dts := synthetic(500, 80)
	for b.Loop() {
		if _, err := Evaluate(gt, dts, DefaultParams("bbox"), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadAndEvaluateFiles times a whole run on the files named by
// FOVEA_COCO_GT and FOVEA_COCO_DT (bench/eval_compare.py coco writes a
// COCO-val-sized pair into /tmp/fovea_eval_bench); skipped without them.
func BenchmarkLoadAndEvaluateFiles(b *testing.B) {
	gtPath, dtPath := os.Getenv("FOVEA_COCO_GT"), os.Getenv("FOVEA_COCO_DT")
	if gtPath == "" || dtPath == "" {
		b.Skip("set FOVEA_COCO_GT and FOVEA_COCO_DT")
	}
	for b.Loop() {
		gt, dts, err := LoadFiles(gtPath, dtPath)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Evaluate(gt, dts, DefaultParams("bbox"), 0); err != nil {
			b.Fatal(err)
		}
	}
}
