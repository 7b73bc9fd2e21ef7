package gcn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// layouts gives the block kind and the number of blocks per stage.
var layouts = map[string]struct {
	bottleneck bool
	blocks     [4]int
}{
	"resnet18": {false, [4]int{2, 2, 2, 2}},
	"resnet34": {false, [4]int{3, 4, 6, 3}},
	"resnet50": {true, [4]int{3, 4, 6, 3}},
}

// Model is the Global Convolutional Network. Forward maps images
// x: (N, 3, H, W) to class scores (N, NumClasses, H, W); H and W must be
// multiples of 32.
type Model struct {
	Config   Config                `nn:"-"`
	Backbone *ResNet               `nn:"backbone"`
	GCN      []*GlobalConv         `nn:"gcn"`
	BRScore  []*BoundaryRefinement `nn:"br_score"`
	BRMerge  []*BoundaryRefinement `nn:"br_merge"`
	BRFinal  []*BoundaryRefinement `nn:"br_final"`
	Up       []*Upsample           `nn:"up"`
}

// New builds a model with PyTorch's default initialisation drawn from rng.
func New(rng *rand.Rand, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Backbone: newResNet(rng, cfg)}
	nc := cfg.NumClasses
	for _, c := range m.Backbone.Channels {
		m.GCN = append(m.GCN, newGlobalConv(rng, c, nc, cfg.K))
	}
	nBR := func(n int) []*BoundaryRefinement {
		var out []*BoundaryRefinement
		for i := 0; i < n; i++ {
			if cfg.BR {
				out = append(out, newBR(rng, nc))
			} else {
				out = append(out, nil)
			}
		}
		return out
	}
	m.BRScore, m.BRMerge, m.BRFinal = nBR(4), nBR(3), nBR(2)
	for i := 0; i < 5; i++ {
		m.Up = append(m.Up, newUpsample(rng, nc, cfg.Upsampler))
	}
	return m, nil
}

// Forward returns the class scores for images x: (N, 3, H, W).
func (m *Model) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() != 4 || x.SizeOf(1) != 3 || x.SizeOf(2)%32 != 0 || x.SizeOf(3)%32 != 0 {
		panic(fmt.Sprintf("gcn.Forward: input %s, want (N, 3, H, W) with H and W multiples of 32", tensor.FormatShape(x.Shape())))
	}
	feats := m.Backbone.Forward(x)
	var s [4]*tensor.Tensor
	for i, f := range feats {
		s[i] = m.BRScore[i].Forward(m.GCN[i].Forward(f))
	}
	y := s[3]
	for i, j := range []int{2, 1, 0} {
		y = m.BRMerge[i].Forward(tensor.Add(m.Up[i].Forward(y), s[j]))
	}
	y = m.BRFinal[0].Forward(m.Up[3].Forward(y))
	return m.BRFinal[1].Forward(m.Up[4].Forward(y))
}

// GlobalConv is the GCN module: (k×1 then 1×k) + (1×k then k×1), with no
// non-linearity, from C channels to the number of classes.
type GlobalConv struct {
	Left1  *nn.Conv2d `nn:"left1"`
	Left2  *nn.Conv2d `nn:"left2"`
	Right1 *nn.Conv2d `nn:"right1"`
	Right2 *nn.Conv2d `nn:"right2"`
}

func newGlobalConv(rng *rand.Rand, in, nc, k int) *GlobalConv {
	p := k / 2
	return &GlobalConv{
		Left1:  conv(rng, in, nc, k, 1, 1, p, 0, true),
		Left2:  conv(rng, nc, nc, 1, k, 1, 0, p, true),
		Right1: conv(rng, in, nc, 1, k, 1, 0, p, true),
		Right2: conv(rng, nc, nc, k, 1, 1, p, 0, true),
	}
}

// Forward maps x: (N, C, H, W) to (N, classes, H, W).
func (g *GlobalConv) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.Add(g.Left2.Forward(g.Left1.Forward(x)), g.Right2.Forward(g.Right1.Forward(x)))
}

// BoundaryRefinement is the residual block x + conv3×3(ReLU(conv3×3(x))). A
// nil *BoundaryRefinement is the identity (models built without BR).
type BoundaryRefinement struct {
	Conv1 *nn.Conv2d `nn:"conv1"`
	Conv2 *nn.Conv2d `nn:"conv2"`
}

