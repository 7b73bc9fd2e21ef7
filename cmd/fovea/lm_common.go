package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/models/lm"
)

// The language-model commands (train lm, finetune lm, experiment lm-peft) share a
// byte-level tokenizer with two special tokens: <|endoftext|> (id 256) ends a document
// or a generated sentence, <sep> (id 257) ends the MR of the table-to-text task.
const (
	lmEOS         = "<|endoftext|>"
	lmSep         = "<sep>"
	lmTokenizerFn = "tokenizer_config.json"
)

// lmTokenizerFile is what train lm writes beside config.json so that finetune lm
// rebuilds the same tokenizer.
type lmTokenizerFile struct {
	TokenizerClass string   `json:"tokenizer_class"` // "ByteTokenizer"
	SpecialTokens  []string `json:"special_tokens"`  // ids 256, 257, …
	EOSToken       string   `json:"eos_token"`
	SepToken       string   `json:"sep_token"`
}

// lmTokenizer is the byte tokenizer with the ids the commands use.
type lmTokenizer struct {
	*lm.ByteTokenizer
	eos, sep int
}

func newLMTokenizer() *lmTokenizer {
	t, err := lm.NewByteTokenizer(lmEOS, lmSep)
	if err != nil {
		panic(err)
	}
	eos, _ := t.SpecialID(lmEOS)
	sep, _ := t.SpecialID(lmSep)
	return &lmTokenizer{ByteTokenizer: t, eos: eos, sep: sep}
}

func writeLMTokenizer(dir string) error {
	b, _ := json.MarshalIndent(lmTokenizerFile{TokenizerClass: "ByteTokenizer", SpecialTokens: []string{lmEOS, lmSep}, EOSToken: lmEOS, SepToken: lmSep}, "", "  ")
	return atomicfile.WriteBytes(filepath.Join(dir, lmTokenizerFn), append(b, '\n'))
}

// readLMTokenizer checks the base folder's tokenizer file (absent: the default byte
// tokenizer is assumed) and the model's vocabulary against it.
func readLMTokenizer(dir string, cfg lm.Config) (*lmTokenizer, error) {
	path := filepath.Join(dir, lmTokenizerFn)
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err == nil {
		var f lmTokenizerFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if f.TokenizerClass != "ByteTokenizer" || len(f.SpecialTokens) != 2 || f.SpecialTokens[0] != lmEOS || f.SpecialTokens[1] != lmSep {
			return nil, fmt.Errorf("%s: tokenizer %q with special tokens %q: want ByteTokenizer with [%q %q] (a model pre-trained by fovea train lm)",
				path, f.TokenizerClass, f.SpecialTokens, lmEOS, lmSep)
		}
	}
	tok := newLMTokenizer()
	if cfg.VocabSize != tok.VocabSize() {
		return nil, fmt.Errorf("%s: vocab_size %d, want %d (bytes + %s + %s): fine-tuning needs a byte-level model from fovea train lm",
			filepath.Join(dir, "config.json"), cfg.VocabSize, tok.VocabSize(), lmEOS, lmSep)
	}
	return tok, nil
}

// lmWarmupCosine is the learning rate at step t (0-based) of total: linear warm-up from
// 0 over warmup steps, then half a cosine from peak down to peak·minFrac.
func lmWarmupCosine(peak float64, t, warmup, total int, minFrac float64) float64 {
	if warmup > 0 && t < warmup {
		return peak * float64(t+1) / float64(warmup)
	}
	span := max(total-warmup, 1)
	p := math.Min(float64(t-warmup)/float64(span), 1)
	return peak * (minFrac + (1-minFrac)*(1+math.Cos(math.Pi*p))/2)
}

// lmPeakMemory samples the Go heap (bytes of live and not yet swept heap objects, which
// hold every tensor) and keeps its maximum; the training loops sample it after each
// forward and each backward pass, where activations and gradients peak.
type lmPeakMemory struct {
	sample []metrics.Sample
	peak   uint64
}

