package seg

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testdata = "../../testdata/metrics/seg"

// nullable is a float64 that reads JSON null as NaN.
type nullable float64

func (n *nullable) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = nullable(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = nullable(f)
	return err
}

type golden struct {
	NumClasses      int  `json:"num_classes"`
	IgnoreIndex     int  `json:"ignore_index"`
	ReduceZeroLabel bool `json:"reduce_zero_label"`
	AAcc            nullable
	MAcc            nullable
	MIoU            nullable
	FWIoU           nullable `json:"fwIoU"`
	MDice           nullable
	MPrecision      nullable
	MRecall         nullable
	MFscore         nullable
	PerClass        map[string][]nullable `json:"per_class"`
	Area            map[string][]int64    `json:"area"`
}

func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func loadPairs(t *testing.T) [][2]LabelMap {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(testdata, "gt", "*.png"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden label maps in %s: %v", testdata, err)
	}
	var out [][2]LabelMap
	for _, n := range names {
		g, err := ReadLabelMap(n)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ReadLabelMap(filepath.Join(testdata, "pred", filepath.Base(n)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]LabelMap{g, p})
	}
	return out
}

// TestGoldenMMSeg compares every score bit for bit with the NumPy reference of
// mmsegmentation's metrics written by scripts/golden_metrics.py.
func TestGoldenMMSeg(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []golden
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	pairs := loadPairs(t)
	for _, c := range cases {
		m := NewConfusionMatrix(c.NumClasses, c.IgnoreIndex, c.ReduceZeroLabel)
		for _, p := range pairs {
			m.Update(p[0].Pix, p[1].Pix)
		}
		s := m.Scores()
		check := func(name string, got float64, want nullable) {
			if !same(got, float64(want)) {
				t.Errorf("C=%d ignore=%d reduce=%v: %s = %v, want %v", c.NumClasses, c.IgnoreIndex, c.ReduceZeroLabel, name, got, float64(want))
			}
		}
		check("aAcc", s.AAcc, c.AAcc)
		check("mAcc", s.MAcc, c.MAcc)
		check("mIoU", s.MIoU, c.MIoU)
		check("fwIoU", s.FWIoU, c.FWIoU)
		check("mDice", s.MDice, c.MDice)
		check("mPrecision", s.MPrecision, c.MPrecision)
		check("mRecall", s.MRecall, c.MRecall)
		check("mFscore", s.MFscore, c.MFscore)
		for name, got := range map[string][]float64{"IoU": s.IoU, "Acc": s.Acc, "Dice": s.Dice, "Precision": s.Precision, "Recall": s.Recall, "Fscore": s.Fscore} {
			for i, w := range c.PerClass[name] {
				check(name+"["+string(rune('0'+i))+"]", got[i], w)
			}
		}
		for name, got := range map[string][]int64{"intersect": s.Intersect, "union": s.Union, "pred": s.PredArea, "label": s.LabelArea} {
			for i, w := range c.Area[name] {
				if got[i] != w {
					t.Errorf("C=%d: area %s[%d] = %d, want %d", c.NumClasses, name, i, got[i], w)
				}
			}
		}
	}
}

