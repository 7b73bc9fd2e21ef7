package cpu

import (
	"fmt"
	"sync"
)

// GEMM is organised as in BLIS (Van Zee & van de Geijn), written for
// row-major C. op(A) is cut into blocks of mc×kc rows×depth, packed into
// micro-panels of MR rows stored k-major (for each p, MR values); op(B) is
// cut into blocks of kc×nc, packed into micro-panels of NR columns stored
// k-major (for each p, NR contiguous values). The micro-kernel multiplies one
// A micro-panel by one B micro-panel into an MR×NR tile of C, keeping the
// tile in registers for the whole kc loop: it broadcasts A values and loads
// B vectors. The A micro-panel (kc×MR) stays in L1 while the loop over B
// micro-panels streams the packed B block from L2; the packed A block lives
// in L2/L3.
//
// Loop nest (one thread):
//
//	for ic in M step MC          // packed A block: MC×KC
//	  for pc in K step KC        // beta applies on the first pc only
//	    pack A[ic:ic+mc, pc:pc+kc]
//	    for jc in N step NC      // packed B block: KC×NC, sized for L2
//	      pack B[pc:pc+kc, jc:jc+nc]
//	      for ir in mc step MR
//	        for jr in nc step NR
//	          micro-kernel → C[ic+ir : +MR, jc+jr : +NR]
//
// Large products are split across threads by rows (or by columns when there
// are few rows); each thread packs its own operands, so threads never wait on
// each other.

// kernel describes one micro-kernel implementation and its blocking sizes.
type kernel struct {
	name   string
	mr, nr int // micro-tile: mr rows × nr columns of C
	vecs   int // vectors per row of the tile (nr/vecs floats each); 0 for scalar code
	mc     int // rows of op(A) per packed A block (multiple of mr)
	kc     int // depth per packed block
	nc     int // columns of op(B) per packed B block (multiple of nr)
	// micro computes the full mr×nr tile
	//   c[i*ldc+j] = alpha * Σ_p a[p*mr+i]*b[p*nr+j] + beta*c[i*ldc+j] (+ bias[i])
	// for p in [0, kc); when beta == 0, c is not read; bias may be nil.
	micro microFunc
	// asmPack says the packing routines may use AVX-512 assembly.
	asmPack bool
	// direct, when not nil, returns a micro-kernel computing the first mrr
	// rows and nrr columns of a tile (nrr a multiple of the vector width)
	// from unpacked row-major A (row i at a[i*lda:], the tile's depth
	// contiguous) and a packed B panel: for products with few columns,
	// where packing A would cost more than it saves.
	direct func(mrr, nrr int) microDirectFunc
	// edge, when not nil, returns a micro-kernel that computes only the
	// first mrr rows and nrr columns of a tile (same packing, c is mrr×nrr),
	// or nil when it has none for that shape.
	edge func(mrr, nrr int) microFunc
	// conv, when not nil, holds direct-convolution kernels for
	// convolutions of small depth (conv_direct.go).
	conv *convKernels
}

// microDirectFunc is the signature of a direct-A micro-kernel (see
// kernel.direct).
type microDirectFunc func(kc int, a []float32, lda int, b, c []float32, ldc int, alpha, beta float32, bias []float32)

// microFunc is the signature of a micro-kernel (see kernel.micro); bias,
// when not nil, holds one value per row added to the tile.
type microFunc func(kc int, a, b, c []float32, ldc int, alpha, beta float32, bias []float32)

// active is the kernel Sgemm uses; chosen at start-up from the CPU features
// (see kernels_amd64.go) and replaceable in tests with useKernel.
var active = genericKernel

// Kernels lists the names of the micro-kernel paths this build can run on
// this CPU, best first (for example "avx512", "avx2", "generic").
func Kernels() []string {
	var names []string
	for _, k := range availableKernels() {
		names = append(names, k.name)
	}
	return names
}

// Kernel reports the name of the micro-kernel path Sgemm uses.
func Kernel() string { return active.name }

