package nn

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// fixture is one golden case written by scripts/golden_nn.py.
type fixture struct {
	name    string
	tensors map[string]*tensor.Tensor
	meta    map[string]string
}

// readFixture reads testdata/nn/<name>.safetensors (F32 tensors only). It is
// a minimal reader so that these tests do not depend on package safetensors.
func readFixture(t *testing.T, name string) *fixture {
	t.Helper()
	path := filepath.Join("..", "testdata", "nn", name+".safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	data := b[8+n:]
	f := &fixture{name: name, tensors: map[string]*tensor.Tensor{}, meta: map[string]string{}}
	for k, raw := range hdr {
		if k == "__metadata__" {
			if err := json.Unmarshal(raw, &f.meta); err != nil {
				t.Fatalf("%s: metadata: %v", path, err)
			}
			continue
		}
		var info struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil || info.Dtype != "F32" {
			t.Fatalf("%s: tensor %s: %v (dtype %s)", path, k, err, info.Dtype)
		}
		seg := data[info.Offsets[0]:info.Offsets[1]]
		v := make([]float32, len(seg)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(seg[4*i:]))
		}
		f.tensors[k] = tensor.New(v, info.Shape...)
	}
	return f
}

// testTB is the part of testing.TB the fixture helpers use (a fake in
// TestGoldenCheckSeesNaN).
type testTB interface {
	golden.TB
	Fatalf(format string, args ...any)
}

// get returns a tensor of the fixture or fails.
func (f *fixture) get(t testTB, key string) *tensor.Tensor {
	t.Helper()
	v, ok := f.tensors[key]
	if !ok {
		t.Fatalf("%s: fixture has no %q", f.name, key)
	}
	return v
}

// input returns a fresh copy of input k that requires a gradient.
func (f *fixture) input(t *testing.T, k string) *tensor.Tensor {
	return f.get(t, "in."+k).Clone().SetRequiresGrad(true)
}

// prefixed returns the fixture's tensors under prefix, keyed without it.
func (f *fixture) prefixed(prefix string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range f.tensors {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// load loads the fixture's param.* state dict into m strictly.
func (f *fixture) load(t *testing.T, m any) {
	t.Helper()
	if _, err := LoadStateDict(m, f.prefixed("param."), true); err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
}

// goldenErrs collects the largest error seen per fixture, printed by
// TestMain with FOVEA_GOLDEN_REPORT=1 for docs/nn.md.
var goldenErrs = struct {
	sync.Mutex
	m map[string]float64
}{m: map[string]float64{}}

// check compares got with the fixture's key under the one golden measure
// (golden.Err: max |got − want| / max(|want|, 0.01·max|want|)), fails above
// tol and records the error.
func (f *fixture) check(t testTB, key string, got *tensor.Tensor, tol float64) {
	t.Helper()
	e := tensortest.CheckTensor(t, "nn/"+f.name+"/"+key, got, f.get(t, key), tol)
	goldenErrs.Lock()
	if old, ok := goldenErrs.m[f.name]; !ok || e > old || math.IsNaN(e) {
		goldenErrs.m[f.name] = e
	}
	goldenErrs.Unlock()
}

// checkGrads compares the gradients of the named parameters of m with the
// fixture's grad.* entries.
func (f *fixture) checkGrads(t *testing.T, m any, rtol float64) {
	t.Helper()
	for _, p := range NamedParameters(m) {
		if _, ok := f.tensors["grad."+p.Name]; ok {
			f.check(t, "grad."+p.Name, p.Tensor.Grad(), rtol)
		} else if p.Tensor.Grad() != nil {
			t.Errorf("%s: parameter %s got a gradient PyTorch did not", f.name, p.Name)
		}
	}
}

// runSingle runs the standard single-input case: load, forward in.x, compare
// out.y, backward with gout.y, compare grad.in.x and the parameter grads.
func runSingle(t *testing.T, name string, m Module, rtol float64) *fixture {
	t.Helper()
	f := readFixture(t, name)
	f.load(t, m)
	x := f.input(t, "x")
	y := m.Forward(x)
	f.check(t, "out.y", y, rtol)
	if _, ok := f.tensors["gout.y"]; ok {
		y.BackwardWith(f.get(t, "gout.y"))
		f.check(t, "grad.in.x", x.Grad(), rtol)
		f.checkGrads(t, m, rtol)
	}
	return f
}

func TestMain(m *testing.M) {
	code := m.Run()
	if golden.Reporting() {
		names := make([]string, 0, len(goldenErrs.m))
		for k := range goldenErrs.m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Printf("| %s | %.2g |\n", k, goldenErrs.m[k])
		}
	}
	os.Exit(code)
}

// nanTB records the failures of a helper under test.
type nanTB struct{ failed bool }

func (n *nanTB) Helper()               {}
func (n *nanTB) Errorf(string, ...any) { n.failed = true }
func (n *nanTB) Fatalf(string, ...any) { n.failed = true }
func (n *nanTB) Logf(string, ...any)   {}

// TestGoldenCheckSeesNaN: the fixture comparison fails a NaN-filled output
// at every tolerance the tests use, and passes the fixture itself.
func TestGoldenCheckSeesNaN(t *testing.T) {
	f := readFixture(t, "linear")
	want := f.get(t, "out.y")
	nan := tensor.Full(float32(math.NaN()), want.Shape()...)
	for _, tol := range []float64{1e-6, 1e-5, mhaGradTol, 1} {
		fake := &nanTB{}
		f.check(fake, "out.y", nan, tol)
		if !fake.failed {
			t.Errorf("tolerance %g: a NaN-filled output passed", tol)
		}
		fake = &nanTB{}
		f.check(fake, "out.y", want.Clone(), tol)
		if fake.failed {
			t.Errorf("tolerance %g: the fixture itself failed", tol)
		}
	}
}
