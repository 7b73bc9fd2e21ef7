package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// MaxPixels is the largest image, in pixels (width × height), that ReadImage,
// DecodeImage, ReadMask and DecodeMask decode and that a COCO annotation file
// may declare: a file whose header claims more is refused before any pixel
// memory is allocated. The default, 100 million pixels, is a 10,000 × 10,000
// image (1.2 GB as a float32 RGB Image). Raise it to read larger images (the
// fovea command's --max-pixels flag sets it); it must not be changed while
// images are being decoded.
var MaxPixels int64 = 100_000_000

// CheckSize returns an error if a w×h image is empty or larger than
// MaxPixels. The message says how to raise the limit.
func CheckSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image size %d×%d, want a positive width and height", w, h)
	}
	if int64(w) > MaxPixels/int64(h) || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("image size %d×%d is %d pixels, more than the limit of %d (data.MaxPixels; raise it with --max-pixels)", w, h, int64(w)*int64(h), MaxPixels)
	}
	return nil
}

// ReadImage decodes the PNG or JPEG file at path into an Image with values in
// [0, 1]: grey files (8- or 16-bit) give C = 1, everything else (RGB, palette,
// YCbCr JPEG, CMYK) gives C = 3; an alpha channel is dropped. The size in the
// file's header is checked against MaxPixels before the pixels are decoded.
// Errors name the file.
func ReadImage(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: read image: %w", err)
	}
	m, err := DecodeImage(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: read image %s: %w", path, err)
	}
	return m, nil
}

// ReadImageSize reads only the header of the PNG or JPEG file at path and
// returns its width and height, checked against MaxPixels as ReadImage
// checks them: a cheap way to find unreadable inputs before any work starts.
// Errors name the file.
func ReadImageSize(path string) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("data: read image: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		return 0, 0, fmt.Errorf("data: read image %s: empty file, want a PNG or JPEG image", path)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("data: read image %s: decode header: corrupt image (%v)", path, p)
		}
	}()
	c, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("data: read image %s: decode header: %w", path, err)
	}
	if err := CheckSize(c.Width, c.Height); err != nil {
		return 0, 0, fmt.Errorf("data: read image %s: %w", path, err)
	}
	return c.Width, c.Height, nil
}

// DecodeImage decodes a PNG or JPEG stream as ReadImage does.
func DecodeImage(r io.Reader) (*Image, error) {
	src, err := decodeChecked(r, func(r io.Reader) (image.Config, error) {
		c, _, err := image.DecodeConfig(r)
		return c, err
	}, func(r io.Reader) (image.Image, error) {
		m, _, err := image.Decode(r)
		return m, err
	})
	if err != nil {
		return nil, err
	}
	return FromGoImage(src), nil
}

// decodeChecked reads the header with config, checks the size against
// MaxPixels, then decodes. A panic inside a decoder (a defect of the decoder
// on a corrupt file) becomes an error, so a bad file never stops the program.
func decodeChecked(r io.Reader, config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) (m image.Image, err error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("empty file, want a PNG or JPEG image")
	}
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("decode: corrupt image (%v)", p)
		}
	}()
	c, err := config(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode header: %w", err)
	}
	if err := CheckSize(c.Width, c.Height); err != nil {
		return nil, err
	}
	m, err = decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if b := m.Bounds(); b.Dx() != c.Width || b.Dy() != c.Height {
		return nil, fmt.Errorf("decode: header says %d×%d, pixels are %d×%d", c.Width, c.Height, b.Dx(), b.Dy())
	}
	return m, nil
}

// FromGoImage converts a standard library image to an Image with values in
// [0, 1]: *image.Gray and *image.Gray16 give one channel, every other type
// three (alpha is dropped; colours are taken un-premultiplied).
func FromGoImage(src image.Image) *Image {
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	switch s := src.(type) {
	case *image.Gray:
		out := NewImage(1, h, w)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				out.Pix[y*w+x] = float32(v) / 255
			}
		}
		return out
	case *image.Gray16:
		out := NewImage(1, h, w)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+2*w]
			for x := 0; x < w; x++ {
				out.Pix[y*w+x] = float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 65535
			}
		}
		return out
	}
	out := NewImage(3, h, w)
	n := h * w
	r, g, bl := out.Pix[:n], out.Pix[n:2*n], out.Pix[2*n:]
	switch s := src.(type) {
	case *image.RGBA, *image.NRGBA:
		var pix []uint8
		var stride int
		premul := false
		if t, ok := s.(*image.RGBA); ok {
			pix, stride, premul = t.Pix, t.Stride, true
		} else {
			t := s.(*image.NRGBA)
			pix, stride = t.Pix, t.Stride
		}
		for y := 0; y < h; y++ {
			row := pix[y*stride : y*stride+4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				i := y*w + x
				if premul && p[3] != 255 {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					r[i], g[i], bl[i] = float32(c.R)/255, float32(c.G)/255, float32(c.B)/255
					continue
				}
				r[i], g[i], bl[i] = float32(p[0])/255, float32(p[1])/255, float32(p[2])/255
			}
		}
	case *image.Paletted:
		var lut [256][3]float32
		for i, c := range s.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]float32{float32(n.R) / 255, float32(n.G) / 255, float32(n.B) / 255}
		}
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				i := y*w + x
				r[i], g[i], bl[i] = lut[v][0], lut[v][1], lut[v][2]
			}
		}
	case *image.YCbCr:
		if ycbcrLibjpeg(s, r, g, bl) {
			break
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := s.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := s.COffset(b.Min.X+x, b.Min.Y+y)
				cr, cg, cb := color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				i := y*w + x
				r[i], g[i], bl[i] = float32(cr)/255, float32(cg)/255, float32(cb)/255
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				i := y*w + x
				r[i], g[i], bl[i] = float32(c.R)/65535, float32(c.G)/65535, float32(c.B)/65535
			}
		}
	}
	return out
}

