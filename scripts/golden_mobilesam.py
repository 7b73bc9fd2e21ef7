#!/usr/bin/python3
"""Golden fixtures for MobileSAM's TinyViT encoder in models/sam (testdata/sam/mobile_*).

Run from the repository root with Debian's interpreter and a copy of MobileSAM's python
package (ChaoningZhang/MobileSAM: the directory holding `mobile_sam/`; its code is imported
from there, never copied here):

    /usr/bin/python3 scripts/golden_mobilesam.py --mobilesam-src /path/to/MobileSAM

MobileSAM imports three helpers from `timm` (DropPath, to_2tuple, trunc_normal_) and
`timm.models.registry.register_model`. When `timm` is not installed the script writes a
stand-in for exactly those into a temporary directory and puts it on sys.path (DropPath
is the identity: every drop rate here is 0 and the models run in eval mode);
`--shim DIR` uses a directory of your own instead.

For each tiny configuration (CASES) it builds Sam from the reference modules — TinyViT,
PromptEncoder, MaskDecoder, TwoWayTransformer — with random weights and writes

  <case>.pth             sam.state_dict() saved with torch.save (the official format;
                         fovea reads this very file)
  <case>.json            the configuration, in fovea's JSON config format
  <case>_out.safetensors
      image              the original uint8 RGB image (H, W, 3) as float32 values 0..255
      features           predictor.features: the image embedding (1, D, S/16, S/16)
      <p>.masks, <p>.iou, <p>.low_res, <p>.logits, <p>.points, <p>.labels, <p>.box,
      <p>.multimask      SamPredictor.predict for p = point (one foreground point,
                         multimask) and box (a box, single mask); logits with
                         return_logits=True

Three adaptations let the reference run at these tiny sizes; each keeps its semantics:

  * TinyViT.forward_features reshapes the last stage's tokens to a hard-coded 64x64 grid
    (its output for img_size 1024); here the grid is img_size/16.
  * TinyViT's neck has a hard-coded width of 256 (MobileSAM's prompt_embed_dim); here it
    is rebuilt, with the same modules (Conv2d 1x1, LayerNorm2d, Conv2d 3x3, LayerNorm2d,
    no biases), at the case's prompt_embed_dim.
  * PatchMerging uses stride 1 (instead of 2) when its output width is 320, 448 or 576,
    which in every TinyViT size is the merge into the fourth stage; the stage resolutions
    are fixed by position (the fourth stage has the third's), so with tiny widths the
    reference would assert. The script sets that merge's stride to 1, as fovea does by
    position.

It also calls sam.eval() after setting the weights: TinyViT's Attention caches its bias
table (`ab`, indexed from attention_biases) when eval() is called, and build_sam_vit_t
calls eval() before loading the checkpoint, so without a second eval() the cached table
is the initial zeros (MobileSAM's README calls mobile_sam.eval() after loading).

The weights are scaled, and each case's seed chosen, so that the reference itself is well
conditioned: the script prints the largest scaled difference |f32 - f64| /
max(|f64|, 0.01 max|f64|) between its float32 and float64 answers (encoder features, and
for each prompt the IoU, low-res and full-size logits; the prompt encoder's output is
shared, since it casts coordinates to float32), at most 3.8e-5 for these seeds, where
other seeds reach 1.6e-4 (no float32 reimplementation can be held to 1e-4 there).

`--count` prints the parameter count of build_sam_vit_t (hard-coded in the Go tests);
`--bench` times build_sam_vit_t's image encoder on a 1024x1024 input with 2 threads
(wall and process CPU time).
Everything is seeded; rerunning reproduces the same files.
"""
import argparse
import copy
import json
import os
import struct
import sys
import tempfile
import time
import types

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "sam")

