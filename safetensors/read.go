package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
)

// File is an open safetensors file. Its header is parsed and validated when
// it is opened; tensor data is read on demand, from a read-only memory map
// (Open on Linux) or with ReadAt calls (OpenReader, and Open elsewhere), so a
// file larger than memory can be opened and read one tensor at a time.
//
// The methods of a File may be called from several goroutines at once, but
// not concurrently with Close.
type File struct {
	name   string      // for error messages
	hdr    *header     // validated header
	data   []byte      // whole file when memory-mapped, else nil
	r      io.ReaderAt // used when data is nil
	closer func() error
	closed bool
}

// Open opens and validates the safetensors file at path. On Linux the file is
// memory-mapped; elsewhere tensors are read from it with ReadAt. Close the
// File when done. A file that is not valid safetensors gives an *Error naming
// path and what is wrong.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &Error{File: path, Msg: "not a regular file"}
	}
	if data, unmap, ok := mmapFile(f, size); ok {
		f.Close() // the mapping stays valid without the descriptor
		sf, err := newFile(path, nil, data, size)
		if err != nil {
			unmap()
			return nil, err
		}
		sf.closer = unmap
		return sf, nil
	}
	sf, err := newFile(path, f, nil, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f.Close
	return sf, nil
}

// OpenReader validates the safetensors data of size bytes in r, such as an
// *os.File, a *bytes.Reader or a section of an archive, and returns a File
// that reads tensors from r on demand. name stands for the data in error
// messages. Close does not close r.
func OpenReader(r io.ReaderAt, size int64, name string) (*File, error) {
	return newFile(name, r, nil, size)
}

// newFile reads and validates the header from data (if not nil) or r.
func newFile(name string, r io.ReaderAt, data []byte, size int64) (*File, error) {
	fail := func(format string, args ...any) (*File, error) {
		return nil, &Error{File: name, Msg: fmt.Sprintf(format, args...)}
	}
	if size < 8 {
		return fail("file is %d bytes, too short for the 8-byte header length", size)
	}
	var prefix [8]byte
	if data != nil {
		copy(prefix[:], data)
	} else if err := readFull(r, prefix[:], 0); err != nil {
		return fail("reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		if string(prefix[:4]) == "PK\x03\x04" {
			return fail("not a safetensors file but a zip archive (a PyTorch .pth? fovea convert writes safetensors from it)")
		}
		return fail("header length %d is more than the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return fail("header length %d runs past the end of the %d-byte file", n, size)
	}
	var buf []byte
	if data != nil {
		buf = data[8 : 8+n]
	} else {
		buf = make([]byte, n)
		if err := readFull(r, buf, 8); err != nil {
			return fail("reading the %d-byte header: %v", n, err)
		}
	}
	hdr, err := parseHeader(name, buf, size)
	if err != nil {
		return nil, err
	}
	return &File{name: name, hdr: hdr, data: data, r: r}, nil
}

// Close releases the file (unmapping it). Reading from a closed File gives an
// error. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.closer != nil {
		return f.closer()
	}
	return nil
}

// Names returns the names of the stored tensors, sorted.
func (f *File) Names() []string { return slices.Clone(f.hdr.names) }

// Len returns the number of stored tensors.
func (f *File) Len() int { return len(f.hdr.names) }

// Info returns the dtype, shape and byte range of the named tensor; ok is
// false if there is no such tensor.
func (f *File) Info(name string) (info TensorInfo, ok bool) {
	info, ok = f.hdr.tensors[name]
	info.Shape = slices.Clone(info.Shape)
	return info, ok
}

// Shape returns a tensor's dimensions, and false if the file has no such tensor.
func (f *File) Shape(name string) ([]int, bool) {
	info, ok := f.Info(name)
	return info.Shape, ok
}

