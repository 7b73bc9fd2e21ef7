package augment

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/fovea-ml/fovea/data"
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

func TestResizeImageMatchesTorchvision(t *testing.T) {
	g := loadGolden(t)
	img := &data.Image{C: g.ImageShape[0], H: g.ImageShape[1], W: g.ImageShape[2], Pix: g.Image}
	for _, tc := range g.Bilinear {
		out := ResizeImage(img, tc.Size[0], tc.Size[1])
		for i, want := range tc.Out {
			if math.Abs(float64(out.Pix[i]-want)) > 2e-6 {
				t.Fatalf("size %v value %d: got %v, want %v", tc.Size, i, out.Pix[i], want)
			}
		}
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
		for i, want := range tc.Out {
			if math.Abs(float64(img.Pix[i]-want)) > 2e-6 {
				t.Fatalf("%s %g value %d: got %v, want %v", tc.Op, tc.Factor, i, img.Pix[i], want)
			}
		}
	}
}
