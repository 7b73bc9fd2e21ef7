package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam/automask"
)

// samAutoKeep are the options of testdata/sam/automask_crops.json (scripts/golden_automask.py),
// which keep ten of the random tiny model's masks on automask_image_small.png.
var samAutoKeep = []string{"--points-per-side", "6", "--points-per-batch", "10", "--pred-iou-thresh", "0.1",
	"--stability-score-thresh", "0.15", "--stability-score-offset", "0.005", "--box-nms-thresh", "0.97",
	"--crop-n-layers", "1", "--crop-nms-thresh", "0.97", "--crop-n-points-downscale-factor", "2"}

func samAutoArgs(img, out string, extra ...string) []string {
	args := []string{"sam", "auto", "--checkpoint", samFixtures + "tiny_win.pth", "--config", samFixtures + "tiny_win.json",
		"--image", img, "--out", out}
	return append(append(args, samAutoKeep...), extra...)
}

func TestSAMAutoCOCO(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "small.png")
	b, err := os.ReadFile(samFixtures + "automask_image_small.png")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(img, b, 0o644)
	var golden struct {
		Records []struct {
			Segmentation struct {
				Size   [2]int   `json:"size"`
				Counts []uint32 `json:"counts"`
			} `json:"segmentation"`
			PredictedIoU float64 `json:"predicted_iou"`
		} `json:"records"`
	}
	gb, err := os.ReadFile(samFixtures + "automask_crops.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gb, &golden); err != nil {
		t.Fatal(err)
	}
	// A COCO annotation file naming the image (id 42) with the reference's first mask as
	// its one object.
	g0 := golden.Records[0].Segmentation
	gtPath := filepath.Join(dir, "gt.json")
	gt := map[string]any{
		"images":     []any{map[string]any{"id": 42, "file_name": "small.png", "width": 48, "height": 36}},
		"categories": []any{map[string]any{"id": 1, "name": "thing"}},
		"annotations": []any{map[string]any{"id": 1, "image_id": 42, "category_id": 1, "iscrowd": 0,
			"area": rle.RLE{H: 36, W: 48, Counts: g0.Counts}.Area(), "bbox": []int{0, 0, 30, 24},
			"segmentation": map[string]any{"size": g0.Size, "counts": g0.Counts}}},
	}
	gtb, _ := json.Marshal(gt)
	os.WriteFile(gtPath, gtb, 0o644)

	out := filepath.Join(dir, "out")
	if _, err := runFovea(t, samAutoArgs(img, out, "--format", "coco", "--coco-gt", gtPath)...); err != nil {
		t.Fatal(err)
	}
	var recs []automask.Record
	rb, err := os.ReadFile(filepath.Join(out, "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(golden.Records) {
		t.Fatalf("%d records, the reference has %d", len(recs), len(golden.Records))
	}
	for i, r := range recs {
		want := rle.RLE{H: 36, W: 48, Counts: golden.Records[i].Segmentation.Counts}.String()
		if r.Segmentation.Mode != automask.COCORLE || r.Segmentation.Counts() != want {
			t.Errorf("record %d: counts %q, want %q", i, r.Segmentation.Counts(), want)
		}
	}
	var results []struct {
		ImageID    int64   `json:"image_id"`
		CategoryID int64   `json:"category_id"`
		Score      float64 `json:"score"`
	}
	cb, err := os.ReadFile(filepath.Join(out, "coco_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &results); err != nil || len(results) != len(recs) || results[0].ImageID != 42 ||
		results[0].CategoryID != 1 || results[0].Score != recs[0].PredictedIoU {
		t.Fatalf("coco_results.json: %s (%v)", cb, err)
	}
	if _, err := os.Stat(filepath.Join(out, "small_overlay.png")); err != nil {
		t.Error(err)
	}
	// fovea eval coco scores it; the reference's own first mask is among the detections,
	// so the object is found at every IoU threshold.
	sum, err := runFovea(t, "eval", "coco", "--gt", gtPath, "--dt", filepath.Join(out, "coco_results.json"), "--iou-type", "segm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum, "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000") {
		t.Errorf("eval coco:\n%s", sum)
	}
}

func TestSAMAutoFolder(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(imgs, 0o755)
	writeTestImage(t, filepath.Join(imgs, "a.png"), 48, 36)
	b, _ := os.ReadFile(samFixtures + "automask_image_small.png")
	os.WriteFile(filepath.Join(imgs, "b.png"), b, 0o644)
	os.WriteFile(filepath.Join(imgs, "notes.txt"), []byte("not an image"), 0o644)
	out := filepath.Join(dir, "out")
	msg, err := runFovea(t, samAutoArgs(imgs, out)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "of 2 image(s)") || !strings.Contains(msg, "encoding crop 1/5") {
		t.Errorf("output: %q", msg)
	}
	var recs []struct {
		Segmentation string `json:"segmentation"`
		Area         int    `json:"area"`
	}
	rb, err := os.ReadFile(filepath.Join(out, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &recs); err != nil || len(recs) != 10 {
		t.Fatalf("b.json: %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		f, err := os.Open(filepath.Join(out, r.Segmentation))
		if err != nil {
			t.Fatal(err)
		}
		m, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		area := 0
		for y := 0; y < 36; y++ {
			for x := 0; x < 48; x++ {
				if r, _, _, _ := m.At(x, y).RGBA(); r != 0 {
					area++
				}
			}
		}
		if m.Bounds().Dx() != 48 || area != r.Area {
			t.Errorf("%s: %v, %d pixels, want area %d", r.Segmentation, m.Bounds(), area, r.Area)
		}
	}
	for _, f := range []string{"a.json", "a_overlay.png", "b_overlay.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// --format rle: the same masks as uncompressed RLE.
	out2 := filepath.Join(dir, "out2")
	if _, err := runFovea(t, samAutoArgs(filepath.Join(imgs, "b.png"), out2, "--format", "rle")...); err != nil {
		t.Fatal(err)
	}
	var recs2 []automask.Record
	rb2, _ := os.ReadFile(filepath.Join(out2, "b.json"))
	if err := json.Unmarshal(rb2, &recs2); err != nil || len(recs2) != 10 || recs2[0].Segmentation.Mode != automask.UncompressedRLE {
		t.Fatalf("rle b.json: %v", err)
	}
	for i := range recs2 {
		if recs2[i].Area != recs[i].Area {
			t.Errorf("record %d: area %d in rle, %d in png", i, recs2[i].Area, recs[i].Area)
		}
	}
}

func TestSAMAutoBadInput(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img.png")
	writeTestImage(t, img, 20, 10)
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	ckpt := samFixtures + "tiny_win.pth"
	base := func(extra ...string) []string {
		return append([]string{"sam", "auto", "--checkpoint", ckpt, "--config", samFixtures + "tiny_win.json"}, extra...)
	}
	cases := []struct {
		args []string
		want string
	}{
		{base("--image", img), "needs --image and --out"},
		{base("--image", img, "--out", dir, "--format", "jpg"), `--format "jpg"`},
		{base("--image", img, "--out", dir, "--points-per-batch", "0"), "points_per_batch 0"},
		{base("--image", img, "--out", dir, "--crop-n-layers", "2", "--points-per-side", "2", "--crop-n-points-downscale-factor", "2"), "gets no points"},
		{base("--image", filepath.Join(dir, "nope.png"), "--out", dir), "nope.png"},
		{base("--image", empty, "--out", dir), "no PNG or JPEG images"},
		{base("--image", img, "--out", dir, "--coco-gt", img), "--coco-gt needs --format coco"},
		{base("--image", img, "--out", dir, "--format", "coco", "--coco-gt", img), "not a COCO annotation file"},
		{[]string{"sam", "auto", "--image", img, "--out", dir}, "--checkpoint is required"},
		{[]string{"sam", "auto", "--checkpoint", img, "--image", img, "--out", dir}, "img.png"},
	}
	for _, c := range cases {
		_, err := runFovea(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", c.args, err, c.want)
		}
	}
	// An image missing from --coco-gt.
	gt := filepath.Join(dir, "gt.json")
	os.WriteFile(gt, []byte(`{"images":[{"id":1,"file_name":"other.png"}]}`), 0o644)
	_, err := runFovea(t, base("--image", img, "--out", dir, "--format", "coco", "--coco-gt", gt, "--points-per-side", "2")...)
	if err == nil || !strings.Contains(err.Error(), `no image with file_name "img.png"`) {
		t.Errorf("missing image id: %v", err)
	}
}
