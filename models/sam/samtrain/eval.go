package samtrain

import (
	"fmt"
	"path/filepath"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// EvalResult holds the validation scores: the mean over instances of the IoU of the
// predicted mask with one point, three points and the box, and of the box itself taken
// as the mask (the baseline a prompt must beat).
type EvalResult struct {
	Instances   int     `json:"instances"`
	MIoU1       float64 `json:"mIoU_1pt"`
	MIoU3       float64 `json:"mIoU_3pt"`
	MIoUBox     float64 `json:"mIoU_box"`
	BoxBaseline float64 `json:"mIoU_box_as_mask"`
}

// String formats the scores on one line.
func (r EvalResult) String() string {
	return fmt.Sprintf("mIoU 1 point %.4f  3 points %.4f  box %.4f  (box as mask %.4f, %d instances)",
		r.MIoU1, r.MIoU3, r.MIoUBox, r.BoxBaseline, r.Instances)
}

// EvalOptions tune Evaluate.
type EvalOptions struct {
	// MaxImages limits the images evaluated (0: all).
	MaxImages int
	// Params are parameters besides the model's own (adapters) whose gradients are
	// switched off during evaluation, so that no graph is recorded.
	Params []*tensor.Tensor
}

// Evaluate scores the model on ds with the deterministic protocol of interactive
// segmentation, at the model's input resolution: for each instance, one positive point
// at the mask's centre (CenterPoint; three masks, the one of highest predicted IoU
// kept, as SamPredictor users do), then two corrective clicks (EvalClick) each with the
// previous low-resolution logits as the mask prompt (single mask), and separately the
// tight box (single mask). Nothing is recorded for gradients.
func Evaluate(m *sam.Model, ds Instances, opt EvalOptions) (EvalResult, error) {
	restore := noGrad(append(nn.Parameters(m), opt.Params...))
	defer restore()
	var sum [4]float64
	res := EvalResult{}
	n := ds.Len()
	if opt.MaxImages > 0 {
		n = min(n, opt.MaxImages)
	}
	for i := 0; i < n; i++ {
		img, masks, err := ds.Get(i)
		if err != nil {
			return res, err
		}
		ex, err := ToExample(img, masks, m.Config.ImageSize)
		if err != nil {
			return res, fmt.Errorf("image %d: %w", i, err)
		}
		if len(ex.Masks) == 0 {
			continue
		}
		p := predictExample(m, ex)
		for k := range ex.Masks {
			sum[0] += p.iou1[k]
			sum[1] += p.iou3[k]
			sum[2] += p.iouBox[k]
			sum[3] += p.baseline[k]
		}
		res.Instances += len(ex.Masks)
	}
	if res.Instances > 0 {
		f := float64(res.Instances)
		res.MIoU1, res.MIoU3, res.MIoUBox, res.BoxBaseline = sum[0]/f, sum[1]/f, sum[2]/f, sum[3]/f
	}
	return res, nil
}

// examplePrediction is Evaluate's work on one image.
type examplePrediction struct {
	iou1, iou3, iouBox, baseline []float64
	pred1                        [][]bool     // the one-point masks
	points                       [][2]float32 // the one-point prompts
}

func predictExample(m *sam.Model, ex Example) examplePrediction {
	h, w := ex.Image.SizeOf(1), ex.Image.SizeOf(2)
	hw := [2]int{h, w}
	emb := Embed(m, []*tensor.Tensor{ex.Image})
	n := len(ex.Masks)
	out := examplePrediction{iou1: make([]float64, n), iou3: make([]float64, n), iouBox: make([]float64, n), baseline: make([]float64, n)}
	prompts := make([]Prompt, n)
	boxes := make([]Prompt, n)
	for k, gt := range ex.Masks {
		pt, _ := CenterPoint(gt, h, w)
		prompts[k] = Prompt{Points: [][2]float32{pt}, Labels: []int{1}}
		out.points = append(out.points, pt)
		b, _ := MaskBox(gt, h, w)
		boxes[k] = Prompt{Box: &b}
		var inter, union float64
		for p, v := range gt {
			x, y := float32(p%w), float32(p/w)
			in := x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3]
			if in && v {
				inter++
			}
			if in || v {
				union++
			}
		}
		out.baseline[k] = inter / union
	}
	all := make([]int, n)
	for k := range all {
		all[k] = k
	}
	decode := func(ps []Prompt, masks *tensor.Tensor, multimask bool) (low, up *tensor.Tensor, chosen []int) {
		pts, labs, bx := promptTensors(ps, all)
		sparse, dense := m.PromptEncoder.Forward(pts, labs, bx, masks)
		low, iou := m.MaskDecoder.Forward(emb, m.PromptEncoder.DensePE(), sparse, dense, multimask)
		k := low.SizeOf(1)
		chosen = make([]int, n)
		id := iou.Data()
		for j := range chosen {
			for c := 1; c < k; c++ {
				if id[j*k+c] > id[j*k+chosen[j]] {
					chosen[j] = c
				}
			}
		}
		return low, upsampleCrop(m, low, hw), chosen
	}
	// pick returns instance j's chosen mask (h·w booleans) and low-res logits.
	g4 := m.Config.MaskInputSize()
	pick := func(low, up *tensor.Tensor, chosen []int, j int) ([]bool, []float32) {
		k := low.SizeOf(1)
		c := chosen[j]
		per := h * w
		mask := make([]bool, per)
		for q, v := range up.Data()[(j*k+c)*per : (j*k+c+1)*per] {
			mask[q] = v > 0
		}
		return mask, low.Data()[(j*k+c)*g4*g4 : (j*k+c+1)*g4*g4]
	}
	iou := func(a, b []bool) float64 {
		var i, u float64
		for q := range a {
			if a[q] && b[q] {
				i++
			}
			if a[q] || b[q] {
				u++
			}
		}
		if u == 0 {
			return 1
		}
		return i / u
	}
	low, up, chosen := decode(prompts, nil, true)
	preds := make([][]bool, n)
	for round := 0; round < 3; round++ {
		if round > 0 {
			prev := tensor.Empty(n, 1, g4, g4)
			for j := range ex.Masks {
				pred, l := pick(low, up, chosen, j)
				preds[j] = pred
				copy(prev.Data()[j*g4*g4:], l)
				pt, lab, ok := EvalClick(pred, ex.Masks[j], h, w)
				if !ok {
					pt, lab = [2]float32{0, 0}, -1
				}
				prompts[j].Points = append(prompts[j].Points, pt)
				prompts[j].Labels = append(prompts[j].Labels, lab)
			}
			low, up, chosen = decode(prompts, prev, false)
		}
		for j, gt := range ex.Masks {
			pred, _ := pick(low, up, chosen, j)
			switch round {
			case 0:
				out.iou1[j] = iou(pred, gt)
				out.pred1 = append(out.pred1, pred)
			case 2:
				out.iou3[j] = iou(pred, gt)
			}
		}
	}
	low, up, chosen = decode(boxes, nil, false)
	for j, gt := range ex.Masks {
		pred, _ := pick(low, up, chosen, j)
		out.iouBox[j] = iou(pred, gt)
	}
	return out
}

