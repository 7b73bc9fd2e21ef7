package nn

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/stochastic"
	"github.com/fovea-ml/fovea/tensor"
)

// This file holds the normalisation layers. Each is one fused,
// differentiable operation (statistics in float64), not a chain of tensor
// operations, because training loops spend much of their time in them.

// LayerNorm normalises over the last dimensions of its input
// (torch.nn.LayerNorm): y = (x − mean)/√(var + Eps)·Weight + Bias, with the
// mean and biased variance taken over the trailing NormalizedShape
// dimensions of each sample. State-dict names: weight, bias
// (NormalizedShape); both nil without elementwise affine.
type LayerNorm struct {
	Weight          *tensor.Tensor
	Bias            *tensor.Tensor
	NormalizedShape []int
	Eps             float64
}

// NewLayerNorm returns a LayerNorm over the trailing dimensions shape, with
// Eps 1e-5, weight ones and bias zeros, as PyTorch. For no affine
// parameters set Weight and Bias to nil.
func NewLayerNorm(shape ...int) *LayerNorm {
	return &LayerNorm{Weight: Ones(param(shape...)), Bias: param(shape...), NormalizedShape: cloneInts(shape), Eps: 1e-5}
}

// Forward normalises x: (…, NormalizedShape…), giving the same shape.
func (l *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	ns := l.NormalizedShape
	if x.Dim() < len(ns) || !tensor.SameShape(x.Shape()[x.Dim()-len(ns):], ns) {
		panic(fmt.Sprintf("nn.LayerNorm: input %s does not end in the normalized shape %s", tensor.FormatShape(x.Shape()), tensor.FormatShape(ns)))
	}
	d := tensor.Numel(ns)
	checkAffine("nn.LayerNorm", l.Weight, l.Bias, d)
	return rowNorm("LayerNorm", x, l.Weight, l.Bias, d, 1, l.Eps)
}

// GroupNorm normalises each sample over groups of channels
// (torch.nn.GroupNorm): the C channels are split into Groups consecutive
// groups, each normalised over its channels and all positions, then scaled
// and shifted per channel. State-dict names: weight, bias (C); nil without
// affine.
type GroupNorm struct {
	Weight *tensor.Tensor
	Bias   *tensor.Tensor
	Groups int
	Eps    float64
}

// NewGroupNorm returns a GroupNorm of groups over channels, with Eps 1e-5,
// weight ones and bias zeros. channels must be divisible by groups.
func NewGroupNorm(groups, channels int) *GroupNorm {
	if groups <= 0 || channels%groups != 0 {
		panic(fmt.Sprintf("nn.NewGroupNorm: %d channels cannot be split into %d groups", channels, groups))
	}
	return &GroupNorm{Weight: Ones(param(channels)), Bias: param(channels), Groups: groups, Eps: 1e-5}
}

// Forward normalises x: (N, C, …), giving the same shape.
func (g *GroupNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() < 2 || g.Groups <= 0 || x.SizeOf(1)%g.Groups != 0 {
		panic(fmt.Sprintf("nn.GroupNorm: input %s, want (N, C, …) with C divisible by %d groups", tensor.FormatShape(x.Shape()), g.Groups))
	}
	c := x.SizeOf(1)
	checkAffine("nn.GroupNorm", g.Weight, g.Bias, c)
	spatial := x.Size() / max(x.SizeOf(0)*c, 1)
	// Each (sample, group) is a contiguous row of C/G·spatial values; the
	// affine parameters change every `spatial` values.
	return rowNorm("GroupNorm", x, g.Weight, g.Bias, c/g.Groups*spatial, spatial, g.Eps)
}

func checkAffine(op string, w, b *tensor.Tensor, n int) {
	for _, p := range []*tensor.Tensor{w, b} {
		if p != nil && p.Size() != n {
			panic(fmt.Sprintf("%s: affine parameter of shape %s, want %d elements", op, tensor.FormatShape(p.Shape()), n))
		}
	}
}

