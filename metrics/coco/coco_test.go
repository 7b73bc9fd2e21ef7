package coco

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const testdata = "../../testdata/metrics/coco"

type goldenCase struct {
	GT          string `json:"gt"`
	Results     string `json:"results"`
	IoUType     string `json:"iou_type"`
	Stats       []string
	Summary     string
	PerCategory []struct {
		CategoryID int64 `json:"category_id"`
		Name       string
		AP         string
	} `json:"per_category"`
	Recall    []string
	Precision *struct {
		Values []string
		Index  []int
	} `json:"precision_all_100"`
}

func hex(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestGoldenPycocotools runs every case of testdata/metrics/coco (made by
// pycocotools through scripts/golden_metrics.py) and compares the stats, the
// printed summary, per-category AP, recall and precision bit for bit.
func TestGoldenPycocotools(t *testing.T) {
	for _, c := range loadCases(t) {
		name := c.Results + "/" + c.IoUType
		gt, err := LoadDataset(filepath.Join(testdata, c.GT))
		if err != nil {
			t.Fatal(err)
		}
		dts, err := LoadResults(filepath.Join(testdata, c.Results), gt)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 2} {
			e, err := Evaluate(gt, dts, DefaultParams(c.IoUType), workers)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.Stats {
				if w := hex(t, s); e.Stats[i] != w {
					t.Errorf("%s: stats[%d] = %v, want %v", name, i, e.Stats[i], w)
				}
			}
			if got := e.Summary(); got != c.Summary {
				t.Errorf("%s: summary\n%s\nwant\n%s", name, got, c.Summary)
			}
			for k, pc := range c.PerCategory {
				if e.CatIDs[k] != pc.CategoryID {
					t.Fatalf("%s: category %d id %d, want %d", name, k, e.CatIDs[k], pc.CategoryID)
				}
				if got, w := e.CategoryAP(k), hex(t, pc.AP); got != w {
					t.Errorf("%s: category %d AP = %v, want %v", name, pc.CategoryID, got, w)
				}
			}
			for i, s := range c.Recall {
				if w := hex(t, s); e.Recall[i] != w {
					t.Errorf("%s: recall[%d] = %v, want %v", name, i, e.Recall[i], w)
					break
				}
			}
			if c.Precision != nil {
				p := &e.Params
				T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), len(e.CatIDs), len(p.AreaRng), len(p.MaxDets)
				n := 0
				for tt := range T {
					for r := range R {
						for k := range K {
							w := hex(t, c.Precision.Values[c.Precision.Index[n]])
							if got := e.Precision[((tt*R+r)*K+k)*A*M+M-1]; got != w {
								t.Fatalf("%s: precision[%d,%d,%d,all,100] = %v, want %v", name, tt, r, k, got, w)
							}
							n++
						}
					}
				}
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	gtPath := filepath.Join(testdata, "small_gt.json")
	gt, err := LoadDataset(gtPath)
	if err != nil {
		t.Fatal(err)
	}
	img := gt.Images[0]
	for _, tc := range []struct{ body, want string }{
		{`{"images": [], "categories": [], "annotations": [}`, "line 1 column"},
		{`[1, 2]`, "a COCO annotation file is a JSON object"},
		{`{"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0,0,1,1], "area": 1}]}`, "image_id 2 is not in images"},
		{`{"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1], "area": 1}]}`, "category_id 3 is not in categories"},
		{`{"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0,0,1], "area": 1}]}`, "annotations[0].bbox: 3 numbers"},
		{`{"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0,0,1,1]}]}`, `annotations[0]: no "area"`},
		{`{"images": [{"id": 1.5}], "categories": [], "annotations": []}`, "expected an integer id"},
		{`{"images": [{"id": 1}], "categories": []}`, `no "annotations" list`},
	} {
		_, err := ParseDataset("gt.json", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "gt.json") {
			t.Errorf("ParseDataset(%s) error = %v, want %q", tc.body, err, tc.want)
		}
	}
	id := strconv.FormatInt(img.ID, 10)
	size := `"size": [` + strconv.Itoa(img.Height) + `, ` + strconv.Itoa(img.Width) + `]`
	for _, tc := range []struct{ body, want string }{
		{`{"image_id": 1}`, "JSON list of detections"},
		{`[{"image_id": 999999, "category_id": 1, "bbox": [0,0,1,1], "score": 1}]`, "image_id 999999 is not in"},
		{`[{"image_id": ` + id + `, "category_id": 77, "bbox": [0,0,1,1], "score": 1}]`, "category_id 77 is not in"},
		{`[{"image_id": ` + id + `, "category_id": 1, "bbox": [0,0,1,1]}]`, `no "score"`},
		{`[{"image_id": ` + id + `, "category_id": 1, "bbox": [0,0,1,1], "score": 1}, {"image_id": ` + id + `, "category_id": 1, "score": 1, "segmentation": {` + size + `, "counts": "0"}}]`, `results[1]: no "bbox"`},
		{`[{"image_id": ` + id + `, "category_id": 1, "score": 1, "segmentation": {"size": [3, 4], "counts": "<"}}]`, "differs from the image's"},
		{`[{"image_id": ` + id + `, "category_id": 1, "score": 1, "segmentation": {` + size + `, "counts": "1"}}]`, "malformed compressed RLE"},
		{`[{"image_id": ` + id + `, "category_id": 1, "score": 0.5, "bbox": [0,0,1,1]},]`, "line 1 column"},
	} {
		_, err := ParseResults("res.json", []byte(tc.body), gt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "res.json") {
			t.Errorf("ParseResults(%s) error = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestNumberParsing(t *testing.T) {
	for _, s := range []string{"0", "-0.5", "123.456", "1e-7", "0.1", "2.675", "1234567890.123456789", "5e-324", "1.7976931348623157e308", "0.30000000000000004", "98.76543210987654"} {
		sc := &scanner{data: []byte(s), file: "x"}
		got, err := sc.num()
		want, _ := strconv.ParseFloat(s, 64)
		if err != nil || got != want {
			t.Errorf("num(%s) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"NaN", "-", "1.", "abc"} {
		sc := &scanner{data: []byte(s), file: "x"}
		if _, err := sc.num(); err == nil {
			t.Errorf("num(%s) accepted", s)
		}
	}
}
