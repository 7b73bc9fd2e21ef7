package rle

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
)

type goldenFile struct {
	Masks []struct {
		H, W   int
		Mask   string
		Counts string
		Area   uint32
		Bbox   [4]float64
	}
	Polygons []struct {
		H, W   int
		XY     []float64
		Counts string
		Area   uint32
		Bbox   [4]float64
	}
	Boxes []struct {
		H, W   int
		BboxIn [4]float64 `json:"bbox_in"`
		Counts string
	}
	Merges []struct {
		H, W             int
		In               []string
		Union, Intersect string
	}
	IoUs []struct {
		H, W    int
		Dt, Gt  []string
		IsCrowd []int
		IoU     [][]float64
	}
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile("../../testdata/metrics/rle/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func mustString(t *testing.T, s string, h, w int) RLE {
	t.Helper()
	r, err := FromString(s, h, w)
	if err != nil {
		t.Fatalf("FromString(%q, %d, %d): %v", s, h, w, err)
	}
	return r
}

// TestGoldenPycocotools compares encode, decode, strings, area, bbox,
// polygon and box rasterisation, merge and IoU with pycocotools' outputs.
func TestGoldenPycocotools(t *testing.T) {
	g := loadGolden(t)
	for i, m := range g.Masks {
		mask := make([]uint8, len(m.Mask))
		for j := range m.Mask {
			mask[j] = m.Mask[j] - '0'
		}
		r := Encode(mask, m.H, m.W)
		if s := r.String(); s != m.Counts {
			t.Errorf("mask %d: Encode → %q, want %q", i, s, m.Counts)
		}
		back := mustString(t, m.Counts, m.H, m.W)
		if !slices.Equal(back.Counts, r.Counts) {
			t.Errorf("mask %d: FromString counts %v, want %v", i, back.Counts, r.Counts)
		}
		if !slices.Equal(back.Decode(), mask) {
			t.Errorf("mask %d: Decode differs from the mask", i)
		}
		if r.Area() != m.Area || r.Bbox() != m.Bbox {
			t.Errorf("mask %d: area %d bbox %v, want %d %v", i, r.Area(), r.Bbox(), m.Area, m.Bbox)
		}
	}
	for i, p := range g.Polygons {
		r := FromPolygon(p.XY, p.H, p.W)
		if s := r.String(); s != p.Counts {
			t.Errorf("polygon %d (%dx%d %v): %q, want %q", i, p.H, p.W, p.XY, s, p.Counts)
		}
		if r.Area() != p.Area || r.Bbox() != p.Bbox {
			t.Errorf("polygon %d: area %d bbox %v, want %d %v", i, r.Area(), r.Bbox(), p.Area, p.Bbox)
		}
	}
	for i, b := range g.Boxes {
		if s := FromBbox(b.BboxIn, b.H, b.W).String(); s != b.Counts {
			t.Errorf("box %d %v: %q, want %q", i, b.BboxIn, s, b.Counts)
		}
	}
	for i, m := range g.Merges {
		var rs []RLE
		for _, s := range m.In {
			rs = append(rs, mustString(t, s, m.H, m.W))
		}
		if s := Merge(rs, false).String(); s != m.Union {
			t.Errorf("merge %d: union %q, want %q", i, s, m.Union)
		}
		if s := Merge(rs, true).String(); s != m.Intersect {
			t.Errorf("merge %d: intersection %q, want %q", i, s, m.Intersect)
		}
	}
	for i, c := range g.IoUs {
		var dt, gt []RLE
		for _, s := range c.Dt {
			dt = append(dt, mustString(t, s, c.H, c.W))
		}
		for _, s := range c.Gt {
			gt = append(gt, mustString(t, s, c.H, c.W))
		}
		crowd := make([]bool, len(c.IsCrowd))
		for j, v := range c.IsCrowd {
			crowd[j] = v != 0
		}
		got := IoU(dt, gt, crowd)
		for d := range dt {
			for k := range gt {
				if got[d*len(gt)+k] != c.IoU[d][k] {
					t.Errorf("iou case %d [%d,%d] = %v, want %v", i, d, k, got[d*len(gt)+k], c.IoU[d][k])
				}
			}
		}
	}
}

func TestHandChecked(t *testing.T) {
	// 3×2 mask, row-major [[0 1] [1 1] [0 0]]: column-major 0 1 0 | 1 1 0.
	mask := []uint8{0, 1, 1, 1, 0, 0}
	r := Encode(mask, 3, 2)
	if want := []uint32{1, 1, 1, 2, 1}; !slices.Equal(r.Counts, want) {
		t.Fatalf("Encode = %v, want %v", r.Counts, want)
	}
	if r.Area() != 3 {
		t.Errorf("Area = %d, want 3", r.Area())
	}
	if got, want := r.Bbox(), [4]float64{0, 0, 2, 2}; got != want {
		t.Errorf("Bbox = %v, want %v", got, want)
	}
	// A run of ones that wraps from column 0 to column 1 spans the full
	// height: column-major 0 0 1 | 1 0 0.
	wrap := Encode([]uint8{0, 1, 0, 0, 1, 0}, 3, 2)
	if got, want := wrap.Bbox(), [4]float64{0, 0, 2, 3}; got != want {
		t.Errorf("wrapping Bbox = %v, want %v", got, want)
	}
	if !slices.Equal(r.Decode(), mask) {
		t.Errorf("Decode = %v, want %v", r.Decode(), mask)
	}
	if (RLE{H: 4, W: 4, Counts: []uint32{16}}).Bbox() != [4]float64{} {
		t.Errorf("empty mask bbox not zero")
	}
	// Crowd IoU divides by the detection's area only.
	d := Encode([]uint8{1, 1, 0, 0}, 2, 2)
	g := Encode([]uint8{1, 1, 1, 1}, 2, 2)
	if got := IoU([]RLE{d}, []RLE{g}, []bool{false}); got[0] != 0.5 {
		t.Errorf("IoU = %v, want 0.5", got)
	}
	if got := IoU([]RLE{d}, []RLE{g}, []bool{true}); got[0] != 1 {
		t.Errorf("crowd IoU = %v, want 1", got)
	}
	// Large counts survive the string round trip (negative differences too).
	big := RLE{H: 1000, W: 1000, Counts: []uint32{5, 400000, 3, 10, 599982}}
	back, err := FromString(big.String(), 1000, 1000)
	if err != nil || !slices.Equal(back.Counts, big.Counts) {
		t.Errorf("round trip of %v = %v, %v", big.Counts, back.Counts, err)
	}
}

func TestFromStringErrors(t *testing.T) {
	for _, s := range []string{"0!0", "o", "1", "52"} {
		if _, err := FromString(s, 2, 2); !errors.Is(err, ErrBadString) {
			t.Errorf("FromString(%q) error = %v, want ErrBadString", s, err)
		}
	}
	if _, err := FromString("4", 2, 2); err != nil {
		t.Errorf("FromString(\"4\", 2, 2): %v", err)
	}
}
