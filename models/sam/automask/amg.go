package automask

import (
	"encoding/binary"
	"math"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// This file holds segment-anything's utils/amg.py: point grids, crop boxes, the stability
// score, mask boxes, crop-edge tests, uncropping and RLE conversions, each computed with
// the reference's arithmetic (float64 where NumPy works, float32 where PyTorch does).

// BuildPointGrid returns n×n points (x, y) evenly spaced in [0, 1]², at the centres of an
// n×n partition, row by row (y outer, x inner), as build_point_grid (NumPy's linspace
// arithmetic, so the coordinates are bit for bit the reference's).
func BuildPointGrid(n int) [][2]float64 {
	if n < 1 {
		return nil
	}
	side := linspace(1/float64(2*n), 1-1/float64(2*n), n)
	pts := make([][2]float64, 0, n*n)
	for _, y := range side {
		for _, x := range side {
			pts = append(pts, [2]float64{x, y})
		}
	}
	return pts
}

// linspace is numpy.linspace(start, stop, n) with endpoint: start + i·step, the last
// value exactly stop.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(float64(i)*step) + start // no fused multiply-add, as NumPy
	}
	out[n-1] = stop
	return out
}

// BuildAllLayerPointGrids returns the point grid of each crop layer 0…nLayers: layer i
// has int(nPerSide / scalePerLayer^i) points per side (build_all_layer_point_grids).
func BuildAllLayerPointGrids(nPerSide, nLayers, scalePerLayer int) [][][2]float64 {
	grids := make([][][2]float64, 0, nLayers+1)
	for i := 0; i <= nLayers; i++ {
		n := int(float64(nPerSide) / math.Pow(float64(scalePerLayer), float64(i)))
		grids = append(grids, BuildPointGrid(n))
	}
	return grids
}

// GenerateCropBoxes returns the crop boxes (x0, y0, x1, y1) of an h×w image and the layer
// of each: the whole image (layer 0), then for layer i = 1…nLayers a 2^i × 2^i grid of
// overlapping crops (generate_crop_boxes; crops ordered x outer, y inner).
func GenerateCropBoxes(h, w, nLayers int, overlapRatio float64) (boxes [][4]int, layers []int) {
	boxes = append(boxes, [4]int{0, 0, w, h})
	layers = append(layers, 0)
	short := min(h, w)
	cropLen := func(orig, n, overlap int) int {
		return int(math.Ceil(float64(overlap*(n-1)+orig) / float64(n)))
	}
	for l := 0; l < nLayers; l++ {
		n := 1 << (l + 1)
		overlap := int(overlapRatio * float64(short) * (2 / float64(n)))
		cw, ch := cropLen(w, n, overlap), cropLen(h, n, overlap)
		for i := 0; i < n; i++ {
			x0 := (cw - overlap) * i
			for j := 0; j < n; j++ {
				y0 := (ch - overlap) * j
				boxes = append(boxes, [4]int{x0, y0, min(x0+cw, w), min(y0+ch, h)})
				layers = append(layers, l+1)
			}
		}
	}
	return boxes, layers
}

// BatchIterator returns the [start, end) ranges that cut n items into batches of size
// (the last may be shorter), as batch_iterator.
func BatchIterator(n, size int) [][2]int {
	var out [][2]int
	for s := 0; s < n; s += size {
		out = append(out, [2]int{s, min(s+size, n)})
	}
	return out
}

// StabilityScore is calculate_stability_score for one mask of logits (h, w): the IoU of
// the masks thresholded at maskThreshold+offset and maskThreshold−offset, counted exactly
// as the reference (thresholds rounded to float32, row counts summed as int16, rows as
// int32, the ratio in float32; NaN when no logit exceeds the lower threshold).
func StabilityScore(logits []float32, h, w int, maskThreshold, offset float64) float32 {
	inter, union := stabilityCounts(logits, h, w, maskThreshold, offset)
	return float32(inter) / float32(union)
}

func stabilityCounts(logits []float32, h, w int, maskThreshold, offset float64) (inter, union int32) {
	hi, lo := float32(maskThreshold+offset), float32(maskThreshold-offset)
	for y := 0; y < h; y++ {
		var a, b int
		for _, v := range logits[y*w : (y+1)*w] {
			if v > hi {
				a++
			}
			if v > lo {
				b++
			}
		}
		inter += int32(int16(a))
		union += int32(int16(b))
	}
	return inter, union
}

// MaskToBox returns the box (x0, y0, x1, y1) around the nonzero pixels of mask (h, w),
// with x1 and y1 the last column and row inside (not one past), or (0, 0, 0, 0) for an
// empty mask: batched_mask_to_box for one mask.
func MaskToBox(mask []uint8, h, w int) [4]int {
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		row := mask[y*w : (y+1)*w]
		first := -1
		for x, v := range row {
			if v != 0 {
				first = x
				break
			}
		}
		if first < 0 {
			continue
		}
		last := first
		for x := w - 1; x > first; x-- {
			if row[x] != 0 {
				last = x
				break
			}
		}
		if y0 > y {
			y0 = y
		}
		y1 = y
		x0, x1 = min(x0, first), max(x1, last)
	}
	if x1 < 0 {
		return [4]int{}
	}
	return [4]int{x0, y0, x1, y1}
}