# Stage 0 (MBConv) has no attention: its num_heads and window_sizes entries are unused and
# hold vit_t's values (2 and 7), which is what fovea assumes when it reads a configuration
# from the weights alone.
CASES = {
    # img 96: stage resolutions 24, 12, 6, 6. Stage 1 has windows of 5 on a 12x12 map
    # (padded to 15), stage 2 windows of 4 on 6x6 (padded to 8), stage 3 one window of
    # 6 (the unpartitioned path); two MBConv blocks; a 10-class head in the state dict.
    "mobile_a": dict(
        image_size=96, embed_dims=[8, 16, 24, 32], depths=[2, 1, 2, 1], num_heads=[2, 2, 3, 4],
        window_sizes=[7, 5, 4, 6], mlp_ratio=2.0, mbconv_expand_ratio=4.0, local_conv_size=3,
        num_classes=10, prompt_embed_dim=16, mask_in_chans=8, decoder_depth=1, decoder_mlp_dim=32,
        decoder_num_heads=2, iou_head_depth=3, iou_head_hidden_dim=16, image=(30, 44), seed=2015,
    ),
    "mobile_b": dict(
        image_size=64, embed_dims=[8, 12, 16, 20], depths=[1, 1, 1, 2], num_heads=[2, 3, 4, 5],
        window_sizes=[7, 3, 8, 2], mlp_ratio=2.5, mbconv_expand_ratio=3.0, local_conv_size=5,
        num_classes=0, prompt_embed_dim=16, mask_in_chans=4, decoder_depth=1, decoder_mlp_dim=16,
        decoder_num_heads=2, iou_head_depth=2, iou_head_hidden_dim=8, image=(40, 23), seed=2006,
    ),
}

SHIM = {
    "timm/__init__.py": "",
    "timm/models/__init__.py": "",
    "timm/models/registry.py": "def register_model(fn):\n    return fn\n",
    "timm/models/layers/__init__.py": (
        "import torch\n"
        "def to_2tuple(x):\n"
        "    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)\n"
        "def trunc_normal_(t, mean=0., std=1., a=-2., b=2.):\n"
        "    return torch.nn.init.trunc_normal_(t, mean, std, a, b)\n"
        "class DropPath(torch.nn.Module):\n"
        "    def __init__(self, drop_prob=None):\n"
        "        super().__init__()\n"
        "        self.drop_prob = drop_prob\n"
        "    def forward(self, x):\n"
        "        assert not (self.training and self.drop_prob), 'stand-in DropPath: eval only'\n"
        "        return x\n"
    ),
}


def add_timm(shim):
    try:
        import timm  # noqa: F401
        return
    except ImportError:
        pass
    if shim is None:
        shim = tempfile.mkdtemp(prefix="timm-shim-")
        for name, text in SHIM.items():
            os.makedirs(os.path.dirname(os.path.join(shim, name)), exist_ok=True)
            with open(os.path.join(shim, name), "w") as f:
                f.write(text)
    sys.path.insert(0, shim)


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype=np.float32))
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


def features_any_grid(self, x):
    # TinyViT.forward_features with the final grid img_size/16 instead of 64.
    x = self.patch_embed(x)
    for layer in self.layers:
        x = layer(x)
    g = self.img_size // 16
    b, _, c = x.shape
    return self.neck(x.view(b, g, g, c).permute(0, 3, 1, 2))


