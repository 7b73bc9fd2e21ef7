package automask

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// automask_units.json comes from scripts/golden_automask.py: segment-anything's amg.py
// helpers, torch.sort, torchvision's batched_nms and OpenCV's connected components on
// fixed inputs.
type unitsFixture struct {
	PointGrids []struct {
		N      int          `json:"n"`
		Points [][2]float64 `json:"points"`
	} `json:"point_grids"`
	LayerGrids []struct {
		N, Layers, Scale int
		Sides            []int `json:"sides"`
	} `json:"layer_grids"`
	CropBoxes []struct {
		H, W, Layers int
		Overlap      float64  `json:"overlap"`
		Boxes        [][4]int `json:"boxes"`
		LayerIdxs    []int    `json:"layer_idxs"`
	} `json:"crop_boxes"`
	Stability []struct {
		H, W              int
		Offset, Threshold float64
		Logits            [][]float32 `json:"logits"`
		Scores            []float32   `json:"scores"`
	} `json:"stability"`
	StabilityWrap []float32 `json:"stability_wrap"`
	MaskBoxes     struct {
		H, W  int
		Masks [][]uint8 `json:"masks"`
		Boxes [][4]int  `json:"boxes"`
	} `json:"mask_boxes"`
	Edge []struct {
		Crop, Orig [4]int
		Boxes      [][4]int `json:"boxes"`
		Near       []bool   `json:"near"`
	} `json:"edge"`
	RLE []struct {
		Mask   []uint8  `json:"mask"`
		Size   [2]int   `json:"size"`
		Counts []uint32 `json:"counts"`
		Area   int      `json:"area"`
	} `json:"rle"`
	SortDesc []struct {
		Values []float32 `json:"values"`
		Order  []int     `json:"order"`
	} `json:"sort_desc"`
	NMS []struct {
		Boxes  [][4]float32 `json:"boxes"`
		Scores []float32    `json:"scores"`
		Idxs   []int        `json:"idxs"`
		Thresh float64      `json:"thresh"`
		Keep   []int        `json:"keep"`
	} `json:"nms"`
	Components []struct {
		H, W   int
		Mask   []uint8 `json:"mask"`
		Labels []int32 `json:"labels"`
		Areas  []int   `json:"areas"`
	} `json:"components"`
	Regions []struct {
		H, W    int
		Mask    []uint8 `json:"mask"`
		Thresh  float64 `json:"thresh"`
		Mode    string  `json:"mode"`
		Out     []uint8 `json:"out"`
		Changed bool    `json:"changed"`
	} `json:"regions"`
}

const fixtures = "../../../testdata/sam"

func loadUnits(t *testing.T) *unitsFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "automask_units.json"))
	if err != nil {
		t.Fatal(err)
	}
	var u unitsFixture
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return &u
}

func TestPointGridsGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.PointGrids {
		got := BuildPointGrid(c.N)
		if !slices.Equal(got, c.Points) {
			t.Errorf("BuildPointGrid(%d) = %v, want %v", c.N, got, c.Points)
		}
	}
	for _, c := range u.LayerGrids {
		g := BuildAllLayerPointGrids(c.N, c.Layers, c.Scale)
		var sides []int
		for _, l := range g {
			sides = append(sides, int(math.Round(math.Sqrt(float64(len(l))))))
		}
		if !slices.Equal(sides, c.Sides) {
			t.Errorf("BuildAllLayerPointGrids(%d, %d, %d): sides %v, want %v", c.N, c.Layers, c.Scale, sides, c.Sides)
		}
	}
	if len(u.PointGrids) == 0 || len(u.LayerGrids) == 0 {
		t.Fatal("no cases")
	}
}

func TestCropBoxesGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.CropBoxes {
		boxes, layers := GenerateCropBoxes(c.H, c.W, c.Layers, c.Overlap)
		if !slices.Equal(boxes, c.Boxes) || !slices.Equal(layers, c.LayerIdxs) {
			t.Errorf("GenerateCropBoxes(%d, %d, %d, %v) = %v %v, want %v %v", c.H, c.W, c.Layers, c.Overlap, boxes, layers, c.Boxes, c.LayerIdxs)
		}
	}
}

func TestStabilityScoreGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.Stability {
		for i, l := range c.Logits {
			got := StabilityScore(l, c.H, c.W, c.Threshold, c.Offset)
			if got != c.Scores[i] {
				t.Errorf("%d×%d offset %v mask %d: %v, want %v", c.H, c.W, c.Offset, i, got, c.Scores[i])
			}
		}
	}
	// int16 row counts wrap around as in the reference.
	w := 40000
	l := make([]float32, 2*w)
	for x := range w {
		l[x], l[w+x] = 0.5, -5
		if x < 35000 {
			l[x] = 5
		}
		if x < 1000 {
			l[w+x] = 5
		}
	}
	if got := StabilityScore(l, 2, w, 0, 1); got != u.StabilityWrap[0] {
		t.Errorf("wrapped rows: %v, want %v", got, u.StabilityWrap[0])
	}
	if got := StabilityScore([]float32{-2, -1, -3, -1.5, -1, -7}, 2, 3, 0, 1); !math.IsNaN(float64(got)) {
		t.Errorf("no logit above −offset: %v, want NaN (0/0)", got)
	}
}

func TestMaskToBoxGolden(t *testing.T) {
	u := loadUnits(t)
	c := u.MaskBoxes
	for i, m := range c.Masks {
		if got := MaskToBox(m, c.H, c.W); got != c.Boxes[i] {
			t.Errorf("mask %d: %v, want %v", i, got, c.Boxes[i])
		}
		col := make([]uint8, len(m))
		for y := range c.H {
			for x := range c.W {
				col[x*c.H+y] = m[y*c.W+x]
			}
		}
		if got := columnBox(col, c.H, c.W); got != c.Boxes[i] {
			t.Errorf("columnBox of mask %d: %v, want %v", i, got, c.Boxes[i])
		}
	}
}

func TestIsBoxNearCropEdgeGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.Edge {
		for i, b := range c.Boxes {
			if got := IsBoxNearCropEdge(b, c.Crop, c.Orig, 20); got != c.Near[i] {
				t.Errorf("crop %v box %v: %v, want %v", c.Crop, b, got, c.Near[i])
			}
		}
	}
}

func TestRLEGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.RLE {
		h, w := c.Size[0], c.Size[1]
		r := MaskToRLE(c.Mask, h, w)
		if !slices.Equal(r.Counts, c.Counts) || r.H != h || r.W != w {
			t.Errorf("MaskToRLE: %v, want %v", r.Counts, c.Counts)
		}
		if got := RLEToMask(r); !slices.Equal(got, c.Mask) {
			t.Errorf("RLEToMask(MaskToRLE(m)) ≠ m")
		}
		if got := AreaFromRLE(r); got != c.Area {
			t.Errorf("AreaFromRLE = %d, want %d", got, c.Area)
		}
		back, err := rle.FromString(COCOEncodeRLE(r), h, w)
		if err != nil || !slices.Equal(back.Counts, r.Counts) {
			t.Errorf("COCOEncodeRLE round trip: %v %v, want %v", back.Counts, err, r.Counts)
		}
		// The same mask in a crop, uncropped with and without the padded copy.
		cb := [4]int{3, 2, 3 + w, 2 + h}
		full := UncropMask(c.Mask, h, w, cb, h+5, w+4)
		logits := make([]float32, len(c.Mask))
		for i, v := range c.Mask {
			logits[i] = float32(v) - 0.5
		}
		col := make([]uint8, len(c.Mask))
		columnMask(logits, h, w, 0, col)
		if got, want := encodeUncropped(col, h, w, cb, h+5, w+4), MaskToRLE(full, h+5, w+4); !slices.Equal(got.Counts, want.Counts) {
			t.Errorf("encodeUncropped: %v, want %v", got.Counts, want.Counts)
		}
		if got, want := columnBox(col, h, w), MaskToBox(c.Mask, h, w); got != want {
			t.Errorf("columnBox = %v, want %v", got, want)
		}
	}
}

func TestSortDescGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.SortDesc {
		items := make([]sortItem, len(c.Values))
		for i, v := range c.Values {
			items[i] = sortItem{v, i}
		}
		stdSortDesc(items)
		got := make([]int, len(items))
		for i, it := range items {
			got[i] = it.idx
		}
		if !slices.Equal(got, c.Order) {
			t.Errorf("%d values: order differs from torch.sort's", len(c.Values))
		}
	}
}

func TestHeapSortFallback(t *testing.T) {
	// Past the depth limit std::sort falls back to heapsort; whatever the order of ties,
	// the values must come out sorted.
	for _, n := range []int{1, 2, 3, 17, 100, 1000} {
		a := make([]sortItem, n)
		for i := range a {
			a[i] = sortItem{float32((i * 7919) % 13), i}
		}
		heapSort(a, func(x, y sortItem) bool { return descLess(x.v, y.v) })
		for i := 1; i < n; i++ {
			if a[i].v > a[i-1].v {
				t.Fatalf("n=%d: not sorted at %d", n, i)
			}
		}
	}
}

