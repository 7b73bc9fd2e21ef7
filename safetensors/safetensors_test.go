package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const testdata = "../testdata/safetensors"

// golden is testdata/safetensors/golden.json, written by
// scripts/golden_safetensors.py.
type golden struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		F32Bits []uint32 `json:"f32_bits"`
	} `json:"tensors"`
	Convert struct {
		SrcBits     []uint32 `json:"src_bits"`
		F16Bits     []uint16 `json:"f16_bits"`
		BF16Bits    []uint16 `json:"bf16_bits"`
		NaNSrcBits  []uint32 `json:"nan_src_bits"`
		NaNF16Bits  []uint16 `json:"nan_f16_bits"`
		NaNBF16Bits []uint16 `json:"nan_bf16_bits"`
	} `json:"convert"`
}

func loadGolden(t *testing.T) golden {
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

// TestGoldenRead reads the file the Python script wrote by hand and compares
// every tensor with PyTorch's float() of it.
func TestGoldenRead(t *testing.T) {
	g := loadGolden(t)
	for how, f := range openBoth(t, filepath.Join(testdata, "golden.safetensors")) {
		t.Run(how, func(t *testing.T) {
			wantNames := make([]string, 0, len(g.Tensors))
			for name := range g.Tensors {
				wantNames = append(wantNames, name)
			}
			slices.Sort(wantNames)
			if got := f.Names(); !slices.Equal(got, wantNames) {
				t.Fatalf("Names() = %q, want %q", got, wantNames)
			}
			if got := f.Metadata(); !reflect.DeepEqual(got, g.Metadata) {
				t.Errorf("Metadata() = %q, want %q", got, g.Metadata)
			}
			for name, want := range g.Tensors {
				info, ok := f.Info(name)
				if !ok || info.DType.String() != want.DType || !slices.Equal(info.Shape, want.Shape) {
					t.Errorf("Info(%q) = %v, %v; want dtype %s shape %v", name, info, ok, want.DType, want.Shape)
				}
				data, shape, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, want.Shape) {
					t.Errorf("Float32(%q) shape %v, want %v", name, shape, want.Shape)
				}
				got := make([]uint32, len(data))
				for i, v := range data {
					got[i] = math.Float32bits(v)
				}
				if !slices.Equal(got, want.F32Bits) && !(len(got) == 0 && len(want.F32Bits) == 0) {
					t.Errorf("Float32(%q) bits %x, want %x", name, got, want.F32Bits)
				}
			}
		})
	}
}

// TestWriteMatchesReferenceLayout writes the golden tensors with Write and
// compares the bytes with the reference writer's layout made by the script.
func TestWriteMatchesReferenceLayout(t *testing.T) {
	g := loadGolden(t)
	f, err := Open(filepath.Join(testdata, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []Tensor
	for _, name := range f.Names() {
		raw, info, err := f.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, Tensor{Name: name, DType: info.DType, Shape: info.Shape, Raw: raw})
	}
	var buf bytes.Buffer
	if err := Write(&buf, ts, g.Metadata); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(testdata, "layout.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write output differs from layout.safetensors:\n got %q\nwant %q", buf.Bytes(), want)
	}
}

func TestConvertGolden(t *testing.T) {
	c := loadGolden(t).Convert
	for i, sb := range c.SrcBits {
		f := math.Float32frombits(sb)
		if got := Float32ToF16(f); got != c.F16Bits[i] {
			t.Errorf("Float32ToF16(%g [%#08x]) = %#04x, NumPy gives %#04x", f, sb, got, c.F16Bits[i])
		}
		if got := Float32ToBF16(f); got != c.BF16Bits[i] {
			t.Errorf("Float32ToBF16(%g [%#08x]) = %#04x, PyTorch gives %#04x", f, sb, got, c.BF16Bits[i])
		}
		if back := F16ToFloat32(c.F16Bits[i]); Float32ToF16(back) != c.F16Bits[i] {
			t.Errorf("F16 %#04x does not survive a round trip through float32 %g", c.F16Bits[i], back)
		}
	}
	// NaN payloads differ between PyTorch's scalar and vector paths; only
	// NaN-ness and sign (for F16, as NumPy) are compared.
	for i, sb := range c.NaNSrcBits {
		f := math.Float32frombits(sb)
		if h := Float32ToF16(f); h&0x7fff <= 0x7c00 || h&0x8000 != c.NaNF16Bits[i]&0x8000 {
			t.Errorf("Float32ToF16(NaN %#08x) = %#04x, NumPy gives %#04x", sb, h, c.NaNF16Bits[i])
		}
		if h := Float32ToBF16(f); h&0x7fff <= 0x7f80 {
			t.Errorf("Float32ToBF16(NaN %#08x) = %#04x, not a NaN", sb, h)
		}
	}
}

