#!/usr/bin/python3
"""Golden fixtures for package peft (testdata/peft/).

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 scripts/golden_peft.py

PEFT is not installed: the LoRA and bottleneck-adapter computations are
written here in plain torch, following PEFT's tuners/lora/layer.py (LoRA
Linear, Conv2d, Embedding, MultiheadAttention forward passes and
get_delta_weight). Everything is computed in float64 from float32 inputs and
stored as float32, so the fixtures are references for fovea's float32 code.

Each layer case is one safetensors file (written by hand: the Python
`safetensors` package is not installed) holding

  param.<name>    the base layer's state dict (fovea loads it by name)
  lora.<name>     the adapter's tensors under PEFT's names (lora_A.weight, …)
  in.<k>          inputs, out.<k> outputs, gout.<k> the seeded output gradients
  grad.in.<k>     input gradients, grad.lora.<name> adapter gradients
  merged.<name>   the base weight after merging (W + get_delta_weight)

and "__metadata__" with the case's settings. svd.safetensors holds weight
pairs for the SVD extraction and numpy's singular values (F64). The folder
peft_style/ is an adapter written in PEFT's exact layout (adapter_config.json
with every LoraConfig field, keys "base_model.model.<module>.lora_A.weight",
biases under their wrapped "base_layer" names) for the tiny model of
peft_style_base.safetensors, with the expected output in
peft_style_io.safetensors; peft_style_bin/ is the same adapter with PEFT's
older weights file, adapter_model.bin (torch.save). Everything is seeded: rerunning reproduces the
same bytes.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "peft")
D = torch.float64


def write_st(path, tensors, meta=None):
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        v = tensors[name]
        if isinstance(v, np.ndarray) and v.dtype == np.float64:
            a, dt = np.ascontiguousarray(v, dtype="<f8"), "F64"
        else:
            a, dt = np.ascontiguousarray(np.asarray(v, dtype=np.float32), dtype="<f4"), "F32"
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def np32(t):
    return t.detach().to(torch.float32).cpu().numpy()


def rnd(*shape, std=1.0):
    """A float32 random tensor promoted to float64 (exact)."""
    return (torch.randn(*shape) * std).to(torch.float32).to(D)


def leaf(t):
    return t.clone().requires_grad_(True)


def finish(name, ins, params, lora, outs, merged=None, meta=None, extra=None):
    """Seeds output gradients, runs backward, writes the case."""
    t = {}
    for k, v in params.items():
        t["param." + k] = np32(v)
    for k, v in lora.items():
        t["lora." + k] = np32(v)
    for k, v in ins.items():
        t["in." + k] = np32(v)
    g = torch.Generator().manual_seed(1234)
    loss = 0
    for k, v in outs.items():
        t["out." + k] = np32(v)
        gy = torch.randn(v.shape, generator=g).to(torch.float32).to(D)
        t["gout." + k] = np32(gy)
        loss = loss + (v * gy).sum()
    loss.backward()
    for k, v in ins.items():
        if v.requires_grad:
            t["grad.in." + k] = np32(v.grad)
    for k, v in lora.items():
        if v.requires_grad:
            t["grad.lora." + k] = np32(v.grad)
    for k, v in (merged or {}).items():
        t["merged." + k] = np32(v)
    if extra:
        t.update(extra)
    write_st(os.path.join(OUT, name + ".safetensors"), t, meta)
    print(name, sum(np.asarray(v).size for v in t.values()), "values")


def scaling(alpha, r, rslora):
    return alpha / math.sqrt(r) if rslora else alpha / r


# ------------------------------------------------------------ LoRA: Linear

def lora_linear(name, r, alpha, rslora, fan_in_fan_out=False):
    """PEFT's lora.Linear: result = base(x) + lora_B(lora_A(dropout(x))) * scaling;
    get_delta_weight = transpose(B @ A, fan_in_fan_out) * scaling."""
    fin, fout = 6, 5
    x = leaf(rnd(2, 3, fin))
    if fan_in_fan_out:  # GPT-2's Conv1D: weight (in, out), y = x @ W + b
        w, b = rnd(fin, fout, std=0.4), rnd(fout, std=0.4)
        base = x @ w + b
    else:
        w, b = rnd(fout, fin, std=0.4), rnd(fout, std=0.4)
        base = F.linear(x, w, b)
    A, B = leaf(rnd(r, fin, std=0.5)), leaf(rnd(fout, r, std=0.5))
    s = scaling(alpha, r, rslora)
    y = base + F.linear(F.linear(x, A), B) * s
    delta = (B @ A) * s
    if fan_in_fan_out:
        delta = delta.T
    finish(name, {"x": x}, {"weight": w, "bias": b}, {"lora_A.weight": A, "lora_B.weight": B}, {"y": y},
           merged={"weight": w + delta}, meta={"r": r, "lora_alpha": alpha, "use_rslora": rslora,
                                               "fan_in_fan_out": fan_in_fan_out, "scaling": s})


# ------------------------------------------------------------ LoRA: Conv2d

def lora_conv(name, kw, shape, r, alpha, rslora=False):
    """PEFT's lora.Conv2d: lora_A = Conv2d(in, r, kernel, stride, padding) (fovea also
    passes the dilation), lora_B = Conv2d(r, out, 1); delta = (B[:, :, 0, 0] @ A.flatten(1))
    reshaped (for 1x1 kernels the same product), times scaling."""
    cin, cout, k = kw["in"], kw["out"], kw["kernel"]
    conv = dict(stride=kw.get("stride", 1), padding=kw.get("padding", 0), dilation=kw.get("dilation", 1))
    x = leaf(rnd(*shape))
    w, b = rnd(cout, cin, *k, std=0.3), rnd(cout, std=0.3)
    A, B = leaf(rnd(r, cin, *k, std=0.4)), leaf(rnd(cout, r, 1, 1, std=0.4))
    s = scaling(alpha, r, rslora)
    y = F.conv2d(x, w, b, **conv) + F.conv2d(F.conv2d(x, A, None, **conv), B) * s
    delta = (B.flatten(1) @ A.flatten(1)).reshape(w.shape) * s
    meta = {"r": r, "lora_alpha": alpha, "scaling": s}
    meta.update({k: json.dumps(v) for k, v in kw.items()})
    finish(name, {"x": x}, {"weight": w, "bias": b}, {"lora_A.weight": A, "lora_B.weight": B}, {"y": y},
           merged={"weight": w + delta}, meta=meta)


# --------------------------------------------------------- LoRA: Embedding

def lora_embedding():
    """PEFT's lora.Embedding: after_A = F.embedding(x, lora_embedding_A.T, padding_idx, …);
    result += (after_A @ lora_embedding_B.T) * scaling (no dropout);
    get_delta_weight = transpose(B @ A, True) * scaling."""
    num, dim, r, alpha, pad = 7, 5, 3, 6, 2
    idx = torch.tensor([[0, 2, 5, 6], [5, 1, 2, 2]], dtype=torch.long)
    w = rnd(num, dim)
    w[pad] = 0
    A, B = leaf(rnd(r, num)), leaf(rnd(dim, r))
    s = scaling(alpha, r, False)
    after_a = F.embedding(idx, A.T, padding_idx=pad)
    y = F.embedding(idx, w, padding_idx=pad) + (after_a @ B.T) * s
    t_in = {"idx": idx.to(D)}
    finish("lora_embedding", t_in, {"weight": w}, {"lora_embedding_A": A, "lora_embedding_B": B}, {"y": y},
           merged={"weight": w + (B @ A).T * s}, meta={"r": r, "lora_alpha": alpha, "padding_idx": pad, "scaling": s})


# ------------------------------------------------ LoRA: MultiheadAttention

def mha(q, k, v, heads, w_in, b_in, w_out, b_out):
    """nn.MultiheadAttention(batch_first=True) with the given weights, no masks."""
    out, _ = F.multi_head_attention_forward(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), w_in.shape[1], heads,
        w_in, b_in, None, None, False, 0.0, w_out, b_out, training=False, need_weights=False)
    return out.transpose(0, 1)


def lora_mha():
    """PEFT's lora.MultiheadAttention merges in_proj (lora_A (r, E), lora_B (3E, r)) and
    out_proj (a LoRA Linear with the same r) into the weights for the forward pass: no
    dropout, output = attention with in_proj_weight + s·B·A and out_proj.weight + s·B'·A'."""
    E, H, r, alpha = 8, 2, 2, 4
    x, kv = leaf(rnd(2, 3, E)), leaf(rnd(2, 5, E))
    w_in, b_in = rnd(3 * E, E, std=0.4), rnd(3 * E, std=0.2)
    w_out, b_out = rnd(E, E, std=0.4), rnd(E, std=0.2)
    A, B = leaf(rnd(r, E, std=0.5)), leaf(rnd(3 * E, r, std=0.5))
    A2, B2 = leaf(rnd(r, E, std=0.5)), leaf(rnd(E, r, std=0.5))
    s = scaling(alpha, r, False)
    wi, wo = w_in + B @ A * s, w_out + B2 @ A2 * s
    y = mha(x, x, x, H, wi, b_in, wo, b_out)
    yc = mha(x, kv, kv, H, wi, b_in, wo, b_out)
    finish("lora_mha", {"x": x, "kv": kv},
           {"in_proj_weight": w_in, "in_proj_bias": b_in, "out_proj.weight": w_out, "out_proj.bias": b_out},
           {"lora_A.weight": A, "lora_B.weight": B, "base_layer.out_proj.lora_A.weight": A2,
            "base_layer.out_proj.lora_B.weight": B2}, {"y": y, "yc": yc},
           merged={"in_proj_weight": wi, "out_proj.weight": wo}, meta={"r": r, "lora_alpha": alpha, "heads": H, "scaling": s})


# ------------------------------------------------------ bottleneck adapters

def adapter(name, act, layer_norm):
    """y = base(x); y + up(act(down(LN(y)))) (LayerNorm optional, eps 1e-5)."""
    fin, d, h = 6, 8, 2
    x = leaf(rnd(2, 3, fin))
    w, b = rnd(d, fin, std=0.4), rnd(d, std=0.4)
    y0 = F.linear(x, w, b)
    lora = {"adapter_down.weight": leaf(rnd(h, d, std=0.5)), "adapter_down.bias": leaf(rnd(h, std=0.3)),
            "adapter_up.weight": leaf(rnd(d, h, std=0.5)), "adapter_up.bias": leaf(rnd(d, std=0.3))}
    z = y0
    if layer_norm:
        lora["adapter_norm.weight"] = leaf(1 + rnd(d, std=0.2))
        lora["adapter_norm.bias"] = leaf(rnd(d, std=0.2))
        z = F.layer_norm(y0, (d,), lora["adapter_norm.weight"], lora["adapter_norm.bias"], 1e-5)
    u = F.linear(z, lora["adapter_down.weight"], lora["adapter_down.bias"])
    u = {"relu": F.relu, "gelu": F.gelu, "swish": F.silu}[act](u)
    y = y0 + F.linear(u, lora["adapter_up.weight"], lora["adapter_up.bias"])
    finish(name, {"x": x}, {"weight": w, "bias": b}, lora, {"y": y},
           meta={"non_linearity": act, "layer_norm": layer_norm, "reduction_factor": d // h})


# -------------------------------------------------------------------- SVD

def svd_case():
    """Weight pairs whose difference is rank 3 (Linear), rank 2 (Conv2d) and full rank,
    with numpy's singular values of the stored float32 difference (float64)."""
    t = {}
    wb = rnd(8, 10)
    u, v = rnd(8, 3), rnd(3, 10)
    t["low.weight.base"] = np32(wb)
    t["low.weight.tuned"] = np32(wb + 0.2 * (u @ v))
    cb = rnd(4, 3, 3, 3, std=0.3)
    cu, cv = rnd(4, 2), rnd(2, 27)
    t["conv.weight.base"] = np32(cb)
    t["conv.weight.tuned"] = np32(cb + 0.1 * (cu @ cv).reshape(4, 3, 3, 3))
    fb = rnd(8, 10)
    t["full.weight.base"] = np32(fb)
    t["full.weight.tuned"] = np32(fb + 0.1 * rnd(8, 10) + 0.5 * (rnd(8, 1) @ rnd(1, 10)))
    for name in ("low", "conv", "full"):
        d = t[name + ".weight.tuned"].astype(np.float64) - t[name + ".weight.base"].astype(np.float64)
        t[name + ".sigma"] = np.linalg.svd(d.reshape(d.shape[0], -1), compute_uv=False).astype(np.float64)
    write_st(os.path.join(OUT, "svd.safetensors"), t)
    print("svd", {k: v.shape for k, v in t.items() if k.endswith("sigma")})


