package torchfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
)

// File is an open PyTorch checkpoint. Its pickle is read and every tensor
// checked against its storage when it is opened; tensor data is read on
// demand, from a copy-on-write memory map (Open on Linux) or with ReadAt
// calls (OpenReader, and Open elsewhere).
//
// The methods of a File may be called from several goroutines at once, but
// not concurrently with Close.
type File struct {
	name     string      // for error messages
	archive  string      // the zip's record prefix, e.g. "archive"
	data     []byte      // whole file when memory-mapped, else nil
	r        io.ReaderAt // used when data is nil
	size     int64
	tensors  map[string]*tensorVal
	names    []string // tensors in pickle order
	values   map[string]any
	sdPrefix string
	closer   func() error
	closed   bool
}

// TensorInfo describes one tensor of a checkpoint: a strided view of a
// storage, as PyTorch keeps it.
type TensorInfo struct {
	Name  string // dotted path, e.g. "model.image_encoder.pos_embed"
	DType DType  // the element type
	// Shape is the dimensions, outermost first: (out, in, kh, kw) for a
	// convolution weight; empty for a 0-d (scalar) tensor.
	Shape []int
	// Stride is the step in elements between neighbours along each
	// dimension: (4, 1) for a row-major (3, 4) tensor, (1, 4) for its
	// transpose.
	Stride []int
	// Offset is the position of the first element in the storage, in
	// elements of DType.
	Offset int
	// StorageKey names the storage: its bytes are the zip entry
	// <archive>/data/<StorageKey>. Tensors with one key share memory
	// (views, tied weights).
	StorageKey string
	// Parameter is true if the tensor was saved as an nn.Parameter
	// (state_dict() saves plain tensors). RequiresGrad is its
	// requires_grad flag.
	Parameter, RequiresGrad bool
}

// NumElements returns the product of the shape (1 for a scalar, 0 for an
// empty tensor).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Contiguous reports whether the tensor is row-major with no gaps, as
// PyTorch's is_contiguous() does (the stride of a dimension of size 1 does
// not matter): then its elements are one run of the storage.
func (t TensorInfo) Contiguous() bool { return contiguous(t.Shape, t.Stride) }

func contiguous(shape, stride []int) bool {
	want := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] == 0 {
			return true
		}
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// Open opens the checkpoint at path, written by torch.save (the zip format
// of PyTorch 1.6 and later), and reads its pickle. On Linux the file is
// memory-mapped copy-on-write; elsewhere tensors are read from it with
// ReadAt. Close the File when done. A file that cannot be read gives an
// *Error naming path and what is wrong.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torchfile: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("torchfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, newError(path, "", -1, "not a regular file")
	}
	size := st.Size()
	if data, unmap, ok := mmapFile(f, size); ok {
		f.Close() // the mapping stays valid without the descriptor
		tf, err := newFile(path, nil, data, size)
		if err != nil {
			unmap()
			return nil, err
		}
		tf.closer = unmap
		return tf, nil
	}
	tf, err := newFile(path, f, nil, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	tf.closer = f.Close
	return tf, nil
}

// OpenReader reads the checkpoint of size bytes in r, such as an *os.File or
// a *bytes.Reader, and returns a File that reads tensors from r on demand
// (Float32View always reports false). name stands for the data in error
// messages. Close does not close r.
func OpenReader(r io.ReaderAt, size int64, name string) (*File, error) {
	return newFile(name, r, nil, size)
}

