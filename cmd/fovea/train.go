package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/train"
)

// trainCmd is built before any init function runs, so subcommands in other files
// can attach to it from their own init.
var trainCmd = newTrainCmd()

func init() { rootCmd.AddCommand(trainCmd) }

func newTrainCmd() *cobra.Command {
	cfg := train.DefaultConfig()
	var configFile string
	var resume, overwrite, quiet bool
	var serveAddr string
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a Global Convolutional Network for segmentation (on the built-in shapes data by default)",
		Long: `Train a Global Convolutional Network (Peng et al. 2017) for semantic segmentation.

With no arguments it trains on the built-in shapes data with the defaults below and
writes checkpoints (best.safetensors, last.safetensors, checkpoint.safetensors),
metrics.jsonl, metrics.json, curves.png, per_class_iou.md and overlays/ into --out.
Ctrl-C saves a checkpoint; --resume continues exactly where the run stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := cfg
			if configFile != "" {
				fc, err := train.ReadConfig(configFile)
				if err != nil {
					return err
				}
				// Flags given explicitly override the file.
				c = overrideChanged(cmd, fc, cfg)
			}
			// The default one-epoch warm-up cannot fit a one-epoch run: halve the run
			// instead of refusing a warm-up length the user never chose.
			if !cmd.Flags().Changed("warmup-epochs") && configFile == "" && c.WarmupEpochs >= float64(c.Epochs) {
				c.WarmupEpochs = float64(c.Epochs) / 2
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			dash, err := startTrainDashboard(serveAddr, cmd.ErrOrStderr()) // serve.go
			if err != nil {
				return err
			}
			defer dash.close()
			res, err := train.Run(ctx, c, train.Options{Resume: resume, Overwrite: overwrite, Log: cmd.ErrOrStderr(), Progress: !quiet && term.IsTerminal(int(os.Stderr.Fd())), OnEvent: dash.hook()})
			dash.finish(err)
			if errors.Is(err, train.ErrInterrupted) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				os.Exit(130)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %d epochs, %.0f s training; val PA %.4f  MPA %.4f  MIoU %.4f  FWIoU %.4f (best MIoU %.4f); results in %s\n",
				res.Epochs, res.TrainSeconds, res.Val.AAcc, res.Val.MAcc, res.Val.MIoU, res.Val.FWIoU, res.BestMIoU, c.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON file with a training config (flags given explicitly override it)")
	f.BoolVar(&resume, "resume", false, "continue from --out/checkpoint.safetensors")
	f.BoolVar(&overwrite, "overwrite", false, "replace a run already in --out (without it such a folder is refused)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar (it is also off when standard error is not a terminal)")
	f.StringVar(&cfg.Dataset, "dataset", cfg.Dataset, `"shapes" or a VOC-layout folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt)`)
	f.IntVar(&cfg.ImageSize, "image-size", cfg.ImageSize, "image side for the shapes data (multiple of 32)")
	f.IntVar(&cfg.TrainN, "train-images", cfg.TrainN, "shapes training images")
	f.IntVar(&cfg.ValN, "val-images", cfg.ValN, "shapes validation images")
	f.Uint64Var(&cfg.DataSeed, "data-seed", cfg.DataSeed, "seed of the shapes data")
	f.StringVar(&cfg.Model.Backbone, "backbone", cfg.Model.Backbone, "resnet18, resnet34 or resnet50")
	f.Float64Var(&cfg.Model.Width, "width", cfg.Model.Width, "backbone channel multiplier")
	f.IntVar(&cfg.Model.K, "k", cfg.Model.K, "GCN kernel size (odd; 1 = no large kernels)")
	f.StringVar(&cfg.Model.Upsampler, "upsampler", cfg.Model.Upsampler, "bilinear, deconv or pixelshuffle")
	f.BoolVar(&cfg.Model.BR, "br", cfg.Model.BR, "use Boundary Refinement blocks")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "training epochs")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "batch size")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (AdamW)")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW decoupled weight decay (not on biases and norms)")
	f.Float64Var(&cfg.WarmupEpochs, "warmup-epochs", cfg.WarmupEpochs, "linear warm-up length in epochs")
	f.StringVar(&cfg.Schedule, "schedule", cfg.Schedule, "poly or cosine")
	f.Float64Var(&cfg.Erasing, "random-erasing", cfg.Erasing, "Random Erasing probability (0 = off)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, shuffling and augmentation")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "data loader goroutines")
	f.IntVar(&cfg.Threads, "threads", cfg.Threads, "compute threads (0 = all cores)")
	f.Float64Var(&cfg.TimeBudget, "time-budget", cfg.TimeBudget, "fit training into this many seconds: the epochs are cut to what fits at the first epoch's speed (0 = no limit)")
	f.StringVar(&cfg.Out, "out", cfg.Out, "output directory")
	f.StringVar(&serveAddr, "serve", "", "serve a live dashboard (curves, per-class IoU, overlays) at http://ADDR/dashboard, e.g. 127.0.0.1:8081")
	return cmd
}

// overrideChanged returns file with every flag the user set explicitly taken
// from flags instead.
func overrideChanged(cmd *cobra.Command, file, flags train.Config) train.Config {
	set := map[string]func(){
		"dataset": func() { file.Dataset = flags.Dataset }, "image-size": func() { file.ImageSize = flags.ImageSize },
		"train-images": func() { file.TrainN = flags.TrainN }, "val-images": func() { file.ValN = flags.ValN },
		"data-seed": func() { file.DataSeed = flags.DataSeed }, "backbone": func() { file.Model.Backbone = flags.Model.Backbone },
		"width": func() { file.Model.Width = flags.Model.Width }, "k": func() { file.Model.K = flags.Model.K },
		"upsampler": func() { file.Model.Upsampler = flags.Model.Upsampler }, "br": func() { file.Model.BR = flags.Model.BR },
		"epochs": func() { file.Epochs = flags.Epochs }, "batch": func() { file.Batch = flags.Batch },
		"lr": func() { file.LR = flags.LR }, "weight-decay": func() { file.WeightDecay = flags.WeightDecay },
		"warmup-epochs": func() { file.WarmupEpochs = flags.WarmupEpochs }, "schedule": func() { file.Schedule = flags.Schedule },
		"random-erasing": func() { file.Erasing = flags.Erasing }, "seed": func() { file.Seed = flags.Seed },
		"workers": func() { file.Workers = flags.Workers }, "threads": func() { file.Threads = flags.Threads },
		"time-budget": func() { file.TimeBudget = flags.TimeBudget }, "out": func() { file.Out = flags.Out },
	}
	for name, apply := range set {
		if cmd.Flags().Changed(name) {
			apply()
		}
	}
	return file
}
