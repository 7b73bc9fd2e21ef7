package coco

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary ground-truth and results JSON through the parsers
// and, when both parse, through the evaluation: errors are fine, panics and
// hangs are not.
func FuzzParse(f *testing.F) {
	gt, _ := os.ReadFile("../../testdata/metrics/coco/small_gt.json")
	res, _ := os.ReadFile("../../testdata/metrics/coco/small_res_segm_bbox.json")
	f.Add(gt, res)
	f.Add([]byte(`{"images":[{"id":1,"width":4,"height":3}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,2,2],"area":4,"segmentation":[[0,0,2,0,2,2]],"iscrowd":0}]}`),
		[]byte(`[{"image_id":1,"category_id":1,"bbox":[0,0,2,2],"score":0.9,"segmentation":{"size":[3,4],"counts":"0"}}]`))
	f.Add([]byte(`{"images":[],"annotations":[],"categories":[]}`), []byte(`[]`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`), []byte(`{`))
	f.Fuzz(func(t *testing.T, gtJSON, resJSON []byte) {
		ds, err := ParseDataset("gt.json", gtJSON)
		if err != nil {
			return
		}
		dts, err := ParseResults("res.json", resJSON, ds)
		if err != nil || len(dts) > 200 || len(ds.Images) > 50 {
			return
		}
		for _, iouType := range []string{"bbox", "segm"} {
			e, err := Evaluate(ds, dts, DefaultParams(iouType), 1)
			if err != nil {
				continue
			}
			_ = e.Summary()
		}
	})
}