// rowNorm normalises contiguous rows of length d of x and applies the affine
// parameters w, b (either may be nil), whose index for element j of row r is
// ((r·d + j) / every) mod len(w) — every = 1 and len(w) = d for LayerNorm;
// every = spatial size for GroupNorm; d must be a multiple of every.
//
// It makes two passes over the data forward (statistics, output) and two
// backward (row sums, then input and affine gradients), keeping only the
// per-row mean and 1/std: x̂ is recomputed, not stored.
func rowNorm(op string, x, w, b *tensor.Tensor, d, every int, eps float64) *tensor.Tensor {
	n := x.Size()
	rows := 0
	if d > 0 {
		rows = n / d
	}
	xd := x.Data()
	mean := make([]float64, rows)
	invstd := make([]float64, rows)
	y := tensor.Empty(x.Shape()...) // every element is written below
	yd := y.Data()
	var wd, bd []float32
	np := 1
	if w != nil {
		wd = w.Data()
		np = len(wd)
	}
	if b != nil {
		bd = b.Data()
		np = len(bd)
	}
	perElement := every == 1 && np == d // LayerNorm: one affine pair per element of a row
	// affine returns the scale and shift of the segment starting at flat
	// index i.
	affine := func(i int) (sc, sh float32) {
		k := (i / every) % np
		sc = 1
		if wd != nil {
			sc = wd[k]
		}
		if bd != nil {
			sh = bd[k]
		}
		return sc, sh
	}
	grain := max(1, 16384/max(d, 1))
	cpu.ParallelGrain(rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*d : (r+1)*d]
			mu, is := moments(row, eps)
			mean[r], invstd[r] = mu, is
			yr := yd[r*d : (r+1)*d]
			if perElement && wd != nil && bd != nil {
				wd, bd := wd[:d], bd[:d]
				for j, v := range row {
					yr[j] = float32((float64(v)-mu)*is)*wd[j] + bd[j]
				}
				continue
			}
			for j0 := 0; j0 < d; j0 += every {
				sc, sh := affine(r*d + j0)
				cpu.NormAffine(yr[j0:j0+every], row[j0:j0+every], mu, is, sc, sh)
			}
		}
	})
	return tensor.Record(op, y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		needX := x.RequiresGrad()
		needW, needB := w != nil && w.RequiresGrad(), b != nil && b.RequiresGrad()
		var gx, gw, gb *tensor.Tensor
		var gxd []float32
		if needX {
			gx = tensor.Empty(x.Shape()...) // every element is written below
			gxd = gx.Data()
		}
		var parts partials
		cpu.ParallelGrain(rows, grain, func(lo, hi int) {
			var pw, pb []float64
			if needW || needB {
				pw, pb = make([]float64, np), make([]float64, np)
			}
			for r := lo; r < hi; r++ {
				xr, gr := xd[r*d:(r+1)*d], gd[r*d:(r+1)*d]
				mu, is := mean[r], invstd[r]
				if perElement {
					if needX {
						// s1 = Σ g·w, s2 = Σ g·w·x̂ = is·(Σ g·w·x − mu·s1);
						// dx = is·(g·w − s1/d − x̂·s2/d) = is·g·w − a·x + c.
						var s1, s3 float64
						if wd != nil {
							s1, s3 = sumDotW(gr, wd, xr)
						} else {
							s1, s3 = sumDot(gr, xr)
						}
						s2 := is * (s3 - mu*s1)
						a := is * is * s2 / float64(d)
						c := a*mu - is*s1/float64(d)
						out := gxd[r*d : (r+1)*d]
						if wd != nil {
							wd := wd[:d]
							for j, gv := range gr {
								out[j] = float32(is*float64(gv)*float64(wd[j]) - a*float64(xr[j]) + c)
							}
						} else {
							cpu.NormGrad(out, gr, xr, is, a, c)
						}
					}
					if pw != nil {
						pw, pb := pw[:d], pb[:d]
						for j, gv := range gr {
							g64 := float64(gv)
							pw[j] += g64 * (float64(xr[j]) - mu) * is
							pb[j] += g64
						}
					}
					continue
				}
				var s1, s2 float64
				for j0 := 0; j0 < d; j0 += every {
					sc, _ := affine(r*d + j0)
					sg, sgx := sumDot(gr[j0:j0+every], xr[j0:j0+every])
					segX := is * (sgx - mu*sg) // Σ g·x̂ over the segment
					s1 += float64(sc) * sg
					s2 += float64(sc) * segX
					if pw != nil {
						k := ((r*d + j0) / every) % np
						pw[k] += segX
						pb[k] += sg
					}
				}
				if needX {
					a := is * is * s2 / float64(d)
					c := a*mu - is*s1/float64(d)
					out := gxd[r*d : (r+1)*d]
					for j0 := 0; j0 < d; j0 += every {
						sc, _ := affine(r*d + j0)
						cpu.NormGrad(out[j0:j0+every], gr[j0:j0+every], xr[j0:j0+every], is*float64(sc), a, c)
					}
				}
			}
			if pw != nil {
				parts.add(lo, pw, pb)
			}
		})
		if needW || needB {
			accW, accB := parts.sum(np)
			if needW {
				gw = tensor.Zeros(w.Shape()...)
				for k, v := range accW {
					gw.Data()[k] = float32(v)
				}
			}
			if needB {
				gb = tensor.Zeros(b.Shape()...)
				for k, v := range accB {
					gb.Data()[k] = float32(v)
				}
			}
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, w, b)
}

