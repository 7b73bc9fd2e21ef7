package augment

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
)

// PadTo pads s at the bottom and right to at least (h, w): the image with
// fill (one value per channel, or one for all, or nil for 0), the mask with
// maskFill (usually data.Ignore). Boxes do not move. A sample already large
// enough is returned as is.
func PadTo(s data.Sample, h, w int, fill []float32, maskFill uint8) data.Sample {
	img := s.Image
	if img.H >= h && img.W >= w {
		return s
	}
	nh, nw := max(img.H, h), max(img.W, w)
	out := data.NewImage(img.C, nh, nw)
	for c := 0; c < img.C; c++ {
		v := channelValue(fill, c, img.C, "augment.PadTo")
		p := out.Plane(c)
		if v != 0 {
			for i := range p {
				p[i] = v
			}
		}
		src := img.Plane(c)
		for y := 0; y < img.H; y++ {
			copy(p[y*nw:y*nw+img.W], src[y*img.W:(y+1)*img.W])
		}
	}
	s.Image = out
	if s.Mask != nil {
		m := data.NewMask(nh, nw)
		for i := range m.Pix {
			m.Pix[i] = maskFill
		}
		for y := 0; y < s.Mask.H; y++ {
			copy(m.Pix[y*nw:y*nw+s.Mask.W], s.Mask.Pix[y*s.Mask.W:(y+1)*s.Mask.W])
		}
		s.Mask = m
	}
	return s
}

// channelValue returns the fill value for channel c from a list of one value
// per channel, one value for all, or none (0).
func channelValue(fill []float32, c, channels int, op string) float32 {
	switch len(fill) {
	case 0:
		return 0
	case 1:
		return fill[0]
	case channels:
		return fill[c]
	}
	panic(fmt.Sprintf("%s: %d fill values for %d channels (want 1 or %d)", op, len(fill), channels, channels))
}

// Crop returns the (h, w) window of s whose top-left corner is (top, left),
// which must lie inside the sample. Boxes are shifted, clipped to the window,
// and dropped if nothing of them is left.
func Crop(s data.Sample, top, left, h, w int) data.Sample {
	img := s.Image
	if top < 0 || left < 0 || h <= 0 || w <= 0 || top+h > img.H || left+w > img.W {
		panic(fmt.Sprintf("augment.Crop: window (%d,%d)+(%d,%d) outside image (%d,%d,%d)", top, left, h, w, img.C, img.H, img.W))
	}
	out := data.NewImage(img.C, h, w)
	for c := 0; c < img.C; c++ {
		src, dst := img.Plane(c), out.Plane(c)
		for y := 0; y < h; y++ {
			copy(dst[y*w:(y+1)*w], src[(top+y)*img.W+left:(top+y)*img.W+left+w])
		}
	}
	s.Image = out
	if s.Mask != nil {
		m := data.NewMask(h, w)
		for y := 0; y < h; y++ {
			copy(m.Pix[y*w:(y+1)*w], s.Mask.Pix[(top+y)*s.Mask.W+left:(top+y)*s.Mask.W+left+w])
		}
		s.Mask = m
	}
	if s.Boxes != nil {
		kept := s.Boxes[:0:0]
		for _, b := range s.Boxes {
			b.X0 = min(max(b.X0-float32(left), 0), float32(w))
			b.X1 = min(max(b.X1-float32(left), 0), float32(w))
			b.Y0 = min(max(b.Y0-float32(top), 0), float32(h))
			b.Y1 = min(max(b.Y1-float32(top), 0), float32(h))
			if b.Area() > 0 {
				kept = append(kept, b)
			}
		}
		s.Boxes = kept
	}
	return s
}

// RandomCrop takes a random (H, W) window of the sample, first padding it at
// the bottom and right if it is smaller (image with Fill, mask with
// MaskFill), as torchvision's segmentation references do. The window's top
// and left are drawn uniformly from [0, H_img−H] and [0, W_img−W]. Boxes are
// clipped to the window; boxes left empty are dropped.
type RandomCrop struct {
	H, W int
	// Fill pads the image: one value per channel, one for all, or nil for 0.
	Fill []float32
	// MaskFill pads the mask. Use data.Ignore (NewRandomCrop's default) so
	// padding is not learned as background.
	MaskFill uint8
}

// NewRandomCrop returns a RandomCrop of (h, w) that pads images with 0 and
// masks with data.Ignore.
func NewRandomCrop(h, w int) RandomCrop { return RandomCrop{H: h, W: w, MaskFill: data.Ignore} }

// Apply crops s.
func (r RandomCrop) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	if r.H <= 0 || r.W <= 0 {
		panic(fmt.Sprintf("augment.RandomCrop: size (%d,%d)", r.H, r.W))
	}
	s = PadTo(s, r.H, r.W, r.Fill, r.MaskFill)
	top := rng.IntN(s.Image.H - r.H + 1)
	left := rng.IntN(s.Image.W - r.W + 1)
	return Crop(s, top, left, r.H, r.W)
}

// HorizontalFlip mirrors the sample left to right with probability P: image,
// mask and boxes (X0' = W − X1, X1' = W − X0).
type HorizontalFlip struct {
	P float64
}

// Apply flips s with probability P.
func (f HorizontalFlip) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	if rng.Float64() >= f.P {
		return s
	}
	return Flip(s)
}

// Flip mirrors s left to right (always), in place, and returns it.
func Flip(s data.Sample) data.Sample {
	img := s.Image
	w := img.W
	for c := 0; c < img.C; c++ {
		p := img.Plane(c)
		for y := 0; y < img.H; y++ {
			row := p[y*w : (y+1)*w]
			for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
	if s.Mask != nil {
		for y := 0; y < s.Mask.H; y++ {
			row := s.Mask.Pix[y*w : (y+1)*w]
			for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
	for k := range s.Boxes {
		b := &s.Boxes[k]
		b.X0, b.X1 = float32(w)-b.X1, float32(w)-b.X0
	}
	return s
}
