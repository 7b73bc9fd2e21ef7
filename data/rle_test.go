package data

import (
	"math/rand/v2"
	"testing"
)

func TestRLERoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		h, w := 1+rng.IntN(40), 1+rng.IntN(40)
		m := NewMask(h, w)
		// blobs so runs are long and short
		for i := range m.Pix {
			if rng.IntN(10) < 3 || (i > 0 && m.Pix[i-1] == 1 && rng.IntN(10) < 8) {
				m.Pix[i] = 1
			}
		}
		r := EncodeRLE(m, 1)
		back, err := ParseRLEString(r.String(), h, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Counts) != len(r.Counts) {
			t.Fatalf("counts %v, back %v", r.Counts, back.Counts)
		}
		for i := range r.Counts {
			if back.Counts[i] != r.Counts[i] {
				t.Fatalf("counts %v, back %v", r.Counts, back.Counts)
			}
		}
		d, err := back.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Pix) != string(m.Pix) {
			t.Fatal("decoded mask differs")
		}
	}
}

func TestRLEKnownString(t *testing.T) {
	// A 4×3 mask with column-major pixels 0 0 1 1 | 1 0 0 0 | 1 1 1 1:
	// runs 2 zeros, 3 ones, 3 zeros, 4 ones.
	m := NewMask(4, 3)
	for _, p := range [][2]int{{2, 0}, {3, 0}, {0, 1}, {0, 2}, {1, 2}, {2, 2}, {3, 2}} {
		m.Set(p[0], p[1], 1)
	}
	r := EncodeRLE(m, 1)
	if got := r.Counts; len(got) != 4 || got[0] != 2 || got[1] != 3 || got[2] != 3 || got[3] != 4 {
		t.Fatalf("counts %v, want [2 3 3 4]", got)
	}
	// pycocotools deltas from the count two back only from the fourth count on:
	// 2, 3, 3, 4-3=1 -> "2331".
	if s := r.String(); s != "2331" {
		t.Fatalf("string %q, want %q", s, "2331")
	}
	if r.Area() != 7 {
		t.Fatalf("area %d", r.Area())
	}
	if _, err := ParseRLEString("2331", 4, 4); err != nil {
		t.Fatal(err)
	}
	bad, _ := ParseRLEString("2331", 4, 4)
	if _, err := bad.Decode(); err == nil {
		t.Fatal("counts adding to 12 for 16 pixels: want an error")
	}
}

func TestRasterizePolygon(t *testing.T) {
	// A rectangle from (1,1) to (4,3) covers pixel centres x 1..3, y 1..2.
	m := RasterizePolygon([]float64{1, 1, 4, 1, 4, 3, 1, 3}, 5, 6)
	n := 0
	for y := 0; y < 5; y++ {
		for x := 0; x < 6; x++ {
			in := x >= 1 && x <= 3 && y >= 1 && y <= 2
			if (m.At(y, x) == 1) != in {
				t.Fatalf("pixel (%d,%d) = %d", x, y, m.At(y, x))
			}
			n += int(m.At(y, x))
		}
	}
	if n != 6 {
		t.Fatalf("%d pixels", n)
	}
}