func newError(file, entry string, off int64, format string, args ...any) *Error {
	return &Error{File: file, Entry: entry, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// legacyMagic is how a pre-1.6 torch.save file starts: pickle protocol 2,
// then LONG1 of PyTorch's magic number 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// maxPickle bounds the decompressed size of data.pkl (a compressed one
// could otherwise claim any size): 1 GiB, far above any state dict's.
const maxPickle = 1 << 30

// newFile reads the zip directory and the pickle from data (if not nil) or r.
func newFile(name string, r io.ReaderAt, data []byte, size int64) (*File, error) {
	if data != nil {
		r = bytes.NewReader(data)
	}
	if size < 0 {
		return nil, newError(name, "", -1, "negative size %d", size)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, notZip(name, r, size, err)
	}
	f := &File{name: name, data: data, r: r, size: size}
	entries := map[string]*zip.File{}
	var pkls []string
	for _, e := range zr.File {
		if _, dup := entries[e.Name]; dup {
			return nil, newError(name, e.Name, -1, "the zip archive has two entries with this name")
		}
		entries[e.Name] = e
		dir, base, ok := strings.Cut(e.Name, "/")
		if !ok {
			continue
		}
		if base == "constants.pkl" || strings.HasPrefix(base, "code/") {
			return nil, newError(name, "", -1, "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint: "+
				"in Python, load it with torch.jit.load and save its weights with torch.save(model.state_dict(), path)")
		}
		if base == "data.pkl" {
			pkls = append(pkls, dir)
		}
	}
	switch len(pkls) {
	case 0:
		return nil, newError(name, "", -1, "the zip archive has no <name>/data.pkl entry, so it was not written by torch.save")
	case 1:
	default:
		return nil, newError(name, "", -1, "the zip archive has %d data.pkl entries (%s/data.pkl, %s/data.pkl, ...); torch.save writes one",
			len(pkls), pkls[0], pkls[1])
	}
	f.archive = pkls[0]
	prefix := f.archive + "/"

	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(bo, 16)
		if err != nil {
			return nil, newError(name, bo.Name, -1, "%v", err)
		}
		if s := string(b); s != "little" {
			return nil, newError(name, bo.Name, -1, "byte order %q is not supported (only little-endian checkpoints can be read)", s)
		}
	}

	pklEntry := entries[prefix+"data.pkl"]
	pkl, err := readEntry(pklEntry, maxPickle)
	if err != nil {
		return nil, newError(name, pklEntry.Name, -1, "%v", err)
	}

	records := map[string]storageRecord{}
	err = f.readObject(pkl, func(pid any) (any, error) {
		return f.loadStorage(pid, prefix, entries, records)
	})
	if err != nil {
		var pe *pickleError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Entry: pklEntry.Name, Offset: pe.Offset, Msg: pe.Msg}
		}
		return nil, newError(name, pklEntry.Name, -1, "%v", err)
	}
	return f, nil
}

// readObject runs the pickle pkl, resolving storages with persistentLoad,
// and names the object's tensors and values. Errors of the pickle itself
// are *pickleError.
func (f *File) readObject(pkl []byte, persistentLoad func(pid any) (any, error)) error {
	u := newUnpickler(pkl, persistentLoad)
	obj, err := u.load()
	if err != nil {
		return err
	}
	w := &walker{f: f, budget: workPerByte*len(pkl) + workBase, seen: map[string]bool{}, onPath: map[any]bool{}, dictTensors: map[string]int{}}
	f.tensors = map[string]*tensorVal{}
	f.values = map[string]any{}
	if err := w.walk(obj, "", false, 0, nil); err != nil {
		return err
	}
	best := -1
	for _, p := range w.dictOrder {
		if n := w.dictTensors[p]; n > best || (n == best && len(p) < len(f.sdPrefix)) {
			best, f.sdPrefix = n, p
		}
	}
	return nil
}

// notZip explains why a file that is not a zip archive cannot be read.
func notZip(name string, r io.ReaderAt, size int64, zerr error) error {
	head := make([]byte, min(size, 512))
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case size == 0:
		return newError(name, "", -1, "the file is empty")
	case bytes.HasPrefix(head, legacyMagic):
		return newError(name, "", -1, "this is a checkpoint in PyTorch's legacy format (torch < 1.6, or _use_new_zipfile_serialization=False), "+
			"which is not supported: in Python, load it with torch.load and save it again with torch.save(obj, path)")
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return newError(name, "", -1, "this is a tar archive (PyTorch's oldest checkpoint format, or not a checkpoint), which is not supported: "+
			"in Python, load it with torch.load and save it again with torch.save(obj, path)")
	case len(head) >= 2 && head[0] == 0x80 && head[1] <= 5:
		return newError(name, "", -1, "this is a bare Python pickle, not a torch.save checkpoint (a zip archive): "+
			"in Python, load it and save the tensors with torch.save(obj, path)")
	case bytes.HasPrefix(head, []byte("PK")):
		return newError(name, "", -1, "damaged zip archive: %v", zipErr(zerr))
	}
	return newError(name, "", -1, "not a PyTorch checkpoint (torch.save writes a zip archive; this file is not one: %v)", zipErr(zerr))
}

