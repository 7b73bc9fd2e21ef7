package nn_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/tensor"
)

// Block is a convolution, batch norm and a residual scale: a module is a
// plain struct whose fields are its parameters and sub-modules.
type Block struct {
	Conv  *nn.Conv2d
	Norm  *nn.BatchNorm2d
	Gamma *tensor.Tensor // a parameter of the block itself: "gamma"
}

func (b *Block) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := b.Norm.Forward(b.Conv.Forward(x))
	return tensor.Add(x, tensor.Mul(y, tensor.Reshape(b.Gamma, 1, -1, 1, 1)))
}

// Net is a small classifier: a stem, a list of blocks and a head.
type Net struct {
	Stem   *nn.Conv2d
	Blocks []*Block
	Head   *nn.Linear `nn:"fc"` // a tag renames a field
}

func NewNet(rng *rand.Rand) *Net {
	n := &Net{
		Stem: nn.NewConv2d(rng, nn.Conv2dConfig{In: 3, Out: 8, Kernel: nn.Pair(3), Padding: nn.Pair(1)}),
		Head: nn.NewLinear(rng, 8, 10, true),
	}
	for range 2 {
		n.Blocks = append(n.Blocks, &Block{
			Conv:  nn.NewConv2d(rng, nn.Conv2dConfig{In: 8, Out: 8, Kernel: nn.Pair(3), PaddingSame: true, NoBias: true}),
			Norm:  nn.NewBatchNorm2d(8),
			Gamma: tensor.Full(0.1, 8).SetRequiresGrad(true),
		})
	}
	return n
}

func (n *Net) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = n.Stem.Forward(x)
	for _, b := range n.Blocks {
		x = b.Forward(x)
	}
	x = tensor.Mean(x, []int{2, 3}, false) // global average pool: (N, 8)
	return n.Head.Forward(x)
}

// Example builds a model, runs a training step's forward and backward
// passes, and switches to evaluation mode.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	net := NewNet(rng)
	x := tensor.RandNormal(rng, 0, 1, 4, 3, 16, 16)
	logits := net.Forward(x)
	loss := tensor.CrossEntropy(logits, tensor.FromSlice([]float32{1, 0, 3, 9}, 4), tensor.CrossEntropyOptions{})
	loss.Backward()
	total, trainable := nn.CountParameters(net)
	fmt.Println("logits", logits.Shape())
	fmt.Println("parameters", total, "trainable", trainable)
	fmt.Println("stem weight grad", net.Stem.Weight.Grad().Shape())
	nn.Eval(net) // BatchNorm2d now uses its running statistics
	fmt.Println("training:", net.Blocks[0].Norm.Training())
	// Output:
	// logits [4 10]
	// parameters 1514 trainable 1514
	// stem weight grad [8 3 3 3]
	// training: false
}

// ExampleStateDictEntries lists a model's state dict in PyTorch's order and
// with PyTorch's names.
func ExampleStateDictEntries() {
	net := NewNet(rand.New(rand.NewPCG(1, 2)))
	for _, e := range nn.StateDictEntries(net) {
		if e.Name[0] == 'b' && e.Name[7] == '1' {
			continue // skip blocks.1, the same as blocks.0
		}
		fmt.Println(e.Name, e.Tensor.Shape())
	}
	// Output:
	// stem.weight [8 3 3 3]
	// stem.bias [8]
	// blocks.0.gamma [8]
	// blocks.0.conv.weight [8 8 3 3]
	// blocks.0.norm.weight [8]
	// blocks.0.norm.bias [8]
	// blocks.0.norm.running_mean [8]
	// blocks.0.norm.running_var [8]
	// blocks.0.norm.num_batches_tracked []
	// fc.weight [10 8]
	// fc.bias [10]
}

