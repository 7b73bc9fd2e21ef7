package serve

import (
	"embed"
	"io/fs"
	"net/http"
	"time"
)

// web holds the page, the dashboard and their scripts and styles.
//
//go:embed web
var web embed.FS

// Health is the answer of GET /api/health.
type Health struct {
	Status        string  `json:"status"`          // "ok"
	Model         string  `json:"model,omitempty"` // the SAM architecture, "" without a model
	ImageSize     int     `json:"image_size,omitempty"`
	MaskInputSize int     `json:"mask_input_size,omitempty"` // side of a mask_input (4G)
	CachedImages  int     `json:"cached_images"`
	CacheCapacity int     `json:"cache_capacity"`
	Jobs          int     `json:"jobs"`           // unfinished jobs
	Busy          int     `json:"busy"`           // computation slots in use
	MaxConcurrent int     `json:"max_concurrent"` // computation slots
	MaxQueue      int     `json:"max_queue"`
	MaxPixels     int     `json:"max_pixels"`
	MaxUpload     int64   `json:"max_upload_bytes"`
	TimeoutS      float64 `json:"timeout_s"`
	UptimeS       float64 `json:"uptime_s"`
}

func (s *Server) routes() {
	static, err := fs.Sub(web, "web")
	if err != nil {
		panic(err)
	}
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, static, name)
		}
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Model == nil {
			http.Redirect(w, r, "/dashboard", http.StatusFound)
			return
		}
		page("index.html")(w, r)
	})
	s.mux.HandleFunc("GET /dashboard", page("dashboard.html"))
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	s.mux.Handle("/api/health", s.api(http.MethodGet, s.handleHealth))
	s.mux.Handle("/api/embed", s.api(http.MethodPost, s.handleEmbed))
	s.mux.Handle("/api/images/{id}", s.api(http.MethodGet, s.handleImage))
	s.mux.Handle("/api/predict", s.api(http.MethodPost, s.handlePredict))
	s.mux.Handle("/api/automask", s.api(http.MethodPost, s.handleAutomask))
	s.mux.Handle("/api/jobs/{id}", s.api(http.MethodGet, s.handleJob))
	s.mux.Handle("/api/masks/{file}", s.api(http.MethodGet, s.handleMask))
	s.mux.Handle("/api/dashboard", s.api(http.MethodGet, s.handleDashboard))
	s.mux.HandleFunc("GET /api/dashboard/events", s.handleDashboardEvents)
	s.mux.Handle("/api/dashboard/overlays/{file}", s.api(http.MethodGet, s.handleDashboardOverlay))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, "", "no API endpoint %s %s (see docs/serve.md)", r.Method, r.URL.Path))
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ready, _ := s.images.len()
	h := Health{
		Status: "ok", CachedImages: ready, CacheCapacity: s.cfg.CacheImages, Jobs: s.jobs.activeCount(),
		Busy: s.slots.inUse(), MaxConcurrent: s.cfg.MaxConcurrent, MaxQueue: s.cfg.MaxQueue,
		MaxPixels: s.cfg.MaxPixels, MaxUpload: s.cfg.MaxUploadBytes,
		TimeoutS: s.cfg.Timeout.Seconds(), UptimeS: time.Since(s.start).Seconds(),
	}
	if m := s.cfg.Model; m != nil {
		h.Model, h.ImageSize, h.MaskInputSize = m.Config.Describe(), m.Config.ImageSize, m.Config.MaskInputSize()
	}
	return http.StatusOK, h, nil
}
