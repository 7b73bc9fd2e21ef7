// Package rle implements COCO's run-length encoded binary masks,
// bit-identical to pycocotools' maskApi: encode, decode, the compressed
// string form, area, bounding box, union/intersection, IoU (with iscrowd) and
// polygon and box rasterisation.
//
// An RLE covers an H×W mask in column-major (Fortran) order, as COCO stores
// it: Counts alternate runs of 0s and 1s, starting with 0s (the first count
// may be 0). The Go API takes and returns masks in the usual row-major
// layout, mask: (H, W), pixel (x, y) at mask[y*W+x], and converts.
package rle

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// RLE is a run-length encoded H×W binary mask. Counts: run lengths in
// column-major order, alternating 0s and 1s, starting with 0s.
type RLE struct {
	H, W   int
	Counts []uint32
}

// Encode returns the RLE of a binary mask: (h, w) row-major, nonzero = 1
// (pycocotools expects 0/1 and would split runs at other values). It panics
// if len(mask) != h*w.
func Encode(mask []uint8, h, w int) RLE {
	if len(mask) != h*w || h < 0 || w < 0 {
		panic(fmt.Sprintf("rle.Encode: mask has %d pixels, want h*w = %d*%d", len(mask), h, w))
	}
	r := RLE{H: h, W: w}
	var p uint8
	var c uint32
	for x := range w {
		for y := range h {
			v := mask[y*w+x]
			if v != 0 {
				v = 1
			}
			if v != p {
				r.Counts = append(r.Counts, c)
				c, p = 0, v
			}
			c++
		}
	}
	r.Counts = append(r.Counts, c)
	return r
}

// Decode returns the mask: (H, W) row-major, 0 or 1. It panics if the counts
// do not add up to H*W (see Validate).
func (r RLE) Decode() []uint8 {
	if err := r.Validate(); err != nil {
		panic("rle.RLE.Decode: " + err.Error())
	}
	mask := make([]uint8, r.H*r.W)
	k := 0 // column-major index
	var v uint8
	for _, c := range r.Counts {
		if v == 1 {
			for i := k; i < k+int(c); i++ {
				mask[(i%r.H)*r.W+i/r.H] = 1
			}
		}
		k += int(c)
		v ^= 1
	}
	return mask
}

// Validate reports whether the counts cover exactly H×W pixels.
func (r RLE) Validate() error {
	if r.H < 0 || r.W < 0 {
		return fmt.Errorf("size [%d, %d] is negative", r.H, r.W)
	}
	var s uint64
	for _, c := range r.Counts {
		s += uint64(c)
	}
	if s != uint64(r.H)*uint64(r.W) {
		return fmt.Errorf("counts add up to %d pixels, size [%d, %d] has %d", s, r.H, r.W, r.H*r.W)
	}
	return nil
}

// Area returns the number of 1 pixels (pycocotools' area, summed as uint32).
func (r RLE) Area() uint32 {
	var a uint32
	for j := 1; j < len(r.Counts); j += 2 {
		a += r.Counts[j]
	}
	return a
}

// Bbox returns the bounding box [x, y, width, height] exactly as maskApi's
// rleToBbox: [0 0 0 0] for an empty mask, and a run of 1s that wraps from
// one column to the next makes the box span the full height.
func (r RLE) Bbox() [4]float64 {
	h, w := uint32(r.H), uint32(r.W)
	m := len(r.Counts) / 2 * 2
	if m == 0 || h == 0 {
		return [4]float64{}
	}
	xs, ys, xe, ye := w, h, uint32(0), uint32(0)
	var cc, xp uint32
	for j := range m {
		cc += r.Counts[j]
		t := cc - uint32(j%2)
		y := t % h
		x := (t - y) / h
		if j%2 == 0 {
			xp = x
		} else if xp < x {
			ys, ye = 0, h-1
		}
		xs, xe = min(xs, x), max(xe, x)
		ys, ye = min(ys, y), max(ye, y)
	}
	return [4]float64{float64(xs), float64(ys), float64(xe - xs + 1), float64(ye - ys + 1)}
}

// String returns the compressed COCO string of the counts (maskApi's
// rleToString: LEB128-like, 6 bits a character in '0'…'o', counts from the
// fourth on stored as the difference to the count two before).
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

// ErrBadString is wrapped by FromString's errors.
var ErrBadString = errors.New("malformed compressed RLE string")

