#!/usr/bin/python3
"""Golden fixtures for fovea's package tensor (testdata/tensor/golden.json).

Run from anywhere with Debian's interpreter (PyTorch 1.13):

    /usr/bin/python3 scripts/golden_tensor.py

For every case the file holds the op name and its parameters (the Go test
maps them onto fovea's API), the inputs (float32 values written with few
digits so Go and Python read the same float32), and, from PyTorch:

* out[k].f32 / out[k].f64 — forward outputs computed in float32 and in
  float64 (from the same float32 inputs);
* gout[k] — an upstream gradient for each differentiable output;
* grads[i].f32 / grads[i].f64 — the input gradients (null for inputs that do
  not require one);
* tol — the relative tolerance against the float64 result (1e-5, or 1e-4
  for long reductions).

Everything is seeded, so rerunning reproduces the same file.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "tensor", "golden.json")

rng = np.random.default_rng(20240601)
CASES = []


def rnd(*shape, lo=None, hi=None, scale=1.0):
    """Random float32 values with 4 decimals (exactly representable in JSON)."""
    if lo is not None:
        a = rng.uniform(lo, hi, size=shape)
    else:
        a = rng.standard_normal(size=shape) * scale
    return np.round(a, 4).astype(np.float32)


def ints(n, *shape):
    return rng.integers(0, n, size=shape).astype(np.float32)


def arr(values, *shape):
    return np.array(values, dtype=np.float32).reshape(shape)


def case(name, op, inputs, fn, params=None, long=False):
    """inputs: list of (float32 array, requires_grad); fn maps torch tensors
    to one tensor or a tuple of tensors."""
    CASES.append((name, op, inputs, fn, params or {}, long))


def run(name, op, inputs, fn, params, long):
    res = {}
    gouts = None
    for dt, key in ((torch.float32, "f32"), (torch.float64, "f64")):
        ts = [torch.tensor(a, dtype=dt, requires_grad=rg) for a, rg in inputs]
        outs = fn(ts)
        if not isinstance(outs, (tuple, list)):
            outs = [outs]
        if gouts is None:
            gouts = [rnd(*o.shape) if o.requires_grad else None for o in outs]
        diff = [(o, torch.tensor(g, dtype=dt)) for o, g in zip(outs, gouts) if g is not None]
        if diff:
            torch.autograd.backward([o for o, _ in diff], [g for _, g in diff])
        res[key] = (
            [o.detach().to(torch.float64).numpy() for o in outs],
            [t.grad.numpy() if (rg and t.grad is not None) else (np.zeros(a.shape) if rg else None)
             for t, (a, rg) in zip(ts, inputs)],
        )
    o32, g32 = res["f32"]
    o64, g64 = res["f64"]
    return {
        "name": name,
        "op": op,
        "params": params,
        "tol": 1e-4 if long else 1e-5,
        "inputs": [{"shape": list(a.shape), "data": num4(a), "grad": rg} for a, rg in inputs],
        "out": [{"shape": list(a.shape), "f32": num32(a), "f64": num64(b), "diff": g is not None}
                for a, b, g in zip(o32, o64, gouts)],
        "gout": [num4(g) if g is not None else None for g in gouts],
        "grads": [None if a is None else {"f32": num32(a), "f64": num64(b)} for a, b in zip(g32, g64)],
    }


def num4(a):
    return [float("%.4f" % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def num32(a):
    return [float("%.9g" % v) for v in np.asarray(a, dtype=np.float32).ravel()]


def num64(a):
    return [float("%.10g" % v) for v in np.asarray(a, dtype=np.float64).ravel()]


RED = {"mean": "mean", "sum": "sum", "none": "none"}

# ---------------------------------------------------------------- creation

for s, e, st in ((0, 5, 1), (-1.5, 2.25, 0.5), (1, 0, -0.3), (0, 1, 0.1), (2, 2, 1)):
    case("arange_%g_%g_%g" % (s, e, st), "arange", [],
         lambda ts, s=s, e=e, st=st: torch.arange(s, e, st, dtype=torch.float64),
         {"start": s, "end": e, "step": st})

# ---------------------------------------------------------------- shape ops

case("reshape_infer", "reshape", [(rnd(2, 3, 4), True)], lambda t: t[0].reshape(4, -1), {"shape": [4, -1]})
case("reshape_scalar", "reshape", [(rnd(1, 1), True)], lambda t: t[0].reshape(()), {"shape": []})
case("view", "view", [(rnd(6, 2), True)], lambda t: t[0].view(3, 2, 2), {"shape": [3, 2, 2]})
case("flatten_1_2", "flatten", [(rnd(2, 3, 2, 2), True)], lambda t: torch.flatten(t[0], 1, 2), {"start": 1, "end": 2})
case("flatten_all", "flatten", [(rnd(2, 3, 2), True)], lambda t: torch.flatten(t[0], 0, -1), {"start": 0, "end": -1})
case("squeeze_all", "squeeze", [(rnd(1, 3, 1, 2), True)], lambda t: t[0].squeeze(), {"axes": []})
case("squeeze_axis", "squeeze", [(rnd(1, 3, 1, 2), True)], lambda t: t[0].squeeze(2), {"axes": [2]})
case("squeeze_noop", "squeeze", [(rnd(2, 3), True)], lambda t: t[0].squeeze(1), {"axes": [1]})
case("unsqueeze_neg", "unsqueeze", [(rnd(2, 3), True)], lambda t: t[0].unsqueeze(-1), {"axis": -1})
case("unsqueeze_0", "unsqueeze", [(rnd(2, 3), True)], lambda t: t[0].unsqueeze(0), {"axis": 0})
case("permute_3d", "permute", [(rnd(2, 3, 4), True)], lambda t: t[0].permute(2, 0, 1), {"perm": [2, 0, 1]})
case("permute_4d", "permute", [(rnd(2, 3, 2, 2), True)], lambda t: t[0].permute(0, 2, 3, 1), {"perm": [0, 2, 3, 1]})
case("transpose", "transpose", [(rnd(2, 3, 4), True)], lambda t: t[0].transpose(0, -1), {"axes": [0, -1]})
case("expand", "expand", [(rnd(3, 1), True)], lambda t: t[0].expand(2, 3, 4), {"shape": [2, 3, 4]})
case("expand_scalar", "expand", [(rnd(), True)], lambda t: t[0].expand(2, 3), {"shape": [2, 3]})
case("sum_to", "sum_to", [(rnd(2, 3, 4), True)], lambda t: t[0].sum_to_size(3, 1), {"shape": [3, 1]})
case("sum_to_scalar", "sum_to", [(rnd(2, 3), True)], lambda t: t[0].sum(), {"shape": []})
case("cat_0", "cat", [(rnd(1, 3), True), (rnd(2, 3), True), (rnd(3, 3), False)],
     lambda t: torch.cat(t, 0), {"axis": 0})
case("cat_last", "cat", [(rnd(2, 1, 2), True), (rnd(2, 1, 3), True)], lambda t: torch.cat(t, -1), {"axis": -1})
case("stack_0", "stack", [(rnd(2, 3), True), (rnd(2, 3), True)], lambda t: torch.stack(t, 0), {"axis": 0})
case("stack_last", "stack", [(rnd(2, 3), True), (rnd(2, 3), True), (rnd(2, 3), True)],
     lambda t: torch.stack(t, -1), {"axis": -1})
case("split", "split", [(rnd(2, 6), True)], lambda t: torch.split(t[0], [1, 3, 2], 1), {"axis": 1, "sizes": [1, 3, 2]})
case("chunk_uneven", "chunk", [(rnd(5, 2), True)], lambda t: torch.chunk(t[0], 3, 0), {"n": 3, "axis": 0})
case("chunk_last", "chunk", [(rnd(2, 6), True)], lambda t: torch.chunk(t[0], 4, -1), {"n": 4, "axis": -1})
case("narrow", "narrow", [(rnd(3, 5), True)], lambda t: torch.narrow(t[0], 1, 1, 3), {"axis": 1, "start": 1, "length": 3})
case("narrow_neg_start", "narrow", [(rnd(4, 2, 3), True)], lambda t: torch.narrow(t[0], 0, -3, 2),
     {"axis": 0, "start": -3, "length": 2})
case("index_select", "index_select", [(rnd(4, 3), True), (arr([3, 0, 3, 1, 3], 5), False)],
     lambda t: torch.index_select(t[0], 0, t[1].long()), {"axis": 0})
case("index_select_mid", "index_select", [(rnd(2, 4, 3), True), (arr([2, 2, 0], 3), False)],
     lambda t: torch.index_select(t[0], 1, t[1].long()), {"axis": 1})
case("gather_1", "gather", [(rnd(3, 4), True), (ints(4, 3, 5), False)],
     lambda t: torch.gather(t[0], 1, t[1].long()), {"axis": 1})
case("gather_0_small", "gather", [(rnd(4, 3), True), (ints(4, 2, 2), False)],
     lambda t: torch.gather(t[0], 0, t[1].long()), {"axis": 0})
case("scatter_add_1", "scatter_add", [(rnd(3, 4), True), (ints(4, 3, 5), False), (rnd(3, 5), True)],
     lambda t: torch.scatter_add(t[0], 1, t[1].long(), t[2]), {"axis": 1})
case("scatter_add_0", "scatter_add", [(rnd(4, 3), True), (ints(4, 2, 3), False), (rnd(2, 3), True)],
     lambda t: torch.scatter_add(t[0], 0, t[1].long(), t[2]), {"axis": 0})

for name, shape, pads, mode, value in (
        ("pad_const_1d", (2, 3), [1, 2], "constant", 0.0),
        ("pad_const_value", (2, 3, 4), [2, 1, 0, 1], "constant", -1.5),
        ("pad_const_neg", (2, 4, 5), [-1, 2, 1, -2], "constant", 0.25),
        ("pad_const_crop_all", (2, 3, 4), [-1, -1, 0, 0, -1, 0], "constant", 0.0),
        ("pad_reflect_1d", (2, 3, 5), [2, 3], "reflect", 0.0),
        ("pad_reflect_2d", (1, 2, 4, 3), [2, 1, 3, 1], "reflect", 0.0),
        ("pad_replicate_1d", (2, 2, 3), [3, 1], "replicate", 0.0),
        ("pad_replicate_2d", (1, 2, 3, 3), [1, 2, 2, 0], "replicate", 0.0)):
    case(name, "pad", [(rnd(*shape), True)],
         lambda t, pads=pads, mode=mode, value=value: F.pad(t[0], pads, mode=mode, value=value)
         if mode == "constant" else F.pad(t[0], pads, mode=mode),
         {"pads": pads, "mode": mode, "value": value})

# ---------------------------------------------------------------- elementwise

BCAST = (("same", (2, 3), (2, 3)), ("row", (2, 3), (3,)), ("col", (3, 1), (3, 4)),
         ("both", (2, 1, 4), (3, 1)), ("scalar", (2, 3), ()), ("one", (1,), (2, 2)))
for op, fn in (("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)):
    for bname, sa, sb in BCAST:
        b = rnd(*sb, lo=0.5, hi=2.0) * np.where(rng.random(sb) < 0.5, -1, 1).astype(np.float32) if op == "div" else rnd(*sb)
        case("%s_%s" % (op, bname), op, [(rnd(*sa), True), (b, True)], lambda t, fn=fn: fn(t[0], t[1]))
for bname, sa, sb in BCAST:
    case("pow_" + bname, "pow", [(rnd(*sa, lo=0.3, hi=2.0), True), (rnd(*sb, lo=-1.5, hi=2.5), True)],
         lambda t: torch.pow(t[0], t[1]))
case("pow_zero_exp", "pow", [(rnd(2, 2, lo=0.3, hi=2.0), True), (arr([0, 1, 2, 0], 2, 2), True)],
     lambda t: torch.pow(t[0], t[1]))

ta = rnd(3, 4)
tb = rnd(3, 4)
tb[0, :2] = ta[0, :2]  # ties: the gradient is split in two
for op, fn in (("maximum", torch.maximum), ("minimum", torch.minimum)):
    case(op + "_ties", op, [(ta, True), (tb, True)], lambda t, fn=fn: fn(t[0], t[1]))
    case(op + "_bcast", op, [(rnd(2, 1, 3), True), (rnd(4, 1), True)], lambda t, fn=fn: fn(t[0], t[1]))

ca = ints(3, 3, 4) - 1
cb = ints(3, 4) - 1
for op, fn in (("eq", torch.eq), ("ne", torch.ne), ("gt", torch.gt), ("ge", torch.ge), ("lt", torch.lt),
               ("le", torch.le)):
    case(op, op, [(ca, False), (cb, False)], lambda t, fn=fn: fn(t[0], t[1]).to(t[0].dtype))
    case(op + "_bcast", op, [(ca, False), (arr([0], 1), False)], lambda t, fn=fn: fn(t[0], t[1]).to(t[0].dtype))

case("neg", "neg", [(rnd(2, 3), True)], lambda t: torch.neg(t[0]))
case("exp", "exp", [(rnd(3, 4, scale=2), True)], lambda t: torch.exp(t[0]))
case("log", "log", [(rnd(3, 4, lo=0.05, hi=5), True)], lambda t: torch.log(t[0]))
case("sqrt", "sqrt", [(rnd(3, 4, lo=0.05, hi=5), True)], lambda t: torch.sqrt(t[0]))
xa = rnd(3, 4)
xa[1, 1] = 0  # |x|' = 0 at 0
case("abs", "abs", [(xa, True)], lambda t: torch.abs(t[0]))
xc = rnd(4, 5, scale=1.5)
xc[0, 0], xc[0, 1] = -0.5, 1.25  # on the boundaries: the gradient passes
case("clamp", "clamp", [(xc, True)], lambda t: torch.clamp(t[0], -0.5, 1.25), {"lo": -0.5, "hi": 1.25})
case("clamp_min", "clamp", [(rnd(3, 4), True)], lambda t: torch.clamp(t[0], min=0.1), {"lo": 0.1, "hi": None})
case("where", "where", [(ints(2, 3, 4), False), (rnd(3, 4), True), (rnd(3, 4), True)],
     lambda t: torch.where(t[0] != 0, t[1], t[2]))
case("where_bcast", "where", [(ints(2, 3, 1), False), (rnd(1, 4), True), (rnd(), True)],
     lambda t: torch.where(t[0] != 0, t[1], t[2]))
case("add_scalar", "add_scalar", [(rnd(2, 3), True)], lambda t: t[0] + 1.75, {"scalar": 1.75})
case("mul_scalar", "mul_scalar", [(rnd(2, 3), True)], lambda t: t[0] * -2.5, {"scalar": -2.5})
for p in (2, 0.5, -1.5, 3, 0, 1):
    case("pow_scalar_%g" % p, "pow_scalar", [(rnd(2, 3, lo=0.2, hi=3), True)], lambda t, p=p: torch.pow(t[0], p),
         {"scalar": p})

# ---------------------------------------------------------------- reductions

xr = rnd(2, 3, 4)


def all_or(fn, axes, kd):
    return lambda t: fn(t[0], dim=tuple(axes) if axes else tuple(range(t[0].dim())), keepdim=kd)


for axes, kd in (([], False), ([1], False), ([0, 2], True), ([-1], True), ([0, 1, 2], True)):
    tag = "%s_%s" % ("_".join(str(a) for a in axes) or "all", "keep" if kd else "drop")
    p = {"axes": axes, "keepdim": kd}
    case("sum_" + tag, "sum", [(xr, True)], all_or(torch.sum, axes, kd), p)
    case("mean_" + tag, "mean", [(xr, True)], all_or(torch.mean, axes, kd), p)
    case("amax_" + tag, "amax", [(xr, True)], all_or(torch.amax, axes, kd), p)
    case("amin_" + tag, "amin", [(xr, True)], all_or(torch.amin, axes, kd), p)
    case("logsumexp_" + tag, "logsumexp", [(xr, True)], all_or(torch.logsumexp, axes, kd), p)
    for corr in (0, 1):
        pc = dict(p, correction=corr)
        for op, fn in (("var", torch.var), ("std", torch.std)):
            case("%s_%s_c%d" % (op, tag, corr), op, [(xr, True)],
                 lambda t, fn=fn, axes=axes, kd=kd, corr=corr: fn(
                     t[0], dim=tuple(axes) if axes else None, unbiased=bool(corr), keepdim=kd), pc)

xl = rnd(2, 128, scale=2)  # long reductions: 128 elements per row
case("sum_long", "sum", [(xl, True)], lambda t: torch.sum(t[0], dim=1), {"axes": [1], "keepdim": False}, long=True)
case("mean_long", "mean", [(xl, True)], lambda t: torch.mean(t[0]), {"axes": [], "keepdim": False}, long=True)
case("var_long", "var", [(xl, True)], lambda t: torch.var(t[0], dim=1), {"axes": [1], "keepdim": False,
                                                                       "correction": 1}, long=True)
case("logsumexp_long", "logsumexp", [(xl, True)], lambda t: torch.logsumexp(t[0], dim=1),
     {"axes": [1], "keepdim": False}, long=True)
case("softmax_long", "softmax", [(xl, True)], lambda t: torch.softmax(t[0], 1), {"axis": 1}, long=True)

xt = ints(3, 3, 4)  # many ties
case("amax_ties", "amax", [(xt, True)], lambda t: torch.amax(t[0], dim=1), {"axes": [1], "keepdim": False})
case("amin_ties_all", "amin", [(xt, True)], lambda t: torch.amin(t[0], dim=(0, 1)), {"axes": [], "keepdim": False})
for axis, kd in ((0, False), (1, True), (-1, False)):
    tag = "%d_%s" % (axis, "keep" if kd else "drop")
    p = {"axis": axis, "keepdim": kd}
    case("max_" + tag, "max", [(xr, True)], lambda t, axis=axis, kd=kd: torch.max(t[0], axis, keepdim=kd), p)
    case("min_" + tag, "min", [(xr, True)], lambda t, axis=axis, kd=kd: torch.min(t[0], axis, keepdim=kd), p)
    case("argmax_" + tag, "argmax", [(xr, False)],
         lambda t, axis=axis, kd=kd: torch.argmax(t[0], axis, keepdim=kd).to(t[0].dtype), p)
    case("argmin_" + tag, "argmin", [(xr, False)],
         lambda t, axis=axis, kd=kd: torch.argmin(t[0], axis, keepdim=kd).to(t[0].dtype), p)
# first index among ties (torch documents this for max/min with dim on CPU)
xtf = arr([1, 3, 3, 0, 2, 2, 2, 1, -1, 5, -1, 5], 3, 4)
case("max_ties", "max", [(xtf, True)], lambda t: torch.max(t[0], 1), {"axis": 1, "keepdim": False})
case("min_ties", "min", [(xtf, True)], lambda t: torch.min(t[0], 1), {"axis": 1, "keepdim": False})
case("argmax_ties", "argmax", [(xtf, False)], lambda t: torch.argmax(t[0], 1).to(t[0].dtype),
     {"axis": 1, "keepdim": False})
case("argmin_ties", "argmin", [(xtf, False)], lambda t: torch.argmin(t[0], 1).to(t[0].dtype),
     {"axis": 1, "keepdim": False})

# ---------------------------------------------------------------- matmul, softmax

for name, sa, sb in (("dot", (5,), (5,)), ("vec_mat", (3,), (3, 4)), ("mat_vec", (4, 3), (3,)),
                     ("mat_mat", (3, 4), (4, 5)), ("batch_mat", (2, 3, 4), (4, 5)),
                     ("mat_batch", (3, 4), (2, 4, 2)), ("batch_batch", (2, 3, 4), (2, 4, 5)),
                     ("batch_bcast", (2, 1, 3, 4), (3, 4, 2)), ("batch_vec", (2, 3, 4), (4,)),
                     ("vec_batch", (4,), (2, 4, 3))):
    case("matmul_" + name, "matmul", [(rnd(*sa), True), (rnd(*sb), True)], lambda t: torch.matmul(t[0], t[1]))
xm = rnd(2, 3, 64, scale=0.2)
case("matmul_long", "matmul", [(xm, True), (rnd(64, 2, scale=0.2), True)], lambda t: torch.matmul(t[0], t[1]),
     long=True)

for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    for axis, shape in ((1, (3, 5)), (-1, (2, 3, 4)), (0, (4, 3)), (1, (2, 3, 2, 2))):
        case("%s_%d_%s" % (op, axis, "x".join(map(str, shape))), op, [(rnd(*shape, scale=2), True)],
             lambda t, fn=fn, axis=axis: fn(t[0], axis), {"axis": axis})

# ---------------------------------------------------------------- convolution


def conv_case(name, op, xs, ws, bias, **kw):
    inputs = [(rnd(*xs), True), (rnd(*ws, scale=0.5), True)]
    if bias:
        inputs.append((rnd(ws[0] if op == "conv2d" else ws[1] * kw.get("groups", 1)), True))
    params = {"bias": bias, "stride": list(kw.get("stride", (1, 1))), "padding": list(kw.get("padding", (0, 0))),
              "dilation": list(kw.get("dilation", (1, 1))), "groups": kw.get("groups", 1),
              "output_padding": list(kw.get("output_padding", (0, 0)))}

    def fn(t):
        b = t[2] if bias else None
        if op == "conv2d":
            return F.conv2d(t[0], t[1], b, stride=params["stride"], padding=params["padding"],
                            dilation=params["dilation"], groups=params["groups"])
        return F.conv_transpose2d(t[0], t[1], b, stride=params["stride"], padding=params["padding"],
                                  output_padding=params["output_padding"], groups=params["groups"],
                                  dilation=params["dilation"])
    case(name, op, inputs, fn, params)


conv_case("conv2d_pad", "conv2d", (2, 3, 5, 4), (4, 3, 3, 3), True, padding=(1, 1))
conv_case("conv2d_stride_groups", "conv2d", (1, 4, 7, 6), (4, 2, 3, 3), True, stride=(2, 2), padding=(1, 1), groups=2)
conv_case("conv2d_dilation_nobias", "conv2d", (1, 2, 7, 6), (3, 2, 3, 2), False, dilation=(2, 1), padding=(2, 0))
conv_case("conv2d_depthwise", "conv2d", (1, 3, 5, 5), (3, 1, 3, 3), True, padding=(1, 1), groups=3)
conv_case("conv2d_1x1", "conv2d", (2, 4, 3, 3), (5, 4, 1, 1), True)
conv_case("conv2d_asym", "conv2d", (1, 2, 4, 7), (3, 2, 1, 3), True, stride=(2, 1), padding=(0, 1))
conv_case("conv_transpose2d_stride_outpad", "conv_transpose2d", (1, 3, 3, 3), (3, 2, 3, 3), True,
          stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
conv_case("conv_transpose2d_groups", "conv_transpose2d", (1, 4, 3, 4), (4, 1, 3, 2), True, stride=(2, 1), groups=2)
conv_case("conv_transpose2d_dilation", "conv_transpose2d", (2, 2, 3, 3), (2, 3, 3, 3), False,
          dilation=(2, 2), padding=(1, 0))

# ---------------------------------------------------------------- losses

C = 4
WEIGHT = arr([0.5, 2.0, 1.0, 0.25], C)


def targets(shape, ignore):
    t = ints(C, *shape)
    if ignore is not None and t.size > 1:
        flat = t.reshape(-1)
        flat[1] = ignore
        flat[-2] = ignore
    return t


OPTS = (("plain", {}), ("ignore", {"ignore_index": 2}), ("ignore255", {"ignore_index": 255}),
        ("weight", {"weight": True}), ("smooth", {"label_smoothing": 0.2}),
        ("smooth_ignore", {"ignore_index": 255, "label_smoothing": 0.1}),
        ("all", {"ignore_index": 255, "weight": True, "label_smoothing": 0.15}))
SHAPES = (("nc", (5, C), (5,)), ("nchw", (2, C, 2, 3), (2, 2, 3)), ("c", (C,), ()))
for oname, o in OPTS:
    for sname, xs, ts in SHAPES:
        for red in ("mean", "sum", "none"):
            ign = o.get("ignore_index")
            tgt = targets(ts, ign if ign == 255 else None)
            if sname == "c" and ign is not None and tgt == ign:
                tgt = arr([(ign + 1) % C])  # a single ignored target: mean is 0/0
            if sname == "c" and ign == 255:
                continue  # a single ignored target: mean is 0/0
            inputs = [(rnd(*xs, scale=1.5), True), (tgt, False)]
            if o.get("weight"):
                inputs.append((WEIGHT, False))
            params = {"reduction": red, "ignore_index": ign if ign is not None else -100,
                      "label_smoothing": o.get("label_smoothing", 0.0), "weight": bool(o.get("weight"))}

            def ce(t, o=o, red=red, params=params):
                return F.cross_entropy(t[0], t[1].long(), weight=t[2] if o.get("weight") else None,
                                       ignore_index=params["ignore_index"], reduction=red,
                                       label_smoothing=params["label_smoothing"])
            case("ce_%s_%s_%s" % (oname, sname, red), "cross_entropy", inputs, ce, params)
            if "label_smoothing" not in o:
                def nll(t, o=o, red=red, params=params):
                    return F.nll_loss(t[0], t[1].long(), weight=t[2] if o.get("weight") else None,
                                      ignore_index=params["ignore_index"], reduction=red)
                lp = torch.log_softmax(torch.tensor(rnd(*xs, scale=1.5), dtype=torch.float64), 0 if sname == "c" else 1)
                inputs = [(np.round(lp.numpy(), 4).astype(np.float32), True)] + inputs[1:]
                case("nll_%s_%s_%s" % (oname, sname, red), "nll_loss", inputs, nll, params)
# all targets ignored: sum and none give zeros (mean is 0/0 = NaN and not recorded)
for red in ("sum", "none"):
    case("ce_all_ignored_" + red, "cross_entropy", [(rnd(3, C), True), (arr([255, 255, 255], 3), False)],
         lambda t, red=red: F.cross_entropy(t[0], t[1].long(), ignore_index=255, reduction=red),
         {"reduction": red, "ignore_index": 255, "label_smoothing": 0.0, "weight": False})

for wname, has_w, has_pw in (("plain", False, False), ("weight", True, False), ("posweight", False, True),
                             ("both", True, True)):
    for red in ("mean", "sum", "none"):
        x = rnd(4, 3, scale=2)
        x[0, 0], x[1, 1] = 30.0, -30.0  # far in the tails: the stable form matters
        inputs = [(x, True), (rnd(4, 3, lo=0, hi=1), True)]
        if has_w:
            inputs.append((rnd(4, 1, lo=0.2, hi=2), False))
        if has_pw:
            inputs.append((rnd(3, lo=0.5, hi=3), False))

        def bce(t, has_w=has_w, has_pw=has_pw, red=red):
            w = t[2] if has_w else None
            pw = t[-1] if has_pw else None
            return F.binary_cross_entropy_with_logits(t[0], t[1], weight=w, pos_weight=pw, reduction=red)
        case("bce_%s_%s" % (wname, red), "bce_with_logits", inputs, bce,
             {"reduction": red, "weight": has_w, "pos_weight": has_pw})

for red in ("mean", "sum", "none"):
    p = {"reduction": red}
    case("mse_" + red, "mse", [(rnd(3, 4), True), (rnd(3, 4), True)], lambda t, red=red: F.mse_loss(t[0], t[1],
                                                                                                     reduction=red), p)
    case("l1_" + red, "l1", [(rnd(3, 4), True), (rnd(3, 4), True)], lambda t, red=red: F.l1_loss(t[0], t[1],
                                                                                                  reduction=red), p)
    for beta in (1.0, 0.5, 0.0):
        case("smooth_l1_b%g_%s" % (beta, red), "smooth_l1", [(rnd(3, 4), True), (rnd(3, 4), True)],
             lambda t, red=red, beta=beta: F.smooth_l1_loss(t[0], t[1], reduction=red, beta=beta),
             dict(p, beta=beta))


def main():
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "cases": [run(*c) for c in CASES]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, %d bytes" % (OUT, len(out["cases"]), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
