#!/usr/bin/python3
"""Golden fixtures for models/gcn: the PyTorch twin in bench/train_torch.py, built tiny
(ResNet-18 layout at 1/32 width, k = 7, 7 classes), with random weights and BatchNorm
statistics, run in eval mode on a 1x3x32x32 input. For each upsampler it writes
testdata/gcn/<upsampler>.safetensors holding the state dict, the input "x" and the
output "y". The Go test loads the weights by name, runs the Go model and compares.

Run: /usr/bin/python3 scripts/golden_gcn.py
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from train_torch import GCN  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "gcn")


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().numpy().astype(np.float32)
        a = np.ascontiguousarray(t).reshape(t.shape)
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
    os.makedirs(OUT, exist_ok=True)
    for i, up in enumerate(["bilinear", "deconv", "pixelshuffle"]):
        torch.manual_seed(100 + i)
        m = GCN(7, "resnet18", 1 / 32, 7, up, True)
        with torch.no_grad():
            for name, b in m.named_buffers():
                if name.endswith("running_mean"):
                    b.copy_(torch.randn_like(b) * 0.1)
                elif name.endswith("running_var"):
                    b.copy_(torch.rand_like(b) + 0.5)
            for name, p in m.named_parameters():
                if name.endswith("bn1.weight") or ".bn" in name:
                    p.copy_(torch.rand_like(p) + 0.5)
        m.eval()
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            y = m(x)
        t = dict(m.state_dict())
        t = {k: v.float() for k, v in t.items()}
        t["x"], t["y"] = x, y
        write_safetensors(os.path.join(OUT, up + ".safetensors"), t)
        print(up, sum(v.numel() for v in t.values()), "floats")


if __name__ == "__main__":
    main()
