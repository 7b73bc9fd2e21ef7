package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testdata = "../testdata/torchfile"

// golden is testdata/torchfile/golden.json, written by
// scripts/golden_torchfile.py.
type golden struct {
	Files map[string]struct {
		Archive         string   `json:"archive"`
		StateDictPrefix string   `json:"state_dict_prefix"`
		Names           []string `json:"names"`
		Tensors         map[string]struct {
			DType        string   `json:"dtype"`
			Shape        []int    `json:"shape"`
			Stride       []int    `json:"stride"`
			Offset       int      `json:"offset"`
			StorageKey   string   `json:"storage_key"`
			Parameter    bool     `json:"parameter"`
			RequiresGrad bool     `json:"requires_grad"`
			F32Bits      []uint32 `json:"f32_bits"`
			RawHex       string   `json:"raw_hex"`
		} `json:"tensors"`
		Values map[string]struct {
			Type string `json:"type"`
			Repr string `json:"repr"`
		} `json:"values"`
	} `json:"files"`
	Refused map[string]string `json:"refused"`
	Pickles []struct {
		Protocol int    `json:"protocol"`
		Hex      string `json:"hex"`
	} `json:"pickles"`
	PickleValues map[string]struct {
		Type string `json:"type"`
		Repr string `json:"repr"`
	} `json:"pickle_values"`
}

func loadGolden(t testing.TB) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// openBoth opens path memory-mapped (Open) and streamed (OpenReader on an
// *os.File), so every reading test covers both paths.
func openBoth(t *testing.T, path string) map[string]*File {
	t.Helper()
	mapped, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mapped.Close() })
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { osf.Close() })
	st, _ := osf.Stat()
	streamed, err := OpenReader(osf, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*File{"Open": mapped, "OpenReader": streamed}
}

// reprOf formats a value of Values as the golden file's Python repr.
func reprOf(v any) (typ, repr string) {
	switch v := v.(type) {
	case nil:
		return "NoneType", "None"
	case bool:
		if v {
			return "bool", "True"
		}
		return "bool", "False"
	case int64:
		return "int", fmt.Sprint(v)
	case *big.Int:
		return "int", v.String()
	case float64:
		return "float", pyFloat(v)
	case string:
		if strings.HasPrefix(v, "torch.") {
			return "dtype", v
		}
		return "str", v
	case []byte:
		return "bytes", "b" + pyStr(string(v))
	}
	return fmt.Sprintf("%T", v), fmt.Sprint(v)
}

// TestGolden reads every checkpoint PyTorch wrote and compares each tensor's
// description, PyTorch's .float() of it (bit for bit) and its contiguous
// bytes, and the plain values.
func TestGolden(t *testing.T) {
	g := loadGolden(t)
	if len(g.Files) < 8 {
		t.Fatalf("golden.json lists %d files", len(g.Files))
	}
	for file, want := range g.Files {
		for how, f := range openBoth(t, filepath.Join(testdata, file)) {
			t.Run(file+"/"+how, func(t *testing.T) {
				if f.Archive() != want.Archive {
					t.Errorf("Archive() = %q, want %q", f.Archive(), want.Archive)
				}
				if got := f.StateDictPrefix(); got != want.StateDictPrefix {
					t.Errorf("StateDictPrefix() = %q, want %q", got, want.StateDictPrefix)
				}
				if got := f.Names(); !slices.Equal(got, want.Names) {
					t.Fatalf("Names() = %q\nwant %q", got, want.Names)
				}
				if f.Len() != len(want.Names) {
					t.Errorf("Len() = %d", f.Len())
				}
				for name, wt := range want.Tensors {
					info, ok := f.Info(name)
					if !ok {
						t.Fatalf("Info(%q) not found", name)
					}
					if info.Name != name || info.DType.String() != wt.DType || !slices.Equal(info.Shape, wt.Shape) ||
						!slices.Equal(info.Stride, wt.Stride) || info.Offset != wt.Offset || info.StorageKey != wt.StorageKey ||
						info.Parameter != wt.Parameter || info.RequiresGrad != wt.RequiresGrad {
						t.Errorf("Info(%q) = %+v\nwant %+v", name, info, wt)
					}
					vals, shape, err := f.Float32(name)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(shape, wt.Shape) {
						t.Errorf("Float32(%q) shape %v, want %v", name, shape, wt.Shape)
					}
					bits := make([]uint32, len(vals))
					for i, v := range vals {
						bits[i] = math.Float32bits(v)
					}
					if !slices.Equal(bits, wt.F32Bits) && !(len(bits) == 0 && len(wt.F32Bits) == 0) {
						t.Errorf("Float32(%q) bits\n %x\nwant %x", name, bits, wt.F32Bits)
					}
					dst := make([]float32, len(vals))
					if err := f.Float32Into(name, dst); err != nil || !slices.Equal(f32bits(dst), f32bits(vals)) {
						t.Errorf("Float32Into(%q) = %v, %v", name, dst, err)
					}
					raw, rinfo, err := f.Raw(name)
					if err != nil {
						t.Fatal(err)
					}
					if hex.EncodeToString(raw) != wt.RawHex || rinfo.Name != name {
						t.Errorf("Raw(%q) = %x, want %s", name, raw, wt.RawHex)
					}
					view, ok := f.Float32View(name)
					wantView := how == "Open" && wt.DType == "F32" && info.Contiguous()
					if ok != wantView {
						t.Errorf("Float32View(%q) ok = %v, want %v", name, ok, wantView)
					}
					if ok && !slices.Equal(f32bits(view), wt.F32Bits) && len(view)+len(wt.F32Bits) > 0 {
						t.Errorf("Float32View(%q) = %v", name, view)
					}
				}
				vals := f.Values()
				if len(vals) != len(want.Values) {
					t.Errorf("Values() has %d entries, want %d: %v", len(vals), len(want.Values), vals)
				}
				for name, wv := range want.Values {
					v, ok := vals[name]
					typ, repr := reprOf(v)
					if !ok || typ != wv.Type || repr != wv.Repr {
						t.Errorf("Values()[%q] = %#v (%s %s), %v; want %s %s", name, v, typ, repr, ok, wv.Type, wv.Repr)
					}
				}
			})
		}
	}
}

