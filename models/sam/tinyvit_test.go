package sam

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// The mobile_* fixtures come from scripts/golden_mobilesam.py: tiny TinyViT-based models
// of MobileSAM's code saved with torch.save, and what its SamPredictor answers.

var mobileCases = []string{"mobile_a", "mobile_b"}

// vitTParameters is the parameter count of MobileSAM's build_sam_vit_t (TinyViT-5M with
// its 1000-class head, prompt encoder, mask decoder), 6,065,532 of them in the image
// encoder, and vitTStateDict the number of entries in its state dict (with BatchNorm
// statistics), as scripts/golden_mobilesam.py --count and the reference give them.
const (
	vitTParameters        = 10130092
	vitTEncoderParameters = 6065532
	vitTStateDict         = 439
)

func loadMobile(t *testing.T, name, config string) (*Model, map[string]*tensor.Tensor) {
	t.Helper()
	return loadFixture(t, name, config)
}

// mobileInput is the encoder input of the fixture's image: resized (Pillow's bilinear, as
// the predictor), normalised and padded.
func mobileInput(m *Model, g map[string]*tensor.Tensor) *tensor.Tensor {
	img := g["image"]
	h, w := img.SizeOf(0), img.SizeOf(1)
	pix := make([]uint8, img.Size())
	for i, v := range img.Data() {
		pix[i] = uint8(v)
	}
	nh, nw := PreprocessShape(h, w, m.Config.ImageSize)
	r := augment.ResizePIL(pix, h, w, 3, nh, nw, augment.PILBilinear)
	x := tensor.Empty(nh, nw, 3)
	for i, v := range r {
		x.Data()[i] = float32(v)
	}
	return m.Preprocess(toCHW(x))
}

func TestGoldenMobileEncoder(t *testing.T) {
	for _, name := range mobileCases {
		t.Run(name, func(t *testing.T) {
			m, g := loadMobile(t, name, testdata(name+".json"))
			if _, ok := m.ImageEncoder.(*TinyViT); !ok {
				t.Fatalf("encoder %T, want *TinyViT", m.ImageEncoder)
			}
			x := mobileInput(m, g)
			fused := m.ImageEncoder.Forward(x)
			checkClose(t, "features (fused)", fused, g["features"])
			// Module by module (each convolution and attention picks its no-graph kernel
			// alone, without the encoder's scratch buffers).
			enc := m.ImageEncoder.(*TinyViT)
			h := enc.PatchEmbed.Forward(x)
			for _, l := range enc.Layers {
				h = l.Forward(h)
			}
			checkClose(t, "features (module by module)", enc.Neck.Forward(h), g["features"])
			// The differentiable path: gradients on, same numbers.
			nn.Unfreeze(m.ImageEncoder)
			graph := m.ImageEncoder.Forward(x)
			checkClose(t, "features (graph)", graph, g["features"])
			// BatchNorm folded into the convolutions: each Conv2dBN computes the same
			// function within 1e-5 on a random input (its BatchNorm through the graph),
			// and the whole encoder within float32 rounding (the reference itself moves
			// by 1e-5 from float32 to float64).
			rng := rand.New(rand.NewPCG(1, 2))
			worst := 0.0
			for _, nm := range nn.NamedModules(enc) {
				c, ok := nm.Module.(*Conv2dBN)
				if !ok {
					continue
				}
				in := tensor.RandNormal(rng, 0, 1, 2, c.C.Weight.SizeOf(1)*max(c.C.Groups, 1), 9, 7)
				before := c.Forward(in)
				c.FoldBatchNorm()
				worst = max(worst, scaledErr(c.Forward(in).Data(), before.Data()))
			}
			golden.Report(t, "sam/Conv2dBN folded", worst, 1e-5)
			if worst > 1e-5 {
				t.Errorf("a folded Conv2dBN differs from convolution + BatchNorm by %.3g (scaled), want ≤ 1e-5", worst)
			}
			for _, n := range nn.StateDictEntries(enc) {
				if strings.Contains(n.Name, ".bn.") {
					t.Fatalf("%s left after FoldBatchNorm", n.Name)
				}
			}
			foldedGraph := enc.Forward(x)
			checkClose(t, "features (folded, graph)", foldedGraph, g["features"])
			nn.Freeze(enc)
			for _, c := range []struct {
				what      string
				got, want *tensor.Tensor
				tol       float64
			}{{"folded vs BatchNorm (graph)", foldedGraph, graph, 3e-5}, {"folded vs on the fly (fused)", enc.Forward(x), fused, 1e-6}} {
				e := scaledErr(c.got.Data(), c.want.Data())
				golden.Report(t, "sam/"+c.what, e, c.tol)
				if e > c.tol {
					t.Errorf("%s: max scaled difference %.3g, want ≤ %g", c.what, e, c.tol)
				}
			}
		})
	}
}

