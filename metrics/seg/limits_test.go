package seg

import "testing"

// InvalidGT counts ground-truth pixels outside [0, C) that are not the ignore
// index, through both update paths and Merge.
func TestInvalidGT(t *testing.T) {
	m := NewConfusionMatrix(3, 255, false)
	m.Update([]uint8{0, 1, 2, 3, 7, 255, 255}, []uint8{0, 0, 0, 0, 0, 0, 0})
	if got := m.InvalidGT(); got != 2 {
		t.Errorf("Update: InvalidGT = %d, want 2 (labels 3 and 7; 255 is ignored)", got)
	}
	o := m.NewLike()
	o.UpdateInts([]int{-1, 5, 1, 255}, []int{0, 0, 0, 0})
	m.Merge(o)
	if got := m.InvalidGT(); got != 4 {
		t.Errorf("UpdateInts + Merge: InvalidGT = %d, want 4", got)
	}
	m.Reset()
	if got := m.InvalidGT(); got != 0 {
		t.Errorf("after Reset: %d", got)
	}
}
