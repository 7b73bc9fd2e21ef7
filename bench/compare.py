#!/usr/bin/python3
"""Side-by-side speed of `fovea bench` against PyTorch (and NumPy for GEMM).

Run from anywhere, with Debian's Python (PyTorch 1.13 and NumPy):

    /usr/bin/python3 bench/compare.py                 # every case, 2 threads, + 1-thread GEMM
    /usr/bin/python3 bench/compare.py 'gemm-*' --rounds 3
    /usr/bin/python3 bench/compare.py --fovea ./fovea --repeat 20 --min-time 2
    /usr/bin/python3 bench/compare.py --sam-src ~/src/segment-anything 'sam-*'
    /usr/bin/python3 bench/compare.py --sam-src SA --mobilesam-src MOBILESAM \
        --warmup 0 --repeat 1 --min-time 0 --rounds 1 '*-auto-*' 'sam-vitb-grid-*'

It runs the cases of `fovea bench` (bench/cases) in PyTorch and NumPy under
the same names and the same timing rule (warm-up runs, then at least
--repeat timed runs adding up to at least --min-time seconds; the median),
and `fovea bench --json` on the same cases in the same run, alternating the
two sides case by case (and their order round by round) so that drift in
the machine's load hits both alike. It prints a Markdown table with the
ratio fovea/PyTorch for each case and the issue's target for it.

The Python side:
  - OpenBLAS is used as Debian ships it, without OPENBLAS_CORETYPE and
    OPENBLAS_L2_SIZE (the script starts itself again without them if they
    are set, since OpenBLAS reads them when it loads), so it picks its own
    kernel for this CPU (printed in the header);
  - torch.set_num_threads(T) sets the OpenMP threads (oneDNN convolutions,
    upsampling), and openblas_set_num_threads(T) the threads of the OpenBLAS
    that torch.mm and NumPy share (torch's setting does not reach it);
  - GEMM is torch.mm(a, b, out=c) and np.matmul(a, b, out=c) on float32;
    fwd cases run on tensors that do not require grad; fwdbwd cases set
    x.grad = w.grad = None, run the forward pass and y.backward(ones) with
    x and the weights requiring grad (fwdbwdw cases: the weights only), as
    `fovea bench` does with ZeroGrad and BackwardWith;
  - the sam-* cases run segment-anything's own code (build_sam_vit_b(),
    random weights, .eval(), torch.no_grad()) from a checkout given by
    --sam-src DIR or $FOVEA_SAM_SRC (the folder holding segment_anything/,
    put first on sys.path); without either they are skipped with a note.
    The mobilesam-* cases run ChaoningZhang/MobileSAM's code (build_sam_vit_t())
    the same way from --mobilesam-src DIR or $FOVEA_MOBILESAM_SRC (the folder
    holding mobile_sam/; a stand-in for the three timm helpers it imports is
    used when timm is not installed, as in scripts/golden_mobilesam.py). The
    *-auto-* cases run SamAutomaticMaskGenerator.generate on a random
    1024x768 image, encoder included; they take minutes a run in PyTorch, so
    give them --warmup 0 --repeat 1 --min-time 0 (and --rounds 1 on a busy day).
"""
import os
import sys

# OpenBLAS reads these when it loads: start again without them, before
# NumPy or torch is imported.
_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(k in os.environ for k in _UNSET):
    _env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    os.execve(sys.executable, [sys.executable] + sys.argv, _env)

import argparse  # noqa: E402
import ctypes  # noqa: E402
import datetime  # noqa: E402
import fnmatch  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


# ---------------------------------------------------------------------------
# The cases, as in bench/cases/cases.go. Each setup returns (run, flops) for
# one side ("torch" or "numpy"), or None where that side has no such case.