func TestGoldenMobilePredictor(t *testing.T) {
	for _, name := range mobileCases {
		t.Run(name, func(t *testing.T) {
			m, g := loadMobile(t, name, testdata(name+".json"))
			p := NewPredictor(m)
			img := g["image"]
			pix := make([]uint8, img.Size())
			for i, v := range img.Data() {
				pix[i] = uint8(v)
			}
			steps := 0
			if err := p.SetImageRGB(pix, img.SizeOf(0), img.SizeOf(1), func(done, total int) {
				steps++
				if done != steps || done > total {
					t.Errorf("progress %d/%d at call %d", done, total, steps)
				}
			}); err != nil {
				t.Fatal(err)
			}
			c := m.Config
			if want := 2 + c.TinyViTDepths[0] + c.TinyViTDepths[1] + c.TinyViTDepths[2] + c.TinyViTDepths[3]; steps != want {
				t.Errorf("%d progress calls, want %d", steps, want)
			}
			f, _, _ := p.Embedding()
			checkClose(t, "features", f, g["features"])
			for _, pc := range []string{"point", "box"} {
				pr := goldenPrompt(g, pc)
				opt := Options{Multimask: g[pc+".multimask"].Data()[0] == 1}
				res, err := p.Predict(pr, opt)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, pc+" iou", tensor.New(res.IoU, len(res.IoU)), g[pc+".iou"])
				checkClose(t, pc+" low-res logits", res.LowRes, g[pc+".low_res"])
				checkMasks(t, pc+" masks", res.Masks, g[pc+".masks"], g[pc+".logits"])
				opt.ReturnLogits = true
				if res, err = p.Predict(pr, opt); err != nil {
					t.Fatal(err)
				}
				checkClose(t, pc+" logits", res.Masks, g[pc+".logits"])
			}
		})
	}
}

// TestMobileConfigFromWeights recognises the fixtures' architecture from the checkpoint
// alone: everything but the image size, which no TinyViT weight depends on (it is taken
// to be MobileSAM's 1024), and the decoder's heads (taken to be 8). The encoder follows
// its input, so the model loaded without a config gives the fixture's embedding too.
func TestMobileConfigFromWeights(t *testing.T) {
	for _, name := range mobileCases {
		want, err := ReadConfig(testdata(name + ".json"))
		if err != nil {
			t.Fatal(err)
		}
		m, g := loadMobile(t, name, "")
		got := m.Config
		if got.ImageSize != 1024 || got.DecoderNumHeads != 8 {
			t.Errorf("%s: image size %d and %d decoder heads recognised, want 1024 and 8", name, got.ImageSize, got.DecoderNumHeads)
		}
		got.ImageSize, got.DecoderNumHeads = want.ImageSize, want.DecoderNumHeads
		if gj, wj := toJSON(t, got), toJSON(t, want); gj != wj {
			t.Errorf("%s: recognised\n%s\nwant\n%s", name, gj, wj)
		}
		m.Config = want
		checkClose(t, name+" features", m.ImageEncoder.Forward(mobileInput(m, g)), g["features"])
	}
}

