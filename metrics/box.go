package metrics

import "fmt"

// IoUXYXY returns the intersection over union of two boxes given as
// [x1, y1, x2, y2] with continuous coordinates (area = (x2−x1)·(y2−y1), as in
// torchvision.ops.box_iou). Disjoint or degenerate boxes give 0.
func IoUXYXY(a, b [4]float64) float64 {
	w := min(a[2], b[2]) - max(a[0], b[0])
	h := min(a[3], b[3]) - max(a[1], b[1])
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	union := float64((a[2]-a[0])*(a[3]-a[1])) + float64((b[2]-b[0])*(b[3]-b[1])) - inter // float64(): no fused multiply-add
	return inter / union
}

// IoUXYWH returns the IoU of a detection d and a ground-truth box g given as
// COCO [x, y, width, height], computed exactly as pycocotools' bbIou. If
// crowd is true the union is the detection's area alone (a crowd region
// matches any part of it), as COCOeval does for iscrowd ground truth.
func IoUXYWH(d, g [4]float64, crowd bool) float64 {
	w := min(d[2]+d[0], g[2]+g[0]) - max(d[0], g[0])
	if w <= 0 {
		return 0
	}
	h := min(d[3]+d[1], g[3]+g[1]) - max(d[1], g[1])
	if h <= 0 {
		return 0
	}
	da := d[2] * d[3]
	i := w * h
	if crowd {
		return i / da
	}
	return i / (da + float64(g[2]*g[3]) - i)
}

// IoUVOC returns the overlap of two boxes [xmin, ymin, xmax, ymax] in the
// PASCAL VOC convention: 1-based inclusive integer pixel coordinates, so a
// box covers (xmax−xmin+1)·(ymax−ymin+1) pixels. It returns ok = false when
// the boxes do not overlap (the devkit then does not consider the pair).
func IoUVOC(a, b [4]float64) (iou float64, ok bool) {
	iw := min(a[2], b[2]) - max(a[0], b[0]) + 1
	ih := min(a[3], b[3]) - max(a[1], b[1]) + 1
	if iw <= 0 || ih <= 0 {
		return 0, false
	}
	ua := float64((a[2]-a[0]+1)*(a[3]-a[1]+1)) + float64((b[2]-b[0]+1)*(b[3]-b[1]+1)) - float64(iw*ih)
	return iw * ih / ua, true
}

// IoUMatrix returns the IoU of every pair: out[i*len(b)+j] = iou(a[i], b[j]),
// out: (len(a), len(b)) row-major.
func IoUMatrix(a, b [][4]float64, iou func(x, y [4]float64) float64) []float64 {
	out := make([]float64, len(a)*len(b))
	for i, x := range a {
		for j, y := range b {
			out[i*len(b)+j] = iou(x, y)
		}
	}
	return out
}

// XYWHToXYXY converts [x, y, w, h] to [x, y, x+w, y+h].
func XYWHToXYXY(b [4]float64) [4]float64 { return [4]float64{b[0], b[1], b[0] + b[2], b[1] + b[3]} }

// XYXYToXYWH converts [x1, y1, x2, y2] to [x1, y1, x2−x1, y2−y1].
func XYXYToXYWH(b [4]float64) [4]float64 { return [4]float64{b[0], b[1], b[2] - b[0], b[3] - b[1]} }

func checkSameLen(op string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("metrics.%s: lengths %d and %d differ", op, a, b))
	}
}
