package sam

import (
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// PreprocessShape is the (h, w) of an oldH×oldW image resized so that its longer side is
// long, rounding each side to nearest (segment-anything's get_preprocess_shape).
func PreprocessShape(oldH, oldW, long int) (h, w int) {
	scale := float64(long) / float64(max(oldH, oldW))
	return int(float64(oldH)*scale + 0.5), int(float64(oldW)*scale + 0.5)
}

// Predictor answers prompts on one image at a time, as segment-anything's SamPredictor:
// SetImage runs the image encoder once; Predict and PredictBatch then take points, boxes
// and mask inputs in the original image's pixel coordinates and return masks at the
// original size. One Predictor may serve many goroutines: Predict calls run
// concurrently with each other (they only read the embedding), SetImage waits for them.
type Predictor struct {
	Model *Model

	mu        sync.RWMutex
	features  *tensor.Tensor // (1, D, G, G), nil before SetImage
	origSize  [2]int         // (H, W) of the original image
	inputSize [2]int         // (h, w) of the resized image before padding

	// prepMu guards prep, the decoder's image-only work (MaskDecoder.PrepareImage) for
	// prepFor, made on the first prompt without a mask input after an image is set.
	prepMu  sync.Mutex
	prepFor *tensor.Tensor
	prep    *DecoderImage
}

// prepared returns the decoder's image-only work for features, made once per image,
// or nil when the decoder cannot take the prepared path (then Forward is used).
func (p *Predictor) prepared(features, dense *tensor.Tensor) *DecoderImage {
	p.prepMu.Lock()
	defer p.prepMu.Unlock()
	if p.prepFor != features {
		p.prep = p.Model.MaskDecoder.PrepareImage(features, p.Model.PromptEncoder.DensePE(), dense)
		p.prepFor = features
	}
	return p.prep
}

// NewPredictor returns a predictor over m. It freezes m's parameters (nn.Freeze), so
// inference records no graph; unfreeze them to train.
func NewPredictor(m *Model) *Predictor {
	// Only write what changes, so that predictors made concurrently over a frozen model
	// (as Load returns it) do not race.
	for _, p := range nn.Parameters(m) {
		if p.RequiresGrad() {
			p.SetRequiresGrad(false)
		}
	}
	return &Predictor{Model: m}
}

// ErrNoImage is returned by Predict before an image or embedding is set.
var ErrNoImage = errors.New("sam: no image set: call SetImage or SetEmbedding first")

// SetImage computes the embedding of img, converted to 8-bit RGB as augment.GoImageToHWC
// does (grey images repeated to three channels, alpha dropped). progress, if not nil, is
// called as the encoder goes (see ImageEncoder.ForwardProgress).
func (p *Predictor) SetImage(img image.Image, progress func(done, total int)) error {
	pix, h, w, c := augment.GoImageToHWC(img)
	if c == 1 {
		rgb := make([]uint8, 0, h*w*3)
		for _, v := range pix {
			rgb = append(rgb, v, v, v)
		}
		pix = rgb
	}
	return p.SetImageRGB(pix, h, w, progress)
}

// SetImageRGB computes the embedding of an 8-bit RGB image pix: (h, w, 3) row-major,
// resized with Pillow's bilinear filter so its longer side is ImageSize (as
// segment-anything's ResizeLongestSide.apply_image), normalised and padded.
func (p *Predictor) SetImageRGB(pix []uint8, h, w int, progress func(done, total int)) error {
	if h < 1 || w < 1 || len(pix) != h*w*3 {
		return fmt.Errorf("sam: image of %d×%d RGB needs %d bytes, have %d", h, w, h*w*3, len(pix))
	}
	s := p.Model.Config.ImageSize
	nh, nw := PreprocessShape(h, w, s)
	resized := augment.ResizePIL(pix, h, w, 3, nh, nw, augment.PILBilinear)
	x := tensor.Empty(3, nh, nw)
	xd := x.Data()
	for i := 0; i < nh*nw; i++ {
		for c := 0; c < 3; c++ {
			xd[c*nh*nw+i] = float32(resized[i*3+c])
		}
	}
	return p.setInput(x, [2]int{h, w}, progress)
}

// SetResizedImage computes the embedding of an image already resized for the model,
// img: (3, h, w) with values 0…255 and max(h, w) = ImageSize, that was origSize (H, W)
// before (segment-anything's set_torch_image).
func (p *Predictor) SetResizedImage(img *tensor.Tensor, origSize [2]int, progress func(done, total int)) error {
	s := p.Model.Config.ImageSize
	if img.Dim() != 3 || img.SizeOf(0) != 3 || max(img.SizeOf(1), img.SizeOf(2)) != s {
		return fmt.Errorf("sam: resized image %s, want (3, h, w) with longer side %d", shapeOf(img), s)
	}
	return p.setInput(img, origSize, progress)
}

func (p *Predictor) setInput(img *tensor.Tensor, origSize [2]int, progress func(done, total int)) error {
	x := p.Model.Preprocess(img)
	f := p.Model.ImageEncoder.ForwardProgress(x, progress)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.features, p.origSize, p.inputSize = f, origSize, [2]int{img.SizeOf(1), img.SizeOf(2)}
	return nil
}

// SetEmbedding sets a previously computed image embedding features: (1, D, G, G) of an
// image of origSize (H, W) that was resized to inputSize (h, w).
func (p *Predictor) SetEmbedding(features *tensor.Tensor, origSize, inputSize [2]int) error {
	c := p.Model.Config
	if !tensor.SameShape(features.Shape(), []int{1, c.PromptEmbedDim, c.Grid(), c.Grid()}) {
		return fmt.Errorf("sam: embedding %s, this model needs (1, %d, %d, %d)", shapeOf(features), c.PromptEmbedDim, c.Grid(), c.Grid())
	}
	if wh, ww := PreprocessShape(origSize[0], origSize[1], c.ImageSize); origSize[0] < 1 || origSize[1] < 1 || inputSize != [2]int{wh, ww} {
		return fmt.Errorf("sam: original size %v gives input size (%d, %d) for this model, not %v", origSize, wh, ww, inputSize)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.features, p.origSize, p.inputSize = features, origSize, inputSize
	return nil
}

// Embedding returns the current image embedding (1, D, G, G) (nil before an image is
// set), the original image size and the resized input size.
func (p *Predictor) Embedding() (features *tensor.Tensor, origSize, inputSize [2]int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.features, p.origSize, p.inputSize
}

// Prompt is one prompt, in the original image's pixel coordinates.
type Prompt struct {
	Points [][2]float32 // (x, y) points
	Labels []int        // one per point: 1 foreground, 0 background (−1: ignored padding)
	Box    *[4]float32  // x0, y0, x1, y1, or nil
	// MaskInput is a low-resolution mask of logits (4G, 4G), typically a previous
	// result's LowRes, or nil.
	MaskInput *tensor.Tensor
}

// Options select what Predict returns.
type Options struct {
	// Multimask returns the M (3) multimask answers instead of the single answer; best for
	// ambiguous prompts such as one point.
	Multimask bool
	// ReturnLogits returns mask logits instead of 0/1 masks.
	ReturnLogits bool
}

// Result is the answer to one prompt: K masks (K = 3 with Multimask, else 1).
type Result struct {
	Masks  *tensor.Tensor // (K, H, W): 1 inside, 0 outside (logits with ReturnLogits)
	IoU    []float32      // (K) predicted IoU of each mask
	LowRes *tensor.Tensor // (K, 4G, 4G) low-resolution logits, to feed back as MaskInput
}

// Predict answers one prompt.
func (p *Predictor) Predict(pr Prompt, opt Options) (Result, error) {
	rs, err := p.PredictBatch([]Prompt{pr}, opt)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// signature groups prompts that can run as one batch: the same number of points and the
// same presence of a box and a mask input.
type signature struct {
	points    int
	box, mask bool
}

// PredictBatch answers many prompts on the current image: prompts of the same kind (same
// number of points, box or not, mask or not) run through the prompt encoder and mask
// decoder as one batch, so each result equals what Predict gives for that prompt alone.
func (p *Predictor) PredictBatch(prompts []Prompt, opt Options) ([]Result, error) {
	p.mu.RLock()
	features, origSize, inputSize := p.features, p.origSize, p.inputSize
	p.mu.RUnlock()
	if features == nil {
		return nil, ErrNoImage
	}
	c := p.Model.Config
	groups := map[signature][]int{}
	var order []signature
	for i, pr := range prompts {
		if err := p.checkPrompt(i, pr); err != nil {
			return nil, err
		}
		s := signature{points: len(pr.Points), box: pr.Box != nil, mask: pr.MaskInput != nil}
		if _, ok := groups[s]; !ok {
			order = append(order, s)
		}
		groups[s] = append(groups[s], i)
	}
	results := make([]Result, len(prompts))
	nh, nw := inputSize[0], inputSize[1]
	sx := float64(nw) / float64(origSize[1])
	sy := float64(nh) / float64(origSize[0])
	mi := c.MaskInputSize()
	for _, s := range order {
		idx := groups[s]
		bs := len(idx)
		var points, labels, boxes, masks *tensor.Tensor
		if s.points > 0 {
			pd := make([]float32, 0, bs*s.points*2)
			ld := make([]float32, 0, bs*s.points)
			for _, i := range idx {
				for j, pt := range prompts[i].Points {
					pd = append(pd, float32(float64(pt[0])*sx), float32(float64(pt[1])*sy))
					ld = append(ld, float32(prompts[i].Labels[j]))
				}
			}
			points, labels = tensor.New(pd, bs, s.points, 2), tensor.New(ld, bs, s.points)
		}
		if s.box {
			bd := make([]float32, 0, bs*4)
			for _, i := range idx {
				b := prompts[i].Box
				bd = append(bd, float32(float64(b[0])*sx), float32(float64(b[1])*sy), float32(float64(b[2])*sx), float32(float64(b[3])*sy))
			}
			boxes = tensor.New(bd, bs, 4)
		}
		if s.mask {
			md := make([]float32, 0, bs*mi*mi)
			for _, i := range idx {
				md = append(md, prompts[i].MaskInput.Data()...)
			}
			masks = tensor.New(md, bs, 1, mi, mi)
		}
		sparse, dense := p.Model.PromptEncoder.Forward(points, labels, boxes, masks)
		var low, iou *tensor.Tensor
		if img := (*DecoderImage)(nil); !s.mask {
			// Without a mask input every prompt shares the no-mask dense embedding: the
			// image-side decoder work is done once per image.
			if img = p.prepared(features, dense); img != nil {
				low, iou = p.Model.MaskDecoder.ForwardPrepared(img, sparse, opt.Multimask)
			}
		}
		if low == nil {
			low, iou = p.Model.MaskDecoder.Forward(features, p.Model.PromptEncoder.DensePE(), sparse, dense, opt.Multimask)
		}
		full := p.Model.PostprocessMasks(low, inputSize, origSize)
		k := low.SizeOf(1)
		fd, ld, id := full.Data(), low.Data(), iou.Data()
		per, lper := k*origSize[0]*origSize[1], k*low.SizeOf(2)*low.SizeOf(3)
		for bi, i := range idx {
			m := append([]float32(nil), fd[bi*per:(bi+1)*per]...)
			if !opt.ReturnLogits {
				for j, v := range m {
					if v > MaskThreshold {
						m[j] = 1
					} else {
						m[j] = 0
					}
				}
			}
			results[i] = Result{
				Masks:  tensor.New(m, k, origSize[0], origSize[1]),
				IoU:    append([]float32(nil), id[bi*k:(bi+1)*k]...),
				LowRes: tensor.New(append([]float32(nil), ld[bi*lper:(bi+1)*lper]...), k, low.SizeOf(2), low.SizeOf(3)),
			}
		}
	}
	return results, nil
}

// checkPrompt reports what is wrong with prompt i, if anything.
func (p *Predictor) checkPrompt(i int, pr Prompt) error {
	mi := p.Model.Config.MaskInputSize()
	switch {
	case len(pr.Points) != len(pr.Labels):
		return fmt.Errorf("sam: prompt %d has %d points and %d labels, want one label per point", i, len(pr.Points), len(pr.Labels))
	case pr.MaskInput != nil && pr.MaskInput.Size() != mi*mi:
		return fmt.Errorf("sam: prompt %d has a mask input of shape %s, want (%d, %d)", i, shapeOf(pr.MaskInput), mi, mi)
	}
	for j, l := range pr.Labels {
		if l < -1 || l > 1 {
			return fmt.Errorf("sam: prompt %d point %d has label %d, want 1 (foreground), 0 (background) or -1 (ignore)", i, j, l)
		}
	}
	return nil
}
