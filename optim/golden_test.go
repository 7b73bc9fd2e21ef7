package optim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

func readGolden(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "optim", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type optGolden struct {
	Steps int         `json:"steps"`
	W0    []float32   `json:"w0"`
	B0    []float32   `json:"b0"`
	Cw    []float32   `json:"cw"`
	Cb    []float32   `json:"cb"`
	Aw    []float32   `json:"aw"`
	Ab    []float32   `json:"ab"`
	Nw    [][]float32 `json:"nw"`
	Nb    [][]float32 `json:"nb"`
	Cases []optCase   `json:"cases"`
}

type optCase struct {
	Name      string         `json:"name"`
	Optimizer string         `json:"optimizer"`
	Options   map[string]any `json:"options"`
	W         [][]float32    `json:"w"`
	B         [][]float32    `json:"b"`
	// Groups holds switches set on one group only (PyTorch param_group
	// keys), under "weights" and "bias".
	Groups map[string]map[string]bool `json:"groups"`
}

// groupSwitches sets the per-group keys of sw on pg.
func groupSwitches(pg *ParamGroup, sw map[string]bool) {
	for k, v := range sw {
		switch k {
		case "nesterov":
			pg.Nesterov = Bool(v)
		case "amsgrad":
			pg.AMSGrad = Bool(v)
		case "maximize":
			pg.Maximize = Bool(v)
		default:
			panic("unknown group key " + k)
		}
	}
}

func num(m map[string]any, k string) float64 {
	if v, ok := m[k].(float64); ok {
		return v
	}
	return 0
}

func flag(m map[string]any, k string) bool {
	v, _ := m[k].(bool)
	return v
}

// newGoldenOptimizer builds the optimizer of a golden case over w and b: the
// weights in group 0 with the case's options, the bias in group 1 with half
// the learning rate and no weight decay.
func newGoldenOptimizer(c optCase, w, b *tensor.Tensor) Optimizer {
	o := c.Options
	lr := num(o, "lr")
	groups := []ParamGroup{
		{Name: "weights", Params: []*tensor.Tensor{w}},
		{Name: "bias", Params: []*tensor.Tensor{b}, LR: Float(lr * 0.5), WeightDecay: Float(0)},
	}
	groupSwitches(&groups[0], c.Groups["weights"])
	groupSwitches(&groups[1], c.Groups["bias"])
	switch c.Optimizer {
	case "SGD":
		return NewSGD(groups, SGDOptions{LR: lr, Momentum: num(o, "momentum"), Dampening: num(o, "dampening"),
			WeightDecay: num(o, "weight_decay"), Nesterov: flag(o, "nesterov"), Maximize: flag(o, "maximize")})
	case "Adam", "AdamW":
		ao := AdamOptions{LR: lr, Beta1: num(o, "beta1"), Beta2: num(o, "beta2"), Eps: num(o, "eps"),
			WeightDecay: num(o, "weight_decay"), AMSGrad: flag(o, "amsgrad"), Maximize: flag(o, "maximize")}
		if c.Optimizer == "Adam" {
			return NewAdam(groups, ao)
		}
		return NewAdamW(groups, ao)
	}
	panic("unknown optimizer " + c.Optimizer)
}

// setGoldenGrads sets the gradients of step k as the golden script does:
// (p − c)·a + n_k in float32, and none for the bias on every third step.
func setGoldenGrads(g *optGolden, k int, w, b *tensor.Tensor) {
	grad := func(p, c, a, n []float32) []float32 {
		out := make([]float32, len(p))
		for i := range p {
			// Explicit conversions keep each operation rounded (no FMA).
			d := float32(p[i] - c[i])
			out[i] = float32(d*a[i]) + n[i]
		}
		return out
	}
	w.SetGrad(tensor.New(grad(w.Data(), g.Cw, g.Aw, g.Nw[k]), w.Shape()...))
	if k%3 != 2 {
		b.SetGrad(tensor.New(grad(b.Data(), g.Cb, g.Ab, g.Nb[k]), b.Shape()...))
	}
}

func goldenParams(g *optGolden) (w, b *tensor.Tensor) {
	w = tensor.FromSlice(g.W0, 3, 4).SetRequiresGrad(true)
	b = tensor.FromSlice(g.B0, 4).SetRequiresGrad(true)
	return w, b
}

// optimTol is the tolerance of the optimizer and clipping golden
// tests under the golden measure.
const optimTol = 1e-6

func TestOptimizersMatchTorch(t *testing.T) {
	var g optGolden
	readGolden(t, "optimizers.json", &g)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			w, b := goldenParams(&g)
			opt := newGoldenOptimizer(c, w, b)
			// The trajectories of w and b over every step, compared under
			// the one golden measure (golden.Err).
			var gotW, wantW, gotB, wantB []float32
			exact, total := 0, 0
			for k := 0; k < g.Steps; k++ {
				opt.ZeroGrad()
				setGoldenGrads(&g, k, w, b)
				opt.Step()
				gotW, wantW = append(gotW, w.Data()...), append(wantW, c.W[k]...)
				gotB, wantB = append(gotB, b.Data()...), append(wantB, c.B[k]...)
			}
			for i := range gotW {
				if i < len(wantW) && gotW[i] == wantW[i] {
					exact++
				}
			}
			for i := range gotB {
				if i < len(wantB) && gotB[i] == wantB[i] {
					exact++
				}
			}
			total = len(wantW) + len(wantB)
			// Measured: every value bit-identical (error 0), with and without
			// the noasm tag; the tolerance leaves room for compilers that fuse
			// multiply-adds differently.
			ew := golden.Check(t, "optim/"+c.Name+"/w", gotW, wantW, optimTol)
			eb := golden.Check(t, "optim/"+c.Name+"/b", gotB, wantB, optimTol)
			t.Logf("%s: error %.3g (w), %.3g (b); %d/%d values bit-identical", c.Name, ew, eb, exact, total)
		})
	}
}