// TestPythonPickles reads plain objects CPython pickled with protocols 1 to
// 5 (no torch: ints of every size, floats, strings, bytes, tuples, sets,
// dicts with int, tuple, None, bool and float keys, shared lists).
func TestPythonPickles(t *testing.T) {
	g := loadGolden(t)
	if len(g.Pickles) != 5 || len(g.PickleValues) < 50 {
		t.Fatalf("golden.json has %d pickles, %d values", len(g.Pickles), len(g.PickleValues))
	}
	for _, p := range g.Pickles {
		t.Run(fmt.Sprint("protocol", p.Protocol), func(t *testing.T) {
			pkl, err := hex.DecodeString(p.Hex)
			if err != nil {
				t.Fatal(err)
			}
			f := &File{}
			if err := f.readObject(pkl, nil); err != nil {
				t.Fatal(err)
			}
			vals := f.Values()
			for name, wv := range g.PickleValues {
				v, ok := vals[name]
				typ, repr := reprOf(v)
				if !ok || typ != wv.Type || repr != wv.Repr {
					t.Errorf("%q = %#v (%s %s), %v; want %s %s", name, v, typ, repr, ok, wv.Type, wv.Repr)
				}
			}
			if len(vals) != len(g.PickleValues) {
				t.Errorf("%d values, want %d", len(vals), len(g.PickleValues))
			}
		})
	}
}

func TestDecodeLong(t *testing.T) {
	for _, tt := range []struct {
		b    []byte
		want string
	}{
		{nil, "0"}, {[]byte{0xff}, "-1"}, {[]byte{0xff, 0x00}, "255"}, {[]byte{0x00, 0x80}, "-32768"},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, "-9223372036854775808"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}, "9223372036854775807"},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x01}, "18446744073709551616"},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff}, "-18446744073709551616"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "-1"},
	} {
		v := decodeLong(tt.b)
		if got := fmt.Sprint(v); got != tt.want {
			t.Errorf("decodeLong(%x) = %s, want %s", tt.b, got, tt.want)
		}
		if _, isBig := v.(*big.Int); isBig && (tt.want == "-1" || tt.want == "9223372036854775807") {
			t.Errorf("decodeLong(%x) gave a *big.Int for an int64", tt.b)
		}
	}
}