// TestVitTShapes builds the real MobileSAM architecture: parameter and state-dict counts
// as the reference's, official names and shapes, recognition from the weights, and
// (unless -short) a 1024×1024 forward to a (1, 256, 64, 64) embedding.
func TestVitTShapes(t *testing.T) {
	m := vitT(t)
	total, _ := nn.CountParameters(m)
	enc, _ := nn.CountParameters(m.ImageEncoder)
	if total != vitTParameters || enc != vitTEncoderParameters {
		t.Errorf("vit_t has %d parameters (%d in the encoder), want %d (%d)", total, enc, vitTParameters, vitTEncoderParameters)
	}
	sd := nn.StateDict(m)
	if len(sd) != vitTStateDict {
		t.Errorf("state dict has %d entries, want %d", len(sd), vitTStateDict)
	}
	for name, shape := range map[string][]int{
		"image_encoder.patch_embed.seq.0.c.weight":                   {32, 3, 3, 3},
		"image_encoder.patch_embed.seq.2.bn.num_batches_tracked":     {},
		"image_encoder.layers.0.blocks.1.conv2.c.weight":             {256, 1, 3, 3},
		"image_encoder.layers.0.downsample.conv2.bn.running_var":     {128},
		"image_encoder.layers.1.blocks.0.attn.attention_biases":      {4, 49},
		"image_encoder.layers.2.blocks.5.attn.attention_biases":      {5, 196},
		"image_encoder.layers.2.downsample.conv2.c.weight":           {320, 1, 3, 3},
		"image_encoder.layers.3.blocks.1.attn.qkv.weight":            {960, 320},
		"image_encoder.layers.3.blocks.1.local_conv.bn.running_mean": {320},
		"image_encoder.layers.3.blocks.1.mlp.fc2.weight":             {320, 1280},
		"image_encoder.norm_head.bias":                               {320},
		"image_encoder.head.weight":                                  {1000, 320},
		"image_encoder.neck.0.weight":                                {256, 320, 1, 1},
		"image_encoder.neck.3.bias":                                  {256},
	} {
		if v, ok := sd[name]; !ok || !tensor.SameShape(v.Shape(), shape) {
			t.Errorf("state dict %q: %v, want shape %v", name, v, shape)
		}
	}
	for name := range sd {
		if strings.Contains(name, "attention_bias_idxs") || strings.HasSuffix(name, ".ab") {
			t.Errorf("%q is not in the reference's state dict", name)
		}
	}
	got, err := ConfigFromWeights(stateDictSource(sd), "")
	if err != nil {
		t.Fatal(err)
	}
	if toJSON(t, got) != toJSON(t, VitT()) {
		t.Errorf("vit_t recognised as %s", toJSON(t, got))
	}
	if testing.Short() {
		return
	}
	x := tensor.RandNormal(rand.New(rand.NewPCG(3, 4)), 0, 1, 1, 3, 1024, 1024)
	y := m.ImageEncoder.Forward(x)
	if !tensor.SameShape(y.Shape(), []int{1, 256, 64, 64}) {
		t.Fatalf("embedding %v", y.Shape())
	}
	for _, v := range y.Data() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("embedding is not finite")
		}
	}
}

// vitT returns a vit_t-sized model with random weights (the reference's initialisation,
// BatchNorm statistics and attention biases drawn at random so that no path is trivial),
// frozen for inference.
func vitT(tb testing.TB) *Model {
	tb.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := New(rng, VitT())
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range nn.StateDictEntries(m.ImageEncoder) {
		d := e.Tensor.Data()
		switch {
		case strings.HasSuffix(e.Name, "running_var"):
			for i := range d {
				d[i] = 0.5 + rng.Float32()
			}
		case strings.HasSuffix(e.Name, "running_mean"), strings.HasSuffix(e.Name, "attention_biases"):
			for i := range d {
				d[i] = 0.1 * float32(rng.NormFloat64())
			}
		case strings.HasSuffix(e.Name, "bn.weight"):
			for i := range d {
				d[i] = 1 + 0.1*float32(rng.NormFloat64())
			}
		}
	}
	nn.Freeze(m)
	return m
}