func newLMPeakMemory() *lmPeakMemory {
	return &lmPeakMemory{sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (p *lmPeakMemory) observe() {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		p.peak = max(p.peak, p.sample[0].Value.Uint64())
	}
}

// lmVmHWM is the process's peak resident set size from /proc/self/status (0 where it
// cannot be read).
func lmVmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				kb, _ := strconv.ParseUint(fs[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// lmReleaseMemory runs two collections so that tensor buffers parked in the tensor
// package's pools (sync.Pool) are freed before the next measured phase.
func lmReleaseMemory() {
	runtime.GC()
	runtime.GC()
}

// lmMiB formats a byte count in MiB.
func lmMiB(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// lmCount formats a parameter count as 0.29M / 31.2M / 12.3K.
func lmCount(n int) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 100_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.Itoa(n)
}

// lmTrainableLine is "trainable: 0.29M of 31.2M, 0.93%".
func lmTrainableLine(trainable, total int) string {
	return fmt.Sprintf("trainable: %s of %s, %.2f%%", lmCount(trainable), lmCount(total), 100*float64(trainable)/float64(max(total, 1)))
}

// lmProgress is a progress bar over steps with the running loss and tokens/s (nil bar
// when progress is off).
type lmProgress struct {
	bar    *progressbar.ProgressBar
	start  time.Time
	tokens float64
	desc   string
}

func newLMProgress(on bool, w *os.File, steps, done int, desc string) *lmProgress {
	p := &lmProgress{start: time.Now(), desc: desc}
	if on {
		p.bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		if done > 0 {
			p.bar.Set(done)
		}
	}
	return p
}

func (p *lmProgress) step(loss, lr float64, tokens int) {
	p.tokens += float64(tokens)
	if p.bar == nil {
		return
	}
	tps := p.tokens / time.Since(p.start).Seconds()
	p.bar.Describe(fmt.Sprintf("%s loss %.4f lr %.2e %.0f tok/s", p.desc, loss, lr, tps))
	p.bar.Add(1)
}

func (p *lmProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// lmLossPoint is one point of a loss curve.
type lmLossPoint struct {
	Step    int     `json:"step"`
	Loss    float64 `json:"loss"`
	ValLoss float64 `json:"val_loss,omitempty"`
	LR      float64 `json:"lr"`
	Elapsed float64 `json:"elapsed_seconds"`
}

// lmPlotLoss draws the training loss (and the validation loss where recorded) against
// the step into a PNG at path.
func lmPlotLoss(path, title string, hist []lmLossPoint) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "cross-entropy (nats/token)"
	p.Add(plotter.NewGrid())
	var tr, va plotter.XYs
	for _, h := range hist {
		tr = append(tr, plotter.XY{X: float64(h.Step), Y: h.Loss})
		if h.ValLoss > 0 {
			va = append(va, plotter.XY{X: float64(h.Step), Y: h.ValLoss})
		}
	}
	if len(tr) == 0 {
		return nil
	}
	l, err := plotter.NewLine(tr)
	if err != nil {
		return err
	}
	p.Add(l)
	p.Legend.Add("train", l)
	if len(va) > 0 {
		lv, s, err := plotter.NewLinePoints(va)
		if err != nil {
			return err
		}
		lv.Color = lmColor(1)
		s.Color = lmColor(1)
		p.Add(lv, s)
		p.Legend.Add("validation", lv)
	}
	p.Legend.Top = true
	return lmSavePlot(path, p, 7*vg.Inch, 4.5*vg.Inch)
}

// lmSavePlot renders p to a PNG written atomically.
func lmSavePlot(path string, p *plot.Plot, w, h vg.Length) error {
	c := vgimg.New(w, h)
	p.Draw(lmDrawCanvas(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// lmColor is the i-th colour of plotutil's default palette.
func lmColor(i int) color.Color { return plotutil.Color(i) }

// lmDrawCanvas wraps an image canvas for drawing.
func lmDrawCanvas(c *vgimg.Canvas) draw.Canvas { return draw.New(c) }

// lmWriteJSON writes v indented, atomically.
func lmWriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}
