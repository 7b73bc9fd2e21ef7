#!/usr/bin/python3
"""Golden files for fovea's optim package (testdata/optim/).

Run from the repository root with Debian's interpreter (PyTorch 1.13):

    /usr/bin/python3 scripts/golden_optim.py

Writes
  optimizers.json — torch.optim SGD / Adam / AdamW, 20 steps each, on two
                    parameter groups (weights with weight decay, a bias with
                    its own LR and no decay). The gradient at step k is
                    (p - c) * a + n_k, computed in float32 by separate
                    correctly-rounded ops, so Go can form it bit for bit; the
                    bias gets no gradient (grad = None) on every third step.
                    Records the parameters after every step.
  schedulers.json — the LR (and momentum) after construction and after each of
                    50 scheduler steps, for every scheduler fovea implements.
  clip.json       — clip_grad_norm_ (p = 1, 2, 3, inf) and clip_grad_value_.
  bn_running.json — for package stochastic: BatchNorm2d's running_mean before
                    and after training-mode batches (momentum 0.1, 0.3 and
                    None), with the batch means it used.
  adam_step.json  — the oracle of the Adam kernel: torch.optim.Adam / AdamW
                    (maximize on and off, with and without weight decay) for
                    two steps on 1-D tensors of lengths 1…17, 31, 64 and 100
                    holding zeros, a NaN parameter and ±Inf gradients: the
                    parameter after each step, the moments after the last. Every
                    float32 is written as its bit pattern (an unsigned
                    integer), so NaN and Inf survive JSON and Go can compare
                    bit for bit.

Everything is seeded, so rerunning reproduces the same files.
"""
import json
import math
import os

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "optim")
STEPS = 20


def flat(t):
    """float32 values as the shortest decimals that parse back to the same
    float32 (Go reads them into []float32)."""
    return [float(repr(np.float32(v))) for v in t.detach().reshape(-1).tolist()]


def problem():
    g = torch.Generator().manual_seed(1234)
    w0 = torch.randn(3, 4, generator=g)
    b0 = torch.randn(4, generator=g)
    cw = torch.randn(3, 4, generator=g)
    cb = torch.randn(4, generator=g)
    aw = torch.rand(3, 4, generator=g) * 2 + 0.1
    ab = torch.rand(4, generator=g) * 2 + 0.1
    nw = torch.randn(STEPS, 3, 4, generator=g) * 0.3
    nb = torch.randn(STEPS, 4, generator=g) * 0.3
    return dict(w0=w0, b0=b0, cw=cw, cb=cb, aw=aw, ab=ab, nw=nw, nb=nb)