// BenchmarkEncoderVitT is MobileSAM's image encoder (TinyViT-5M) on one 1024×1024 image.
func BenchmarkEncoderVitT(b *testing.B) {
	m := vitT(b)
	x := tensor.RandNormal(rand.New(rand.NewPCG(3, 4)), 0, 1, 1, 3, 1024, 1024)
	m.ImageEncoder.Forward(x)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.ImageEncoder.Forward(x)
	}
}

// TestTinyViTPaths runs mobile_b on a non-square input (the reference takes only squares)
// three ways: the encoder's inference path (also from four goroutines at once), module by
// module, and through the graph.
func TestTinyViTPaths(t *testing.T) {
	m, _ := loadMobile(t, "mobile_b", testdata("mobile_b.json"))
	enc := m.ImageEncoder.(*TinyViT)
	x := tensor.RandNormal(rand.New(rand.NewPCG(11, 12)), 0, 1, 2, 3, 48, 80)
	want := enc.Forward(x)
	if !tensor.SameShape(want.Shape(), []int{2, 16, 3, 5}) {
		t.Fatalf("embedding %v, want (2, 16, 3, 5)", want.Shape())
	}
	// Concurrent forwards share the scratch pool and give the same numbers.
	var wg sync.WaitGroup
	outs := make([]*tensor.Tensor, 4)
	for i := range outs {
		wg.Go(func() { outs[i] = enc.Forward(x) })
	}
	wg.Wait()
	for i, o := range outs {
		if tensorMaxDiff(o, want) != 0 {
			t.Errorf("concurrent forward %d differs", i)
		}
	}
	h := enc.PatchEmbed.Forward(x)
	for _, l := range enc.Layers {
		h = l.Forward(h)
	}
	if e := scaledErr(enc.Neck.Forward(h).Data(), want.Data()); e > 1e-5 {
		t.Errorf("module by module: %.3g from the inference path", e)
	}
	// The graph applies BatchNorm after each convolution instead of folding it: float32
	// rounding through the network (the golden tests see 2e-5 on either path).
	nn.Unfreeze(enc)
	if e := scaledErr(enc.Forward(x).Data(), want.Data()); e > 5e-5 {
		t.Errorf("graph: %.3g from the inference path", e)
	}
}

func TestAttentionBiasIndex(t *testing.T) {
	for _, ws := range []int{1, 2, 7, 14} {
		idx, offsets := attentionBiasIndex(ws, ws)
		if offsets != ws*ws {
			t.Fatalf("window %d: %d offsets, want %d", ws, offsets, ws*ws)
		}
		n := ws * ws
		for p := 0; p < n; p++ {
			for q := 0; q < n; q++ {
				dy, dx := p/ws-q/ws, p%ws-q%ws
				if want := int32(max(dy, -dy)*ws + max(dx, -dx)); idx[p*n+q] != want {
					t.Fatalf("window %d: index (%d, %d) = %d, want |Δy|·%d + |Δx| = %d", ws, p, q, idx[p*n+q], ws, want)
				}
			}
		}
	}
	// A non-square window: offsets numbered as met, (0,0) (0,1) (0,2) (1,0) (1,1) (1,2).
	idx, offsets := attentionBiasIndex(2, 3)
	if offsets != 6 || idx[0*6+5] != 5 || idx[5*6+0] != 5 || idx[1*6+3] != 4 {
		t.Errorf("2×3 window: %d offsets, index row 0 %v", offsets, idx[:6])
	}
}

