package optim

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// adamStepGolden is testdata/optim/adam_step.json, written by
// scripts/golden_optim.py: PyTorch 1.13's Adam and AdamW on 1-D tensors of
// many lengths, every float32 as its bit pattern.
type adamStepGolden struct {
	Torch   string `json:"torch"`
	Lengths []int  `json:"lengths"`
	Inputs  []struct {
		N     int        `json:"n"`
		Theta []uint32   `json:"theta"`
		Grads [][]uint32 `json:"grads"`
	} `json:"inputs"`
	Cases []struct {
		Name      string `json:"name"`
		Optimizer string `json:"optimizer"`
		Options   struct {
			LR          float64 `json:"lr"`
			Beta1       float64 `json:"beta1"`
			Beta2       float64 `json:"beta2"`
			Eps         float64 `json:"eps"`
			WeightDecay float64 `json:"weight_decay"`
			Maximize    bool    `json:"maximize"`
		} `json:"options"`
		// Steps[k] is the result for Lengths[k]: the parameter after
		// each step and the moments after the last.
		Steps []struct {
			Theta    [][]uint32 `json:"theta"`
			ExpAvg   []uint32   `json:"exp_avg"`
			ExpAvgSq []uint32   `json:"exp_avg_sq"`
		} `json:"steps"`
	} `json:"cases"`
}

func fromBits(b []uint32) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = math.Float32frombits(v)
	}
	return out
}

// bitDiff returns the first index where got and want differ in bits (any
// NaN matches any NaN: JSON-free bit patterns would allow more, but
// PyTorch and Go may pick different NaN payloads), or -1.
func bitDiff(got []float32, want []uint32) int {
	if len(got) != len(want) {
		return 0
	}
	for i, g := range got {
		w := math.Float32frombits(want[i])
		if math.Float32bits(g) != want[i] && !(g != g && w != w) {
			return i
		}
	}
	return -1
}

// TestAdamStepMatchesTorchBits is the independent oracle of the Adam kernel
// (cpu.AdamUpdate, reached through Adam.Step and AdamW.Step, and the Go loop
// used with L2 weight decay): two steps of torch.optim.Adam / AdamW on
// lengths 1…17, 31, 64 and 100 — the vectorised body and the scalar tail —
// with zeros, a NaN parameter and ±Inf gradients, compared bit for bit.
func TestAdamStepMatchesTorchBits(t *testing.T) {
	var g adamStepGolden
	readGolden(t, "adam_step.json", &g)
	if len(g.Cases) == 0 || len(g.Inputs) != len(g.Lengths) {
		t.Fatalf("adam_step.json: %d cases, %d inputs for %d lengths", len(g.Cases), len(g.Inputs), len(g.Lengths))
	}
	checked := 0
	for _, c := range g.Cases {
		if len(c.Steps) != len(g.Lengths) {
			t.Fatalf("adam_step.json: case %s has %d results for %d lengths", c.Name, len(c.Steps), len(g.Lengths))
		}
		for k, in := range g.Inputs {
			want := c.Steps[k]
			name := fmt.Sprintf("%s/n=%d", c.Name, in.N)
			p := tensor.FromSlice(fromBits(in.Theta), in.N).SetRequiresGrad(true)
			o := c.Options
			ao := AdamOptions{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, Maximize: o.Maximize}
			groups := []ParamGroup{{Params: []*tensor.Tensor{p}}}
			var opt Optimizer
			if c.Optimizer == "AdamW" {
				opt = NewAdamW(groups, ao)
			} else {
				opt = NewAdam(groups, ao)
			}
			if len(want.Theta) != len(in.Grads) {
				t.Fatalf("%s: %d results for %d steps", name, len(want.Theta), len(in.Grads))
			}
			for s, gb := range in.Grads {
				opt.ZeroGrad()
				p.SetGrad(tensor.FromSlice(fromBits(gb), in.N))
				opt.Step()
				if i := bitDiff(p.Data(), want.Theta[s]); i >= 0 {
					t.Errorf("%s step %d: θ[%d] = %v (%#08x), PyTorch %v (%#08x)", name, s+1, i,
						p.Data()[i], math.Float32bits(p.Data()[i]), math.Float32frombits(want.Theta[s][i]), want.Theta[s][i])
				}
				checked++
			}
			st := opt.StateDict()
			for _, b := range []struct {
				name string
				want []uint32
			}{{"exp_avg", want.ExpAvg}, {"exp_avg_sq", want.ExpAvgSq}} {
				got := st.Tensors[TensorName(0, b.name)]
				if got == nil {
					t.Errorf("%s: no %s in the state", name, b.name)
					continue
				}
				if i := bitDiff(got.Data(), b.want); i >= 0 {
					t.Errorf("%s: %s[%d] = %v, PyTorch %v", name, b.name, i, got.Data()[i], math.Float32frombits(b.want[i]))
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("adam_step.json: no step checked")
	}
}