// halfValue is an independent formula for the value of half bits h.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	case 0:
		return sign * math.Ldexp(m, -24)
	}
	return sign * math.Ldexp(1024+m, e-25)
}

// TestF16Exhaustive checks every half value against halfValue and the
// round trip half -> float32 -> half.
func TestF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToFloat32(h)
		want := halfValue(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("F16ToFloat32(%#04x) = %g, want NaN", h, f)
			}
			if back := Float32ToF16(f); back != h|0x0200 {
				t.Fatalf("Float32ToF16(F16ToFloat32(%#04x)) = %#04x, want the quieted NaN %#04x", h, back, h|0x0200)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToFloat32(%#04x) = %g, want %g", h, f, want)
		}
		if back := Float32ToF16(f); back != h {
			t.Fatalf("Float32ToF16(F16ToFloat32(%#04x)) = %#04x", h, back)
		}
	}
	// The table-driven bulk decoder and BF16's agree with the scalar ones.
	src := make([]byte, 2<<16)
	for i := range 1 << 16 {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	for _, c := range []struct {
		d   DType
		one func(uint16) float32
	}{{F16, F16ToFloat32}, {BF16, BF16ToFloat32}} {
		dst := make([]float32, 1<<16)
		decodeFloat32(dst[1:], src[2:], c.d) // an odd length exercises the tails
		decodeFloat32(dst[:1], src, c.d)
		for i, v := range dst {
			if want := c.one(uint16(i)); math.Float32bits(v) != math.Float32bits(want) {
				t.Fatalf("%s bulk decode of %#04x = %#08x, want %#08x", c.d, i, math.Float32bits(v), math.Float32bits(want))
			}
		}
	}
}

// nearestCheck verifies that bits, the result of rounding f to a 16-bit
// format with value function val, is the nearest value with ties to even.
func nearestCheck(t *testing.T, format string, f float32, bits uint16, val func(uint16) float64, maxBits uint16) {
	t.Helper()
	x := float64(f)
	got := val(bits)
	if math.IsInf(got, 0) {
		// Overflow: f must be at or beyond the midpoint between the largest
		// finite value and the next power of two.
		largest := val(maxBits)
		limit := largest + (largest-val(maxBits-1))/2
		if math.Abs(x) < limit {
			t.Fatalf("%s(%g) overflowed to %g but the largest finite is %g", format, f, got, largest)
		}
		return
	}
	d := math.Abs(x - got)
	for _, nb := range []uint16{bits - 1, bits + 1, bits ^ 0x8000} {
		if nb&0x7fff > maxBits {
			continue
		}
		nv := val(nb)
		nd := math.Abs(x - nv)
		if nd < d || (nd == d && nv != got && bits&1 == 1) {
			t.Fatalf("%s(%g) = %#04x (%g), but %#04x (%g) is nearer or an even tie", format, f, bits, got, nb, nv)
		}
	}
}

func bf16Value(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) }

func TestRoundingRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := rng.Uint32()
		if b&0x7f800000 == 0x7f800000 {
			continue // inf and NaN are covered by the golden cases
		}
		f := math.Float32frombits(b)
		nearestCheck(t, "Float32ToBF16", f, Float32ToBF16(f), bf16Value, 0x7f7f)
		// Bias the exponent toward the half range for the F16 check.
		fh := math.Float32frombits(b&0x807fffff | uint32(100+rng.IntN(45))<<23)
		nearestCheck(t, "Float32ToF16", fh, Float32ToF16(fh), halfValue, 0x7bff)
	}
}