// TestGradTinyAttention checks the differentiable windowed attention with its bias table
// (input and biases), on a 4×5 map in windows of 3 (padded to 6×6).
func TestGradTinyAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	idx, offsets := attentionBiasIndex(3, 3)
	a := &TinyAttention{
		AttentionBiases: tensor.RandNormal(rng, 0, 0.5, 2, offsets).SetRequiresGrad(true),
		Norm:            nn.NewLayerNorm(4), QKV: nn.NewLinear(rng, 4, 12, true), Proj: nn.NewLinear(rng, 4, 4, true),
		Heads: 2, biasIdx: idx,
	}
	x := tensor.RandNormal(rng, 0, 1, 1, 4, 5, 4).SetRequiresGrad(true)
	tensortest.GradCheck(t, "TinyAttention", func(in []*tensor.Tensor) *tensor.Tensor {
		return a.forwardWindows(in[0], 3)
	}, []*tensor.Tensor{x, a.AttentionBiases}, tensortest.GradCheckOptions{})
	// The fused path gives the same output.
	g := a.forwardWindows(x, 3)
	nn.Freeze(a)
	f := a.forwardWindows(x.Detach(), 3)
	if d := tensorMaxDiff(f, g); d > 1e-5 {
		t.Errorf("fused and graph attention differ by %g", d)
	}
}

func TestTinyViTConfig(t *testing.T) {
	if err := VitT().Validate(); err != nil {
		t.Fatal(err)
	}
	// JSON round trip, and a file naming only the encoder takes vit_t's values.
	dir := t.TempDir()
	for _, c := range []Config{VitT(), func() Config { c := VitT(); c.TinyViTNumClasses = 0; return c }()} {
		b, _ := json.Marshal(c)
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if toJSON(t, got) != toJSON(t, c) {
			t.Errorf("round trip\n%s\ngave\n%s", toJSON(t, c), toJSON(t, got))
		}
	}
	p := filepath.Join(dir, "short.json")
	if err := os.WriteFile(p, []byte(`{"encoder": "tiny_vit", "tiny_vit_num_classes": 1000}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadConfig(p); err != nil || toJSON(t, got) != toJSON(t, VitT()) {
		t.Errorf("{encoder: tiny_vit} read as %s (%v), want vit_t", toJSON(t, got), err)
	}
	if strings.Contains(toJSON(t, VitB()), "tiny_vit") {
		t.Errorf("vit_b's JSON mentions TinyViT: %s", toJSON(t, VitB()))
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Encoder = "mobile" }, "encoder"},
		{func(c *Config) { c.PatchSize = 8 }, "patch_size"},
		{func(c *Config) { c.ImageSize = 1000 }, "multiple of patch_size"},
		{func(c *Config) { c.TinyViTDepths = []int{2, 2, 6} }, "tiny_vit_depths"},
		{func(c *Config) { c.TinyViTWindowSizes = []int{7, 7, 0, 7} }, "tiny_vit_window_sizes[2]"},
		{func(c *Config) { c.TinyViTNumHeads = []int{2, 3, 5, 10} }, "tiny_vit_num_heads[1]"},
		{func(c *Config) { c.TinyViTEmbedDims = []int{1, 128, 160, 320} }, "tiny_vit_embed_dims[0]"},
		{func(c *Config) { c.TinyViTLocalConvSize = 4 }, "tiny_vit_local_conv_size"},
		{func(c *Config) { c.TinyViTMLPRatio = 0 }, "tiny_vit_mlp_ratio"},
		{func(c *Config) { c.TinyViTMBConvExpandRatio = math.NaN() }, "tiny_vit_mbconv_expand_ratio"},
		{func(c *Config) { c.TinyViTNumClasses = -1 }, "tiny_vit_num_classes"},
	} {
		c := VitT()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %q, got %v", tc.want, err)
		}
	}
	// The ViT fields are not required of a TinyViT, nor the reverse.
	c := VitB()
	c.TinyViTDepths = []int{1}
	if err := c.Validate(); err != nil {
		t.Errorf("vit_b with a stray tiny_vit field: %v", err)
	}
}
