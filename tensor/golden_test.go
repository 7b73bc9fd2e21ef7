package tensor_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

// The golden fixtures are written by scripts/golden_tensor.py with PyTorch:
// for every case the inputs, the forward outputs computed in float32 and in
// float64, an upstream gradient and the input gradients (float32 and
// float64). fovea must match the float64 results to the case's tolerance.

type goldenFile struct {
	Torch string       `json:"torch"`
	Cases []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name   string       `json:"name"`
	Op     string       `json:"op"`
	Params goldenParams `json:"params"`
	Tol    float64      `json:"tol"`
	Inputs []struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
		Grad  bool      `json:"grad"`
	} `json:"inputs"`
	Out []struct {
		Shape []int     `json:"shape"`
		F32   []float64 `json:"f32"`
		F64   []float64 `json:"f64"`
		Diff  bool      `json:"diff"`
	} `json:"out"`
	Gout  [][]float64 `json:"gout"`
	Grads []*struct {
		F32 []float64 `json:"f32"`
		F64 []float64 `json:"f64"`
	} `json:"grads"`
}

// goldenParams is the union of every op's parameters in the fixture.
type goldenParams struct {
	Shape          []int    `json:"shape"`
	Start          float64  `json:"start"`
	End            float64  `json:"end"`
	Step           float64  `json:"step"`
	Axes           []int    `json:"axes"`
	Axis           int      `json:"axis"`
	Perm           []int    `json:"perm"`
	Sizes          []int    `json:"sizes"`
	N              int      `json:"n"`
	Length         int      `json:"length"`
	Pads           []int    `json:"pads"`
	Mode           string   `json:"mode"`
	Value          float32  `json:"value"`
	Lo             float32  `json:"lo"`
	Hi             *float32 `json:"hi"` // null means +Inf
	Scalar         float32  `json:"scalar"`
	KeepDim        bool     `json:"keepdim"`
	Correction     int      `json:"correction"`
	Reduction      string   `json:"reduction"`
	IgnoreIndex    int      `json:"ignore_index"`
	LabelSmoothing float32  `json:"label_smoothing"`
	Weight         bool     `json:"weight"`
	PosWeight      bool     `json:"pos_weight"`
	Beta           float32  `json:"beta"`
	Bias           bool     `json:"bias"`
	Stride         [2]int   `json:"stride"`
	Padding        [2]int   `json:"padding"`
	Dilation       [2]int   `json:"dilation"`
	OutputPadding  [2]int   `json:"output_padding"`
	Groups         int      `json:"groups"`
}

func (p goldenParams) reduction() tensor.Reduction {
	switch p.Reduction {
	case "mean", "":
		return tensor.ReduceMean
	case "sum":
		return tensor.ReduceSum
	case "none":
		return tensor.ReduceNone
	}
	panic("golden: unknown reduction " + p.Reduction)
}

type goldenOp func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor

func one(t *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{t} }

func binaryOp(f func(a, b *tensor.Tensor) *tensor.Tensor) goldenOp {
	return func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(f(in[0], in[1])) }
}

func unaryOp(f func(a *tensor.Tensor) *tensor.Tensor) goldenOp {
	return func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(f(in[0])) }
}

func reduceOp(f func(t *tensor.Tensor, axes []int, keepDim bool) *tensor.Tensor) goldenOp {
	return func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(f(in[0], p.Axes, p.KeepDim)) }
}

func lossOp(f func(x, y *tensor.Tensor, r tensor.Reduction) *tensor.Tensor) goldenOp {
	return func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(f(in[0], in[1], p.reduction()))
	}
}

var padModes = map[string]tensor.PadMode{
	"constant": tensor.PadConstant, "reflect": tensor.PadReflect, "replicate": tensor.PadReplicate,
}