// UseKernel makes Sgemm (and everything built on it) use the named
// micro-kernel path, one of Kernels(); it returns an error for an unknown or
// unavailable name. It is meant for tests and benchmarks and must not be
// called while kernels run.
func UseKernel(name string) error {
	for _, k := range availableKernels() {
		if k.name == name {
			active = k
			return nil
		}
	}
	return fmt.Errorf("cpu.UseKernel: kernel %q is not available here (have %v)", name, Kernels())
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or Xᵀ.
//
// op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb, ldc are the row strides of
// A, B, C as stored: A is stored m×k (lda ≥ k) when transA is false and k×m
// (lda ≥ m) when it is true; likewise B is stored k×n (ldb ≥ n) or n×k
// (ldb ≥ k). Element (i, j) of C is c[i*ldc+j]. beta == 0 means C is
// overwritten (never read, so NaNs in C do not propagate). Large products run
// on all Threads(); small ones on the calling goroutine. Sgemm panics when a
// size is negative or a slice is too short for its sizes and strides.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if gemv(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	pa := func(i0, mc, p0, kc, mr int, dst []float32) { packA(transA, a, lda, i0, mc, p0, kc, mr, dst) }
	pb := func(p0, kc, j0, nc, nr int, dst []float32) { packB(transB, b, ldb, p0, kc, j0, nc, nr, dst) }
	kern := active
	var da *directA
	if !transA && kern.direct != nil && n <= directMaxPanels*kern.nr {
		da = &directA{a, lda}
	}
	gemmParallel(kern, m, n, k, alpha, pa, pb, beta, c, ldc, nil, da)
}

// directMaxPanels is the number of B panels (column blocks of nr) up to
// which Sgemm reads a row-major A unpacked (see kernel.direct).
const directMaxPanels = 4

// directA is a row-major A read in place by the direct micro-kernels.
type directA struct {
	a   []float32
	lda int
}

// rows returns the directA from row i on.
func (d *directA) rows(i int) *directA {
	if d == nil {
		return nil
	}
	return &directA{d.a[i*d.lda:], d.lda}
}

// aPacker packs op(A)[i0:i0+mc, p0:p0+kc] into micro-panels of mr rows: panel
// q holds, for each p, the mr values op(A)[i0+q*mr+i, p0+p], rows past mc
// zero-filled. dst has room for ceil(mc/mr)*mr*kc values.
type aPacker func(i0, mc, p0, kc, mr int, dst []float32)

// bPacker packs op(B)[p0:p0+kc, j0:j0+nc] into micro-panels of nr columns:
// panel q holds, for each p, the nr values op(B)[p0+p, j0+q*nr+j], columns
// past nc zero-filled. dst has room for ceil(nc/nr)*nr*kc values.
type bPacker func(p0, kc, j0, nc, nr int, dst []float32)

// gemmParallel computes C = alpha*op(A)*op(B) + beta*C (+ bias[i] on row
// i when bias is not nil; C is m×n, stride ldc; k > 0, alpha != 0) with
// operands given by their packers, on all Threads() when the product is
// large and the pool is free.
// When da is not nil, A is read from it unpacked (pa is not used).
func gemmParallel(kern kernel, m, n, k int, alpha float32, pa aPacker, pb bPacker, beta float32, c []float32, ldc int, bias []float32, da *directA) {
	threads := Threads()
	if threads < 2 || float64(m)*float64(n)*float64(k) < parallelMinMNK {
		gemmPacked(kern, m, n, k, alpha, pa, pb, beta, c, ldc, bias, da)
		return
	}
	// Split rows or columns, whichever leaves the busiest thread the least
	// work (rows on a tie: each thread then packs all of B).
	mTiles := (m + kern.mr - 1) / kern.mr
	nTiles := (n + kern.nr - 1) / kern.nr
	mParts, nParts := min(threads, mTiles), min(threads, nTiles)
	mCost := min(m, (mTiles+mParts-1)/mParts*kern.mr) * n
	nCost := min(n, (nTiles+nParts-1)/nParts*kern.nr) * m
	if mCost <= nCost {
		parallelTasks(mParts, func(t int) {
			lo := t * mTiles / mParts * kern.mr
			hi := min(m, (t+1)*mTiles/mParts*kern.mr)
			sub := func(i0, mc, p0, kc, mr int, dst []float32) { pa(lo+i0, mc, p0, kc, mr, dst) }
			var b []float32
			if bias != nil {
				b = bias[lo:]
			}
			gemmPacked(kern, hi-lo, n, k, alpha, sub, pb, beta, c[lo*ldc:], ldc, b, da.rows(lo))
		})
		return
	}
	gemmColumns(kern, m, n, k, alpha, pa, pb, beta, c, ldc, bias, da)
}

