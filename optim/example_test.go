package optim_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// Fit y = x·w + b with AdamW: weight decay on the weights only, a linear
// warm-up for 10 steps, then poly decay, and gradient clipping.
func ExampleNewAdamW() {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.RandNormal(rng, 0, 1, 64, 3)
	wTrue := tensor.FromSlice([]float32{2, -1, 0.5}, 3, 1)
	y := tensor.AddScalar(tensor.MatMul(x, wTrue), 0.3)

	w := tensor.Zeros(3, 1).SetRequiresGrad(true)
	b := tensor.Zeros(1).SetRequiresGrad(true)
	opt := optim.NewAdamW([]optim.ParamGroup{
		{Name: "decay", Params: []*tensor.Tensor{w}},
		{Name: "no_decay", Params: []*tensor.Tensor{b}, WeightDecay: optim.Float(0)},
	}, optim.AdamWOptions{LR: 0.1, WeightDecay: 1e-4})
	const steps = 300
	sched := optim.NewScheduler(opt, optim.WarmUp(optim.PolynomialLR{TotalIters: steps - 10, Power: 0.9}, 10, 0.1))

	var loss *tensor.Tensor
	for step := 0; step < steps; step++ {
		opt.ZeroGrad()
		loss = tensor.MSELoss(tensor.Add(tensor.MatMul(x, w), b), y, tensor.ReduceMean)
		loss.Backward()
		optim.ClipGradNorm([]*tensor.Tensor{w, b}, 10, 2)
		opt.Step()
		sched.Step()
	}
	fmt.Printf("w = [%.2f %.2f %.2f], b = %.2f\n", w.Data()[0], w.Data()[1], w.Data()[2], b.Data()[0])
	fmt.Printf("loss < 1e-3: %v, final lr = %g\n", loss.Item() < 1e-3, sched.LR()[0])
	// Output:
	// w = [2.00 -1.00 0.50], b = 0.30
	// loss < 1e-3: true, final lr = 0
}

// A linear warm-up into a poly decay ("poly" is the usual schedule for
// semantic segmentation): the schedule is a value, the Scheduler applies it.
func ExampleWarmUp() {
	p := tensor.Zeros(1).SetRequiresGrad(true)
	opt := optim.NewSGD(optim.Params(p), optim.SGDOptions{LR: 0.01, Momentum: 0.9})
	sched := optim.NewScheduler(opt, optim.WarmUp(optim.PolynomialLR{TotalIters: 95, Power: 0.9}, 5, 0.1))
	for t := 0; t <= 100; t++ {
		if t <= 6 || t%25 == 0 {
			fmt.Printf("t=%3d lr=%.6f\n", t, sched.LR()[0])
		}
		opt.Step() // (no gradient here: nothing moves)
		sched.Step()
	}
	// Output:
	// t=  0 lr=0.001000
	// t=  1 lr=0.002800
	// t=  2 lr=0.004600
	// t=  3 lr=0.006400
	// t=  4 lr=0.008200
	// t=  5 lr=0.010000
	// t=  6 lr=0.009905
	// t= 25 lr=0.008084
	// t= 50 lr=0.005612
	// t= 75 lr=0.003007
	// t=100 lr=0.000000
}

// SGD with Nesterov momentum and weight decay, step by step (the same
// numbers as torch.optim.SGD).
func ExampleNewSGD() {
	p := tensor.FromSlice([]float32{1, -2}, 2).SetRequiresGrad(true)
	opt := optim.NewSGD(optim.Params(p), optim.SGDOptions{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01})
	for i := 0; i < 3; i++ {
		opt.ZeroGrad()
		tensor.SumAll(tensor.Mul(p, p)).Backward() // gradient 2p
		opt.Step()
		fmt.Printf("%.4f\n", p.Data())
	}
	// Output:
	// [0.6181 -1.2362]
	// [0.2192 -0.4385]
	// [-0.1117 0.2233]
}

