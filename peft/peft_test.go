package peft

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

// targetNames returns the module names cfg's patterns select on a tinyNet.
func targetNames(t *testing.T, target, exclude Patterns) ([]string, error) {
	t.Helper()
	ts, err := findTargets(newTinyNet(newRng(1)), target, exclude)
	var out []string
	for _, x := range ts {
		out = append(out, x.key)
	}
	return out, err
}

func TestTargeting(t *testing.T) {
	cases := []struct {
		name            string
		target, exclude Patterns
		want            []string
		errContains     []string
	}{
		{"suffix", Names("fc"), Patterns{}, []string{"blocks.0.fc", "blocks.1.fc"}, nil},
		{"exact", Names("blocks.1.fc", "head"), Patterns{}, []string{"blocks.1.fc", "head"}, nil},
		// "c" is neither a name nor a suffix after a dot of "blocks.0.fc".
		{"not a bare suffix", Names("c", "head"), Patterns{}, []string{"head"}, nil},
		{"regex full match", Regex(`blocks\.\d\.fc`), Patterns{}, []string{"blocks.0.fc", "blocks.1.fc"}, nil},
		{"regex is anchored", Regex(`fc`), Patterns{}, nil, []string{`target_modules "fc" matched no module`}},
		{"exclude", Names("fc", "stem"), Names("blocks.0.fc"), []string{"stem", "blocks.1.fc"}, nil},
		// Excluding the attention modules leaves their out_proj to be matched
		// as plain Linear layers.
		{"exclude regex", Regex(`.*`), Regex(`(blocks\.\d+(\.attn)?|blocks|embed)`), []string{"stem", "blocks.0.attn.out_proj", "blocks.0.fc", "blocks.1.attn.out_proj", "blocks.1.fc", "head"}, nil},
		{"all-linear", Regex(AllLinear), Names("head"), []string{"blocks.0.attn.out_proj", "blocks.0.fc", "blocks.1.attn.out_proj", "blocks.1.fc"}, nil},
		{"mha brings out_proj", Names("blocks.0.attn"), Patterns{}, []string{"blocks.0.attn", "blocks.0.attn.base_layer.out_proj"}, nil},
		{"nothing", Names("qkv"), Patterns{}, nil, []string{`target_modules ["qkv"] matched no module of *peft.tinyNet`, `"embed"`, "NamedModules"}},
		{"unsupported type", Names("blocks.0"), Patterns{}, nil, []string{`module "blocks.0" is a *peft.tinyBlock`}},
		{"bad regex", Regex(`(?<=x)fc`), Patterns{}, nil, []string{"not a regular expression Go can compile"}},
	}
	for _, c := range cases {
		got, err := targetNames(t, c.target, c.exclude)
		if c.errContains != nil {
			if err == nil {
				t.Errorf("%s: no error, selected %q", c.name, got)
				continue
			}
			for _, s := range c.errContains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q does not contain %q", c.name, err, s)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: selected %q, want %q", c.name, got, c.want)
		}
	}
}

func TestPatternsJSON(t *testing.T) {
	for _, c := range []struct {
		p    Patterns
		json string
	}{{Names("a", "b"), `["a","b"]`}, {Regex(`.*\.q`), `".*\\.q"`}, {Patterns{}, `null`}, {Regex(AllLinear), `"all-linear"`}} {
		b, err := json.Marshal(c.p)
		if err != nil || string(b) != c.json {
			t.Errorf("%+v: %s %v, want %s", c.p, b, err, c.json)
		}
		var back Patterns
		if err := json.Unmarshal(b, &back); err != nil || back.String() != c.json {
			t.Errorf("%s: read back as %+v (%v)", c.json, back, err)
		}
	}
}

// loraAll adapts every kind of layer of tinyNet with random B, so the
// adapter changes the output.
func loraAll() *LoraConfig {
	return &LoraConfig{R: 2, LoraAlpha: 3, TargetModules: Names("embed", "stem", "attn", "fc"), InitLoraWeights: InitRandom}
}

