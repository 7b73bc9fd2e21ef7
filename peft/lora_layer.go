package peft

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// layer is one adapter's part in one module.
type layer interface {
	// forward returns the module's output y with the adapter applied; x is
	// the module's input.
	forward(x, y *tensor.Tensor, training bool, rng *rand.Rand) *tensor.Tensor
	// params lists the adapter's tensors named relative to the module
	// ("lora_A.weight"), in PEFT's order.
	params() []nn.Named
	// mergeDelta returns ΔW, of the base weight's shape, in float64, or an
	// error when the adapter cannot be merged.
	mergeDelta() ([]float64, error)
}

// entry is an adapter's layer in a hooked module.
type entry struct {
	adapter string
	key     string // the module's name in PEFT's state dict
	site    *site
	layer   layer
	merged  bool
}

// hook is the nn.Delta (or nn.WeightDelta) peft installs in an adapted
// module: it applies the active, unmerged adapters in the order they were
// added.
type hook struct {
	model   *Model
	site    *site
	entries []*entry
}

// Forward returns y with the active adapters' contributions (nn.Delta).
func (h *hook) Forward(x, y *tensor.Tensor) *tensor.Tensor {
	m := h.model
	if m.disabled {
		return y
	}
	for _, e := range h.entries {
		if e.merged || !m.isActive(e.adapter) {
			continue
		}
		y = e.layer.forward(x, y, m.training, m.rng)
	}
	return y
}

// DeltaWeight returns Σ s·B·A over the active, unmerged LoRA adapters of a
// MultiheadAttention's in-projection, or nil (nn.WeightDelta).
func (h *hook) DeltaWeight() *tensor.Tensor {
	m := h.model
	if m.disabled {
		return nil
	}
	var d *tensor.Tensor
	for _, e := range h.entries {
		l, ok := e.layer.(*loraLayer)
		if e.merged || !ok || !m.isActive(e.adapter) {
			continue
		}
		dw := tensor.MulScalar(tensor.MatMul(l.B, l.A), float32(l.scale))
		if d == nil {
			d = dw
		} else {
			d = tensor.Add(d, dw)
		}
	}
	return d
}

// find returns the entry of adapter, or nil.
func (h *hook) find(adapter string) *entry {
	for _, e := range h.entries {
		if e.adapter == adapter {
			return e
		}
	}
	return nil
}

// loraLayer is LoRA on one module: lora_A (r, in) and lora_B (out, r) for
// Linear and MultiheadAttention, (r, in, kh, kw) and (out, r, 1, 1) for
// Conv2d, lora_embedding_A (r, num) and lora_embedding_B (dim, r) for
// Embedding.
type loraLayer struct {
	site    *site
	r       int
	alpha   float64
	scale   float64
	dropout float32
	A, B    *tensor.Tensor
}

// newLoraLayer builds the LoRA matrices for site s and initialises them
// from rng as init says.
func newLoraLayer(s *site, r int, alpha float64, rs bool, dropout float64, init InitLoraWeights, rng *rand.Rand) (*loraLayer, error) {
	l := &loraLayer{site: s, r: r, alpha: alpha, scale: scaling(alpha, r, rs), dropout: float32(dropout)}
	switch s.kind {
	case kindLinear, kindMHA:
		l.A, l.B = tensor.Zeros(r, s.in), tensor.Zeros(s.out, r)
	case kindConv:
		l.A = tensor.Zeros(r, s.in, s.weight.SizeOf(2), s.weight.SizeOf(3))
		l.B = tensor.Zeros(s.out, r, 1, 1)
	case kindEmbedding:
		l.A, l.B = tensor.Zeros(r, s.in), tensor.Zeros(s.out, r)
	}
	l.A.SetRequiresGrad(true)
	l.B.SetRequiresGrad(true)
	a5 := math.Sqrt(5)
	switch {
	case s.kind == kindEmbedding && init == InitRandom:
		nn.Normal(rng, l.A, 0, 1)
		nn.Normal(rng, l.B, 0, 1)
	case s.kind == kindEmbedding && (init == InitDefault || init == InitGaussian):
		nn.Normal(rng, l.B, 0, 1) // A stays zero, as PEFT (and loralib) for embeddings
	case init == InitDefault:
		nn.KaimingUniform(rng, l.A, a5, nn.FanIn, "leaky_relu")
	case init == InitGaussian:
		nn.Normal(rng, l.A, 0, 1/float64(r))
	case init == InitRandom:
		nn.KaimingUniform(rng, l.A, a5, nn.FanIn, "leaky_relu")
		nn.KaimingUniform(rng, l.B, a5, nn.FanIn, "leaky_relu")
	default:
		return nil, fmt.Errorf("peft: init_lora_weights %q cannot initialise a new adapter (fovea implements true, \"gaussian\" and false)", string(init))
	}
	return l, nil
}

