package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// Delta changes a layer's output without replacing the layer: a Linear,
// Conv2d or Embedding whose Delta field is set returns Delta.Forward(x, y),
// where x is the layer's input and y the output it computed. Package peft
// sets it to add LoRA's low-rank term (y + s·B·A·x) or a bottleneck adapter
// (y + up(act(down(y)))). The fields are tagged nn:"-", so the adapter's
// parameters are neither in the model's state dict nor among its
// Parameters; a nil Delta costs one comparison. Forward may be called from
// several goroutines at once when the model serves inference, so an
// implementation must not change shared state then.
type Delta interface {
	Forward(x, y *tensor.Tensor) *tensor.Tensor
}

// WeightDelta supplies a tensor to add to a weight for one forward pass (of
// the weight's shape, or nil for none). MultiheadAttention's packed
// in-projection, which has no Linear to hook, uses it (LoRA on
// nn.MultiheadAttention, as PEFT merges it into in_proj_weight).
type WeightDelta interface {
	DeltaWeight() *tensor.Tensor
}

// Linear is a fully connected layer, y = x·Weightᵀ + Bias (torch.nn.Linear).
// State-dict names: weight (Out, In), bias (Out); Bias is nil without bias.
type Linear struct {
	Weight *tensor.Tensor // (out, in)
	Bias   *tensor.Tensor // (out), or nil
	// Delta, when set, is applied to the output (see Delta); not saved.
	Delta Delta `nn:"-"`
}

// NewLinear returns a Linear layer from in to out features, initialised as
// PyTorch does: weight and bias from U(±1/√in).
func NewLinear(rng *rand.Rand, in, out int, bias bool) *Linear {
	l := &Linear{Weight: param(out, in)}
	if bias {
		l.Bias = param(out)
	}
	defaultWeightBias(rng, l.Weight, l.Bias)
	return l
}

// Forward maps x: (…, in) to (…, out), then applies Delta if set.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := Affine(x, l.Weight, l.Bias)
	if l.Delta != nil {
		return l.Delta.Forward(x, y)
	}
	return y
}

// Affine returns x·wᵀ + b (torch.nn.functional.linear) as one fused,
// differentiable operation. x: (…, in), w: (out, in), b: (out) or nil;
// result (…, out).
func Affine(x, w, b *tensor.Tensor) *tensor.Tensor {
	if w.Dim() != 2 || x.Dim() < 1 || x.SizeOf(-1) != w.SizeOf(1) || (b != nil && (b.Dim() != 1 || b.Size() != w.SizeOf(0))) {
		bs := "nil"
		if b != nil {
			bs = tensor.FormatShape(b.Shape())
		}
		panic(fmt.Sprintf("nn.Affine: input %s, weight %s, bias %s: want input (…, in), weight (out, in), bias (out)",
			tensor.FormatShape(x.Shape()), tensor.FormatShape(w.Shape()), bs))
	}
	in, out := w.SizeOf(1), w.SizeOf(0)
	m := x.Size() / max(in, 1)
	if in == 0 {
		m = tensor.Numel(x.Shape()[:x.Dim()-1])
	}
	shape := append(cloneInts(x.Shape()[:x.Dim()-1]), out)
	y := tensor.Zeros(shape...)
	xd, wd, yd := x.Data(), w.Data(), y.Data()
	cpu.Sgemm(false, true, m, out, in, 1, xd, max(in, 1), wd, max(in, 1), 0, yd, max(out, 1))
	if b != nil {
		bd := b.Data()
		for r := 0; r < m; r++ {
			row := yd[r*out : (r+1)*out]
			for j, v := range bd {
				row[j] += v
			}
		}
	}
	return tensor.Record("Affine", y, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		var gx, gw, gb *tensor.Tensor
		if x.RequiresGrad() {
			gx = tensor.Zeros(x.Shape()...)
			cpu.Sgemm(false, false, m, in, out, 1, gd, max(out, 1), wd, max(in, 1), 0, gx.Data(), max(in, 1))
		}
		if w.RequiresGrad() {
			gw = tensor.Zeros(w.Shape()...)
			cpu.Sgemm(true, false, out, in, m, 1, gd, max(out, 1), xd, max(in, 1), 0, gw.Data(), max(in, 1))
		}
		if b != nil && b.RequiresGrad() {
			gb = tensor.Zeros(out)
			sumRows(gb.Data(), gd, m, out)
		}
		return []*tensor.Tensor{gx, gw, gb}
	}, x, w, b)
}

