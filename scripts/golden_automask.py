#!/usr/bin/python3
"""Golden fixtures for models/sam/automask (testdata/sam/automask_*), made by the real
segment-anything code: SamAutomaticMaskGenerator and the helpers of utils/amg.py.

Run from the repository root with Debian's interpreter (PyTorch, torchvision, and OpenCV
from the python3-opencv package, for remove_small_regions) and a checkout of
facebookresearch/segment-anything (imported from there, never copied here):

    /usr/bin/python3 scripts/golden_automask.py --sam-src /path/to/segment-anything

It writes

  automask_image_big.png    the test image (uint8 RGB, 100×150): a few flat shapes with noise
  automask_image_small.png  the same resized to 36×48
  automask_<case>.json for each case of CASES: the generator's options and its full output
                       on that image with the tiny_win model of scripts/golden_sam.py
                       (testdata/sam/tiny_win.pth), the records in order, segmentations as
                       uncompressed RLE (binary masks are converted; coco_rle output needs
                       pycocotools, so that case records the uncompressed RLE it encodes),
                       and for each record, from the mask's full-size logits: the pixel
                       counts of the stability score ("inter", "union") and the number of
                       logits within 1e-4·max(1, |t|) of each cutoff t ("near0" at the mask
                       threshold 0, "near_hi"/"near_lo" at ±stability_score_offset), which
                       bound the differences a float32 reimplementation may show
  automask_units.json  the amg.py helpers on fixed inputs: point grids, crop boxes,
                       stability scores (with int16 row-count overflow), mask boxes, the
                       crop-edge test, RLE, torch.sort's tie order, torchvision's
                       batched_nms (both of its CPU paths), OpenCV's component labels and
                       remove_small_regions

The random tiny model gives masks spread over the whole image with logits of a few
hundredths, so the cases use small stability offsets, low or no thresholds and NMS
thresholds near 1 to keep a good number of masks. Everything is seeded.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "sam")
NEAR = 1e-4

CASES = {
    # the whole image only, every mask's IoU prediction accepted
    "grid": dict(image="big", points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.2,
                 stability_score_offset=0.01, box_nms_thresh=0.98, output_mode="uncompressed_rle"),
    # one layer of 2×2 crops with half the points per side: on the small image every crop
    # edge is within 20 pixels of an image edge, so crop masks stay and NMS across crops
    # (scores 1/crop area) has work to do
    "crops": dict(image="small", points_per_side=6, points_per_batch=10, pred_iou_thresh=0.1,
                  stability_score_thresh=0.15, stability_score_offset=0.005, box_nms_thresh=0.97,
                  crop_n_layers=1, crop_nms_thresh=0.97, crop_n_points_downscale_factor=2,
                  output_mode="coco_rle"),
    # two layers of crops (2×2 and 4×4) of the small image, uncompressed RLE
    "layers2": dict(image="small", points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.12,
                    stability_score_offset=0.006, box_nms_thresh=0.97, crop_n_layers=2,
                    crop_nms_thresh=0.9, output_mode="uncompressed_rle"),
    # crops of the larger image: the random model's masks span their crop, and the
    # crop-edge filter removes all of them
    "crops_edge": dict(image="big", points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.15,
                       stability_score_offset=0.005, box_nms_thresh=0.97, crop_n_layers=1,
                       crop_nms_thresh=0.8, output_mode="uncompressed_rle"),
    # holes and islands below 40 pixels removed, then NMS again
    "regions": dict(image="big", points_per_side=5, pred_iou_thresh=0.0, stability_score_thresh=0.2,
                    stability_score_offset=0.01, box_nms_thresh=0.98, min_mask_region_area=40,
                    output_mode="binary_mask"),
    # explicit point grids for two layers, odd batches, overlap 0.25, small regions too
    "grids": dict(image="small", points_per_side=None, points_per_batch=7, pred_iou_thresh=0.0,
                  stability_score_thresh=0.1, stability_score_offset=0.008, box_nms_thresh=0.97,
                  crop_n_layers=1, crop_nms_thresh=0.9, crop_overlap_ratio=0.25,
                  min_mask_region_area=6, output_mode="uncompressed_rle"),
    # the defaults (made for a trained ViT-H) keep nothing from a random model
    "defaults": dict(image="big", points_per_side=4),
}


def fl(a):
    """float32 or float64 array values as Python floats (exact in JSON)."""
    return np.asarray(a).astype(np.float64).tolist()


def make_image():
    rng = np.random.default_rng(2024)
    h, w = 100, 150
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.full((h, w, 3), 90.0)
    a[(xx - 40) ** 2 + (yy - 40) ** 2 < 400] = [220, 40, 40]
    a[60:90, 80:140] = [30, 200, 60]
    a[10:30, 100:130] = [250, 250, 20]
    return np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)


def run_cases(sam):
    import segment_anything.automatic_mask_generator as amgen
    from PIL import Image
    from segment_anything.utils.amg import MaskData

    big = make_image()
    small = np.array(Image.fromarray(big).resize((48, 36), Image.BILINEAR))
    images = {"big": big, "small": small}
    for k, v in images.items():
        Image.fromarray(v).save(os.path.join(OUT, "automask_image_" + k + ".png"))
    offset = [1.0]

    class RecordingMaskData(MaskData):
        """MaskData that, when made from mask logits, adds per-mask counts that survive
        every filter and concatenation along with the masks."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            m = kwargs.get("masks")
            if m is not None and m.dtype.is_floating_point:
                off = offset[0]

                def near(t):
                    return ((m - t).abs() <= NEAR * max(1.0, abs(t))).flatten(1).sum(1)

                self["near0"] = near(0.0)
                self["near_hi"] = near(off)
                self["near_lo"] = near(-off)
                self["inter"] = (m > off).flatten(1).sum(1)
                self["union"] = (m > -off).flatten(1).sum(1)

    amgen.MaskData = RecordingMaskData
    rng = np.random.default_rng(5)
    for name, opts in CASES.items():
        opts = dict(opts)
        img = images[opts.pop("image")]
        image_file = "automask_image_" + CASES[name]["image"] + ".png"
        coco = opts.get("output_mode") == "coco_rle"
        run_opts = dict(opts)
        if coco:
            run_opts["output_mode"] = "uncompressed_rle"  # coco_rle would need pycocotools
        if "points_per_side" in opts and opts["points_per_side"] is None:
            grids = [rng.random((23, 2)), rng.random((9, 2))]
            run_opts["point_grids"] = grids
            opts["point_grids"] = [fl(g) for g in grids]
        offset[0] = run_opts.get("stability_score_offset", 1.0)
        gen = amgen.SamAutomaticMaskGenerator(sam, **run_opts)
        captured = []
        inner = gen._generate_masks

        def capture(image, inner=inner, captured=captured):
            d = inner(image)
            captured.append(d)
            return d

        gen._generate_masks = capture
        records = gen.generate(img)
        data = captured[0]
        out = []
        for i, r in enumerate(records):
            seg = r["segmentation"]
            if isinstance(seg, np.ndarray):
                seg = amgen.mask_to_rle_pytorch(torch.as_tensor(seg)[None])[0]
            out.append({
                "segmentation": {"size": [int(v) for v in seg["size"]], "counts": [int(c) for c in seg["counts"]]},
                "area": int(r["area"]),
                "bbox": [float(v) for v in r["bbox"]],
                "predicted_iou": float(r["predicted_iou"]),
                "point_coords": [[float(v) for v in p] for p in r["point_coords"]],
                "stability_score": float(r["stability_score"]),
                "crop_box": [float(v) for v in r["crop_box"]],
                **{k: int(data[k][i]) for k in ["near0", "near_hi", "near_lo", "inter", "union"]},
            })
        full = dict(SamAutomaticMaskGenerator_defaults())
        full.update(opts)
        with open(os.path.join(OUT, "automask_" + name + ".json"), "w") as f:
            json.dump({"image": image_file, "model": "tiny_win", "options": full, "records": out}, f)
        print(name, len(out), "records;", "near-threshold pixels:", sum(o["near0"] for o in out))


