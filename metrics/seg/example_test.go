package seg_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/metrics/seg"
)

// A model that predicts background everywhere looks good on pixel accuracy
// when background dominates; MPA and MIoU expose it.
func Example() {
	m := seg.NewConfusionMatrix(2, seg.DefaultIgnoreIndex, false)
	gt := []uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 255, 255}
	pred := []uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}
	m.Update(gt, pred) // call once per image; Merge matrices from other goroutines
	s := m.Scores()
	fmt.Printf("PA %.2f  MPA %.2f  MIoU %.2f  FWIoU %.2f\n", s.AAcc, s.MAcc, s.MIoU, s.FWIoU)
	fmt.Printf("IoU per class: %.2f\n", s.IoU)
	// Output:
	// PA 0.90  MPA 0.50  MIoU 0.45  FWIoU 0.81
	// IoU per class: [0.90 0.00]
}
