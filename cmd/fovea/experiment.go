package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/train"
)

// experimentCmd is built before any init function runs, so subcommands in other files
// can attach to it from their own init.
var experimentCmd = newExperimentCmd()

func init() { rootCmd.AddCommand(experimentCmd) }

func newExperimentCmd() *cobra.Command {
	exp := &cobra.Command{Use: "experiment", Short: "Run studies made of many trainings"}
	base := train.DefaultConfig()
	base.Epochs, base.TrainN, base.ValN, base.Out = 10, 2000, 400, "runs/large-kernel"
	base.TimeBudget = 0 // every run of a study trains its full epochs
	ks := []int{1, 3, 7, 11, 15}
	brs := []bool{true, false}
	ups := []string{"bilinear", "deconv", "pixelshuffle"}
	var seeds []uint
	lk := &cobra.Command{
		Use:   "large-kernel",
		Short: "Train the GCN for a range of kernel sizes k, with and without BR, with each upsampler; table and chart of MIoU against k",
		Long: `The large-kernel study of Peng et al. (2017) on fovea's data: trainings of the GCN
for every kernel size --k, with and without Boundary Refinement (--br), with each decoder
upsampler (--upsamplers), each repeated for every --seeds value so that an effect can be
told from seed noise. Writes study.md (mean ± std MIoU per setting), study.json (every
run) and study.png (MIoU against k) into --out; each run has its own sub-folder, and a
study that is run again reuses the runs that already finished. Runs of earlier studies
in the same folder (other settings) are kept in the table and chart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every setting is checked before the first training starts, so a bad
			// value in a list is not found hours into the study.
			if len(ks) == 0 || len(brs) == 0 || len(ups) == 0 || len(seeds) == 0 {
				return fmt.Errorf("experiment large-kernel: --k, --br, --upsamplers and --seeds each need at least one value")
			}
			for _, up := range ups {
				for _, k := range ks {
					c := base
					c.Model.K, c.Model.Upsampler = k, up
					if err := c.Validate(); err != nil {
						return fmt.Errorf("experiment large-kernel: --k %d --upsamplers %s: %w", k, up, err)
					}
				}
			}
			s := train.Study{Base: base, Ks: ks, BR: brs, Upsamplers: ups}
			for _, sd := range seeds {
				s.Seeds = append(s.Seeds, uint64(sd))
			}
			if err := os.MkdirAll(base.Out, 0o755); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			runs, err := train.RunStudy(ctx, s, cmd.ErrOrStderr())
			// The folder accumulates: runs of earlier studies in it (other
			// settings) join the table.
			runs = mergeStudyRuns(filepath.Join(base.Out, "study.json"), runs)
			if len(runs) > 0 {
				table := train.StudyTable(runs)
				fmt.Fprint(cmd.OutOrStdout(), table)
				if werr := atomicfile.WriteBytes(filepath.Join(base.Out, "study.md"), []byte(table)); werr != nil {
					return werr
				}
				b, _ := json.MarshalIndent(runs, "", "  ")
				if werr := atomicfile.WriteBytes(filepath.Join(base.Out, "study.json"), b); werr != nil {
					return werr
				}
				if werr := train.PlotStudy(filepath.Join(base.Out, "study.png"), runs); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	f := lk.Flags()
	f.IntSliceVar(&ks, "k", ks, "kernel sizes (odd)")
	f.BoolSliceVar(&brs, "br", brs, "Boundary Refinement settings to try")
	f.StringSliceVar(&ups, "upsamplers", ups, "decoder upsamplers: bilinear, deconv, pixelshuffle")
	f.UintSliceVar(&seeds, "seeds", []uint{0, 1, 2}, "one training per seed and setting")
	f.IntVar(&base.Epochs, "epochs", base.Epochs, "epochs per training")
	f.IntVar(&base.TrainN, "train-images", base.TrainN, "shapes training images")
	f.IntVar(&base.ValN, "val-images", base.ValN, "shapes validation images")
	f.IntVar(&base.Batch, "batch", base.Batch, "batch size")
	f.Float64Var(&base.LR, "lr", base.LR, "peak learning rate")
	f.Float64Var(&base.WarmupEpochs, "warmup-epochs", base.WarmupEpochs, "linear warm-up length in epochs (less than --epochs)")
	f.StringVar(&base.Model.Backbone, "backbone", base.Model.Backbone, "resnet18, resnet34 or resnet50")
	f.Float64Var(&base.Model.Width, "width", base.Model.Width, "backbone channel multiplier")
	f.StringVar(&base.Dataset, "dataset", base.Dataset, `"shapes" or a VOC-layout folder`)
	f.StringVar(&base.Out, "out", base.Out, "study folder")
	exp.AddCommand(lk)
	return exp
}

// mergeStudyRuns returns the runs recorded in the study file at path (if
// any) that are not among runs, followed by runs.
func mergeStudyRuns(path string, runs []train.StudyRun) []train.StudyRun {
	b, err := os.ReadFile(path)
	if err != nil {
		return runs
	}
	var old []train.StudyRun
	if json.Unmarshal(b, &old) != nil {
		return runs
	}
	type key struct {
		k    int
		br   bool
		up   string
		seed uint64
	}
	have := map[key]bool{}
	for _, r := range runs {
		have[key{r.K, r.BR, r.Upsampler, r.Seed}] = true
	}
	var out []train.StudyRun
	for _, r := range old {
		if !have[key{r.K, r.BR, r.Upsampler, r.Seed}] {
			out = append(out, r)
		}
	}
	return append(out, runs...)
}
