package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// evalCmd is `fovea eval`; its subcommands (seg, voc, coco) live in
// eval_seg.go, eval_voc.go and eval_coco.go.
var evalCmd = &cobra.Command{
	Use:   "eval",
	Short: "Evaluate predictions: segmentation (PA, MPA, MIoU, FWIoU, Dice), VOC AP, COCO mAP",
	Long: `Evaluate predictions against ground truth with the numbers of the reference tools:
  fovea eval seg   label-map PNGs, mmsegmentation's aAcc, mAcc, mIoU, plus fwIoU and mDice
  fovea eval voc   PASCAL VOC XML annotations and per-class detection files, VOC2007/VOC2012 AP
  fovea eval coco  COCO annotations and results JSON, pycocotools' COCOeval for bbox and segm`,
}

func init() {
	rootCmd.AddCommand(evalCmd)
}

// evalFloat is a float64 that marshals NaN as null.
type evalFloat float64

func (f evalFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func evalFloats(x []float64) []evalFloat {
	out := make([]evalFloat, len(x))
	for i, v := range x {
		out[i] = evalFloat(v)
	}
	return out
}

// writeEvalJSON writes v, indented, to path.
func writeEvalJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("--json %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
