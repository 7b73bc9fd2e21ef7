package samtrain

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
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

// BenchmarkGoldenStep times the step of TestStepGolden (forward and backward) — the twin
// of scripts/golden_samtrain.py --bench, which times the same step in PyTorch:
//
//	go test -run - -bench GoldenStep -benchtime 20x ./models/sam/samtrain/
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/golden_samtrain.py --sam-src DIR --bench 20
func BenchmarkGoldenStep(b *testing.B) {
	g := golden(b, "step.safetensors")
	m := loadTiny(b)
	img := g("image")
	h, w := img.SizeOf(1), img.SizeOf(2)
	md := g("masks").Data()
	gts := make([][]bool, 3)
	for i := range gts {
		gts[i] = make([]bool, h*w)
		for q := range gts[i] {
			gts[i][q] = md[i*h*w+q] > 0.5
		}
	}
	box := [4]float32{23, 28, 46, 57}
	first := []Prompt{{Points: [][2]float32{{15, 20}}, Labels: []int{1}}, {Box: &box}, {Points: [][2]float32{{12, 50}}, Labels: []int{1}}}
	cd := g("clicks").Data()
	click := func(i int, _, _ []bool) ([2]float32, int, bool) {
		return [2]float32{cd[3*i], cd[3*i+1]}, int(cd[3*i+2]), true
	}
	params := nn.Parameters(m)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range params {
			p.ReleaseGrad()
		}
		emb := Embed(m, []*tensor.Tensor{img})
		loss, _ := ImageLoss(m, emb, [2]int{h, w}, gts, first, 1, 1, click, DefaultRecipe())
		loss.BackwardRelease()
	}
}
