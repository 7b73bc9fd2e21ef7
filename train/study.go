package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Study is the large-kernel experiment: short trainings of the same model
// for every kernel size K, with and without Boundary Refinement, with each
// upsampler, and several seeds per setting — the analogue of Table 1–3 of
// Peng et al. on fovea's data.
type Study struct {
	Base       Config   // everything but the varied fields; Base.Out is the study's folder
	Ks         []int    // kernel sizes, e.g. 1, 3, 7, 11, 15
	BR         []bool   // with and/or without Boundary Refinement
	Upsamplers []string // decoder upsamplers
	Seeds      []uint64 // one training per seed and setting

	// interruptAfter, if positive, interrupts the study's first trained setting after
	// this many steps (for tests of the resume path).
	interruptAfter int
}

// StudyRun is one training of a Study.
type StudyRun struct {
	K         int     `json:"k"`
	BR        bool    `json:"br"`
	Upsampler string  `json:"upsampler"`
	Seed      uint64  `json:"seed"`
	MIoU      float64 `json:"mIoU"`
	AAcc      float64 `json:"aAcc"`
	Seconds   float64 `json:"train_seconds"`
}

// Variant names a setting without the kernel size (a line of the chart).
func (r StudyRun) Variant() string {
	br := "BR"
	if !r.BR {
		br = "no BR"
	}
	return r.Upsampler + ", " + br
}

// RunStudy trains every setting of s in turn, each in its own folder under
// s.Base.Out, and returns the runs. A setting that already finished (its
// metrics.json exists with the same config) is read back instead of trained
// again, and one that was interrupted resumes from its checkpoint, so running
// an interrupted study again continues exactly where it stopped.
func RunStudy(ctx context.Context, s Study, log io.Writer) ([]StudyRun, error) {
	var runs []StudyRun
	total := len(s.Ks) * len(s.BR) * len(s.Upsamplers) * len(s.Seeds)
	i := 0
	for _, up := range s.Upsamplers {
		for _, br := range s.BR {
			for _, k := range s.Ks {
				for _, seed := range s.Seeds {
					i++
					cfg := s.Base
					cfg.Model.K, cfg.Model.BR, cfg.Model.Upsampler, cfg.Seed = k, br, up, seed
					cfg.Out = filepath.Join(s.Base.Out, fmt.Sprintf("k%d_%s_br%v_seed%d", k, up, br, seed))
					fmt.Fprintf(log, "[%d/%d] k=%d upsampler=%s BR=%v seed=%d\n", i, total, k, up, br, seed)
					res, err := finishedRun(cfg)
					if err != nil {
						return runs, err
					}
					if res == nil {
						opt := Options{Log: io.Discard, Overwrite: true, interruptAfter: s.interruptAfter}
						s.interruptAfter = 0
						if interruptedRun(cfg) {
							opt.Resume, opt.Overwrite = true, false
							fmt.Fprintf(log, "    resuming from %s\n", filepath.Join(cfg.Out, "checkpoint.safetensors"))
						}
						res, err = Run(ctx, cfg, opt)
						if errors.Is(err, ErrInterrupted) {
							return runs, fmt.Errorf("study interrupted at k=%d %s BR=%v seed %d; its checkpoint is saved: run the same command again to continue (finished settings are kept, this one resumes)", k, up, br, seed)
						}
						if err != nil {
							return runs, fmt.Errorf("k=%d %s BR=%v seed %d: %w", k, up, br, seed, err)
						}
					}
					fmt.Fprintf(log, "    mIoU %.4f  aAcc %.4f  (%.0f s)\n", res.Val.MIoU, res.Val.AAcc, res.TrainSeconds)
					runs = append(runs, StudyRun{K: k, BR: br, Upsampler: up, Seed: seed, MIoU: res.Val.MIoU, AAcc: res.Val.AAcc, Seconds: res.TrainSeconds})
				}
			}
		}
	}
	return runs, nil
}

// interruptedRun reports whether cfg.Out holds the checkpoint of an unfinished run
// of exactly cfg, which Run can resume.
func interruptedRun(cfg Config) bool {
	var prev Config
	if err := readJSON(filepath.Join(cfg.Out, "config.json"), &prev); err != nil || prev != cfg {
		return false
	}
	_, err := os.Stat(filepath.Join(cfg.Out, "checkpoint.safetensors"))
	return err == nil
}

