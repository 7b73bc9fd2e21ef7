package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header, in bytes, that a reader accepts
// and a writer produces: 100 MB, as in the reference implementation.
const MaxHeaderSize = 100_000_000

// metadataKey is the header entry holding the free-form string metadata.
const metadataKey = "__metadata__"

// Error is the error returned for a file that is not valid safetensors. File
// is the path (or the name given to OpenReader), Tensor the tensor at fault
// if any, and Msg what is wrong.
type Error struct {
	File   string
	Tensor string
	Msg    string
}

// Error formats e as
// `safetensors: model.safetensors: tensor "conv.weight": <what is wrong>`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string // the key in the header, e.g. "backbone.conv1.weight"
	DType DType  // the element type
	Shape []int  // the dimensions, outermost first; empty for a scalar
	// Begin and End are the tensor's byte range within the data buffer that
	// follows the header (End - Begin = NumElements * DType.Bits() / 8).
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// header is a parsed, validated header.
type header struct {
	size     int64                 // N, the JSON length
	tensors  map[string]TensorInfo // by name
	names    []string              // sorted
	metadata map[string]string     // nil if absent
	dataLen  int64                 // sum of tensor sizes = file size - 8 - N
}

// parseHeader parses and validates the JSON header buf for a file of
// fileSize bytes, applying the rules of the reference implementation: the
// JSON is one object; "__metadata__", if present and not null, maps strings
// to strings; every other entry is {"dtype", "shape", "data_offsets"} with a
// known dtype, non-negative integer dimensions and a [begin, end] pair; sorted
// by offset the tensors tile the data buffer exactly, each from where the
// previous ended, with end - begin equal to the shape's size in that dtype;
// and the buffer ends at the end of the file. It also rejects what the
// reference tolerates by accident: invalid UTF-8, duplicate names, and data
// offsets with other than two numbers.
func parseHeader(file string, buf []byte, fileSize int64) (*header, error) {
	fail := func(tensor, format string, args ...any) (*header, error) {
		return nil, &Error{File: file, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	if !utf8.Valid(buf) {
		return fail("", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	tok, err := dec.Token()
	if err != nil {
		return fail("", "header is not valid JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fail("", "header is not a JSON object (it starts with %s)", describeToken(tok))
	}
	h := &header{size: int64(len(buf)), tensors: map[string]TensorInfo{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("", "header is not valid JSON: %v", jsonErr(err))
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return fail(name, "appears twice in the header")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail("", "header is not valid JSON: %v", jsonErr(err))
		}
		if name == metadataKey {
			if string(raw) == "null" {
				continue
			}
			m, err := parseMetadata(raw)
			if err != nil {
				return fail("", "%s: %v", metadataKey, err)
			}
			h.metadata = m
			continue
		}
		info, err := parseTensorInfo(name, raw)
		if err != nil {
			return fail(name, "%v", err)
		}
		h.tensors[name] = info
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fail("", "header is not valid JSON: %v", jsonErr(err))
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fail("", "header is not valid JSON: %v", jsonErr(err))
		}
		return fail("", "header has data after its JSON object (%s)", describeToken(tok))
	}

	// The tensors, by offset, must tile the data buffer.
	byOffset := make([]TensorInfo, 0, len(h.tensors))
	for _, t := range h.tensors {
		byOffset = append(byOffset, t)
	}
	slices.SortFunc(byOffset, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return cmpInt64(a.Begin, b.Begin)
		}
		if a.End != b.End {
			return cmpInt64(a.End, b.End)
		}
		return strings.Compare(a.Name, b.Name)
	})
	var next int64
	for i, t := range byOffset {
		switch {
		case t.Begin > next && i == 0:
			return fail(t.Name, "data_offsets [%d,%d] leave bytes [0,%d) of the data buffer unused", t.Begin, t.End, t.Begin)
		case t.Begin > next:
			return fail(t.Name, "data_offsets [%d,%d] leave a gap after tensor %q, which ends at %d", t.Begin, t.End, byOffset[i-1].Name, next)
		case t.Begin < next:
			return fail(t.Name, "data_offsets [%d,%d] overlap tensor %q, which ends at %d", t.Begin, t.End, byOffset[i-1].Name, next)
		}
		next = t.End
	}
	h.dataLen = next
	if want := 8 + h.size + next; want != fileSize {
		if want > fileSize {
			return fail("", "data is truncated: the header's tensors need %d bytes of data after the %d-byte header, but the file has %d", next, h.size, fileSize-8-h.size)
		}
		return fail("", "the header's tensors cover %d bytes of data, but the file has %d after the %d-byte header", next, fileSize-8-h.size, h.size)
	}
	h.names = make([]string, 0, len(h.tensors))
	for name := range h.tensors {
		h.names = append(h.names, name)
	}
	slices.Sort(h.names)
	return h, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseMetadata decodes the "__metadata__" object: string keys to string values.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("want an object of strings, got %s", describeRaw(raw))
	}
	m := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("key %q: want a string, got %s", k, describeRaw(v))
		}
		m[k] = s
	}
	return m, nil
}