func (l *loraLayer) forward(x, y *tensor.Tensor, training bool, rng *rand.Rand) *tensor.Tensor {
	s := l.site
	var d *tensor.Tensor
	switch s.kind {
	case kindLinear:
		h := x
		if l.dropout > 0 && training {
			h = functional.Dropout(x, l.dropout, true, rng)
		}
		d = nn.Affine(nn.Affine(h, l.A, nil), l.B, nil)
	case kindConv:
		h := x
		if l.dropout > 0 && training {
			h = functional.Dropout(x, l.dropout, true, rng)
		}
		c := s.conv
		a := nn.Conv2d{Weight: l.A, Stride: c.Stride, Padding: c.Padding, Dilation: c.Dilation, PaddingSame: c.PaddingSame, PaddingMode: c.PaddingMode}
		b := nn.Conv2d{Weight: l.B}
		d = b.Forward(a.Forward(h))
	case kindEmbedding:
		// PEFT: F.embedding(x, Aᵀ, padding_idx…) @ Bᵀ · s, no dropout.
		e := nn.Embedding{Weight: tensor.Transpose(l.A, 0, 1), PaddingIdx: s.pad}
		d = nn.Affine(e.Forward(x), l.B, nil)
	default:
		return y // kindMHA adds its ΔW through DeltaWeight
	}
	return tensor.Add(y, tensor.MulScalar(d, float32(l.scale)))
}

func (l *loraLayer) params() []nn.Named {
	if l.site.kind == kindEmbedding {
		return []nn.Named{{Name: "lora_embedding_A", Tensor: l.A}, {Name: "lora_embedding_B", Tensor: l.B}}
	}
	return []nn.Named{{Name: "lora_A.weight", Tensor: l.A}, {Name: "lora_B.weight", Tensor: l.B}}
}

// mergeDelta returns s·B·A laid out as the base weight: (out, in) for Linear
// and MultiheadAttention, transposed for (in, out) weights, (out, in, kh,
// kw) for Conv2d, (B·A)ᵀ (num, dim) for Embedding.
func (l *loraLayer) mergeDelta() ([]float64, error) {
	s := l.site
	rows := l.B.SizeOf(0)
	cols := l.A.Size() / l.r
	ba := matMul64(l.B.Data(), l.A.Data(), rows, l.r, cols, l.scale)
	if s.inOut || s.kind == kindEmbedding {
		ba = transpose64(ba, rows, cols)
	}
	return ba, nil
}

// matMul64 returns s·(a·b) in float64 for a (m, k) and b (k, n) float32.
func matMul64(a, b []float32, m, k, n int, s float64) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		row := out[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := float64(a[i*k+p])
			if av == 0 {
				continue
			}
			brow := b[p*n : (p+1)*n]
			for j, bv := range brow {
				row[j] += av * float64(bv)
			}
		}
	}
	for i := range out {
		out[i] *= s
	}
	return out
}

// transpose64 transposes the (m, n) matrix a.
func transpose64(a []float64, m, n int) []float64 {
	out := make([]float64, len(a))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			out[j*m+i] = a[i*n+j]
		}
	}
	return out
}
