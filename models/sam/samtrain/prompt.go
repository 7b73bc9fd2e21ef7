package samtrain

import (
	"math"
	"math/rand/v2"
)

// Binary masks here are []bool of h·w pixels in row-major order (index y·w + x); points
// are (x, y) pixel indices, the coordinates SAM's prompt encoder takes (it adds 0.5 to
// reach the pixel centre); boxes are x0, y0, x1, y1 with x1, y1 the last covered column
// and row, as segment-anything's batched_mask_to_box.

// RandomPoint returns a foreground pixel of mask drawn uniformly (SAM's first-prompt
// point); ok is false for an empty mask.
func RandomPoint(rng *rand.Rand, mask []bool, w int) (pt [2]float32, ok bool) {
	n := 0
	for _, v := range mask {
		if v {
			n++
		}
	}
	if n == 0 {
		return pt, false
	}
	k := rng.IntN(n)
	for i, v := range mask {
		if v {
			if k == 0 {
				return [2]float32{float32(i % w), float32(i / w)}, true
			}
			k--
		}
	}
	return pt, false
}

// MaskBox returns the tight box of mask (x1, y1 the last covered column and row); ok is
// false for an empty mask.
func MaskBox(mask []bool, h, w int) (box [4]float32, ok bool) {
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		for x, v := range mask[y*w : (y+1)*w] {
			if v {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return box, false
	}
	return [4]float32{float32(x0), float32(y0), float32(x1), float32(y1)}, true
}

// BoxNoise is the box jitter of SAM's training (paper, appendix A): each coordinate moves
// by Gaussian noise of standard deviation Frac times the box side along its axis, the
// move clipped to at most Max pixels.
type BoxNoise struct {
	Frac float64 // 0.1 in SAM
	Max  float64 // 20 px in SAM
}

// NoisyBox returns the tight box of mask with noise added to each coordinate and the
// result kept inside the h×w image (x0 ≤ x1, y0 ≤ y1); ok is false for an empty mask.
func NoisyBox(rng *rand.Rand, mask []bool, h, w int, noise BoxNoise) (box [4]float32, ok bool) {
	b, ok := MaskBox(mask, h, w)
	if !ok {
		return b, false
	}
	return JitterBox(rng, b, h, w, noise), true
}

// JitterBox returns box b with noise added to each coordinate, kept inside the h×w image
// (x0 ≤ x1, y0 ≤ y1).
func JitterBox(rng *rand.Rand, b [4]float32, h, w int, noise BoxNoise) [4]float32 {
	bw, bh := float64(b[2]-b[0]+1), float64(b[3]-b[1]+1)
	for i := range b {
		side, lim := bw, float64(w-1)
		if i%2 == 1 {
			side, lim = bh, float64(h-1)
		}
		d := rng.NormFloat64() * noise.Frac * side
		d = math.Max(-noise.Max, math.Min(noise.Max, d))
		b[i] = float32(math.Max(0, math.Min(lim, float64(b[i])+d)))
	}
	if b[0] > b[2] {
		b[0], b[2] = b[2], b[0]
	}
	if b[1] > b[3] {
		b[1], b[3] = b[3], b[1]
	}
	return b
}

// CorrectiveClick samples the next click of SAM's iterative training: a pixel drawn
// uniformly from the error region of the prediction pred against the ground truth gt —
// a positive click (label 1) on a false negative, a negative one (label 0) on a false
// positive. ok is false when the prediction has no error.
func CorrectiveClick(rng *rand.Rand, pred, gt []bool, w int) (pt [2]float32, label int, ok bool) {
	n := 0
	for i, g := range gt {
		if pred[i] != g {
			n++
		}
	}
	if n == 0 {
		return pt, 0, false
	}
	k := rng.IntN(n)
	for i, g := range gt {
		if pred[i] != g {
			if k == 0 {
				label = 0
				if g {
					label = 1
				}
				return [2]float32{float32(i % w), float32(i / w)}, label, true
			}
			k--
		}
	}
	return pt, 0, false
}

// CenterPoint returns the pixel of mask farthest from its boundary (the outside of the
// image counts as background), by the Euclidean distance transform; ties go to the
// first in row-major order. It is the deterministic point of evaluation (as SAM's and
// RITM's interactive benchmarks); ok is false for an empty mask.
func CenterPoint(mask []bool, h, w int) (pt [2]float32, ok bool) {
	d := distanceTransform(mask, h, w)
	best, at := 0.0, -1
	for i, v := range d {
		if mask[i] && v > best {
			best, at = v, i
		}
	}
	if at < 0 {
		return pt, false
	}
	return [2]float32{float32(at % w), float32(at / w)}, true
}

// EvalClick is the deterministic corrective click of evaluation: the error pixel
// farthest from the boundary of its error region, taking false negatives (label 1) or
// false positives (label 0) whichever region reaches farther (false negatives on a tie),
// as RITM's NoC protocol. ok is false when there is no error.
func EvalClick(pred, gt []bool, h, w int) (pt [2]float32, label int, ok bool) {
	fn, fp := make([]bool, len(gt)), make([]bool, len(gt))
	for i, g := range gt {
		fn[i] = g && !pred[i]
		fp[i] = !g && pred[i]
	}
	dn, dp := distanceTransform(fn, h, w), distanceTransform(fp, h, w)
	bn, an := 0.0, -1
	bp, ap := 0.0, -1
	for i := range gt {
		if fn[i] && dn[i] > bn {
			bn, an = dn[i], i
		}
		if fp[i] && dp[i] > bp {
			bp, ap = dp[i], i
		}
	}
	switch {
	case an >= 0 && bn >= bp:
		return [2]float32{float32(an % w), float32(an / w)}, 1, true
	case ap >= 0:
		return [2]float32{float32(ap % w), float32(ap / w)}, 0, true
	}
	return pt, 0, false
}

// distanceTransform returns, for every pixel of mask, its Euclidean distance to the
// nearest pixel outside the mask (the image is surrounded by background), 0 outside.
// Felzenszwalb and Huttenlocher's exact two-pass algorithm on squared distances.
func distanceTransform(mask []bool, h, w int) []float64 {
	const inf = 1e18
	// Columns first, with a background row above and below the image.
	g := make([]float64, h*w)
	n := max(h, w) + 2
	f, d := make([]float64, n), make([]float64, n)
	v, z := make([]int, n), make([]float64, n+1)
	for x := 0; x < w; x++ {
		f[0], f[h+1] = 0, 0
		for y := 0; y < h; y++ {
			f[y+1] = 0
			if mask[y*w+x] {
				f[y+1] = inf
			}
		}
		dt1(f[:h+2], d[:h+2], v, z)
		for y := 0; y < h; y++ {
			g[y*w+x] = d[y+1]
		}
	}
	out := make([]float64, h*w)
	for y := 0; y < h; y++ {
		f[0], f[w+1] = 0, 0
		copy(f[1:w+1], g[y*w:(y+1)*w])
		dt1(f[:w+2], d[:w+2], v, z)
		for x := 0; x < w; x++ {
			out[y*w+x] = math.Sqrt(d[x+1])
		}
	}
	return out
}

// dt1 is the 1-D squared distance transform of f into d (the lower envelope of the
// parabolas (q−p)² + f[p]); v and z are scratch of len(f) and len(f)+1.
func dt1(f, d []float64, v []int, z []float64) {
	n := len(f)
	inter := func(q, p int) float64 {
		return ((f[q] + float64(q*q)) - (f[p] + float64(p*p))) / float64(2*q-2*p)
	}
	k := 0
	v[0] = 0
	z[0], z[1] = math.Inf(-1), math.Inf(1)
	for q := 1; q < n; q++ {
		s := inter(q, v[k])
		for s <= z[k] {
			k--
			s = inter(q, v[k])
		}
		k++
		v[k] = q
		z[k], z[k+1] = s, math.Inf(1)
	}
	k = 0
	for q := 0; q < n; q++ {
		for z[k+1] < float64(q) {
			k++
		}
		p := v[k]
		d[q] = float64((q-p)*(q-p)) + f[p]
	}
}