func TestF8ToFloat32(t *testing.T) {
	tests := []struct {
		d    DType
		b    byte
		want float32
	}{
		{F8E4M3, 0x00, 0}, {F8E4M3, 0x38, 1}, {F8E4M3, 0xb8, -1}, {F8E4M3, 0x7e, 448},
		{F8E4M3, 0x01, 1.0 / 512}, {F8E4M3, 0x08, 1.0 / 64}, {F8E4M3, 0x3c, 1.5},
		{F8E5M2, 0x3c, 1}, {F8E5M2, 0x7b, 57344}, {F8E5M2, 0x7c, float32(math.Inf(1))},
		{F8E5M2, 0x01, 1.0 / 65536}, {F8E5M2, 0xc0, -2},
	}
	for _, tt := range tests {
		got := make([]float32, 1)
		decodeFloat32(got, []byte{tt.b}, tt.d)
		if got[0] != tt.want {
			t.Errorf("%s %#02x = %g, want %g", tt.d, tt.b, got[0], tt.want)
		}
	}
	for _, c := range []struct {
		d DType
		b byte
	}{{F8E4M3, 0x7f}, {F8E4M3, 0xff}, {F8E5M2, 0x7d}, {F8E5M2, 0xff}} {
		got := make([]float32, 1)
		decodeFloat32(got, []byte{c.b}, c.d)
		if got[0] == got[0] {
			t.Errorf("%s %#02x = %g, want NaN", c.d, c.b, got[0])
		}
	}
}

func TestDTypeNames(t *testing.T) {
	for d := Invalid + 1; d < numDTypes; d++ {
		p, ok := ParseDType(d.String())
		if !ok || p != d || d.Bits() == 0 {
			t.Errorf("ParseDType(%q) = %v, %v; Bits %d", d.String(), p, ok, d.Bits())
		}
	}
	for _, bad := range []string{"f32", "FLOAT", "", "invalid"} {
		if _, ok := ParseDType(bad); ok {
			t.Errorf("ParseDType(%q) accepted", bad)
		}
	}
}

// exact holds values every numeric dtype stores exactly (BOOL aside).
var exact = []float32{0, 1, 2, 3, 7, 100, 127, 0, 5, 64, 12, 1}

// TestRoundTrip saves and reloads every dtype, from float32 where the dtype
// converts and from raw bytes for every dtype.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var ts []Tensor
	wantF := map[string][]float32{}
	for d := Invalid + 1; d < numDTypes; d++ {
		shape := []int{3, 4}
		if canEncode(d) {
			vals := slices.Clone(exact)
			switch d {
			case I8, I16, I32, I64, F16, BF16, F32, F64:
				vals[1], vals[4] = -1, -128
			case Bool:
				for i := range vals {
					vals[i] = min(vals[i], 1)
				}
			}
			if d == F32 || d == F64 {
				vals[2] = 0.1
				vals[3] = float32(math.Inf(-1))
			}
			name := "f32." + d.String()
			ts = append(ts, Tensor{Name: name, DType: d, Shape: shape, Float32: vals})
			wantF[name] = vals
		}
		raw := make([]byte, 12*d.Bits()/8)
		for i := range raw {
			raw[i] = byte(i*37 + int(d))
		}
		ts = append(ts, Tensor{Name: "raw." + d.String(), DType: d, Shape: shape, Raw: raw})
	}
	ts = append(ts,
		Tensor{Name: "scalar", DType: F32, Shape: nil, Float32: []float32{42}},
		Tensor{Name: "empty", DType: F16, Shape: []int{0, 5}},
		Tensor{Name: "empty.bf16", DType: BF16, Shape: []int{2, 0}, Float32: []float32{}},
		Tensor{Name: "ünï \"quoted\" <name>", DType: U8, Shape: []int{1}, Raw: []byte{9}},
	)
	wantF["scalar"] = []float32{42}
	meta := map[string]string{"format": "pt", "epoch": "3", "<html>&": "\"q\"\n"}
	path := filepath.Join(dir, "all.safetensors")
	if err := Save(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	for how, f := range openBoth(t, path) {
		t.Run(how, func(t *testing.T) {
			if f.Len() != len(ts) {
				t.Errorf("Len() = %d, want %d", f.Len(), len(ts))
			}
			if !reflect.DeepEqual(f.Metadata(), meta) {
				t.Errorf("Metadata() = %q, want %q", f.Metadata(), meta)
			}
			if f.HeaderSize()%8 != 0 {
				t.Errorf("HeaderSize() = %d, not a multiple of 8", f.HeaderSize())
			}
			for _, tt := range ts {
				info, ok := f.Info(tt.Name)
				if !ok || info.DType != tt.DType || len(info.Shape) != len(tt.Shape) || (len(tt.Shape) > 0 && !slices.Equal(info.Shape, tt.Shape)) {
					t.Errorf("Info(%q) = %+v, %v", tt.Name, info, ok)
				}
				raw, _, err := f.Raw(tt.Name)
				if err != nil {
					t.Fatal(err)
				}
				if tt.Raw != nil && !bytes.Equal(raw, tt.Raw) {
					t.Errorf("Raw(%q) = %x, want %x", tt.Name, raw, tt.Raw)
				}
				want, ok := wantF[tt.Name]
				if !ok {
					continue
				}
				got, _, err := f.Float32(tt.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("Float32(%q) = %v, want %v", tt.Name, got, want)
				}
			}
		})
	}
}

