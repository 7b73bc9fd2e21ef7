package sam

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
)

// Load reads a SAM checkpoint: an official PyTorch file (sam_vit_b_01ec64.pth …, or any
// torch.save of the state dict, also nested as {"model": state_dict, …}) or a safetensors
// file with the same names (see `fovea convert`). The architecture comes from configPath
// (a JSON Config) when it is not empty, else from the tensors' shapes
// (ConfigFromWeights). Every tensor must be present with its shape (a strict load); the
// error names the file and the keys at fault. The returned model is frozen for inference
// (nn.Unfreeze it to train).
func Load(path, configPath string) (*Model, error) {
	src, prefix, closeFn, err := openWeights(path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	var cfg Config
	if configPath != "" {
		if cfg, err = ReadConfig(configPath); err != nil {
			return nil, err
		}
	} else if cfg, err = ConfigFromWeights(src, prefix); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := New(rand.New(rand.NewPCG(0, 0)), cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := nn.LoadFrom(src, m, prefix, true, path); err != nil {
		return nil, err
	}
	nn.Freeze(m)
	return m, nil
}

// openWeights opens a .pth (zip) or safetensors file by its content, returning the tensor
// source, the state dict's prefix within it and a function closing it.
func openWeights(path string) (nn.TensorSource, string, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: too short to be a checkpoint (%v)", path, err)
	}
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return openTorch(path)
	}
	sf, err := safetensors.Open(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: neither a PyTorch zip checkpoint nor safetensors: %w", path, err)
	}
	return sf, "", func() { sf.Close() }, nil
}
