package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/serve"
	"github.com/fovea-ml/fovea/train"
)

func init() { rootCmd.AddCommand(serveCmd()) }

// serveListening, if set (tests), is called with the address the server listens on.
var serveListening func(addr string)

// serveGrace is how long a shutdown waits for requests in flight.
const serveGrace = 30 * time.Second

func serveCmd() *cobra.Command {
	var mf samModelFlags
	var addr string
	var cfg serve.Config
	cmd := &cobra.Command{
		Use:   "serve --checkpoint CKPT [--addr 127.0.0.1:8080]",
		Short: "Click-to-segment in the browser: a web page and JSON API over a SAM checkpoint",
		Long: `Serve Segment Anything over HTTP: open http://ADDR/ in a browser, open an image, click
foreground points (shift- or right-click: background), drag boxes, choose among the
masks, segment everything, and download the masks as PNG or COCO RLE JSON. The image
embedding is computed once per image and cached by content (SHA-256); each click then
only runs the prompt encoder and mask decoder.

The page talks to a JSON API (POST /api/embed, /api/predict, /api/automask; GET
/api/jobs/ID, /api/masks/ID.png, /api/health) that scripts can use as well: see
docs/serve.md. The training dashboard of "fovea train --serve" is at /dashboard.

Requests are bounded by --max-upload, --max-pixels, --timeout and --max-concurrent
computations with --max-queue waiting (more get 429). SIGINT or SIGTERM stops accepting
connections and lets requests in flight finish (up to 30 s; a second Ctrl-C quits).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []struct {
				name string
				v    int
			}{{"max-concurrent", cfg.MaxConcurrent}, {"max-queue", cfg.MaxQueue}, {"max-jobs", cfg.MaxJobs}, {"max-pixels", cfg.MaxPixels}, {"cache", cfg.CacheImages}} {
				if f.v < 0 {
					return fmt.Errorf("--%s %d: want ≥ 0 (0: the default)", f.name, f.v)
				}
			}
			if cfg.Timeout < 0 || cfg.MaxUploadBytes < 0 {
				return fmt.Errorf("--timeout %v, --max-upload %d: want ≥ 0 (0: the default)", cfg.Timeout, cfg.MaxUploadBytes)
			}
			if mf.checkpoint == "" {
				return fmt.Errorf("--checkpoint is required (a SAM .pth or safetensors file)")
			}
			log := cmd.ErrOrStderr()
			m, err := mf.load(log)
			if err != nil {
				return err
			}
			cfg.Model = m
			cfg.Log = log
			s, err := serve.New(cfg)
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), s, addr, "Segment Anything", log)
		},
	}
	mf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; :8080 listens on every interface)")
	f.IntVar(&cfg.MaxConcurrent, "max-concurrent", 0, "computations (prompt decodes, image encodings) at once (0: the number of cores)")
	f.IntVar(&cfg.MaxQueue, "max-queue", 0, "predict requests that may wait for a computation slot; beyond: 429 (0: 4 × max-concurrent)")
	f.IntVar(&cfg.MaxJobs, "max-jobs", 0, "embedding and segment-everything jobs queued or running; beyond: 429 (0: 8)")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "time limit of each request (0: 30s)")
	f.Int64Var(&cfg.MaxUploadBytes, "max-upload", 0, "largest image upload in bytes (0: 32 MiB)")
	f.IntVar(&cfg.MaxPixels, "max-pixels", 0, "largest image in pixels, checked from its header (0: 4096×4096)")
	f.IntVar(&cfg.CacheImages, "cache", 0, "image embeddings kept in memory, least recently used dropped first (0: 16; vit_b: 4 MiB each)")
	return cmd
}

// runServer serves s on addr until ctx ends or SIGINT/SIGTERM arrives, then shuts down
// gracefully.
func runServer(ctx context.Context, s *serve.Server, addr, what string, log io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	fmt.Fprintf(log, "serving %s at http://%s/ (Ctrl-C to stop)\n", what, l.Addr())
	if serveListening != nil {
		serveListening(l.Addr().String())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C ends the process at once
	fmt.Fprintln(log, "shutting down: finishing the requests in flight (Ctrl-C again to quit now)")
	sctx, cancel := context.WithTimeout(context.Background(), serveGrace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// trainDashboard is the dashboard of fovea train --serve.
type trainDashboard struct {
	dash   *serve.Dashboard
	server *serve.Server
	served chan error
	addr   string
	log    io.Writer

	failed, stopped bool
}

// trainServeKeep makes fovea train --serve keep the dashboard up after the run until
// Ctrl-C (tests turn it off).
var trainServeKeep = true

// startTrainDashboard serves a training dashboard on addr ("" : none, nil result).
func startTrainDashboard(addr string, log io.Writer) (*trainDashboard, error) {
	if addr == "" {
		return nil, nil
	}
	d := serve.NewDashboard()
	s, err := serve.New(serve.Config{Dashboard: d, Log: log})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--serve %s: %w", addr, err)
	}
	td := &trainDashboard{dash: d, server: s, served: make(chan error, 1), addr: l.Addr().String(), log: log}
	go func() { td.served <- s.Serve(l) }()
	fmt.Fprintf(log, "training dashboard at http://%s/dashboard\n", td.addr)
	if serveListening != nil {
		serveListening(td.addr)
	}
	return td, nil
}

// hook returns the function to pass as train.Options.OnEvent (nil without a dashboard).
func (td *trainDashboard) hook() func(train.Event) {
	if td == nil {
		return nil
	}
	return td.dash.Publish
}

// finish records how the run ended; a failed or interrupted run's dashboard is shut
// down at once.
func (td *trainDashboard) finish(runErr error) {
	if td == nil {
		return
	}
	td.failed = runErr != nil
	if runErr != nil {
		td.dash.Publish(train.Event{Kind: train.EventDone, Err: runErr.Error()})
		td.shutdown()
	}
}

// close keeps the dashboard of a finished run up until SIGINT/SIGTERM, then shuts the
// server down.
func (td *trainDashboard) close() {
	if td == nil || td.stopped {
		return
	}
	if !td.failed && trainServeKeep {
		fmt.Fprintf(td.log, "the dashboard stays at http://%s/dashboard until Ctrl-C\n", td.addr)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		<-ctx.Done()
		stop()
	}
	td.shutdown()
}

func (td *trainDashboard) shutdown() {
	if td.stopped {
		return
	}
	td.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	td.server.Shutdown(ctx)
	<-td.served
}
