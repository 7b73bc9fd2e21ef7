package augment

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/data"
)

// pilGoldenDir holds the fixtures scripts/golden_pilresize.py writes with
// Pillow 9.4 and torchvision 0.14.
const pilGoldenDir = "../testdata/pilresize"

// pilGolden is testdata/pilresize/cases.json.
type pilGolden struct {
	Pillow string `json:"pillow"`
	Cases  []struct {
		Name         string `json:"name"`
		Kind         string `json:"kind"`
		Seed         uint64 `json:"seed"`
		H            int    `json:"h"`
		W            int    `json:"w"`
		C            int    `json:"c"`
		OH           int    `json:"oh"`
		OW           int    `json:"ow"`
		Filter       string `json:"filter"`
		InputSHA256  string `json:"input_sha256"`
		OutputSHA256 string `json:"output_sha256"`
		Output       string `json:"output"`
	} `json:"cases"`
	FloatCases []struct {
		Name        string `json:"name"`
		Kind        string `json:"kind"`
		Seed        uint64 `json:"seed"`
		C           int    `json:"c"`
		H           int    `json:"h"`
		W           int    `json:"w"`
		OH          int    `json:"oh"`
		OW          int    `json:"ow"`
		InputSHA256 string `json:"input_sha256"`
		Output      string `json:"output"`
	} `json:"float_cases"`
}

func loadPILGolden(t testing.TB) pilGolden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pilGoldenDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g pilGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// pilSplitmix returns the splitmix64 outputs for states seed·2³² + i + 1,
// i < n, as the golden script's splitmix does.
func pilSplitmix(seed uint64, n int) []uint64 {
	z := make([]uint64, n)
	for i := range z {
		v := (seed<<32 + uint64(i) + 1) * 0x9E3779B97F4A7C15
		v = (v ^ v>>30) * 0xBF58476D1CE4E5B9
		v = (v ^ v>>27) * 0x94D049BB133111EB
		z[i] = v ^ v>>31
	}
	return z
}

// pilGenU8 is the golden script's gen_u8: a seeded HWC byte image.
func pilGenU8(kind string, seed uint64, h, w, c int) []uint8 {
	z := pilSplitmix(seed, h*w*c)
	out := make([]uint8, len(z))
	for i, v := range z {
		switch kind {
		case "noise":
			out[i] = uint8(v >> 56)
		case "binary":
			out[i] = uint8(255 * (v >> 63))
		case "ramp":
			y, x, ch := i/(w*c), (i/c)%w, i%c
			out[i] = uint8(((x*255)/max(w-1, 1) + y*3 + ch*40 + int(v>>60)) % 256)
		default:
			panic(kind)
		}
	}
	return out
}

// pilGenF32 is the golden script's gen_f32: a seeded CHW float image in [0, 1].
func pilGenF32(kind string, seed uint64, c, h, w int) *data.Image {
	img := data.NewImage(c, h, w)
	for i, v := range pilSplitmix(seed, c*h*w) {
		switch kind {
		case "uniform":
			img.Pix[i] = float32(v>>40) / (1 << 24)
		case "bytes":
			img.Pix[i] = float32(v>>56) / 255
		default:
			panic(kind)
		}
	}
	return img
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var pilFilterNames = map[string]PILFilter{
	"nearest": PILNearest, "box": PILBox, "bilinear": PILBilinear,
	"hamming": PILHamming, "bicubic": PILBicubic, "lanczos": PILLanczos,
}

func TestResizePILMatchesPillow(t *testing.T) {
	g := loadPILGolden(t)
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			src := pilGenU8(tc.Kind, tc.Seed, tc.H, tc.W, tc.C)
			if got := sha256Hex(src); got != tc.InputSHA256 {
				t.Fatalf("generated input differs from the script's (sha256 %s, want %s)", got, tc.InputSHA256)
			}
			f, ok := pilFilterNames[tc.Filter]
			if !ok {
				t.Fatalf("unknown filter %q", tc.Filter)
			}
			out := ResizePIL(src, tc.H, tc.W, tc.C, tc.OH, tc.OW, f)
			if len(out) != tc.OH*tc.OW*tc.C {
				t.Fatalf("len %d, want %d", len(out), tc.OH*tc.OW*tc.C)
			}
			if tc.Output != "" {
				want, err := os.ReadFile(filepath.Join(pilGoldenDir, tc.Output))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, want) {
					n, first := 0, -1
					for i := range want {
						if out[i] != want[i] {
							if first < 0 {
								first = i
							}
							n++
						}
					}
					p := first / tc.C
					t.Fatalf("%d of %d bytes differ; first at (y %d, x %d, c %d): got %d, want %d",
						n, len(want), p/tc.OW, p%tc.OW, first%tc.C, out[first], want[first])
				}
			}
			if got := sha256Hex(out); got != tc.OutputSHA256 {
				t.Fatalf("output sha256 %s, want %s", got, tc.OutputSHA256)
			}
		})
	}
}

