package voc

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadAnnotation: arbitrary XML gives an annotation or an error naming
// the file, never a panic; boxes that are accepted are finite.
func FuzzReadAnnotation(f *testing.F) {
	for _, name := range []string{"000001.xml", "000002.xml"} {
		if b, err := os.ReadFile(filepath.Join("../../testdata/metrics/voc/Annotations", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>`))
	f.Add([]byte(`<annotation><object><name>cat</name><difficult>x</difficult></object>`))
	dir := f.TempDir() // one per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "a.xml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadAnnotation(path)
	})
}

// FuzzReadDetections: arbitrary detection files ("image score x0 y0 x1 y1"
// lines) give detections or an error, never a panic.
func FuzzReadDetections(f *testing.F) {
	if b, err := os.ReadFile("../../testdata/metrics/voc/dets/cat.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("000001 0.9 1 2 3 4\n000002 NaN 1 2 3 4\n"))
	f.Add([]byte("a 1e400 -1 -2 -3 -4\n\n"))
	dir := f.TempDir() // one per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "cat.txt")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadDetections(path)
	})
}
