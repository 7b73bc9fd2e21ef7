package gcn

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// TestMatchesPyTorchTwin loads the weights of bench/train_torch.py's GCN
// (written by scripts/golden_gcn.py) by state-dict name and compares the
// eval-mode output: the same names, shapes and arithmetic.
func TestMatchesPyTorchTwin(t *testing.T) {
	for _, up := range Upsamplers {
		t.Run(up, func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join("..", "..", "testdata", "gcn", up+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			get := func(name string) *tensor.Tensor {
				d, s, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				return tensor.New(d, s...)
			}
			cfg := Config{NumClasses: 7, Backbone: "resnet18", Width: 1.0 / 32, K: 7, Upsampler: up, BR: true}
			m, err := New(rand.New(rand.NewPCG(1, 2)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			sd := map[string]*tensor.Tensor{}
			for _, name := range f.Names() {
				if name != "x" && name != "y" {
					sd[name] = get(name)
				}
			}
			rep, err := nn.LoadStateDict(m, sd, true)
			if err != nil {
				t.Fatalf("%v (%s)", err, rep.String()[:min(200, len(rep.String()))])
			}
			nn.SetTraining(m, false)
			got := m.Forward(get("x"))
			tensortest.CheckTensor(t, "gcn/eval/"+up+"/y", got, get("y"), 1e-4)
		})
	}
}

func TestShapesAndGradients(t *testing.T) {
	for _, bb := range []string{"resnet18", "resnet50"} {
		for _, k := range []int{1, 7} {
			for _, br := range []bool{true, false} {
				cfg := Config{NumClasses: 3, Backbone: bb, Width: 1.0 / 16, K: k, Upsampler: "pixelshuffle", BR: br}
				m, err := New(rand.New(rand.NewPCG(3, 4)), cfg)
				if err != nil {
					t.Fatal(err)
				}
				x := tensor.RandNormal(rand.New(rand.NewPCG(5, 6)), 0, 1, 2, 3, 64, 32)
				y := m.Forward(x)
				if !tensor.SameShape(y.Shape(), []int{2, 3, 64, 32}) {
					t.Fatalf("%+v: output %v", cfg, y.Shape())
				}
				tensor.MeanAll(y).Backward()
				for _, p := range nn.NamedParameters(m) {
					if p.Tensor.Grad() == nil {
						t.Errorf("%+v: %s got no gradient", cfg, p.Name)
					}
				}
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{NumClasses: 0, Backbone: "resnet18", Width: 1, K: 7, Upsampler: "bilinear"},
		{NumClasses: 2, Backbone: "vgg16", Width: 1, K: 7, Upsampler: "bilinear"},
		{NumClasses: 2, Backbone: "resnet18", Width: 0, K: 7, Upsampler: "bilinear"},
		{NumClasses: 2, Backbone: "resnet18", Width: 1, K: 6, Upsampler: "bilinear"},
		{NumClasses: 2, Backbone: "resnet18", Width: 1, K: 7, Upsampler: "nearest"},
	}
	for _, c := range bad {
		if _, err := New(rand.New(rand.NewPCG(0, 0)), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