// ReadMask reads a label map from the PNG at path. Palette PNGs (as in VOC's
// SegmentationClass) give their raw palette indices, never their colours, so
// 255 stays Ignore; 8-bit grey PNGs give their grey values. An RGB PNG is
// accepted only when every colour is one of the VOC palette's (VOCPalette),
// and is mapped back to indices. Anything else is an error naming the file.
func ReadMask(path string) (*Mask, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: read mask: %w", err)
	}
	m, err := DecodeMask(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: read mask %s: %w", path, err)
	}
	return m, nil
}

// DecodeMask decodes a label map from a PNG stream as ReadMask does.
func DecodeMask(r io.Reader) (*Mask, error) {
	src, err := decodeChecked(r, png.DecodeConfig, png.Decode)
	if err != nil {
		return nil, fmt.Errorf("label map (want a PNG): %w", err)
	}
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	out := NewMask(h, w)
	switch s := src.(type) {
	case *image.Paletted:
		for y := 0; y < h; y++ {
			copy(out.Pix[y*w:(y+1)*w], s.Pix[y*s.Stride:y*s.Stride+w])
		}
		return out, nil
	case *image.Gray:
		for y := 0; y < h; y++ {
			copy(out.Pix[y*w:(y+1)*w], s.Pix[y*s.Stride:y*s.Stride+w])
		}
		return out, nil
	case *image.Gray16:
		return nil, errors.New("16-bit grey label maps are not supported (want a palette or 8-bit grey PNG)")
	}
	lookup := make(map[[3]uint8]uint8, 256)
	for i, c := range VOCPalette() {
		rgb := c.(color.RGBA)
		if _, dup := lookup[[3]uint8{rgb.R, rgb.G, rgb.B}]; !dup {
			lookup[[3]uint8{rgb.R, rgb.G, rgb.B}] = uint8(i)
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			v, ok := lookup[[3]uint8{c.R, c.G, c.B}]
			if !ok {
				return nil, fmt.Errorf("pixel (%d,%d) has colour (%d,%d,%d), which is not in the VOC palette (want a palette PNG, an 8-bit grey PNG or VOC colours)", x, y, c.R, c.G, c.B)
			}
			out.Pix[y*w+x] = v
		}
	}
	return out, nil
}

// VOCPalette returns Pascal VOC's standard 256-colour palette: index 0 is
// black, 1 (128,0,0), 2 (0,128,0), …, and 255 (224,224,192) for Ignore.
func VOCPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := 0; i < 256; i++ {
		var r, g, b uint8
		c := i
		for j := 0; j < 8; j++ {
			r |= uint8((c>>0)&1) << (7 - j)
			g |= uint8((c>>1)&1) << (7 - j)
			b |= uint8((c>>2)&1) << (7 - j)
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

// ToGoImage converts m to a standard library image for encoding: C = 1 gives
// *image.Gray, C = 3 *image.RGBA (opaque). Values are clamped to [0, 1] and
// rounded to 8 bits. Other channel counts panic.
func (m *Image) ToGoImage() image.Image {
	q := func(v float32) uint8 {
		if !(v > 0) { // also NaN
			return 0
		}
		if v >= 1 {
			return 255
		}
		return uint8(v*255 + 0.5)
	}
	n := m.H * m.W
	switch m.C {
	case 1:
		g := image.NewGray(image.Rect(0, 0, m.W, m.H))
		for i, v := range m.Pix {
			g.Pix[i] = q(v)
		}
		return g
	case 3:
		o := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
		for i := 0; i < n; i++ {
			o.Pix[4*i] = q(m.Pix[i])
			o.Pix[4*i+1] = q(m.Pix[n+i])
			o.Pix[4*i+2] = q(m.Pix[2*n+i])
			o.Pix[4*i+3] = 255
		}
		return o
	}
	panic(fmt.Sprintf("data.Image.ToGoImage: cannot encode %d channels (want 1 or 3)", m.C))
}

// ToGoImage returns m as a palette image with the VOC palette (the format of
// VOC's SegmentationClass PNGs).
func (m *Mask) ToGoImage() *image.Paletted {
	p := image.NewPaletted(image.Rect(0, 0, m.W, m.H), VOCPalette())
	copy(p.Pix, m.Pix)
	return p
}

// WritePNG writes m (C = 1 or 3) to path as an 8-bit PNG.
func WritePNG(path string, m *Image) error {
	return writeFile(path, func(w io.Writer) error { return fastPNG.Encode(w, m.ToGoImage()) })
}

// fastPNG trades a few percent of file size for several times the speed of
// the default compression level.
var fastPNG = png.Encoder{CompressionLevel: png.BestSpeed}

// WriteJPEG writes m (C = 1 or 3) to path as a JPEG of the given quality
// (1..100).
func WriteJPEG(path string, m *Image, quality int) error {
	return writeFile(path, func(w io.Writer) error {
		return jpeg.Encode(w, m.ToGoImage(), &jpeg.Options{Quality: quality})
	})
}

// WriteMaskPNG writes m to path as a palette PNG with the VOC palette, so the
// file holds the class indices and shows VOC's colours.
func WriteMaskPNG(path string, m *Mask) error {
	return writeFile(path, func(w io.Writer) error { return fastPNG.Encode(w, m.ToGoImage()) })
}

// writeFile writes through a temporary file in the same folder and renames it,
// so a failed write never leaves a half file under the final name.
func writeFile(path string, enc func(io.Writer) error) error {
	if err := atomicfile.Write(path, enc); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// isImageFile reports whether name has a PNG or JPEG extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}
