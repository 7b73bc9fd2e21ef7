package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fovea-ml/fovea/train"
)

// Dashboard collects the events of a training run (train.Event, from any training
// loop) and shows them live at /dashboard: loss and learning-rate curves per step,
// validation metrics per epoch, the latest per-class IoU table and prediction overlays.
// Pass its Publish as train.Options.OnEvent. Browsers follow it over server-sent events
// (GET /api/dashboard/events): a snapshot of the whole run on connect, then each event.
// A Dashboard is safe for concurrent use; Publish never blocks on slow browsers (a
// browser that falls 256 events behind is disconnected and reconnects to a snapshot).
type Dashboard struct {
	mu       sync.Mutex
	state    DashboardState
	start    time.Time
	overlays []train.Overlay
	version  int // of the overlays
	subs     map[chan []byte]struct{}
}

// maxSteps bounds the step history a Dashboard keeps: beyond it, every other point is
// dropped and only every Stride-th step is kept from then on.
const maxSteps = 4000

// DashboardState is the whole run as GET /api/dashboard and the "snapshot" event give it.
type DashboardState struct {
	Status        string       `json:"status"` // "waiting" (no run yet), "running", "done" or "failed"
	Run           string       `json:"run"`
	Epochs        int          `json:"epochs"`
	StepsPerEpoch int          `json:"steps_per_epoch"`
	Classes       []string     `json:"classes"`
	Steps         []StepPoint  `json:"steps"`  // every Stride-th step
	Stride        int          `json:"stride"` // steps between kept points
	History       []EpochPoint `json:"history"`
	ClassIoU      []JSONFloat  `json:"class_iou"` // of the latest validation
	Overlays      []OverlayRef `json:"overlays"`  // of the latest validation
	Error         string       `json:"error,omitempty"`
	Time          float64      `json:"time"` // seconds since the run started
}

// StepPoint is one training step ("step" events).
type StepPoint struct {
	Step  int       `json:"step"`
	Epoch int       `json:"epoch"`
	Loss  JSONFloat `json:"loss"`
	LR    JSONFloat `json:"lr"`
	Time  float64   `json:"time"` // seconds since the run started
}

// EpochPoint is one validated epoch ("epoch" events carry it with the class IoUs and
// overlays).
type EpochPoint struct {
	Epoch   int                  `json:"epoch"`
	Step    int                  `json:"step"`
	Loss    JSONFloat            `json:"loss"`
	LR      JSONFloat            `json:"lr"`
	Metrics map[string]JSONFloat `json:"metrics"`
	Time    float64              `json:"time"`
}

// OverlayRef names an overlay image and the URL serving it.
type OverlayRef struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// JSONFloat is a float64 written as null when it is NaN or infinite (JSON has no NaN).
type JSONFloat float64

// MarshalJSON writes f, or null.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

// NewDashboard returns an empty dashboard, waiting for a run.
func NewDashboard() *Dashboard {
	return &Dashboard{state: emptyState("waiting"), subs: map[chan []byte]struct{}{}}
}

func emptyState(status string) DashboardState {
	return DashboardState{Status: status, Stride: 1, Classes: []string{}, Steps: []StepPoint{}, History: []EpochPoint{},
		ClassIoU: []JSONFloat{}, Overlays: []OverlayRef{}}
}

