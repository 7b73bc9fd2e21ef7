package sam

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// vitB returns a vit_b-sized model with random weights, frozen for inference.
func vitB(tb testing.TB) *Model {
	tb.Helper()
	m, err := New(rand.New(rand.NewPCG(1, 2)), VitB())
	if err != nil {
		tb.Fatal(err)
	}
	nn.Freeze(m)
	return m
}

// BenchmarkEncoderVitB is the vit_b image encoder on one 1024×1024 image (the `fovea
// bench` case sam-vitb-encoder-1024).
func BenchmarkEncoderVitB(b *testing.B) {
	m := vitB(b)
	x := tensor.RandNormal(rand.New(rand.NewPCG(3, 4)), 0, 1, 1, 3, 1024, 1024)
	m.ImageEncoder.Forward(x)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.ImageEncoder.Forward(x)
	}
}

// BenchmarkPromptDecoder is one point prompt through the prompt encoder and mask decoder
// of vit_b with multimask output, from a cached embedding, to low-resolution logits.
func BenchmarkPromptDecoder(b *testing.B) {
	m := vitB(b)
	emb := tensor.RandNormal(rand.New(rand.NewPCG(3, 4)), 0, 1, 1, 256, 64, 64)
	pts := tensor.New([]float32{500, 375}, 1, 1, 2)
	lab := tensor.New([]float32{1}, 1, 1)
	pe := m.PromptEncoder.DensePE()
	run := func() {
		sp, de := m.PromptEncoder.Forward(pts, lab, nil, nil)
		m.MaskDecoder.Forward(emb, pe, sp, de, true)
	}
	run()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}