func newBR(rng *rand.Rand, c int) *BoundaryRefinement {
	return &BoundaryRefinement{Conv1: conv(rng, c, c, 3, 3, 1, 1, 1, true), Conv2: conv(rng, c, c, 3, 3, 1, 1, 1, true)}
}

// Forward maps x: (N, C, H, W) to the same shape.
func (b *BoundaryRefinement) Forward(x *tensor.Tensor) *tensor.Tensor {
	if b == nil {
		return x
	}
	return tensor.Add(x, b.Conv2.Forward(functional.ReLU(b.Conv1.Forward(x))))
}

// Upsample doubles the height and width of a score map: bilinear
// interpolation (no parameters), a transposed convolution (k 4, stride 2,
// padding 1) or a 1×1 convolution to 4× channels then PixelShuffle(2).
type Upsample struct {
	Kind   string              `nn:"-"`
	Deconv *nn.ConvTranspose2d `nn:"deconv"`
	Conv   *nn.Conv2d          `nn:"conv"`
}

func newUpsample(rng *rand.Rand, c int, kind string) *Upsample {
	u := &Upsample{Kind: kind}
	switch kind {
	case "deconv":
		u.Deconv = nn.NewConvTranspose2d(rng, nn.ConvTranspose2dConfig{In: c, Out: c, Kernel: [2]int{4, 4}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}})
	case "pixelshuffle":
		u.Conv = conv(rng, c, 4*c, 1, 1, 1, 0, 0, true)
	}
	return u
}

// Forward maps x: (N, C, H, W) to (N, C, 2H, 2W).
func (u *Upsample) Forward(x *tensor.Tensor) *tensor.Tensor {
	switch u.Kind {
	case "deconv":
		return u.Deconv.Forward(x)
	case "pixelshuffle":
		return functional.PixelShuffle(u.Conv.Forward(x), 2)
	}
	return functional.Interpolate(x, functional.InterpolateOptions{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear})
}

// ResNet is the backbone: a 7×7 stride-2 stem, 3×3 stride-2 max pooling,
// then four stages at strides 4, 8, 16 and 32.
type ResNet struct {
	Conv1    *nn.Conv2d      `nn:"conv1"`
	BN1      *nn.BatchNorm2d `nn:"bn1"`
	Layer1   []nn.Module     `nn:"layer1"`
	Layer2   []nn.Module     `nn:"layer2"`
	Layer3   []nn.Module     `nn:"layer3"`
	Layer4   []nn.Module     `nn:"layer4"`
	Channels [4]int          `nn:"-"` // output channels of each stage
}

func newResNet(rng *rand.Rand, cfg Config) *ResNet {
	lay := layouts[cfg.Backbone]
	var widths [4]int
	for i, c := range []int{64, 128, 256, 512} {
		widths[i] = max(1, int(math.Round(float64(c)*cfg.Width)))
	}
	r := &ResNet{Conv1: conv(rng, 3, widths[0], 7, 7, 2, 3, 3, false), BN1: nn.NewBatchNorm2d(widths[0])}
	in := widths[0]
	stages := []*[]nn.Module{&r.Layer1, &r.Layer2, &r.Layer3, &r.Layer4}
	for i, c := range widths {
		for j := 0; j < lay.blocks[i]; j++ {
			stride := 1
			if j == 0 && i > 0 {
				stride = 2
			}
			if lay.bottleneck {
				*stages[i] = append(*stages[i], newBottleneck(rng, in, c, stride))
				in = 4 * c
			} else {
				*stages[i] = append(*stages[i], newBasicBlock(rng, in, c, stride))
				in = c
			}
		}
		r.Channels[i] = in
	}
	return r
}

// Forward returns the four stage outputs for x: (N, 3, H, W), at strides 4, 8, 16, 32.
func (r *ResNet) Forward(x *tensor.Tensor) [4]*tensor.Tensor {
	y := functional.ReLU(r.BN1.Forward(r.Conv1.Forward(x)))
	y, _ = functional.MaxPool2d(y, functional.MaxPool2dOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}})
	var out [4]*tensor.Tensor
	for i, stage := range [][]nn.Module{r.Layer1, r.Layer2, r.Layer3, r.Layer4} {
		for _, b := range stage {
			y = b.Forward(y)
		}
		out[i] = y
	}
	return out
}

