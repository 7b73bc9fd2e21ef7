#!/usr/bin/python3
"""Golden fixtures for models/sam (testdata/sam/), made by the real segment-anything code.

Run from the repository root with Debian's interpreter and a checkout of
facebookresearch/segment-anything (its code is imported from there, never copied here):

    /usr/bin/python3 scripts/golden_sam.py --sam-src /path/to/segment-anything

For each tiny configuration it builds Sam from the reference modules with random weights
(every parameter, including the zero-initialised relative position tables and the norms,
is drawn from a seeded normal distribution so that no path is trivially zero) and writes

  <case>.pth            sam.state_dict() saved with torch.save (the format of the official
                        checkpoints, read by fovea's torchfile package)
  <case>.json           the configuration, in fovea's JSON config format
  <case>_out.safetensors
      image             the original uint8 RGB image (H, W, 3) as float32 values 0..255
      input_image       ResizeLongestSide.apply_image(image) (h, w, 3), float32 0..255
      features          predictor.features: the image embedding (1, C, E, E)
      <p>.masks, <p>.iou, <p>.low_res, <p>.logits
                        for each prompt case p (see PROMPTS): SamPredictor.predict's masks
                        (0/1), iou predictions and low-res logits, and the full-size logits
                        (return_logits=True) to judge pixels at the threshold
      <p>.points, <p>.labels, <p>.box, <p>.mask_input  the prompt itself
      enc2.x, enc2.y    (only with use_abs_pos false) the image encoder applied directly to
                        an input whose patch grid differs from img_size/patch_size, so the
                        global blocks interpolate their relative position tables

Everything is seeded; rerunning reproduces the same files.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "sam")

CASES = {
    # grid 8 with window 3: windows padded to 9; block 1 global; rel pos on.
    "tiny_win": dict(
        image_size=64, patch_size=8, encoder_embed_dim=32, encoder_depth=3, encoder_num_heads=2,
        encoder_global_attn_indexes=[1], window_size=3, mlp_ratio=4.0, use_rel_pos=True,
        use_abs_pos=True, qkv_bias=True, prompt_embed_dim=32, mask_in_chans=16,
        decoder_depth=2, decoder_mlp_dim=64, decoder_num_heads=4, num_multimask_outputs=3,
        iou_head_depth=3, iou_head_hidden_dim=24, attention_downsample_rate=2,
        image=(45, 70),
    ),
    # no absolute positions, all-global except block 0, window 4 on a grid of 6 (padded
    # to 8), a tall image; the encoder is also run on a 48x80 input (grid 6x10).
    "tiny_global": dict(
        image_size=48, patch_size=8, encoder_embed_dim=24, encoder_depth=2, encoder_num_heads=3,
        encoder_global_attn_indexes=[1], window_size=4, mlp_ratio=2.0, use_rel_pos=True,
        use_abs_pos=False, qkv_bias=False, prompt_embed_dim=16, mask_in_chans=8,
        decoder_depth=1, decoder_mlp_dim=32, decoder_num_heads=2, num_multimask_outputs=3,
        iou_head_depth=2, iou_head_hidden_dim=16, attention_downsample_rate=2,
        image=(61, 33),
    ),
}


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


def build(cfg):
    from functools import partial

    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    emb = cfg["image_size"] // cfg["patch_size"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=cfg["encoder_depth"], embed_dim=cfg["encoder_embed_dim"],
            img_size=cfg["image_size"], mlp_ratio=cfg["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=cfg["encoder_num_heads"],
            patch_size=cfg["patch_size"], qkv_bias=cfg["qkv_bias"], use_rel_pos=cfg["use_rel_pos"],
            use_abs_pos=cfg["use_abs_pos"], global_attn_indexes=cfg["encoder_global_attn_indexes"],
            window_size=cfg["window_size"], out_chans=cfg["prompt_embed_dim"],
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg["prompt_embed_dim"], image_embedding_size=(emb, emb),
            input_image_size=(cfg["image_size"], cfg["image_size"]), mask_in_chans=cfg["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg["num_multimask_outputs"],
            transformer=TwoWayTransformer(
                depth=cfg["decoder_depth"], embedding_dim=cfg["prompt_embed_dim"],
                mlp_dim=cfg["decoder_mlp_dim"], num_heads=cfg["decoder_num_heads"],
                attention_downsample_rate=cfg["attention_downsample_rate"],
            ),
            transformer_dim=cfg["prompt_embed_dim"], iou_head_depth=cfg["iou_head_depth"],
            iou_head_hidden_dim=cfg["iou_head_hidden_dim"],
        ),
    )
    sam.eval()
    return sam


def randomise(sam):
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or ".norm" in name \
                    or (p.dim() == 1 and name.endswith("weight")):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.dim() >= 2:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(0.8 * torch.randn_like(p) / max(fan_in, 1) ** 0.5)
            else:
                p.copy_(0.1 * torch.randn_like(p))
        for name, p in sam.named_parameters():
            if "rel_pos" in name or name.endswith("pos_embed"):
                p.copy_(0.5 * torch.randn_like(p))
            if "embed.weight" in name or "token" in name:  # point, not-a-point, no-mask, tokens
                p.copy_(0.5 * torch.randn_like(p))


PROMPTS = ["point", "points2_single", "box", "box_point", "mask_point", "neg_only"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam-src", required=True, help="a checkout of facebookresearch/segment-anything")
    args = ap.parse_args()
    sys.path.insert(0, args.sam_src)
    from segment_anything import SamPredictor

    os.makedirs(OUT, exist_ok=True)
    for ci, (case, cfg) in enumerate(CASES.items()):
        torch.manual_seed(1000 + ci)
        rng = np.random.default_rng(1000 + ci)
        sam = build(cfg)
        randomise(sam)
        torch.save(sam.state_dict(), os.path.join(OUT, case + ".pth"))
        jc = {k: v for k, v in cfg.items() if k != "image"}
        jc["pixel_mean"] = [123.675, 116.28, 103.53]
        jc["pixel_std"] = [58.395, 57.12, 57.375]
        with open(os.path.join(OUT, case + ".json"), "w") as f:
            json.dump(jc, f, indent=1)

        h, w = cfg["image"]
        # A smooth image with some noise, so the resize has structure to preserve.
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
            "input_image": pred.transform.apply_image(img).astype(np.float32),
            "features": pred.features.numpy(),
        }
        low_first = None
        for p in PROMPTS:
            kw = dict(point_coords=None, point_labels=None, box=None, mask_input=None)
            multimask = True
            if p == "point":
                kw["point_coords"] = np.array([[w * 0.3, h * 0.6]])
                kw["point_labels"] = np.array([1])
            elif p == "points2_single":
                kw["point_coords"] = np.array([[w * 0.7, h * 0.2], [w * 0.25, h * 0.8]])
                kw["point_labels"] = np.array([1, 0])
                multimask = False
            elif p == "box":
                kw["box"] = np.array([w * 0.1, h * 0.15, w * 0.8, h * 0.9])
                multimask = False
            elif p == "box_point":
                kw["box"] = np.array([w * 0.2, h * 0.1, w * 0.9, h * 0.7])
                kw["point_coords"] = np.array([[w * 0.5, h * 0.4]])
                kw["point_labels"] = np.array([1])
            elif p == "mask_point":
                kw["point_coords"] = np.array([[w * 0.6, h * 0.5]])
                kw["point_labels"] = np.array([1])
                kw["mask_input"] = low_first
                multimask = False
            elif p == "neg_only":
                kw["point_coords"] = np.array([[w * 0.9, h * 0.9], [3.0, 4.0]])
                kw["point_labels"] = np.array([0, 0])
            masks, iou, low = pred.predict(multimask_output=multimask, **kw)
            logits, _, _ = pred.predict(multimask_output=multimask, return_logits=True, **kw)
            if p == "point":
                low_first = low[np.argmax(iou)][None, :, :]
            out[p + ".masks"] = masks.astype(np.float32)
            out[p + ".iou"] = iou
            out[p + ".low_res"] = low
            out[p + ".logits"] = logits
            for k, v in kw.items():
                if v is not None:
                    out[p + "." + {"point_coords": "points", "point_labels": "labels", "box": "box",
                                   "mask_input": "mask_input"}[k]] = np.asarray(v, dtype=np.float32)
            out[p + ".multimask"] = np.array([1.0 if multimask else 0.0], dtype=np.float32)

        # Batched boxes through predict_torch: three boxes at once.
        boxes = np.array([[2, 3, w * 0.5, h * 0.5], [w * 0.3, h * 0.3, w - 1, h - 1], [0, 0, w, h]], dtype=np.float64)
        bt = torch.as_tensor(pred.transform.apply_boxes(boxes, pred.original_size), dtype=torch.float)
        with torch.no_grad():
            m, iou, low = pred.predict_torch(None, None, boxes=bt, multimask_output=True, return_logits=True)
        out["batch_boxes.box"] = boxes.astype(np.float32)
        out["batch_boxes.logits"] = m.numpy()
        out["batch_boxes.iou"] = iou.numpy()
        out["batch_boxes.low_res"] = low.numpy()

        if not cfg["use_abs_pos"]:
            x = torch.randn(1, 3, 48, 80)
            with torch.no_grad():
                y = sam.image_encoder(x)
            out["enc2.x"] = x.numpy()
            out["enc2.y"] = y.numpy()
        write_st(os.path.join(OUT, case + "_out.safetensors"), out)
        print(case, {k: list(np.shape(v)) for k, v in out.items() if "." not in k or k.startswith("enc2")})


if __name__ == "__main__":
    main()