// Metadata returns a copy of the header's "__metadata__" strings, or nil if
// the file has none.
func (f *File) Metadata() map[string]string {
	if f.hdr.metadata == nil {
		return nil
	}
	return maps.Clone(f.hdr.metadata)
}

// HeaderSize returns N, the length of the JSON header in bytes; the data
// buffer starts at byte 8+N of the file.
func (f *File) HeaderSize() int64 { return f.hdr.size }

// Raw returns a copy of the named tensor's bytes as stored: little-endian,
// row-major, NumElements*DType.Bits()/8 bytes. It returns the tensor's
// description too.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, info, f.notFound(name)
	}
	buf := make([]byte, info.End-info.Begin)
	if err := f.readAt(buf, info); err != nil {
		return nil, info, err
	}
	return buf, info, nil
}

// Float32 returns the named tensor converted to float32, with its shape
// (the data is row-major: element (i, j) of shape (R, C) is at i*C+j).
// F16, BF16, F8_E5M2 and F8_E4M3 convert exactly; F64 rounds to nearest;
// integers convert as Go's float32() does (exact up to 2^24 in magnitude);
// BOOL gives 0 or 1. C64 and the sub-byte and scaled 8-bit float types give
// an error.
func (f *File) Float32(name string) ([]float32, []int, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, nil, f.notFound(name)
	}
	out := make([]float32, info.NumElements())
	if err := f.Float32Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, info.Shape, nil
}

// Float32Into converts the named tensor to float32 as Float32 does, writing
// into dst, which must have exactly as many elements as the tensor (a model
// loads its parameters in place this way, with no second copy). A length
// that does not match the stored shape is an error, as the file may be for
// another model.
func (f *File) Float32Into(name string, dst []float32) error {
	info, ok := f.hdr.tensors[name]
	if !ok {
		return f.notFound(name)
	}
	if !canConvert(info.DType) {
		return &Error{File: f.name, Tensor: name, Msg: fmt.Sprintf("cannot convert %s to float32", info.DType)}
	}
	n := info.NumElements()
	if len(dst) != n {
		return &Error{File: f.name, Tensor: name, Msg: fmt.Sprintf("shape %s has %d elements, but the destination has %d", formatShape(info.Shape), n, len(dst))}
	}
	if f.data != nil && !f.closed { // memory-mapped: convert in place
		decodeFloat32(dst, f.data[8+f.hdr.size+info.Begin:8+f.hdr.size+info.End], info.DType)
		return nil
	}
	// Read and convert in chunks, so no second full-size buffer is needed.
	elemBytes := info.DType.Bits() / 8
	const chunkElems = 1 << 16
	buf := make([]byte, min(n, chunkElems)*elemBytes)
	for start := 0; start < n; start += chunkElems {
		m := min(n-start, chunkElems)
		part := TensorInfo{Name: name, Begin: info.Begin + int64(start*elemBytes)}
		part.End = part.Begin + int64(m*elemBytes)
		if err := f.readAt(buf[:m*elemBytes], part); err != nil {
			return err
		}
		decodeFloat32(dst[start:start+m], buf[:m*elemBytes], info.DType)
	}
	return nil
}

// readAt fills buf with the data bytes [info.Begin, info.End).
func (f *File) readAt(buf []byte, info TensorInfo) error {
	if f.closed {
		return &Error{File: f.name, Tensor: info.Name, Msg: "file is closed"}
	}
	off := 8 + f.hdr.size + info.Begin
	if f.data != nil {
		copy(buf, f.data[off:off+int64(len(buf))])
		return nil
	}
	if err := readFull(f.r, buf, off); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &Error{File: f.name, Tensor: info.Name, Msg: "reading data: " + err.Error()}
	}
	return nil
}

func (f *File) notFound(name string) error {
	return &Error{File: f.name, Msg: fmt.Sprintf("no tensor %q", name)}
}

// readFull reads len(buf) bytes at off, accepting the io.EOF that a ReaderAt
// may return with a full read at the end of its input.
func readFull(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
