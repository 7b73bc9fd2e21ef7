#!/usr/bin/python3
"""Golden files for fovea's metrics packages (testdata/metrics/).

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 scripts/golden_metrics.py seg
    PYTHONPATH=/tmp/cocoapi/PythonAPI /usr/bin/python3 scripts/golden_metrics.py voc coco

* seg  — mmsegmentation's own intersect_and_union / total_area_to_metrics
         (MMSEG_METRICS=path/to/mmseg/core/evaluation/metrics.py) on small random
         PNG label maps, checked against a NumPy port of the same rules.
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
    # mmseg masks only label != ignore_index: a ground-truth label outside [0, C)
    # that is not the ignore index still counts its prediction in the predicted
    # area (torch.histc drops only the out-of-range label itself).
    mask = label != ignore_index
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


def load_mmseg_metrics():
    """mmsegmentation's mmseg/core/evaluation/metrics.py (0.x) from the file named by the
    environment variable MMSEG_METRICS, run as the reference, or None. Its one import
    that is not NumPy or torch, mmcv, is only used to read label files by name, so a
    stub stands in for it. Get the file with
    git clone https://github.com/open-mmlab/mmsegmentation (0.x history)."""
    path = os.environ.get("MMSEG_METRICS")
    if not path:
        print("seg: MMSEG_METRICS not set: writing the NumPy port's numbers only")
        return None
    import importlib.util
    import types
    sys.modules.setdefault("mmcv", types.ModuleType("mmcv"))
    spec = importlib.util.spec_from_file_location("mmseg_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
    mmseg = load_mmseg_metrics()
    cases = []
    for ign, red, nc in ((255, False, C), (255, True, C - 1), (2, False, C), (255, False, 9)):
        tot = [np.zeros(nc, np.int64) for _ in range(4)]
        for gt, pred in pairs:
            for k, v in enumerate(mmseg_intersect_and_union(pred, gt, nc, ign, red)):
                tot[k] += v
        if mmseg is not None:
            # mmsegmentation's own code: its areas must equal the port's, and its
            # ratios are the ones written.
            areas = mmseg.total_intersect_and_union([p for _, p in pairs], [g.copy() for g, _ in pairs], nc, ign,
                                                    reduce_zero_label=red)
            for k in range(4):
                assert np.array_equal(areas[k].numpy().astype(np.int64), tot[k]), (ign, red, nc, k)
            ref = mmseg.total_area_to_metrics(*areas, metrics=["mIoU", "mDice", "mFscore"])
        res = mmseg_metrics(*tot)
        if mmseg is not None:
            for key, ours in (("IoU", "IoU"), ("Acc", "Acc"), ("Dice", "Dice"), ("Fscore", "Fscore"),
                              ("Precision", "Precision"), ("Recall", "Recall")):
                res["per_class"][ours] = nan_to_none(ref[key])
            res["aAcc"] = fnum(ref["aAcc"])
            for mean, key in (("mIoU", "IoU"), ("mAcc", "Acc"), ("mDice", "Dice"), ("mFscore", "Fscore"),
                              ("mPrecision", "Precision"), ("mRecall", "Recall")):
                res[mean] = fnum(np.nanmean(ref[key]))
            res["source"] = "mmsegmentation's total_intersect_and_union + total_area_to_metrics; fwIoU from its areas"
        res.update({"num_classes": nc, "ignore_index": ign, "reduce_zero_label": red})
        cases.append(res)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print("seg: %d cases" % len(cases))


# ------------------------------------------------------------------------- VOC

def voc_ap(rec, prec, use_07_metric):
    """VOCap / the 11-point variant, as py-faster-rcnn's voc_ap."""
    if use_07_metric:
        ap = 0.
        for t in np.arange(0., 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.
        return ap
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def voc_eval_class(recs, dets, classname, ovthresh, use_07_metric):
    """VOCevaldet rules: stable sort, IoU >= threshold, first max on ties."""
    class_recs, npos = {}, 0
    for img, objs in recs.items():
        R = [o for o in objs if o["name"] == classname]
        bbox = np.array([o["bbox"] for o in R], dtype=float).reshape(-1, 4)
        difficult = np.array([o["difficult"] for o in R], dtype=bool)
        npos += int(np.sum(~difficult))
        class_recs[img] = {"bbox": bbox, "difficult": difficult, "det": [False] * len(R)}
    image_ids = [d[0] for d in dets]
    confidence = np.array([d[1] for d in dets], dtype=float)
    BB = np.array([d[2:] for d in dets], dtype=float).reshape(-1, 4)
    order = np.argsort(-confidence, kind="mergesort")
    BB = BB[order]
    image_ids = [image_ids[i] for i in order]
    nd = len(image_ids)
    tp, fp = np.zeros(nd), np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d]
        ovmax, jmax = -np.inf, -1
        for j, g in enumerate(R["bbox"]):
            iw = min(bb[2], g[2]) - max(bb[0], g[0]) + 1.
            ih = min(bb[3], g[3]) - max(bb[1], g[1]) + 1.
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1.) * (bb[3] - bb[1] + 1.) + (g[2] - g[0] + 1.) * (g[3] - g[1] + 1.) - iw * ih
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax >= ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[d] = 1.
                    R["det"][jmax] = True
                else:
                    fp[d] = 1.
        else:
            fp[d] = 1.
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(rec, prec, use_07_metric), rec, prec


