package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// lmStudy is the setting of fovea experiment lm-peft.
type lmStudy struct {
	Out      string
	Methods  []string
	Pretrain lmPretrainOptions
	Finetune lmFinetuneOptions
	// LR per method (0: lmDefaultLR).
	LRs map[string]float64
	// Epochs per method (0: Finetune.Epochs).
	EpochsFor map[string]int
	Rerun     bool
}

func init() {
	s := lmStudy{Out: "runs/lm-peft", Methods: []string{"full", "lora", "adapter", "prefix"}, Pretrain: defaultLMPretrainOptions(), Finetune: defaultLMFinetuneOptions()}
	var quiet bool
	var lrFull, lrLoRA, lrAdapter, lrPrefix float64
	var epPrefix int
	var methods string
	cmd := &cobra.Command{
		Use:   "lm-peft",
		Short: "Pre-train a small language model, fine-tune it fully and with LoRA, adapters and prefix tuning on table-to-text; table and chart",
		Long: `The comparison of the LoRA paper's GPT-2 E2E table on fovea's data: pre-train a small
GPT-2-layout model on the generic corpus (fovea train lm; reused when --out/base already
holds one), then fine-tune it on data/tabletext's task with each of --methods (fovea
finetune lm; a method whose --out/<method>/eval.json exists is reused unless --rerun),
and score each on the test split (held-out attribute combinations, 8 references per MR)
with corpus BLEU-4 and slot coverage.

Writes study.md (method, trainable parameters, stored parameters, BLEU, slot coverage,
training time, peak memory), study.json and study.png (BLEU against trainable
parameters, log scale) into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st := s
			st.Methods = strings.Split(methods, ",")
			progress := !quiet && term.IsTerminal(int(os.Stderr.Fd()))
			st.Pretrain.Progress, st.Finetune.Progress = progress, progress
			if !cmd.Flags().Changed("pretrain-warmup") && st.Pretrain.Warmup >= st.Pretrain.Steps {
				st.Pretrain.Warmup = st.Pretrain.Steps / 10
			}
			st.LRs = map[string]float64{"full": lrFull, "lora": lrLoRA, "adapter": lrAdapter, "prefix": lrPrefix}
			st.EpochsFor = map[string]int{"prefix": epPrefix}
			rows, err := runLMStudy(ctx, st, cmd.ErrOrStderr())
			if len(rows) > 0 {
				table := lmStudyTable(st, rows)
				fmt.Fprint(cmd.OutOrStdout(), table)
				if werr := atomicfile.WriteBytes(filepath.Join(st.Out, "study.md"), []byte(table)); werr != nil {
					return werr
				}
				if werr := lmWriteJSON(filepath.Join(st.Out, "study.json"), rows); werr != nil {
					return werr
				}
				if werr := lmPlotStudy(filepath.Join(st.Out, "study.png"), rows); werr != nil {
					return werr
				}
			}
			if errors.Is(err, errLMInterrupted) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				os.Exit(130)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Out, "out", s.Out, "study folder (base/ and one sub-folder per method)")
	f.StringVar(&methods, "methods", strings.Join(s.Methods, ","), "methods to compare, comma-separated: full, lora, adapter, prefix")
	f.BoolVar(&s.Rerun, "rerun", false, "fine-tune again even where a method's eval.json exists (the base model is still reused)")
	f.BoolVar(&quiet, "quiet", false, "no progress bars")
	p := &s.Pretrain
	f.IntVar(&p.Layers, "layers", p.Layers, "pre-training: transformer blocks")
	f.IntVar(&p.Width, "width", p.Width, "pre-training: model width")
	f.IntVar(&p.Heads, "heads", p.Heads, "pre-training: attention heads")
	f.IntVar(&p.Positions, "positions", p.Positions, "pre-training: context length")
	f.IntVar(&p.Steps, "pretrain-steps", p.Steps, "pre-training: optimizer steps")
	f.IntVar(&p.Warmup, "pretrain-warmup", p.Warmup, "pre-training: warm-up steps")
	f.IntVar(&p.Batch, "pretrain-batch", p.Batch, "pre-training: windows per step")
	f.IntVar(&p.Seq, "pretrain-seq", p.Seq, "pre-training: tokens per window")
	f.IntVar(&p.Docs, "docs", p.Docs, "pre-training: corpus paragraphs")
	f.Float64Var(&p.LR, "pretrain-lr", p.LR, "pre-training: peak learning rate")
	ft := &s.Finetune
	f.IntVar(&ft.Epochs, "epochs", ft.Epochs, "fine-tuning epochs")
	f.IntVar(&epPrefix, "prefix-epochs", 0, "fine-tuning epochs of prefix tuning (0: --epochs)")
	f.IntVar(&ft.Batch, "batch", ft.Batch, "fine-tuning pairs per step")
	f.IntVar(&ft.TrainMRs, "train-mrs", ft.TrainMRs, "training MRs")
	f.IntVar(&ft.TrainRefs, "train-refs", ft.TrainRefs, "references per training MR")
	f.IntVar(&ft.TestMRs, "test-mrs", ft.TestMRs, "test MRs")
	f.IntVar(&ft.R, "r", ft.R, "LoRA rank")
	f.Float64Var(&ft.Alpha, "alpha", ft.Alpha, "LoRA alpha")
	f.StringSliceVar(&ft.Targets, "targets", ft.Targets, "LoRA target modules")
	f.IntVar(&ft.Reduction, "reduction", ft.Reduction, "adapter reduction factor")
	f.StringVar(&ft.Placement, "placement", ft.Placement, "adapter placement: houlsby or pfeiffer")
	f.IntVar(&ft.PrefixLen, "prefix-len", ft.PrefixLen, "prefix tuning: virtual tokens")
	f.BoolVar(&ft.PrefixProjection, "prefix-projection", ft.PrefixProjection, "prefix tuning: train through the MLP reparameterisation (its parameters then count as trainable)")
	f.IntVar(&ft.PrefixHidden, "prefix-hidden", ft.PrefixHidden, "prefix tuning: reparameterisation MLP width")
	f.Float64Var(&lrFull, "lr-full", 0, "learning rate of full fine-tuning (0: 1e-3)")
	f.Float64Var(&lrLoRA, "lr-lora", 0, "learning rate of LoRA (0: 4e-3)")
	f.Float64Var(&lrAdapter, "lr-adapter", 0, "learning rate of adapters (0: 4e-3)")
	f.Float64Var(&lrPrefix, "lr-prefix", 0, "learning rate of prefix tuning (0: 1e-2)")
	f.Uint64Var(&ft.Seed, "seed", ft.Seed, "fine-tuning seed")
	f.IntVar(&ft.Threads, "threads", ft.Threads, "compute threads (0 = all cores)")
	experimentCmd.AddCommand(cmd)
}

// lmStudyRow is one method's result in study.json.
type lmStudyRow struct {
	Method string  `json:"method"`
	Eval   *lmEval `json:"eval"`
}

func runLMStudy(ctx context.Context, s lmStudy, log io.Writer) ([]lmStudyRow, error) {
	for _, m := range s.Methods {
		if !slices.Contains([]string{"full", "lora", "adapter", "prefix"}, m) {
			return nil, fmt.Errorf("flag --methods: %q: want full, lora, adapter or prefix", m)
		}
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(s.Out, "base")
	if _, err := os.Stat(filepath.Join(base, "model.safetensors")); err == nil {
		fmt.Fprintf(log, "reusing the pre-trained model in %s\n", base)
	} else {
		p := s.Pretrain
		p.Out = base
		p.Threads = s.Finetune.Threads
		if _, err := os.Stat(filepath.Join(base, "checkpoint.safetensors")); err == nil {
			p.Resume = true
		}
		start := time.Now()
		res, err := runLMPretrain(ctx, p, log)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "pre-trained in %.0f s: validation loss %.4f\n", time.Since(start).Seconds(), res.ValLoss)
	}
	var rows []lmStudyRow
	for _, method := range s.Methods {
		dir := filepath.Join(s.Out, method)
		if !s.Rerun {
			if ev, err := readLMEval(filepath.Join(dir, "eval.json")); err == nil {
				fmt.Fprintf(log, "reusing %s (BLEU %.2f)\n", dir, ev.BLEU)
				rows = append(rows, lmStudyRow{method, ev})
				continue
			}
		}
		o := s.Finetune
		o.Base, o.Out, o.Method, o.Overwrite = base, dir, method, true
		o.LR = lmDefaultLR(method)
		if lr := s.LRs[method]; lr > 0 {
			o.LR = lr
		}
		if e := s.EpochsFor[method]; e > 0 {
			o.Epochs = e
		}
		lmReleaseMemory()
		ev, err := runLMFinetune(ctx, o, log)
		if err != nil {
			return rows, fmt.Errorf("method %s: %w", method, err)
		}
		fmt.Fprintf(log, "%s: BLEU %.2f, slot coverage %.1f%%, %s, %.0f s\n", method, ev.BLEU, 100*ev.SlotCoverage, lmTrainableLine(ev.Trainable, ev.Total), ev.TrainSeconds)
		rows = append(rows, lmStudyRow{method, ev})
	}
	return rows, nil
}

func readLMEval(path string) (*lmEval, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ev lmEval
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &ev, nil
}

// lmMethodLabel names a method with its main setting, as the table's first column.
func lmMethodLabel(ev *lmEval) string {
	o := ev.Options
	switch ev.Method {
	case "full":
		return "full fine-tuning"
	case "lora":
		return fmt.Sprintf("LoRA r=%d α=%g on %s", o.R, o.Alpha, strings.Join(o.Targets, ", "))
	case "adapter":
		return fmt.Sprintf("adapter (%s, reduction %d)", o.Placement, o.Reduction)
	case "prefix":
		s := fmt.Sprintf("prefix tuning (%d tokens", o.PrefixLen)
		if o.PrefixProjection {
			s += fmt.Sprintf(", MLP %d", o.PrefixHidden)
		}
		return s + ")"
	}
	return ev.Method
}

// lmStudyTable writes study.md.
func lmStudyTable(s lmStudy, rows []lmStudyRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| method | trainable params | trainable %% | stored params (%% of base) | BLEU-4 | slot coverage | training time | peak heap |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var full *lmEval
	for _, r := range rows {
		if r.Method == "full" {
			full = r.Eval
		}
	}
	for _, r := range rows {
		ev := r.Eval
		fmt.Fprintf(&b, "| %s | %s | %.2f %% | %s (%.2f %%) | %.2f | %.1f %% | %.0f s | %s |\n",
			lmMethodLabel(ev), lmCommas(ev.Trainable), ev.TrainablePct, lmCommas(ev.Stored), ev.StoredPct, ev.BLEU, 100*ev.SlotCoverage, ev.TrainSeconds, lmMiB(ev.PeakHeap))
	}
	if full != nil {
		b.WriteString("\n")
		for _, r := range rows {
			if r.Method == "full" {
				continue
			}
			ev := r.Eval
			d := ev.BLEU - full.BLEU
			verdict := "within 1 BLEU of full fine-tuning"
			if d < -1 {
				verdict = fmt.Sprintf("%.2f BLEU below full fine-tuning", -d)
			}
			fmt.Fprintf(&b, "- %s: %+.2f BLEU (%s) with %.2f %% of the parameters trainable (%.2f %% stored).\n", lmMethodLabel(ev), d, verdict, ev.TrainablePct, ev.StoredPct)
		}
	}
	if len(rows) > 0 {
		ev := rows[0].Eval
		fmt.Fprintf(&b, "\nTest split: %d MRs of held-out attribute combinations, %d references each; greedy decoding; BLEU is sacreBLEU's corpus BLEU-4 (13a). Peak heap: the Go heap's maximum during training.\n", ev.TestMRs, ev.RefsPerMR)
	}
	return b.String()
}

// lmCommas formats n with thousands separators.
func lmCommas(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// lmPlotStudy draws BLEU against trainable parameters (log x), one labelled point per
// method.
func lmPlotStudy(path string, rows []lmStudyRow) error {
	p := plot.New()
	p.Title.Text = "table-to-text: BLEU-4 against trainable parameters"
	p.X.Label.Text = "trainable parameters (log scale)"
	p.Y.Label.Text = "BLEU-4 (test)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	var pts plotter.XYs
	var labels []string
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		x := float64(max(r.Eval.Trainable, 1))
		pts = append(pts, plotter.XY{X: x, Y: r.Eval.BLEU})
		labels = append(labels, fmt.Sprintf("%s (%.2f%%)", r.Method, r.Eval.TrainablePct))
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(4)
	sc.GlyphStyle.Color = lmColor(0)
	p.Add(sc)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = draw.XLeft
	}
	lb.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(2)}
	p.Add(lb)
	p.X.Min, p.X.Max = lo/3, hi*8
	return lmSavePlot(path, p, 7*vg.Inch, 4.5*vg.Inch)
}
