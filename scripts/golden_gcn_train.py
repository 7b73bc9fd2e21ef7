#!/usr/bin/python3
"""Train-mode golden fixtures for models/gcn (issue 17's "rule out an implementation
cause" for the large-kernel question): the PyTorch twin of bench/train_torch.py at
1/32 width, 7 classes, bilinear decoder with Boundary Refinement, for k = 1, 7 and 15,
in train mode (BatchNorm with batch statistics) on a batch of two 64x64 images with
class targets (some pixels 255 = ignored). For each k it writes
testdata/gcn/train_k<k>.safetensors holding

  the initial state dict (PyTorch names), "x" (2,3,64,64), "target" (2,64,64) as floats,
  "logits" (2,7,64,64) and "loss" () of the first forward pass,
  "grad.<name>" the gradient of every parameter after loss.backward(),
  "after.<buffer>" the BatchNorm running statistics after that forward pass,
  "losses" (STEPS,) the loss at each of STEPS AdamW steps (lr 1e-3, weight decay 1e-4
  on every parameter, the same batch every step).

Run: /usr/bin/python3 scripts/golden_gcn_train.py
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from train_torch import GCN  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "gcn")
STEPS = 10


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().numpy().astype(np.float32)
        a = np.ascontiguousarray(t).reshape(t.shape)  # ascontiguousarray makes 0-d arrays 1-d
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


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for k in (1, 7, 15):
        torch.manual_seed(300 + k)
        m = GCN(7, "resnet18", 1 / 32, k, "bilinear", True)
        m.train()
        x = torch.randn(2, 3, 64, 64)
        target = torch.randint(0, 7, (2, 64, 64))
        target[torch.rand(2, 64, 64) < 0.1] = 255
        t = {name: v.detach().clone().float() for name, v in m.state_dict().items()}
        out = m(x)
        loss = F.cross_entropy(out, target, ignore_index=255)
        loss.backward()
        t["x"], t["target"], t["logits"], t["loss"] = x, target.float(), out.detach(), loss.detach()
        for name, p in m.named_parameters():
            t["grad." + name] = p.grad.detach().clone()
        for name, b in m.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                t["after." + name] = b.detach().clone()
        # A short training on one batch from the same start.
        torch.manual_seed(300 + k)
        m = GCN(7, "resnet18", 1 / 32, k, "bilinear", True)
        m.load_state_dict({name: v for name, v in t.items() if name in m.state_dict()})
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-4)
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            l = F.cross_entropy(m(x), target, ignore_index=255)
            l.backward()
            opt.step()
            losses.append(l.item())
        t["losses"] = torch.tensor(losses)
        write_safetensors(os.path.join(OUT, "train_k%d.safetensors" % k), t)
        print("k=%d loss %.6f -> %.6f, %d tensors" % (k, losses[0], losses[-1], len(t)))


if __name__ == "__main__":
    main()
