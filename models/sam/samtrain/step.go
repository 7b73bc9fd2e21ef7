package samtrain

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Recipe is SAM's training recipe (Kirillov et al. 2023, appendix A): prompts simulated
// from each ground-truth mask and the loss on the masks and IoU predictions.
type Recipe struct {
	// BoxProb is the probability that an instance's first prompt is a noisy box rather
	// than one foreground point drawn uniformly (SAM: 0.5, "with equal probability").
	BoxProb float64 `json:"box_prob"`
	// BoxNoise jitters the boxes (SAM: 10 % of the side, at most 20 px).
	BoxNoise BoxNoise `json:"box_noise"`
	// PointRounds is the number of corrective-click rounds after the first prompt (SAM:
	// 8): each adds one click drawn uniformly from the previous prediction's error region
	// and feeds the previous low-resolution logits back as the mask prompt.
	PointRounds int `json:"point_rounds"`
	// MaskRounds is the number of further rounds with no new click, only the previous
	// mask logits (SAM: 2, one of them placed among the click rounds; fovea runs them
	// after the click rounds).
	MaskRounds int `json:"mask_rounds"`
	// MasksPerImage caps the instances trained per image and step (SAM: 64 per GPU);
	// images with more are sub-sampled at random.
	MasksPerImage int `json:"masks_per_image"`
	// FocalWeight, DiceWeight and IoUWeight weigh the loss terms (SAM: 20, 1, 1).
	FocalWeight float64 `json:"focal_weight"`
	DiceWeight  float64 `json:"dice_weight"`
	IoUWeight   float64 `json:"iou_weight"`
}

// DefaultRecipe is SAM's recipe with 8 click rounds and no mask-only round.
func DefaultRecipe() Recipe {
	return Recipe{BoxProb: 0.5, BoxNoise: BoxNoise{Frac: 0.1, Max: 20}, PointRounds: 8, MaskRounds: 0,
		MasksPerImage: 8, FocalWeight: 20, DiceWeight: 1, IoUWeight: 1}
}

// Validate reports the first unusable field.
func (r Recipe) Validate() error {
	switch {
	case !(r.BoxProb >= 0 && r.BoxProb <= 1):
		return fmt.Errorf("samtrain: box_prob %v, want 0..1", r.BoxProb)
	case !(r.BoxNoise.Frac >= 0) || !(r.BoxNoise.Max >= 0):
		return fmt.Errorf("samtrain: box_noise %+v, want fractions and pixels ≥ 0", r.BoxNoise)
	case r.PointRounds < 0 || r.MaskRounds < 0:
		return fmt.Errorf("samtrain: point_rounds %d, mask_rounds %d, want ≥ 0", r.PointRounds, r.MaskRounds)
	case r.MasksPerImage < 1:
		return fmt.Errorf("samtrain: masks_per_image %d, want ≥ 1", r.MasksPerImage)
	case !(r.FocalWeight >= 0 && r.DiceWeight >= 0 && r.IoUWeight >= 0):
		return fmt.Errorf("samtrain: loss weights %v, %v, %v, want ≥ 0", r.FocalWeight, r.DiceWeight, r.IoUWeight)
	}
	return nil
}

// Example is one training image with its instances, at the model's input resolution:
// Image (3, h, w) with values 0…255 and max(h, w) = ImageSize (the image resized as
// SAM's ResizeLongestSide; Preprocess pads it), and one h·w binary mask per instance.
type Example struct {
	Image *tensor.Tensor
	Masks [][]bool
}

// Prompt is an instance's prompt in input-image pixels: points (x, y) with labels (1
// foreground, 0 background, −1 padding) and an optional box x0, y0, x1, y1.
type Prompt struct {
	Points [][2]float32
	Labels []int
	Box    *[4]float32
}

// ClickFunc returns instance i's next click given its current prediction pred and its
// ground truth gt (h·w each, input resolution); ok false adds a padding point.
type ClickFunc func(i int, pred, gt []bool) (pt [2]float32, label int, ok bool)

// Stats are the numbers a step reports besides the loss.
type Stats struct {
	Instances int     // instances trained
	FirstIoU  float64 // mean IoU of the first prompt's trained mask
	LastIoU   float64 // mean IoU after the last round
}

