// Package serve is fovea's HTTP server: a JSON API over a Segment Anything model
// (upload an image once — its embedding is cached by content hash —, then answer point,
// box and mask prompts in milliseconds, segment everything, get masks as PNG or COCO
// RLE), the click-to-segment web page that drives it, and a live training dashboard fed
// with train.Event values. The page and the dashboard are plain HTML, JavaScript and CSS
// embedded in the binary (serve/web): no CDN, no build step.
//
// The API is documented in docs/serve.md. Every error is a JSON object
// {"error": "...", "field": "..."} whose message names the field or header at fault.
// Requests are bounded: body sizes, image pixels, a timeout per request, a fixed number
// of computations at once with a bounded queue (beyond it: 429 Too Many Requests), and
// Shutdown lets requests in flight finish.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fovea-ml/fovea/models/sam"
)

// Config configures a Server. Zero fields take the defaults in brackets.
type Config struct {
	// Model answers the SAM endpoints; nil serves the dashboard only (the SAM endpoints
	// then answer 503).
	Model *sam.Model
	// Dashboard is served at /dashboard [an empty one, waiting for events].
	Dashboard *Dashboard

	// MaxConcurrent is the number of computations (prompt decodes, image encodings,
	// automatic mask generations) that run at once [GOMAXPROCS].
	MaxConcurrent int
	// MaxQueue is the number of predict requests that may wait for a free computation
	// slot; a request beyond it gets 429 [4 × MaxConcurrent].
	MaxQueue int
	// MaxJobs is the number of embedding and automatic-mask jobs queued or running; a
	// new job beyond it gets 429 [8].
	MaxJobs int
	// Timeout bounds each request [30 s]. A predict that runs longer answers 503 (its
	// computation still finishes and frees its slot); ?wait=1 on jobs waits at most this
	// long.
	Timeout time.Duration
	// MaxUploadBytes bounds an image upload [32 MiB]; MaxJSONBytes a JSON body [8 MiB].
	MaxUploadBytes, MaxJSONBytes int64
	// MaxPixels bounds an image's width × height, checked from its header before any
	// pixel is decoded [16,777,216 = 4096²].
	MaxPixels int
	// MaxPrompts bounds the prompts of one predict request [64], MaxPoints the points of
	// one prompt [64].
	MaxPrompts, MaxPoints int
	// CacheImages is the number of image embeddings kept, least recently used evicted
	// first [16; vit_b's embedding is 4 MiB, plus the image's RGB pixels].
	CacheImages int
	// CacheMasks is the number of masks kept for download and as mask prompts [512].
	CacheMasks int
	// Log receives one line per error and lifecycle message [discard].
	Log io.Writer
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConcurrent, runtime.GOMAXPROCS(0))
	def(&c.MaxQueue, 4*c.MaxConcurrent)
	def(&c.MaxJobs, 8)
	def(&c.MaxPixels, 4096*4096)
	def(&c.MaxPrompts, 64)
	def(&c.MaxPoints, 64)
	def(&c.CacheImages, 16)
	def(&c.CacheMasks, 512)
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 32 << 20
	}
	if c.MaxJSONBytes <= 0 {
		c.MaxJSONBytes = 8 << 20
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Dashboard == nil {
		c.Dashboard = NewDashboard()
	}
}

// Server serves the API, the page and the dashboard. Make one with New.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	log   *log.Logger
	start time.Time

	slots   *limiter
	images  *imageCache
	masks   *maskCache
	jobs    *jobTable
	work    sync.WaitGroup // computations and jobs running, waited for by Shutdown
	closing atomic.Bool
	done    chan struct{} // closed when Shutdown begins: ends event streams

	httpMu sync.Mutex
	http   *http.Server

	// beforeCompute, if set (tests), runs in each computation before its work.
	beforeCompute atomic.Pointer[func()]
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.MaxQueue < 0 || cfg.MaxConcurrent < 1 {
		return nil, fmt.Errorf("serve: max concurrent %d, max queue %d: want ≥ 1 and ≥ 0", cfg.MaxConcurrent, cfg.MaxQueue)
	}
	s := &Server{
		cfg:    cfg,
		mux:    http.NewServeMux(),
		log:    log.New(cfg.Log, "serve: ", log.LstdFlags),
		start:  time.Now(),
		slots:  newLimiter(cfg.MaxConcurrent, cfg.MaxQueue),
		images: newImageCache(cfg.CacheImages),
		masks:  newMaskCache(cfg.CacheMasks),
		jobs:   newJobTable(cfg.MaxJobs),
		done:   make(chan struct{}),
	}
	if cfg.Model != nil {
		sam.NewPredictor(cfg.Model) // freezes the model once, before concurrent use
	}
	s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler (the page, the dashboard and the API).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve accepts connections on l until Shutdown; it returns http.ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.log,
	}
	s.httpMu.Lock()
	if s.closing.Load() {
		s.httpMu.Unlock()
		return http.ErrServerClosed
	}
	s.http = hs
	s.httpMu.Unlock()
	return hs.Serve(l)
}

