package tensor

import "fmt"

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
	t.grad = g
}

// ZeroGrad drops t's gradient, as optimizer.zero_grad(set_to_none=True) does.
func (t *Tensor) ZeroGrad() { t.grad = nil }

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
func (t *Tensor) Backward() {
	if len(t.data) != 1 {
		panic(fmt.Sprintf("tensor.Backward: called on a tensor of shape %s; it needs a scalar (use BackwardWith for others)", FormatShape(t.shape)))
	}
	t.BackwardWith(Ones(t.shape...))
}

// BackwardWith is Backward seeded with the gradient gradOut of t's shape
// (torch's tensor.backward(gradient)).
func (t *Tensor) BackwardWith(gradOut *Tensor) {
	if !t.requiresGrad {
		panic("tensor.Backward: tensor does not require a gradient (no input was marked with SetRequiresGrad)")
	}
	if !SameShape(gradOut.shape, t.shape) {
		panic(fmt.Sprintf("tensor.Backward: gradient shape %s does not match tensor shape %s", FormatShape(gradOut.shape), FormatShape(t.shape)))
	}
	if t.node == nil {
		t.accumulate(gradOut)
		return
	}
	t.node.checkLive()
	// Topological order by iterative depth-first search.
	var order []*Tensor
	visited := map[*Tensor]bool{}
	type frame struct {
		t    *Tensor
		next int
	}
	stack := []frame{{t, 0}}
	visited[t] = true
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.t.node != nil && f.next < len(f.t.node.inputs) {
			in := f.t.node.inputs[f.next]
			f.next++
			if in != nil && in.requiresGrad && !visited[in] {
				if in.node != nil {
					in.node.checkLive()
				}
				visited[in] = true
				stack = append(stack, frame{in, 0})
			}
			continue
		}
		order = append(order, f.t)
		stack = stack[:len(stack)-1]
	}
	grads := map[*Tensor]*Tensor{t: gradOut}
	for i := len(order) - 1; i >= 0; i-- {
		cur := order[i]
		g := grads[cur]
		delete(grads, cur)
		if cur.node == nil {
			if g != nil {
				cur.accumulate(g)
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
				continue
			}
			if !SameShape(gi.shape, in.shape) {
				panic(fmt.Sprintf("tensor.Backward: %s returned gradient of shape %s for input %d of shape %s", n.op, FormatShape(gi.shape), j, FormatShape(in.shape)))
			}
			if prev, ok := grads[in]; ok {
				grads[in] = addInto(prev, gi)
			} else {
				grads[in] = gi
			}
		}
	}
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
		t.grad = g.Clone()
		return
	}
	for i, v := range g.data {
		t.grad.data[i] += v
	}
}

// addInto returns a+b, reusing a's storage when a is not shared.
func addInto(a, b *Tensor) *Tensor {
	out := Zeros(a.shape...)
	for i := range out.data {
		out.data[i] = a.data[i] + b.data[i]
	}
	return out
}
