#!/usr/bin/python3
"""Train the same Global Convolutional Network as `fovea train` in PyTorch, on the
same data, with the same schedule, for a side-by-side comparison.

Usage (Debian's PyTorch, two threads, OpenBLAS on its AVX-512 kernel):

    go run ./cmd/fovea data export shapes --out /tmp/shapes
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/train_torch.py \
        --data /tmp/shapes --out /tmp/torch-run   # 300 s budget, as fovea train

It prints one line per epoch (train loss, val aAcc/mAcc/mIoU, elapsed seconds) and
writes metrics.json with the final numbers, seconds per epoch and peak memory (RSS).
The architecture mirrors models/gcn: ResNet-18 layout with a width multiplier, a GCN
module (k x 1 then 1 x k, plus 1 x k then k x 1, summed) on each of the four stages,
Boundary Refinement blocks, and a decoder that upsamples x2 and adds the next score map.
"""
import argparse
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, mid, stride):
        super().__init__()
        cout = mid * 4
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + idt)


LAYOUTS = {"resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]), "resnet50": ("bottleneck", [3, 4, 6, 3])}


class Backbone(nn.Module):
    def __init__(self, layout, width):
        super().__init__()
        kind, blocks = LAYOUTS[layout]
        widths = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        self.channels = []
        for i, (c, n) in enumerate(zip(widths, blocks)):
            layer = []
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                if kind == "basic":
                    layer.append(BasicBlock(cin, c, stride))
                    cin = c
                else:
                    layer.append(Bottleneck(cin, c, stride))
                    cin = c * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layer))
            self.channels.append(cin)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4


class GCNModule(nn.Module):
    def __init__(self, cin, nc, k):
        super().__init__()
        p = k // 2
        self.left1 = nn.Conv2d(cin, nc, (k, 1), padding=(p, 0))
        self.left2 = nn.Conv2d(nc, nc, (1, k), padding=(0, p))
        self.right1 = nn.Conv2d(cin, nc, (1, k), padding=(0, p))
        self.right2 = nn.Conv2d(nc, nc, (k, 1), padding=(p, 0))

    def forward(self, x):
        return self.left2(self.left1(x)) + self.right2(self.right1(x))


class BR(nn.Module):
    def __init__(self, nc):
        super().__init__()
        self.conv1 = nn.Conv2d(nc, nc, 3, padding=1)
        self.conv2 = nn.Conv2d(nc, nc, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class Up(nn.Module):
    def __init__(self, nc, kind):
        super().__init__()
        self.kind = kind
        if kind == "deconv":
            self.deconv = nn.ConvTranspose2d(nc, nc, 4, 2, 1)
        elif kind == "pixelshuffle":
            self.conv = nn.Conv2d(nc, nc * 4, 1)

    def forward(self, x):
        if self.kind == "bilinear":
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.kind == "deconv":
            return self.deconv(x)
        return F.pixel_shuffle(self.conv(x), 2)


class GCN(nn.Module):
    def __init__(self, nc, layout="resnet18", width=0.5, k=7, upsampler="bilinear", br=True):
        super().__init__()
        self.backbone = Backbone(layout, width)
        self.gcn = nn.ModuleList([GCNModule(c, nc, k) for c in self.backbone.channels])
        mk = (lambda: BR(nc)) if br else (lambda: nn.Identity())
        self.br_score = nn.ModuleList([mk() for _ in range(4)])
        self.br_merge = nn.ModuleList([mk() for _ in range(3)])
        self.br_final = nn.ModuleList([mk() for _ in range(2)])
        self.up = nn.ModuleList([Up(nc, upsampler) for _ in range(5)])

    def forward(self, x):
        feats = self.backbone(x)
        s = [self.br_score[i](self.gcn[i](f)) for i, f in enumerate(feats)]
        y = s[3]
        for i, j in enumerate((2, 1, 0)):
            y = self.br_merge[i](self.up[i](y) + s[j])
        y = self.br_final[0](self.up[3](y))
        y = self.br_final[1](self.up[4](y))
        return y


def load_split(root, split):
    names = open(os.path.join(root, "ImageSets", "Segmentation", split + ".txt")).read().split()
    imgs, masks = [], []
    for n in names:
        im = Image.open(os.path.join(root, "JPEGImages", n + ".png")) if os.path.exists(os.path.join(root, "JPEGImages", n + ".png")) \
            else Image.open(os.path.join(root, "JPEGImages", n + ".jpg"))
        imgs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        masks.append(np.asarray(Image.open(os.path.join(root, "SegmentationClass", n + ".png")), dtype=np.uint8))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255)
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x.contiguous(), torch.from_numpy(np.stack(masks)).long()


