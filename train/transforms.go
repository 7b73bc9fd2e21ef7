package train

import (
	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
)

// ImageNet statistics, used to normalise images (as bench/train_torch.py does).
var (
	normMean = []float32{0.485, 0.456, 0.406}
	normStd  = []float32{0.229, 0.224, 0.225}
)

// trainTransform is the training augmentation: random scale and crop back to
// the image size (mask padded with Ignore), horizontal flip, normalisation,
// then Random Erasing on the normalised image with labels kept.
func trainTransform(cfg Config) data.Transform {
	ts := []data.Transform{
		augment.HorizontalFlip{P: 0.5},
		normalize,
	}
	if cfg.Erasing > 0 {
		ts = append(ts, randomErasing(cfg.Erasing))
	}
	return augment.Compose(ts...)
}

// normalize is the evaluation transform: it only normalises.
var normalize = augment.Normalize{Mean: normMean, Std: normStd}

func evalTransform() data.Transform { return normalize }

// randomErasing is torchvision's RandomErasing with probability p and a
// per-pixel standard-normal fill (value="random", on the normalised image),
// erased pixels keeping their labels.
func randomErasing(p float64) data.Transform {
	e := augment.NewRandomErasing()
	e.P = p
	e.Fill = augment.Fill{Kind: augment.FillNormal}
	return e
}
