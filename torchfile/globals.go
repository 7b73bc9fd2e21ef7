package torchfile

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// globalKind says what an allow-listed global may be used for.
type globalKind uint8

const (
	kindFunc    globalKind = iota // called by REDUCE (a rebuild function, OrderedDict, ...)
	kindStorage                   // torch.FloatStorage etc.: the type in a storage's persistent id
	kindDType                     // torch.float32 etc.: a value
	kindType                      // torch.Tensor, torch.nn.Parameter: _rebuild_from_type_v2's class
)

// pyGlobal is an allow-listed module attribute named by GLOBAL or
// STACK_GLOBAL. Nothing is imported or called: fn builds the Go value the
// Python call would have made.
type pyGlobal struct {
	module, name string
	kind         globalKind
	dtype        DType                                         // kindStorage and kindDType; Invalid if unreadable
	fn           func(u *unpickler, args pyTuple) (any, error) // kindFunc
	newobj       bool                                          // fn may also be reached by NEWOBJ
}

// allowed are the callables a checkpoint may use, by "module.name".
// torch.*Storage and the torch dtypes are added by findGlobal.
var allowed = map[string]*pyGlobal{}

func init() {
	add := func(module, name string, fn func(u *unpickler, args pyTuple) (any, error), newobj bool) {
		allowed[module+"."+name] = &pyGlobal{module: module, name: name, kind: kindFunc, fn: fn, newobj: newobj}
	}
	add("collections", "OrderedDict", rebuildOrderedDict, true)
	add("torch._utils", "_rebuild_tensor", rebuildTensor, false)
	add("torch._utils", "_rebuild_tensor_v2", rebuildTensorV2, false)
	add("torch._utils", "_rebuild_tensor_v3", rebuildTensorV3, false)
	add("torch._utils", "_rebuild_parameter", rebuildParameter, false)
	add("torch._utils", "_rebuild_parameter_with_state", rebuildParameter, false)
	add("torch._tensor", "_rebuild_from_type_v2", rebuildFromType, false)
	add("torch", "Size", rebuildSize, false)
	add("torch", "device", rebuildDevice, false)
	add("builtins", "set", rebuildSet, false)
	add("builtins", "frozenset", rebuildSet, false)
	add("_codecs", "encode", rebuildBytes, false)
	for _, t := range [][2]string{{"torch", "Tensor"}, {"torch._tensor", "Tensor"}, {"torch.nn.parameter", "Parameter"}, {"torch.nn", "Parameter"}} {
		allowed[t[0]+"."+t[1]] = &pyGlobal{module: t[0], name: t[1], kind: kindType}
	}
}

// AllowedGlobals returns the "module.name" of every Python global a
// checkpoint's pickle may refer to, sorted: the callables above, torch's
// typed storage classes ("torch.FloatStorage", ...) and dtypes
// ("torch.float32", ...). Anything else makes Open fail.
func AllowedGlobals() []string {
	var out []string
	for k := range allowed {
		out = append(out, k)
	}
	for k := range storageDTypes {
		out = append(out, "torch."+k)
	}
	for k := range torchDTypes {
		out = append(out, "torch."+k)
	}
	for k := range otherTorchDTypes {
		out = append(out, "torch."+k)
	}
	slices.Sort(out)
	return out
}

// findGlobal resolves GLOBAL module name against the allow-list.
func (u *unpickler) findGlobal(module, name string) (*pyGlobal, error) {
	switch module { // Python 2 names, as pickle's fix_imports maps them
	case "__builtin__":
		module = "builtins"
	case "copy_reg":
		module = "copyreg"
	}
	full := module + "." + name
	if g, ok := allowed[full]; ok {
		return g, nil
	}
	if module == "torch" || module == "torch.cuda" {
		if d, ok := storageDTypes[name]; ok {
			return &pyGlobal{module: module, name: name, kind: kindStorage, dtype: d}, nil
		}
		if strings.HasSuffix(name, "Storage") && !strings.Contains(name, "Typed") {
			// Complex, quantized, ...: refused when a tensor is built on it.
			return &pyGlobal{module: module, name: name, kind: kindStorage}, nil
		}
		if d, ok := torchDTypes[name]; ok && module == "torch" {
			return &pyGlobal{module: module, name: name, kind: kindDType, dtype: d}, nil
		}
		if otherTorchDTypes[name] && module == "torch" {
			return &pyGlobal{module: module, name: name, kind: kindDType}, nil
		}
	}
	hint := ""
	switch {
	case strings.HasPrefix(module, "torch.nn") || module == "__main__" || strings.HasPrefix(module, "__torch__"):
		hint = "; the file holds a pickled Python object such as a whole model (torch.save(model)): save model.state_dict() instead"
	case strings.HasPrefix(module, "numpy"):
		hint = "; NumPy arrays and scalars cannot be read: store tensors or plain Python numbers"
	}
	return nil, u.errorf("global %q is not allowed (only tensors, dicts and plain values can be read)%s", full, hint)
}