func TestMergeUnmerge(t *testing.T) {
	net := newTinyNet(newRng(1))
	idx, img := tinyInputs()
	base := net.Forward(idx, img)
	orig := nn.StateDict(cloneTiny(t, net))
	pm, err := NewModel(net, loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	pm.SetTraining(false)
	adapted := net.Forward(idx, img)
	if maxAbsDiff(adapted.Data(), base.Data()) < 1e-3 {
		t.Fatal("the adapter does not change the output")
	}
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	if got := pm.MergedAdapters(); !slices.Equal(got, []string{DefaultAdapter}) {
		t.Errorf("MergedAdapters %q", got)
	}
	merged := net.Forward(idx, img)
	if e := relErr(merged, adapted); e > 1e-5 {
		t.Errorf("merged model vs adapted: max error %.3g", e)
	}
	changed := 0
	for k, v := range nn.StateDict(net) {
		if maxAbsDiff(v.Data(), orig[k].Data()) > 1e-4 {
			changed++
		}
	}
	if changed != 8 { // embed, stem, 2 × (in_proj, out_proj, fc)
		t.Errorf("merging changed %d weights, want 8", changed)
	}
	if err := pm.Merge(); err != nil { // already merged: nothing to do
		t.Fatal(err)
	}
	pm.Unmerge()
	worst := 0.0
	for k, v := range nn.StateDict(net) {
		worst = max(worst, maxAbsDiff(v.Data(), orig[k].Data()))
	}
	if worst > 1e-6 {
		t.Errorf("Unmerge: weights differ from the original by %.3g", worst)
	}
	if e := relErr(net.Forward(idx, img), adapted); e > 1e-5 {
		t.Errorf("after Unmerge the adapted output differs by %.3g", e)
	}
	t.Logf("merged vs adapted %.2g, weights after unmerge %.2g", relErr(merged, adapted), worst)
}

func TestMergeAndUnload(t *testing.T) {
	net := newTinyNet(newRng(1))
	idx, img := tinyInputs()
	pm, err := NewModel(net, loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	pm.SetTraining(false)
	adapted := net.Forward(idx, img)
	got, err := pm.MergeAndUnload(false)
	if err != nil {
		t.Fatal(err)
	}
	plain := got.(*tinyNet)
	if plain != net {
		t.Fatal("MergeAndUnload did not return the base model")
	}
	for _, m := range nn.NamedModules(plain) {
		switch l := m.Module.(type) {
		case *nn.Linear:
			if l.Delta != nil {
				t.Errorf("%s still has a hook", m.Name)
			}
		case *nn.Conv2d:
			if l.Delta != nil {
				t.Errorf("%s still has a hook", m.Name)
			}
		case *nn.Embedding:
			if l.Delta != nil {
				t.Errorf("%s still has a hook", m.Name)
			}
		case *nn.MultiheadAttention:
			if l.InProjDelta != nil {
				t.Errorf("%s still has a hook", m.Name)
			}
		}
	}
	if e := relErr(plain.Forward(idx, img), adapted); e > 1e-5 {
		t.Errorf("unloaded merged model vs adapted: max error %.3g", e)
	}
	if len(nn.StateDict(plain)) != len(nn.StateDict(newTinyNet(newRng(3)))) {
		t.Error("the state dict changed size")
	}
	if err := pm.Merge(); err == nil || !strings.Contains(err.Error(), "unloaded") {
		t.Errorf("Merge after unloading: %v", err)
	}
	// Unload gives back the original weights even after a merge.
	net2 := newTinyNet(newRng(1))
	want := net2.Forward(idx, img)
	pm2, _ := NewModel(net2, loraAll(), newRng(2))
	if err := pm2.Merge(); err != nil {
		t.Fatal(err)
	}
	pm2.Unload()
	if e := relErr(net2.Forward(idx, img), want); e > 1e-5 {
		t.Errorf("Unload: output differs from the base model's by %.3g", e)
	}
}

func TestSafeMerge(t *testing.T) {
	net := newTinyNet(newRng(1))
	orig := nn.StateDict(cloneTiny(t, net))
	pm, err := NewModel(net, loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	own := adapterTensors(pm, DefaultAdapter, "blocks.1.fc")
	own["lora_A.weight"].Data()[3] = float32(math.NaN())
	err = pm.SafeMerge()
	if err == nil || !strings.Contains(err.Error(), `module "blocks.1.fc"`) || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("SafeMerge with a NaN in lora_A: %v", err)
	}
	for k, v := range nn.StateDict(net) {
		if maxAbsDiff(v.Data(), orig[k].Data()) != 0 {
			t.Errorf("SafeMerge refused but changed %s", k)
		}
	}
	if _, err := pm.MergeAndUnload(true); err == nil {
		t.Error("MergeAndUnload(safe) with NaN: no error")
	}
	own["lora_A.weight"].Data()[3] = float32(math.Inf(1))
	if err := pm.SafeMerge(); err == nil {
		t.Error("SafeMerge with +Inf: no error")
	}
	own["lora_A.weight"].Data()[3] = 0.5
	if err := pm.SafeMerge(); err != nil {
		t.Errorf("SafeMerge of a finite adapter: %v", err)
	}
}

func TestAdapterSwitching(t *testing.T) {
	net := newTinyNet(newRng(1))
	idx, img := tinyInputs()
	base := net.Forward(idx, img)
	pm, err := NewModel(net, loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	pm.SetTraining(false)
	def := net.Forward(idx, img)
	other := &LoraConfig{R: 3, LoraAlpha: 3, TargetModules: Names("fc"), InitLoraWeights: InitRandom}
	if err := pm.AddAdapter("other", other); err != nil {
		t.Fatal(err)
	}
	if err := pm.AddAdapter("other", other); err == nil {
		t.Error("adding a second adapter named other: no error")
	}
	if e := relErr(net.Forward(idx, img), def); e != 0 {
		t.Errorf("adding an inactive adapter changed the output by %.3g", e)
	}
	trainable := func(name string) bool {
		for _, p := range pm.adapters[name].params() {
			if !p.Tensor.RequiresGrad() {
				return false
			}
		}
		return true
	}
	if !trainable(DefaultAdapter) || trainable("other") {
		t.Error("only the active adapter should be trainable")
	}
	if err := pm.SetAdapter("other"); err != nil {
		t.Fatal(err)
	}
	y := net.Forward(idx, img)
	if maxAbsDiff(y.Data(), def.Data()) < 1e-4 || maxAbsDiff(y.Data(), base.Data()) < 1e-4 {
		t.Error("switching to other did not change the output")
	}
	if trainable(DefaultAdapter) || !trainable("other") {
		t.Error("after SetAdapter(other) only other should be trainable")
	}
	pm.DisableAdapters()
	if e := relErr(net.Forward(idx, img), base); e != 0 {
		t.Errorf("disabled adapters: output differs from the base model by %.3g", e)
	}
	pm.EnableAdapters()
	if err := pm.SetAdapter("default", "other"); err != nil {
		t.Fatal(err)
	}
	both := net.Forward(idx, img)
	if maxAbsDiff(both.Data(), y.Data()) < 1e-4 || maxAbsDiff(both.Data(), def.Data()) < 1e-4 {
		t.Error("two active adapters give the output of one")
	}
	if err := pm.SetAdapter("nope"); err == nil || !strings.Contains(err.Error(), `"default", "other"`) {
		t.Errorf("SetAdapter(nope): %v", err)
	}
	if err := pm.DeleteAdapter(DefaultAdapter); err != nil {
		t.Fatal(err)
	}
	if got := pm.ActiveAdapters(); !slices.Equal(got, []string{"other"}) {
		t.Errorf("after deleting default, active %q", got)
	}
	if e := relErr(net.Forward(idx, img), y); e > 0 {
		t.Errorf("after deleting default the output is not other's (%.3g)", e)
	}
	if net.Embed.Delta != nil || net.Blocks[0].Attn.InProjDelta != nil || net.Blocks[0].FC.Delta == nil {
		t.Error("deleting default should remove the hooks only other does not use")
	}
}

// TestTrainableReport checks PEFT's print_trainable_parameters line and
// which parameters are trained with each bias setting.
func TestTrainableReport(t *testing.T) {
	net := newTinyNet(newRng(1))
	baseTotal, _ := nn.CountParameters(net)
	pm, err := NewModel(net, &LoraConfig{R: 4, LoraAlpha: 8, TargetModules: Names("fc")}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	lora := 2 * (4*8 + 8*4) // two fc layers 8→8, r = 4
	total, trainable := pm.CountParameters()
	if total != baseTotal+lora || trainable != lora {
		t.Errorf("CountParameters %d, %d; want %d, %d", total, trainable, baseTotal+lora, lora)
	}
	if got, want := pm.TrainableReport(), reportLine(baseTotal+lora, lora); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	if len(pm.Parameters()) != 4 {
		t.Errorf("%d trainable tensors, want 4", len(pm.Parameters()))
	}
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {294912, "294,912"}, {31260672, "31,260,672"}, {-1234567, "-1,234,567"}} {
		if got := commas(c.n); got != c.want {
			t.Errorf("commas(%d) = %q", c.n, got)
		}
	}
	// bias "lora_only": the adapted layers' biases; "all": every bias.
	for _, c := range []struct {
		bias  string
		extra int
	}{{BiasLoraOnly, 2 * 8}, {BiasAll, 8 + 2*(24+8+8) + 4}} {
		net := newTinyNet(newRng(1))
		pm, err := NewModel(net, &LoraConfig{R: 4, LoraAlpha: 8, TargetModules: Names("fc"), Bias: c.bias}, newRng(2))
		if err != nil {
			t.Fatal(err)
		}
		if _, tr := pm.CountParameters(); tr != lora+c.extra {
			t.Errorf("bias %q: %d trainable, want %d", c.bias, tr, lora+c.extra)
		}
		sd, _ := pm.StateDict(DefaultAdapter)
		nb := 0
		for k := range sd {
			if strings.Contains(k, "bias") {
				nb++
			}
		}
		if want := map[string]int{BiasLoraOnly: 2, BiasAll: 8}[c.bias]; nb != want {
			t.Errorf("bias %q: %d bias tensors saved, want %d (%v)", c.bias, nb, want, sortedKeys(sd))
		}
		if sd["base_model.model.blocks.0.fc.base_layer.bias"] == nil {
			t.Errorf("bias %q: no base_model.model.blocks.0.fc.base_layer.bias (%v)", c.bias, sortedKeys(sd))
		}
	}
}

// TestTrainableReportLine checks the exact line PEFT prints for known counts.
func TestTrainableReportLine(t *testing.T) {
	for _, c := range []struct {
		total, trainable int
		want             string
	}{
		{31260672, 294912, "trainable params: 294,912 || all params: 31,260,672 || trainable%: 0.9434"},
		{1000, 0, "trainable params: 0 || all params: 1,000 || trainable%: 0.0000"},
		{0, 0, "trainable params: 0 || all params: 0 || trainable%: 0.0000"},
	} {
		if got := reportLine(c.total, c.trainable); got != c.want {
			t.Errorf("reportLine(%d, %d) = %q, want %q", c.total, c.trainable, got, c.want)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet(newRng(1))
	idx, img := tinyInputs()
	cfg := loraAll()
	cfg.Bias = BiasLoraOnly
	cfg.TaskType = "FEATURE_EXTRACTION"
	pm, err := NewModel(net, cfg, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	// "Train" the biases so that saving them matters.
	for _, p := range pm.Parameters() {
		if p.Dim() == 1 {
			nn.Normal(newRng(5), p, 0, 1)
		}
	}
	if err := pm.AddAdapter("second", &BottleneckConfig{TargetModules: Names("fc"), ReductionFactor: 4, InitWeights: InitNearIdentity, LayerNorm: true}); err != nil {
		t.Fatal(err)
	}
	if err := pm.SetAdapter(DefaultAdapter, "second"); err != nil {
		t.Fatal(err)
	}
	pm.SetTraining(false)
	want := net.Forward(idx, img)
	if err := pm.SavePretrained(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigName, WeightsName, "second/" + ConfigName, "second/" + WeightsName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("SavePretrained: %v", err)
		}
	}
	var js map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, ConfigName))
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"peft_type": "LORA", "r": 2.0, "lora_alpha": 3.0, "bias": "lora_only", "inference_mode": true,
		"task_type": "FEATURE_EXTRACTION", "init_lora_weights": false, "modules_to_save": nil, "use_rslora": false, "fan_in_fan_out": false} {
		if js[k] != v {
			t.Errorf("adapter_config.json: %s = %v, want %v", k, js[k], v)
		}
	}
	if tm, _ := json.Marshal(js["target_modules"]); string(tm) != `["embed","stem","attn","fc"]` {
		t.Errorf("target_modules %s", tm)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "second", ConfigName))
	if !strings.Contains(string(b), `"peft_type": "BOTTLENECK_ADAPTER"`) {
		t.Errorf("second/adapter_config.json:\n%s", b)
	}

	// Load both onto a fresh copy of the base model (biases still original).
	fresh := newTinyNet(newRng(1))
	pm2, err := FromPretrained(fresh, dir, nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pm2.LoadAdapter(filepath.Join(dir, "second"), LoadOptions{AdapterName: "second", Trainable: true}); err != nil {
		t.Fatal(err)
	}
	if err := pm2.SetAdapter(DefaultAdapter, "second"); err != nil {
		t.Fatal(err)
	}
	pm2.SetTraining(false)
	if e := relErr(fresh.Forward(idx, img), want); e > 1e-6 {
		t.Errorf("save → load: output differs by %.3g", e)
	}
	// default was loaded for inference, second as trainable.
	_, tr := pm2.CountParameters()
	var secondN int
	for _, p := range pm2.adapters["second"].params() {
		secondN += p.Tensor.Size()
	}
	if tr != secondN {
		t.Errorf("%d trainable parameters, want the bottleneck's %d", tr, secondN)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet(newRng(1))
	pm, err := NewModel(net, &LoraConfig{R: 2, LoraAlpha: 2, TargetModules: Names("fc")}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := pm.SaveAdapter(dir, DefaultAdapter); err != nil {
		t.Fatal(err)
	}
	ck, err := ReadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	wfile := filepath.Join(dir, WeightsName)
	mutate := func(f func(c *Checkpoint)) error {
		c := &Checkpoint{Config: ck.Config, Tensors: slices.Clone(ck.Tensors), Source: dir}
		f(c)
		_, err := func() (*Model, error) {
			m, err := newModel(newTinyNet(newRng(1)), nil)
			if err != nil {
				return nil, err
			}
			return m, m.AddCheckpoint(c, LoadOptions{})
		}()
		return err
	}
	for _, c := range []struct {
		name string
		f    func(c *Checkpoint)
		want []string
	}{
		{"shape", func(c *Checkpoint) {
			c.Tensors[0] = nn.Named{Name: c.Tensors[0].Name, Tensor: tensor.Zeros(3, 8)}
		}, []string{wfile, `"base_model.model.blocks.0.fc.lora_A.weight" has shape (3,8)`, "wants (2,8)"}},
		{"missing", func(c *Checkpoint) { c.Tensors = c.Tensors[1:] }, []string{wfile, `no tensor "base_model.model.blocks.0.fc.lora_A.weight"`, `module "blocks.0.fc"`}},
		{"unexpected", func(c *Checkpoint) {
			c.Tensors = append(c.Tensors, nn.Named{Name: "base_model.model.head.lora_A.weight", Tensor: tensor.Zeros(2, 8)})
		}, []string{wfile, `"base_model.model.head.lora_A.weight" matches no tensor`}},
		{"rank", func(c *Checkpoint) {
			cc := *c.Config.(*LoraConfig)
			cc.R = 4
			c.Config = &cc
		}, []string{"has shape (2,8)", "wants (4,8)", "check r"}},
	} {
		err := mutate(c.f)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, s)
			}
		}
	}
	// Configuration errors name adapter_config.json and the field.
	cpath := filepath.Join(dir, ConfigName)
	orig, _ := os.ReadFile(cpath)
	for _, c := range []struct{ edit, want string }{
		{`"use_dora": true`, `field "use_dora" is set`},
		{`"r": "eight"`, `field "r"`},
		{`"peft_type": "IA3"`, `peft_type "IA3" is not supported`},
		{`"modules_to_save": ["head"]`, `"modules_to_save"`},
	} {
		key := c.edit[:strings.Index(c.edit, ":")]
		lines := strings.Split(string(orig), "\n")
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), key+":") {
				lines[i] = "  " + c.edit + ","
			}
		}
		if err := os.WriteFile(cpath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FromPretrained(newTinyNet(newRng(1)), dir, nil, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), cpath) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s and %q", c.edit, err, cpath, c.want)
		}
	}
	if _, err := FromPretrained(newTinyNet(newRng(1)), filepath.Join(dir, "nope"), nil, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing folder: %v", err)
	}
	// A failed load leaves the model as it was.
	if err := os.WriteFile(cpath, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pm.LoadAdapter(dir, LoadOptions{AdapterName: DefaultAdapter}); err == nil {
		t.Error("loading a second adapter named default: no error")
	}
}