// noGrad switches off gradients of params and returns the function that switches them
// back on.
func noGrad(params []*tensor.Tensor) func() {
	var changed []*tensor.Tensor
	for _, p := range params {
		if p.RequiresGrad() {
			p.SetRequiresGrad(false)
			changed = append(changed, p)
		}
	}
	return func() {
		for _, p := range changed {
			p.SetRequiresGrad(true)
		}
	}
}

// WriteOverlays writes, for the first n images of ds, the image with the one-point
// masks (one colour per instance, the points as small boxes) beside the ground truth,
// as PNG files in dir.
func WriteOverlays(dir string, m *sam.Model, ds Instances, n int, params []*tensor.Tensor) error {
	restore := noGrad(append(nn.Parameters(m), params...))
	defer restore()
	for i := 0; i < min(n, ds.Len()); i++ {
		img, masks, err := ds.Get(i)
		if err != nil {
			return err
		}
		ex, err := ToExample(img, masks, m.Config.ImageSize)
		if err != nil {
			return err
		}
		h, w := ex.Image.SizeOf(1), ex.Image.SizeOf(2)
		im := data.NewImage(3, h, w)
		for q, v := range ex.Image.Data() {
			im.Pix[q] = v / 255
		}
		pm, gm := data.NewMask(h, w), data.NewMask(h, w)
		var boxes []data.Box
		if len(ex.Masks) > 0 {
			p := predictExample(m, ex)
			for k := range ex.Masks {
				for q := range ex.Masks[k] {
					if p.pred1[k][q] {
						pm.Pix[q] = uint8(k%20 + 1)
					}
					if ex.Masks[k][q] {
						gm.Pix[q] = uint8(k%20 + 1)
					}
				}
				pt := p.points[k]
				boxes = append(boxes, data.Box{X0: pt[0] - 1, Y0: pt[1] - 1, X1: pt[0] + 2, Y1: pt[1] + 2, Class: 15})
			}
		}
		panel := []*data.Image{data.Overlay(im, pm, boxes, 0.55), data.Overlay(im, gm, nil, 0.55)}
		if err := data.WritePNG(filepath.Join(dir, fmt.Sprintf("%04d.png", i)), data.Grid(panel, 2, 4, 1)); err != nil {
			return err
		}
	}
	return nil
}
