package automask

import (
	"fmt"
	"image"
	"sync"
	"sync/atomic"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// edgeTolerance is is_box_near_crop_edge's atol, in pixels.
const edgeTolerance = 20

// decoderBatch is the most prompts per call of the mask decoder. A batch of
// PointsPerBatch points is decoded this many prompts at a time: the results do not
// depend on it. The decoder's prepared path (sam.MaskDecoder.ForwardPrepared) keeps
// about 30 MB of intermediates a prompt for vit_b in recycled buffers; a few prompts a
// call make its GEMMs tall enough to run near the kernel's peak.
const decoderBatch = 8

// Generator segments whole images with a SAM model. It is safe for concurrent use.
type Generator struct {
	model *sam.Model
	opt   Options
	grids [][][2]float64
}

// New returns a generator over m with the options opt (see DefaultOptions). It freezes
// m's parameters (nn.Freeze), so inference records no graph.
func New(m *sam.Model, opt Options) (*Generator, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	nn.Freeze(m)
	return &Generator{model: m, opt: opt, grids: opt.grids()}, nil
}

// Options returns the generator's options.
func (g *Generator) Options() Options { return g.opt }

// GenerateImage is Generate on a Go image, converted to 8-bit RGB as sam.Predictor's
// SetImage does.
func (g *Generator) GenerateImage(img image.Image) ([]Record, error) {
	pix, h, w, c := augment.GoImageToHWC(img)
	if c == 1 {
		rgb := make([]uint8, 0, h*w*3)
		for _, v := range pix {
			rgb = append(rgb, v, v, v)
		}
		pix = rgb
	}
	return g.Generate(pix, h, w)
}

// Generate returns the masks of an 8-bit RGB image pix: (h, w, 3) row-major, in the
// order of SamAutomaticMaskGenerator.generate. The image encoder runs once per crop.
func (g *Generator) Generate(pix []uint8, h, w int) ([]Record, error) {
	return g.GenerateWithEmbedding(pix, h, w, nil)
}

// GenerateWithEmbedding is Generate with the embedding of the whole image already
// computed: features (1, D, G, G) as sam.Predictor.Embedding returns for this image (or
// nil to compute it). Crops of layers ≥ 1 are still encoded; pix may be nil when there
// are none (CropNLayers 0) and features are given.
func (g *Generator) GenerateWithEmbedding(pix []uint8, h, w int, features *tensor.Tensor) ([]Record, error) {
	c := g.model.Config
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("automask: image of %d×%d pixels", w, h)
	}
	if (pix != nil || features == nil || g.opt.CropNLayers > 0) && len(pix) != h*w*3 {
		return nil, fmt.Errorf("automask: image of %d×%d RGB needs %d bytes, have %d", w, h, h*w*3, len(pix))
	}
	if features != nil && !tensor.SameShape(features.Shape(), []int{1, c.PromptEmbedDim, c.Grid(), c.Grid()}) {
		return nil, fmt.Errorf("automask: embedding %s, this model needs (1, %d, %d, %d)",
			tensor.FormatShape(features.Shape()), c.PromptEmbedDim, c.Grid(), c.Grid())
	}
	orig := [2]int{h, w}
	crops, layers := GenerateCropBoxes(h, w, g.opt.CropNLayers, g.opt.CropOverlapRatio)
	for i, b := range crops {
		if b[2] <= b[0] || b[3] <= b[1] {
			return nil, fmt.Errorf("automask: crop %v of layer %d is empty: a %d×%d image is too small for %d crop layers", b, layers[i], w, h, g.opt.CropNLayers)
		}
	}
	st := &progressState{total: g.NumBatches(h, w), fn: g.opt.Progress}
	var data []maskData
	for ci, crop := range crops {
		ch, cw := crop[3]-crop[1], crop[2]-crop[0]
		f := features
		inputSize := [2]int{}
		inputSize[0], inputSize[1] = sam.PreprocessShape(ch, cw, c.ImageSize)
		if ci > 0 || f == nil {
			var err error
			if f, inputSize, err = g.encodeCrop(pix, h, w, crop, ci, len(crops)); err != nil {
				return nil, err
			}
		}
		data = append(data, g.processCrop(f, inputSize, crop, layers[ci], orig, st)...)
	}
	if len(crops) > 1 && len(data) > 0 {
		// Prefer masks from smaller crops.
		boxes := make([][4]float32, len(data))
		scores := make([]float32, len(data))
		for i, d := range data {
			boxes[i] = floatBox(d.box)
			scores[i] = float32(1) / float32((d.crop[2]-d.crop[0])*(d.crop[3]-d.crop[1]))
		}
		data = pick(data, BatchedNMS(boxes, scores, make([]int, len(data)), g.opt.CropNMSThresh))
	}
	if g.opt.MinMaskRegionArea > 0 {
		data = postprocessSmallRegions(data, orig, g.opt.MinMaskRegionArea, max(g.opt.BoxNMSThresh, g.opt.CropNMSThresh))
	}
	return g.records(data), nil
}

