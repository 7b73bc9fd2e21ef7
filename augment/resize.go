package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
)

// ResizeImage returns img resized to (C, h, w) by bilinear interpolation with
// PyTorch's conventions (align_corners=False, no antialiasing): output pixel
// (y, x) samples the input at (scale·(y+0.5)−0.5, …) with scale = in/out in
// float32, clamped at 0, as torch.nn.functional.interpolate and torchvision's
// F.resize on tensors do.
func ResizeImage(img *data.Image, h, w int) *data.Image {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("augment.ResizeImage: output size (%d,%d) of (%d,%d,%d)", h, w, img.C, img.H, img.W))
	}
	out := data.NewImage(img.C, h, w)
	ys0, ys1, wy0, wy1 := linearTaps(img.H, h)
	xs0, xs1, wx0, wx1 := linearTaps(img.W, w)
	for c := 0; c < img.C; c++ {
		src := img.Plane(c)
		dst := out.Plane(c)
		for y := 0; y < h; y++ {
			r0 := src[ys0[y]*img.W : (ys0[y]+1)*img.W]
			r1 := src[ys1[y]*img.W : (ys1[y]+1)*img.W]
			a, b := wy0[y], wy1[y]
			row := dst[y*w : (y+1)*w]
			for x := range row {
				i0, i1 := xs0[x], xs1[x]
				row[x] = a*(wx0[x]*r0[i0]+wx1[x]*r0[i1]) + b*(wx0[x]*r1[i0]+wx1[x]*r1[i1])
			}
		}
	}
	return out
}

// linearTaps returns, for each output index, the two input indices and their
// weights of PyTorch's linear interpolation with align_corners=False.
func linearTaps(in, out int) (i0, i1 []int, w0, w1 []float32) {
	i0, i1 = make([]int, out), make([]int, out)
	w0, w1 = make([]float32, out), make([]float32, out)
	scale := float32(in) / float32(out)
	for d := 0; d < out; d++ {
		src := scale*(float32(d)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		k := int(src)
		i0[d] = k
		i1[d] = k
		if k < in-1 {
			i1[d] = k + 1
		}
		l := src - float32(k)
		w0[d], w1[d] = 1-l, l
	}
	return
}

// nearestIndex returns PyTorch's "nearest" source index for output index d.
func nearestIndex(d, in, out int) int {
	switch {
	case in == out:
		return d
	case out == 2*in:
		return d >> 1
	}
	scale := float32(in) / float32(out)
	return min(int(float32(math.Floor(float64(float32(d)*scale)))), in-1)
}

// ResizeMask returns m resized to (h, w) by nearest neighbour with PyTorch's
// "nearest" rule: output (y, x) takes input (floor(y·H/h), floor(x·W/w)),
// computed in float32 as torch does, so labels are never mixed.
func ResizeMask(m *data.Mask, h, w int) *data.Mask {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("augment.ResizeMask: output size (%d,%d) of (%d,%d)", h, w, m.H, m.W))
	}
	out := data.NewMask(h, w)
	xs := make([]int, w)
	for x := range xs {
		xs[x] = nearestIndex(x, m.W, w)
	}
	for y := 0; y < h; y++ {
		sy := nearestIndex(y, m.H, h)
		src := m.Pix[sy*m.W : (sy+1)*m.W]
		dst := out.Pix[y*w : (y+1)*w]
		for x := range dst {
			dst[x] = src[xs[x]]
		}
	}
	return out
}

// resizeSample resizes s to (h, w): image bilinear, mask nearest, boxes
// scaled.
func resizeSample(s data.Sample, h, w int) data.Sample {
	if s.Image.H == h && s.Image.W == w {
		return s
	}
	sy := float32(h) / float32(s.Image.H)
	sx := float32(w) / float32(s.Image.W)
	s.Image = ResizeImage(s.Image, h, w)
	if s.Mask != nil {
		s.Mask = ResizeMask(s.Mask, h, w)
	}
	for k := range s.Boxes {
		b := &s.Boxes[k]
		b.X0, b.X1, b.Y0, b.Y1 = b.X0*sx, b.X1*sx, b.Y0*sy, b.Y1*sy
	}
	return s
}

// Resize resizes the image to (H, W) bilinearly, the mask by nearest
// neighbour, and scales the boxes. It uses no randomness.
type Resize struct {
	H, W int
}

// Apply resizes s.
func (r Resize) Apply(_ *rand.Rand, s data.Sample) data.Sample { return resizeSample(s, r.H, r.W) }

// RandomScale resizes the sample by a factor drawn uniformly from [Min, Max]:
// the new height and width are round(H·f) and round(W·f) (at least 1).
type RandomScale struct {
	Min, Max float64
}

// Apply rescales s.
func (r RandomScale) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	if !(r.Min > 0) || r.Max < r.Min {
		panic(fmt.Sprintf("augment.RandomScale: want 0 < Min <= Max, got [%g, %g]", r.Min, r.Max))
	}
	f := r.Min + (r.Max-r.Min)*rng.Float64()
	h := max(int(math.Round(float64(s.Image.H)*f)), 1)
	w := max(int(math.Round(float64(s.Image.W)*f)), 1)
	return resizeSample(s, h, w)
}