// FromString decodes a compressed COCO string (maskApi's rleFrString) for an
// h×w mask. Characters outside '0'…'o' or a string that ends inside a count
// are an error; so are counts that do not cover h×w pixels.
func FromString(s string, h, w int) (RLE, error) {
	r := RLE{H: h, W: w}
	p := 0
	for p < len(s) {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return RLE{}, fmt.Errorf("%w: ends inside a count", ErrBadString)
			}
			if s[p] < 48 || s[p] > 111 {
				return RLE{}, fmt.Errorf("%w: character %q at %d", ErrBadString, s[p], p)
			}
			if k > 6 {
				return RLE{}, fmt.Errorf("%w: count too long at %d", ErrBadString, p)
			}
			c := int64(s[p] - 48)
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		m := len(r.Counts)
		if m > 2 {
			x += int64(r.Counts[m-2])
		}
		r.Counts = append(r.Counts, uint32(x))
	}
	if err := r.Validate(); err != nil {
		return RLE{}, fmt.Errorf("%w: %v", ErrBadString, err)
	}
	return r, nil
}

// Merge returns the union (intersect false) or intersection (intersect true)
// of masks of one size, as maskApi's rleMerge. Masks of different sizes give
// an empty 0×0 RLE, as in pycocotools.
func Merge(rs []RLE, intersect bool) RLE {
	if len(rs) == 0 {
		return RLE{}
	}
	h, w := rs[0].H, rs[0].W
	cnts := slices.Clone(rs[0].Counts)
	if len(rs) == 1 {
		return RLE{H: h, W: w, Counts: cnts}
	}
	for _, b := range rs[1:] {
		if b.H != h || b.W != w {
			return RLE{}
		}
		a := cnts
		if len(a) == 0 || len(b.Counts) == 0 {
			return RLE{}
		}
		out := make([]uint32, 0, len(a)+len(b.Counts))
		ca, cb := a[0], b.Counts[0]
		var v, va, vb bool
		ia, ib := 1, 1
		var cc uint32
		for ct := uint32(1); ct > 0; {
			c := min(ca, cb)
			cc += c
			ct = 0
			ca -= c
			if ca == 0 && ia < len(a) {
				ca = a[ia]
				ia++
				va = !va
			}
			ct += ca
			cb -= c
			if cb == 0 && ib < len(b.Counts) {
				cb = b.Counts[ib]
				ib++
				vb = !vb
			}
			ct += cb
			vp := v
			if intersect {
				v = va && vb
			} else {
				v = va || vb
			}
			if v != vp || ct == 0 {
				out = append(out, cc)
				cc = 0
			}
		}
		cnts = out
	}
	return RLE{H: h, W: w, Counts: cnts}
}

// IoU returns the IoU of every detection mask with every ground-truth mask
// as maskApi's rleIou: out[d*len(gt)+g], out: (len(dt), len(gt)). For a
// crowd ground truth the union is the detection's area. Pairs whose
// bounding boxes overlap but whose sizes differ get −1, as in pycocotools.
// iscrowd: (len(gt),) or nil.
func IoU(dt, gt []RLE, iscrowd []bool) []float64 {
	if iscrowd != nil && len(iscrowd) != len(gt) {
		panic(fmt.Sprintf("rle.IoU: %d iscrowd flags for %d ground truths", len(iscrowd), len(gt)))
	}
	db := make([][4]float64, len(dt))
	for i, r := range dt {
		db[i] = r.Bbox()
	}
	gb := make([][4]float64, len(gt))
	for i, r := range gt {
		gb[i] = r.Bbox()
	}
	out := make([]float64, len(dt)*len(gt))
	for g := range gt {
		crowd := iscrowd != nil && iscrowd[g]
		for d := range dt {
			if boxIoU(db[d], gb[g], crowd) <= 0 {
				continue
			}
			out[d*len(gt)+g] = pairIoU(dt[d], gt[g], crowd)
		}
	}
	return out
}

// boxIoU is maskApi's bbIou for one pair ([x, y, w, h]).
func boxIoU(d, g [4]float64, crowd bool) float64 {
	w := math.Min(d[2]+d[0], g[2]+g[0]) - math.Max(d[0], g[0])
	if w <= 0 {
		return 0
	}
	h := math.Min(d[3]+d[1], g[3]+g[1]) - math.Max(d[1], g[1])
	if h <= 0 {
		return 0
	}
	i := w * h
	if crowd {
		return i / (d[2] * d[3])
	}
	return i / (float64(d[2]*d[3]) + float64(g[2]*g[3]) - i)
}