// parseTensorInfo decodes and checks one tensor entry (but not its place
// among the others).
func parseTensorInfo(name string, raw json.RawMessage) (TensorInfo, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return TensorInfo{}, fmt.Errorf(`want an object with "dtype", "shape" and "data_offsets", got %s`, describeRaw(raw))
	}
	field := func(key string) (json.RawMessage, error) {
		v, ok := obj[key]
		if !ok || string(v) == "null" {
			return nil, fmt.Errorf("missing field %q", key)
		}
		return v, nil
	}
	info := TensorInfo{Name: name}

	v, err := field("dtype")
	if err != nil {
		return info, err
	}
	var dname string
	if v[0] != '"' || json.Unmarshal(v, &dname) != nil {
		return info, fmt.Errorf("dtype: want a string, got %s", describeRaw(v))
	}
	d, ok := ParseDType(dname)
	if !ok {
		return info, fmt.Errorf("unknown dtype %q", dname)
	}
	info.DType = d

	v, err = field("shape")
	if err != nil {
		return info, err
	}
	dims, err := parseUints(v)
	if err != nil {
		return info, fmt.Errorf("shape: %v", err)
	}
	nelem := uint64(1)
	overflow := false
	info.Shape = make([]int, len(dims))
	for i, d := range dims {
		if d > math.MaxInt {
			return info, fmt.Errorf("shape: dimension %d is too large", d)
		}
		info.Shape[i] = int(d)
		hi, lo := bits.Mul64(nelem, d)
		overflow = overflow || hi != 0
		nelem = lo
	}

	v, err = field("data_offsets")
	if err != nil {
		return info, err
	}
	offs, err := parseUints(v)
	if err != nil || len(offs) != 2 {
		return info, fmt.Errorf("data_offsets: want [begin, end] with 0 <= begin <= end, got %s", describeRaw(v))
	}
	if offs[1] < offs[0] {
		return info, fmt.Errorf("data_offsets [%d,%d] end before they begin", offs[0], offs[1])
	}
	if offs[1] > math.MaxInt64 {
		return info, fmt.Errorf("data_offsets [%d,%d] are beyond any file", offs[0], offs[1])
	}
	info.Begin, info.End = int64(offs[0]), int64(offs[1])

	hi, nbits := bits.Mul64(nelem, uint64(d.Bits()))
	if overflow || hi != 0 {
		return info, fmt.Errorf("shape %s of %s is too large", formatShape(info.Shape), d)
	}
	if nbits%8 != 0 {
		return info, fmt.Errorf("shape %s of %s is %d bits, not a whole number of bytes", formatShape(info.Shape), d, nbits)
	}
	if size := offs[1] - offs[0]; size != nbits/8 {
		return info, fmt.Errorf("data_offsets [%d,%d] but shape %s of %s needs %d bytes", offs[0], offs[1], formatShape(info.Shape), d, nbits/8)
	}
	return info, nil
}

// parseUints decodes a JSON array of non-negative integers.
func parseUints(raw json.RawMessage) ([]uint64, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, fmt.Errorf("want an array of non-negative integers, got %s", describeRaw(raw))
	}
	out := make([]uint64, len(elems))
	for i, e := range elems {
		if err := json.Unmarshal(e, &out[i]); err != nil {
			return nil, fmt.Errorf("want a non-negative integer, got %s", describeRaw(e))
		}
	}
	return out, nil
}

// formatShape writes a shape as PyTorch prints a tuple: (3, 3), (5,), ().
func formatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, d)
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// describeRaw quotes a JSON value for an error message, cut to 40 bytes.
func describeRaw(raw []byte) string {
	s := string(raw)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return "`" + s + "`"
}

// describeToken names a JSON token for an error message.
func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return "`" + string(t) + "`"
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// jsonErr turns the decoder's unexpected-EOF into words.
func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("it ends early")
	}
	return err
}
