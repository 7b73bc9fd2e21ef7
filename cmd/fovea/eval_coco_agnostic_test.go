package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestEvalCOCOClassAgnostic: boxes found exactly but labelled with the wrong category
// score 0 per class and 1 class-agnostic (pycocotools' useCats = 0 gives 1 as well: every
// detection matches the object it covers).
func TestEvalCOCOClassAgnostic(t *testing.T) {
	dir := t.TempDir()
	gt := `{"images":[{"id":1,"width":100,"height":100}],
"categories":[{"id":1,"name":"circle"},{"id":2,"name":"square"}],
"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[10,10,20,20],"area":400,"iscrowd":0},
{"id":2,"image_id":1,"category_id":2,"bbox":[50,50,30,30],"area":900,"iscrowd":0}]}`
	dt := `[{"image_id":1,"category_id":2,"bbox":[10,10,20,20],"score":0.9},
{"image_id":1,"category_id":1,"bbox":[50,50,30,30],"score":0.8}]`
	gtPath, dtPath := filepath.Join(dir, "gt.json"), filepath.Join(dir, "dt.json")
	if err := os.WriteFile(gtPath, []byte(gt), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dtPath, []byte(dt), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		agnostic bool
		ap       float64
	}{{false, 0}, {true, 1}} {
		jsonPath := filepath.Join(dir, "out.json")
		args := []string{"eval", "coco", "--gt", gtPath, "--dt", dtPath, "--iou-type", "bbox", "--json", jsonPath}
		if c.agnostic {
			args = append(args, "--class-agnostic")
		}
		if _, err := runFovea(t, args...); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Stats       []float64
			PerCategory []struct{ Name string } `json:"per_category"`
		}
		b, _ := os.ReadFile(jsonPath)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Stats[0] != c.ap || got.Stats[8] != c.ap {
			t.Errorf("class-agnostic %v: AP %v, AR@100 %v, want %v", c.agnostic, got.Stats[0], got.Stats[8], c.ap)
		}
		if c.agnostic && (len(got.PerCategory) != 1 || got.PerCategory[0].Name != "object") {
			t.Errorf("class-agnostic categories %+v, want one \"object\"", got.PerCategory)
		}
	}
}
