package voc

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testdata = "../../testdata/metrics/voc"

func loadGolden(t *testing.T) ([]Annotation, map[string][]Detection) {
	t.Helper()
	annots, err := ReadAnnotationDir(filepath.Join(testdata, "Annotations"))
	if err != nil {
		t.Fatal(err)
	}
	dets := map[string][]Detection{}
	for _, c := range []string{"cat", "dog", "person"} {
		d, err := ReadDetections(filepath.Join(testdata, "dets", c+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		dets[c] = d
	}
	return annots, dets
}

// TestGoldenDevkit compares AP, mAP and the curves bit for bit with the NumPy
// port of the devkit rules in scripts/golden_metrics.py.
func TestGoldenDevkit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Year   int
		IoU    float64
		MAP    float64 `json:"mAP"`
		AP     map[string]float64
		Curves map[string]struct{ Recall, Precision []float64 }
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	annots, dets := loadGolden(t)
	for _, c := range cases {
		res, err := Evaluate(annots, dets, c.IoU, c.Year)
		if err != nil {
			t.Fatal(err)
		}
		if res.MAP != c.MAP {
			t.Errorf("year %d iou %v: mAP = %v, want %v", c.Year, c.IoU, res.MAP, c.MAP)
		}
		for _, r := range res.Classes {
			if r.AP != c.AP[r.Class] {
				t.Errorf("year %d iou %v: AP[%s] = %v, want %v", c.Year, c.IoU, r.Class, r.AP, c.AP[r.Class])
			}
			w := c.Curves[r.Class]
			if len(w.Recall) != len(r.Curve.Recall) {
				t.Fatalf("%s: curve has %d points, want %d", r.Class, len(r.Curve.Recall), len(w.Recall))
			}
			for i := range w.Recall {
				if w.Recall[i] != r.Curve.Recall[i] || w.Precision[i] != r.Curve.Precision[i] {
					t.Errorf("%s point %d: (%v, %v), want (%v, %v)", r.Class, i, r.Curve.Recall[i], r.Curve.Precision[i], w.Recall[i], w.Precision[i])
				}
			}
		}
	}
}

// TestHandChecked works the devkit rules through small cases by hand.
func TestHandChecked(t *testing.T) {
	box := [4]float64{1, 1, 10, 10} // 100 pixels
	gt := map[string][]Object{
		"a": {{Name: "x", Box: box}, {Name: "x", Box: [4]float64{21, 21, 30, 30}, Difficult: true}},
		"b": {{Name: "x", Box: box}},
	}
	images := map[string]bool{"a": true, "b": true, "empty": true}
	tests := []struct {
		name   string
		dets   []Detection
		tp, fp int
		ap07   float64
		ap12   float64
	}{
		{"both found", []Detection{{"a", 0.9, box}, {"b", 0.8, box}}, 2, 0, 1, 1},
		// The duplicate of a taken object is a FP; difficult matches are neither.
		{"duplicate and difficult", []Detection{{"a", 0.9, box}, {"a", 0.8, box}, {"a", 0.7, [4]float64{21, 21, 30, 30}}}, 1, 1, 6.0 / 11, 0.5},
		// Equal scores keep file order: the FP first, then the TP.
		{"tie keeps file order", []Detection{{"empty", 0.5, box}, {"b", 0.5, box}}, 1, 1, 6.0 / 11 * 0.5, 0.25},
		// IoU exactly 0.5 is a match (≥): [1,1,10,10] vs [1,1,10,20]: 100/200.
		{"iou exactly at threshold", []Detection{{"b", 1, [4]float64{1, 1, 10, 20}}}, 1, 0, 6.0 / 11, 0.5},
		{"no detections", nil, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		for _, use07 := range []bool{true, false} {
			r, err := EvalClass("x", gt, images, tc.dets, 0.5, use07)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.ap12
			if use07 {
				want = tc.ap07
			}
			if r.TP != tc.tp || r.FP != tc.fp || r.NPos != 2 || math.Abs(r.AP-want) > 1e-15 {
				t.Errorf("%s (07=%v): tp %d fp %d npos %d AP %v, want %d %d 2 %v", tc.name, use07, r.TP, r.FP, r.NPos, r.AP, tc.tp, tc.fp, want)
			}
		}
	}
	if _, err := EvalClass("x", gt, images, []Detection{{"nope", 1, box}}, 0.5, false); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown image id: err = %v", err)
	}
	onlyDifficult := map[string][]Object{"a": {{Name: "x", Box: box, Difficult: true}}}
	if r, _ := EvalClass("x", onlyDifficult, images, nil, 0.5, false); !math.IsNaN(r.AP) {
		t.Errorf("class with only difficult objects: AP = %v, want NaN", r.AP)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	for _, tc := range []struct{ body, want string }{
		{"<annotation><object>", "malformed VOC XML"},
		{"<annotation><object><bndbox><xmin>1</xmin></bndbox></object></annotation>", "missing <name>"},
		{"<annotation><object><name>cat</name></object></annotation>", "missing <bndbox>"},
		{"<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax></bndbox></object></annotation>", "missing <bndbox><ymax>"},
		{"<annotation><object><name>cat</name><difficult>x</difficult></object></annotation>", "<difficult>"},
		{"<annotation><object><name>cat</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>", "<xmin> = \"a\""},
		{"<notvoc/>", "malformed VOC XML"},
	} {
		p := write("bad.xml", tc.body)
		_, err := ReadAnnotation(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadAnnotation(%q) error = %v, want %q and the path", tc.body, err, tc.want)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{"000001 0.5 1 2 3\n", ":1: 5 fields"},
		{"\n000001 high 1 2 3 4\n", ":2: score = \"high\""},
		{"000001 0.5 1 2 3 nan\n", "ymax"},
	} {
		p := write("cat.txt", tc.body)
		_, err := ReadDetections(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadDetections(%q) error = %v, want %q and the path", tc.body, err, tc.want)
		}
	}
	annots, dets := loadGolden(t)
	dets["horse"] = nil
	if _, err := Evaluate(annots, dets, 0.5, 2007); err == nil || !strings.Contains(err.Error(), `"horse"`) {
		t.Errorf("unknown class: err = %v", err)
	}
	delete(dets, "horse")
	delete(dets, "cat")
	if _, err := Evaluate(annots, dets, 0.5, 2007); err == nil || !strings.Contains(err.Error(), `"cat"`) {
		t.Errorf("missing class: err = %v", err)
	}
}
