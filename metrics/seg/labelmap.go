package seg

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
)

// LabelMap is a class-index image. Pix: (Height, Width) row-major, the class
// of pixel (x, y) is Pix[y*Width+x].
type LabelMap struct {
	Width, Height int
	Pix           []uint8
}

// MaxPixels is the largest label map, in pixels, that ReadLabelMap decodes:
// the size in the PNG header is checked before any pixel memory is
// allocated. 100 million by default; the fovea command's --max-pixels flag
// sets it.
var MaxPixels int64 = 100_000_000

// ReadLabelMap reads a PNG label map: 8-bit greyscale (the grey value is the
// class) or palette (the palette index is the class). Other colour models
// are an error, as is anything that is not a PNG; errors name the file.
func ReadLabelMap(path string) (LabelMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return LabelMap{}, err
	}
	defer f.Close()
	var hdr [26]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:8]) != "\x89PNG\r\n\x1a\n" {
		return LabelMap{}, fmt.Errorf("%s: not a PNG file", path)
	}
	// IHDR: bit depth at byte 24, colour type at byte 25. Greyscale below 8
	// bits would be rescaled by the decoder (class 1 of a 1-bit map becomes
	// 255), so only 8-bit greyscale and palettes of any depth are accepted.
	w := int64(hdr[16])<<24 | int64(hdr[17])<<16 | int64(hdr[18])<<8 | int64(hdr[19])
	h := int64(hdr[20])<<24 | int64(hdr[21])<<16 | int64(hdr[22])<<8 | int64(hdr[23])
	if w == 0 || h == 0 {
		return LabelMap{}, fmt.Errorf("%s: PNG header says %d×%d pixels, want a positive size", path, w, h)
	}
	if w*h > MaxPixels {
		return LabelMap{}, fmt.Errorf("%s: PNG header says %d×%d = %d pixels, more than the limit of %d (seg.MaxPixels; raise it with --max-pixels)", path, w, h, w*h, MaxPixels)
	}
	depth, ctype := hdr[24], hdr[25]
	switch {
	case ctype == 0 && depth == 8, ctype == 3:
	case ctype == 0:
		return LabelMap{}, fmt.Errorf("%s: %d-bit greyscale PNG, want 8-bit greyscale or palette", path, depth)
	default:
		return LabelMap{}, fmt.Errorf("%s: PNG colour type %d (%s), want 8-bit greyscale or palette", path, ctype, colourTypeName(ctype))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return LabelMap{}, err
	}
	img, err := decodePNG(f)
	if err != nil {
		return LabelMap{}, fmt.Errorf("%s: not a readable PNG: %w", path, err)
	}
	lm, err := LabelMapFromImage(img)
	if err != nil {
		return LabelMap{}, fmt.Errorf("%s: %w", path, err)
	}
	return lm, nil
}

// LabelMapFromImage converts an *image.Gray or *image.Paletted to a LabelMap
// (copying the pixels). Other image types are an error.
func LabelMapFromImage(img image.Image) (LabelMap, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	lm := LabelMap{Width: w, Height: h, Pix: make([]uint8, w*h)}
	var pix []uint8
	var stride int
	switch im := img.(type) {
	case *image.Gray:
		pix, stride = im.Pix, im.Stride
	case *image.Paletted:
		pix, stride = im.Pix, im.Stride
	default:
		return LabelMap{}, fmt.Errorf("label map has colour model %T, want 8-bit greyscale or palette PNG", img)
	}
	for y := range h {
		copy(lm.Pix[y*w:y*w+w], pix[y*stride:y*stride+w])
	}
	return lm, nil
}

func colourTypeName(t byte) string {
	switch t {
	case 2:
		return "RGB"
	case 4:
		return "grey+alpha"
	case 6:
		return "RGBA"
	}
	return "unknown"
}

// decodePNG is png.Decode with a decoder panic (a decoder defect on a corrupt
// file) turned into an error.
func decodePNG(r io.Reader) (m image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("corrupt PNG (%v)", p)
		}
	}()
	return png.Decode(r)
}