// NumBatches returns the number of batches of points that Generate runs on an h×w image
// (over all crops): the total that Options.Progress counts to.
func (g *Generator) NumBatches(h, w int) int {
	_, layers := GenerateCropBoxes(h, w, g.opt.CropNLayers, g.opt.CropOverlapRatio)
	n := 0
	for _, l := range layers {
		n += len(BatchIterator(len(g.grids[l]), g.opt.PointsPerBatch))
	}
	return n
}

// maskData is one mask on its way through the pipeline (the reference's MaskData row).
type maskData struct {
	rle   rle.RLE    // in the whole image
	box   [4]int     // x0, y0, x1, y1 (last pixels inside); in the crop until uncropped
	iou   float32    // predicted IoU
	point [2]float64 // the point prompt; in the crop until uncropped
	stab  float32    // stability score
	crop  [4]int     // the crop box
}

type progressState struct {
	done, total int
	fn          func(done, total int)
}

func (p *progressState) step() {
	p.done++
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
}

func floatBox(b [4]int) [4]float32 {
	return [4]float32{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}
}

func pick(data []maskData, keep []int) []maskData {
	out := make([]maskData, len(keep))
	for k, i := range keep {
		out[k] = data[i]
	}
	return out
}

// encodeCrop runs the image encoder on the crop of the image (the reference's set_image
// of the cropped array: Pillow-exact resize, normalisation, padding).
func (g *Generator) encodeCrop(pix []uint8, h, w int, crop [4]int, ci, crops int) (*tensor.Tensor, [2]int, error) {
	ch, cw := crop[3]-crop[1], crop[2]-crop[0]
	sub := pix
	if cw != w || ch != h {
		sub = make([]uint8, ch*cw*3)
		for y := 0; y < ch; y++ {
			copy(sub[y*cw*3:(y+1)*cw*3], pix[((crop[1]+y)*w+crop[0])*3:])
		}
	}
	// The model is frozen already (New); NewPredictor would freeze it again, a write that
	// races with concurrent Generate calls.
	p := &sam.Predictor{Model: g.model}
	var progress func(done, total int)
	if g.opt.EncodeProgress != nil {
		progress = func(done, total int) { g.opt.EncodeProgress(ci, crops, done, total) }
	}
	if err := p.SetImageRGB(sub, ch, cw, progress); err != nil {
		return nil, [2]int{}, err
	}
	f, _, inputSize := p.Embedding()
	return f, inputSize, nil
}

// processCrop is _process_crop after set_image: the crop's point grid in batches, NMS
// within the crop, and the move back to the image's frame.
func (g *Generator) processCrop(features *tensor.Tensor, inputSize [2]int, crop [4]int, layer int, orig [2]int, st *progressState) []maskData {
	ch, cw := crop[3]-crop[1], crop[2]-crop[0]
	grid := g.grids[layer]
	pts := make([][2]float64, len(grid))
	for i, p := range grid {
		pts[i] = [2]float64{p[0] * float64(cw), p[1] * float64(ch)}
	}
	var data []maskData
	dec := g.prepare(features)
	for _, b := range BatchIterator(len(pts), g.opt.PointsPerBatch) {
		data = append(data, g.processBatch(dec, inputSize, pts[b[0]:b[1]], crop, orig)...)
		st.step()
	}
	boxes := make([][4]float32, len(data))
	scores := make([]float32, len(data))
	for i, d := range data {
		boxes[i], scores[i] = floatBox(d.box), d.iou
	}
	data = pick(data, BatchedNMS(boxes, scores, make([]int, len(data)), g.opt.BoxNMSThresh))
	for i := range data {
		data[i].box = UncropBox(data[i].box, crop)
		data[i].point = UncropPoint(data[i].point, crop)
		data[i].crop = crop
	}
	return data
}

