#!/usr/bin/python3
"""Golden fixtures for models/sam/samtrain (testdata/samtrain/).

Run from the repository root with Debian's interpreter (PyTorch 1.13, torchvision 0.14)
and a checkout of facebookresearch/segment-anything (imported from there, never copied):

    /usr/bin/python3 scripts/golden_samtrain.py --sam-src /path/to/segment-anything

It writes

  losses.safetensors  x (4, 6, 5) logits, y targets (0/1, one soft row);
                      focal (4): torchvision.ops.sigmoid_focal_loss(x, y, 0.25, 2, "none")
                      averaged over each mask's pixels, focal_grad: d sum(focal) / dx;
                      dice (4): 1 - (2 sum(p y) + 1) / (sum p + sum y + 1) with p = sigmoid(x)
                      (DETR's dice_loss, the smoothing SAM-style training uses), dice_grad.
  step_model.pth      a tiny SAM (testdata/sam/tiny_win.json) with the reference's own
                      initialisation, the weights of the step below
  step.safetensors    one training step of SAM's recipe on step_model.pth, computed in
                      float64 (PyTorch's float32 step is compared with it and reported): an
                      image (3, 64, 48) 0..255, three instance masks (3, 64, 48), first
                      prompts (instance 0: one point, 1: a box, 2: one point), one round of
                      given corrective clicks, one mask-only round; loss and the gradient
                      of every parameter (grad.<name>).

The step is computed with segment-anything's own modules (image encoder, prompt encoder,
mask decoder) exactly as samtrain.ImageLoss documents it.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "samtrain")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_sam import CASES, build, write_st  # noqa: E402


def focal(x, y):
    return torchvision.ops.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2, reduction="none").flatten(1).mean(1)


def dice(x, y):
    p = x.sigmoid().flatten(1)
    y = y.flatten(1)
    return 1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)


def losses():
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(4, 6, 5, generator=g) * 3).requires_grad_(True)
    y = (torch.rand(4, 6, 5, generator=g) > 0.5).float()
    y[3] = torch.rand(6, 5, generator=g)  # soft targets
    out = {"x": x.detach(), "y": y}
    f = focal(x, y)
    (gf,) = torch.autograd.grad(f.sum(), x)
    d = dice(x, y)
    (gd,) = torch.autograd.grad(d.sum(), x)
    out.update(focal=f.detach(), focal_grad=gf, dice=d.detach(), dice_grad=gd)
    write_st(os.path.join(OUT, "losses.safetensors"), {k: v.numpy() for k, v in out.items()})


def step(dtype, sam=None):
    """Runs the step in dtype (on sam if given, else on step_model.pth); returns the
    fixture's tensors."""
    cfg = CASES["tiny_win"]
    if sam is None:
        sam = load_step_model(dtype)
    sam.zero_grad(set_to_none=True)
    return run_step(sam, cfg, dtype)


def load_step_model(dtype):
    cfg = CASES["tiny_win"]
    sam = build(cfg)
    sam.load_state_dict(torch.load(os.path.join(OUT, "step_model.pth")))
    sam.train()
    sam.to(dtype)
    if dtype != torch.float32:
        # The reference encodes positions in float32 whatever the model's dtype (it casts
        # the coordinates): keep that layer in float32 and widen its results.
        pel = sam.prompt_encoder.pe_layer
        pel.float()
        fwd, fwc = pel.forward, pel.forward_with_coords
        pel.forward = lambda size: fwd(size).to(dtype)
        pel.forward_with_coords = lambda c, size: fwc(c, size).to(dtype)
    return sam