def uniform(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1


def gemm(m, k, n):
    def setup(side):
        a, b = uniform((m, k), 1), uniform((k, n), 2)
        flops = 2.0 * m * n * k
        if side == "torch":
            c = torch.empty(m, n)
            return (lambda: torch.mm(a, b, out=c)), flops
        an, bn = a.numpy().copy(), b.numpy().copy()
        cn = np.empty((m, n), np.float32)
        return (lambda: np.matmul(an, bn, out=cn)), flops
    return setup


def conv(n, h, w, layers, backward, input_grad=True):
    """layers: (cin, cout, kh, kw, stride, (padH, padW)) applied in turn;
    input_grad=False: backward into the weights only (x does not require grad)."""
    def setup(side):
        if side != "torch":
            return None
        x = uniform((n, layers[0][0], h, w), 1)
        ws = [uniform((co, ci, kh, kw), 2 + i) for i, (ci, co, kh, kw, _, _) in enumerate(layers)]
        flops, work, hh, ww = 0.0, 0.0, h, w
        for i, (ci, co, kh, kw, s, (ph, pw)) in enumerate(layers):
            oh, ow = (hh + 2 * ph - kh) // s + 1, (ww + 2 * pw - kw) // s + 1
            f = 2.0 * n * co * oh * ow * ci * kh * kw
            flops += f
            # backward: the weight gradient, and the input gradient unless
            # this is the first layer and x does not require grad
            work += f * (3 if input_grad or i > 0 else 2)
            hh, ww = oh, ow

        def forward():
            y = x
            for wt, (_, _, _, _, s, p) in zip(ws, layers):
                y = F.conv2d(y, wt, None, s, p)
            return y

        if not backward:
            return forward, flops
        x.requires_grad_(input_grad)
        for wt in ws:
            wt.requires_grad_(True)
        ones = torch.ones_like(forward().detach())

        def run():
            x.grad = None
            for wt in ws:
                wt.grad = None
            forward().backward(ones)
        return run, work
    return setup


def bilinear(side):
    if side != "torch":
        return None
    x = uniform((8, 64, 64, 64), 1)
    return (lambda: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)), 0.0


def pixelshuffle(side):
    if side != "torch":
        return None
    x = uniform((8, 64, 64, 64), 1)
    # .contiguous() is a no-op when pixel_shuffle already returns a
    # contiguous tensor, and makes sure the data moves as fovea's does.
    return (lambda: F.pixel_shuffle(x, 2).contiguous()), 0.0


# ---------------------------------------------------------------------------
# Segment Anything (bench/cases/sam.go), on segment-anything's own code, which is
# not installed here: main() puts --sam-src / $FOVEA_SAM_SRC on sys.path, or
# leaves these cases out when neither is given.

SAM_SRC = None  # the folder holding segment_anything/, set by main()
_sam_model = None


def sam_vit_b():
    """segment-anything's vit_b with random weights (no checkpoint), in eval mode."""
    global _sam_model
    if _sam_model is None:
        from segment_anything import build_sam_vit_b
        torch.manual_seed(0)
        _sam_model = build_sam_vit_b().eval()
    return _sam_model


def sam_encoder_flops(grid=64, width=768, mlp=3072, depth=12, global_idx=(2, 5, 8, 11),
                      window=14, patch=16, out=256):
    """Matmul/conv FLOPs of the image encoder, as samEncoderFlops in bench/cases/sam.go."""
    t = grid * grid
    total = 2.0 * t * width * 3 * patch * patch + 2.0 * t * out * width + 2.0 * t * out * out * 9
    for i in range(depth):
        if i in global_idx:
            tw, keys, side = t, t, grid
        else:
            n = -(-grid // window)
            tw, keys, side = n * n * window * window, window * window, window
        total += 2.0 * tw * width * 3 * width + 2.0 * tw * width * width  # qkv, proj
        total += 2.0 * 2 * tw * keys * width  # QK^T, PV
        total += 2.0 * 2 * tw * side * width  # decomposed relative positions
        total += 2.0 * 2 * t * width * mlp  # MLP
    return total


def sam_encoder(side):
    if side != "torch":
        return None
    sam = sam_vit_b()
    x = uniform((1, 3, 1024, 1024), 1)

    def run():
        with torch.no_grad():
            return sam.image_encoder(x)
    return run, sam_encoder_flops()


def sam_prompt_decoder(side):
    """One positive point, as SamPredictor.predict_torch: prompt encoder, then the mask
    decoder with get_dense_pe() and multimask_output=True, to low-res logits."""
    if side != "torch":
        return None
    sam = sam_vit_b()
    emb = uniform((1, 256, 64, 64), 1)
    coords = torch.tensor([[[500.0, 375.0]]])
    labels = torch.tensor([[1]], dtype=torch.int)

    def run():
        with torch.no_grad():
            sparse, dense = sam.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            return sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                    multimask_output=True)
    return run, 0.0


MOBILESAM_SRC = None  # the folder holding mobile_sam/, set by main()
_mobilesam_model = None