def gen_voc():
    rng = np.random.RandomState(11)
    d = os.path.join(OUT, "voc")
    os.makedirs(os.path.join(d, "Annotations"), exist_ok=True)
    os.makedirs(os.path.join(d, "dets"), exist_ok=True)
    classes = ["cat", "dog", "person"]
    recs = {}
    for i in range(12):
        img = "%06d" % (i + 1)
        objs = []
        n = 0 if i == 4 else rng.randint(1, 5)  # image 000005 has no object
        for _ in range(n):
            x0, y0 = rng.randint(1, 300), rng.randint(1, 200)
            objs.append({"name": classes[rng.randint(0, 3)], "difficult": int(rng.rand() < 0.2),
                         "bbox": [x0, y0, x0 + rng.randint(10, 150), y0 + rng.randint(10, 150)]})
        recs[img] = objs
        xml = ["<annotation>", "  <folder>VOC2007</folder>", "  <filename>%s.jpg</filename>" % img,
               "  <size><width>500</width><height>375</height><depth>3</depth></size>"]
        for o in objs:
            xml += ["  <object>", "    <name>%s</name>" % o["name"], "    <pose>Unspecified</pose>",
                    "    <truncated>0</truncated>", "    <difficult>%d</difficult>" % o["difficult"],
                    "    <bndbox>"] + ["      <%s>%d</%s>" % (k, v, k) for k, v in zip(("xmin", "ymin", "xmax", "ymax"), o["bbox"])] + \
                   ["    </bndbox>", "  </object>"]
        xml.append("</annotation>")
        with open(os.path.join(d, "Annotations", img + ".xml"), "w") as f:
            f.write("\n".join(xml) + "\n")
    dets = {c: [] for c in classes}
    for img, objs in recs.items():
        for o in objs:
            for _ in range(rng.randint(0, 3)):  # 0: missed; 2: duplicate
                j = rng.randint(-12, 13, size=4)
                b = [o["bbox"][k] + j[k] for k in range(4)]
                dets[o["name"]].append([img, round(rng.rand(), 1)] + b)  # scores rounded: ties
        for _ in range(rng.randint(0, 3)):  # false positives, some on images without the class
            c = classes[rng.randint(0, 3)]
            x0, y0 = rng.randint(1, 300), rng.randint(1, 200)
            dets[c].append([img, round(rng.rand(), 1), x0, y0, x0 + rng.randint(5, 100), y0 + rng.randint(5, 100)])
    for c in classes:
        with open(os.path.join(d, "dets", c + ".txt"), "w") as f:
            for x in dets[c]:
                f.write("%s %.1f %d %d %d %d\n" % tuple(x))
    cases = []
    for year, thr in ((2007, 0.5), (2012, 0.5), (2012, 0.7), (2007, 0.3)):
        aps, curves = {}, {}
        for c in classes:
            ap, rec, prec = voc_eval_class(recs, dets[c], c, thr, year < 2010)
            aps[c] = float(ap)
            curves[c] = {"recall": rec.tolist(), "precision": prec.tolist()}
        cases.append({"year": year, "iou": thr, "mAP": float(np.mean([aps[c] for c in classes])), "AP": aps,
                      "curves": curves})
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print("voc: %d cases, %d detections" % (len(cases), sum(len(v) for v in dets.values())))


# ------------------------------------------------------------------ COCO masks