// processBatch is _process_batch: the points (in the crop's pixels) through the prompt
// encoder and mask decoder with multimask output, then per mask the predicted-IoU filter,
// upscaling to the crop, the stability filter, thresholding, the box, the crop-edge
// filter and the RLE in the image's frame.
func (g *Generator) processBatch(dec *imageDecoder, inputSize [2]int, pts [][2]float64, crop [4]int, orig [2]int) []maskData {
	ch, cw := crop[3]-crop[1], crop[2]-crop[0]
	sx := float64(inputSize[1]) / float64(cw)
	sy := float64(inputSize[0]) / float64(ch)
	resized := make([][2]float64, len(pts))
	for i, p := range pts {
		resized[i] = [2]float64{p[0] * sx, p[1] * sy}
	}
	low, iou, k, side := g.decode(dec, resized)
	// Masks are numbered prompt-major (prompt i, mask j → i·k + j), as the reference's
	// flatten(0, 1).
	var cands []int
	for f, v := range iou {
		if g.opt.PredIoUThresh > 0 && !(v > float32(g.opt.PredIoUThresh)) {
			continue
		}
		cands = append(cands, f)
	}
	out := make([]*maskData, len(cands))
	plane := side * side
	var next atomic.Int64
	cpu.Parallel(cpu.Threads(), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for {
				c := int(next.Add(1)) - 1
				if c >= len(cands) {
					break
				}
				f := cands[c]
				d := g.postprocess(low[f*plane:(f+1)*plane], side, inputSize, crop, orig)
				if d != nil {
					d.iou, d.point = iou[f], pts[f/k]
				}
				out[c] = d
			}
		}
	})
	var data []maskData
	for _, d := range out {
		if d != nil {
			data = append(data, *d)
		}
	}
	return data
}

// imageDecoder is one crop's embedding with what the mask decoder shares across its
// batches of points (nil prep: the decoder cannot take the prepared path, see
// sam.MaskDecoder.PrepareImage).
type imageDecoder struct {
	features *tensor.Tensor
	prep     *sam.DecoderImage
	low, iou []float32 // the last batch's results, reused by the next batch
}

// prepare computes the image-only part of the decoder's work on features (1, D, G, G).
func (g *Generator) prepare(features *tensor.Tensor) *imageDecoder {
	m := g.model
	_, dense := m.PromptEncoder.Forward(nil, nil, nil, nil) // the no-mask embedding
	return &imageDecoder{features: features, prep: m.MaskDecoder.PrepareImage(features, m.PromptEncoder.DensePE(), dense)}
}

// DecodePoints runs point prompts through the prompt encoder and mask decoder against
// one embedding as Generate does for the points of a crop: features (1, D, G, G) as
// sam.Predictor.Embedding returns, pts (x, y) in the resized input's pixels (the
// reference's apply_coords), foreground points with multimask output, in batches of
// PointsPerBatch. It returns the low-resolution logits (n, k, side, side) and predicted
// IoUs (n, k), prompt-major (k = 3 and side = 256 for SAM), of each batch to fn with the
// batch's first point: fn must not keep low or iou, whose storage the next batch reuses.
func (g *Generator) DecodePoints(features *tensor.Tensor, pts [][2]float64, fn func(first int, low, iou []float32, k, side int)) {
	dec := g.prepare(features)
	for _, b := range BatchIterator(len(pts), g.opt.PointsPerBatch) {
		low, iou, k, side := g.decode(dec, pts[b[0]:b[1]])
		if fn != nil {
			fn(b[0], low, iou, k, side)
		}
	}
}

// decode runs points (x, y in the resized image's pixels, the reference's
// apply_coords) through the prompt encoder and mask decoder as foreground point prompts
// with multimask output, decoderBatch prompts at a time. It returns the low-resolution
// logits (n, k, side, side) and predicted IoUs (n, k), prompt-major, in dec's buffers
// (overwritten by the next call).
func (g *Generator) decode(dec *imageDecoder, pts [][2]float64) (low, iou []float32, k, side int) {
	m := g.model
	pe := m.PromptEncoder.DensePE()
	n := len(pts)
	k = m.MaskDecoder.MaskTokens.Weight.SizeOf(0) - 1
	side = 4 * m.Config.Grid()
	plane := side * side
	if cap(dec.low) < n*k*plane {
		dec.low = make([]float32, n*k*plane)
	}
	low, iou = dec.low[:n*k*plane], dec.iou[:0]
	for s := 0; s < n; s += decoderBatch {
		e := min(s+decoderBatch, n)
		pd := make([]float32, 0, 2*(e-s))
		ld := make([]float32, e-s)
		for i, p := range pts[s:e] {
			pd = append(pd, float32(p[0]), float32(p[1]))
			ld[i] = 1
		}
		sparse, dense := m.PromptEncoder.Forward(tensor.New(pd, e-s, 1, 2), tensor.New(ld, e-s, 1), nil, nil)
		var io *tensor.Tensor
		if dec.prep != nil {
			io = m.MaskDecoder.ForwardPreparedTo(low[s*k*plane:e*k*plane], dec.prep, sparse, true)
		} else {
			var lo *tensor.Tensor
			lo, io = m.MaskDecoder.Forward(dec.features, pe, sparse, dense, true)
			copy(low[s*k*plane:e*k*plane], lo.Data())
		}
		iou = append(iou, io.Data()...)
	}
	dec.iou = iou
	return low, iou, k, side
}

