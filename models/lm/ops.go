package lm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// This file holds the model's fused differentiable operations: GPT-2's Conv1D (a linear
// layer whose weight is stored (in, out)), RMSNorm, and causal attention over a past.

// conv1D returns x·w + b, x: (…, in), w: (in, out), b: (out) or nil; result (…, out).
// It is Hugging Face's Conv1D (torch.addmm(b, x, w)): the weight is the transpose of
// nn.Linear's.
func conv1D(x, w, b *tensor.Tensor) *tensor.Tensor {
	if w.Dim() != 2 || x.Dim() < 1 || x.SizeOf(-1) != w.SizeOf(0) || (b != nil && (b.Dim() != 1 || b.Size() != w.SizeOf(1))) {
		bs := "nil"
		if b != nil {
			bs = tensor.FormatShape(b.Shape())
		}
		panic(fmt.Sprintf("lm.Conv1D: input %s, weight %s, bias %s: want input (…, in), weight (in, out), bias (out)",
			tensor.FormatShape(x.Shape()), tensor.FormatShape(w.Shape()), bs))
	}
	in, out := w.SizeOf(0), w.SizeOf(1)
	m := tensor.Numel(x.Shape()[:x.Dim()-1])
	shape := append(append([]int{}, x.Shape()[:x.Dim()-1]...), out)
	y := tensor.Empty(shape...)
	xd, wd, yd := x.Data(), w.Data(), y.Data()
	var beta float32
	if b != nil {
		bd := b.Data()
		for r := 0; r < m; r++ {
			copy(yd[r*out:(r+1)*out], bd)
		}
		beta = 1
	}
	if in == 0 {
		if b == nil {
			clear(yd)
		}
	} else {
		cpu.Sgemm(false, false, m, out, in, 1, xd, in, wd, out, beta, yd, max(out, 1))
	}
	return tensor.Record("Conv1D", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw, gb *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Zeros(x.Shape()...)
			cpu.Sgemm(false, true, m, in, out, 1, gd, max(out, 1), wd, max(out, 1), 0, gx.Data(), max(in, 1))
		}
		if w.RequiresGrad() {
			gw = tensor.Zeros(w.Shape()...)
			cpu.Sgemm(true, false, in, out, m, 1, xd, max(in, 1), gd, max(out, 1), 0, gw.Data(), max(out, 1))
		}
		if b != nil && b.RequiresGrad() {
			gb = tensor.Zeros(out)
			acc := make([]float64, out)
			for r := 0; r < m; r++ {
				for j, v := range gd[r*out : (r+1)*out] {
					acc[j] += float64(v)
				}
			}
			for j, v := range acc {
				gb.Data()[j] = float32(v)
			}
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, w, b)
}

// normChunk is the number of rows whose weight-gradient partial sums rmsNorm adds
// together before the partials are summed in order, so results do not depend on the
// number of threads.
const normChunk = 32

