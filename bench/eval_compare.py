#!/usr/bin/python3
"""Side-by-side speed of fovea's metrics against the Python reference tools.

Run from the repository root (the Python side single-process, as the tools are):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/eval_compare.py seg
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=/tmp/cocoapi/PythonAPI \
        /usr/bin/python3 bench/eval_compare.py coco

seg:  the confusion-matrix update of metrics/seg against NumPy's bincount
      approach (FCN's fast_hist, what mmsegmentation-style code does) on the
      same label maps.
coco: `fovea eval coco` (JSON loading included) against pycocotools'
      COCO() + loadRes + evaluate + accumulate + summarize on a synthetic
      COCO-val-sized case (5,000 images, 80 categories, 100 detections per
      image), generated into /tmp (never committed).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TMP = os.environ.get("FOVEA_BENCH_TMP", "/tmp/fovea_eval_bench")


def blocky_maps(rng, n, h, w, c):
    """Label maps made of rectangles, with 10% noise in the prediction."""
    gts, preds = [], []
    for _ in range(n):
        gt = np.zeros((h, w), np.uint8)
        for _ in range(30):
            y0, x0 = rng.randint(0, h), rng.randint(0, w)
            gt[y0:y0 + rng.randint(8, h // 2), x0:x0 + rng.randint(8, w // 2)] = rng.randint(0, c)
        gt[rng.rand(h, w) < 0.02] = 255
        pred = gt.copy()
        noise = rng.rand(h, w) < 0.1
        pred[noise] = rng.randint(0, c, size=noise.sum())
        pred[gt == 255] = rng.randint(0, c, size=(gt == 255).sum())
        gts.append(gt)
        preds.append(pred)
    return gts, preds


def fast_hist(a, b, n):
    k = (a >= 0) & (a < n)
    return np.bincount(n * a[k].astype(int) + b[k], minlength=n ** 2).reshape(n, n)


def bench_seg():
    n, h, w, c, reps = 50, 512, 512, 21, 5
    rng = np.random.RandomState(0)
    gts, preds = blocky_maps(rng, n, h, w, c)
    os.makedirs(TMP, exist_ok=True)
    path = os.path.join(TMP, "seg_maps.bin")
    with open(path, "wb") as f:
        for g, p in zip(gts, preds):
            f.write(g.tobytes())
            f.write(p.tobytes())
    best = 1e9
    for _ in range(reps):
        t0 = time.perf_counter()
        hist = np.zeros((c, c), np.int64)
        for g, p in zip(gts, preds):
            hist += fast_hist(g.ravel(), p.ravel(), c)
        best = min(best, time.perf_counter() - t0)
    subprocess.run(["go", "build", "-o", os.path.join(TMP, "eval_seg"), "./bench/eval_seg"], cwd=ROOT, check=True)
    out = subprocess.run([os.path.join(TMP, "eval_seg"), path, str(n), str(h), str(w), str(c), str(reps)],
                         check=True, capture_output=True, text=True).stdout.split()
    go_s, go_sum = float(out[0]), int(out[1])
    assert go_sum == int(hist.sum()), (go_sum, int(hist.sum()))
    mp = n * h * w / 1e6
    print("confusion update, %d maps %dx%d, C=%d (best of %d)" % (n, h, w, c, reps))
    print("  numpy bincount: %.4f s  (%.0f Mpx/s)" % (best, mp / best))
    print("  fovea seg:      %.4f s  (%.0f Mpx/s)" % (go_s, mp / go_s))
    print("  ratio numpy/fovea: %.1fx" % (best / go_s))


def coco_val_sized(path_gt, path_dt, n_images=5000, n_cats=80, dets_per_image=100, seed=0):
    """A synthetic COCO-val-sized case: ~7.3 objects per image (36k in all),
    100 detections per image (500k), boxes and scores as float32 values the
    way detectors write them."""
    rng = np.random.RandomState(seed)
    images, anns, dets = [], [], []
    cat_ids = sorted(rng.choice(np.arange(1, 91), size=n_cats, replace=False).tolist())
    aid = 1
    for i in range(n_images):
        img_id = int(i * 7 + 1)
        w, h = int(rng.randint(300, 641)), int(rng.randint(300, 641))
        images.append({"id": img_id, "width": w, "height": h, "file_name": "%012d.jpg" % img_id})
        n_obj = rng.poisson(7.3)
        objs = []
        for _ in range(n_obj):
            bw = float(np.exp(rng.uniform(np.log(4), np.log(w * 0.9))))
            bh = float(np.exp(rng.uniform(np.log(4), np.log(h * 0.9))))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            c = int(cat_ids[rng.randint(0, n_cats)])
            crowd = int(rng.rand() < 0.01)
            anns.append({"id": aid, "image_id": img_id, "category_id": c, "bbox": [x, y, bw, bh],
                         "area": bw * bh * 0.8, "iscrowd": crowd, "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]})
            objs.append((c, x, y, bw, bh))
            aid += 1
        k = 0
        for (c, x, y, bw, bh) in objs:  # detections near each object
            for _ in range(rng.randint(1, 4)):
                if k >= dets_per_image:
                    break
                j = rng.normal(0, 0.08, size=4)
                bb = np.array([x + j[0] * bw, y + j[1] * bh, bw * (1 + j[2]), bh * (1 + j[3])], np.float32)
                dets.append({"image_id": img_id, "category_id": c, "bbox": bb.tolist(),
                             "score": float(np.float32(rng.uniform(0.3, 1)))})
                k += 1
        while k < dets_per_image:  # background detections
            bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
            bb = np.array([rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh], np.float32)
            dets.append({"image_id": img_id, "category_id": int(cat_ids[rng.randint(0, n_cats)]),
                         "bbox": bb.tolist(), "score": float(np.float32(rng.uniform(0, 0.7)))})
            k += 1
    gt = {"info": {}, "licenses": [], "images": images,
          "categories": [{"id": c, "name": "class%d" % c, "supercategory": "x"} for c in cat_ids],
          "annotations": anns}
    with open(path_gt, "w") as f:
        json.dump(gt, f)
    with open(path_dt, "w") as f:
        json.dump(dets, f)
    return len(anns), len(dets)


def bench_coco():
    import contextlib
    import io
    os.makedirs(TMP, exist_ok=True)
    gt_path, dt_path = os.path.join(TMP, "coco_gt.json"), os.path.join(TMP, "coco_dt.json")
    if not (os.path.exists(gt_path) and os.path.exists(dt_path)):
        n_gt, n_dt = coco_val_sized(gt_path, dt_path)
    else:
        n_gt, n_dt = len(json.load(open(gt_path))["annotations"]), len(json.load(open(dt_path)))
    print("COCO-val-sized case: %d images, 80 categories, %d objects, %d detections (%.0f MB of results)"
          % (5000, n_gt, n_dt, os.path.getsize(dt_path) / 1e6))
    fovea = os.path.join(TMP, "fovea")
    subprocess.run(["go", "build", "-o", fovea, "./cmd/fovea"], cwd=ROOT, check=True)
    go_times, go_out = [], ""
    for _ in range(3):
        t0 = time.perf_counter()
        go_out = subprocess.run([fovea, "eval", "coco", "--gt", gt_path, "--dt", dt_path, "--iou-type", "bbox"],
                                check=True, capture_output=True, text=True).stdout
        go_times.append(time.perf_counter() - t0)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        E = COCOeval(gt, dt, "bbox")
        E.evaluate()
        E.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        E.summarize()
    py_s = time.perf_counter() - t0
    same = buf.getvalue() == go_out
    js = os.path.join(TMP, "fovea_coco.json")
    subprocess.run([fovea, "eval", "coco", "--gt", gt_path, "--dt", dt_path, "--iou-type", "bbox", "--json", js],
                   check=True, capture_output=True)
    fo = json.load(open(js))
    bits = [float(v) for v in E.stats] == fo["stats"]
    per_cat = []
    for k, cid in enumerate(E.params.catIds):
        pk = E.eval["precision"][:, :, k, 0, -1]
        pk = pk[pk > -1]
        per_cat.append(float(np.mean(pk)) if pk.size else -1.0)
    bits_cat = per_cat == [c["AP"] for c in fo["per_category"]]
    print("  pycocotools load+evaluate+accumulate+summarize: %.2f s" % py_s)
    print("  fovea eval coco (whole run, JSON loading included): %s s, best %.2f s"
          % (" ".join("%.2f" % t for t in go_times), min(go_times)))
    print("  ratio pycocotools/fovea: %.1fx (median run: %.1fx)" % (py_s / min(go_times), py_s / sorted(go_times)[1]))
    print("  summaries identical: %s; 12 stats bit-identical: %s; per-category AP bit-identical: %s" % (same, bits, bits_cat))
    if not same:
        print(buf.getvalue())
        print(go_out)


if __name__ == "__main__":
    for what in sys.argv[1:] or ["seg", "coco"]:
        globals()["bench_" + what]()