func TestBatchedNMSGolden(t *testing.T) {
	u := loadUnits(t)
	for i, c := range u.NMS {
		got := BatchedNMS(c.Boxes, c.Scores, c.Idxs, c.Thresh)
		if !slices.Equal(got, c.Keep) {
			t.Errorf("case %d (%d boxes): kept %d boxes, torchvision %d; first difference at %d", i, len(c.Boxes), len(got), len(c.Keep), firstDiff(got, c.Keep))
		}
	}
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestComponentsGolden(t *testing.T) {
	u := loadUnits(t)
	for _, c := range u.Components {
		labels, sizes := components(c.Mask, c.H, c.W)
		if !slices.Equal(labels, c.Labels) || !slices.Equal(sizes, c.Areas) {
			t.Errorf("%d×%d: labels differ from OpenCV's (%d components, OpenCV %d)", c.H, c.W, len(sizes), len(c.Areas))
		}
	}
}

func TestRemoveSmallRegionsGolden(t *testing.T) {
	u := loadUnits(t)
	for i, c := range u.Regions {
		mode := Holes
		if c.Mode == "islands" {
			mode = Islands
		}
		out, changed := RemoveSmallRegions(c.Mask, c.H, c.W, c.Thresh, mode)
		if !slices.Equal(out, c.Out) || changed != c.Changed {
			t.Errorf("case %d (%d×%d, %s < %v): changed %v (want %v), %d pixels differ", i, c.H, c.W, c.Mode, c.Thresh, changed, c.Changed, countDiff(out, c.Out))
		}
	}
}

func countDiff(a, b []uint8) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestBatchIterator(t *testing.T) {
	if got := BatchIterator(10, 4); !slices.Equal(got, [][2]int{{0, 4}, {4, 8}, {8, 10}}) {
		t.Errorf("BatchIterator(10, 4) = %v", got)
	}
	if got := BatchIterator(0, 4); len(got) != 0 {
		t.Errorf("BatchIterator(0, 4) = %v", got)
	}
}

func TestUncrop(t *testing.T) {
	cb := [4]int{10, 20, 50, 60}
	if got := UncropBox([4]int{1, 2, 3, 4}, cb); got != [4]int{11, 22, 13, 24} {
		t.Errorf("UncropBox = %v", got)
	}
	if got := UncropPoint([2]float64{1.5, 2.25}, cb); got != [2]float64{11.5, 22.25} {
		t.Errorf("UncropPoint = %v", got)
	}
	if got := BoxXYXYToXYWH([4]int{3, 4, 10, 20}); got != [4]int{3, 4, 7, 16} {
		t.Errorf("BoxXYXYToXYWH = %v", got)
	}
	m := UncropMask([]uint8{1, 0, 0, 1}, 2, 2, [4]int{1, 1, 3, 3}, 3, 4)
	if !slices.Equal(m, []uint8{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}) {
		t.Errorf("UncropMask = %v", m)
	}
}

// TestColumnMaskRandom checks the tiled threshold-and-transpose, the box and the
// uncropped RLE against the plain definitions on masks of many sizes and densities.
func TestColumnMaskRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 200; it++ {
		h, w := 1+rng.IntN(90), 1+rng.IntN(90)
		p := rng.Float64()
		logits := make([]float32, h*w)
		mask := make([]uint8, h*w)
		for i := range logits {
			logits[i] = float32(rng.NormFloat64())
			if rng.Float64() < p {
				logits[i] = float32(rng.Float64()) + 0.1
			} else if rng.Float64() < 0.9 {
				logits[i] = -float32(rng.Float64())
			}
			if logits[i] > 0 {
				mask[i] = 1
			}
		}
		col := make([]uint8, h*w)
		columnMask(logits, h, w, 0, col)
		for y := range h {
			for x := range w {
				if col[x*h+y] != mask[y*w+x] {
					t.Fatalf("%d×%d: columnMask differs at (%d, %d)", h, w, x, y)
				}
			}
		}
		if got, want := columnBox(col, h, w), MaskToBox(mask, h, w); got != want {
			t.Fatalf("%d×%d: columnBox %v, MaskToBox %v", h, w, got, want)
		}
		oh, ow := h+rng.IntN(20), w+rng.IntN(20)
		cb := [4]int{rng.IntN(ow - w + 1), 0, 0, 0}
		cb[1] = rng.IntN(oh - h + 1)
		cb[2], cb[3] = cb[0]+w, cb[1]+h
		want := MaskToRLE(UncropMask(mask, h, w, cb, oh, ow), oh, ow)
		if got := encodeUncropped(col, h, w, cb, oh, ow); !slices.Equal(got.Counts, want.Counts) || got.H != oh || got.W != ow {
			t.Fatalf("%d×%d in %d×%d at %v: RLE %v, want %v", h, w, oh, ow, cb, got.Counts, want.Counts)
		}
	}
}
