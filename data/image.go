package data

import (
	"fmt"

	"github.com/fovea-ml/fovea/tensor"
)

// Ignore is the label-map value that means "no label": losses and metrics
// skip these pixels. It is the value Pascal VOC uses on object borders.
const Ignore = 255

// Image is a (C, H, W) float32 image. The value of channel c at row y and
// column x is Pix[(c*H+y)*W+x]. Images decoded from files hold values in
// [0, 1]; transforms such as normalisation may move them out of that range.
type Image struct {
	C, H, W int
	Pix     []float32
}

// NewImage returns a zero (black) image of shape (c, h, w).
func NewImage(c, h, w int) *Image {
	if c <= 0 || h <= 0 || w <= 0 {
		panic(fmt.Sprintf("data.NewImage: invalid shape (%d,%d,%d)", c, h, w))
	}
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// At returns the value of channel c at row y, column x.
func (m *Image) At(c, y, x int) float32 { return m.Pix[(c*m.H+y)*m.W+x] }

// Set sets the value of channel c at row y, column x.
func (m *Image) Set(c, y, x int, v float32) { m.Pix[(c*m.H+y)*m.W+x] = v }

// Plane returns channel c as a slice of H*W values (row-major), sharing memory
// with m.
func (m *Image) Plane(c int) []float32 { return m.Pix[c*m.H*m.W : (c+1)*m.H*m.W] }

// Clone returns a deep copy of m.
func (m *Image) Clone() *Image {
	return &Image{C: m.C, H: m.H, W: m.W, Pix: append([]float32(nil), m.Pix...)}
}

// ToRGB returns m as a 3-channel image: a grey image (C = 1) is repeated on
// each channel, a 3-channel image is returned as is, and a 4-channel image
// loses its fourth (alpha) channel. Other channel counts panic.
func (m *Image) ToRGB() *Image {
	switch m.C {
	case 3:
		return m
	case 1:
		out := NewImage(3, m.H, m.W)
		for c := 0; c < 3; c++ {
			copy(out.Plane(c), m.Pix)
		}
		return out
	case 4:
		return &Image{C: 3, H: m.H, W: m.W, Pix: append([]float32(nil), m.Pix[:3*m.H*m.W]...)}
	}
	panic(fmt.Sprintf("data.Image.ToRGB: cannot make RGB from %d channels", m.C))
}

// Tensor returns a copy of m as a tensor of shape (C, H, W).
func (m *Image) Tensor() *tensor.Tensor { return tensor.FromSlice(m.Pix, m.C, m.H, m.W) }

// ImageFromTensor returns a copy of t, of shape (C, H, W), as an Image.
func ImageFromTensor(t *tensor.Tensor) *Image {
	s := t.Shape()
	if len(s) != 3 {
		panic(fmt.Sprintf("data.ImageFromTensor: want shape (C,H,W), got %v", s))
	}
	return &Image{C: s[0], H: s[1], W: s[2], Pix: append([]float32(nil), t.Data()...)}
}

// Mask is an (H, W) label map of class indices: the class at row y and column
// x is Pix[y*W+x]. The value Ignore (255) means "no label". Class indices are
// limited to 0..254.
type Mask struct {
	H, W int
	Pix  []uint8
}

// NewMask returns an all-zero (background) mask of shape (h, w).
func NewMask(h, w int) *Mask {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("data.NewMask: invalid shape (%d,%d)", h, w))
	}
	return &Mask{H: h, W: w, Pix: make([]uint8, h*w)}
}

// At returns the label at row y, column x.
func (m *Mask) At(y, x int) uint8 { return m.Pix[y*m.W+x] }

// Set sets the label at row y, column x.
func (m *Mask) Set(y, x int, v uint8) { m.Pix[y*m.W+x] = v }

// Clone returns a deep copy of m.
func (m *Mask) Clone() *Mask { return &Mask{H: m.H, W: m.W, Pix: append([]uint8(nil), m.Pix...)} }

// Max returns the largest label in m other than Ignore, or -1 if every pixel
// is Ignore.
func (m *Mask) Max() int {
	mx := -1
	for _, v := range m.Pix {
		if v != Ignore && int(v) > mx {
			mx = int(v)
		}
	}
	return mx
}

// Tensor returns m as a float32 tensor of shape (H, W) holding the class
// indices (Ignore stays 255).
func (m *Mask) Tensor() *tensor.Tensor {
	d := make([]float32, len(m.Pix))
	for i, v := range m.Pix {
		d[i] = float32(v)
	}
	return tensor.New(d, m.H, m.W)
}

// Box is an axis-aligned rectangle in pixel coordinates with a class: it
// covers X0 <= x < X1, Y0 <= y < Y1, where pixel (x, y) spans [x, x+1) ×
// [y, y+1). This is COCO's convention (bbox [X0, Y0, X1-X0, Y1-Y0]); Pascal
// VOC's 1-based inclusive xmin..xmax maps to X0 = xmin-1, X1 = xmax.
type Box struct {
	X0, Y0, X1, Y1 float32
	// Class is the class index (1..K for datasets whose masks use 0 for
	// background).
	Class int
	// Difficult marks VOC "difficult" objects and COCO "iscrowd" regions,
	// which evaluation usually ignores.
	Difficult bool
}

// Width returns X1 - X0.
func (b Box) Width() float32 { return b.X1 - b.X0 }

// Height returns Y1 - Y0.
func (b Box) Height() float32 { return b.Y1 - b.Y0 }

// Area returns the box's area, 0 if it is empty.
func (b Box) Area() float32 {
	if b.X1 <= b.X0 || b.Y1 <= b.Y0 {
		return 0
	}
	return (b.X1 - b.X0) * (b.Y1 - b.Y0)
}

// Sample is one element of a dataset: an image, and optionally a label map of
// the same height and width and a list of boxes. A sample returned by
// Dataset.Get belongs to the caller, which may change it in place.
type Sample struct {
	Image *Image
	Mask  *Mask // nil when the dataset has no label maps
	Boxes []Box // nil or empty when the dataset has no boxes
	// Name identifies the sample in its dataset (a file stem such as
	// "2007_000032"), for messages and exports.
	Name string
}

// Clone returns a deep copy of s.
func (s Sample) Clone() Sample {
	out := Sample{Name: s.Name}
	if s.Image != nil {
		out.Image = s.Image.Clone()
	}
	if s.Mask != nil {
		out.Mask = s.Mask.Clone()
	}
	if s.Boxes != nil {
		out.Boxes = append([]Box(nil), s.Boxes...)
	}
	return out
}
