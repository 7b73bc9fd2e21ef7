package augment

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/data"
)

// ParseHelp describes the pipeline syntax Parse accepts, for command-line
// help.
const ParseHelp = `comma-separated transforms, applied in order, each NAME or NAME:KEY=VALUE:...
  flip[:p=0.5]                    horizontal flip
  scale[:min=0.5:max=2]           random scale
  resize:size=HxW                 resize (image bilinear, mask nearest)
  crop:size=HxW                   random crop, padding (mask with 255) if smaller
  jitter[:b=0.4:c=0.4:s=0.4:h=0.1] colour jitter
  normalize                       ImageNet mean/std normalisation
  random-erasing[:p=0.5:scale=0.02-0.33:ratio=0.3-3.3:fill=0|random|uniform|mean|v1/v2/v3
                 :target=image|objects|both:labels=keep|ignore:attempts=10]
                                  torchvision's RandomErasing (log-uniform ratio)
  random-erasing-paper[:...]      Zhong et al.: scale 0.02-0.4, ratio 0.3-3.33 uniform, uniform fill`

// MaxScale is the largest factor a "scale" transform of Parse may have: the
// scaled image is allocated whole, so a huge factor would exhaust memory.
var MaxScale = 16.0

// Parse builds a pipeline from a spec such as
// "flip,crop:size=96x96,random-erasing:p=0.5:labels=ignore" (see ParseHelp).
// Unknown names, keys and bad values are errors that quote them: numbers must
// be finite, probabilities in [0, 1], jitter strengths ≥ 0 (hue ≤ 0.5),
// sizes within data.MaxPixels, scale factors at most MaxScale.
func Parse(spec string) (Composed, error) {
	var out Composed
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		name := parts[0]
		kv := map[string]string{}
		for _, p := range parts[1:] {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				return nil, fmt.Errorf("augment: %q: option %q is not KEY=VALUE", item, p)
			}
			kv[k] = v
		}
		t, err := parseOne(name, kv)
		if err != nil {
			return nil, fmt.Errorf("augment: %q: %w", item, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// opts reads typed options from a KEY=VALUE map, remembering the first error
// and which keys were used.
type opts struct {
	kv   map[string]string
	used map[string]bool
	err  error
}

func (o *opts) str(k, def string) string {
	o.used[k] = true
	if v, ok := o.kv[k]; ok {
		return v
	}
	return def
}

func (o *opts) float(k string, def float64) float64 {
	v := o.str(k, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if (err != nil || math.IsNaN(f) || math.IsInf(f, 0)) && o.err == nil {
		o.err = fmt.Errorf("%s=%q: want a finite number", k, v)
	}
	return f
}

// prob reads a probability in [0, 1].
func (o *opts) prob(k string, def float64) float64 {
	p := o.float(k, def)
	if !(p >= 0 && p <= 1) && o.err == nil {
		o.err = fmt.Errorf("%s=%v: want a probability in [0, 1]", k, p)
	}
	return p
}

// nonNeg reads a number ≥ 0 and ≤ hi.
func (o *opts) nonNeg(k string, def, hi float64) float64 {
	v := o.float(k, def)
	if !(v >= 0 && v <= hi) && o.err == nil {
		o.err = fmt.Errorf("%s=%v: want a number in [0, %v]", k, v, hi)
		if hi >= 1e6 {
			o.err = fmt.Errorf("%s=%v: want a number ≥ 0", k, v)
		}
	}
	return v
}

// pair reads "a-b" (or a single number a, meaning a-a).
func (o *opts) pair(k string, def [2]float64) [2]float64 {
	v := o.str(k, "")
	if v == "" {
		return def
	}
	a, b, found := strings.Cut(v, "-")
	if !found {
		b = a
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if (err1 != nil || err2 != nil || math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0)) && o.err == nil {
		o.err = fmt.Errorf("%s=%q: want LOW-HIGH with finite numbers", k, v)
	}
	return [2]float64{x, y}
}

// size reads "HxW" or "S" (square).
func (o *opts) size(k string) (int, int) {
	v := o.str(k, "")
	if v == "" {
		if o.err == nil {
			o.err = fmt.Errorf("%s=HxW is required", k)
		}
		return 0, 0
	}
	a, b, found := strings.Cut(v, "x")
	if !found {
		b = a
	}
	h, err1 := strconv.Atoi(a)
	w, err2 := strconv.Atoi(b)
	if (err1 != nil || err2 != nil || h <= 0 || w <= 0) && o.err == nil {
		o.err = fmt.Errorf("%s=%q: want HxW with positive integers", k, v)
	}
	if o.err == nil {
		if err := data.CheckSize(w, h); err != nil {
			o.err = fmt.Errorf("%s=%q: %w", k, v, err)
		}
	}
	return h, w
}

func (o *opts) done() error {
	if o.err != nil {
		return o.err
	}
	for k := range o.kv {
		if !o.used[k] {
			return fmt.Errorf("unknown option %q", k)
		}
	}
	return nil
}

func parseOne(name string, kv map[string]string) (data.Transform, error) {
	o := &opts{kv: kv, used: map[string]bool{}}
	var t data.Transform
	switch name {
	case "flip":
		t = HorizontalFlip{P: o.prob("p", 0.5)}
	case "scale":
		t = RandomScale{Min: o.float("min", 0.5), Max: o.float("max", 2)}
		if r := t.(RandomScale); o.err == nil && (!(r.Min > 0) || r.Max < r.Min || r.Max > MaxScale) {
			return nil, fmt.Errorf("want 0 < min <= max <= %v (augment.MaxScale)", MaxScale)
		}
	case "resize":
		h, w := o.size("size")
		t = Resize{H: h, W: w}
	case "crop":
		h, w := o.size("size")
		t = NewRandomCrop(h, w)
	case "jitter":
		// torchvision's ColorJitter: brightness, contrast, saturation ≥ 0
		// (factors are drawn from [max(0, 1−x), 1+x]), hue in [0, 0.5].
		t = ColorJitter{Brightness: float32(o.nonNeg("b", 0.4, 1e6)), Contrast: float32(o.nonNeg("c", 0.4, 1e6)),
			Saturation: float32(o.nonNeg("s", 0.4, 1e6)), Hue: float32(o.nonNeg("h", 0.1, 0.5))}
	case "normalize":
		t = Normalize{Mean: ImageNetMean, Std: ImageNetStd}
	case "random-erasing", "random-erasing-paper":
		e := NewRandomErasing()
		if name == "random-erasing-paper" {
			e = PaperRandomErasing()
		}
		e.P = o.float("p", e.P)
		e.Scale = o.pair("scale", e.Scale)
		e.Ratio = o.pair("ratio", e.Ratio)
		e.Attempts = int(o.nonNeg("attempts", float64(e.Attempts), 1000))
		switch f := o.str("fill", ""); f {
		case "":
		case "random", "normal":
			e.Fill = Fill{Kind: FillNormal}
		case "uniform":
			e.Fill = Fill{Kind: FillUniform}
		case "mean":
			e.Fill = Fill{Kind: FillMean}
		default:
			var vals []float32
			for _, s := range strings.Split(f, "/") {
				v, err := strconv.ParseFloat(s, 32)
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("fill=%q: want random, uniform, mean, a number or numbers joined by /", f)
				}
				vals = append(vals, float32(v))
			}
			e.Fill = Fill{Kind: FillValue, Values: vals}
		}
		switch v := o.str("target", "image"); v {
		case "image":
			e.Target = EraseImage
		case "objects":
			e.Target = EraseObjects
		case "both":
			e.Target = EraseImageAndObjects
		default:
			return nil, fmt.Errorf("target=%q: want image, objects or both", v)
		}
		switch v := o.str("labels", "keep"); v {
		case "keep":
			e.Labels = KeepLabels
		case "ignore":
			e.Labels = IgnoreLabels
		default:
			return nil, fmt.Errorf("labels=%q: want keep or ignore", v)
		}
		if o.err == nil && (e.P < 0 || e.P > 1 || e.Scale[0] < 0 || e.Scale[0] > e.Scale[1] || e.Scale[1] > 1 ||
			e.Ratio[0] <= 0 || e.Ratio[0] > e.Ratio[1] || e.Attempts < 1) {
			return nil, fmt.Errorf("want 0 <= p <= 1, 0 <= scale low <= high <= 1, 0 < ratio low <= high, attempts >= 1")
		}
		t = e
	default:
		return nil, fmt.Errorf("unknown transform %q (want flip, scale, resize, crop, jitter, normalize, random-erasing, random-erasing-paper)", name)
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return t, nil
}
