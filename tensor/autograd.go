package tensor

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// RequiresGrad reports whether gradients are tracked for t: it is a leaf the
// user marked with SetRequiresGrad, or it was computed from one.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// SetRequiresGrad marks a leaf tensor (one not produced by a recorded
// operation) as needing a gradient, or not, and returns t.
func (t *Tensor) SetRequiresGrad(v bool) *Tensor {
	if t.node != nil {
		panic("tensor.SetRequiresGrad: only leaf tensors can change requires-grad; use Detach first")
	}
	t.requiresGrad = v
	return t
}

// IsLeaf reports whether t was not produced by a recorded operation.
func (t *Tensor) IsLeaf() bool { return t.node == nil }

// Grad returns the gradient accumulated into t by Backward, or nil.
func (t *Tensor) Grad() *Tensor { return t.grad }

// SetGrad replaces t's gradient (nil clears it).
func (t *Tensor) SetGrad(g *Tensor) {
	if g != nil && !SameShape(g.shape, t.shape) {
		panic(fmt.Sprintf("tensor.SetGrad: gradient shape %s does not match tensor shape %s", FormatShape(g.shape), FormatShape(t.shape)))
	}
	t.grad, t.gradOwned = g, false
}

// ZeroGrad drops t's gradient, as optimizer.zero_grad(set_to_none=True) does.
func (t *Tensor) ZeroGrad() { t.grad, t.gradOwned = nil, false }

// ReleaseGrad drops t's gradient as ZeroGrad does and, when Backward made
// its storage, returns that storage to the buffer pool, so the next
// backward pass reuses it instead of faulting in fresh memory (a training
// loop does this every step). The released gradient tensor is emptied: a
// Grad() result kept from before must not be used afterwards.
func (t *Tensor) ReleaseGrad() {
	if t.grad != nil && t.gradOwned {
		putBuf(t.grad.data)
		t.grad.data, t.grad.bufID = nil, 0
	}
	t.grad, t.gradOwned = nil, false
}

// Detach returns a tensor sharing t's data with no history and no gradient
// tracking.
func (t *Tensor) Detach() *Tensor { return &Tensor{data: t.data, shape: t.shape} }

// Record attaches an operation to out, the result computed from inputs, so
// that Backward can differentiate through it. It does nothing (and returns
// out unchanged) when no input requires a gradient, so callers can always call
// it. backward must return one gradient (or nil) per input. Packages such as
// nn use Record to define new differentiable operations.
func Record(op string, out *Tensor, backward BackwardFunc, inputs ...*Tensor) *Tensor {
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			if backward == nil {
				panic("tensor.Record: " + op + ": nil backward function")
			}
			out.requiresGrad = true
			out.node = &node{op: op, inputs: inputs, backward: backward}
			return out
		}
	}
	return out
}

// AnyRequiresGrad reports whether any of ts requires a gradient; operations
// use it to skip work needed only for the backward pass.
func AnyRequiresGrad(ts ...*Tensor) bool {
	for _, t := range ts {
		if t != nil && t.requiresGrad {
			return true
		}
	}
	return false
}

// Backward computes the gradient of the scalar t with respect to every leaf
// that requires a gradient and adds it to the leaf's Grad. The graph is freed
// afterwards: calling Backward twice through the same operations panics.
//
// The gradients of intermediate tensors live only during the call: their
// storage goes back to the package's buffer pool once every operation that
// needs them has run, and later allocations reuse it.
func (t *Tensor) Backward() {
	t.backward("tensor.Backward", nil, false)
}

// BackwardWith is Backward seeded with the gradient gradOut of t's shape
// (torch's tensor.backward(gradient)). gradOut itself is never recycled.
func (t *Tensor) BackwardWith(gradOut *Tensor) {
	t.backward("tensor.Backward", gradOut, false)
}

// BackwardRelease is Backward for training loops that keep none of the
// forward pass's intermediate results. After the gradients are computed, the
// storage of every intermediate tensor of the graph — each result of a
// recorded operation, other than t itself, that requires a gradient — goes
// back to the package's buffer pool for the next forward pass to reuse,
// instead of being left to the garbage collector, and those tensors are
// emptied: their Data is nil from then on. Leaves (parameters, inputs) and
// their gradients are untouched. Tensors that share storage with an
// intermediate result but are not part of the graph — a Detach of it, or a
// slice kept from its Data — must not be used after the call.
func (t *Tensor) BackwardRelease() {
	t.backward("tensor.BackwardRelease", nil, true)
}

