package data

import "math/rand/v2"

// Dataset is an indexed collection of samples. Get must be safe to call from
// several goroutines at once, and return a Sample that the caller owns.
type Dataset interface {
	// Len returns the number of samples.
	Len() int
	// Get returns sample i, 0 <= i < Len(), or an error naming the file that
	// could not be read.
	Get(i int) (Sample, error)
}

// Transform changes a sample, jointly on its image, mask and boxes, drawing
// any randomness from rng (package augment has the usual transforms). Apply
// may change s in place and return it. The same rng state must give the same
// result, so that a Loader is deterministic.
type Transform interface {
	Apply(rng *rand.Rand, s Sample) Sample
}

// TransformFunc adapts a function to the Transform interface.
type TransformFunc func(rng *rand.Rand, s Sample) Sample

// Apply calls f(rng, s).
func (f TransformFunc) Apply(rng *rand.Rand, s Sample) Sample { return f(rng, s) }

// InstanceMapper is implemented by datasets that know which pixels belong to
// which box: InstanceMap(i) is an (H, W) map whose value j < len(boxes) marks
// the pixels of Get(i).Boxes[j], and 255 pixels of no box. ExportVOC uses it
// for SegmentationObject and the COCO masks.
type InstanceMapper interface {
	InstanceMap(i int) *Mask
}

// Subset is the dataset made of the samples Indices of Data, in that order.
type Subset struct {
	Data    Dataset
	Indices []int
}

// Len returns len(Indices).
func (s Subset) Len() int { return len(s.Indices) }

// Get returns Data.Get(Indices[i]).
func (s Subset) Get(i int) (Sample, error) { return s.Data.Get(s.Indices[i]) }