// TestNewModelErrors: invalid configurations and models are errors that
// change nothing.
func TestNewModelErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{&LoraConfig{R: -1, TargetModules: Names("fc")}, "r = -1"},
		{&LoraConfig{R: 2, LoraDropout: 1, TargetModules: Names("fc")}, "lora_dropout"},
		{&LoraConfig{R: 2, Bias: "some", TargetModules: Names("fc")}, `bias "some"`},
		{&LoraConfig{R: 2}, "target_modules is empty"},
		{&LoraConfig{R: 2, TargetModules: Names("fc"), InitLoraWeights: "pissa"}, `init_lora_weights "pissa"`},
		{&BottleneckConfig{TargetModules: Names("stem")}, `module "stem" is a *nn.Conv2d`},
		{&BottleneckConfig{TargetModules: Names("fc"), NonLinearity: "tanh"}, `non_linearity "tanh"`},
	} {
		net := newTinyNet(newRng(1))
		_, err := NewModel(net, c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
		if _, tr := nn.CountParameters(net); tr == 0 {
			t.Errorf("%+v: a failed NewModel froze the model", c.cfg)
		}
		if net.Blocks[0].FC.Delta != nil {
			t.Errorf("%+v: a failed NewModel left a hook", c.cfg)
		}
	}
	// Zero r and lora_alpha take PEFT's defaults.
	pd, err := NewModel(newTinyNet(newRng(1)), &LoraConfig{TargetModules: Names("fc")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := pd.Config(DefaultAdapter).(*LoraConfig); c.R != 8 || c.LoraAlpha != 8 || c.bias() != BiasNone {
		t.Errorf("defaults: r %d, lora_alpha %v, bias %q", c.R, c.LoraAlpha, c.Bias)
	}
	if _, err := NewModel(tinyNet{}, loraAll(), nil); err == nil {
		t.Error("a model passed by value: no error")
	}
	// A module already hooked by another Model.
	net := newTinyNet(newRng(1))
	if _, err := NewModel(net, loraAll(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewModel(net, loraAll(), nil); err == nil || !strings.Contains(err.Error(), "already has a hook") {
		t.Errorf("adapting an adapted model: %v", err)
	}
}

// TestDropout: LoRA dropout acts in training mode only, drawn from the
// Model's random source.
func TestDropout(t *testing.T) {
	net := &linearNet{L: nn.NewLinear(newRng(1), 16, 8, true)}
	pm, err := NewModel(net, &LoraConfig{R: 4, LoraAlpha: 4, LoraDropout: 0.5, TargetModules: Names("l"), InitLoraWeights: InitRandom}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.RandNormal(newRng(3), 0, 1, 4, 16)
	a, b := net.L.Forward(x), net.L.Forward(x)
	if maxAbsDiff(a.Data(), b.Data()) == 0 {
		t.Error("training mode: two passes are identical, dropout is off")
	}
	nn.SetTraining(pm, false) // reaches the Model through nn
	if pm.Training() {
		t.Fatal("nn.SetTraining(pm, false) did not reach the Model")
	}
	e1, e2 := net.L.Forward(x), net.L.Forward(x)
	if maxAbsDiff(e1.Data(), e2.Data()) != 0 {
		t.Error("evaluation mode is not deterministic")
	}
	// Eval equals the formula without dropout.
	own := adapterTensors(pm, DefaultAdapter, "l")
	want := tensor.Add(nn.Affine(x, net.L.Weight, net.L.Bias),
		tensor.MulScalar(nn.Affine(nn.Affine(x, own["lora_A.weight"], nil), own["lora_B.weight"], nil), 1))
	if e := relErr(e1, want); e > 1e-6 {
		t.Errorf("eval output vs formula: %.3g", e)
	}
}

// TestGradCheckLoRA checks the LoRA deltas' gradients (input, A, B) by
// finite differences on every layer kind, and a bottleneck adapter's.
func TestGradCheckLoRA(t *testing.T) {
	net := newTinyNet(newRng(1))
	pm, err := NewModel(net, loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	rng := newRng(4)
	own := func(module string) []*tensor.Tensor {
		var out []*tensor.Tensor
		for _, p := range pm.adapters[DefaultAdapter].params() {
			if strings.HasPrefix(p.Name, keyPrefix+module+".") && !strings.Contains(strings.TrimPrefix(p.Name, keyPrefix+module+"."), ".out_proj") {
				out = append(out, p.Tensor)
			}
		}
		return out
	}
	x := tensor.RandNormal(rng, 0, 1, 2, 3, 8).SetRequiresGrad(true)
	tensortest.GradCheck(t, "LoRA Linear", func(in []*tensor.Tensor) *tensor.Tensor {
		return net.Blocks[0].FC.Forward(in[0])
	}, append([]*tensor.Tensor{x}, own("blocks.0.fc")...), tensortest.GradCheckOptions{})
	img := tensor.RandNormal(rng, 0, 1, 1, 2, 5, 4).SetRequiresGrad(true)
	tensortest.GradCheck(t, "LoRA Conv2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return net.Stem.Forward(in[0])
	}, append([]*tensor.Tensor{img}, own("stem")...), tensortest.GradCheckOptions{})
	idx := tensor.FromSlice([]float32{1, 4, 4, 9, 0}, 5)
	tensortest.GradCheck(t, "LoRA Embedding", func(in []*tensor.Tensor) *tensor.Tensor {
		return net.Embed.Forward(idx)
	}, own("embed"), tensortest.GradCheckOptions{})
	attn := append(own("blocks.1.attn"), own("blocks.1.attn.base_layer.out_proj")...)
	tensortest.GradCheck(t, "LoRA MultiheadAttention", func(in []*tensor.Tensor) *tensor.Tensor {
		return net.Blocks[1].Attn.Forward(in[0])
	}, append([]*tensor.Tensor{x}, attn...), tensortest.GradCheckOptions{})
	if err := pm.AddAdapter("bn", &BottleneckConfig{TargetModules: Names("head"), ReductionFactor: 2, NonLinearity: Swish, InitWeights: InitNearIdentity, InitStd: 0.5, LayerNorm: true}); err != nil {
		t.Fatal(err)
	}
	if err := pm.SetAdapter("bn"); err != nil {
		t.Fatal(err)
	}
	var bn []*tensor.Tensor
	for _, p := range pm.adapters["bn"].params() {
		bn = append(bn, p.Tensor)
	}
	tensortest.GradCheck(t, "bottleneck", func(in []*tensor.Tensor) *tensor.Tensor {
		return net.Head.Forward(in[0])
	}, append([]*tensor.Tensor{x}, bn...), tensortest.GradCheckOptions{})
}

// TestInit: the default initialisation leaves the model's output unchanged
// (B = 0, or A = 0 for Embedding; the up-projection zero for bottlenecks),
// with A's distribution as PEFT's.
func TestInit(t *testing.T) {
	net := newTinyNet(newRng(1))
	idx, img := tinyInputs()
	want := net.Forward(idx, img)
	pm, err := NewModel(net, &LoraConfig{R: 8, LoraAlpha: 16, TargetModules: Names("embed", "stem", "attn", "fc")}, newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(net.Forward(idx, img), want); e != 0 {
		t.Errorf("default init changed the output by %.3g", e)
	}
	a := adapterTensors(pm, DefaultAdapter, "blocks.0.fc")["lora_A.weight"]
	bound := float32(1 / math.Sqrt(8))
	var maxA float32
	for _, v := range a.Data() {
		maxA = max(maxA, float32(math.Abs(float64(v))))
	}
	if maxA > bound || maxA < bound/2 {
		t.Errorf("lora_A max |v| %v, want kaiming-uniform(a=√5) within ±%v", maxA, bound)
	}
	if err := pm.AddAdapter("h", Houlsby("out_proj", "fc", 4)); err != nil {
		t.Fatal(err)
	}
	if err := pm.SetAdapter("h"); err != nil {
		t.Fatal(err)
	}
	if e := relErr(net.Forward(idx, img), want); e != 0 {
		t.Errorf("Houlsby adapters with zero up-projection changed the output by %.3g", e)
	}
	if n := len(pm.adapters["h"].entries); n != 4 {
		t.Errorf("Houlsby(out_proj, fc): %d adapters, want 4 (on each attention out_proj and fc)", n)
	}
	if c := Pfeiffer("fc", 8); c.NonLinearity != ReLU || c.TargetModules.Names[0] != "fc" {
		t.Errorf("Pfeiffer: %+v", c)
	}
	// gaussian: A ~ N(0, 1/r²).
	net2 := &linearNet{L: nn.NewLinear(newRng(1), 256, 64, false)}
	pm2, _ := NewModel(net2, &LoraConfig{R: 8, LoraAlpha: 8, TargetModules: Names("l"), InitLoraWeights: InitGaussian}, newRng(3))
	var ss float64
	ad := adapterTensors(pm2, DefaultAdapter, "l")["lora_A.weight"].Data()
	for _, v := range ad {
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(len(ad))); math.Abs(std-1.0/8) > 0.01 {
		t.Errorf("gaussian init: std %.4f, want 1/r = 0.125", std)
	}
}

// TestConcurrentInference: a model with a frozen adapter (loaded for
// inference) serves several goroutines at once, each getting the result of
// a lone call.
func TestConcurrentInference(t *testing.T) {
	dir := t.TempDir()
	pm, err := NewModel(newTinyNet(newRng(1)), loraAll(), newRng(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := pm.SavePretrained(dir); err != nil {
		t.Fatal(err)
	}
	net := newTinyNet(newRng(1))
	if _, err := FromPretrained(net, dir, nil, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	idx, img := tinyInputs()
	want := net.Forward(idx, img)
	if want.RequiresGrad() {
		t.Fatal("inference with a frozen adapter records a graph")
	}
	errs := make(chan float64, 8)
	for range 8 {
		go func() {
			worst := 0.0
			for range 20 {
				worst = max(worst, maxAbsDiff(net.Forward(idx, img).Data(), want.Data()))
			}
			errs <- worst
		}()
	}
	for range 8 {
		if d := <-errs; d != 0 {
			t.Errorf("concurrent inference differs by %g", d)
		}
	}
}

// LoRA on a MultiheadAttention with separate q/k/v projections is refused with
// an error saying why, not a panic.
func TestLoRARefusesSeparateProjections(t *testing.T) {
	net := &struct{ Attn *nn.MultiheadAttention }{
		Attn: nn.NewMultiheadAttentionConfig(newRng(1), nn.MultiheadAttentionConfig{EmbedDim: 8, NumHeads: 2, KDim: 4, VDim: 4}),
	}
	_, err := NewModel(net, &LoraConfig{R: 2, LoraAlpha: 4, TargetModules: Names("attn")}, newRng(2))
	if err == nil || !strings.Contains(err.Error(), "separate q/k/v") {
		t.Fatalf("error %v, want one about separate projections", err)
	}
}
