package optim

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// metadata keys of an optimizer state file.
const (
	metaFormat    = "format"
	metaState     = "optim"
	metaScheduler = "scheduler"
	formatName    = "fovea.optim/1"
)

// Save writes s to path as a safetensors file: the buffers as F32 tensors
// under their State.Tensors names, and the scalar state as JSON in the
// header's metadata (key "optim"). sched, if not nil, is stored too (key
// "scheduler"), so one file resumes both. The file is replaced atomically.
func (s *State) Save(path string, sched *SchedulerState) error {
	js, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("optim: save %s: %w", path, err)
	}
	meta := map[string]string{metaFormat: formatName, metaState: string(js)}
	if sched != nil {
		sj, err := json.Marshal(sched)
		if err != nil {
			return fmt.Errorf("optim: save %s: %w", path, err)
		}
		meta[metaScheduler] = string(sj)
	}
	names := make([]string, 0, len(s.Tensors))
	for name := range s.Tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	ts := make([]safetensors.Tensor, len(names))
	for i, name := range names {
		t := s.Tensors[name]
		ts[i] = safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: t.Shape(), Float32: t.Data()}
	}
	if err := safetensors.Save(path, ts, meta); err != nil {
		return fmt.Errorf("optim: save: %w", err)
	}
	return nil
}

// LoadState reads a file written by State.Save. It returns the optimizer
// state and the scheduler state (nil if the file has none). Errors name the
// file and what is wrong with it.
func LoadState(path string) (*State, *SchedulerState, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("optim: load state: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	if meta[metaFormat] != formatName {
		return nil, nil, fmt.Errorf("optim: load state: %s: metadata field %q is %q, want %q (not an optimizer state file)",
			path, metaFormat, meta[metaFormat], formatName)
	}
	s := &State{}
	if err := json.Unmarshal([]byte(meta[metaState]), s); err != nil {
		return nil, nil, fmt.Errorf("optim: load state: %s: metadata field %q: %v", path, metaState, err)
	}
	var sched *SchedulerState
	if sj, ok := meta[metaScheduler]; ok {
		sched = &SchedulerState{}
		if err := json.Unmarshal([]byte(sj), sched); err != nil {
			return nil, nil, fmt.Errorf("optim: load state: %s: metadata field %q: %v", path, metaScheduler, err)
		}
	}
	s.Tensors = map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, nil, fmt.Errorf("optim: load state: %w", err)
		}
		s.Tensors[name] = tensor.New(data, shape...)
	}
	return s, sched, nil
}
