package cpu

import (
	"fmt"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveConv returns y, dx and dw of the convolution p computed by the
// definition in float64: y = conv(x, w) + b, dx = ∂⟨y, g⟩/∂x, dw = ∂⟨y, g⟩/∂w.
func naiveConv(p ConvParams, x, w, b, g []float32) (y, dx, dw, db []float64) {
	p = p.norm()
	oh, ow := p.OutH(), p.OutW()
	cg, coutG := p.C/p.Groups, p.Cout/p.Groups
	y = make([]float64, p.N*p.Cout*oh*ow)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, p.Cout)
	for n := 0; n < p.N; n++ {
		for co := 0; co < p.Cout; co++ {
			grp := co / coutG
			for r := 0; r < oh; r++ {
				for c := 0; c < ow; c++ {
					yi := ((n*p.Cout+co)*oh+r)*ow + c
					s := 0.0
					if b != nil {
						s = float64(b[co])
					}
					gv := float64(g[yi])
					db[co] += gv
					for ci := 0; ci < cg; ci++ {
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								iy := r*p.StrideH - p.PadH + kh*p.DilH
								ix := c*p.StrideW - p.PadW + kw*p.DilW
								if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
									continue
								}
								xi := ((n*p.C+grp*cg+ci)*p.H+iy)*p.W + ix
								wi := ((co*cg+ci)*p.KH+kh)*p.KW + kw
								s += float64(x[xi]) * float64(w[wi])
								dx[xi] += gv * float64(w[wi])
								dw[wi] += gv * float64(x[xi])
							}
						}
					}
					y[yi] = s
				}
			}
		}
	}
	return y, dx, dw, db
}

// closeTo compares a kernel's result with the float64 reference under the
// one golden measure (golden.Err), within cpuRefTol.
func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	golden.Check(t, "cpu/"+what, got, want, cpuRefTol)
}

// cpuRefTol is the tolerance of the kernels against their float64
// references on random inputs: float32 sums of up to 360 products
// (C·KH·KW = 40·3·3) and of the N·OH·OW terms of dw and db; measured worst
// case 3.3e-5 (dx of x (3,40,13,11), w (50,40,3,3)).
const cpuRefTol = 1e-4

func convCases() []ConvParams {
	return []ConvParams{
		{N: 2, C: 3, H: 7, W: 6, Cout: 4, KH: 3, KW: 3, PadH: 1, PadW: 1},
		{N: 1, C: 5, H: 9, W: 11, Cout: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{N: 3, C: 4, H: 8, W: 8, Cout: 6, KH: 1, KW: 1},
		{N: 2, C: 4, H: 5, W: 7, Cout: 3, KH: 1, KW: 1, StrideH: 2, StrideW: 1},
		{N: 2, C: 6, H: 10, W: 9, Cout: 4, KH: 3, KW: 2, PadH: 2, PadW: 1, DilH: 2, DilW: 3, Groups: 2},
		{N: 1, C: 6, H: 12, W: 12, Cout: 9, KH: 5, KW: 5, StrideH: 3, StrideW: 2, PadH: 2, PadW: 0, Groups: 3},
		{N: 2, C: 8, H: 9, W: 9, Cout: 5, KH: 7, KW: 1, PadH: 3},
		{N: 2, C: 5, H: 9, W: 9, Cout: 5, KH: 1, KW: 7, PadW: 3},
		{N: 4, C: 5, H: 6, W: 7, Cout: 5, KH: 3, KW: 3, PadH: 1, PadW: 1, Groups: 5},                         // depthwise
		{N: 2, C: 4, H: 9, W: 8, Cout: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 4}, // depthwise, stride 2
		{N: 1, C: 3, H: 8, W: 8, Cout: 6, KH: 3, KW: 3, PadH: 2, PadW: 2, DilH: 2, DilW: 2, Groups: 3},       // channel multiplier 2
		{N: 2, C: 2, H: 4, W: 4, Cout: 3, KH: 3, KW: 3, PadH: 3, PadW: 3},                                    // pad > kernel reach
		{N: 1, C: 3, H: 5, W: 5, Cout: 2, KH: 5, KW: 5},                                                      // output 1×1
		{N: 3, C: 40, H: 13, W: 11, Cout: 50, KH: 3, KW: 3, PadH: 1, PadW: 1},                                // several tiles
		{N: 1, C: 3, H: 1, W: 1, Cout: 2, KH: 1, KW: 1},
		{N: 2, C: 4, H: 6, W: 6, Cout: 2, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	}
}

// convRef is the float64 reference of one convolution case: forward with
// and without bias, and the three gradients for the output gradient g.
type convRef struct {
	y, y0, dx, dw, db []float64
	scale             float64 // 1 + √len(w), the magnitude bound some older checks use
}

func newConvRef(p ConvParams, x, w, b, g []float32) convRef {
	var r convRef
	r.y, r.dx, r.dw, r.db = naiveConv(p, x, w, b, g)
	r.y0, _, _, _ = naiveConv(p, x, w, nil, g)
	r.scale = 1 + math.Sqrt(float64(len(w)))
	return r
}

// checkConv runs Conv2dForward (with and without bias) and both gradients
// on outputs filled with noise and compares them with ref.
func checkConv(t *testing.T, rng *rand.Rand, name string, p ConvParams, x, w, b, g []float32, ref convRef) {
	t.Helper()
	y := randSlice(rng, len(g))
	Conv2dForward(p, x, w, b, y)
	closeTo(t, name+" y", y, ref.y)
	Conv2dForward(p, x, w, nil, y)
	closeTo(t, name+" y (no bias)", y, ref.y0)
	dx := randSlice(rng, len(x))
	Conv2dBackwardData(p, g, w, dx)
	closeTo(t, name+" dx", dx, ref.dx)
	dw := randSlice(rng, len(w))
	db := randSlice(rng, len(b))
	Conv2dBackwardWeight(p, x, g, dw, db)
	closeTo(t, name+" dw", dw, ref.dw)
	closeTo(t, name+" db", db, ref.db)
}

func TestConv(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, threads := range []int{1, 2} {
			saved := Threads()
			SetThreads(threads)
			for _, p := range convCases() {
				x := randSlice(rng, p.N*p.C*p.H*p.W)
				w := randSlice(rng, p.Cout*(p.C/p.norm().Groups)*p.KH*p.KW)
				b := randSlice(rng, p.Cout)
				g := randSlice(rng, p.N*p.Cout*p.OutH()*p.OutW())
				checkConv(t, rng, fmt.Sprintf("threads=%d %v", threads, p), p, x, w, b, g, newConvRef(p, x, w, b, g))
			}
			SetThreads(saved)
		}
	})
}

