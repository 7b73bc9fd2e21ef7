package automask

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// The benchmarks use a vit_b-sized model with random weights and a random image
// embedding of a 1024×768 image (W×H; the encoder is not timed).

func vitB(tb testing.TB) (*sam.Model, *tensor.Tensor) {
	tb.Helper()
	m, err := sam.New(rand.New(rand.NewPCG(1, 2)), sam.VitB())
	if err != nil {
		tb.Fatal(err)
	}
	nn.Freeze(m)
	emb := tensor.RandNormal(rand.New(rand.NewPCG(3, 4)), 0, 1, 1, 256, 64, 64)
	return m, emb
}

const benchH, benchW = 768, 1024

// BenchmarkGridDecoder is the 1,024 prompts of a 32×32 point grid through the prompt
// encoder and mask decoder (multimask, low-resolution logits), as the generator runs
// them (DecodePoints): batches of 64 points, decoded decoderBatch prompts at a time.
func BenchmarkGridDecoder(b *testing.B) {
	m, emb := vitB(b)
	g, err := New(m, DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	nh, nw := sam.PreprocessShape(benchH, benchW, m.Config.ImageSize)
	grid := BuildPointGrid(32)
	pts := make([][2]float64, len(grid))
	for i, p := range grid {
		pts[i] = [2]float64{p[0] * float64(nw), p[1] * float64(nh)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.DecodePoints(emb, pts, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*len(pts)), "ms/prompt")
}

// BenchmarkGenerate is the whole generator (32×32 points, no crops) from a cached
// embedding: "default" with the default options, which with random weights drop most
// masks at the predicted-IoU filter, and "keep-all" with no IoU or stability filter, so
// that every one of the 3,072 masks is upscaled, scored, boxed and run-length encoded.
func BenchmarkGenerate(b *testing.B) {
	m, emb := vitB(b)
	pix := make([]uint8, benchH*benchW*3)
	keepAll := DefaultOptions()
	keepAll.PredIoUThresh, keepAll.StabilityScoreThresh = 0, 0
	for _, c := range []struct {
		name string
		opt  Options
	}{{"default", DefaultOptions()}, {"keep-all", keepAll}} {
		b.Run(c.name, func(b *testing.B) {
			g, err := New(m, c.opt)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for i := 0; i < b.N; i++ {
				recs, err := g.GenerateWithEmbedding(pix, benchH, benchW, emb)
				if err != nil {
					b.Fatal(err)
				}
				n = len(recs)
			}
			b.ReportMetric(float64(n), "masks")
		})
	}
}
