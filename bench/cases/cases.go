// Package cases defines the named speed cases that `fovea bench` runs and
// that bench/compare.py runs again in PyTorch and NumPy under the same names,
// with the timing rule both sides share (Measure).
//
// A case is set up once (inputs allocated and filled with seeded uniform
// values in [−1, 1)) and then run many times. GEMM cases call cpu.Sgemm on
// preallocated slices; every other case goes through the public tensor-level
// API that users call (tensor.Conv2d, functional.Interpolate,
// functional.PixelShuffle, and the Segment Anything model of models/sam in sam.go),
// allocation of the result included:
//
//   - "fwd" cases run the forward pass on inputs that do not require a
//     gradient, so nothing is recorded;
//   - "fwdbwd" cases mark the input and the weights as requiring a gradient,
//     drop their old gradients (ZeroGrad, torch's grad = None), run the
//     forward pass and then BackwardWith a ones gradient of the output's shape;
//   - "fwdbwdw" cases do the same with only the weights requiring a gradient
//     (a network's first layer, whose input is data), so the input gradient
//     is not computed.
//
// Convolutions have no bias. The GEMM cases compute C = A·B with A (M, K),
// B (K, N) and C (M, N), all row-major, and are named gemm-M (M = N = K) or
// gemm-MxKxN.
package cases