# ------------------------------------------- an adapter in PEFT's own layout

class Block(torch.nn.Module):
    def __init__(self, e, heads):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(e, heads, batch_first=True)
        self.fc = torch.nn.Linear(e, e)


class TinyNet(torch.nn.Module):
    """The model of peft/golden_test.go's tinyNet: the same state-dict names."""

    def __init__(self, vocab=10, e=8, heads=2, depth=2, out=4):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, e)
        self.stem = torch.nn.Conv2d(2, e, 3, padding=1)
        self.blocks = torch.nn.ModuleList([Block(e, heads) for _ in range(depth)])
        self.head = torch.nn.Linear(e, out)


def peft_style():
    """A LoRA adapter as PEFT's save_pretrained writes it, for TinyNet, with
    target_modules ["embed", "stem", "attn", "fc"], rank_pattern {"fc": 3},
    alpha_pattern {"stem": 2}, bias "all"; and the expected output."""
    torch.manual_seed(7)
    net = TinyNet().to(D)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.to(torch.float32).to(D) + 0.1 * rnd(*p.shape))
    base_sd = {k: np32(v) for k, v in net.state_dict().items()}
    write_st(os.path.join(OUT, "peft_style_base.safetensors"), base_sd)
    r, alpha = 2, 4
    e = 8
    keys = {}

    def lora_pair(module, rr, fin, fout, std=0.3):
        a, b = rnd(rr, fin, std=std), rnd(fout, rr, std=std)
        keys[f"base_model.model.{module}.lora_A.weight"] = a
        keys[f"base_model.model.{module}.lora_B.weight"] = b
        return a, b

    ea, eb = rnd(r, 10), rnd(e, r)
    keys["base_model.model.embed.lora_embedding_A"] = ea
    keys["base_model.model.embed.lora_embedding_B"] = eb
    sa, sb = rnd(2, 2, 3, 3, std=0.3), rnd(e, 2, 1, 1, std=0.3)
    keys["base_model.model.stem.lora_A.weight"] = sa
    keys["base_model.model.stem.lora_B.weight"] = sb
    blocks = []
    for i in range(2):
        ia, ib = lora_pair(f"blocks.{i}.attn", r, e, 3 * e)
        oa, ob = lora_pair(f"blocks.{i}.attn.base_layer.out_proj", r, e, e)
        fa, fb = lora_pair(f"blocks.{i}.fc", 3, e, e)
        blocks.append((ia, ib, oa, ob, fa, fb))
    # bias="all": every parameter whose name contains "bias", under the wrapped
    # model's names (adapted layers hold the original as base_layer), "trained".
    biases = {}
    for name, p in net.named_parameters():
        if "bias" in name:
            biases[name] = p.detach() + 0.05 * rnd(*p.shape)
    wrapped = {"embed": "embed", "stem.bias": "stem.base_layer.bias", "head.bias": "head.bias"}
    for i in range(2):
        wrapped[f"blocks.{i}.attn.in_proj_bias"] = f"blocks.{i}.attn.base_layer.in_proj_bias"
        wrapped[f"blocks.{i}.attn.out_proj.bias"] = f"blocks.{i}.attn.base_layer.out_proj.base_layer.bias"
        wrapped[f"blocks.{i}.fc.bias"] = f"blocks.{i}.fc.base_layer.bias"
    for name, v in biases.items():
        keys["base_model.model." + wrapped[name]] = v
    write_st(os.path.join(OUT, "peft_style", "adapter_model.safetensors"), {k: np32(v) for k, v in keys.items()},
             {"format": "pt"})
    config = {
        "alpha_pattern": {"stem": 2}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "all",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": alpha,
        "lora_dropout": 0.1, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": r, "rank_pattern": {"fc": 3}, "revision": None,
        "target_modules": ["fc", "attn", "stem", "embed"], "task_type": None, "use_dora": False, "use_rslora": False,
    }
    for folder in ("peft_style", "peft_style_bin"):
        with open(os.path.join(OUT, folder, "adapter_config.json"), "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True))
    # PEFT's older weights file: torch.save of the same state dict.
    torch.save({k: v.to(torch.float32) for k, v in keys.items()}, os.path.join(OUT, "peft_style_bin", "adapter_model.bin"))

    # The adapted forward pass (eval: dropout off).
    sd = net.state_dict()
    g = torch.Generator().manual_seed(99)
    idx = torch.randint(0, 10, (2, 4), generator=g)
    img = torch.randn(2, 2, 5, 5, generator=g).to(torch.float32).to(D)
    s = alpha / r
    x = F.embedding(idx, sd["embed.weight"]) + (F.embedding(idx, ea.T) @ eb.T) * s
    s_stem = 2 / 2
    st = F.conv2d(img, sd["stem.weight"], biases["stem.bias"], padding=1) + \
        F.conv2d(F.conv2d(img, sa, None, padding=1), sb) * s_stem
    x = x + st.mean((2, 3))[:, None, :]
    for i, (ia, ib, oa, ob, fa, fb) in enumerate(blocks):
        p = f"blocks.{i}."
        wi = sd[p + "attn.in_proj_weight"] + ib @ ia * s
        wo = sd[p + "attn.out_proj.weight"] + ob @ oa * s
        x = x + mha(x, x, x, 2, wi, biases[p + "attn.in_proj_bias"], wo, biases[p + "attn.out_proj.bias"])
        h = F.linear(x, sd[p + "fc.weight"], biases[p + "fc.bias"]) + F.linear(F.linear(x, fa), fb) * (alpha / 3)
        x = x + F.relu(h)
    y = F.linear(x, sd["head.weight"], biases["head.bias"])
    write_st(os.path.join(OUT, "peft_style_io.safetensors"), {"in.idx": idx.numpy().astype(np.float32),
                                                               "in.img": np32(img), "out.y": np32(y)})
    print("peft_style", len(keys), "keys")


def main():
    os.makedirs(os.path.join(OUT, "peft_style"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "peft_style_bin"), exist_ok=True)
    torch.manual_seed(0)
    lora_linear("lora_linear", r=4, alpha=8, rslora=False)
    lora_linear("lora_linear_rslora", r=3, alpha=8, rslora=True)
    lora_linear("lora_fan_in_fan_out", r=2, alpha=4, rslora=False, fan_in_fan_out=True)
    lora_conv("lora_conv", dict(**{"in": 3, "out": 4, "kernel": [3, 3], "stride": 2, "padding": 1}), (2, 3, 9, 8), r=2, alpha=6)
    lora_conv("lora_conv_dilated", dict(**{"in": 3, "out": 4, "kernel": [3, 2], "stride": [1, 2], "padding": [2, 1],
                                          "dilation": [2, 1]}), (1, 3, 7, 8), r=3, alpha=3, rslora=True)
    lora_conv("lora_conv_1x1", dict(**{"in": 5, "out": 3, "kernel": [1, 1]}), (2, 5, 4, 3), r=2, alpha=2)
    lora_embedding()
    lora_mha()
    for act in ("relu", "gelu", "swish"):
        adapter("adapter_" + act, act, layer_norm=False)
    adapter("adapter_ln", "gelu", layer_norm=True)
    svd_case()
    peft_style()


if __name__ == "__main__":
    main()
