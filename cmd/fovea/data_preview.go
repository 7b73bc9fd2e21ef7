package main

import (
	"fmt"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
	"github.com/spf13/cobra"
)

func init() {
	dataCmd.AddCommand(newDataPreviewCmd())
}

// previewOptions are the flags of `fovea data preview`.
type previewOptions struct {
	dataset, root, split, ann, images string
	aug, out                          string
	n, cols, start, size, cell        int
	seed                              uint64
	epoch                             int
}

func newDataPreviewCmd() *cobra.Command {
	var o previewOptions
	cmd := &cobra.Command{
		Use:   "preview --out grid.png",
		Short: "Write a PNG grid of (augmented) samples beside their masks and boxes",
		Long: `Write a PNG grid of samples to look at: each sample is shown as the (augmented) image
beside the same image with its mask tinted in the VOC colours and its boxes drawn.

--augment takes ` + augment.ParseHelp + `

Samples are augmented with the same per-sample randomness a data.Loader with this
--seed uses in epoch --epoch, so the grid shows what training sees.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPreview(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataset, "dataset", "shapes", "shapes, voc (--root) or coco (--ann, --images)")
	f.StringVar(&o.root, "root", "", "VOC folder (with JPEGImages/, SegmentationClass/, ImageSets/)")
	f.StringVar(&o.split, "split", "train", "split to show (shapes and voc: train or val)")
	f.StringVar(&o.ann, "ann", "", "COCO instances JSON")
	f.StringVar(&o.images, "images", "", "COCO image folder")
	f.StringVar(&o.aug, "augment", "", "augmentation pipeline (see above); empty shows the samples as they are")
	f.StringVar(&o.out, "out", "", "output PNG (required)")
	f.IntVar(&o.n, "n", 12, "number of samples")
	f.IntVar(&o.cols, "cols", 3, "samples per row (each takes two cells)")
	f.IntVar(&o.start, "start", 0, "index of the first sample")
	f.IntVar(&o.size, "size", 128, "shapes: image size")
	f.IntVar(&o.cell, "cell", 0, "cell size in pixels (default: the first sample's size; others are resized to it)")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the data (shapes) and of the augmentation")
	f.IntVar(&o.epoch, "epoch", 0, "epoch whose augmentation to show")
	return cmd
}

func runPreview(cmd *cobra.Command, o previewOptions) error {
	if o.out == "" {
		return fmt.Errorf("data preview: --out FILE.png is required")
	}
	if o.n <= 0 || o.cols <= 0 || o.cols > maxPreviewSamples || o.start < 0 || o.cell < 0 {
		return fmt.Errorf("data preview: --n and --cols must be positive, --start and --cell not negative")
	}
	if o.n > maxPreviewSamples {
		return fmt.Errorf("data preview: --n %d, want at most %d samples", o.n, maxPreviewSamples)
	}
	if o.cell > 0 {
		if err := data.CheckSize(2*o.cols*o.cell, (o.n+o.cols-1)/o.cols*o.cell); err != nil {
			return fmt.Errorf("data preview: --cell %d: the grid would be too large: %w", o.cell, err)
		}
	}
	var ds data.Dataset
	switch o.dataset {
	case "shapes":
		if o.split != "train" && o.split != "val" {
			return fmt.Errorf("data preview: --split %q: shapes has train and val", o.split)
		}
		if o.size < 16 || o.size > 4096 {
			return fmt.Errorf("data preview: --size %d out of range (16..4096)", o.size)
		}
		if o.start > maxPreviewShapes-o.n {
			return fmt.Errorf("data preview: --start %d: shapes previews are generated from the first sample, want --start + --n ≤ %d", o.start, maxPreviewShapes)
		}
		if bytes := int64(o.start+o.n) * int64(o.size) * int64(o.size) * 3; bytes > maxExportBytes {
			return fmt.Errorf("data preview: --start %d + --n %d shapes images of --size %d would take %.1f GiB to generate, more than %d GiB", o.start, o.n, o.size, float64(bytes)/(1<<30), maxExportBytes>>30)
		}
		ds = data.GenerateShapes(data.ShapesConfig{Size: o.size, Seed: o.seed}, o.split, o.start+o.n)
	case "voc":
		if o.root == "" {
			return fmt.Errorf("data preview: --dataset voc needs --root DIR")
		}
		v, err := data.OpenVOC(o.root, o.split, data.VOCOptions{})
		if err != nil {
			return err
		}
		ds = v
	case "coco":
		if o.ann == "" || o.images == "" {
			return fmt.Errorf("data preview: --dataset coco needs --ann FILE and --images DIR")
		}
		c, err := data.OpenCOCO(o.ann, o.images, data.COCOOptions{Masks: true})
		if err != nil {
			return err
		}
		ds = c
	default:
		return fmt.Errorf("data preview: unknown --dataset %q (want shapes, voc or coco)", o.dataset)
	}
	var tf data.Transform
	if o.aug != "" {
		p, err := augment.Parse(o.aug)
		if err != nil {
			return err
		}
		tf = p
	}
	end := o.start + min(o.n, max(ds.Len()-o.start, 0)) // no overflow for a huge --start
	if o.start >= end {
		return fmt.Errorf("data preview: --start %d is past the %d samples", o.start, ds.Len())
	}
	var cells []*data.Image
	ch, cw := o.cell, o.cell
	for i := o.start; i < end; i++ {
		s, err := ds.Get(i)
		if err != nil {
			return err
		}
		if tf != nil {
			s = tf.Apply(data.SampleRNG(o.seed, o.epoch, i), s)
		}
		img := s.Image.ToRGB()
		over := data.Overlay(img, s.Mask, s.Boxes, 0.55)
		if ch == 0 {
			ch, cw = img.H, img.W
			if err := data.CheckSize(2*o.cols*cw, (end-o.start+o.cols-1)/o.cols*ch); err != nil {
				return fmt.Errorf("data preview: sample %d is %d×%d: the grid would be too large (give a smaller --cell): %w", i, img.W, img.H, err)
			}
		}
		if img.H != ch || img.W != cw {
			img = augment.ResizeImage(img, ch, cw)
			over = augment.ResizeImage(over, ch, cw)
		}
		cells = append(cells, clampImage(img), over)
	}
	grid := data.Grid(cells, 2*o.cols, 3, 0.5)
	if err := data.WritePNG(o.out, grid); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %d samples of %s/%s to %s (%d×%d)\n", end-o.start, o.dataset, o.split, o.out, grid.W, grid.H)
	return nil
}

// Limits of `fovea data preview`: a grid shows at most maxPreviewSamples
// samples, and the shapes data are generated from the first sample up to
// --start + --n, at most maxPreviewShapes.
const (
	maxPreviewSamples = 1000
	maxPreviewShapes  = 100_000
)

// clampImage returns img with values clamped to [0, 1] for display (a
// normalised image would otherwise show saturated).
func clampImage(img *data.Image) *data.Image {
	out := img.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = min(max(v, 0), 1)
	}
	return out
}