// goldenOps maps the fixture's op names onto fovea's API.
var goldenOps = map[string]goldenOp{
	"arange": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Arange(p.Start, p.End, p.Step))
	},
	"reshape": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Reshape(in[0], p.Shape...))
	},
	"view": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(tensor.View(in[0], p.Shape...)) },
	"flatten": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Flatten(in[0], int(p.Start), int(p.End)))
	},
	"squeeze": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Squeeze(in[0], p.Axes...))
	},
	"unsqueeze": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Unsqueeze(in[0], p.Axis))
	},
	"permute": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Permute(in[0], p.Perm...))
	},
	"transpose": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Transpose(in[0], p.Axes[0], p.Axes[1]))
	},
	"expand": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Expand(in[0], p.Shape...))
	},
	"sum_to": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(tensor.SumTo(in[0], p.Shape)) },
	"cat":    func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(tensor.Cat(in, p.Axis)) },
	"stack":  func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return one(tensor.Stack(in, p.Axis)) },
	"split": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return tensor.Split(in[0], p.Axis, p.Sizes...)
	},
	"chunk": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor { return tensor.Chunk(in[0], p.N, p.Axis) },
	"narrow": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Narrow(in[0], p.Axis, int(p.Start), p.Length))
	},
	"index_select": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.IndexSelect(in[0], p.Axis, in[1]))
	},
	"gather": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Gather(in[0], p.Axis, in[1]))
	},
	"scatter_add": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.ScatterAdd(in[0], p.Axis, in[1], in[2]))
	},
	"pad": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		mode, ok := padModes[p.Mode]
		if !ok {
			panic("golden: unknown pad mode " + p.Mode)
		}
		return one(tensor.Pad(in[0], p.Pads, mode, p.Value))
	},
	"add":     binaryOp(tensor.Add),
	"sub":     binaryOp(tensor.Sub),
	"mul":     binaryOp(tensor.Mul),
	"div":     binaryOp(tensor.Div),
	"pow":     binaryOp(tensor.Pow),
	"maximum": binaryOp(tensor.Maximum),
	"minimum": binaryOp(tensor.Minimum),
	"eq":      binaryOp(tensor.Eq),
	"ne":      binaryOp(tensor.Ne),
	"gt":      binaryOp(tensor.Gt),
	"ge":      binaryOp(tensor.Ge),
	"lt":      binaryOp(tensor.Lt),
	"le":      binaryOp(tensor.Le),
	"matmul":  binaryOp(tensor.MatMul),
	"neg":     unaryOp(tensor.Neg),
	"exp":     unaryOp(tensor.Exp),
	"log":     unaryOp(tensor.Log),
	"sqrt":    unaryOp(tensor.Sqrt),
	"abs":     unaryOp(tensor.Abs),
	"clamp": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		hi := float32(math.Inf(1))
		if p.Hi != nil {
			hi = *p.Hi
		}
		return one(tensor.Clamp(in[0], p.Lo, hi))
	},
	"where": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Where(in[0], in[1], in[2]))
	},
	"add_scalar": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.AddScalar(in[0], p.Scalar))
	},
	"mul_scalar": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.MulScalar(in[0], p.Scalar))
	},
	"pow_scalar": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.PowScalar(in[0], p.Scalar))
	},
	"sum":       reduceOp(tensor.Sum),
	"mean":      reduceOp(tensor.Mean),
	"amax":      reduceOp(tensor.Amax),
	"amin":      reduceOp(tensor.Amin),
	"logsumexp": reduceOp(tensor.LogSumExp),
	"var": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Var(in[0], p.Axes, p.Correction, p.KeepDim))
	},
	"std": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Std(in[0], p.Axes, p.Correction, p.KeepDim))
	},
	"max": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		v, i := tensor.Max(in[0], p.Axis, p.KeepDim)
		return []*tensor.Tensor{v, i}
	},
	"min": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		v, i := tensor.Min(in[0], p.Axis, p.KeepDim)
		return []*tensor.Tensor{v, i}
	},
	"argmax": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.ArgMax(in[0], p.Axis, p.KeepDim))
	},
	"argmin": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.ArgMin(in[0], p.Axis, p.KeepDim))
	},
	"softmax": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.Softmax(in[0], p.Axis))
	},
	"log_softmax": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.LogSoftmax(in[0], p.Axis))
	},
	"cross_entropy": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.CrossEntropy(in[0], in[1], ceOptions(in, p)))
	},
	"nll_loss": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.NLLLoss(in[0], in[1], ceOptions(in, p)))
	},
	"bce_with_logits": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		opt := tensor.BCEWithLogitsOptions{Reduction: p.reduction()}
		if p.Weight {
			opt.Weight = in[2]
		}
		if p.PosWeight {
			opt.PosWeight = in[len(in)-1]
		}
		return one(tensor.BCEWithLogitsLoss(in[0], in[1], opt))
	},
	"conv2d": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		var b *tensor.Tensor
		if p.Bias {
			b = in[2]
		}
		return one(tensor.Conv2d(in[0], in[1], b, tensor.ConvOptions{
			Stride: p.Stride, Padding: p.Padding, Dilation: p.Dilation, Groups: p.Groups,
		}))
	},
	"conv_transpose2d": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		var b *tensor.Tensor
		if p.Bias {
			b = in[2]
		}
		return one(tensor.ConvTranspose2d(in[0], in[1], b, tensor.ConvTransposeOptions{
			Stride: p.Stride, Padding: p.Padding, OutputPadding: p.OutputPadding, Dilation: p.Dilation, Groups: p.Groups,
		}))
	},
	"mse": lossOp(tensor.MSELoss),
	"l1":  lossOp(tensor.L1Loss),
	"smooth_l1": func(in []*tensor.Tensor, p goldenParams) []*tensor.Tensor {
		return one(tensor.SmoothL1Loss(in[0], in[1], p.Beta, p.reduction()))
	},
}

