package samtrain

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/tensor"
)

// FocalAlpha and FocalGamma are the focal-loss constants of SAM's recipe (those of
// torchvision.ops.sigmoid_focal_loss's defaults).
const (
	FocalAlpha = 0.25
	FocalGamma = 2.0
)

// DiceSmooth is the smoothing term of DiceLoss: 1 added to the numerator and the
// denominator, as DETR's dice_loss which SAM and MedSAM-style training code use.
const DiceSmooth = 1.0

// SigmoidFocalLoss returns, for mask logits x: (N, …) against targets y of the same
// shape with values in [0, 1], the focal loss of Lin et al. averaged over each mask's
// pixels, (N): torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, "none") averaged
// over every axis but the first. With p = σ(x), ce = BCE-with-logits(x, y),
// p_t = p·y + (1−p)(1−y), α_t = α·y + (1−α)(1−y): loss = α_t·ce·(1−p_t)^γ (α < 0 turns
// the α_t weighting off, as in torchvision). y receives no gradient.
func SigmoidFocalLoss(x, y *tensor.Tensor, alpha, gamma float64) *tensor.Tensor {
	n, per := lossShape("SigmoidFocalLoss", x, y)
	xd, yd := x.Data(), y.Data()
	out := make([]float32, n)
	need := tensor.AnyRequiresGrad(x)
	var dx []float32 // d loss_i / d x_j, kept for the backward pass
	if need {
		dx = make([]float32, len(xd))
	}
	cpu.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			for j := i * per; j < (i+1)*per; j++ {
				l, g := focalAt(float64(xd[j]), float64(yd[j]), alpha, gamma)
				s += l
				if dx != nil {
					dx[j] = float32(g / float64(per))
				}
			}
			out[i] = float32(s / float64(per))
		}
	})
	res := tensor.New(out, n)
	if !need {
		return res
	}
	return tensor.Record("SigmoidFocalLoss", res, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		gx := tensor.Empty(x.Shape()...)
		gxd := gx.Data()
		for i := 0; i < n; i++ {
			gi := gd[i]
			for j := i * per; j < (i+1)*per; j++ {
				gxd[j] = gi * dx[j]
			}
		}
		return []*tensor.Tensor{gx, nil}
	}, x, y)
}

// focalAt is the focal loss of one logit x against target y, and its derivative in x.
func focalAt(x, y, alpha, gamma float64) (loss, grad float64) {
	e := math.Exp(-math.Abs(x)) // σ and the softplus from one exponential
	p := 1 / (1 + e)
	if x < 0 {
		p = e / (1 + e)
	}
	ce := math.Max(x, 0) - x*y + math.Log1p(e)
	m := 1 - (p*y + (1-p)*(1-y))
	dm := -p * (1 - p) * (2*y - 1)
	var mg, mg1 float64 // m^γ and m^(γ−1)
	if gamma == 2 {
		mg, mg1 = m*m, m
	} else {
		mg = math.Pow(m, gamma)
		if m > 0 {
			mg1 = math.Pow(m, gamma-1)
		}
	}
	loss = ce * mg
	grad = (p - y) * mg
	if gamma != 0 {
		grad += ce * gamma * mg1 * dm
	}
	if alpha >= 0 {
		a := alpha*y + (1-alpha)*(1-y)
		loss *= a
		grad *= a
	}
	return loss, grad
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// DiceLoss returns, for mask logits x: (N, …) against targets y of the same shape with
// values in [0, 1], the soft Dice loss of each mask, (N): with p = σ(x) summed over the
// mask's pixels, 1 − (2·Σp·y + s) / (Σp + Σy + s) with s = smooth (DiceSmooth in SAM's
// recipe, as DETR's dice_loss). y receives no gradient.
func DiceLoss(x, y *tensor.Tensor, smooth float64) *tensor.Tensor {
	n, per := lossShape("DiceLoss", x, y)
	xd, yd := x.Data(), y.Data()
	out := make([]float32, n)
	num, den := make([]float64, n), make([]float64, n)
	ps := make([]float32, len(xd)) // σ(x), kept for the backward pass
	cpu.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var st, sp, sy float64
			for j := i * per; j < (i+1)*per; j++ {
				p, t := sigmoid(float64(xd[j])), float64(yd[j])
				ps[j] = float32(p)
				st += p * t
				sp += p
				sy += t
			}
			num[i], den[i] = 2*st+smooth, sp+sy+smooth
			out[i] = float32(1 - num[i]/den[i])
		}
	})
	res := tensor.New(out, n)
	return tensor.Record("DiceLoss", res, func(g *tensor.Tensor) []*tensor.Tensor {
		gd := g.Data()
		gx := tensor.Empty(x.Shape()...)
		gxd := gx.Data()
		for i := 0; i < n; i++ {
			d2 := den[i] * den[i]
			a, b := float64(gd[i])*2*den[i]/d2, float64(gd[i])*num[i]/d2
			for j := i * per; j < (i+1)*per; j++ {
				p := float64(ps[j])
				gxd[j] = float32((b - a*float64(yd[j])) * p * (1 - p))
			}
		}
		return []*tensor.Tensor{gx, nil}
	}, x, y)
}

func lossShape(op string, x, y *tensor.Tensor) (n, per int) {
	if !tensor.SameShape(x.Shape(), y.Shape()) || x.Dim() < 1 {
		panic(fmt.Sprintf("samtrain.%s: logits %s and targets %s, want the same shape (N, …)",
			op, tensor.FormatShape(x.Shape()), tensor.FormatShape(y.Shape())))
	}
	n = x.SizeOf(0)
	if n > 0 {
		per = tensor.Numel(x.Shape()) / n
	}
	return n, per
}

// MaskIoU returns the IoU of the masks logits > 0 with the targets > 0.5, per mask: x, y
// (N, …) → N values (1 when both are empty). It records no gradient.
func MaskIoU(x, y *tensor.Tensor) []float32 {
	n, per := lossShape("MaskIoU", x, y)
	xd, yd := x.Data(), y.Data()
	out := make([]float32, n)
	for i := 0; i < n; i++ {
		var inter, union int
		for j := i * per; j < (i+1)*per; j++ {
			a, b := xd[j] > 0, yd[j] > 0.5
			if a && b {
				inter++
			}
			if a || b {
				union++
			}
		}
		out[i] = 1
		if union > 0 {
			out[i] = float32(inter) / float32(union)
		}
	}
	return out
}
