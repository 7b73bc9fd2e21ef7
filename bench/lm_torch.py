#!/usr/bin/python3
"""PyTorch twin of models/lm's benchmarks (bench_test.go), for ratios.

Run with Debian's PyTorch, 2 threads, OpenBLAS choosing its own kernel:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/lm_torch.py
    go test -run '^$' -bench . -benchtime 5x ./models/lm

The model is GPT-2's math written out (as scripts/golden_lm.py, here as an nn.Module
with Hugging Face's eager attention: matmul, causal mask with finfo.min, softmax,
dropout, matmul; Conv1D as addmm; gelu_new; tied head):

  train-vocab=50257, train-vocab=256: one training step of the small model (6 layers,
      width 256, 8 heads, 128 positions) on 8 sequences of 128 tokens in training mode
      (dropout 0.1): forward, shifted cross-entropy, backward, torch.optim.AdamW
      (weight decay 0.01), zero_grad(set_to_none=True)
  train-lora-vocab=50257, train-lora-vocab=256: the same step with the base frozen and
      LoRA (r 4, alpha 8, dropout 0.1) on every c_attn, AdamW over the LoRA matrices only
      (BenchmarkTrainStepLoRA)
  generate-small-lora: generate-small with that LoRA unmerged (BenchmarkGenerateLoRA)
  generate-small, generate-gpt2-124M: greedy decoding of 64 tokens after a 16-token
      prompt, batch 1, under torch.no_grad(), with a key/value cache (torch.cat per step);
      tokens/s counts the 63 one-position steps after the prompt

Timing: warm-up run(s), then the median of --repeat runs.
"""
import os
import sys

_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(k in os.environ for k in _UNSET):
    _env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    os.execve(sys.executable, [sys.executable] + sys.argv, _env)

import argparse  # noqa: E402
import ctypes  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def set_threads(n):
    """torch's OpenMP threads and those of the OpenBLAS behind torch.mm (found in the
    process's maps after a first matmul, as bench/compare.py does); returns its core name."""
    torch.set_num_threads(n)
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "libopenblas" in line})
    if not paths:
        return "no OpenBLAS"
    lib = ctypes.CDLL(paths[0])
    lib.openblas_set_num_threads(n)
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return "OpenBLAS " + lib.openblas_get_corename().decode()


class Conv1D(nn.Module):
    def __init__(self, nin, nout, std):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nin, nout) * std)
        self.bias = nn.Parameter(torch.zeros(nout))
        self.lora = None

    def add_lora(self, r, alpha, p):
        """PEFT's LoRA on a Conv1D (fan_in_fan_out): y += dropout(x)·Aᵀ·Bᵀ·alpha/r with
        A kaiming-uniform (r, in) and B (out, r); B is random here (not PEFT's zeros) so
        that the backward pass does the same work as after the first step."""
        nin, nout = self.weight.shape
        self.lora_A = nn.Parameter(torch.empty(r, nin).uniform_(-1 / math.sqrt(nin), 1 / math.sqrt(nin)))
        self.lora_B = nn.Parameter(torch.randn(nout, r) * 0.01)
        self.lora = (alpha / r, p)

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        y = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)
        if self.lora is not None:
            scale, p = self.lora
            y = y + (F.dropout(x, p, self.training) @ self.lora_A.t() @ self.lora_B.t()) * scale
        return y


class Block(nn.Module):
    def __init__(self, e, h, nlayer, p):
        super().__init__()
        self.h, self.p = h, p
        proj = 0.02 / math.sqrt(2 * nlayer)
        self.ln_1, self.ln_2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.c_attn, self.c_proj = Conv1D(e, 3 * e, 0.02), Conv1D(e, e, proj)
        self.c_fc, self.mlp_proj = Conv1D(e, 4 * e, 0.02), Conv1D(4 * e, e, proj)

    def forward(self, x, past=None):
        B, T, E = x.shape
        H, D = self.h, E // self.h
        q, k, v = self.c_attn(self.ln_1(x)).split(E, dim=2)
        q, k, v = (t.view(B, T, H, D).permute(0, 2, 1, 3) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=-2), torch.cat([past[1], v], dim=-2)
        S = k.shape[-2]
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        causal = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        w = F.dropout(torch.softmax(w, dim=-1), self.p, self.training)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, T, E)
        x = x + F.dropout(self.c_proj(o), self.p, self.training)
        m = self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x + F.dropout(m, self.p, self.training), (k, v)


class GPT(nn.Module):
    def __init__(self, vocab, npos, e, nlayer, h, p=0.1):
        super().__init__()
        self.p = p
        self.wte = nn.Parameter(torch.randn(vocab, e) * 0.02)
        self.wpe = nn.Parameter(torch.randn(npos, e) * 0.02)
        self.h = nn.ModuleList(Block(e, h, nlayer, p) for _ in range(nlayer))
        self.ln_f = nn.LayerNorm(e)

    def forward(self, ids, past=None, offset=0, last_only=False):
        T = ids.shape[1]
        x = F.dropout(self.wte[ids] + self.wpe[offset:offset + T][None], self.p, self.training)
        present = []
        for i, blk in enumerate(self.h):
            x, kv = blk(x, None if past is None else past[i])
            present.append(kv)
        x = self.ln_f(x)
        if last_only:
            x = x[:, -1:]
        return x @ self.wte.t(), present


def timeit(fn, repeat, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def add_lora(m):
    """LoRA r 4, alpha 8, dropout 0.1 on every c_attn; the base frozen (as PEFT)."""
    for p in m.parameters():
        p.requires_grad_(False)
    for blk in m.h:
        blk.c_attn.add_lora(4, 8, 0.1)
    return [p for p in m.parameters() if p.requires_grad]


def bench_train(vocab, repeat, lora=False):
    torch.manual_seed(1)
    m = GPT(vocab, 128, 256, 6, 8)
    m.train()
    params = add_lora(m) if lora else m.parameters()
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, vocab, (8, 128))

    def step():
        opt.zero_grad(set_to_none=True)
        logits, _ = m(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()

    return timeit(step, repeat)


def bench_generate(cfg, repeat, lora=False):
    torch.manual_seed(1)
    m = GPT(*cfg)
    if lora:
        add_lora(m)
    m.eval()
    prompt = torch.randint(0, cfg[0], (1, 16))
    decode = []

    def gen():
        with torch.no_grad():
            logits, past = m(prompt, last_only=True)
            tok = logits[0, -1].argmax()
            t0 = time.perf_counter()
            for i in range(63):
                logits, past = m(tok.view(1, 1), past=past, offset=16 + i, last_only=True)
                tok = logits[0, -1].argmax()
            decode.append(time.perf_counter() - t0)

    t = timeit(gen, repeat)
    return t, 63 / statistics.median(decode[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    blas = set_threads(args.threads)
    print(f"torch {torch.__version__}, {blas}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    for lora in (False, True):
        for vocab in (50257, 256):
            t = bench_train(vocab, args.repeat, lora)
            name = ("train-lora-vocab=" if lora else "train-vocab=") + str(vocab)
            print(f"{name:<22} {t * 1e3:9.1f} ms/step  {8 * 128 / t:8.1f} tokens/s")
    small = (50257, 128, 256, 6, 8)
    for name, cfg, lora in (("small", small, False), ("small-lora", small, True), ("gpt2-124M", (50257, 1024, 768, 12, 12), False)):
        t, tps = bench_generate(cfg, args.repeat, lora)
        print(f"generate-{name:<13} {t * 1e3:9.1f} ms/run   {tps:8.1f} tokens/s")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
