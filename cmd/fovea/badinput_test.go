package main

// The bad-input corpus (issues 16 and 20): every fovea command over malformed
// files, flags and folders. For each case the command must fail with an error
// that names the file or flag and says what was expected (or, where the input
// is legal but suspicious, succeed with the stated warning), never panic,
// leave no temporary or unwanted output file, and leave every input file as it
// was. docs/reliability.md describes the corpus; add a case for every bad
// input found in the wild.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/safetensors"
)

// badCase is one entry of the corpus. In args, want and noOut, "{fx}" is
// the fixture folder (all inputs) and "{out}" an empty folder of the case's
// own for outputs.
type badCase struct {
	name string
	args []string
	// want are substrings the error must contain: the file or flag, and
	// what was expected.
	want []string
	// warn, if set, means the input is accepted with a warning: the command
	// must succeed and print this.
	warn string
	// noOut are paths that must not exist afterwards.
	noOut []string
}

func TestBadInputCorpus(t *testing.T) {
	fx := t.TempDir()
	buildBadInputFixtures(t, fx)
	hashes := &treeHashes{dir: fx}
	cases := badInputCases()
	if len(cases) < 60 {
		t.Errorf("the corpus has %d cases, want at least 60", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("case name %q twice", c.name)
		}
		names[c.name] = true
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			sub := func(s string) string {
				return strings.NewReplacer("{fx}", fx, "{out}", out).Replace(s)
			}
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = sub(a)
			}
			before := hashes.update(t)
			text, err := runFoveaRecover(t, args...)
			if strings.Contains(text, "goroutine ") || err != nil && strings.Contains(err.Error(), "goroutine ") {
				t.Errorf("a Go trace in the output:\n%s\n%v", text, err)
			}
			if c.warn != "" {
				if err != nil {
					t.Errorf("fovea %s: %v, want success with a warning", strings.Join(args, " "), err)
				} else if !strings.Contains(text, c.warn) {
					t.Errorf("fovea %s: output\n%s\nwant the warning %q", strings.Join(args, " "), text, c.warn)
				}
			} else if err == nil {
				t.Errorf("fovea %s: no error; output:\n%s", strings.Join(args, " "), text)
			} else {
				t.Log(err) // go test -v shows every message of the corpus
				for _, w := range c.want {
					if !strings.Contains(err.Error(), sub(w)) {
						t.Errorf("fovea %s:\nerror %q\nwant it to contain %q", strings.Join(args, " "), err, sub(w))
					}
				}
				if strings.Contains(err.Error(), "\n") && len(err.Error()) > 2000 {
					t.Errorf("error is %d bytes over several lines, want a short message", len(err.Error()))
				}
			}
			if after := hashes.update(t); !equalHashes(before, after) {
				t.Errorf("input files changed: %s", diffHashes(before, after))
			}
			for _, dir := range []string{fx, out} {
				filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() && atomicfile.IsTemp(d.Name()) {
						t.Errorf("temporary file left behind: %s", p)
					}
					return nil
				})
			}
			for _, p := range c.noOut {
				if _, err := os.Stat(sub(p)); err == nil {
					t.Errorf("%s was written", sub(p))
				}
			}
		})
	}
}

// runFoveaRecover is runFovea with a panic turned into a test failure.
func runFoveaRecover(t *testing.T, args ...string) (out string, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("fovea %s panicked: %v\n%s", strings.Join(args, " "), p, debug.Stack())
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return runFovea(t, args...)
}

