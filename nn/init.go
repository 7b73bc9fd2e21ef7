package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
)

// This file holds the weight initialisers of torch.nn.init. Each fills its
// tensor in place from an explicit random source and returns it; the values
// follow PyTorch's distributions (not its random streams).

// FanMode selects which fan Kaiming initialisation scales by.
type FanMode int

const (
	FanIn  FanMode = iota // preserve the variance of activations in the forward pass (PyTorch's default)
	FanOut                // preserve the variance of gradients in the backward pass
)

// Fans returns the fan-in and fan-out of a weight of the given shape, as
// torch.nn.init._calculate_fan_in_and_fan_out: for (out, in, k1, k2, …)
// fan_in = in·k1·k2·… and fan_out = out·k1·k2·…. ConvTranspose2d's weight
// (Cin, Cout/groups, kH, kW) therefore has fan_in = Cout/groups·kH·kW, as in
// PyTorch. It panics for fewer than 2 dimensions.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(fmt.Sprintf("nn.Fans: fan in and fan out need at least 2 dimensions, got shape %s", tensor.FormatShape(shape)))
	}
	rf := tensor.Numel(shape[2:])
	return shape[1] * rf, shape[0] * rf
}

// CalculateGain returns the recommended gain for a nonlinearity, as
// torch.nn.init.calculate_gain: 1 for "linear", "identity", "conv1d",
// "conv2d", "conv3d", "conv_transpose1d/2d/3d" and "sigmoid"; 5/3 for
// "tanh"; √2 for "relu"; √(2/(1+param²)) for "leaky_relu" (param is the
// negative slope); 3/4 for "selu". It panics for other names.
func CalculateGain(nonlinearity string, param float64) float64 {
	switch nonlinearity {
	case "linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid":
		return 1
	case "tanh":
		return 5.0 / 3
	case "relu":
		return math.Sqrt2
	case "leaky_relu":
		return math.Sqrt(2 / (1 + param*param))
	case "selu":
		return 3.0 / 4
	}
	panic(fmt.Sprintf("nn.CalculateGain: unsupported nonlinearity %q", nonlinearity))
}

func fan(shape []int, mode FanMode) int {
	in, out := Fans(shape)
	if mode == FanOut {
		return out
	}
	return in
}

// Uniform fills t with values drawn uniformly from [lo, hi).
func Uniform(rng *rand.Rand, t *tensor.Tensor, lo, hi float64) *tensor.Tensor {
	d := t.Data()
	for i := range d {
		d[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return t
}

// Normal fills t with values drawn from N(mean, std²).
func Normal(rng *rand.Rand, t *tensor.Tensor, mean, std float64) *tensor.Tensor {
	d := t.Data()
	for i := range d {
		d[i] = float32(mean + std*rng.NormFloat64())
	}
	return t
}

// Constant fills t with v.
func Constant(t *tensor.Tensor, v float32) *tensor.Tensor {
	d := t.Data()
	for i := range d {
		d[i] = v
	}
	return t
}

// Zeros fills t with 0 (torch.nn.init.zeros_).
func Zeros(t *tensor.Tensor) *tensor.Tensor { return Constant(t, 0) }

// Ones fills t with 1 (torch.nn.init.ones_).
func Ones(t *tensor.Tensor) *tensor.Tensor { return Constant(t, 1) }

// KaimingUniform fills t from U(−b, b) with b = gain·√(3/fan), gain =
// CalculateGain(nonlinearity, a), as torch.nn.init.kaiming_uniform_ (He et
// al. 2015). PyTorch's default for Linear and Conv2d weights is a = √5,
// FanIn, "leaky_relu", which gives b = 1/√fan_in.
func KaimingUniform(rng *rand.Rand, t *tensor.Tensor, a float64, mode FanMode, nonlinearity string) *tensor.Tensor {
	std := CalculateGain(nonlinearity, a) / math.Sqrt(float64(fan(t.Shape(), mode)))
	b := math.Sqrt(3) * std
	return Uniform(rng, t, -b, b)
}

// KaimingNormal fills t from N(0, std²) with std = gain/√fan, gain =
// CalculateGain(nonlinearity, a), as torch.nn.init.kaiming_normal_.
func KaimingNormal(rng *rand.Rand, t *tensor.Tensor, a float64, mode FanMode, nonlinearity string) *tensor.Tensor {
	std := CalculateGain(nonlinearity, a) / math.Sqrt(float64(fan(t.Shape(), mode)))
	return Normal(rng, t, 0, std)
}

// XavierUniform fills t from U(−b, b) with b = gain·√(6/(fan_in+fan_out)),
// as torch.nn.init.xavier_uniform_ (Glorot & Bengio 2010).
func XavierUniform(rng *rand.Rand, t *tensor.Tensor, gain float64) *tensor.Tensor {
	in, out := Fans(t.Shape())
	b := gain * math.Sqrt(6/float64(in+out))
	return Uniform(rng, t, -b, b)
}

// XavierNormal fills t from N(0, std²) with std = gain·√(2/(fan_in+fan_out)),
// as torch.nn.init.xavier_normal_.
func XavierNormal(rng *rand.Rand, t *tensor.Tensor, gain float64) *tensor.Tensor {
	in, out := Fans(t.Shape())
	return Normal(rng, t, 0, gain*math.Sqrt(2/float64(in+out)))
}

// TruncNormal fills t from N(mean, std²) truncated to [a, b], as
// torch.nn.init.trunc_normal_ (PyTorch's defaults are mean 0, std 1, a −2,
// b 2; ViT and SAM use std 0.02): it draws u uniformly between the normal CDF
// values of a and b and maps it back through the inverse CDF, then clamps to
// [a, b] against rounding.
func TruncNormal(rng *rand.Rand, t *tensor.Tensor, mean, std, a, b float64) *tensor.Tensor {
	if !(a < b) || std < 0 {
		panic(fmt.Sprintf("nn.TruncNormal: need a < b and std >= 0, got a=%v b=%v std=%v", a, b, std))
	}
	cdf := func(x float64) float64 { return (1 + math.Erf(x/math.Sqrt2)) / 2 }
	lo, hi := 2*cdf((a-mean)/std)-1, 2*cdf((b-mean)/std)-1
	d := t.Data()
	for i := range d {
		u := lo + (hi-lo)*rng.Float64()
		v := mean + std*math.Sqrt2*math.Erfinv(u)
		d[i] = float32(min(max(v, a), b))
	}
	return t
}

// defaultWeightBias initialises a weight and an optional bias the way
// PyTorch's Linear and ConvNd reset_parameters do: kaiming_uniform(a=√5) for
// the weight (U(±1/√fan_in)) and U(±1/√fan_in) for the bias.
func defaultWeightBias(rng *rand.Rand, w, b *tensor.Tensor) {
	KaimingUniform(rng, w, math.Sqrt(5), FanIn, "leaky_relu")
	if b != nil {
		in, _ := Fans(w.Shape())
		bound := 0.0
		if in > 0 {
			bound = 1 / math.Sqrt(float64(in))
		}
		Uniform(rng, b, -bound, bound)
	}
}

// param returns a zero tensor of the given shape that requires a gradient.
func param(shape ...int) *tensor.Tensor {
	return tensor.Zeros(shape...).SetRequiresGrad(true)
}
