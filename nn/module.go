package nn

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/fovea-ml/fovea/tensor"
)

// Module is a layer with one input and one output, the kind Sequential
// chains. Modules with several inputs (MultiheadAttention, MaxUnpool2d) also
// have their own methods for them.
type Module interface {
	Forward(x *tensor.Tensor) *tensor.Tensor
}

// Named is a tensor with its state-dict name, such as
// "encoder.blocks.0.attn.qkv.weight".
type Named struct {
	Name   string
	Tensor *tensor.Tensor
}

// NamedModule is a sub-module with its dotted name ("" for the root). Module
// is the pointer (or slice) stored in the parent, as an any, so it may be
// type-switched to *Linear, *Conv2d, … .
type NamedModule struct {
	Name   string
	Module any
}

// slot is one tensor found in a module tree.
type slot struct {
	name   string
	t      *tensor.Tensor
	buffer bool
}

var tensorPtrType = reflect.TypeOf((*tensor.Tensor)(nil))

// fieldName returns the state-dict name of a struct field and its options
// from the `nn` tag: `nn:"name"`, `nn:",buffer"`, `nn:"name,buffer"`, or
// `nn:"-"` to skip the field.
func fieldName(f reflect.StructField) (name string, buffer, skip bool) {
	tag, ok := f.Tag.Lookup("nn")
	if ok && tag == "-" {
		return "", false, true
	}
	parts := strings.Split(tag, ",")
	name = parts[0]
	for _, p := range parts[1:] {
		if p == "buffer" {
			buffer = true
		}
	}
	if name == "" {
		name = SnakeCase(f.Name)
	}
	return name, buffer, false
}

// SnakeCase converts a Go field name to the snake_case name PyTorch code
// would use: RunningMean → running_mean, InProjWeight → in_proj_weight,
// QKV → qkv, Conv1 → conv1, Block2Norm → block2_norm, HTTPProxy → http_proxy.
// Digits stay attached to the word before them.
func SnakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 {
				prev := r[i-1]
				nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// child is a sub-module (or list of them) found in a struct field.
type child struct {
	name string
	v    reflect.Value
}

// level gathers the tensors and children of one module: its own parameters,
// then its own buffers, then its children, the order PyTorch's state_dict
// uses. Anonymous (embedded) struct fields are flattened into the level that
// embeds them, the way Go promotes their fields.
func level(v reflect.Value, params, buffers *[]slot, children *[]child) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, buffer, skip := fieldName(f)
		if skip {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				level(fv, params, buffers, children)
			}
			continue
		}
		if f.Type == tensorPtrType {
			if fv.IsNil() {
				continue
			}
			s := slot{name: name, t: fv.Interface().(*tensor.Tensor), buffer: buffer}
			if buffer {
				*buffers = append(*buffers, s)
			} else {
				*params = append(*params, s)
			}
			continue
		}
		if mayHoldModules(f.Type) {
			*children = append(*children, child{name, fv})
		}
	}
}

// mayHoldModules reports whether a field of type t can hold sub-modules or
// parameter lists: pointers to structs, structs, interfaces, and slices or
// arrays of those or of tensors.
func mayHoldModules(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Struct
	case reflect.Struct, reflect.Interface:
		return true
	case reflect.Slice, reflect.Array:
		return t.Elem() == tensorPtrType || mayHoldModules(t.Elem())
	}
	return false
}

// walker visits a module tree.
type walker struct {
	slots   []slot
	modules []NamedModule
	active  map[uintptr]bool // pointers on the current path, to stop cycles
}

// visit walks v, named prefix. It records every tensor in state-dict order
// and every module (struct or list) reached.
func (w *walker) visit(v reflect.Value, prefix string) {
	for v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		if v.Type() == tensorPtrType {
			w.slots = append(w.slots, slot{name: prefix, t: v.Interface().(*tensor.Tensor)})
			return
		}
		p := v.Pointer()
		if w.active[p] {
			return
		}
		w.active[p] = true
		defer delete(w.active, p)
		if v.Elem().Kind() == reflect.Struct && v.CanInterface() && isModule(v.Type()) {
			w.modules = append(w.modules, NamedModule{prefix, v.Interface()})
		}
		v = v.Elem()
	} else if v.Kind() == reflect.Struct && isModule(v.Type()) {
		if v.CanAddr() && v.Addr().CanInterface() {
			w.modules = append(w.modules, NamedModule{prefix, v.Addr().Interface()})
		} else if v.CanInterface() {
			w.modules = append(w.modules, NamedModule{prefix, v.Interface()})
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		var params, buffers []slot
		var children []child
		level(v, &params, &buffers, &children)
		for _, s := range params {
			s.name = join(prefix, s.name)
			w.slots = append(w.slots, s)
		}
		for _, s := range buffers {
			s.name = join(prefix, s.name)
			w.slots = append(w.slots, s)
		}
		for _, c := range children {
			w.visit(c.v, join(prefix, c.name))
		}
	case reflect.Slice, reflect.Array:
		if v.CanInterface() && !(v.Kind() == reflect.Slice && v.IsNil()) {
			w.modules = append(w.modules, NamedModule{prefix, v.Interface()})
		}
		for i := 0; i < v.Len(); i++ {
			w.visit(v.Index(i), join(prefix, strconv.Itoa(i)))
		}
	}
}

