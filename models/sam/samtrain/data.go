package samtrain

import (
	"fmt"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/tensor"
)

// Instances is a dataset of images with instance masks.
type Instances interface {
	Len() int
	// Get returns image i (C, H, W) with values in [0, 1] and one mask (H, W) per
	// instance, non-zero inside (255, Ignore, counts as outside).
	Get(i int) (*data.Image, []*data.Mask, error)
}

// ShapesInstances are the instances of a split of the synthetic shapes data: every
// visible shape is one instance (ShapesDataset.InstanceMap).
type ShapesInstances struct{ DS *data.ShapesDataset }

// Len is the number of images.
func (s ShapesInstances) Len() int { return s.DS.Len() }

// Get returns image i and its shapes' masks.
func (s ShapesInstances) Get(i int) (*data.Image, []*data.Mask, error) {
	smp, err := s.DS.Get(i)
	if err != nil {
		return nil, nil, err
	}
	inst := s.DS.InstanceMap(i)
	masks := make([]*data.Mask, len(smp.Boxes))
	for j := range masks {
		masks[j] = data.NewMask(inst.H, inst.W)
	}
	for p, v := range inst.Pix {
		if int(v) < len(masks) {
			masks[v].Pix[p] = 1
		}
	}
	return smp.Image, masks, nil
}

// COCOInstances are the annotated objects of a COCO instances file (annotations without
// a segmentation are skipped).
type COCOInstances struct{ DS *data.COCODataset }

// Len is the number of images.
func (c COCOInstances) Len() int { return c.DS.Len() }

// Get returns image i and its objects' masks.
func (c COCOInstances) Get(i int) (*data.Image, []*data.Mask, error) {
	smp, err := c.DS.Get(i)
	if err != nil {
		return nil, nil, err
	}
	ms, err := c.DS.InstanceMasks(i)
	if err != nil {
		return nil, nil, err
	}
	var out []*data.Mask
	for _, m := range ms {
		if m != nil {
			out = append(out, m)
		}
	}
	return smp.Image.ToRGB(), out, nil
}

// MinInstancePixels is the smallest instance (in pixels at the model's input resolution)
// that is trained or evaluated; smaller ones are dropped.
const MinInstancePixels = 4

// ToExample resizes an image and its masks as SAM's ResizeLongestSide to the input side s
// (bilinear for the image, nearest for the masks; nothing when the longer side already
// is s) and returns them as an Example: the image (3, h, w) scaled to 0…255 and each
// mask of at least MinInstancePixels pixels as h·w booleans.
func ToExample(img *data.Image, masks []*data.Mask, s int) (Example, error) {
	if img.C != 3 {
		img = img.ToRGB()
	}
	h, w := img.H, img.W
	nh, nw := sam.PreprocessShape(h, w, s)
	if nh != h || nw != w {
		img = augment.ResizeImage(img, nh, nw)
	}
	t := tensor.Empty(3, nh, nw)
	td := t.Data()
	for i, v := range img.Pix {
		td[i] = v * 255
	}
	ex := Example{Image: t}
	for k, m := range masks {
		if m.H != h || m.W != w {
			return Example{}, fmt.Errorf("samtrain: instance %d mask is %d×%d, the image %d×%d", k, m.H, m.W, h, w)
		}
		if nh != h || nw != w {
			m = augment.ResizeMask(m, nh, nw)
		}
		b := make([]bool, nh*nw)
		n := 0
		for p, v := range m.Pix {
			if v != 0 && v != data.Ignore {
				b[p] = true
				n++
			}
		}
		if n >= MinInstancePixels {
			ex.Masks = append(ex.Masks, b)
		}
	}
	return ex, nil
}
