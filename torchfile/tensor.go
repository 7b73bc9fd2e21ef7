package torchfile

import (
	"io"
	"unsafe"
)

// Raw returns a copy of the named tensor's elements in its own dtype,
// little-endian and row-major: NumElements*DType.Size() bytes, gathered
// from its storage if the tensor is a strided or offset view. It returns the
// tensor's description too.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, TensorInfo{}, f.notFound(name)
	}
	info := t.info(name)
	es := t.dtype.Size()
	out := make([]byte, int(t.numel)*es)
	if t.numel == 0 {
		return out, info, f.checkOpen(name)
	}
	if f.data == nil && contiguous(t.shape, t.stride) { // read straight into out
		if err := f.readAt(name, t, out, t.offset); err != nil {
			return nil, info, err
		}
		return out, info, nil
	}
	src, err := f.span(name, t)
	if err != nil {
		return nil, info, err
	}
	runs(t.shape, t.stride, func(d, s, n int) {
		copy(out[d*es:(d+n)*es], src[s*es:(s+n)*es])
	})
	return out, info, nil
}

// Float32 returns the named tensor converted to float32, with its shape, in
// row-major order (element (i, j) of shape (R, C) is at i*C+j) whatever its
// strides. F16 and BF16 convert exactly; F64 and integers round to nearest
// even, as Go's float32() does (integers are exact up to 2^24 in
// magnitude); BOOL gives 0 or 1.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, nil, f.notFound(name)
	}
	out := make([]float32, t.numel)
	if err := f.Float32Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, t.info(name).Shape, nil
}

// Float32Into converts the named tensor to float32 as Float32 does, writing
// into dst, which must have exactly as many elements as the tensor (a model
// loads its parameters in place this way, with no second copy).
func (f *File) Float32Into(name string, dst []float32) error {
	t, ok := f.tensors[name]
	if !ok {
		return f.notFound(name)
	}
	if int64(len(dst)) != t.numel {
		return newError(f.name, "", -1, "tensor %q: shape %s has %d elements, but the destination has %d", name, formatShape(t.shape), t.numel, len(dst))
	}
	if t.numel == 0 {
		return f.checkOpen(name)
	}
	es := t.dtype.Size()
	if f.data == nil && contiguous(t.shape, t.stride) {
		// Read and convert in chunks, so no second full-size buffer is needed.
		const chunk = 1 << 16
		n := int(t.numel)
		buf := make([]byte, min(n, chunk)*es)
		for start := 0; start < n; start += chunk {
			m := min(n-start, chunk)
			if err := f.readAt(name, t, buf[:m*es], t.offset+int64(start)); err != nil {
				return err
			}
			decodeFloat32(dst[start:start+m], buf[:m*es], t.dtype)
		}
		return nil
	}
	src, err := f.span(name, t)
	if err != nil {
		return err
	}
	runs(t.shape, t.stride, func(d, s, n int) {
		decodeFloat32(dst[d:d+n], src[s*es:(s+n)*es], t.dtype)
	})
	return nil
}

// Float32View returns the named tensor's data as a slice aliasing the memory
// map, without copying, if the file was opened with Open on Linux, is not
// closed, and the tensor is F32, row-major contiguous and 4-byte aligned in
// memory (torch.save aligns every storage to 64 bytes, so this is the
// normal case for float32 weights on a little-endian machine). Otherwise ok
// is false: use Float32.
//
// The slice is valid until Close; using it afterwards faults. The mapping is
// private and writable (copy-on-write): the caller may write into the slice,
// which never changes the file, but later reads of the same tensor, or of
// tensors sharing its storage, from this File see the writes.
func (f *File) Float32View(name string) (data []float32, ok bool) {
	t, found := f.tensors[name]
	if !found || f.data == nil || f.closed || !hostLittleEndian || t.dtype != F32 || !contiguous(t.shape, t.stride) {
		return nil, false
	}
	if t.numel == 0 {
		return []float32{}, true
	}
	start := t.st.off + 4*t.offset
	b := f.data[start : start+4*t.numel]
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(p), int(t.numel)), true
}

// span returns the bytes of the storage elements the tensor touches, from
// its first (t.offset) to its last; element index i of the storage is at
// (i - t.offset) * size. The tensor has elements.
func (f *File) span(name string, t *tensorVal) ([]byte, error) {
	if err := f.checkOpen(name); err != nil {
		return nil, err
	}
	last := t.offset
	for i, d := range t.shape {
		last += int64(d-1) * int64(t.stride[i])
	}
	es := int64(t.dtype.Size())
	n := (last - t.offset + 1) * es
	if f.data != nil {
		start := t.st.off + t.offset*es
		return f.data[start : start+n], nil
	}
	buf := make([]byte, n)
	if err := f.readAt(name, t, buf, t.offset); err != nil {
		return nil, err
	}
	return buf, nil
}

// readAt fills buf from the tensor's storage, starting at element elem.
func (f *File) readAt(name string, t *tensorVal, buf []byte, elem int64) error {
	if err := f.checkOpen(name); err != nil {
		return err
	}
	off := t.st.off + elem*int64(t.dtype.Size())
	if f.data != nil {
		copy(buf, f.data[off:])
		return nil
	}
	n, err := f.r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return newError(f.name, f.archive+"/data/"+t.st.key, -1, "tensor %q: reading data: %v", name, err)
}

func (f *File) checkOpen(name string) error {
	if f.closed {
		return newError(f.name, "", -1, "tensor %q: file is closed", name)
	}
	return nil
}

func (f *File) notFound(name string) error {
	return newError(f.name, "", -1, "no tensor %q", name)
}

// runs walks a tensor of the given shape and strides (at least one element)
// in row-major order as runs of consecutive storage elements: fn(d, s, n)
// is told that row-major elements d..d+n-1 are storage elements s..s+n-1,
// counted from the tensor's first element.
func runs(shape, stride []int, fn func(d, s, n int)) {
	// Drop dimensions of size 1 and merge dimensions that step evenly into
	// one another, so a contiguous tensor is one run.
	var sh, st []int
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if k := len(sh) - 1; k >= 0 && st[k] == stride[i]*d {
			sh[k] *= d
			st[k] = stride[i]
			continue
		}
		sh = append(sh, d)
		st = append(st, stride[i])
	}
	run := 1
	if k := len(sh) - 1; k >= 0 && st[k] == 1 {
		run = sh[k]
		sh, st = sh[:k], st[:k]
	}
	idx := make([]int, len(sh))
	s := 0
	for d := 0; ; d += run {
		fn(d, s, run)
		// Advance the odometer over the outer dimensions.
		k := len(sh) - 1
		for ; k >= 0; k-- {
			idx[k]++
			s += st[k]
			if idx[k] < sh[k] {
				break
			}
			s -= st[k] * sh[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}