def build(cfg):
    from mobile_sam.modeling import MaskDecoder, PromptEncoder, Sam, TinyViT, TwoWayTransformer
    from mobile_sam.modeling.tiny_vit_sam import LayerNorm2d

    s, d = cfg["image_size"], cfg["prompt_embed_dim"]
    enc = TinyViT(
        img_size=s, in_chans=3, num_classes=cfg["num_classes"], embed_dims=cfg["embed_dims"],
        depths=cfg["depths"], num_heads=cfg["num_heads"], window_sizes=cfg["window_sizes"],
        mlp_ratio=cfg["mlp_ratio"], drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
        mbconv_expand_ratio=cfg["mbconv_expand_ratio"], local_conv_size=cfg["local_conv_size"],
        layer_lr_decay=0.8,
    )
    enc.layers[2].downsample.conv2.c.stride = (1, 1)
    c3 = cfg["embed_dims"][-1]
    enc.neck = torch.nn.Sequential(
        torch.nn.Conv2d(c3, d, kernel_size=1, bias=False), LayerNorm2d(d),
        torch.nn.Conv2d(d, d, kernel_size=3, padding=1, bias=False), LayerNorm2d(d),
    )
    enc.forward_features = types.MethodType(features_any_grid, enc)
    sam = Sam(
        image_encoder=enc,
        prompt_encoder=PromptEncoder(embed_dim=d, image_embedding_size=(s // 16, s // 16),
                                     input_image_size=(s, s), mask_in_chans=cfg["mask_in_chans"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=cfg["decoder_depth"], embedding_dim=d,
                                          mlp_dim=cfg["decoder_mlp_dim"], num_heads=cfg["decoder_num_heads"]),
            transformer_dim=d, iou_head_depth=cfg["iou_head_depth"],
            iou_head_hidden_dim=cfg["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    )
    return sam


def randomise(sam):
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # norms and BatchNorm scales
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif "attention_biases" in name:
                p.copy_(0.5 * torch.randn_like(p))
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(0.65 * torch.randn_like(p) / max(fan_in, 1) ** 0.5)
            else:
                p.copy_(0.1 * torch.randn_like(p))
            if "embed.weight" in name or "token" in name:  # point, not-a-point, no-mask, tokens
                p.copy_(0.5 * torch.randn_like(p))
        for name, b in sam.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(0.6 + 0.8 * torch.rand_like(b))
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)


def scaled_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    den = np.maximum(np.abs(want), 0.01 * np.abs(want).max())
    return float((np.abs(got - want) / den).max())


def conditioning(sam, pred, prompts):
    """Largest scaled error of the float32 model against its float64 copy: the encoder's
    features, and for each prompt the IoU, low-res logits and full-size logits."""
    sam64 = copy.deepcopy(sam).double()
    sam64.eval()
    res = {}
    with torch.no_grad():
        f32 = pred.features
        f64 = sam64.image_encoder(pred.model.preprocess(pred.resized).double())
        res["features"] = scaled_err(f32.numpy(), f64.numpy())
        pe = sam.prompt_encoder.get_dense_pe()
        for p, (kw, multimask) in prompts.items():
            # The prompt encoder casts coordinates to float32, so its (float32) outputs
            # feed both decoders.
            pts, box = None, None
            if "point_coords" in kw:
                c = pred.transform.apply_coords(kw["point_coords"], pred.original_size)
                pts = (torch.as_tensor(c, dtype=torch.float)[None], torch.as_tensor(kw["point_labels"])[None])
            if "box" in kw:
                box = torch.as_tensor(pred.transform.apply_boxes(kw["box"], pred.original_size), dtype=torch.float)
            sp, de = sam.prompt_encoder(points=pts, boxes=box, masks=None)
            outs = []
            for m, f, dt in ((sam, f32, torch.float32), (sam64, f64, torch.float64)):
                low, iou = m.mask_decoder(image_embeddings=f, image_pe=pe.to(dt), sparse_prompt_embeddings=sp.to(dt),
                                          dense_prompt_embeddings=de.to(dt), multimask_output=multimask)
                logits = m.postprocess_masks(low, pred.input_size, pred.original_size)
                outs.append((iou, low, logits))
            for i, k in enumerate(("iou", "low_res", "logits")):
                res[p + "." + k] = scaled_err(outs[0][i].numpy(), outs[1][i].numpy())
    return res


def fovea_config(cfg):
    return {
        "encoder": "tiny_vit", "image_size": cfg["image_size"], "patch_size": 16,
        "tiny_vit_embed_dims": cfg["embed_dims"], "tiny_vit_depths": cfg["depths"],
        "tiny_vit_num_heads": cfg["num_heads"], "tiny_vit_window_sizes": cfg["window_sizes"],
        "tiny_vit_mlp_ratio": cfg["mlp_ratio"], "tiny_vit_mbconv_expand_ratio": cfg["mbconv_expand_ratio"],
        "tiny_vit_local_conv_size": cfg["local_conv_size"], "tiny_vit_num_classes": cfg["num_classes"],
        "prompt_embed_dim": cfg["prompt_embed_dim"], "mask_in_chans": cfg["mask_in_chans"],
        "decoder_depth": cfg["decoder_depth"], "decoder_mlp_dim": cfg["decoder_mlp_dim"],
        "decoder_num_heads": cfg["decoder_num_heads"], "num_multimask_outputs": 3,
        "iou_head_depth": cfg["iou_head_depth"], "iou_head_hidden_dim": cfg["iou_head_hidden_dim"],
        "attention_downsample_rate": 2,
        "pixel_mean": [123.675, 116.28, 103.53], "pixel_std": [58.395, 57.12, 57.375],
    }


def count():
    from mobile_sam.build_sam import build_sam_vit_t
    m = build_sam_vit_t()
    total = sum(p.numel() for p in m.parameters())
    enc = sum(p.numel() for p in m.image_encoder.parameters())
    print(f"build_sam_vit_t: {total} parameters ({enc} in the image encoder)")


def bench():
    import resource
    from mobile_sam.build_sam import build_sam_vit_t
    torch.set_num_threads(2)
    m = build_sam_vit_t()
    m.eval()
    x = torch.randn(1, 3, 1024, 1024)
    walls, cpus = [], []
    with torch.no_grad():
        m.image_encoder(x)
        for _ in range(5):
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            m.image_encoder(x)
            r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            walls.append(t1 - t0)
            cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    med = lambda v: 1000 * sorted(v)[len(v) // 2]
    print(f"vit_t encoder 1024x1024, torch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"median wall {med(walls):.0f} ms, median CPU (user+sys) {med(cpus):.0f} ms, "
          f"wall {[round(1000 * t) for t in walls]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mobilesam-src", required=True, help="the directory holding MobileSAM's mobile_sam package")
    ap.add_argument("--shim", help="a directory holding a timm stand-in (default: written to a temporary directory)")
    ap.add_argument("--count", action="store_true", help="print build_sam_vit_t's parameter count and exit")
    ap.add_argument("--bench", action="store_true", help="time build_sam_vit_t's encoder at 1024x1024 and exit")
    args = ap.parse_args()
    add_timm(args.shim)
    sys.path.insert(0, args.mobilesam_src)
    if args.count:
        return count()
    if args.bench:
        return bench()
    from mobile_sam import SamPredictor

    os.makedirs(OUT, exist_ok=True)
    for ci, (case, cfg) in enumerate(CASES.items()):
        torch.manual_seed(cfg["seed"])
        rng = np.random.default_rng(cfg["seed"])
        sam = build(cfg)
        randomise(sam)
        sam.eval()  # after the weights: recomputes TinyViT's cached bias tables
        torch.save(sam.state_dict(), os.path.join(OUT, case + ".pth"))
        with open(os.path.join(OUT, case + ".json"), "w") as f:
            json.dump(fovea_config(cfg), f, indent=1)

        h, w = cfg["image"]
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([
            128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0),
            255 * xx / w,
            255 * yy / h,
        ], axis=-1) + rng.normal(0, 20, (h, w, 3))
        img = np.clip(img, 0, 255).astype(np.uint8)

        pred = SamPredictor(sam)
        pred.set_image(img)
        out = {
            "image": img.astype(np.float32),
            "features": pred.features.numpy(),
        }
        prompts = {
            "point": (dict(point_coords=np.array([[w * 0.3, h * 0.6]]), point_labels=np.array([1])), True),
            "box": (dict(box=np.array([w * 0.1, h * 0.15, w * 0.8, h * 0.9])), False),
        }
        for p, (kw, multimask) in prompts.items():
            masks, iou, low = pred.predict(multimask_output=multimask, **kw)
            logits, _, _ = pred.predict(multimask_output=multimask, return_logits=True, **kw)
            out[p + ".masks"] = masks.astype(np.float32)
            out[p + ".iou"] = iou
            out[p + ".low_res"] = low
            out[p + ".logits"] = logits
            for k, v in kw.items():
                out[p + "." + {"point_coords": "points", "point_labels": "labels", "box": "box"}[k]] = \
                    np.asarray(v, dtype=np.float32)
            out[p + ".multimask"] = np.array([1.0 if multimask else 0.0], dtype=np.float32)
        write_st(os.path.join(OUT, case + "_out.safetensors"), out)

        pred.resized = torch.as_tensor(pred.transform.apply_image(img)).permute(2, 0, 1)[None]
        cond = conditioning(sam, pred, prompts)
        print(case, {k: list(np.shape(v)) for k, v in out.items() if "." not in k},
              "float32 vs float64:", {k: f"{v:.1e}" for k, v in cond.items()})


if __name__ == "__main__":
    main()
