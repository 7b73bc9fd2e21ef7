package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

func pct(v *float64) string {
	if v == nil {
		return "nan"
	}
	return fmt.Sprintf("%.2f", 100**v)
}

// PrintSegReport prints what a finished SegEval wrote: the counts and the
// summary scores (percent), read back from o.Counts and o.JSON.
func PrintSegReport(ctx context.Context, w io.Writer, o SegOptions) error {
	var c SegRunCounts
	if err := readJSON(ctx, o.Counts, &c); err != nil {
		return err
	}
	var r struct {
		AAcc, MAcc, MIoU, FWIoU, MDice *float64
		PerClass                       struct{ IoU []*float64 } `json:"per_class"`
	}
	if err := readJSON(ctx, o.JSON, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d image(s) scored, %d classes; %d dead letter(s) in %s\n", c.Images, len(r.PerClass.IoU), c.DeadLetters, o.DeadLetters)
	if c.InvalidGTPixels > 0 {
		fmt.Fprintf(w, "warning: %d ground-truth pixels have a label ≥ --num-classes %d that is not --ignore-index %d; they were skipped (wrong --num-classes?)\n", c.InvalidGTPixels, o.NumClasses, o.IgnoreIndex)
	}
	fmt.Fprintf(w, "aAcc %s  mAcc %s  mIoU %s  fwIoU %s  mDice %s\n", pct(r.AAcc), pct(r.MAcc), pct(r.MIoU), pct(r.FWIoU), pct(r.MDice))
	fmt.Fprintf(w, "scores in %s\n", o.JSON)
	return nil
}

func readJSON(ctx context.Context, p string, v any) error {
	b, err := readFile(ctx, p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// PrintCOCOReport prints what a finished COCOEval wrote: the counts and
// pycocotools' summary.
func PrintCOCOReport(ctx context.Context, w io.Writer, o COCOOptions) error {
	var c COCOCounts
	if err := readJSON(ctx, o.Counts, &c); err != nil {
		return err
	}
	sum, err := readFile(ctx, o.Summary)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d detection(s) and %d ground truth(s) in %d (image, category) pairs; %d dead letter(s) in %s\n",
		c.Detections, c.GroundTruths, c.ImageCategories, c.DeadLetters, o.DeadLetters)
	fmt.Fprint(w, string(sum))
	fmt.Fprintf(w, "stats and per-category AP in %s\n", o.JSON)
	return nil
}

// PrintInferReport prints the counts of a finished inference pipeline.
func PrintInferReport(ctx context.Context, w io.Writer, counts, dead, out string) error {
	var c InferCounts
	if err := readJSON(ctx, counts, &c); err != nil {
		return err
	}
	masks := ""
	if c.Masks > 0 {
		masks = fmt.Sprintf(" (%d masks)", c.Masks)
	}
	fmt.Fprintf(w, "segmented %d image(s)%s into %s; %d dead letter(s) in %s\n", c.Images, masks, out, c.DeadLetters, dead)
	return nil
}
