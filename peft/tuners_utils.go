package peft

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// LinearModule is a linear layer other than *nn.Linear that peft can adapt,
// such as GPT-2's Conv1D whose weight is stored (in, out) and computes
// y = x·W + b. A model package implements it without importing peft; its
// Forward must call the hook as nn.Linear does:
//
//	y := …                    // the layer's output
//	if l.Delta != nil {
//		y = l.Delta.Forward(x, y)
//	}
type LinearModule interface {
	// LinearWeights returns the weight, the bias (nil without one) and
	// whether the weight is stored (in, out) — PEFT's fan_in_fan_out —
	// rather than (out, in).
	LinearWeights() (weight, bias *tensor.Tensor, fanInFanOut bool)
	// DeltaHook returns the address of the layer's nn.Delta field (a field
	// tagged nn:"-").
	DeltaHook() *nn.Delta
}

// kind is the type of an adapted layer.
type kind int

const (
	kindLinear    kind = iota // *nn.Linear or LinearModule: x (…, in) → (…, out)
	kindConv                  // *nn.Conv2d
	kindEmbedding             // *nn.Embedding
	kindMHA                   // *nn.MultiheadAttention's packed in-projection
)

// site is one adaptable layer of the base model, shared by the adapters
// that target it.
type site struct {
	name   string // the module's name in the base model
	kind   kind
	module any
	weight *tensor.Tensor // the weight a merge changes
	bias   *tensor.Tensor
	inOut  bool // weight stored (in, out)
	in     int  // input features (channels; vocabulary for Embedding)
	out    int  // output features (channels; embedding dim)
	conv   *nn.Conv2d
	pad    int // Embedding's padding index
	hook   *hook
	// slot and wslot are where the hook is installed.
	slot  *nn.Delta
	wslot *nn.WeightDelta
}

// target is a site selected by an adapter's patterns.
type target struct {
	site *site
	// key is the module's name in PEFT's state dict, without
	// "base_model.model." (PEFT names nn.MultiheadAttention's out_proj
	// <name>.base_layer.out_proj).
	key string
	// noDropout: PEFT merges the weights of nn.MultiheadAttention's
	// projections during the forward pass, so no dropout applies there.
	noDropout bool
}

// install puts the hook in the module.
func (s *site) install() {
	if s.slot != nil {
		*s.slot = s.hook
	} else {
		*s.wslot = s.hook
	}
}

// uninstall removes it.
func (s *site) uninstall() {
	if s.slot != nil {
		*s.slot = nil
	} else {
		*s.wslot = nil
	}
}

// installed returns what the module's slot holds now.
func (s *site) installed() any {
	if s.slot != nil {
		return *s.slot
	}
	return *s.wslot
}

// isLinear reports whether a module counts as linear for "all-linear".
func isLinear(m any) bool {
	switch m.(type) {
	case *nn.Linear, LinearModule:
		return true
	}
	return false
}

// newSite describes module m (named name) as a layer to adapt, or returns
// an error for a type peft cannot adapt.
func newSite(name string, m any) (*site, error) {
	s := &site{name: name, module: m}
	switch l := m.(type) {
	case *nn.Linear:
		checkDims("nn.Linear", name, l.Weight, 2)
		s.kind, s.weight, s.bias, s.slot = kindLinear, l.Weight, l.Bias, &l.Delta
		s.out, s.in = l.Weight.SizeOf(0), l.Weight.SizeOf(1)
	case *nn.Conv2d:
		checkDims("nn.Conv2d", name, l.Weight, 4)
		if max(l.Groups, 1) != 1 {
			return nil, fmt.Errorf("peft: module %q is a Conv2d with %d groups: LoRA needs groups = 1 (as PEFT)", name, l.Groups)
		}
		s.kind, s.weight, s.bias, s.slot, s.conv = kindConv, l.Weight, l.Bias, &l.Delta, l
		s.out, s.in = l.Weight.SizeOf(0), l.Weight.SizeOf(1)
	case *nn.Embedding:
		checkDims("nn.Embedding", name, l.Weight, 2)
		s.kind, s.weight, s.slot, s.pad = kindEmbedding, l.Weight, &l.Delta, l.PaddingIdx
		s.in, s.out = l.Weight.SizeOf(0), l.Weight.SizeOf(1)
	case *nn.MultiheadAttention:
		if l.InProjWeight == nil && l.QProjWeight != nil {
			return nil, fmt.Errorf("peft: module %q is a MultiheadAttention with separate q/k/v projection weights (kdim or vdim ≠ embed_dim): LoRA adapts the packed in_proj_weight only, as PEFT does; target the out_proj Linear, or use kdim = vdim = embed_dim", name)
		}
		checkDims("nn.MultiheadAttention", name, l.InProjWeight, 2)
		s.kind, s.weight, s.bias, s.wslot = kindMHA, l.InProjWeight, l.InProjBias, &l.InProjDelta
		s.out, s.in = l.InProjWeight.SizeOf(0), l.InProjWeight.SizeOf(1)
	case LinearModule:
		w, b, inOut := l.LinearWeights()
		checkDims(fmt.Sprintf("%T", m), name, w, 2)
		s.kind, s.weight, s.bias, s.inOut, s.slot = kindLinear, w, b, inOut, l.DeltaHook()
		s.out, s.in = w.SizeOf(0), w.SizeOf(1)
		if inOut {
			s.out, s.in = s.in, s.out
		}
	default:
		return nil, fmt.Errorf("peft: module %q is a %T: only *nn.Linear, *nn.Conv2d, *nn.Embedding, *nn.MultiheadAttention and LinearModule layers can be adapted", name, m)
	}
	return s, nil
}