// TestHandChecked covers small cases worked out by hand.
func TestHandChecked(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name               string
		c, ignore          int
		reduce             bool
		gt, pred           []uint8
		aacc, miou, macc   float64
		fwiou              float64
		iou                []float64
		counts, outOfRange []int64
	}{
		{
			name: "perfect", c: 2, ignore: 255,
			gt: []uint8{0, 0, 1, 1}, pred: []uint8{0, 0, 1, 1},
			aacc: 1, miou: 1, macc: 1, fwiou: 1, iou: []float64{1, 1},
			counts: []int64{2, 0, 0, 2}, outOfRange: []int64{0, 0},
		},
		{
			// Background dominates: predicting all background scores PA 0.9
			// but MIoU 0.45 and MPA 0.5.
			name: "background dominates", c: 2, ignore: 255,
			gt: []uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, pred: make([]uint8, 10),
			aacc: 0.9, miou: 0.45, macc: 0.5, fwiou: 0.9 * 0.9, iou: []float64{0.9, 0},
			counts: []int64{9, 0, 1, 0}, outOfRange: []int64{0, 0},
		},
		{
			// class 2 predicted but absent from GT: IoU 0, counts in the mean;
			// class 3 neither: NaN, left out. 255 ignored; pred 9 is wrong.
			name: "absent classes", c: 4, ignore: 255,
			gt: []uint8{0, 1, 1, 255, 0}, pred: []uint8{0, 1, 2, 0, 9},
			aacc: 0.5, miou: (0.5 + 0.5 + 0) / 3, macc: 0.5, fwiou: 0.5*0.5 + 0.5*0.5,
			iou:    []float64{0.5, 0.5, 0, nan},
			counts: []int64{1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, outOfRange: []int64{1, 0, 0, 0},
		},
		{
			// reduce_zero_label: 0 → ignored, 1 → class 0, 2 → class 1.
			name: "reduce zero label", c: 2, ignore: 255, reduce: true,
			gt: []uint8{0, 1, 2, 2, 255}, pred: []uint8{1, 0, 1, 0, 0},
			aacc: 2.0 / 3, miou: (0.5 + 0.5) / 2, macc: (1 + 0.5) / 2, fwiou: 1.0/3*0.5 + 2.0/3*0.5,
			iou:    []float64{0.5, 0.5},
			counts: []int64{1, 0, 1, 1}, outOfRange: []int64{0, 0},
		},
		{
			name: "custom ignore index", c: 3, ignore: 0,
			gt: []uint8{0, 1, 2}, pred: []uint8{1, 1, 1},
			aacc: 0.5, miou: (0.5 + 0) / 2, macc: 0.5, fwiou: 0.5 * 0.5,
			iou:    []float64{nan, 0.5, 0},
			counts: []int64{0, 0, 0, 0, 1, 0, 0, 1, 0}, outOfRange: []int64{0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, useInts := range []bool{false, true} {
				m := NewConfusionMatrix(tc.c, tc.ignore, tc.reduce)
				if useInts {
					g, p := make([]int, len(tc.gt)), make([]int, len(tc.pred))
					for i := range g {
						g[i], p[i] = int(tc.gt[i]), int(tc.pred[i])
					}
					m.UpdateInts(g, p)
				} else {
					m.Update(tc.gt, tc.pred)
				}
				s := m.Scores()
				near := func(a, b float64) bool { return same(a, b) || math.Abs(a-b) < 1e-15 }
				if !near(s.AAcc, tc.aacc) || !near(s.MIoU, tc.miou) || !near(s.MAcc, tc.macc) || !near(s.FWIoU, tc.fwiou) {
					t.Errorf("ints=%v: aAcc %v mIoU %v mAcc %v fwIoU %v, want %v %v %v %v", useInts, s.AAcc, s.MIoU, s.MAcc, s.FWIoU, tc.aacc, tc.miou, tc.macc, tc.fwiou)
				}
				for i := range tc.iou {
					if !near(s.IoU[i], tc.iou[i]) {
						t.Errorf("ints=%v: IoU[%d] = %v, want %v", useInts, i, s.IoU[i], tc.iou[i])
					}
				}
				got, oor := m.Counts(), m.OutOfRange()
				for i := range tc.counts {
					if got[i] != tc.counts[i] {
						t.Fatalf("ints=%v: counts = %v, want %v", useInts, got, tc.counts)
					}
				}
				for i := range tc.outOfRange {
					if oor[i] != tc.outOfRange[i] {
						t.Fatalf("ints=%v: out of range = %v, want %v", useInts, oor, tc.outOfRange)
					}
				}
			}
		})
	}
}

