package data_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
)

// Load the built-in shapes dataset and read it in shuffled, augmented
// batches with two worker goroutines.
func ExampleLoader() {
	train, err := data.Shapes(data.ShapesConfig{Size: 64, Train: 40, Val: 8, Seed: 1}, "train")
	if err != nil {
		panic(err)
	}
	loader := data.NewLoader(train, data.LoaderConfig{
		BatchSize: 16, Shuffle: true, DropLast: true, Workers: 2, Seed: 1,
		Transform: augment.Compose(augment.HorizontalFlip{P: 0.5}, augment.NewRandomErasing()),
	})
	for b, err := range loader.Epoch(0) {
		if err != nil {
			panic(err)
		}
		fmt.Println(b.Images.Shape(), b.Masks.Shape(), len(b.Boxes))
	}
	// Output:
	// [16 3 64 64] [16 64 64] 16
	// [16 3 64 64] [16 64 64] 16
}

// Read a Pascal VOC-layout folder, here one written by ExportVOC.
func ExampleOpenVOC() {
	dir, cleanup := tempDir()
	defer cleanup()
	shapes, _ := data.Shapes(data.ShapesConfig{Size: 32, Train: 3, Val: 1, Seed: 2}, "train")
	if err := data.ExportVOC(dir, []data.Split{{Name: "train", Data: shapes}}, data.ExportOptions{Classes: data.ShapesClasses}); err != nil {
		panic(err)
	}
	voc, err := data.OpenVOC(dir, "train", data.VOCOptions{})
	if err != nil {
		panic(err)
	}
	s, err := voc.Get(0)
	if err != nil {
		panic(err)
	}
	fmt.Println(voc.Len(), voc.Classes()[1], s.Name, s.Image.C, s.Mask.H, s.Mask.W)
	// Output: 3 circle shapes_train_000000 3 32 32
}
