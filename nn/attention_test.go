package nn

import (
	"strconv"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestMultiheadAttentionGolden(t *testing.T) {
	for _, c := range []struct {
		name       string
		bias       bool
		perHead    bool
		need       bool
		boolMask   bool
		embed, hds int
	}{
		{"mha_self", true, false, true, false, 8, 2},
		{"mha_cross_bool_masks", true, true, true, true, 8, 2},
		{"mha_float_mask_nobias", false, false, false, false, 8, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := readFixture(t, c.name)
			if f.meta["heads"] != strconv.Itoa(c.hds) {
				t.Fatalf("fixture heads %q", f.meta["heads"])
			}
			m := NewMultiheadAttention(newRng(21), c.embed, c.hds, c.bias)
			f.load(t, m)
			q := f.input(t, "q")
			k, v := q, q
			if _, ok := f.tensors["in.k"]; ok {
				k, v = f.input(t, "k"), f.input(t, "v")
			}
			opt := AttentionOptions{NeedWeights: c.need, PerHeadWeights: c.perHead, BoolAttnMask: c.boolMask}
			if mt, ok := f.tensors["in.mask_kpm"]; ok {
				opt.KeyPaddingMask = mt
			}
			if mt, ok := f.tensors["in.mask_attn"]; ok {
				opt.AttnMask = mt
			}
			y, w := m.Attend(q, k, v, opt)
			f.check(t, "out.y", y, 1e-5)
			if c.need {
				f.check(t, "out.w", w, 1e-5)
			}
			loss := tensor.SumAll(tensor.Mul(y, f.get(t, "gout.y")))
			if c.need {
				loss = tensor.Add(loss, tensor.SumAll(tensor.Mul(w, f.get(t, "gout.w"))))
			}
			loss.Backward()
			f.check(t, "grad.in.q", q.Grad(), 1e-5)
			if k != q {
				f.check(t, "grad.in.k", k.Grad(), 1e-5)
				f.check(t, "grad.in.v", v.Grad(), 1e-5)
			}
			f.checkGrads(t, m, 1e-5)
		})
	}
}

func TestMultiheadAttentionDropoutAndGradCheck(t *testing.T) {
	rng := newRng(22)
	m := NewMultiheadAttention(rng, 4, 2, true)
	for _, p := range Parameters(m) {
		for i := range p.Data() {
			p.Data()[i] += 0.2 * float32(rng.NormFloat64())
		}
	}
	q := tensor.RandNormal(rng, 0, 1, 2, 3, 4).SetRequiresGrad(true)
	kv := tensor.RandNormal(rng, 0, 1, 2, 2, 4).SetRequiresGrad(true)
	mask := tensor.FromSlice([]float32{0, 0, 0, 1}, 2, 2)
	tensortest.GradCheck(t, "MultiheadAttention", func(in []*tensor.Tensor) *tensor.Tensor {
		out, _ := m.Attend(in[0], in[1], in[1], AttentionOptions{KeyPaddingMask: mask})
		return out
	}, append([]*tensor.Tensor{q, kv}, Parameters(m)...), tensortest.GradCheckOptions{})

	// Dropout on the weights applies in training mode only.
	m.Dropout = 0.5
	_, w := m.Attend(q, kv, kv, AttentionOptions{NeedWeights: true, PerHeadWeights: true})
	zeros := 0
	for _, v := range w.Data() {
		if v == 0 {
			zeros++
		}
	}
	if zeros == 0 {
		t.Fatal("no attention weight dropped in training mode")
	}
	Eval(m)
	_, w = m.Attend(q, kv, kv, AttentionOptions{NeedWeights: true})
	for i := 0; i < 6; i++ {
		var s float32
		for j := 0; j < 2; j++ {
			s += w.Data()[i*2+j]
		}
		if s < 0.9999 || s > 1.0001 {
			t.Fatalf("eval-mode weights row %d sums to %v", i, s)
		}
	}
}
