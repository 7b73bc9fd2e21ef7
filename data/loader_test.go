package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// countDS is a dataset of 2×3 one-channel images holding their index, with a
// mask and i%3 boxes; Get(bad) fails.
type countDS struct {
	n, bad int
}

func (d countDS) Len() int { return d.n }

func (d countDS) Get(i int) (Sample, error) {
	if i == d.bad {
		return Sample{}, errors.New("bad sample")
	}
	img := NewImage(1, 2, 3)
	for k := range img.Pix {
		img.Pix[k] = float32(i)
	}
	m := NewMask(2, 3)
	m.Pix[0] = uint8(i % 7)
	s := Sample{Image: img, Mask: m, Name: fmt.Sprint(i)}
	for k := 0; k < i%3; k++ {
		s.Boxes = append(s.Boxes, Box{X1: float32(k + 1), Y1: 1, Class: i})
	}
	return s, nil
}

// noisy adds a random value to the image and sleeps a random time, so
// workers finish out of order.
var noisy = TransformFunc(func(rng *rand.Rand, s Sample) Sample {
	s.Image.Pix[1] += rng.Float32()
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	return s
})

func epochSummary(t *testing.T, l *Loader, epoch int) [][]float32 {
	t.Helper()
	var out [][]float32
	for b, err := range l.Epoch(epoch) {
		if err != nil {
			t.Fatal(err)
		}
		d := b.Images.Data()
		var row []float32
		for k := 0; k < b.Len(); k++ {
			row = append(row, d[k*6], d[k*6+1])
			if int(d[k*6]) != b.Indices[k] || len(b.Boxes[k]) != b.Indices[k]%3 || b.Labels[k*6] != int32(b.Indices[k]%7) {
				t.Fatalf("batch sample %d does not match index %d", k, b.Indices[k])
			}
		}
		out = append(out, row)
	}
	return out
}

func TestLoaderDeterministicWhateverWorkers(t *testing.T) {
	ds := countDS{n: 23, bad: -1}
	base := LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 11, Transform: noisy}
	ref := epochSummary(t, NewLoader(ds, base), 3)
	if len(ref) != 6 || len(ref[5]) != 2*3 {
		t.Fatalf("%d batches, last of %d", len(ref), len(ref[5])/2)
	}
	for _, workers := range []int{1, 2, 5} {
		for _, procs := range []int{1, 4} {
			prev := runtime.GOMAXPROCS(procs)
			cfg := base
			cfg.Workers = workers
			got := epochSummary(t, NewLoader(ds, cfg), 3)
			runtime.GOMAXPROCS(prev)
			if fmt.Sprint(got) != fmt.Sprint(ref) {
				t.Fatalf("workers %d, GOMAXPROCS %d: batches differ\n%v\n%v", workers, procs, got, ref)
			}
		}
	}
	other := epochSummary(t, NewLoader(ds, base), 4)
	if fmt.Sprint(other) == fmt.Sprint(ref) {
		t.Fatal("epochs 3 and 4 are the same")
	}
}

func TestLoaderOrderAndDropLast(t *testing.T) {
	ds := countDS{n: 10, bad: -1}
	cases := []struct {
		cfg     LoaderConfig
		batches int
		seen    int
	}{
		{LoaderConfig{BatchSize: 3}, 4, 10},
		{LoaderConfig{BatchSize: 3, DropLast: true}, 3, 9},
		{LoaderConfig{BatchSize: 5, DropLast: true, Workers: 2}, 2, 10},
		{LoaderConfig{BatchSize: 20}, 1, 10},
		{LoaderConfig{BatchSize: 20, DropLast: true}, 0, 0},
		{LoaderConfig{BatchSize: 3, Shuffle: true, Workers: 3, Prefetch: 1}, 4, 10},
	}
	for _, tc := range cases {
		l := NewLoader(ds, tc.cfg)
		if l.Len() != tc.batches {
			t.Errorf("%+v: Len %d, want %d", tc.cfg, l.Len(), tc.batches)
		}
		seen := map[int]bool{}
		nb := 0
		prev := -1
		sorted := true
		for b, err := range l.Epoch(0) {
			if err != nil {
				t.Fatal(err)
			}
			nb++
			for _, i := range b.Indices {
				if seen[i] {
					t.Fatalf("%+v: index %d twice", tc.cfg, i)
				}
				seen[i] = true
				sorted = sorted && i > prev
				prev = i
			}
		}
		if nb != tc.batches || len(seen) != tc.seen {
			t.Errorf("%+v: %d batches, %d samples; want %d, %d", tc.cfg, nb, len(seen), tc.batches, tc.seen)
		}
		if sorted == tc.cfg.Shuffle {
			t.Errorf("%+v: sorted %v", tc.cfg, sorted)
		}
	}
}

func TestLoaderErrorAndEarlyStop(t *testing.T) {
	ds := countDS{n: 40, bad: 13}
	before := runtime.NumGoroutine()
	for _, workers := range []int{0, 3} {
		l := NewLoader(ds, LoaderConfig{BatchSize: 4, Workers: workers})
		errs, n := 0, 0
		for _, err := range l.Epoch(0) {
			n++
			if err != nil {
				errs++
			}
		}
		if errs != 1 || n != 10 {
			t.Fatalf("workers %d: %d errors in %d batches", workers, errs, n)
		}
		for b := range l.Epoch(1) {
			if b != nil && b.Indices[0] >= 8 {
				break
			}
		}
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines before, %d after: workers leaked", before, after)
	}
}

func TestCollateErrors(t *testing.T) {
	a, _ := countDS{n: 5}.Get(1)
	b, _ := countDS{n: 5}.Get(2)
	b.Image = NewImage(1, 3, 3)
	if _, err := Collate([]Sample{a, b}); err == nil {
		t.Error("different sizes: want an error")
	}
	b, _ = countDS{n: 5}.Get(2)
	b.Mask = nil
	if _, err := Collate([]Sample{a, b}); err == nil {
		t.Error("mask and no mask: want an error")
	}
	b, _ = countDS{n: 5}.Get(2)
	bt, err := Collate([]Sample{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if s := bt.Images.Shape(); len(s) != 4 || s[0] != 2 || s[1] != 1 || s[2] != 2 || s[3] != 3 {
		t.Fatalf("images shape %v", s)
	}
	if s := bt.Masks.Shape(); len(s) != 3 || s[0] != 2 {
		t.Fatalf("masks shape %v", s)
	}
}

func BenchmarkLoaderShapes(b *testing.B) {
	ds, _ := Shapes(ShapesConfig{Train: 256}, "train")
	l := NewLoader(ds, LoaderConfig{BatchSize: 16, Shuffle: true, Workers: 2})
	for b.Loop() {
		for _, err := range l.Epoch(0) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
