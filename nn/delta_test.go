package nn

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// addDelta is a Delta adding x·Mᵀ (a linear map of the input) to the output
// and recording what it was called with.
type addDelta struct {
	m     *tensor.Tensor
	gotX  *tensor.Tensor
	calls int
}

func (d *addDelta) Forward(x, y *tensor.Tensor) *tensor.Tensor {
	d.gotX, d.calls = x, d.calls+1
	return tensor.Add(y, Affine(x, d.m, nil))
}

// scaleDelta doubles the output (any layer).
type scaleDelta struct{ calls int }

func (d *scaleDelta) Forward(x, y *tensor.Tensor) *tensor.Tensor {
	d.calls++
	return tensor.MulScalar(y, 2)
}

type weightDelta struct{ dw *tensor.Tensor }

func (d weightDelta) DeltaWeight() *tensor.Tensor { return d.dw }

// maxDiff is golden.Err of a against b: 0 only when they are equal.
func maxDiff(a, b *tensor.Tensor) float64 {
	return golden.Err(a.Data(), b.Data())
}

// TestLinearDelta: Forward returns Delta.Forward(x, y); the hook is invisible
// to the state dict, the parameters and the module tree, and nil changes
// nothing.
func TestLinearDelta(t *testing.T) {
	rng := newRng(11)
	l := NewLinear(rng, 4, 3, true)
	x := tensor.RandNormal(rng, 0, 1, 2, 4)
	plain := l.Forward(x)
	names := func() []string {
		var out []string
		for _, n := range StateDictEntries(l) {
			out = append(out, n.Name)
		}
		for _, m := range NamedModules(l) {
			out = append(out, "module:"+m.Name)
		}
		return out
	}
	before := names()
	d := &addDelta{m: tensor.RandNormal(rng, 0, 1, 3, 4).SetRequiresGrad(true)}
	l.Delta = d
	y := l.Forward(x)
	if d.calls != 1 || d.gotX != x {
		t.Fatalf("Delta called %d times with x %p, want once with %p", d.calls, d.gotX, x)
	}
	want := tensor.Add(plain, Affine(x, d.m, nil))
	if e := maxDiff(y, want); e > 0 {
		t.Errorf("Linear with Delta: max error %g", e)
	}
	if after := names(); len(after) != len(before) || len(Parameters(l)) != 2 {
		t.Errorf("state dict and modules with a Delta: %v, before %v; %d parameters", after, before, len(Parameters(l)))
	}
	// The gradient reaches the hook's own tensor.
	tensortest.GradCheck(t, "Linear.Delta", func(in []*tensor.Tensor) *tensor.Tensor {
		d.m = in[0]
		return l.Forward(in[1])
	}, []*tensor.Tensor{d.m, x.Clone().SetRequiresGrad(true)}, tensortest.GradCheckOptions{})
	l.Delta = nil
	if e := maxDiff(l.Forward(x), plain); e > 0 {
		t.Errorf("Linear after removing Delta differs by %g", e)
	}
}

// TestConvEmbeddingDelta: Conv2d (both its padding paths) and Embedding call
// their Delta with their input.
func TestConvEmbeddingDelta(t *testing.T) {
	rng := newRng(12)
	for _, mode := range []PaddingMode{PadZeros, PadReflect} {
		c := NewConv2d(rng, Conv2dConfig{In: 2, Out: 3, Kernel: Pair(3), Padding: Pair(1), PaddingMode: mode})
		x := tensor.RandNormal(rng, 0, 1, 1, 2, 5, 5)
		plain := c.Forward(x)
		d := &scaleDelta{}
		c.Delta = d
		if e := maxDiff(c.Forward(x), tensor.MulScalar(plain, 2)); e > 0 || d.calls != 1 {
			t.Errorf("Conv2d (padding mode %d) with Delta: error %g, %d calls", mode, e, d.calls)
		}
		if n := len(StateDict(c)); n != 2 {
			t.Errorf("Conv2d with Delta: %d state-dict entries, want 2", n)
		}
	}
	e := NewEmbedding(rng, 5, 3)
	idx := tensor.FromSlice([]float32{0, 4, 2}, 3)
	plain := e.Forward(idx)
	d := &addDelta{}
	e.Delta = &indexDelta{d}
	y := e.Forward(idx)
	if d.gotX != idx {
		t.Error("Embedding's Delta did not get the indices")
	}
	if err := tensortest.AllClose(y, tensor.AddScalar(plain, 1), 0, 0); err != nil {
		t.Errorf("Embedding with Delta: %v", err)
	}
}

// indexDelta adds 1 and records the indices.
type indexDelta struct{ d *addDelta }

func (i *indexDelta) Forward(x, y *tensor.Tensor) *tensor.Tensor {
	i.d.gotX = x
	return tensor.AddScalar(y, 1)
}

// TestMultiheadAttentionInProjDelta: with InProjDelta the attention is that
// of in_proj_weight + ΔW, on the self- and cross-attention paths, and the
// gradient reaches ΔW.
func TestMultiheadAttentionInProjDelta(t *testing.T) {
	rng := newRng(13)
	m := NewMultiheadAttention(rng, 4, 2, true)
	Normal(rng, m.InProjBias, 0, 0.1)
	dw := tensor.RandNormal(rng, 0, 0.3, 12, 4).SetRequiresGrad(true)
	ref := &MultiheadAttention{InProjWeight: tensor.Add(m.InProjWeight, dw).Detach(), InProjBias: m.InProjBias, OutProj: m.OutProj, NumHeads: 2}
	m.InProjDelta = weightDelta{dw}
	q := tensor.RandNormal(rng, 0, 1, 2, 3, 4)
	kv := tensor.RandNormal(rng, 0, 1, 2, 5, 4)
	if e := maxDiff(m.Forward(q), ref.Forward(q)); e > 1e-6 {
		t.Errorf("self-attention with InProjDelta: max error %g", e)
	}
	got, _ := m.Attend(q, kv, kv, AttentionOptions{})
	want, _ := ref.Attend(q, kv, kv, AttentionOptions{})
	if e := maxDiff(got, want); e > 1e-6 {
		t.Errorf("cross-attention with InProjDelta: max error %g", e)
	}
	if n := len(StateDict(m)); n != 4 {
		t.Errorf("MultiheadAttention with InProjDelta: %d state-dict entries, want 4", n)
	}
	tensortest.GradCheck(t, "MultiheadAttention.InProjDelta", func(in []*tensor.Tensor) *tensor.Tensor {
		m.InProjDelta = weightDelta{in[0]}
		out, _ := m.Attend(q, kv, kv, AttentionOptions{})
		return out
	}, []*tensor.Tensor{dw}, tensortest.GradCheckOptions{})
	m.InProjDelta = weightDelta{nil} // nil ΔW: plain attention
	ref.InProjWeight = m.InProjWeight
	if e := maxDiff(m.Forward(q), ref.Forward(q)); e > 0 {
		t.Errorf("nil ΔW changed the output by %g", e)
	}
}

// BenchmarkLinearForwardSmall times a small Linear's forward pass, where the
// nil-Delta comparison would show if it cost anything.
func BenchmarkLinearForwardSmall(b *testing.B) {
	l := NewLinear(newRng(1), 16, 16, true)
	x := tensor.RandNormal(newRng(2), 0, 1, 4, 16)
	b.ResetTimer()
	for range b.N {
		l.Forward(x)
	}
}
