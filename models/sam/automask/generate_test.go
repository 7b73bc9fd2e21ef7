package automask

import (
	"encoding/json"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/tensor"
)

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.PointGrids = [][][2]float64{{{0.5, 0.5}}} }, "exactly one"},
		{func(o *Options) { o.PointsPerSide = 0 }, "exactly one"},
		{func(o *Options) { o.PointsPerBatch = 0 }, "points_per_batch"},
		{func(o *Options) { o.CropNLayers = -1 }, "crop_n_layers"},
		{func(o *Options) { o.CropNPointsDownscaleFactor = 0 }, "downscale"},
		{func(o *Options) { o.CropOverlapRatio = math.NaN() }, "crop_overlap_ratio"},
		{func(o *Options) { o.MinMaskRegionArea = -3 }, "min_mask_region_area"},
		{func(o *Options) { o.PredIoUThresh = math.Inf(1) }, "pred_iou_thresh"},
		{func(o *Options) { o.OutputMode = "png" }, "output_mode"},
		{func(o *Options) { o.PointsPerSide, o.CropNLayers, o.CropNPointsDownscaleFactor = 2, 2, 2 }, "crop layer 2 gets no points"},
		{func(o *Options) {
			o.PointsPerSide, o.CropNLayers, o.PointGrids = 0, 1, [][][2]float64{{{0.5, 0.5}}}
		}, "one per layer"},
		{func(o *Options) { o.PointsPerSide, o.PointGrids = 0, [][][2]float64{{}} }, "empty"},
	} {
		o := DefaultOptions()
		c.edit(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", o, err, c.want)
		}
	}
	// The JSON names are the reference's.
	b, err := json.Marshal(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"points_per_side":32`, `"points_per_batch":64`, `"pred_iou_thresh":0.88`, `"stability_score_thresh":0.95`,
		`"stability_score_offset":1`, `"box_nms_thresh":0.7`, `"crop_n_layers":0`, `"crop_nms_thresh":0.7`,
		`"crop_overlap_ratio":0.3413333333333333`, `"crop_n_points_downscale_factor":1`, `"min_mask_region_area":0`, `"output_mode":"binary_mask"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("DefaultOptions JSON %s lacks %s", b, k)
		}
	}
}

