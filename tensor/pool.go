package tensor

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// Buffer reuse.
//
// Training allocates the same large buffers step after step: activations
// in the forward pass, gradients in the backward pass. Left to the garbage
// collector, each one costs a zeroing pass over fresh memory, page faults
// when the runtime has returned the pages to the operating system, and
// collection work. Instead, storage that autograd knows to be dead goes
// back to a pool, and the next allocation of a similar size takes it from
// there:
//
//   - Backward recycles the gradients it computes for intermediate tensors
//     once every consumer has used them (gradients it allocated during the
//     same call, whose storage nothing else shares);
//   - BackwardRelease also recycles the intermediate results of the forward
//     pass, for training loops that keep none of them.
//
// Buffers are grouped in size classes, eight per power of two, from
// poolMinLen floats up; a buffer of class c has capacity classCap(c) and
// serves any length in (classCap(c−1), classCap(c)]. Smaller buffers come
// from make. Each class is a sync.Pool, so buffers that stay unused are
// dropped by the garbage collector after two cycles.

const (
	poolMinLen = 1 << 12 // smallest pooled length (16 KiB)
	poolSteps  = 8       // size classes per power of two
	poolBase   = 11      // classes start at capacities just above 2^poolBase
)

var (
	bufPools [poolSteps * (64 - poolBase)]sync.Pool // of *[]float32
	// bufSeq numbers pooled allocations; Backward compares a buffer's
	// number with the count at its start to know that autograd made it.
	bufSeq atomic.Uint64
)

// sizeClass returns the class whose capacity is the smallest one ≥ n, for
// n ≥ poolMinLen.
func sizeClass(n int) int {
	e := bits.Len(uint(n-1)) - 1 // 2^e < n ≤ 2^(e+1)
	step := 1 << (e - 3)         // the classes split (2^e, 2^(e+1)] in poolSteps
	k := (n - (1 << e) + step - 1) / step
	return (e-poolBase)*poolSteps + k - 1
}

// classCap returns the capacity of buffers of class c.
func classCap(c int) int {
	e := c/poolSteps + poolBase
	return 1<<e + (c%poolSteps+1)<<(e-3)
}

// getBuf returns a slice of n floats with undefined contents and the
// allocation number to stamp on the tensor that owns it (0 when n is too
// small to be pooled), and whether it came from the pool (otherwise it is
// freshly zeroed memory).
func getBuf(n int) (buf []float32, id uint64, reused bool) {
	if n < poolMinLen {
		return make([]float32, n), 0, false
	}
	c := sizeClass(n)
	id = bufSeq.Add(1)
	if v := bufPools[c].Get(); v != nil {
		return (*v.(*[]float32))[:n], id, true
	}
	return make([]float32, n, classCap(c)), id, false
}

// putBuf returns a buffer obtained from getBuf to the pool. The caller
// guarantees that nothing uses it any more.
func putBuf(b []float32) {
	c := cap(b)
	if c < poolMinLen {
		return
	}
	k := sizeClass(c)
	if classCap(k) != c {
		return // not one of ours
	}
	b = b[:c]
	bufPools[k].Put(&b)
}

// clearGrain is the number of floats below which zeroing a reused buffer
// is not split across the worker pool.
const clearGrain = 1 << 16

// zeros returns a zeroed tensor of shape, reusing pooled storage.
func zeros(shape []int, n int) *Tensor {
	buf, id, reused := getBuf(n)
	if reused {
		cpu.ParallelGrain(n, clearGrain, func(lo, hi int) { clear(buf[lo:hi]) })
	}
	return &Tensor{data: buf, shape: append([]int(nil), shape...), bufID: id}
}

// empty returns a tensor of shape whose contents are undefined (zeros or
// the leftovers of an earlier tensor), for operations that overwrite every
// element.
func empty(shape ...int) *Tensor {
	n := checkShape("tensor.Empty", shape)
	buf, id, _ := getBuf(n)
	return &Tensor{data: buf, shape: append([]int(nil), shape...), bufID: id}
}

// Empty returns a tensor of the given shape whose elements are undefined
// (they may hold values left by earlier tensors). It is for operations that
// write every element of their result, which then skip the zeroing that
// Zeros does; storage comes from the buffer pool that Backward refills.
func Empty(shape ...int) *Tensor { return empty(shape...) }
