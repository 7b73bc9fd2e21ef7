#!/usr/bin/python3
"""Golden fixtures for package torchfile.

Run from anywhere with Debian's interpreter (PyTorch 1.13):

    /usr/bin/python3 scripts/golden_torchfile.py

It writes into testdata/torchfile/ small checkpoints saved by torch.save (the
zip format), plus the files torchfile must refuse, and golden.json with what
Go must read back. Everything is seeded and torch.save (zip format) is
deterministic, so a rerun rewrites the same bytes.

  dtypes.pth        one tensor of every dtype: F32, F16, BF16, F64, I64, I32,
                    I16, I8, U8, BOOL, with edge values (subnormals, inf, NaN,
                    -0, F64 and I64 values that round to float32 by ties)
  views.pth         views sharing one storage: a transpose, a narrow (offset)
                    slice, a row, a column, a strided slice, an expanded
                    (stride 0) view; and one tensor stored under two keys
  module.pth        a small nn.Module's state_dict(): an OrderedDict of
                    detached parameters and buffers, with _metadata
  params.pth        the same module's nn.Parameters (one frozen) and a buffer
  nested.pth        {"model": state_dict, "epoch": 3, "lr": 0.1, "name": "x",
                    "optimizer": Adam's state_dict after one step, ...}
  weird_name.pth    a state dict saved under another file name, so its zip
                    prefix is "weird_name" rather than "archive"
  scalar_empty.pth  0-d tensors and tensors with no elements
  protocol4.pth     saved with pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL)
  malicious.pth     a zip laid out like a checkpoint whose data.pkl calls
                    os.system (built by hand with zipfile; never unpickled)
  legacy.pth        torch.save(..., _use_new_zipfile_serialization=False)
  scripted.pt       torch.jit.save of a tiny scripted module

legacy.pth and scripted.pt change from run to run (the legacy format keys
storages by memory address; TorchScript's archive is not reproducible either);
the checkpoints torchfile reads come out byte-identical.

golden.json also holds plain pickles of protocols 1 to 5 (pickle.dumps of
ints, floats, strings, bytes, tuples, sets, dicts with odd keys) and their
flattened values, and it maps each readable file to its zip prefix, the expected
StateDictPrefix, the tensor names in order, each tensor's dtype, shape, stride,
storage offset, storage key, parameter and requires_grad flags, the bits of
PyTorch's .float() of it and the hex of its contiguous bytes; and its plain
values as (type, Python repr). "refused" maps each refused file to a phrase
the error must contain.
"""
import collections
import json
import os
import pickle
import pickletools
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "torchfile")

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def raw_bytes(t):
    c = t.detach().contiguous()
    if c.dtype == torch.bfloat16:
        c = c.view(torch.int16)
    return c.numpy().tobytes()


def f32_bits(t):
    return [int(x) for x in t.detach().float().contiguous().numpy().view(np.uint32).ravel()]


def describe(obj):
    """Flattens obj like torchfile: tensors and plain values by dotted name."""
    tensors, values, names = {}, {}, []

    def walk(v, name):
        if isinstance(v, torch.Tensor):
            names.append(name)
            tensors[name] = {
                "dtype": DTYPE_NAMES[v.dtype],
                "shape": list(v.shape),
                "stride": list(v.stride()),
                "offset": v.storage_offset(),
                "storage_id": v.storage()._storage._cdata,
                "parameter": isinstance(v, torch.nn.Parameter),
                "requires_grad": v.requires_grad,
                "f32_bits": f32_bits(v),
                "raw_hex": raw_bytes(v).hex(),
            }
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, str(k) if name is None else f"{name}.{k}")
        elif isinstance(v, (list, tuple, set, frozenset)):
            for i, x in enumerate(v):
                walk(x, str(i) if name is None else f"{name}.{i}")
        else:
            values[name] = {"type": type(v).__name__, "repr": repr(v) if not isinstance(v, str) else v}
            if isinstance(v, torch.dtype):
                values[name]["type"] = "dtype"

    walk(obj, None)
    return names, tensors, values


