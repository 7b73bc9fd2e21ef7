package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEvalCOCOGolden(t *testing.T) {
	dir := "../../testdata/metrics/coco"
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
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
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases[:4] {
		tmp := t.TempDir()
		jsonPath := filepath.Join(tmp, "coco.json")
		out, err := runFovea(t, "eval", "coco", "--gt", filepath.Join(dir, c.GT), "--dt", filepath.Join(dir, c.Results),
			"--iou-type", c.IoUType, "--json", jsonPath, "--pr-curve", filepath.Join(tmp, "pr.png"))
		if err != nil {
			t.Fatal(err)
		}
		if out != c.Summary {
			t.Errorf("%s: printed\n%s\nwant pycocotools'\n%s", c.Results, out, c.Summary)
		}
		var got struct {
			Stats       []float64
			PerCategory []struct {
				CategoryID int64 `json:"category_id"`
				Name       string
				AP         float64
			} `json:"per_category"`
		}
		b, _ := os.ReadFile(jsonPath)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for i, s := range c.Stats {
			w, _ := strconv.ParseFloat(s, 64)
			if got.Stats[i] != w {
				t.Errorf("%s: stats[%d] = %v, want %v", c.Results, i, got.Stats[i], w)
			}
		}
		for i, pc := range c.PerCategory {
			w, _ := strconv.ParseFloat(pc.AP, 64)
			g := got.PerCategory[i]
			if g.CategoryID != pc.CategoryID || g.Name != pc.Name || g.AP != w {
				t.Errorf("%s: per_category[%d] = %+v, want %+v", c.Results, i, g, pc)
			}
		}
	}
}

func TestEvalCOCOErrors(t *testing.T) {
	dir := "../../testdata/metrics/coco"
	gt := filepath.Join(dir, "small_gt.json")
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.json")
	os.WriteFile(bad, []byte(`[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}`), 0o644)
	unknownCat := filepath.Join(tmp, "cat.json")
	var gtData struct{ Images []struct{ ID int64 } }
	b, _ := os.ReadFile(gt)
	json.Unmarshal(b, &gtData)
	os.WriteFile(unknownCat, []byte(`[{"image_id": `+strconv.FormatInt(gtData.Images[0].ID, 10)+`, "category_id": 1234, "bbox": [1, 2, 3, 4], "score": 0.5}]`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gt", gt, "--dt", filepath.Join(tmp, "none.json")}, "none.json: no such file"},
		{[]string{"--gt", gt, "--dt", bad}, "bad.json: line 1 column"},
		{[]string{"--gt", gt, "--dt", unknownCat}, "category_id 1234 is not in"},
		{[]string{"--gt", bad, "--dt", unknownCat}, "bad.json: line 1 column 1: a COCO annotation file is a JSON object"},
		{[]string{"--gt", gt, "--dt", unknownCat, "--iou-type", "keypoints"}, `--iou-type = "keypoints"`},
	} {
		_, err := runFovea(t, append([]string{"eval", "coco", "--iou-type", "bbox"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