// finishedRun returns the result of a run already completed with exactly
// cfg, or nil.
func finishedRun(cfg Config) (*Result, error) {
	var prev Config
	if err := readJSON(filepath.Join(cfg.Out, "config.json"), &prev); err != nil {
		return nil, nil
	}
	var res Result
	if err := readJSON(filepath.Join(cfg.Out, "metrics.json"), &res); err != nil {
		return nil, nil
	}
	if prev != cfg || res.Epochs != cfg.Epochs {
		return nil, nil
	}
	return &res, nil
}

// studyCell is the mean and sample standard deviation of a setting's MIoU over seeds.
type studyCell struct {
	mean, std float64
	n         int
}

func summarize(runs []StudyRun) (variants []string, ks []int, cells map[string]map[int]studyCell) {
	vals := map[string]map[int][]float64{}
	kset := map[int]bool{}
	for _, r := range runs {
		v := r.Variant()
		if vals[v] == nil {
			vals[v] = map[int][]float64{}
			variants = append(variants, v)
		}
		vals[v][r.K] = append(vals[v][r.K], r.MIoU)
		kset[r.K] = true
	}
	for k := range kset {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	cells = map[string]map[int]studyCell{}
	for v, byK := range vals {
		cells[v] = map[int]studyCell{}
		for k, xs := range byK {
			var m float64
			for _, x := range xs {
				m += x
			}
			m /= float64(len(xs))
			var ss float64
			for _, x := range xs {
				ss += (x - m) * (x - m)
			}
			sd := 0.0
			if len(xs) > 1 {
				sd = math.Sqrt(ss / float64(len(xs)-1))
			}
			cells[v][k] = studyCell{m, sd, len(xs)}
		}
	}
	return variants, ks, cells
}

// StudyTable formats the runs as a Markdown table: one row per variant, one
// column per kernel size, each cell the mean validation MIoU ± its standard
// deviation over seeds.
func StudyTable(runs []StudyRun) string {
	variants, ks, cells := summarize(runs)
	var b strings.Builder
	b.WriteString("| decoder |")
	for _, k := range ks {
		fmt.Fprintf(&b, " k = %d |", k)
	}
	b.WriteString("\n|---|")
	for range ks {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, v := range variants {
		fmt.Fprintf(&b, "| %s |", v)
		for _, k := range ks {
			c, ok := cells[v][k]
			switch {
			case !ok:
				b.WriteString(" |")
			case c.n > 1:
				fmt.Fprintf(&b, " %.3f ± %.3f |", c.mean, c.std)
			default:
				fmt.Fprintf(&b, " %.3f |", c.mean)
			}
		}
		b.WriteString("\n")
	}
	lo, hi := 0, 0
	for _, byK := range cells {
		for _, c := range byK {
			if lo == 0 || c.n < lo {
				lo = c.n
			}
			hi = max(hi, c.n)
		}
	}
	switch {
	case hi == 0:
	case lo == hi:
		fmt.Fprintf(&b, "\nMean validation MIoU ± sample standard deviation over %d seed(s) per cell.\n", hi)
	default:
		fmt.Fprintf(&b, "\nMean validation MIoU ± sample standard deviation over %d to %d seeds per cell.\n", lo, hi)
	}
	return b.String()
}

// PlotStudy draws MIoU against k, one line per variant, with error bars of
// one standard deviation over seeds, into a PNG at path.
func PlotStudy(path string, runs []StudyRun) error {
	variants, ks, cells := summarize(runs)
	p := plot.New()
	p.Title.Text = "Large kernels: validation mIoU against GCN kernel size k"
	p.X.Label.Text = "k"
	p.Y.Label.Text = "mIoU"
	p.Add(plotter.NewGrid())
	for i, v := range variants {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, k := range ks {
			if c, ok := cells[v][k]; ok {
				pts = append(pts, plotter.XY{X: float64(k), Y: c.mean})
				errs = append(errs, struct{ Low, High float64 }{c.std, c.std})
			}
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err != nil {
			return err
		}
		eb.Color = plotutil.Color(i)
		p.Add(l, s, eb)
		p.Legend.Add(v, l, s)
	}
	p.Legend.Top = false
	p.Legend.Left = false
	if len(ks) > 0 {
		p.X.Min, p.X.Max = float64(ks[0])-1, float64(ks[len(ks)-1])+1
		var ticks []plot.Tick
		for _, k := range ks {
			ticks = append(ticks, plot.Tick{Value: float64(k), Label: fmt.Sprint(k)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	c := vgimgCanvas(8*vg.Inch, 5*vg.Inch)
	p.Draw(draw.New(c))
	return savePNG(path, c)
}