// rmsNorm returns x/√(mean(x²) + eps)·w over the last dimension: x (…, d), w (d) or nil.
// Statistics are taken in float64.
func rmsNorm(x, w *tensor.Tensor, eps float64) *tensor.Tensor {
	if x.Dim() < 1 || (w != nil && (w.Dim() != 1 || w.Size() != x.SizeOf(-1))) {
		ws := "nil"
		if w != nil {
			ws = tensor.FormatShape(w.Shape())
		}
		panic(fmt.Sprintf("lm.RMSNorm: input %s, weight %s: want input (…, d), weight (d)", tensor.FormatShape(x.Shape()), ws))
	}
	d := x.SizeOf(-1)
	rows := 0
	if d > 0 {
		rows = x.Size() / d
	}
	xd := x.Data()
	var wd []float32
	if w != nil {
		wd = w.Data()
	}
	inv := make([]float64, rows)
	y := tensor.Empty(x.Shape()...)
	yd := y.Data()
	cpu.ParallelGrain(rows, max(1, 16384/max(d, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*d : (r+1)*d]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			is := 1 / math.Sqrt(ss/float64(d)+eps)
			inv[r] = is
			out := yd[r*d : (r+1)*d]
			for j, v := range row {
				o := float32(float64(v) * is)
				if wd != nil {
					o *= wd[j]
				}
				out[j] = o
			}
		}
	})
	return tensor.Record("RMSNorm", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw *tensor.Tensor
		needW := w != nil && w.RequiresGrad()
		if x.RequiresGrad() {
			gx = tensor.Empty(x.Shape()...)
		}
		chunks := (rows + normChunk - 1) / normChunk
		var parts [][]float64
		if needW {
			parts = make([][]float64, chunks)
		}
		cpu.Parallel(chunks, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				var pw []float64
				if needW {
					pw = make([]float64, d)
					parts[c] = pw
				}
				for r := c * normChunk; r < min(rows, (c+1)*normChunk); r++ {
					xr, gr := xd[r*d:(r+1)*d], gd[r*d:(r+1)*d]
					is := inv[r]
					if gx != nil {
						// y = x·r·w: dx = r·(g⊙w) − x·r³·Σ(g⊙w⊙x)/d.
						var s float64
						for j, gv := range gr {
							gw := float64(gv)
							if wd != nil {
								gw *= float64(wd[j])
							}
							s += gw * float64(xr[j])
						}
						a := is * is * is * s / float64(d)
						out := gx.Data()[r*d : (r+1)*d]
						for j, gv := range gr {
							gw := float64(gv)
							if wd != nil {
								gw *= float64(wd[j])
							}
							out[j] = float32(is*gw - a*float64(xr[j]))
						}
					}
					if pw != nil {
						for j, gv := range gr {
							pw[j] += float64(gv) * float64(xr[j]) * is
						}
					}
				}
			}
		})
		if needW {
			gw = tensor.Zeros(d)
			acc := make([]float64, d)
			for _, p := range parts {
				for j, v := range p {
					acc[j] += v
				}
			}
			for j, v := range acc {
				gw.Data()[j] = float32(v)
			}
		}
		return []*tensor.Tensor{gx, gw}
	}, x, w)
}

