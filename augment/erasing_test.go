package augment

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/fovea-ml/fovea/data"
)

// ksStatistic returns the Kolmogorov–Smirnov statistic
// D = sup |F_n(x) − F(x)| of the samples against the CDF F.
func ksStatistic(xs []float64, cdf func(float64) float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := float64(len(s))
	d := 0.0
	for i, x := range s {
		f := cdf(x)
		d = max(d, float64(i+1)/n-f, f-float64(i)/n)
	}
	return d
}

// ksPValue returns the asymptotic p-value of D for n samples (Kolmogorov's
// distribution with Stephens' small-sample correction).
func ksPValue(d float64, n int) float64 {
	sn := math.Sqrt(float64(n))
	l := (sn + 0.12 + 0.11/sn) * d
	p := 0.0
	for k := 1; k <= 100; k++ {
		term := 2 * math.Exp(-2*float64(k*k)*l*l)
		if k%2 == 0 {
			term = -term
		}
		p += term
		if math.Abs(term) < 1e-12 {
			break
		}
	}
	return min(max(p, 0), 1)
}

func TestKSHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 2000)
	for i := range xs {
		xs[i] = rng.Float64()
	}
	uniform := func(x float64) float64 { return min(max(x, 0), 1) }
	if p := ksPValue(ksStatistic(xs, uniform), len(xs)); p < 0.01 {
		t.Fatalf("uniform samples rejected against U(0,1): p %g", p)
	}
	for i := range xs {
		xs[i] = xs[i] * xs[i]
	}
	if p := ksPValue(ksStatistic(xs, uniform), len(xs)); p > 1e-6 {
		t.Fatalf("squared uniforms accepted as U(0,1): p %g", p)
	}
}

// acceptedCDFs returns the CDFs of the area fraction and of the ratio
// variable (log r if logRatio, else r) of the rectangles RandomErasing
// accepts on a large square image: the proposal is uniform over
// (s, ratio variable), accepted when s·r < 1 and s/r < 1 (h < H, w < W),
// so the accepted pair is uniform over that region. The marginals are
// integrated on a grid.
func acceptedCDFs(scale, ratio [2]float64, logRatio bool) (sCDF, tCDF func(float64) float64) {
	const n = 1500
	t0, t1 := ratio[0], ratio[1]
	if logRatio {
		t0, t1 = math.Log(t0), math.Log(t1)
	}
	sMass := make([]float64, n)
	tMass := make([]float64, n)
	total := 0.0
	for i := 0; i < n; i++ {
		s := scale[0] + (scale[1]-scale[0])*(float64(i)+0.5)/n
		for j := 0; j < n; j++ {
			tv := t0 + (t1-t0)*(float64(j)+0.5)/n
			r := tv
			if logRatio {
				r = math.Exp(tv)
			}
			if s*r < 1 && s/r < 1 {
				sMass[i]++
				tMass[j]++
				total++
			}
		}
	}
	cdf := func(mass []float64, lo, hi float64) func(float64) float64 {
		cum := make([]float64, n+1)
		for i, m := range mass {
			cum[i+1] = cum[i] + m/total
		}
		return func(x float64) float64 {
			u := (x - lo) / (hi - lo) * n
			if u <= 0 {
				return 0
			}
			if u >= n {
				return 1
			}
			k := int(u)
			return cum[k] + (u-float64(k))*(cum[k+1]-cum[k])
		}
	}
	return cdf(sMass, scale[0], scale[1]), cdf(tMass, t0, t1)
}

func TestRandomErasingRegionDistribution(t *testing.T) {
	const L, n = 1000, 3000
	cases := []struct {
		name string
		e    RandomErasing
	}{
		{"torchvision defaults", NewRandomErasing()},
		{"no rejection", RandomErasing{P: 1, Scale: [2]float64{0.02, 0.33}, Ratio: [2]float64{0.5, 2}, LogRatio: true, Attempts: 10}},
		{"paper", PaperRandomErasing()},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 77))
			sCDF, tCDF := acceptedCDFs(tc.e.Scale, tc.e.Ratio, tc.e.LogRatio)
			fracs := make([]float64, 0, n)
			ratios := make([]float64, 0, n)
			for len(fracs) < n {
				top, left, h, w, ok := tc.e.Region(rng, L, L)
				if !ok {
					continue
				}
				if top < 0 || left < 0 || h < 1 || w < 1 || h >= L || w >= L || top+h > L || left+w > L {
					t.Fatalf("region (%d,%d)+(%d,%d) outside %d×%d", top, left, h, w, L, L)
				}
				fracs = append(fracs, float64(h*w)/(L*L))
				r := float64(h) / float64(w)
				if tc.e.LogRatio {
					r = math.Log(r)
				}
				ratios = append(ratios, r)
			}
			for _, v := range []struct {
				what string
				xs   []float64
				cdf  func(float64) float64
			}{{"area fraction", fracs, sCDF}, {"aspect ratio", ratios, tCDF}} {
				d := ksStatistic(v.xs, v.cdf)
				p := ksPValue(d, len(v.xs))
				t.Logf("%s: KS D = %.4f, p = %.3f", v.what, d, p)
				if p < 0.001 {
					t.Errorf("%s does not follow the spec: KS D = %.4f, p = %.2g", v.what, d, p)
				}
			}
		})
	}
	// A uniform ratio is not log-uniform: the test can tell them apart.
	rng := rand.New(rand.NewPCG(5, 5))
	e := NewRandomErasing()
	e.LogRatio = false
	_, tCDF := acceptedCDFs(NewRandomErasing().Scale, NewRandomErasing().Ratio, true)
	var ratios []float64
	for len(ratios) < n {
		if _, _, h, w, ok := e.Region(rng, L, L); ok {
			ratios = append(ratios, math.Log(float64(h)/float64(w)))
		}
	}
	if p := ksPValue(ksStatistic(ratios, tCDF), n); p > 1e-6 {
		t.Errorf("uniform ratios pass as log-uniform: p %g", p)
	}
}

