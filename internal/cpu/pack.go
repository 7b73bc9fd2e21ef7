package cpu

import "fmt"

// Packing primitives shared by GEMM and the convolutions. Both fill rows of
// a packed panel: for p in [0, kc) the row dst[p*stride : p*stride+stride]
// gets cols (or rows) values from src and zeros after them. packRows reads a
// contiguous run per p (offsets given per p); packTranspose reads one value
// per source row per p (a transposing pack). On CPUs with AVX-512 both run in
// assembly when the active kernel allows it (stride ≤ 48).

// packRows sets, for p in [0, len(offs)), dst[p*stride+q] = src[base+offs[p]+q]
// for q < cols and dst[p*stride+q] = 0 for cols ≤ q < stride.
func packRows(dst, src []float32, base int, offs []int32, cols, stride int) {
	packRowsLanes(dst, src, base, offs, cols, stride, stride)
}

// packRowsLanes is packRows writing only the first lanes (≥ cols) values of
// each row of dst: the values from src, then zeros.
func packRowsLanes(dst, src []float32, base int, offs []int32, cols, lanes, stride int) {
	if len(offs) == 0 {
		return
	}
	lo, hi := minmax(offs)
	packRowsLanesIn(dst, src, base, offs, lo, hi, cols, lanes, stride)
}

// packRowsLanesIn is packRowsLanes given bounds lo ≤ offs[p] ≤ hi.
func packRowsLanesIn(dst, src []float32, base int, offs []int32, lo, hi int32, cols, lanes, stride int) {
	kc := len(offs)
	if kc == 0 || lanes == 0 {
		return
	}
	_ = dst[(kc-1)*stride+lanes-1]
	if cols > 0 {
		if base+int(lo) < 0 || base+int(hi)+cols > len(src) {
			panic(fmt.Sprintf("cpu.packRows: offsets [%d, %d]+%d outside %d values", base+int(lo), base+int(hi), cols, len(src)))
		}
	}
	if active.asmPack && lanes <= 48 {
		packRowsAsm(dst, src, base, offs, cols, lanes, stride)
		return
	}
	for p, o := range offs {
		d := dst[p*stride : p*stride+lanes]
		s := base + int(o)
		copy(d[:cols], src[s:s+cols])
		clear(d[cols:])
	}
}

// packTranspose sets, for p in [0, kc), dst[p*stride+q] =
// src[base+q*srcStride+p] for q < rows and dst[p*stride+q] = 0 for
// rows ≤ q < stride: it packs rows of src as columns.
func packTranspose(dst, src []float32, base, srcStride, rows, kc, stride int) {
	var buf [48]int32
	if rows > len(buf) || !fits32(src) {
		packTransposeSlow(dst, src, base, srcStride, rows, kc, stride)
		return
	}
	offs := buf[:rows]
	for q := range offs {
		offs[q] = int32(q * srcStride)
	}
	packTransposeOffs(dst, src, base, offs, kc, stride)
}

// packTransposeOffs sets, for p in [0, kc), dst[p*stride+q] =
// src[base+offs[q]+p] for q < len(offs) and dst[p*stride+q] = 0 for
// len(offs) ≤ q < stride.
func packTransposeOffs(dst, src []float32, base int, offs []int32, kc, stride int) {
	var lo, hi int32
	if len(offs) > 0 {
		lo, hi = minmax(offs)
	}
	packTransposeOffsIn(dst, src, base, offs, lo, hi, kc, stride)
}

// packTransposeOffsIn is packTransposeOffs given bounds lo ≤ offs[q] ≤ hi.
func packTransposeOffsIn(dst, src []float32, base int, offs []int32, lo, hi int32, kc, stride int) {
	rows := len(offs)
	if kc == 0 {
		return
	}
	_ = dst[(kc-1)*stride+stride-1]
	if rows > 0 {
		if base+int(lo) < 0 || base+int(hi)+kc > len(src) {
			panic(fmt.Sprintf("cpu.packTransposeOffs: offsets [%d, %d]+%d outside %d values", base+int(lo), base+int(hi), kc, len(src)))
		}
	}
	if active.asmPack && stride <= 48 && rows <= 48 {
		var zero [1]int32
		for h := 0; 16*h < stride; h++ {
			lanes := min(16, stride-16*h)
			r := min(16, max(0, rows-16*h))
			o := zero[:]
			if r > 0 {
				o = offs[16*h : 16*h+r]
			}
			transposePackAsm(dst[16*h:], stride, src, base, o, r, kc, uint32(1)<<lanes-1)
		}
		return
	}
	for q, o := range offs {
		s := src[base+int(o) : base+int(o)+kc]
		for p, v := range s {
			dst[p*stride+q] = v
		}
	}
	for q := rows; q < stride; q++ {
		for p := 0; p < kc; p++ {
			dst[p*stride+q] = 0
		}
	}
}