// gemmColumns is gemmParallel splitting only the columns of C over the
// threads, so that each thread packs all of A but only its own columns of
// B: for products whose B (k×n) is much larger than A (m×k), where a
// split by rows would have every thread pack all of B.
func gemmColumns(kern kernel, m, n, k int, alpha float32, pa aPacker, pb bPacker, beta float32, c []float32, ldc int, bias []float32, da *directA) {
	nTiles := (n + kern.nr - 1) / kern.nr
	parts := min(Threads(), nTiles)
	if parts < 2 || float64(m)*float64(n)*float64(k) < parallelMinMNK {
		gemmPacked(kern, m, n, k, alpha, pa, pb, beta, c, ldc, bias, da)
		return
	}
	parallelTasks(parts, func(t int) {
		lo := t * nTiles / parts * kern.nr
		hi := min(n, (t+1)*nTiles/parts*kern.nr)
		sub := func(p0, kc, j0, nc, nr int, dst []float32) { pb(p0, kc, lo+j0, nc, nr, dst) }
		gemmPacked(kern, m, hi-lo, k, alpha, pa, sub, beta, c[lo:], ldc, bias, da)
	})
}

// parallelMinMNK is the m*n*k below which Sgemm stays on one goroutine.
var parallelMinMNK = 96.0 * 96 * 96

// offA is the offset in a of op(A)[i, p].
func offA(transA bool, i, p, lda int) int {
	if transA {
		return p*lda + i
	}
	return i*lda + p
}

// offB is the offset in b of op(B)[p, j].
func offB(transB bool, p, j, ldb int) int {
	if transB {
		return j*ldb + p
	}
	return p*ldb + j
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu.Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, rows, cols int, s []float32, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("cpu.Sgemm: %s is %d×%d but its row stride is %d", name, rows, cols, ld))
		}
		if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("cpu.Sgemm: %s is %d×%d with row stride %d and needs %d values, has %d", name, rows, cols, ld, (rows-1)*ld+cols, len(s)))
		}
	}
	check("A", ar, ac, a, lda)
	check("B", br, bc, b, ldb)
	check("C", m, n, c, ldc)
}

// scaleC sets C = beta*C (C = 0 when beta == 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// gemmBuffers holds one thread's packing buffers, reused through a sync.Pool
// so that steady-state GEMM allocates nothing.
type gemmBuffers struct {
	a, b []float32
	tile []float32
}

