package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/samtrain"
)

func init() { trainCmd.AddCommand(newTrainSAMCmd()) }

// samRunFlags are the flags of fovea train sam and fovea finetune sam that are not
// fields of samtrain.Config.
type samRunFlags struct {
	configFile, arch, modelConfig string
	targets                       string
	resume, overwrite, quiet      bool
}

// bindSAMFlags binds the training flags shared by train sam and finetune sam to cfg.
func bindSAMFlags(f *pflag.FlagSet, cfg *samtrain.Config) {
	f.StringVar(&cfg.Init, "checkpoint", cfg.Init, "start from these SAM weights: an official .pth (sam_vit_b_01ec64.pth, mobile_sam.pt), a safetensors file, or a fovea train sam last.safetensors")
	f.StringVar(&cfg.InitConfig, "checkpoint-config", cfg.InitConfig, "JSON architecture of --checkpoint (default: from its metadata or tensor shapes)")
	f.StringVar(&cfg.COCO, "coco", cfg.COCO, "train on a COCO instances JSON instead of the shapes data (with --images)")
	f.StringVar(&cfg.COCOImages, "images", cfg.COCOImages, "image folder of --coco")
	f.StringVar(&cfg.ValCOCO, "val-coco", cfg.ValCOCO, "COCO instances JSON for validation (default: --coco itself)")
	f.StringVar(&cfg.ValCOCOImages, "val-images-dir", cfg.ValCOCOImages, "image folder of --val-coco (default: --images)")
	f.IntVar(&cfg.Shapes.Size, "shapes-size", cfg.Shapes.Size, "side of the shapes images")
	f.IntVar(&cfg.Shapes.Train, "train-images", cfg.Shapes.Train, "shapes training images")
	f.IntVar(&cfg.Shapes.Val, "val-images", cfg.Shapes.Val, "shapes validation images")
	f.Uint64Var(&cfg.Shapes.Seed, "data-seed", cfg.Shapes.Seed, "seed of the shapes data")
	f.StringVar(&cfg.Shapes.Domain, "domain", cfg.Shapes.Domain, `shapes domain: "" (the default data) or "shifted" (other textures, colours and shape families)`)
	f.IntVar(&cfg.ValImages, "val-limit", cfg.ValImages, "validation images scored after each epoch (0: all)")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "training epochs")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "AdamW peak learning rate")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW decoupled weight decay (not on biases and norms)")
	f.IntVar(&cfg.WarmupSteps, "warmup-steps", cfg.WarmupSteps, "linear warm-up steps")
	f.StringVar(&cfg.Schedule, "schedule", cfg.Schedule, "after the warm-up: cosine, or step (÷10 at 2/3 and 8/9 of the run, SAM's)")
	f.Float64Var(&cfg.ClipNorm, "clip-norm", cfg.ClipNorm, "clip the gradients' global L2 norm (0: off)")
	f.IntVar(&cfg.Recipe.MasksPerImage, "masks-per-image", cfg.Recipe.MasksPerImage, "instances trained per image and step (sub-sampled)")
	f.IntVar(&cfg.Recipe.PointRounds, "point-rounds", cfg.Recipe.PointRounds, "corrective-click rounds after the first prompt (SAM: 8)")
	f.IntVar(&cfg.Recipe.MaskRounds, "mask-rounds", cfg.Recipe.MaskRounds, "rounds with only the previous mask as prompt, after the click rounds (SAM: 2)")
	f.Float64Var(&cfg.Recipe.BoxProb, "box-prob", cfg.Recipe.BoxProb, "probability that the first prompt is a noisy box rather than a point")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, data order and prompt simulation")
	f.IntVar(&cfg.Threads, "threads", cfg.Threads, "compute threads (0: all cores)")
	f.Float64Var(&cfg.TimeBudget, "time-budget", cfg.TimeBudget, "cut the epochs to what fits in this many seconds at the first epoch's speed (0: no limit)")
	f.IntVar(&cfg.Overlays, "overlays", cfg.Overlays, "validation images drawn into overlays/ at the end")
	f.StringVar(&cfg.Out, "out", cfg.Out, "output folder")
}

// bindRunFlags binds the flags of samRunFlags.
func bindRunFlags(f *pflag.FlagSet, rf *samRunFlags) {
	f.StringVar(&rf.configFile, "config", "", "JSON training config (samtrain.Config; flags given explicitly override it)")
	f.BoolVar(&rf.resume, "resume", false, "continue the run in --out exactly where it stopped")
	f.BoolVar(&rf.overwrite, "overwrite", false, "replace a run already in --out")
	f.BoolVar(&rf.quiet, "quiet", false, "no progress bar (also off when standard error is not a terminal)")
}