// Publish records ev and sends it to the browsers watching. Its signature is that of
// train.Options.OnEvent.
func (d *Dashboard) Publish(ev train.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.state
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if d.start.IsZero() || ev.Kind == train.EventStart {
		d.start = ev.Time
	}
	t := ev.Time.Sub(d.start).Seconds()
	st.Time = t
	switch ev.Kind {
	case train.EventStart:
		d.state = emptyState("running")
		st.Run, st.Epochs, st.StepsPerEpoch = ev.Run, ev.Epochs, ev.StepsPerEpoch
		st.Classes = append([]string{}, ev.Classes...)
		d.overlays = nil
		d.broadcast("snapshot", d.state)
	case train.EventStep:
		st.Status = "running"
		if ev.Epochs > 0 {
			st.Epochs = ev.Epochs
		}
		p := StepPoint{Step: ev.Step, Epoch: ev.Epoch, Loss: JSONFloat(ev.Loss), LR: JSONFloat(ev.LR), Time: t}
		if ev.Step%st.Stride == 0 {
			st.Steps = append(st.Steps, p)
			if len(st.Steps) > maxSteps {
				st.Stride *= 2
				kept := st.Steps[:0]
				for _, q := range st.Steps {
					if q.Step%st.Stride == 0 {
						kept = append(kept, q)
					}
				}
				st.Steps = kept
			}
		}
		d.broadcast("step", p)
	case train.EventEpoch:
		st.Status = "running"
		if ev.Epochs > 0 {
			st.Epochs = ev.Epochs
		}
		if ev.Classes != nil {
			st.Classes = append([]string{}, ev.Classes...)
		}
		e := EpochPoint{Epoch: ev.Epoch, Step: ev.Step, Loss: JSONFloat(ev.Loss), LR: JSONFloat(ev.LR), Metrics: map[string]JSONFloat{}, Time: t}
		for k, v := range ev.Metrics {
			e.Metrics[k] = JSONFloat(v)
		}
		st.History = append(st.History, e)
		st.ClassIoU = make([]JSONFloat, len(ev.ClassIoU))
		for i, v := range ev.ClassIoU {
			st.ClassIoU[i] = JSONFloat(v)
		}
		if ev.Overlays != nil {
			d.version++
			d.overlays = append([]train.Overlay(nil), ev.Overlays...)
			st.Overlays = make([]OverlayRef, len(ev.Overlays))
			for i, o := range ev.Overlays {
				st.Overlays[i] = OverlayRef{Name: o.Name, URL: fmt.Sprintf("/api/dashboard/overlays/%d.png?v=%d", i, d.version)}
			}
		}
		d.broadcast("epoch", struct {
			EpochPoint
			Epochs   int          `json:"epochs"`
			Classes  []string     `json:"classes"`
			ClassIoU []JSONFloat  `json:"class_iou"`
			Overlays []OverlayRef `json:"overlays"`
		}{e, st.Epochs, st.Classes, st.ClassIoU, st.Overlays})
	case train.EventDone:
		st.Status = "done"
		if ev.Err != "" {
			st.Status, st.Error = "failed", ev.Err
		}
		d.broadcast("snapshot", d.state)
	}
}

// broadcast sends an SSE frame to every subscriber, dropping those that fall behind.
// d.mu is held.
func (d *Dashboard) broadcast(event string, v any) {
	if len(d.subs) == 0 {
		return
	}
	frame := sseFrame(event, v)
	for ch := range d.subs {
		select {
		case ch <- frame:
		default:
			delete(d.subs, ch)
			close(ch)
		}
	}
}

func sseFrame(event string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return []byte("event: " + event + "\ndata: " + string(b) + "\n\n")
}

// State returns a copy of the run so far.
func (d *Dashboard) State() DashboardState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.state
	st.Steps = append([]StepPoint{}, st.Steps...)
	st.History = append([]EpochPoint{}, st.History...)
	return st
}

// subscribe returns a channel of SSE frames, the first being a snapshot.
func (d *Dashboard) subscribe() chan []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan []byte, 256)
	ch <- sseFrame("snapshot", d.state)
	d.subs[ch] = struct{}{}
	return ch
}

func (d *Dashboard) unsubscribe(ch chan []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.subs[ch]; ok {
		delete(d.subs, ch)
		close(ch)
	}
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusOK, s.cfg.Dashboard.State(), nil
}

// handleDashboardEvents streams the dashboard's events as server-sent events until the
// browser leaves or the server shuts down.
func (s *Server) handleDashboardEvents(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		s.writeError(w, r, errClosing)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ch := s.cfg.Dashboard.subscribe()
	defer s.cfg.Dashboard.unsubscribe(ch)
	if _, err := w.Write([]byte("retry: 1000\n\n")); err != nil {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case frame, ok := <-ch:
			if !ok {
				return // fell behind: the browser reconnects and gets a snapshot
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			// Send what else is queued in the same write.
			for more := true; more; {
				select {
				case f, ok := <-ch:
					if !ok {
						rc.Flush()
						return
					}
					if _, err := w.Write(f); err != nil {
						return
					}
				default:
					more = false
				}
			}
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) handleDashboardOverlay(w http.ResponseWriter, r *http.Request) (int, any, error) {
	file := r.PathValue("file")
	i, err := strconv.Atoi(strings.TrimSuffix(file, ".png"))
	d := s.cfg.Dashboard
	d.mu.Lock()
	var png []byte
	if err == nil && strings.HasSuffix(file, ".png") && i >= 0 && i < len(d.overlays) {
		png = d.overlays[i].PNG
	}
	d.mu.Unlock()
	if png == nil {
		return 0, nil, errorf(http.StatusNotFound, "overlay", "%q: no such overlay of the latest epoch", file)
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(png)
	return 0, nil, nil
}