// moments returns the mean of a and 1/√(var + eps) with the biased
// variance. It takes Σa and Σa² in one pass (float64), and a second,
// centred pass only when the mean is so large against the spread that the
// one-pass variance would lose precision.
func moments(a []float32, eps float64) (mean, invstd float64) {
	s, ss := sumSq(a)
	n := float64(len(a))
	mean = s / n
	v := ss/n - mean*mean
	if v <= 1e-8*mean*mean {
		v = centredSq(a, mean) / n
	}
	return mean, 1 / math.Sqrt(max(v, 0)+eps)
}

// partials collects per-chunk sums from a parallel loop and adds them up in
// chunk order, so that the result does not depend on scheduling.
type partials struct {
	mu    sync.Mutex
	parts []partial
}

type partial struct {
	lo     int
	pw, pb []float64
}

func (p *partials) add(lo int, pw, pb []float64) {
	p.mu.Lock()
	p.parts = append(p.parts, partial{lo, pw, pb})
	p.mu.Unlock()
}

func (p *partials) sum(n int) (accW, accB []float64) {
	slices.SortFunc(p.parts, func(a, b partial) int { return a.lo - b.lo })
	accW, accB = make([]float64, n), make([]float64, n)
	for _, q := range p.parts {
		for k := range accW {
			accW[k] += q.pw[k]
			accB[k] += q.pb[k]
		}
	}
	return accW, accB
}

// LayerNorm2d is layer normalisation over the channels of a channels-first
// image, as in SAM (segment_anything.modeling.common.LayerNorm2d) and
// ConvNeXt: at every position of every sample the C values are normalised
// to zero mean and unit (biased) variance, then scaled and shifted per
// channel. State-dict names: weight, bias (C).
type LayerNorm2d struct {
	Weight *tensor.Tensor
	Bias   *tensor.Tensor
	Eps    float64
}

// NewLayerNorm2d returns a LayerNorm2d over c channels with Eps 1e-6 (SAM's
// default), weight ones and bias zeros.
func NewLayerNorm2d(c int) *LayerNorm2d {
	return &LayerNorm2d{Weight: Ones(param(c)), Bias: param(c), Eps: 1e-6}
}

// Forward normalises x: (N, C, H, W) (or any (N, C, …)), giving the same shape.
func (l *LayerNorm2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() < 2 {
		panic(fmt.Sprintf("nn.LayerNorm2d: input %s, want (N, C, H, W)", tensor.FormatShape(x.Shape())))
	}
	c := x.SizeOf(1)
	checkAffine("nn.LayerNorm2d", l.Weight, l.Bias, c)
	return channelNorm(x, l.Weight, l.Bias, l.Eps)
}

