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


if __name__ == "__main__":
    for what in sys.argv[1:] or ["seg", "coco"]:
        globals()["bench_" + what]()
