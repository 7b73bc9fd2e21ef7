package train

import (
	"bytes"
	"context"
	"image/png"
	"testing"
)

// A run with OnEvent publishes start, one step event per optimizer step, one epoch event
// per epoch with scores, per-class IoUs and decodable overlays, and done.
func TestRunPublishesEvents(t *testing.T) {
	var events []Event
	cfg := tinyConfig(t.TempDir())
	if _, err := Run(context.Background(), cfg, Options{OnEvent: func(ev Event) { events = append(events, ev) }}); err != nil {
		t.Fatal(err)
	}
	count := map[EventKind]int{}
	for _, ev := range events {
		count[ev.Kind]++
	}
	const steps = 4 // 32 images / batch 8
	if count[EventStart] != 1 || count[EventStep] != cfg.Epochs*steps || count[EventEpoch] != cfg.Epochs || count[EventDone] != 1 {
		t.Fatalf("event counts %v, want 1 start, %d steps, %d epochs, 1 done", count, cfg.Epochs*steps, cfg.Epochs)
	}
	if events[0].Kind != EventStart || events[len(events)-1].Kind != EventDone {
		t.Errorf("first %q, last %q", events[0].Kind, events[len(events)-1].Kind)
	}
	start := events[0]
	if start.StepsPerEpoch != steps || start.Epochs != cfg.Epochs || len(start.Classes) == 0 || start.Run == "" {
		t.Errorf("start event %+v", start)
	}
	step := 0
	for _, ev := range events {
		if ev.Time.IsZero() {
			t.Errorf("%s event without time", ev.Kind)
		}
		switch ev.Kind {
		case EventStep:
			step++
			if ev.Step != step || !(ev.Loss > 0) || !(ev.LR > 0) || ev.Epoch != (step-1)/steps+1 {
				t.Errorf("step event %d: %+v", step, ev)
			}
		case EventEpoch:
			if ev.Step != step || len(ev.ClassIoU) != len(start.Classes) || !(ev.Metrics["mIoU"] >= 0 && ev.Metrics["aAcc"] > 0) {
				t.Errorf("epoch event %+v", ev)
			}
			if len(ev.Overlays) != DashboardOverlays {
				t.Fatalf("epoch %d: %d overlays, want %d", ev.Epoch, len(ev.Overlays), DashboardOverlays)
			}
			img, err := png.Decode(bytes.NewReader(ev.Overlays[0].PNG))
			if err != nil {
				t.Fatalf("overlay %s: %v", ev.Overlays[0].Name, err)
			}
			if b := img.Bounds(); b.Dx() <= b.Dy() { // prediction beside truth
				t.Errorf("overlay of %v", b)
			}
		}
	}
}
