package augment_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
)

// Random Erasing as torchvision's transforms.RandomErasing(p=1,
// value="random"), with erased pixels' labels set to ignore.
func ExampleRandomErasing() {
	e := augment.NewRandomErasing()
	e.P = 1
	e.Fill = augment.Fill{Kind: augment.FillNormal}
	e.Labels = augment.IgnoreLabels
	s := data.Sample{Image: data.NewImage(3, 32, 32), Mask: data.NewMask(32, 32)}
	s = e.Apply(rand.New(rand.NewPCG(1, 2)), s)
	ignored := 0
	for _, v := range s.Mask.Pix {
		if v == data.Ignore {
			ignored++
		}
	}
	fmt.Println(ignored > 0 && ignored < 32*32)
	// Output: true
}

// A segmentation training pipeline from a spec string.
func ExampleParse() {
	pipe, err := augment.Parse("scale:min=0.5:max=2,crop:size=96x96,flip,jitter,random-erasing")
	if err != nil {
		panic(err)
	}
	s := data.Sample{Image: data.NewImage(3, 128, 128), Mask: data.NewMask(128, 128)}
	s = pipe.Apply(data.SampleRNG(7, 0, 0), s)
	fmt.Println(len(pipe), s.Image.H, s.Image.W, s.Mask.H, s.Mask.W)
	// Output: 5 96 96 96 96
}

// Resizing matches torchvision's F.resize on tensors (bilinear, no
// antialiasing) for images and torch "nearest" for masks.
func ExampleResize() {
	s := data.Sample{Image: data.NewImage(3, 10, 20), Mask: data.NewMask(10, 20),
		Boxes: []data.Box{{X0: 2, Y0: 2, X1: 10, Y1: 6, Class: 1}}}
	s = augment.Resize{H: 20, W: 10}.Apply(nil, s)
	fmt.Println(s.Image.H, s.Image.W, s.Boxes[0])
	// Output: 20 10 {1 4 5 12 1 false}
}