def mobilesam_vit_t():
    """MobileSAM's vit_t with random weights (no checkpoint), in eval mode."""
    global _mobilesam_model
    if _mobilesam_model is None:
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        from golden_mobilesam import add_timm
        add_timm(None)
        from mobile_sam import build_sam_vit_t
        torch.manual_seed(0)
        _mobilesam_model = build_sam_vit_t().eval()
    return _mobilesam_model


def mobilesam_encoder(side):
    if side != "torch":
        return None
    sam = mobilesam_vit_t()
    x = uniform((1, 3, 1024, 1024), 1)

    def run():
        with torch.no_grad():
            return sam.image_encoder(x)
    return run, 0.0


AUTO_H, AUTO_W = 768, 1024  # the *-auto-* image: 1024 wide, 768 high


def sam_grid_decoder(side):
    """The generator's decoder work for one image, as SamAutomaticMaskGenerator._process_batch
    calls predict_torch: a 32x32 grid over a 1024x768 image, batches of 64 points
    (apply_coords, one positive label each), prompt encoder and mask decoder with
    multimask_output=True against a fixed embedding, to low-res logits. predict_torch's
    postprocess_masks (upscaling to the image) is left out, as fovea's DecodePoints leaves
    it out: the *-auto-* cases time it."""
    if side != "torch":
        return None
    sam = sam_vit_b()
    from segment_anything.utils.amg import build_point_grid
    from segment_anything.utils.transforms import ResizeLongestSide
    emb = uniform((1, 256, 64, 64), 1)
    points = build_point_grid(32) * np.array([[AUTO_W, AUTO_H]])
    transform = ResizeLongestSide(1024)

    def run():
        with torch.no_grad():
            pe = sam.prompt_encoder.get_dense_pe()
            for i in range(0, len(points), 64):
                p = torch.as_tensor(transform.apply_coords(points[i:i + 64], (AUTO_H, AUTO_W)), dtype=torch.float)
                labels = torch.ones(p.shape[0], dtype=torch.int)
                sparse, dense = sam.prompt_encoder(points=(p[:, None, :], labels[:, None]), boxes=None, masks=None)
                sam.mask_decoder(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                                 dense_prompt_embeddings=dense, multimask_output=True)
    return run, 0.0


def auto(kind, keep_all=False):
    """SamAutomaticMaskGenerator(model, defaults).generate(image) on a random 1024x768 RGB
    image (vit_b from segment_anything, vit_t from mobile_sam's own copy of the generator);
    keep_all sets pred_iou_thresh and stability_score_thresh to 0 (no filter)."""
    def setup(side):
        if side != "torch":
            return None
        if kind == "vit_b":
            from segment_anything import SamAutomaticMaskGenerator
            model = sam_vit_b()
        else:
            model = mobilesam_vit_t()
            from mobile_sam import SamAutomaticMaskGenerator
        kw = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0} if keep_all else {}
        gen = SamAutomaticMaskGenerator(model, **kw)
        img = np.random.default_rng(1).integers(0, 256, (AUTO_H, AUTO_W, 3), dtype=np.uint8)
        return (lambda: gen.generate(img)), 0.0
    return setup


CASES = {
    "gemm-1024": gemm(1024, 1024, 1024),
    "gemm-2048": gemm(2048, 2048, 2048),
    "gemm-4096x576x64": gemm(4096, 576, 64),
    "conv3x3-n8-c64-56-fwd": conv(8, 56, 56, [(64, 64, 3, 3, 1, (1, 1))], False),
    "conv3x3-n8-c64-56-fwdbwd": conv(8, 56, 56, [(64, 64, 3, 3, 1, (1, 1))], True),
    "conv3x3s2-n8-c3to32-128-fwd": conv(8, 128, 128, [(3, 32, 3, 3, 2, (1, 1))], False),
    "conv3x3s2-n8-c3to32-128-fwdbwd": conv(8, 128, 128, [(3, 32, 3, 3, 2, (1, 1))], True),
    "conv3x3s2-n8-c3to32-128-fwdbwdw": conv(8, 128, 128, [(3, 32, 3, 3, 2, (1, 1))], True, input_grad=False),
    "gcn-k15-n8-c256to21-32-fwdbwd": conv(8, 32, 32, [(256, 21, 15, 1, 1, (7, 0)),
                                                      (21, 21, 1, 15, 1, (0, 7))], True),
    "bilinear2x-n8-c64-64-fwd": bilinear,
    "pixelshuffle2-n8-c64-64-fwd": pixelshuffle,
    "sam-vitb-encoder-1024": sam_encoder,
    "sam-vitb-prompt-decoder": sam_prompt_decoder,
    "sam-vitb-grid-decoder-32": sam_grid_decoder,
    "sam-vitb-auto-1024x768": auto("vit_b"),
    "mobilesam-encoder-1024": mobilesam_encoder,
    "mobilesam-auto-1024x768": auto("vit_t"),
    "mobilesam-auto-1024x768-keepall": auto("vit_t", keep_all=True),
}