// channelNorm is LayerNorm2d's operation: x (N, C, P) normalised over C.
func channelNorm(x, w, b *tensor.Tensor, eps float64) *tensor.Tensor {
	nb, c := x.SizeOf(0), x.SizeOf(1)
	p := 0
	if nb*c > 0 {
		p = x.Size() / (nb * c)
	}
	xd := x.Data()
	// x̂ is kept for the backward pass only: inference (nothing requires a gradient)
	// neither allocates nor writes it.
	var xhat []float32
	if tensor.AnyRequiresGrad(x, w, b) {
		xhat = make([]float32, x.Size())
	}
	invstd := make([]float64, nb*p)
	y := tensor.Empty(x.Shape()...)
	yd := y.Data()
	var wd, bd []float32
	if w != nil {
		wd = w.Data()
	}
	if b != nil {
		bd = b.Data()
	}
	// forEach runs fn(n, p0, p1) over position ranges, in parallel.
	forEach := func(fn func(n, p0, p1 int)) {
		cpu.ParallelGrain(nb*p, max(1, 4096/max(c, 1)), func(lo, hi int) {
			for q := lo; q < hi; {
				n, p0 := q/p, q%p
				p1 := min(p, p0+hi-q)
				fn(n, p0, p1)
				q += p1 - p0
			}
		})
	}
	forEach(func(n, p0, p1 int) {
		L := p1 - p0
		sum := make([]float64, L)
		sq := make([]float64, L)
		base := n * c * p
		for ch := 0; ch < c; ch++ {
			row := xd[base+ch*p+p0 : base+ch*p+p1]
			for j, v := range row {
				sum[j] += float64(v)
			}
		}
		for j := range sum {
			sum[j] /= float64(c)
		}
		for ch := 0; ch < c; ch++ {
			row := xd[base+ch*p+p0 : base+ch*p+p1]
			for j, v := range row {
				dv := float64(v) - sum[j]
				sq[j] += dv * dv
			}
		}
		for j := range sq {
			sq[j] = 1 / math.Sqrt(sq[j]/float64(c)+eps)
			invstd[n*p+p0+j] = sq[j]
		}
		for ch := 0; ch < c; ch++ {
			off := base + ch*p
			for j := 0; j < L; j++ {
				h := float32((float64(xd[off+p0+j]) - sum[j]) * sq[j])
				if xhat != nil {
					xhat[off+p0+j] = h
				}
				o := h
				if wd != nil {
					o *= wd[ch]
				}
				if bd != nil {
					o += bd[ch]
				}
				yd[off+p0+j] = o
			}
		}
	})
	return tensor.Record("LayerNorm2d", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw, gb *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Zeros(x.Shape()...)
			gxd := gx.Data()
			forEach(func(n, p0, p1 int) {
				L := p1 - p0
				s1 := make([]float64, L)
				s2 := make([]float64, L)
				base := n * c * p
				for ch := 0; ch < c; ch++ {
					wc := 1.0
					if wd != nil {
						wc = float64(wd[ch])
					}
					off := base + ch*p + p0
					for j := 0; j < L; j++ {
						dv := float64(gd[off+j]) * wc
						s1[j] += dv
						s2[j] += dv * float64(xhat[off+j])
					}
				}
				for ch := 0; ch < c; ch++ {
					wc := 1.0
					if wd != nil {
						wc = float64(wd[ch])
					}
					off := base + ch*p + p0
					for j := 0; j < L; j++ {
						dv := float64(gd[off+j]) * wc
						is := invstd[n*p+p0+j]
						gxd[off+j] = float32(is * (dv - s1[j]/float64(c) - float64(xhat[off+j])*s2[j]/float64(c)))
					}
				}
			})
		}
		if (w != nil && w.RequiresGrad()) || (b != nil && b.RequiresGrad()) {
			accW, accB := make([]float64, c), make([]float64, c)
			for n := 0; n < nb; n++ {
				for ch := 0; ch < c; ch++ {
					off := (n*c + ch) * p
					for j := 0; j < p; j++ {
						accW[ch] += float64(gd[off+j]) * float64(xhat[off+j])
						accB[ch] += float64(gd[off+j])
					}
				}
			}
			if w != nil && w.RequiresGrad() {
				gw = tensor.Zeros(w.Shape()...)
				for k, v := range accW {
					gw.Data()[k] = float32(v)
				}
			}
			if b != nil && b.RequiresGrad() {
				gb = tensor.Zeros(b.Shape()...)
				for k, v := range accB {
					gb.Data()[k] = float32(v)
				}
			}
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, w, b)
}

