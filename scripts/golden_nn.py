#!/usr/bin/python3
"""Golden fixtures for package nn (testdata/nn/).

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 scripts/golden_nn.py

Each case is one small safetensors file (written by hand: 8-byte header
length, JSON header, little-endian float32 data; the Python `safetensors`
package is not installed) holding

  param.<name>   the module's state dict before the forward pass, loaded into
                 the Go module by name (which also tests fovea's naming)
  in.<k>         inputs (in.x for single-input modules)
  out.<k>        outputs (out.y; MultiheadAttention also out.w)
  gout.<k>       the gradient seeded into each output for the backward pass
  grad.<name>    the gradients of inputs (grad.in.x) and parameters
  after.<name>   buffers after the forward pass (BatchNorm2d running stats)

and "__metadata__" with the case's settings as strings. Everything is seeded,
so rerunning reproduces the same files.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "nn")


def write_st(path, tensors, meta):
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.array(tensors[name], dtype="<f4", order="C")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def run(name, module, inputs, meta=None, forward=None, nout=1, after_buffers=False, extra=None):
    """Runs module on inputs (dict name -> tensor), seeds random output
    gradients, and writes the case."""
    meta = dict(meta or {})
    t = {}
    for k, v in module.state_dict().items():
        t["param." + k] = np32(v.float())
    ins = {}
    for k, v in inputs.items():
        v = v.clone()
        if v.is_floating_point() and not k.startswith("mask"):
            v.requires_grad_(True)
        ins[k] = v
        t["in." + k] = np32(v.float())
    outs = forward(module, ins) if forward else {"y": module(ins["x"])}
    loss = 0
    g = torch.Generator().manual_seed(1234)
    for k, v in outs.items():
        if v is None:
            continue
        t["out." + k] = np32(v)
        if v.requires_grad:
            gy = torch.randn(v.shape, generator=g)
            t["gout." + k] = np32(gy)
            loss = loss + (v * gy).sum()
    if isinstance(loss, torch.Tensor):
        loss.backward()
    for k, v in ins.items():
        if v.requires_grad and v.grad is not None:
            t["grad.in." + k] = np32(v.grad)
    for k, p in module.named_parameters():
        if p.grad is not None:
            t["grad." + k] = np32(p.grad)
    if after_buffers:
        for k, b in module.named_buffers():
            t["after." + k] = np32(b.float())
    if extra:
        t.update(extra)
    write_st(os.path.join(OUT, name + ".safetensors"), t, meta)
    print(name, sum(v.size for v in t.values()), "values")


def randn(*shape):
    return torch.randn(*shape)


# ------------------------------------------------------------------ layers

def linear_cases():
    torch.manual_seed(0)
    run("linear", nn.Linear(5, 3), {"x": randn(2, 4, 5)})
    run("linear_nobias", nn.Linear(4, 6, bias=False), {"x": randn(3, 4)})


def conv_cases():
    torch.manual_seed(1)
    cases = [
        ("conv2d_basic", dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 7, 6)),
        ("conv2d_stride_dil_groups", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1),
                                          padding=(1, 2), dilation=(2, 1), groups=2), (2, 4, 9, 7)),
        ("conv2d_same_odd", dict(in_channels=2, out_channels=3, kernel_size=3, padding="same", dilation=2), (1, 2, 6, 5)),
        ("conv2d_same_even", dict(in_channels=2, out_channels=2, kernel_size=(4, 2), padding="same", bias=False), (2, 2, 5, 6)),
        ("conv2d_depthwise", dict(in_channels=3, out_channels=3, kernel_size=3, stride=2, padding=1, groups=3), (1, 3, 8, 8)),
    ]
    for name, kw, shape in cases:
        m = nn.Conv2d(**kw)
        meta = {k: json.dumps(v) for k, v in kw.items()}
        run(name, m, {"x": randn(*shape)}, meta)
    tcases = [
        ("convt2d_basic", dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
        ("convt2d_groups_dil", dict(in_channels=4, out_channels=6, kernel_size=(2, 3), stride=(1, 2), padding=(0, 1),
                                    dilation=(2, 1), groups=2, bias=False), (1, 4, 3, 4)),
    ]
    for name, kw, shape in tcases:
        m = nn.ConvTranspose2d(**kw)
        meta = {k: json.dumps(v) for k, v in kw.items()}
        run(name, m, {"x": randn(*shape)}, meta)


def norm_cases():
    torch.manual_seed(2)

    def perturb(m):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.3 * torch.randn(p.shape))
        return m

    # BatchNorm2d: two training steps (running stats after both), then eval.
    for name, kw in [("bn2d_train", dict(num_features=3)),
                     ("bn2d_train_cumulative", dict(num_features=3, momentum=None))]:
        m = perturb(nn.BatchNorm2d(**kw))
        x0 = randn(2, 3, 4, 5) * 2 + 1
        m(x0)  # first step: only moves the running stats
        meta = {k: json.dumps(v) for k, v in kw.items() if k != "num_features"}
        run(name, m, {"x": randn(2, 3, 4, 5) * 1.5 - 0.5, "x0": x0}, meta,
            forward=lambda m, ins: {"y": m(ins["x"])}, after_buffers=True)
    m = perturb(nn.BatchNorm2d(3))
    with torch.no_grad():
        m.running_mean.copy_(torch.randn(3))
        m.running_var.copy_(torch.rand(3) + 0.5)
        m.num_batches_tracked.fill_(7)
    m.eval()
    run("bn2d_eval", m, {"x": randn(2, 3, 3, 4)})
    run("layernorm", perturb(nn.LayerNorm(8)), {"x": randn(2, 3, 8) * 3 + 1})
    run("layernorm_2d_shape", perturb(nn.LayerNorm([4, 5], eps=1e-6)), {"x": randn(3, 4, 5)}, {"eps": "1e-6"})
    run("layernorm_noaffine", nn.LayerNorm(6, elementwise_affine=False), {"x": randn(4, 6)})

    class LayerNorm2d(nn.Module):  # segment_anything.modeling.common.LayerNorm2d
        def __init__(self, num_channels, eps=1e-6):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
            self.eps = eps

        def forward(self, x):
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    run("layernorm2d", perturb(LayerNorm2d(5)), {"x": randn(2, 5, 3, 4) * 2})
    run("groupnorm", perturb(nn.GroupNorm(3, 6)), {"x": randn(2, 6, 3, 5)})
    run("groupnorm_one", perturb(nn.GroupNorm(1, 4)), {"x": randn(2, 4, 2, 3) + 2})
    run("groupnorm_noaffine", nn.GroupNorm(2, 4, affine=False), {"x": randn(1, 4, 5)})


def embedding_cases():
    torch.manual_seed(3)
    m = nn.Embedding(7, 4, padding_idx=2)
    idx = torch.tensor([[0, 2, 5], [5, 6, 2]], dtype=torch.long)
    y = m(idx)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1234))
    (y * gy).sum().backward()
    t = {"param.weight": np32(m.weight), "in.idx": idx.float().numpy(), "out.y": np32(y),
         "gout.y": np32(gy), "grad.weight": np32(m.weight.grad)}
    write_st(os.path.join(OUT, "embedding.safetensors"), t, {"padding_idx": "2"})
    print("embedding")


def mha_cases():
    torch.manual_seed(4)

    def fwd(need, average, kpm=None, am=None):
        def f(m, ins):
            q, k, v = ins["q"], ins.get("k", ins["q"]), ins.get("v", ins["q"])
            out, w = m(q, k, v, key_padding_mask=ins.get("mask_kpm"), attn_mask=ins.get("mask_attn"),
                       need_weights=need, average_attn_weights=average)
            return {"y": out, "w": w}
        return f

    E, H = 8, 2
    m = nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        m.in_proj_bias.normal_()
        m.out_proj.bias.normal_()
    run("mha_self", m, {"q": randn(2, 5, E)}, {"heads": H}, forward=fwd(True, True))
    m = nn.MultiheadAttention(E, H, batch_first=True)
    kpm = torch.tensor([[False, False, False, True], [False, True, False, False]])
    am = torch.tensor([[False, True, False, False], [False, False, False, False], [True, False, False, False]])
    run("mha_cross_bool_masks", m, {"q": randn(2, 3, E), "k": randn(2, 4, E), "v": randn(2, 4, E),
                                     "mask_kpm": kpm, "mask_attn": am},
        {"heads": H}, forward=fwd(True, False))
    m = nn.MultiheadAttention(E, 4, batch_first=True, bias=False)
    fm = torch.randn(2 * 4, 3, 3)
    run("mha_float_mask_nobias", m, {"q": randn(2, 3, E), "mask_attn": fm}, {"heads": 4},
        forward=fwd(False, True))


def parity_cases():
    """Issue 17's PyTorch-parity features: Conv2d padding modes, ConvTranspose2d
    forward with output_size, MultiheadAttention with batch_first=False,
    kdim/vdim, add_bias_kv, add_zero_attn and unbatched input."""
    torch.manual_seed(17)
    convs = [
        ("conv2d_circular", dict(in_channels=2, out_channels=3, kernel_size=3, padding=(1, 2),
                                 padding_mode="circular"), (2, 2, 5, 6)),
        ("conv2d_circular_same", dict(in_channels=2, out_channels=2, kernel_size=(4, 3), padding="same",
                                      dilation=(1, 2), padding_mode="circular"), (1, 2, 6, 7)),
        ("conv2d_circular_stride_full", dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=(5, 4),
                                             padding_mode="circular", bias=False), (1, 3, 5, 4)),
        ("conv2d_reflect", dict(in_channels=2, out_channels=3, kernel_size=3, stride=(1, 2), padding=2,
                                padding_mode="reflect"), (1, 2, 5, 6)),
        ("conv2d_replicate", dict(in_channels=2, out_channels=2, kernel_size=(3, 5), padding=(1, 2), groups=2,
                                  padding_mode="replicate"), (2, 2, 4, 5)),
    ]
    for name, kw, shape in convs:
        m = nn.Conv2d(**kw)
        meta = {k: json.dumps(v) for k, v in kw.items()}
        run(name, m, {"x": randn(*shape)}, meta)
    tconvs = [
        ("convt2d_output_size", dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1),
         (2, 3, 4, 5), [8, 9]),
        ("convt2d_output_size_full", dict(in_channels=2, out_channels=4, kernel_size=(2, 3), stride=(3, 2),
                                          padding=(0, 1), dilation=(2, 1), output_padding=1),
         (1, 2, 3, 4), [1, 4, 11, 7]),
    ]
    for name, kw, shape, osize in tconvs:
        m = nn.ConvTranspose2d(**kw)
        meta = {k: json.dumps(v) for k, v in kw.items()}
        meta["output_size"] = json.dumps(osize)
        run(name, m, {"x": randn(*shape)}, meta, forward=lambda m, ins, o=osize: {"y": m(ins["x"], output_size=o)})

    def fwd(need, average):
        def f(m, ins):
            q, k, v = ins["q"], ins.get("k", ins["q"]), ins.get("v", ins.get("k", ins["q"]))
            out, w = m(q, k, v, key_padding_mask=ins.get("mask_kpm"), attn_mask=ins.get("mask_attn"),
                       need_weights=need, average_attn_weights=average)
            return {"y": out, "w": w}
        return f

    def perturb(m):
        with torch.no_grad():
            for name, p in m.named_parameters():
                if "bias" in name:
                    p.normal_()
        return m

    E = 8
    m = perturb(nn.MultiheadAttention(E, 2))
    run("mha_seq_first", m, {"q": randn(5, 2, E)}, {"heads": 2}, forward=fwd(True, True))
    m = perturb(nn.MultiheadAttention(E, 2, kdim=5, vdim=3))
    kpm = torch.tensor([[False, False, True, False], [False, False, False, False]])
    run("mha_kdim_vdim", m, {"q": randn(3, 2, E), "k": randn(4, 2, 5), "v": randn(4, 2, 3), "mask_kpm": kpm},
        {"heads": 2}, forward=fwd(True, False))
    m = perturb(nn.MultiheadAttention(E, 4, add_bias_kv=True, add_zero_attn=True, batch_first=True))
    kpm = torch.tensor([[False, False, False, True], [True, False, False, False]])
    am = torch.tensor([[False, True, False, False], [False, False, False, False], [True, True, True, True]])
    run("mha_bias_kv_zero_attn", m, {"q": randn(2, 3, E), "k": randn(2, 4, E), "v": randn(2, 4, E),
                                      "mask_kpm": kpm, "mask_attn": am},
        {"heads": 4}, forward=fwd(True, True))
    m = nn.MultiheadAttention(6, 3, bias=False, add_bias_kv=True, kdim=4, vdim=4)
    run("mha_kdim_bias_kv_nobias", m, {"q": randn(3, 2, 6), "k": randn(5, 2, 4), "v": randn(5, 2, 4),
                                        "mask_attn": randn(3, 5)},
        {"heads": 3}, forward=fwd(True, False))
    m = perturb(nn.MultiheadAttention(E, 2, kdim=6, vdim=6, add_zero_attn=True))
    run("mha_unbatched", m, {"q": randn(3, E), "k": randn(5, 6), "v": randn(5, 6),
                             "mask_kpm": torch.tensor([False, True, False, False, True])},
        {"heads": 2}, forward=fwd(True, True))


def swiglu_cases():
    torch.manual_seed(5)

    class FeedForward(nn.Module):  # LLaMA's FeedForward
        def __init__(self, dim, hidden, act):
            super().__init__()
            self.w1 = nn.Linear(dim, hidden, bias=False)
            self.w2 = nn.Linear(hidden, dim, bias=False)
            self.w3 = nn.Linear(dim, hidden, bias=False)
            self.act = act

        def forward(self, x):
            return self.w2(self.act(self.w1(x)) * self.w3(x))

    run("swiglu", FeedForward(6, 10, F.silu), {"x": randn(2, 3, 6)})
    run("geglu", FeedForward(6, 10, F.gelu), {"x": randn(2, 3, 6)})
    run("reglu", FeedForward(6, 10, F.relu), {"x": randn(2, 3, 6)})


def activation_cases():
    torch.manual_seed(6)
    mods = [
        ("threshold", nn.Threshold(0.1, 20.0)), ("sigmoid", nn.Sigmoid()), ("tanh", nn.Tanh()),
        ("relu", nn.ReLU()), ("relu6", nn.ReLU6()), ("hardtanh", nn.Hardtanh()),
        ("leakyrelu", nn.LeakyReLU()), ("leakyrelu_02", nn.LeakyReLU(0.2)),
        ("prelu", nn.PReLU()), ("prelu_c", nn.PReLU(4)),
        ("elu", nn.ELU()), ("elu_05", nn.ELU(0.5)), ("selu", nn.SELU()), ("celu", nn.CELU(0.7)),
        ("gelu", nn.GELU()), ("gelu_tanh", nn.GELU(approximate="tanh")), ("silu", nn.SiLU()),
        ("mish", nn.Mish()), ("softplus", nn.Softplus()), ("softplus_b2", nn.Softplus(beta=2, threshold=5)),
        ("softsign", nn.Softsign()), ("hardsigmoid", nn.Hardsigmoid()), ("hardswish", nn.Hardswish()),
        ("glu", nn.GLU()),
    ]
    for name, m in mods:
        if name == "prelu_c":
            with torch.no_grad():
                m.weight.copy_(torch.tensor([0.25, -0.3, 0.1, 1.5]))
        run("act_" + name, m, {"x": randn(3, 4, 6) * 3})


def upsample_cases():
    torch.manual_seed(7)
    cases = [
        ("up_nearest_scale2", nn.Upsample(scale_factor=2, mode="nearest"), (1, 2, 3, 5)),
        ("up_bilinear_size", nn.Upsample(size=(7, 4), mode="bilinear", align_corners=False), (2, 2, 5, 6)),
        ("up_bicubic_scale_ac", nn.Upsample(scale_factor=1.5, mode="bicubic", align_corners=True), (1, 2, 4, 5)),
        ("up_nearest_exact", nn.Upsample(scale_factor=(0.6, 1.7), mode="nearest-exact"), (1, 1, 5, 3)),
        ("up_bilinear2d", nn.UpsamplingBilinear2d(scale_factor=2), (1, 1, 3, 4)),
        ("up_nearest2d", nn.UpsamplingNearest2d(size=(5, 7)), (1, 2, 3, 3)),
        ("pixelshuffle", nn.PixelShuffle(2), (1, 8, 3, 2)),
        ("pixelunshuffle", nn.PixelUnshuffle(2), (1, 2, 4, 6)),
        ("pool_max", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 7, 6)),
        ("pool_avg", nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 2, 7, 6)),
        ("pool_adaptive_avg", nn.AdaptiveAvgPool2d((3, 2)), (1, 2, 7, 5)),
        ("pool_adaptive_max", nn.AdaptiveMaxPool2d((3, 2)), (1, 2, 7, 5)),
    ]
    for name, m, shape in cases:
        run(name, m, {"x": randn(*shape)})

    def unpool(m, ins):
        v, i = F.max_pool2d(ins["x"], 2, 2, return_indices=True)
        return {"y": m(v, i, output_size=(5, 7))}
    run("unpool", nn.MaxUnpool2d(2, stride=2), {"x": randn(1, 2, 5, 7)}, forward=unpool)



def dtype_cases():
    """A BatchNorm2d state dict in the dtypes PyTorch checkpoints use:
    num_batches_tracked as an I64 scalar, weight F16, running_mean F64, so
    nn.Load's conversion is tested. Values are exact in every dtype."""
    ts = [
        ("weight", "F16", np.array([0.5, 1.25, -2.0], dtype="<f2")),
        ("bias", "F32", np.array([0.125, 0.0, 3.5], dtype="<f4")),
        ("running_mean", "F64", np.array([-1.5, 0.25, 8.0], dtype="<f8")),
        ("running_var", "F32", np.array([1.0, 0.5, 2.25], dtype="<f4")),
        ("num_batches_tracked", "I64", np.array(42, dtype="<i8")),
    ]
    header, blobs, off = {}, [], 0
    for name, dt, a in ts:
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(os.path.join(OUT, "bn_torch_dtypes.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print("bn_torch_dtypes")


def bench():
    """Times PyTorch forward+backward on the shapes of nn/bench_test.go.
    Run as: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/golden_nn.py --bench"""
    import time
    torch.set_num_threads(int(os.environ.get("NN_BENCH_THREADS", "2")))

    class LayerNorm2d(nn.Module):  # SAM's, as it is written there
        def __init__(self, c, eps=1e-6):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
            self.eps = eps

        def forward(self, x):
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    cases = [
        ("BatchNorm2d", nn.BatchNorm2d(64), (8, 64, 64, 64)),
        ("LayerNorm", nn.LayerNorm(256), (8, 1024, 256)),
        ("LayerNorm2d", LayerNorm2d(64), (8, 64, 64, 64)),
        ("GroupNorm", nn.GroupNorm(32, 64), (8, 64, 64, 64)),
        ("Linear", nn.Linear(256, 1024), (8, 1024, 256)),
    ]
    for name, m, shape in cases:
        x = torch.randn(*shape, requires_grad=True)
        g = torch.randn(m(x).shape)
        for _ in range(3):
            m(x).backward(g)
        n = 20
        t0 = time.perf_counter()
        for _ in range(n):
            x.grad = None
            m.zero_grad(set_to_none=True)
            m(x).backward(g)
        print("torch %-12s %8.2f ms/op" % (name, (time.perf_counter() - t0) / n * 1e3))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--bench"]:
        bench()
        sys.exit(0)
    os.makedirs(OUT, exist_ok=True)
    names = sys.argv[1:]
    ALL = [linear_cases, conv_cases, norm_cases, embedding_cases, mha_cases, swiglu_cases, activation_cases,
           upsample_cases, dtype_cases, parity_cases]
    for f in ALL:
        if not names or f.__name__.replace("_cases", "") in names:
            f()
