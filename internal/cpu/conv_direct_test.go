package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachConvKernel runs f on every micro-kernel path that has direct
// convolution kernels.
func forEachConvKernel(t *testing.T, f func(t *testing.T, ck *convKernels)) {
	forEachKernel(t, func(t *testing.T) {
		if active.conv == nil {
			t.Skip("no direct convolution kernels")
		}
		f(t, active.conv)
	})
}

// TestConvDirectForwardKernel checks every forward tile shape against the
// definition: rows, depths and column counts ending inside, at and past a
// vector, outputs filled with NaN (every value inside the tile must be
// written, none outside), with and without bias.
func TestConvDirectForwardKernel(t *testing.T) {
	forEachConvKernel(t, func(t *testing.T, ck *convKernels) {
		rng := rand.New(rand.NewPCG(31, 32))
		for mr := 1; mr <= ck.fwdRows; mr++ {
			for nv := 1; nv <= ck.fwdVecs(mr); nv++ {
				for _, cols := range []int{16*nv - 15, 16*nv - 7, 16 * nv} {
					for _, kc := range []int{1, 3, 27} {
						rows := 1 + rng.IntN(3)
						aStride := mr + rng.IntN(3)
						a := randSlice(rng, kc*aStride)
						bRow := cols + 5
						offs := make([]int32, kc)
						for p := range offs {
							offs[p] = int32(rng.IntN(40))
						}
						lo, hi := minmax(offs)
						base := 3
						b := randSlice(rng, base+int(hi)+(rows-1)*bRow+cols)
						ldc, cRow := cols+2, mr*(cols+2)+1
						for _, withBias := range []bool{false, true} {
							var bias []float32
							if withBias {
								bias = randSlice(rng, mr)
							}
							c := make([]float32, rows*cRow+4)
							for i := range c {
								c[i] = float32(math.NaN())
							}
							ck.fwd(rows, kc, a, aStride, b, base, bRow, offs, lo, hi, c, ldc, cRow, bias, mr, cols)
							name := fmt.Sprintf("mr=%d nv=%d cols=%d kc=%d rows=%d bias=%v", mr, nv, cols, kc, rows, withBias)
							inTile := make([]bool, len(c))
							for r := 0; r < rows; r++ {
								for i := 0; i < mr; i++ {
									for j := 0; j < cols; j++ {
										want := 0.0
										if withBias {
											want = float64(bias[i])
										}
										for p := 0; p < kc; p++ {
											want += float64(a[p*aStride+i]) * float64(b[base+r*bRow+int(offs[p])+j])
										}
										k := r*cRow + i*ldc + j
										inTile[k] = true
										if d := math.Abs(float64(c[k]) - want); !(d <= 1e-4*(1+math.Abs(want))*float64(kc)) {
											t.Fatalf("%s: c[%d][%d][%d] = %v, want %v", name, r, i, j, c[k], want)
										}
									}
								}
							}
							for k, v := range c {
								if !inTile[k] && !math.IsNaN(float64(v)) {
									t.Fatalf("%s: c[%d] = %v written outside the tile", name, k, v)
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestConvDirectWeightKernel checks every weight-gradient block shape
// against the definition: rows of whole vectors, a partial vector or both,
// dw accumulated into (not overwritten), nothing else written.
func TestConvDirectWeightKernel(t *testing.T) {
	forEachConvKernel(t, func(t *testing.T, ck *convKernels) {
		rng := rand.New(rand.NewPCG(33, 34))
		for r := 1; r <= ck.wgtRows; r++ {
			for s := 1; s <= ck.wgtCols; s++ {
				for _, cols := range []int{1, 9, 16, 23, 48} {
					rows := 1 + rng.IntN(3)
					dyRow := cols + rng.IntN(3)
					ldy := rows*dyRow + 2
					dy := randSlice(rng, r*ldy)
					bRow := cols + 1 + rng.IntN(3)
					offs := make([]int32, s)
					for q := range offs {
						offs[q] = int32(rng.IntN(30))
					}
					lo, hi := minmax(offs)
					base := 2
					b := randSlice(rng, base+int(hi)+(rows-1)*bRow+cols)
					ldw := s + 3
					dw := randSlice(rng, r*ldw)
					before := append([]float32(nil), dw...)
					ck.wgt(rows, cols, dy, ldy, dyRow, b, base, offs, lo, hi, bRow, dw, ldw, r, s)
					name := fmt.Sprintf("r=%d s=%d cols=%d rows=%d", r, s, cols, rows)
					for k := range dw {
						i, q := k/ldw, k%ldw
						want := float64(before[k])
						if q < s {
							for tr := 0; tr < rows; tr++ {
								for j := 0; j < cols; j++ {
									want += float64(dy[i*ldy+tr*dyRow+j]) * float64(b[base+int(offs[q])+tr*bRow+j])
								}
							}
						}
						if d := math.Abs(float64(dw[k]) - want); !(d <= 1e-4*(1+math.Abs(want))*float64(rows*cols)) {
							t.Fatalf("%s: dw[%d][%d] = %v, want %v", name, i, q, dw[k], want)
						}
					}
				}
			}
		}
	})
}

// directConvCases are convolutions that run on the direct kernels: output
// rows of 16 columns or more, depth up to directMaxDepth; strides, padding,
// dilation, groups, 1×1, 1×7 and 7×1 kernels, one and several images,
// channel counts that leave partial panels and blocks.
func directConvCases() []ConvParams {
	return []ConvParams{
		{N: 8, C: 3, H: 40, W: 64, Cout: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, // the stem, smaller
		{N: 1, C: 3, H: 33, W: 35, Cout: 13, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{N: 3, C: 2, H: 9, W: 40, Cout: 5, KH: 3, KW: 3, PadH: 1, PadW: 1},
		{N: 2, C: 1, H: 15, W: 19, Cout: 17, KH: 5, KW: 5, PadH: 2, PadW: 2},
		{N: 2, C: 4, H: 18, W: 23, Cout: 9, KH: 3, KW: 3},                                                      // no padding
		{N: 2, C: 4, H: 15, W: 18, Cout: 7, KH: 1, KW: 1},                                                      // direct view
		{N: 2, C: 3, H: 25, W: 17, Cout: 6, KH: 7, KW: 1},                                                      // direct view, 7×1
		{N: 1, C: 3, H: 10, W: 30, Cout: 8, KH: 1, KW: 7, PadW: 3},                                             // 1×7
		{N: 2, C: 3, H: 30, W: 50, Cout: 10, KH: 3, KW: 3, StrideH: 3, StrideW: 2, PadH: 2, PadW: 1},           // strides 3 and 2
		{N: 2, C: 2, H: 14, W: 60, Cout: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 3, PadH: 1, PadW: 2},            // stride 3 across
		{N: 2, C: 2, H: 12, W: 24, Cout: 6, KH: 3, KW: 3, PadH: 2, PadW: 2, DilH: 2, DilW: 2},                  // dilation
		{N: 2, C: 4, H: 27, W: 40, Cout: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 2}, // groups
		{N: 3, C: 6, H: 15, W: 20, Cout: 9, KH: 2, KW: 2, PadH: 1, PadW: 0, Groups: 3},
		{N: 1, C: 7, H: 6, W: 16, Cout: 40, KH: 3, KW: 3, PadH: 1, PadW: 1},                         // depth 63, 16 columns exactly
		{N: 2, C: 3, H: 70, W: 70, Cout: 3, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, // 35 columns: three vectors, the last of 3 lanes
	}
}

// TestConvDirect checks the direct convolutions against the definition on
// every kernel path, 1 and 2 threads, in one band and in bands of a few
// rows, with outputs filled with NaN or noise beforehand.
func TestConvDirect(t *testing.T) {
	savedFwd, savedWgt := fwdBandBytes, wgtBandBytes
	defer func() { fwdBandBytes, wgtBandBytes = savedFwd, savedWgt }()
	forEachConvKernel(t, func(t *testing.T, ck *convKernels) {
		rng := rand.New(rand.NewPCG(35, 36))
		for _, p := range directConvCases() {
			if v := newConvView(p.norm()); !v.useDirect(active) || v.forwardChunk() > 1 {
				t.Fatalf("%v: not on the direct path", p)
			}
			x := randSlice(rng, p.N*p.C*p.H*p.W)
			w := randSlice(rng, p.Cout*(p.C/p.norm().Groups)*p.KH*p.KW)
			b := randSlice(rng, p.Cout)
			g := randSlice(rng, p.N*p.Cout*p.OutH()*p.OutW())
			ref := newConvRef(p, x, w, b, g)
			for _, threads := range []int{1, 2} {
				saved := Threads()
				SetThreads(threads)
				for _, band := range []int{savedFwd, 1} { // the default bands and one row per band
					fwdBandBytes, wgtBandBytes = band, band
					name := fmt.Sprintf("threads=%d band=%d %v", threads, band, p)
					y := make([]float32, len(g))
					for i := range y {
						y[i] = float32(math.NaN())
					}
					Conv2dForward(p, x, w, b, y)
					directClose(t, name+" y", y, ref.y, ref.scale)
					Conv2dForward(p, x, w, nil, y)
					directClose(t, name+" y (no bias)", y, ref.y0, ref.scale)
					dw := make([]float32, len(w))
					for i := range dw {
						dw[i] = float32(math.NaN())
					}
					db := randSlice(rng, len(b))
					Conv2dBackwardWeight(p, x, g, dw, db)
					directClose(t, name+" dw", dw, ref.dw, ref.scale*10)
					directClose(t, name+" db", db, ref.db, ref.scale*10)
					dx := randSlice(rng, len(x))
					Conv2dBackwardData(p, g, w, dx)
					directClose(t, name+" dx", dx, ref.dx, ref.scale)
				}
				SetThreads(saved)
			}
		}
	})
}

// directClose fails unless got matches the float64 reference want within
// float32 rounding of sums of about scale² terms: |got − want| ≤
// 1e-4·(scale + |want|) for every element (NaN fails).
func directClose(t *testing.T, what string, got []float32, want []float64, scale float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-4*(scale+math.Abs(want[i]))) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestFwdTile checks the forward tile choice: within the kernels' limits,
// and the measured best for the stem.
func TestFwdTile(t *testing.T) {
	forEachConvKernel(t, func(t *testing.T, ck *convKernels) {
		for _, coutG := range []int{1, 3, 8, 13, 32, 64} {
			for _, ow := range []int{16, 17, 33, 64, 112} {
				mr, nv := ck.fwdTile(coutG, ow)
				if mr < 1 || mr > ck.fwdRows || nv < 1 || nv > ck.fwdVecs(mr) || nv > (ow+15)/16 {
					t.Errorf("fwdTile(%d, %d) = %d×%d", coutG, ow, mr, nv)
				}
			}
		}
		if active.name == "avx512" {
			if mr, nv := ck.fwdTile(32, 64); mr != 8 || nv != 2 {
				t.Errorf("stem tile %d×%d, want 8×2", mr, nv)
			}
		}
	})
}