def run_step(sam, cfg, dtype):
    S = cfg["image_size"]
    h, w = 64, 48
    rng = np.random.default_rng(3)
    image = torch.tensor(rng.integers(0, 256, size=(3, h, w)).astype(np.float32)).to(dtype)
    yy, xx = np.mgrid[0:h, 0:w]
    masks = np.stack([
        (xx - 15) ** 2 + (yy - 20) ** 2 <= 9 ** 2,
        (xx >= 25) & (xx <= 44) & (yy >= 30) & (yy <= 55),
        (xx >= 4) & (xx <= 20) & (yy >= 40) & (yy <= 60) & (xx + yy >= 50),
    ]).astype(np.float32)
    gt = torch.tensor(masks).to(dtype)
    first_points = {0: [[15.0, 20.0]], 2: [[12.0, 50.0]]}
    first_box = {1: [23.0, 28.0, 46.0, 57.0]}
    clicks = np.array([[6.0, 20.0, 1], [30.0, 33.0, 0], [18.0, 58.0, 1]], dtype=np.float32)
    weights = dict(focal=20.0, dice=1.0, iou=1.0)

    emb = sam.image_encoder(sam.preprocess(image[None]))
    pe = sam.prompt_encoder.get_dense_pe()
    prompts = {i: dict(points=list(first_points.get(i, [])), labels=[1] * len(first_points.get(i, [])),
                       box=first_box.get(i)) for i in range(3)}
    groups = [[0, 2], [1]]  # points only, then boxes (samtrain's order)
    prev = [None] * 3
    nr = 3
    total = 0
    for rnd in range(nr):
        if rnd == 1:
            for i in range(3):
                prompts[i]["points"].append([float(clicks[i, 0]), float(clicks[i, 1])])
                prompts[i]["labels"].append(int(clicks[i, 2]))
        round_loss = 0
        for g in groups:
            p0 = prompts[g[0]]
            multimask = rnd == 0 and p0["box"] is None and len(p0["points"]) == 1
            pts = None
            if p0["points"]:
                pts = (torch.tensor([prompts[i]["points"] for i in g], dtype=dtype), torch.tensor([prompts[i]["labels"] for i in g]))
            boxes = torch.tensor([prompts[i]["box"] for i in g], dtype=dtype) if p0["box"] is not None else None
            mi = torch.cat([prev[i] for i in g]) if rnd > 0 else None
            sparse, dense = sam.prompt_encoder(points=pts, boxes=boxes, masks=mi)
            low, iou = sam.mask_decoder(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                                        dense_prompt_embeddings=dense, multimask_output=multimask)
            b, k = low.shape[:2]
            up = F.interpolate(low, (S, S), mode="bilinear", align_corners=False)[..., :h, :w]
            up = up.reshape(b * k, h, w)
            target = gt[g].repeat_interleave(k, 0)
            per = weights["focal"] * focal(up, target) + weights["dice"] * dice(up, target)
            with torch.no_grad():
                pm = up > 0
                tm = target > 0.5
                inter = (pm & tm).flatten(1).sum(1).to(dtype)
                union = (pm | tm).flatten(1).sum(1).to(dtype)
                true_iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
            per2 = per.reshape(b, k)
            chosen = per2.detach().argmin(1)
            mask_loss = per2.gather(1, chosen[:, None]).mean()
            loss = mask_loss + weights["iou"] * F.mse_loss(iou.reshape(b * k), true_iou)
            round_loss = round_loss + loss * len(g) / 3
            for j, i in enumerate(g):
                prev[i] = low[j:j + 1, chosen[j]:chosen[j] + 1].detach().clone()
        total = total + round_loss
    total = total / nr
    total.backward()
    out = {"image": image, "masks": gt, "clicks": torch.tensor(clicks), "loss": total.detach().reshape(1)}
    for name, p in sam.named_parameters():
        if p.grad is None:
            raise SystemExit("no gradient for " + name)
        out["grad." + name] = p.grad
    return {k: v.detach().double().numpy() for k, v in out.items()}


def step_model():
    """The tiny_win architecture with segment-anything's own initialisation (seeded),
    plus small random position tables (zero at initialisation in the reference): a
    well-conditioned model, as in training, unlike the fixtures of testdata/sam whose
    large random weights make float32 gradients noisy (PyTorch's own float32 step is
    ~3e-3 from float64 there)."""
    torch.manual_seed(14)
    sam = build(CASES["tiny_win"])
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if "rel_pos" in name or "pos_embed" in name:
                p.normal_(0, 0.02)
    torch.save(sam.state_dict(), os.path.join(OUT, "step_model.pth"))


def step_fixture():
    """The step in float64 (the reference the Go test compares with) and in float32
    (to report how far PyTorch's own float32 step is from it)."""
    ref = step(torch.float64)
    f32 = step(torch.float32)
    worst = 0.0
    for k, v in ref.items():
        if k.startswith("grad.") and ".k_proj.bias" not in k:
            scale = max(np.abs(v).max(), 1e-300)
            e = (np.abs(f32[k] - v) / np.maximum(np.abs(v), 1e-2 * scale)).max()
            worst = max(worst, e)
    print("step loss %.9g (float32 %.9g); PyTorch float32 gradients vs float64: max rel err %.3g"
          % (ref["loss"][0], f32["loss"][0], worst))
    write_st(os.path.join(OUT, "step.safetensors"), ref)


def bench(n):
    """Times the fixture's step (forward and backward, float32) in PyTorch: the twin of
    BenchmarkGoldenStep in models/sam/samtrain. Run with 2 threads and without the
    OpenBLAS overrides, as the project's speed comparisons:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/golden_samtrain.py --sam-src DIR --bench 20"""
    import time
    torch.set_num_threads(2)
    sam = load_step_model(torch.float32)
    step(torch.float32, sam)  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step(torch.float32, sam)
        times.append(time.perf_counter() - t0)
    times.sort()
    print("PyTorch golden step: median %.2f ms over %d runs (min %.2f)" % (1e3 * times[len(times) // 2], n, 1e3 * times[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam-src", required=True, help="checkout of facebookresearch/segment-anything")
    ap.add_argument("--bench", type=int, default=0, help="time the step this many times instead of writing fixtures")
    args = ap.parse_args()
    sys.path.insert(0, args.sam_src)
    if args.bench:
        bench(args.bench)
        return
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    losses()
    step_model()
    step_fixture()


if __name__ == "__main__":
    main()