def target(name):
    """The issue's target as (max ratio fovea time / reference time, words)."""
    if name in ("gemm-1024", "gemm-2048"):
        return 1 / 0.9, "≥ 0.9× OpenBLAS GFLOP/s"
    if name.startswith(("sam-", "mobilesam-")):
        return 1.0, "≤ 1.0× time"
    if name.startswith("gemm-"):
        return None, ""
    if name.startswith(("conv", "gcn")):
        return 1.1, "≤ 1.1× time"
    return 1.0, "≤ 1.0× time"


# ---------------------------------------------------------------------------
# Timing: the rule of bench/cases.Measure.

def measure(run, warmup, repeat, min_time, stat="median"):
    for _ in range(warmup):
        run()
    gc.collect()
    times, total = [], 0.0
    while len(times) < repeat or total < min_time:
        t0 = time.perf_counter()
        run()
        d = time.perf_counter() - t0
        times.append(d)
        total += d
    return (min(times) if stat == "min" else statistics.median(times)) * 1e3


def openblas():
    """The OpenBLAS that NumPy and torch.mm share, via ctypes."""
    np.matmul(np.ones((8, 8), np.float32), np.ones((8, 8), np.float32))
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "libopenblas" in line})
    if not paths:
        return None
    lib = ctypes.CDLL(paths[0])
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return lib


def set_threads(n, blas):
    torch.set_num_threads(n)
    if blas is not None:
        blas.openblas_set_num_threads(n)


