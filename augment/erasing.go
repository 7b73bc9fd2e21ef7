package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
)

// FillKind says what Random Erasing writes into the erased rectangle.
type FillKind int

const (
	// FillValue writes Fill.Values: one value for every channel, or one per
	// channel (torchvision's value=number or tuple; the default 0).
	FillValue FillKind = iota
	// FillNormal writes independent standard normal values per pixel and
	// channel (torchvision's value="random", meant for normalised images).
	FillNormal
	// FillUniform writes independent uniform values in [0, 1) per pixel and
	// channel (Zhong et al.'s "random values", for images in [0, 1]).
	FillUniform
	// FillMean writes per-channel means: Fill.Values if given (such as a
	// dataset's mean), else the mean of each channel of the image itself.
	FillMean
)

// Fill is the fill of an erased rectangle.
type Fill struct {
	Kind   FillKind
	Values []float32
}

// EraseTarget says where Random Erasing erases.
type EraseTarget int

const (
	// EraseImage (IRE, image-aware) erases one rectangle chosen over the
	// whole image.
	EraseImage EraseTarget = iota
	// EraseObjects (ORE, object-aware) erases, independently for each box,
	// with probability P, one rectangle inside that box, its area a fraction
	// of the box's.
	EraseObjects
	// EraseImageAndObjects (I+ORE) does EraseImage, then EraseObjects.
	EraseImageAndObjects
)

// LabelMode says what happens to the labels of erased pixels.
type LabelMode int

const (
	// KeepLabels (the default) leaves the mask alone: the erased pixels keep
	// the class of what was there, as for an occluder the model must see
	// through. Boxes are always kept.
	KeepLabels LabelMode = iota
	// IgnoreLabels sets the erased pixels' labels to data.Ignore, so the loss
	// does not ask the model to guess them.
	IgnoreLabels
)

// RandomErasing erases random rectangles of the image (Zhong et al., "Random
// Erasing Data Augmentation", 2017). NewRandomErasing gives torchvision's
// RandomErasing, PaperRandomErasing the paper's settings.
//
// With probability P, Region tries up to Attempts times: it draws an area
// fraction s uniformly from Scale and an aspect ratio r (height/width) from
// Ratio — log-uniformly if LogRatio (torchvision), uniformly otherwise (the
// paper) — and sets h = round(√(s·A·r)), w = round(√(s·A/r)) (round half to
// even, as Python's round), where A is the area of the image (or the box, for
// ORE). The first rectangle with h < H and w < W strictly is placed uniformly
// (top in [0, H−h], left in [0, W−w]) and erased; if none fits, nothing is
// erased.
type RandomErasing struct {
	P        float64
	Scale    [2]float64
	Ratio    [2]float64
	LogRatio bool
	Attempts int
	Fill     Fill
	Target   EraseTarget
	Labels   LabelMode
}

// NewRandomErasing returns torchvision 0.14's RandomErasing defaults: p 0.5,
// scale (0.02, 0.33), ratio (0.3, 3.3) log-uniform, 10 attempts, fill 0,
// whole image, labels kept.
func NewRandomErasing() RandomErasing {
	return RandomErasing{P: 0.5, Scale: [2]float64{0.02, 0.33}, Ratio: [2]float64{0.3, 3.3}, LogRatio: true, Attempts: 10}
}

// PaperRandomErasing returns the settings of Zhong et al. 2017: p 0.5,
// s_l 0.02, s_h 0.4, r_1 0.3 (ratio uniform in [0.3, 1/0.3]), random fill
// (uniform in [0, 1)), and 100 attempts as in the authors' code.
func PaperRandomErasing() RandomErasing {
	return RandomErasing{P: 0.5, Scale: [2]float64{0.02, 0.4}, Ratio: [2]float64{0.3, 1 / 0.3}, Attempts: 100,
		Fill: Fill{Kind: FillUniform}}
}

// validate panics on parameters torchvision would reject.
func (e RandomErasing) validate() {
	if e.P < 0 || e.P > 1 || e.Scale[0] < 0 || e.Scale[0] > e.Scale[1] || e.Scale[1] > 1 ||
		e.Ratio[0] <= 0 || e.Ratio[0] > e.Ratio[1] || e.Attempts < 1 {
		panic(fmt.Sprintf("augment.RandomErasing: invalid parameters p %g, scale %v, ratio %v, attempts %d", e.P, e.Scale, e.Ratio, e.Attempts))
	}
}