func ceOptions(in []*tensor.Tensor, p goldenParams) tensor.CrossEntropyOptions {
	opt := tensor.CrossEntropyOptions{
		IgnoreIndex:    tensor.Ignore(p.IgnoreIndex),
		LabelSmoothing: p.LabelSmoothing,
		Reduction:      p.reduction(),
	}
	if p.Weight {
		opt.Weight = in[2]
	}
	return opt
}

// The error figure is golden.Err, the one measure of fovea's golden tests:
// max |got − want| / max(|want|, 0.01·max|want|).

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// opErr collects the worst errors of one op over its cases.
type opErr struct {
	cases              int
	fwd, bwd           float64 // fovea against float64 PyTorch
	torchFwd, torchBwd float64 // float32 PyTorch against float64 PyTorch
	worst              string  // the case with the largest fovea error
	hasBackward, long  bool
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	path := filepath.Join("..", "testdata", "tensor", "golden.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/golden_tensor.py)", err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return g
}

// TestGolden checks the forward and backward of every op against PyTorch and
// logs, per op, the largest relative error of fovea (float32) and of PyTorch
// float32 against PyTorch float64 (run with -v to see the table).
func TestGolden(t *testing.T) {
	g := loadGolden(t)
	errs := map[string]*opErr{}
	for _, c := range g.Cases {
		f, ok := goldenOps[c.Op]
		if !ok {
			t.Errorf("%s: no Go mapping for op %q", c.Name, c.Op)
			continue
		}
		e := errs[c.Op]
		if e == nil {
			e = &opErr{}
			errs[c.Op] = e
		}
		e.cases++
		e.long = e.long || c.Tol > 1e-5
		t.Run(c.Name, func(t *testing.T) { runGoldenCase(t, c, f, e) })
	}
	logGoldenTable(t, g.Torch, errs)
}

func runGoldenCase(t *testing.T, c goldenCase, f goldenOp, e *opErr) {
	in := make([]*tensor.Tensor, len(c.Inputs))
	for i, x := range c.Inputs {
		in[i] = tensor.New(toF32(x.Data), x.Shape...).SetRequiresGrad(x.Grad)
	}
	outs := f(in, c.Params)
	if len(outs) != len(c.Out) {
		t.Fatalf("%d outputs, PyTorch has %d", len(outs), len(c.Out))
	}
	var diff, gouts []*tensor.Tensor
	for k, o := range outs {
		want := c.Out[k]
		if !tensor.SameShape(o.Shape(), want.Shape) {
			t.Fatalf("output %d: shape %s, PyTorch %s", k, tensor.FormatShape(o.Shape()), tensor.FormatShape(want.Shape))
		}
		if !want.Diff && o.RequiresGrad() {
			t.Errorf("output %d: PyTorch records no gradient for it but fovea does", k)
		}
		err := golden.Check(t, fmt.Sprintf("tensor/%s/%s/out%d", c.Op, c.Name, k), o.Data(), want.F64, c.Tol)
		if err > e.fwd {
			e.fwd = err
			if err >= e.bwd {
				e.worst = c.Name
			}
		}
		e.torchFwd = math.Max(e.torchFwd, golden.Err(toF32(want.F32), want.F64))
		if want.Diff && c.Gout[k] != nil {
			diff = append(diff, o)
			gouts = append(gouts, tensor.New(toF32(c.Gout[k]), want.Shape...))
		}
	}
	anyGrad := false
	for _, x := range c.Inputs {
		anyGrad = anyGrad || x.Grad
	}
	if !anyGrad {
		return
	}
	if len(diff) == 0 {
		t.Fatalf("no differentiable output although inputs require a gradient")
	}
	e.hasBackward = true
	if len(diff) == 1 {
		diff[0].BackwardWith(gouts[0])
	} else {
		terms := make([]*tensor.Tensor, len(diff))
		for k := range diff {
			terms[k] = tensor.Reshape(tensor.SumAll(tensor.Mul(diff[k], gouts[k])), 1)
		}
		tensor.SumAll(tensor.Cat(terms, 0)).Backward()
	}
	for i, x := range c.Inputs {
		want := c.Grads[i]
		if !x.Grad {
			if in[i].Grad() != nil {
				t.Errorf("input %d does not require a gradient but got one", i)
			}
			continue
		}
		got := in[i].Grad()
		if got == nil {
			got = tensor.Zeros(x.Shape...) // PyTorch reports zeros for an unused input
		}
		if !tensor.SameShape(got.Shape(), x.Shape) {
			t.Fatalf("input %d: gradient shape %s, want %s", i, tensor.FormatShape(got.Shape()), tensor.FormatShape(x.Shape))
		}
		err := golden.Check(t, fmt.Sprintf("tensor/%s/%s/grad%d", c.Op, c.Name, i), got.Data(), want.F64, c.Tol)
		if err > e.bwd {
			e.bwd = err
			if err >= e.fwd {
				e.worst = c.Name
			}
		}
		e.torchBwd = math.Max(e.torchBwd, golden.Err(toF32(want.F32), want.F64))
	}
}

func logGoldenTable(t *testing.T, torchVersion string, errs map[string]*opErr) {
	ops := make([]string, 0, len(errs))
	for op := range errs {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	fmt.Fprintf(&b, "error against float64 PyTorch %s, %s\n", torchVersion, golden.Measure)
	fmt.Fprintf(&b, "| op | cases | tol | fovea fwd | fovea bwd | torch f32 fwd | torch f32 bwd | worst case |\n|---|---|---|---|---|---|---|---|\n")
	num := func(v float64, ok bool) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf("%.1e", v)
	}
	for _, op := range ops {
		e := errs[op]
		tol := "1e-5"
		if e.long {
			tol = "1e-5 / 1e-4 long"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", op, e.cases, tol,
			num(e.fwd, true), num(e.bwd, e.hasBackward), num(e.torchFwd, true), num(e.torchBwd, e.hasBackward), e.worst)
	}
	t.Log("\n" + b.String())
}
