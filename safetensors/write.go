package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// Tensor is one tensor to write. Set exactly one of Float32 and Raw (or
// neither, for a tensor with no elements):
// Float32 values are converted to DType (F32 as is; F16 and BF16 round to
// nearest, ties to even, overflowing to infinity; F64 exactly; integer types
// round to nearest even and saturate, NaN becoming 0; BOOL stores v != 0),
// while Raw bytes are stored as given and must already be little-endian
// DType elements.
type Tensor struct {
	Name    string    // the header key, e.g. "decoder.head.weight"; not "__metadata__"
	DType   DType     // the stored element type
	Shape   []int     // dimensions, outermost first; empty for a scalar
	Float32 []float32 // row-major values, len = product of Shape
	Raw     []byte    // or the stored bytes, len = product of Shape * DType.Bits() / 8
}

// Save writes tensors and metadata (which may be nil) to path in the
// safetensors format. It writes a temporary file in the same directory,
// syncs it and renames it over path, so a crash or error never leaves a
// partial file at path, and a File still mapping the old path keeps reading
// the old contents. See Write for the layout and for what panics.
func Save(path string, tensors []Tensor, metadata map[string]string) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return Write(w, tensors, metadata) }); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// Write writes tensors and metadata (which may be nil) to w in the
// safetensors format, as the reference implementation lays it out: the
// 8-byte little-endian header length N; the JSON header, with
// "__metadata__" first (keys sorted) and the tensors in data order, padded
// with spaces to a multiple of 8 bytes; then the tensors' data, sorted by
// decreasing dtype alignment (the DType constants' order, F64/I64/U64
// first) and then by name. Float32 data is converted in chunks as it is
// written.
//
// Write panics, naming the tensor, on programming errors: an invalid DType,
// a duplicate or reserved name, a negative dimension, both Float32 and Raw
// set (or neither, with elements), data whose length does not match the shape, or Float32
// data for a DType it cannot be converted to (sub-byte types, the 8-bit
// floats and C64 must be given as Raw). It returns w's errors.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]int, len(tensors))
	seen := map[string]bool{}
	for i, t := range tensors {
		checkTensor(t)
		if seen[t.Name] {
			panic(fmt.Sprintf("safetensors.Write: tensor %q given twice", t.Name))
		}
		seen[t.Name] = true
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, tb := &tensors[a], &tensors[b]
		if ta.DType != tb.DType {
			return int(tb.DType) - int(ta.DType)
		}
		return strings.Compare(ta.Name, tb.Name)
	})

	var hdr bytes.Buffer
	enc := json.NewEncoder(&hdr)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		enc.Encode(s) // cannot fail for a string
		hdr.Truncate(hdr.Len() - 1)
	}
	hdr.WriteByte('{')
	if metadata != nil {
		str(metadataKey)
		hdr.WriteString(":{")
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range metadata {
				if !yield(k) {
					return
				}
			}
		})
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			str(k)
			hdr.WriteByte(':')
			str(metadata[k])
		}
		hdr.WriteByte('}')
	}
	var offset int64
	for i, idx := range order {
		t := &tensors[idx]
		if i > 0 || metadata != nil {
			hdr.WriteByte(',')
		}
		size := byteSize(t)
		str(t.Name)
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprint(&hdr, d)
		}
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, offset, offset+size)
		offset += size
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > MaxHeaderSize {
		return fmt.Errorf("header is %d bytes, more than the %d-byte limit", hdr.Len(), MaxHeaderSize)
	}

	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(hdr.Len()))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	var chunk []byte
	for _, idx := range order {
		t := &tensors[idx]
		if t.Raw != nil {
			if _, err := w.Write(t.Raw); err != nil {
				return err
			}
			continue
		}
		elem := t.DType.Bits() / 8
		const chunkElems = 1 << 16
		for start := 0; start < len(t.Float32); start += chunkElems {
			src := t.Float32[start:min(len(t.Float32), start+chunkElems)]
			need := len(src) * elem
			if cap(chunk) < need {
				chunk = make([]byte, need)
			}
			encodeFloat32(chunk[:need], src, t.DType)
			if _, err := w.Write(chunk[:need]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTensor panics if t cannot be written.
func checkTensor(t Tensor) {
	if !t.DType.Valid() {
		panic(fmt.Sprintf("safetensors.Write: tensor %q: invalid dtype %d", t.Name, t.DType))
	}
	if t.Name == metadataKey {
		panic(fmt.Sprintf("safetensors.Write: tensor name %q is reserved for the metadata", t.Name))
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			panic(fmt.Sprintf("safetensors.Write: tensor %q: negative dimension in shape %s", t.Name, formatShape(t.Shape)))
		}
		n *= d
	}
	switch {
	case t.Float32 != nil && t.Raw != nil:
		panic(fmt.Sprintf("safetensors.Write: tensor %q: both Float32 and Raw are set", t.Name))
	case t.Float32 == nil && t.Raw == nil && n != 0:
		panic(fmt.Sprintf("safetensors.Write: tensor %q: neither Float32 nor Raw is set for shape %s", t.Name, formatShape(t.Shape)))
	case t.Float32 != nil && !canEncode(t.DType):
		panic(fmt.Sprintf("safetensors.Write: tensor %q: cannot convert float32 to %s; give Raw bytes", t.Name, t.DType))
	case t.Float32 != nil && len(t.Float32) != n:
		panic(fmt.Sprintf("safetensors.Write: tensor %q: %d float32 values for shape %s (%d elements)", t.Name, len(t.Float32), formatShape(t.Shape), n))
	case t.Raw != nil && int64(len(t.Raw)) != byteSize(&t):
		panic(fmt.Sprintf("safetensors.Write: tensor %q: %d raw bytes for shape %s of %s (%d bytes)", t.Name, len(t.Raw), formatShape(t.Shape), t.DType, byteSize(&t)))
	}
}

// byteSize returns the stored size of t; it panics if that is not whole bytes.
func byteSize(t *Tensor) int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	bits := n * int64(t.DType.Bits())
	if bits%8 != 0 {
		panic(fmt.Sprintf("safetensors.Write: tensor %q: shape %s of %s is %d bits, not a whole number of bytes", t.Name, formatShape(t.Shape), t.DType, bits))
	}
	return bits / 8
}
