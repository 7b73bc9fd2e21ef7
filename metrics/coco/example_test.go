package coco_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/metrics/coco"
)

func Example() {
	gt, err := coco.ParseDataset("instances.json", []byte(`{
	  "images": [{"id": 1, "width": 640, "height": 480}],
	  "categories": [{"id": 18, "name": "dog"}],
	  "annotations": [{"id": 1, "image_id": 1, "category_id": 18,
	                   "bbox": [100, 120, 200, 150], "area": 30000, "iscrowd": 0}]}`))
	if err != nil {
		panic(err)
	}
	dts, err := coco.ParseResults("results.json", []byte(`[
	  {"image_id": 1, "category_id": 18, "bbox": [104, 118, 196, 150], "score": 0.9},
	  {"image_id": 1, "category_id": 18, "bbox": [300, 300, 50, 50], "score": 0.4}]`), gt)
	if err != nil {
		panic(err)
	}
	e, err := coco.Evaluate(gt, dts, coco.DefaultParams("bbox"), 0)
	if err != nil {
		panic(err)
	}
	fmt.Print(e.Summary())
	fmt.Printf("dog AP %.3f\n", e.CategoryAP(0))
	// Output:
	//  Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000
	//  Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000
	//  Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 1.000
	//  Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000
	//  Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000
	//  Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000
	//  Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 1.000
	// dog AP 1.000
}