def cpu_model():
    """/proc/cpuinfo's model name with its family and model numbers."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


def torch_conv_path():
    """Which ATen convolution runs a small float32 conv (oneDNN or not)."""
    x, w = torch.rand(8, 64, 16, 16), torch.rand(64, 64, 3, 3)
    with torch.autograd.profiler.profile() as prof:
        F.conv2d(x, w, None, 1, 1)
    names = {e.name for e in prof.function_events}
    for n in ("aten::mkldnn_convolution", "aten::_slow_conv2d_forward", "aten::thnn_conv2d"):
        if n in names:
            return n
    return ", ".join(sorted(n for n in names if "conv" in n))


# ---------------------------------------------------------------------------

def run_fovea(exe, name, threads, args):
    cmd = [exe, "bench", "--json", "--threads", str(threads), "--repeat", str(args.repeat),
           "--warmup", str(args.warmup), "--min-time", f"{args.min_time}s", name]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed:\n{p.stderr}")
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    if len(lines) != 1 or lines[0].get("case") != name:
        sys.exit(f"compare.py: {' '.join(cmd)}: expected one JSON line for {name}, got:\n{p.stdout}")
    return lines[0]


def build_fovea(tmp):
    exe = os.path.join(tmp, "fovea")
    print(f"building {exe} from {ROOT} ...", file=sys.stderr)
    subprocess.run(["go", "build", "-o", exe, "./cmd/fovea"], cwd=ROOT, check=True)
    return exe


def check_case_lists(exe):
    """Warns when `fovea bench --list` and CASES name different cases."""
    p = subprocess.run([exe, "bench", "--list"], capture_output=True, text=True)
    theirs = {line.split()[0] for line in p.stdout.splitlines() if line.strip()}
    if p.returncode == 0 and theirs != set(CASES):
        print(f"warning: cases only in fovea: {sorted(theirs - set(CASES))}, "
              f"only in compare.py: {sorted(set(CASES) - theirs)}", file=sys.stderr)


def measure_case(exe, name, threads, args, blas):
    """Median-of-rounds times (ms) of fovea, torch and numpy for one case."""
    setups = {side: CASES[name](side) for side in ("torch", "numpy")}
    flops = setups["torch"][1]
    res = {"fovea": [], "torch": [], "numpy": []}
    fovea_line = None
    for r in range(args.rounds):
        order = ["fovea", "torch", "numpy"]
        if r % 2 == 1:
            order.reverse()
        for side in order:
            if side == "fovea":
                fovea_line = run_fovea(exe, name, threads, args)
                res["fovea"].append(fovea_line["ms_" + args.stat])
            elif setups[side] is not None:
                set_threads(threads, blas)
                res[side].append(measure(setups[side][0], args.warmup, args.repeat, args.min_time, args.stat))
    # fovea's flop count must be the same as ours.
    if flops and fovea_line.get("gflops"):
        theirs = fovea_line["gflops"] * fovea_line["ms_median"] * 1e6
        if abs(theirs - flops) > 0.01 * flops:
            print(f"warning: {name}: fovea counts {theirs:.4g} flops, compare.py {flops:.4g}", file=sys.stderr)
    return res, flops, fovea_line


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def gf(flops, ms):
    return None if not flops or ms is None else flops / (ms * 1e-3) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="case names or globs (default: all)")
    ap.add_argument("--fovea", help="a built fovea binary (default: go build ./cmd/fovea into a temporary folder)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--no-single", action="store_true", help="skip the 1-thread GEMM rows")
    ap.add_argument("--repeat", type=int, default=10, help="least number of timed runs per case and side (default 10)")
    ap.add_argument("--min-time", type=float, default=1.0, help="least seconds of timed runs per case and side (default 1)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="time of one round and side: the median of its runs (default, the issue's rule) or the "
                         "fastest run (less sensitive to other load on a shared machine)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate fovea and Python this many times per case, order flipped each round; "
                         "the median of the rounds' medians is reported (default 3)")
    ap.add_argument("--sam-src", default=os.environ.get("FOVEA_SAM_SRC"), metavar="DIR",
                    help="a checkout of facebookresearch/segment-anything (the folder holding segment_anything/) "
                         "for the sam-* cases (default: $FOVEA_SAM_SRC; without either they are skipped)")
    ap.add_argument("--mobilesam-src", default=os.environ.get("FOVEA_MOBILESAM_SRC"), metavar="DIR",
                    help="a checkout of ChaoningZhang/MobileSAM (the folder holding mobile_sam/) for the mobilesam-* "
                         "cases (default: $FOVEA_MOBILESAM_SRC; without either they are skipped)")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON object per line (a header, then one per row) instead of Markdown")
    args = ap.parse_args()
    if args.repeat < 1 or args.rounds < 1 or args.threads < 1 or args.warmup < 0 or args.min_time < 0:
        ap.error("--repeat, --rounds and --threads must be ≥ 1; --warmup and --min-time ≥ 0")

    names = list(CASES)
    if args.cases:
        chosen = set()
        for pat in args.cases:
            hit = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hit:
                ap.error(f"unknown case {pat!r}; known cases: {', '.join(names)}")
            chosen.update(hit)
        names = [n for n in names if n in chosen]
    global SAM_SRC
    sam_names = [n for n in names if n.startswith("sam-")]
    if sam_names and not args.sam_src:
        note = "compare.py: skipping the sam-* cases: give --sam-src DIR or FOVEA_SAM_SRC (a segment-anything checkout)"
        names = [n for n in names if n not in sam_names]
        if not names:
            sys.exit(note)
        print(note, file=sys.stderr)
    elif sam_names:
        SAM_SRC = os.path.abspath(args.sam_src)
        if not os.path.isfile(os.path.join(SAM_SRC, "segment_anything", "__init__.py")):
            ap.error(f"--sam-src {args.sam_src}: no segment_anything/__init__.py there")
        sys.path.insert(0, SAM_SRC)
    global MOBILESAM_SRC
    mobile_names = [n for n in names if n.startswith("mobilesam-")]
    if mobile_names and not args.mobilesam_src:
        note = "compare.py: skipping the mobilesam-* cases: give --mobilesam-src DIR or FOVEA_MOBILESAM_SRC (a MobileSAM checkout)"
        names = [n for n in names if n not in mobile_names]
        if not names:
            sys.exit(note)
        print(note, file=sys.stderr)
    elif mobile_names:
        MOBILESAM_SRC = os.path.abspath(args.mobilesam_src)
        if not os.path.isfile(os.path.join(MOBILESAM_SRC, "mobile_sam", "__init__.py")):
            ap.error(f"--mobilesam-src {args.mobilesam_src}: no mobile_sam/__init__.py there")
        sys.path.insert(0, MOBILESAM_SRC)
    runs = [(n, args.threads) for n in names]
    if not args.no_single and args.threads != 1:
        runs += [(n, 1) for n in names if n.startswith("gemm-")]

    blas = openblas()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.abspath(args.fovea) if args.fovea else build_fovea(tmp)
        check_case_lists(exe)
        load0 = os.getloadavg()
        t0 = time.time()
        rows = []
        for name, threads in runs:
            print(f"{name} ({threads} thr) ...", file=sys.stderr, flush=True)
            res, flops, line = measure_case(exe, name, threads, args, blas)
            rows.append((name, threads, res, flops, line))
        load1 = os.getloadavg()
        elapsed = time.time() - t0

    kernel = rows[0][4]["kernel"] if rows else "?"
    corename = blas.openblas_get_corename().decode() if blas else "not found"
    blasconf = blas.openblas_get_config().decode() if blas else ""
    header = {
        "date": datetime.date.today().isoformat(), "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
        "fovea_kernel": kernel, "torch": torch.__version__, "torch_conv": torch_conv_path(),
        "numpy": np.__version__, "openblas_core": corename, "openblas_config": blasconf,
        "warmup": args.warmup, "repeat": args.repeat, "stat": args.stat, "min_time_s": args.min_time,
        "rounds": args.rounds, "sam_src": SAM_SRC, "mobilesam_src": MOBILESAM_SRC,
        "seconds": round(elapsed), "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in load1],
    }
    table = []
    for name, threads, res, flops, line in rows:
        med = {k: statistics.median(v) if v else None for k, v in res.items()}
        f, t, n = med["fovea"], med["torch"], med["numpy"]
        limit, words = target(name)
        met = None
        if limit is not None:
            ref = min(x for x in (t, n) if x is not None) if name.startswith("gemm-") else t
            met = f / ref <= limit
        table.append({
            "case": name, "threads": threads, "fovea_ms": f, "torch_ms": t, "numpy_ms": n, "ratio": f / t,
            "fovea_gflops": gf(flops, f), "torch_gflops": gf(flops, t), "numpy_gflops": gf(flops, n),
            "target": words, "met": met, "over_by": None if limit is None else f / ref / limit,
            "rounds_ms": res,
        })
    if args.json:
        def rounded(v):
            if isinstance(v, float):
                return round(v, 4)
            if isinstance(v, dict):
                return {k: rounded(x) for k, x in v.items()}
            if isinstance(v, list):
                return [rounded(x) for x in v]
            return v
        print(json.dumps(header))
        for r in table:
            print(json.dumps(rounded(r)))
        return

    print(f"## fovea vs PyTorch — {header['date']}\n")
    print(f"- CPU: {header['cpu']} ({header['logical_cpus']} logical CPUs); fovea kernel `{kernel}`")
    print(f"- PyTorch {torch.__version__} (conv: `{header['torch_conv']}`), NumPy {np.__version__}, "
          f"OpenBLAS core `{corename}` ({blasconf})")
    if SAM_SRC:
        print(f"- segment-anything from {SAM_SRC} (vit_b, random weights, eval, no_grad)")
    if MOBILESAM_SRC:
        print(f"- MobileSAM from {MOBILESAM_SRC} (vit_t, random weights, eval, no_grad)")
    print(f"- timing: {args.warmup} warm-up run(s), then ≥ {args.repeat} runs and ≥ {args.min_time:g} s, {args.stat}; "
          f"median of {args.rounds} round(s) alternating the sides; {elapsed:.0f} s in all")
    print(f"- load average (1, 5, 15 min): {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} before, "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} after\n")
    print("| case | thr | fovea ms | PyTorch ms | fovea/PyTorch | fovea GFLOP/s | PyTorch GFLOP/s "
          "| NumPy ms | NumPy GFLOP/s | target | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in table:
        met = "" if r["met"] is None else "yes" if r["met"] else f"no (×{r['over_by']:.2f})"
        print(f"| {r['case']} | {r['threads']} | {r['fovea_ms']:.3f} | {r['torch_ms']:.3f} | {r['ratio']:.2f} | "
              f"{fmt(r['fovea_gflops'], '.1f')} | {fmt(r['torch_gflops'], '.1f')} | {fmt(r['numpy_ms'], '.3f')} | "
              f"{fmt(r['numpy_gflops'], '.1f')} | {r['target']} | {met} |")
    print("\nratio = fovea time / PyTorch time (below 1: fovea is faster). GEMM targets compare with the faster "
          "of torch.mm and NumPy (both OpenBLAS); a missed target shows by how much fovea's time exceeds it.")

if __name__ == "__main__":
    main()