// BatchNorm2d is batch normalisation over the channels of (N, C, H, W)
// inputs (torch.nn.BatchNorm2d; it also accepts (N, C) and (N, C, L) as
// BatchNorm1d does).
//
// In training mode each channel is normalised with the mean and biased
// variance of the batch (over N, H, W), and the running statistics move
// towards the batch's mean and unbiased variance by
// stochastic.EMAUpdate: running = (1 − Momentum)·running + Momentum·batch,
// or, with Cumulative (PyTorch's momentum=None), by the cumulative average
// stochastic.MeanUpdate with k = NumBatchesTracked. In evaluation mode the
// running statistics are used. Without running statistics (RunningMean and
// RunningVar nil, PyTorch's track_running_stats=False) batch statistics are
// always used.
//
// State-dict names: weight, bias (C; nil without affine), running_mean,
// running_var (C) and num_batches_tracked (), buffers. num_batches_tracked
// is int64 in PyTorch; fovea keeps it as a float32 scalar, exact up to 2²⁴
// batches, and safetensors files store it as F32 (loading PyTorch's I64
// converts).
type BatchNorm2d struct {
	TrainMode
	Weight            *tensor.Tensor
	Bias              *tensor.Tensor
	RunningMean       *tensor.Tensor `nn:",buffer"`
	RunningVar        *tensor.Tensor `nn:",buffer"`
	NumBatchesTracked *tensor.Tensor `nn:",buffer"`
	Eps               float64
	Momentum          float32
	Cumulative        bool
}

// NewBatchNorm2d returns a BatchNorm2d over c channels with PyTorch's
// defaults: Eps 1e-5, Momentum 0.1, weight ones, bias zeros, running mean
// zeros, running variance ones, in training mode.
func NewBatchNorm2d(c int) *BatchNorm2d {
	return &BatchNorm2d{
		Weight:            Ones(param(c)),
		Bias:              param(c),
		RunningMean:       tensor.Zeros(c),
		RunningVar:        tensor.Ones(c),
		NumBatchesTracked: tensor.Scalar(0),
		Eps:               1e-5,
		Momentum:          0.1,
	}
}

// Forward normalises x: (N, C, H, W), giving the same shape. In training
// mode it also updates the running statistics (so it must not run
// concurrently with itself then).
func (m *BatchNorm2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() < 2 {
		panic(fmt.Sprintf("nn.BatchNorm2d: input %s, want (N, C, H, W)", tensor.FormatShape(x.Shape())))
	}
	nb, c := x.SizeOf(0), x.SizeOf(1)
	checkAffine("nn.BatchNorm2d", m.Weight, m.Bias, c)
	tracking := m.RunningMean != nil && m.RunningVar != nil
	if tracking && (m.RunningMean.Size() != c || m.RunningVar.Size() != c) {
		panic(fmt.Sprintf("nn.BatchNorm2d: input %s has %d channels, running statistics %s and %s",
			tensor.FormatShape(x.Shape()), c, tensor.FormatShape(m.RunningMean.Shape()), tensor.FormatShape(m.RunningVar.Shape())))
	}
	p := 0
	if nb*c > 0 {
		p = x.Size() / (nb * c)
	}
	cnt := nb * p
	useBatch := m.Training() || !tracking
	mean := make([]float64, c)
	invstd := make([]float64, c)
	xd := x.Data()
	if useBatch {
		if cnt <= 1 {
			panic(fmt.Sprintf("nn.BatchNorm2d: expected more than 1 value per channel when training, got input %s", tensor.FormatShape(x.Shape())))
		}
		varU := make([]float64, c)
		meanF := make([]float32, c)
		// The statistics of a channel are taken right before it is
		// normalised, in the same parallel pass, while it is in the cache.
		stats := func(ch int) {
			var s, sq float64
			for n := 0; n < nb; n++ {
				bs, bq := sumSq(xd[(n*c+ch)*p : (n*c+ch+1)*p])
				s += bs
				sq += bq
			}
			mu := s / float64(cnt)
			ss := sq - float64(cnt)*mu*mu // Σ(x − mu)², one pass
			if ss <= 1e-8*float64(cnt)*mu*mu {
				// The mean dwarfs the spread: take the centred sum.
				ss = 0
				for n := 0; n < nb; n++ {
					ss += centredSq(xd[(n*c+ch)*p:(n*c+ch+1)*p], mu)
				}
			}
			ss = max(ss, 0)
			mean[ch] = mu
			invstd[ch] = 1 / math.Sqrt(ss/float64(cnt)+m.Eps)
			meanF[ch] = float32(mu)
			varU[ch] = ss / float64(cnt-1)
		}
		y := batchNormApply(x, m.Weight, m.Bias, mean, invstd, true, stats)
		if tracking && m.Training() {
			k := 1
			if m.NumBatchesTracked != nil {
				m.NumBatchesTracked.Data()[0]++
				k = int(m.NumBatchesTracked.Data()[0])
			}
			// PyTorch rounds the batch mean to float32 but keeps the
			// unbiased variance in double for the update; the stochastic
			// helpers reproduce its rounding bit for bit.
			mom := m.Momentum
			if m.Cumulative {
				mom = float32(1 / float64(k))
			}
			stochastic.EMAUpdate(m.RunningMean.Data(), meanF, mom)
			stochastic.EMAUpdateWide(m.RunningVar.Data(), varU, mom)
		}
		return y
	}
	rm, rv := m.RunningMean.Data(), m.RunningVar.Data()
	for ch := 0; ch < c; ch++ {
		mean[ch] = float64(rm[ch])
		invstd[ch] = 1 / math.Sqrt(float64(rv[ch])+m.Eps)
	}
	return batchNormApply(x, m.Weight, m.Bias, mean, invstd, false, nil)
}