// pairIoU is the run-merging loop of maskApi's rleIou for one pair.
func pairIoU(d, g RLE, crowd bool) float64 {
	if d.H != g.H || d.W != g.W {
		return -1
	}
	ca, cb := d.Counts[0], g.Counts[0]
	var va, vb bool
	a, b := 1, 1
	var i, u uint32
	for ct := uint32(1); ct > 0; {
		c := min(ca, cb)
		if va || vb {
			u += c
			if va && vb {
				i += c
			}
		}
		ct = 0
		ca -= c
		if ca == 0 && a < len(d.Counts) {
			ca = d.Counts[a]
			a++
			va = !va
		}
		ct += ca
		cb -= c
		if cb == 0 && b < len(g.Counts) {
			cb = g.Counts[b]
			b++
			vb = !vb
		}
		ct += cb
	}
	if i == 0 {
		u = 1
	} else if crowd {
		u = d.Area()
	}
	return float64(i) / float64(u)
}

// FromBbox rasterises a box [x, y, width, height] on an h×w grid as
// maskApi's rleFrBbox (through FromPolygon).
func FromBbox(bb [4]float64, h, w int) RLE {
	xs, xe := bb[0], bb[0]+bb[2]
	ys, ye := bb[1], bb[1]+bb[3]
	return FromPolygon([]float64{xs, ys, xs, ye, xe, ye, xe, ys}, h, w)
}

// FromPolygon rasterises a polygon [x0, y0, x1, y1, …] on an h×w grid with
// exactly the pixels of maskApi's rleFrPoly (the boundary is traced on a 5×
// upsampled grid and a pixel is inside when its centre is). An odd trailing
// coordinate is ignored, as in pycocotools.
func FromPolygon(xy []float64, h, w int) RLE {
	k := len(xy) / 2
	const scale = 5.0
	x := make([]int, k+1)
	y := make([]int, k+1)
	for j := range k {
		x[j] = int(float64(scale*xy[2*j]) + .5) // float64(): no fused multiply-add
		y[j] = int(float64(scale*xy[2*j+1]) + .5)
	}
	if k > 0 {
		x[k], y[k] = x[0], y[0]
	}
	m := 0
	for j := range k {
		m += max(abs(x[j]-x[j+1]), abs(y[j]-y[j+1])) + 1
	}
	u := make([]int, 0, m)
	v := make([]int, 0, m)
	for j := range k {
		xs, xe, ys, ye := x[j], x[j+1], y[j], y[j+1]
		dx, dy := abs(xe-xs), abs(ys-ye)
		flip := (dx >= dy && xs > xe) || (dx < dy && ys > ye)
		if flip {
			xs, xe = xe, xs
			ys, ye = ye, ys
		}
		if dx >= dy {
			if dx == 0 {
				// maskApi computes 0/0 here; the point's y is never read
				// because its x equals both neighbours'.
				u = append(u, xs)
				v = append(v, ys)
				continue
			}
			s := float64(ye-ys) / float64(dx)
			for d := 0; d <= dx; d++ {
				t := d
				if flip {
					t = dx - d
				}
				u = append(u, t+xs)
				v = append(v, int(float64(ys)+float64(s*float64(t))+.5))
			}
		} else {
			s := float64(xe-xs) / float64(dy)
			for d := 0; d <= dy; d++ {
				t := d
				if flip {
					t = dy - d
				}
				v = append(v, t+ys)
				u = append(u, int(float64(xs)+float64(s*float64(t))+.5))
			}
		}
	}
	// Points on the y-boundary, downsampled.
	var bx, by []int
	for j := 1; j < len(u); j++ {
		if u[j] == u[j-1] {
			continue
		}
		var xd float64
		if u[j] < u[j-1] {
			xd = float64(u[j])
		} else {
			xd = float64(u[j] - 1)
		}
		xd = (xd+.5)/scale - .5
		if math.Floor(xd) != xd || xd < 0 || xd > float64(w)-1 {
			continue
		}
		yd := float64(min(v[j], v[j-1]))
		yd = (yd+.5)/scale - .5
		if yd < 0 {
			yd = 0
		} else if yd > float64(h) {
			yd = float64(h)
		}
		yd = math.Ceil(yd)
		bx = append(bx, int(xd))
		by = append(by, int(yd))
	}
	a := make([]uint32, 0, len(bx)+1)
	for j := range bx {
		a = append(a, uint32(bx[j]*h+by[j]))
	}
	a = append(a, uint32(h*w))
	slices.Sort(a)
	var p uint32
	for j := range a {
		t := a[j]
		a[j] -= p
		p = t
	}
	b := make([]uint32, 0, len(a))
	b = append(b, a[0])
	for j := 1; j < len(a); {
		if a[j] > 0 {
			b = append(b, a[j])
			j++
		} else {
			j++
			if j < len(a) {
				b[len(b)-1] += a[j]
				j++
			}
		}
	}
	return RLE{H: h, W: w, Counts: b}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