def save(name, obj, sd_prefix="", **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    names, tensors, values = describe(obj)
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        assert len(pkl) == 1, pkl
        archive = pkl[0][: -len("/data.pkl")]
        # torch.save numbers storages "0", "1", ... in pickle order of
        # first use, which is the order of the names.
        ids = []
        for n in names:
            if tensors[n]["storage_id"] not in ids:
                ids.append(tensors[n]["storage_id"])
        for n in names:
            tensors[n]["storage_key"] = str(ids.index(tensors[n].pop("storage_id")))
        for k in set(t["storage_key"] for t in tensors.values()):
            assert f"{archive}/data/{k}" in z.namelist(), (name, k)
        for info in z.infolist():
            if "/data/" in info.filename:
                assert info.compress_type == zipfile.ZIP_STORED
    GOLDEN["files"][name] = {
        "archive": archive, "state_dict_prefix": sd_prefix, "names": names,
        "tensors": tensors, "values": values,
    }
    return archive


GOLDEN = {"files": {}, "refused": {}}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)

    f32 = torch.cat([torch.randn(8, generator=g),
                     torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e-45, 3.4028234663852886e38])])
    f16 = torch.cat([torch.randn(6, generator=g).half(),
                     torch.tensor([65504.0, 6e-8, 6.1e-5, -0.0, float("inf"), float("nan")], dtype=torch.float16)])
    bf16 = torch.cat([torch.randn(6, generator=g).bfloat16(),
                      torch.tensor([3.0e38, 1e-40, -0.0, float("-inf"), float("nan")], dtype=torch.bfloat16)])
    f64 = torch.cat([torch.randn(6, generator=g, dtype=torch.float64), torch.tensor([
        1 + 2.0**-24, 1 + 3 * 2.0**-24, 1 + 2.0**-24 + 2.0**-60, 1e39, -1e39, 3.4028235677973366e38,
        1e-46, 7e-46, 1.5e-45, 2.0**-149 * 1.5, 0.1, -0.0, float("nan"), float("inf")], dtype=torch.float64)])
    i64 = torch.tensor([0, -1, 2**24 + 1, 2**24 + 3, 2**53 + 1, 2**63 - 1, -2**63, 123456789012, -(2**40) - 1],
                       dtype=torch.int64)
    i32 = torch.tensor([0, -1, 2**31 - 1, -2**31, 2**24 + 1, 7], dtype=torch.int32).reshape(2, 3)
    i16 = torch.tensor([-32768, 32767, 0, 5], dtype=torch.int16)
    i8 = torch.tensor([-128, 127, 0, -3], dtype=torch.int8)
    u8 = torch.tensor([0, 255, 7, 128], dtype=torch.uint8)
    bools = torch.tensor([True, False, True], dtype=torch.bool)
    save("dtypes.pth", {"f32": f32.reshape(2, 7), "f16": f16, "bf16": bf16, "f64": f64, "i64": i64,
                        "i32": i32, "i16": i16, "i8": i8, "u8": u8, "bool": bools})

    base = torch.randn(4, 6, generator=g)
    w = torch.randn(3, 2, generator=g)
    half = torch.randn(5, 4, generator=g).half()
    save("views.pth", collections.OrderedDict([
        ("base", base),
        ("t", base.t()),
        ("narrow", base[1:3, 2:5]),
        ("row", base[2]),
        ("col", base[:, 1]),
        ("step", base[::2, ::3]),
        ("expanded", torch.randn(1, 3, generator=g).expand(4, 3)),
        ("tied_a", w),
        ("tied_b", w),
        ("half_t", half.t()[1:, 2:]),
    ]))

    net = Net()
    with torch.no_grad():
        net.bn.running_mean.copy_(torch.randn(4, generator=g))
        net.bn.running_var.copy_(torch.rand(4, generator=g) + 0.5)
        net.bn.num_batches_tracked.fill_(7)
    sd = net.state_dict()
    save("module.pth", sd)

    params = collections.OrderedDict(net.named_parameters())
    params["head.bias"].requires_grad_(False)
    params["bn.running_mean"] = net.bn.running_mean
    save("params.pth", params)

    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(2, 3, 5, 5, generator=g)).sum().backward()
    opt.step()
    save("nested.pth", {"model": net.state_dict(), "epoch": 3, "lr": 0.1, "name": "x",
                        "optimizer": opt.state_dict(), "best": 0.75, "flags": [True, None], "big": 2**70,
                        "neg": -5, "dtype": torch.float16},
         sd_prefix="model.")

    small = collections.OrderedDict([("weight", torch.randn(2, 3, generator=g)), ("bias", torch.zeros(2))])
    archive = save("weird_name.pth", small)
    assert archive == "weird_name" and archive != "archive", archive

    save("scalar_empty.pth", {"scalar": torch.tensor(3.5), "scalar_i": torch.tensor(7),
                              "empty": torch.zeros(0, 3), "empty2": torch.zeros(3, 0, 2, dtype=torch.float16),
                              "after": torch.arange(3, dtype=torch.float32)})

    save("protocol4.pth", collections.OrderedDict([("a", torch.randn(2, 2, generator=g)), ("b", torch.arange(3)),
                                                    ("c", "text")]), pickle_protocol=4)

    # Refused files.
    mal = os.path.join(OUT, "malicious.pth")
    payload = (b"\x80\x02" + b"cos\nsystem\nq\x00" + b"X\x0b\x00\x00\x00echo pwned!q\x01" + b"\x85q\x02Rq\x03."
               )
    ops = [op.name for op, _, _ in pickletools.genops(payload)]  # parse, never load
    assert "GLOBAL" in ops and "REDUCE" in ops, ops
    with zipfile.ZipFile(mal, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("malicious/data.pkl", payload), ("malicious/version", b"3\n")):
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    GOLDEN["refused"]["malicious.pth"] = 'global "os.system" is not allowed'

    torch.save({"w": torch.ones(2)}, os.path.join(OUT, "legacy.pth"), _use_new_zipfile_serialization=False)
    GOLDEN["refused"]["legacy.pth"] = "legacy format"

    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(OUT, "scripted.pt"))
    GOLDEN["refused"]["scripted.pt"] = "TorchScript archive"

    # Plain pickles of every protocol torch.save can use, to test the
    # unpickler's opcodes against CPython's own output.
    shared = [1, "two"]
    plain = collections.OrderedDict([
        ("ints", [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**63 - 1, -2**63, 2**64, -2**70, 10**30]),
        ("floats", [0.1, -0.0, 1e300, 5e-324, float("inf"), float("-inf"), float("nan"), 1.0, 1e16]),
        ("strs", ["", "a", "ü€😀", "x" * 300]),
        ("bytes", b"ab"),
        ("consts", (None, True, False)),
        ("tuples", ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4))),
        ("keys", {3: "int", (1, "a"): "tuple", None: "none", True: "true", 2.5: "float"}),
        ("set", {1, 2}),
        ("frozen", frozenset([5])),
        ("nested", {"a": {"b": [shared, shared]}}),
        ("od", collections.OrderedDict([("z", 1), ("y", 2)])),
        ("empty", [[], {}, ()]),
    ])
    _, _, want = describe(plain)
    GOLDEN["pickles"] = [{"protocol": proto, "hex": pickle.dumps(plain, protocol=proto).hex()} for proto in range(1, 6)]
    GOLDEN["pickle_values"] = want

    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(GOLDEN, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    assert total < 200_000, total
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
