package seg

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadLabelMap: any bytes in a label-map file give a label map or an
// error naming the file, never a panic.
func FuzzReadLabelMap(f *testing.F) {
	for _, name := range []string{"gt/img0.png", "pred/img0.png"} {
		if b, err := os.ReadFile(filepath.Join("../../testdata/metrics/seg", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x00\x00\x00\x01\x00\x00\x08\x00"))
	dir := f.TempDir() // one per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "m.png")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadLabelMap(path)
		if err == nil && len(m.Pix) != m.Height*m.Width {
			t.Fatalf("label map %d×%d with %d values", m.Height, m.Width, len(m.Pix))
		}
	})
}
