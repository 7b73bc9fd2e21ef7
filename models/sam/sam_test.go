package sam

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func testdata(name string) string { return filepath.Join("..", "..", "testdata", "sam", name) }

// TestConfigFromWeights recognises the tiny fixtures' architecture from shapes alone
// (all but the decoder's heads, which shapes do not show).
func TestConfigFromWeights(t *testing.T) {
	for _, name := range goldenCases {
		src, prefix, closeFn, err := openWeights(testdata(name + ".pth"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ConfigFromWeights(src, prefix)
		closeFn()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ReadConfig(testdata(name + ".json"))
		if err != nil {
			t.Fatal(err)
		}
		got.DecoderNumHeads = want.DecoderNumHeads
		gj, wj := toJSON(t, got), toJSON(t, want)
		if gj != wj {
			t.Errorf("%s: recognised\n%s\nwant\n%s", name, gj, wj)
		}
	}
}

// TestVitBShapes builds the real vit_b architecture and checks its parameter count
// (segment-anything's vit_b has 93,735,472 parameters) and ConfigFromWeights on it.
func TestVitBShapes(t *testing.T) {
	m := vitB(t)
	total, _ := nn.CountParameters(m)
	if total != 93735472 {
		t.Errorf("vit_b has %d parameters, want 93,735,472", total)
	}
	sd := nn.StateDict(m)
	got, err := ConfigFromWeights(stateDictSource(sd), "")
	if err != nil {
		t.Fatal(err)
	}
	if toJSON(t, got) != toJSON(t, VitB()) {
		t.Errorf("vit_b recognised as %s", toJSON(t, got))
	}
}

// TestVitBForward runs a full 1024×1024 vit_b forward (random weights) and one prompt:
// real shapes end to end.
func TestVitBForward(t *testing.T) {
	if testing.Short() {
		t.Skip("a 1024×1024 vit_b forward takes seconds")
	}
	m := vitB(t)
	p := NewPredictor(m)
	img := tensor.Full(128, 3, 768, 1024)
	if err := p.SetResizedImage(img, [2]int{480, 640}, nil); err != nil {
		t.Fatal(err)
	}
	f, _, _ := p.Embedding()
	if !tensor.SameShape(f.Shape(), []int{1, 256, 64, 64}) {
		t.Fatalf("embedding %v", f.Shape())
	}
	for _, v := range f.Data() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("embedding is not finite")
		}
	}
	res, err := p.Predict(Prompt{Points: [][2]float32{{320, 240}}, Labels: []int{1}}, Options{Multimask: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(res.Masks.Shape(), []int{3, 480, 640}) || !tensor.SameShape(res.LowRes.Shape(), []int{3, 256, 256}) || len(res.IoU) != 3 {
		t.Fatalf("masks %v, low-res %v, %d IoUs", res.Masks.Shape(), res.LowRes.Shape(), len(res.IoU))
	}
}

type stateDictSource map[string]*tensor.Tensor

func (s stateDictSource) Names() []string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	return n
}
func (s stateDictSource) Shape(name string) ([]int, bool) {
	t, ok := s[name]
	if !ok {
		return nil, false
	}
	return t.Shape(), true
}
func (s stateDictSource) Float32Into(name string, dst []float32) error {
	copy(dst, s[name].Data())
	return nil
}

func toJSON(t *testing.T, c Config) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoadErrors: bad files give errors that name the file, never panics.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	pth, err := os.ReadFile(testdata("tiny_win.pth"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		path, config, want string
	}{
		{filepath.Join(dir, "missing.pth"), "", "no such file"},
		{write("empty.pth", nil), "", "too short"},
		{write("text.pth", []byte("hello, world")), "", "neither a PyTorch zip checkpoint nor safetensors"},
		{write("truncated.pth", pth[:len(pth)/2]), "", "truncated.pth"},
		// The tiny model against vit_b's config: every shape mismatches.
		{testdata("tiny_win.pth"), write("vitb.json", []byte(`{"encoder_global_attn_indexes":[2,5,8,11]}`)), "tiny_win.pth"},
		{testdata("tiny_win.pth"), write("bad.json", []byte(`{"image_size": 100, "patch_size": 16}`)), "not a multiple of patch_size"},
		{testdata("tiny_win.pth"), write("syntax.json", []byte(`{"image_size": `)), "syntax.json"},
	}
	for _, c := range cases {
		_, err := Load(c.path, c.config)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s, %q): error %v, want one containing %q", filepath.Base(c.path), c.config, err, c.want)
		}
	}
}

// TestPredictorErrors: prompts that cannot be answered are errors.
func TestPredictorErrors(t *testing.T) {
	m, _ := loadGolden(t, "tiny_win")
	p := NewPredictor(m)
	if _, err := p.Predict(Prompt{Points: [][2]float32{{1, 2}}, Labels: []int{1}}, Options{}); !errors.Is(err, ErrNoImage) {
		t.Fatalf("before SetImage: %v", err)
	}
	if err := p.SetImageRGB(make([]uint8, 30), 4, 4, nil); err == nil {
		t.Fatal("SetImageRGB with too few bytes: no error")
	}
	if err := p.SetImageRGB(make([]uint8, 5*7*3), 5, 7, nil); err != nil {
		t.Fatal(err)
	}
	for _, pr := range []Prompt{
		{Points: [][2]float32{{1, 2}}, Labels: nil},
		{Points: [][2]float32{{1, 2}}, Labels: []int{3}},
		{MaskInput: tensor.Zeros(10, 10)},
	} {
		if _, err := p.Predict(pr, Options{}); err == nil {
			t.Errorf("prompt %+v: no error", pr)
		}
	}
	if err := p.SetEmbedding(tensor.Zeros(1, 8, 8, 8), [2]int{5, 7}, [2]int{46, 64}); err == nil {
		t.Error("SetEmbedding with the wrong shape: no error")
	}
}

