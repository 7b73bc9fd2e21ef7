package peft

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Golden tests against scripts/golden_peft.py (PEFT's LoRA math in plain
// torch, float64): outputs, input and adapter gradients, merged weights,
// merge → same outputs, unmerge → original weights. Tolerance 1e-5 under
// the one golden measure (golden.Err: max |go − torch| / max(|torch|,
// 0.01·max|torch|)); FOVEA_GOLDEN_REPORT=1 logs the figures.

const goldenTol = 1e-5

// caseTol is the tolerance of a golden case: goldenTol, except for
// MultiheadAttention, whose gradients sum over every query and key in float32
// against a float64 reference: measured worst case 2.8e-5 (lora_mha
// grad.in.x).
func caseTol(name string) float64 {
	if name == "lora_mha" {
		return 1e-4
	}
	return goldenTol
}

type linearNet struct{ L *nn.Linear }
type conv1DNet struct{ L *conv1D }
type convNet struct{ C *nn.Conv2d }
type embedNet struct{ E *nn.Embedding }
type mhaNet struct{ Attn *nn.MultiheadAttention }

func (f *fixture) metaInt(t *testing.T, k string) int {
	v, err := strconv.Atoi(f.meta[k])
	if err != nil {
		t.Fatalf("%s: metadata %q = %q", f.path, k, f.meta[k])
	}
	return v
}

func (f *fixture) metaFloat(t *testing.T, k string) float64 {
	v, err := strconv.ParseFloat(f.meta[k], 64)
	if err != nil {
		t.Fatalf("%s: metadata %q = %q", f.path, k, f.meta[k])
	}
	return v
}

// adapterTensors returns adapter name's own tensors (with their gradients)
// by PEFT name relative to module.
func adapterTensors(m *Model, name, module string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, p := range m.adapters[name].params() {
		out[strings.TrimPrefix(p.Name, keyPrefix+module+".")] = p.Tensor
	}
	return out
}

// runGolden loads the adapter tensors, runs forward and backward and
// compares; then merges, compares the merged weights and outputs, and
// unmerges.
func runGolden(t *testing.T, name string, f *fixture, pm *Model, module string, inputs []string,
	forward func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor, weights map[string]*tensor.Tensor) {
	t.Helper()
	setAdapter(t, pm, DefaultAdapter, module, f.with("lora."))
	in := map[string]*tensor.Tensor{}
	for _, k := range inputs {
		x := f.get(t, "in."+k).Clone()
		if k != "idx" {
			x.SetRequiresGrad(true)
		}
		in[k] = x
	}
	outs := forward(in)
	var loss *tensor.Tensor
	for k, y := range outs {
		check(t, name+" out."+k, y, f.get(t, "out."+k), caseTol(name))
		l := tensor.SumAll(tensor.Mul(y, f.get(t, "gout."+k)))
		if loss == nil {
			loss = l
		} else {
			loss = tensor.Add(loss, l)
		}
	}
	loss.Backward()
	for k, x := range in {
		if x.RequiresGrad() {
			check(t, name+" grad.in."+k, x.Grad(), f.get(t, "grad.in."+k), caseTol(name))
		}
	}
	own := adapterTensors(pm, DefaultAdapter, module)
	for k, want := range f.with("grad.lora.") {
		check(t, name+" grad."+k, own[k].Grad(), want, caseTol(name))
	}
	if len(weights) == 0 {
		return
	}
	before := map[string][]float32{}
	for k, w := range weights {
		before[k] = append([]float32(nil), w.Data()...)
	}
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	for k, w := range weights {
		check(t, name+" merged."+k, w, f.get(t, "merged."+k), caseTol(name))
	}
	plain := map[string]*tensor.Tensor{}
	for k, x := range in {
		plain[k] = x.Detach()
	}
	for k, y := range forward(plain) {
		check(t, name+" merged out."+k, y, outs[k], caseTol(name))
	}
	pm.Unmerge()
	for k, w := range weights {
		if d := maxAbsDiff(w.Data(), before[k]); d > 1e-6 {
			t.Errorf("%s: %s after Unmerge differs by %.3g", name, k, d)
		}
	}
}

func TestLoRALinearGolden(t *testing.T) {
	for _, name := range []string{"lora_linear", "lora_linear_rslora"} {
		f := readFixture(t, name)
		net := &linearNet{L: nn.NewLinear(newRng(1), 6, 5, true)}
		if _, err := nn.LoadStateDict(net.L, f.with("param."), true); err != nil {
			t.Fatal(err)
		}
		cfg := &LoraConfig{R: f.metaInt(t, "r"), LoraAlpha: f.metaFloat(t, "lora_alpha"), UseRSLoRA: f.meta["use_rslora"] == "True",
			TargetModules: Names("l"), InitLoraWeights: InitRandom}
		pm, err := NewModel(net, cfg, newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		if s := pm.adapters[DefaultAdapter].entries[0].layer.(*loraLayer).scale; s != f.metaFloat(t, "scaling") {
			t.Errorf("%s: scaling %v, want %v", name, s, f.metaFloat(t, "scaling"))
		}
		runGolden(t, name, f, pm, "l", []string{"x"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
			return map[string]*tensor.Tensor{"y": net.L.Forward(in["x"])}
		}, map[string]*tensor.Tensor{"weight": net.L.Weight})
	}
}

// TestLoRAFanInFanOutGolden: a Conv1D-style LinearModule (weight (in, out));
// fan_in_fan_out is set from the layer, and merging adds (B·A)ᵀ.
func TestLoRAFanInFanOutGolden(t *testing.T) {
	f := readFixture(t, "lora_fan_in_fan_out")
	net := &conv1DNet{L: &conv1D{Weight: f.get(t, "param.weight").Clone(), Bias: f.get(t, "param.bias").Clone()}}
	cfg := &LoraConfig{R: 2, LoraAlpha: 4, TargetModules: Names("l"), InitLoraWeights: InitRandom}
	pm, err := NewModel(net, cfg, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	if c := pm.Config(DefaultAdapter).(*LoraConfig); !c.FanInFanOut || len(pm.Warnings()) != 1 {
		t.Errorf("fan_in_fan_out %v, warnings %q: want it set, with one warning", c.FanInFanOut, pm.Warnings())
	}
	runGolden(t, "lora_fan_in_fan_out", f, pm, "l", []string{"x"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"y": net.L.Forward(in["x"])}
	}, map[string]*tensor.Tensor{"weight": net.L.Weight})
}

func TestLoRAConvGolden(t *testing.T) {
	cases := []struct {
		name string
		cfg  nn.Conv2dConfig
		rs   bool
	}{
		{"lora_conv", nn.Conv2dConfig{In: 3, Out: 4, Kernel: nn.Pair(3), Stride: nn.Pair(2), Padding: nn.Pair(1)}, false},
		{"lora_conv_dilated", nn.Conv2dConfig{In: 3, Out: 4, Kernel: [2]int{3, 2}, Stride: [2]int{1, 2}, Padding: [2]int{2, 1}, Dilation: [2]int{2, 1}}, true},
		{"lora_conv_1x1", nn.Conv2dConfig{In: 5, Out: 3, Kernel: nn.Pair(1)}, false},
	}
	for _, c := range cases {
		f := readFixture(t, c.name)
		net := &convNet{C: nn.NewConv2d(newRng(1), c.cfg)}
		if _, err := nn.LoadStateDict(net.C, f.with("param."), true); err != nil {
			t.Fatal(err)
		}
		cfg := &LoraConfig{R: f.metaInt(t, "r"), LoraAlpha: f.metaFloat(t, "lora_alpha"), UseRSLoRA: c.rs, TargetModules: Names("c"), InitLoraWeights: InitRandom}
		pm, err := NewModel(net, cfg, newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		runGolden(t, c.name, f, pm, "c", []string{"x"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
			return map[string]*tensor.Tensor{"y": net.C.Forward(in["x"])}
		}, map[string]*tensor.Tensor{"weight": net.C.Weight})
	}
}

func TestLoRAEmbeddingGolden(t *testing.T) {
	f := readFixture(t, "lora_embedding")
	net := &embedNet{E: nn.NewEmbeddingPadded(newRng(1), 7, 5, 2)}
	if _, err := nn.LoadStateDict(net.E, f.with("param."), true); err != nil {
		t.Fatal(err)
	}
	cfg := &LoraConfig{R: 3, LoraAlpha: 6, TargetModules: Names("e"), InitLoraWeights: InitRandom}
	pm, err := NewModel(net, cfg, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	runGolden(t, "lora_embedding", f, pm, "e", []string{"idx"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"y": net.E.Forward(in["idx"])}
	}, map[string]*tensor.Tensor{"weight": net.E.Weight})
}

// TestLoRAMultiheadAttentionGolden: LoRA on nn.MultiheadAttention's packed
// in-projection and its out_proj (PEFT's layout, <name>.base_layer.out_proj),
// self- and cross-attention.
func TestLoRAMultiheadAttentionGolden(t *testing.T) {
	f := readFixture(t, "lora_mha")
	net := &mhaNet{Attn: nn.NewMultiheadAttention(newRng(1), 8, 2, true)}
	if _, err := nn.LoadStateDict(net.Attn, f.with("param."), true); err != nil {
		t.Fatal(err)
	}
	cfg := &LoraConfig{R: 2, LoraAlpha: 4, LoraDropout: 0.5, TargetModules: Names("attn"), InitLoraWeights: InitRandom}
	pm, err := NewModel(net, cfg, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	// Training mode with lora_dropout 0.5: PEFT applies no dropout to
	// MultiheadAttention (it merges the weights for the forward pass).
	runGolden(t, "lora_mha", f, pm, "attn", []string{"x", "kv"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
		y := net.Attn.Forward(in["x"])
		yc, _ := net.Attn.Attend(in["x"], in["kv"], in["kv"], nn.AttentionOptions{})
		return map[string]*tensor.Tensor{"y": y, "yc": yc}
	}, map[string]*tensor.Tensor{"in_proj_weight": net.Attn.InProjWeight, "out_proj.weight": net.Attn.OutProj.Weight})
}

// TestBottleneckGolden: y + up(act(down(LN?(y)))) after a Linear, with each
// non-linearity and the optional LayerNorm.
func TestBottleneckGolden(t *testing.T) {
	for _, c := range []struct {
		name, act string
		ln        bool
	}{{"adapter_relu", ReLU, false}, {"adapter_gelu", GELU, false}, {"adapter_swish", Swish, false}, {"adapter_ln", GELU, true}} {
		f := readFixture(t, c.name)
		net := &linearNet{L: nn.NewLinear(newRng(1), 6, 8, true)}
		if _, err := nn.LoadStateDict(net.L, f.with("param."), true); err != nil {
			t.Fatal(err)
		}
		cfg := &BottleneckConfig{TargetModules: Names("l"), ReductionFactor: 4, NonLinearity: c.act, LayerNorm: c.ln}
		pm, err := NewModel(net, cfg, newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		runGolden(t, c.name, f, pm, "l", []string{"x"}, func(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
			return map[string]*tensor.Tensor{"y": net.L.Forward(in["x"])}
		}, nil)
		if err := pm.Merge(); err == nil || !strings.Contains(err.Error(), "cannot be merged") {
			t.Errorf("%s: Merge of a bottleneck adapter: %v, want an error", c.name, err)
		}
	}
}

// TestLoadPEFTStyleFolder loads an adapter folder written in PEFT's exact
// layout (every LoraConfig field; keys base_model.model.<module>.lora_A.weight,
// lora_embedding_A/B, <mha>.base_layer.out_proj.lora_*, bias "all" under
// base_layer names; rank_pattern and alpha_pattern) onto the tiny model and
// compares the output with the reference.
func TestLoadPEFTStyleFolder(t *testing.T) {
	// The same adapter with PEFT's older weights file, adapter_model.bin.
	bin := newTinyNet(newRng(1))
	if _, err := nn.Load(testdata("peft_style_base.safetensors"), bin, true); err != nil {
		t.Fatal(err)
	}
	// lora_dropout is 0.1: loaded for inference, the model is in evaluation mode.
	if _, err := FromPretrained(bin, testdata("peft_style_bin"), nil, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	io := readFixture(t, "peft_style_io")
	check(t, "peft_style_bin out.y", bin.Forward(io.get(t, "in.idx"), io.get(t, "in.img")), io.get(t, "out.y"), goldenTol)

	net := newTinyNet(newRng(1))
	if _, err := nn.Load(testdata("peft_style_base.safetensors"), net, true); err != nil {
		t.Fatal(err)
	}
	pm, err := FromPretrained(net, testdata("peft_style"), newRng(2), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Training() {
		t.Error("FromPretrained for inference left the model in training mode")
	}
	y := net.Forward(io.get(t, "in.idx"), io.get(t, "in.img"))
	check(t, "peft_style out.y", y, io.get(t, "out.y"), goldenTol)
	c := pm.Config(DefaultAdapter).(*LoraConfig)
	if c.R != 2 || c.LoraAlpha != 4 || c.Bias != BiasAll || c.RankPattern["fc"] != 3 || c.AlphaPattern["stem"] != 2 || !c.InferenceMode {
		t.Errorf("config read as %+v", c)
	}
	if _, trainable := pm.CountParameters(); trainable != 0 {
		t.Errorf("loaded for inference: %d trainable parameters, want 0", trainable)
	}
	// The same forward after merging, and the keys written back are PEFT's.
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	check(t, "peft_style merged out.y", net.Forward(io.get(t, "in.idx"), io.get(t, "in.img")), io.get(t, "out.y"), goldenTol)
	pm.Unmerge()
	orig, err := ReadCheckpoint(testdata("peft_style"))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := pm.Checkpoint(DefaultAdapter)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(c *Checkpoint) map[string]bool {
		out := map[string]bool{}
		for _, t := range c.Tensors {
			out[t.Name] = true
		}
		return out
	}
	ok, mk := keys(orig), keys(mine)
	for k := range ok {
		if !mk[k] {
			t.Errorf("PEFT's key %q is not written back", k)
		}
	}
	for k := range mk {
		if !ok[k] {
			t.Errorf("key %q written back is not PEFT's", k)
		}
	}
}