func TestResizeImagePILMatchesTorchvision(t *testing.T) {
	g := loadPILGolden(t)
	if len(g.FloatCases) == 0 {
		t.Fatal("no float cases")
	}
	for _, tc := range g.FloatCases {
		t.Run(tc.Name, func(t *testing.T) {
			img := pilGenF32(tc.Kind, tc.Seed, tc.C, tc.H, tc.W)
			var in bytes.Buffer
			if err := binary.Write(&in, binary.LittleEndian, img.Pix); err != nil {
				t.Fatal(err)
			}
			if got := sha256Hex(in.Bytes()); got != tc.InputSHA256 {
				t.Fatalf("generated input differs from the script's (sha256 %s, want %s)", got, tc.InputSHA256)
			}
			b, err := os.ReadFile(filepath.Join(pilGoldenDir, tc.Output))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, tc.C*tc.OH*tc.OW)
			if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, want); err != nil {
				t.Fatal(err)
			}
			out := ResizeImagePIL(img, tc.OH, tc.OW, PILBilinear)
			if out.C != tc.C || out.H != tc.OH || out.W != tc.OW {
				t.Fatalf("shape (%d,%d,%d), want (%d,%d,%d)", out.C, out.H, out.W, tc.C, tc.OH, tc.OW)
			}
			for i, v := range want {
				if math.Float32bits(out.Pix[i]) != math.Float32bits(v) {
					t.Fatalf("value %d: got %v, want %v", i, out.Pix[i], v)
				}
			}
		})
	}
}

// TestImageToHWCTruncates checks the quantisation of to_pil_image: float32
// multiplication by 255, then truncation.
func TestImageToHWCTruncates(t *testing.T) {
	img := &data.Image{C: 1, H: 1, W: 8, Pix: []float32{0, 0.999, 1, 0.5, -0.2, 1.7, float32(math.NaN()), 3.0 / 255}}
	got := ImageToHWC(img)
	want := []uint8{0, 254, 255, 127, 0, 255, 0, uint8(float32(3.0/255) * 255)}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Channels interleave.
	rgb := &data.Image{C: 3, H: 1, W: 2, Pix: []float32{1, 0, 0.5, 0.5, 0, 1}}
	if got := ImageToHWC(rgb); !bytes.Equal(got, []uint8{255, 127, 0, 0, 127, 255}) {
		t.Fatalf("rgb: got %v", got)
	}
}

func TestHWCToImageRoundTrip(t *testing.T) {
	pix := pilGenU8("noise", 7, 5, 6, 3)
	img := HWCToImage(pix, 5, 6, 3)
	if img.At(1, 2, 3) != float32(pix[(2*6+3)*3+1])/255 {
		t.Fatal("layout")
	}
	back, h, w, c := GoImageToHWC(img.ToGoImage())
	if h != 5 || w != 6 || c != 3 || !bytes.Equal(back, pix) {
		t.Fatalf("GoImageToHWC(ToGoImage) = (%d,%d,%d) %v, want %v", h, w, c, back, pix)
	}
}

