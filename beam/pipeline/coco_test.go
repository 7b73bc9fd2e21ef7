package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/fovea-ml/fovea/metrics/coco"
)

const cocoTestdata = "../../testdata/metrics/coco"

// singleMachineCOCO is `fovea eval coco --json`'s computation.
func singleMachineCOCO(t *testing.T, gtPath, dtPath, iouType string) ([]byte, string) {
	t.Helper()
	gt, dts, err := coco.LoadFiles(gtPath, dtPath)
	if err != nil {
		t.Fatal(err)
	}
	e, err := coco.Evaluate(gt, dts, coco.DefaultParams(iouType), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := COCOJSON(e, gt)
	if err != nil {
		t.Fatal(err)
	}
	return b, e.Summary()
}

func runCOCOEval(t *testing.T, o COCOOptions) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	COCOEval(s, o)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}

func cocoOpts(out, gt, dt, iouType string) COCOOptions {
	return COCOOptions{GT: gt, DT: dt, IoUType: iouType, JSON: filepath.Join(out, "coco.json"), Summary: filepath.Join(out, "summary.txt"),
		DeadLetters: filepath.Join(out, "dead.jsonl"), Counts: filepath.Join(out, "counts.json")}
}

func checkCOCOOutputs(t *testing.T, o COCOOptions, wantJSON []byte, wantSummary string) {
	t.Helper()
	got, err := os.ReadFile(o.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantJSON) {
		t.Errorf("pipeline JSON differs from fovea eval coco's:\n%s\nwant\n%s", got, wantJSON)
	}
	sum, _ := os.ReadFile(o.Summary)
	if string(sum) != wantSummary {
		t.Errorf("summary:\n%s\nwant\n%s", sum, wantSummary)
	}
}

// TestCOCOEvalMatchesSingleMachine runs results files in COCO's list format.
func TestCOCOEvalMatchesSingleMachine(t *testing.T) {
	for _, tc := range []struct{ gt, res, iouType string }{
		{"small_gt.json", "small_res_bbox.json", "bbox"},
		{"medium_gt.json", "medium_res_segm.json", "segm"},
	} {
		t.Run(tc.res, func(t *testing.T) {
			gt, dt := filepath.Join(cocoTestdata, tc.gt), filepath.Join(cocoTestdata, tc.res)
			out := t.TempDir()
			o := cocoOpts(out, gt, dt, tc.iouType)
			runCOCOEval(t, o)
			want, summary := singleMachineCOCO(t, gt, dt, tc.iouType)
			checkCOCOOutputs(t, o, want, summary)
			var c COCOCounts
			readJSON(context.Background(), o.Counts, &c)
			if c.Detections == 0 || c.DeadLetters != 0 {
				t.Errorf("counts %+v", c)
			}
		})
	}
}

// TestCOCOEvalJSONLines splits a results list over two JSON-lines files and
// adds bad lines: the good detections are scored exactly as the list is.
func TestCOCOEvalJSONLines(t *testing.T) {
	gt := filepath.Join(cocoTestdata, "small_gt.json")
	dt := filepath.Join(cocoTestdata, "small_res_segm_bbox.json")
	b, err := os.ReadFile(dt)
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	lines := func(xs []json.RawMessage) string {
		var sb strings.Builder
		for _, x := range xs {
			var c bytes.Buffer
			json.Compact(&c, x)
			sb.Write(c.Bytes())
			sb.WriteString("\n")
		}
		return sb.String()
	}
	in := t.TempDir()
	half := len(list) / 2
	os.WriteFile(filepath.Join(in, "a.jsonl"), []byte(lines(list[:half])+"{\"image_id\": 1, \"category_id\"\n\n"), 0o644)
	os.WriteFile(filepath.Join(in, "b.jsonl"), []byte(`{"image_id": 987654, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}`+"\n"+lines(list[half:])), 0o644)
	for _, iouType := range []string{"bbox", "segm"} {
		t.Run(iouType, func(t *testing.T) {
			out := t.TempDir()
			o := cocoOpts(out, gt, filepath.Join(in, "*.jsonl"), iouType)
			runCOCOEval(t, o)
			want, summary := singleMachineCOCO(t, gt, dt, iouType)
			checkCOCOOutputs(t, o, want, summary)
			dls, err := ReadDeadLetters(context.Background(), o.DeadLetters)
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 2 || !strings.HasSuffix(dls[0].File, "a.jsonl:"+strconv.Itoa(half+1)) || !strings.HasSuffix(dls[1].File, "b.jsonl:1") {
				t.Fatalf("dead letters %+v, want a.jsonl:%d and b.jsonl:1", dls, half+1)
			}
			for _, d := range dls {
				t.Logf("dead letter: %s: %s", d.File, d.Reason)
			}
			var c COCOCounts
			readJSON(context.Background(), o.Counts, &c)
			if c.Detections != int64(len(list)) || c.DeadLetters != 2 {
				t.Errorf("counts %+v, want %d detections and 2 dead letters", c, len(list))
			}
		})
	}
}
