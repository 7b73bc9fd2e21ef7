package samtrain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// chiSquare returns Pearson's statistic of counts against a uniform distribution.
func chiSquare(counts map[int]int, cells, n int) float64 {
	e := float64(n) / float64(cells)
	var x float64
	for i := 0; i < cells; i++ {
		d := float64(counts[i]) - e
		x += d * d / e
	}
	return x
}

// TestCorrectiveClickStatistics: every click lands in the error region with the label of
// its kind (positive on a false negative, negative on a false positive), and the clicks
// are uniform over the region (χ² test with 59 degrees of freedom; 99.9 % quantile 99.6).
func TestCorrectiveClickStatistics(t *testing.T) {
	const h, w = 20, 30
	gt, pred := make([]bool, h*w), make([]bool, h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			gt[y*w+x] = x >= 5 && x < 15 && y >= 5 && y < 15   // 10×10 square
			pred[y*w+x] = x >= 8 && x < 18 && y >= 5 && y < 15 // shifted 3 px right
		}
	}
	// Error region: 30 false negatives (x 5..7) and 30 false positives (x 15..17).
	cells := map[int]int{}
	idx := 0
	for i := range gt {
		if gt[i] != pred[i] {
			cells[i] = idx
			idx++
		}
	}
	if idx != 60 {
		t.Fatalf("error region of %d pixels, want 60", idx)
	}
	rng := rand.New(rand.NewPCG(4, 14))
	counts := map[int]int{}
	const n = 60000
	pos := 0
	for k := 0; k < n; k++ {
		pt, label, ok := CorrectiveClick(rng, pred, gt, w)
		if !ok {
			t.Fatal("no click on an imperfect prediction")
		}
		i := int(pt[1])*w + int(pt[0])
		c, in := cells[i]
		if !in {
			t.Fatalf("click %v outside the error region", pt)
		}
		if want := map[bool]int{true: 1, false: 0}[gt[i]]; label != want {
			t.Fatalf("click %v labelled %d, want %d", pt, label, want)
		}
		pos += label
		counts[c]++
	}
	if x := chiSquare(counts, 60, n); x > 99.6 {
		t.Errorf("χ² = %.1f over 60 cells: clicks not uniform over the error region", x)
	}
	if f := float64(pos) / n; math.Abs(f-0.5) > 0.01 {
		t.Errorf("positive clicks %.3f of all, want 0.5 (30 of 60 error pixels)", f)
	}
	if _, _, ok := CorrectiveClick(rng, gt, gt, w); ok {
		t.Error("a click on a perfect prediction")
	}
}

// TestRandomPointUniform: first-prompt points cover the mask uniformly.
func TestRandomPointUniform(t *testing.T) {
	const h, w = 16, 16
	mask := make([]bool, h*w)
	cells := map[int]int{}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (x-8)*(x-8)+(y-8)*(y-8) <= 16 {
				mask[y*w+x] = true
				cells[y*w+x] = len(cells)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	counts := map[int]int{}
	n := 2000 * len(cells)
	for k := 0; k < n; k++ {
		pt, ok := RandomPoint(rng, mask, w)
		i := int(pt[1])*w + int(pt[0])
		if !ok || !mask[i] {
			t.Fatalf("point %v outside the mask", pt)
		}
		counts[cells[i]]++
	}
	// 49 cells: 48 degrees of freedom, 99.9 % quantile 84.0.
	if x := chiSquare(counts, len(cells), n); x > 84.0 {
		t.Errorf("χ² = %.1f over %d cells", x, len(cells))
	}
}

// TestNoisyBox: each coordinate moves with standard deviation 10 % of the box side,
// never more than 20 px.
func TestNoisyBox(t *testing.T) {
	const h, w = 600, 600
	mask := make([]bool, h*w)
	for y := 250; y < 350; y++ { // 100 tall
		for x := 100; x < 500; x++ { // 400 wide: σ 40, clipped at 20
			mask[y*w+x] = true
		}
	}
	tight, _ := MaskBox(mask, h, w)
	if tight != [4]float32{100, 250, 499, 349} {
		t.Fatalf("tight box %v", tight)
	}
	if b, ok := NoisyBox(rand.New(rand.NewPCG(2, 3)), mask, h, w, BoxNoise{Frac: 0.1, Max: 20}); !ok || b == tight {
		t.Fatalf("NoisyBox %v, %v", b, ok)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	var sy, syy float64
	const n = 20000
	for k := 0; k < n; k++ {
		b := JitterBox(rng, tight, h, w, BoxNoise{Frac: 0.1, Max: 20})
		for i := range b {
			if d := math.Abs(float64(b[i] - tight[i])); d > 20+1e-4 {
				t.Fatalf("coordinate %d moved %v px", i, d)
			}
		}
		d := float64(b[1] - tight[1])
		sy += d
		syy += d * d
	}
	std := math.Sqrt(syy/n - (sy/n)*(sy/n))
	// y noise: σ = 10 px, clipped at 2σ: the clipped normal's σ is 0.9213·10 … but
	// the clip moves values to ±20, giving σ ≈ 9.47.
	if math.Abs(std-9.47) > 0.2 {
		t.Errorf("y0 noise σ = %.2f px, want ≈ 9.47 (10 px clipped at 20)", std)
	}
}

// TestCenterPoint and the distance transform against brute force.
func TestDistanceTransform(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const h, w = 13, 17
	mask := make([]bool, h*w)
	for i := range mask {
		mask[i] = rng.Float64() < 0.7
	}
	d := distanceTransform(mask, h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := 0.0
			if mask[y*w+x] {
				want = math.Inf(1)
				for yy := -1; yy <= h; yy++ {
					for xx := -1; xx <= w; xx++ {
						if yy >= 0 && yy < h && xx >= 0 && xx < w && mask[yy*w+xx] {
							continue
						}
						want = math.Min(want, math.Hypot(float64(x-xx), float64(y-yy)))
					}
				}
			}
			if math.Abs(d[y*w+x]-want) > 1e-9 {
				t.Fatalf("distance at (%d, %d) = %v, want %v", x, y, d[y*w+x], want)
			}
		}
	}
	disk := make([]bool, 21*21)
	for y := 0; y < 21; y++ {
		for x := 0; x < 21; x++ {
			disk[y*21+x] = (x-12)*(x-12)+(y-9)*(y-9) <= 36
		}
	}
	if pt, ok := CenterPoint(disk, 21, 21); !ok || pt != [2]float32{12, 9} {
		t.Errorf("CenterPoint of a disk at (12, 9): %v", pt)
	}
}

// TestEvalClick: the deterministic click goes to the larger error region's centre.
func TestEvalClick(t *testing.T) {
	const h, w = 20, 40
	gt, pred := make([]bool, h*w), make([]bool, h*w)
	for y := 2; y < 18; y++ {
		for x := 2; x < 30; x++ {
			gt[y*w+x] = true
			pred[y*w+x] = x < 20 // misses x 20..29: a 16×10 false-negative block
		}
	}
	pred[0] = true // a one-pixel false positive
	pt, label, ok := EvalClick(pred, gt, h, w)
	if !ok || label != 1 || pt[0] < 24 || pt[0] > 25 || pt[1] < 6 || pt[1] > 13 {
		t.Errorf("click %v label %d, want a positive click in the middle of x 20..29, y 2..17", pt, label)
	}
}
