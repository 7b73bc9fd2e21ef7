// Package stochastic holds the stochastic-approximation helpers fovea uses
// wherever it keeps a running statistic or follows a noisy signal: the
// incremental mean, exponential moving averages, running variance, and the
// Robbins–Monro root finder. It works on plain float32 and float64 slices and
// imports nothing of fovea, so both nn (BatchNorm's running statistics) and
// optim can use it.
//
// # One recursion behind all of them
//
// Stochastic approximation looks for the root w* of a function g(w) = E[G(w, ξ)]
// that can only be observed with noise: at step k we see g̃_k = G(w_k, ξ_k), an
// unbiased but noisy estimate of g(w_k), and move
//
//	w_{k+1} = w_k − a_k g̃_k.
//
// Robbins and Monro (1951) showed that w_k → w* (almost surely, under mild
// conditions on g and on the noise's variance) when the steps satisfy
//
//	Σ a_k = ∞   (the steps can travel any distance), and
//	Σ a_k² < ∞  (the accumulated noise has finite variance),
//
// for example a_k = a/(k+b)^α with 0.5 < α ≤ 1 (see PowerStep).
//
// The incremental mean is the simplest case. Take g(w) = w − E[x] and observe
// g̃_k = w_k − x_k; with a_k = 1/k the recursion
//
//	w_{k+1} = w_k − (1/k)(w_k − x_k)
//
// makes w_{k+1} exactly the average of x_1 … x_k (Mean). A constant step
// a_k = m gives the exponential moving average w ← (1 − m)w + m·x (EMA,
// EMAUpdate): it violates Σ a_k² < ∞, so it never settles on E[x] but keeps
// tracking it with a noise floor proportional to m — which is what one wants
// for statistics that drift, such as BatchNorm's running mean and variance
// while the network trains.
//
// # Why SGD is a special case
//
// Training minimises a loss f(θ) = E[ℓ(θ, ξ)] over the data distribution. At a
// minimum the gradient vanishes, so training is the search for a root of
// g(θ) = ∇f(θ). A mini-batch gradient ∇ℓ(θ_k, ξ_k) is a noisy, unbiased
// observation of ∇f(θ_k), and the Robbins–Monro step with g̃_k = ∇ℓ(θ_k, ξ_k)
// is literally
//
//	θ_{k+1} = θ_k − a_k ∇ℓ(θ_k, ξ_k),
//
// plain stochastic gradient descent with learning rate a_k. The
// Robbins–Monro conditions on a_k are the classic conditions for SGD to
// converge, and they explain learning-rate decay: a constant learning rate
// (like the EMA's constant step) only brings θ into a noise ball around the
// minimum whose size scales with the rate, while a decaying schedule with
// Σ a_k = ∞ and Σ a_k² < ∞ shrinks that ball to a point. Momentum, Adam and the
// schedules of package optim are refinements of this same recursion.
package stochastic