func zipErr(err error) string {
	return strings.TrimPrefix(err.Error(), "zip: ")
}

// readEntry reads a whole zip entry of at most limit bytes, checking its
// CRC.
func readEntry(e *zip.File, limit int64) ([]byte, error) {
	if e.Flags&1 != 0 {
		return nil, fmt.Errorf("the entry is encrypted")
	}
	if e.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("the entry is %d bytes, more than the %d allowed", e.UncompressedSize64, limit)
	}
	rc, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("reading the entry: %v", zipErr(err))
	}
	defer rc.Close()
	// zip checks the size and CRC as it reaches the end; a deflated entry
	// grows the buffer only as data arrives.
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("reading the entry: the file is truncated")
		}
		return nil, fmt.Errorf("reading the entry: %v", zipErr(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the entry is more than %d bytes", limit)
	}
	return b, nil
}

// storageRecord is the place of one storage's bytes in the file.
type storageRecord struct{ off, nbytes int64 }

// loadStorage resolves a persistent id ('storage', torch.FloatStorage,
// key, location, numel) to the record <prefix>data/<key>.
func (f *File) loadStorage(pid any, prefix string, entries map[string]*zip.File, records map[string]storageRecord) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) == 0 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %s is not a storage ('storage', type, key, location, numel)", describe(pid))
	}
	if len(t) != 5 {
		return nil, fmt.Errorf("storage persistent id has %d items, want 5 ('storage', type, key, location, numel)", len(t))
	}
	typ, ok := t[1].(*pyGlobal)
	if !ok || typ.kind != kindStorage {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", describe(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a string", describe(t[2]))
	}
	if _, ok := t[3].(string); !ok {
		return nil, fmt.Errorf("storage %q: location is %s, not a string", key, describe(t[3]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %q: numel is %s, not a non-negative int", key, describeVal(t[4]))
	}
	st := &storageRef{key: key, typeName: typ.module + "." + typ.name, dtype: typ.dtype}
	rec, ok := records[key]
	if !ok {
		ename := prefix + "data/" + key
		e, ok := entries[ename]
		if !ok {
			return nil, fmt.Errorf("storage %q: the archive has no entry %s", key, ename)
		}
		switch {
		case e.Flags&1 != 0:
			return nil, fmt.Errorf("storage %q: entry %s is encrypted", key, ename)
		case e.Method != zip.Store:
			return nil, fmt.Errorf("storage %q: entry %s is compressed (method %d), which is not supported: torch.save stores tensor data uncompressed, so the file was repacked; save it again with torch.save", key, ename, e.Method)
		case e.CompressedSize64 != e.UncompressedSize64:
			return nil, fmt.Errorf("storage %q: entry %s is stored with %d bytes but claims %d", key, ename, e.CompressedSize64, e.UncompressedSize64)
		}
		off, err := e.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %q: entry %s: %v", key, ename, zipErr(err))
		}
		if off < 0 || e.UncompressedSize64 > uint64(f.size) || off > f.size-int64(e.UncompressedSize64) {
			return nil, fmt.Errorf("storage %q: entry %s (%d bytes at %d) runs past the end of the %d-byte file", key, ename, e.UncompressedSize64, off, f.size)
		}
		rec = storageRecord{off: off, nbytes: int64(e.UncompressedSize64)}
		records[key] = rec
	}
	st.off, st.nbytes = rec.off, rec.nbytes
	if typ.dtype != Invalid {
		if numel > math.MaxInt64/8 || numel*int64(typ.dtype.Size()) != rec.nbytes {
			return nil, fmt.Errorf("storage %q: %d elements of %s need %d bytes, but its entry holds %d",
				key, numel, typ.dtype, numel*int64(typ.dtype.Size()), rec.nbytes)
		}
	}
	return st, nil
}