// erasedRect applies e to a (c, h, w) image of values in [0, 1] with fill −1
// and returns the bounding rectangle of the changed pixels (ok false if none),
// failing if the changed pixels are not exactly that rectangle on every
// channel.
func erasedRect(t *testing.T, e RandomErasing, rng *rand.Rand, c, h, w int) (top, left, eh, ew int, ok bool) {
	t.Helper()
	img := data.NewImage(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = 0.5
	}
	e.Fill = Fill{Kind: FillValue, Values: []float32{-1}}
	out := e.Apply(rng, data.Sample{Image: img}).Image
	y0, x0, y1, x1 := h, w, -1, -1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if out.At(0, y, x) == -1 {
				y0, x0, y1, x1 = min(y0, y), min(x0, x), max(y1, y), max(x1, x)
			}
		}
	}
	if y1 < 0 {
		return 0, 0, 0, 0, false
	}
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				in := y >= y0 && y <= y1 && x >= x0 && x <= x1
				if (out.At(ch, y, x) == -1) != in {
					t.Fatalf("erased pixels are not one rectangle: channel %d pixel (%d,%d)", ch, x, y)
				}
			}
		}
	}
	return y0, x0, y1 - y0 + 1, x1 - x0 + 1, true
}

func TestRandomErasingProbabilityAndBounds(t *testing.T) {
	const n = 3000
	for _, p := range []float64{0.5, 0.2} {
		e := NewRandomErasing()
		e.P = p
		rng := rand.New(rand.NewPCG(uint64(p*100), 3))
		erased := 0
		for k := 0; k < n; k++ {
			h, w := 8+rng.IntN(40), 8+rng.IntN(40) // squares and slivers
			_, _, eh, ew, ok := erasedRect(t, e, rng, 3, h, w)
			if ok {
				erased++
				if eh >= h || ew >= w {
					t.Fatalf("erased %d×%d of a %d×%d image: not strictly inside", ew, eh, w, h)
				}
			}
		}
		// Region can fail all 10 attempts only on very thin images; these are
		// at most 6:1, where that is rare, so the count is Binomial(n, ~p).
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(erased)-n*p) > 4*sd {
			t.Errorf("p %g: erased %d of %d, want %.0f ± %.0f", p, erased, n, n*p, 4*sd)
		}
	}
	// A 1-pixel-high image can never fit h < 1: nothing is erased.
	rng := rand.New(rand.NewPCG(1, 1))
	e := NewRandomErasing()
	e.P = 1
	for k := 0; k < 100; k++ {
		if _, _, _, _, ok := erasedRect(t, e, rng, 1, 1, 50); ok {
			t.Fatal("erased a 1-pixel-high image")
		}
	}
}

