package nn

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// mhaGradTol is the tolerance of the attention gradients under the golden
// measure. The fixtures are float32 PyTorch, and the gradients sum over every
// query and key, so both sides carry float32 rounding of the order of 1e-5 of
// the tensor's scale; the key bias gradient is mathematically zero (softmax
// ignores a shift shared by all keys), so both sides of it are pure rounding
// noise. Measured worst case 4.4e-5 (mha_bias_kv_zero_attn grad.in.q, AVX-512).
const mhaGradTol = 1e-4

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
			f.check(t, "grad.in.q", q.Grad(), mhaGradTol)
			if k != q {
				f.check(t, "grad.in.k", k.Grad(), mhaGradTol)
				f.check(t, "grad.in.v", v.Grad(), mhaGradTol)
			}
			f.checkGrads(t, m, mhaGradTol)
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

// TestMultiheadAttentionLayoutsGolden: PyTorch's (L, N, E) layout, kdim and
// vdim (q/k/v_proj_weight), add_bias_kv, add_zero_attn and unbatched input
// against PyTorch 1.13 (scripts/golden_nn.py parity_cases).
func TestMultiheadAttentionLayoutsGolden(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      MultiheadAttentionConfig
		perHead  bool
		boolMask bool
	}{
		{"mha_seq_first", MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2, SequenceFirst: true}, false, false},
		{"mha_kdim_vdim", MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2, KDim: 5, VDim: 3, SequenceFirst: true}, true, false},
		{"mha_bias_kv_zero_attn", MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 4, AddBiasKV: true, AddZeroAttn: true}, false, true},
		{"mha_kdim_bias_kv_nobias", MultiheadAttentionConfig{EmbedDim: 6, NumHeads: 3, NoBias: true, AddBiasKV: true, KDim: 4, VDim: 4,
			SequenceFirst: true}, true, false},
		{"mha_unbatched", MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2, KDim: 6, VDim: 6, AddZeroAttn: true, SequenceFirst: true}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := readFixture(t, c.name)
			if f.meta["heads"] != strconv.Itoa(c.cfg.NumHeads) {
				t.Fatalf("fixture heads %q", f.meta["heads"])
			}
			m := NewMultiheadAttentionConfig(newRng(23), c.cfg)
			f.load(t, m)
			q := f.input(t, "q")
			k, v := q, q
			if _, ok := f.tensors["in.k"]; ok {
				k, v = f.input(t, "k"), f.input(t, "v")
			}
			opt := AttentionOptions{NeedWeights: true, PerHeadWeights: c.perHead, BoolAttnMask: c.boolMask}
			if mt, ok := f.tensors["in.mask_kpm"]; ok {
				opt.KeyPaddingMask = mt
			}
			if mt, ok := f.tensors["in.mask_attn"]; ok {
				opt.AttnMask = mt
			}
			y, w := m.Attend(q, k, v, opt)
			f.check(t, "out.y", y, 1e-5)
			f.check(t, "out.w", w, 1e-5)
			loss := tensor.Add(tensor.SumAll(tensor.Mul(y, f.get(t, "gout.y"))), tensor.SumAll(tensor.Mul(w, f.get(t, "gout.w"))))
			loss.Backward()
			f.check(t, "grad.in.q", q.Grad(), mhaGradTol)
			if k != q {
				f.check(t, "grad.in.k", k.Grad(), mhaGradTol)
				f.check(t, "grad.in.v", v.Grad(), mhaGradTol)
			}
			f.checkGrads(t, m, mhaGradTol)
		})
	}
}

// TestMultiheadAttentionConfigNames: the state-dict names and shapes of
// each configuration are PyTorch's.
func TestMultiheadAttentionConfigNames(t *testing.T) {
	names := func(m any) string {
		var s []string
		for _, p := range NamedParameters(m) {
			s = append(s, p.Name+tensor.FormatShape(p.Tensor.Shape()))
		}
		return strings.Join(s, " ")
	}
	rng := newRng(24)
	for _, c := range []struct {
		cfg  MultiheadAttentionConfig
		want string
	}{
		{MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2},
			"in_proj_weight(24,8) in_proj_bias(24) out_proj.weight(8,8) out_proj.bias(8)"},
		{MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2, KDim: 5, VDim: 3, AddBiasKV: true},
			"q_proj_weight(8,8) k_proj_weight(8,5) v_proj_weight(8,3) in_proj_bias(24) bias_k(1,1,8) bias_v(1,1,8) out_proj.weight(8,8) out_proj.bias(8)"},
		{MultiheadAttentionConfig{EmbedDim: 4, NumHeads: 1, KDim: 4, VDim: 6, NoBias: true},
			"q_proj_weight(4,4) k_proj_weight(4,4) v_proj_weight(4,6) out_proj.weight(4,4)"},
	} {
		if got := names(NewMultiheadAttentionConfig(rng, c.cfg)); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.cfg, got, c.want)
		}
	}
	// The plain constructor and the config agree on the packed layout.
	if a, b := names(NewMultiheadAttention(rng, 8, 2, true)), names(NewMultiheadAttentionConfig(rng, MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2})); a != b {
		t.Errorf("NewMultiheadAttention %s, config %s", a, b)
	}
}

func TestMultiheadAttentionConfigGradCheck(t *testing.T) {
	rng := newRng(25)
	m := NewMultiheadAttentionConfig(rng, MultiheadAttentionConfig{EmbedDim: 4, NumHeads: 2, KDim: 3, VDim: 5,
		AddBiasKV: true, AddZeroAttn: true, SequenceFirst: true})
	for _, p := range Parameters(m) {
		for i := range p.Data() {
			p.Data()[i] += 0.2 * float32(rng.NormFloat64())
		}
	}
	q := tensor.RandNormal(rng, 0, 1, 3, 2, 4).SetRequiresGrad(true)
	k := tensor.RandNormal(rng, 0, 1, 2, 2, 3).SetRequiresGrad(true)
	v := tensor.RandNormal(rng, 0, 1, 2, 2, 5).SetRequiresGrad(true)
	mask := tensor.FromSlice([]float32{0, 1, 0, 0}, 2, 2)
	tensortest.GradCheck(t, "MultiheadAttention kdim/vdim, bias_kv, zero attn, (L, N, E)", func(in []*tensor.Tensor) *tensor.Tensor {
		out, _ := m.Attend(in[0], in[1], in[2], AttentionOptions{KeyPaddingMask: mask})
		return out
	}, append([]*tensor.Tensor{q, k, v}, Parameters(m)...), tensortest.GradCheckOptions{})
}
