package data

import (
	"bytes"
	"os"
	"testing"
)

// seedImages adds the image fixtures of testdata/data to a fuzz corpus.
func seedImages(f *testing.F) {
	for _, name := range []string{"gray8.png", "gray16.png", "palette.png", "rgb.jpg", "noisy_1.jpg"} {
		if b, err := os.ReadFile("../testdata/data/" + name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("\xff\xd8\xff"))
}

// FuzzDecodeImage: arbitrary bytes decode to an image or an error, never a
// panic; a decoded image has consistent sizes and values in [0, 1].
func FuzzDecodeImage(f *testing.F) {
	seedImages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeImage(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(m.Pix) != m.C*m.H*m.W {
			t.Fatalf("image %d×%d×%d with %d values", m.C, m.H, m.W, len(m.Pix))
		}
		for _, v := range m.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %g outside [0, 1]", v)
			}
		}
	})
}

// FuzzDecodeMask: arbitrary bytes decode to a label map or an error, never a
// panic.
func FuzzDecodeMask(f *testing.F) {
	seedImages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMask(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(m.Pix) != m.H*m.W {
			t.Fatalf("mask %d×%d with %d values", m.H, m.W, len(m.Pix))
		}
	})
}