// BasicBlock is ResNet-18/34's residual block of two 3×3 convolutions.
type BasicBlock struct {
	Conv1      *nn.Conv2d      `nn:"conv1"`
	BN1        *nn.BatchNorm2d `nn:"bn1"`
	Conv2      *nn.Conv2d      `nn:"conv2"`
	BN2        *nn.BatchNorm2d `nn:"bn2"`
	Downsample nn.Sequential   `nn:"downsample"` // 1×1 conv + BN when the shape changes, else empty
}

func newBasicBlock(rng *rand.Rand, in, out, stride int) *BasicBlock {
	b := &BasicBlock{
		Conv1: conv(rng, in, out, 3, 3, stride, 1, 1, false), BN1: nn.NewBatchNorm2d(out),
		Conv2: conv(rng, out, out, 3, 3, 1, 1, 1, false), BN2: nn.NewBatchNorm2d(out),
	}
	if stride != 1 || in != out {
		b.Downsample = nn.Sequential{conv(rng, in, out, 1, 1, stride, 0, 0, false), nn.NewBatchNorm2d(out)}
	}
	return b
}

// Forward maps x: (N, in, H, W) to (N, out, H/stride, W/stride).
func (b *BasicBlock) Forward(x *tensor.Tensor) *tensor.Tensor {
	idt := x
	if len(b.Downsample) > 0 {
		idt = b.Downsample.Forward(x)
	}
	y := functional.ReLU(b.BN1.Forward(b.Conv1.Forward(x)))
	y = b.BN2.Forward(b.Conv2.Forward(y))
	return functional.ReLU(tensor.Add(y, idt))
}

// Bottleneck is ResNet-50's residual block: 1×1, 3×3 (with the stride), 1×1
// to 4× the width.
type Bottleneck struct {
	Conv1      *nn.Conv2d      `nn:"conv1"`
	BN1        *nn.BatchNorm2d `nn:"bn1"`
	Conv2      *nn.Conv2d      `nn:"conv2"`
	BN2        *nn.BatchNorm2d `nn:"bn2"`
	Conv3      *nn.Conv2d      `nn:"conv3"`
	BN3        *nn.BatchNorm2d `nn:"bn3"`
	Downsample nn.Sequential   `nn:"downsample"`
}

func newBottleneck(rng *rand.Rand, in, mid, stride int) *Bottleneck {
	out := 4 * mid
	b := &Bottleneck{
		Conv1: conv(rng, in, mid, 1, 1, 1, 0, 0, false), BN1: nn.NewBatchNorm2d(mid),
		Conv2: conv(rng, mid, mid, 3, 3, stride, 1, 1, false), BN2: nn.NewBatchNorm2d(mid),
		Conv3: conv(rng, mid, out, 1, 1, 1, 0, 0, false), BN3: nn.NewBatchNorm2d(out),
	}
	if stride != 1 || in != out {
		b.Downsample = nn.Sequential{conv(rng, in, out, 1, 1, stride, 0, 0, false), nn.NewBatchNorm2d(out)}
	}
	return b
}

// Forward maps x: (N, in, H, W) to (N, 4·mid, H/stride, W/stride).
func (b *Bottleneck) Forward(x *tensor.Tensor) *tensor.Tensor {
	idt := x
	if len(b.Downsample) > 0 {
		idt = b.Downsample.Forward(x)
	}
	y := functional.ReLU(b.BN1.Forward(b.Conv1.Forward(x)))
	y = functional.ReLU(b.BN2.Forward(b.Conv2.Forward(y)))
	y = b.BN3.Forward(b.Conv3.Forward(y))
	return functional.ReLU(tensor.Add(y, idt))
}

// conv builds a kh×kw convolution with PyTorch's default initialisation.
func conv(rng *rand.Rand, in, out, kh, kw, stride, ph, pw int, bias bool) *nn.Conv2d {
	return nn.NewConv2d(rng, nn.Conv2dConfig{In: in, Out: out, Kernel: [2]int{kh, kw}, Stride: [2]int{stride, stride}, Padding: [2]int{ph, pw}, NoBias: !bias})
}
