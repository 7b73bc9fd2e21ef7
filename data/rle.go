package data

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// RLE is a binary mask in COCO's run-length encoding: Counts alternates runs
// of 0s and 1s, starting with 0s (so Counts[0] may be 0), over the pixels in
// column-major order (x outer, y inner), as pycocotools stores them.
type RLE struct {
	H, W   int
	Counts []int
}

// EncodeRLE returns the run-length encoding of the pixels of m equal to
// label.
func EncodeRLE(m *Mask, label uint8) RLE {
	r := RLE{H: m.H, W: m.W}
	cur, run := false, 0
	for x := 0; x < m.W; x++ {
		for y := 0; y < m.H; y++ {
			on := m.Pix[y*m.W+x] == label
			if on != cur {
				r.Counts = append(r.Counts, run)
				cur, run = on, 0
			}
			run++
		}
	}
	r.Counts = append(r.Counts, run)
	return r
}

// Decode returns the mask the RLE describes: 1 for covered pixels, 0
// elsewhere. It returns an error if the counts do not add up to H*W.
func (r RLE) Decode() (*Mask, error) {
	if r.H <= 0 || r.W <= 0 {
		return nil, fmt.Errorf("RLE size [%d,%d] is not positive", r.H, r.W)
	}
	m := NewMask(r.H, r.W)
	p := 0
	n := r.H * r.W
	for k, c := range r.Counts {
		if c < 0 || p+c > n {
			return nil, fmt.Errorf("RLE counts run past %d pixels (size [%d,%d]) at count %d", n, r.H, r.W, k)
		}
		if k%2 == 1 {
			for q := p; q < p+c; q++ {
				m.Pix[(q%r.H)*r.W+q/r.H] = 1
			}
		}
		p += c
	}
	if p != n {
		return nil, fmt.Errorf("RLE counts add up to %d, want %d (size [%d,%d])", p, n, r.H, r.W)
	}
	return m, nil
}

// Area returns the number of covered pixels.
func (r RLE) Area() int {
	a := 0
	for k := 1; k < len(r.Counts); k += 2 {
		a += r.Counts[k]
	}
	return a
}

// String returns the counts in pycocotools' compressed string form (the
// "counts" string of a COCO RLE segmentation).
func (r RLE) String() string {
	var sb strings.Builder
	for i, c := range r.Counts {
		x := int64(c)
		if i > 2 {
			x -= int64(r.Counts[i-2])
		}
		for more := true; more; {
			ch := byte(x & 0x1f)
			x >>= 5
			if ch&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				ch |= 0x20
			}
			sb.WriteByte(ch + 48)
		}
	}
	return sb.String()
}

// ParseRLEString decodes pycocotools' compressed counts string for a mask of
// size (h, w).
func ParseRLEString(s string, h, w int) (RLE, error) {
	r := RLE{H: h, W: w}
	p := 0
	for p < len(s) {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return r, errors.New("RLE counts string ends inside a number")
			}
			c := int64(s[p]) - 48
			if c < 0 || c > 63 {
				return r, fmt.Errorf("RLE counts string has invalid character %q at %d", s[p], p)
			}
			if k > 12 {
				return r, errors.New("RLE counts string has a number too long")
			}
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if len(r.Counts) > 2 {
			x += int64(r.Counts[len(r.Counts)-2])
		}
		if x < 0 || x > math.MaxInt32 {
			return r, fmt.Errorf("RLE count %d out of range", x)
		}
		r.Counts = append(r.Counts, int(x))
	}
	return r, nil
}

// RasterizePolygon returns the (h, w) mask of the pixels whose centres lie
// inside the polygon xy = [x0, y0, x1, y1, …] (even-odd rule), in COCO's pixel
// coordinates (pixel (x, y) spans [x, x+1) × [y, y+1)). pycocotools rasterises
// through a 5× upsampled outline instead, so a pixel cut by the edge may
// differ; interiors agree.
func RasterizePolygon(xy []float64, h, w int) *Mask {
	m := NewMask(h, w)
	fillPolygon(m, xy, 1)
	return m
}

// fillPolygon sets to v the pixels of m whose centres are inside polygon xy.
func fillPolygon(m *Mask, xy []float64, v uint8) {
	n := len(xy) / 2
	if n < 3 {
		return
	}
	xs := make([]float64, 0, 8)
	for y := 0; y < m.H; y++ {
		cy := float64(y) + 0.5
		xs = xs[:0]
		for i := 0; i < n; i++ {
			x0, y0 := xy[2*i], xy[2*i+1]
			j := (i + 1) % n
			x1, y1 := xy[2*j], xy[2*j+1]
			if (y0 <= cy) != (y1 <= cy) {
				xs = append(xs, x0+(cy-y0)*(x1-x0)/(y1-y0))
			}
		}
		sortFloats(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// pixel centres cx = x+0.5 with xs[k] <= cx < xs[k+1]
			a := int(math.Ceil(xs[k] - 0.5))
			b := int(math.Ceil(xs[k+1] - 0.5))
			for x := max(a, 0); x < min(b, m.W); x++ {
				m.Pix[y*m.W+x] = v
			}
		}
	}
}

// sortFloats sorts a short slice in place (insertion sort).
func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