func TestFloat32Rounding(t *testing.T) {
	// Storing as F16/BF16 rounds to nearest even; integers round to nearest
	// even and saturate.
	src := []float32{1.0 / 3, 2.5, -2.5, 1e6, -1e6, float32(math.NaN()), 3.5}
	var buf bytes.Buffer
	ts := []Tensor{
		{Name: "h", DType: F16, Shape: []int{7}, Float32: src},
		{Name: "b", DType: BF16, Shape: []int{7}, Float32: src},
		{Name: "i8", DType: I8, Shape: []int{7}, Float32: src},
		{Name: "u8", DType: U8, Shape: []int{7}, Float32: src},
		{Name: "i64", DType: I64, Shape: []int{2}, Float32: []float32{1e30, -1e30}},
		{Name: "u64", DType: U64, Shape: []int{2}, Float32: []float32{1e30, -1}},
	}
	if err := Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "mem")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"h":   {F16ToFloat32(0x3555), 2.5, -2.5, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 3.5},
		"b":   {BF16ToFloat32(0x3eab), 2.5, -2.5, 999424, -999424, float32(math.NaN()), 3.5},
		"i8":  {0, 2, -2, 127, -128, 0, 4},
		"u8":  {0, 2, 0, 255, 0, 0, 4},
		"i64": {9223371487098961920, -9223372036854775808},
		"u64": {18446742974197923840, 0},
	}
	for name, w := range want {
		got, _, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if got[i] != w[i] && !(got[i] != got[i] && w[i] != w[i]) {
				t.Errorf("%s[%d] = %g, want %g", name, i, got[i], w[i])
			}
		}
	}
	raw, _, _ := f.Raw("i64")
	if v := int64(binary.LittleEndian.Uint64(raw)); v != 9223371487098961920 {
		t.Errorf("i64 saturated to %d", v)
	}
}

// mkfile builds a file from a JSON header and a data buffer.
func mkfile(js string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(out, js...)
	return append(out, data...)
}