func TestRandomErasingFills(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	e := NewRandomErasing()
	e.P = 1
	e.Scale = [2]float64{0.3, 0.3}
	e.Ratio = [2]float64{1, 1}
	img := func() *data.Image {
		m := data.NewImage(3, 40, 40)
		for c := 0; c < 3; c++ {
			for i := range m.Plane(c) {
				m.Plane(c)[i] = 0.1 * float32(c+1)
			}
		}
		return m
	}
	region := func(before, after *data.Image) [][]float32 {
		out := make([][]float32, 3)
		for c := 0; c < 3; c++ {
			for i, v := range after.Plane(c) {
				if v != before.Plane(c)[i] {
					out[c] = append(out[c], v)
				}
			}
		}
		return out
	}
	// Per-channel values.
	e.Fill = Fill{Kind: FillValue, Values: []float32{7, 8, 9}}
	got := region(img(), e.Apply(rng, data.Sample{Image: img()}).Image)
	for c := 0; c < 3; c++ {
		if len(got[c]) != 22*22 || got[c][0] != float32(7+c) {
			t.Fatalf("value fill channel %d: %d pixels, first %v", c, len(got[c]), got[c])
		}
	}
	// Standard normal.
	e.Fill = Fill{Kind: FillNormal}
	got = region(img(), e.Apply(rng, data.Sample{Image: img()}).Image)
	var sum, sq float64
	for _, v := range got[0] {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	mean := sum / float64(len(got[0]))
	if sd := math.Sqrt(sq/float64(len(got[0])) - mean*mean); math.Abs(mean) > 0.2 || math.Abs(sd-1) > 0.15 {
		t.Fatalf("normal fill: mean %.2f sd %.2f", mean, sd)
	}
	// Uniform.
	e.Fill = Fill{Kind: FillUniform}
	got = region(img(), e.Apply(rng, data.Sample{Image: img()}).Image)
	for _, v := range got[1] {
		if v < 0 || v >= 1 {
			t.Fatalf("uniform fill value %v", v)
		}
	}
	// Image mean: an image whose left half is 0 and right half 1 has mean 0.5.
	e.Fill = Fill{Kind: FillMean}
	half := data.NewImage(3, 40, 40)
	for i := range half.Pix {
		if i%40 >= 20 {
			half.Pix[i] = 1
		}
	}
	out := e.Apply(rng, data.Sample{Image: half.Clone()}).Image
	found := false
	for _, v := range out.Pix {
		if v == 0.5 {
			found = true
		} else if v != 0 && v != 1 {
			t.Fatalf("mean fill wrote %v", v)
		}
	}
	if !found {
		t.Fatal("mean fill wrote no 0.5")
	}
	// Labels: kept by default, Ignore on request.
	for _, mode := range []LabelMode{KeepLabels, IgnoreLabels} {
		e.Labels = mode
		s := e.Apply(rng, data.Sample{Image: img(), Mask: data.NewMask(40, 40)})
		ign := 0
		for _, v := range s.Mask.Pix {
			if v == data.Ignore {
				ign++
			}
		}
		if (mode == KeepLabels && ign != 0) || (mode == IgnoreLabels && ign != 22*22) {
			t.Fatalf("label mode %d: %d ignore pixels", mode, ign)
		}
	}
}

func TestObjectAwareErasing(t *testing.T) {
	boxes := []data.Box{{X0: 10, Y0: 10, X1: 50, Y1: 40, Class: 1}, {X0: 60.5, Y0: 55, X1: 90, Y1: 99.5, Class: 2}, {X0: 95, Y0: 0, X1: 96, Y1: 30}}
	inBox := func(x, y int) int {
		for k, b := range boxes {
			if float32(x) >= b.X0 && float32(x+1) <= b.X1 && float32(y) >= b.Y0 && float32(y+1) <= b.Y1 {
				return k
			}
		}
		return -1
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for _, target := range []EraseTarget{EraseObjects, EraseImageAndObjects} {
		e := NewRandomErasing()
		e.Target = target
		e.Fill = Fill{Kind: FillValue, Values: []float32{-1}}
		hits := [3]int{}
		outside := 0
		const n = 600
		for k := 0; k < n; k++ {
			img := data.NewImage(1, 100, 100)
			s := e.Apply(rng, data.Sample{Image: img, Boxes: append([]data.Box(nil), boxes...)})
			var seen [3]bool
			for i, v := range s.Image.Pix {
				if v != -1 {
					continue
				}
				if b := inBox(i%100, i/100); b >= 0 {
					seen[b] = true
				} else {
					outside++
				}
			}
			for b := range seen {
				if seen[b] {
					hits[b]++
				}
			}
			if len(s.Boxes) != 3 {
				t.Fatal("boxes changed")
			}
		}
		if target == EraseObjects && outside > 0 {
			t.Fatalf("ORE erased %d pixels outside the boxes", outside)
		}
		if target == EraseImageAndObjects && outside == 0 {
			t.Fatal("I+ORE never erased outside the boxes")
		}
		// Each box is erased independently with probability 0.5 (a 1-pixel-wide
		// box never); with I+ORE the image rectangle adds hits.
		for b := 0; b < 2; b++ {
			lo := 0.5*n - 4*math.Sqrt(n*0.25)
			if float64(hits[b]) < lo || (target == EraseObjects && float64(hits[b]) > 0.5*n+4*math.Sqrt(n*0.25)) {
				t.Errorf("target %d box %d erased %d of %d times", target, b, hits[b], n)
			}
		}
		if target == EraseObjects && hits[2] != 0 {
			t.Errorf("1-pixel-wide box erased %d times", hits[2])
		}
	}
}

func BenchmarkRandomErasing(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	img := data.NewImage(3, 128, 128)
	e := NewRandomErasing()
	e.Fill = Fill{Kind: FillNormal}
	for b.Loop() {
		e.Apply(rng, data.Sample{Image: img})
	}
}
