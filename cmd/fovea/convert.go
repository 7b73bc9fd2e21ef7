package main

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/torchfile"
)

func init() {
	var in, out, dtype, prefix string
	var keepPrefix bool
	cmd := &cobra.Command{
		Use:   "convert --in MODEL.pth --out MODEL.safetensors",
		Short: "Convert a PyTorch checkpoint (torch.save .pth/.pt) to safetensors",
		Long: `Read a checkpoint written by torch.save (the zip format of PyTorch 1.6 and later)
without running Python or any code it names, and write its state dict as safetensors.

In a training checkpoint such as {"model": state_dict, "optimizer": ..., "epoch": 3}
the state dict is found as the dict holding the most tensors ("model." here) and
only its tensors are written, with that prefix stripped (--keep-prefix keeps it;
--prefix chooses another, --prefix '' takes every tensor in the file). Each tensor
keeps its dtype (F16 stays F16) unless --dtype converts the floating-point ones;
views and tied weights become separate contiguous copies. The checkpoint's plain
values (epoch, lr, ...) go into the safetensors metadata as strings, with
"format": "pt". The output is written atomically.

Legacy (pre-1.6) checkpoints, TorchScript archives and pickles that call anything
beyond tensors, dicts and plain values are refused; docs/torchfile.md says why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" || out == "" {
				return fmt.Errorf("convert needs --in and --out")
			}
			var to safetensors.DType
			switch dtype {
			case "", "keep":
			case "f32":
				to = safetensors.F32
			case "f16":
				to = safetensors.F16
			case "bf16":
				to = safetensors.BF16
			default:
				return fmt.Errorf("convert: --dtype must be f32, f16 or bf16, got %q", dtype)
			}
			f, err := torchfile.Open(in)
			if err != nil {
				return err
			}
			defer f.Close()
			pfx := f.StateDictPrefix()
			if cmd.Flags().Changed("prefix") {
				pfx = prefix
			}
			tensors, err := convertTensors(in, f, pfx, keepPrefix, to)
			if err != nil {
				return err
			}
			if len(tensors) == 0 {
				return fmt.Errorf("convert: %s: no tensors under the prefix %q", in, pfx)
			}
			if err := safetensors.Save(out, tensors, convertMetadata(f)); err != nil {
				return err
			}
			where := "the whole file"
			if pfx != "" {
				where = fmt.Sprintf("%q", pfx)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d tensors of %s from %s to %s\n", len(tensors), where, in, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "the PyTorch checkpoint (.pth, .pt) to read")
	cmd.Flags().StringVar(&out, "out", "", "the safetensors file to write")
	cmd.Flags().StringVar(&dtype, "dtype", "", "store floating-point tensors as f32, f16 or bf16 (default: keep each tensor's dtype)")
	cmd.Flags().StringVar(&prefix, "prefix", "", "the state dict's prefix, e.g. 'model.' (default: detected; '' for every tensor)")
	cmd.Flags().BoolVar(&keepPrefix, "keep-prefix", false, "keep the state dict's prefix in the tensor names")
	rootCmd.AddCommand(cmd)
}

// convertTensors returns the tensors of f (read from path) named under prefix, renamed
// without it unless keep, each a contiguous copy (or, for F32 kept as F32,
// a view of the memory map) in its own dtype or, for floating-point
// tensors, in to if that is set.
func convertTensors(path string, f *torchfile.File, prefix string, keep bool, to safetensors.DType) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, name := range f.Names() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		info, _ := f.Info(name)
		dt, ok := safetensors.ParseDType(info.DType.String())
		if !ok {
			return nil, fmt.Errorf("convert: %s: tensor %q: dtype %s has no safetensors name", path, name, info.DType)
		}
		t := safetensors.Tensor{Name: name, DType: dt, Shape: info.Shape}
		if !keep {
			t.Name = strings.TrimPrefix(name, prefix)
		}
		if to != safetensors.Invalid && info.DType.IsFloat() {
			t.DType = to
		}
		switch {
		case t.DType != dt: // convert through float32
			vals, _, err := f.Float32(name)
			if err != nil {
				return nil, err
			}
			t.Float32 = vals
		case dt == safetensors.F32:
			if v, ok := f.Float32View(name); ok {
				t.Float32 = v // no copy: Save reads the mapping
				break
			}
			fallthrough
		default:
			raw, _, err := f.Raw(name)
			if err != nil {
				return nil, err
			}
			t.Raw = raw
		}
		out = append(out, t)
	}
	return out, nil
}

// convertMetadata returns the checkpoint's plain values as strings, as
// Python prints them, with "format": "pt" (which Hugging Face's loaders
// expect).
func convertMetadata(f *torchfile.File) map[string]string {
	meta := map[string]string{}
	for k, v := range f.Values() {
		var s string
		switch v := v.(type) {
		case nil:
			s = "None"
		case bool:
			s = "False"
			if v {
				s = "True"
			}
		case int64:
			s = strconv.FormatInt(v, 10)
		case *big.Int:
			s = v.String()
		case float64:
			s = pythonFloat(v)
		case string:
			s = v
		case []byte:
			s = fmt.Sprintf("%q", v)
		default:
			s = fmt.Sprint(v)
		}
		meta[k] = s
	}
	meta["format"] = "pt"
	return meta
}

// pythonFloat formats v as Python's repr does: 0.1, 3.0, 1e-05, 1e+16.
func pythonFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 0):
		if v > 0 {
			return "inf"
		}
		return "-inf"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64)
	if exp, _ := strconv.Atoi(e[strings.LastIndexByte(e, 'e')+1:]); exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