// TestEmbeddingRoundTrip: a saved embedding answers prompts exactly as the live one.
func TestEmbeddingRoundTrip(t *testing.T) {
	m, g := loadGolden(t, "tiny_global")
	p := NewPredictor(m)
	if err := p.SetResizedImage(toCHW(g["input_image"]), [2]int{61, 33}, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "emb.safetensors")
	if err := p.SaveEmbedding(path); err != nil {
		t.Fatal(err)
	}
	q := NewPredictor(m)
	if err := q.LoadEmbedding(path); err != nil {
		t.Fatal(err)
	}
	pr := goldenPrompt(g, "box_point")
	a, err := p.Predict(pr, Options{Multimask: true, ReturnLogits: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Predict(pr, Options{Multimask: true, ReturnLogits: true})
	if err != nil {
		t.Fatal(err)
	}
	if e := tensorMaxDiff(a.Masks, b.Masks); e != 0 {
		t.Errorf("logits differ by %g after an embedding round trip", e)
	}
	// An embedding for another architecture is refused.
	other, _ := loadGolden(t, "tiny_win")
	if err := NewPredictor(other).LoadEmbedding(path); err == nil {
		t.Error("loading tiny_global's embedding into tiny_win: no error")
	}
}

// TestConcurrentPredict: many goroutines prompting one predictor get the answers a
// single goroutine gets.
func TestConcurrentPredict(t *testing.T) {
	m, g := loadGolden(t, "tiny_win")
	p := NewPredictor(m)
	if err := p.SetResizedImage(toCHW(g["input_image"]), [2]int{45, 70}, nil); err != nil {
		t.Fatal(err)
	}
	names := []string{"point", "points2_single", "box", "box_point", "neg_only"}
	want := make([]Result, len(names))
	for i, n := range names {
		r, err := p.Predict(goldenPrompt(g, n), Options{Multimask: true, ReturnLogits: true})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				i := (w + k) % len(names)
				r, err := p.Predict(goldenPrompt(g, names[i]), Options{Multimask: true, ReturnLogits: true})
				if err != nil {
					errs <- err.Error()
					return
				}
				if tensorMaxDiff(r.Masks, want[i].Masks) != 0 {
					errs <- names[i] + ": concurrent answer differs"
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestBatchMixed: a batch mixing prompt kinds answers each as Predict alone does.
func TestBatchMixed(t *testing.T) {
	m, g := loadGolden(t, "tiny_win")
	p := NewPredictor(m)
	if err := p.SetResizedImage(toCHW(g["input_image"]), [2]int{45, 70}, nil); err != nil {
		t.Fatal(err)
	}
	names := []string{"point", "box", "points2_single", "mask_point", "box_point", "neg_only", "box"}
	var prs []Prompt
	for _, n := range names {
		prs = append(prs, goldenPrompt(g, n))
	}
	rs, err := p.PredictBatch(prs, Options{ReturnLogits: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, pr := range prs {
		one, err := p.Predict(pr, Options{ReturnLogits: true})
		if err != nil {
			t.Fatal(err)
		}
		if e := tensorMaxDiff(rs[i].Masks, one.Masks); e > 1e-4 {
			t.Errorf("%s in a batch differs from alone by %g", names[i], e)
		}
	}
}

// tensorMaxDiff is max |a − b|, +Inf for a shape mismatch or a NaN
// difference (Go's max would carry the NaN, and "NaN > tol" is false).
func tensorMaxDiff(a, b *tensor.Tensor) float64 {
	if !tensor.SameShape(a.Shape(), b.Shape()) {
		return math.Inf(1)
	}
	var m float64
	for i, v := range a.Data() {
		w := b.Data()[i]
		if v == w {
			continue
		}
		d := math.Abs(float64(v) - float64(w))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// nanTB records whether a helper under test failed.
type nanTB struct{ failed bool }

func (n *nanTB) Helper()               {}
func (n *nanTB) Errorf(string, ...any) { n.failed = true }
func (n *nanTB) Logf(string, ...any)   {}

// TestHelpersSeeNaN: a NaN-filled output fails checkClose, scaledErr and
// tensorMaxDiff.
func TestHelpersSeeNaN(t *testing.T) {
	want := tensor.FromSlice([]float32{1, -2, 3, 0.5}, 2, 2)
	nan := tensor.Full(float32(math.NaN()), 2, 2)
	fake := &nanTB{}
	checkClose(fake, "nan", nan, want)
	if !fake.failed {
		t.Error("checkClose passed a NaN-filled output")
	}
	fake = &nanTB{}
	checkClose(fake, "same", want.Clone(), want)
	if fake.failed {
		t.Error("checkClose failed an exact output")
	}
	if e := scaledErr(nan.Data(), want.Data()); !math.IsInf(e, 1) {
		t.Errorf("scaledErr of a NaN output = %g", e)
	}
	if d := tensorMaxDiff(nan, want); !math.IsInf(d, 1) {
		t.Errorf("tensorMaxDiff of a NaN output = %g", d)
	}
}