func f32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// TestSharedStorage checks that views and tied weights share a storage key
// and that the zero-copy views of tied weights alias one another.
func TestSharedStorage(t *testing.T) {
	f, err := Open(filepath.Join(testdata, "views.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	key := func(n string) string { i, _ := f.Info(n); return i.StorageKey }
	for _, n := range []string{"t", "narrow", "row", "col", "step"} {
		if key(n) != key("base") {
			t.Errorf("%s is on storage %q, base on %q", n, key(n), key("base"))
		}
	}
	if key("tied_a") != key("tied_b") || key("tied_a") == key("base") {
		t.Errorf("tied weights on storages %q and %q", key("tied_a"), key("tied_b"))
	}
	a, okA := f.Float32View("tied_a")
	b, okB := f.Float32View("tied_b")
	if !okA || !okB || &a[0] != &b[0] {
		t.Fatalf("tied views do not alias: %v %v", okA, okB)
	}
	if info, _ := f.Info("narrow"); info.Offset != 8 || info.Contiguous() {
		t.Errorf("narrow: %+v", info)
	}
	if _, ok := f.Float32View("row"); !ok {
		t.Error("row (contiguous, offset 12) has no view")
	}
	if _, ok := f.Float32View("t"); ok {
		t.Error("a transpose has a view")
	}
}

// TestFloat32ViewCopyOnWrite writes through a zero-copy view: the file on
// disk does not change, later reads from the File see the write.
func TestFloat32ViewCopyOnWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.pth")
	orig, err := os.ReadFile(filepath.Join(testdata, "module.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, orig, 0o444); err != nil { // read-only on disk
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := f.Float32View("head.weight")
	if !ok {
		t.Skip("no memory map on this system")
	}
	want, _, _ := f.Float32("head.weight")
	v[0] = 42
	if got, _, _ := f.Float32("head.weight"); got[0] != 42 || got[1] != want[1] {
		t.Errorf("Float32 after a write through the view: %v", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Float32View("head.weight"); ok {
		t.Error("Float32View after Close reported ok")
	}
	if _, _, err := f.Float32("head.weight"); err == nil || !strings.Contains(err.Error(), "file is closed") {
		t.Errorf("Float32 after Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, orig) {
		t.Error("writing through the view changed the file")
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, _, _ := g.Float32("head.weight"); got[0] != want[0] {
		t.Errorf("a new Open sees %v, want %v", got[0], want[0])
	}
}

// TestRefused opens the files PyTorch (or an attacker) wrote that must be
// refused: the error names the file and what it is.
func TestRefused(t *testing.T) {
	g := loadGolden(t)
	for file, phrase := range g.Refused {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(testdata, file)
			_, err := Open(path)
			if err == nil {
				t.Fatal("Open accepted the file")
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *Error", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "torchfile: "+path+": ") || !strings.Contains(msg, phrase) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want the path and %q on one line", msg, phrase)
			}
		})
	}
	_, err := Open(filepath.Join(testdata, "malicious.pth"))
	want := `torchfile: ../testdata/torchfile/malicious.pth: malicious/data.pkl at byte 2: global "os.system" is not allowed (only tensors, dicts and plain values can be read)`
	if err == nil || err.Error() != want {
		t.Errorf("malicious.pth: %v\nwant %s", err, want)
	}
	if e, ok := err.(*Error); !ok || e.Entry != "malicious/data.pkl" || e.Offset != 2 {
		t.Errorf("malicious.pth: %#v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "nope.pth")); err == nil || !strings.Contains(err.Error(), "nope.pth") {
		t.Errorf("Open(missing file): %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(directory): %v", err)
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("just some text\n"), 0o644)
	if _, err := Open(text); err == nil || !strings.Contains(err.Error(), text+": not a PyTorch checkpoint") {
		t.Errorf("Open(text): %v", err)
	}
	empty := filepath.Join(dir, "empty.pth")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty); err == nil || !strings.Contains(err.Error(), "the file is empty") {
		t.Errorf("Open(empty): %v", err)
	}
	f, err := Open(filepath.Join(testdata, "module.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
	p := "torchfile: ../testdata/torchfile/module.pth: "
	_, _, err = f.Float32("missing")
	check(err, p+`no tensor "missing"`)
	_, _, err = f.Raw("missing")
	check(err, p+`no tensor "missing"`)
	check(f.Float32Into("missing", nil), p+`no tensor "missing"`)
	check(f.Float32Into("head.bias", make([]float32, 3)), p+`tensor "head.bias": shape (2,) has 2 elements, but the destination has 3`)
	if _, ok := f.Info("missing"); ok {
		t.Error("Info(missing) reported ok")
	}
	if _, ok := f.Float32View("missing"); ok {
		t.Error("Float32View(missing) reported ok")
	}
	if v, _, err := f.Float32("bn.num_batches_tracked"); err != nil || len(v) != 1 || v[0] != 7 {
		t.Errorf("num_batches_tracked = %v, %v", v, err)
	}

	// A reader whose data vanishes after the pickle was read.
	b, _ := os.ReadFile(filepath.Join(testdata, "module.pth"))
	sr := &shrinkingReader{data: b}
	g, err := OpenReader(sr, int64(len(b)), "net")
	if err != nil {
		t.Fatal(err)
	}
	sr.data = nil
	_, _, err = g.Float32("head.weight")
	check(err, `torchfile: net: module/data/6: tensor "head.weight": reading data: unexpected EOF`)
	_, _, err = g.Raw("conv.weight")
	check(err, `torchfile: net: module/data/0: tensor "conv.weight": reading data: unexpected EOF`)
}

type shrinkingReader struct{ data []byte }

func (r *shrinkingReader) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// TestAllowedGlobals checks the allow-list holds what checkpoints need and
// nothing that runs code.
func TestAllowedGlobals(t *testing.T) {
	got := AllowedGlobals()
	for _, want := range []string{"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
		"torch.FloatStorage", "torch.BFloat16Storage", "torch.float16", "torch.Size"} {
		if !slices.Contains(got, want) {
			t.Errorf("AllowedGlobals() lacks %s", want)
		}
	}
	for _, bad := range []string{"os.system", "builtins.eval", "builtins.getattr", "posix.system"} {
		if slices.Contains(got, bad) {
			t.Errorf("AllowedGlobals() has %s", bad)
		}
	}
	if !slices.IsSorted(got) {
		t.Error("AllowedGlobals() is not sorted")
	}
}

func TestRuns(t *testing.T) {
	// A (2, 3, 4) tensor's transpose(0, 2) and a slice with every stride.
	tests := []struct {
		shape, stride []int
		want          []int // storage index of each row-major element
	}{
		{nil, nil, []int{0}},
		{[]int{3}, []int{1}, []int{0, 1, 2}},
		{[]int{3}, []int{0}, []int{0, 0, 0}},
		{[]int{2, 3}, []int{3, 1}, []int{0, 1, 2, 3, 4, 5}},
		{[]int{3, 2}, []int{1, 3}, []int{0, 3, 1, 4, 2, 5}},
		{[]int{2, 1, 2}, []int{4, 99, 1}, []int{0, 1, 4, 5}},
		{[]int{2, 2, 2}, []int{8, 4, 2}, []int{0, 2, 4, 6, 8, 10, 12, 14}},
		{[]int{2, 2}, []int{0, 1}, []int{0, 1, 0, 1}},
	}
	for _, tt := range tests {
		got := make([]int, 0)
		runs(tt.shape, tt.stride, func(d, s, n int) {
			if d != len(got) {
				t.Errorf("run at %d after %d elements", d, len(got))
			}
			for i := range n {
				got = append(got, s+i)
			}
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("runs(%v, %v) = %v, want %v", tt.shape, tt.stride, got, tt.want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{0.1: "0.1", 1: "1.0", 1e-5: "1e-05", 1e16: "1e+16", 1e15: "1000000000000000.0",
		0.0001: "0.0001", -2.5: "-2.5", 1e300: "1e+300", math.Inf(-1): "-inf", 123456.789: "123456.789"} {
		if got := pyFloat(f); got != want {
			t.Errorf("pyFloat(%g) = %q, want %q", f, got, want)
		}
	}
}

// ---- Hand-built checkpoints ----

// pk builds a pickle.
type pk struct{ bytes.Buffer }

func newPk() *pk { p := &pk{}; p.WriteString("\x80\x02"); return p }

func (p *pk) op(s string) *pk { p.WriteString(s); return p }

func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pk) int(n int) *pk {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, int32(n))
	return p
}

func (p *pk) global(mod, name string) *pk { return p.op("c" + mod + "\n" + name + "\n") }

func (p *pk) ints(v ...int) *pk {
	p.op("(")
	for _, x := range v {
		p.int(x)
	}
	return p.op("t")
}

// tensor emits _rebuild_tensor_v2 of storage key (of type typ, numel
// elements) with the offset, size and stride given.
func (p *pk) tensor(typ, key string, numel, offset int, size, stride []int) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op("(")
	p.op("(").str("storage").global("torch", typ).str(key).str("cpu").int(numel).op("tQ")
	p.int(offset).ints(size...).ints(stride...).op("\x89").global("collections", "OrderedDict").op(")R")
	return p.op("tR")
}

func (p *pk) bytes() []byte { return append(bytes.Clone(p.Bytes()), '.') }

// mkzip builds a checkpoint zip with the entries given, in order, stored
// (or, for names in deflate, compressed).
func mkzip(t testing.TB, entries [][2]string, deflate ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Store
		if slices.Contains(deflate, e[0]) {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ckpt is a checkpoint "c" with data.pkl pkl and float storages of the
// given sizes in elements, keys "0", "1", ...
func ckpt(t testing.TB, pkl []byte, storageElems ...int) []byte {
	entries := [][2]string{{"c/data.pkl", string(pkl)}}
	for i, n := range storageElems {
		b := make([]byte, 4*n)
		for j := range n {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(j)))
		}
		entries = append(entries, [2]string{fmt.Sprintf("c/data/%d", i), string(b)})
	}
	entries = append(entries, [2]string{"c/version", "3\n"})
	return mkzip(t, entries)
}

func openBytes(b []byte) (*File, error) {
	return OpenReader(bytes.NewReader(b), int64(len(b)), "bad.pth")
}

// oneTensor is a checkpoint {"w": tensor} on a 6-element float storage.
func oneTensor(t testing.TB, offset int, size, stride []int) []byte {
	p := newPk().op("}").str("w").tensor("FloatStorage", "0", 6, offset, size, stride).op("s")
	return ckpt(t, p.bytes(), 6)
}

func TestHandBuilt(t *testing.T) {
	// A valid file first, to show the helpers make readable checkpoints.
	f, err := openBytes(oneTensor(t, 1, []int{2, 2}, []int{1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := f.Float32("w"); err != nil || !slices.Equal(v, []float32{1, 3, 2, 4}) {
		t.Errorf("w = %v, %v", v, err)
	}

	// Other accepted constructions.
	accepted := []struct {
		name string
		file []byte
		test func(*File) error
	}{
		{"bare tensor", ckpt(t, newPk().tensor("FloatStorage", "0", 6, 2, []int{3}, []int{1}).bytes(), 6), func(f *File) error {
			if v, _, err := f.Float32(""); err != nil || !slices.Equal(v, []float32{2, 3, 4}) {
				return fmt.Errorf("%v %v", v, err)
			}
			return nil
		}},
		{"parameter with state", ckpt(t, newPk().op("}").str("p").global("torch._utils", "_rebuild_parameter_with_state").op("(").
			tensor("FloatStorage", "0", 6, 0, []int{6}, []int{1}).op("\x88").global("collections", "OrderedDict").op(")R}tRs").bytes(), 6),
			func(f *File) error {
				if i, _ := f.Info("p"); !i.Parameter || !i.RequiresGrad {
					return fmt.Errorf("%+v", i)
				}
				return nil
			}},
		{"from type v2", ckpt(t, newPk().op("}").str("p").global("torch._tensor", "_rebuild_from_type_v2").op("(").
			global("torch._utils", "_rebuild_tensor_v2").global("torch.nn.parameter", "Parameter").op("(").
			op("(").str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6).op("tQ").
			int(0).ints(6).ints(1).op("\x89N").op("t").op("}tRs").bytes(), 6),
			func(f *File) error {
				if i, _ := f.Info("p"); !i.Parameter || i.NumElements() != 6 {
					return fmt.Errorf("%+v", i)
				}
				return nil
			}},
		{"tensor v3 with a dtype", ckpt(t, newPk().op("}").str("u").global("torch._utils", "_rebuild_tensor_v3").op("(").
			op("(").str("storage").global("torch", "UntypedStorage").str("0").str("cpu").int(24).op("tQ").
			int(2).ints(2).ints(1).op("\x89").global("collections", "OrderedDict").op(")R").global("torch", "int16").op("tRs").bytes(), 6),
			func(f *File) error {
				// Float storage 0,1,2,... as int16: float32(0)=0x00000000, 1=0x3f800000 -> halves 0, 0, 0, 0x3f80.
				if v, _, err := f.Float32("u"); err != nil || !slices.Equal(v, []float32{0, 0x3f80}) {
					return fmt.Errorf("%v %v", v, err)
				}
				return nil
			}},
		{"ordered dict, set, size, device, bytes", ckpt(t, newPk().global("collections", "OrderedDict").op(")R").
			str("s").global("__builtin__", "set").op("](").int(1).int(2).op("e\x85R").op("s").
			str("z").global("torch", "Size").ints(2, 3).op("\x85Rs").
			str("d").global("torch", "device").str("cuda").int(1).op("\x86Rs").
			str("b").global("_codecs", "encode").str("a\u00ff").str("latin1").op("\x86Rs").
			str("k").op("}").int(7).str("seven").op("s").op("\x88N\x86").str("pair").op("s").op("s").
			op("N}\x86b").bytes()),
			func(f *File) error {
				want := map[string]any{"s.0": int64(1), "s.1": int64(2), "z.0": int64(2), "z.1": int64(3), "d": "cuda:1",
					"b": []byte{'a', 0xff}, "k.7": "seven", "k.(True, None)": "pair"}
				got := f.Values()
				if fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("Values() = %v, want %v", got, want)
				}
				return nil
			}},
		{"shared dict twice", ckpt(t, newPk().op("}").str("a").op("}q\x00").str("x").int(1).op("s").op("s").str("b").op("h\x00s").bytes()),
			func(f *File) error {
				if got := fmt.Sprint(f.Values()); got != "map[a.x:1 b.x:1]" {
					return fmt.Errorf("Values() = %v", got)
				}
				return nil
			}},
		{"protocol 0 ints", ckpt(t, newPk().op("(").str("t").op("I01\n").str("n").op("I-12\n").str("l").op("L123456789012345678901L\n").
			str("f").op("F0.25\n").op("d").bytes()),
			func(f *File) error {
				if got := fmt.Sprint(f.Values()); got != "map[f:0.25 l:123456789012345678901 n:-12 t:true]" {
					return fmt.Errorf("Values() = %v", got)
				}
				return nil
			}},
		{"expanded within limit", oneTensor(t, 0, []int{1 << 20, 2}, []int{0, 1}), nil},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			f, err := openBytes(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if tt.test != nil {
				if err := tt.test(f); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	good := oneTensor(t, 0, []int{2, 3}, []int{3, 1})
	tensorFile := func(typ string, numel int, size, stride []int, offset int) []byte {
		return ckpt(t, newPk().op("}").str("w").tensor(typ, "0", numel, offset, size, stride).op("s").bytes(), 6)
	}
	withPickle := func(body string) []byte { return ckpt(t, append([]byte("\x80\x02"), body...)) }
	forbidden := func(mod, name string) []byte {
		return ckpt(t, newPk().global(mod, name).str("x").op("\x85R.").Bytes())
	}
	deep := newPk()
	for range 1100 {
		deep.op("]")
	}
	for range 1099 {
		deep.op("a")
	}
	laughs := newPk().op("]").int(1).op("a")
	for range 40 { // each level holds the previous twice: 2^40 leaves
		laughs.op("q\x00h\x00\x86")
	}
	tupleKey := newPk().op("}").int(1).op("\x85")
	for range 40 { // a key tuple holding the previous twice: 2^40 ints to hash
		tupleKey.op("q\x00h\x00\x86")
	}
	tupleKey.op("Ns")
	big := strings.Repeat("k", 100_000)
	longNames := newPk().op("}").str(big).op("q\x00}")
	for range 15 { // names grow by 100 kB a level
		longNames.op("h\x00}")
	}
	for range 16 {
		longNames.op("s")
	}
	encodes := newPk().op("(").str(big).str("latin1").op("\x86q\x00")
	for range 1000 {
		encodes.global("_codecs", "encode").op("h\x00R")
	}
	encodes.op("l")
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"exponential key", ckpt(t, tupleKey.bytes()), "the pickle takes too long to read"},
		{"long names", ckpt(t, longNames.bytes()), "the object takes too long to read"},
		{"repeated encode", ckpt(t, encodes.bytes()), "the pickle takes too long to read"},
		{"text", []byte("hello world\n"), "not a PyTorch checkpoint"},
		{"truncated zip", good[:len(good)-10], "damaged zip archive"},
		{"truncated half", good[:len(good)/2], "damaged zip archive"},
		{"bare pickle", []byte("\x80\x02}q\x00."), "bare Python pickle"},
		{"legacy", append(slices.Clone(legacyMagic), '.'), "legacy format"},
		{"tar", append(make([]byte, 257), "ustar\x0000"+strings.Repeat("\x00", 300)...), "tar archive"},
		{"no data.pkl", mkzip(t, [][2]string{{"c/version", "3"}}), "no <name>/data.pkl entry"},
		{"two data.pkl", mkzip(t, [][2]string{{"a/data.pkl", "."}, {"b/data.pkl", "."}}), "has 2 data.pkl entries"},
		{"torchscript", mkzip(t, [][2]string{{"m/data.pkl", "."}, {"m/code/__torch__.py", ""}}), "TorchScript archive"},
		{"big endian", mkzip(t, [][2]string{{"c/data.pkl", "\x80\x02N."}, {"c/byteorder", "big"}}), `byte order "big" is not supported`},
		{"missing storage", ckpt(t, newPk().op("}").str("w").tensor("FloatStorage", "7", 6, 0, []int{6}, []int{1}).op("s").bytes(), 6),
			`c/data.pkl at byte 96: storage "7": the archive has no entry c/data/7`},
		{"wrong-sized storage", tensorFile("FloatStorage", 5, []int{5}, []int{1}, 0), `storage "0": 5 elements of F32 need 20 bytes, but its entry holds 24`},
		{"dtype mismatch", tensorFile("DoubleStorage", 6, []int{6}, []int{1}, 0), `storage "0": 6 elements of F64 need 48 bytes, but its entry holds 24`},
		{"past the storage", oneTensor(t, 1, []int{2, 3}, []int{3, 1}), `a F32 tensor of size (2, 3), stride (3, 1) at offset 1 reaches past the end of storage "0" (24 bytes)`},
		{"stride past", oneTensor(t, 0, []int{2, 3}, []int{4, 1}), "reaches past the end"},
		{"negative size", oneTensor(t, 0, []int{-2, 3}, []int{3, 1}), "size (-2, 3) has a negative dimension"},
		{"negative stride", oneTensor(t, 5, []int{2}, []int{-1}), "stride (-1,) has a negative step"},
		{"negative offset", oneTensor(t, -1, []int{2}, []int{1}), "storage_offset is -1, not a non-negative int"},
		{"overflowing size", oneTensor(t, 0, []int{1 << 30, 1 << 30, 1 << 30}, []int{0, 0, 0}), "size (1073741824, 1073741824, 1073741824) is too large"},
		{"overflowing stride", oneTensor(t, 0, []int{3, 2}, []int{1 << 30, 1 << 30}), "reaches past the end"},
		{"expanded too far", oneTensor(t, 0, []int{1 << 29}, []int{0}), "more than its storage \"0\" holds"},
		{"size and stride lengths", oneTensor(t, 0, []int{2, 3}, []int{1}), "size (2, 3) and stride (1,) differ in length"},
		{"empty past storage", oneTensor(t, 7, []int{0}, []int{1}), "storage_offset 7 is beyond storage"},
		{"complex storage", tensorFile("ComplexFloatStorage", 3, []int{3}, []int{1}, 0), `storage "0" is a torch.ComplexFloatStorage: complex, quantized and other exotic dtypes cannot be read`},
		{"compressed storage", mkzip(t, [][2]string{{"c/data.pkl", string(newPk().op("}").str("w").tensor("FloatStorage", "0", 1, 0, []int{1}, []int{1}).op("s").bytes())}, {"c/data/0", "abcd"}}, "c/data/0"),
			"entry c/data/0 is compressed (method 8), which is not supported"},
		{"os.system", forbidden("os", "system"), `global "os.system" is not allowed`},
		{"posix.system", forbidden("posix", "system"), `global "posix.system" is not allowed`},
		{"eval", forbidden("__builtin__", "eval"), `global "builtins.eval" is not allowed`},
		{"getattr", forbidden("builtins", "getattr"), `global "builtins.getattr" is not allowed`},
		{"whole module", forbidden("torch.nn.modules.linear", "Linear"), "save model.state_dict() instead"},
		{"numpy", forbidden("numpy.core.multiarray", "scalar"), "NumPy arrays and scalars cannot be read"},
		{"stack global", withPickle("\x8c\x02os\x8c\x06system\x93."), `global "os.system" is not allowed`},
		{"calling a storage", withPickle("ctorch\nFloatStorage\n)R."), `"torch.FloatStorage" cannot be called`},
		{"calling a dtype", withPickle("ctorch\nfloat32\n)R."), `"torch.float32" cannot be called`},
		{"newobj of a function", withPickle("ctorch._utils\n_rebuild_tensor_v2\n)\x81."), "cannot be created with NEWOBJ"},
		{"calling a string", withPickle("X\x01\x00\x00\x00a)R."), "cannot call a string"},
		{"reduce without tuple", withPickle("ccollections\nOrderedDict\nNR."), "are None, not a tuple"},
		{"build on a list", withPickle("]}b."), "BUILD on a list is not allowed"},
		{"build on a tensor", ckpt(t, newPk().tensor("FloatStorage", "0", 6, 0, []int{6}, []int{1}).op("}b").bytes(), 6), "BUILD on a tensor is not allowed"},
		{"inst", withPickle("(ios\nsystem\n."), "pickle opcode INST is not allowed"},
		{"obj", withPickle("(o."), "pickle opcode OBJ is not allowed"},
		{"ext1", withPickle("\x82\x01."), "pickle opcode EXT1 is not allowed"},
		{"unknown opcode", withPickle("\xff."), "unknown pickle opcode 0xff"},
		{"protocol 6", []byte(mkzip(t, [][2]string{{"c/data.pkl", "\x80\x06N."}})), "c/data.pkl at byte 0: pickle protocol 6 is not supported"},
		{"no stop", withPickle("N"), "the pickle ends without a STOP opcode"},
		{"empty pickle", mkzip(t, [][2]string{{"c/data.pkl", ""}}), "c/data.pkl at byte 0: the pickle ends without a STOP"},
		{"short binunicode", withPickle("X\xff\xff\xff\xff"), "opcode 'X' needs 4294967295 more bytes"},
		{"short binunicode8", withPickle("\x8d\xff\xff\xff\xff\xff\xff\xff\xff"), "needs 18446744073709551615 more bytes"},
		{"huge long4", withPickle("\x8b\xff\xff\xff\x7f"), "needs 2147483647 more bytes"},
		{"negative long4", withPickle("\x8b\xff\xff\xff\xff"), "LONG4 has a negative length"},
		{"bad utf8", withPickle("X\x01\x00\x00\x00\xff."), "not valid UTF-8"},
		{"stack underflow", withPickle("s."), "stack underflow"},
		{"underflow past mark", withPickle("N(\x85."), "stack underflow"},
		{"no mark", withPickle("t."), "opcode 't' without a MARK"},
		{"memo miss", withPickle("h\x05."), "memo entry 5 was never stored"},
		{"setitem on a list", withPickle("]NNs."), "SETITEM on a list, not a dict"},
		{"append to a dict", withPickle("}Na."), "APPEND to a dict, not a list"},
		{"odd setitems", withPickle("}(Nu."), "odd number"},
		{"unhashable key", withPickle("}]Ns."), "a dictionary key is a list, which is not hashable"},
		{"persistent id not storage", withPickle("X\x01\x00\x00\x00aQ."), "is not a storage"},
		{"persistent id short", withPickle("(X\x07\x00\x00\x00storaget\x51."), "storage persistent id has 1 items, want 5"},
		{"cycle", withPickle("}q\x00X\x01\x00\x00\x00ah\x00s."), `"a": the object contains itself`},
		{"deep", ckpt(t, deep.bytes()), "nests more than 1000 deep"},
		{"billion laughs", ckpt(t, laughs.bytes()), "repeats shared lists or dicts too often"},
		{"duplicate names", withPickle("}X\x03\x00\x00\x00a.bK\x01sX\x01\x00\x00\x00a}X\x01\x00\x00\x00bK\x02ss."), `two entries are named "a.b"`},
		{"1 and '1'", withPickle("}K\x01K\x01s\x88K\x02sX\x01\x00\x00\x001K\x03s."), `two entries are named "1"`},
		{"rebuild args", ckpt(t, newPk().global("torch._utils", "_rebuild_tensor_v2").op(")R").bytes()), "want 6 or 7 arguments, got 0"},
		{"rebuild storage type", ckpt(t, newPk().global("torch._utils", "_rebuild_tensor_v2").op("(").int(1).int(0).ints(1).ints(1).op("\x89N").op("tR").bytes()), "storage is an int, not a storage"},
		{"storage class not a storage", withPickle("(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ."), "not a torch storage class"},
		{"v3 unsupported dtype", ckpt(t, newPk().global("torch._utils", "_rebuild_tensor_v3").op("(").
			op("(").str("storage").global("torch", "UntypedStorage").str("0").str("cpu").int(24).op("tQ").
			int(0).ints(2).ints(1).op("\x89N").global("torch", "complex64").op("tR").bytes(), 6), "tensors of dtype torch.complex64 cannot be read"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(tt.file)
			if err == nil {
				t.Fatalf("OpenReader accepted the file")
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *Error", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, "torchfile: bad.pth: ") || !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
				t.Fatalf("error %q\nwant %q", got, tt.want)
			}
			// The same through Open on a real file, naming its path.
			path := filepath.Join(dir, fmt.Sprintf("bad%d.pth", i))
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(path)
			if err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error %v, want %q with the path", err, tt.want)
			}
		})
	}
}

// withPickle returns the zip archive file with the content of its data.pkl
// entry replaced by pkl (the other entries copied as they are), or nil if
// file is not a zip with a data.pkl.
func withPickle(file, pkl []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	found := false
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "/data.pkl") && !found {
			found = true
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Store})
			if err != nil {
				return nil
			}
			w.Write(pkl)
			continue
		}
		r, err := e.OpenRaw()
		if err != nil {
			return nil
		}
		w, err := zw.CreateRaw(&e.FileHeader)
		if err != nil {
			return nil
		}
		if _, err := io.Copy(w, r); err != nil {
			return nil
		}
	}
	if zw.Close() != nil || !found {
		return nil
	}
	return buf.Bytes()
}

// FuzzOpen checks that no input makes the reader panic or allocate beyond
// reason, that errors name the file, and that every tensor of an accepted
// file reads with the right number of elements and bytes. It opens file as
// it is, and again with its data.pkl replaced by pkl: a mutated pickle in
// file itself would fail the zip's CRC check, so the unpickler is fuzzed
// through pkl, with file's storages.
func FuzzOpen(f *testing.F) {
	names, err := filepath.Glob(filepath.Join(testdata, "*.p*"))
	if err != nil || len(names) == 0 {
		f.Fatal("no seed files", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var pkl []byte
		if zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil {
			for _, e := range zr.File {
				if strings.HasSuffix(e.Name, "/data.pkl") {
					rc, _ := e.Open()
					pkl, _ = io.ReadAll(rc)
					rc.Close()
				}
			}
		}
		f.Add(b, pkl)
	}
	expanded := oneTensor(f, 1, []int{2, 2}, []int{1, 2})
	f.Add(expanded, newPk().op("}").str("w").tensor("FloatStorage", "0", 6, 0, []int{1 << 20, 2}, []int{0, 1}).op("s").bytes())
	f.Add(expanded, newPk().global("torch._utils", "_rebuild_tensor_v3").op("(").
		op("(").str("storage").global("torch", "UntypedStorage").str("0").str("cpu").int(24).op("tQ").
		int(1).ints(2).ints(1).op("\x89N").global("torch", "int16").op("tR").bytes())
	check := func(t *testing.T, data []byte) {
		file, err := OpenReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "torchfile: fuzz: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) not found", name)
			}
			n := info.NumElements()
			if n > 1<<22 {
				continue // an expanded view: valid, but slow to copy
			}
			raw, _, err := file.Raw(name)
			if err != nil || len(raw) != n*info.DType.Size() {
				t.Fatalf("Raw(%q): %d bytes for %+v, %v", name, len(raw), info, err)
			}
			vals, _, err := file.Float32(name)
			if err != nil || len(vals) != n {
				t.Fatalf("Float32(%q): %d values for %+v, %v", name, len(vals), info, err)
			}
		}
		file.Values()
		file.StateDictPrefix()
	}
	f.Fuzz(func(t *testing.T, file, pkl []byte) {
		check(t, file)
		if z := withPickle(file, pkl); z != nil {
			check(t, z)
		}
	})
}
