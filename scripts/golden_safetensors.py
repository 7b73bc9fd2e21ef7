#!/usr/bin/python3
"""Golden fixtures for package safetensors.

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 scripts/golden_safetensors.py

It writes into testdata/safetensors/:

  golden.safetensors   a file written by hand (struct + json + NumPy/PyTorch
                       bytes, since the `safetensors` Python package is not
                       installed) with F32, F16, BF16, F64, I64 (one a
                       scalar), I32, U8, BOOL tensors, an empty tensor and
                       __metadata__; the JSON uses Python's default
                       separators and lists tensors out of data order.
  layout.safetensors   the same tensors laid out as the reference writer
                       does (data sorted by dtype alignment descending, then
                       name; compact JSON; header padded with spaces to a
                       multiple of 8), which Go's Write must reproduce byte
                       for byte.
  golden.json          what Go must read back: for each tensor its dtype,
                       shape and the bits of PyTorch's .float() of it; and
                       float32 -> float16 (NumPy) and -> bfloat16 (PyTorch)
                       conversion cases with the expected bits.
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "safetensors")


def f32_bits(a):
    return [int(x) for x in np.asarray(a, dtype=np.float32).view(np.uint32).ravel()]


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(0)

    # Edge values for the 16-bit float conversions.
    edges = [
        0.0, -0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, 65504.0, 65519.0, 65520.0, -65520.0, 1e5,
        2.0**-14, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001, 3 * 2.0**-25, 2.0**-24 * 1.5,
        (1023 / 1024) * 2.0**-14, 2.0**-14 - 2.0**-25, 1e-8, 6e-8, 1.0 + 2.0**-11,
        1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1.0 + 2.0**-8 + 2.0**-20,
        float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny), 1e-40, -1e-45,
        3.3895313892515355e38, 3.3961775292304282e38, float("inf"), float("-inf"),
    ]
    src = np.concatenate([np.array(edges, dtype=np.float32),
                          (torch.randn(64, generator=g) * 100).numpy().astype(np.float32),
                          (torch.randn(64, generator=g) * 1e-5).numpy().astype(np.float32)])
    nan = np.array([np.nan, -np.nan], dtype=np.float32)
    with np.errstate(over="ignore"):
        f16 = src.astype(np.float16).view(np.uint16)
    bf16 = torch.from_numpy(src.copy()).bfloat16().view(torch.int16).numpy().view(np.uint16)

    tensors = {
        "conv.weight": torch.randn(2, 3, 2, 2, generator=g),
        "conv.bias": torch.tensor([1.5, -2.25, 0.0]),
        "half.edges": torch.from_numpy(np.array([0.0, -0.0, 1.0, 65504.0, 2.0**-24, 2.0**-14,
                                                 float("inf"), float("-inf"), 0.333],
                                                dtype=np.float32)).half(),
        "bf.weight": (torch.randn(2, 2, generator=g) * 10).bfloat16(),
        "double": torch.tensor([1.0 / 3.0, -1e300, 1e-300], dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "labels": torch.tensor([-3, 0, 16777217], dtype=torch.int64),
        "idx": torch.tensor([-2147483648, 2147483647], dtype=torch.int32),
        "pixels": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "mask": torch.tensor([[True, False], [False, True]]),
        "empty": torch.zeros(0, 4),
    }
    dtypes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
              torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
              torch.uint8: "U8", torch.bool: "BOOL"}
    metadata = {"format": "pt", "note": "written by scripts/golden_safetensors.py, ünïcode"}

    def raw(t):
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().tobytes()
        return t.numpy().tobytes()

    # golden.safetensors: data in name order, JSON keys in reverse name order.
    names = sorted(tensors)
    header, offset, data = {}, 0, b""
    for name in names:
        b = raw(tensors[name])
        header[name] = {"dtype": dtypes[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        data += b
    js = {"__metadata__": metadata}
    for name in reversed(names):
        js[name] = header[name]
    hb = json.dumps(js).encode("utf-8")  # default separators, ASCII escapes
    with open(os.path.join(OUT, "golden.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)

    # layout.safetensors: the reference writer's layout.
    align_order = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
                   "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
                   "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
    order = sorted(names, key=lambda n: (-align_order.index(dtypes[tensors[n].dtype]), n))
    js, offset, data = {"__metadata__": dict(sorted(metadata.items()))}, 0, b""
    for name in order:
        b = raw(tensors[name])
        js[name] = {"dtype": dtypes[tensors[name].dtype], "shape": list(tensors[name].shape),
                    "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        data += b
    hb = json.dumps(js, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(OUT, "layout.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)

    expect = {
        "metadata": metadata,
        "tensors": {name: {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                           "f32_bits": f32_bits(t.float().numpy())}
                    for name, t in tensors.items()},
        "convert": {
            "src_bits": f32_bits(src),
            "f16_bits": [int(x) for x in f16],
            "bf16_bits": [int(x) for x in bf16],
            "nan_src_bits": f32_bits(nan),
            "nan_f16_bits": [int(x) for x in nan.astype(np.float16).view(np.uint16)],
            "nan_bf16_bits": [int(x) for x in torch.from_numpy(nan.copy()).bfloat16()
                              .view(torch.int16).numpy().view(np.uint16)],
        },
    }
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(expect, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
