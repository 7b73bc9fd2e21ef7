package prplot

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSavePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pr.png")
	err := Save(path, "test", []Series{
		{Name: "cat", Recall: []float64{0.1, 0.5, 0.5, 1}, Precision: []float64{1, 0.8, 0.6, 0.5}},
		{Name: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("chart is %v", b)
	}
	if err := Save(filepath.Join(t.TempDir(), "no", "dir.png"), "", nil); err == nil || !strings.Contains(err.Error(), "dir.png") {
		t.Errorf("unwritable path: err = %v", err)
	}
}
