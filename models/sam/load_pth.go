package sam

import (
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/torchfile"
)

// openTorch opens a PyTorch zip checkpoint; the state dict may be nested
// ({"model": state_dict, …}), its prefix is returned.
func openTorch(path string) (nn.TensorSource, string, func(), error) {
	f, err := torchfile.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	return torchSource{f}, f.StateDictPrefix(), func() { f.Close() }, nil
}

type torchSource struct{ f *torchfile.File }

func (s torchSource) Names() []string { return s.f.Names() }
func (s torchSource) Shape(name string) ([]int, bool) {
	info, ok := s.f.Info(name)
	return info.Shape, ok
}
func (s torchSource) Float32Into(name string, dst []float32) error { return s.f.Float32Into(name, dst) }
