package peft_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/peft"
	"github.com/fovea-ml/fovea/tensor"
)

// mlp is any fovea model: a struct of layers.
type mlp struct {
	Hidden *nn.Linear
	Out    *nn.Linear
}

func (m *mlp) Forward(x *tensor.Tensor) *tensor.Tensor {
	return m.Out.Forward(functional.ReLU(m.Hidden.Forward(x)))
}

// LoRA on a model's "hidden" layer: train the adapter, save it alone in
// PEFT's layout, load it onto a fresh copy of the model.
func ExampleNewModel() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := &mlp{Hidden: nn.NewLinear(rng, 16, 32, true), Out: nn.NewLinear(rng, 32, 4, true)}
	base := nn.StateDict(model)

	pm, err := peft.NewModel(model, &peft.LoraConfig{R: 4, LoraAlpha: 8, TargetModules: peft.Names("hidden")}, rng)
	if err != nil {
		panic(err)
	}
	fmt.Println(pm.TrainableReport())

	opt := optim.NewAdamW(optim.Params(pm.Parameters()...), optim.AdamWOptions{LR: 1e-2})
	x, y := tensor.RandNormal(rng, 0, 1, 8, 16), tensor.RandNormal(rng, 0, 1, 8, 4)
	for range 10 {
		opt.ZeroGrad()
		loss := tensor.MSELoss(model.Forward(x), y, tensor.ReduceMean)
		loss.Backward()
		opt.Step()
	}

	dir, _ := os.MkdirTemp("", "adapter")
	defer os.RemoveAll(dir)
	if err := pm.SavePretrained(dir); err != nil {
		panic(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}

	fresh := &mlp{Hidden: nn.NewLinear(rng, 16, 32, true), Out: nn.NewLinear(rng, 32, 4, true)}
	if _, err := nn.LoadStateDict(fresh, base, true); err != nil {
		panic(err)
	}
	if _, err := peft.FromPretrained(fresh, dir, nil, peft.LoadOptions{}); err != nil {
		panic(err)
	}
	nn.Eval(pm)
	a, b := model.Forward(x).Data(), fresh.Forward(x).Data()
	fmt.Println("same outputs:", a[0] == b[0] && a[31] == b[31])
	// Output:
	// trainable params: 192 || all params: 868 || trainable%: 22.1198
	// adapter_config.json
	// adapter_model.safetensors
	// same outputs: true
}

// Merge the adapter into the weights and get the plain model back.
func ExampleModel_MergeAndUnload() {
	rng := rand.New(rand.NewPCG(3, 4))
	model := &mlp{Hidden: nn.NewLinear(rng, 16, 32, true), Out: nn.NewLinear(rng, 32, 4, true)}
	cfg := &peft.LoraConfig{R: 2, LoraAlpha: 2, TargetModules: peft.Regex(`hidden|out`), InitLoraWeights: peft.InitRandom}
	pm, err := peft.NewModel(model, cfg, rng)
	if err != nil {
		panic(err)
	}
	x := tensor.RandNormal(rng, 0, 1, 2, 16)
	adapted := model.Forward(x)
	plain, err := pm.MergeAndUnload(true) // safe: refuses NaN/Inf weights
	if err != nil {
		panic(err)
	}
	merged := plain.(*mlp).Forward(x)
	fmt.Println("hooks removed:", model.Hidden.Delta == nil && model.Out.Delta == nil)
	fmt.Println("same outputs within 1e-5:", maxDiff(adapted.Data(), merged.Data()) < 1e-5)
	// Output:
	// hooks removed: true
	// same outputs within 1e-5: true
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		d := float64(a[i] - b[i])
		m = max(m, d, -d)
	}
	return m
}

// Approximate a full fine-tune by LoRA: truncated SVD of each weight
// difference, keeping 99% of its energy.
func ExampleExtractLoRA() {
	rng := rand.New(rand.NewPCG(5, 6))
	base := map[string]*tensor.Tensor{"proj.weight": tensor.RandNormal(rng, 0, 1, 6, 8)}
	// The fine-tune changed proj by a rank-2 update.
	delta := tensor.MatMul(tensor.RandNormal(rng, 0, 1, 6, 2), tensor.RandNormal(rng, 0, 1, 2, 8))
	tuned := map[string]*tensor.Tensor{"proj.weight": tensor.Add(base["proj.weight"], delta)}
	ck, reports, err := peft.ExtractLoRA(base, tuned, peft.ExtractOptions{TargetModules: peft.Names("proj"), Energy: 0.99})
	if err != nil {
		panic(err)
	}
	r := reports[0]
	fmt.Printf("%s: rank %d, energy %.4f, relative error below 1e-6: %v\n", r.Module, r.Rank, r.Energy, r.RelError < 1e-6)
	for _, t := range ck.Tensors {
		fmt.Println(t.Name, t.Tensor.Shape())
	}
	// Output:
	// proj: rank 2, energy 1.0000, relative error below 1e-6: true
	// base_model.model.proj.lora_A.weight [2 8]
	// base_model.model.proj.lora_B.weight [6 2]
}
