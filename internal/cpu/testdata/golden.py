"""Writes golden.json, PyTorch's results for internal/cpu's pooling and
convolution kernels on small random inputs.

Run from internal/cpu with Debian's PyTorch: /usr/bin/python3 testdata/golden.py
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []


def flat(t):
    return [float(f"{v:.8g}") for v in t.detach().reshape(-1).tolist()]


def pool_case(kind, n, c, h, w, k, s, p, d=1, ceil=False, include_pad=True, divisor=None):
    x = torch.randn(n, c, h, w)
    x.requires_grad_()
    if kind == "max":
        y, idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    else:
        y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include_pad, divisor_override=divisor)
        idx = None
    g = torch.randn_like(y)
    y.backward(g)
    cases.append({
        "kind": kind, "shape": [n, c, h, w], "k": list(k), "s": list(s), "p": list(p), "d": [d, d],
        "ceil": ceil, "include_pad": include_pad, "divisor": divisor or 0,
        "out": list(y.shape[2:]),
        "x": flat(x), "y": flat(y), "g": flat(g), "dx": flat(x.grad),
        "idx": [int(v) for v in idx.reshape(-1).tolist()] if idx is not None else None,
    })


pool_case("max", 2, 3, 7, 8, (3, 3), (2, 2), (1, 1))
pool_case("max", 1, 2, 9, 7, (3, 2), (2, 3), (1, 0), d=2, ceil=True)
pool_case("max", 1, 2, 6, 6, (2, 2), (2, 2), (0, 0))
pool_case("avg", 2, 2, 7, 8, (3, 3), (2, 2), (1, 1), include_pad=True)
pool_case("avg", 2, 2, 7, 8, (3, 3), (2, 2), (1, 1), include_pad=False, ceil=True)
pool_case("avg", 1, 3, 5, 9, (2, 4), (3, 2), (1, 2), ceil=True, divisor=5)


def conv_case(n, c, h, w, cout, k, s, p, d, groups, transposed=False, out_pad=(0, 0)):
    x = torch.randn(n, c, h, w, requires_grad=True)
    if transposed:
        wt = torch.randn(c, cout // groups, *k, requires_grad=True)
        b = torch.randn(cout, requires_grad=True)
        y = F.conv_transpose2d(x, wt, b, s, p, out_pad, groups, d)
    else:
        wt = torch.randn(cout, c // groups, *k, requires_grad=True)
        b = torch.randn(cout, requires_grad=True)
        y = F.conv2d(x, wt, b, s, p, d, groups)
    g = torch.randn_like(y)
    y.backward(g)
    cases.append({
        "kind": "convT" if transposed else "conv", "shape": [n, c, h, w], "cout": cout, "k": list(k),
        "s": list(s), "p": list(p), "d": list(d), "groups": groups, "out_pad": list(out_pad),
        "out": list(y.shape[2:]),
        "x": flat(x), "w": flat(wt), "b": flat(b), "y": flat(y), "g": flat(g),
        "dx": flat(x.grad), "dw": flat(wt.grad), "db": flat(b.grad),
    })


conv_case(2, 4, 7, 6, 6, (3, 3), (1, 1), (1, 1), (1, 1), 1)
conv_case(1, 4, 9, 8, 4, (3, 3), (2, 2), (1, 1), (1, 1), 2)
conv_case(2, 3, 8, 8, 3, (3, 3), (1, 1), (2, 2), (2, 2), 3)
conv_case(1, 6, 6, 5, 4, (15, 1), (1, 1), (7, 0), (1, 1), 1)
conv_case(2, 4, 5, 6, 6, (3, 3), (2, 2), (1, 1), (1, 1), 2, transposed=True, out_pad=(1, 0))
conv_case(1, 3, 4, 4, 2, (4, 4), (2, 2), (1, 1), (1, 1), 1, transposed=True)

with open("testdata/golden.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
