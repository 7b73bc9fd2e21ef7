package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/fovea-ml/fovea/beam/pipeline"
	"github.com/fovea-ml/fovea/models/sam/automask"
)

var cocoCommand = command{
	name:  "eval coco",
	usage: "evaluate COCO detections or masks exactly as pycocotools' COCOeval (the JSON of fovea eval coco)",
	flags: func(fs *flag.FlagSet) func(context.Context, beam.Scope) (func(context.Context, io.Writer) error, error) {
		var o pipeline.COCOOptions
		fs.StringVar(&o.GT, "gt", "", "COCO annotation file (instances_*.json)")
		fs.StringVar(&o.DT, "dt", "", "file pattern of results files: COCO result lists or JSON lines, one detection a line")
		fs.StringVar(&o.IoUType, "iou-type", "bbox", "bbox or segm")
		fs.StringVar(&o.JSON, "json", "", "write {\"stats\",\"per_category\"} here, as fovea eval coco --json (required)")
		fs.StringVar(&o.Summary, "summary", "", "write pycocotools' twelve-line summary here (default: --json with .summary.txt)")
		fs.StringVar(&o.DeadLetters, "dead-letters", "", "write the detections that could not be used here, as JSON lines (default: --json with .deadletters.jsonl)")
		fs.StringVar(&o.Counts, "counts", "", "write {detections, ground_truths, image_categories, dead_letters} here (default: --json with .counts.json)")
		return func(ctx context.Context, s beam.Scope) (func(context.Context, io.Writer) error, error) {
			if o.GT == "" || o.DT == "" || o.JSON == "" {
				return nil, errors.New("--gt, --dt and --json are required")
			}
			if o.IoUType != "bbox" && o.IoUType != "segm" {
				return nil, fmt.Errorf("--iou-type = %q, want bbox or segm", o.IoUType)
			}
			o.Summary = orDefault(o.Summary, o.JSON, ".summary.txt")
			o.DeadLetters = orDefault(o.DeadLetters, o.JSON, ".deadletters.jsonl")
			o.Counts = orDefault(o.Counts, o.JSON, ".counts.json")
			pipeline.COCOEval(s, o)
			return func(ctx context.Context, w io.Writer) error {
				return pipeline.PrintCOCOReport(ctx, w, o)
			}, nil
		}
	},
}

var predictCommand = command{
	name:  "predict",
	usage: "segment images with a GCN checkpoint, writing palette label maps (as fovea predict)",
	flags: func(fs *flag.FlagSet) func(context.Context, beam.Scope) (func(context.Context, io.Writer) error, error) {
		var o pipeline.PredictOptions
		fs.StringVar(&o.Checkpoint, "checkpoint", "", "model file written by fovea train")
		fs.StringVar(&o.Input, "input", "", "file pattern of PNG/JPEG images, e.g. 'images/*.jpg'")
		fs.StringVar(&o.Out, "out", "", "output folder: STEM.png per image (it must exist; object-store prefixes need not)")
		fs.StringVar(&o.DeadLetters, "dead-letters", "", "images that could not be segmented, as JSON lines (default: OUT/deadletters.jsonl)")
		fs.StringVar(&o.Counts, "counts", "", "write {images, dead_letters} here (default: OUT/counts.json)")
		return func(ctx context.Context, s beam.Scope) (func(context.Context, io.Writer) error, error) {
			if o.Checkpoint == "" || o.Input == "" || o.Out == "" {
				return nil, errors.New("--checkpoint, --input and --out are required")
			}
			o.DeadLetters = inDir(o.DeadLetters, o.Out, "deadletters.jsonl")
			o.Counts = inDir(o.Counts, o.Out, "counts.json")
			pipeline.Predict(s, o)
			return func(ctx context.Context, w io.Writer) error {
				return pipeline.PrintInferReport(ctx, w, o.Counts, o.DeadLetters, o.Out)
			}, nil
		}
	},
}