// attention is GPT-2's causal multi-head attention after an optional past, fused into one
// differentiable operation that reads the queries, keys and values straight out of the
// c_attn projection (no head permutes, no concatenation with the past):
//
//	qkv (B, T, 3E): q, k, v side by side, each E = H·D wide, head h in columns h·D…(h+1)·D
//	pk, pv (B or 1, H, P, D): the past keys and values (a cache or a prefix), or nil
//
// Query t attends to the P past positions and to tokens 0…t (the causal mask shifted by
// P): A = softmax(scale·q·kᵀ + mask), out = dropout(A)·v, heads merged: (B, T, E). A past
// of batch 1 serves every sequence of the batch (its gradient is summed over the batch).
// Dropout (probability drop; 0 for none) draws one rng.Uint64 per (sequence, head), the
// seed of that head's mask, so masks do not depend on the number of threads. The
// backward pass keeps A (B·H·T·(P+T) floats) and the mask.
func attention(qkv, pk, pv *tensor.Tensor, heads int, scale, drop float32, rng *rand.Rand) *tensor.Tensor {
	if qkv.Dim() != 3 || heads <= 0 || qkv.SizeOf(2)%(3*heads) != 0 {
		panic(fmt.Sprintf("lm.attention: qkv %s with %d heads, want (B, T, 3E) with E divisible by the heads", tensor.FormatShape(qkv.Shape()), heads))
	}
	b, t, ld := qkv.SizeOf(0), qkv.SizeOf(1), qkv.SizeOf(2)
	e := ld / 3
	h, d := heads, ld/3/heads
	p, pb := 0, b
	if pk != nil || pv != nil {
		if pk == nil || pv == nil || pk.Dim() != 4 || !tensor.SameShape(pk.Shape(), pv.Shape()) || pk.SizeOf(1) != h || pk.SizeOf(3) != d ||
			(pk.SizeOf(0) != b && pk.SizeOf(0) != 1) {
			panic(fmt.Sprintf("lm.attention: past K %s, V %s, want (%d or 1, %d, P, %d) both", shapeOf(pk), shapeOf(pv), b, h, d))
		}
		p, pb = pk.SizeOf(2), pk.SizeOf(0)
	}
	s := p + t
	ts := t * s
	out := tensor.Empty(b, t, e)
	if t == 0 {
		return out
	}
	qd, od := qkv.Data(), out.Data()
	var pkd, pvd []float32
	if p > 0 {
		pkd, pvd = pk.Data(), pv.Data()
	}
	// pastOf returns the offset of sequence bi, head hd in the past tensors.
	pastOf := func(bi, hd int) int {
		if pb == 1 {
			bi = 0
		}
		return (bi*h + hd) * p * d
	}
	grad := tensor.AnyRequiresGrad(qkv, pk, pv)
	var probs, mask []float32
	if grad {
		probs = make([]float32, b*h*ts)
	}
	var seeds []uint64
	var threshold uint64
	keep := float32(1)
	if drop > 0 {
		if rng == nil {
			panic("lm.attention: dropout needs a random source, got a nil *rand.Rand")
		}
		seeds = make([]uint64, b*h)
		for i := range seeds {
			seeds[i] = rng.Uint64()
		}
		threshold = uint64(float64(drop) * (1 << 32))
		keep = 1 / (1 - drop)
		if grad {
			mask = make([]float32, b*h*ts)
		}
	}
	cpu.Parallel(b*h, func(lo, hi int) {
		var scratch, mscratch, dropped []float32
		if !grad {
			scratch = make([]float32, ts)
		}
		if drop > 0 {
			dropped = make([]float32, ts)
			if !grad {
				mscratch = make([]float32, ts)
			}
		}
		for bh := lo; bh < hi; bh++ {
			bi, hd := bh/h, bh%h
			a := scratch
			if grad {
				a = probs[bh*ts : (bh+1)*ts]
			}
			base := bi*t*ld + hd*d
			qb, kb, vb := qd[base:], qd[base+e:], qd[base+2*e:]
			if p > 0 {
				cpu.Sgemm(false, true, t, p, d, scale, qb, ld, pkd[pastOf(bi, hd):], d, 0, a, s)
			}
			cpu.Sgemm(false, true, t, t, d, scale, qb, ld, kb, ld, 0, a[p:], s)
			for r := 0; r < t; r++ {
				n := p + r + 1
				row := a[r*s : (r+1)*s]
				cpu.Softmax(row[:n], row[:n], 1, n)
				clear(row[n:])
			}
			av := a
			if drop > 0 {
				mk := mscratch
				if grad {
					mk = mask[bh*ts : (bh+1)*ts]
				}
				dropMask(mk, seeds[bh], threshold, keep)
				for i, v := range a {
					dropped[i] = v * mk[i]
				}
				av = dropped
			}
			o := od[bi*t*e+hd*d:]
			var beta float32
			if p > 0 {
				cpu.Sgemm(false, false, t, d, p, 1, av, s, pvd[pastOf(bi, hd):], d, 0, o, e)
				beta = 1
			}
			cpu.Sgemm(false, false, t, d, t, 1, av[p:], s, vb, ld, beta, o, e)
		}
	})
	if !grad {
		return out
	}
	return tensor.Record("CausalAttention", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		needQKV := qkv.RequiresGrad()
		needPK := p > 0 && pk.RequiresGrad()
		needPV := p > 0 && pv.RequiresGrad()
		var gqkv *tensor.Tensor
		var gqd, gpkd, gpvd []float32
		if needQKV {
			gqkv = tensor.Empty(qkv.Shape()...) // every element is written below
			gqd = gqkv.Data()
		}
		// Past gradients per sequence, summed over the batch afterwards for a batch-1 past.
		if needPK {
			gpkd = make([]float32, b*h*p*d)
		}
		if needPV {
			gpvd = make([]float32, b*h*p*d)
		}
		cpu.Parallel(b*h, func(lo, hi int) {
			var dp, dropped []float32
			if needQKV || needPK {
				dp = make([]float32, ts)
			}
			if drop > 0 {
				dropped = make([]float32, ts)
			}
			for bh := lo; bh < hi; bh++ {
				bi, hd := bh/h, bh%h
				a := probs[bh*ts : (bh+1)*ts]
				var mk []float32
				av := a
				if drop > 0 {
					mk = mask[bh*ts : (bh+1)*ts]
					for i, v := range a {
						dropped[i] = v * mk[i]
					}
					av = dropped
				}
				base := bi*t*ld + hd*d
				qb, kb, vb := qd[base:], qd[base+e:], qd[base+2*e:]
				gO := gd[bi*t*e+hd*d:]
				var pkb, pvb []float32
				if p > 0 {
					pkb, pvb = pkd[pastOf(bi, hd):], pvd[pastOf(bi, hd):]
				}
				// dV = A_dᵀ·dO, for the past and for the tokens.
				if needPV {
					cpu.Sgemm(true, false, p, d, t, 1, av, s, gO, e, 0, gpvd[bh*p*d:], d)
				}
				if needQKV {
					cpu.Sgemm(true, false, t, d, t, 1, av[p:], s, gO, e, 0, gqd[base+2*e:], ld)
				}
				if dp == nil {
					continue
				}
				// dA = dO·vᵀ (times the dropout mask), then dS = A ⊙ (dA − Σ_j A·dA).
				if p > 0 {
					cpu.Sgemm(false, true, t, p, d, 1, gO, e, pvb, d, 0, dp, s)
				}
				cpu.Sgemm(false, true, t, t, d, 1, gO, e, vb, ld, 0, dp[p:], s)
				for r := 0; r < t; r++ {
					n := p + r + 1
					ar, dr := a[r*s:r*s+n], dp[r*s:(r+1)*s]
					if mk != nil {
						for j, m := range mk[r*s : r*s+n] {
							dr[j] *= m
						}
					}
					var dot float64
					for j, v := range ar {
						dot += float64(v) * float64(dr[j])
					}
					for j, v := range ar {
						dr[j] = v * (dr[j] - float32(dot))
					}
					clear(dr[n:])
				}
				// dQ = scale·dS·k, dK = scale·dSᵀ·q.
				if needQKV {
					var beta float32
					if p > 0 {
						cpu.Sgemm(false, false, t, d, p, scale, dp, s, pkb, d, 0, gqd[base:], ld)
						beta = 1
					}
					cpu.Sgemm(false, false, t, d, t, scale, dp[p:], s, kb, ld, beta, gqd[base:], ld)
					cpu.Sgemm(true, false, t, d, t, scale, dp[p:], s, qb, ld, 0, gqd[base+e:], ld)
				}
				if needPK {
					cpu.Sgemm(true, false, p, d, t, scale, dp, s, qb, ld, 0, gpkd[bh*p*d:], d)
				}
			}
		})
		return []*tensor.Tensor{gqkv, pastGrad(gpkd, pb, b, h, p, d), pastGrad(gpvd, pb, b, h, p, d)}
	}, qkv, pk, pv)
}

