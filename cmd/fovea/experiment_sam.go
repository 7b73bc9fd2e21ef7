package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/models/sam/samtrain"
)

func init() { experimentCmd.AddCommand(newExperimentSAMCmd()) }

// samStudyRow is one line of the sam-adapt study.
type samStudyRow struct {
	Method          string              `json:"method"`
	TrainableParams int                 `json:"trainable_params"`
	TotalParams     int                 `json:"total_params"`
	TrainSeconds    float64             `json:"train_seconds"`
	MaxRSSBytes     int64               `json:"max_rss_bytes"`
	Before          samtrain.EvalResult `json:"before"`
	After           samtrain.EvalResult `json:"after"`
}

// samStudyOptions are the settings of fovea experiment sam-adapt.
type samStudyOptions struct {
	Out, Source          string
	Methods              []string
	SourceEpochs         int
	SourceTrain          int
	TargetTrain, Val     int
	TargetEpochs, Rounds int
	Threads              int
	LR                   map[string]float64
}

func newExperimentSAMCmd() *cobra.Command {
	o := samStudyOptions{Out: "runs/sam-adapt", Methods: []string{"decoder", "lora", "adapter", "full"},
		SourceEpochs: 4, SourceTrain: 1200, TargetTrain: 200, Val: 100, TargetEpochs: 3, Rounds: 3}
	var lrs []string
	cmd := &cobra.Command{
		Use:   "sam-adapt",
		Short: "Train a small SAM on the shapes data, adapt it to a shifted domain with each fine-tuning method; table and chart",
		Long: `The domain-adaptation study of fovea's SAM training: a tiny ViT SAM is trained with SAM's
recipe on the shapes data (the source domain; or --source gives a finished fovea train sam
folder), then fine-tuned on a few images of the shifted shapes domain (muted colours, fine
textures, other shape families: data.DomainShifted) with each --methods (decoder, lora,
adapter, full). For each it reports the trainable parameters, the training time, the peak
resident memory of the run (each run is its own process) and the validation mIoU with one
point, three points and the box on the shifted domain, before and after adaptation.

Writes study.md, study.json and study.png into --out, each run in its own sub-folder;
finished runs are reused when the study is run again, interrupted ones resumed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.LR = map[string]float64{}
			for _, kv := range lrs {
				k, v, ok := strings.Cut(kv, "=")
				var f float64
				if _, err := fmt.Sscan(v, &f); !ok || err != nil || f <= 0 {
					return fmt.Errorf("--lr %q: want method=rate, e.g. lora=3e-3", kv)
				}
				o.LR[k] = f
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runSAMStudy(ctx, cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", o.Out, "study folder")
	f.StringVar(&o.Source, "source", o.Source, "a finished fovea train sam folder to adapt (default: train one in --out/source)")
	f.StringSliceVar(&o.Methods, "methods", o.Methods, "adaptation methods: decoder, lora, adapter, full")
	f.IntVar(&o.SourceEpochs, "source-epochs", o.SourceEpochs, "epochs of the source training")
	f.IntVar(&o.SourceTrain, "source-images", o.SourceTrain, "source-domain training images")
	f.IntVar(&o.TargetTrain, "target-images", o.TargetTrain, "shifted-domain training images")
	f.IntVar(&o.Val, "val-images", o.Val, "validation images (each domain)")
	f.IntVar(&o.TargetEpochs, "target-epochs", o.TargetEpochs, "epochs of each adaptation")
	f.IntVar(&o.Rounds, "point-rounds", o.Rounds, "corrective-click rounds of the adaptation runs")
	f.IntVar(&o.Threads, "threads", o.Threads, "compute threads per run (0: all cores)")
	f.StringSliceVar(&lrs, "lr", []string{"decoder=1e-3", "lora=2e-3", "adapter=2e-3", "full=3e-4"}, "learning rate per method")
	return cmd
}

// runSAMChild runs one training as a child fovea process with args and --out dir (so
// that its peak memory is its own), resuming an interrupted run and reusing a finished
// one; it returns the run's metrics.json and the child's peak resident memory.
func runSAMChild(ctx context.Context, cmd *cobra.Command, dir string, args []string) (*samtrain.Result, int64, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "metrics.json")); err == nil {
		var r samtrain.Result
		if json.Unmarshal(b, &r) == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: finished earlier, reused\n", dir)
			return &r, r.MaxRSSBytes, nil
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint.safetensors")); err == nil {
		args = append(args, "--resume")
	} else {
		args = append(args, "--overwrite")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "fovea %s\n", strings.Join(args, " "))
	c := exec.Command(exe, append(args, "--quiet", "--out", dir)...)
	c.Stdout, c.Stderr = cmd.ErrOrStderr(), cmd.ErrOrStderr()
	if err := c.Start(); err != nil {
		return nil, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The child shares the terminal's signal; make sure it stops and saves.
		c.Process.Signal(syscall.SIGTERM)
		<-done
		return nil, 0, fmt.Errorf("study interrupted; run it again to resume")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("fovea %s: %w", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		return nil, 0, err
	}
	var r samtrain.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", filepath.Join(dir, "metrics.json"), err)
	}
	var rss int64
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = int64(ru.Maxrss) * 1024
	}
	return &r, rss, nil
}

func runSAMStudy(ctx context.Context, cmd *cobra.Command, o samStudyOptions) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	common := []string{"--val-images", fmt.Sprint(o.Val), "--val-limit", fmt.Sprint(o.Val), "--threads", fmt.Sprint(o.Threads)}
	start := time.Now()
	src := o.Source
	if src == "" {
		src = filepath.Join(o.Out, "source")
		args := append([]string{"train", "sam", "--epochs", fmt.Sprint(o.SourceEpochs), "--train-images", fmt.Sprint(o.SourceTrain)}, common...)
		if _, _, err := runSAMChild(ctx, cmd, src, args); err != nil {
			return err
		}
	}
	ckpt := filepath.Join(src, "last.safetensors")
	if _, err := os.Stat(ckpt); err != nil {
		return fmt.Errorf("--source %s: no last.safetensors (a finished fovea train sam folder is needed)", src)
	}
	var rows []samStudyRow
	for _, m := range o.Methods {
		switch m {
		case samtrain.MethodDecoder, samtrain.MethodLoRA, samtrain.MethodAdapter, samtrain.MethodFull:
		default:
			return fmt.Errorf("--methods: %q, want decoder, lora, adapter or full", m)
		}
		args := append([]string{"finetune", "sam", "--checkpoint", ckpt, "--method", m, "--domain", "shifted",
			"--train-images", fmt.Sprint(o.TargetTrain), "--epochs", fmt.Sprint(o.TargetEpochs),
			"--point-rounds", fmt.Sprint(o.Rounds), "--warmup-steps", "10"}, common...)
		if lr, ok := o.LR[m]; ok {
			args = append(args, "--lr", fmt.Sprint(lr))
		}
		r, rss, err := runSAMChild(ctx, cmd, filepath.Join(o.Out, m), args)
		if err != nil {
			return err
		}
		rows = append(rows, samStudyRow{Method: m, TrainableParams: r.TrainableParams, TotalParams: r.TotalParams,
			TrainSeconds: r.TrainSeconds, MaxRSSBytes: max(rss, r.MaxRSSBytes), Before: r.Before, After: r.Val})
	}
	if len(rows) == 0 {
		return errors.New("no method to run")
	}
	var srcRes samtrain.Result
	if b, err := os.ReadFile(filepath.Join(src, "metrics.json")); err == nil {
		json.Unmarshal(b, &srcRes)
	}
	table := samStudyTable(srcRes, rows)
	fmt.Fprint(cmd.OutOrStdout(), table)
	fmt.Fprintf(cmd.ErrOrStderr(), "study took %.0f s\n", time.Since(start).Seconds())
	if err := atomicfile.WriteBytes(filepath.Join(o.Out, "study.md"), []byte(table)); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rows, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(o.Out, "study.json"), append(b, '\n')); err != nil {
		return err
	}
	return plotSAMStudy(filepath.Join(o.Out, "study.png"), rows)
}

// samStudyTable formats the study as Markdown.
func samStudyTable(src samtrain.Result, rows []samStudyRow) string {
	var sb strings.Builder
	if src.Epochs > 0 {
		fmt.Fprintf(&sb, "Source model (shapes domain, %d epochs, %.0f s): %s\n\n", src.Epochs, src.TrainSeconds, src.Val)
	}
	sb.WriteString("Shifted domain, validation mIoU before → after adaptation:\n\n")
	sb.WriteString("| method | trainable params | training time | peak RSS | 1 point | 3 points | box |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %d (%.1f %%) | %.0f s | %.0f MiB | %.3f → **%.3f** | %.3f → **%.3f** | %.3f → **%.3f** |\n",
			r.Method, r.TrainableParams, 100*float64(r.TrainableParams)/float64(max(r.TotalParams, 1)), r.TrainSeconds,
			float64(r.MaxRSSBytes)/(1<<20), r.Before.MIoU1, r.After.MIoU1, r.Before.MIoU3, r.After.MIoU3, r.Before.MIoUBox, r.After.MIoUBox)
	}
	if len(rows) > 0 {
		fmt.Fprintf(&sb, "\nBox-as-mask baseline on the shifted domain: %.3f (%d instances).\n", rows[0].After.BoxBaseline, rows[0].After.Instances)
	}
	return sb.String()
}

// plotSAMStudy draws grouped bars: per method, the 1-point, 3-point and box mIoU after
// adaptation, with the value before adaptation as a lighter bar.
func plotSAMStudy(path string, rows []samStudyRow) error {
	p := plot.New()
	p.Title.Text = "SAM adaptation to the shifted shapes domain (validation mIoU)"
	p.Y.Label.Text = "mIoU"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Method
	}
	w := vg.Points(9)
	cols := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}}
	for k, name := range []string{"1 point", "3 points", "box"} {
		before, after := make(plotter.Values, len(rows)), make(plotter.Values, len(rows))
		for i, r := range rows {
			b := []float64{r.Before.MIoU1, r.Before.MIoU3, r.Before.MIoUBox}
			a := []float64{r.After.MIoU1, r.After.MIoU3, r.After.MIoUBox}
			before[i], after[i] = b[k], a[k]
		}
		ba, err := plotter.NewBarChart(after, w)
		if err != nil {
			return err
		}
		ba.Color = cols[k]
		ba.LineStyle.Width = 0
		ba.Offset = vg.Length(2*k-2) * w
		bb, err := plotter.NewBarChart(before, w/2.5)
		if err != nil {
			return err
		}
		bb.Color = color.RGBA{R: 40, G: 40, B: 40, A: 255}
		bb.LineStyle.Width = 0
		bb.Offset = vg.Length(2*k-2) * w
		p.Add(ba, bb)
		p.Legend.Add(name+" after", ba)
		if k == 0 {
			p.Legend.Add("before (dark)", bb)
		}
	}
	if len(rows) > 0 {
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: rows[0].After.BoxBaseline}, {X: float64(len(rows)) - 0.5, Y: rows[0].After.BoxBaseline}})
		if err != nil {
			return err
		}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add("box as mask", line)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	img := vgimg.New(8*vg.Inch, 4.5*vg.Inch)
	p.Draw(draw.New(img))
	f := &bytesBuffer{}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, f.b)
}

// bytesBuffer collects a PNG encoding.
type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