// walker flattens the unpickled object into dotted names.
type walker struct {
	f           *File
	budget      int             // work left: one per item visited and per byte of its name
	seen        map[string]bool // names given so far
	onPath      map[any]bool    // containers being walked, to refuse cycles
	dictTensors map[string]int  // tensors held directly by the dict with this prefix
	dictOrder   []string        // those prefixes, first seen first
}

func join(name string, hasName bool, key string) string {
	if !hasName {
		return key
	}
	return name + "." + key
}

// walk names v (name is valid if hasName; the top-level object has no
// name); parent is the dict holding v, if any.
func (w *walker) walk(v any, name string, hasName bool, depth int, parent *string) error {
	w.budget -= 1 + len(name)
	if w.budget < 0 {
		return fmt.Errorf("the object takes too long to read (it repeats shared lists or dicts too often)")
	}
	if depth > maxDepth {
		return fmt.Errorf("the object nests more than %d deep", maxDepth)
	}
	claim := func() error {
		if w.seen[name] {
			return fmt.Errorf("two entries are named %s (a key with dots collides with nested keys, or two keys print alike)", quoteName(name))
		}
		w.seen[name] = true
		return nil
	}
	switch x := v.(type) {
	case *pyDict, *pyList:
		if w.onPath[x] {
			return fmt.Errorf("%s: the object contains itself", quoteName(name))
		}
		w.onPath[x] = true
		defer delete(w.onPath, x)
	}
	switch x := v.(type) {
	case *pyDict:
		prefix := ""
		if hasName {
			prefix = name + "."
		}
		for i, k := range x.keys {
			ks, err := keyString(k, &w.budget)
			if err != nil {
				return fmt.Errorf("%s: %v", quoteName(name), err)
			}
			if err := w.walk(x.vals[i], join(name, hasName, ks), true, depth+1, &prefix); err != nil {
				return err
			}
		}
	case *pyList:
		for i, it := range x.items {
			if err := w.walk(it, join(name, hasName, strconv.Itoa(i)), true, depth+1, nil); err != nil {
				return err
			}
		}
	case pyTuple:
		for i, it := range x {
			if err := w.walk(it, join(name, hasName, strconv.Itoa(i)), true, depth+1, nil); err != nil {
				return err
			}
		}
	case *tensorVal, *storageRef:
		t, _ := x.(*tensorVal)
		if s, bare := x.(*storageRef); bare { // a bare storage: a 1-d tensor of all its elements
			if s.dtype == Invalid {
				return fmt.Errorf("%s: storage %q is a %s, which cannot be read", quoteName(name), s.key, s.typeName)
			}
			var err error
			if t, err = newTensor(s, nil, int64(0), pyTuple{s.nbytes / int64(s.dtype.Size())}, pyTuple{int64(1)}); err != nil {
				return fmt.Errorf("%s: %v", quoteName(name), err)
			}
		}
		if err := claim(); err != nil {
			return err
		}
		w.f.tensors[name] = t
		w.f.names = append(w.f.names, name)
		if parent != nil {
			if _, ok := w.dictTensors[*parent]; !ok {
				w.dictOrder = append(w.dictOrder, *parent)
			}
			w.dictTensors[*parent]++
		}
	case nil, bool, int64, *big.Int, float64, string, []byte:
		if err := claim(); err != nil {
			return err
		}
		w.f.values[name] = x
	case *pyGlobal: // a dtype or a class as a value
		if err := claim(); err != nil {
			return err
		}
		w.f.values[name] = x.module + "." + x.name
	default:
		return fmt.Errorf("%s: cannot name %s", quoteName(name), describe(v))
	}
	return nil
}

// quoteName quotes a name for an error message, cut to 100 bytes.
func quoteName(name string) string {
	if len(name) > 100 {
		return strconv.Quote(name[:97] + "...")
	}
	return strconv.Quote(name)
}