OPT_CASES = [
    ("sgd_plain", "SGD", dict(lr=0.1)),
    ("sgd_momentum", "SGD", dict(lr=0.05, momentum=0.9)),
    ("sgd_dampening_wd", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    ("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-3)),
    ("sgd_maximize", "SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("adam", "Adam", dict(lr=1e-2)),
    ("adam_wd", "Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("adam_amsgrad_wd", "Adam", dict(lr=2e-2, weight_decay=0.05, amsgrad=True)),
    ("adam_betas_eps", "Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6)),
    ("adamw", "AdamW", dict(lr=1e-2, weight_decay=1e-2)),
    ("adamw_amsgrad", "AdamW", dict(lr=2e-2, weight_decay=0.1, amsgrad=True)),
    ("adamw_maximize", "AdamW", dict(lr=1e-3, weight_decay=0.1, maximize=True)),
    # Switches set per parameter group (PyTorch's param_group keys): the
    # fourth element holds the extra keys of the "weights" and "bias" groups.
    ("sgd_nesterov_weights_group", "SGD", dict(lr=0.05, momentum=0.9, weight_decay=5e-3),
     {"weights": {"nesterov": True}}),
    ("sgd_nesterov_off_bias_group", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True),
     {"bias": {"nesterov": False, "maximize": True}}),
    ("adam_amsgrad_weights_group", "Adam", dict(lr=2e-2, weight_decay=0.05),
     {"weights": {"amsgrad": True}}),
    ("adamw_amsgrad_off_bias_group", "AdamW", dict(lr=2e-2, weight_decay=0.1, amsgrad=True),
     {"bias": {"amsgrad": False}}),
]


def run_optimizers(pb):
    cases = []
    for name, kind, kw, *extra in OPT_CASES:
        per_group = extra[0] if extra else {}
        w = pb["w0"].clone().requires_grad_(True)
        b = pb["b0"].clone().requires_grad_(True)
        cls = getattr(torch.optim, kind)
        groups = [dict({"params": [w]}, **per_group.get("weights", {})),
                  dict({"params": [b], "lr": kw["lr"] * 0.5, "weight_decay": 0.0}, **per_group.get("bias", {}))]
        opt = cls(groups, **kw)
        traj_w, traj_b = [], []
        for k in range(STEPS):
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                w.grad = (w.detach() - pb["cw"]) * pb["aw"] + pb["nw"][k]
                if k % 3 != 2:
                    b.grad = (b.detach() - pb["cb"]) * pb["ab"] + pb["nb"][k]
            opt.step()
            traj_w.append(flat(w))
            traj_b.append(flat(b))
        opts = dict(kw)
        if "betas" in opts:
            opts["beta1"], opts["beta2"] = opts.pop("betas")
        case = dict(name=name, optimizer=kind, options=opts, w=traj_w, b=traj_b)
        if per_group:
            case["groups"] = per_group
        cases.append(case)
    return cases


def sched_cases():
    S = torch.optim.lr_scheduler
    return [
        ("step", "SGD", lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
        ("multistep", "SGD", lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3)),
        ("exponential", "SGD", lambda o: S.ExponentialLR(o, gamma=0.93)),
        ("cosine", "SGD", lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)),
        ("cosine_restarts", "SGD", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=1, eta_min=1e-5)),
        ("cosine_restarts_mult", "SGD", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-5)),
        ("linear", "SGD", lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10)),
        ("linear_decay", "SGD", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=30)),
        ("constant", "SGD", lambda o: S.ConstantLR(o, factor=0.5, total_iters=4)),
        ("poly", "SGD", lambda o: S.PolynomialLR(o, total_iters=40, power=0.9)),
        ("poly2", "SGD", lambda o: S.PolynomialLR(o, total_iters=50, power=2.0)),
        ("onecycle_cos", "SGD", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=50)),
        ("onecycle_linear", "Adam", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=60, pct_start=0.25,
                                                           anneal_strategy="linear")),
        ("onecycle_three_phase", "SGD", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=50,
                                                               three_phase=True, div_factor=10.0,
                                                               final_div_factor=100.0)),
        ("warmup_cosine", "SGD", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=5),
                                                               S.CosineAnnealingLR(o, T_max=45)], milestones=[5])),
        ("warmup_poly", "SGD", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=10),
                                                             S.PolynomialLR(o, total_iters=40, power=0.9)],
                                                        milestones=[10])),
        ("constant_then_step", "SGD", lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.1, total_iters=3),
                                                                    S.StepLR(o, step_size=10, gamma=0.5)],
                                                               milestones=[3])),
        ("three_stage", "SGD", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.25, total_iters=4),
                                                             S.ExponentialLR(o, gamma=0.9),
                                                             S.CosineAnnealingLR(o, T_max=20, eta_min=1e-3)],
                                                        milestones=[4, 20])),
        ("chained_warmup_poly", "SGD", lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.1, total_iters=10),
                                                                     S.PolynomialLR(o, total_iters=50, power=0.9)])),
        ("chained_step_exp", "SGD", lambda o: S.ChainedScheduler([S.StepLR(o, step_size=10, gamma=0.5),
                                                                  S.ExponentialLR(o, gamma=0.98)])),
    ]


def run_schedulers():
    import warnings
    warnings.simplefilter("ignore")
    out = []
    for name, kind, make in sched_cases():
        p1 = torch.zeros(2, requires_grad=True)
        p2 = torch.zeros(2, requires_grad=True)
        if kind == "SGD":
            opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.02}], lr=0.1, momentum=0.9)
        else:
            opt = torch.optim.Adam([{"params": [p1]}, {"params": [p2], "lr": 0.02}], lr=0.1)
        sched = make(opt)
        steps = 60 if name == "onecycle_linear" else 50
        lrs, moms = [], []

        def record():
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append([g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups])

        record()
        for _ in range(steps):
            opt.step()
            sched.step()
            record()
        out.append(dict(name=name, optimizer=kind, lr=lrs, momentum=moms))
    return out


def run_clip():
    g = torch.Generator().manual_seed(99)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    base = [torch.randn(*s, generator=g) for s in shapes]
    cases = []
    for norm_type in [2.0, 1.0, 3.0, math.inf]:
        for max_norm in [0.5, 100.0]:
            ps = [torch.zeros(*s, requires_grad=True) for s in shapes]
            extra = torch.zeros(3, requires_grad=True)  # never gets a gradient
            for p, b in zip(ps, base):
                p.grad = b.clone()
            total = torch.nn.utils.clip_grad_norm_(ps + [extra], max_norm, norm_type)
            cases.append(dict(norm_type="inf" if math.isinf(norm_type) else norm_type, max_norm=max_norm,
                              total=float(total), grads=[flat(p.grad) for p in ps]))
    ps = [torch.zeros(*s, requires_grad=True) for s in shapes]
    for p, b in zip(ps, base):
        p.grad = b.clone()
    torch.nn.utils.clip_grad_value_(ps, 0.7)
    return dict(shapes=[list(s) for s in shapes], grads=[flat(b) for b in base], norm=cases,
                value=dict(clip=0.7, grads=[flat(p.grad) for p in ps]))


