package automask

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// The automask_<case>.json fixtures are SamAutomaticMaskGenerator's full output on a test
// image with the tiny_win model of scripts/golden_sam.py (see scripts/golden_automask.py),
// with, for each record, counts taken from the reference's full-size logits of the mask:
// the pixels above ±offset (inter, union) and the pixels within 1e-4·max(1, |t|) of each
// cutoff t (near0, near_hi, near_lo).
//
// A float32 reimplementation agrees with PyTorch's logits to about 1e-6 of their scale,
// not bit for bit, so the comparison is: the same records in the same order; crop boxes
// and point coordinates exact; predicted IoUs within 1e-4; masks identical except at
// most near0 pixels (those whose reference logit is within 1e-4 of the threshold), so
// areas within near0 and boxes exact when near0 is 0; stability scores exact when no
// logit is near ±offset, else within the range those near pixels allow.

type goldenRecord struct {
	Record
	Near0  int `json:"near0"`
	NearHi int `json:"near_hi"`
	NearLo int `json:"near_lo"`
	Inter  int `json:"inter"`
	Union  int `json:"union"`
}

type goldenCase struct {
	Image   string         `json:"image"`
	Model   string         `json:"model"`
	Options Options        `json:"options"`
	Records []goldenRecord `json:"records"`
}