var (
	moduleType  = reflect.TypeOf((*Module)(nil)).Elem()
	trainerType = reflect.TypeOf((*trainer)(nil)).Elem()
)

// isModule reports whether a struct type (or pointer to one) counts as a
// module for NamedModules: it has exported fields, or it implements Module
// or has a training mode. This leaves out helpers such as *rand.Rand or
// sync.Mutex that a module may hold.
func isModule(t reflect.Type) bool {
	pt := t
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	} else {
		pt = reflect.PointerTo(t)
	}
	if pt.Implements(moduleType) || pt.Implements(trainerType) {
		return true
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

func walk(m any) *walker {
	w := &walker{active: map[uintptr]bool{}}
	if m == nil {
		panic("nn: nil module")
	}
	w.visit(reflect.ValueOf(m), "")
	return w
}

// NamedParameters returns m's parameters with their state-dict names, in the
// order PyTorch's named_parameters gives them. A tensor reachable under two
// names (a shared weight) is listed once, under the first. m is a pointer to
// a module struct, a slice of modules, or a Sequential.
//
// Parameters are the exported *tensor.Tensor fields of m and of its
// sub-modules (found through pointer, struct, interface, slice and array
// fields) that are not tagged `nn:",buffer"`; nil fields are skipped.
func NamedParameters(m any) []Named {
	var out []Named
	seen := map[*tensor.Tensor]bool{}
	for _, s := range walk(m).slots {
		if s.buffer || seen[s.t] {
			continue
		}
		seen[s.t] = true
		out = append(out, Named{s.name, s.t})
	}
	return out
}

// Parameters returns m's parameters in NamedParameters order, each once —
// what an optimizer takes.
func Parameters(m any) []*tensor.Tensor {
	named := NamedParameters(m)
	out := make([]*tensor.Tensor, len(named))
	for i, n := range named {
		out[i] = n.Tensor
	}
	return out
}

// NamedBuffers returns m's buffers (fields tagged `nn:",buffer"`, such as
// BatchNorm2d's running_mean) with their state-dict names, each once.
func NamedBuffers(m any) []Named {
	var out []Named
	seen := map[*tensor.Tensor]bool{}
	for _, s := range walk(m).slots {
		if !s.buffer || seen[s.t] {
			continue
		}
		seen[s.t] = true
		out = append(out, Named{s.name, s.t})
	}
	return out
}

// NamedModules returns every module in the tree of m with its dotted name,
// m itself first (named ""), then depth first in field order, as PyTorch's
// named_modules. Lists of modules (slices, Sequential) are included.
func NamedModules(m any) []NamedModule {
	return walk(m).modules
}

// StateDictEntries returns m's state dict in PyTorch's order: for each
// module its parameters, then its buffers, then its children. Unlike
// NamedParameters it lists a shared tensor under every name, as PyTorch's
// state_dict does. The tensors are detached views sharing the model's
// storage.
func StateDictEntries(m any) []Named {
	slots := walk(m).slots
	out := make([]Named, len(slots))
	for i, s := range slots {
		out[i] = Named{s.name, s.t.Detach()}
	}
	return out
}

// StateDict returns m's parameters and buffers by state-dict name, as
// detached views sharing the model's storage (writing to them changes the
// model). StateDictEntries gives the same entries in order.
func StateDict(m any) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, n := range StateDictEntries(m) {
		out[n.Name] = n.Tensor
	}
	return out
}

// ShapeMismatch is a state-dict key whose tensor does not have the model's
// shape.
type ShapeMismatch struct {
	Name       string
	Model, Got []int
}

// LoadReport lists what LoadStateDict could not match, in sorted order:
// Missing keys the model has but the state dict lacks, Unexpected keys the
// state dict has but the model lacks, Mismatched keys present in both with
// different shapes.
type LoadReport struct {
	Missing    []string
	Unexpected []string
	Mismatched []ShapeMismatch
}

// OK reports whether every key matched.
func (r LoadReport) OK() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// String describes the report as PyTorch's load_state_dict error does.
func (r LoadReport) String() string {
	var parts []string
	if len(r.Missing) > 0 {
		parts = append(parts, "missing key(s): "+quoteAll(r.Missing))
	}
	if len(r.Unexpected) > 0 {
		parts = append(parts, "unexpected key(s): "+quoteAll(r.Unexpected))
	}
	for _, m := range r.Mismatched {
		parts = append(parts, fmt.Sprintf("size mismatch for %s: shape %s in the state dict, %s in the model",
			m.Name, tensor.FormatShape(m.Got), tensor.FormatShape(m.Model)))
	}
	if len(parts) == 0 {
		return "all keys matched"
	}
	return strings.Join(parts, "; ")
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// LoadError is the error of a strict LoadStateDict or Load that found keys it
// could not match.
type LoadError struct {
	Source string // the file, or "" for an in-memory state dict
	Report LoadReport
}

// Error describes the unmatched keys and, when loading a file, names it.
func (e *LoadError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("nn: loading state dict from %s: %s", e.Source, e.Report)
	}
	return "nn: loading state dict: " + e.Report.String()
}

