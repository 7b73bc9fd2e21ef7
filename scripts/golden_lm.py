#!/usr/bin/python3
"""Golden fixtures for models/lm: tiny random-weight models in GPT-2's layout, with GPT-2's
math written out in plain PyTorch (transformers is not needed): LayerNorm, Conv1D
(x @ W + b with W stored (in, out)), causal softmax attention with HF's finfo.min mask,
gelu_new (the tanh GELU), the LM head tied to wte, and the shifted cross-entropy of
GPT2LMHeadModel(labels=...) with ignore_index -100. The reference runs in float64 on the
float32 weights.

Writes
  testdata/lm/gpt2_tiny/{config.json, model.safetensors}  Hugging Face's GPT-2 folder layout:
      names without the "transformer." prefix, h.0.attn.bias (the causal-mask buffer of
      older transformers versions) and h.1.attn.masked_bias, which a loader must skip
  testdata/lm/gpt2_tiny_golden.safetensors  ids, labels, logits, loss and the gradients of
      the loss w.r.t. a few parameters; a prefix case: past keys/values per layer (batch 1,
      broadcast to the batch) that the tokens attend to, positions starting at 0, with the
      logits, the loss and its gradients w.r.t. the past
  testdata/lm/swiglu_tiny/{config.json, model.safetensors} and swiglu_tiny_golden.safetensors:
      fovea's variant (feed_forward "swiglu": w2(silu(w1 x) * w3 x), Linear layout, no bias;
      norm "rmsnorm"), names with the "transformer." prefix plus the tied lm_head.weight

Run: /usr/bin/python3 scripts/golden_lm.py
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "lm")

CFG = dict(n_embd=32, n_layer=2, n_head=4, vocab_size=300, n_positions=64, layer_norm_epsilon=1e-5)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().to(torch.float32).numpy())
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def hf_config(swiglu=False):
    c = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 299,
        "embd_pdrop": 0.1,
        "eos_token_id": 299,
        "initializer_range": 0.02,
        "layer_norm_epsilon": CFG["layer_norm_epsilon"],
        "model_type": "gpt2",
        "n_ctx": CFG["n_positions"],
        "n_embd": CFG["n_embd"],
        "n_head": CFG["n_head"],
        "n_inner": None,
        "n_layer": CFG["n_layer"],
        "n_positions": CFG["n_positions"],
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": CFG["vocab_size"],
    }
    if swiglu:
        c["feed_forward"] = "swiglu"
        c["norm"] = "rmsnorm"
    return c


def inner(swiglu):
    e = CFG["n_embd"]
    return (8 * e // 3 + 7) // 8 * 8 if swiglu else 4 * e


def make_params(seed, swiglu=False):
    g = torch.Generator().manual_seed(seed)
    e, v, n, L, I = CFG["n_embd"], CFG["vocab_size"], CFG["n_positions"], CFG["n_layer"], inner(swiglu)

    def r(*shape, s=1.0):
        return (torch.randn(*shape, generator=g) * s).float()

    p = {"wte.weight": r(v, e, s=0.3), "wpe.weight": r(n, e, s=0.3)}
    for i in range(L):
        h = f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            p[h + ln + ".weight"] = 1 + r(e, s=0.2)
            if not swiglu:
                p[h + ln + ".bias"] = r(e, s=0.1)
        p[h + "attn.c_attn.weight"] = r(e, 3 * e, s=0.2)
        p[h + "attn.c_attn.bias"] = r(3 * e, s=0.1)
        p[h + "attn.c_proj.weight"] = r(e, e, s=0.2)
        p[h + "attn.c_proj.bias"] = r(e, s=0.1)
        if swiglu:
            p[h + "mlp.w1.weight"] = r(I, e, s=0.2)
            p[h + "mlp.w2.weight"] = r(e, I, s=0.1)
            p[h + "mlp.w3.weight"] = r(I, e, s=0.2)
        else:
            p[h + "mlp.c_fc.weight"] = r(e, I, s=0.2)
            p[h + "mlp.c_fc.bias"] = r(I, s=0.1)
            p[h + "mlp.c_proj.weight"] = r(I, e, s=0.1)
            p[h + "mlp.c_proj.bias"] = r(e, s=0.1)
    p["ln_f.weight"] = 1 + r(e, s=0.2)
    if not swiglu:
        p["ln_f.bias"] = r(e, s=0.1)
    return p


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def conv1d(x, w, b):
    # transformers.pytorch_utils.Conv1D: torch.addmm(bias, x.view(-1, in), weight)
    shape = x.shape[:-1] + (w.shape[1],)
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(shape)


def norm(p, name, x, swiglu):
    eps = CFG["layer_norm_epsilon"]
    if swiglu:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * p[name + ".weight"]
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def forward(p, ids, past=None, pos_offset=0, swiglu=False):
    """ids (B, T); past: list of (K, V) per layer, (1 or B, H, P, D); positions pos_offset + t."""
    B, T = ids.shape
    E, H = CFG["n_embd"], CFG["n_head"]
    D = E // H
    pos = torch.arange(pos_offset, pos_offset + T)
    x = p["wte.weight"][ids] + p["wpe.weight"][pos][None]
    for i in range(CFG["n_layer"]):
        h = f"h.{i}."
        a_in = norm(p, h + "ln_1", x, swiglu)
        qkv = conv1d(a_in, p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"])
        q, k, v = qkv.split(E, dim=2)
        q, k, v = (t.view(B, T, H, D).permute(0, 2, 1, 3) for t in (q, k, v))
        if past is not None:
            pk, pv = past[i]
            k = torch.cat([pk.expand(B, -1, -1, -1), k], dim=-2)
            v = torch.cat([pv.expand(B, -1, -1, -1), v], dim=-2)
        S = k.shape[-2]
        P = S - T
        w = torch.matmul(q, k.transpose(-1, -2)) / (float(D) ** 0.5)
        causal = torch.ones(T, S, dtype=torch.bool).tril(diagonal=P)  # query t sees keys <= P + t
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        w = torch.softmax(w, dim=-1)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, T, E)
        x = x + conv1d(o, p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"])
        m_in = norm(p, h + "ln_2", x, swiglu)
        if swiglu:
            m = F.linear(F.silu(F.linear(m_in, p[h + "mlp.w1.weight"])) * F.linear(m_in, p[h + "mlp.w3.weight"]), p[h + "mlp.w2.weight"])
        else:
            m = conv1d(gelu_new(conv1d(m_in, p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"])),
                       p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"])
        x = x + m
    x = norm(p, "ln_f", x, swiglu)
    return x @ p["wte.weight"].t()  # the tied LM head


def lm_loss(logits, labels):
    # GPT2LMHeadModel: shift, then cross-entropy with ignore_index -100.
    shift_logits = logits[..., :-1, :].contiguous()
    shift_labels = labels[..., 1:].contiguous()
    return F.cross_entropy(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1), ignore_index=-100)


GRAD_NAMES = ["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.ln_1.weight",
              "h.1.attn.c_proj.bias", "ln_f.weight"]


def golden(name, seed, swiglu):
    torch.manual_seed(seed)
    p32 = make_params(seed, swiglu)
    p = {k: v.double().requires_grad_(True) for k, v in p32.items()}
    V, H, E = CFG["vocab_size"], CFG["n_head"], CFG["n_embd"]
    D = E // H
    out = {}

    # 1. Logits, loss and parameter gradients; the first 4 labels of row 0 are a prompt,
    # the last 2 of row 1 padding.
    ids = torch.randint(0, V, (2, 12))
    labels = ids.clone()
    labels[0, :4] = -100
    labels[1, -2:] = -100
    logits = forward(p, ids, swiglu=swiglu)
    loss = lm_loss(logits, labels)
    loss.backward()
    out["ids"], out["labels"], out["logits"], out["loss"] = ids.double(), labels.double(), logits, loss.reshape(1)
    names = GRAD_NAMES + (["h.1.mlp.w2.weight", "h.0.mlp.w1.weight"] if swiglu else ["h.1.mlp.c_fc.bias", "h.1.mlp.c_proj.weight"])
    for n in names:
        out["grad." + n] = p[n].grad

    # 2. A prefix: past keys and values per layer (batch 1, broadcast to the batch), the
    # tokens at positions 0..T-1, every label counted.
    for t in p.values():
        t.grad = None
    past = []
    for i in range(CFG["n_layer"]):
        pk = (torch.randn(1, H, 3, D) * 0.5).float().double().requires_grad_(True)
        pv = (torch.randn(1, H, 3, D) * 0.5).float().double().requires_grad_(True)
        past.append((pk, pv))
        out[f"prefix.{i}.k"], out[f"prefix.{i}.v"] = pk, pv
    pids = torch.randint(0, V, (2, 6))
    plogits = forward(p, pids, past=past, pos_offset=0, swiglu=swiglu)
    ploss = lm_loss(plogits, pids)
    ploss.backward()
    out["prefix.ids"], out["prefix.logits"], out["prefix.loss"] = pids.double(), plogits, ploss.reshape(1)
    for i, (pk, pv) in enumerate(past):
        out[f"prefix.grad.{i}.k"], out[f"prefix.grad.{i}.v"] = pk.grad, pv.grad

    # 3. The same tokens after a cache of 5 real tokens (positions 5..10).
    ctx = torch.randint(0, V, (1, 11))
    with torch.no_grad():
        out["cache.ids"], out["cache.logits"] = ctx.double(), forward(p, ctx, swiglu=swiglu)

    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config(swiglu), f, indent=2, sort_keys=True)
        f.write("\n")
    weights = dict(p32)
    if swiglu:
        weights = {"transformer." + k: v for k, v in weights.items()}
        weights["lm_head.weight"] = p32["wte.weight"]
    else:
        n = CFG["n_positions"]
        weights["h.0.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        weights["h.1.attn.masked_bias"] = torch.tensor(-1e4)
    write_safetensors(os.path.join(d, "model.safetensors"), weights)
    write_safetensors(os.path.join(OUT, name + "_golden.safetensors"), out)
    print(name, "loss %.6f" % loss.item(), "prefix loss %.6f" % ploss.item(),
          "logits std %.3f" % logits.std().item())


def main():
    golden("gpt2_tiny", 1234, False)
    golden("swiglu_tiny", 4321, True)


if __name__ == "__main__":
    main()