// ListenAndServe listens on the TCP address addr and serves (see Serve).
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Shutdown stops accepting connections, ends the dashboard's event streams, and waits
// for requests in flight and for running jobs to finish, or for ctx to end (then it
// returns ctx's error). New API requests meanwhile get 503.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closing.Swap(true) {
		return errors.New("serve: Shutdown called twice")
	}
	close(s.done)
	s.httpMu.Lock()
	hs := s.http
	s.httpMu.Unlock()
	var err error
	if hs != nil {
		err = hs.Shutdown(ctx)
	}
	finished := make(chan struct{})
	go func() { s.work.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// apiError is an error with an HTTP status and the request field at fault.
type apiError struct {
	status int
	field  string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// errorf returns an apiError; field may be "" when no single field is at fault.
func errorf(status int, field, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &apiError{status: status, field: field, msg: msg}
}

var (
	errBusy    = errors.New("busy")
	errClosing = errorf(http.StatusServiceUnavailable, "", "the server is shutting down")
)

// writeJSON writes v as the JSON response with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encoding the response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError writes err as {"error": ..., "field": ...} with its status (500 for errors
// that are not apiErrors).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
	}
	switch ae.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if ae.status >= 500 {
		s.log.Printf("%s %s: %d %s", r.Method, r.URL.Path, ae.status, ae.msg)
	}
	body := map[string]string{"error": ae.msg}
	if ae.field != "" {
		body["field"] = ae.field
	}
	writeJSON(w, ae.status, body)
}

// api wraps an API handler: it refuses requests during shutdown, applies the request
// timeout to the context and turns a returned error into a JSON error response. The
// handler returns the status and the value to write as JSON.
func (s *Server) api(method string, h func(w http.ResponseWriter, r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "", "%s %s: want %s", r.Method, r.URL.Path, method))
			return
		}
		if s.closing.Load() {
			s.writeError(w, r, errClosing)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		status, v, err := h(w, r.WithContext(ctx))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if status != 0 { // 0: the handler wrote the response itself
			writeJSON(w, status, v)
		}
	}
}

// needModel is the error of SAM endpoints on a dashboard-only server.
func (s *Server) needModel() error {
	if s.cfg.Model == nil {
		return errorf(http.StatusServiceUnavailable, "", "no SAM model is loaded (start the server with fovea serve --checkpoint)")
	}
	return nil
}

// compute runs fn in a computation slot, waiting for one in the bounded queue (429 when
// the queue is full) until ctx ends. If ctx ends while fn runs, compute returns 503 at
// once; fn still finishes in the background and frees its slot then.
func (s *Server) compute(ctx context.Context, fn func() (any, error)) (any, error) {
	if err := s.slots.acquire(ctx); err != nil {
		if errors.Is(err, errBusy) {
			return nil, errorf(http.StatusTooManyRequests, "", "all %d computation slots and %d queue places are taken; retry later", s.cfg.MaxConcurrent, s.cfg.MaxQueue)
		}
		return nil, s.timeoutError(ctx)
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		defer s.slots.release()
		v, err := safely(func() (any, error) {
			if f := s.beforeCompute.Load(); f != nil {
				(*f)()
			}
			return fn()
		})
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, s.timeoutError(ctx)
	}
}

// timeoutError is the error of a request whose context ended.
func (s *Server) timeoutError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errorf(http.StatusServiceUnavailable, "", "the request took longer than the %v timeout", s.cfg.Timeout)
	}
	return errorf(499, "", "the client went away")
}

// limiter is a counting semaphore of computation slots with a bounded queue of waiters.
type limiter struct {
	slots   chan struct{}
	waiting atomic.Int64
	maxWait int64
}

func newLimiter(n, queue int) *limiter {
	return &limiter{slots: make(chan struct{}, n), maxWait: int64(queue)}
}

// acquire takes a slot, waiting while fewer than maxWait others wait; errBusy when the
// queue is full, ctx's error when it ends first.
func (l *limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.waiting.Add(1) > l.maxWait {
		l.waiting.Add(-1)
		return errBusy
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquireWait takes a slot, waiting without a queue bound until done is closed.
func (l *limiter) acquireWait(done <-chan struct{}) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

func (l *limiter) release() { <-l.slots }

// inUse is the number of slots taken.
func (l *limiter) inUse() int { return len(l.slots) }

// queryBool reads a boolean query parameter: absent is false; 1/true/yes are true.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	switch v {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusBadRequest, name, "%q is not a boolean (want 1, 0, true or false)", v)
	}
	return b, nil
}