func TestIm2colCol2imAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, p := range convCases() {
		p = p.norm()
		cg := p.C / p.Groups
		x := randSlice(rng, cg*p.H*p.W)
		col := make([]float32, cg*p.KH*p.KW*p.OutH()*p.OutW())
		Im2col(p, x, col)
		c := randSlice(rng, len(col))
		back := make([]float32, len(x))
		Col2im(p, c, back)
		// ⟨im2col(x), c⟩ == ⟨x, col2im(c)⟩
		var a, b float64
		for i := range col {
			a += float64(col[i]) * float64(c[i])
		}
		for i := range x {
			b += float64(x[i]) * float64(back[i])
		}
		if !(math.Abs(a-b) <= 1e-3*(1+math.Abs(a))) { // NaN fails
			t.Fatalf("%v: ⟨im2col x, c⟩ = %v, ⟨x, col2im c⟩ = %v", p, a, b)
		}
	}
}

func TestConvPanics(t *testing.T) {
	p := ConvParams{N: 1, C: 2, H: 4, W: 4, Cout: 2, KH: 3, KW: 3}
	for _, f := range []func(){
		func() { Conv2dForward(p, make([]float32, 31), make([]float32, 36), nil, make([]float32, 8)) },
		func() { Conv2dForward(p, make([]float32, 32), make([]float32, 36), nil, make([]float32, 9)) },
		func() {
			q := p
			q.Groups = 3
			Conv2dForward(q, make([]float32, 32), make([]float32, 36), nil, make([]float32, 8))
		},
		func() {
			q := p
			q.KH = 9
			Conv2dForward(q, make([]float32, 32), make([]float32, 36), nil, make([]float32, 8))
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

// TestConvRandom checks random small convolutions (every stride, padding,
// dilation and grouping mix, odd sizes) against the definition.
func TestConvRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	savedCols := batchCols
	defer func() { batchCols = savedCols }()
	for i := 0; i < 60; i++ {
		g := 1 + rng.IntN(3)
		p := ConvParams{
			N: 1 + rng.IntN(3), C: g * (1 + rng.IntN(4)), H: 1 + rng.IntN(12), W: 1 + rng.IntN(12),
			Cout: g * (1 + rng.IntN(5)), KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4),
			StrideH: 1 + rng.IntN(3), StrideW: 1 + rng.IntN(3), PadH: rng.IntN(3), PadW: rng.IntN(3),
			DilH: 1 + rng.IntN(2), DilW: 1 + rng.IntN(2), Groups: g,
		}
		if rng.IntN(5) == 0 { // depthwise
			p.Groups, p.Cout = p.C, p.C
		}
		if p.OutH() < 1 || p.OutW() < 1 {
			continue
		}
		x := randSlice(rng, p.N*p.C*p.H*p.W)
		w := randSlice(rng, p.Cout*(p.C/p.Groups)*p.KH*p.KW)
		b := randSlice(rng, p.Cout)
		gy := randSlice(rng, p.N*p.Cout*p.OutH()*p.OutW())
		wantY, wantDx, wantDw, wantDb := naiveConv(p, x, w, b, gy)
		for _, cols := range []int{savedCols, 0} { // batched (when it applies) and image by image
			batchCols = cols
			name := fmt.Sprintf("%v batchCols=%d", p, cols)
			y := make([]float32, len(gy))
			Conv2dForward(p, x, w, b, y)
			closeTo(t, name+" y", y, wantY)
			dx := make([]float32, len(x))
			Conv2dBackwardData(p, gy, w, dx)
			closeTo(t, name+" dx", dx, wantDx)
			dw, db := make([]float32, len(w)), make([]float32, len(b))
			Conv2dBackwardWeight(p, x, gy, dw, db)
			closeTo(t, name+" dw", dw, wantDw)
			closeTo(t, name+" db", db, wantDb)
		}
	}
}

// batchedConvCases are convolutions of several images with small maps,
// which run as GEMMs over chunks of images (see conv_batch.go): strides,
// padding, 1×1, 7×1 and 1×7 kernels, direct views, maps whose size is not a
// multiple of the micro-tile width, and batches whose GEMMs span several
// blocks of columns and depth.
func batchedConvCases() []ConvParams {
	return []ConvParams{
		{N: 4, C: 5, H: 4, W: 4, Cout: 50, KH: 3, KW: 3, PadH: 1, PadW: 1},
		{N: 5, C: 7, H: 7, W: 9, Cout: 9, KH: 3, KW: 3, PadH: 1, PadW: 1},
		{N: 4, C: 6, H: 9, W: 8, Cout: 10, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{N: 3, C: 8, H: 5, W: 7, Cout: 12, KH: 1, KW: 1},                        // direct view
		{N: 4, C: 6, H: 7, W: 8, Cout: 9, KH: 1, KW: 1, StrideH: 2, StrideW: 2}, // one phase of four used
		{N: 3, C: 4, H: 5, W: 5, Cout: 6, KH: 1, KW: 1, PadH: 1, PadW: 1},       // general data gradient, stride 1
		{N: 3, C: 10, H: 6, W: 5, Cout: 7, KH: 7, KW: 1, PadH: 3},               // no thrown-away columns
		{N: 2, C: 4, H: 9, W: 3, Cout: 5, KH: 7, KW: 1},                         // direct view, 7×1
		{N: 3, C: 10, H: 5, W: 6, Cout: 20, KH: 1, KW: 7, PadW: 3},              // shifted view, 7 shifts
		{N: 3, C: 6, H: 4, W: 4, Cout: 7, KH: 1, KW: 7, PadW: 3},                // weight gradient image by image
		{N: 3, C: 4, H: 11, W: 10, Cout: 17, KH: 3, KW: 2, StrideH: 3, StrideW: 2, PadH: 2, PadW: 1, DilH: 2, DilW: 2},
		{N: 2, C: 30, H: 5, W: 5, Cout: 20, KH: 3, KW: 3, PadH: 1, PadW: 1},              // packed A in the weight gradient
		{N: 10, C: 3, H: 7, W: 7, Cout: 5, KH: 3, KW: 3, PadH: 1, PadW: 1},               // several column blocks
		{N: 9, C: 3, H: 7, W: 7, Cout: 6, KH: 3, KW: 3, PadH: 1, PadW: 1},                // depth blocks split images
		{N: 9, C: 3, H: 7, W: 7, Cout: 5, KH: 7, KW: 1, PadH: 3},                         // likewise, no thrown-away columns
		{N: 3, C: 2, H: 6, W: 5, Cout: 3, KH: 2, KW: 3, StrideH: 1, StrideW: 3, PadW: 2}, // stride 3 across
	}
}

// TestConvBatched checks the batched convolutions against the definition,
// with the whole batch in one GEMM, in chunks of a few images, with the
// default chunks and image by image, on every kernel and 1 and 2 threads.
func TestConvBatched(t *testing.T) {
	for _, p := range batchedConvCases() {
		if c := newConvView(p.norm()).forwardChunk(); c < 2 {
			t.Errorf("%v: forward chunks of %d images, want the batched path", p, c)
		}
	}
	savedCols := batchCols
	defer func() { batchCols = savedCols }()
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, p := range batchedConvCases() {
			x := randSlice(rng, p.N*p.C*p.H*p.W)
			w := randSlice(rng, p.Cout*p.C*p.KH*p.KW)
			b := randSlice(rng, p.Cout)
			g := randSlice(rng, p.N*p.Cout*p.OutH()*p.OutW())
			ref := newConvRef(p, x, w, b, g)
			for _, threads := range []int{1, 2} {
				saved := Threads()
				SetThreads(threads)
				for _, cols := range []int{1 << 30, 24, savedCols, 0} {
					batchCols = cols
					checkConv(t, rng, fmt.Sprintf("threads=%d batchCols=%d %v", threads, cols, p), p, x, w, b, g, ref)
				}
				SetThreads(saved)
			}
		}
	})
}
