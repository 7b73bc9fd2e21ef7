package tensor

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/internal/cpu"
)

// MatMul returns the matrix product of a and b with torch.matmul semantics:
// 1-D·1-D is a dot product (a scalar); a 1-D first argument is treated as a
// row and a 1-D second argument as a column, the added dimension removed from
// the result; for (…, m, k)·(…, k, n) the batch dimensions broadcast and the
// result is (…, m, n).
func MatMul(a, b *Tensor) *Tensor {
	if a.Dim() == 0 || b.Dim() == 0 {
		panic(fmt.Sprintf("tensor.MatMul: shapes %s and %s: both arguments need at least 1 dimension", FormatShape(a.shape), FormatShape(b.shape)))
	}
	if kb := b.shape[max(b.Dim()-2, 0)]; a.shape[a.Dim()-1] != kb {
		panic(fmt.Sprintf("tensor.MatMul: shapes %s and %s cannot be multiplied (%d != %d)", FormatShape(a.shape), FormatShape(b.shape), a.shape[a.Dim()-1], kb))
	}
	a2, b2 := a, b
	if a.Dim() == 1 {
		a2 = Unsqueeze(a, 0)
	}
	if b.Dim() == 1 {
		b2 = Unsqueeze(b, 1)
	}
	out := batchedMatMul(a2, b2)
	switch {
	case a.Dim() == 1 && b.Dim() == 1:
		return Reshape(out)
	case a.Dim() == 1:
		return Squeeze(out, -2)
	case b.Dim() == 1:
		return Squeeze(out, -1)
	}
	return out
}

// batchedMatMul multiplies (…, m, k) by (…, k, n), both at least 2-D.
func batchedMatMul(a, b *Tensor) *Tensor {
	na, nb := a.Dim(), b.Dim()
	m, k := a.shape[na-2], a.shape[na-1]
	k2, n := b.shape[nb-2], b.shape[nb-1]
	if k != k2 {
		panic(fmt.Sprintf("tensor.MatMul: shapes %s and %s cannot be multiplied (%d != %d)", FormatShape(a.shape), FormatShape(b.shape), k, k2))
	}
	batch, ok := BroadcastShapes(a.shape[:na-2], b.shape[:nb-2])
	if !ok {
		panic(fmt.Sprintf("tensor.MatMul: batch dimensions of %s and %s cannot broadcast", FormatShape(a.shape), FormatShape(b.shape)))
	}
	ae := Expand(a.Detach(), append(slices.Clone(batch), m, k)...)
	be := Expand(b.Detach(), append(slices.Clone(batch), k, n)...)
	outShape := append(slices.Clone(batch), m, n)
	out := Zeros(outShape...)
	gemmBatch(false, false, Numel(batch), m, n, k, ae.data, be.data, out.data)
	return Record("MatMul", out, func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		nbatch := Numel(batch)
		if a.requiresGrad {
			// dA = g · Bᵀ
			r := Zeros(append(slices.Clone(batch), m, k)...)
			gemmBatch(false, true, nbatch, m, k, n, g.data, be.data, r.data)
			ga = SumTo(r, a.shape)
		}
		if b.requiresGrad {
			// dB = Aᵀ · g
			r := Zeros(append(slices.Clone(batch), k, n)...)
			gemmBatch(true, false, nbatch, k, n, m, ae.data, g.data, r.data)
			gb = SumTo(r, b.shape)
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// gemmBatch computes c[i] = op(a[i])·op(b[i]) for nbatch row-major products
// with op(a) m×k and op(b) k×n; a[i] is stored as m×k (k×m if transA) and
// b[i] as k×n (n×k if transB).
func gemmBatch(transA, transB bool, nbatch, m, n, k int, a, b, c []float32) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	if m == 0 || n == 0 || k == 0 {
		return // c is already zero: an empty sum
	}
	sa, sb, sc := m*k, k*n, m*n
	one := func(i int) {
		cpu.Sgemm(transA, transB, m, n, k, 1, a[i*sa:(i+1)*sa], lda, b[i*sb:(i+1)*sb], ldb, 0, c[i*sc:(i+1)*sc], n)
	}
	if nbatch == 1 || m*n*k < 32*32*32 {
		for i := 0; i < nbatch; i++ {
			one(i)
		}
		return
	}
	cpu.Parallel(nbatch, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			one(i)
		}
	})
}