func randomMaps(r *rand.Rand, n, c int) ([]uint8, []uint8) {
	gt, pred := make([]uint8, n), make([]uint8, n)
	for i := range gt {
		gt[i] = uint8(r.IntN(c + 1))
		if gt[i] == uint8(c) {
			gt[i] = 255
		}
		pred[i] = uint8(r.IntN(c + 2))
	}
	return gt, pred
}

func TestMergeResetJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	whole := NewConfusionMatrix(5, 255, false)
	a, b := whole.NewLike(), whole.NewLike()
	for i := range 6 {
		g, p := randomMaps(r, 100+i, 5)
		whole.Update(g, p)
		if i%2 == 0 {
			a.Update(g, p)
		} else {
			b.Update(g, p)
		}
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var remote ConfusionMatrix
	if err := json.Unmarshal(js, &remote); err != nil {
		t.Fatal(err)
	}
	a.Merge(&remote)
	wc, ac := whole.Counts(), a.Counts()
	for i := range wc {
		if wc[i] != ac[i] {
			t.Fatalf("merged counts %v, want %v", ac, wc)
		}
	}
	if !same(a.Scores().MIoU, whole.Scores().MIoU) {
		t.Errorf("merged MIoU differs")
	}
	a.Reset()
	for _, v := range a.Counts() {
		if v != 0 {
			t.Fatalf("Reset left counts %v", a.Counts())
		}
	}
	if !math.IsNaN(a.Scores().AAcc) {
		t.Errorf("empty matrix aAcc = %v, want NaN", a.Scores().AAcc)
	}
	if err := json.Unmarshal([]byte(`{"num_classes":2,"counts":[1,2,3]}`), &remote); err == nil {
		t.Errorf("bad counts length accepted")
	}
}

func TestUpdateMatchesUpdateInts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, reduce := range []bool{false, true} {
		m1, m2 := NewConfusionMatrix(7, 255, reduce), NewConfusionMatrix(7, 255, reduce)
		g, p := randomMaps(r, 1000, 7)
		m1.Update(g, p)
		gi, pi := make([]int, len(g)), make([]int, len(p))
		for i := range g {
			gi[i], pi[i] = int(g[i]), int(p[i])
		}
		m2.UpdateInts(gi, pi)
		c1, c2 := m1.Counts(), m2.Counts()
		for i := range c1 {
			if c1[i] != c2[i] {
				t.Fatalf("reduce=%v: Update %v, UpdateInts %v", reduce, c1, c2)
			}
		}
	}
}

func TestUpdatePanicsOnLengthMismatch(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "gt has 3 pixels, pred has 2") {
			t.Errorf("panic = %v", r)
		}
	}()
	NewConfusionMatrix(2, 255, false).Update([]uint8{0, 1, 1}, []uint8{0, 1})
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestReadLabelMapErrors(t *testing.T) {
	dir := t.TempDir()
	rgb := filepath.Join(dir, "rgb.png")
	writePNG(t, rgb, image.NewRGBA(image.Rect(0, 0, 2, 2)))
	g16 := filepath.Join(dir, "g16.png")
	writePNG(t, g16, image.NewGray16(image.Rect(0, 0, 2, 2)))
	txt := filepath.Join(dir, "x.png")
	os.WriteFile(txt, []byte("not a png at all, just text here"), 0o644)
	pal := filepath.Join(dir, "pal.png")
	pi := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Black, color.White, color.Gray{7}})
	pi.Pix = []uint8{2, 1}
	writePNG(t, pal, pi)
	for _, tc := range []struct{ path, want string }{
		{rgb, "colour type 6"},
		{g16, "16-bit greyscale"},
		{txt, "not a PNG"},
		{filepath.Join(dir, "missing.png"), "no such file"},
	} {
		_, err := ReadLabelMap(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("ReadLabelMap(%s) error = %v, want it to name the file and say %q", tc.path, err, tc.want)
		}
	}
	lm, err := ReadLabelMap(pal)
	if err != nil || lm.Width != 2 || lm.Height != 1 || lm.Pix[0] != 2 || lm.Pix[1] != 1 {
		t.Errorf("palette map = %+v, %v; want indices [2 1]", lm, err)
	}
}

