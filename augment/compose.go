package augment

import (
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/tensor"
)

// Composed applies its transforms in order; see Compose.
type Composed []data.Transform

// Compose chains transforms. Each gets its own random stream, seeded from two
// draws of the sample's rng made in order for every transform, so the
// randomness one transform sees does not depend on how much the others used
// (changing one transform's parameters does not change the others' draws).
func Compose(ts ...data.Transform) Composed { return Composed(ts) }

// Apply applies the transforms in order.
func (c Composed) Apply(rng *rand.Rand, s data.Sample) data.Sample {
	seeds := make([][2]uint64, len(c))
	for i := range seeds {
		seeds[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	for i, t := range c {
		s = t.Apply(rand.New(rand.NewPCG(seeds[i][0], seeds[i][1])), s)
	}
	return s
}

// ToTensor returns the sample's image as a (C, H, W) tensor and its mask (if
// any, else nil) as an (H, W) tensor of class indices, copying the data. A
// data.Loader does this for whole batches (data.Collate).
func ToTensor(s data.Sample) (image, mask *tensor.Tensor) {
	image = s.Image.Tensor()
	if s.Mask != nil {
		mask = s.Mask.Tensor()
	}
	return image, mask
}