// ExampleSave writes a model to a safetensors file and loads it into a
// second model built with other random weights.
func ExampleSave() {
	dir, _ := os.MkdirTemp("", "nn-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "net.safetensors")

	a := NewNet(rand.New(rand.NewPCG(1, 2)))
	if err := nn.Save(path, a, map[string]string{"epoch": "3"}); err != nil {
		fmt.Println(err)
		return
	}
	b := NewNet(rand.New(rand.NewPCG(3, 4)))
	report, err := nn.Load(path, b, true)
	fmt.Println(report, err)
	fmt.Println(a.Head.Weight.At(2, 5) == b.Head.Weight.At(2, 5))

	// A model with a different head loads non-strictly, reporting the rest.
	c := NewNet(rand.New(rand.NewPCG(5, 6)))
	c.Head = nn.NewLinear(rand.New(rand.NewPCG(7, 8)), 8, 21, true)
	report, err = nn.Load(path, c, false)
	fmt.Println(report, err)
	// Output:
	// all keys matched <nil>
	// true
	// size mismatch for fc.bias: shape (10) in the state dict, (21) in the model; size mismatch for fc.weight: shape (10,8) in the state dict, (21,8) in the model <nil>
}

// ExampleLoadStateDict loads PyTorch-named tensors and reports what did not
// match.
func ExampleLoadStateDict() {
	lin := nn.NewLinear(rand.New(rand.NewPCG(1, 2)), 2, 1, true)
	sd := map[string]*tensor.Tensor{
		"weight":     tensor.FromSlice([]float32{0.5, -1}, 1, 2),
		"num_tokens": tensor.Scalar(7),
	}
	report, err := nn.LoadStateDict(lin, sd, true)
	fmt.Println(err)
	report, err = nn.LoadStateDict(lin, sd, false)
	fmt.Println(report.Missing, report.Unexpected, err, lin.Weight.Data())
	// Output:
	// nn: loading state dict: missing key(s): "bias"; unexpected key(s): "num_tokens"
	// [bias] [num_tokens] <nil> [0.5 -1]
}

// ExampleMultiheadAttention runs batch-first cross-attention with a key
// padding mask.
func ExampleMultiheadAttention() {
	rng := rand.New(rand.NewPCG(1, 2))
	attn := nn.NewMultiheadAttention(rng, 16, 4, true)
	q := tensor.RandNormal(rng, 0, 1, 2, 3, 16)  // (N, L, E)
	kv := tensor.RandNormal(rng, 0, 1, 2, 5, 16) // (N, S, E)
	pad := tensor.FromSlice([]float32{0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, 2, 5)
	out, w := attn.Attend(q, kv, kv, nn.AttentionOptions{KeyPaddingMask: pad, NeedWeights: true})
	fmt.Println(out.Shape(), w.Shape(), w.At(0, 0, 3) == 0)
	// Output:
	// [2 3 16] [2 3 5] true
}

// ExampleNewMultiheadAttentionConfig builds attention in PyTorch's default
// (L, N, E) layout whose keys and values have their own sizes, with a
// learned extra key and value (add_bias_kv).
func ExampleNewMultiheadAttentionConfig() {
	rng := rand.New(rand.NewPCG(1, 2))
	attn := nn.NewMultiheadAttentionConfig(rng, nn.MultiheadAttentionConfig{
		EmbedDim: 16, NumHeads: 4, KDim: 6, VDim: 10, AddBiasKV: true, SequenceFirst: true,
	})
	q := tensor.RandNormal(rng, 0, 1, 3, 2, 16) // (L, N, E)
	k := tensor.RandNormal(rng, 0, 1, 5, 2, 6)  // (S, N, kdim)
	v := tensor.RandNormal(rng, 0, 1, 5, 2, 10) // (S, N, vdim)
	out, w := attn.Attend(q, k, v, nn.AttentionOptions{NeedWeights: true})
	var names []string
	for _, p := range nn.NamedParameters(attn)[:3] {
		names = append(names, fmt.Sprint(p.Name, p.Tensor.Shape()))
	}
	fmt.Println(strings.Join(names, " "))
	fmt.Println(out.Shape(), w.Shape())
	// Output:
	// q_proj_weight[16 16] k_proj_weight[16 6] v_proj_weight[16 10]
	// [3 2 16] [2 3 6]
}

// ExampleConvTranspose2d_ForwardOutputSize undoes a stride-2 convolution
// back to an odd size, which the output padding alone cannot tell.
func ExampleConvTranspose2d_ForwardOutputSize() {
	rng := rand.New(rand.NewPCG(1, 2))
	down := nn.NewConv2d(rng, nn.Conv2dConfig{In: 3, Out: 8, Kernel: nn.Pair(3), Stride: nn.Pair(2), Padding: nn.Pair(1)})
	up := nn.NewConvTranspose2d(rng, nn.ConvTranspose2dConfig{In: 8, Out: 3, Kernel: nn.Pair(3), Stride: nn.Pair(2), Padding: nn.Pair(1)})
	x := tensor.RandNormal(rng, 0, 1, 1, 3, 15, 16)
	h := down.Forward(x) // (1, 8, 8, 8) from 15 or 16 rows alike
	y := up.ForwardOutputSize(h, [2]int{x.SizeOf(2), x.SizeOf(3)})
	fmt.Println(h.Shape(), y.Shape(), up.OutputPaddingFor(h.Shape(), [2]int{15, 16}))
	// Output:
	// [1 8 8 8] [1 3 15 16] [0 1]
}

// ExampleSequential chains layers and parameter-free modules; the state-dict
// names are the positions, as in PyTorch.
func ExampleSequential() {
	rng := rand.New(rand.NewPCG(1, 2))
	decoder := nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 16, Out: 8, Kernel: nn.Pair(3), Padding: nn.Pair(1)}),
		nn.NewGroupNorm(4, 8),
		nn.GELU{},
		nn.Upsample{ScaleFactor: [2]float64{2, 2}, Mode: functional.Bilinear},
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 8, Out: 4, Kernel: nn.Pair(1)}),
		nn.PixelShuffle{UpscaleFactor: 2},
	)
	y := decoder.Forward(tensor.RandNormal(rng, 0, 1, 1, 16, 5, 7))
	fmt.Println(y.Shape())
	for _, p := range nn.NamedParameters(decoder) {
		fmt.Println(p.Name, p.Tensor.Shape())
	}
	// Output:
	// [1 1 20 28]
	// 0.weight [8 16 3 3]
	// 0.bias [8]
	// 1.weight [8]
	// 1.bias [8]
	// 4.weight [4 8 1 1]
	// 4.bias [4]
}

