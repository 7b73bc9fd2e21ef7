package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/torchfile"
)

const torchData = "../../testdata/torchfile"

// checkConverted compares every tensor of the safetensors file out with the
// tensor of in named prefix+name (prefix is kept in out's names if keep):
// same shape, the dtype want gives, and the same values (after rounding to
// that dtype).
func checkConverted(t *testing.T, in, out, prefix string, keep bool, want func(torchfile.DType) safetensors.DType) *safetensors.File {
	t.Helper()
	src, err := torchfile.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	n := 0
	for _, name := range src.Names() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		n++
		sinfo, _ := src.Info(name)
		dname := name
		if !keep {
			dname = strings.TrimPrefix(name, prefix)
		}
		dinfo, ok := dst.Info(dname)
		if !ok {
			t.Fatalf("%s: no tensor %q (has %q)", out, dname, dst.Names())
		}
		if !slices.Equal(dinfo.Shape, sinfo.Shape) || dinfo.DType != want(sinfo.DType) {
			t.Errorf("%q: %v %v, want %v %v", name, dinfo.DType, dinfo.Shape, want(sinfo.DType), sinfo.Shape)
		}
		sv, _, err := src.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		dv, _, err := dst.Float32(dinfo.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sv {
			w := sv[i]
			switch dinfo.DType {
			case safetensors.F16:
				if sinfo.DType != torchfile.F16 {
					w = safetensors.F16ToFloat32(safetensors.Float32ToF16(w))
				}
			case safetensors.BF16:
				if sinfo.DType != torchfile.BF16 {
					w = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(w))
				}
			}
			if math.Float32bits(dv[i]) != math.Float32bits(w) && !(math.IsNaN(float64(w)) && math.IsNaN(float64(dv[i]))) {
				t.Fatalf("%q[%d] = %v, want %v", name, i, dv[i], w)
			}
		}
		if sinfo.DType.String() == dinfo.DType.String() { // unconverted: same bytes
			sraw, _, _ := src.Raw(name)
			draw, _, _ := dst.Raw(dinfo.Name)
			if string(sraw) != string(draw) {
				t.Errorf("%q: bytes differ", name)
			}
		}
	}
	if dst.Len() != n || n == 0 {
		t.Errorf("%s has %d tensors, want %d", out, dst.Len(), n)
	}
	return dst
}

func keepDType(d torchfile.DType) safetensors.DType {
	s, _ := safetensors.ParseDType(d.String())
	return s
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()

	// A training checkpoint: the state dict under "model.", values as metadata.
	in := filepath.Join(torchData, "nested.pth")
	out := filepath.Join(dir, "nested.safetensors")
	msg, err := runFovea(t, "convert", "--in", in, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, `wrote 8 tensors of "model." from`) {
		t.Errorf("output %q", msg)
	}
	st := checkConverted(t, in, out, "model.", false, keepDType)
	meta := st.Metadata()
	for k, v := range map[string]string{"format": "pt", "epoch": "3", "lr": "0.1", "name": "x", "best": "0.75",
		"flags.0": "True", "flags.1": "None", "big": "1180591620717411303424", "dtype": "torch.float16",
		"optimizer.param_groups.0.eps": "1e-08"} {
		if meta[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, meta[k], v)
		}
	}
	if _, ok := st.Info("conv.weight"); !ok {
		t.Errorf("names %q", st.Names())
	}

	// --keep-prefix keeps "model."; --prefix '' takes the optimizer's tensors too.
	out2 := filepath.Join(dir, "keep.safetensors")
	if _, err := runFovea(t, "convert", "--in", in, "--out", out2, "--keep-prefix"); err != nil {
		t.Fatal(err)
	}
	checkConverted(t, in, out2, "model.", true, keepDType)
	if _, err := runFovea(t, "convert", "--in", in, "--out", out2, "--prefix", ""); err != nil {
		t.Fatal(err)
	}
	all := checkConverted(t, in, out2, "", false, keepDType)
	if _, ok := all.Info("optimizer.state.0.exp_avg"); !ok {
		t.Errorf("--prefix '': names %q", all.Names())
	}

	// Views, tied weights and an F16 transpose: contiguous copies, dtypes kept.
	in = filepath.Join(torchData, "views.pth")
	out = filepath.Join(dir, "views.safetensors")
	if _, err := runFovea(t, "convert", "--in", in, "--out", out); err != nil {
		t.Fatal(err)
	}
	checkConverted(t, in, out, "", false, keepDType)

	// Every dtype, kept and converted (integers and bools keep theirs).
	in = filepath.Join(torchData, "dtypes.pth")
	for _, d := range []struct {
		flag string
		to   safetensors.DType
	}{{"", safetensors.Invalid}, {"f32", safetensors.F32}, {"f16", safetensors.F16}, {"bf16", safetensors.BF16}} {
		out = filepath.Join(dir, "dtypes"+d.flag+".safetensors")
		args := []string{"convert", "--in", in, "--out", out}
		if d.flag != "" {
			args = append(args, "--dtype", d.flag)
		}
		if _, err := runFovea(t, args...); err != nil {
			t.Fatal(err)
		}
		checkConverted(t, in, out, "", false, func(s torchfile.DType) safetensors.DType {
			if d.to != safetensors.Invalid && s.IsFloat() {
				return d.to
			}
			return keepDType(s)
		})
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a checkpoint\n"), 0o644)
	out := filepath.Join(dir, "out.safetensors")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--in", filepath.Join(torchData, "malicious.pth"), "--out", out}, `malicious.pth: malicious/data.pkl at byte 2: global "os.system" is not allowed`},
		{[]string{"--in", filepath.Join(torchData, "legacy.pth"), "--out", out}, "legacy.pth: this is a checkpoint in PyTorch's legacy format"},
		{[]string{"--in", filepath.Join(torchData, "scripted.pt"), "--out", out}, "scripted.pt: this is a TorchScript archive"},
		{[]string{"--in", filepath.Join(dir, "missing.pth"), "--out", out}, "missing.pth: no such file or directory"},
		{[]string{"--in", text, "--out", out}, "notes.txt: not a PyTorch checkpoint"},
		{[]string{"--in", filepath.Join(torchData, "module.pth"), "--out", out, "--dtype", "f8"}, `--dtype must be f32, f16 or bf16, got "f8"`},
		{[]string{"--in", filepath.Join(torchData, "module.pth"), "--out", out, "--prefix", "nope."}, `module.pth: no tensors under the prefix "nope."`},
		{[]string{"--in", filepath.Join(torchData, "module.pth"), "--out", filepath.Join(dir, "no", "dir.safetensors")}, "no/dir.safetensors"},
		{[]string{"--out", out}, "convert needs --in and --out"},
	}
	for _, tt := range tests {
		_, err := runFovea(t, append([]string{"convert"}, tt.args...)...)
		if err == nil {
			t.Errorf("convert %q succeeded", tt.args)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
			t.Errorf("convert %q: error %q, want one line with %q", tt.args, msg, tt.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed convert left %s: %v", out, err)
	}
}