// Embed runs the image encoder on a batch of examples: (B, D, G, G), recording a graph
// when the encoder's parameters require gradients.
func Embed(m *sam.Model, images []*tensor.Tensor) *tensor.Tensor {
	xs := make([]*tensor.Tensor, len(images))
	for i, img := range images {
		xs[i] = m.Preprocess(img)
	}
	x := xs[0]
	if len(xs) > 1 {
		x = tensor.Cat(xs, 0)
	}
	return m.ImageEncoder.Forward(x)
}

// ImageLoss runs SAM's interactive simulation for the instances gts (h·w masks) of one
// image whose embedding is emb (1, D, G, G) and input size (h, w), starting from the
// prompts first (one per instance: one point, or a box), for 1 + rounds + maskRounds
// rounds: round 0 answers the first prompts (three masks for a lone point, the single
// mask for a box); each later round adds click(i, …) to the instance's points (none in
// the last maskRounds rounds) and feeds back the previous round's low-resolution logits
// (detached) as the mask prompt, answering with the single mask. Each round's loss is
//
//	mean over instances of [Wf·focal + Wd·dice](trained mask) + Wi·mean over output masks of (IoU_pred − IoU)²
//
// with the mask terms on the low-resolution logits upsampled bilinearly (align_corners
// false, as SAM's postprocess_masks) to ImageSize and cropped to (h, w), compared with
// the ground truth at that resolution; when three masks answer, the trained mask is the
// one of lowest focal + dice loss (the others get no mask loss), and IoU is the true IoU
// of each output's mask (logits > 0). The result is the mean of the rounds' losses.
func ImageLoss(m *sam.Model, emb *tensor.Tensor, hw [2]int, gts [][]bool, first []Prompt, rounds, maskRounds int, click ClickFunc, r Recipe) (*tensor.Tensor, Stats) {
	n := len(gts)
	if n == 0 || len(first) != n {
		panic(fmt.Sprintf("samtrain.ImageLoss: %d masks and %d prompts", n, len(first)))
	}
	st := Stats{Instances: n}
	prompts := make([]Prompt, n)
	for i, p := range first {
		prompts[i] = Prompt{Points: append([][2]float32(nil), p.Points...), Labels: append([]int(nil), p.Labels...), Box: p.Box}
	}
	// Group the instances by the shape of their prompts: boxes, and points only.
	var groups [][]int
	var boxG, ptG []int
	for i, p := range prompts {
		if p.Box != nil {
			boxG = append(boxG, i)
		} else {
			ptG = append(ptG, i)
		}
	}
	for _, g := range [][]int{ptG, boxG} {
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	g4 := m.Config.MaskInputSize()
	prevLow := make([]*tensor.Tensor, n) // (1, 1, 4G, 4G) detached, per instance
	preds := make([][]bool, n)
	var total *tensor.Tensor
	nr := 1 + rounds + maskRounds
	for round := 0; round < nr; round++ {
		if round > 0 && round <= rounds {
			for i := range prompts {
				pt, lab, ok := click(i, preds[i], gts[i])
				if !ok {
					pt, lab = [2]float32{0, 0}, -1
				}
				prompts[i].Points = append(prompts[i].Points, pt)
				prompts[i].Labels = append(prompts[i].Labels, lab)
			}
		}
		var roundLoss *tensor.Tensor
		var iouSum float64
		for _, g := range groups {
			multimask := round == 0 && prompts[g[0]].Box == nil && len(prompts[g[0]].Points) == 1
			var masks *tensor.Tensor
			if round > 0 {
				ms := make([]*tensor.Tensor, len(g))
				for k, i := range g {
					ms[k] = prevLow[i]
				}
				masks = tensor.Cat(ms, 0)
			}
			pts, labs, boxes := promptTensors(prompts, g)
			sparse, dense := m.PromptEncoder.Forward(pts, labs, boxes, masks)
			low, iouPred := m.MaskDecoder.Forward(emb, m.PromptEncoder.DensePE(), sparse, dense, multimask)
			loss, chosen, ious := groupLoss(m, low, iouPred, hw, gts, g, r)
			w := tensor.MulScalar(loss, float32(len(g))/float32(n))
			if roundLoss == nil {
				roundLoss = w
			} else {
				roundLoss = tensor.Add(roundLoss, w)
			}
			k := low.SizeOf(1)
			ld := low.Data()
			up := upsampleCrop(m, low.Detach(), hw)
			ud := up.Data()
			per := hw[0] * hw[1]
			for j, i := range g {
				c := chosen[j]
				prevLow[i] = tensor.New(append([]float32(nil), ld[(j*k+c)*g4*g4:(j*k+c+1)*g4*g4]...), 1, 1, g4, g4)
				p := make([]bool, per)
				for q, v := range ud[(j*k+c)*per : (j*k+c+1)*per] {
					p[q] = v > 0
				}
				preds[i] = p
				iouSum += float64(ious[j])
			}
		}
		if round == 0 {
			st.FirstIoU = iouSum / float64(n)
		}
		st.LastIoU = iouSum / float64(n)
		if total == nil {
			total = roundLoss
		} else {
			total = tensor.Add(total, roundLoss)
		}
	}
	return tensor.MulScalar(total, float32(1/float64(nr))), st
}

// promptTensors stacks the prompts of instances g: points (B, N, 2) and labels (B, N) (nil
// when no point), boxes (B, 4) (nil without boxes).
func promptTensors(prompts []Prompt, g []int) (pts, labs, boxes *tensor.Tensor) {
	np := len(prompts[g[0]].Points)
	if np > 0 {
		pd := make([]float32, 0, len(g)*np*2)
		ld := make([]float32, 0, len(g)*np)
		for _, i := range g {
			p := prompts[i]
			if len(p.Points) != np || len(p.Labels) != np {
				panic("samtrain: instances of a group with different numbers of points")
			}
			for k, q := range p.Points {
				pd = append(pd, q[0], q[1])
				ld = append(ld, float32(p.Labels[k]))
			}
		}
		pts, labs = tensor.New(pd, len(g), np, 2), tensor.New(ld, len(g), np)
	}
	if prompts[g[0]].Box != nil {
		bd := make([]float32, 0, 4*len(g))
		for _, i := range g {
			b := prompts[i].Box
			bd = append(bd, b[0], b[1], b[2], b[3])
		}
		boxes = tensor.New(bd, len(g), 4)
	}
	return pts, labs, boxes
}

// upsampleCrop maps low-resolution logits (B, K, 4G, 4G) to the input resolution:
// bilinear to ImageSize² (align_corners false), cropped to hw. Result (B, K, h, w).
func upsampleCrop(m *sam.Model, low *tensor.Tensor, hw [2]int) *tensor.Tensor {
	s := m.Config.ImageSize
	x := functional.Interpolate(low, functional.InterpolateOptions{Size: [2]int{s, s}, Mode: functional.Bilinear})
	if hw[0] != s {
		x = tensor.Narrow(x, 2, 0, hw[0])
	}
	if hw[1] != s {
		x = tensor.Narrow(x, 3, 0, hw[1])
	}
	return x
}

// groupLoss is one round's loss for instances g: low (B, K, 4G, 4G) logits and iouPred
// (B, K). It returns the loss (a scalar, the mean over the B instances), the trained
// mask of each instance and its true IoU.
func groupLoss(m *sam.Model, low, iouPred *tensor.Tensor, hw [2]int, gts [][]bool, g []int, r Recipe) (*tensor.Tensor, []int, []float32) {
	b, k := low.SizeOf(0), low.SizeOf(1)
	per := hw[0] * hw[1]
	up := tensor.Reshape(upsampleCrop(m, low, hw), b*k, hw[0], hw[1])
	td := make([]float32, b*k*per)
	for j, i := range g {
		for c := 0; c < k; c++ {
			row := td[(j*k+c)*per : (j*k+c+1)*per]
			for q, v := range gts[i] {
				if v {
					row[q] = 1
				}
			}
		}
	}
	target := tensor.New(td, b*k, hw[0], hw[1])
	focal := SigmoidFocalLoss(up, target, FocalAlpha, FocalGamma)
	dice := DiceLoss(up, target, DiceSmooth)
	per_ := tensor.Add(tensor.MulScalar(focal, float32(r.FocalWeight)), tensor.MulScalar(dice, float32(r.DiceWeight)))
	trueIoU := MaskIoU(up, target)
	chosen := make([]int, b)
	ious := make([]float32, b)
	pd := per_.Data()
	idx := make([]float32, b)
	for j := 0; j < b; j++ {
		best := 0
		for c := 1; c < k; c++ {
			if pd[j*k+c] < pd[j*k+best] {
				best = c
			}
		}
		chosen[j], ious[j], idx[j] = best, trueIoU[j*k+best], float32(j*k+best)
	}
	maskLoss := per_
	if k > 1 {
		maskLoss = tensor.IndexSelect(per_, 0, tensor.New(idx, b))
	}
	loss := tensor.MeanAll(maskLoss)
	if r.IoUWeight > 0 {
		mse := tensor.MSELoss(tensor.Reshape(iouPred, b*k), tensor.New(trueIoU, b*k), tensor.ReduceMean)
		loss = tensor.Add(loss, tensor.MulScalar(mse, float32(r.IoUWeight)))
	}
	return loss, chosen, ious
}

// FirstPrompts draws each instance's first prompt as SAM's recipe: a noisy box with
// probability r.BoxProb, else one foreground point drawn uniformly.
func FirstPrompts(rng *rand.Rand, gts [][]bool, hw [2]int, r Recipe) []Prompt {
	out := make([]Prompt, len(gts))
	for i, gt := range gts {
		if rng.Float64() < r.BoxProb {
			if b, ok := NoisyBox(rng, gt, hw[0], hw[1], r.BoxNoise); ok {
				out[i] = Prompt{Box: &b}
				continue
			}
		}
		pt, _ := RandomPoint(rng, gt, hw[1])
		out[i] = Prompt{Points: [][2]float32{pt}, Labels: []int{1}}
	}
	return out
}

// RandomClicks is the ClickFunc of training: CorrectiveClick with rng.
func RandomClicks(rng *rand.Rand, w int) ClickFunc {
	return func(_ int, pred, gt []bool) ([2]float32, int, bool) { return CorrectiveClick(rng, pred, gt, w) }
}

// BatchLoss is one training step's loss on a batch of examples: the images are encoded
// together, and each image's instances (at most r.MasksPerImage, sub-sampled with rng)
// go through ImageLoss with prompts and clicks drawn from rng. The result is the mean
// over images (images with no instance are skipped; nil if none has any).
func BatchLoss(m *sam.Model, rng *rand.Rand, batch []Example, r Recipe) (*tensor.Tensor, Stats) {
	var imgs []*tensor.Tensor
	var exs []Example
	for _, ex := range batch {
		if len(ex.Masks) > 0 {
			imgs = append(imgs, ex.Image)
			exs = append(exs, ex)
		}
	}
	if len(exs) == 0 {
		return nil, Stats{}
	}
	emb := Embed(m, imgs)
	var total *tensor.Tensor
	var st Stats
	for b, ex := range exs {
		gts := ex.Masks
		if len(gts) > r.MasksPerImage {
			perm := rng.Perm(len(gts))[:r.MasksPerImage]
			sub := make([][]bool, len(perm))
			for k, p := range perm {
				sub[k] = gts[p]
			}
			gts = sub
		}
		hw := [2]int{ex.Image.SizeOf(1), ex.Image.SizeOf(2)}
		e := emb
		if len(exs) > 1 {
			e = tensor.Narrow(emb, 0, b, 1)
		}
		first := FirstPrompts(rng, gts, hw, r)
		l, s := ImageLoss(m, e, hw, gts, first, r.PointRounds, r.MaskRounds, RandomClicks(rng, hw[1]), r)
		if total == nil {
			total = l
		} else {
			total = tensor.Add(total, l)
		}
		st.Instances += s.Instances
		st.FirstIoU += s.FirstIoU * float64(s.Instances)
		st.LastIoU += s.LastIoU * float64(s.Instances)
	}
	st.FirstIoU /= math.Max(1, float64(st.Instances))
	st.LastIoU /= math.Max(1, float64(st.Instances))
	return tensor.MulScalar(total, float32(1/float64(len(exs)))), st
}
