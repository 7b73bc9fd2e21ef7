package data

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../testdata/data"

// loadFixtures reads testdata/data/images.json (made by scripts/golden_data.py).
func loadFixtures(t *testing.T) map[string][]float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]float64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadImageMatchesPillow(t *testing.T) {
	fx := loadFixtures(t)
	cases := []struct {
		file  string
		key   string
		c     int
		scale float64
	}{
		{"gray8.png", "gray8", 1, 255},
		{"gray16.png", "gray16", 1, 65535},
		{"rgb.png", "rgb", 3, 255},
		{"palette.png", "palette_rgb", 3, 255},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			m, err := ReadImage(filepath.Join(fixtures, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := fx[tc.key]
			if m.C != tc.c || len(m.Pix) != len(want) {
				t.Fatalf("got (%d,%d,%d), want %d channels and %d values", m.C, m.H, m.W, tc.c, len(want))
			}
			for i, w := range want {
				if math.Abs(float64(m.Pix[i])-w/tc.scale) > 1e-6 {
					t.Fatalf("value %d: got %v, want %v", i, m.Pix[i], w/tc.scale)
				}
			}
		})
	}
}

func TestReadJPEGMatchesPillow(t *testing.T) {
	fx := loadFixtures(t)
	// fovea converts YCbCr as libjpeg-turbo does (fancy chroma upsampling,
	// libjpeg's rounding); only the IDCTs differ, by a level or two.
	cases := []struct {
		file, key string
		h, w      int
	}{
		{"rgb.jpg", "jpeg", 16, 24},
		{"noisy_0.jpg", "noisy_0", 17, 23},
		{"noisy_1.jpg", "noisy_1", 17, 23},
		{"noisy_2.jpg", "noisy_2", 17, 23},
	}
	for _, tc := range cases {
		m, err := ReadImage(filepath.Join(fixtures, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if m.C != 3 || m.H != tc.h || m.W != tc.w {
			t.Fatalf("%s: shape (%d,%d,%d)", tc.file, m.C, m.H, m.W)
		}
		var sum, worst float64
		for i, w := range fx[tc.key] {
			d := math.Abs(float64(m.Pix[i])*255 - w)
			sum += d
			worst = max(worst, d)
		}
		mean := sum / float64(len(m.Pix))
		t.Logf("%s vs Pillow: mean %.3f, max %.0f levels", tc.file, mean, worst)
		if mean > 0.5 || worst > 4 {
			t.Errorf("%s differs from Pillow: mean %.2f, max %.0f levels", tc.file, mean, worst)
		}
	}
}

func TestReadPaletteMaskKeepsIndices(t *testing.T) {
	fx := loadFixtures(t)
	m, err := ReadMask(filepath.Join(fixtures, "palette.png"))
	if err != nil {
		t.Fatal(err)
	}
	want := fx["palette"]
	ignores := 0
	for i, w := range want {
		if float64(m.Pix[i]) != w {
			t.Fatalf("pixel %d: got %d, want %v", i, m.Pix[i], w)
		}
		if m.Pix[i] == Ignore {
			ignores++
		}
	}
	if ignores == 0 {
		t.Fatal("fixture has no 255 pixel")
	}
}

func TestPNGRoundTrip(t *testing.T) {
	dir := t.TempDir()
	img := NewImage(3, 4, 5)
	for i := range img.Pix {
		img.Pix[i] = float32(i%256) / 255
	}
	p := filepath.Join(dir, "a.png")
	if err := WritePNG(p, img); err != nil {
		t.Fatal(err)
	}
	got, err := ReadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Pix {
		if got.Pix[i] != img.Pix[i] {
			t.Fatalf("value %d: %v != %v", i, got.Pix[i], img.Pix[i])
		}
	}
	mask := NewMask(3, 4)
	copy(mask.Pix, []uint8{0, 1, 2, 255, 20, 7, 0, 0, 1, 1, 255, 3})
	mp := filepath.Join(dir, "m.png")
	if err := WriteMaskPNG(mp, mask); err != nil {
		t.Fatal(err)
	}
	gm, err := ReadMask(mp)
	if err != nil {
		t.Fatal(err)
	}
	if string(gm.Pix) != string(mask.Pix) {
		t.Fatalf("mask round trip: %v != %v", gm.Pix, mask.Pix)
	}
	// An RGB rendering in VOC colours reads back as indices too.
	rp := filepath.Join(dir, "rgbmask.png")
	if err := WritePNG(rp, Colorize(mask)); err != nil {
		t.Fatal(err)
	}
	gm, err = ReadMask(rp)
	if err != nil {
		t.Fatal(err)
	}
	if string(gm.Pix) != string(mask.Pix) {
		t.Fatalf("RGB mask: %v != %v", gm.Pix, mask.Pix)
	}
}

func TestVOCPalette(t *testing.T) {
	p := VOCPalette()
	want := map[int][3]uint8{0: {0, 0, 0}, 1: {128, 0, 0}, 2: {0, 128, 0}, 3: {128, 128, 0}, 15: {192, 128, 128}, 255: {224, 224, 192}}
	for i, w := range want {
		r, g, b, _ := p[i].RGBA()
		if [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)} != w {
			t.Errorf("palette[%d] = (%d,%d,%d), want %v", i, r>>8, g>>8, b>>8, w)
		}
	}
}

func TestReadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.png")
	os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	rgb := filepath.Join(dir, "rgb.png")
	img := NewImage(3, 2, 2)
	img.Pix[0] = 0.3 // not a VOC colour
	if err := WritePNG(rgb, img); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		read func() error
		file string
	}{
		{"missing image", func() error { _, err := ReadImage(filepath.Join(dir, "nope.jpg")); return err }, "nope.jpg"},
		{"corrupt image", func() error { _, err := ReadImage(corrupt); return err }, "corrupt.png"},
		{"missing mask", func() error { _, err := ReadMask(filepath.Join(dir, "nope.png")); return err }, "nope.png"},
		{"corrupt mask", func() error { _, err := ReadMask(corrupt); return err }, "corrupt.png"},
		{"RGB mask off palette", func() error { _, err := ReadMask(rgb); return err }, "rgb.png"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read()
			if err == nil || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("want an error naming %s, got %v", tc.file, err)
			}
		})
	}
}
