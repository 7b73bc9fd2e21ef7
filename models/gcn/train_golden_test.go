package gcn

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// TestTrainModeMatchesPyTorchTwin rules out an implementation cause for the
// large-kernel question (issue 17): for k = 1, 7 and 15 the GCN in train mode
// (BatchNorm on batch statistics) gives PyTorch's logits, loss, every
// parameter gradient and running statistics on the same weights and batch
// (scripts/golden_gcn_train.py), and ten AdamW steps on that batch give
// PyTorch's losses.
func TestTrainModeMatchesPyTorchTwin(t *testing.T) {
	for _, k := range []int{1, 7, 15} {
		t.Run(fmt.Sprint("k=", k), func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join("..", "..", "testdata", "gcn", fmt.Sprintf("train_k%d.safetensors", k)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			get := func(name string) *tensor.Tensor {
				d, s, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if len(s) == 0 {
					return tensor.Scalar(d[0]) // num_batches_tracked, loss
				}
				return tensor.New(d, s...)
			}
			cfg := Config{NumClasses: 7, Backbone: "resnet18", Width: 1.0 / 32, K: k, Upsampler: "bilinear", BR: true}
			newModel := func() *Model {
				m, err := New(rand.New(rand.NewPCG(1, 2)), cfg)
				if err != nil {
					t.Fatal(err)
				}
				sd := map[string]*tensor.Tensor{}
				for _, name := range f.Names() {
					if !strings.Contains(name, ".") && name != "num_batches_tracked" || strings.HasPrefix(name, "grad.") || strings.HasPrefix(name, "after.") {
						continue
					}
					sd[name] = get(name)
				}
				if _, err := nn.LoadStateDict(m, sd, true); err != nil {
					t.Fatal(err)
				}
				nn.SetTraining(m, true)
				return m
			}
			x, target := get("x"), get("target")
			ce := tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(255)}

			m := newModel()
			logits := m.Forward(x)
			loss := tensor.CrossEntropy(logits, target, ce)
			loss.Backward()
			// Every comparison is golden.Check, the one golden measure.
			check := func(what string, got []float32, want *tensor.Tensor, tol float64) float64 {
				t.Helper()
				return golden.Check(t, fmt.Sprintf("gcn/k=%d/%s", k, what), got, want.Data(), tol)
			}
			check("logits", logits.Data(), get("logits"), 5e-4) // batch statistics of 1/32-width layers amplify float32 rounding
			check("loss", loss.Data(), get("loss"), 1e-5)
			worst, worstName := 0.0, ""
			for _, p := range nn.NamedParameters(m) {
				if p.Tensor.Grad() == nil {
					t.Fatalf("%s: no gradient", p.Name)
				}
				if e := check("grad."+p.Name, p.Tensor.Grad().Data(), get("grad."+p.Name), 1e-3); !(e <= worst) {
					worst, worstName = e, p.Name
				}
			}
			t.Logf("k=%d: worst parameter-gradient error %.2g (%s)", k, worst, worstName)
			for _, b := range nn.StateDictEntries(m) {
				if strings.HasSuffix(b.Name, "running_mean") || strings.HasSuffix(b.Name, "running_var") {
					check("running statistics "+b.Name, b.Tensor.Data(), get("after."+b.Name), 1e-4)
				}
			}

			// Ten AdamW steps on the same batch follow PyTorch's loss curve.
			m = newModel()
			opt := optim.NewAdamW([]optim.ParamGroup{{Params: nn.Parameters(m)}}, optim.AdamWOptions{LR: 1e-3, WeightDecay: 1e-4})
			want := get("losses").Data()
			got := make([]float32, len(want))
			for i := range want {
				for _, p := range nn.Parameters(m) {
					p.ZeroGrad()
				}
				l := tensor.CrossEntropy(m.Forward(x), target, ce)
				l.Backward()
				opt.Step()
				got[i] = l.Item()
			}
			worstStep := golden.Check(t, fmt.Sprintf("gcn/k=%d/adamw losses", k), got, want, 1e-3)
			t.Logf("k=%d: ten AdamW steps, loss %.5f → %.5f (PyTorch %.5f → %.5f), worst relative difference %.2g", k, got[0], got[len(got)-1], want[0], want[len(want)-1], worstStep)
		})
	}
}
