package main

import (
	"fmt"
	"time"

	"github.com/fovea-ml/fovea/data"
	"github.com/spf13/cobra"
)

// dataCmd is `fovea data`: export and look at datasets.
var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Export and preview datasets (the built-in shapes data, VOC, COCO)",
}

func init() {
	rootCmd.AddCommand(dataCmd)
	dataCmd.AddCommand(newDataExportCmd())
}

func newDataExportCmd() *cobra.Command {
	var (
		out          string
		cfg          data.ShapesConfig
		format       string
		ignoreBorder int
	)
	cmd := &cobra.Command{
		Use:   "export shapes --out DIR",
		Short: "Write the built-in shapes dataset as a VOC-layout folder plus COCO instances JSON",
		Long: `Write the built-in synthetic shapes dataset (6 shape classes + background) to DIR in the
Pascal VOC layout (JPEGImages/, SegmentationClass/ palette PNGs, SegmentationObject/,
Annotations/*.xml, ImageSets/{Segmentation,Main}/{train,val,trainval}.txt, classes.txt)
plus COCO instances JSON (annotations/instances_{train,val}.json, RLE masks), so any
other tool can train on exactly the same data. Images are PNG by default (lossless).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] != "shapes" {
				return fmt.Errorf("data export: want the dataset name %q as the one argument, got %q", "shapes", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("data export: --out DIR is required")
			}
			if cfg.Train < 0 || cfg.Val < 0 {
				return fmt.Errorf("data export: --train and --val must not be negative")
			}
			if cfg.Size < 16 || cfg.Size > 4096 {
				return fmt.Errorf("data export: --size %d, want 16 … 4096 pixels", cfg.Size)
			}
			// The split is generated in memory (3 bytes a pixel) before it is written.
			if n := int64(cfg.Train) + int64(cfg.Val); n*int64(cfg.Size)*int64(cfg.Size)*3 > maxExportBytes {
				return fmt.Errorf("data export: --train %d --val %d at --size %d would hold %.1f GiB of images in memory, more than %d GiB: export in parts (--seed) or smaller",
					cfg.Train, cfg.Val, cfg.Size, float64(n*int64(cfg.Size)*int64(cfg.Size)*3)/(1<<30), maxExportBytes>>30)
			}
			if ignoreBorder < 0 {
				return fmt.Errorf("data export: --ignore-border must not be negative")
			}
			cfg.IgnoreBorder = ignoreBorder
			t0 := time.Now()
			var splits []data.Split
			for _, name := range []string{"train", "val"} {
				n := cfg.Train
				if name == "val" {
					n = cfg.Val
				}
				if n == 0 {
					continue
				}
				ds, err := data.Shapes(withSplitSizes(cfg), name)
				if err != nil {
					return err
				}
				splits = append(splits, data.Split{Name: name, Data: ds})
			}
			if len(splits) == 0 {
				return fmt.Errorf("data export: nothing to write (--train 0 --val 0)")
			}
			gen := time.Since(t0)
			err := data.ExportVOC(out, splits, data.ExportOptions{Classes: data.ShapesClasses, ImageFormat: format,
				Description: fmt.Sprintf("fovea shapes: size %d, seed %d, train %d, val %d", cfg.Size, cfg.Seed, cfg.Train, cfg.Val)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote shapes (train %d, val %d, %d×%d, seed %d) to %s: generated in %.2fs, written in %.2fs\n",
				cfg.Train, cfg.Val, cfg.Size, cfg.Size, cfg.Seed, out, gen.Seconds(), (time.Since(t0) - gen).Seconds())
			return nil
		},
	}
	d := data.DefaultShapesConfig()
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output folder (created if missing)")
	f.IntVar(&cfg.Train, "train", d.Train, "number of training images")
	f.IntVar(&cfg.Val, "val", d.Val, "number of validation images")
	f.IntVar(&cfg.Size, "size", d.Size, "image height and width in pixels")
	f.Uint64Var(&cfg.Seed, "seed", d.Seed, "random seed")
	f.IntVar(&ignoreBorder, "ignore-border", 0, "label pixels within this distance of a class boundary 255 (ignore), as VOC does")
	f.StringVar(&format, "format", "png", "image file format: png (lossless) or jpg")
	return cmd
}

// maxExportBytes bounds the memory `data export shapes` generates before writing.
const maxExportBytes = 4 << 30

// withSplitSizes returns cfg with zero split sizes replaced by 1, so that
// data.Shapes does not fill in its defaults for a split the user left empty
// (the split itself is skipped by the caller).
func withSplitSizes(cfg data.ShapesConfig) data.ShapesConfig {
	if cfg.Train == 0 {
		cfg.Train = 1
	}
	if cfg.Val == 0 {
		cfg.Val = 1
	}
	return cfg
}
