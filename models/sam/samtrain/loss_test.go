package samtrain

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func golden(t testing.TB, name string) func(string) *tensor.Tensor {
	t.Helper()
	f, err := safetensors.Open(filepath.Join("..", "..", "..", "testdata", "samtrain", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func(k string) *tensor.Tensor {
		d, s, err := f.Float32(k)
		if err != nil {
			t.Fatal(err)
		}
		return tensor.New(d, s...)
	}
}

// TestLossesGolden: focal and dice against torchvision's sigmoid_focal_loss and DETR's
// dice_loss (scripts/golden_samtrain.py), values and gradients.
func TestLossesGolden(t *testing.T) {
	g := golden(t, "losses.safetensors")
	x, y := g("x").SetRequiresGrad(true), g("y")
	for _, c := range []struct {
		name string
		f    func(x, y *tensor.Tensor) *tensor.Tensor
	}{
		{"focal", func(x, y *tensor.Tensor) *tensor.Tensor { return SigmoidFocalLoss(x, y, FocalAlpha, FocalGamma) }},
		{"dice", func(x, y *tensor.Tensor) *tensor.Tensor { return DiceLoss(x, y, DiceSmooth) }},
	} {
		x.ZeroGrad()
		l := c.f(x, y)
		if e := tensortest.MaxRelErr(l.Data(), g(c.name).Data(), 1e-6); e > 1e-5 {
			t.Errorf("%s values: max rel err %.3g\n got %v\nwant %v", c.name, e, l.Data(), g(c.name).Data())
		}
		tensor.SumAll(l).Backward()
		if e := tensortest.MaxRelErr(x.Grad().Data(), g(c.name+"_grad").Data(), 1e-6); e > 1e-4 {
			t.Errorf("%s gradient: max rel err %.3g", c.name, e)
		}
	}
}

// TestLossesGradCheck: finite differences, with soft targets and both α settings.
func TestLossesGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.RandNormal(rng, 0, 1.5, 3, 4, 4).SetRequiresGrad(true)
	y := tensor.RandUniform(rng, 0, 1, 3, 4, 4)
	for _, alpha := range []float64{FocalAlpha, -1} {
		tensortest.GradCheck(t, "SigmoidFocalLoss", func(in []*tensor.Tensor) *tensor.Tensor {
			return SigmoidFocalLoss(in[0], y, alpha, FocalGamma)
		}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
	}
	tensortest.GradCheck(t, "DiceLoss", func(in []*tensor.Tensor) *tensor.Tensor {
		return DiceLoss(in[0], y, DiceSmooth)
	}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
}
