package nn

import (
	"strconv"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
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