// postprocess takes one mask's low-resolution logits (side, side) to the crop's size and
// returns it as maskData (box and RLE, stability score), or nil if it is unstable or
// touches an inner crop edge.
func (g *Generator) postprocess(lowRes []float32, side int, inputSize [2]int, crop [4]int, orig [2]int) *maskData {
	ch, cw := crop[3]-crop[1], crop[2]-crop[0]
	full := g.model.PostprocessMasks(tensor.New(lowRes, 1, 1, side, side), inputSize, [2]int{ch, cw})
	logits := full.Data()
	inter, union := stabilityCounts(logits, ch, cw, sam.MaskThreshold, g.opt.StabilityScoreOffset)
	stab := float32(inter) / float32(union)
	if g.opt.StabilityScoreThresh > 0 && !(stab >= float32(g.opt.StabilityScoreThresh)) {
		return nil
	}
	buf := maskPool.Get().(*[]uint8)
	defer maskPool.Put(buf)
	if cap(*buf) < ch*cw {
		*buf = make([]uint8, ch*cw)
	}
	col := (*buf)[:ch*cw]
	columnMask(logits, ch, cw, float32(sam.MaskThreshold), col)
	box := columnBox(col, ch, cw)
	if IsBoxNearCropEdge(box, crop, [4]int{0, 0, orig[1], orig[0]}, edgeTolerance) {
		return nil
	}
	return &maskData{rle: encodeUncropped(col, ch, cw, crop, orig[0], orig[1]), box: box, stab: stab}
}

// maskPool recycles the column-major masks of postprocess.
var maskPool = sync.Pool{New: func() any { return new([]uint8) }}

// postprocessSmallRegions is postprocess_small_regions: fill small holes, remove small
// islands, then NMS preferring the masks that did not change (score 1 against 0), and
// the changed masks that stay get their new RLE and box.
func postprocessSmallRegions(data []maskData, orig [2]int, minArea int, nmsThresh float64) []maskData {
	if len(data) == 0 {
		return data
	}
	h, w := orig[0], orig[1]
	boxes := make([][4]float32, len(data))
	scores := make([]float32, len(data))
	newRLE := make([]rle.RLE, len(data))
	newBox := make([][4]int, len(data))
	var next atomic.Int64
	cpu.Parallel(cpu.Threads(), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(data) {
					break
				}
				m := data[i].rle.Decode()
				m, holes := RemoveSmallRegions(m, h, w, float64(minArea), Holes)
				m, islands := RemoveSmallRegions(m, h, w, float64(minArea), Islands)
				newBox[i] = MaskToBox(m, h, w)
				boxes[i] = floatBox(newBox[i])
				if !holes && !islands {
					scores[i] = 1
				} else {
					newRLE[i] = MaskToRLE(m, h, w)
				}
			}
		}
	})
	keep := BatchedNMS(boxes, scores, make([]int, len(data)), nmsThresh)
	for _, i := range keep {
		if scores[i] == 0 {
			data[i].rle, data[i].box = newRLE[i], newBox[i]
		}
	}
	return pick(data, keep)
}

// records writes the reference's records.
func (g *Generator) records(data []maskData) []Record {
	out := make([]Record, len(data))
	cpu.Parallel(len(data), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := data[i]
			seg := Segmentation{RLE: d.rle, Mode: g.opt.OutputMode}
			if seg.Mode == BinaryMask {
				seg.Mask = d.rle.Decode()
			}
			out[i] = Record{
				Segmentation:   seg,
				Area:           AreaFromRLE(d.rle),
				BBox:           BoxXYXYToXYWH(d.box),
				PredictedIoU:   float64(d.iou),
				PointCoords:    [][2]float64{d.point},
				StabilityScore: float64(d.stab),
				CropBox:        BoxXYXYToXYWH(d.crop),
			}
		}
	})
	return out
}
