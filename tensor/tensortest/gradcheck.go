// Package tensortest holds test helpers for code built on package tensor:
// finite-difference gradient checks and tolerant comparisons.
//
// Every golden or oracle comparison — fovea against PyTorch, torchvision,
// PEFT, a float64 twin — goes through one comparator with one error
// measure: CheckTensor here, or golden.Check on slices (package
// tensor/tensortest/golden, which holds the measure and its documentation:
// max |got − want| / max(|want|, 0.01·max|want|), +Inf on NaN, Inf or length
// mismatches; FOVEA_GOLDEN_REPORT=1 logs every figure). AllClose and
// SliceClose (rtol/atol) are for comparing two fovea paths with each other;
// MaxRelErr and MaxScaledRelErr are the older figures, kept for callers
// outside the golden tests.
package tensortest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// GradCheckOptions tune GradCheck; zero values take the defaults.
type GradCheckOptions struct {
	Eps  float64 // finite-difference step (default 1e-2)
	Atol float64 // absolute tolerance (default 2e-3)
	Rtol float64 // relative tolerance (default 2e-2)
	Seed uint64  // seed for the random projection of the output
}

// GradCheck compares the analytic gradients of f with central finite
// differences. f maps the inputs to a tensor of any shape; the check
// differentiates the scalar sum(f(inputs) ⊙ R) for a fixed random R, so every
// output element matters. Inputs that should be checked must have
// SetRequiresGrad(true); the others are held constant. Because the inputs are
// float32, the step and tolerances are coarse; keep the function smooth near
// the inputs (no kinks within Eps).
func GradCheck(t TB, name string, f func(in []*tensor.Tensor) *tensor.Tensor, inputs []*tensor.Tensor, opt GradCheckOptions) {
	t.Helper()
	if opt.Eps == 0 {
		opt.Eps = 1e-2
	}
	if opt.Atol == 0 {
		opt.Atol = 2e-3
	}
	if opt.Rtol == 0 {
		opt.Rtol = 2e-2
	}
	for _, in := range inputs {
		in.ZeroGrad()
	}
	out := f(inputs)
	rng := rand.New(rand.NewPCG(opt.Seed, 7))
	proj := tensor.RandNormal(rng, 0, 1, out.Shape()...)
	loss := tensor.SumAll(tensor.Mul(out, proj))
	if !loss.RequiresGrad() {
		t.Fatalf("%s: output does not require a gradient", name)
		return
	}
	loss.Backward()
	eval := func() float64 {
		o := f(detachAll(inputs))
		var s float64
		for i, v := range o.Data() {
			s += float64(v) * float64(proj.Data()[i])
		}
		return s
	}
	for k, in := range inputs {
		if !in.RequiresGrad() {
			continue
		}
		g := in.Grad()
		if g == nil {
			t.Errorf("%s: input %d got no gradient", name, k)
			continue
		}
		data := in.Data()
		bad := 0
		for i := range data {
			orig := data[i]
			data[i] = orig + float32(opt.Eps)
			up := eval()
			data[i] = orig - float32(opt.Eps)
			down := eval()
			data[i] = orig
			num := (up - down) / (2 * opt.Eps)
			ana := float64(g.Data()[i])
			if math.Abs(num-ana) > opt.Atol+opt.Rtol*math.Abs(num) || math.IsNaN(ana) {
				if bad < 5 {
					t.Errorf("%s: input %d element %d: analytic gradient %.6g, numeric %.6g", name, k, i, ana, num)
				}
				bad++
			}
		}
		if bad > 5 {
			t.Errorf("%s: input %d: %d more mismatches", name, k, bad-5)
		}
	}
}

// detachAll returns inputs that share data with in but record no graph.
func detachAll(in []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(in))
	for i, t := range in {
		out[i] = t.Detach()
	}
	return out
}

// AllClose reports the first element where |got − want| > atol + rtol·|want|,
// treating NaN as equal to NaN, and checks the shapes match.
func AllClose(got, want *tensor.Tensor, rtol, atol float64) error {
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		return fmt.Errorf("shape %s, want %s", tensor.FormatShape(got.Shape()), tensor.FormatShape(want.Shape()))
	}
	return SliceClose(got.Data(), want.Data(), rtol, atol)
}

// SliceClose is AllClose on raw slices.
func SliceClose(got, want []float32, rtol, atol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) && math.IsNaN(w) || g == w {
			continue
		}
		if math.Abs(g-w) > atol+rtol*math.Abs(w) || math.IsNaN(g) || math.IsNaN(w) {
			return fmt.Errorf("element %d: got %.8g, want %.8g (|diff| %.3g)", i, g, w, math.Abs(g-w))
		}
	}
	return nil
}

// MaxRelErr returns max |got − want| / max(|want|, floor) over the elements,
// the error figure reported against golden fixtures. It returns +Inf when the
// lengths differ or when an element is NaN or infinite on one side only (a
// NaN-filled output must fail every tolerance); equal values, NaN against NaN
// and equal infinities count as no error.
func MaxRelErr(got, want []float32, floor float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var m float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if g == w || math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		e := math.Abs(g-w) / math.Max(math.Abs(w), floor)
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return math.Inf(1)
		}
		m = math.Max(m, e)
	}
	return m
}

// MaxScaledRelErr compares float32 results with a float64 reference: it
// returns max |got − want| / max(|want|, frac·max|want|) over the elements,
// so that an element much smaller than the largest (a sum that cancels, a
// gradient near a stationary point) is judged against frac times the
// tensor's scale rather than its own size. It returns +Inf when the lengths
// differ or an element is NaN or infinite on one side only. With frac =
// golden.Frac it is golden.Err, the measure of every golden test.
func MaxScaledRelErr(got []float32, want []float64, frac float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var scale float64
	for _, w := range want {
		if a := math.Abs(w); a <= math.MaxFloat64 { // finite: an infinity is no scale
			scale = math.Max(scale, a)
		}
	}
	floor := math.Max(frac*scale, math.SmallestNonzeroFloat64)
	var m float64
	for i, w := range want {
		g := float64(got[i])
		if math.IsNaN(g) && math.IsNaN(w) || g == w {
			continue
		}
		e := math.Abs(g-w) / math.Max(math.Abs(w), floor)
		if math.IsNaN(e) || math.IsInf(e, 0) || math.IsInf(g, 0) || math.IsInf(w, 0) {
			return math.Inf(1)
		}
		m = math.Max(m, e)
	}
	return m
}

// CheckTensor is golden.Check for tensors: it fails (t.Errorf) when got is
// nil, when the shapes differ, or when the error of got against want under
// the one measure (see package golden) exceeds tol, and returns the error
// (+Inf for nil or a shape mismatch). With FOVEA_GOLDEN_REPORT=1 it logs the
// figure.
func CheckTensor(t golden.TB, what string, got, want *tensor.Tensor, tol float64) float64 {
	t.Helper()
	switch {
	case got == nil:
		t.Errorf("%s: got nil, want shape %s", what, tensor.FormatShape(want.Shape()))
		return math.Inf(1)
	case !tensor.SameShape(got.Shape(), want.Shape()):
		t.Errorf("%s: shape %s, want %s", what, tensor.FormatShape(got.Shape()), tensor.FormatShape(want.Shape()))
		return math.Inf(1)
	}
	return golden.Check(t, what, got.Data(), want.Data(), tol)
}