def random_erasing(x, y, g, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
    """torchvision RandomErasing with random-normal fill on a normalised image; labels kept."""
    _, h, w = x.shape
    if torch.rand(1, generator=g).item() >= p:
        return x
    area = h * w
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        ea = area * torch.empty(1).uniform_(scale[0], scale[1], generator=g).item()
        ar = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=g).item())
        eh, ew = int(round(math.sqrt(ea * ar))), int(round(math.sqrt(ea / ar)))
        if not (eh < h and ew < w):
            continue
        i = torch.randint(0, h - eh + 1, (1,), generator=g).item()
        j = torch.randint(0, w - ew + 1, (1,), generator=g).item()
        x = x.clone()
        x[:, i:i + eh, j:j + ew] = torch.randn((3, eh, ew), generator=g)
        return x
    return x


def confusion(pred, gt, nc, ignore=255):
    m = gt != ignore
    return torch.bincount(gt[m] * nc + pred[m], minlength=nc * nc).view(nc, nc).double()


def scores(cm):
    tp = cm.diag()
    gt = cm.sum(1)
    pr = cm.sum(0)
    iou = tp / (gt + pr - tp)
    acc = tp / gt
    freq = gt / gt.sum()
    valid = gt > 0
    return {"aAcc": (tp.sum() / cm.sum()).item(), "mAcc": acc[~acc.isnan()].mean().item(),
            "mIoU": iou[~iou.isnan()].mean().item(), "fwIoU": (freq[valid] * iou[valid]).sum().item()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="/tmp/torch-gcn")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--warmup-epochs", type=float, default=1)
    ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--upsampler", default="bilinear")
    ap.add_argument("--no-br", action="store_true")
    ap.add_argument("--num-classes", type=int, default=7)
    ap.add_argument("--time-budget", type=float, default=300,
                    help="as fovea: after epoch 1, cut the epochs to what fits this many seconds of training (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr = load_split(a.data, "train")
    xva, yva = load_split(a.data, "val")
    model = GCN(a.num_classes, a.backbone, a.width, a.k, a.upsampler, not a.no_br)
    nparams = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0}], lr=a.lr)
    steps_per_epoch = len(xtr) // a.batch
    plan = {"epochs": a.epochs}
    warm = int(a.warmup_epochs * steps_per_epoch)

    def lr_at(step):  # linear warm-up from 0.1*lr, then poly(0.9) to 0
        if step < warm:
            return a.lr * (0.1 + 0.9 * step / warm)
        total = steps_per_epoch * plan["epochs"]
        return a.lr * (1 - min(step - warm, total - warm) / max(1, total - warm)) ** 0.9

    g = torch.Generator().manual_seed(a.seed)
    log = open(os.path.join(a.out, "metrics.jsonl"), "w")
    t0 = time.time()
    step = 0
    epoch_times = []
    last = None
    print("params %d, %d train / %d val images, %d steps/epoch" % (nparams, len(xtr), len(xva), steps_per_epoch), flush=True)
    ep = 0
    while ep < plan["epochs"]:
        te = time.time()
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            x, y = xtr[idx].clone(), ytr[idx].clone()
            flip = torch.rand(len(idx), generator=g) < 0.5
            x[flip] = x[flip].flip(-1)
            y[flip] = y[flip].flip(-1)
            for i in range(len(idx)):
                x[i] = random_erasing(x[i], y[i], g)
            for pg in opt.param_groups:
                pg["lr"] = lr_at(step)
            out = model(x)
            loss = F.cross_entropy(out, y, ignore_index=255)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item()
            step += 1
        train_s = time.time() - te
        epoch_times.append(train_s)
        if ep == 0 and a.time_budget > 0:
            plan["epochs"] = min(a.epochs, max(1, int(0.97 * a.time_budget / train_s)))
            print("time budget %.0f s at %.1f s per epoch: training %d epochs" % (a.time_budget, train_s, plan["epochs"]), flush=True)
        model.eval()
        cm = torch.zeros(a.num_classes, a.num_classes, dtype=torch.float64)
        with torch.no_grad():
            for b in range(0, len(xva), 32):
                pred = model(xva[b:b + 32]).argmax(1)
                cm += confusion(pred.flatten(), yva[b:b + 32].flatten(), a.num_classes)
        s = scores(cm)
        elapsed = time.time() - t0
        last = dict(epoch=ep + 1, loss=tot / steps_per_epoch, elapsed=elapsed, train_elapsed=sum(epoch_times),
                    epoch_train_seconds=train_s, **s)
        log.write(json.dumps(last) + "\n")
        log.flush()
        print("epoch %d loss %.4f aAcc %.4f mAcc %.4f mIoU %.4f fwIoU %.4f  epoch %.1fs elapsed %.1fs" % (
            ep + 1, last["loss"], s["aAcc"], s["mAcc"], s["mIoU"], s["fwIoU"], train_s, elapsed), flush=True)
        ep += 1
        if a.time_budget and sum(epoch_times) >= a.time_budget:
            break
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"val": {k: last[k] for k in ("aAcc", "mAcc", "mIoU", "fwIoU")}, "epochs": last["epoch"],
           "train_seconds": sum(epoch_times), "seconds_per_epoch": float(np.median(epoch_times)),
           "peak_rss_mib": peak, "params": nparams}
    json.dump(res, open(os.path.join(a.out, "metrics.json"), "w"), indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
