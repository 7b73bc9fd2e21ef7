#!/usr/bin/python3
"""Golden fixtures for fovea's data and augment packages.

Run with Debian's interpreter (PyTorch 1.13, torchvision 0.14, Pillow):

    /usr/bin/python3 scripts/golden_data.py

It writes small files into testdata/data/: PNG/JPEG images made by Pillow with
the values Pillow decodes (image I/O tests), and inputs/outputs of torchvision
transforms (resize bilinear/nearest, colour adjustments) as JSON.
"""
import json
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "data")


def voc_palette():
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def save_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def images():
    rng = np.random.RandomState(0)
    fx = {}
    # Palette label map, as VOC SegmentationClass: indices 0..20 and 255.
    idx = rng.choice(list(range(21)) + [255], size=(6, 9)).astype(np.uint8)
    p = Image.fromarray(idx, mode="P")
    p.putpalette(voc_palette())
    p.save(os.path.join(OUT, "palette.png"))
    fx["palette"] = idx.flatten().tolist()
    # Palette image as an image: its RGB colours.
    fx["palette_rgb"] = np.asarray(p.convert("RGB")).transpose(2, 0, 1).flatten().tolist()
    # 8-bit grey, 16-bit grey, RGB.
    g8 = rng.randint(0, 256, size=(5, 7)).astype(np.uint8)
    Image.fromarray(g8, mode="L").save(os.path.join(OUT, "gray8.png"))
    fx["gray8"] = g8.flatten().tolist()
    g16 = rng.randint(0, 65536, size=(5, 7)).astype(np.uint16)
    Image.fromarray(g16.astype(np.int32), mode="I").convert("I;16").save(os.path.join(OUT, "gray16.png"))
    fx["gray16"] = np.asarray(Image.open(os.path.join(OUT, "gray16.png"))).astype(np.int64).flatten().tolist()
    rgb = rng.randint(0, 256, size=(5, 7, 3)).astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(os.path.join(OUT, "rgb.png"))
    fx["rgb"] = rgb.transpose(2, 0, 1).flatten().tolist()
    # A smooth RGB JPEG and what Pillow (libjpeg) decodes from it.
    yy, xx = np.mgrid[0:16, 0:24]
    smooth = np.stack([xx * 10, yy * 15, (xx + yy) * 6], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth, mode="RGB").save(os.path.join(OUT, "rgb.jpg"), quality=90)
    dec = np.asarray(Image.open(os.path.join(OUT, "rgb.jpg")).convert("RGB"))
    fx["jpeg_shape"] = list(dec.shape)
    fx["jpeg"] = dec.transpose(2, 0, 1).flatten().tolist()
    # Noisy JPEGs of odd size with each chroma subsampling (0: 4:4:4,
    # 1: 4:2:2, 2: 4:2:0), to check edges and libjpeg's fancy upsampling.
    noisy = (rng.rand(17, 23, 3) * 255).astype(np.uint8)
    noisy[:, :11] //= 2  # a vertical edge
    for sub in (0, 1, 2):
        name = "noisy_%d.jpg" % sub
        Image.fromarray(noisy, mode="RGB").save(os.path.join(OUT, name), quality=85, subsampling=sub)
        fx["noisy_%d" % sub] = np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB")).transpose(2, 0, 1).flatten().tolist()
    save_json("images.json", fx)


def transforms():
    import torch
    import torch.nn.functional as TF
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode

    torch.manual_seed(0)
    img = torch.rand(3, 7, 9)
    fx = {"image": img.flatten().tolist(), "image_shape": list(img.shape), "bilinear": [], "nearest": [], "color": []}
    for h, w in [(5, 13), (14, 18), (3, 4), (7, 9), (11, 5), (1, 1), (20, 3)]:
        out = F.resize(img, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=False)
        ref = TF.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        assert torch.equal(out, ref)
        fx["bilinear"].append({"size": [h, w], "out": out.flatten().tolist()})
    labels = torch.randint(0, 21, (7, 9))
    labels[0, 0] = 255
    fx["labels"] = labels.flatten().tolist()
    for h, w in [(5, 13), (14, 18), (3, 4), (10, 7), (21, 27), (7, 9), (2, 30)]:
        out = F.resize(labels[None].float(), [h, w], interpolation=InterpolationMode.NEAREST)[0]
        fx["nearest"].append({"size": [h, w], "out": out.long().flatten().tolist()})
    cimg = torch.rand(3, 6, 8)
    cimg[:, 0, 0] = 0.5  # grey pixel: hue undefined
    cimg[:, 0, 1] = torch.tensor([1.0, 0.2, 0.2])
    fx["color_image"] = cimg.flatten().tolist()
    fx["color_shape"] = list(cimg.shape)
    for name, f in [("brightness", 1.3), ("brightness", 0.4), ("contrast", 0.6), ("contrast", 1.8),
                    ("saturation", 1.7), ("saturation", 0.0), ("hue", 0.21), ("hue", -0.4), ("hue", 0.5)]:
        fn = getattr(F, "adjust_" + name)
        fx["color"].append({"op": name, "factor": f, "out": fn(cimg, f).flatten().tolist()})
    save_json("transforms.json", fx)


def erasing():
    """Rectangles drawn by torchvision's RandomErasing.get_params on a small,
    non-square image where rounding and rejection matter, for a two-sample
    KS test."""
    import torch
    from torchvision.transforms import RandomErasing

    torch.manual_seed(0)
    img = torch.zeros(3, 23, 61)
    hs, ws, tops, lefts = [], [], [], []
    for _ in range(2000):
        i, j, h, w, _ = RandomErasing.get_params(img, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
        hs.append(h)
        ws.append(w)
        tops.append(i)
        lefts.append(j)
    save_json("erasing.json", {"size": [23, 61], "h": hs, "w": ws, "top": tops, "left": lefts})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    images()
    transforms()
    erasing()
