package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/train"
)

// writeRGBImages writes n random RGB PNGs of h×w under dir and returns their paths.
func writeRGBImages(t *testing.T, dir string, n, h, w int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	var paths []string
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				// smooth blobs, so that SAM finds regions
				v := uint8((x*255/w + rng.IntN(16)) % 256)
				if (x-w/2)*(x-w/2)+(y-h/2)*(y-h/2) < h*w/10 {
					v = 255 - v/4
				}
				img.Set(x, y, color.RGBA{v, uint8(y * 255 / h), uint8(i * 40), 255})
			}
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		p := filepath.Join(dir, "im"+string(rune('a'+i))+".png")
		os.WriteFile(p, buf.Bytes(), 0o644)
		paths = append(paths, p)
	}
	return paths
}

// tinyGCN writes a small random GCN checkpoint in fovea train's format.
func tinyGCN(t *testing.T, path string) {
	t.Helper()
	cfg := gcn.DefaultConfig(4)
	cfg.Width = 0.125
	m, err := gcn.New(rand.New(rand.NewPCG(1, 2)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, safetensors.Tensor{Name: e.Name, DType: safetensors.F32, Shape: e.Tensor.Shape(), Float32: e.Tensor.Data()})
	}
	b, _ := json.Marshal(m.Config)
	if err := safetensors.Save(path, ts, map[string]string{"fovea.model": string(b)}); err != nil {
		t.Fatal(err)
	}
}

func TestPredictMatchesSingleMachine(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	paths := writeRGBImages(t, in, 3, 40, 56)
	os.WriteFile(filepath.Join(in, "broken.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	ckpt := filepath.Join(t.TempDir(), "gcn.safetensors")
	tinyGCN(t, ckpt)
	o := PredictOptions{Checkpoint: ckpt, Input: filepath.Join(in, "*.png"), Out: out,
		DeadLetters: filepath.Join(out, "dead.jsonl"), Counts: filepath.Join(out, "counts.json")}
	p, s := beam.NewPipelineWithRoot()
	Predict(s, o)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	m, err := train.LoadModel(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		img, err := data.ReadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		want := train.Predict(m, img)
		got, err := data.ReadMask(filepath.Join(out, stem(path)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if got.H != want.H || got.W != want.W || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%s: the pipeline's label map differs from train.Predict's", path)
		}
	}
	var c InferCounts
	readJSON(context.Background(), o.Counts, &c)
	if c.Images != 3 || c.DeadLetters != 1 {
		t.Errorf("counts %+v, want 3 images and 1 dead letter", c)
	}
	modelMu.Lock()
	loads := modelLoads[ckpt]
	modelMu.Unlock()
	if loads != 1 {
		t.Errorf("the model was loaded %d times, want once per worker process", loads)
	}
}

func TestAutoMaskMatchesSingleMachine(t *testing.T) {
	ckpt, cfg := "../../testdata/sam/tiny_win.pth", "../../testdata/sam/tiny_win.json"
	if _, err := os.Stat(ckpt); err != nil {
		t.Skip(err)
	}
	in, out := t.TempDir(), t.TempDir()
	paths := writeRGBImages(t, in, 2, 48, 64)
	os.WriteFile(filepath.Join(in, "broken.png"), []byte("not an image"), 0o644)
	opt := automask.DefaultOptions()
	opt.PointsPerSide, opt.PointsPerBatch = 4, 16
	opt.PredIoUThresh, opt.StabilityScoreThresh = 0, 0
	o := AutoMaskOptions{Checkpoint: ckpt, Config: cfg, Input: filepath.Join(in, "*.png"), Out: out, Generator: opt,
		DeadLetters: filepath.Join(out, "dead.jsonl"), Counts: filepath.Join(out, "counts.json")}
	p, s := beam.NewPipelineWithRoot()
	if err := AutoMask(s, o); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	m, err := sam.Load(ckpt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	opt.OutputMode = automask.COCORLE
	g, err := automask.New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	var masks int64
	for _, path := range paths {
		b, _ := os.ReadFile(path)
		pix, h, w, err := decodeRGB(b)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := g.Generate(pix, h, w)
		if err != nil {
			t.Fatal(err)
		}
		masks += int64(len(recs))
		want, _ := json.Marshal(recs)
		got, err := os.ReadFile(filepath.Join(out, stem(path)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(want, '\n')) {
			t.Errorf("%s: records differ from the generator's:\n%.300s\nwant\n%.300s", path, got, want)
		}
	}
	var c InferCounts
	readJSON(context.Background(), o.Counts, &c)
	if c.Images != 2 || c.DeadLetters != 1 || c.Masks != masks {
		t.Errorf("counts %+v, want 2 images, %d masks, 1 dead letter", c, masks)
	}
	t.Logf("%d masks", masks)
}
