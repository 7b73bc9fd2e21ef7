package voc_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/metrics/voc"
)

func Example() {
	annots := []voc.Annotation{
		{ImageID: "000001", Objects: []voc.Object{{Name: "dog", Box: [4]float64{48, 240, 195, 371}}}},
		{ImageID: "000002", Objects: []voc.Object{{Name: "dog", Box: [4]float64{8, 12, 352, 498}}}},
	}
	dets := map[string][]voc.Detection{"dog": {
		{ImageID: "000001", Score: 0.9, Box: [4]float64{50, 238, 190, 370}}, // TP
		{ImageID: "000001", Score: 0.8, Box: [4]float64{50, 238, 190, 370}}, // duplicate: FP
		{ImageID: "000002", Score: 0.3, Box: [4]float64{10, 10, 350, 500}},  // TP
	}}
	for _, year := range []int{2007, 2012} {
		res, err := voc.Evaluate(annots, dets, 0.5, year)
		if err != nil {
			panic(err)
		}
		fmt.Printf("VOC%d mAP %.4f\n", year, res.MAP)
	}
	// Output:
	// VOC2007 mAP 0.8485
	// VOC2012 mAP 0.8333
}