var samAutoCommand = command{
	name:  "sam auto",
	usage: "SAM automatic masks over images, writing COCO-RLE records per image (as fovea sam auto --format coco)",
	flags: func(fs *flag.FlagSet) func(context.Context, beam.Scope) (func(context.Context, io.Writer) error, error) {
		var o pipeline.AutoMaskOptions
		opt := automask.DefaultOptions()
		fs.StringVar(&o.Checkpoint, "checkpoint", "", "SAM weights: an official .pth or a safetensors file with the same names")
		fs.StringVar(&o.Config, "config", "", "a JSON model config (default: recognised from the checkpoint's shapes)")
		fs.StringVar(&o.Input, "input", "", "file pattern of PNG/JPEG images")
		fs.StringVar(&o.Out, "out", "", "output folder: STEM.json per image")
		fs.StringVar(&o.DeadLetters, "dead-letters", "", "images that could not be segmented, as JSON lines (default: OUT/deadletters.jsonl)")
		fs.StringVar(&o.Counts, "counts", "", "write {images, masks, dead_letters} here (default: OUT/counts.json)")
		fs.IntVar(&opt.PointsPerSide, "points-per-side", opt.PointsPerSide, "points along each side of the grid of point prompts")
		fs.IntVar(&opt.PointsPerBatch, "points-per-batch", opt.PointsPerBatch, "points processed as one batch")
		fs.Float64Var(&opt.PredIoUThresh, "pred-iou-thresh", opt.PredIoUThresh, "keep masks whose predicted IoU is above this (0: all)")
		fs.Float64Var(&opt.StabilityScoreThresh, "stability-score-thresh", opt.StabilityScoreThresh, "keep masks whose stability score is at least this (0: all)")
		fs.Float64Var(&opt.StabilityScoreOffset, "stability-score-offset", opt.StabilityScoreOffset, "logit offset of the stability score's two cutoffs")
		fs.Float64Var(&opt.BoxNMSThresh, "box-nms-thresh", opt.BoxNMSThresh, "box IoU above which NMS drops duplicates within a crop")
		fs.IntVar(&opt.CropNLayers, "crop-n-layers", opt.CropNLayers, "layers of crops (layer i has 2^i×2^i crops) prompted again")
		fs.Float64Var(&opt.CropNMSThresh, "crop-nms-thresh", opt.CropNMSThresh, "box IoU above which NMS drops duplicates across crops")
		fs.Float64Var(&opt.CropOverlapRatio, "crop-overlap-ratio", opt.CropOverlapRatio, "overlap of first-layer crops, as a fraction of the shorter image side")
		fs.IntVar(&opt.CropNPointsDownscaleFactor, "crop-n-points-downscale-factor", opt.CropNPointsDownscaleFactor, "points per side divided by this per crop layer")
		fs.IntVar(&opt.MinMaskRegionArea, "min-mask-region-area", opt.MinMaskRegionArea, "fill holes and remove islands smaller than this many pixels (0: off)")
		return func(ctx context.Context, s beam.Scope) (func(context.Context, io.Writer) error, error) {
			if o.Checkpoint == "" || o.Input == "" || o.Out == "" {
				return nil, errors.New("--checkpoint, --input and --out are required")
			}
			o.Generator = opt
			o.DeadLetters = inDir(o.DeadLetters, o.Out, "deadletters.jsonl")
			o.Counts = inDir(o.Counts, o.Out, "counts.json")
			if err := pipeline.AutoMask(s, o); err != nil {
				return nil, err
			}
			return func(ctx context.Context, w io.Writer) error {
				return pipeline.PrintInferReport(ctx, w, o.Counts, o.DeadLetters, o.Out)
			}, nil
		}
	},
}

func inDir(v, dir, name string) string {
	if v != "" {
		return v
	}
	return pipeline.JoinPath(dir, name)
}
