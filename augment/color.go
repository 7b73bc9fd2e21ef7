package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
)

// blend returns clamp(ratio·a + (1−ratio)·b, 0, 1), torchvision's _blend.
func blend(a, b, ratio float32) float32 {
	return min(max(ratio*a+(1-ratio)*b, 0), 1)
}

// grey returns torchvision's luma 0.2989 R + 0.587 G + 0.114 B of pixel i.
func grey(r, g, b []float32, i int) float32 {
	return 0.2989*r[i] + 0.587*g[i] + 0.114*b[i]
}

// AdjustBrightness multiplies img by f and clamps to [0, 1], in place, as
// torchvision's adjust_brightness.
func AdjustBrightness(img *data.Image, f float32) {
	for i, v := range img.Pix {
		img.Pix[i] = blend(v, 0, f)
	}
}

// AdjustContrast blends img (C = 1 or 3) with its mean grey level by f, in
// place, as torchvision's adjust_contrast: f = 0 gives a flat grey image, 1
// the original.
func AdjustContrast(img *data.Image, f float32) {
	var mean float64
	n := img.H * img.W
	switch img.C {
	case 3:
		r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
		for i := 0; i < n; i++ {
			mean += float64(grey(r, g, b, i))
		}
	case 1:
		for _, v := range img.Pix {
			mean += float64(v)
		}
	default:
		panic(fmt.Sprintf("augment.AdjustContrast: %d channels (want 1 or 3)", img.C))
	}
	m := float32(mean / float64(n))
	for i, v := range img.Pix {
		img.Pix[i] = blend(v, m, f)
	}
}

// AdjustSaturation blends an RGB img with its grey version by f, in place, as
// torchvision's adjust_saturation. Grey images are left as they are.
func AdjustSaturation(img *data.Image, f float32) {
	if img.C == 1 {
		return
	}
	if img.C != 3 {
		panic(fmt.Sprintf("augment.AdjustSaturation: %d channels (want 1 or 3)", img.C))
	}
	r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
	for i := range r {
		l := grey(r, g, b, i)
		r[i], g[i], b[i] = blend(r[i], l, f), blend(g[i], l, f), blend(b[i], l, f)
	}
}

// AdjustHue shifts the hue of an RGB img (values in [0, 1]) by f in
// [−0.5, 0.5] of a turn, in place, through HSV as torchvision's adjust_hue.
// Grey images are left as they are.
func AdjustHue(img *data.Image, f float32) {
	if f < -0.5 || f > 0.5 {
		panic(fmt.Sprintf("augment.AdjustHue: factor %g outside [-0.5, 0.5]", f))
	}
	if img.C == 1 {
		return
	}
	if img.C != 3 {
		panic(fmt.Sprintf("augment.AdjustHue: %d channels (want 1 or 3)", img.C))
	}
	r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
	for i := range r {
		h, s, v := rgbToHSV(r[i], g[i], b[i])
		h += f
		h -= float32(math.Floor(float64(h))) // Python's % 1.0
		r[i], g[i], b[i] = hsvToRGB(h, s, v)
	}
}

// rgbToHSV is torchvision's _rgb2hsv for one pixel.
func rgbToHSV(r, g, b float32) (h, s, v float32) {
	maxc := max(r, g, b)
	minc := min(r, g, b)
	cr := maxc - minc
	eq := maxc == minc
	div := maxc
	if eq {
		div = 1
	}
	s = cr / div
	crd := cr
	if eq {
		crd = 1
	}
	rc, gc, bc := (maxc-r)/crd, (maxc-g)/crd, (maxc-b)/crd
	switch {
	case maxc == r:
		h = bc - gc
	case maxc == g:
		h = 2 + rc - bc
	default:
		h = 4 + gc - rc
	}
	h = float32(math.Mod(float64(h/6+1), 1))
	return h, s, maxc
}

// hsvToRGB is torchvision's _hsv2rgb for one pixel.
func hsvToRGB(h, s, v float32) (r, g, b float32) {
	fi := float32(math.Floor(float64(h * 6)))
	f := h*6 - fi
	i := ((int(fi) % 6) + 6) % 6
	p := min(max(v*(1-s), 0), 1)
	q := min(max(v*(1-s*f), 0), 1)
	t := min(max(v*(1-s*(1-f)), 0), 1)
	switch i {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	}
	return v, p, q
}

// ColorJitter changes brightness, contrast, saturation and hue of the image
// by random factors, in a random order, as torchvision's ColorJitter: the
// brightness, contrast and saturation factors are drawn uniformly from
// [max(0, 1−x), 1+x], the hue shift from [−Hue, Hue] (Hue <= 0.5); a zero
// field leaves that property alone. The mask and boxes are untouched. Images
// must hold values in [0, 1] (apply before Normalize).
type ColorJitter struct {
	Brightness, Contrast, Saturation, Hue float32
}

// Apply jitters s's image in place.
func (j ColorJitter) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	order := rng.Perm(4)
	factor := func(x float32) float32 {
		lo := max(0, 1-x)
		return lo + (1+x-lo)*rng.Float32()
	}
	var fb, fc, fs, fh float32
	if j.Brightness > 0 {
		fb = factor(j.Brightness)
	}
	if j.Contrast > 0 {
		fc = factor(j.Contrast)
	}
	if j.Saturation > 0 {
		fs = factor(j.Saturation)
	}
	if j.Hue > 0 {
		fh = min(j.Hue, 0.5) * (2*rng.Float32() - 1)
	}
	for _, k := range order {
		switch {
		case k == 0 && j.Brightness > 0:
			AdjustBrightness(s.Image, fb)
		case k == 1 && j.Contrast > 0:
			AdjustContrast(s.Image, fc)
		case k == 2 && j.Saturation > 0:
			AdjustSaturation(s.Image, fs)
		case k == 3 && j.Hue > 0:
			AdjustHue(s.Image, fh)
		}
	}
	return s
}

// ImageNetMean and ImageNetStd are the usual per-channel normalisation
// constants for RGB images in [0, 1].
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// Normalize maps each channel c of the image to (x − Mean[c]) / Std[c], in
// place, as torchvision's Normalize. Mean and Std hold one value per channel
// or one for all.
type Normalize struct {
	Mean, Std []float32
}

// Apply normalises s's image.
func (n Normalize) Apply(_ *rand.Rand, s data.Sample) data.Sample {
	img := s.Image
	for c := 0; c < img.C; c++ {
		m := channelValue(n.Mean, c, img.C, "augment.Normalize")
		sd := channelValue(n.Std, c, img.C, "augment.Normalize")
		if sd == 0 {
			panic("augment.Normalize: zero standard deviation")
		}
		inv := 1 / sd
		p := img.Plane(c)
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
	return s
}