// Region draws a rectangle to erase in an (h, w) area, as torchvision's
// RandomErasing.get_params: it returns the top, left, height and width of the
// rectangle and true, or false if no attempt fitted. It does not draw the
// probability P.
func (e RandomErasing) Region(rng *rand.Rand, h, w int) (top, left, eh, ew int, ok bool) {
	area := float64(h * w)
	lr0, lr1 := math.Log(e.Ratio[0]), math.Log(e.Ratio[1])
	for a := 0; a < e.Attempts; a++ {
		target := area * (e.Scale[0] + (e.Scale[1]-e.Scale[0])*rng.Float64())
		var ratio float64
		if e.LogRatio {
			ratio = math.Exp(lr0 + (lr1-lr0)*rng.Float64())
		} else {
			ratio = e.Ratio[0] + (e.Ratio[1]-e.Ratio[0])*rng.Float64()
		}
		eh = int(math.RoundToEven(math.Sqrt(target * ratio)))
		ew = int(math.RoundToEven(math.Sqrt(target / ratio)))
		if !(eh < h && ew < w) {
			continue
		}
		top = rng.IntN(h - eh + 1)
		left = rng.IntN(w - ew + 1)
		return top, left, eh, ew, true
	}
	return 0, 0, 0, 0, false
}

// Apply erases s's image in place (see RandomErasing) and, with
// IgnoreLabels, the erased pixels' labels.
func (e RandomErasing) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	e.validate()
	img := s.Image
	var means []float32
	if e.Fill.Kind == FillMean && e.Fill.Values == nil {
		means = channelMeans(img) // of the image before any erasing
	}
	if e.Target == EraseImage || e.Target == EraseImageAndObjects {
		if rng.Float64() < e.P {
			if top, left, h, w, ok := e.Region(rng, img.H, img.W); ok {
				e.erase(rng, s, top, left, h, w, means)
			}
		}
	}
	if e.Target == EraseObjects || e.Target == EraseImageAndObjects {
		for _, b := range s.Boxes {
			// The box's whole pixels inside the image.
			x0 := max(int(math.Ceil(float64(b.X0))), 0)
			y0 := max(int(math.Ceil(float64(b.Y0))), 0)
			x1 := min(int(math.Floor(float64(b.X1))), img.W)
			y1 := min(int(math.Floor(float64(b.Y1))), img.H)
			if rng.Float64() >= e.P || x1-x0 < 2 || y1-y0 < 2 {
				continue
			}
			if top, left, h, w, ok := e.Region(rng, y1-y0, x1-x0); ok {
				e.erase(rng, s, y0+top, x0+left, h, w, means)
			}
		}
	}
	return s
}

// erase fills the rectangle and, with IgnoreLabels, its labels.
func (e RandomErasing) erase(rng *rand.Rand, s data.Sample, top, left, h, w int, means []float32) {
	img := s.Image
	for c := 0; c < img.C; c++ {
		p := img.Plane(c)
		var v float32
		switch e.Fill.Kind {
		case FillValue:
			v = channelValue(e.Fill.Values, c, img.C, "augment.RandomErasing")
		case FillMean:
			if means != nil {
				v = means[c]
			} else {
				v = channelValue(e.Fill.Values, c, img.C, "augment.RandomErasing")
			}
		}
		for y := top; y < top+h; y++ {
			row := p[y*img.W+left : y*img.W+left+w]
			for x := range row {
				switch e.Fill.Kind {
				case FillNormal:
					row[x] = float32(rng.NormFloat64())
				case FillUniform:
					row[x] = rng.Float32()
				default:
					row[x] = v
				}
			}
		}
	}
	if e.Labels == IgnoreLabels && s.Mask != nil {
		for y := top; y < top+h; y++ {
			row := s.Mask.Pix[y*s.Mask.W+left : y*s.Mask.W+left+w]
			for x := range row {
				row[x] = data.Ignore
			}
		}
	}
}

// channelMeans returns the mean of each channel of img.
func channelMeans(img *data.Image) []float32 {
	out := make([]float32, img.C)
	for c := range out {
		var sum float64
		for _, v := range img.Plane(c) {
			sum += float64(v)
		}
		out[c] = float32(sum / float64(img.H*img.W))
	}
	return out
}