func TestGoImageToHWC(t *testing.T) {
	g := image.NewGray(image.Rect(2, 3, 5, 5))
	for i := range g.Pix {
		g.Pix[i] = uint8(10 * i)
	}
	pix, h, w, c := GoImageToHWC(g)
	if h != 2 || w != 3 || c != 1 || !bytes.Equal(pix, g.Pix) {
		t.Fatalf("gray: (%d,%d,%d) %v", h, w, c, pix)
	}
	n := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	n.Set(0, 0, color.NRGBA{1, 2, 3, 40})
	n.Set(1, 0, color.NRGBA{4, 5, 6, 255})
	pix, h, w, c = GoImageToHWC(n)
	if h != 1 || w != 2 || c != 3 || !bytes.Equal(pix, []uint8{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("nrgba: (%d,%d,%d) %v", h, w, c, pix)
	}
	p := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{9, 8, 7, 255}, color.RGBA{200, 100, 50, 255}})
	p.Pix[1] = 1
	pix, _, _, c = GoImageToHWC(p)
	if c != 3 || !bytes.Equal(pix, []uint8{9, 8, 7, 200, 100, 50}) {
		t.Fatalf("paletted: %v", pix)
	}
}

// TestResizePILChannels checks that an image with c channels resizes like c
// single-channel images, that an unchanged size copies, and that a constant
// image stays constant under every filter.
func TestResizePILChannels(t *testing.T) {
	const h, w, c, oh, ow = 23, 31, 4, 10, 45
	src := pilGenU8("noise", 11, h, w, c)
	for f := PILNearest; f <= PILHamming; f++ {
		out := ResizePIL(src, h, w, c, oh, ow, f)
		for ch := 0; ch < c; ch++ {
			plane := make([]uint8, h*w)
			for i := range plane {
				plane[i] = src[i*c+ch]
			}
			one := ResizePIL(plane, h, w, 1, oh, ow, f)
			for i, v := range one {
				if out[i*c+ch] != v {
					t.Fatalf("%v channel %d pixel %d: got %d, want %d", f, ch, i, out[i*c+ch], v)
				}
			}
		}
		flat := bytes.Repeat([]uint8{0, 77, 255}, h*w)
		for i, v := range ResizePIL(flat, h, w, 3, oh, ow, f) {
			if v != []uint8{0, 77, 255}[i%3] {
				t.Fatalf("%v: constant image changed at %d: %d", f, i, v)
			}
		}
	}
	same := ResizePIL(src, h, w, c, h, w, PILBilinear)
	if !bytes.Equal(same, src) || &same[0] == &src[0] {
		t.Fatal("identity resize should return a copy")
	}
}

func TestResizePILPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"short slice", func() { ResizePIL(make([]uint8, 5), 2, 3, 1, 4, 4, PILBilinear) }},
		{"zero size", func() { ResizePIL(make([]uint8, 6), 2, 3, 1, 0, 4, PILBilinear) }},
		{"filter", func() { ResizePIL(make([]uint8, 6), 2, 3, 1, 4, 4, PILFilter(9)) }},
		{"channels", func() { ResizeImagePIL(data.NewImage(2, 3, 3), 4, 4, PILBilinear) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.fn()
		}()
	}
	if s := fmt.Sprint(PILBilinear, PILFilter(9)); s != "BILINEAR PILFilter(9)" {
		t.Errorf("String: %q", s)
	}
}

// BenchmarkResizePILSAM is Segment Anything's preprocessing of a 1500×2250
// photograph: bilinear to 683×1024.
func BenchmarkResizePILSAM(b *testing.B) {
	src := pilGenU8("ramp", 5, 1500, 2250, 3)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		ResizePIL(src, 1500, 2250, 3, 683, 1024, PILBilinear)
	}
}
