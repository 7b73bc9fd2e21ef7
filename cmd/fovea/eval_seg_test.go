package main

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEvalSegGolden(t *testing.T) {
	dir := "../../testdata/metrics/seg"
	jsonPath := filepath.Join(t.TempDir(), "seg.json")
	out, err := runFovea(t, "eval", "seg", "--gt", dir+"/gt", "--pred", dir+"/pred", "--num-classes", "9", "--json", jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "aAcc 73.49  mAcc 73.24  mIoU 49.08") {
		t.Errorf("summary line missing from output:\n%s", out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "expected.json"))
	var want []map[string]any
	json.Unmarshal(b, &want)
	var w map[string]any
	for _, c := range want {
		if c["num_classes"].(float64) == 9 {
			w = c
		}
	}
	for _, k := range []string{"aAcc", "mAcc", "mIoU", "fwIoU", "mDice"} {
		if got[k] != w[k] {
			t.Errorf("%s = %v, want %v", k, got[k], w[k])
		}
	}
	gp, wp := got["per_class"].(map[string]any), w["per_class"].(map[string]any)
	for _, k := range []string{"IoU", "Acc", "Dice"} {
		g, wv := gp[k].([]any), wp[k].([]any)
		if len(g) != 9 {
			t.Fatalf("per_class.%s has %d values, want 9", k, len(g))
		}
		for i := range g {
			if g[i] != wv[i] {
				t.Errorf("per_class.%s[%d] = %v, want %v", k, i, g[i], wv[i])
			}
		}
	}
}

func TestEvalSegErrors(t *testing.T) {
	dir := t.TempDir()
	gt, pred := filepath.Join(dir, "gt"), filepath.Join(dir, "pred")
	os.Mkdir(gt, 0o755)
	os.Mkdir(pred, 0o755)
	write := func(path string, w, h int) {
		f, _ := os.Create(path)
		png.Encode(f, image.NewGray(image.Rect(0, 0, w, h)))
		f.Close()
	}
	write(filepath.Join(gt, "a.png"), 4, 3)
	write(filepath.Join(pred, "a.png"), 3, 4)
	write(filepath.Join(gt, "b.png"), 4, 3)
	os.WriteFile(filepath.Join(gt, "c.png"), []byte("garbage"), 0o644)
	write(filepath.Join(pred, "c.png"), 4, 3)
	_, err := runFovea(t, "eval", "seg", "--gt", gt, "--pred", pred, "--num-classes", "3")
	if err == nil {
		t.Fatal("bad input accepted")
	}
	for _, want := range []string{"a.png: prediction is 3x4", "b.png: no prediction", "c.png: not a PNG"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := runFovea(t, "eval", "seg", "--gt", gt, "--pred", pred, "--num-classes", "0"); err == nil || !strings.Contains(err.Error(), "--num-classes") {
		t.Errorf("missing --num-classes: %v", err)
	}
}

func evalItoa(i int) string     { return strconv.Itoa(i) }
func evalFtoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