func minmax(s []int32) (lo, hi int32) {
	lo, hi = s[0], s[0]
	for _, v := range s[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// packTransposeSlow is packTranspose without offset tables.
func packTransposeSlow(dst, src []float32, base, srcStride, rows, kc, stride int) {
	for q := 0; q < rows; q++ {
		s := src[base+q*srcStride : base+q*srcStride+kc]
		for p, v := range s {
			dst[p*stride+q] = v
		}
	}
	for q := rows; q < stride; q++ {
		for p := 0; p < kc; p++ {
			dst[p*stride+q] = 0
		}
	}
}

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into micro-panels of mr rows (see
// aPacker).
func packA(transA bool, a []float32, lda, i0, mc, p0, kc, mr int, dst []float32) {
	var offsBuf [512]int32
	if !fits32(a) {
		packASlow(transA, a, lda, i0, mc, p0, kc, mr, dst)
		return
	}
	for ir := 0; ir < mc; ir += mr {
		mrr := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+mr*kc]
		if transA {
			// op(A)[i, p] = a[p*lda + i]: a contiguous run of mrr per p.
			for p := 0; p < kc; p += len(offsBuf) {
				n := min(len(offsBuf), kc-p)
				offs := offsBuf[:n]
				for q := range offs {
					offs[q] = int32((p0 + p + q) * lda)
				}
				packRows(panel[p*mr:], a, i0+ir, offs, mrr, mr)
			}
			continue
		}
		packTranspose(panel, a, (i0+ir)*lda+p0, lda, mrr, kc, mr)
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into micro-panels of nr columns (see
// bPacker).
func packB(transB bool, b []float32, ldb, p0, kc, j0, nc, nr int, dst []float32) {
	var offsBuf [512]int32
	if !fits32(b) {
		packBSlow(transB, b, ldb, p0, kc, j0, nc, nr, dst)
		return
	}
	for jr := 0; jr < nc; jr += nr {
		nrr := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+nr*kc]
		if !transB {
			for p := 0; p < kc; p += len(offsBuf) {
				n := min(len(offsBuf), kc-p)
				offs := offsBuf[:n]
				for q := range offs {
					offs[q] = int32((p0 + p + q) * ldb)
				}
				packRows(panel[p*nr:], b, j0+jr, offs, nrr, nr)
			}
			continue
		}
		packTranspose(panel, b, (j0+jr)*ldb+p0, ldb, nrr, kc, nr)
	}
}

// fits32 reports whether every offset into s fits in an int32.
func fits32(s []float32) bool { return len(s) < 1<<31 }

// packASlow is packA without the int32 offset tables, for huge matrices.
func packASlow(transA bool, a []float32, lda, i0, mc, p0, kc, mr int, dst []float32) {
	for ir := 0; ir < mc; ir += mr {
		mrr := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+mr*kc]
		for p := 0; p < kc; p++ {
			for i := 0; i < mr; i++ {
				v := float32(0)
				if i < mrr {
					v = a[offA(transA, i0+ir+i, p0+p, lda)]
				}
				panel[p*mr+i] = v
			}
		}
	}
}

// packBSlow is packB without the int32 offset tables, for huge matrices.
func packBSlow(transB bool, b []float32, ldb, p0, kc, j0, nc, nr int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		nrr := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+nr*kc]
		for p := 0; p < kc; p++ {
			for j := 0; j < nr; j++ {
				v := float32(0)
				if j < nrr {
					v = b[offB(transB, p0+p, j0+jr+j, ldb)]
				}
				panel[p*nr+j] = v
			}
		}
	}
}