def run_bn_running():
    cases = []
    for momentum, seed in [(0.1, 0), (0.3, 1), (None, 2)]:
        torch.manual_seed(seed)
        bn = torch.nn.BatchNorm2d(16, momentum=momentum)
        with torch.no_grad():
            bn.running_mean.copy_(torch.randn(16))
        steps = []
        for _ in range(4):
            before = flat(bn.running_mean)
            x = torch.randn(3, 16, 5, 4) * 2 + 0.5
            batch_mean, _ = torch.batch_norm_update_stats(x, None, None, 1.0)
            bn(x)
            steps.append(dict(before=before, batch_mean=flat(batch_mean), after=flat(bn.running_mean),
                              num_batches_tracked=int(bn.num_batches_tracked)))
        cases.append(dict(momentum=momentum, steps=steps))
    return cases


ADAM_LENGTHS = list(range(1, 18)) + [31, 64, 100]
ADAM_STEPS = 2
ADAM_CASES = [
    ("adam", "Adam", dict(lr=1e-2)),
    ("adam_maximize", "Adam", dict(lr=1e-2, maximize=True)),
    ("adam_wd", "Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("adam_wd_maximize", "Adam", dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, maximize=True)),
    ("adamw", "AdamW", dict(lr=1e-2, weight_decay=0.0)),
    ("adamw_wd", "AdamW", dict(lr=1e-2, weight_decay=1e-2)),
    ("adamw_maximize", "AdamW", dict(lr=1e-3, weight_decay=0.1, maximize=True)),
    ("adamw_defaults", "AdamW", dict()),
]


def bits(t):
    """float32 values as their IEEE bit patterns."""
    return t.detach().reshape(-1).contiguous().view(torch.int32).numpy().view(np.uint32).tolist()


def adam_inputs(n, seed):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, generator=g)
    grads = [torch.randn(n, generator=g) * 0.1 for _ in range(ADAM_STEPS)]
    # Special values land in the vectorised body (indices below 8) and in
    # the scalar tail (the last index) of the kernel.
    if n >= 2:
        theta[1] = 0.0
    if n >= 3:
        for gr in grads:
            gr[2] = 0.0
    if n >= 4:
        theta[3] = float("nan")
    if n >= 6:
        grads[0][n - 1] = float("inf")
        grads[1][n - 2] = float("-inf")
    if n >= 12:
        grads[0][9] = float("-inf")
    return theta, grads


def run_adam_step():
    inputs, cases = [], []
    for n in ADAM_LENGTHS:
        theta, grads = adam_inputs(n, 4000 + n)
        inputs.append(dict(n=n, theta=bits(theta), grads=[bits(gr) for gr in grads]))
    for name, kind, kw in ADAM_CASES:
        out = []
        for n in ADAM_LENGTHS:
            theta, grads = adam_inputs(n, 4000 + n)
            p = theta.clone().requires_grad_(True)
            opt = getattr(torch.optim, kind)([p], **kw)
            thetas = []
            for gr in grads:
                p.grad = gr.clone()
                opt.step()
                thetas.append(bits(p))
            st = opt.state[p]
            out.append(dict(theta=thetas, exp_avg=bits(st["exp_avg"]), exp_avg_sq=bits(st["exp_avg_sq"])))
        # The hyperparameters PyTorch used, defaults included.
        pg = getattr(torch.optim, kind)([torch.zeros(1, requires_grad=True)], **kw).param_groups[0]
        opts = dict(lr=pg["lr"], beta1=pg["betas"][0], beta2=pg["betas"][1], eps=pg["eps"],
                    weight_decay=pg["weight_decay"], maximize=pg["maximize"])
        cases.append(dict(name=name, optimizer=kind, options=opts, steps=out))
    return dict(lengths=ADAM_LENGTHS, inputs=inputs, cases=cases)


def main():
    os.makedirs(OUT, exist_ok=True)
    pb = problem()
    opt = dict(torch=torch.__version__, steps=STEPS,
               w0=flat(pb["w0"]), b0=flat(pb["b0"]), cw=flat(pb["cw"]), cb=flat(pb["cb"]),
               aw=flat(pb["aw"]), ab=flat(pb["ab"]),
               nw=[flat(n) for n in pb["nw"]], nb=[flat(n) for n in pb["nb"]],
               cases=run_optimizers(pb))
    files = {"optimizers.json": opt,
             "schedulers.json": dict(torch=torch.__version__, cases=run_schedulers()),
             "clip.json": dict(torch=torch.__version__, **run_clip()),
             "bn_running.json": dict(torch=torch.__version__, cases=run_bn_running()),
             "adam_step.json": dict(torch=torch.__version__, **run_adam_step())}
    for fn, obj in files.items():
        with open(os.path.join(OUT, fn), "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.write("\n")
        print("wrote", os.path.join(OUT, fn))


if __name__ == "__main__":
    main()