func badInputCases() []badCase {
	ckpt := "{fx}/run/best.safetensors"
	predict := func(name, ck, input string, want ...string) badCase {
		return badCase{name: name, args: []string{"predict", "--checkpoint", ck, "--input", input, "--out", "{out}/p"}, want: want,
			noOut: []string{"{out}/p/a.png"}}
	}
	evalSeg := func(name, gt, pred string, extra []string, want ...string) badCase {
		args := append([]string{"eval", "seg", "--gt", gt, "--pred", pred, "--num-classes", "7"}, extra...)
		return badCase{name: name, args: args, want: want}
	}
	coco := func(name, gt, dt, iou string, want ...string) badCase {
		return badCase{name: name, args: []string{"eval", "coco", "--gt", gt, "--dt", dt, "--iou-type", iou, "--json", "{out}/m.json"}, want: want,
			noOut: []string{"{out}/m.json"}}
	}
	vocEval := func(name, ann, dets string, want ...string) badCase {
		return badCase{name: name, args: []string{"eval", "voc", "--annotations", ann, "--dets", dets, "--year", "2007", "--json", "{out}/m.json"}, want: want,
			noOut: []string{"{out}/m.json"}}
	}
	preview := func(name string, extra []string, want ...string) badCase {
		args := append([]string{"data", "preview", "--out", "{out}/g.png", "--n", "2", "--size", "32"}, extra...)
		return badCase{name: name, args: args, want: want, noOut: []string{"{out}/g.png"}}
	}
	trainArgs := func(extra ...string) []string {
		return append([]string{"train", "--quiet", "--train-images", "8", "--val-images", "2", "--image-size", "64", "--width", "0.125",
			"--epochs", "1", "--batch", "8", "--time-budget", "0", "--out", "{out}/run"}, extra...)
	}
	trainCase := func(name string, extra []string, want ...string) badCase {
		return badCase{name: name, args: trainArgs(extra...), want: want, noOut: []string{"{out}/run/best.safetensors", "{out}/run/checkpoint.safetensors"}}
	}
	// Resume the fixture run in place with other settings: refused before
	// anything in the run folder is touched.
	resume := func(name string, extra []string, want ...string) badCase {
		args := []string{"train", "--quiet", "--resume", "--config", "{fx}/run/config.json", "--out", "{fx}/run"}
		return badCase{name: name, args: append(args, extra...), want: want}
	}
	return []badCase{
		// predict: checkpoints
		predict("predict/checkpoint-missing", "{fx}/nope.safetensors", "{fx}/img/a.png", "nope.safetensors"),
		predict("predict/checkpoint-empty", "{fx}/ckpt/empty.safetensors", "{fx}/img/a.png", "empty.safetensors"),
		predict("predict/checkpoint-truncated", "{fx}/ckpt/truncated.safetensors", "{fx}/img/a.png", "truncated.safetensors"),
		predict("predict/checkpoint-garbage-header", "{fx}/ckpt/garbage.safetensors", "{fx}/img/a.png", "garbage.safetensors", "JSON"),
		predict("predict/checkpoint-nan-weights", "{fx}/ckpt/nan.safetensors", "{fx}/img/a.png", "nan.safetensors", "gcn.0.left1.weight", "NaN"),
		predict("predict/checkpoint-int-dtype", "{fx}/ckpt/int.safetensors", "{fx}/img/a.png", "int.safetensors", "backbone.conv1.weight", "I32", "floating-point"),
		predict("predict/checkpoint-huge-num-classes", "{fx}/ckpt/classes.safetensors", "{fx}/img/a.png", "classes.safetensors", "num_classes 100000"),
		predict("predict/checkpoint-huge-kernel", "{fx}/ckpt/kernel.safetensors", "{fx}/img/a.png", "kernel.safetensors", "k 100001"),
		predict("predict/checkpoint-huge-width", "{fx}/ckpt/width.safetensors", "{fx}/img/a.png", "width.safetensors", "width 4"),
		predict("predict/checkpoint-no-metadata", "{fx}/ckpt/nometa.safetensors", "{fx}/img/a.png", "nometa.safetensors", "fovea.model"),
		predict("predict/checkpoint-wrong-shape", "{fx}/ckpt/shape.safetensors", "{fx}/img/a.png", "shape.safetensors", "gcn.0.left1.bias"),
		predict("predict/checkpoint-wrong-model", "{fx}/ckpt/resnet34.safetensors", "{fx}/img/a.png", "resnet34.safetensors"),
		predict("predict/checkpoint-is-pth", "{fx}/pth/params.pth", "{fx}/img/a.png", "params.pth", "not a safetensors file"),
		// predict: images
		predict("predict/input-missing", ckpt, "{fx}/img/none.png", "--input", "none.png"),
		predict("predict/image-empty", ckpt, "{fx}/bad/empty.png", "empty.png", "empty file"),
		predict("predict/image-truncated-png", ckpt, "{fx}/bad/truncated.png", "truncated.png"),
		predict("predict/image-truncated-jpeg", ckpt, "{fx}/bad/truncated.jpg", "truncated.jpg"),
		predict("predict/image-text-as-png", ckpt, "{fx}/bad/text.png", "text.png"),
		predict("predict/image-png-claims-100000x100000", ckpt, "{fx}/bad/huge.png", "huge.png", "100000×100000", "--max-pixels"),
		predict("predict/image-jpeg-sof-claims-65500x65500", ckpt, "{fx}/bad/huge.jpg", "huge.jpg", "65500×65500", "--max-pixels"),
		predict("predict/image-jpeg-corrupt-sof", ckpt, "{fx}/bad/sof.jpg", "sof.jpg"),
		predict("predict/input-folder-without-images", ckpt, "{fx}/empty", "empty", "no .png or .jpg"),
		{name: "predict/out-is-input-folder", args: []string{"predict", "--checkpoint", ckpt, "--input", "{fx}/img", "--out", "{fx}/img"},
			want: []string{"--out", "would overwrite the input image", "a.png"}},
		{name: "predict/same-stem-png-jpg", args: []string{"predict", "--checkpoint", ckpt, "--input", "{fx}/stems", "--out", "{out}/p"},
			want: []string{"b.jpg", "b.png", "would both write"}, noOut: []string{"{out}/p/b.png"}},
		{name: "predict/out-is-a-file", args: []string{"predict", "--checkpoint", ckpt, "--input", "{fx}/img/a.png", "--out", "{fx}/file.txt"},
			want: []string{"--out", "file.txt", "is a file"}},
		{name: "predict/out-unwritable", args: []string{"predict", "--checkpoint", ckpt, "--input", "{fx}/img/a.png", "--out", "{fx}/file.txt/sub"},
			want: []string{"--out", "file.txt/sub"}},
		{name: "predict/one-bad-image-in-folder", args: []string{"predict", "--checkpoint", ckpt, "--input", "{fx}/mixed", "--out", "{out}/p"},
			want: []string{"z.png", "--max-pixels"}, noOut: []string{"{out}/p/a.png", "{out}/p/a_overlay.png"}},
		{name: "predict/max-pixels-lowered", args: []string{"predict", "--max-pixels", "100", "--checkpoint", ckpt, "--input", "{fx}/img/a.png", "--out", "{out}/p"},
			want: []string{"a.png", "32×32", "--max-pixels"}, noOut: []string{"{out}/p/a.png"}},
		{name: "predict/flags-missing", args: []string{"predict", "--checkpoint", ckpt}, want: []string{"--input", "--out"}},

		// eval seg
		{name: "eval-seg/num-classes-huge", args: []string{"eval", "seg", "--gt", "{fx}/seg/gt", "--pred", "{fx}/seg/pred", "--num-classes", "100000"},
			want: []string{"--num-classes", "100000", "256"}},
		{name: "eval-seg/num-classes-zero", args: []string{"eval", "seg", "--gt", "{fx}/seg/gt", "--pred", "{fx}/seg/pred", "--num-classes", "0"},
			want: []string{"--num-classes"}},
		evalSeg("eval-seg/gt-folder-missing", "{fx}/seg/none", "{fx}/seg/pred", nil, "--gt", "none"),
		evalSeg("eval-seg/prediction-missing", "{fx}/seg/gt", "{fx}/seg/predmissing", nil, "predmissing", "no prediction"),
		evalSeg("eval-seg/size-mismatch", "{fx}/seg/gt", "{fx}/seg/predsize", nil, "predsize", "32x32", "16x16"),
		evalSeg("eval-seg/gt-rgb-png", "{fx}/seg/gtrgb", "{fx}/seg/pred", nil, "gtrgb", "RGB", "want 8-bit greyscale or palette"),
		evalSeg("eval-seg/gt-truncated", "{fx}/seg/gttrunc", "{fx}/seg/pred", nil, "gttrunc"),
		evalSeg("eval-seg/gt-empty-file", "{fx}/seg/gtempty", "{fx}/seg/pred", nil, "gtempty", "not a PNG"),
		evalSeg("eval-seg/gt-claims-huge", "{fx}/seg/gthuge", "{fx}/seg/pred", nil, "gthuge", "--max-pixels"),
		{name: "eval-seg/gt-labels-above-classes-warn", args: []string{"eval", "seg", "--gt", "{fx}/seg/gt", "--pred", "{fx}/seg/pred", "--num-classes", "3"},
			warn: "warning: 584 ground-truth pixels"},
		evalSeg("eval-seg/json-is-a-directory", "{fx}/seg/gt", "{fx}/seg/pred", []string{"--json", "{out}"}, "--json", "is a directory"),
		evalSeg("eval-seg/json-unwritable", "{fx}/seg/gt", "{fx}/seg/pred", []string{"--json", "{fx}/file.txt/m.json"}, "--json", "file.txt/m.json"),
		{name: "eval-seg/checkpoint-corrupt", args: []string{"eval", "seg", "--checkpoint", "{fx}/ckpt/truncated.safetensors", "--dataset", "shapes"},
			want: []string{"truncated.safetensors"}},
		{name: "eval-seg/checkpoint-dataset-missing", args: []string{"eval", "seg", "--checkpoint", ckpt, "--dataset", "{fx}/novoc"},
			want: []string{"novoc"}},

		// eval coco: ground truth
		coco("eval-coco/gt-missing", "{fx}/coco/none.json", "{fx}/coco/dt.json", "bbox", "none.json"),
		coco("eval-coco/gt-empty", "{fx}/coco/empty.json", "{fx}/coco/dt.json", "bbox", "empty.json"),
		coco("eval-coco/gt-truncated", "{fx}/coco/gttrunc.json", "{fx}/coco/dt.json", "bbox", "gttrunc.json", "line 1 column"),
		coco("eval-coco/gt-not-an-object", "{fx}/coco/list.json", "{fx}/coco/dt.json", "bbox", "list.json", "JSON object"),
		coco("eval-coco/gt-deep-nesting", "{fx}/coco/gtdeep.json", "{fx}/coco/dt.json", "bbox", "gtdeep.json", "nested more than 1000 deep"),
		coco("eval-coco/gt-inverted-box", "{fx}/coco/gtneg.json", "{fx}/coco/dt.json", "bbox", "gtneg.json", "negative width or height"),
		coco("eval-coco/gt-odd-polygon", "{fx}/coco/gtodd.json", "{fx}/coco/dt.json", "segm", "gtodd.json", "even count"),
		// eval coco: results
		coco("eval-coco/dt-deep-nesting", "{fx}/coco/gt.json", "{fx}/coco/dtdeep.json", "bbox", "dtdeep.json", "nested more than 1000 deep"),
		coco("eval-coco/dt-not-a-list", "{fx}/coco/gt.json", "{fx}/coco/gt.json", "bbox", "gt.json", "JSON list"),
		coco("eval-coco/dt-negative-box", "{fx}/coco/gt.json", "{fx}/coco/dtneg.json", "bbox", "dtneg.json", "results[0].bbox", "negative width or height"),
		coco("eval-coco/dt-huge-box", "{fx}/coco/gt.json", "{fx}/coco/dtbig.json", "bbox", "dtbig.json", "infinite area"),
		coco("eval-coco/dt-nan-score", "{fx}/coco/gt.json", "{fx}/coco/dtnan.json", "bbox", "dtnan.json", "score"),
		coco("eval-coco/dt-unknown-image", "{fx}/coco/gt.json", "{fx}/coco/dtimg.json", "bbox", "dtimg.json", "image_id 99"),
		coco("eval-coco/dt-unknown-category", "{fx}/coco/gt.json", "{fx}/coco/dtcat.json", "bbox", "dtcat.json", "category_id 77"),
		coco("eval-coco/dt-odd-polygon", "{fx}/coco/gt.json", "{fx}/coco/dtodd.json", "segm", "dtodd.json", "results[0].segmentation", "even count"),
		coco("eval-coco/dt-polygon-huge-coordinates", "{fx}/coco/gt.json", "{fx}/coco/dthugepoly.json", "segm", "dthugepoly.json", "coco.MaxPolygonLength"),
		coco("eval-coco/dt-rle-wrong-size", "{fx}/coco/gt.json", "{fx}/coco/dtrlesize.json", "segm", "dtrlesize.json", "differs from the image"),
		coco("eval-coco/dt-rle-corrupt-counts", "{fx}/coco/gt.json", "{fx}/coco/dtrle.json", "segm", "dtrle.json"),
		coco("eval-coco/dt-truncated", "{fx}/coco/gt.json", "{fx}/coco/dttrunc.json", "bbox", "dttrunc.json", "line 1 column"),
		{name: "eval-coco/pr-curve-is-a-directory", args: []string{"eval", "coco", "--gt", "{fx}/coco/gt.json", "--dt", "{fx}/coco/dt.json", "--pr-curve", "{out}"},
			want: []string{"is a directory"}},
		coco("eval-coco/iou-type-invalid", "{fx}/coco/gt.json", "{fx}/coco/dt.json", "keypoints", "--iou-type", "bbox or segm"),

		// eval voc
		vocEval("eval-voc/det-inverted-box", "{fx}/voc/ann", "{fx}/voc/detinv", "detinv/shape1.txt:1", "inverted"),
		vocEval("eval-voc/det-box-outside-image", "{fx}/voc/ann", "{fx}/voc/detout", "detout/shape1.txt", "wholly outside the 64×64 image"),
		vocEval("eval-voc/gt-inverted-box", "{fx}/voc/anninv", "{fx}/voc/det", "a.xml", "inverted"),
		vocEval("eval-voc/gt-box-outside-image", "{fx}/voc/annout", "{fx}/voc/det", "a.xml", "wholly outside"),
		vocEval("eval-voc/gt-malformed-xml", "{fx}/voc/annbad", "{fx}/voc/det", "a.xml", "malformed VOC XML"),
		vocEval("eval-voc/det-wrong-field-count", "{fx}/voc/ann", "{fx}/voc/detfields", "detfields/shape1.txt:1", "want <image_id>"),
		vocEval("eval-voc/det-nan-score", "{fx}/voc/ann", "{fx}/voc/detnan", "detnan/shape1.txt:1", "score"),
		vocEval("eval-voc/det-unknown-image", "{fx}/voc/ann", "{fx}/voc/detimg", "detimg/shape1.txt", "nosuchimage"),
		vocEval("eval-voc/det-file-missing", "{fx}/voc/ann", "{fx}/empty", "missing detection file"),
		vocEval("eval-voc/annotations-missing", "{fx}/voc/none", "{fx}/voc/det", "--annotations", "none"),
		{name: "eval-voc/iou-nan", args: []string{"eval", "voc", "--annotations", "{fx}/voc/ann", "--dets", "{fx}/voc/det", "--year", "2007", "--iou", "NaN"},
			want: []string{"--iou", "finite"}},
		{name: "eval-voc/year-invalid", args: []string{"eval", "voc", "--annotations", "{fx}/voc/ann", "--dets", "{fx}/voc/det", "--year", "1999"},
			want: []string{"--year", "2007"}},

		// data export
		{name: "data-export/size-zero", args: []string{"data", "export", "shapes", "--out", "{out}/x", "--size", "0"}, want: []string{"--size 0", "16 … 4096"}, noOut: []string{"{out}/x"}},
		{name: "data-export/size-huge", args: []string{"data", "export", "shapes", "--out", "{out}/x", "--size", "100000"}, want: []string{"--size 100000"}, noOut: []string{"{out}/x"}},
		{name: "data-export/too-many-images", args: []string{"data", "export", "shapes", "--out", "{out}/x", "--train", "2000000000", "--size", "64"}, want: []string{"--train 2000000000", "GiB"}, noOut: []string{"{out}/x"}},
		{name: "data-export/format-invalid", args: []string{"data", "export", "shapes", "--out", "{out}/x", "--format", "gif", "--train", "1", "--val", "1", "--size", "32"}, want: []string{`"gif"`, "png or jpg"}},
		{name: "data-export/out-is-a-file", args: []string{"data", "export", "shapes", "--out", "{fx}/file.txt", "--train", "1", "--val", "1", "--size", "32"}, want: []string{"file.txt"}},

		// data preview and augmentation specs
		preview("preview/cell-huge", []string{"--cell", "100000"}, "--cell 100000", "too large"),
		preview("preview/crop-huge", []string{"--augment", "crop:size=100000x100000"}, "crop:size=100000x100000", "--max-pixels"),
		preview("preview/start-overflow", []string{"--start", "9223372036854775807"}, "--start 9223372036854775807"),
		preview("preview/n-huge", []string{"--n", "100000000"}, "--n 100000000"),
		preview("preview/shapes-too-much-memory", []string{"--size", "4096", "--n", "1000"}, "--size 4096", "GiB"),
		preview("preview/flip-p-above-one", []string{"--augment", "flip:p=2"}, "flip:p=2", "probability in [0, 1]"),
		preview("preview/flip-p-negative", []string{"--augment", "flip:p=-0.5"}, "flip:p=-0.5", "probability"),
		preview("preview/scale-nan", []string{"--augment", "scale:min=NaN"}, "scale:min=NaN", "finite"),
		preview("preview/scale-inf", []string{"--augment", "scale:max=Inf"}, "scale:max=Inf", "finite"),
		preview("preview/scale-huge", []string{"--augment", "scale:min=1000:max=1000"}, "scale:min=1000:max=1000", "augment.MaxScale"),
		preview("preview/jitter-negative", []string{"--augment", "jitter:b=-1"}, "jitter:b=-1", "b=-1"),
		preview("preview/jitter-hue-too-large", []string{"--augment", "jitter:h=0.9"}, "jitter:h=0.9", "[0, 0.5]"),
		preview("preview/erasing-p-above-one", []string{"--augment", "random-erasing:p=1.5"}, "random-erasing:p=1.5", "want 0 <= p <= 1"),
		preview("preview/erasing-scale-nan", []string{"--augment", "random-erasing:scale=NaN-0.3"}, "random-erasing:scale=NaN-0.3", "finite"),
		preview("preview/crop-size-empty", []string{"--augment", "crop:size="}, "crop:size=", "HxW"),
		preview("preview/unknown-transform", []string{"--augment", "rotate:deg=10"}, "rotate", "unknown transform"),
		preview("preview/option-not-key-value", []string{"--augment", "flip:p"}, "flip:p", "KEY=VALUE"),
		{name: "preview/coco-polygon-huge-coordinates", args: []string{"data", "preview", "--dataset", "coco", "--ann", "{fx}/coco/gthugepoly.json", "--images", "{fx}/coco/images", "--out", "{out}/g.png"},
			want: []string{"gthugepoly.json", "data.MaxPolygonLength"}, noOut: []string{"{out}/g.png"}},
		{name: "preview/coco-image-claims-huge", args: []string{"data", "preview", "--dataset", "coco", "--ann", "{fx}/coco/gthugeimg.json", "--images", "{fx}/coco/images", "--out", "{out}/g.png"},
			want: []string{"gthugeimg.json", "--max-pixels"}, noOut: []string{"{out}/g.png"}},
		{name: "preview/coco-image-size-mismatch", args: []string{"data", "preview", "--dataset", "coco", "--ann", "{fx}/coco/gtsize.json", "--images", "{fx}/coco/images", "--out", "{out}/g.png"},
			want: []string{"gtsize.json", "says 99×99"}, noOut: []string{"{out}/g.png"}},
		{name: "preview/voc-mask-size-mismatch", args: []string{"data", "preview", "--dataset", "voc", "--root", "{fx}/vocsize", "--out", "{out}/g.png"},
			want: []string{"vocsize"}, noOut: []string{"{out}/g.png"}},
		{name: "preview/voc-label-above-classes", args: []string{"data", "preview", "--dataset", "voc", "--root", "{fx}/voclabel", "--out", "{out}/g.png"},
			want: []string{"voclabel", "not below the class count"}, noOut: []string{"{out}/g.png"}},
		{name: "preview/out-is-a-directory", args: []string{"data", "preview", "--out", "{out}", "--n", "1", "--size", "32"},
			want: []string{"is a directory"}},

		// train: flags and config files
		trainCase("train/train-images-zero", []string{"--train-images", "0"}, "--train-images", "at least 1"),
		trainCase("train/val-images-zero", []string{"--val-images", "0"}, "--val-images", "at least 1"),
		trainCase("train/time-budget-negative", []string{"--time-budget", "-5"}, "--time-budget", "≥ 0"),
		trainCase("train/threads-negative", []string{"--threads", "-3"}, "--threads", "-3"),
		trainCase("train/image-size-below-stride", []string{"--image-size", "32", "--batch", "1"}, "--image-size", "BatchNorm"),
		trainCase("train/image-size-huge", []string{"--image-size", "1048576"}, "--image-size", "4096"),
		trainCase("train/weight-decay-nan", []string{"--weight-decay", "NaN"}, "--weight-decay", "finite"),
		trainCase("train/lr-inf", []string{"--lr", "Inf"}, "--lr", "finite"),
		trainCase("train/width-minus-inf", []string{"--width", "-Inf"}, "--width", "finite"),
		trainCase("train/config-unknown-key", []string{"--config", "{fx}/cfg/unknown.json"}, "unknown.json", `unknown key "batch_size"`),
		trainCase("train/config-unknown-model-key", []string{"--config", "{fx}/cfg/unknownmodel.json"}, "unknownmodel.json", `unknown key "kernel"`),
		trainCase("train/config-malformed", []string{"--config", "{fx}/cfg/malformed.json"}, "malformed.json", "not valid JSON"),
		trainCase("train/config-empty", []string{"--config", "{fx}/cfg/empty.json"}, "empty.json", "empty file"),
		trainCase("train/config-wrong-type", []string{"--config", "{fx}/cfg/type.json"}, "type.json", `key "epochs": want a JSON number, got a JSON string`),
		trainCase("train/config-wrong-model-type", []string{"--config", "{fx}/cfg/modeltype.json"}, "modeltype.json", `key "model.br": want a JSON true or false`),
		trainCase("train/config-missing", []string{"--config", "{fx}/cfg/none.json"}, "none.json"),
		trainCase("train/voc-label-above-classes", []string{"--dataset", "{fx}/voclabel", "--batch", "1"}, "voclabel", "not below the class count"),
		trainCase("train/out-is-a-file", []string{"--out", "{fx}/file.txt"}, "--out", "file.txt"),
		trainCase("train/out-under-a-file", []string{"--out", "{fx}/file.txt/run"}, "--out", "file.txt/run"),
		{name: "experiment/k-even", args: []string{"experiment", "large-kernel", "--k", "3,4", "--out", "{out}/study"},
			want: []string{"--k 4", "odd"}, noOut: []string{"{out}/study"}},
		{name: "experiment/seeds-invalid", args: []string{"experiment", "large-kernel", "--seeds", "-1", "--out", "{out}/study"},
			want: []string{"--seeds"}, noOut: []string{"{out}/study"}},
		trainCase("train/max-pixels-invalid", []string{"--max-pixels", "-5"}, "--max-pixels", "positive"),
		// train --resume with other settings: refused, the run untouched
		resume("train/resume-other-batch", []string{"--batch", "4"}, "checkpoint.safetensors", "batch 8 (now 4)"),
		resume("train/resume-other-data", []string{"--train-images", "16"}, "train_images 8 (now 16)"),
		resume("train/resume-other-epochs", []string{"--epochs", "3"}, "epochs 1 (now 3)"),
		{name: "train/resume-nan-checkpoint", args: []string{"train", "--quiet", "--resume", "--config", "{fx}/run/config.json", "--out", "{fx}/runnan"},
			want: []string{"runnan/checkpoint.safetensors", "model.gcn.0.left1.weight", "NaN"}},
		{name: "train/resume-without-checkpoint", args: trainArgs("--resume"), want: []string{"checkpoint.safetensors"}},
		{name: "train/resume-truncated-checkpoint", args: []string{"train", "--quiet", "--resume", "--config", "{fx}/run/config.json", "--out", "{fx}/runtrunc"},
			want: []string{"runtrunc/checkpoint.safetensors"}},

		// convert: PyTorch checkpoints
		{name: "convert/pth-missing", args: []string{"convert", "--in", "{fx}/pth/none.pth", "--out", "{out}/m.safetensors"}, want: []string{"none.pth"}, noOut: []string{"{out}/m.safetensors"}},
		{name: "convert/pth-empty", args: []string{"convert", "--in", "{fx}/pth/empty.pth", "--out", "{out}/m.safetensors"}, want: []string{"empty.pth"}, noOut: []string{"{out}/m.safetensors"}},
		{name: "convert/pth-truncated", args: []string{"convert", "--in", "{fx}/pth/truncated.pth", "--out", "{out}/m.safetensors"}, want: []string{"truncated.pth"}, noOut: []string{"{out}/m.safetensors"}},
		{name: "convert/pth-not-a-zip", args: []string{"convert", "--in", "{fx}/file.txt", "--out", "{out}/m.safetensors"}, want: []string{"file.txt"}, noOut: []string{"{out}/m.safetensors"}},
		{name: "convert/pth-malicious-pickle", args: []string{"convert", "--in", "{fx}/pth/malicious.pth", "--out", "{out}/m.safetensors"}, want: []string{"malicious.pth"}, noOut: []string{"{out}/m.safetensors"}},
		{name: "convert/out-is-a-directory", args: []string{"convert", "--in", "{fx}/pth/params.pth", "--out", "{out}"}, want: []string{"is a directory"}},
	}
}