// batchNormApply normalises x (N, C, P) per channel with the given
// statistics and records the backward pass; batchStats says whether they
// came from x (so that the gradient flows through them). When stats is not
// nil it is called for each channel, in the parallel pass, to fill mean and
// invstd for that channel before it is normalised. x̂ is recomputed in the
// backward pass rather than stored.
func batchNormApply(x, w, b *tensor.Tensor, mean, invstd []float64, batchStats bool, stats func(ch int)) *tensor.Tensor {
	nb, c := x.SizeOf(0), x.SizeOf(1)
	p := 0
	if nb*c > 0 {
		p = x.Size() / (nb * c)
	}
	cnt := float64(nb * p)
	xd := x.Data()
	y := tensor.Empty(x.Shape()...) // every element is written below
	yd := y.Data()
	var wd, bd []float32
	if w != nil {
		wd = w.Data()
	}
	if b != nil {
		bd = b.Data()
	}
	cpu.Parallel(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			if stats != nil {
				stats(ch)
			}
			scale, shift := float32(1), float32(0)
			if wd != nil {
				scale = wd[ch]
			}
			if bd != nil {
				shift = bd[ch]
			}
			for n := 0; n < nb; n++ {
				off := (n*c + ch) * p
				cpu.NormAffine(yd[off:off+p], xd[off:off+p], mean[ch], invstd[ch], scale, shift)
			}
		}
	})
	return tensor.Record("BatchNorm2d", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Empty(x.Shape()...) // every element is written below
		}
		sumG, sumGX := make([]float64, c), make([]float64, c)
		cpu.Parallel(c, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				mu, is := mean[ch], invstd[ch]
				var s1, s3 float64
				for n := 0; n < nb; n++ {
					off := (n*c + ch) * p
					a, b := sumDot(gd[off:off+p], xd[off:off+p])
					s1 += a
					s3 += b
				}
				s2 := is * (s3 - mu*s1) // Σ g·x̂
				sumG[ch], sumGX[ch] = s1, s2
				if gx == nil {
					continue
				}
				wc := 1.0
				if wd != nil {
					wc = float64(wd[ch])
				}
				// dx = k·(g − s1/cnt − x̂·s2/cnt) with batch statistics, k·g
				// with running ones; k = w·is, x̂ = (x − mu)·is.
				k := wc * is
				a, cc := 0.0, 0.0
				if batchStats {
					a = k * is * s2 / cnt
					cc = a*mu - k*s1/cnt
				}
				gxd := gx.Data()
				for n := 0; n < nb; n++ {
					off := (n*c + ch) * p
					cpu.NormGrad(gxd[off:off+p], gd[off:off+p], xd[off:off+p], k, a, cc)
				}
			}
		})
		var gw, gb *tensor.Tensor
		if w != nil && w.RequiresGrad() {
			gw = tensor.Zeros(w.Shape()...)
			for k, v := range sumGX {
				gw.Data()[k] = float32(v)
			}
		}
		if b != nil && b.RequiresGrad() {
			gb = tensor.Zeros(b.Shape()...)
			for k, v := range sumG {
				gb.Data()[k] = float32(v)
			}
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, w, b)
}
