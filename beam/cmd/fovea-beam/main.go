// Command fovea-beam runs fovea's Apache Beam pipelines: dataset-scale
// evaluation (eval seg, eval coco) and batch inference (predict, sam auto).
//
//	fovea-beam eval seg  --gt 'gt/*.png' --pred 'pred/*.png' --num-classes 21 --json scores.json
//	fovea-beam eval coco --gt instances.json --dt 'results*.json*' --iou-type bbox --json coco.json
//	fovea-beam predict   --checkpoint best.safetensors --input 'images/*.png' --out labels/
//	fovea-beam sam auto  --checkpoint sam_vit_b.pth --input 'images/*.jpg' --out masks.jsonl
//
// Without --runner the pipeline runs in this process on Beam's Prism runner.
// Beam's own flags choose another runner: --runner=flink --endpoint=HOST:8099
// --environment_type=LOOPBACK|DOCKER, --runner=spark, or --runner=dataflow
// --project=P --region=R --staging_location=gs://… --temp_location=gs://…;
// every path may then be gs:// or s3://. Bad input goes to the
// --dead-letters file (JSON lines {"file","reason"}) and the rest is still
// processed; the counts are printed at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/fovea-ml/fovea/beam/pipeline"
	"github.com/fovea-ml/fovea/metrics/seg"
)

// command is one subcommand: its flags are registered on the global flag
// set (Beam's runner flags live there too) only when it is chosen.
type command struct {
	name, usage string
	flags       func(fs *flag.FlagSet) func(ctx context.Context, s beam.Scope) (after func(ctx context.Context, out io.Writer) error, err error)
}

var commands = []command{segCommand, cocoCommand, predictCommand, samAutoCommand}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fovea-beam:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fovea-beam COMMAND [flags] [Beam runner flags]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "Run 'fovea-beam COMMAND -h' for its flags. Without --runner, pipelines run in-process on Prism.")
}

func run(args []string, out io.Writer) error {
	// Beam workers started by a portable runner re-execute this binary
	// with --worker and Beam's flags only.
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		flag.Parse()
		beam.Init()
		return errors.New("no command given; run fovea-beam -h")
	}
	var cmd *command
	rest := args
	for i := range commands {
		c := &commands[i]
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			cmd, rest = c, args[len(words):]
			break
		}
	}
	if cmd == nil {
		usage(os.Stderr)
		if len(args) == 0 || args[0] == "help" {
			return nil
		}
		return fmt.Errorf("unknown command %q", strings.Join(args, " "))
	}
	build := cmd.flags(flag.CommandLine)
	if err := flag.CommandLine.Parse(rest); err != nil {
		return err
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd.name, flag.Args())
	}
	beam.Init()
	ctx := context.Background()
	p, s := beam.NewPipelineWithRoot()
	after, err := build(ctx, s)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd.name, err)
	}
	if err := beamx.Run(ctx, p); err != nil {
		return fmt.Errorf("%s: %w", cmd.name, err)
	}
	if after != nil {
		return after(ctx, out)
	}
	return nil
}

var segCommand = command{
	name:  "eval seg",
	usage: "score predicted label maps against ground truth (the JSON of fovea eval seg)",
	flags: func(fs *flag.FlagSet) func(context.Context, beam.Scope) (func(context.Context, io.Writer) error, error) {
		var o pipeline.SegOptions
		fs.StringVar(&o.GT, "gt", "", "file pattern of ground-truth PNG label maps, e.g. 'gt/*.png' or 'gs://bucket/gt/*.png'")
		fs.StringVar(&o.Pred, "pred", "", "file pattern of predicted PNG label maps (paired with --gt by file stem)")
		fs.IntVar(&o.NumClasses, "num-classes", 0, "number of classes C; labels outside [0, C) are ignored")
		fs.IntVar(&o.IgnoreIndex, "ignore-index", seg.DefaultIgnoreIndex, "ground-truth label to ignore")
		fs.BoolVar(&o.ReduceZeroLabel, "reduce-zero-label", false, "mmsegmentation reduce_zero_label: GT 0 is ignored, other labels shift down by one")
		fs.BoolVar(&o.DropInvalidGT, "drop-invalid-gt", false, "skip ground-truth pixels whose label is ≥ --num-classes (and not the ignore index) entirely; by default their predictions count in the predicted area, as mmsegmentation does")
		fs.StringVar(&o.JSON, "json", "", "write the scores here, as fovea eval seg --json (required)")
		fs.StringVar(&o.DeadLetters, "dead-letters", "", "write the inputs that could not be scored here, as JSON lines (default: --json with .deadletters.jsonl)")
		fs.StringVar(&o.Counts, "counts", "", "write {images, dead_letters, invalid_gt_pixels} here (default: --json with .counts.json)")
		return func(ctx context.Context, s beam.Scope) (func(context.Context, io.Writer) error, error) {
			if o.GT == "" || o.Pred == "" || o.JSON == "" {
				return nil, errors.New("--gt, --pred and --json are required")
			}
			if o.NumClasses < 1 || o.NumClasses > 256 {
				return nil, fmt.Errorf("--num-classes = %d, want 1 … 256 (label maps are 8-bit PNGs)", o.NumClasses)
			}
			o.DeadLetters = orDefault(o.DeadLetters, o.JSON, ".deadletters.jsonl")
			o.Counts = orDefault(o.Counts, o.JSON, ".counts.json")
			pipeline.SegEval(s, o)
			return func(ctx context.Context, w io.Writer) error {
				return pipeline.PrintSegReport(ctx, w, o)
			}, nil
		}
	},
}

// orDefault returns v, or base with its .json extension replaced by suffix.
func orDefault(v, base, suffix string) string {
	if v != "" {
		return v
	}
	return strings.TrimSuffix(base, ".json") + suffix
}
