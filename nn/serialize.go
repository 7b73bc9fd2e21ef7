package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// Save writes m's state dict (parameters and buffers, by state-dict name)
// to path as a safetensors file of float32 tensors, with the given metadata
// (may be nil), atomically. A tensor shared under two names is written under
// both, each with its own copy of the data.
func Save(path string, m any, metadata map[string]string) error {
	entries := StateDictEntries(m)
	ts := make([]safetensors.Tensor, len(entries))
	for i, e := range entries {
		ts[i] = safetensors.Tensor{Name: e.Name, DType: safetensors.F32, Shape: e.Tensor.Shape(), Float32: e.Tensor.Data()}
	}
	if err := safetensors.Save(path, ts, metadata); err != nil {
		return fmt.Errorf("nn.Save: %w", err)
	}
	return nil
}

// Load reads the safetensors file at path into m's parameters and buffers
// by state-dict name, in place, converting any stored float or integer
// dtype (F16, BF16, F64, I64 …) to float32. Keys are matched as in
// LoadStateDict, strict or not; a strict load with any missing, unexpected
// or mis-shaped key returns a *LoadError naming the file and loads nothing.
// A file that cannot be read or is not valid safetensors is an error naming
// it (from package safetensors).
func Load(path string, m any, strict bool) (LoadReport, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return LoadReport{}, err
	}
	defer f.Close()
	return LoadFrom(f, m, "", strict, path)
}

// LoadFile is Load from an already opened safetensors file (for example
// one opened with safetensors.OpenReader, or one holding several models'
// weights under prefixes — see LoadFilePrefix).
func LoadFile(f *safetensors.File, m any, strict bool) (LoadReport, error) {
	return LoadFilePrefix(f, m, "", strict)
}

// LoadFilePrefix loads into m the tensors of f whose names start with
// prefix, matching each against m's state-dict name with the prefix
// removed; tensors without the prefix are ignored (not unexpected). Use it
// to load a sub-module from a whole model's file, e.g. prefix
// "image_encoder." for SAM's encoder.
func LoadFilePrefix(f *safetensors.File, m any, prefix string, strict bool) (LoadReport, error) {
	return LoadFrom(f, m, prefix, strict, "")
}

// TensorSource is a file of named tensors that LoadFrom can read: a safetensors file,
// a PyTorch checkpoint (package torchfile), or anything else with names, shapes and
// float32 conversion.
type TensorSource interface {
	// Names lists the stored tensors.
	Names() []string
	// Shape returns a tensor's dimensions, false if there is no such tensor.
	Shape(name string) ([]int, bool)
	// Float32Into converts a tensor to float32 into dst (len = its number of elements).
	Float32Into(name string, dst []float32) error
}

// LoadFrom loads into m the tensors of src whose names start with prefix, matched against
// m's state-dict names with the prefix removed (tensors without the prefix are ignored).
// Keys are checked as in LoadStateDict: a strict load with any missing, unexpected or
// mis-shaped key returns a *LoadError naming source (the file, for messages) and loads
// nothing.
func LoadFrom(src TensorSource, m any, prefix string, strict bool, source string) (LoadReport, error) {
	var rep LoadReport
	slots := walk(m).slots
	known := map[string]bool{}
	var load []slot
	for _, s := range slots {
		known[s.name] = true
		shape, ok := src.Shape(prefix + s.name)
		switch {
		case !ok:
			rep.Missing = append(rep.Missing, s.name)
		case !tensor.SameShape(shape, s.t.Shape()):
			rep.Mismatched = append(rep.Mismatched, ShapeMismatch{s.name, cloneInts(s.t.Shape()), cloneInts(shape)})
		default:
			load = append(load, s)
		}
	}
	for _, name := range src.Names() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if n := strings.TrimPrefix(name, prefix); !known[n] {
			rep.Unexpected = append(rep.Unexpected, n)
		}
	}
	slices.Sort(rep.Missing)
	slices.Sort(rep.Unexpected)
	slices.SortFunc(rep.Mismatched, func(a, b ShapeMismatch) int { return strings.Compare(a.Name, b.Name) })
	if strict && !rep.OK() {
		return rep, &LoadError{Source: source, Report: rep}
	}
	for _, s := range load {
		if err := src.Float32Into(prefix+s.name, s.t.Data()); err != nil {
			return rep, err
		}
	}
	return rep, nil
}