// backward runs reverse-mode differentiation from t, seeded with gradOut
// (ones when nil), and releases the graph's intermediate results when
// release is set.
func (t *Tensor) backward(op string, gradOut *Tensor, release bool) {
	if gradOut == nil {
		if len(t.data) != 1 {
			panic(fmt.Sprintf("%s: called on a tensor of shape %s; it needs a scalar (use BackwardWith for others)", op, FormatShape(t.shape)))
		}
		gradOut = Ones(t.shape...)
	}
	if !t.requiresGrad {
		panic(op + ": tensor does not require a gradient (no input was marked with SetRequiresGrad)")
	}
	if !SameShape(gradOut.shape, t.shape) {
		panic(fmt.Sprintf("%s: gradient shape %s does not match tensor shape %s", op, FormatShape(gradOut.shape), FormatShape(t.shape)))
	}
	if t.node == nil {
		t.accumulate(gradOut)
		return
	}
	t.node.checkLive()
	rc := gradRefs{start: bufSeq.Load(), seed: storageKey(gradOut), refs: map[*float32]*storageRef{}}
	order, index := topoOrder(t)
	// grads[i] is the gradient accumulated so far for order[i].
	grads := make([]*Tensor, len(order))
	grads[index[t]] = gradOut
	rc.hold(gradOut)
	for i := len(order) - 1; i >= 0; i-- {
		cur := order[i]
		g := grads[i]
		grads[i] = nil
		if cur.node == nil {
			if g != nil {
				cur.accumulateFrom(g, &rc)
			}
			continue
		}
		n := cur.node
		cur.node = &node{op: n.op} // free the graph as we go, remembering that cur is not a leaf
		if g == nil {
			continue
		}
		inGrads := n.backward(g)
		if len(inGrads) != len(n.inputs) {
			panic(fmt.Sprintf("tensor.Backward: %s returned %d gradients for %d inputs", n.op, len(inGrads), len(n.inputs)))
		}
		for j, in := range n.inputs {
			gi := inGrads[j]
			if in == nil || !in.requiresGrad || gi == nil {
				inGrads[j] = nil
				continue
			}
			if !SameShape(gi.shape, in.shape) {
				panic(fmt.Sprintf("tensor.Backward: %s returned gradient of shape %s for input %d of shape %s", n.op, FormatShape(gi.shape), j, FormatShape(in.shape)))
			}
			rc.hold(gi)
		}
		rc.drop(g) // cur's gradient is used up, unless an input's gradient shares it
		for j, in := range n.inputs {
			gi := inGrads[j]
			if gi == nil {
				continue
			}
			k := index[in]
			if prev := grads[k]; prev != nil {
				grads[k] = rc.add(prev, gi)
			} else {
				grads[k] = gi
			}
		}
	}
	if release {
		releaseGraph(t, order)
	}
}

// topoOrder returns the tensors that t depends on and that require a
// gradient, t included, each after all of its inputs (iterative depth-first
// search), and each tensor's position in that order.
func topoOrder(t *Tensor) ([]*Tensor, map[*Tensor]int) {
	var order []*Tensor
	index := map[*Tensor]int{t: -1} // -1: visited, not yet placed
	type frame struct {
		t    *Tensor
		next int
	}
	stack := []frame{{t, 0}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.t.node != nil && f.next < len(f.t.node.inputs) {
			in := f.t.node.inputs[f.next]
			f.next++
			if in != nil && in.requiresGrad {
				if _, seen := index[in]; !seen {
					if in.node != nil {
						in.node.checkLive()
					}
					index[in] = -1
					stack = append(stack, frame{in, 0})
				}
			}
			continue
		}
		index[f.t] = len(order)
		order = append(order, f.t)
		stack = stack[:len(stack)-1]
	}
	return order, index
}

// storageKey identifies a tensor's storage: the address of its first
// element (views made by Reshape or Detach share it), nil when it is empty.
func storageKey(t *Tensor) *float32 {
	if len(t.data) == 0 {
		return nil
	}
	return &t.data[0]
}

// gradRefs counts, during one Backward call, how many pending gradients
// share each storage, so that a gradient buffer autograd allocated can be
// updated in place when nothing else sees it and recycled when the last
// gradient using it is consumed.
type gradRefs struct {
	start uint64   // bufSeq when the call started: later buffers are the call's own
	seed  *float32 // the seed's storage, which belongs to the caller
	refs  map[*float32]*storageRef
}

