package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"

	"github.com/fovea-ml/fovea/tensor"
)

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// BatchSize is the number of samples per batch (required, > 0).
	BatchSize int
	// Shuffle visits the samples in a new random order each epoch, drawn from
	// (Seed, epoch); otherwise in index order.
	Shuffle bool
	// DropLast drops the last batch of an epoch if it is smaller than
	// BatchSize.
	DropLast bool
	// Workers is the number of goroutines that read and transform batches.
	// 0 reads them in the caller's goroutine when the next batch is asked for.
	Workers int
	// Prefetch bounds the number of batches read ahead (default 2×Workers).
	Prefetch int
	// Seed seeds shuffling and the per-sample randomness of Transform.
	Seed uint64
	// Transform, if not nil, is applied to each sample after Get, with a
	// random source derived from (Seed, epoch, index) alone (SampleRNG).
	Transform Transform
}

// Loader reads a Dataset in batches, in parallel, the same way whatever the
// number of workers: the order of an epoch depends only on (Seed, epoch) and
// the randomness given to the transform of a sample only on (Seed, epoch,
// dataset index), never on which worker got there first.
type Loader struct {
	ds  Dataset
	cfg LoaderConfig
}

// NewLoader returns a loader over ds. It panics if BatchSize is not positive
// or Workers or Prefetch is negative.
func NewLoader(ds Dataset, cfg LoaderConfig) *Loader {
	if cfg.BatchSize <= 0 || cfg.Workers < 0 || cfg.Prefetch < 0 {
		panic(fmt.Sprintf("data.NewLoader: batch size %d, workers %d, prefetch %d", cfg.BatchSize, cfg.Workers, cfg.Prefetch))
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	return &Loader{ds: ds, cfg: cfg}
}

// Len returns the number of batches in an epoch.
func (l *Loader) Len() int {
	n := l.ds.Len()
	if l.cfg.DropLast {
		return n / l.cfg.BatchSize
	}
	return (n + l.cfg.BatchSize - 1) / l.cfg.BatchSize
}

// Batch is a collated batch of N samples.
type Batch struct {
	// Images holds the images, shape (N, C, H, W).
	Images *tensor.Tensor
	// Masks holds the label maps as float32 class indices (Ignore = 255),
	// shape (N, H, W); nil if the samples have no masks.
	Masks *tensor.Tensor
	// Labels holds the same label maps as integers, N*H*W values in
	// Masks' order; nil if the samples have no masks.
	Labels []int32
	// Boxes holds each sample's boxes (a variable number per sample).
	Boxes [][]Box
	// Indices holds each sample's dataset index.
	Indices []int
	// Names holds each sample's Name.
	Names []string
}

// Len returns the number of samples in the batch.
func (b *Batch) Len() int { return len(b.Indices) }

// SampleRNG returns the random source for the sample at dataset index i in
// the given epoch: a PCG generator seeded from (seed, epoch, index) alone.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix(seed^0x5eed), splitmix(uint64(epoch)<<32^uint64(uint32(index)))))
}

// Order returns the dataset indices of an epoch in visiting order: a
// permutation drawn from (Seed, epoch) when Shuffle is set, else 0..Len-1.
func (l *Loader) Order(epoch int) []int {
	n := l.ds.Len()
	if !l.cfg.Shuffle {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		return order
	}
	rng := rand.New(rand.NewPCG(splitmix(l.cfg.Seed), splitmix(uint64(epoch)^0x0bde5)))
	return rng.Perm(n)
}

