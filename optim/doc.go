// Package optim holds fovea's optimizers, learning-rate schedules and
// gradient clipping, matching torch.optim step for step.
//
// Optimizers (SGD, Adam, AdamW) work on parameters given as
// []*tensor.Tensor, reading each parameter's Grad and updating its Data in
// place; they know nothing of modules, so any code that produces gradients
// can use them. Parameters are passed in groups (ParamGroup) that can set
// their own learning rate, weight decay, momentum or betas — typically no
// weight decay on biases and norm parameters. A parameter whose Grad is nil
// is skipped, exactly as PyTorch does.
//
// The arithmetic follows PyTorch 1.13's CPU kernels operation by operation in
// float32, including where they use a fused multiply-add, so over the golden
// runs in testdata/optim the parameters are bit-identical to torch.optim's
// (the tests require 1e-6 relative).
//
// A typical loop:
//
//	opt := optim.NewAdamW(groups, optim.AdamWOptions{LR: 1e-3, WeightDecay: 0.05})
//	sched := optim.NewScheduler(opt, optim.WarmUp(optim.PolynomialLR{TotalIters: 950, Power: 0.9}, 50, 0.01))
//	for step := 0; step < 1000; step++ {
//		opt.ZeroGrad()
//		loss := …           // forward
//		loss.Backward()
//		optim.ClipGradNorm(params, 1.0, 2)
//		opt.Step()
//		sched.Step()
//	}
//
// Schedules (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
// CosineAnnealingWarmRestarts, ConstantLR, LinearLR, PolynomialLR, OneCycleLR,
// and SequentialLR to chain them, e.g. a linear warm-up into cosine or poly
// decay) are pure functions of the step count; a Scheduler applies one to an
// optimizer's groups. Their learning-rate sequences match
// torch.optim.lr_scheduler's.
//
// State: Optimizer.StateDict and LoadStateDict (and Scheduler.StateDict and
// LoadStateDict) capture everything needed to resume training exactly: 20
// steps, save, load into a fresh optimizer, 20 more steps gives the same
// bits as 40 uninterrupted steps.
//
// The running statistics and stochastic-approximation view of SGD (why SGD
// is the Robbins–Monro recursion) live in package stochastic.
package optim
