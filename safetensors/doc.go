// Package safetensors reads and writes the safetensors weight format of
// Hugging Face (https://huggingface.co/docs/safetensors), the format most
// PyTorch checkpoints are published in.
//
// A file is an 8-byte little-endian unsigned length N, then N bytes of UTF-8
// JSON, then the data buffer. The JSON is an object mapping each tensor name
// to {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [begin, end]},
// where the offsets are bytes from the start of the data buffer, plus an
// optional "__metadata__" object of string keys and values. Tensors are
// stored little-endian and row-major (C order), one after another with no
// gaps.
//
// The package works on bytes, []float32 and shapes ([]int, outermost first)
// and does not depend on package tensor; package nn maps a model's
// parameters to it by their PyTorch state-dict names.
//
// Reading: Open validates the whole header (the checks of the reference Rust
// implementation: header at most 100 MB, a JSON object, known dtypes, each
// tensor's byte size equal to its shape times its dtype size, offsets tiling
// the data buffer exactly up to the end of the file) and memory-maps the file
// on Linux; File.Float32 converts any numeric dtype to float32 and File.Raw
// returns the stored bytes. A bad file gives an *Error naming the file, the
// tensor and what is wrong. Writing: Save writes a file atomically (temporary
// file and rename); Write writes to any io.Writer. float32 data can be stored
// as F32, F16 or BF16 (round to nearest even) or any other numeric dtype.
package safetensors
