package train

import (
	"bytes"
	"fmt"
	"image/png"
	"time"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/nn"
)

// EventKind says what an Event reports.
type EventKind string

// The kinds of Event, in the order a run publishes them.
const (
	// EventStart: the run is set up (Run, Epochs, StepsPerEpoch, Classes; Epoch and Step
	// are where a resumed run continues).
	EventStart EventKind = "start"
	// EventStep: one optimizer step finished (Epoch, Step, Loss, LR).
	EventStep EventKind = "step"
	// EventEpoch: an epoch finished and was validated (Loss, LR, Metrics, Classes,
	// ClassIoU, Overlays).
	EventEpoch EventKind = "epoch"
	// EventDone: the run ended (Err says why when it failed or was interrupted).
	EventDone EventKind = "done"
)

// Event is one thing a training loop reports while it runs, for live views such as
// serve.Dashboard (`fovea train --serve`). The fields are generic so that any training
// loop — GCN's Run here, SAM's in models/sam/samtrain — can publish the same events with
// its own metric names; a field a kind does not use is left zero.
type Event struct {
	Kind EventKind
	Time time.Time
	// Run names what is trained, e.g. "GCN resnet18×0.25 k=7 on shapes".
	Run string
	// Epoch is the 1-based epoch the event belongs to; Epochs the number planned (it may
	// shrink to fit a time budget).
	Epoch, Epochs int
	// Step counts optimizer steps since the run began (1-based, resumes included);
	// StepsPerEpoch is an epoch's length.
	Step, StepsPerEpoch int
	// Loss is the step's training loss on step events and the epoch's mean training loss
	// on epoch events; LR the learning rate of the step (of the epoch's last step on
	// epoch events).
	Loss, LR float64
	// Metrics are validation scores by name (e.g. "mIoU", "aAcc", "mAcc", "fwIoU"), on
	// epoch events.
	Metrics map[string]float64
	// Classes names the classes; ClassIoU is each class's validation IoU (NaN: the class
	// is absent from both prediction and truth).
	Classes  []string
	ClassIoU []float64
	// Overlays are prediction overlays of a few validation images, on epoch events.
	Overlays []Overlay
	// Err is the reason a run ended early, on done events ("" when it finished).
	Err string
}

// Overlay is one rendered picture for a live view: PNG bytes and a name.
type Overlay struct {
	Name string
	PNG  []byte
}

// DashboardOverlays is the number of validation images Run renders as overlays for each
// epoch event when Options.OnEvent is set.
const DashboardOverlays = 4

// emit publishes ev (stamped with the time) to opt.OnEvent, if set.
func (opt Options) emit(ev Event) {
	if opt.OnEvent == nil {
		return
	}
	ev.Time = time.Now()
	opt.OnEvent(ev)
}

// runName describes the model and data of a GCN run in a few words.
func runName(cfg Config) string {
	return fmt.Sprintf("GCN %s×%.2g k=%d %s on %s", cfg.Model.Backbone, cfg.Model.Width, cfg.Model.K, cfg.Model.Upsampler, cfg.Dataset)
}

// eventOverlays renders the prediction of m (in eval mode, restored afterwards) beside the
// truth for the first n samples of ds, as PNG.
func eventOverlays(m *gcn.Model, ds data.Dataset, n int) ([]Overlay, error) {
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	var out []Overlay
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	for i := 0; i < min(n, ds.Len()); i++ {
		s, err := ds.Get(i)
		if err != nil {
			return nil, err
		}
		pred := Predict(m, s.Image)
		panel := []*data.Image{data.Overlay(s.Image, pred, nil, 0.5)}
		if s.Mask != nil {
			panel = append(panel, data.Overlay(s.Image, s.Mask, nil, 0.5))
		}
		var buf bytes.Buffer
		if err := enc.Encode(&buf, data.Grid(panel, len(panel), 4, 1).ToGoImage()); err != nil {
			return nil, err
		}
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("%04d", i)
		}
		out = append(out, Overlay{Name: name, PNG: buf.Bytes()})
	}
	return out, nil
}

// epochEvent is the event of a finished epoch: rec's scores with overlays of the model's
// predictions on the first validation images (rendered only when someone listens).
func (opt Options) epochEvent(m *gcn.Model, val data.Dataset, classes []string, rec EpochRecord, epochs, step, stepsPerEpoch int) error {
	if opt.OnEvent == nil {
		return nil
	}
	ov, err := eventOverlays(m, val, DashboardOverlays)
	if err != nil {
		return err
	}
	opt.emit(Event{
		Kind: EventEpoch, Epoch: rec.Epoch, Epochs: epochs, Step: step, StepsPerEpoch: stepsPerEpoch,
		Loss: rec.Loss, LR: rec.LR,
		Metrics:  map[string]float64{"aAcc": rec.AAcc, "mAcc": rec.MAcc, "mIoU": rec.MIoU, "fwIoU": rec.FWIoU},
		Classes:  classes,
		ClassIoU: append([]float64(nil), rec.IoU...),
		Overlays: ov,
	})
	return nil
}
