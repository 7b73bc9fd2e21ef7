package rle_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/metrics/rle"
)

func Example() {
	// A triangle on a 6×8 image, as a COCO polygon annotation.
	tri := rle.FromPolygon([]float64{1, 1, 6, 1, 1, 5}, 6, 8)
	box := rle.FromBbox([4]float64{1, 1, 4, 4}, 6, 8)
	fmt.Println("counts:", tri.String(), "area:", tri.Area(), "bbox:", tri.Bbox())
	fmt.Printf("IoU with the box: %.4f\n", rle.IoU([]rle.RLE{tri}, []rle.RLE{box}, nil)[0])
	// Output:
	// counts: 742O1O1Ob0 area: 10 bbox: [1 1 4 4]
	// IoU with the box: 0.6250
}
