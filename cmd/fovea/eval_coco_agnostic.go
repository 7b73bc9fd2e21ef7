package main

import "github.com/fovea-ml/fovea/metrics/coco"

// evalCOCOFilesAgnostic is evalCOCOFiles, with every category of the ground truth and
// of the results merged into one when classAgnostic (see classAgnosticCOCO).
func evalCOCOFilesAgnostic(gtPath, dtPath, iouType string, classAgnostic bool) (*coco.Eval, *coco.Dataset, error) {
	if !classAgnostic {
		return evalCOCOFiles(gtPath, dtPath, iouType)
	}
	gt, dts, err := coco.LoadFiles(gtPath, dtPath)
	if err != nil {
		return nil, nil, err
	}
	classAgnosticCOCO(gt, dts)
	e, err := coco.Evaluate(gt, dts, coco.DefaultParams(iouType), 0)
	if err != nil {
		return nil, nil, err
	}
	return e, gt, nil
}

// classAgnosticCOCO maps every ground-truth object and every detection to one category
// named "object" (keeping the id of gt's first category), so that COCOeval matches
// detections to objects regardless of class, as pycocotools' params.useCats = 0 does
// (class-agnostic proposals such as SAM's automatic masks, whose results all carry
// category_id 1). Ground-truth objects keep their order within each image.
func classAgnosticCOCO(gt *coco.Dataset, dts []coco.Annotation) {
	if len(gt.Categories) == 0 {
		return
	}
	id := gt.Categories[0].ID
	gt.Categories = []coco.Category{{ID: id, Name: "object"}}
	for i := range gt.Annotations {
		gt.Annotations[i].CategoryID = id
	}
	for i := range dts {
		dts[i].CategoryID = id
	}
}