// Cosine annealing with warm restarts (SGDR), the period doubling each time.
func ExampleCosineAnnealingWarmRestarts() {
	s := optim.CosineAnnealingWarmRestarts{T0: 2, TMult: 2, EtaMin: 0}
	for t := 0; t < 8; t++ {
		fmt.Printf("%.3f ", s.LR(1, t))
	}
	fmt.Println()
	// Output: 1.000 0.500 1.000 0.854 0.500 0.146 1.000 0.962
}

// One-cycle: the LR rises to MaxLR and anneals, while SGD's momentum moves
// the opposite way.
func ExampleOneCycleLR() {
	p := tensor.Zeros(1).SetRequiresGrad(true)
	opt := optim.NewSGD(optim.Params(p), optim.SGDOptions{LR: 0.1, Momentum: 0.9})
	sched := optim.NewScheduler(opt, optim.OneCycleLR{MaxLR: 1, TotalSteps: 10})
	for t := 0; t < 10; t++ {
		if t%3 == 0 {
			fmt.Printf("t=%d lr=%.4f momentum=%.3f\n", t, opt.Groups()[0].LR, opt.Groups()[0].Momentum)
		}
		opt.Step()
		sched.Step()
	}
	// Output:
	// t=0 lr=0.0400 momentum=0.950
	// t=3 lr=0.9505 momentum=0.855
	// t=6 lr=0.3887 momentum=0.911
	// t=9 lr=0.0000 momentum=0.950
}

// Clip the global gradient norm before stepping.
func ExampleClipGradNorm() {
	a := tensor.Zeros(2).SetRequiresGrad(true)
	b := tensor.Zeros(1).SetRequiresGrad(true)
	a.SetGrad(tensor.FromSlice([]float32{3, 0}, 2))
	b.SetGrad(tensor.FromSlice([]float32{4}, 1))
	total := optim.ClipGradNorm([]*tensor.Tensor{a, b}, 1, 2)
	fmt.Printf("norm before %.1f, gradients now %.2f %.2f\n", total, a.Grad().Data(), b.Grad().Data())
	// Output: norm before 5.0, gradients now [0.60 0.00] [0.80]
}