func BenchmarkUpdate512(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	gt, pred := blockyMaps(r, 512*512, 21)
	m := NewConfusionMatrix(21, 255, false)
	b.SetBytes(int64(len(gt)))
	for b.Loop() {
		m.Update(gt, pred)
	}
}

// blockyMaps returns label maps made of runs, like real segmentation maps.
func blockyMaps(r *rand.Rand, n, c int) ([]uint8, []uint8) {
	gt, pred := make([]uint8, n), make([]uint8, n)
	for i := 0; i < n; {
		run := 1 + r.IntN(40)
		g := uint8(r.IntN(c))
		for j := 0; j < run && i < n; j++ {
			gt[i] = g
			pred[i] = g
			if r.IntN(10) == 0 {
				pred[i] = uint8(r.IntN(c))
			}
			i++
		}
	}
	return gt, pred
}

// The committed case with C = 6 and ignore index 2 has ground-truth labels
// (255) outside [0, C) that are not the ignore index: mmsegmentation's rule
// counts their predictions in the predicted areas (mIoU 0.4733, the golden
// file), DropInvalidGT skips them (0.4916, what fovea computed before it
// followed mmsegmentation here). Both survive a JSON round trip and a merge.
func TestInvalidGTRules(t *testing.T) {
	pairs := loadPairs(t)
	m := NewConfusionMatrix(6, 2, false)
	half := m.NewLike()
	for i, p := range pairs {
		m.Update(p[0].Pix, p[1].Pix)
		if i%2 == 0 {
			half.Update(p[0].Pix, p[1].Pix)
		}
	}
	if m.InvalidGT() == 0 {
		t.Fatal("the case has no invalid ground truth")
	}
	var sum int64
	for _, v := range m.InvalidGTPredictions() {
		sum += v
	}
	if sum == 0 || sum > m.InvalidGT() {
		t.Fatalf("InvalidGTPredictions sum %d of %d invalid pixels", sum, m.InvalidGT())
	}
	if got := m.Scores().MIoU; math.Abs(got-0.4733486665561233) > 1e-15 {
		t.Errorf("mmseg rule: mIoU %v, want 0.4733486665561233", got)
	}
	if got := m.ScoresWith(ScoreOptions{DropInvalidGT: true}).MIoU; math.Abs(got-0.4916396523638596) > 1e-15 {
		t.Errorf("DropInvalidGT: mIoU %v, want 0.4916396523638596", got)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back ConfusionMatrix
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Scores().MIoU != m.Scores().MIoU || back.InvalidGT() != m.InvalidGT() {
		t.Errorf("JSON round trip changed the scores: %v vs %v", back.Scores().MIoU, m.Scores().MIoU)
	}
	rest := m.NewLike()
	for i, p := range pairs {
		if i%2 == 1 {
			rest.Update(p[0].Pix, p[1].Pix)
		}
	}
	half.Merge(rest)
	if half.Scores().MIoU != m.Scores().MIoU {
		t.Errorf("merged halves: mIoU %v, want %v", half.Scores().MIoU, m.Scores().MIoU)
	}
	ints := m.NewLike()
	for _, p := range pairs {
		g, q := make([]int, len(p[0].Pix)), make([]int, len(p[1].Pix))
		for i := range g {
			g[i], q[i] = int(p[0].Pix[i]), int(p[1].Pix[i])
		}
		ints.UpdateInts(g, q)
	}
	if ints.Scores().MIoU != m.Scores().MIoU {
		t.Errorf("UpdateInts: mIoU %v, want %v", ints.Scores().MIoU, m.Scores().MIoU)
	}
}
