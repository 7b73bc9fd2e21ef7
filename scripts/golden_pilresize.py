#!/usr/bin/python3
"""Golden fixtures for augment.ResizePIL: Pillow's resampling of 8-bit images.

Run with Debian's interpreter (Pillow 9.4, PyTorch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/golden_pilresize.py

It writes testdata/pilresize/cases.json and one raw file per output. Inputs
are not stored: they come from a seeded splitmix64 hash of the byte index
(gen_u8 below, mirrored by the Go test), and the JSON records each input's
SHA-256 so the Go test checks that it rebuilt the same bytes. Outputs are
stored raw (HWC uint8, or little-endian float32 CHW for the float cases),
except for the full-size SAM case, whose output is only hashed to keep the
fixtures small.

Bilinear cases go through torchvision exactly as Segment Anything's
ResizeLongestSide.apply_image does: np.array(F.resize(Image.fromarray(x),
(oh, ow))); the script also checks that this equals
Image.resize((ow, oh), Image.BILINEAR). Other filters call Image.resize.
"""
import hashlib
import json
import os

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "pilresize")

# Pillow's filter constants by the names augment.PILFilter uses.
FILTERS = {
    "nearest": Image.NEAREST,
    "box": Image.BOX,
    "bilinear": Image.BILINEAR,
    "hamming": Image.HAMMING,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
}

M64 = (1 << 64) - 1