// UnmarshalJSON reads the fixture's bbox and crop_box, which the reference writes as
// floats when a batch kept no mask (the values are integers either way).
func (g *goldenRecord) UnmarshalJSON(b []byte) error {
	var aux struct {
		BBox    [4]float64 `json:"bbox"`
		CropBox [4]float64 `json:"crop_box"`
		Near0   int        `json:"near0"`
		NearHi  int        `json:"near_hi"`
		NearLo  int        `json:"near_lo"`
		Inter   int        `json:"inter"`
		Union   int        `json:"union"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "bbox")
	delete(m, "crop_box")
	rest, _ := json.Marshal(m)
	if err := json.Unmarshal(rest, &g.Record); err != nil {
		return err
	}
	for i := range 4 {
		g.BBox[i], g.CropBox[i] = int(aux.BBox[i]), int(aux.CropBox[i])
	}
	g.Near0, g.NearHi, g.NearLo, g.Inter, g.Union = aux.Near0, aux.NearHi, aux.NearLo, aux.Inter, aux.Union
	return nil
}

func loadTinyWin(tb testing.TB) *sam.Model {
	tb.Helper()
	m, err := sam.Load(filepath.Join(fixtures, "tiny_win.pth"), filepath.Join(fixtures, "tiny_win.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func readPNG(tb testing.TB, path string) (pix []uint8, h, w int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		tb.Fatal(err)
	}
	pix, h, w, c := augment.GoImageToHWC(img)
	if c != 3 {
		tb.Fatalf("%s: %d channels, want RGB", path, c)
	}
	return pix, h, w
}

func TestGenerateGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "automask_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := loadTinyWin(t)
	report := golden.Reporting() // FOVEA_GOLDEN_REPORT=1
	ran := 0
	for _, file := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "automask_"), ".json")
		if name == "units" {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var gc goldenCase
			if err := json.Unmarshal(b, &gc); err != nil {
				t.Fatal(err)
			}
			if gc.Model != "tiny_win" {
				t.Fatalf("model %q", gc.Model)
			}
			pix, h, w := readPNG(t, filepath.Join(fixtures, gc.Image))
			g, err := New(m, gc.Options)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Generate(pix, h, w)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(gc.Records) {
				for i, r := range got {
					t.Logf("got  %d: bbox %v iou %.6f stab %.6f point %v crop %v", i, r.BBox, r.PredictedIoU, r.StabilityScore, r.PointCoords, r.CropBox)
				}
				for i, r := range gc.Records {
					t.Logf("want %d: bbox %v iou %.6f stab %.6f point %v crop %v", i, r.BBox, r.PredictedIoU, r.StabilityScore, r.PointCoords, r.CropBox)
				}
				t.Fatalf("%d records, the reference has %d", len(got), len(gc.Records))
			}
			var maxIoU float64
			var pixels, near, stabExact int
			for i, want := range gc.Records {
				r := got[i]
				if r.CropBox != want.CropBox || !slices.Equal(r.PointCoords, want.PointCoords) {
					t.Fatalf("record %d: crop %v point %v, want crop %v point %v", i, r.CropBox, r.PointCoords, want.CropBox, want.PointCoords)
				}
				maxIoU = max(maxIoU, math.Abs(r.PredictedIoU-want.PredictedIoU))
				if d := math.Abs(r.PredictedIoU - want.PredictedIoU); !(d <= 1e-4) {
					t.Errorf("record %d: predicted IoU %v, want %v", i, r.PredictedIoU, want.PredictedIoU)
				}
				gm, wm := r.Segmentation.RLE.Decode(), want.Segmentation.RLE.Decode()
				if len(gm) != len(wm) {
					t.Fatalf("record %d: mask of %d pixels, want %d", i, len(gm), len(wm))
				}
				diff := countDiff(gm, wm)
				pixels += diff
				near += want.Near0
				if diff > want.Near0 {
					t.Errorf("record %d: %d pixels differ, only %d reference logits are within 1e-4 of the threshold", i, diff, want.Near0)
				}
				if diff == 0 && (r.Area != want.Area || r.BBox != want.BBox) {
					t.Errorf("record %d: area %d bbox %v, want %d %v", i, r.Area, r.BBox, want.Area, want.BBox)
				}
				lo := float32(want.Inter-want.NearHi) / float32(want.Union+want.NearLo)
				hi := float32(want.Inter+want.NearHi) / float32(want.Union-want.NearLo)
				if float32(r.StabilityScore) == float32(want.StabilityScore) {
					stabExact++
				}
				if want.NearHi == 0 && want.NearLo == 0 {
					if float32(r.StabilityScore) != float32(want.StabilityScore) {
						t.Errorf("record %d: stability %v, want %v", i, r.StabilityScore, want.StabilityScore)
					}
				} else if s := float32(r.StabilityScore); s < lo || s > hi {
					t.Errorf("record %d: stability %v, want %v (or within [%v, %v])", i, r.StabilityScore, want.StabilityScore, lo, hi)
				}
				switch gc.Options.OutputMode {
				case COCORLE:
					// The reference's string is pycocotools' encoding of its counts, which
					// metrics/rle reproduces.
					want := rle.RLE{H: h, W: w, Counts: want.Segmentation.RLE.Counts}.String()
					if r.Segmentation.Mode != COCORLE || (diff == 0 && r.Segmentation.Counts() != want) {
						t.Errorf("record %d: coco_rle counts %q, want %q", i, r.Segmentation.Counts(), want)
					}
				case BinaryMask:
					if !slices.Equal(r.Segmentation.Mask, gm) {
						t.Errorf("record %d: binary mask differs from its RLE", i)
					}
				}
			}
			if report {
				t.Logf("%d records; max |Δ predicted IoU| %.2g; %d mask pixels differ (%d reference logits within 1e-4 of the threshold); %d stability scores exact",
					len(got), maxIoU, pixels, near, stabExact)
			}
			// The records survive JSON.
			js, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back []Record
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if !slices.Equal(back[i].Segmentation.RLE.Counts, got[i].Segmentation.RLE.Counts) || back[i].BBox != got[i].BBox ||
					back[i].StabilityScore != got[i].StabilityScore || back[i].Segmentation.Mode != got[i].Segmentation.Mode {
					t.Fatalf("record %d changed through JSON", i)
				}
			}
		})
	}
	if ran < 5 {
		t.Fatalf("found %d golden cases", ran)
	}
}
