package data_test

import (
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
)

// BenchmarkLoaderShapesAugmented reads 256 shapes images per iteration
// through a typical segmentation pipeline with two workers (samples/s =
// 256 / (ns/op · 1e-9)).
func BenchmarkLoaderShapesAugmented(b *testing.B) {
	ds, err := data.Shapes(data.ShapesConfig{Train: 256}, "train")
	if err != nil {
		b.Fatal(err)
	}
	pipe, err := augment.Parse("scale:min=0.75:max=1.25,crop:size=128x128,flip,jitter,random-erasing,normalize")
	if err != nil {
		b.Fatal(err)
	}
	l := data.NewLoader(ds, data.LoaderConfig{BatchSize: 16, Shuffle: true, Workers: 2, Transform: pipe})
	for b.Loop() {
		for _, err := range l.Epoch(0) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
