package functional_test

import (
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// poison leaves buffers able to hold n values, filled with NaNs or ones, in
// tensor's buffer pool, where tensor.Empty takes its storage, so that an
// operation that takes its result from tensor.Empty and fails to write every
// element shows those values there (when the pool hands one of them back,
// which it usually does).
func poison(n int) {
	for range 4 {
		x := tensor.Ones(n).SetRequiresGrad(true)
		tensor.SumAll(tensor.MulScalar(x, float32(math.NaN()))).BackwardRelease()
	}
}
