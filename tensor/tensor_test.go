package tensor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func TestSmokeAutograd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := tensor.RandNormal(rng, 0, 1, 3, 4).SetRequiresGrad(true)
	b := tensor.RandNormal(rng, 0, 1, 4, 5).SetRequiresGrad(true)
	c := tensor.RandNormal(rng, 0, 1, 5).SetRequiresGrad(true)
	tensortest.GradCheck(t, "matmul+add+softmax", func(in []*tensor.Tensor) *tensor.Tensor {
		return tensor.Softmax(tensor.Add(tensor.MatMul(in[0], in[1]), in[2]), 1)
	}, []*tensor.Tensor{a, b, c}, tensortest.GradCheckOptions{})
}
