package optim

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
)

type clipGolden struct {
	Shapes [][]int     `json:"shapes"`
	Grads  [][]float32 `json:"grads"`
	Norm   []struct {
		NormType any         `json:"norm_type"`
		MaxNorm  float64     `json:"max_norm"`
		Total    float64     `json:"total"`
		Grads    [][]float32 `json:"grads"`
	} `json:"norm"`
	Value struct {
		Clip  float64     `json:"clip"`
		Grads [][]float32 `json:"grads"`
	} `json:"value"`
}

func (g *clipGolden) params() []*tensor.Tensor {
	var ps []*tensor.Tensor
	for i, s := range g.Shapes {
		p := tensor.Zeros(s...).SetRequiresGrad(true)
		p.SetGrad(tensor.FromSlice(g.Grads[i], s...))
		ps = append(ps, p)
	}
	return append(ps, tensor.Zeros(3).SetRequiresGrad(true)) // no gradient
}

func TestClipMatchesTorch(t *testing.T) {
	var g clipGolden
	readGolden(t, "clip.json", &g)
	for _, c := range g.Norm {
		p, ok := c.NormType.(float64)
		if !ok {
			p = math.Inf(1)
		}
		ps := g.params()
		total := ClipGradNorm(ps, c.MaxNorm, p)
		what := fmt.Sprintf("optim/clip_grad_norm/p=%v/max_norm=%v", p, c.MaxNorm)
		golden.Check(t, what+"/total", []float64{total}, []float64{c.Total}, optimTol)
		var got, want []float32
		for i := range c.Grads {
			got = append(got, ps[i].Grad().Data()...)
			want = append(want, c.Grads[i]...)
		}
		golden.Check(t, what+"/grads", got, want, optimTol)
		if ps[len(ps)-1].Grad() != nil {
			t.Errorf("parameter without gradient got one")
		}
	}
	ps := g.params()
	ClipGradValue(ps, g.Value.Clip)
	for i := range g.Value.Grads {
		for j, want := range g.Value.Grads[i] {
			if got := ps[i].Grad().Data()[j]; got != want {
				t.Errorf("ClipGradValue: grad %d[%d] = %v, want %v", i, j, got, want)
			}
		}
	}
}

func TestClipEdgeCases(t *testing.T) {
	if n := ClipGradNorm([]*tensor.Tensor{tensor.Zeros(2)}, 1, 2); n != 0 {
		t.Errorf("no gradients: total %v, want 0", n)
	}
	p := tensor.Zeros(2).SetRequiresGrad(true)
	p.SetGrad(tensor.FromSlice([]float32{3, 4}, 2))
	if n := ClipGradNorm([]*tensor.Tensor{p}, 10, 2); n != 5 {
		t.Errorf("total %v, want 5", n)
	}
	if d := p.Grad().Data(); d[0] != 3 || d[1] != 4 {
		t.Errorf("below maxNorm the gradient changed: %v", d)
	}
	ClipGradNorm([]*tensor.Tensor{p}, 1, 2)
	if d := p.Grad().Data(); math.Abs(float64(d[0])-0.6) > 1e-6 || math.Abs(float64(d[1])-0.8) > 1e-6 {
		t.Errorf("clipped to %v, want [0.6 0.8]", d)
	}
	for _, bad := range []float64{0, 0.5, -1, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("normType %v: no panic", bad)
				}
			}()
			ClipGradNorm([]*tensor.Tensor{p}, 1, bad)
		}()
	}
}