// buildBadInputFixtures writes every input the corpus reads into fx.
func buildBadInputFixtures(t *testing.T, fx string) {
	t.Helper()
	write := func(rel string, b []byte) {
		p := filepath.Join(fx, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(fx, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("file.txt", []byte("a plain file, not a folder or a checkpoint\n"))
	os.MkdirAll(filepath.Join(fx, "empty"), 0o755)

	// A real run: one tiny epoch, its config and checkpoints.
	if out, err := runFovea(t, "train", "--quiet", "--train-images", "8", "--val-images", "2", "--image-size", "64", "--width", "0.125",
		"--epochs", "1", "--batch", "8", "--time-budget", "0", "--out", filepath.Join(fx, "run")); err != nil {
		t.Fatalf("fixture run: %v\n%s", err, out)
	}
	best := read("run/best.safetensors")
	write("runtrunc/config.json", read("run/config.json"))
	ck := read("run/checkpoint.safetensors")
	write("runtrunc/checkpoint.safetensors", ck[:len(ck)/2])

	cts, cmeta := loadAll(t, filepath.Join(fx, "run/checkpoint.safetensors"))
	for i := range cts {
		if cts[i].Name == "model.gcn.0.left1.weight" {
			cts[i].Float32[0] = float32(math.NaN())
		}
	}
	write("runnan/config.json", read("run/config.json"))
	if err := safetensors.Save(filepath.Join(fx, "runnan/checkpoint.safetensors"), cts, cmeta); err != nil {
		t.Fatal(err)
	}

	// Checkpoints, broken in every way.
	write("ckpt/empty.safetensors", nil)
	write("ckpt/truncated.safetensors", best[:len(best)/2])
	write("ckpt/garbage.safetensors", append(binary.LittleEndian.AppendUint64(nil, 12), []byte("{not json!!}")...))
	tensors, meta := loadAll(t, filepath.Join(fx, "run/best.safetensors"))
	variant := func(rel string, edit func(ts []safetensors.Tensor, meta map[string]string) map[string]string) {
		ts := make([]safetensors.Tensor, len(tensors))
		for i, x := range tensors {
			x.Float32 = append([]float32(nil), x.Float32...)
			x.Shape = append([]int(nil), x.Shape...)
			ts[i] = x
		}
		m := map[string]string{}
		for k, v := range meta {
			m[k] = v
		}
		m = edit(ts, m)
		if err := safetensors.Save(filepath.Join(fx, rel), ts, m); err != nil {
			t.Fatal(err)
		}
	}
	find := func(ts []safetensors.Tensor, name string) *safetensors.Tensor {
		for i := range ts {
			if ts[i].Name == name {
				return &ts[i]
			}
		}
		t.Fatalf("fixture checkpoint has no %s", name)
		return nil
	}
	modelMeta := func(m map[string]string, key string, v any) map[string]string {
		var cfg map[string]any
		json.Unmarshal([]byte(m["fovea.model"]), &cfg)
		cfg[key] = v
		b, _ := json.Marshal(cfg)
		m["fovea.model"] = string(b)
		return m
	}
	variant("ckpt/nan.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		find(ts, "gcn.0.left1.weight").Float32[3] = float32(math.NaN())
		return m
	})
	variant("ckpt/int.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		find(ts, "backbone.conv1.weight").DType = safetensors.I32
		return m
	})
	variant("ckpt/classes.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		return modelMeta(m, "num_classes", 100000)
	})
	variant("ckpt/kernel.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		return modelMeta(m, "k", 100001)
	})
	variant("ckpt/width.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		return modelMeta(m, "width", 4)
	})
	variant("ckpt/resnet34.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		return modelMeta(m, "backbone", "resnet34")
	})
	variant("ckpt/nometa.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string { return nil })
	variant("ckpt/shape.safetensors", func(ts []safetensors.Tensor, m map[string]string) map[string]string {
		b := find(ts, "gcn.0.left1.bias")
		b.Shape, b.Float32 = []int{2}, b.Float32[:2]
		return m
	})
	pth, err := os.ReadFile("../../testdata/torchfile/params.pth")
	if err != nil {
		t.Fatal(err)
	}
	write("pth/params.pth", pth)
	write("pth/empty.pth", nil)
	write("pth/truncated.pth", pth[:len(pth)/2])
	mal, err := os.ReadFile("../../testdata/torchfile/malicious.pth")
	if err != nil {
		t.Fatal(err)
	}
	write("pth/malicious.pth", mal)

	// Images.
	rgb := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i * 7)
	}
	var pngBuf, jpgBuf bytes.Buffer
	png.Encode(&pngBuf, rgb)
	jpeg.Encode(&jpgBuf, rgb, nil)
	write("img/a.png", pngBuf.Bytes())
	write("stems/b.png", pngBuf.Bytes())
	write("mixed/a.png", pngBuf.Bytes())
	write("mixed/z.png", pngHeader(100000, 100000, 8, 2))
	write("stems/b.jpg", jpgBuf.Bytes())
	write("bad/empty.png", nil)
	write("bad/truncated.png", pngBuf.Bytes()[:pngBuf.Len()/2])
	write("bad/truncated.jpg", jpgBuf.Bytes()[:jpgBuf.Len()/2])
	write("bad/text.png", []byte("this is not an image"))
	write("bad/huge.png", pngHeader(100000, 100000, 8, 2))
	jh := append([]byte(nil), jpgBuf.Bytes()...)
	sof := bytes.Index(jh, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(jh[sof+5:], 65500)
	binary.BigEndian.PutUint16(jh[sof+7:], 65500)
	write("bad/huge.jpg", jh)
	js := append([]byte(nil), jpgBuf.Bytes()...)
	js[sof+9] = 0    // no components
	js[sof+11] = 0x0 // sampling factors 0×0
	write("bad/sof.jpg", js)

	// Label maps for eval seg: 32×32 palette PNGs.
	lm := func(w, h int, v func(i int) uint8) []byte {
		p := image.NewPaletted(image.Rect(0, 0, w, h), grayPalette())
		for i := range p.Pix {
			p.Pix[i] = v(i)
		}
		var b bytes.Buffer
		png.Encode(&b, p)
		return b.Bytes()
	}
	gt := lm(32, 32, func(i int) uint8 { return uint8(i % 7) }) // 1024 pixels, labels 0..6: 3..6 are ≥ 3 classes
	write("seg/gt/x.png", gt)
	write("seg/pred/x.png", lm(32, 32, func(i int) uint8 { return uint8(i % 3) }))
	write("seg/predsize/x.png", lm(16, 16, func(int) uint8 { return 0 }))
	os.MkdirAll(filepath.Join(fx, "seg/predmissing"), 0o755)
	write("seg/gtrgb/x.png", pngBuf.Bytes())
	write("seg/gttrunc/x.png", gt[:len(gt)/2])
	write("seg/gtempty/x.png", nil)
	write("seg/gthuge/x.png", pngHeader(100000, 100000, 8, 0))

	// COCO ground truth and results.
	cocoGT := `{"images":[{"id":1,"file_name":"a.png","width":32,"height":32}],
"categories":[{"id":1,"name":"thing"}],
"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[2,2,10,10],"area":100,"iscrowd":0,"segmentation":[[2,2,12,2,12,12,2,12]]}]}`
	write("coco/gt.json", []byte(cocoGT))
	write("coco/images/a.png", pngBuf.Bytes())
	write("coco/empty.json", nil)
	write("coco/dttrunc.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[2,2,10,10],"sc`))
	write("coco/gttrunc.json", []byte(cocoGT[:60]))
	write("coco/list.json", []byte(`[1, 2, 3]`))
	write("coco/gtdeep.json", []byte(`{"info":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`,"images":[],"annotations":[],"categories":[]}`))
	write("coco/gtneg.json", []byte(strings.Replace(cocoGT, `"bbox":[2,2,10,10]`, `"bbox":[2,2,-10,10]`, 1)))
	write("coco/gtodd.json", []byte(strings.Replace(cocoGT, `[[2,2,12,2,12,12,2,12]]`, `[[2,2,12,2,12,12,2]]`, 1)))
	write("coco/gthugepoly.json", []byte(strings.Replace(cocoGT, `[[2,2,12,2,12,12,2,12]]`, `[[2,2,1e12,2,1e12,1e12,2,12]]`, 1)))
	write("coco/gthugeimg.json", []byte(strings.Replace(cocoGT, `"width":32,"height":32`, `"width":1000000,"height":1000000`, 1)))
	write("coco/gtsize.json", []byte(strings.Replace(cocoGT, `"width":32,"height":32`, `"width":99,"height":99`, 1)))
	write("coco/dt.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[2,2,10,10],"score":0.9}]`))
	write("coco/dtdeep.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[2,2,10,10],"score":0.9,"x":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`}]`))
	write("coco/dtneg.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[-5,-5,-10,-10],"score":0.9}]`))
	write("coco/dtbig.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[1,1,1e300,1e300],"score":0.9}]`))
	write("coco/dtnan.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[1,1,10,10],"score":NaN}]`))
	write("coco/dtimg.json", []byte(`[{"image_id":99,"category_id":1,"bbox":[1,1,10,10],"score":0.9}]`))
	write("coco/dtcat.json", []byte(`[{"image_id":1,"category_id":77,"bbox":[1,1,10,10],"score":0.9}]`))
	write("coco/dtodd.json", []byte(`[{"image_id":1,"category_id":1,"segmentation":[[1,1,10,1,10,10,1]],"score":0.9}]`))
	write("coco/dthugepoly.json", []byte(`[{"image_id":1,"category_id":1,"segmentation":[[1,1,1e12,1,1e12,1e12]],"score":0.9}]`))
	write("coco/dtrlesize.json", []byte(`[{"image_id":1,"category_id":1,"segmentation":{"size":[5,5],"counts":"0"},"score":0.9}]`))
	write("coco/dtrle.json", []byte(`[{"image_id":1,"category_id":1,"segmentation":{"size":[32,32],"counts":"\u007f\u007f!!"},"score":0.9}]`))

	// VOC annotations and detections (64×64 images, class "shape1").
	vocXML := func(box string) []byte {
		return []byte(`<annotation><filename>a.png</filename><size><width>64</width><height>64</height><depth>3</depth></size>
<object><name>shape1</name><difficult>0</difficult><bndbox>` + box + `</bndbox></object></annotation>`)
	}
	good := `<xmin>5</xmin><ymin>5</ymin><xmax>20</xmax><ymax>20</ymax>`
	write("voc/ann/a.xml", vocXML(good))
	write("voc/anninv/a.xml", vocXML(`<xmin>20</xmin><ymin>5</ymin><xmax>5</xmax><ymax>20</ymax>`))
	write("voc/annout/a.xml", vocXML(`<xmin>100</xmin><ymin>100</ymin><xmax>120</xmax><ymax>120</ymax>`))
	write("voc/annbad/a.xml", vocXML(good)[:80])
	write("voc/det/shape1.txt", []byte("a 0.9 5 5 20 20\n"))
	write("voc/detinv/shape1.txt", []byte("a 0.9 20 20 5 5\n"))
	write("voc/detout/shape1.txt", []byte("a 0.9 500 500 600 600\n"))
	write("voc/detfields/shape1.txt", []byte("a 0.9 5 5 20\n"))
	write("voc/detnan/shape1.txt", []byte("a NaN 5 5 20 20\n"))
	write("voc/detimg/shape1.txt", []byte("nosuchimage 0.9 5 5 20 20\n"))

	// VOC folders: a mask of another size than its image, a label ≥ the
	// class count.
	for _, name := range []string{"vocsize", "voclabel"} {
		write(name+"/classes.txt", []byte("background\nthing\n"))
		for _, split := range []string{"train", "val"} {
			write(name+"/ImageSets/Segmentation/"+split+".txt", []byte("a\n"))
		}
		var ib bytes.Buffer
		jpeg.Encode(&ib, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil)
		write(name+"/JPEGImages/a.jpg", ib.Bytes())
	}
	write("vocsize/SegmentationClass/a.png", lm(32, 32, func(int) uint8 { return 1 }))
	write("voclabel/SegmentationClass/a.png", lm(64, 64, func(i int) uint8 { return uint8(i % 5) }))

	// Training config files.
	write("cfg/unknown.json", []byte(`{"batch_size": 1}`))
	write("cfg/unknownmodel.json", []byte(`{"model": {"kernel": 9}}`))
	write("cfg/malformed.json", []byte("{\n  \"epochs\": 1,\n  \"batch\": \n}"))
	write("cfg/empty.json", nil)
	write("cfg/modeltype.json", []byte(`{"model": {"br": 1}}`))
	write("cfg/type.json", []byte(`{"epochs": "ten"}`))
}

// pngHeader returns a PNG signature, an IHDR chunk claiming w×h pixels and
// an IEND chunk: a header with no pixel data.
func pngHeader(w, h uint32, depth, colourType byte) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colourType, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	return append(b, chunk("IEND", nil)...)
}

func grayPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		p[i] = color.Gray{uint8(i)}
	}
	return p
}

// loadAll reads every tensor of a safetensors file as float32 with its
// stored dtype, and the metadata.
func loadAll(t *testing.T, path string) ([]safetensors.Tensor, map[string]string) {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, name := range f.Names() {
		v, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Float32: v})
	}
	return ts, f.Metadata()
}

// treeHashes keeps the SHA-256 of every file under dir. A file is read and
// hashed again only when its size, modification time or inode changed since
// it was last hashed (any write changes one of them), which keeps the
// before/after check of each case cheap.
type treeHashes struct {
	dir   string
	stamp map[string]string // relative path → size, mtime, inode
	sum   map[string][32]byte
}

// update returns the current hash of every file by relative path.
func (h *treeHashes) update(t *testing.T) map[string][32]byte {
	t.Helper()
	if h.sum == nil {
		h.stamp, h.sum = map[string]string{}, map[string][32]byte{}
	}
	out := map[string][32]byte{}
	err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.dir, p)
		stamp := fmt.Sprint(st.Size(), st.ModTime().UnixNano(), st.Sys())
		if h.stamp[rel] != stamp {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.stamp[rel], h.sum[rel] = stamp, sha256.Sum256(b)
		}
		out[rel] = h.sum[rel]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalHashes(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func diffHashes(a, b map[string][32]byte) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}