// call applies REDUCE (or NEWOBJ) of f to args.
func (u *unpickler) call(f, args any, newobj bool) (any, error) {
	g, ok := f.(*pyGlobal)
	if !ok {
		return nil, u.errorf("cannot call %s", describe(f))
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, u.errorf("the arguments of %q are %s, not a tuple", g.module+"."+g.name, describe(args))
	}
	if g.kind != kindFunc || (newobj && !g.newobj) {
		how := "called"
		if newobj {
			how = "created with NEWOBJ"
		}
		return nil, u.errorf("%q cannot be %s (only tensors, dicts and plain values can be read)", g.module+"."+g.name, how)
	}
	if newobj && len(a) > 0 {
		return nil, u.errorf("NEWOBJ %q with arguments", g.module+"."+g.name)
	}
	v, err := g.fn(u, a)
	if err != nil {
		return nil, u.errorf("%s.%s: %v", g.module, g.name, err)
	}
	return v, nil
}

// build applies BUILD (setting state on an object). Only dicts accept it,
// with attributes such as a state dict's _metadata, which are dropped.
func (u *unpickler) build(obj, state any) error {
	if _, ok := obj.(*pyDict); !ok {
		return u.errorf("BUILD on %s is not allowed", describe(obj))
	}
	okState := func(s any) bool {
		switch s.(type) {
		case nil, *pyDict:
			return true
		}
		return false
	}
	if t, ok := state.(pyTuple); ok && len(t) == 2 && okState(t[0]) && okState(t[1]) {
		return nil
	}
	if !okState(state) {
		return u.errorf("BUILD of a dict with %s as state", describe(state))
	}
	return nil
}

