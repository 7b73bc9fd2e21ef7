package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The one shared worker pool. Worker goroutines wait on a channel for chunks
// of a Parallel call; the calling goroutine always runs the first chunk
// itself. Only one Parallel call uses the pool at a time: a call made while
// the pool is busy (a nested call from inside fn, or a call from another
// goroutine) runs inline on its own goroutine, so the number of goroutines
// doing kernel work never exceeds Threads() plus the number of concurrent
// callers.

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
	left   *atomic.Int32               // chunks not finished yet, polled before wg.Wait
	perr   *atomic.Pointer[panicValue] // where a panic in fn is recorded
}

// spinPolls is how many times an idle worker looks for a task, and a caller
// looks for its chunks' completion, yielding the processor in between,
// before blocking. A training step makes hundreds of Parallel calls a few
// tens of microseconds apart; waking a parked worker thread costs about as
// much as a small call's work, so a short poll first keeps the workers hot.
var spinPolls = 200

// panicValue carries a panic from a worker back to the calling goroutine.
type panicValue struct{ v any }

var pool struct {
	busy    sync.Mutex // held while a Parallel call owns the workers
	mu      sync.Mutex // guards resizing
	threads atomic.Int32
	workers int // number of started worker goroutines
	tasks   chan task
}

func init() {
	pool.tasks = make(chan task, 64)
	SetThreads(runtime.GOMAXPROCS(0))
}

// SetThreads sets how many goroutines kernels use for one operation (the
// calling goroutine plus n-1 pool workers). n < 1 means 1. The default is
// runtime.GOMAXPROCS(0) at start-up.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	for pool.workers < n-1 {
		go worker()
		pool.workers++
	}
	pool.threads.Store(int32(n))
}

// Threads reports how many goroutines kernels use for one operation.
func Threads() int { return int(pool.threads.Load()) }

func worker() {
	for {
		var t task
		got := false
		for i := 0; i < spinPolls && !got; i++ {
			select {
			case t = <-pool.tasks:
				got = true
			default:
				runtime.Gosched()
			}
		}
		if !got {
			t = <-pool.tasks
		}
		runTask(t)
	}
}

func runTask(t task) {
	defer t.wg.Done()
	defer t.left.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			t.perr.CompareAndSwap(nil, &panicValue{r})
		}
	}()
	t.fn(t.lo, t.hi)
}

// Parallel splits [0, n) into at most Threads() contiguous chunks of nearly
// equal size and runs fn(lo, hi) on each, on the shared worker pool, returning
// when all have finished. Each index is taken to be a worthwhile unit of work:
// for cheap per-index work (element-wise loops) use ParallelGrain. Parallel
// runs fn(0, n) inline when n < 2, when Threads() is 1, and when the pool is
// already busy — in particular for nested calls from inside fn — so nesting
// never oversubscribes the cores. Nothing is run when n <= 0.
func Parallel(n int, fn func(lo, hi int)) {
	ParallelGrain(n, 1, fn)
}

// ParallelGrain is Parallel with chunks of at least grain indices: [0, n) is
// split into at most min(Threads(), n/grain) chunks, and it runs inline when
// that is 1. Use it for cheap per-index work, for example a grain of 16384
// for an element-wise loop over floats.
func ParallelGrain(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := min(Threads(), n/grain)
	if chunks < 2 || !pool.busy.TryLock() {
		fn(0, n)
		return
	}
	defer pool.busy.Unlock()
	runChunks(n, chunks, fn)
}

// runChunks runs fn over chunks near-equal parts of [0, n); the caller holds
// pool.busy (or knows chunks == 1). A panic in any chunk is re-raised on the
// calling goroutine once all chunks have finished.
func runChunks(n, chunks int, fn func(lo, hi int)) {
	var wg sync.WaitGroup
	var left atomic.Int32
	var perr atomic.Pointer[panicValue]
	wg.Add(chunks)
	left.Store(int32(chunks))
	for i := 1; i < chunks; i++ {
		pool.tasks <- task{fn: fn, lo: i * n / chunks, hi: (i + 1) * n / chunks, wg: &wg, left: &left, perr: &perr}
	}
	runTask(task{fn: fn, lo: 0, hi: n / chunks, wg: &wg, left: &left, perr: &perr})
	for i := 0; i < spinPolls && left.Load() > 0; i++ {
		runtime.Gosched()
	}
	wg.Wait()
	if p := perr.Load(); p != nil {
		panic(p.v)
	}
}

// parallelTasks runs fn(i) for i in [0, count) with each i on its own
// goroutine of the pool when the pool is free, and inline in order otherwise.
// It is for callers that have already split the work into per-thread parts.
func parallelTasks(count int, fn func(i int)) {
	if count == 1 || !pool.busy.TryLock() {
		for i := 0; i < count; i++ {
			fn(i)
		}
		return
	}
	defer pool.busy.Unlock()
	runChunks(count, count, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i)
		}
	})
}
