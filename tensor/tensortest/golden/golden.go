// Package golden is the one comparator of fovea's golden and oracle tests:
// a result computed by fovea against the same quantity computed by a
// reference (PyTorch, torchvision, PEFT, a float64 twin, a closed form).
//
// # The measure
//
// For a result got and a reference want of the same length,
//
//	Err(got, want) = max_i |got_i − want_i| / max(|want_i|, Frac·max_j |want_j|)
//
// with Frac = 0.01: an element is judged relative to its own size, but never
// relative to less than 1 % of the largest magnitude in the reference, so an
// element much smaller than the rest (a sum that cancels, a gradient near a
// stationary point, a value that crosses zero) is judged against the tensor's
// scale rather than against its own tiny size. The maximum over the
// reference is taken over its finite elements. Equal values, NaN against NaN
// and an infinity against the same infinity count as no error. Everything
// else that is not finite — NaN or ±Inf on one side only, different
// infinities — and a length mismatch make the error +Inf, so a NaN-filled
// output fails every tolerance. A reference that is all zeros has no scale:
// then any difference gives a very large error (the floor is the smallest
// positive float64).
//
// A tolerance of 1e-5 therefore means the same thing in every package: no
// element is off by more than 1e-5 of max(its own size, 1 % of the largest).
// docs/testing.md lists the tolerance and the measured worst case of every
// package.
//
// # Reporting
//
// With the environment variable FOVEA_GOLDEN_REPORT=1, Check (and Report)
// log every figure as
//
//	golden	<what>	<error>	<tolerance>
//
// so that `FOVEA_GOLDEN_REPORT=1 go test -v ./pkg | grep golden` prints a
// package's measured errors.
//
// The package imports only the standard library, so that the kernels of
// internal/cpu (below package tensor) can use it too; tensortest.CheckTensor
// is Check for tensors.
package golden

import (
	"fmt"
	"math"
	"os"
)

// Frac is the floor of the measure's denominator as a fraction of the
// largest finite magnitude in the reference.
const Frac = 0.01

// ReportEnv is the environment variable that makes Check and Report log
// every figure.
const ReportEnv = "FOVEA_GOLDEN_REPORT"

// Measure is a one-line statement of the measure, for failure messages and
// report headers.
const Measure = "max |got−want| / max(|want|, 0.01·max|want|)"

// Float is the element type of results and references.
type Float interface{ ~float32 | ~float64 }

// TB is the part of testing.TB that Check uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// Err returns the error of got against want (see the package doc).
func Err[G, W Float](got []G, want []W) float64 {
	e, _ := Worst(got, want)
	return e
}

// Worst returns Err and the index of the element that gives it (−1 when the
// error is 0 or the lengths differ).
func Worst[G, W Float](got []G, want []W) (err float64, at int) {
	if len(got) != len(want) {
		return math.Inf(1), -1
	}
	var scale float64
	for _, w := range want {
		if a := math.Abs(float64(w)); a <= math.MaxFloat64 { // finite, not NaN
			scale = math.Max(scale, a)
		}
	}
	floor := math.Max(Frac*scale, math.SmallestNonzeroFloat64)
	at = -1
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if g == w || math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		e := math.Abs(g-w) / math.Max(math.Abs(w), floor)
		if math.IsNaN(e) || math.IsInf(e, 0) || math.IsInf(g, 0) || math.IsInf(w, 0) {
			return math.Inf(1), i
		}
		if e > err {
			err, at = e, i
		}
	}
	return err, at
}

// Check compares got with want under the measure and reports a test error
// naming what, the figure, the tolerance and the worst element when the
// error exceeds tol (or is NaN). It returns the error. With
// FOVEA_GOLDEN_REPORT set it also logs the figure.
func Check[G, W Float](t TB, what string, got []G, want []W, tol float64) float64 {
	t.Helper()
	e, at := Worst(got, want)
	Report(t, what, e, tol)
	if e <= tol {
		return e
	}
	switch {
	case len(got) != len(want):
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
	default:
		t.Errorf("%s: error %.3g > tolerance %.3g at element %d of %d: got %.9g, want %.9g (error = %s)",
			what, e, tol, at, len(got), float64(got[at]), float64(want[at]), Measure)
	}
	return e
}

// Reporting reports whether FOVEA_GOLDEN_REPORT is set (to anything but ""
// or "0").
func Reporting() bool {
	v := os.Getenv(ReportEnv)
	return v != "" && v != "0"
}

// Report logs a figure computed under the measure (for example PyTorch
// float32 against PyTorch float64) when FOVEA_GOLDEN_REPORT is set, in the
// format Check uses.
func Report(t TB, what string, err, tol float64) {
	t.Helper()
	if Reporting() {
		t.Logf("%s", Line(what, err, tol))
	}
}

// Line formats one report line: "golden\t<what>\t<error>\t<tolerance>".
func Line(what string, err, tol float64) string {
	return fmt.Sprintf("golden\t%s\t%.2e\t%.0e", what, err, tol)
}
