package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
)

func TestDataExportAndPreview(t *testing.T) {
	dir := t.TempDir()
	out, err := runFovea(t, "data", "export", "shapes", "--out", dir, "--train", "5", "--val", "2", "--size", "32", "--seed", "4", "--format", "png")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "train 5, val 2") {
		t.Errorf("output %q", out)
	}
	v, err := data.OpenVOC(dir, "val", data.VOCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Get(1)
	if err != nil || s.Image.H != 32 || s.Mask == nil || len(s.Boxes) == 0 {
		t.Fatalf("exported sample: %+v, %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "annotations", "instances_train.json")); err != nil {
		t.Fatal(err)
	}

	grid := filepath.Join(dir, "grid.png")
	_, err = runFovea(t, "data", "preview", "--dataset", "voc", "--root", dir, "--split", "train", "--n", "4", "--cols", "2",
		"--augment", "flip,crop:size=24x24,random-erasing:p=1:labels=ignore", "--out", grid)
	if err != nil {
		t.Fatal(err)
	}
	img, err := data.ReadImage(grid)
	if err != nil {
		t.Fatal(err)
	}
	// 2 rows of 4 cells of 24 pixels with 3-pixel gaps.
	if img.W != 4*24+5*3 || img.H != 2*24+3*3 {
		t.Fatalf("grid is %d×%d", img.W, img.H)
	}
}

func TestDataCommandErrors(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"data", "export", "cats", "--out", dir},
		{"data", "export", "shapes", "--out", dir, "--train", "1", "--val", "1", "--size", "3"},
		{"data", "export", "shapes", "--out", dir, "--train", "1", "--val", "1", "--format", "gif"},
		{"data", "preview", "--out", filepath.Join(dir, "g.png"), "--dataset", "shapes", "--augment", "blur"},
		{"data", "preview", "--out", filepath.Join(dir, "g.png"), "--dataset", "voc", "--root", filepath.Join(dir, "nope")},
		{"data", "preview", "--out", filepath.Join(dir, "g.png"), "--dataset", "coco", "--ann", filepath.Join(dir, "nope.json"), "--images", dir},
	}
	for _, args := range cases {
		if _, err := runFovea(t, args...); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}