// pastGrad turns per-sequence past gradients (B, H, P, D) into the past's shape, summing
// over the batch (in order) for a past of batch 1. nil stays nil.
func pastGrad(g []float32, pb, b, h, p, d int) *tensor.Tensor {
	if g == nil {
		return nil
	}
	if pb == b {
		return tensor.New(g, b, h, p, d)
	}
	n := h * p * d
	out := tensor.Zeros(1, h, p, d)
	od := out.Data()
	for bi := 0; bi < b; bi++ {
		for i, v := range g[bi*n : (bi+1)*n] {
			od[i] += v
		}
	}
	return out
}

// dropMask fills mk with keep (probability 1 − threshold/2³²) or 0 from a generator
// seeded with seed, two 32-bit draws per Uint64.
func dropMask(mk []float32, seed, threshold uint64, keep float32) {
	src := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	for i := 0; i < len(mk); i += 2 {
		r := src.Uint64()
		mk[i] = 0
		if r&0xffffffff >= threshold {
			mk[i] = keep
		}
		if i+1 < len(mk) {
			mk[i+1] = 0
			if r>>32 >= threshold {
				mk[i+1] = keep
			}
		}
	}
}

// dropoutChunk is the number of elements that share one seed in dropout.
const dropoutChunk = 1 << 14

