package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics/seg"
	"github.com/fovea-ml/fovea/train"
	"github.com/spf13/cobra"
)

func init() {
	var gtDir, predDir, jsonPath, checkpoint, dataset, split string
	var numClasses, ignoreIndex int
	var reduceZero, dropInvalid bool
	cmd := &cobra.Command{
		Use:   "seg (--gt DIR --pred DIR --num-classes N | --checkpoint FILE --dataset shapes|DIR)",
		Short: "Evaluate semantic segmentation label maps (aAcc, mAcc, mIoU, fwIoU, mDice)",
		Long: `Compare predicted label maps with ground-truth label maps, matched by file name.
Both are PNG files, 8-bit greyscale or palette, whose value is the class index.
Prints a per-class table (percent) and the summary; --json writes
{"aAcc","mAcc","mIoU","fwIoU","mDice","per_class":{"IoU","Acc","Dice"}} as
fractions in [0,1], null where a class has no pixels in ground truth or prediction.

With --checkpoint (a model written by fovea train) and --dataset (shapes, or a
VOC-layout folder) it instead runs the model on the --split images and scores its
predictions against the dataset's label maps (ignore index 255).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if checkpoint != "" || dataset != "" {
				if checkpoint == "" || dataset == "" {
					return errors.New("eval seg: --checkpoint and --dataset go together")
				}
				model, err := train.LoadModel(checkpoint)
				if err != nil {
					return err
				}
				ds, classes, err := train.OpenSplit(dataset, split, data.ShapesConfig{})
				if err != nil {
					return err
				}
				if len(classes) != model.Config.NumClasses {
					return fmt.Errorf("eval seg: %s has %d classes, the dataset %s has %d", checkpoint, model.Config.NumClasses, dataset, len(classes))
				}
				m, err := train.EvaluateDataset(model, ds, len(classes))
				if err != nil {
					return err
				}
				s := m.Scores()
				printSegScores(cmd.OutOrStdout(), s, ds.Len())
				if jsonPath != "" {
					return writeEvalJSON(jsonPath, segJSON(s))
				}
				return nil
			}
			if gtDir == "" || predDir == "" {
				return errors.New("eval seg: --gt and --pred are required")
			}
			if numClasses < 1 || numClasses > 256 {
				return fmt.Errorf("eval seg: --num-classes = %d, want 1 … 256 (label maps are 8-bit PNGs)", numClasses)
			}
			m, n, err := evalSegDirs(gtDir, predDir, numClasses, ignoreIndex, reduceZero)
			if err != nil {
				return err
			}
			if bad := m.InvalidGT(); bad > 0 {
				what := "they count in no ground-truth area but their predictions count in the predicted area, as in mmsegmentation (--drop-invalid-gt skips them)"
				if dropInvalid {
					what = "--drop-invalid-gt skipped them"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d ground-truth pixels in %s have a label ≥ --num-classes %d that is not --ignore-index %d: %s; wrong --num-classes?\n",
					bad, gtDir, numClasses, ignoreIndex, what)
			}
			s := m.ScoresWith(seg.ScoreOptions{DropInvalidGT: dropInvalid})
			printSegScores(cmd.OutOrStdout(), s, n)
			if jsonPath != "" {
				return writeEvalJSON(jsonPath, segJSON(s))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&gtDir, "gt", "", "directory of ground-truth PNG label maps")
	f.StringVar(&predDir, "pred", "", "directory of predicted PNG label maps (same file names)")
	f.IntVar(&numClasses, "num-classes", 0, "number of classes C; labels outside [0, C) are ignored")
	f.IntVar(&ignoreIndex, "ignore-index", seg.DefaultIgnoreIndex, "ground-truth label to ignore")
	f.BoolVar(&reduceZero, "reduce-zero-label", false, "mmsegmentation reduce_zero_label: GT 0 is ignored, other labels shift down by one")
	f.BoolVar(&dropInvalid, "drop-invalid-gt", false, "skip ground-truth pixels whose label is ≥ --num-classes (and not the ignore index) entirely; by default their predictions count in the predicted area, as mmsegmentation does")
	f.StringVar(&jsonPath, "json", "", "write the metrics as JSON to this file")
	f.StringVar(&checkpoint, "checkpoint", "", "score this model (written by fovea train) on --dataset instead of --pred files")
	f.StringVar(&dataset, "dataset", "", `with --checkpoint: "shapes" or a VOC-layout folder`)
	f.StringVar(&split, "split", "val", "with --checkpoint: the dataset split to score")
	evalCmd.AddCommand(cmd)
}

// evalSegDirs accumulates the confusion matrix of every ground-truth PNG in
// gtDir against the file of the same name in predDir, on all cores.
func evalSegDirs(gtDir, predDir string, numClasses, ignoreIndex int, reduceZero bool) (*seg.ConfusionMatrix, int, error) {
	entries, err := os.ReadDir(gtDir)
	if err != nil {
		return nil, 0, fmt.Errorf("--gt: %w", err)
	}
	if st, err := os.Stat(predDir); err != nil {
		return nil, 0, fmt.Errorf("--pred: %w", err)
	} else if !st.IsDir() {
		return nil, 0, fmt.Errorf("--pred %s: not a directory", predDir)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, 0, fmt.Errorf("--gt %s: no .png label maps", gtDir)
	}
	total := seg.NewConfusionMatrix(numClasses, ignoreIndex, reduceZero)
	workers := min(runtime.GOMAXPROCS(0), len(names))
	jobs := make(chan string)
	errs := make([][]error, workers)
	parts := make([]*seg.ConfusionMatrix, workers)
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = total.NewLike()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				if err := evalSegPair(parts[w], filepath.Join(gtDir, name), filepath.Join(predDir, name)); err != nil {
					errs[w] = append(errs[w], err)
				}
			}
		}()
	}
	for _, n := range names {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	var all []error
	for _, e := range errs {
		all = append(all, e...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Error() < all[j].Error() })
	if len(all) > 10 {
		all = append(all[:10], fmt.Errorf("... and %d more bad files", len(all)-10))
	}
	if err := errors.Join(all...); err != nil {
		return nil, 0, err
	}
	for _, p := range parts {
		total.Merge(p)
	}
	return total, len(names), nil
}

func evalSegPair(m *seg.ConfusionMatrix, gtPath, predPath string) error {
	if _, err := os.Stat(predPath); err != nil {
		return fmt.Errorf("%s: no prediction for ground truth %s", predPath, gtPath)
	}
	g, err := seg.ReadLabelMap(gtPath)
	if err != nil {
		return err
	}
	p, err := seg.ReadLabelMap(predPath)
	if err != nil {
		return err
	}
	if g.Width != p.Width || g.Height != p.Height {
		return fmt.Errorf("%s: prediction is %dx%d, ground truth %s is %dx%d", predPath, p.Width, p.Height, gtPath, g.Width, g.Height)
	}
	m.Update(g.Pix, p.Pix)
	return nil
}

func evalPct(v float64) string {
	if v != v {
		return "nan"
	}
	return fmt.Sprintf("%.2f", 100*v)
}

func printSegScores(w io.Writer, s seg.Scores, images int) {
	fmt.Fprintf(w, "%d image(s), %d classes\n", images, len(s.IoU))
	fmt.Fprintf(w, "%-7s %7s %7s %7s %12s\n", "class", "IoU", "Acc", "Dice", "GT pixels")
	for c := range s.IoU {
		fmt.Fprintf(w, "%-7d %7s %7s %7s %12d\n", c, evalPct(s.IoU[c]), evalPct(s.Acc[c]), evalPct(s.Dice[c]), s.LabelArea[c])
	}
	fmt.Fprintf(w, "aAcc %s  mAcc %s  mIoU %s  fwIoU %s  mDice %s\n", evalPct(s.AAcc), evalPct(s.MAcc), evalPct(s.MIoU), evalPct(s.FWIoU), evalPct(s.MDice))
}

// evalSegResult is the --json file of `fovea eval seg`.
type evalSegResult struct {
	AAcc     evalFloat `json:"aAcc"`
	MAcc     evalFloat `json:"mAcc"`
	MIoU     evalFloat `json:"mIoU"`
	FWIoU    evalFloat `json:"fwIoU"`
	MDice    evalFloat `json:"mDice"`
	PerClass struct {
		IoU  []evalFloat `json:"IoU"`
		Acc  []evalFloat `json:"Acc"`
		Dice []evalFloat `json:"Dice"`
	} `json:"per_class"`
}

func segJSON(s seg.Scores) evalSegResult {
	r := evalSegResult{AAcc: evalFloat(s.AAcc), MAcc: evalFloat(s.MAcc), MIoU: evalFloat(s.MIoU), FWIoU: evalFloat(s.FWIoU), MDice: evalFloat(s.MDice)}
	r.PerClass.IoU = evalFloats(s.IoU)
	r.PerClass.Acc = evalFloats(s.Acc)
	r.PerClass.Dice = evalFloats(s.Dice)
	return r
}
