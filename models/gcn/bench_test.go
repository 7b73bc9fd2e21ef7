package gcn

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// The benchmarks below time the model `fovea train` builds by default
// (ResNet-18 at half width, k = 7, bilinear decoder, Boundary Refinement, 7
// classes) on a batch of 16 images of 128×128, the numbers of issue 7's
// speed goal. Besides ns/op they report cpu-ms/op (user + system CPU time of
// the process per step), which other processes on a shared machine disturb
// less than wall time, and img/s.
//
//	go test ./models/gcn -run '^$' -bench . -benchtime 20x -count 6

const (
	benchBatch   = 16
	benchSize    = 128
	benchClasses = 7
)

// benchSetup returns the default model, a batch of images and masks.
func benchSetup(b *testing.B) (*Model, *tensor.Tensor, *tensor.Tensor) {
	b.Helper()
	m, err := New(rand.New(rand.NewPCG(1, 0x6c)), DefaultConfig(benchClasses))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	x := tensor.RandNormal(rng, 0, 1, benchBatch, 3, benchSize, benchSize)
	y := tensor.Zeros(benchBatch, benchSize, benchSize)
	for i := range y.Data() {
		y.Data()[i] = float32(rng.IntN(benchClasses))
	}
	return m, x, y
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "img/s")
}

// BenchmarkTrainStep is one training step as train.Run takes it: forward,
// cross-entropy loss, zero-grad, backward (recycling the forward pass's
// buffers) and an AdamW step.
func BenchmarkTrainStep(b *testing.B) {
	benchTrainStep(b, (*tensor.Tensor).BackwardRelease)
}

// BenchmarkTrainStepKeep is BenchmarkTrainStep with plain Backward, which
// leaves the forward pass's results to the garbage collector.
func BenchmarkTrainStepKeep(b *testing.B) {
	benchTrainStep(b, (*tensor.Tensor).Backward)
}

func benchTrainStep(b *testing.B, backward func(*tensor.Tensor)) {
	m, x, y := benchSetup(b)
	nn.SetTraining(m, true)
	opt := optim.NewAdamW(optim.Params(nn.Parameters(m)...), optim.AdamWOptions{LR: 1e-4, WeightDecay: 1e-4})
	step := func() {
		loss := tensor.CrossEntropy(m.Forward(x), y, tensor.CrossEntropyOptions{})
		opt.ZeroGrad()
		backward(loss)
		opt.Step()
	}
	step() // warm-up: optimizer state, kernel plans
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		step()
	}
	report(b, cpu0)
}

// BenchmarkForwardTrain is the training-mode forward pass and loss, with
// the graph recorded (the part of a step before Backward).
func BenchmarkForwardTrain(b *testing.B) {
	m, x, y := benchSetup(b)
	nn.SetTraining(m, true)
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		tensor.CrossEntropy(m.Forward(x), y, tensor.CrossEntropyOptions{})
	}
	report(b, cpu0)
}

// BenchmarkForwardInference is the eval-mode forward pass with no graph
// (parameters not requiring gradients), as Evaluate runs it.
func BenchmarkForwardInference(b *testing.B) {
	m, x, _ := benchSetup(b)
	nn.SetTraining(m, false)
	for _, p := range nn.Parameters(m) {
		p.SetRequiresGrad(false)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		m.Forward(x)
	}
	report(b, cpu0)
}
