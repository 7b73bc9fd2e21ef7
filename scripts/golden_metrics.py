#!/usr/bin/python3
"""Golden files for fovea's metrics packages (testdata/metrics/).

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 scripts/golden_metrics.py seg
    PYTHONPATH=/tmp/cocoapi/PythonAPI /usr/bin/python3 scripts/golden_metrics.py voc coco

* seg  — a NumPy reference of mmsegmentation's evaluation semantics
         (intersect_and_union + total_area_to_metrics, bincount-based) on small
         random PNG label maps.
* voc  — a NumPy port of the PASCAL VOC devkit's VOCevaldet/VOCap rules.
* coco — pycocotools (built locally from the public cocoapi sources; patch
         np.float -> float in cocoeval.py for NumPy >= 1.24). Only the data it
         produces is committed, none of its code.

Everything is seeded, so rerunning reproduces the same files.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "metrics")


def nan_to_none(a):
    return [None if np.isnan(v) else float(v) for v in a]


def fnum(v):
    return None if np.isnan(v) else float(v)


# ---------------------------------------------------------------- segmentation

def mmseg_intersect_and_union(pred, label, num_classes, ignore_index, reduce_zero_label):
    """mmseg.core.evaluation.metrics.intersect_and_union, in NumPy int64."""
    label = label.astype(np.int64).copy()
    pred = pred.astype(np.int64)
    if reduce_zero_label:
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    # mmseg masks only label != ignore_index; the issue asks that ground-truth
    # labels outside [0, C) be ignored too (mmseg would still count their
    # predictions in the predicted area). Identical when the GT holds only
    # classes and the ignore index.
    mask = (label != ignore_index) & (label >= 0) & (label < num_classes)
    pred = pred[mask]
    label = label[mask]
    inter = pred[pred == label]

    def histc(x):  # torch.histc(x, bins=C, min=0, max=C-1) on integer values
        x = x[(x >= 0) & (x < num_classes)]
        return np.bincount(x, minlength=num_classes).astype(np.int64)

    ai, ap, al = histc(inter), histc(pred), histc(label)
    return ai, ap + al - ai, ap, al


def mmseg_metrics(ai, au, ap, al):
    """total_area_to_metrics for mIoU, mDice, mFscore (beta 1), in float64."""
    with np.errstate(divide="ignore", invalid="ignore"):
        aacc = ai.sum() / al.sum()
        iou = ai / au
        acc = ai / al
        dice = 2 * ai / (ap + al)
        prec = ai / ap
        rec = ai / al
        f = np.array([(1 + 1 ** 2) * (p * r) / ((1 ** 2 * p) + r) for p, r in zip(prec, rec)])
        freq = al / al.sum()
        fw = (freq[freq > 0] * iou[freq > 0]).sum()
    return {
        "aAcc": fnum(aacc), "mAcc": fnum(np.nanmean(acc)), "mIoU": fnum(np.nanmean(iou)),
        "fwIoU": fnum(fw), "mDice": fnum(np.nanmean(dice)),
        "mPrecision": fnum(np.nanmean(prec)), "mRecall": fnum(np.nanmean(rec)), "mFscore": fnum(np.nanmean(f)),
        "per_class": {"IoU": nan_to_none(iou), "Acc": nan_to_none(acc), "Dice": nan_to_none(dice),
                      "Precision": nan_to_none(prec), "Recall": nan_to_none(rec), "Fscore": nan_to_none(f)},
        "area": {"intersect": ai.tolist(), "union": au.tolist(), "pred": ap.tolist(), "label": al.tolist()},
    }


def gen_seg():
    from PIL import Image
    import warnings
    warnings.filterwarnings("ignore")
    rng = np.random.RandomState(5)
    d = os.path.join(OUT, "seg")
    os.makedirs(os.path.join(d, "gt"), exist_ok=True)
    os.makedirs(os.path.join(d, "pred"), exist_ok=True)
    C = 6
    pairs = []
    for i in range(4):
        h, w = 24 + 4 * i, 32 - 2 * i
        gt = rng.randint(0, C, size=(h, w)).astype(np.uint8)
        # blocky regions make label maps look like label maps
        gt[: h // 2, : w // 3] = 0
        gt[h // 3:, w // 2:] = (i + 1) % C
        gt[rng.rand(h, w) < 0.05] = 255  # ignore
        if i == 3:
            gt[gt == 5] = 4  # class 5 absent from the GT of this image
        pred = gt.copy()
        flip = rng.rand(h, w) < 0.3
        pred[flip] = rng.randint(0, C, size=flip.sum())
        pred[gt == 255] = rng.randint(0, C, size=(gt == 255).sum())
        pred[rng.rand(h, w) < 0.01] = 7  # out of range prediction
        pred[rng.rand(h, w) < 0.01] = 255
        name = "img%d.png" % i
        if i % 2 == 0:
            Image.fromarray(gt, mode="L").save(os.path.join(d, "gt", name))
            Image.fromarray(pred, mode="L").save(os.path.join(d, "pred", name))
        else:
            pal = sum(([k * 40 % 256, k * 90 % 256, k * 20 % 256] for k in range(256)), [])
            for arr, sub in ((gt, "gt"), (pred, "pred")):
                im = Image.fromarray(arr, mode="P")
                im.putpalette(pal)
                im.save(os.path.join(d, sub, name))
        pairs.append((gt, pred))
    cases = []
    for ign, red, nc in ((255, False, C), (255, True, C - 1), (2, False, C), (255, False, 9)):
        tot = [np.zeros(nc, np.int64) for _ in range(4)]
        for gt, pred in pairs:
            for k, v in enumerate(mmseg_intersect_and_union(pred, gt, nc, ign, red)):
                tot[k] += v
        res = mmseg_metrics(*tot)
        res.update({"num_classes": nc, "ignore_index": ign, "reduce_zero_label": red})
        cases.append(res)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print("seg: %d cases" % len(cases))


if __name__ == "__main__":
    what = sys.argv[1:] or ["seg", "voc", "coco"]
    for w in what:
        globals()["gen_" + w]()
