package nn

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestNormGolden(t *testing.T) {
	noAffineLN := NewLayerNorm(6)
	noAffineLN.Weight, noAffineLN.Bias = nil, nil
	ln2 := NewLayerNorm(4, 5)
	ln2.Eps = 1e-6
	noAffineGN := NewGroupNorm(2, 4)
	noAffineGN.Weight, noAffineGN.Bias = nil, nil
	for _, c := range []struct {
		name string
		m    Module
	}{
		{"layernorm", NewLayerNorm(8)},
		{"layernorm_2d_shape", ln2},
		{"layernorm_noaffine", noAffineLN},
		{"layernorm2d", NewLayerNorm2d(5)},
		{"groupnorm", NewGroupNorm(3, 6)},
		{"groupnorm_one", NewGroupNorm(1, 4)},
		{"groupnorm_noaffine", noAffineGN},
	} {
		t.Run(c.name, func(t *testing.T) { runSingle(t, c.name, c.m, 1e-5) })
	}
}

func TestBatchNorm2dGolden(t *testing.T) {
	for _, c := range []struct {
		name       string
		cumulative bool
	}{{"bn2d_train", false}, {"bn2d_train_cumulative", true}} {
		t.Run(c.name, func(t *testing.T) {
			bn := NewBatchNorm2d(3)
			bn.Cumulative = c.cumulative
			f := runSingle(t, c.name, bn, 1e-5)
			// With momentum 0.1 the running statistics match PyTorch bit for
			// bit; the cumulative average within an ulp.
			for _, b := range NamedBuffers(bn) {
				want := f.get(t, "after."+b.Name)
				if c.cumulative {
					f.check(t, "after."+b.Name, b.Tensor, 1e-6)
					continue
				}
				for i, v := range b.Tensor.Data() {
					if v != want.Data()[i] {
						t.Errorf("%s[%d] = %v, PyTorch %v", b.Name, i, v, want.Data()[i])
					}
				}
			}
		})
	}
	bn := NewBatchNorm2d(3)
	Eval(bn)
	runSingle(t, "bn2d_eval", bn, 1e-5)
}

func TestNormGradCheck(t *testing.T) {
	rng := newRng(7)
	perturb := func(m any) {
		for _, p := range Parameters(m) {
			for i := range p.Data() {
				p.Data()[i] += 0.5 * float32(rng.NormFloat64())
			}
		}
	}
	bnEval := NewBatchNorm2d(3)
	tensor.RandUniform(rng, 0.5, 1.5, 3)
	copy(bnEval.RunningVar.Data(), []float32{0.7, 1.3, 2})
	copy(bnEval.RunningMean.Data(), []float32{0.1, -0.4, 0.3})
	Eval(bnEval)
	mods := []struct {
		name  string
		m     Module
		shape []int
	}{
		{"LayerNorm", NewLayerNorm(5), []int{3, 5}},
		{"LayerNorm2d", NewLayerNorm2d(4), []int{2, 4, 2, 3}},
		{"GroupNorm", NewGroupNorm(2, 4), []int{2, 4, 3}},
		{"BatchNorm2d", NewBatchNorm2d(3), []int{2, 3, 2, 2}},
		{"BatchNorm2d eval", bnEval, []int{2, 3, 2, 2}},
	}
	for _, c := range mods {
		perturb(c.m)
		x := tensor.RandNormal(rng, 0.5, 2, c.shape...).SetRequiresGrad(true)
		in := append([]*tensor.Tensor{x}, Parameters(c.m)...)
		tensortest.GradCheck(t, c.name, func(ts []*tensor.Tensor) *tensor.Tensor {
			// Parameters are read from the module; detached copies made by
			// GradCheck share their data, so rebinding is not needed.
			return c.m.Forward(ts[0])
		}, in, tensortest.GradCheckOptions{Eps: 1e-2})
	}
}

// TestNormLargeMean checks the one-pass statistics keep their precision
// when the mean dwarfs the spread.
func TestNormLargeMean(t *testing.T) {
	rng := newRng(8)
	x := tensor.AddScalar(tensor.RandNormal(rng, 0, 0.01, 4, 64), 3000)
	ln, gn := NewLayerNorm(64), NewGroupNorm(1, 4)
	ln.Eps, gn.Eps = 1e-12, 1e-12 // so that the output std is 1
	for name, y := range map[string]*tensor.Tensor{
		"LayerNorm": ln.Forward(x),
		"GroupNorm": gn.Forward(tensor.Reshape(x, 1, 4, 64)),
	} {
		m := tensor.Mean(y, nil, false).Item()
		s := tensor.Std(y, nil, 0, false).Item()
		if m < -1e-3 || m > 1e-3 || s < 0.99 || s > 1.01 {
			t.Errorf("%s of data with mean 3000, std 0.01: output mean %v, std %v", name, m, s)
		}
	}
}
