package sam

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// Finite-difference checks of the operations models/sam defines itself; the rest of the
// model is built from operations checked in their own packages.

func TestGradWindowPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := tensor.RandNormal(rng, 0, 1, 2, 5, 7, 3).SetRequiresGrad(true)
	tensortest.GradCheck(t, "windowPartition", func(in []*tensor.Tensor) *tensor.Tensor {
		w, _, _ := windowPartition(in[0], 3)
		return w
	}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
	// 2 images of a 5×7 grid padded to 6×9: 2·2·3 windows of 3×3.
	win := tensor.RandNormal(rng, 0, 1, 12, 3, 3, 3).SetRequiresGrad(true)
	tensortest.GradCheck(t, "windowUnpartition", func(in []*tensor.Tensor) *tensor.Tensor {
		return windowUnpartition(in[0], 3, 6, 9, 5, 7)
	}, []*tensor.Tensor{win}, tensortest.GradCheckOptions{})
}

// TestWindowRoundTrip: unpartition(partition(x)) = x, and the padding is zero.
func TestWindowRoundTrip(t *testing.T) {
	x := tensor.RandNormal(rand.New(rand.NewPCG(1, 1)), 0, 1, 2, 8, 10, 4)
	w, hp, wp := windowPartition(x, 3)
	if hp != 9 || wp != 12 || !tensor.SameShape(w.Shape(), []int{2 * 3 * 4, 3, 3, 4}) {
		t.Fatalf("windows %v, padded %d×%d", w.Shape(), hp, wp)
	}
	back := windowUnpartition(w, 3, hp, wp, 8, 10)
	if tensorMaxDiff(back, x) != 0 {
		t.Fatal("round trip changed values")
	}
	// Window (img 0, row 2, col 3) covers grid rows 6–8 and columns 9–11: row 8 and
	// columns 10, 11 are padding.
	wd := w.Data()[(0*12+2*4+3)*36:]
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			for ch := 0; ch < 4; ch++ {
				v := wd[(r*3+c)*4+ch]
				if (r == 2 || c > 0) && v != 0 {
					t.Fatalf("padding at window row %d col %d is %v", r, c, v)
				}
			}
		}
	}
}

// TestGradAttentionRelPos checks the differentiable attention with relative positions
// (and the table interpolation) end to end through Attention.Forward.
func TestGradAttentionRelPos(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := &Attention{
		QKV:     nn.NewLinear(rng, 8, 24, true),
		Proj:    nn.NewLinear(rng, 8, 8, true),
		RelPosH: tensor.RandNormal(rng, 0, 0.5, 5, 4).SetRequiresGrad(true), // made for side 3, used on 4 rows: interpolated
		RelPosW: tensor.RandNormal(rng, 0, 0.5, 5, 4).SetRequiresGrad(true),
		Heads:   2,
	}
	x := tensor.RandNormal(rng, 0, 1, 1, 4, 3, 8).SetRequiresGrad(true)
	tensortest.GradCheck(t, "Attention", func(in []*tensor.Tensor) *tensor.Tensor {
		a.RelPosH, a.RelPosW = in[1], in[2]
		return a.Forward(in[0])
	}, []*tensor.Tensor{x, a.RelPosH, a.RelPosW}, tensortest.GradCheckOptions{})
}

// TestDecoderGraphPath: with gradients on, the decoder's differentiable attention gives
// the reference's logits too.
func TestDecoderGraphPath(t *testing.T) {
	m, g := loadGolden(t, "tiny_win")
	nn.Unfreeze(m.MaskDecoder)
	p := NewPredictor(m) // freezes; unfreeze the decoder again below
	if err := p.SetEmbedding(g["features"], [2]int{45, 70}, [2]int{41, 64}); err != nil {
		t.Fatal(err)
	}
	nn.Unfreeze(m.MaskDecoder)
	res, err := p.Predict(goldenPrompt(g, "box_point"), Options{Multimask: true})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "box_point low-res (graph)", res.LowRes, g["box_point.low_res"])
}