type storageRef struct {
	n   int       // pending gradients using the storage
	buf []float32 // the storage, when autograd allocated it in this call
}

// own reports whether g's storage was allocated during this call for g
// itself (not a view, not the seed): a gradient computed by a backward
// function, which nothing outside autograd keeps.
func (r *gradRefs) own(g *Tensor) bool {
	return g.bufID > r.start && storageKey(g) != r.seed
}

func (r *gradRefs) hold(g *Tensor) {
	k := storageKey(g)
	if k == nil {
		return
	}
	e := r.refs[k]
	if e == nil {
		e = &storageRef{}
		r.refs[k] = e
	}
	e.n++
	if e.buf == nil && r.own(g) {
		e.buf = g.data
	}
}

// drop releases one pending use of g's storage and recycles the storage
// when it was the last one and autograd allocated it.
func (r *gradRefs) drop(g *Tensor) {
	k := storageKey(g)
	if k == nil {
		return
	}
	e := r.refs[k]
	e.n--
	if e.n > 0 {
		return
	}
	delete(r.refs, k)
	if e.buf != nil {
		putBuf(e.buf)
	}
}

// exclusive reports whether g is autograd's own buffer and the only pending
// gradient using its storage, so that it may be changed in place.
func (r *gradRefs) exclusive(g *Tensor) bool {
	k := storageKey(g)
	return k != nil && r.own(g) && r.refs[k].n == 1
}

// add returns prev + gi, the sum of two gradients for the same tensor, in
// the storage of either when it is exclusively autograd's (addition is
// commutative, so the result is the same bit for bit), else in a new buffer.
func (r *gradRefs) add(prev, gi *Tensor) *Tensor {
	if storageKey(prev) != storageKey(gi) {
		if r.exclusive(prev) {
			addTo(prev.data, gi.data)
			r.drop(gi)
			return prev
		}
		if r.exclusive(gi) {
			addTo(gi.data, prev.data)
			r.drop(prev)
			return gi
		}
	}
	out := empty(prev.shape...)
	cpu.ParallelGrain(len(out.data), elementGrain, func(lo, hi int) {
		applyBinary(binAdd, out.data[lo:hi], prev.data[lo:hi], gi.data[lo:hi], 1, 1)
	})
	r.drop(prev)
	r.drop(gi)
	r.hold(out)
	return out
}

// addTo adds src into dst element by element, on all threads for large
// slices.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	cpu.ParallelGrain(len(dst), elementGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i, v := range s {
			d[i] += v
		}
	})
}

// checkLive panics when Backward has already run through n and freed it.
func (n *node) checkLive() {
	if n.backward == nil {
		panic(fmt.Sprintf("tensor.Backward: trying to backward through %s a second time; the graph is freed by Backward (run the forward pass again)", n.op))
	}
}

// accumulate adds g into t.grad, copying g the first time so that the
// gradient never aliases another tensor's storage.
func (t *Tensor) accumulate(g *Tensor) {
	if t.grad == nil {
		t.grad, t.gradOwned = g.Clone(), true
		return
	}
	addTo(t.grad.data, g.data)
}

// accumulateFrom is accumulate for a gradient computed by Backward: when
// autograd owns g alone, the leaf takes g itself instead of a copy.
func (t *Tensor) accumulateFrom(g *Tensor, r *gradRefs) {
	if t.grad == nil && r.exclusive(g) {
		k := storageKey(g)
		delete(r.refs, k) // handed over to the leaf, not recycled
		g.bufID = 0
		t.grad, t.gradOwned = g, true
		return
	}
	t.accumulate(g)
	r.drop(g)
}

// releaseGraph empties the intermediate results in order (every tensor
// but the leaves and t) and returns their pooled storage to the buffer
// pool, each storage once, except storage that a leaf or t shares.
func releaseGraph(t *Tensor, order []*Tensor) {
	keep := map[*float32]bool{storageKey(t): true}
	for _, u := range order {
		if u.node == nil { // a leaf
			keep[storageKey(u)] = true
		}
	}
	for _, u := range order {
		if u == t || u.node == nil {
			continue
		}
		if k := storageKey(u); k != nil && !keep[k] && u.bufID != 0 {
			keep[k] = true // release each storage once
			putBuf(u.data)
		}
		u.data, u.bufID = nil, 0
	}
}
