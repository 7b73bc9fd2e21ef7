package samtrain

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// loadTiny loads the step fixture's model: tiny_win's architecture with
// segment-anything's own initialisation (scripts/golden_samtrain.py), unfrozen.
func loadTiny(t testing.TB) *sam.Model {
	t.Helper()
	td := filepath.Join("..", "..", "..", "testdata")
	m, err := sam.Load(filepath.Join(td, "samtrain", "step_model.pth"), filepath.Join(td, "sam", "tiny_win.json"))
	if err != nil {
		t.Fatal(err)
	}
	nn.Unfreeze(m)
	return m
}

// TestStepGolden: one training step of SAM's recipe (first prompts, a round of corrective
// clicks, a mask-only round) on the tiny fixture gives the loss and every parameter's
// gradient of segment-anything's modules doing the same step in PyTorch (in float64;
// PyTorch's own float32 step is within 5e-5 of it). The key projections' biases are
// left out: softmax cancels them, their true gradient is 0 and both sides hold rounding
// noise.
func TestStepGolden(t *testing.T) {
	g := golden(t, "step.safetensors")
	m := loadTiny(t)
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
	first := []Prompt{
		{Points: [][2]float32{{15, 20}}, Labels: []int{1}},
		{Box: &box},
		{Points: [][2]float32{{12, 50}}, Labels: []int{1}},
	}
	cd := g("clicks").Data()
	click := func(i int, pred, gt []bool) ([2]float32, int, bool) {
		if len(pred) != h*w || len(gt) != h*w {
			t.Fatalf("click %d: pred %d, gt %d pixels", i, len(pred), len(gt))
		}
		return [2]float32{cd[3*i], cd[3*i+1]}, int(cd[3*i+2]), true
	}
	emb := Embed(m, []*tensor.Tensor{img})
	loss, st := ImageLoss(m, emb, [2]int{h, w}, gts, first, 1, 1, click, DefaultRecipe())
	want := float64(g("loss").Data()[0])
	if e := math.Abs(float64(loss.Item())-want) / want; e > 1e-5 {
		t.Errorf("loss %v, PyTorch %v (rel err %.3g)", loss.Item(), want, e)
	}
	t.Logf("loss %v, first IoU %.3f, last %.3f", loss.Item(), st.FirstIoU, st.LastIoU)
	loss.Backward()
	worst, worstName := 0.0, ""
	for _, p := range nn.NamedParameters(m) {
		if strings.HasSuffix(p.Name, "k_proj.bias") {
			continue
		}
		ref := g("grad." + p.Name)
		if p.Tensor.Grad() == nil {
			t.Errorf("%s: no gradient", p.Name)
			continue
		}
		want := make([]float64, len(ref.Data()))
		for i, v := range ref.Data() {
			want[i] = float64(v)
		}
		// Relative to the tensor's largest gradient (elements 1000× smaller are judged
		// against that floor).
		e := tensortest.MaxScaledRelErr(p.Tensor.Grad().Data(), want, 1e-2)
		if e > worst {
			worst, worstName = e, p.Name
		}
		if e > 1e-4 {
			t.Errorf("%s: gradient max rel err %.3g", p.Name, e)
		}
	}
	t.Logf("worst gradient rel err %.3g (%s) over %d tensors", worst, worstName, len(nn.NamedParameters(m)))
}
