package sam

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestForwardPrepared requires MaskDecoder.ForwardPrepared to give Forward's masks and
// IoUs (within float32 rounding) on the golden models for batches of point prompts,
// single and multimask, and PrepareImage to decline a decoder that needs gradients.
func TestForwardPrepared(t *testing.T) {
	for _, name := range goldenCases {
		m, _ := loadGolden(t, name)
		nn.Freeze(m)
		c := m.Config
		g := c.Grid()
		rng := rand.New(rand.NewPCG(5, 6))
		emb := tensor.RandNormal(rng, 0, 1, 1, c.PromptEmbedDim, g, g)
		pe := m.PromptEncoder.DensePE()
		for _, bs := range []int{1, 3} {
			pts := make([]float32, 2*bs)
			labels := make([]float32, bs)
			for i := range labels {
				pts[2*i], pts[2*i+1] = rng.Float32()*float32(c.ImageSize), rng.Float32()*float32(c.ImageSize)
				labels[i] = 1
			}
			sparse, dense := m.PromptEncoder.Forward(tensor.New(pts, bs, 1, 2), tensor.New(labels, bs, 1), nil, nil)
			img := m.MaskDecoder.PrepareImage(emb, pe, dense)
			if img == nil {
				t.Fatalf("%s: PrepareImage declined a frozen model", name)
			}
			for _, multi := range []bool{false, true} {
				wm, wi := m.MaskDecoder.Forward(emb, pe, sparse, dense, multi)
				gm, gi := m.MaskDecoder.ForwardPrepared(img, sparse, multi)
				if e := scaledErr(gm.Data(), wm.Data()); !(e <= 5e-5) || !tensor.SameShape(gm.Shape(), wm.Shape()) {
					t.Errorf("%s batch %d multimask %v: masks %s, want %s, max scaled error %.3g", name, bs, multi,
						tensor.FormatShape(gm.Shape()), tensor.FormatShape(wm.Shape()), e)
				}
				if e := scaledErr(gi.Data(), wi.Data()); !(e <= 5e-5) || !tensor.SameShape(gi.Shape(), wi.Shape()) {
					t.Errorf("%s batch %d multimask %v: IoU max scaled error %.3g", name, bs, multi, e)
				}
			}
		}
		nn.Unfreeze(m)
		_, dense := m.PromptEncoder.Forward(nil, nil, tensor.New([]float32{1, 2, 30, 40}, 1, 4), nil)
		if m.MaskDecoder.PrepareImage(emb, pe, dense.Detach()) != nil {
			t.Errorf("%s: PrepareImage accepted a decoder whose parameters require gradients", name)
		}
	}
}
