package samtrain

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
)

// BenchmarkTrainStep times one training step of `fovea train sam`'s default (TinyViT
// SAM, 4 images of 64 px, up to 8 instances each, 1 + 8 rounds): forward, backward.
//
//	go test -run - -bench TrainStep -benchtime 20x ./models/sam/samtrain/
func BenchmarkTrainStep(b *testing.B) {
	cfg := DefaultConfig()
	ds, err := data.Shapes(data.ShapesConfig{Size: 64, Train: 16, Val: 4}, "train")
	if err != nil {
		b.Fatal(err)
	}
	m, err := sam.New(rand.New(rand.NewPCG(1, 2)), cfg.Model)
	if err != nil {
		b.Fatal(err)
	}
	nn.Unfreeze(m)
	var batch []Example
	for i := 0; i < cfg.Batch; i++ {
		img, masks, _ := ShapesInstances{ds}.Get(i)
		ex, _ := ToExample(img, masks, cfg.Model.ImageSize)
		batch = append(batch, ex)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loss, _ := BatchLoss(m, rng, batch, cfg.Recipe)
		for _, p := range nn.Parameters(m) {
			p.ReleaseGrad()
		}
		loss.BackwardRelease()
	}
}