def splitmix(seed, n):
    """The splitmix64 outputs for states seed*2^32 + i + 1 (i < n), as uint64."""
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(((seed << 32) + 1) & M64)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def gen_u8(kind, seed, h, w, c):
    """A seeded HWC uint8 image: "noise" is uniform bytes, "binary" only 0 and
    255 (to stress clipping of negative lobes), "ramp" a smooth gradient plus
    a little noise (closer to a photograph)."""
    z = splitmix(seed, h * w * c)
    if kind == "noise":
        v = (z >> np.uint64(56)).astype(np.uint8)
    elif kind == "binary":
        v = np.where((z >> np.uint64(63)) == 1, 255, 0).astype(np.uint8)
    elif kind == "ramp":
        i = np.arange(h * w * c, dtype=np.int64)
        y, x, ch = i // (w * c), (i // c) % w, i % c
        v = ((x * 255) // max(w - 1, 1) + y * 3 + ch * 40 + (z >> np.uint64(60)).astype(np.int64)) % 256
        v = v.astype(np.uint8)
    else:
        raise ValueError(kind)
    return v.reshape(h, w, c)


def gen_f32(kind, seed, c, h, w):
    """A seeded CHW float32 image in [0, 1]: "uniform" is k/2^24 for a random
    24-bit k, "bytes" is u/255 for a random byte u, as to_tensor makes."""
    z = splitmix(seed, c * h * w)
    if kind == "uniform":
        v = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    elif kind == "bytes":
        v = (z >> np.uint64(56)).astype(np.float32) / np.float32(255)
    else:
        raise ValueError(kind)
    return v.astype(np.float32).reshape(c, h, w)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pil(x):
    return Image.fromarray(x[:, :, 0] if x.shape[2] == 1 else x)


def to_hwc(im):
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def preprocess_shape(oldh, oldw, long_side):
    """segment_anything ResizeLongestSide.get_preprocess_shape."""
    scale = long_side * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    return int(newh + 0.5), int(neww + 0.5)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    cases = []

    def add(name, kind, seed, h, w, c, oh, ow, filt, store=True):
        x = gen_u8(kind, seed, h, w, c)
        if filt == "bilinear":
            y = to_hwc(F.resize(pil(x), (oh, ow)))
            direct = to_hwc(pil(x).resize((ow, oh), Image.BILINEAR))
            assert np.array_equal(y, direct), name
        else:
            y = to_hwc(pil(x).resize((ow, oh), FILTERS[filt]))
        assert y.shape == (oh, ow, c) and y.dtype == np.uint8, (name, y.shape)
        case = {"name": name, "kind": kind, "seed": seed, "h": h, "w": w, "c": c, "oh": oh, "ow": ow,
                "filter": filt, "input_sha256": sha(x.tobytes()), "output_sha256": sha(y.tobytes())}
        if store:
            case["output"] = name + ".u8"
            with open(os.path.join(OUT, case["output"]), "wb") as fh:
                fh.write(y.tobytes())
        cases.append(case)

    seed = 1
    bil = [
        ("down_37x53_16x23", 37, 53, 16, 23),
        ("down_300x451_64x96", 300, 451, 64, 96),
        ("down_32x48_16x24", 32, 48, 16, 24),  # integer factor 2
        ("down_257x263_3x2", 257, 263, 3, 2),  # wide support
        ("row_1x5_3x2", 1, 5, 3, 2),
        ("col_5x1_2x4", 5, 1, 2, 4),
        ("to_1x5_9x7", 9, 7, 1, 5),
        ("to_5x1_9x7", 9, 7, 5, 1),
        ("up_7x9_24x31", 7, 9, 24, 31),
        ("mixed_20x30_41x13", 20, 30, 41, 13),
        ("width_only_20x30_20x17", 20, 30, 20, 17),
        ("height_only_20x30_11x30", 20, 30, 11, 30),
        ("height_up_20x30_41x30", 20, 30, 41, 30),
        ("identity_13x17", 13, 17, 13, 17),
    ]
    for name, h, w, oh, ow in bil:
        add("bilinear_" + name, "noise", seed, h, w, 3, oh, ow, "bilinear")
        seed += 1
    add("bilinear_ramp_37x53_16x23", "ramp", seed, 37, 53, 3, 16, 23, "bilinear")
    seed += 1
    # Single-channel (mode L) images.
    add("bilinear_gray_37x53_16x23", "noise", seed, 37, 53, 1, 16, 23, "bilinear")
    seed += 1
    add("bilinear_gray_30x20_45x13", "noise", seed, 30, 20, 1, 45, 13, "bilinear")
    seed += 1
    # Segment Anything's ResizeLongestSide: small, and the full-size 1024 case.
    oh, ow = preprocess_shape(120, 180, 64)
    add("sam_120x180_long64", "noise", seed, 120, 180, 3, oh, ow, "bilinear")
    seed += 1
    oh, ow = preprocess_shape(1500, 2250, 1024)
    assert (oh, ow) == (683, 1024)
    add("sam_1500x2250_long1024", "ramp", seed, 1500, 2250, 3, oh, ow, "bilinear", store=False)
    seed += 1
    # The other filters, on down-, up- and mixed scaling.
    for filt in ("nearest", "box", "hamming", "bicubic", "lanczos"):
        for name, kind, h, w, oh, ow in [("down_37x53_16x23", "noise", 37, 53, 16, 23),
                                         ("up_7x9_24x31", "noise", 7, 9, 24, 31),
                                         ("mixed_20x30_41x13", "binary", 20, 30, 41, 13),
                                         ("down_300x451_64x96", "binary", 300, 451, 64, 96)]:
            add(filt + "_" + name, kind, seed, h, w, 3, oh, ow, filt)
            seed += 1
    add("lanczos_gray_binary_30x20_45x13", "binary", seed, 30, 20, 1, 45, 13, "lanczos")
    seed += 1
    add("bicubic_gray_up_3x4_17x11", "noise", seed, 3, 4, 1, 17, 11, "bicubic")
    seed += 1
    # Sizes where NEAREST's accumulated positions (Pillow's affine scaler)
    # truncate differently from floor((i+0.5)*in/out).
    for name, h, w, oh, ow in [("nearest_acc_2x2_7x15", 2, 2, 7, 15),
                               ("nearest_acc_8x10_6x15", 8, 10, 6, 15),
                               ("nearest_acc_8x10_7x19", 8, 10, 7, 19)]:
        add(name, "noise", seed, h, w, 3, oh, ow, "nearest")
        seed += 1
    # torchvision's NEAREST goes through Pillow too.
    x = gen_u8("noise", 3, 37, 53, 3)
    assert np.array_equal(to_hwc(F.resize(pil(x), (16, 23), interpolation=F.InterpolationMode.NEAREST)),
                          to_hwc(pil(x).resize((23, 16), Image.NEAREST)))

    # Float round trips: to_pil_image(float CHW tensor) -> resize -> to_tensor.
    floats = []
    for name, kind, fseed, c, h, w, oh, ow in [("float_rgb_37x53_16x23", "uniform", 1001, 3, 37, 53, 16, 23),
                                              ("float_bytes_rgb_20x30_41x13", "bytes", 1002, 3, 20, 30, 41, 13),
                                              ("float_gray_30x20_45x13", "uniform", 1003, 1, 30, 20, 45, 13)]:
        t = torch.from_numpy(gen_f32(kind, fseed, c, h, w))
        y = F.to_tensor(F.resize(F.to_pil_image(t), [oh, ow]))
        assert y.dtype == torch.float32 and tuple(y.shape) == (c, oh, ow)
        b = y.numpy().astype("<f4").tobytes()
        with open(os.path.join(OUT, name + ".f32"), "wb") as fh:
            fh.write(b)
        floats.append({"name": name, "kind": kind, "seed": fseed, "c": c, "h": h, "w": w, "oh": oh, "ow": ow,
                       "input_sha256": sha(t.numpy().astype("<f4").tobytes()), "output": name + ".f32"})

    with open(os.path.join(OUT, "cases.json"), "w") as fh:
        json.dump({"pillow": Image.__version__, "cases": cases, "float_cases": floats}, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
