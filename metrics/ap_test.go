package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
)

func hexFloats(t *testing.T, xs []string) []float64 {
	t.Helper()
	out := make([]float64, len(xs))
	for i, x := range xs {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// TestNumPyBits checks the thresholds and the summation order against
// NumPy's own values (testdata/metrics/numpy.json, scripts/golden_metrics.py).
func TestNumPyBits(t *testing.T) {
	b, err := os.ReadFile("../testdata/metrics/numpy.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		IoUThrs  []string `json:"iouThrs"`
		RecThrs  []string `json:"recThrs"`
		VOC07    []string `json:"voc07"`
		LongSums []struct {
			N    int
			Sum  string
			Mean string
		} `json:"long_sums"`
		Sums []struct {
			X    []string `json:"x"`
			Sum  string   `json:"sum"`
			Mean *string  `json:"mean"`
		} `json:"sums"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]float64{
		"iouThrs": {COCOIoUThresholds, hexFloats(t, g.IoUThrs)},
		"recThrs": {COCORecallThresholds, hexFloats(t, g.RecThrs)},
	} {
		got, want := pair[0], pair[1]
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s[%d] = %x, want %x", name, i, got[i], want[i])
			}
		}
	}
	for i, w := range hexFloats(t, g.VOC07) {
		if got := float64(i) * 0.1; got != w {
			t.Errorf("VOC07 threshold %d = %x, want %x", i, got, w)
		}
	}
	scales := []float64{1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}
	for _, s := range g.LongSums {
		x := make([]float64, s.N)
		for i := range x {
			x[i] = float64((i*7919)%10007) / 10007.0 * scales[i%17]
		}
		if got, want := pairwise.Sum(x), hexFloats(t, []string{s.Sum})[0]; got != want {
			t.Errorf("sum of %d values = %x, want NumPy's %x", s.N, got, want)
		}
		if got, want := pairwise.Mean(x), hexFloats(t, []string{s.Mean})[0]; got != want {
			t.Errorf("mean of %d values = %x, want NumPy's %x", s.N, got, want)
		}
	}
	if len(g.LongSums) == 0 {
		t.Errorf("no long sums in numpy.json")
	}
	for _, s := range g.Sums {
		x := hexFloats(t, s.X)
		want := hexFloats(t, []string{s.Sum})[0]
		if got := pairwise.Sum(x); got != want {
			t.Errorf("sum of %d values = %x, want NumPy's %x", len(x), got, want)
		}
		if s.Mean != nil {
			if got, want := pairwise.Mean(x), hexFloats(t, []string{*s.Mean})[0]; got != want {
				t.Errorf("mean of %d values = %x, want NumPy's %x", len(x), got, want)
			}
		}
	}
}

func TestIoU(t *testing.T) {
	tests := []struct {
		name    string
		a, b    [4]float64
		xyxy    float64
		voc     float64
		vocOK   bool
		xywhA   [4]float64
		crowdAB float64
	}{
		{"same", [4]float64{0, 0, 10, 10}, [4]float64{0, 0, 10, 10}, 1, 1, true, [4]float64{0, 0, 10, 10}, 1},
		// xyxy: inter 25, union 175; voc: inter 36, union 121+121-36.
		{"quarter", [4]float64{0, 0, 10, 10}, [4]float64{5, 5, 15, 15}, 25.0 / 175, 36.0 / 206, true, [4]float64{0, 0, 10, 10}, 0.25},
		{"disjoint", [4]float64{0, 0, 1, 1}, [4]float64{3, 3, 4, 4}, 0, 0, false, [4]float64{0, 0, 1, 1}, 0},
		// touching edges: xyxy 0, but VOC pixels overlap on the shared column.
		{"touching", [4]float64{0, 0, 5, 5}, [4]float64{5, 0, 10, 5}, 0, 6.0 / 66, true, [4]float64{0, 0, 5, 5}, 0},
	}
	for _, tc := range tests {
		if got := IoUXYXY(tc.a, tc.b); math.Abs(got-tc.xyxy) > 1e-15 {
			t.Errorf("%s: IoUXYXY = %v, want %v", tc.name, got, tc.xyxy)
		}
		got, ok := IoUVOC(tc.a, tc.b)
		if ok != tc.vocOK || math.Abs(got-tc.voc) > 1e-15 {
			t.Errorf("%s: IoUVOC = %v %v, want %v %v", tc.name, got, ok, tc.voc, tc.vocOK)
		}
		a, b := XYXYToXYWH(tc.a), XYXYToXYWH(tc.b)
		if got := IoUXYWH(a, b, false); math.Abs(got-tc.xyxy) > 1e-15 {
			t.Errorf("%s: IoUXYWH = %v, want %v", tc.name, got, tc.xyxy)
		}
		if got := IoUXYWH(a, b, true); math.Abs(got-tc.crowdAB) > 1e-15 {
			t.Errorf("%s: crowd IoUXYWH = %v, want %v", tc.name, got, tc.crowdAB)
		}
		if XYWHToXYXY(a) != tc.a {
			t.Errorf("%s: XYWHToXYXY(XYXYToXYWH(a)) = %v", tc.name, XYWHToXYXY(a))
		}
	}
	m := IoUMatrix([][4]float64{{0, 0, 10, 10}}, [][4]float64{{0, 0, 10, 10}, {20, 20, 30, 30}}, IoUXYXY)
	if len(m) != 2 || m[0] != 1 || m[1] != 0 {
		t.Errorf("IoUMatrix = %v", m)
	}
}

// TestAPHandChecked works three detections against two positives by hand:
// scores .9 (TP), .8 (FP), .7 (TP) → recall .5 .5 1, precision 1 .5 .667.
func TestAPHandChecked(t *testing.T) {
	c := NewPRCurve([]float64{0.7, 0.9, 0.8}, []bool{true, true, false}, []bool{false, false, true}, 2)
	wantR := []float64{0.5, 0.5, 1}
	wantP := []float64{1, 0.5, 2.0 / 3}
	for i := range wantR {
		if c.Recall[i] != wantR[i] || c.Precision[i] != wantP[i] {
			t.Fatalf("curve = %+v, want recall %v precision %v", c, wantR, wantP)
		}
	}
	// Area: envelope 1, 2/3, 2/3 → 0.5·1 + 0.5·2/3.
	if got, want := APArea(c.Recall, c.Precision), 0.5+0.5*(2.0/3); math.Abs(got-want) > 1e-15 {
		t.Errorf("APArea = %v, want %v", got, want)
	}
	// 11-point: t = 0..0.5 → 1 (6 points), t = 0.6..1 → 2/3 (5 points).
	if got, want := AP11Point(c.Recall, c.Precision), (6+5*(2.0/3))/11; math.Abs(got-want) > 1e-15 {
		t.Errorf("AP11Point = %v, want %v", got, want)
	}
	// COCO 101: r ≤ .5 (51 points) → 1, the other 50 → 2/3.
	if got, want := APCOCO(c.Recall, c.Precision), (51+50*(2.0/3))/101; math.Abs(got-want) > 1e-12 {
		t.Errorf("APCOCO = %v, want %v", got, want)
	}
	// A curve that never reaches recall 1 gets 0 precision beyond its end.
	q := InterpolatedPrecision([]float64{0.5}, []float64{1}, []float64{0, 0.5, 0.6})
	if q[0] != 1 || q[1] != 1 || q[2] != 0 {
		t.Errorf("InterpolatedPrecision = %v, want [1 1 0]", q)
	}
	if got := APArea(nil, nil); got != 0 {
		t.Errorf("APArea of no detections = %v, want 0", got)
	}
	// A first detection on a "difficult" object: precision 0/ε = 0, not NaN.
	d := NewPRCurve([]float64{0.9, 0.5}, []bool{false, true}, []bool{false, false}, 1)
	if d.Precision[0] != 0 || d.Precision[1] != 1 {
		t.Errorf("difficult-first curve precision = %v, want [0 1]", d.Precision)
	}
}

// Three detections ranked by score against two ground-truth objects: the
// same curve gives three different APs under the three conventions.
func Example_averagePrecision() {
	c := NewPRCurve(
		[]float64{0.9, 0.8, 0.7},   // scores
		[]bool{true, false, true},  // true positives
		[]bool{false, true, false}, // false positives
		2)                          // positives
	fmt.Printf("VOC2007 11-point %.4f\n", AP11Point(c.Recall, c.Precision))
	fmt.Printf("VOC2010+ area    %.4f\n", APArea(c.Recall, c.Precision))
	fmt.Printf("COCO 101-point   %.4f\n", APCOCO(c.Recall, c.Precision))
	fmt.Printf("IoU %.4f\n", IoUXYXY([4]float64{0, 0, 10, 10}, [4]float64{5, 0, 15, 10}))
	// Output:
	// VOC2007 11-point 0.8485
	// VOC2010+ area    0.8333
	// COCO 101-point   0.8350
	// IoU 0.3333
}