func rebuildOrderedDict(u *unpickler, args pyTuple) (any, error) {
	d := newDict()
	switch len(args) {
	case 0:
		return d, nil
	case 1:
		var items []any
		switch a := args[0].(type) {
		case *pyList:
			items = a.items
		case pyTuple:
			items = a
		case *pyDict:
			for i := range a.keys {
				if err := d.set(u, a.keys[i], a.vals[i]); err != nil {
					return nil, err
				}
			}
			return d, nil
		default:
			return nil, fmt.Errorf("want a list of pairs, got %s", describe(args[0]))
		}
		for _, it := range items {
			kv, ok := it.(pyTuple)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("want a list of pairs, got an item %s", describe(it))
			}
			if err := d.set(u, kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, fmt.Errorf("want at most one argument, got %d", len(args))
}

func rebuildSet(u *unpickler, args pyTuple) (any, error) {
	switch len(args) {
	case 0:
		return &pyList{}, nil
	case 1:
		switch a := args[0].(type) {
		case *pyList: // share the items; Clip makes a later ADDITEMS copy them
			return &pyList{items: slices.Clip(a.items)}, nil
		case pyTuple:
			return &pyList{items: slices.Clip([]any(a))}, nil
		}
	}
	return nil, fmt.Errorf("want one list, got %s", describe(args))
}

func rebuildSize(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one tuple of ints, got %d arguments", len(args))
	}
	dims, err := ints("size", args[0])
	if err != nil {
		return nil, err
	}
	t := make(pyTuple, len(dims))
	for i, d := range dims {
		t[i] = d
	}
	return t, nil
}

func rebuildDevice(u *unpickler, args pyTuple) (any, error) {
	if len(args) >= 1 && len(args) <= 2 {
		if s, ok := args[0].(string); ok {
			if len(args) == 1 || args[1] == nil {
				return s, nil
			}
			if i, ok := args[1].(int64); ok {
				return fmt.Sprintf("%s:%d", s, i), nil
			}
		}
	}
	return nil, fmt.Errorf("want (type, index), got %s", describe(args))
}

// rebuildBytes undoes how protocol 2 pickles bytes from Python 3:
// _codecs.encode(str, "latin1").
func rebuildBytes(u *unpickler, args pyTuple) (any, error) {
	if len(args) == 2 {
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if ok1 && ok2 && (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
			if err := u.spend(len(s)); err != nil {
				return nil, err
			}
			b := make([]byte, 0, len(s))
			for _, r := range s {
				if r > 0xff {
					return nil, fmt.Errorf("character %U is not latin-1", r)
				}
				b = append(b, byte(r))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("only (str, \"latin1\") is allowed, got %s", describe(args))
}

// rebuildTensor is _rebuild_tensor(storage, storage_offset, size, stride).
func rebuildTensor(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("want 4 arguments, got %d", len(args))
	}
	return newTensor(args[0], nil, args[1], args[2], args[3])
}

// rebuildTensorV2 is _rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks[, metadata]).
func rebuildTensorV2(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("want 6 or 7 arguments, got %d", len(args))
	}
	t, err := newTensor(args[0], nil, args[1], args[2], args[3])
	if err != nil {
		return nil, err
	}
	return t, tensorFlags(t, args[4], args[5])
}

// rebuildTensorV3 is _rebuild_tensor_v3(storage, storage_offset, size,
// stride, requires_grad, backward_hooks, dtype[, metadata]) of PyTorch 2.3
// and later, for dtypes without a typed storage class.
func rebuildTensorV3(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 7 && len(args) != 8 {
		return nil, fmt.Errorf("want 7 or 8 arguments, got %d", len(args))
	}
	t, err := newTensor(args[0], args[6], args[1], args[2], args[3])
	if err != nil {
		return nil, err
	}
	return t, tensorFlags(t, args[4], args[5])
}

func tensorFlags(t *tensorVal, requiresGrad, hooks any) error {
	rg, ok := requiresGrad.(bool)
	if !ok {
		return fmt.Errorf("requires_grad is %s, not a bool", describe(requiresGrad))
	}
	t.requiresGrad = rg
	if _, ok := hooks.(*pyDict); !ok && hooks != nil {
		return fmt.Errorf("backward_hooks is %s, not a dict", describe(hooks))
	}
	return nil
}

// rebuildParameter is _rebuild_parameter(data, requires_grad,
// backward_hooks) and _rebuild_parameter_with_state(..., state), whose
// Python attributes are dropped.
func rebuildParameter(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, fmt.Errorf("want 3 or 4 arguments, got %d", len(args))
	}
	t, ok := args[0].(*tensorVal)
	if !ok {
		return nil, fmt.Errorf("data is %s, not a tensor", describe(args[0]))
	}
	p := *t
	p.parameter = true
	return &p, tensorFlags(&p, args[1], args[2])
}

// rebuildFromType is _rebuild_from_type_v2(func, new_type, args, state),
// which PyTorch 2 uses for tensors with Python attributes; only plain
// tensors and parameters are allowed, and the attributes are dropped.
func rebuildFromType(u *unpickler, args pyTuple) (any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("want 4 arguments, got %d", len(args))
	}
	typ, ok := args[1].(*pyGlobal)
	if !ok || typ.kind != kindType {
		return nil, fmt.Errorf("new_type is %s, not torch.Tensor or torch.nn.Parameter", describe(args[1]))
	}
	f, ok := args[0].(*pyGlobal)
	if !ok || f.module != "torch._utils" || !strings.HasPrefix(f.name, "_rebuild_tensor") {
		return nil, fmt.Errorf("func is %s, not a torch._utils._rebuild_tensor function", describe(args[0]))
	}
	fargs, ok := args[2].(pyTuple)
	if !ok {
		return nil, fmt.Errorf("args is %s, not a tuple", describe(args[2]))
	}
	v, err := f.fn(u, fargs)
	if err != nil {
		return nil, err
	}
	t := v.(*tensorVal)
	if typ.name == "Parameter" {
		p := *t
		p.parameter = true
		return &p, nil
	}
	return t, nil
}

// storageRef is a storage named by a persistent id: the zip entry
// <prefix>/data/<key>, read as a dtype.
type storageRef struct {
	key      string
	typeName string // the storage class, e.g. "torch.FloatStorage"
	dtype    DType  // from the storage class
	nbytes   int64  // the record's size
	off      int64  // the record's position in the file
}

// tensorVal is a tensor: a strided view of a storage.
type tensorVal struct {
	st           *storageRef
	dtype        DType
	offset       int64 // in elements
	shape        []int
	stride       []int
	numel        int64
	requiresGrad bool
	parameter    bool
}

// maxOverlapElements bounds a tensor with more elements than its storage
// (an expanded view with zero strides), whose row-major copy is not backed
// by the file's size: 2^28 elements (1 GiB as float32).
const maxOverlapElements = 1 << 28