// IsBoxNearCropEdge reports whether box (x0, y0, x1, y1 in the crop's frame) lies within
// atol pixels of an edge of cropBox that is not an edge of origBox, the whole image
// (is_box_near_crop_edge; the reference's atol is 20). Boxes are compared in float32.
func IsBoxNearCropEdge(box [4]int, cropBox, origBox [4]int, atol float64) bool {
	b := UncropBox(box, cropBox)
	tol := float32(atol)
	for i := range b {
		v := float32(b[i])
		nearCrop := abs32(v-float32(cropBox[i])) <= tol
		nearImage := abs32(v-float32(origBox[i])) <= tol
		if nearCrop && !nearImage {
			return true
		}
	}
	return false
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// BoxXYXYToXYWH returns (x0, y0, x1 − x0, y1 − y0).
func BoxXYXYToXYWH(b [4]int) [4]int { return [4]int{b[0], b[1], b[2] - b[0], b[3] - b[1]} }

// UncropBox moves a box from a crop's frame to the image's (uncrop_boxes_xyxy).
func UncropBox(b [4]int, cropBox [4]int) [4]int {
	return [4]int{b[0] + cropBox[0], b[1] + cropBox[1], b[2] + cropBox[0], b[3] + cropBox[1]}
}

// UncropPoint moves a point from a crop's frame to the image's (uncrop_points).
func UncropPoint(p [2]float64, cropBox [4]int) [2]float64 {
	return [2]float64{p[0] + float64(cropBox[0]), p[1] + float64(cropBox[1])}
}

// UncropMask pads a mask (h, w) of the crop cropBox with zeros to the image's origH×origW
// (uncrop_masks).
func UncropMask(mask []uint8, h, w int, cropBox [4]int, origH, origW int) []uint8 {
	out := make([]uint8, origH*origW)
	for y := 0; y < h; y++ {
		copy(out[(y+cropBox[1])*origW+cropBox[0]:], mask[y*w:(y+1)*w])
	}
	return out
}

// MaskToRLE returns the uncompressed RLE of mask (h, w) (mask_to_rle_pytorch; the same
// counts as pycocotools' encode).
func MaskToRLE(mask []uint8, h, w int) rle.RLE { return rle.Encode(mask, h, w) }

// RLEToMask returns the mask (h, w) of an uncompressed RLE (rle_to_mask), row-major 0/1.
func RLEToMask(r rle.RLE) []uint8 { return r.Decode() }

// AreaFromRLE is the number of pixels inside (area_from_rle).
func AreaFromRLE(r rle.RLE) int {
	a := 0
	for i := 1; i < len(r.Counts); i += 2 {
		a += int(r.Counts[i])
	}
	return a
}

// COCOEncodeRLE returns the compressed COCO string of an uncompressed RLE's counts
// (coco_encode_rle, pycocotools' frPyObjects).
func COCOEncodeRLE(r rle.RLE) string { return r.String() }

// runs builds the counts of an uncompressed RLE pixel run by pixel run.
type runs struct {
	counts []uint32
	cur    uint8
	n      uint32
}

func (r *runs) add(v uint8, n int) {
	if n <= 0 {
		return
	}
	if v != r.cur {
		r.counts = append(r.counts, r.n)
		r.cur, r.n = v, 0
	}
	r.n += uint32(n)
}

func (r *runs) done() []uint32 { return append(r.counts, r.n) }

// columnMask thresholds logits (h, w), row-major, at thr into dst as a column-major 0/1
// mask (w columns of h), the order of COCO's runs, transposing in cache-sized tiles.
func columnMask(logits []float32, h, w int, thr float32, dst []uint8) {
	const tile = 32
	for y0 := 0; y0 < h; y0 += tile {
		y1 := min(y0+tile, h)
		for x0 := 0; x0 < w; x0 += tile {
			for x := x0; x < min(x0+tile, w); x++ {
				col := dst[x*h+y0 : x*h+y1]
				for k := range col {
					var v uint8
					if logits[(y0+k)*w+x] > thr {
						v = 1
					}
					col[k] = v
				}
			}
		}
	}
}

// nextDiff returns the first index ≥ i of b whose byte is not v (0 or 1), or len(b),
// eight bytes at a time.
func nextDiff(b []uint8, i int, v uint8) int {
	pat := uint64(v) * 0x0101010101010101
	for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:]) == pat {
		i += 8
	}
	for i < len(b) && b[i] == v {
		i++
	}
	return i
}

// columnBox is MaskToBox of a column-major mask (w columns of h).
func columnBox(col []uint8, h, w int) [4]int {
	x0, y0, x1, y1 := -1, h, -1, -1
	for x := 0; x < w; x++ {
		c := col[x*h : (x+1)*h]
		first := nextDiff(c, 0, 0)
		if first == h {
			continue
		}
		last := h - 1
		for c[last] == 0 {
			last--
		}
		if x0 < 0 {
			x0 = x
		}
		x1 = x
		y0, y1 = min(y0, first), max(y1, last)
	}
	if x0 < 0 {
		return [4]int{}
	}
	return [4]int{x0, y0, x1, y1}
}

// encodeUncropped returns the RLE in the origH×origW image of a column-major 0/1 mask
// (w columns of h) of the crop cropBox, with no padded copy: uncrop_masks followed by
// mask_to_rle_pytorch.
func encodeUncropped(col []uint8, h, w int, cropBox [4]int, origH, origW int) rle.RLE {
	var r runs
	x0, y0 := cropBox[0], cropBox[1]
	r.add(0, x0*origH)
	for x := 0; x < w; x++ {
		r.add(0, y0)
		c := col[x*h : (x+1)*h]
		for y := 0; y < h; {
			v := c[y]
			e := nextDiff(c, y, v)
			r.add(v, e-y)
			y = e
		}
		r.add(0, origH-y0-h)
	}
	r.add(0, (origW-x0-w)*origH)
	return rle.RLE{H: origH, W: origW, Counts: r.done()}
}
