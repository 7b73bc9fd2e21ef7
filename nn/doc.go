// Package nn builds neural networks from modules: layers with parameters
// (Linear, Conv2d, ConvTranspose2d, BatchNorm2d, LayerNorm, LayerNorm2d,
// GroupNorm, Embedding, MultiheadAttention, the gated feed-forward layers
// SwiGLU, GeGLU and ReGLU), parameter-free layers (activations, pooling,
// upsampling, Dropout, Identity), containers (Sequential), PyTorch's default
// initialisers, and state dicts with safetensors save and load.
//
// # Modules
//
// A module is a plain Go struct. Its parameters are exported *tensor.Tensor
// fields (created with SetRequiresGrad(true)); its buffers are
// *tensor.Tensor fields tagged `nn:",buffer"` (BatchNorm2d's running_mean);
// its sub-modules are fields holding pointers to module structs, interfaces
// (such as Module), slices or arrays of them (a ModuleList), or a Sequential.
// Nothing needs registering: NamedParameters, StateDict, LoadStateDict,
// Freeze, SetTraining and the rest find everything by reflection, once per
// call (Forward never reflects).
//
// Names follow PyTorch: a field's name is its `nn:"name"` tag if given, else
// its Go name in snake_case (RunningMean → running_mean, InProjWeight →
// in_proj_weight, Conv1 → conv1); slice elements are numbered; the parts are
// joined with dots. So
//
//	type Block struct {
//		Norm1 *nn.LayerNorm
//		Attn  *Attention // with a field QKV *nn.Linear
//	}
//	type Encoder struct {
//		Blocks []*Block
//	}
//	type Model struct {
//		Encoder *Encoder
//	}
//
// has the parameter encoder.blocks.0.attn.qkv.weight, exactly as the PyTorch
// model with the same attribute names, and a PyTorch checkpoint loads by name
// with no mapping. Nil fields (Linear without bias) are skipped. Anonymous
// (embedded) struct fields are flattened into the embedding struct, the way
// Go promotes their fields. Fields tagged `nn:"-"` and unexported fields are
// ignored. The state-dict order is PyTorch's: in each module its parameters,
// then its buffers, then its sub-modules, in field order.
//
// A module with one input and one output implements Module (Forward); those
// are what Sequential chains. Modules that behave differently in training
// and evaluation embed TrainMode, whose zero value is training, as a new
// PyTorch module; SetTraining(model, false) (or Eval) switches a whole tree.
//
// # Layers and PyTorch
//
// Every layer matches torch 1.13 forward and backward (golden fixtures from
// PyTorch under testdata/nn, compared to 1e-5 relative; see docs/nn.md for
// the measured errors) and is initialised from an explicit *rand.Rand with
// PyTorch's default distributions: kaiming_uniform(a=√5), i.e. U(±1/√fan_in),
// for Linear and convolution weights, U(±1/√fan_in) for their biases, ones
// and zeros for normalisation layers, N(0, 1) for Embedding. The same seed
// gives the same weights; they are not PyTorch's random streams.
//
// Tensors are float32 with shapes written out in each doc comment, for
// example x: (N, C, H, W). Misuse such as a wrong input shape panics with a
// message naming the layer and the shapes; LoadStateDict and Load return
// errors for what comes from outside.
package nn
