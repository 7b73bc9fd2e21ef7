package augment

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// goldenTransforms is testdata/data/transforms.json, made by
// scripts/golden_data.py with torchvision 0.14.
type goldenTransforms struct {
	Image      []float32 `json:"image"`
	ImageShape []int     `json:"image_shape"`
	Bilinear   []struct {
		Size []int     `json:"size"`
		Out  []float32 `json:"out"`
	} `json:"bilinear"`
	Labels  []uint8 `json:"labels"`
	Nearest []struct {
		Size []int   `json:"size"`
		Out  []uint8 `json:"out"`
	} `json:"nearest"`
	ColorImage []float32 `json:"color_image"`
	ColorShape []int     `json:"color_shape"`
	Color      []struct {
		Op     string    `json:"op"`
		Factor float32   `json:"factor"`
		Out    []float32 `json:"out"`
	} `json:"color"`
}

func loadGolden(t *testing.T) goldenTransforms {
	t.Helper()
	b, err := os.ReadFile("../testdata/data/transforms.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenTransforms
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// augmentTol is the tolerance of the torchvision comparisons under the one
// golden measure (golden.Err): measured worst case 3.0e-6 (contrast,
// saturation).
const augmentTol = 1e-5

// resizeTol is the tolerance of bilinear resizing: torchvision's float32
// arithmetic rounds differently from fovea's (about 1e-7 absolute); measured
// worst case 1.1e-5 (11×5, on an element below 1 % of the image's maximum).
const resizeTol = 2e-5

func TestResizeImageMatchesTorchvision(t *testing.T) {
	g := loadGolden(t)
	img := &data.Image{C: g.ImageShape[0], H: g.ImageShape[1], W: g.ImageShape[2], Pix: g.Image}
	if len(g.Bilinear) == 0 {
		t.Fatal("transforms.json: no bilinear cases")
	}
	for _, tc := range g.Bilinear {
		out := ResizeImage(img, tc.Size[0], tc.Size[1])
		golden.Check(t, fmt.Sprintf("augment/resize_bilinear/%dx%d", tc.Size[0], tc.Size[1]), out.Pix, tc.Out, resizeTol)
	}
}

func TestResizeMaskMatchesTorch(t *testing.T) {
	g := loadGolden(t)
	m := &data.Mask{H: 7, W: 9, Pix: g.Labels}
	for _, tc := range g.Nearest {
		out := ResizeMask(m, tc.Size[0], tc.Size[1])
		if string(out.Pix) != string(tc.Out) {
			t.Fatalf("size %v: got %v, want %v", tc.Size, out.Pix, tc.Out)
		}
	}
}

func TestColorAdjustmentsMatchTorchvision(t *testing.T) {
	g := loadGolden(t)
	if len(g.Color) == 0 {
		t.Fatal("transforms.json: no color cases")
	}
	for _, tc := range g.Color {
		img := &data.Image{C: g.ColorShape[0], H: g.ColorShape[1], W: g.ColorShape[2], Pix: append([]float32(nil), g.ColorImage...)}
		switch tc.Op {
		case "brightness":
			AdjustBrightness(img, tc.Factor)
		case "contrast":
			AdjustContrast(img, tc.Factor)
		case "saturation":
			AdjustSaturation(img, tc.Factor)
		case "hue":
			AdjustHue(img, tc.Factor)
		}
		golden.Check(t, fmt.Sprintf("augment/%s/%g", tc.Op, tc.Factor), img.Pix, tc.Out, augmentTol)
	}
}

// ksTwoSample returns the two-sample KS statistic of a and b, evaluated at
// every distinct value (so ties in discrete data are handled).
func ksTwoSample(a, b []float64) float64 {
	a, b = append([]float64(nil), a...), append([]float64(nil), b...)
	sortFloat64s(a)
	sortFloat64s(b)
	d := 0.0
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x float64
		switch {
		case j >= len(b) || (i < len(a) && a[i] <= b[j]):
			x = a[i]
		default:
			x = b[j]
		}
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

func sortFloat64s(x []float64) {
	for i := 1; i < len(x); i++ {
		for k := i; k > 0 && x[k] < x[k-1]; k-- {
			x[k], x[k-1] = x[k-1], x[k]
		}
	}
}

// TestRandomErasingMatchesTorchvisionSamples compares rectangles drawn by
// Region with rectangles drawn by torchvision 0.14's get_params (fixture) on
// a small 23×61 image, where rounding and the strict fit test matter.
func TestRandomErasingMatchesTorchvisionSamples(t *testing.T) {
	b, err := os.ReadFile("../testdata/data/erasing.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Size            []int
		H, W, Top, Left []int
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	H, W := g.Size[0], g.Size[1]
	type stats struct{ h, w, area, top, left []float64 }
	var ref, got stats
	refFail, gotFail := 0, 0
	for k := range g.H {
		if g.H[k] == H && g.W[k] == W { // get_params' "nothing fits"
			refFail++
			continue
		}
		ref.h = append(ref.h, float64(g.H[k]))
		ref.w = append(ref.w, float64(g.W[k]))
		ref.area = append(ref.area, float64(g.H[k]*g.W[k]))
		ref.top = append(ref.top, float64(g.Top[k])/float64(H-g.H[k]+1))
		ref.left = append(ref.left, float64(g.Left[k])/float64(W-g.W[k]+1))
	}
	e := NewRandomErasing()
	rng := rand.New(rand.NewPCG(12, 34))
	const n = 4000
	for k := 0; k < n; k++ {
		top, left, h, w, ok := e.Region(rng, H, W)
		if !ok {
			gotFail++
			continue
		}
		got.h = append(got.h, float64(h))
		got.w = append(got.w, float64(w))
		got.area = append(got.area, float64(h*w))
		got.top = append(got.top, float64(top)/float64(H-h+1))
		got.left = append(got.left, float64(left)/float64(W-w+1))
	}
	for _, c := range []struct {
		name string
		a, b []float64
	}{{"height", got.h, ref.h}, {"width", got.w, ref.w}, {"area", got.area, ref.area}, {"top", got.top, ref.top}, {"left", got.left, ref.left}} {
		d := ksTwoSample(c.a, c.b)
		ne := float64(len(c.a)*len(c.b)) / float64(len(c.a)+len(c.b))
		p := ksPValue(d, int(ne))
		t.Logf("%s: two-sample KS D = %.4f, p = %.3f", c.name, d, p)
		if p < 0.001 {
			t.Errorf("%s distribution differs from torchvision's: D = %.4f, p = %.2g", c.name, d, p)
		}
	}
	// Failures (no rectangle in 10 attempts) are rare on both sides.
	if float64(gotFail)/n > 0.01 || float64(refFail)/float64(len(g.H)) > 0.01 {
		t.Errorf("failures: fovea %d/%d, torchvision %d/%d", gotFail, n, refFail, len(g.H))
	}
}