// keyString turns a dict key into a name component: strings as they are,
// other keys as Python prints them (3, True, None, (1, 2)).
// It charges its work to budget.
func keyString(k any, budget *int) (string, error) {
	if *budget--; *budget < 0 {
		return "", fmt.Errorf("the object takes too long to read (it repeats shared keys too often)")
	}
	switch k := k.(type) {
	case string:
		*budget -= len(k)
		return k, nil
	case []byte:
		*budget -= len(k)
		return string(k), nil
	case nil:
		return "None", nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case *big.Int:
		return k.String(), nil
	case float64:
		return pyFloat(k), nil
	case *pyGlobal:
		return k.module + "." + k.name, nil
	case pyTuple:
		parts := make([]string, len(k))
		for i, e := range k {
			s, err := keyString(e, budget)
			if err != nil {
				return "", err
			}
			switch e.(type) {
			case string:
				s = pyStr(s)
			case []byte:
				s = "b" + pyStr(s)
			}
			parts[i] = s
		}
		if len(parts) == 1 {
			return "(" + parts[0] + ",)", nil
		}
		return "(" + strings.Join(parts, ", ") + ")", nil
	}
	return "", fmt.Errorf("a key is %s", describe(k))
}

// pyStr quotes s as Python's repr does: 'a', "it's", 'tab\t'.
func pyStr(s string) string {
	q := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteRune(q)
	for _, r := range s {
		switch {
		case r == '\\' || r == q:
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(q)
	return b.String()
}

// pyFloat formats f as Python's repr does: 0.1, 1.0, 1e-05, 1e+16, inf.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.LastIndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// Close releases the file (unmapping it: slices from Float32View must not be
// used afterwards). Reading tensors from a closed File gives an error; Names,
// Info and Values still work. Close is idempotent.
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

// Names returns the tensors' names in pickle order (the order of the state
// dict). A tensor in a nested dict is named by joining the keys with ".",
// one in a list or tuple by its index: "model.conv1.weight",
// "optimizer.state.0.exp_avg". A file holding a single tensor names it "".
func (f *File) Names() []string { return slices.Clone(f.names) }

// Len returns the number of tensors.
func (f *File) Len() int { return len(f.names) }

// Archive returns the zip's record prefix: the file stem torch.save was
// given ("archive" for a file-like object), e.g. "mymodel" for mymodel.pth.
func (f *File) Archive() string { return f.archive }

// Info returns the description of the named tensor; ok is false if there is
// no such tensor.
func (f *File) Info(name string) (info TensorInfo, ok bool) {
	t, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return t.info(name), true
}

func (t *tensorVal) info(name string) TensorInfo {
	return TensorInfo{Name: name, DType: t.dtype, Shape: slices.Clone(t.shape), Stride: slices.Clone(t.stride),
		Offset: int(t.offset), StorageKey: t.st.key, Parameter: t.parameter, RequiresGrad: t.requiresGrad}
}

// Shape returns a tensor's dimensions, and false if the file has no such tensor.
func (f *File) Shape(name string) ([]int, bool) {
	info, ok := f.Info(name)
	return info.Shape, ok
}

// Values returns the checkpoint's plain values under the same dotted names
// as the tensors, e.g. {"epoch": int64(3), "lr": 0.1, "name": "x"}. A value
// is nil (None), a bool, an int64 (a *big.Int if it does not fit), a
// float64, a string or a []byte (shared: do not modify it); a torch dtype or device is given as a
// string ("torch.float16", "cuda:0"). Empty dicts and lists have no entry,
// and a state dict's _metadata attribute is not read.
func (f *File) Values() map[string]any {
	return maps.Clone(f.values)
}

// StateDictPrefix returns where the state dict is in the checkpoint: the
// dotted name, with a trailing ".", of the dict that directly holds the most
// tensors ("model." for {"model": sd, "optimizer": ..., "epoch": 3},
// "state_dict." for a Lightning checkpoint), or "" if that is the top-level
// object itself (a plain state dict, or a file with no tensors). Ties go to
// the shorter, then earlier, prefix. Tensors in lists (an optimizer's) do
// not count.
func (f *File) StateDictPrefix() string { return f.sdPrefix }