def SamAutomaticMaskGenerator_defaults():
    import inspect

    from segment_anything import SamAutomaticMaskGenerator
    sig = inspect.signature(SamAutomaticMaskGenerator.__init__)
    return {k: v.default for k, v in sig.parameters.items() if k not in ("self", "model")}


def units():
    import cv2
    import torchvision
    from segment_anything.utils import amg

    rng = np.random.default_rng(11)
    u = {}
    u["point_grids"] = [{"n": n, "points": fl(amg.build_point_grid(n))} for n in [1, 2, 3, 5, 7, 10, 32]]
    u["layer_grids"] = [{"n": n, "layers": l, "scale": s,
                         "sides": [int(round(len(g) ** 0.5)) for g in amg.build_all_layer_point_grids(n, l, s)]}
                        for n, l, s in [(32, 2, 2), (9, 3, 2), (5, 1, 3), (16, 1, 1), (7, 2, 2)]]
    u["crop_boxes"] = []
    for h, w, l, r in [(100, 150, 1, 512 / 1500), (768, 1024, 2, 512 / 1500), (1080, 1920, 3, 0.3),
                       (45, 70, 1, 512 / 1500), (33, 61, 2, 0.5), (500, 375, 0, 512 / 1500)]:
        boxes, layers = amg.generate_crop_boxes((h, w), l, r)
        u["crop_boxes"].append({"h": h, "w": w, "layers": l, "overlap": r, "boxes": boxes, "layer_idxs": layers})

    stab = []
    for (n, h, w), off in [((3, 17, 23), 1.0), ((2, 9, 31), 0.05), ((2, 12, 12), 0.3)]:
        m = torch.randn(n, h, w) * 1.5
        s = amg.calculate_stability_score(m, 0.0, off)
        stab.append({"h": h, "w": w, "offset": off, "threshold": 0.0, "logits": fl(m.flatten(1)), "scores": fl(s)})
    # rows longer than 32767 pixels wrap around in the reference's int16 row counts
    u["stability"] = stab
    # Rows longer than 32767 pixels wrap around in the reference's int16 row counts:
    # row 0 has 35000 logits of 5 and 5000 of 0.5, row 1 1000 of 5 and 39000 of −5.
    m = torch.full((1, 2, 40000), -5.0)
    m[0, 0, :35000] = 5.0
    m[0, 0, 35000:] = 0.5
    m[0, 1, :1000] = 5.0
    u["stability_wrap"] = fl(amg.calculate_stability_score(m, 0.0, 1.0))

    masks = torch.as_tensor(rng.random((6, 13, 17)) < 0.08)
    masks[2] = False
    masks[4] = True
    u["mask_boxes"] = {"h": 13, "w": 17, "masks": masks.flatten(1).int().tolist(),
                       "boxes": amg.batched_mask_to_box(masks).tolist()}

    edge = []
    for crop, orig in [([0, 0, 150, 100], [0, 0, 150, 100]), ([58, 33, 150, 100], [0, 0, 150, 100]),
                       ([0, 0, 92, 67], [0, 0, 150, 100])]:
        cw, ch = crop[2] - crop[0], crop[3] - crop[1]
        boxes = []
        for _ in range(40):
            x0, x1 = sorted(rng.integers(0, cw, 2).tolist())
            y0, y1 = sorted(rng.integers(0, ch, 2).tolist())
            boxes.append([x0, y0, x1, y1])
        near = amg.is_box_near_crop_edge(torch.tensor(boxes), crop, orig)
        edge.append({"crop": crop, "orig": orig, "boxes": boxes, "near": near.tolist()})
    u["edge"] = edge

    rles = []
    for h, w, p in [(7, 5, 0.5), (10, 13, 0.2), (4, 4, 0.0), (3, 6, 1.0), (16, 9, 0.9)]:
        m = torch.as_tensor(rng.random((h, w)) < p)
        r = amg.mask_to_rle_pytorch(m[None])[0]
        assert (amg.rle_to_mask(r) == m.numpy()).all()
        rles.append({"mask": m.flatten().int().tolist(), "size": r["size"], "counts": r["counts"],
                     "area": int(amg.area_from_rle(r))})
    u["rle"] = rles

    sorts = []
    for n, k in [(10, 2), (17, 3), (100, 4), (1200, 3), (2000, 5), (40, 40)]:
        s = torch.as_tensor(rng.integers(0, k, n).astype(np.float32))
        sorts.append({"values": s.int().tolist(), "order": s.sort(descending=True)[1].tolist()})
    u["sort_desc"] = sorts

    nms = []

    def nms_case(n, cats, ties, thresh, ints=True, extra=None):
        xy = rng.integers(0, 200, (n, 2)) if ints else rng.integers(0, 1600, (n, 2)) / 8
        wh = rng.integers(0, 60, (n, 2)) if ints else rng.integers(0, 480, (n, 2)) / 8
        boxes = torch.as_tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
        if extra is not None:
            boxes[: len(extra)] = torch.as_tensor(extra, dtype=torch.float32)
        if ties:
            scores = torch.as_tensor(rng.integers(0, ties, n).astype(np.float32))
        else:
            scores = torch.as_tensor((rng.random(n) * 1000).astype(np.int64).astype(np.float32) / 1024)
        idxs = torch.as_tensor(rng.integers(0, cats, n))
        keep = torchvision.ops.batched_nms(boxes, scores, idxs, thresh)
        nms.append({"boxes": boxes.int().tolist() if ints and extra is None else fl(boxes), "scores": fl(scores), "idxs": idxs.tolist(), "thresh": thresh,
                    "keep": keep.tolist()})

    nms_case(300, 1, 0, 0.5)
    nms_case(300, 1, 3, 0.3)
    nms_case(200, 1, 0, 0.7, ints=False)
    nms_case(150, 3, 0, 0.6, ints=False)
    nms_case(60, 1, 2, 0.5, extra=[[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10.5]])
    nms_case(1100, 1, 4, 0.5)   # above 1000 boxes torchvision runs per category and sorts unstably
    nms_case(1050, 3, 3, 0.4)
    nms_case(1100, 1, 0, 0.7)
    u["nms"] = nms

    # OpenCV's component labels (8-connectivity) and remove_small_regions.
    labels = []
    for h, w, p in [(37, 53, 0.35), (40, 40, 0.5), (70, 60, 0.45), (9, 200, 0.4), (200, 7, 0.5)]:
        m = (rng.random((h, w)) < p).astype(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, 8)
        labels.append({"h": h, "w": w, "mask": m.flatten().tolist(), "labels": lab.flatten().tolist(),
                       "areas": stats[1:, -1].tolist()})
    u["components"] = labels

    regions = []

    def region_case(m, thresh):
        for mode in ["holes", "islands"]:
            out, changed = amg.remove_small_regions(m.astype(bool), thresh, mode)
            regions.append({"h": m.shape[0], "w": m.shape[1], "mask": m.astype(int).flatten().tolist(),
                            "thresh": thresh, "mode": mode, "out": out.astype(int).flatten().tolist(),
                            "changed": bool(changed)})

    a = np.zeros((20, 24), np.uint8)
    a[2:18, 2:14] = 1
    a[5:8, 5:8] = 0      # a 9-pixel hole
    a[12:16, 4:12] = 0   # a 32-pixel hole
    a[3:5, 18:20] = 1    # a 4-pixel island
    a[10:16, 17:22] = 1  # a 30-pixel island
    a[19, 23] = 1        # a corner pixel, diagonal-free
    region_case(a, 10)
    region_case(a, 31)
    region_case(a, 100)
    b = np.zeros((12, 12), np.uint8)  # equal islands, all small: the first (OpenCV order) stays
    b[1:3, 8:10] = 1
    b[2:4, 1:3] = 1
    b[8:10, 5:7] = 1
    region_case(b, 10)
    c = np.zeros((10, 10), np.uint8)  # diagonal contact joins with 8-connectivity
    c[2, 2] = c[3, 3] = c[4, 4] = 1
    c[7, 1] = 1
    region_case(c, 2)
    region_case(c, 4)
    region_case(np.zeros((6, 7), np.uint8), 5)
    region_case(np.ones((6, 7), np.uint8), 5)
    for h, w, p in [(30, 40, 0.6), (25, 25, 0.3)]:
        region_case((rng.random((h, w)) < p).astype(np.uint8), 4)
    u["regions"] = regions

    with open(os.path.join(OUT, "automask_units.json"), "w") as f:
        json.dump(u, f)
    print("units:", {k: len(v) for k, v in u.items()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam-src", required=True, help="a checkout of facebookresearch/segment-anything")
    args = ap.parse_args()
    sys.path.insert(0, args.sam_src)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import golden_sam

    torch.manual_seed(0)
    sam = golden_sam.build(golden_sam.CASES["tiny_win"])
    sam.load_state_dict(torch.load(os.path.join(OUT, "tiny_win.pth")))
    run_cases(sam)
    units()


if __name__ == "__main__":
    main()
