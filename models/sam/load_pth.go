package sam

import (
	"os"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/torchfile"
)

// openTorch opens a PyTorch zip checkpoint; the state dict may be nested
// ({"model": state_dict, …}), its prefix is returned. The file is read with ReadAt rather
// than memory-mapped: the model copies every tensor anyway, and pages read into a mapping
// would count in the process's resident memory on top of the model until it is closed
// (a vit_b load peaked at 2.9× the checkpoint's size that way, 1.0 GiB).
func openTorch(path string) (nn.TensorSource, string, func(), error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, "", nil, err
	}
	f, err := torchfile.OpenReader(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, "", nil, err
	}
	return f, f.StateDictPrefix(), func() { f.Close(); fh.Close() }, nil
}