// LoadStateDict copies the tensors of sd into m's parameters and buffers of
// the same name (the model's tensors keep their identity, so an optimizer
// holding them keeps working) and reports the keys it could not match.
//
// With strict true, any missing, unexpected or mis-shaped key is an error
// (*LoadError) and nothing is loaded — PyTorch loads what it can before
// raising; fovea leaves the model untouched. With strict false every key
// present in both with the same shape is loaded, the rest reported, and the
// error is nil (PyTorch raises on mis-shaped keys even then; fovea skips
// them, which is what fine-tuning a new head wants).
func LoadStateDict(m any, sd map[string]*tensor.Tensor, strict bool) (LoadReport, error) {
	return loadStateDict(m, sd, strict, "")
}

func loadStateDict(m any, sd map[string]*tensor.Tensor, strict bool, source string) (LoadReport, error) {
	var rep LoadReport
	slots := walk(m).slots
	known := map[string]bool{}
	var load []slot
	for _, s := range slots {
		known[s.name] = true
		src, ok := sd[s.name]
		switch {
		case !ok || src == nil:
			rep.Missing = append(rep.Missing, s.name)
		case !tensor.SameShape(src.Shape(), s.t.Shape()):
			rep.Mismatched = append(rep.Mismatched, ShapeMismatch{s.name, cloneInts(s.t.Shape()), cloneInts(src.Shape())})
		default:
			load = append(load, slot{name: s.name, t: s.t})
		}
	}
	for name := range sd {
		if !known[name] {
			rep.Unexpected = append(rep.Unexpected, name)
		}
	}
	slices.Sort(rep.Missing)
	slices.Sort(rep.Unexpected)
	slices.SortFunc(rep.Mismatched, func(a, b ShapeMismatch) int { return strings.Compare(a.Name, b.Name) })
	if strict && !rep.OK() {
		return rep, &LoadError{Source: source, Report: rep}
	}
	for _, s := range load {
		copy(s.t.Data(), sd[s.name].Data())
	}
	return rep, nil
}

func cloneInts(s []int) []int { return append([]int{}, s...) }

// CountParameters returns the number of parameter elements in m, in total and
// those that require a gradient (not frozen). Shared tensors count once.
func CountParameters(m any) (total, trainable int) {
	for _, p := range Parameters(m) {
		total += p.Size()
		if p.RequiresGrad() {
			trainable += p.Size()
		}
	}
	return total, trainable
}

// Freeze stops gradient tracking for every parameter of m (and drops their
// gradients), so an optimizer given them leaves them unchanged and Backward
// does not compute them. Pass a sub-module to freeze part of a model.
func Freeze(m any) {
	for _, p := range Parameters(m) {
		// Parameters already frozen are only read, so goroutines serving a frozen model
		// may call Freeze on it concurrently.
		if p.RequiresGrad() || p.Grad() != nil {
			p.SetRequiresGrad(false)
			p.ZeroGrad()
		}
	}
}

// Unfreeze turns gradient tracking back on for every parameter of m.
func Unfreeze(m any) {
	for _, p := range Parameters(m) {
		if !p.RequiresGrad() {
			p.SetRequiresGrad(true)
		}
	}
}

// trainer is implemented by modules that behave differently in training and
// evaluation, normally by embedding TrainMode.
type trainer interface {
	SetTraining(on bool)
}

// TrainMode is embedded in modules that behave differently in training and
// evaluation (Dropout, BatchNorm2d, MultiheadAttention). Its zero value
// means training, as a freshly built PyTorch module. Modules that embed it
// must be held by pointer for SetTraining to reach them.
type TrainMode struct {
	eval bool
}

// SetTraining puts the module in training (true) or evaluation (false) mode.
func (m *TrainMode) SetTraining(on bool) { m.eval = !on }

// Training reports whether the module is in training mode.
func (m *TrainMode) Training() bool { return !m.eval }

// SetTraining puts every module in the tree of m that has a training mode
// (those embedding TrainMode, or with a SetTraining(bool) method) into
// training (true) or evaluation (false) mode, as PyTorch's
// module.train(mode) / module.eval().
func SetTraining(m any, on bool) {
	for _, nm := range NamedModules(m) {
		if t, ok := nm.Module.(trainer); ok {
			t.SetTraining(on)
		}
	}
}

// Eval is SetTraining(m, false).
func Eval(m any) { SetTraining(m, false) }
