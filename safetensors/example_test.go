package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/safetensors"
)

// Save a state dict with one weight stored as BF16, then read it back as
// float32.
func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	err = safetensors.Save(path, []safetensors.Tensor{
		// weight: (2, 3), stored as bfloat16 (rounded to nearest even).
		{Name: "fc.weight", DType: safetensors.BF16, Shape: []int{2, 3}, Float32: []float32{0.5, -1, 2, 3.14159, 0, 1e-3}},
		{Name: "fc.bias", DType: safetensors.F32, Shape: []int{2}, Float32: []float32{0.25, -0.25}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(f.Names(), f.Metadata())
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		data, shape, err := f.Float32(name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, info.DType, shape, data)
	}
	// Output:
	// [fc.bias fc.weight] map[format:pt]
	// fc.bias F32 [2] [0.25 -0.25]
	// fc.weight BF16 [2 3] [0.5 -1 2 3.140625 0 0.0009994507]
}

// A file that is not valid safetensors gives an error naming it and what is
// wrong.
func ExampleOpen_error() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "truncated.safetensors")
	// Header length 200, but the file ends after 10 bytes.
	os.WriteFile(path, []byte{200, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, 0o644)

	_, err = safetensors.Open(path)
	fmt.Println(err.(*safetensors.Error).Msg)
	// Output:
	// header length 200 runs past the end of the 10-byte file
}
