package data

import (
	"fmt"
	"image/color"
)

// Colorize returns m as an RGB image in the VOC palette's colours (class 0
// black, 1 dark red, 2 dark green, …, Ignore cream).
func Colorize(m *Mask) *Image {
	pal := VOCPalette()
	var lut [256][3]float32
	for i, c := range pal {
		rgb := c.(color.RGBA)
		lut[i] = [3]float32{float32(rgb.R) / 255, float32(rgb.G) / 255, float32(rgb.B) / 255}
	}
	out := NewImage(3, m.H, m.W)
	n := m.H * m.W
	for i, v := range m.Pix {
		out.Pix[i], out.Pix[n+i], out.Pix[2*n+i] = lut[v][0], lut[v][1], lut[v][2]
	}
	return out
}

// classColor returns a bright colour for class k, for boxes and overlays: the
// VOC palette colour brightened so it shows on dark images.
func classColor(k int) [3]float32 {
	c := VOCPalette()[k&255].(color.RGBA)
	f := func(v uint8) float32 { return 0.35 + 0.65*float32(v)/255 }
	return [3]float32{f(c.R), f(c.G), f(c.B)}
}

// Overlay returns a copy of img (made RGB) with the labelled pixels of mask
// (if not nil) tinted by their class colour with opacity alpha (0..1;
// background 0 is left as is, Ignore is tinted white), and the outlines of
// boxes drawn in their class colour. mask must have img's height and width.
func Overlay(img *Image, mask *Mask, boxes []Box, alpha float32) *Image {
	out := img.ToRGB().Clone()
	for c := 0; c < 3; c++ {
		p := out.Plane(c)
		for i, v := range p {
			p[i] = min(max(v, 0), 1)
		}
	}
	n := out.H * out.W
	if mask != nil {
		if mask.H != img.H || mask.W != img.W {
			panic(fmt.Sprintf("data.Overlay: mask (%d,%d) does not match image (%d,%d,%d)", mask.H, mask.W, img.C, img.H, img.W))
		}
		for i, v := range mask.Pix {
			if v == 0 {
				continue
			}
			col := [3]float32{1, 1, 1}
			if v != Ignore {
				col = classColor(int(v))
			}
			for c := 0; c < 3; c++ {
				out.Pix[c*n+i] = (1-alpha)*out.Pix[c*n+i] + alpha*col[c]
			}
		}
	}
	for _, b := range boxes {
		DrawBox(out, b, classColor(b.Class))
	}
	return out
}

// DrawBox draws the one-pixel outline of b on img (C = 3) in colour col,
// clipped to the image.
func DrawBox(img *Image, b Box, col [3]float32) {
	x0, y0 := int(b.X0), int(b.Y0)
	x1, y1 := int(b.X1+0.5)-1, int(b.Y1+0.5)-1 // last covered pixel
	set := func(x, y int) {
		if x < 0 || y < 0 || x >= img.W || y >= img.H {
			return
		}
		for c := 0; c < 3 && c < img.C; c++ {
			img.Set(c, y, x, col[c])
		}
	}
	for x := x0; x <= x1; x++ {
		set(x, y0)
		set(x, y1)
	}
	for y := y0; y <= y1; y++ {
		set(x0, y)
		set(x1, y)
	}
}

// Grid tiles images (all RGB, all the same size) into rows of cols images,
// separated and framed by pad pixels of the given grey level. Missing cells in
// the last row are left grey.
func Grid(images []*Image, cols, pad int, grey float32) *Image {
	if len(images) == 0 || cols <= 0 {
		panic(fmt.Sprintf("data.Grid: %d images in %d columns", len(images), cols))
	}
	h, w := images[0].H, images[0].W
	rows := (len(images) + cols - 1) / cols
	out := NewImage(3, rows*h+(rows+1)*pad, cols*w+(cols+1)*pad)
	for i := range out.Pix {
		out.Pix[i] = grey
	}
	for k, im := range images {
		im = im.ToRGB()
		if im.H != h || im.W != w {
			panic(fmt.Sprintf("data.Grid: image %d is (%d,%d), want (%d,%d)", k, im.H, im.W, h, w))
		}
		oy := pad + (k/cols)*(h+pad)
		ox := pad + (k%cols)*(w+pad)
		for c := 0; c < 3; c++ {
			for y := 0; y < h; y++ {
				copy(out.Pix[(c*out.H+oy+y)*out.W+ox:(c*out.H+oy+y)*out.W+ox+w], im.Pix[(c*h+y)*w:(c*h+y+1)*w])
			}
		}
	}
	return out
}
