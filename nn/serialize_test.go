package nn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	src := newTestModel()
	for i, p := range append(Parameters(src), NamedBuffers(src)[0].Tensor) {
		for j := range p.Data() {
			p.Data()[j] = float32(i) + float32(j)/16
		}
	}
	if err := Save(path, src, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	dst := newTestModel()
	rep, err := Load(path, dst, true)
	if err != nil || !rep.OK() {
		t.Fatalf("Load: %v %v", rep, err)
	}
	want, got := StateDict(src), StateDict(dst)
	for k, w := range want {
		if !tensor.SameShape(w.Shape(), got[k].Shape()) {
			t.Fatalf("%s: shape %v, want %v", k, got[k].Shape(), w.Shape())
		}
		for i, v := range w.Data() {
			if got[k].Data()[i] != v {
				t.Fatalf("%s[%d] = %v, want %v", k, i, got[k].Data()[i], v)
			}
		}
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["format"] != "pt" || f.Len() != len(want) {
		t.Fatalf("metadata %v, %d tensors", f.Metadata(), f.Len())
	}
	// A sub-module loads from the whole file by prefix.
	head := NewLinear(newRng(1), 4, 2, true)
	if rep, err := LoadFilePrefix(f, head, "encoder.head.", true); err != nil || !rep.OK() {
		t.Fatalf("LoadFilePrefix: %v %v", rep, err)
	}
	if head.Bias.At(1) != src.Encoder.Head.Bias.At(1) {
		t.Fatal("prefix load did not copy")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lin.safetensors")
	if err := Save(path, NewLinear(newRng(1), 3, 2, true), nil); err != nil {
		t.Fatal(err)
	}
	// Mis-shaped and missing keys against a strict load name the file.
	m := NewLinear(newRng(2), 4, 2, true)
	before := m.Weight.Clone()
	_, err := Load(path, m, true)
	var le *LoadError
	if !errors.As(err, &le) || le.Source != path || len(le.Report.Mismatched) != 1 {
		t.Fatalf("err %v", err)
	}
	if m.Weight.At(0, 0) != before.At(0, 0) {
		t.Fatal("failed strict load changed the model")
	}
	rep, err := Load(path, m, false)
	if err != nil || len(rep.Mismatched) != 1 || rep.Mismatched[0].Name != "weight" {
		t.Fatalf("non-strict: %v %v", rep, err)
	}
	if m.Bias.At(0) == 0 {
		t.Fatal("non-strict load skipped bias")
	}
	// Files that are missing or not safetensors.
	if _, err := Load(filepath.Join(dir, "none.safetensors"), m, true); err == nil {
		t.Fatal("no error for a missing file")
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, []byte("not a safetensors file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, m, false); err == nil {
		t.Fatal("no error for a corrupt file")
	}
}
