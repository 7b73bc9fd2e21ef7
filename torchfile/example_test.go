package torchfile_test

import (
	"fmt"
	"log"

	"github.com/fovea-ml/fovea/torchfile"
)

// Read a training checkpoint, {"model": state_dict, "optimizer": ...,
// "epoch": 3, ...}, written by torch.save.
func Example() {
	f, err := torchfile.Open("../testdata/torchfile/nested.pth")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	prefix := f.StateDictPrefix() // the dict holding the weights
	fmt.Println("state dict:", prefix)
	fmt.Println("epoch:", f.Values()["epoch"])

	// head.weight: (2, 4), float32.
	info, _ := f.Info(prefix + "head.weight")
	fmt.Println(info.Name, info.DType, info.Shape, info.Stride)
	w, shape, err := f.Float32(prefix + "head.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(w), shape)

	// Without copying, on Linux: a slice of the memory map, valid until
	// Close. Elsewhere ok is false and Float32's copy serves.
	v, ok := f.Float32View(prefix + "head.weight")
	if !ok {
		v = w
	}
	fmt.Println(v[0] == w[0])
	// Output:
	// state dict: model.
	// epoch: 3
	// model.head.weight F32 [2 4] [4 1]
	// 8 [2 4]
	// true
}

// Refuse a checkpoint whose pickle would run a command.
func ExampleOpen_malicious() {
	_, err := torchfile.Open("../testdata/torchfile/malicious.pth")
	fmt.Println(err)
	// Output:
	// torchfile: ../testdata/torchfile/malicious.pth: malicious/data.pkl at byte 2: global "os.system" is not allowed (only tensors, dicts and plain values can be read)
}
