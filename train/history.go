package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// EpochRecord is one line of metrics.jsonl: the training loss and
// validation scores after an epoch.
type EpochRecord struct {
	Epoch        int       `json:"epoch"`
	Loss         float64   `json:"loss"`
	LR           float64   `json:"lr"`
	AAcc         float64   `json:"aAcc"`
	MAcc         float64   `json:"mAcc"`
	MIoU         float64   `json:"mIoU"`
	FWIoU        float64   `json:"fwIoU"`
	IoU          []float64 `json:"per_class_IoU"`
	TrainSeconds float64   `json:"train_seconds"` // seconds of training in this epoch (validation excluded)
	Elapsed      float64   `json:"elapsed"`       // training seconds since the run started, resumes included
	ImagesPerSec float64   `json:"images_per_sec"`
}

// MarshalJSON writes NaN per-class IoUs as null.
func (r EpochRecord) MarshalJSON() ([]byte, error) {
	type plain EpochRecord
	iou := make([]any, len(r.IoU))
	for i, v := range r.IoU {
		if math.IsNaN(v) {
			iou[i] = nil
		} else {
			iou[i] = v
		}
	}
	return json.Marshal(struct {
		plain
		IoU []any `json:"per_class_IoU"`
	}{plain(r), iou})
}

// UnmarshalJSON reads null per-class IoUs as NaN.
func (r *EpochRecord) UnmarshalJSON(b []byte) error {
	type plain EpochRecord
	var aux struct {
		plain
		IoU []*float64 `json:"per_class_IoU"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = EpochRecord(aux.plain)
	r.IoU = make([]float64, len(aux.IoU))
	for i, p := range aux.IoU {
		if p == nil {
			r.IoU[i] = math.NaN()
		} else {
			r.IoU[i] = *p
		}
	}
	return nil
}

// writeHistory rewrites metrics.jsonl with one line per epoch (rewriting,
// rather than appending, keeps it consistent after a resume).
func writeHistory(dir string, hist []EpochRecord) error {
	var buf []byte
	for _, r := range hist {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return writeFileAtomic(filepath.Join(dir, "metrics.jsonl"), buf)
}

// writeFileAtomic writes data to a temporary file beside path and renames it,
// so a crash never leaves half a file.
func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteBytes(path, data) }

// PlotCurves draws the training loss and the validation MIoU per epoch, side
// by side, into a PNG at path.
func PlotCurves(path string, hist []EpochRecord) error {
	loss, miou := make(plotter.XYs, len(hist)), make(plotter.XYs, len(hist))
	for i, r := range hist {
		loss[i] = plotter.XY{X: float64(r.Epoch), Y: r.Loss}
		miou[i] = plotter.XY{X: float64(r.Epoch), Y: r.MIoU}
	}
	mk := func(title, ylabel string, pts plotter.XYs) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		return p, nil
	}
	pl, err := mk("training loss", "cross-entropy", loss)
	if err != nil {
		return err
	}
	pm, err := mk("validation mIoU", "mIoU", miou)
	if err != nil {
		return err
	}
	pm.Y.Min, pm.Y.Max = 0, 1
	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimgCanvas(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{pl, pm}}, tiles, dc)
	pl.Draw(canvases[0][0])
	pm.Draw(canvases[0][1])
	return savePNG(path, img)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
