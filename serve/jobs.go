package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Job states.
const (
	jobQueued  = "queued"
	jobRunning = "running"
	jobDone    = "done"
	jobFailed  = "error"
)

// job is a long computation (an image embedding, an automatic mask generation) that
// clients poll: GET /api/jobs/{id}.
type job struct {
	id      string
	kind    string // "embed" or "automask"
	imageID string

	mu       sync.Mutex
	status   string
	stage    string // what runs now, e.g. "encoder"
	done     int    // progress: done of total steps of the stage
	total    int
	err      *apiError
	result   any // the job's answer once done (automask: the masks)
	started  time.Time
	ended    time.Time
	finished chan struct{} // closed when the job ends
}

// JobView is the JSON form of a job (GET /api/jobs/{id}).
type JobView struct {
	ID      string  `json:"id"`
	Kind    string  `json:"kind"`
	ImageID string  `json:"image_id"`
	Status  string  `json:"status"` // queued, running, done or error
	Stage   string  `json:"stage,omitempty"`
	Done    int     `json:"done"`
	Total   int     `json:"total"`
	Seconds float64 `json:"seconds"` // running time so far, or in all once ended
	Error   string  `json:"error,omitempty"`
	Result  any     `json:"result,omitempty"`
}

func (j *job) view() JobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := JobView{ID: j.id, Kind: j.kind, ImageID: j.imageID, Status: j.status, Stage: j.stage, Done: j.done, Total: j.total, Result: j.result}
	if !j.started.IsZero() {
		end := j.ended
		if end.IsZero() {
			end = time.Now()
		}
		v.Seconds = end.Sub(j.started).Seconds()
	}
	if j.err != nil {
		v.Error = j.err.msg
	}
	return v
}

// progress records that done of total steps of stage have run.
func (j *job) progress(stage string, done, total int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stage, j.done, j.total = stage, done, total
}

// state returns the job's status and error.
func (j *job) state() (string, *apiError) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status, j.err
}

// wait waits for the job to end or ctx to end; it reports whether the job ended.
func (j *job) wait(ctx context.Context) bool {
	select {
	case <-j.finished:
		return true
	case <-ctx.Done():
		return false
	}
}

// jobTable holds jobs by id: at most max unfinished at once, and the last keep finished.
type jobTable struct {
	mu       sync.Mutex
	max      int
	keep     int
	next     int
	active   int
	byID     map[string]*job
	finished []string // ids of finished jobs, oldest first
}

func newJobTable(max int) *jobTable {
	return &jobTable{max: max, keep: 256, byID: map[string]*job{}}
}

// add registers a new queued job, or returns errBusy when max jobs are unfinished.
func (t *jobTable) add(kind, imageID string) (*job, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active >= t.max {
		return nil, errBusy
	}
	t.next++
	j := &job{id: fmt.Sprintf("j%d", t.next), kind: kind, imageID: imageID, status: jobQueued, finished: make(chan struct{})}
	t.byID[j.id] = j
	t.active++
	return j, nil
}

func (t *jobTable) get(id string) (*job, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.byID[id]
	return j, ok
}

// activeCount returns the number of unfinished jobs.
func (t *jobTable) activeCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active
}

// finish ends j with its result or error and forgets the oldest finished jobs beyond keep.
func (t *jobTable) finish(j *job, result any, err error) {
	j.mu.Lock()
	j.ended = time.Now()
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		j.status, j.err = jobFailed, ae
	} else {
		j.status, j.result = jobDone, result
	}
	j.mu.Unlock()
	close(j.finished)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	t.finished = append(t.finished, j.id)
	for len(t.finished) > t.keep {
		delete(t.byID, t.finished[0])
		t.finished = t.finished[1:]
	}
}

// startJob runs fn for j in the background once a computation slot is free (jobs wait
// without a queue bound: their number is bounded by MaxJobs). A job still queued when
// Shutdown begins fails; a running one finishes and Shutdown waits for it.
func (s *Server) startJob(j *job, fn func(j *job) (any, error)) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		if !s.slots.acquireWait(s.done) {
			s.jobs.finish(j, nil, errClosing)
			return
		}
		defer s.slots.release()
		j.mu.Lock()
		j.status, j.started = jobRunning, time.Now()
		j.mu.Unlock()
		v, err := safely(func() (any, error) {
			if f := s.beforeCompute.Load(); f != nil {
				(*f)()
			}
			return fn(j)
		})
		if err != nil {
			s.log.Printf("job %s (%s of image %s): %v", j.id, j.kind, j.imageID, err)
		}
		s.jobs.finish(j, v, err)
	}()
}

// safely runs fn, turning a panic (a bug: bad input is an error before this point) into
// a 500 error so that the server keeps serving.
func safely(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, errorf(http.StatusInternalServerError, "", "internal error: %v", r)
		}
	}()
	return fn()
}