// sumRows adds the m rows of the m×n matrix a into dst (n), in float64.
func sumRows(dst, a []float32, m, n int) {
	acc := make([]float64, n)
	for r := 0; r < m; r++ {
		row := a[r*n : (r+1)*n]
		for j, v := range row {
			acc[j] += float64(v)
		}
	}
	for j, v := range acc {
		dst[j] += float32(v)
	}
}

// Identity returns its input unchanged (torch.nn.Identity).
type Identity struct{}

// Forward returns x.
func (Identity) Forward(x *tensor.Tensor) *tensor.Tensor { return x }

// Sequential applies its modules in order (torch.nn.Sequential). As a field
// named Features it gives state-dict names features.0.weight,
// features.1.weight, … as PyTorch does.
type Sequential []Module

// NewSequential returns a Sequential of the given modules.
func NewSequential(mods ...Module) Sequential { return Sequential(mods) }

// Forward passes x through every module in turn.
func (s Sequential) Forward(x *tensor.Tensor) *tensor.Tensor {
	for _, m := range s {
		x = m.Forward(x)
	}
	return x
}

// Embedding is a lookup table of vectors (torch.nn.Embedding).
// State-dict name: weight (num, dim).
type Embedding struct {
	Weight *tensor.Tensor // (num, dim)
	// PaddingIdx, when in [0, num), is a row that is initialised to zero and
	// receives no gradient, as PyTorch's padding_idx; negative means none.
	PaddingIdx int
	// Delta, when set, is applied to the output, with the indices as x (see
	// Delta); not saved.
	Delta Delta `nn:"-"`
}

// NewEmbedding returns an Embedding of num vectors of size dim drawn from
// N(0, 1), as PyTorch does, with no padding index.
func NewEmbedding(rng *rand.Rand, num, dim int) *Embedding {
	e := &Embedding{Weight: param(num, dim), PaddingIdx: -1}
	Normal(rng, e.Weight, 0, 1)
	return e
}

// NewEmbeddingPadded is NewEmbedding with row paddingIdx zeroed and excluded
// from gradients.
func NewEmbeddingPadded(rng *rand.Rand, num, dim, paddingIdx int) *Embedding {
	if paddingIdx < 0 || paddingIdx >= num {
		panic(fmt.Sprintf("nn.NewEmbeddingPadded: padding index %d out of range [0,%d)", paddingIdx, num))
	}
	e := NewEmbedding(rng, num, dim)
	e.PaddingIdx = paddingIdx
	clear(e.Weight.Data()[paddingIdx*dim : (paddingIdx+1)*dim])
	return e
}

// Forward looks up idx: any shape of integral values in [0, num), giving
// (…idx shape, dim), then applies Delta if set.
func (e *Embedding) Forward(idx *tensor.Tensor) *tensor.Tensor {
	y := e.lookup(idx)
	if e.Delta != nil {
		return e.Delta.Forward(idx, y)
	}
	return y
}

func (e *Embedding) lookup(idx *tensor.Tensor) *tensor.Tensor {
	w := e.Weight
	if w.Dim() != 2 {
		panic(fmt.Sprintf("nn.Embedding: weight of shape %s, want (num, dim)", tensor.FormatShape(w.Shape())))
	}
	num, dim := w.SizeOf(0), w.SizeOf(1)
	rows := make([]int, idx.Size())
	for i, v := range idx.Data() {
		r := int(v)
		if float32(r) != v || r < 0 || r >= num {
			panic(fmt.Sprintf("nn.Embedding: index %v out of range [0,%d) (indices of shape %s)", v, num, tensor.FormatShape(idx.Shape())))
		}
		rows[i] = r
	}
	out := tensor.Zeros(append(cloneInts(idx.Shape()), dim)...)
	od, wd := out.Data(), w.Data()
	for i, r := range rows {
		copy(od[i*dim:(i+1)*dim], wd[r*dim:(r+1)*dim])
	}
	pad := e.PaddingIdx
	return tensor.Record("Embedding", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gw := tensor.Zeros(w.Shape()...)
		gd, gwd := g.Data(), gw.Data()
		for i, r := range rows {
			if r == pad {
				continue
			}
			dst := gwd[r*dim : (r+1)*dim]
			for j, v := range gd[i*dim : (i+1)*dim] {
				dst[j] += v
			}
		}
		return []*tensor.Tensor{gw}
	}, w)
}
