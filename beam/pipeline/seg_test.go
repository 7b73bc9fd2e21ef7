package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/fovea-ml/fovea/metrics/seg"
)

// writeLabelPNG writes an 8-bit greyscale label map.
func writeLabelPNG(t testing.TB, path string, w, h int, pix []uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, pix)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeSegData writes n ground-truth/prediction pairs of random label maps
// (labels 0…maxLabel, so some are out of range or ignored) under dir/gt and
// dir/pred and returns the stems.
func makeSegData(t testing.TB, dir string, n, w, h, maxLabel int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, d := range []string{"gt", "pred"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stems []string
	for i := range n {
		name := fmt.Sprintf("img%05d", i)
		gt := make([]uint8, w*h)
		pred := make([]uint8, w*h)
		for j := range gt {
			gt[j] = uint8(rng.IntN(maxLabel + 1))
			if rng.IntN(20) == 0 {
				gt[j] = 255
			}
			pred[j] = gt[j]
			if rng.IntN(3) == 0 {
				pred[j] = uint8(rng.IntN(maxLabel + 1))
			}
		}
		writeLabelPNG(t, filepath.Join(dir, "gt", name+".png"), w, h, gt)
		writeLabelPNG(t, filepath.Join(dir, "pred", name+".png"), w, h, pred)
		stems = append(stems, name)
	}
	return stems
}

// singleMachineSeg is `fovea eval seg`'s computation: one confusion matrix
// updated with every pair read by seg.ReadLabelMap.
func singleMachineSeg(t *testing.T, dir string, stems []string, C, ignore int, rz, drop bool) []byte {
	t.Helper()
	m := seg.NewConfusionMatrix(C, ignore, rz)
	for _, s := range stems {
		g, err := seg.ReadLabelMap(filepath.Join(dir, "gt", s+".png"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := seg.ReadLabelMap(filepath.Join(dir, "pred", s+".png"))
		if err != nil {
			t.Fatal(err)
		}
		m.Update(g.Pix, p.Pix)
	}
	b, err := SegJSON(m.ScoresWith(seg.ScoreOptions{DropInvalidGT: drop}))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runSegEval(t *testing.T, o SegOptions) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	SegEval(s, o)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}

func TestSegEvalMatchesSingleMachine(t *testing.T) {
	dir := t.TempDir()
	stems := makeSegData(t, dir, 24, 23, 17, 6, 1)
	for _, tc := range []struct {
		C, ignore int
		rz, drop  bool
	}{
		{5, 255, false, false}, // labels 5, 6 are invalid GT and out-of-range predictions
		{7, 255, false, false},
		{5, 255, false, true},
		{6, 0, true, false},
		{3, 2, false, false},
	} {
		t.Run(fmt.Sprintf("C%d_ignore%d_rz%v_drop%v", tc.C, tc.ignore, tc.rz, tc.drop), func(t *testing.T) {
			out := t.TempDir()
			o := SegOptions{
				GT: filepath.Join(dir, "gt", "*.png"), Pred: filepath.Join(dir, "pred", "*.png"),
				NumClasses: tc.C, IgnoreIndex: tc.ignore, ReduceZeroLabel: tc.rz, DropInvalidGT: tc.drop,
				JSON: filepath.Join(out, "scores.json"), DeadLetters: filepath.Join(out, "dead.jsonl"), Counts: filepath.Join(out, "counts.json"),
			}
			runSegEval(t, o)
			got, err := os.ReadFile(o.JSON)
			if err != nil {
				t.Fatal(err)
			}
			want := singleMachineSeg(t, dir, stems, tc.C, tc.ignore, tc.rz, tc.drop)
			if !bytes.Equal(got, want) {
				t.Fatalf("pipeline JSON differs from the single-machine JSON:\n%s\nwant\n%s", got, want)
			}
			var c SegRunCounts
			if err := readJSON(context.Background(), o.Counts, &c); err != nil {
				t.Fatal(err)
			}
			if c.Images != int64(len(stems)) || c.DeadLetters != 0 {
				t.Errorf("counts %+v, want %d images and no dead letters", c, len(stems))
			}
		})
	}
}

func TestSegEvalDeadLetters(t *testing.T) {
	dir := t.TempDir()
	stems := makeSegData(t, dir, 6, 8, 5, 3, 2)
	// bad inputs: a corrupt prediction, a size mismatch, a missing
	// prediction, an RGB ground truth; and a prediction with no ground
	// truth (not an error: fovea eval seg ignores it too).
	os.WriteFile(filepath.Join(dir, "pred", "bad1.png"), []byte("not a png"), 0o644)
	writeLabelPNG(t, filepath.Join(dir, "gt", "bad1.png"), 8, 5, make([]uint8, 40))
	writeLabelPNG(t, filepath.Join(dir, "gt", "bad2.png"), 8, 5, make([]uint8, 40))
	writeLabelPNG(t, filepath.Join(dir, "pred", "bad2.png"), 5, 8, make([]uint8, 40))
	writeLabelPNG(t, filepath.Join(dir, "gt", "bad3.png"), 8, 5, make([]uint8, 40))
	var rgb bytes.Buffer
	png.Encode(&rgb, image.NewRGBA(image.Rect(0, 0, 8, 5)))
	os.WriteFile(filepath.Join(dir, "gt", "bad4.png"), rgb.Bytes(), 0o644)
	writeLabelPNG(t, filepath.Join(dir, "pred", "bad4.png"), 8, 5, make([]uint8, 40))
	writeLabelPNG(t, filepath.Join(dir, "pred", "extra.png"), 8, 5, make([]uint8, 40))

	out := t.TempDir()
	o := SegOptions{
		GT: filepath.Join(dir, "gt", "*.png"), Pred: filepath.Join(dir, "pred", "*.png"),
		NumClasses: 4, IgnoreIndex: 255,
		JSON: filepath.Join(out, "scores.json"), DeadLetters: filepath.Join(out, "dead.jsonl"), Counts: filepath.Join(out, "counts.json"),
	}
	runSegEval(t, o)
	got, _ := os.ReadFile(o.JSON)
	if want := singleMachineSeg(t, dir, stems, 4, 255, false, false); !bytes.Equal(got, want) {
		t.Fatalf("the good pairs are not scored as the single-machine code scores them:\n%s\nwant\n%s", got, want)
	}
	dls, err := ReadDeadLetters(context.Background(), o.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"gt/bad3.png", "gt/bad4.png", "pred/bad1.png", "pred/bad2.png"}
	if len(dls) != len(wantFiles) {
		t.Fatalf("dead letters %+v, want %d", dls, len(wantFiles))
	}
	for i, d := range dls {
		if d.File != filepath.Join(dir, wantFiles[i]) || d.Reason == "" {
			t.Errorf("dead letter %d = %+v, want file %s with a reason", i, d, wantFiles[i])
		}
		t.Logf("dead letter: %s: %s", d.File, d.Reason)
	}
	var c SegRunCounts
	readJSON(context.Background(), o.Counts, &c)
	if c.Images != int64(len(stems)) || c.DeadLetters != 4 {
		t.Errorf("counts %+v, want %d images and 4 dead letters", c, len(stems))
	}
}
