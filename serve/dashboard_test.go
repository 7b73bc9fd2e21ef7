package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/train"
)

func tinyPNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sseEvent reads the next server-sent event.
func sseEvent(t testing.TB, r *bufio.Reader) (event, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if event != "" {
				return event, data
			}
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

func TestDashboardEvents(t *testing.T) {
	d := NewDashboard()
	s, err := New(Config{Dashboard: d})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	res, err := http.Get(ts.URL + "/api/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(res.Body)
	if ev, data := sseEvent(t, r); ev != "snapshot" || !strings.Contains(data, `"status":"waiting"`) {
		t.Fatalf("first event %s %s", ev, data)
	}

	d.Publish(train.Event{Kind: train.EventStart, Run: "test run", Epochs: 2, StepsPerEpoch: 3, Classes: []string{"bg", "a", "b"}})
	if ev, data := sseEvent(t, r); ev != "snapshot" || !strings.Contains(data, `"run":"test run"`) || !strings.Contains(data, `"status":"running"`) {
		t.Fatalf("after start: %s %s", ev, data)
	}
	for i := 1; i <= 3; i++ {
		d.Publish(train.Event{Kind: train.EventStep, Epoch: 1, Step: i, Loss: 1 / float64(i), LR: 0.01})
		ev, data := sseEvent(t, r)
		var p StepPoint
		if err := json.Unmarshal([]byte(data), &p); ev != "step" || err != nil || p.Step != i {
			t.Fatalf("step %d: %s %s", i, ev, data)
		}
	}
	ov := tinyPNG(t)
	d.Publish(train.Event{Kind: train.EventEpoch, Epoch: 1, Step: 3, Loss: 0.5, LR: 0.01,
		Metrics:  map[string]float64{"mIoU": 0.25, "aAcc": math.NaN()},
		Classes:  []string{"bg", "a", "b"},
		ClassIoU: []float64{0.5, math.NaN(), 0.25},
		Overlays: []train.Overlay{{Name: "val_0", PNG: ov}}})
	ev, data := sseEvent(t, r)
	if ev != "epoch" || !strings.Contains(data, `"class_iou":[0.5,null,0.25]`) || !strings.Contains(data, `"aAcc":null`) || !strings.Contains(data, `/api/dashboard/overlays/0.png?v=1`) {
		t.Fatalf("epoch event %s %s", ev, data)
	}
	st, raw := getBody(t, ts.URL+"/api/dashboard/overlays/0.png")
	if st != 200 || !bytes.Equal(raw, ov) {
		t.Errorf("overlay: %d, %d bytes", st, len(raw))
	}
	if st, _ := getBody(t, ts.URL+"/api/dashboard/overlays/1.png"); st != 404 {
		t.Errorf("missing overlay: %d", st)
	}
	var state DashboardState
	st, raw = getBody(t, ts.URL+"/api/dashboard")
	if err := json.Unmarshal(raw, &state); st != 200 || err != nil || len(state.Steps) != 3 || len(state.History) != 1 || state.Epochs != 2 {
		t.Errorf("state: %d %s", st, raw)
	}
	d.Publish(train.Event{Kind: train.EventDone, Err: "interrupted"})
	if ev, data := sseEvent(t, r); ev != "snapshot" || !strings.Contains(data, `"status":"failed"`) || !strings.Contains(data, "interrupted") {
		t.Errorf("done: %s %s", ev, data)
	}

	// Shutdown ends the stream.
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadString(0)
		done <- err
	}()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.CloseClientConnections()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream is still open after Shutdown")
	}
}

func getBody(t testing.TB, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.Bytes()
}

// The step history stays bounded however long the run.
func TestDashboardThinsSteps(t *testing.T) {
	d := NewDashboard()
	for i := 1; i <= 3*maxSteps; i++ {
		d.Publish(train.Event{Kind: train.EventStep, Step: i, Loss: 1})
	}
	st := d.State()
	if len(st.Steps) > maxSteps || len(st.Steps) < maxSteps/2 || st.Stride < 2 {
		t.Errorf("%d steps kept with stride %d", len(st.Steps), st.Stride)
	}
	for i := 1; i < len(st.Steps); i++ {
		if st.Steps[i].Step-st.Steps[i-1].Step != st.Stride {
			t.Fatalf("steps %d, %d not %d apart", st.Steps[i-1].Step, st.Steps[i].Step, st.Stride)
		}
	}
}

// A browser that stops reading is dropped, and Publish does not block.
func TestDashboardSlowSubscriber(t *testing.T) {
	d := NewDashboard()
	ch := d.subscribe()
	start := time.Now()
	for i := 0; i < 1000; i++ {
		d.Publish(train.Event{Kind: train.EventStep, Step: i, Loss: 1})
	}
	if time.Since(start) > 5*time.Second {
		t.Error("Publish blocked on a slow subscriber")
	}
	n := 0
	for range ch {
		n++
	}
	if n == 0 || n > 257 {
		t.Errorf("%d frames reached the dropped subscriber", n)
	}
	d.unsubscribe(ch) // harmless after the drop
}
