package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/fovea-ml/fovea/metrics/coco"
	"github.com/fovea-ml/fovea/metrics/prplot"
	"github.com/spf13/cobra"
)

func init() {
	var gtPath, dtPath, iouType, jsonPath, prPath string
	var prClasses []string
	var perCategory, classAgnostic bool
	cmd := &cobra.Command{
		Use:   "coco --gt ANNOTATIONS.json --dt RESULTS.json --iou-type bbox|segm",
		Short: "Evaluate COCO detections or masks exactly as pycocotools' COCOeval",
		Long: `Evaluate a COCO results file against a COCO annotation file with pycocotools'
COCOeval rules (bbox or segm) and print its 12-line summary, number for number.
--json writes {"stats":[12 numbers in pycocotools order],"per_category":
[{"category_id","name","AP"}]} where a category's AP is the mean of its
precision over IoU thresholds and recall points (area all, maxDets 100),
ignoring −1, or −1. --pr-curve draws the mean precision/recall curves
(IoU .50, .75 and .50:.95), or per category with --pr-class.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gtPath == "" || dtPath == "" {
				return errors.New("eval coco: --gt and --dt are required")
			}
			if iouType != "bbox" && iouType != "segm" {
				return fmt.Errorf("eval coco: --iou-type = %q, want bbox or segm", iouType)
			}
			e, gt, err := evalCOCOFilesAgnostic(gtPath, dtPath, iouType, classAgnostic)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprint(w, e.Summary())
			if perCategory {
				printCOCOCategories(w, e, gt)
			}
			if jsonPath != "" {
				if err := writeEvalJSON(jsonPath, cocoJSON(e, gt)); err != nil {
					return err
				}
			}
			if prPath != "" {
				return writeCOCOPRCurves(prPath, e, gt, prClasses)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&gtPath, "gt", "", "COCO annotation file (instances_*.json)")
	f.StringVar(&dtPath, "dt", "", "COCO results file (a JSON list of detections)")
	f.StringVar(&iouType, "iou-type", "bbox", "bbox or segm")
	f.StringVar(&jsonPath, "json", "", "write {\"stats\",\"per_category\"} as JSON to this file")
	f.BoolVar(&perCategory, "per-category", false, "also print the AP of every category")
	f.BoolVar(&classAgnostic, "class-agnostic", false, "merge every category into one \"object\" (pycocotools' useCats = 0), e.g. for SAM's automatic masks")
	f.StringVar(&prPath, "pr-curve", "", "write a PNG chart of precision/recall curves to this file")
	f.StringSliceVar(&prClasses, "pr-class", nil, "with --pr-curve: chart these categories (names) instead of the mean")
	evalCmd.AddCommand(cmd)
}

// evalCOCOFiles loads both files (concurrently) and evaluates on all cores.
func evalCOCOFiles(gtPath, dtPath, iouType string) (*coco.Eval, *coco.Dataset, error) {
	gt, dts, err := coco.LoadFiles(gtPath, dtPath)
	if err != nil {
		return nil, nil, err
	}
	e, err := coco.Evaluate(gt, dts, coco.DefaultParams(iouType), 0)
	if err != nil {
		return nil, nil, err
	}
	return e, gt, nil
}

type cocoCategoryJSON struct {
	CategoryID int64     `json:"category_id"`
	Name       string    `json:"name"`
	AP         evalFloat `json:"AP"`
}

func cocoJSON(e *coco.Eval, gt *coco.Dataset) any {
	out := struct {
		Stats       []evalFloat        `json:"stats"`
		PerCategory []cocoCategoryJSON `json:"per_category"`
	}{Stats: evalFloats(e.Stats), PerCategory: []cocoCategoryJSON{}}
	for k, id := range e.CatIDs {
		c, _ := gt.CategoryByID(id)
		out.PerCategory = append(out.PerCategory, cocoCategoryJSON{id, c.Name, evalFloat(e.CategoryAP(k))})
	}
	return out
}

func printCOCOCategories(w io.Writer, e *coco.Eval, gt *coco.Dataset) {
	fmt.Fprintf(w, "%-12s %-24s %8s\n", "category_id", "name", "AP")
	for k, id := range e.CatIDs {
		c, _ := gt.CategoryByID(id)
		fmt.Fprintf(w, "%-12d %-24s %8.3f\n", id, c.Name, e.CategoryAP(k))
	}
}

func writeCOCOPRCurves(path string, e *coco.Eval, gt *coco.Dataset, classes []string) error {
	rec := e.Params.RecThrs
	var series []prplot.Series
	title := fmt.Sprintf("COCO %s precision/recall (area all, maxDets 100), AP %.3f", e.Params.IoUType, e.Stats[0])
	if len(classes) == 0 {
		series = []prplot.Series{
			{Name: "IoU=0.50", Recall: rec, Precision: e.PrecisionAtRecall(-1, 0)},
			{Name: "IoU=0.75", Recall: rec, Precision: e.PrecisionAtRecall(-1, 5)},
			{Name: "IoU=0.50:0.95", Recall: rec, Precision: e.PrecisionAtRecall(-1, -1)},
		}
	}
	for _, name := range classes {
		k := -1
		for i, id := range e.CatIDs {
			if c, _ := gt.CategoryByID(id); c.Name == name {
				k = i
			}
		}
		if k < 0 {
			return fmt.Errorf("--pr-class %q: no such category in %s", name, gt.File)
		}
		ap := e.CategoryAP(k)
		label := fmt.Sprintf("%s (AP %.3f)", name, ap)
		if math.IsNaN(ap) || ap < 0 {
			label = name + " (no ground truth)"
		}
		series = append(series, prplot.Series{Name: label, Recall: rec, Precision: e.PrecisionAtRecall(k, -1)})
	}
	if len(classes) > 0 {
		title = fmt.Sprintf("COCO %s precision/recall, IoU=0.50:0.95: %s", e.Params.IoUType, strings.Join(classes, ", "))
	}
	return prplot.Save(path, title, series)
}
