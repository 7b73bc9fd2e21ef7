package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runFoveaContext is runFovea with a context and a hook called with the address a
// server listens on.
func runFoveaContext(t *testing.T, ctx context.Context, listening func(string), args ...string) (string, error) {
	t.Helper()
	resetFlags(rootCmd)
	var out lockedBuffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	serveListening = listening
	// Cobra hands the root's context to a subcommand only when it has none: an earlier
	// Execute in the same process left context.Background there.
	if sub, _, err := rootCmd.Find(args); err == nil {
		sub.SetContext(ctx)
	}
	defer func() { rootCmd.SetArgs(nil); serveListening = nil }()
	err := rootCmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestServeFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"serve"}, "--checkpoint is required"},
		{[]string{"serve", "--checkpoint", "/nonexistent/sam_vit_b.pth"}, "/nonexistent/sam_vit_b.pth"},
		{[]string{"serve", "--checkpoint", "x.pth", "--max-concurrent", "-1"}, "--max-concurrent -1"},
		{[]string{"serve", "--checkpoint", "x.pth", "--timeout", "-1s"}, "--timeout"},
		{[]string{"serve", "--checkpoint", samFixture("tiny_win.pth"), "--config", samFixture("tiny_win.json"), "--addr", "127.0.0.1:99999"}, "--addr 127.0.0.1:99999"},
	} {
		out, err := runFovea(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("fovea %s: error %v, want one naming %q (output %q)", strings.Join(c.args, " "), err, c.msg, out)
		}
	}
}

func samFixture(name string) string { return filepath.Join("..", "..", "testdata", "sam", name) }

// fovea serve answers until its context ends, then shuts down cleanly.
func TestServeRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var health map[string]any
	var healthErr error
	out, err := runFoveaContext(t, ctx, func(addr string) {
		go func() {
			defer cancel()
			res, err := http.Get("http://" + addr + "/api/health")
			if err != nil {
				healthErr = err
				return
			}
			defer res.Body.Close()
			healthErr = json.NewDecoder(res.Body).Decode(&health)
		}()
	}, "serve", "--checkpoint", samFixture("tiny_win.pth"), "--config", samFixture("tiny_win.json"), "--addr", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if healthErr != nil || health["status"] != "ok" {
		t.Fatalf("health %v, %v", health, healthErr)
	}
	if !strings.Contains(out, "serving Segment Anything at http://127.0.0.1:") || !strings.Contains(out, "shutting down") {
		t.Errorf("output %q", out)
	}
}

// fovea train --serve publishes the run to the dashboard's event stream.
func TestTrainServe(t *testing.T) {
	trainServeKeep = false
	defer func() { trainServeKeep = true }()
	var mu sync.Mutex
	var events []string
	streamDone := make(chan struct{})
	out, err := runFoveaContext(t, context.Background(), func(addr string) {
		res, err := http.Get("http://" + addr + "/api/dashboard/events")
		if err != nil {
			t.Error(err)
			close(streamDone)
			return
		}
		r := bufio.NewReader(res.Body)
		read := func() bool {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			if ev, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				mu.Lock()
				events = append(events, ev)
				mu.Unlock()
			}
			return true
		}
		for read() && len(events) == 0 { // the first snapshot: connected before training starts
		}
		go func() {
			defer close(streamDone)
			defer res.Body.Close()
			for read() {
			}
		}()
	}, "train", "--serve", "127.0.0.1:0", "--out", t.TempDir(), "--epochs", "1", "--train-images", "16", "--val-images", "4",
		"--image-size", "64", "--width", "0.125", "--batch", "8", "--quiet")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	select {
	case <-streamDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not end with the run")
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(events, " ")
	if !strings.Contains(got, "snapshot snapshot step step") || !strings.Contains(got, "epoch") {
		t.Errorf("events %q: want the first snapshot, the start's snapshot, steps and an epoch", got)
	}
	if !strings.Contains(out, "training dashboard at http://127.0.0.1:") {
		t.Errorf("output %q", out)
	}
}
