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
	img, err := png.Decode(f)
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