def gen_rle():
    from pycocotools import mask as mu
    rng = np.random.RandomState(3)
    out = {"masks": [], "polygons": [], "boxes": [], "merges": [], "ious": []}
    for i in range(6):
        h, w = rng.randint(1, 20), rng.randint(1, 20)
        if i == 0:
            m = np.zeros((h, w), np.uint8)
        elif i == 1:
            m = np.ones((h, w), np.uint8)
        else:
            m = (rng.rand(h, w) < [0.1, 0.5, 0.9, 0.3, 0.7, 0.5][i]).astype(np.uint8)
        r = mu.encode(np.asfortranarray(m))
        out["masks"].append({"h": h, "w": w, "mask": "".join(str(v) for v in m.ravel()),
                             "counts": r["counts"].decode(), "area": int(mu.area(r)),
                             "bbox": mu.toBbox(r).tolist()})
    for i in range(40):
        h, w = rng.randint(5, 60), rng.randint(5, 60)
        k = rng.randint(3, 9)
        pts = rng.uniform(-5, max(h, w) + 5, size=2 * k)
        if i % 5 == 0:
            pts = np.round(pts * 2) / 2  # half-pixel vertices
        if i % 7 == 0:
            pts[2:4] = pts[0:2]  # repeated vertex
        if i % 11 == 0:
            pts = pts * 0.05  # tiny polygon near the origin
        poly = pts.tolist()
        r = mu.frPyObjects([poly], h, w)[0]
        out["polygons"].append({"h": h, "w": w, "xy": poly, "counts": r["counts"].decode(),
                                "area": int(mu.area(r)), "bbox": mu.toBbox(r).tolist()})
    for i in range(10):
        h, w = rng.randint(5, 50), rng.randint(5, 50)
        bb = [rng.uniform(-3, w), rng.uniform(-3, h), rng.uniform(0, w), rng.uniform(0, h)]
        r = mu.frPyObjects(np.array([bb], dtype=np.double), h, w)[0]
        out["boxes"].append({"h": h, "w": w, "bbox_in": bb, "counts": r["counts"].decode()})
    for i in range(8):
        h, w = rng.randint(5, 30), rng.randint(5, 30)
        rs = [mu.encode(np.asfortranarray((rng.rand(h, w) < 0.3).astype(np.uint8))) for _ in range(rng.randint(1, 4))]
        out["merges"].append({"h": h, "w": w, "in": [r["counts"].decode() for r in rs],
                              "union": mu.merge(rs, intersect=0)["counts"].decode(),
                              "intersect": mu.merge(rs, intersect=1)["counts"].decode()})
    for i in range(5):
        h, w = 40, 50
        def blob():
            m = np.zeros((h, w), np.uint8)
            y0, x0 = rng.randint(0, h - 5), rng.randint(0, w - 5)
            m[y0:y0 + rng.randint(3, 25), x0:x0 + rng.randint(3, 25)] = 1
            m[rng.rand(h, w) < 0.02] = 1
            return mu.encode(np.asfortranarray(m))
        dt = [blob() for _ in range(rng.randint(1, 5))]
        gt = [blob() for _ in range(rng.randint(1, 5))]
        crowd = [int(rng.rand() < 0.4) for _ in gt]
        iou = mu.iou(dt, gt, crowd)
        out["ious"].append({"h": h, "w": w, "dt": [r["counts"].decode() for r in dt],
                            "gt": [r["counts"].decode() for r in gt], "iscrowd": crowd,
                            "iou": np.asarray(iou).tolist()})
    os.makedirs(os.path.join(OUT, "rle"), exist_ok=True)
    with open(os.path.join(OUT, "rle", "golden.json"), "w") as f:
        json.dump(out, f)
    print("rle: %d masks, %d polygons" % (len(out["masks"]), len(out["polygons"])))


# ------------------------------------------------------------------------ COCO