// samConfigFromFlags returns the config of a run: --config's file (if any) with the
// flags the user set applied over it, else the flags' config.
func samConfigFromFlags(cmd *cobra.Command, cfg samtrain.Config, rf samRunFlags) (samtrain.Config, error) {
	if rf.configFile == "" {
		return cfg, nil
	}
	fc, err := samtrain.ReadConfig(rf.configFile)
	if err != nil {
		return cfg, err
	}
	fs := pflag.NewFlagSet("file", pflag.ContinueOnError)
	bindSAMFlags(fs, &fc)
	var ferr error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fs.Lookup(fl.Name) != nil && ferr == nil {
			ferr = fs.Set(fl.Name, fl.Value.String())
		}
	})
	return fc, ferr
}

// runSAMTraining runs samtrain.Run with Ctrl-C/SIGTERM saving a checkpoint, and prints
// the result.
func runSAMTraining(cmd *cobra.Command, cfg samtrain.Config, rf samRunFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := samtrain.Run(ctx, cfg, samtrain.Options{Resume: rf.resume, Overwrite: rf.overwrite, Log: cmd.ErrOrStderr(),
		Progress: !rf.quiet && term.IsTerminal(int(os.Stderr.Fd()))})
	if errors.Is(err, samtrain.ErrInterrupted) {
		fmt.Fprintf(cmd.ErrOrStderr(), "%v (fovea %s --out %s --resume)\n", err, cmd.CommandPath()[len("fovea "):], cfg.Out)
		os.Exit(130)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "done: %s, %d epochs, %.0f s training, %d of %d parameters trained, peak RSS %.0f MiB\n  before: %s\n  after:  %s\nresults in %s\n",
		res.Method, res.Epochs, res.TrainSeconds, res.TrainableParams, res.TotalParams, float64(res.MaxRSSBytes)/(1<<20), res.Before, res.Val, cfg.Out)
	return nil
}

func newTrainSAMCmd() *cobra.Command {
	cfg := samtrain.DefaultConfig()
	var rf samRunFlags
	cmd := &cobra.Command{
		Use:   "sam",
		Short: "Train Segment Anything with SAM's recipe (a tiny ViT SAM on the built-in shapes data by default)",
		Long: `Train a Segment Anything model with the recipe of the SAM paper: for each instance mask a
first prompt (a uniform foreground point or a box with noise), then --point-rounds rounds
of corrective clicks drawn from the error region with the previous low-resolution logits
fed back as the mask prompt; loss 20·focal + dice on the masks (the lowest-loss one of the
three answers to a lone point) plus the MSE of the IoU head; AdamW with warm-up and
cosine or step decay.

The model is --arch (tiny-vit, the default, or tiny-tinyvit: MobileSAM's TinyViT), a JSON
architecture (--model-config), or official weights (--checkpoint). The data are the
instances of the built-in shapes data, or --coco ANN.json --images DIR.

After each epoch it reports the validation mIoU with one point, three points and the box,
beside the box-as-mask baseline. Writes checkpoint.safetensors, last.safetensors,
best.safetensors (SAM's names: fovea sam predict --checkpoint …/last.safetensors
--config …/model.json), metrics.jsonl, metrics.json, curves.png and overlays/ into --out.
Ctrl-C saves the exact position; --resume continues from it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := samConfigFromFlags(cmd, cfg, rf)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("arch") || rf.configFile == "" {
				switch rf.arch {
				case "tiny-vit":
					c.Model = samtrain.TinyViT()
				case "tiny-tinyvit":
					c.Model = samtrain.TinyTinyViT()
				default:
					return fmt.Errorf("--arch %q: want tiny-vit or tiny-tinyvit", rf.arch)
				}
			}
			if rf.modelConfig != "" {
				if c.Model, err = sam.ReadConfig(rf.modelConfig); err != nil {
					return err
				}
			}
			if c.COCO != "" {
				c.Dataset = "coco"
			}
			return runSAMTraining(cmd, c, rf)
		},
	}
	f := cmd.Flags()
	bindRunFlags(f, &rf)
	f.StringVar(&rf.arch, "arch", "tiny-vit", "built-in architecture: tiny-vit (ViT SAM, 64 px) or tiny-tinyvit (MobileSAM's TinyViT, 64 px)")
	f.StringVar(&rf.modelConfig, "model-config", "", "JSON SAM architecture (models/sam Config) instead of --arch")
	bindSAMFlags(f, &cfg)
	return cmd
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
