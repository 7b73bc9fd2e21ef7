// Package torchfile reads PyTorch checkpoints: the .pth / .pt files written
// by torch.save in the zip format of PyTorch 1.6 and later, such as a
// model's state_dict() or a training checkpoint {"model": ..., "optimizer":
// ..., "epoch": 3}.
//
// A checkpoint is a zip archive. <prefix>/data.pkl is a Python pickle of the
// saved object, where each tensor is a call of
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) and
// each storage a persistent id ('storage', torch.FloatStorage, key,
// location, numel) whose bytes, little-endian, are the uncompressed entry
// <prefix>/data/<key>, aligned to 64 bytes in the file. The prefix is the
// stem of the file name torch.save was given ("archive" for a buffer).
// Several tensors may share one storage at different offsets and strides
// (views, tied weights).
//
// The pickle is read by a restricted unpickler in the spirit of
// torch.load(weights_only=True), written in Go: it runs no Python and calls
// nothing, and it accepts only the globals of AllowedGlobals (the tensor and
// parameter rebuild functions, OrderedDict, torch's storage classes and
// dtypes, torch.Size, torch.device, set, and the latin-1 encoding of
// bytes). Any other global (os.system, builtins.eval, a pickled nn.Module or
// NumPy array), an opcode outside the data-only set, PyTorch's legacy
// (pre-1.6) format and TorchScript archives (torch.jit.save) make Open
// fail with an *Error that names the file and says what to do.
//
// Open memory-maps the file on Linux (copy-on-write) and checks every tensor
// against its storage; Float32 and Float32Into convert any dtype (F32, F16,
// BF16, F64, I64, I32, I16, I8, U8, BOOL, and U16/U32/U64 of PyTorch 2.3)
// to row-major float32, gathering strided views; Raw gives a tensor's own
// bytes, row-major; Float32View returns an F32 tensor without copying.
// Tensors in nested dicts are named by joining keys with "."
// ("model.image_encoder.pos_embed"), and StateDictPrefix finds the state
// dict in a training checkpoint. Plain values (ints, floats, strings) are
// in Values.
//
// The package works on bytes, []float32 and shapes ([]int, outermost first)
// and depends on no other fovea package; `fovea convert` turns a checkpoint
// into safetensors.
package torchfile