func TestSegmentationJSON(t *testing.T) {
	mask := []uint8{0, 1, 1, 0, 0, 1}
	r := rle.Encode(mask, 2, 3)
	for _, c := range []struct {
		mode OutputMode
		want string
	}{
		{UncompressedRLE, `{"size":[2,3],"counts":[2,1,1,2]}`},
		{COCORLE, `{"size":[2,3],"counts":"` + r.String() + `"}`},
		{BinaryMask, `[[false,true,true],[false,false,true]]`},
	} {
		s := Segmentation{RLE: r, Mode: c.mode}
		if c.mode == BinaryMask {
			s.Mask = mask
		}
		b, err := json.Marshal(s)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %s %v, want %s", c.mode, b, err, c.want)
		}
		var back Segmentation
		if err := json.Unmarshal(b, &back); err != nil || back.Mode != c.mode || !slices.Equal(back.RLE.Counts, r.Counts) || back.RLE.H != 2 || back.RLE.W != 3 {
			t.Errorf("%s: back %+v %v", c.mode, back, err)
		}
	}
	for _, bad := range []string{`{"size":[2,3],"counts":[1,2]}`, `{"size":[2,3],"counts":"!!"}`, `"x"`, `[[true],[true,false]]`} {
		var s Segmentation
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	// A NaN stability score is written as null and read back as NaN.
	rec := Record{Segmentation: Segmentation{RLE: r, Mode: UncompressedRLE}, StabilityScore: math.NaN(), PointCoords: [][2]float64{{1, 2}}}
	b, err := json.Marshal(rec)
	if err != nil || !strings.Contains(string(b), `"stability_score":null`) {
		t.Fatalf("%s %v", b, err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.StabilityScore) {
		t.Fatalf("%+v %v", back, err)
	}
}

// keepOptions keep a good number of the random tiny model's masks (see the fixtures).
func keepOptions() Options {
	o := DefaultOptions()
	o.PointsPerSide, o.PredIoUThresh, o.StabilityScoreThresh, o.StabilityScoreOffset = 6, 0, 0.15, 0.005
	o.BoxNMSThresh, o.CropNMSThresh, o.CropNLayers, o.PointsPerBatch = 0.97, 0.97, 1, 10
	return o
}

func TestGenerateAPI(t *testing.T) {
	m := loadTinyWin(t)
	pix, h, w := readPNG(t, filepath.Join(fixtures, "automask_image_small.png"))
	opt := keepOptions()
	var mu sync.Mutex
	var batches, encodes []int
	opt.Progress = func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, done, total)
	}
	opt.EncodeProgress = func(crop, crops, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if done == total {
			encodes = append(encodes, crop, crops)
		}
	}
	g, err := New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := g.Generate(pix, h, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 5 {
		t.Fatalf("%d records", len(recs))
	}
	// 36 points on the image and on each of 4 crops, in 4 batches each.
	var want []int
	for i := 1; i <= 20; i++ {
		want = append(want, i, 20)
	}
	if !slices.Equal(batches, want) {
		t.Errorf("progress %v, want %v", batches, want)
	}
	if want := []int{0, 5, 1, 5, 2, 5, 3, 5, 4, 5}; !slices.Equal(encodes, want) {
		t.Errorf("encoder progress (crop, crops at the end) %v, want %v", encodes, want)
	}
	// With the whole image's embedding given, the same records.
	p := sam.NewPredictor(m)
	if err := p.SetImageRGB(pix, h, w, nil); err != nil {
		t.Fatal(err)
	}
	f, _, _ := p.Embedding()
	again, err := g.GenerateWithEmbedding(pix, h, w, f)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "with embedding", again, recs)
	// Concurrent calls agree.
	var wg sync.WaitGroup
	res := make([][]Record, 3)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], _ = g.Generate(pix, h, w)
		}()
	}
	wg.Wait()
	for i := range res {
		sameRecords(t, "concurrent", res[i], recs)
	}
	// Output modes and GenerateImage.
	for _, mode := range []OutputMode{BinaryMask, COCORLE} {
		o := keepOptions()
		o.OutputMode = mode
		g2, err := New(m, o)
		if err != nil {
			t.Fatal(err)
		}
		img := imageFromRGB(pix, h, w)
		r2, err := g2.GenerateImage(img)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, string(mode), r2, recs)
		for i, r := range r2 {
			if r.Segmentation.Mode != mode || (mode == BinaryMask && !slices.Equal(r.Segmentation.Mask, r.Segmentation.RLE.Decode())) {
				t.Fatalf("%s record %d: %+v", mode, i, r.Segmentation)
			}
		}
	}
	// No crops and an embedding: the pixels are not needed.
	o := keepOptions()
	o.CropNLayers = 0
	g0, _ := New(m, o)
	a, err := g0.GenerateWithEmbedding(nil, h, w, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g0.Generate(pix, h, w)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "no pixels", a, b)
}

func sameRecords(t *testing.T, what string, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !slices.Equal(g.Segmentation.RLE.Counts, w.Segmentation.RLE.Counts) || g.BBox != w.BBox || g.Area != w.Area ||
			g.PredictedIoU != w.PredictedIoU || g.StabilityScore != w.StabilityScore || g.CropBox != w.CropBox ||
			!slices.Equal(g.PointCoords, w.PointCoords) {
			t.Fatalf("%s: record %d differs: %+v, want %+v", what, i, g, w)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	m := loadTinyWin(t)
	if _, err := New(m, Options{}); err == nil {
		t.Error("zero Options: no error")
	}
	g, err := New(m, keepOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pix  []uint8
		h, w int
		emb  *tensor.Tensor
		want string
	}{
		{make([]uint8, 10), 4, 4, nil, "needs 48 bytes"},
		{nil, 0, 4, nil, "image of 4×0"},
		{nil, 4, 4, tensor.Zeros(1, 32, 8, 8), "needs 48 bytes"}, // crops need the pixels
		{make([]uint8, 48), 4, 4, tensor.Zeros(1, 16, 8, 8), "embedding (1,16,8,8)"},
	} {
		_, err := g.GenerateWithEmbedding(c.pix, c.h, c.w, c.emb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d×%d: error %v, want one containing %q", c.w, c.h, err, c.want)
		}
	}
	o := keepOptions()
	o.CropNLayers, o.PointsPerSide = 3, 8
	g3, err := New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g3.Generate(make([]uint8, 5*5*3), 5, 5); err == nil || !strings.Contains(err.Error(), "too small for 3 crop layers") {
		t.Errorf("5×5 image with 3 crop layers: %v", err)
	}
}

func imageFromRGB(pix []uint8, h, w int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		copy(img.Pix[4*i:4*i+3], pix[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img
}
