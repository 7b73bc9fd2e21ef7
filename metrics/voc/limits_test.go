package voc

import "testing"

func TestCheckBox(t *testing.T) {
	for _, c := range []struct {
		box  [4]float64
		w, h int
		ok   bool
	}{
		{[4]float64{1, 1, 10, 10}, 20, 20, true},
		{[4]float64{5, 5, 5, 5}, 20, 20, true},      // one pixel
		{[4]float64{-5, -5, 10, 10}, 20, 20, true},  // partly outside
		{[4]float64{10, 1, 5, 10}, 20, 20, false},   // inverted x
		{[4]float64{1, 10, 10, 5}, 0, 0, false},     // inverted y, size unknown
		{[4]float64{30, 30, 40, 40}, 20, 20, false}, // wholly outside
		{[4]float64{30, 30, 40, 40}, 0, 0, true},    // size unknown
		{[4]float64{-10, -10, 0.5, 0.5}, 20, 20, false},
	} {
		if err := CheckBox(c.box, c.w, c.h); (err == nil) != c.ok {
			t.Errorf("CheckBox(%v, %d, %d) = %v, want ok %v", c.box, c.w, c.h, err, c.ok)
		}
	}
}