var gemmBufPool = sync.Pool{New: func() any { return new(gemmBuffers) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gemmPacked runs the blocked loop nest on the calling goroutine.
func gemmPacked(kern kernel, m, n, k int, alpha float32, pa aPacker, pb bPacker, beta float32, c []float32, ldc int, bias []float32, da *directA) {
	if kern.direct == nil {
		da = nil
	}
	mr, nr := kern.mr, kern.nr
	bufs := gemmBufPool.Get().(*gemmBuffers)
	defer gemmBufPool.Put(bufs)
	mcMax := min(kern.mc, (m+mr-1)/mr*mr)
	kcMax := min(kern.kc, k)
	ncMax := min(kern.nc, (n+nr-1)/nr*nr)
	bufs.a = grow(bufs.a, mcMax*kcMax)
	bufs.b = grow(bufs.b, kcMax*ncMax)
	bufs.tile = grow(bufs.tile, mr*nr)
	ap, bp, tile := bufs.a, bufs.b, bufs.tile

	for ic := 0; ic < m; ic += kern.mc {
		mc := min(kern.mc, m-ic)
		for pc := 0; pc < k; pc += kern.kc {
			kc := min(kern.kc, k-pc)
			bet, bs := beta, bias // beta and bias apply once, on the first block of k
			if pc > 0 {
				bet, bs = 1, nil
			}
			if da == nil {
				pa(ic, mc, pc, kc, mr, ap)
			}
			for jc := 0; jc < n; jc += kern.nc {
				nc := min(kern.nc, n-jc)
				pb(pc, kc, jc, nc, nr, bp)
				tiles := func(ir, jr int) {
					mrr, nrr := min(mr, mc-ir), min(nr, nc-jr)
					apan := ap[ir*kc : ir*kc+mr*kc]
					bpan := bp[jr*kc : jr*kc+nr*kc]
					coff := (ic+ir)*ldc + jc + jr
					var rb []float32
					if bs != nil {
						rb = bs[ic+ir : ic+ir+mrr]
					}
					if da != nil {
						aa := da.a[(ic+ir)*da.lda+pc:]
						if f := kern.direct(mrr, nrr); f != nil {
							f(kc, aa, da.lda, bpan, c[coff:], ldc, alpha, bet, rb)
							return
						}
						// Columns short of a vector: whole vectors into the scratch tile.
						w := kern.nr / kern.vecs
						f := kern.direct(mrr, (nrr+w-1)/w*w)
						f(kc, aa, da.lda, bpan, tile, nr, alpha, 0, nil)
						mergeTile(c[coff:], ldc, tile, nr, mrr, nrr, bet, rb)
						return
					}
					if mrr == mr && nrr == nr {
						kern.micro(kc, apan, bpan, c[coff:], ldc, alpha, bet, rb)
						return
					}
					if kern.edge != nil {
						if f := kern.edge(mrr, nrr); f != nil {
							f(kc, apan, bpan, c[coff:], ldc, alpha, bet, rb)
							return
						}
					}
					// Edge tile: compute into a scratch tile, then merge.
					kern.micro(kc, apan, bpan, tile, nr, alpha, 0, nil)
					mergeTile(c[coff:], ldc, tile, nr, mrr, nrr, bet, rb)
				}
				for ir := 0; ir < mc; ir += mr {
					for jr := 0; jr < nc; jr += nr {
						tiles(ir, jr)
					}
				}
			}
		}
	}
}

// gemv handles the matrix-vector products (m == 1 or n == 1) whose vector
// operands are contiguous with dot and axpy loops instead of packing; it
// reports whether it did.
func gemv(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	grain := max(1, (1<<16)/k) // outputs per thread hand-off
	switch {
	case m == 1 && (!transA || lda == 1):
		// c (1×n) = alpha · a (1×k) · op(B) + beta · c, a contiguous.
		row, av := c[:n], a[:k]
		if transB {
			// op(B)[p, j] = b[j*ldb + p]: one dot product per column.
			ParallelGrain(n, grain, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					v := alpha * dot(av, b[j*ldb:j*ldb+k])
					if beta != 0 {
						v += beta * row[j]
					}
					row[j] = v
				}
			})
			return true
		}
		// Rows of B scaled by a[p] and accumulated.
		ParallelGrain(n, max(grain, 64), func(lo, hi int) {
			seg := row[lo:hi]
			scaleC(1, hi-lo, beta, seg, hi-lo)
			for p, ap := range av {
				axpy(alpha*ap, b[p*ldb+lo:p*ldb+hi], seg)
			}
		})
		return true
	case n == 1 && !transA && (transB || ldb == 1):
		// c (m×1) = alpha · A (m×k) · b + beta · c, rows of A and b contiguous.
		bv := b[:k]
		ParallelGrain(m, grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				v := alpha * dot(a[i*lda:i*lda+k], bv)
				if beta != 0 {
					v += beta * c[i*ldc]
				}
				c[i*ldc] = v
			}
		})
		return true
	}
	return false
}

// mergeTile sets the mrr×nrr corner of C (stride ldc) to the scratch tile
// (stride nr) plus beta·C (C not read when beta == 0) plus bias[i] on row i
// when bias is not nil.
func mergeTile(c []float32, ldc int, tile []float32, nr, mrr, nrr int, beta float32, bias []float32) {
	for i := 0; i < mrr; i++ {
		crow := c[i*ldc : i*ldc+nrr]
		trow := tile[i*nr : i*nr+nrr]
		var b float32
		if bias != nil {
			b = bias[i]
		}
		if beta == 0 {
			for j, v := range trow {
				crow[j] = v + b
			}
		} else {
			for j, v := range trow {
				crow[j] = v + beta*crow[j] + b
			}
		}
	}
}