func checkDims(op, name string, w *tensor.Tensor, dims int) {
	if w == nil || w.Dim() != dims {
		shape := "nil"
		if w != nil {
			shape = tensor.FormatShape(w.Shape())
		}
		panic(fmt.Sprintf("peft: module %q (%s) has weight %s, want %d dimensions", name, op, shape, dims))
	}
}

// moduleKey identifies a module by its pointer, so that a module reachable
// under two names is adapted once.
func moduleKey(m any) uintptr {
	v := reflect.ValueOf(m)
	if v.Kind() == reflect.Pointer {
		return v.Pointer()
	}
	return 0
}

// findTargets returns the modules of base selected by target and not by
// exclude, in NamedModules order, as PEFT's check_target_module_exists:
// the exclusion is tested first. Selecting nothing is an error naming the
// patterns and a few of the model's module names.
func findTargets(base any, targetP, exclude Patterns) ([]target, error) {
	tm, err := compilePatterns("target_modules", targetP)
	if err != nil {
		return nil, err
	}
	em, err := compilePatterns("exclude_modules", exclude)
	if err != nil {
		return nil, err
	}
	if exclude.IsZero() {
		em = nil
	}
	var sites []target
	seen := map[uintptr]bool{}
	var names []string
	for _, nm := range nn.NamedModules(base) {
		if nm.Name == "" || reflect.ValueOf(nm.Module).Kind() != reflect.Pointer {
			continue // the root, and lists of modules
		}
		names = append(names, nm.Name)
		linear := isLinear(nm.Module)
		if em.match(nm.Name, linear) || !tm.match(nm.Name, linear) {
			continue
		}
		if k := moduleKey(nm.Module); seen[k] {
			continue
		} else {
			seen[k] = true
		}
		s, err := newSite(nm.Name, nm.Module)
		if err != nil {
			return nil, err
		}
		_, isMHA := nm.Module.(*nn.MultiheadAttention)
		sites = append(sites, target{site: s, key: nm.Name, noDropout: isMHA})
		if mha, ok := nm.Module.(*nn.MultiheadAttention); ok && mha.OutProj != nil {
			// As PEFT, LoRA on nn.MultiheadAttention covers out_proj too, saved
			// under <name>.base_layer.out_proj.
			op, _ := newSite(nm.Name+".out_proj", mha.OutProj)
			seen[moduleKey(mha.OutProj)] = true
			sites = append(sites, target{site: op, key: nm.Name + ".base_layer.out_proj", noDropout: true})
		}
	}
	if len(sites) == 0 {
		ex := ""
		if !exclude.IsZero() {
			ex = " (exclude_modules " + exclude.String() + ")"
		}
		return nil, fmt.Errorf("peft: target_modules %s%s matched no module of %T; its modules are named like %s",
			targetP, ex, base, sampleNames(names, 8))
	}
	return sites, nil
}

// sampleNames quotes up to n names spread over the list.
func sampleNames(names []string, n int) string {
	if len(names) == 0 {
		return "(none: the model has no sub-modules)"
	}
	var pick []string
	step := max(1, len(names)/n)
	for i := 0; i < len(names) && len(pick) < n; i += step {
		pick = append(pick, fmt.Sprintf("%q", names[i]))
	}
	s := strings.Join(pick, ", ")
	if len(names) > len(pick) {
		s += fmt.Sprintf(", … (%d modules; nn.NamedModules lists them)", len(names))
	}
	return s
}