// ExampleFreeze freezes a backbone so that only the head trains.
func ExampleFreeze() {
	net := NewNet(rand.New(rand.NewPCG(1, 2)))
	nn.Freeze(net.Blocks)
	total, trainable := nn.CountParameters(net)
	fmt.Println(total, trainable)
	nn.Unfreeze(net)
	_, trainable = nn.CountParameters(net)
	fmt.Println(trainable)
	// Output:
	// 1514 314
	// 1514
}

// ExampleKaimingNormal re-initialises a convolution for a ReLU network and
// checks the spread of the weights.
func ExampleKaimingNormal() {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := nn.NewConv2d(rng, nn.Conv2dConfig{In: 64, Out: 128, Kernel: nn.Pair(3), NoBias: true})
	nn.KaimingNormal(rng, conv.Weight, 0, nn.FanOut, "relu") // std √(2/fan_out) = √(2/1152)
	std := tensor.Std(conv.Weight, nil, 0, false).Item()
	fmt.Printf("std %.3f\n", std)
	nn.TruncNormal(rng, conv.Weight, 0, 0.02, -2, 2) // ViT-style
	fmt.Printf("std %.3f\n", tensor.Std(conv.Weight, nil, 0, false).Item())
	// Output:
	// std 0.042
	// std 0.020
}

// ExampleBatchNorm2d shows the running statistics moving in training mode
// and being used in evaluation mode.
func ExampleBatchNorm2d() {
	bn := nn.NewBatchNorm2d(1)
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1, 2, 2) // mean 4.5, unbiased var 6
	bn.Forward(x)
	fmt.Println(bn.RunningMean.Data(), bn.RunningVar.Data(), bn.NumBatchesTracked.Item())
	nn.Eval(bn)
	y := bn.Forward(x) // (x − 0.45)/√(1.5 + 1e-5), PyTorch's float32 rounding
	fmt.Printf("%.4f\n", y.At(0, 0, 0, 0))
	// Output:
	// [0.45000002] [1.5] 1
	// 0.4491
}
