package data

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestShapesDeterministicWhateverGOMAXPROCS(t *testing.T) {
	cfg := ShapesConfig{Size: 64, Seed: 7}
	prev := runtime.GOMAXPROCS(1)
	a := GenerateShapes(cfg, "train", 24)
	runtime.GOMAXPROCS(4)
	b := GenerateShapes(cfg, "train", 24)
	runtime.GOMAXPROCS(prev)
	// A longer split starts with the same images.
	c := GenerateShapes(cfg, "train", 30)
	for i := 0; i < 24; i++ {
		if !bytes.Equal(a.pix[i], b.pix[i]) || !bytes.Equal(a.mask[i], b.mask[i]) || !bytes.Equal(a.pix[i], c.pix[i]) {
			t.Fatalf("image %d differs between runs", i)
		}
	}
	v := GenerateShapes(cfg, "val", 1)
	if bytes.Equal(v.pix[0], a.pix[0]) {
		t.Fatal("val image 0 equals train image 0")
	}
	d := GenerateShapes(ShapesConfig{Size: 64, Seed: 8}, "train", 1)
	if bytes.Equal(d.pix[0], a.pix[0]) {
		t.Fatal("seed does not change the data")
	}
}

func TestShapesContent(t *testing.T) {
	d, err := Shapes(ShapesConfig{Size: 128, Train: 200, Val: 1, Seed: 3}, "train")
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := Shapes(ShapesConfig{Size: 128, Train: 200, Val: 1, Seed: 3}, "train"); d2 != d {
		t.Fatal("second call did not come from the cache")
	}
	classPixels := make([]int, len(ShapesClasses))
	instances := make([]int, len(ShapesClasses))
	big := 0
	var colourSum [7][3]float64
	for i := 0; i < d.Len(); i++ {
		s, err := d.Get(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.Image.C != 3 || s.Image.H != 128 || s.Mask.W != 128 {
			t.Fatalf("sample %d has shape (%d,%d,%d)", i, s.Image.C, s.Image.H, s.Image.W)
		}
		if len(s.Boxes) == 0 {
			t.Fatalf("sample %d has no shape", i)
		}
		n := 128 * 128
		for p, v := range s.Mask.Pix {
			if int(v) >= len(ShapesClasses) {
				t.Fatalf("sample %d: label %d", i, v)
			}
			classPixels[v]++
			for c := 0; c < 3; c++ {
				colourSum[v][c] += float64(s.Image.Pix[c*n+p])
			}
		}
		inst := d.InstanceMap(i)
		for j, b := range s.Boxes {
			instances[b.Class]++
			if b.Width() >= 128/3 || b.Height() >= 128/3 {
				big++
			}
			// The box is tight around the instance's pixels, all of its class.
			x0, y0, x1, y1 := 128, 128, 0, 0
			for p, v := range inst.Pix {
				if int(v) != j {
					continue
				}
				if int(s.Mask.Pix[p]) != b.Class {
					t.Fatalf("sample %d box %d: pixel of class %d", i, j, s.Mask.Pix[p])
				}
				x0, y0, x1, y1 = min(x0, p%128), min(y0, p/128), max(x1, p%128+1), max(y1, p/128+1)
			}
			if (Box{X0: float32(x0), Y0: float32(y0), X1: float32(x1), Y1: float32(y1), Class: b.Class}) != b {
				t.Fatalf("sample %d box %d = %+v, pixels span (%d,%d)-(%d,%d)", i, j, b, x0, y0, x1, y1)
			}
		}
	}
	for k := 1; k < len(ShapesClasses); k++ {
		if instances[k] < 60 {
			t.Errorf("class %s: only %d instances in 200 images", ShapesClasses[k], instances[k])
		}
		// Colours are drawn independently of the class: every class's mean
		// colour is mid-grey-ish.
		for c := 0; c < 3; c++ {
			if m := colourSum[k][c] / float64(classPixels[k]); m < 0.35 || m > 0.65 {
				t.Errorf("class %s channel %d mean %.2f: colour gives the class away", ShapesClasses[k], c, m)
			}
		}
	}
	if frac := float64(classPixels[0]) / float64(200*128*128); frac < 0.4 || frac > 0.9 {
		t.Errorf("background fraction %.2f", frac)
	}
	if big < 50 {
		t.Errorf("only %d shapes span a third of the image", big)
	}
	t.Logf("pixels per class %v, instances %v, big %d", classPixels, instances, big)
}

func TestShapesIgnoreBorder(t *testing.T) {
	d := GenerateShapes(ShapesConfig{Size: 64, Seed: 1, IgnoreBorder: 1}, "train", 4)
	for i := 0; i < 4; i++ {
		s, _ := d.Get(i)
		ign := 0
		for y := 0; y < 64; y++ {
			for x := 0; x+1 < 64; x++ {
				a, b := s.Mask.At(y, x), s.Mask.At(y, x+1)
				if a != b && a != Ignore && b != Ignore {
					t.Fatalf("image %d: labels %d and %d touch at (%d,%d)", i, a, b, x, y)
				}
				if a == Ignore {
					ign++
				}
			}
		}
		if ign == 0 {
			t.Fatalf("image %d has no ignore pixel", i)
		}
	}
}

func TestShapesConfigErrors(t *testing.T) {
	for _, cfg := range []ShapesConfig{{Size: 8}, {Train: -1}, {MinShapes: 5, MaxShapes: 2},
		{MinRadius: 0.3, MaxRadius: 0.2}, {MinRadius: -0.1}, {MaxRadius: 1.5}} {
		if _, err := Shapes(cfg, "train"); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
	}
	if _, err := Shapes(ShapesConfig{}, "test"); err == nil {
		t.Error("unknown split: want an error")
	}
}

func BenchmarkShapes(b *testing.B) {
	for b.Loop() {
		GenerateShapes(ShapesConfig{Seed: 1}, "train", 100)
	}
}

// TestShapeAreas checks each class's geometry by counting the pixels inside a
// large shape against its area in closed form.
func TestShapeAreas(t *testing.T) {
	const r = 200.0
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 1; k <= 6; k++ {
		sh := newShape(rng, k, 1000, r/1000, r/1000)
		sh.cx, sh.cy = 500, 500
		sh.x0, sh.y0, sh.x1, sh.y1 = 0, 0, 1000, 1000
		n := 0
		for y := 0; y < 1000; y++ {
			for x := 0; x < 1000; x++ {
				if sh.inside(float32(x)+0.5, float32(y)+0.5) {
					n++
				}
			}
		}
		p := float64(sh.p)
		want := map[int]float64{
			1: math.Pi * r * r,                                // circle
			2: 4 * 0.8 * 0.8 * r * r,                          // square, half side 0.8 r
			3: 3 * math.Sqrt(3) / 4 * (1.15 * r) * (1.15 * r), // equilateral triangle, circumradius 1.15 r
			4: math.Pi * r * p * r,                            // ellipse
			5: 4 * 0.85 * 0.85 * p * r * r,                    // rectangle
			6: 3 * math.Sqrt(3) / 2 * r * r,                   // hexagon
		}[k]
		if math.Abs(float64(n)-want) > 0.01*want {
			t.Errorf("%s: %d pixels inside, want about %.0f", ShapesClasses[k], n, want)
		}
	}
}

func TestShapesRadius(t *testing.T) {
	d := GenerateShapes(ShapesConfig{Size: 128, Seed: 4, MinRadius: 0.05, MaxRadius: 0.08, MinShapes: 3, MaxShapes: 3}, "train", 20)
	for i := 0; i < d.Len(); i++ {
		s, _ := d.Get(i)
		for _, b := range s.Boxes {
			// The widest class (square, triangle) reaches 1.15 r from its centre.
			if b.Width() > 2*1.16*0.08*128+1 || b.Height() > 2*1.16*0.08*128+1 {
				t.Fatalf("image %d: box %+v larger than the largest radius allows", i, b)
			}
		}
	}
}

// TestShapesShiftedDomain: the shifted domain generates valid data, deterministic, with
// every class present, instance maps consistent with the masks, and other pixels than
// the default domain.
func TestShapesShiftedDomain(t *testing.T) {
	cfg := ShapesConfig{Size: 64, Train: 40, Val: 4, Seed: 3, Domain: DomainShifted}
	a := GenerateShapes(cfg, "train", 40)
	b := GenerateShapes(cfg, "train", 40)
	def := GenerateShapes(ShapesConfig{Size: 64, Seed: 3}, "train", 40)
	if got := a.Classes(); got[1] != "star" {
		t.Errorf("classes %q", got)
	}
	seen := map[int]bool{}
	for i := 0; i < a.Len(); i++ {
		sa, _ := a.Get(i)
		sb, _ := b.Get(i)
		sd, _ := def.Get(i)
		if !slicesEqual(sa.Image.Pix, sb.Image.Pix) {
			t.Fatalf("image %d differs between two generations", i)
		}
		if slicesEqual(sa.Image.Pix, sd.Image.Pix) {
			t.Fatalf("image %d is the default domain's", i)
		}
		inst := a.InstanceMap(i)
		for p, v := range inst.Pix {
			switch {
			case v == 255 && sa.Mask.Pix[p] != 0:
				t.Fatalf("image %d pixel %d: no instance but class %d", i, p, sa.Mask.Pix[p])
			case v != 255 && int(sa.Mask.Pix[p]) != sa.Boxes[v].Class:
				t.Fatalf("image %d pixel %d: instance %d of class %d, mask %d", i, p, v, sa.Boxes[v].Class, sa.Mask.Pix[p])
			}
		}
		for _, bx := range sa.Boxes {
			if bx.Class < 1 || bx.Class > 6 {
				t.Fatalf("class %d", bx.Class)
			}
			seen[bx.Class] = true
		}
	}
	if len(seen) != 6 {
		t.Errorf("classes seen %v, want all six", seen)
	}
	if _, err := Shapes(ShapesConfig{Domain: "other"}, "train"); err == nil {
		t.Error("unknown domain accepted")
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