def _coco_case(rng, n_images, cat_ids, max_side, dets_per_gt, n_fp, big_image=True, gt_id0=False):
    from pycocotools import mask as mu
    images, anns, res_bbox, res_segm = [], [], [], []
    img_ids = sorted(rng.choice(np.arange(1, 10 * n_images), size=n_images, replace=False).tolist())
    ann_id = 0 if gt_id0 else 1
    gt_cats = cat_ids[:-1]  # the last category has detections but no ground truth
    for ii, img_id in enumerate(img_ids):
        w, h = int(rng.randint(max_side // 2, max_side)), int(rng.randint(max_side // 2, max_side))
        images.append({"id": img_id, "width": w, "height": h, "file_name": "%d.jpg" % img_id})
        if ii == 1:
            continue  # an empty image
        for _ in range(rng.randint(0, 6)):
            c = int(gt_cats[rng.randint(0, len(gt_cats))])  # gt_cats[-1] gets no detections below
            bw, bh = rng.uniform(3, w * 0.8), rng.uniform(3, h * 0.8)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            crowd = int(rng.rand() < 0.1)
            if crowd:
                m = np.zeros((h, w), np.uint8)
                m[int(y):int(y + bh), int(x):int(x + bw)] = 1
                m[rng.rand(h, w) < 0.05] = 0
                r = mu.encode(np.asfortranarray(m))
                counts = []
                # uncompressed RLE, as COCO stores crowd regions
                flat = m.ravel(order="F")
                cur, run = 0, 0
                for v in flat:
                    if v != cur:
                        counts.append(run)
                        cur, run = v, 0
                    run += 1
                counts.append(run)
                segm = {"size": [h, w], "counts": counts}
                area = float(mu.area(r))
            else:
                k = rng.randint(3, 8)
                ang = np.sort(rng.uniform(0, 2 * np.pi, size=k))
                px = x + bw / 2 + np.cos(ang) * bw / 2 * rng.uniform(0.6, 1, size=k)
                py = y + bh / 2 + np.sin(ang) * bh / 2 * rng.uniform(0.6, 1, size=k)
                poly = np.stack([px, py], 1).ravel().round(2).tolist()
                segm = [poly]
                if rng.rand() < 0.2:  # a second part
                    segm.append([x, y, x + 3, y, x + 3, y + 3, x, y + 3])
                area = float(rng.choice([bw * bh * 0.7, 1024.0, 9216.0, bw * bh]))  # hit the range ends
            anns.append({"id": ann_id, "image_id": img_id, "category_id": c, "bbox": [x, y, bw, bh],
                         "area": area, "iscrowd": crowd, "segmentation": segm})
            ann_id += 1
    dets = []  # (result with bbox, polygon for its mask)
    for a in anns:
        if a["category_id"] == gt_cats[-1]:
            continue
        for _ in range(rng.randint(0, dets_per_gt + 1)):
            x, y, bw, bh = a["bbox"]
            j = rng.normal(0, 0.06, size=4) * [bw, bh, bw, bh]
            bb = [x + j[0], y + j[1], max(1.0, bw + j[2]), max(1.0, bh + j[3])]
            if isinstance(a["segmentation"], list):
                poly = (np.array(a["segmentation"][0]).reshape(-1, 2) + j[:2]).ravel().tolist()
            else:
                poly = [bb[0], bb[1], bb[0] + bb[2], bb[1], bb[0] + bb[2], bb[1] + bb[3], bb[0], bb[1] + bb[3]]
            dets.append(({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": bb,
                          "score": round(float(0.3 + 0.7 * rng.rand()), 2)}, poly))
    for im in images:
        for _ in range(rng.randint(0, n_fp + 1)):
            w, h = im["width"], im["height"]
            bw, bh = rng.uniform(2, w / 2), rng.uniform(2, h / 2)
            c = int(cat_ids[rng.randint(0, len(cat_ids))])
            if c == gt_cats[-1]:
                c = cat_ids[-1]
            bb = [rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh]
            dets.append(({"image_id": im["id"], "category_id": c, "bbox": bb,
                          "score": round(float(0.6 * rng.rand()), 2)}, None))
    if big_image:  # more than 100 detections for one image and category
        im = images[0]
        for _ in range(130):
            bb = [rng.uniform(0, im["width"] / 2), rng.uniform(0, im["height"] / 2),
                  rng.uniform(2, im["width"] / 2), rng.uniform(2, im["height"] / 2)]
            dets.append(({"image_id": im["id"], "category_id": int(gt_cats[0]), "bbox": bb,
                          "score": round(float(rng.rand()), 1)}, None))
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    by_id = {i["id"]: i for i in images}
    res_bbox, res_segm = [], []
    for r, poly in dets:
        im = by_id[r["image_id"]]
        x, y, bw, bh = r["bbox"]
        if poly is None:
            poly = [x, y, x + bw, y + bh * 0.2, x + bw * 0.8, y + bh, x + bw * 0.1, y + bh * 0.9]
        rl = mu.merge(mu.frPyObjects([poly], im["height"], im["width"]))
        res_bbox.append(r)
        res_segm.append({"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"],
                         "segmentation": {"size": rl["size"], "counts": rl["counts"].decode()}})
    gt = {"info": {"description": "fovea golden"}, "images": images,
          "categories": [{"id": int(c), "name": "cat%d" % c, "supercategory": "x"} for c in cat_ids],
          "annotations": anns}
    return gt, res_bbox, res_segm


def _run_cocoeval(gt_path, res, iou_type):
    import contextlib
    import io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(res)
        E = COCOeval(gt, dt, iou_type)
        E.evaluate()
        E.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        E.summarize()
    prec = E.eval["precision"]
    per_cat = []
    for k, cid in enumerate(E.params.catIds):
        p = prec[:, :, k, 0, -1]
        p = p[p > -1]
        per_cat.append({"category_id": int(cid), "name": gt.cats[cid]["name"],
                        "AP": float.hex(float(np.mean(p))) if p.size else float.hex(-1.0)})
    sl = prec[:, :, :, 0, -1].ravel()
    vals = sorted(set(sl.tolist()))
    return {"stats": [float.hex(float(v)) for v in E.stats], "summary": buf.getvalue(),
            "per_category": per_cat,
            "recall": [float.hex(float(v)) for v in E.eval["recall"].ravel()],
            "precision_all_100": {"values": [float.hex(v) for v in vals],
                                  "index": [vals.index(v) for v in sl.tolist()]}}


def gen_coco():
    rng = np.random.RandomState(2024)
    d = os.path.join(OUT, "coco")
    os.makedirs(d, exist_ok=True)
    cases = []
    for name, kw in (("small", dict(n_images=14, cat_ids=[1, 2, 5, 9], max_side=120, dets_per_gt=3, n_fp=3, gt_id0=True)),
                     ("medium", dict(n_images=30, cat_ids=[3, 4, 6, 7, 8, 11], max_side=160, dets_per_gt=2, n_fp=6))):
        gt, rb, rs = _coco_case(rng, **kw)
        gt_path = os.path.join(d, name + "_gt.json")
        with open(gt_path, "w") as f:
            json.dump(gt, f, separators=(",", ":"))
        rsb = [dict(r, bbox=b["bbox"]) for r, b in zip(rs, rb)]  # segm results with a bbox
        files = {"bbox": rb, "segm": rs, "segm_bbox": rsb}
        for k, v in files.items():
            with open(os.path.join(d, "%s_res_%s.json" % (name, k)), "w") as f:
                json.dump(v, f, separators=(",", ":"))
        import copy
        for res_name, iou_type in (("bbox", "bbox"), ("segm", "segm"), ("segm_bbox", "segm"), ("segm", "bbox")):
            out = _run_cocoeval(gt_path, copy.deepcopy(files[res_name]), iou_type)
            out.update({"gt": name + "_gt.json", "results": "%s_res_%s.json" % (name, res_name), "iou_type": iou_type})
            if res_name != "bbox":  # keep the fixtures small: full arrays for the two bbox cases
                del out["precision_all_100"]
                del out["recall"]
            cases.append(out)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print("coco: %d cases" % len(cases))


# ----------------------------------------------------------------- numpy bits

def gen_numpy():
    """Constants and reductions whose last bits the Go code must reproduce."""
    rng = np.random.RandomState(7)
    sums = []
    for n in (0, 3, 8, 9, 100, 128, 129, 300, 520):
        x = rng.rand(n) * 10 ** rng.uniform(-3, 3, size=n)
        sums.append({"x": [float.hex(float(v)) for v in x], "sum": float.hex(float(np.sum(x))),
                     "mean": float.hex(float(np.mean(x))) if n else None})
    # long arrays, made from a formula Go can repeat exactly: NumPy sums them
    # in 8192-value buffers, each pairwise
    scales = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
    long_sums = []
    for n in (8192, 8193, 20000, 30001, 80800):
        x = np.array([float((i * 7919) % 10007) / 10007.0 * scales[i % 17] for i in range(n)])
        long_sums.append({"n": n, "sum": float.hex(float(np.sum(x))), "mean": float.hex(float(np.mean(x)))})
    out = {
        "long_sums": long_sums,
        "iouThrs": [float.hex(float(v)) for v in np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)],
        "recThrs": [float.hex(float(v)) for v in np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)],
        "voc07": [float.hex(float(v)) for v in np.arange(0., 1.1, 0.1)],
        "sums": sums,
    }
    with open(os.path.join(OUT, "numpy.json"), "w") as f:
        json.dump(out, f)
    print("numpy: %d sums" % len(sums))


if __name__ == "__main__":
    what = sys.argv[1:] or ["seg", "voc", "coco"]
    for w in what:
        globals()["gen_" + w]()
