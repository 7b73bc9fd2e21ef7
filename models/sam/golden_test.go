package sam

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// The fixtures in testdata/sam come from scripts/golden_sam.py: random-weight models of
// the real segment-anything code saved with torch.save, and what SamPredictor answers.

var goldenCases = []string{"tiny_win", "tiny_global"}

// tolerance of embeddings and logits: |go − ref| / max(|ref|, 0.01·max|ref|).
const goldenTol = 1e-4

func loadGolden(t *testing.T, name string) (*Model, map[string]*tensor.Tensor) {
	t.Helper()
	return loadFixture(t, name, filepath.Join("..", "..", "testdata", "sam", name+".json"))
}

// loadFixture loads testdata/sam/NAME.pth with the given JSON config (empty: recognised
// from the weights) and the reference's outputs NAME_out.safetensors.
func loadFixture(t *testing.T, name, config string) (*Model, map[string]*tensor.Tensor) {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "sam")
	m, err := Load(filepath.Join(dir, name+".pth"), config)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, name+"_out.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		d, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = tensor.New(d, shape...)
	}
	return m, out
}

// scaledErr is the one golden measure, golden.Err: max |got − want| /
// max(|want|, 0.01·max|want|), +Inf on NaN.
func scaledErr(got, want []float32) float64 { return golden.Err(got, want) }

// checkClose compares got with want under the golden measure within
// goldenTol (FOVEA_GOLDEN_REPORT=1 logs every figure).
func checkClose(t golden.TB, what string, got, want *tensor.Tensor) {
	t.Helper()
	tensortest.CheckTensor(t, "sam/"+what, got, want, goldenTol)
}

// checkMasks requires identical masks except where the reference logit is within 1e-4 of
// the threshold.
func checkMasks(t *testing.T, what string, got, want, logits *tensor.Tensor) {
	t.Helper()
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %s, want %s", what, tensor.FormatShape(got.Shape()), tensor.FormatShape(want.Shape()))
	}
	bad := 0
	for i, g := range got.Data() {
		if g != want.Data()[i] && math.Abs(float64(logits.Data()[i])) > 1e-4 {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d mask pixels differ away from the threshold", what, bad, got.Size())
	}
}

// toCHW turns a (h, w, 3) golden image into (3, h, w).
func toCHW(img *tensor.Tensor) *tensor.Tensor { return tensor.Permute(img, 2, 0, 1) }

func TestGoldenEncoder(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			m, g := loadGolden(t, name)
			x := m.Preprocess(toCHW(g["input_image"]))
			checkClose(t, "features (fused attention)", m.ImageEncoder.Forward(x), g["features"])
			// The differentiable path: gradients on, same numbers.
			nn.Unfreeze(m.ImageEncoder)
			checkClose(t, "features (graph attention)", m.ImageEncoder.Forward(x), g["features"])
			if x2, ok := g["enc2.x"]; ok {
				nn.Freeze(m.ImageEncoder)
				checkClose(t, "rel-pos interpolated", m.ImageEncoder.Forward(x2), g["enc2.y"])
				nn.Unfreeze(m.ImageEncoder)
				checkClose(t, "rel-pos interpolated (graph)", m.ImageEncoder.Forward(x2), g["enc2.y"])
			}
		})
	}
}

func TestGoldenPredictor(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			m, g := loadGolden(t, name)
			p := NewPredictor(m)
			img := g["image"]
			h, w := img.SizeOf(0), img.SizeOf(1)
			pix := make([]uint8, img.Size())
			for i, v := range img.Data() {
				pix[i] = uint8(v)
			}
			// The resize is Pillow's, bit for bit.
			nh, nw := PreprocessShape(h, w, m.Config.ImageSize)
			resized := augment.ResizePIL(pix, h, w, 3, nh, nw, augment.PILBilinear)
			for i, v := range g["input_image"].Data() {
				if float32(resized[i]) != v {
					t.Fatalf("resized image differs from ResizeLongestSide.apply_image at byte %d", i)
				}
			}
			if err := p.SetImageRGB(pix, h, w, nil); err != nil {
				t.Fatal(err)
			}
			f, _, _ := p.Embedding()
			checkClose(t, "features", f, g["features"])
			for _, pc := range []string{"point", "points2_single", "box", "box_point", "mask_point", "neg_only"} {
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
				res, err = p.Predict(pr, opt)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, pc+" logits", res.Masks, g[pc+".logits"])
			}
			// Three boxes in one call.
			bd := g["batch_boxes.box"].Data()
			var prs []Prompt
			for i := 0; i < 3; i++ {
				prs = append(prs, Prompt{Box: &[4]float32{bd[4*i], bd[4*i+1], bd[4*i+2], bd[4*i+3]}})
			}
			rs, err := p.PredictBatch(prs, Options{Multimask: true, ReturnLogits: true})
			if err != nil {
				t.Fatal(err)
			}
			var logits, lows []*tensor.Tensor
			var ious []float32
			for _, r := range rs {
				logits = append(logits, r.Masks)
				lows = append(lows, r.LowRes)
				ious = append(ious, r.IoU...)
			}
			checkClose(t, "batched boxes logits", tensor.Stack(logits, 0), g["batch_boxes.logits"])
			checkClose(t, "batched boxes low-res", tensor.Stack(lows, 0), g["batch_boxes.low_res"])
			checkClose(t, "batched boxes iou", tensor.New(ious, 3, len(ious)/3), g["batch_boxes.iou"])
		})
	}
}

// goldenPrompt rebuilds prompt case pc from the fixture.
func goldenPrompt(g map[string]*tensor.Tensor, pc string) Prompt {
	var pr Prompt
	if pts, ok := g[pc+".points"]; ok {
		d := pts.Data()
		for i := 0; i < pts.SizeOf(0); i++ {
			pr.Points = append(pr.Points, [2]float32{d[2*i], d[2*i+1]})
			pr.Labels = append(pr.Labels, int(g[pc+".labels"].Data()[i]))
		}
	}
	if b, ok := g[pc+".box"]; ok {
		d := b.Data()
		pr.Box = &[4]float32{d[0], d[1], d[2], d[3]}
	}
	if mi, ok := g[pc+".mask_input"]; ok {
		pr.MaskInput = tensor.Reshape(mi, mi.SizeOf(1), mi.SizeOf(2))
	}
	return pr
}

// TestStateDictNames checks that the model's names are exactly the checkpoint's.
func TestStateDictNames(t *testing.T) {
	m, _ := loadGolden(t, "tiny_win")
	var names []string
	for _, e := range nn.StateDictEntries(m) {
		names = append(names, e.Name)
	}
	for _, want := range []string{
		"image_encoder.blocks.1.attn.rel_pos_h", "image_encoder.neck.3.bias",
		"prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", "prompt_encoder.mask_downscaling.6.weight",
		"mask_decoder.output_hypernetworks_mlps.3.layers.2.bias", "mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("state dict has no %q", want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "__") {
			t.Errorf("odd name %q", n)
		}
	}
}