// dropout zeroes each element of x with probability p and scales the others by
// 1/(1 − p), as functional.Dropout, but draws one rng.Uint64 per chunk of 16384 elements,
// the seed of that chunk's mask, so the masks are made in parallel (and do not depend on
// the number of threads). p = 0 returns x.
func dropout(x *tensor.Tensor, p float32, rng *rand.Rand) *tensor.Tensor {
	if p == 0 {
		return x
	}
	if !(p > 0 && p < 1) || rng == nil {
		panic(fmt.Sprintf("lm.dropout: probability %v (want [0, 1)) with random source %v", p, rng != nil))
	}
	n := x.Size()
	chunks := (n + dropoutChunk - 1) / dropoutChunk
	seeds := make([]uint64, chunks)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	threshold := uint64(float64(p) * (1 << 32))
	keep := 1 / (1 - p)
	mask := make([]float32, n)
	out := tensor.Empty(x.Shape()...)
	xd, od := x.Data(), out.Data()
	cpu.Parallel(chunks, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			i0, i1 := c*dropoutChunk, min(n, (c+1)*dropoutChunk)
			mk := mask[i0:i1]
			dropMask(mk, seeds[c], threshold, keep)
			for i, m := range mk {
				od[i0+i] = xd[i0+i] * m
			}
		}
	})
	return tensor.Record("Dropout", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(x.Shape()...)
		gd, gxd := g.Data(), gx.Data()
		cpu.ParallelGrain(n, dropoutChunk, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gxd[i] = gd[i] * mask[i]
			}
		})
		return []*tensor.Tensor{gx}
	}, x)
}

const (
	sqrt2OverPi = 0.7978845608028654 // √(2/π)
	geluKappa   = 0.044715
)

// geluNew is GPT-2's activation, the tanh approximation of GELU (Hugging Face's
// gelu_new, torch's approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
// computed as x·σ(2u) with the vectorised sigmoid of internal/cpu (u the tanh's
// argument), which has no cancellation for x ≪ 0.
func geluNew(x *tensor.Tensor) *tensor.Tensor {
	n := x.Size()
	xd := x.Data()
	y := tensor.Empty(x.Shape()...)
	yd := y.Data()
	cpu.ParallelGrain(n, 1<<14, func(lo, hi int) {
		sig := yd[lo:hi]
		for i, v := range xd[lo:hi] {
			sig[i] = 2 * sqrt2OverPi * (v + geluKappa*v*v*v)
		}
		cpu.Sigmoid(sig, sig)
		for i, v := range xd[lo:hi] {
			sig[i] *= v
		}
	})
	return tensor.Record("GELUTanh", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(x.Shape()...)
		gd, gxd := g.Data(), gx.Data()
		// d/dx x·σ(2u) = σ + x·σ(1 − σ)·2u′, u′ = √(2/π)(1 + 3·0.044715·x²).
		cpu.ParallelGrain(n, 1<<14, func(lo, hi int) {
			sig := gxd[lo:hi]
			for i, v := range xd[lo:hi] {
				sig[i] = 2 * sqrt2OverPi * (v + geluKappa*v*v*v)
			}
			cpu.Sigmoid(sig, sig)
			for i, v := range xd[lo:hi] {
				sg := sig[i]
				sig[i] = gd[lo+i] * (sg + v*sg*(1-sg)*2*sqrt2OverPi*(1+3*geluKappa*v*v))
			}
		})
		return []*tensor.Tensor{gx}
	}, x)
}

func shapeOf(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return tensor.FormatShape(t.Shape())
}