// Save an optimizer's and a scheduler's state to one file and resume.
func ExampleLoadState() {
	p := tensor.FromSlice([]float32{1}, 1).SetRequiresGrad(true)
	opt := optim.NewAdam(optim.Params(p), optim.AdamOptions{LR: 0.1})
	sched := optim.NewScheduler(opt, optim.ExponentialLR{Gamma: 0.5})
	p.SetGrad(tensor.FromSlice([]float32{1}, 1))
	opt.Step()
	sched.Step()

	path := filepath.Join(os.TempDir(), "fovea-example-optim.safetensors")
	defer os.Remove(path)
	ss := sched.StateDict()
	if err := opt.StateDict().Save(path, &ss); err != nil {
		fmt.Println(err)
		return
	}

	opt2 := optim.NewAdam(optim.Params(p), optim.AdamOptions{LR: 0.1})
	sched2 := optim.NewScheduler(opt2, optim.ExponentialLR{Gamma: 0.5})
	st, sst, err := optim.LoadState(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := opt2.LoadStateDict(st); err != nil {
		fmt.Println(err)
		return
	}
	if err := sched2.LoadStateDict(*sst); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("step", st.Params[0].Step, "lr", sched2.LR()[0], "exp_avg", st.Tensors["state.0.exp_avg"].Data())
	// Output: step 1 lr 0.05 exp_avg [0.1]
}

// Adam with AMSGrad and L2 weight decay; a parameter without a gradient is
// left alone.
func ExampleNewAdam() {
	a := tensor.FromSlice([]float32{1, -1}, 2).SetRequiresGrad(true)
	b := tensor.FromSlice([]float32{5}, 1).SetRequiresGrad(true)
	opt := optim.NewAdam(optim.Params(a, b), optim.AdamOptions{LR: 0.1, WeightDecay: 0.01, AMSGrad: true})
	for i := 0; i < 3; i++ {
		opt.ZeroGrad()
		a.SetGrad(tensor.FromSlice([]float32{0.5, -2}, 2))
		opt.Step()
	}
	fmt.Printf("a = %.4f, b = %.1f\n", a.Data(), b.Data()[0])
	// Output: a = [0.7000 -0.7000], b = 5.0
}

// Every schedule is a value whose LR method is the closed form of its torch
// scheduler; NewScheduler applies one to an optimizer.
func ExampleNewScheduler() {
	schedules := []struct {
		name string
		s    optim.Schedule
	}{
		{"StepLR", optim.StepLR{StepSize: 2, Gamma: 0.5}},
		{"MultiStepLR", optim.MultiStepLR{Milestones: []int{1, 4}, Gamma: 0.1}},
		{"ExponentialLR", optim.ExponentialLR{Gamma: 0.9}},
		{"CosineAnnealingLR", optim.CosineAnnealingLR{TMax: 5}},
		{"ConstantLR", optim.ConstantLR{Factor: 0.5, TotalIters: 2}},
		{"LinearLR", optim.LinearLR{StartFactor: 0.2, EndFactor: 1, TotalIters: 4}},
		{"PolynomialLR", optim.PolynomialLR{TotalIters: 5, Power: 2}},
	}
	for _, s := range schedules {
		p := tensor.Zeros(1)
		opt := optim.NewSGD(optim.Params(p), optim.SGDOptions{LR: 1})
		sched := optim.NewScheduler(opt, s.s)
		fmt.Printf("%-18s", s.name)
		for t := 0; t <= 5; t++ {
			fmt.Printf(" %.3f", sched.LR()[0])
			opt.Step()
			sched.Step()
		}
		fmt.Println()
	}
	// Output:
	// StepLR             1.000 1.000 0.500 0.500 0.250 0.250
	// MultiStepLR        1.000 0.100 0.100 0.100 0.010 0.010
	// ExponentialLR      1.000 0.900 0.810 0.729 0.656 0.590
	// CosineAnnealingLR  1.000 0.905 0.655 0.345 0.095 0.000
	// ConstantLR         0.500 0.500 1.000 1.000 1.000 1.000
	// LinearLR           0.200 0.400 0.600 0.800 1.000 1.000
	// PolynomialLR       1.000 0.640 0.360 0.160 0.040 0.000
}

// Schedules in sequence, each restarting its step count at its milestone:
// warm-up, exponential decay, then cosine.
func ExampleSequentialLR() {
	s := optim.SequentialLR{
		Schedules: []optim.Schedule{
			optim.LinearLR{StartFactor: 0.25, EndFactor: 1, TotalIters: 3},
			optim.ExponentialLR{Gamma: 0.5},
			optim.CosineAnnealingLR{TMax: 4, EtaMin: 0.01},
		},
		Milestones: []int{3, 6},
	}
	for t := 0; t <= 10; t++ {
		fmt.Printf("%.3f ", s.LR(1, t))
	}
	fmt.Println()
	// Output: 0.250 0.500 0.750 1.000 0.500 0.250 1.000 0.855 0.505 0.155 0.010
}

// Schedules applied together multiply their factors, as torch's
// ChainedScheduler does: a warm-up over a poly decay that counts from 0.
func ExampleChainedLR() {
	s := optim.ChainedLR{
		optim.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: 3},
		optim.PolynomialLR{TotalIters: 6, Power: 1},
	}
	for t := 0; t <= 6; t++ {
		fmt.Printf("%.3f ", s.LR(1, t))
	}
	fmt.Println()
	// Output: 0.100 0.333 0.467 0.500 0.333 0.167 0.000
}

// Clamp every gradient element to [−clip, clip].
func ExampleClipGradValue() {
	p := tensor.Zeros(4).SetRequiresGrad(true)
	p.SetGrad(tensor.FromSlice([]float32{-3, -0.2, 0.5, 7}, 4))
	optim.ClipGradValue([]*tensor.Tensor{p}, 1)
	fmt.Println(p.Grad().Data())
	// Output: [-1 -0.2 0.5 1]
}