// newTensor checks and makes a tensor on storage st (a *storageRef) with
// offset, size and stride; dtype (a torch dtype global) is nil to use the
// storage's.
func newTensor(st, dtype, offset, size, stride any) (*tensorVal, error) {
	s, ok := st.(*storageRef)
	if !ok {
		return nil, fmt.Errorf("storage is %s, not a storage", describe(st))
	}
	t := &tensorVal{st: s, dtype: s.dtype}
	if dtype != nil {
		g, ok := dtype.(*pyGlobal)
		if !ok || g.kind != kindDType {
			return nil, fmt.Errorf("dtype is %s, not a torch dtype", describe(dtype))
		}
		if g.dtype == Invalid {
			return nil, fmt.Errorf("tensors of dtype torch.%s cannot be read", g.name)
		}
		t.dtype = g.dtype
	}
	if t.dtype == Invalid {
		return nil, fmt.Errorf("storage %q is a %s: complex, quantized and other exotic dtypes cannot be read", s.key, s.typeName)
	}
	off, ok := offset.(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage_offset is %s, not a non-negative int", describeVal(offset))
	}
	t.offset = off
	shape, err := ints("size", size)
	if err != nil {
		return nil, err
	}
	strides, err := ints("stride", stride)
	if err != nil {
		return nil, err
	}
	if len(shape) != len(strides) {
		return nil, fmt.Errorf("size %s and stride %s differ in length", formatShape(shape), formatShape(strides))
	}
	// numel and the last element's index, without overflow.
	numel, last := uint64(1), uint64(off)
	overflow := false
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("size %s has a negative dimension", formatShape(shape))
		}
		if strides[i] < 0 {
			return nil, fmt.Errorf("stride %s has a negative step", formatShape(strides))
		}
		if uint64(d) > math.MaxInt || uint64(strides[i]) > math.MaxInt {
			return nil, fmt.Errorf("size %s or stride %s is too large", formatShape(shape), formatShape(strides))
		}
		hi, lo := bits.Mul64(numel, uint64(d))
		overflow = overflow || hi != 0
		numel = lo
	}
	if overflow || numel > math.MaxInt/8 {
		return nil, fmt.Errorf("size %s is too large", formatShape(shape))
	}
	if numel == 0 {
		if off > s.nbytes/int64(t.dtype.Size()) {
			return nil, fmt.Errorf("storage_offset %d is beyond storage %q of %d bytes", off, s.key, s.nbytes)
		}
	} else {
		for i, d := range shape {
			hi, lo := bits.Mul64(uint64(d-1), uint64(strides[i]))
			var c uint64
			last, c = bits.Add64(last, lo, 0)
			overflow = overflow || hi != 0 || c != 0
		}
		esz := uint64(t.dtype.Size())
		hi, end := bits.Mul64(last+1, esz)
		if overflow || last+1 == 0 || hi != 0 || end > uint64(s.nbytes) {
			return nil, fmt.Errorf("a %s tensor of size %s, stride %s at offset %d reaches past the end of storage %q (%d bytes)",
				t.dtype, formatShape(shape), formatShape(strides), off, s.key, s.nbytes)
		}
		if numel > uint64(s.nbytes)/esz && numel > maxOverlapElements {
			return nil, fmt.Errorf("size %s has %d elements, more than its storage %q holds and than the %d allowed for an expanded view",
				formatShape(shape), numel, s.key, maxOverlapElements)
		}
	}
	if last > math.MaxInt {
		return nil, fmt.Errorf("size %s is too large", formatShape(shape))
	}
	t.numel = int64(numel)
	t.shape = make([]int, len(shape))
	t.stride = make([]int, len(shape))
	for i := range shape {
		t.shape[i], t.stride[i] = int(shape[i]), int(strides[i])
	}
	return t, nil
}

// maxDims bounds the dimensions of a size or stride (and of a torch.Size);
// real tensors have a handful.
const maxDims = 64

// ints decodes a tuple (or torch.Size, or list) of at most maxDims ints.
func ints(what string, v any) ([]int64, error) {
	var items []any
	switch v := v.(type) {
	case pyTuple:
		items = v
	case *pyList:
		items = v.items
	default:
		return nil, fmt.Errorf("%s is %s, not a tuple of ints", what, describe(v))
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%s has %d dimensions, more than %d", what, len(items), maxDims)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok {
			return nil, fmt.Errorf("%s has an element %s, not an int", what, describeVal(it))
		}
		out[i] = n
	}
	return out, nil
}

// describeVal shows small values as themselves, others by type.
func describeVal(v any) string {
	switch v := v.(type) {
	case int64:
		return fmt.Sprint(v)
	case string:
		if len(v) <= 40 {
			return fmt.Sprintf("%q", v)
		}
	}
	return describe(v)
}

// formatShape writes a shape as PyTorch prints a tuple: (3, 3), (5,), ().
func formatShape[T int | int64](shape []T) string {
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