// Epoch returns the batches of one epoch, in order, as an iterator:
//
//	for b, err := range loader.Epoch(e) {
//		if err != nil { return err }
//		...
//	}
//
// An error (a file that could not be read, samples that cannot be collated)
// is yielded in place of its batch; the iteration can go on or stop. Breaking
// out of the loop stops the workers.
func (l *Loader) Epoch(epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		order := l.Order(epoch)
		nb := l.Len()
		bs := l.cfg.BatchSize
		batchIdx := func(b int) []int { return order[b*bs : min((b+1)*bs, len(order))] }
		if l.cfg.Workers == 0 {
			for b := 0; b < nb; b++ {
				batch, err := l.makeBatch(epoch, batchIdx(b))
				if !yield(batch, err) {
					return
				}
			}
			return
		}
		type result struct {
			b   *Batch
			err error
		}
		slots := make([]chan result, nb)
		for b := range slots {
			slots[b] = make(chan result, 1)
		}
		jobs := make(chan int)
		done := make(chan struct{})
		sem := make(chan struct{}, l.cfg.Prefetch)
		var wg sync.WaitGroup
		defer func() {
			close(done)
			wg.Wait()
		}()
		wg.Add(1)
		go func() { // producer: hands out batch numbers, at most Prefetch ahead
			defer wg.Done()
			defer close(jobs)
			for b := 0; b < nb; b++ {
				select {
				case sem <- struct{}{}:
				case <-done:
					return
				}
				select {
				case jobs <- b:
				case <-done:
					return
				}
			}
		}()
		for w := 0; w < l.cfg.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range jobs {
					batch, err := l.makeBatch(epoch, batchIdx(b))
					slots[b] <- result{batch, err}
				}
			}()
		}
		for b := 0; b < nb; b++ {
			r := <-slots[b]
			<-sem
			if !yield(r.b, r.err) {
				return
			}
		}
	}
}

// makeBatch reads, transforms and collates the samples at the given indices.
func (l *Loader) makeBatch(epoch int, idx []int) (*Batch, error) {
	samples := make([]Sample, len(idx))
	for k, i := range idx {
		s, err := l.ds.Get(i)
		if err != nil {
			return nil, err
		}
		if l.cfg.Transform != nil {
			s = l.cfg.Transform.Apply(SampleRNG(l.cfg.Seed, epoch, i), s)
		}
		samples[k] = s
	}
	b, err := Collate(samples)
	if err != nil {
		return nil, err
	}
	b.Indices = append([]int(nil), idx...)
	return b, nil
}

// Collate stacks samples into a Batch: their images must all have the same
// (C, H, W) and either all or none have a mask, of the images' (H, W). Boxes
// are kept per sample. Indices is left as 0..N-1. Samples that do not fit
// together give an error naming them (resize or crop them first).
func Collate(samples []Sample) (*Batch, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("data: collate: no samples")
	}
	first := samples[0].Image
	if first == nil {
		return nil, fmt.Errorf("data: collate: sample %q has no image", samples[0].Name)
	}
	c, h, w := first.C, first.H, first.W
	n := len(samples)
	hasMask := samples[0].Mask != nil
	imgs := make([]float32, 0, n*c*h*w)
	var masks []float32
	var labels []int32
	if hasMask {
		masks = make([]float32, 0, n*h*w)
		labels = make([]int32, 0, n*h*w)
	}
	b := &Batch{Boxes: make([][]Box, n), Indices: make([]int, n), Names: make([]string, n)}
	for k, s := range samples {
		im := s.Image
		if im == nil || im.C != c || im.H != h || im.W != w {
			shape := "no image"
			if im != nil {
				shape = fmt.Sprintf("(%d,%d,%d)", im.C, im.H, im.W)
			}
			return nil, fmt.Errorf("data: collate: sample %q image is %s but sample %q is (%d,%d,%d); resize or crop to one size first",
				s.Name, shape, samples[0].Name, c, h, w)
		}
		imgs = append(imgs, im.Pix...)
		if (s.Mask != nil) != hasMask {
			return nil, fmt.Errorf("data: collate: sample %q has a mask and sample %q has none", samples[0].Name, s.Name)
		}
		if hasMask {
			if s.Mask.H != h || s.Mask.W != w {
				return nil, fmt.Errorf("data: collate: sample %q mask is (%d,%d) but its image is (%d,%d,%d)", s.Name, s.Mask.H, s.Mask.W, c, h, w)
			}
			for _, v := range s.Mask.Pix {
				masks = append(masks, float32(v))
				labels = append(labels, int32(v))
			}
		}
		b.Boxes[k] = s.Boxes
		b.Indices[k] = k
		b.Names[k] = s.Name
	}
	b.Images = tensor.New(imgs, n, c, h, w)
	if hasMask {
		b.Masks = tensor.New(masks, n, h, w)
		b.Labels = labels
	}
	return b, nil
}
