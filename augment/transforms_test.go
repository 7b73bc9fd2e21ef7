package augment

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/data"
)

// marked returns a 1×h×w sample whose image and mask hold a distinct value
// per pixel (mask: (y*w+x)%200) and one box.
func marked(h, w int) data.Sample {
	img := data.NewImage(1, h, w)
	m := data.NewMask(h, w)
	for i := range img.Pix {
		img.Pix[i] = float32(i)
		m.Pix[i] = uint8(i % 200)
	}
	return data.Sample{Image: img, Mask: m, Boxes: []data.Box{{X0: 1, Y0: 2, X1: 4, Y1: 5, Class: 3}}}
}

func TestFlip(t *testing.T) {
	s := Flip(marked(3, 5))
	if s.Image.At(0, 1, 0) != 9 || s.Mask.At(2, 4) != 10 {
		t.Fatalf("flipped image row 1 starts with %v", s.Image.At(0, 1, 0))
	}
	if b := s.Boxes[0]; b.X0 != 1 || b.X1 != 4 {
		t.Fatalf("box %+v", b)
	}
	hits := 0
	rng := rand.New(rand.NewPCG(1, 1))
	for k := 0; k < 1000; k++ {
		out := HorizontalFlip{P: 0.3}.Apply(rng, marked(2, 3))
		if out.Image.At(0, 0, 0) == 2 {
			hits++
		}
	}
	if hits < 250 || hits > 350 {
		t.Fatalf("flipped %d of 1000 with P 0.3", hits)
	}
}

func TestCropAndPad(t *testing.T) {
	s := Crop(marked(6, 8), 1, 2, 3, 4)
	if s.Image.H != 3 || s.Image.W != 4 || s.Image.At(0, 0, 0) != 10 || s.Mask.At(2, 3) != 29 {
		t.Fatalf("crop: (%d,%d) first %v", s.Image.H, s.Image.W, s.Image.At(0, 0, 0))
	}
	// Box (1,2)-(4,5) shifted by (-2,-1) and clipped to (0,0)-(4,3).
	if b := s.Boxes[0]; b != (data.Box{X0: 0, Y0: 1, X1: 2, Y1: 3, Class: 3}) {
		t.Fatalf("box %+v", b)
	}
	if s := Crop(marked(6, 8), 0, 5, 2, 3); len(s.Boxes) != 0 {
		t.Fatalf("box outside the window kept: %+v", s.Boxes)
	}
	p := PadTo(marked(2, 3), 4, 5, []float32{-1}, data.Ignore)
	if p.Image.H != 4 || p.Image.W != 5 || p.Image.At(0, 1, 2) != 5 || p.Image.At(0, 3, 4) != -1 || p.Mask.At(1, 4) != data.Ignore || p.Mask.At(1, 1) != 4 {
		t.Fatalf("pad: %v / %v", p.Image.Pix, p.Mask.Pix)
	}
	rc := NewRandomCrop(4, 4)
	rng := rand.New(rand.NewPCG(2, 2))
	corners := map[[2]int]bool{}
	for k := 0; k < 200; k++ {
		out := rc.Apply(rng, marked(6, 5))
		if out.Image.H != 4 || out.Image.W != 4 {
			t.Fatalf("random crop gave (%d,%d)", out.Image.H, out.Image.W)
		}
		v := int(out.Image.At(0, 0, 0))
		corners[[2]int{v / 5, v % 5}] = true
	}
	if len(corners) != 6 { // top 0..2, left 0..1
		t.Fatalf("random crop corners %v", corners)
	}
	small := rc.Apply(rng, marked(2, 3))
	ign := 0
	for _, v := range small.Mask.Pix {
		if v == data.Ignore {
			ign++
		}
	}
	if ign != 16-6 {
		t.Fatalf("padded crop has %d ignore pixels, want 10", ign)
	}
}