import (
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Size selects the problem sizes a case is set up with.
type Size int

const (
	// Full is the size the case name describes.
	Full Size = iota
	// Tiny shrinks every dimension so that each case runs in milliseconds;
	// it exists for smoke tests, and its timings mean nothing.
	Tiny
)

// Case is one named benchmark.
type Case struct {
	// Name is the case's name, as `fovea bench` and bench/compare.py take it.
	Name string
	// API names what is timed, e.g. "cpu.Sgemm" or "tensor.Conv2d+BackwardWith".
	API string
	// Doc says in words what one run does, at Full size.
	Doc string
	// Flops is the floating-point operations of one run at Full size (as
	// Work.Flops), or 0.
	Flops float64
	// Setup allocates the inputs at size s and returns one run's work.
	Setup func(s Size) Work
}

// Work is a case set up and ready to run.
type Work struct {
	// Run does the timed work once.
	Run func()
	// Flops is the number of floating-point operations of one Run, or 0
	// where the case is memory-bound and a GFLOP/s figure means nothing.
	// GEMM counts 2·M·N·K; a convolution 2·N·Cout·OH·OW·(Cin/groups)·KH·KW
	// per pass, three passes for forward+backward.
	Flops float64
}

// GFLOPS is Flops/seconds/1e9, or 0 when Flops is 0.
func (w Work) GFLOPS(seconds float64) float64 {
	if w.Flops == 0 || seconds <= 0 {
		return 0
	}
	return w.Flops / seconds / 1e9
}

var registry = []Case{
	gemmCase("gemm-1024", 1024, 1024, 1024),
	gemmCase("gemm-2048", 2048, 2048, 2048),
	gemmCase("gemm-4096x576x64", 4096, 576, 64),
	convCase("conv3x3-n8-c64-56-fwd", false, convSpec{n: 8, h: 56, w: 56, layers: []convLayer{
		{cin: 64, cout: 64, kh: 3, kw: 3, stride: 1, padH: 1, padW: 1}}}),
	convCase("conv3x3-n8-c64-56-fwdbwd", true, convSpec{n: 8, h: 56, w: 56, layers: []convLayer{
		{cin: 64, cout: 64, kh: 3, kw: 3, stride: 1, padH: 1, padW: 1}}}),
	convCase("conv3x3s2-n8-c3to32-128-fwd", false, stemConv),
	convCase("conv3x3s2-n8-c3to32-128-fwdbwd", true, stemConv),
	convCaseWeightGrad("conv3x3s2-n8-c3to32-128-fwdbwdw", stemConv),
	convCase("gcn-k15-n8-c256to21-32-fwdbwd", true, convSpec{n: 8, h: 32, w: 32, layers: []convLayer{
		{cin: 256, cout: 21, kh: 15, kw: 1, stride: 1, padH: 7, padW: 0},
		{cin: 21, cout: 21, kh: 1, kw: 15, stride: 1, padH: 0, padW: 7}}}),
	{
		Name:  "bilinear2x-n8-c64-64-fwd",
		API:   "functional.Interpolate",
		Doc:   "bilinear ×2 upsampling (align_corners false) of x (8, 64, 64, 64) to (8, 64, 128, 128)",
		Setup: bilinearSetup,
	},
	{
		Name:  "pixelshuffle2-n8-c64-64-fwd",
		API:   "functional.PixelShuffle",
		Doc:   "PixelShuffle with r = 2 of x (8, 64, 64, 64) to (8, 16, 128, 128)",
		Setup: pixelShuffleSetup,
	},
	samEncoderCase,
	samDecoderCase,
}

// All returns every case, in the order `fovea bench` runs them.
func All() []Case {
	return append([]Case(nil), registry...)
}

// Names returns the names of every case, in order.
func Names() []string {
	names := make([]string, len(registry))
	for i, c := range registry {
		names[i] = c.Name
	}
	return names
}

// Lookup returns the case with the given name.
func Lookup(name string) (Case, bool) {
	for _, c := range registry {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// Select returns the cases matching the patterns (case names or path.Match
// globs such as "gemm-*"), each once, in registry order. No patterns means
// every case. A pattern that matches nothing is an error naming it and the
// known cases.
func Select(patterns []string) ([]Case, error) {
	if len(patterns) == 0 {
		return All(), nil
	}
	chosen := make(map[string]bool)
	for _, p := range patterns {
		found := false
		for _, c := range registry {
			ok, err := path.Match(p, c.Name)
			if err != nil {
				return nil, fmt.Errorf("case pattern %q: %v", p, err)
			}
			if ok {
				chosen[c.Name] = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown case %q; known cases: %s", p, strings.Join(Names(), ", "))
		}
	}
	var out []Case
	for _, c := range registry {
		if chosen[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// newRNG is the seeded source every case draws its inputs from.
func newRNG() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func uniform(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*rng.Float32() - 1
	}
	return s
}

// gemmCase times cpu.Sgemm computing C (m, n) = A (m, k) · B (k, n).
func gemmCase(name string, m, k, n int) Case {
	doc := fmt.Sprintf("C (%d, %d) = A (%d, %d) · B (%d, %d), row-major, no transposes, beta 0", m, n, m, k, k, n)
	return Case{
		Name:  name,
		API:   "cpu.Sgemm",
		Doc:   doc,
		Flops: 2 * float64(m) * float64(n) * float64(k),
		Setup: func(s Size) Work {
			m, k, n := m, k, n
			if s == Tiny {
				m, k, n = shrink(m, 32), shrink(k, 32), shrink(n, 32)
			}
			rng := newRNG()
			a, b, c := uniform(rng, m*k), uniform(rng, k*n), make([]float32, m*n)
			return Work{
				Run:   func() { cpu.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) },
				Flops: 2 * float64(m) * float64(n) * float64(k),
			}
		},
	}
}

// shrink divides a full-size dimension by f, keeping it at least 3.
func shrink(v, f int) int { return max(v/f, 3) }

// stemConv is a ResNet stem convolution: few input channels, so the GEMM
// depth (Cin·KH·KW = 27) is small.
var stemConv = convSpec{n: 8, h: 128, w: 128, layers: []convLayer{
	{cin: 3, cout: 32, kh: 3, kw: 3, stride: 2, padH: 1, padW: 1}}}

// convLayer is one convolution of a chain.
type convLayer struct {
	cin, cout, kh, kw, stride, padH, padW int
}

// convSpec is a chain of convolutions applied to x (n, layers[0].cin, h, w).
type convSpec struct {
	n, h, w int
	layers  []convLayer
}

func (l convLayer) opts() tensor.ConvOptions {
	return tensor.ConvOptions{Stride: [2]int{l.stride, l.stride}, Padding: [2]int{l.padH, l.padW}}
}

// flops is one forward pass of the chain: 2·N·Cout·OH·OW·Cin·KH·KW per layer.
func (s convSpec) flops() float64 { return s.passFlops(false, false) }

// passFlops is the work of a run: one forward pass (the count of flops) per
// layer, and with backward one more for each weight gradient and one for
// each input gradient computed (every layer's when inputGrad, else every
// layer's but the first).
func (s convSpec) passFlops(backward, inputGrad bool) float64 {
	total := 0.0
	h, w := s.h, s.w
	for i, l := range s.layers {
		oh := (h+2*l.padH-l.kh)/l.stride + 1
		ow := (w+2*l.padW-l.kw)/l.stride + 1
		passes := 1.0
		if backward {
			passes++
			if inputGrad || i > 0 {
				passes++
			}
		}
		total += passes * 2 * float64(s.n) * float64(l.cout) * float64(oh) * float64(ow) * float64(l.cin*l.kh*l.kw)
		h, w = oh, ow
	}
	return total
}

func (s convSpec) doc(backward, inputGrad bool) string {
	var parts []string
	for _, l := range s.layers {
		parts = append(parts, fmt.Sprintf("%d×%d conv %d→%d stride %d pad (%d, %d)", l.kh, l.kw, l.cin, l.cout, l.stride, l.padH, l.padW))
	}
	d := fmt.Sprintf("%s on x (%d, %d, %d, %d), no bias", strings.Join(parts, ", then "), s.n, s.layers[0].cin, s.h, s.w)
	switch {
	case backward && inputGrad:
		d += "; forward, then backward of a ones gradient into x and the weights"
	case backward:
		d += "; forward, then backward of a ones gradient into the weights only (x does not require grad)"
	}
	return d
}

func convCase(name string, backward bool, spec convSpec) Case {
	return newConvCase(name, backward, backward, spec)
}

// convCaseWeightGrad is a forward+backward case where only the weights
// require a gradient, not the input x.
func convCaseWeightGrad(name string, spec convSpec) Case {
	return newConvCase(name, true, false, spec)
}

func newConvCase(name string, backward, inputGrad bool, spec convSpec) Case {
	api := "tensor.Conv2d"
	if backward {
		api += "+BackwardWith"
	}
	return Case{
		Name:  name,
		API:   api,
		Doc:   spec.doc(backward, inputGrad),
		Flops: spec.passFlops(backward, inputGrad),
		Setup: func(sz Size) Work {
			s := spec
			if sz == Tiny {
				s = tinyConv(spec)
			}
			rng := newRNG()
			x := tensor.New(uniform(rng, s.n*s.layers[0].cin*s.h*s.w), s.n, s.layers[0].cin, s.h, s.w)
			ws := make([]*tensor.Tensor, len(s.layers))
			for i, l := range s.layers {
				ws[i] = tensor.New(uniform(rng, l.cout*l.cin*l.kh*l.kw), l.cout, l.cin, l.kh, l.kw)
			}
			forward := func() *tensor.Tensor {
				y := x
				for i, l := range s.layers {
					y = tensor.Conv2d(y, ws[i], nil, l.opts())
				}
				return y
			}
			if !backward {
				return Work{Run: func() { forward() }, Flops: s.flops()}
			}
			x.SetRequiresGrad(inputGrad)
			for _, w := range ws {
				w.SetRequiresGrad(true)
			}
			ones := tensor.OnesLike(forward().Detach())
			return Work{
				Run: func() {
					x.ZeroGrad()
					for _, w := range ws {
						w.ZeroGrad()
					}
					forward().BackwardWith(ones)
				},
				Flops: s.passFlops(true, inputGrad),
			}
		},
	}
}

// tinyConv keeps the kernel shapes and strides and shrinks batch, channels
// and image.
func tinyConv(s convSpec) convSpec {
	t := convSpec{n: 2, h: shrink(s.h, 4), w: shrink(s.w, 4)}
	for _, l := range s.layers {
		l.cin, l.cout = min(l.cin, 4), min(l.cout, 4)
		t.layers = append(t.layers, l)
	}
	return t
}

// upInput is the (8, 64, 64, 64) input of the upsampling cases, or
// (2, 4, 8, 8) at Tiny size.
func upInput(s Size) *tensor.Tensor {
	shape := []int{8, 64, 64, 64}
	if s == Tiny {
		shape = []int{2, 4, 8, 8}
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.New(uniform(newRNG(), n), shape...)
}

func bilinearSetup(s Size) Work {
	x := upInput(s)
	opt := functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear}
	return Work{Run: func() { functional.Interpolate(x, opt) }}
}

func pixelShuffleSetup(s Size) Work {
	x := upInput(s)
	return Work{Run: func() { functional.PixelShuffle(x, 2) }}
}

// sortedCopy returns xs sorted ascending without changing xs.
func sortedCopy(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}