func TestCorrupt(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file is 0 bytes, too short"},
		{"short", []byte{1, 0, 0}, "file is 3 bytes, too short"},
		{"header beyond file", mkfile(ok, make([]byte, 8))[:20], "header length 54 runs past the end of the 20-byte file"},
		{"header too large", binary.LittleEndian.AppendUint64(nil, 100_000_001), "header length 100000001 is more than the 100000000-byte limit"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "is more than the 100000000-byte limit"},
		{"bad json", mkfile(`{"a":{"dtype":"F32",`, nil), "header is not valid JSON"},
		{"bad json syntax", mkfile(`{"a" "b"}`, nil), "header is not valid JSON"},
		{"empty header", mkfile(``, nil), "header is not valid JSON: it ends early"},
		{"not an object", mkfile(`[1,2]`, nil), "header is not a JSON object (it starts with `[`)"},
		{"trailing data", mkfile(`{} {}`, nil), "header has data after its JSON object"},
		{"trailing garbage", mkfile(`{}x`, nil), "header is not valid JSON"},
		{"invalid utf8", mkfile("{\"\xff\":1}", nil), "header is not valid UTF-8"},
		{"entry not object", mkfile(`{"a":[1]}`, nil), "tensor \"a\": want an object with \"dtype\""},
		{"unknown dtype", mkfile(`{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a": unknown dtype "F31"`},
		{"lowercase dtype", mkfile(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), `unknown dtype "f32"`},
		{"dtype not string", mkfile(`{"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), "dtype: want a string, got `3`"},
		{"missing dtype", mkfile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), `missing field "dtype"`},
		{"missing shape", mkfile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, make([]byte, 8)), `missing field "shape"`},
		{"null offsets", mkfile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":null}}`, make([]byte, 8)), `missing field "data_offsets"`},
		{"negative dim", mkfile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, make([]byte, 8)), "shape: want a non-negative integer, got `-2`"},
		{"fractional dim", mkfile(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, make([]byte, 8)), "shape: want a non-negative integer, got `2.5`"},
		{"shape not array", mkfile(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, make([]byte, 8)), "shape: want an array"},
		{"three offsets", mkfile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, make([]byte, 8)), "data_offsets: want [begin, end]"},
		{"reversed offsets", mkfile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, make([]byte, 8)), "data_offsets [8,0] end before they begin"},
		{"size mismatch", mkfile(`{"conv.weight":{"dtype":"F32","shape":[3,3],"data_offsets":[0,100]}}`, make([]byte, 100)),
			`tensor "conv.weight": data_offsets [0,100] but shape (3, 3) of F32 needs 36 bytes`},
		{"shape overflow", mkfile(`{"a":{"dtype":"F32","shape":[65536,65536,65536,65536,65536],"data_offsets":[0,8]}}`, make([]byte, 8)), "shape (65536, 65536, 65536, 65536, 65536) of F32 is too large"},
		{"sub-byte misaligned", mkfile(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)), "shape (3,) of F4 is 12 bits, not a whole number of bytes"},
		{"overlap", mkfile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
			`tensor "b": data_offsets [4,8] overlap tensor "a", which ends at 8`},
		{"same offsets", mkfile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)),
			`tensor "b": data_offsets [0,8] overlap tensor "a"`},
		{"gap", mkfile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)),
			`tensor "b": data_offsets [8,12] leave a gap after tensor "a", which ends at 4`},
		{"first not at zero", mkfile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `tensor "a": data_offsets [4,8] leave bytes [0,4) of the data buffer unused`},
		{"short data", mkfile(ok, make([]byte, 5)), "data is truncated: the header's tensors need 8 bytes of data after the 54-byte header, but the file has 5"},
		{"extra data", mkfile(ok, make([]byte, 9)), "the header's tensors cover 8 bytes of data, but the file has 9"},
		{"no tensors extra data", mkfile(`{}`, []byte{0}), "cover 0 bytes of data, but the file has 1"},
		{"duplicate name", mkfile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), `tensor "a": appears twice in the header`},
		{"metadata not strings", mkfile(`{"__metadata__":{"epoch":3}}`, nil), "__metadata__: key \"epoch\": want a string, got `3`"},
		{"metadata not object", mkfile(`{"__metadata__":"x"}`, nil), "__metadata__: want an object of strings"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenReader(bytes.NewReader(tt.file), int64(len(tt.file)), "bad.safetensors")
			if err == nil {
				t.Fatalf("OpenReader accepted the file")
			}
			want := "safetensors: bad.safetensors: "
			if got := err.Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, tt.want) {
				t.Fatalf("error %q\nwant %q ... %q", got, want, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *Error", err)
			}
			// The same through Open on a real file, naming its path.
			path := filepath.Join(dir, fmt.Sprintf("bad%d.safetensors", i))
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

func TestAccepted(t *testing.T) {
	// What the reference accepts, fovea must too.
	tests := []struct {
		name string
		file []byte
	}{
		{"no tensors", mkfile(`{}`, nil)},
		{"null metadata", mkfile(`{"__metadata__":null}`, nil)},
		{"whitespace and unaligned", mkfile(" \n{ \"a\" : {\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1], \"extra\": 1} }\t", []byte{3})},
		{"offsets out of name order", mkfile(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3))},
		{"zero-size tensors anywhere", mkfile(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[1,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"y":{"dtype":"F64","shape":[3,0],"data_offsets":[0,0]}}`, make([]byte, 1))},
		{"F4 pair", mkfile(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, make([]byte, 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenReader(bytes.NewReader(tt.file), int64(len(tt.file)), "ok.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range f.Names() {
				if _, _, err := f.Raw(n); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	err := Save(path, []Tensor{
		{Name: "c", DType: C64, Shape: []int{1}, Raw: make([]byte, 8)},
		{Name: "w", DType: F32, Shape: []int{1}, Float32: []float32{1}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata() != nil {
		t.Errorf("Metadata() = %v, want nil", f.Metadata())
	}
	check := func(err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	_, _, err = f.Float32("missing")
	check(err, `safetensors: `+path+`: no tensor "missing"`)
	_, _, err = f.Raw("missing")
	check(err, `safetensors: `+path+`: no tensor "missing"`)
	_, _, err = f.Float32("c")
	check(err, `safetensors: `+path+`: tensor "c": cannot convert C64 to float32`)
	check(f.Float32Into("w", make([]float32, 2)), `safetensors: `+path+`: tensor "w": shape (1,) has 1 elements, but the destination has 2`)
	check(f.Float32Into("missing", nil), `safetensors: `+path+`: no tensor "missing"`)
	dst := []float32{5}
	if err := f.Float32Into("w", dst); err != nil || dst[0] != 1 {
		t.Errorf("Float32Into gave %v, %v", dst, err)
	}
	if _, ok := f.Info("missing"); ok {
		t.Error("Info(missing) reported ok")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.Float32("w")
	check(err, `safetensors: `+path+`: tensor "w": file is closed`)

	if _, err := Open(filepath.Join(t.TempDir(), "nope.safetensors")); err == nil || !strings.Contains(err.Error(), "nope.safetensors") {
		t.Errorf("Open(missing file) error %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(directory) error %v", err)
	}

	// A reader whose data vanishes after the header was read.
	var buf bytes.Buffer
	if err := Write(&buf, []Tensor{{Name: "w", DType: F32, Shape: []int{4}, Float32: make([]float32, 4)}}, nil); err != nil {
		t.Fatal(err)
	}
	sr := &shrinkingReader{data: buf.Bytes()}
	f, err = OpenReader(sr, int64(buf.Len()), "net")
	if err != nil {
		t.Fatal(err)
	}
	sr.data = sr.data[:buf.Len()-3]
	_, _, err = f.Float32("w")
	check(err, `safetensors: net: tensor "w": reading data: unexpected EOF`)
}

type shrinkingReader struct{ data []byte }

func (r *shrinkingReader) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(r.data).ReadAt(p, off)
}

func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	one := []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Float32: []float32{1, 2}}}
	if err := Save(path, one, nil); err != nil {
		t.Fatal(err)
	}
	old, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	two := []Tensor{{Name: "w", DType: F32, Shape: []int{3}, Float32: []float32{7, 8, 9}}}
	if err := Save(path, two, map[string]string{"step": "2"}); err != nil {
		t.Fatal(err)
	}
	// The open file still sees the old contents; a new Open sees the new.
	if got, _, err := old.Float32("w"); err != nil || !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("old file reads %v, %v", got, err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _, err := f.Float32("w"); err != nil || !slices.Equal(got, []float32{7, 8, 9}) {
		t.Errorf("new file reads %v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint", len(entries))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	bad := filepath.Join(dir, "no", "such", "dir.safetensors")
	if err := Save(bad, one, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Save into a missing directory: %v", err)
	}
	// Write returns the writer's error.
	if err := Write(failWriter{}, one, nil); err == nil || err.Error() != "disk full" {
		t.Errorf("Write to a failing writer: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestWritePanics(t *testing.T) {
	tests := []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"invalid dtype", []Tensor{{Name: "a", Shape: []int{1}, Float32: []float32{1}}}, `tensor "a": invalid dtype 0`},
		{"reserved", []Tensor{{Name: "__metadata__", DType: F32, Float32: []float32{1}}}, "reserved"},
		{"duplicate", []Tensor{{Name: "a", DType: F32, Float32: []float32{1}}, {Name: "a", DType: F16, Float32: []float32{1}}}, `tensor "a" given twice`},
		{"negative", []Tensor{{Name: "a", DType: F32, Shape: []int{-1}, Float32: []float32{}}}, "negative dimension in shape (-1,)"},
		{"both", []Tensor{{Name: "a", DType: F32, Shape: []int{1}, Float32: []float32{1}, Raw: make([]byte, 4)}}, "both Float32 and Raw"},
		{"neither", []Tensor{{Name: "a", DType: F32, Shape: []int{1}}}, "neither Float32 nor Raw is set for shape (1,)"},
		{"float len", []Tensor{{Name: "a", DType: F16, Shape: []int{2, 3}, Float32: make([]float32, 5)}}, `tensor "a": 5 float32 values for shape (2, 3) (6 elements)`},
		{"raw len", []Tensor{{Name: "a", DType: BF16, Shape: []int{2}, Raw: make([]byte, 3)}}, "3 raw bytes for shape (2,) of BF16 (4 bytes)"},
		{"no conversion", []Tensor{{Name: "a", DType: F8E4M3, Shape: []int{1}, Float32: []float32{1}}}, "cannot convert float32 to F8_E4M3; give Raw bytes"},
		{"sub-byte", []Tensor{{Name: "a", DType: F4, Shape: []int{3}, Raw: make([]byte, 2)}}, "12 bits, not a whole number of bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.HasPrefix(s, "safetensors.Write: ") || !strings.Contains(s, tt.want) {
					t.Errorf("panic %v, want %q", r, tt.want)
				}
			}()
			Write(&bytes.Buffer{}, tt.ts, nil)
		})
	}
}

// FuzzOpen checks that no input makes the reader panic, that every tensor
// of an accepted file reads, and that writing an accepted file back gives a
// file that reads the same.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"golden.safetensors", "layout.safetensors"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(mkfile(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]},"__metadata__":{"k":"v"}}`, []byte{1}))
	f.Add(mkfile(`{"a":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}`, []byte{1}))
	f.Add(mkfile(`{"a":{"dtype":"F32","shape":[3,3],"data_offsets":[0,100]}}`, make([]byte, 100)))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := OpenReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "safetensors: fuzz: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var ts []Tensor
		for _, name := range file.Names() {
			raw, info, err := file.Raw(name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(raw)) != info.End-info.Begin {
				t.Fatalf("Raw(%q) gave %d bytes for %+v", name, len(raw), info)
			}
			if canConvert(info.DType) {
				vals, _, err := file.Float32(name)
				if err != nil || len(vals) != info.NumElements() {
					t.Fatalf("Float32(%q): %d values, %v", name, len(vals), err)
				}
			}
			ts = append(ts, Tensor{Name: name, DType: info.DType, Shape: info.Shape, Raw: raw})
		}
		var buf bytes.Buffer
		if err := Write(&buf, ts, file.Metadata()); err != nil {
			t.Fatal(err)
		}
		again, err := OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "again")
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		if !slices.Equal(again.Names(), file.Names()) || !reflect.DeepEqual(again.Metadata(), file.Metadata()) {
			t.Fatalf("rewritten file differs")
		}
		for _, tt := range ts {
			raw, _, err := again.Raw(tt.Name)
			if err != nil || !bytes.Equal(raw, tt.Raw) {
				t.Fatalf("rewritten %q differs: %v", tt.Name, err)
			}
		}
	})
}