func TestResizeSampleBoxesAndRandomScale(t *testing.T) {
	s := Resize{H: 12, W: 4}.Apply(nil, marked(6, 8))
	if b := s.Boxes[0]; b != (data.Box{X0: 0.5, Y0: 4, X1: 2, Y1: 10, Class: 3}) {
		t.Fatalf("box %+v", b)
	}
	if s.Mask.H != 12 || s.Mask.W != 4 || s.Mask.At(0, 1) != 2 {
		t.Fatalf("mask %v", s.Mask.Pix)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	seen := map[int]bool{}
	for k := 0; k < 100; k++ {
		out := RandomScale{Min: 0.5, Max: 2}.Apply(rng, marked(10, 20))
		if out.Image.H < 5 || out.Image.H > 20 || out.Image.W < 2*out.Image.H-1 || out.Image.W > 2*out.Image.H+1 || out.Mask.H != out.Image.H {
			t.Fatalf("scaled to (%d,%d)", out.Image.H, out.Image.W)
		}
		seen[out.Image.H] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d sizes", len(seen))
	}
}

func TestColorJitterAndNormalize(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	base := data.NewImage(3, 4, 4)
	for i := range base.Pix {
		base.Pix[i] = float32(i%7) / 7
	}
	changed := 0
	for k := 0; k < 20; k++ {
		s := ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1}.Apply(rng, data.Sample{Image: base.Clone()})
		for i, v := range s.Image.Pix {
			if v < 0 || v > 1 {
				t.Fatalf("jitter value %v out of [0,1]", v)
			}
			if v != base.Pix[i] {
				changed++
				break
			}
		}
	}
	if changed != 20 {
		t.Fatalf("%d of 20 jittered images changed", changed)
	}
	s := Normalize{Mean: []float32{0.5, 0, 1}, Std: []float32{0.5}}.Apply(nil, data.Sample{Image: base.Clone()})
	if s.Image.At(0, 0, 1) != (base.At(0, 0, 1)-0.5)/0.5 || s.Image.At(2, 1, 1) != (base.At(2, 1, 1)-1)*2 {
		t.Fatal("normalize")
	}
}

func TestComposeDeterministicAndIndependent(t *testing.T) {
	pipe := Compose(RandomScale{Min: 0.8, Max: 1.2}, NewRandomCrop(8, 8), HorizontalFlip{P: 0.5},
		ColorJitter{Brightness: 0.3}, NewRandomErasing())
	run := func(seed uint64) string {
		s := data.Sample{Image: data.NewImage(3, 10, 10), Mask: data.NewMask(10, 10)}
		for i := range s.Image.Pix {
			s.Image.Pix[i] = float32(i%13) / 13
		}
		out := pipe.Apply(rand.New(rand.NewPCG(seed, 0)), s)
		return fmt.Sprint(out.Image.Pix, out.Mask.Pix)
	}
	if run(1) != run(1) {
		t.Fatal("same seed, different result")
	}
	if run(1) == run(2) {
		t.Fatal("different seeds, same result")
	}
	// Each transform's stream does not depend on how much another used: a
	// crop after a flip sees the same window whether or not the flip's P
	// makes it draw.
	crop := NewRandomCrop(3, 3)
	a := Compose(HorizontalFlip{P: 0}, crop).Apply(rand.New(rand.NewPCG(9, 9)), marked(6, 6))
	b := Compose(ColorJitter{Brightness: 0.5, Contrast: 0.5}, crop).Apply(rand.New(rand.NewPCG(9, 9)), marked(6, 6))
	if a.Mask.At(0, 0) != b.Mask.At(0, 0) {
		t.Fatal("crop window depends on the previous transform's draws")
	}
}

func TestToTensor(t *testing.T) {
	img, mask := ToTensor(marked(2, 3))
	if fmt.Sprint(img.Shape()) != "[1 2 3]" || fmt.Sprint(mask.Shape()) != "[2 3]" || mask.Data()[4] != 4 {
		t.Fatalf("shapes %v %v", img.Shape(), mask.Shape())
	}
}