func BenchmarkFloat32(b *testing.B) {
	dir := b.TempDir()
	const n = 1 << 22 // 16 MiB of F32
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i) * 1e-3
	}
	for _, d := range []DType{F32, F16, BF16} {
		path := filepath.Join(dir, d.String()+".safetensors")
		if err := Save(path, []Tensor{{Name: "w", DType: d, Shape: []int{n}, Float32: vals}}, nil); err != nil {
			b.Fatal(err)
		}
		for how, open := range map[string]func() (*File, error){
			"mmap": func() (*File, error) { return Open(path) },
			"readat": func() (*File, error) {
				osf, err := os.Open(path)
				if err != nil {
					return nil, err
				}
				st, _ := osf.Stat()
				return OpenReader(osf, st.Size(), path)
			},
		} {
			b.Run(d.String()+"/"+how, func(b *testing.B) {
				f, err := open()
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				dst := make([]float32, n)
				b.SetBytes(n * 4)
				for b.Loop() {
					if err := f.Float32Into("w", dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkSave(b *testing.B) {
	dir := b.TempDir()
	const n = 1 << 22
	vals := make([]float32, n)
	for _, d := range []DType{F32, F16, BF16} {
		b.Run(d.String(), func(b *testing.B) {
			b.SetBytes(n * 4)
			for b.Loop() {
				if err := Save(filepath.Join(dir, "s.safetensors"), []Tensor{{Name: "w", DType: d, Shape: []int{n}, Float32: vals}}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
