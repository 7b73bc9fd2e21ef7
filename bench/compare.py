#!/usr/bin/python3
"""Side-by-side speed of `fovea bench` and PyTorch/NumPy on the same cases.

Run from the repository root with Debian's Python (python3-torch, NumPy):

    /usr/bin/python3 bench/compare.py [--threads 2] [--rounds 3] [CASE ...]

It builds ./cmd/fovea, then for each round and each case runs the PyTorch
(or, for GEMM, NumPy/OpenBLAS) version in this process and `fovea bench
--json CASE` right after it, so both see the same machine load. Each side
uses fovea's timing rule (2 warm-up runs, then at least 10 timed runs adding
up to at least 1 s, median); the table shows the median over rounds and the
ratio fovea/PyTorch of the times (below 1: fovea is faster).

OpenBLAS is used as installed: the script re-executes itself without
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the environment and with
OPENBLAS_NUM_THREADS set to --threads, and PyTorch runs with
torch.set_num_threads(--threads). NumPy must be linked to OpenBLAS
(Debian: apt-get install libopenblas0-pthread) for the GEMM rows to mean
anything; the script prints which BLAS NumPy loaded.
"""

import argparse
import fnmatch
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [
    "gemm-1024",
    "gemm-2048",
    "gemm-4096x576x64",
    "conv3x3-n8-c64-56-fwd",
    "conv3x3-n8-c64-56-fwdbwd",
    "conv3x3s2-n8-c3to32-128-fwd",
    "gcn-k15-n8-c256to21-32-fwdbwd",
    "bilinear2x-n8-c64-64-fwd",
    "pixelshuffle2-n8-c64-64-fwd",
]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="case names or globs (default: all)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (default 3)")
    ap.add_argument("--min-time", type=float, default=1.0, help="least seconds of timed runs per case and side")
    ap.add_argument("--repeat", type=int, default=10, help="least timed runs per case and side")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    ap.add_argument("--fovea", default="", help="a built fovea binary (default: go build ./cmd/fovea)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per case instead of a table")
    return ap.parse_args()


def clean_env_and_reexec(threads):
    """Re-executes the script with OpenBLAS's environment as the comparison needs it."""
    want = str(threads)
    if (
        "OPENBLAS_CORETYPE" in os.environ
        or "OPENBLAS_L2_SIZE" in os.environ
        or os.environ.get("OPENBLAS_NUM_THREADS") != want
        or os.environ.get("OMP_NUM_THREADS") != want
    ):
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        env["OPENBLAS_NUM_THREADS"] = want
        env["OMP_NUM_THREADS"] = want
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def measure(run, warmup, repeat, min_time):
    """fovea's timing rule: warm-up, then runs until both minimums are met; median in ms."""
    for _ in range(warmup):
        run()
    times = []
    total = 0.0
    while len(times) < repeat or total < min_time:
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return statistics.median(times) * 1e3


def python_cases(torch, np):
    """Returns {case: (label, flops or None, setup)} where setup() returns the function to time."""
    F = torch.nn.functional

    def gemm(m, k, n):
        def setup():
            rng = np.random.default_rng(1)
            a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
            b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            return lambda: np.matmul(a, b, out=c)

        return ("NumPy", 2.0 * m * n * k, setup)

    def conv(layers, n, c, h, w, backward):
        # layers: list of (cin, cout, (kh, kw), stride, pad)
        flops = 0.0
        hh, ww = h, w
        for cin, cout, (kh, kw), s, p in layers:
            oh = (hh + 2 * p[0] - kh) // s + 1
            ow = (ww + 2 * p[1] - kw) // s + 1
            flops += 2.0 * n * cout * oh * ow * cin * kh * kw
            hh, ww = oh, ow
        if backward:
            flops *= 3

        def setup():
            g = torch.Generator().manual_seed(1)
            x = torch.rand(n, c, h, w, generator=g) * 2 - 1
            ws = [torch.rand(cout, cin, kh, kw, generator=g) * 2 - 1 for cin, cout, (kh, kw), _, _ in layers]
            if backward:
                x.requires_grad_()
                for t in ws:
                    t.requires_grad_()

            def forward():
                y = x
                for (_, _, _, s, p), t in zip(layers, ws):
                    y = F.conv2d(y, t, None, s, p)
                return y

            if not backward:
                def run():
                    with torch.no_grad():
                        forward()
                return run
            ones = torch.ones_like(forward().detach())

            def run():
                x.grad = None
                for t in ws:
                    t.grad = None
                forward().backward(ones)
            return run

        return ("PyTorch", flops, setup)

    def upsample(kind):
        def setup():
            g = torch.Generator().manual_seed(1)
            x = torch.rand(8, 64, 64, 64, generator=g) * 2 - 1
            if kind == "bilinear":
                f = lambda: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            else:
                f = lambda: F.pixel_shuffle(x, 2)

            def run():
                with torch.no_grad():
                    f()
            return run

        return ("PyTorch", None, setup)

    return {
        "gemm-1024": gemm(1024, 1024, 1024),
        "gemm-2048": gemm(2048, 2048, 2048),
        "gemm-4096x576x64": gemm(4096, 576, 64),
        "conv3x3-n8-c64-56-fwd": conv([(64, 64, (3, 3), 1, (1, 1))], 8, 64, 56, 56, False),
        "conv3x3-n8-c64-56-fwdbwd": conv([(64, 64, (3, 3), 1, (1, 1))], 8, 64, 56, 56, True),
        "conv3x3s2-n8-c3to32-128-fwd": conv([(3, 32, (3, 3), 2, (1, 1))], 8, 3, 128, 128, False),
        "gcn-k15-n8-c256to21-32-fwdbwd": conv(
            [(256, 21, (15, 1), 1, (7, 0)), (21, 21, (1, 15), 1, (0, 7))], 8, 256, 32, 32, True),
        "bilinear2x-n8-c64-64-fwd": upsample("bilinear"),
        "pixelshuffle2-n8-c64-64-fwd": upsample("pixelshuffle"),
    }


def build_fovea(repo):
    out = os.path.join(tempfile.mkdtemp(prefix="fovea-compare-"), "fovea")
    subprocess.run(["go", "build", "-o", out, "./cmd/fovea"], cwd=repo, check=True)
    return out


def run_fovea(binary, case, args):
    cmd = [binary, "bench", "--json", "--threads", str(args.threads), "--warmup", str(args.warmup),
           "--repeat", str(args.repeat), "--min-time", f"{args.min_time}s", case]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("case") == case:
                return rec
    raise RuntimeError(f"fovea bench printed no JSON line for {case}: {out!r}")


def blas_name(np):
    try:
        cfg = np.show_config(mode="dicts")
        return cfg["Build Dependencies"]["blas"]["name"]
    except Exception:
        pass
    try:
        maps = open("/proc/self/maps").read()
        for name in ("openblas", "blis", "mkl", "libblas"):
            if name in maps:
                return name
    except OSError:
        pass
    return "unknown"


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    args = parse_args()
    clean_env_and_reexec(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    selected = CASES
    if args.cases:
        selected = [c for c in CASES if any(fnmatch.fnmatch(c, p) for p in args.cases)]
        if not selected:
            sys.exit(f"compare.py: no case matches {args.cases}; cases are {', '.join(CASES)}")
    binary = args.fovea or build_fovea(repo)
    pycases = python_cases(torch, np)

    # Warm the BLAS library once so its thread start-up is not timed.
    np.ones((64, 64), np.float32) @ np.ones((64, 64), np.float32)
    py_ms = {c: [] for c in selected}
    fv_ms = {c: [] for c in selected}
    fv_rec = {}
    for _ in range(args.rounds):
        for case in selected:
            _, _, setup = pycases[case]
            run = setup()
            py_ms[case].append(measure(run, args.warmup, args.repeat, args.min_time))
            del run
            rec = run_fovea(binary, case, args)
            fv_ms[case].append(rec["ms_median"])
            fv_rec[case] = rec

    rows = []
    for case in selected:
        label, flops, _ = pycases[case]
        p = statistics.median(py_ms[case])
        f = statistics.median(fv_ms[case])
        row = {
            "case": case, "reference": label, "ref_ms": round(p, 3), "fovea_ms": round(f, 3),
            "ratio": round(f / p, 3),
            "ref_spread_ms": [round(min(py_ms[case]), 3), round(max(py_ms[case]), 3)],
            "fovea_spread_ms": [round(min(fv_ms[case]), 3), round(max(fv_ms[case]), 3)],
        }
        if flops:
            row["ref_gflops"] = round(flops / (p / 1e3) / 1e9, 1)
            row["fovea_gflops"] = round(flops / (f / 1e3) / 1e9, 1)
        rows.append(row)

    kernel = next(iter(fv_rec.values())).get("kernel", "?") if fv_rec else "?"
    header = (f"{time.strftime('%Y-%m-%d')}, {cpu_name()}, {args.threads} thread(s), "
              f"{args.rounds} round(s); PyTorch {torch.__version__}, NumPy {np.__version__} "
              f"(BLAS: {blas_name(np)}), fovea kernel {kernel}")
    if args.json:
        print(json.dumps({"header": header}))
        for r in rows:
            print(json.dumps(r))
        return
    print(header)
    print()
    print("| case | reference | reference ms | fovea ms | fovea/ref | ref GFLOP/s | fovea GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['reference']} | {r['ref_ms']:.2f} | {r['fovea_ms']:.2f} | {r['ratio']:.2f} "
              f"| {r.get('ref_gflops', '')} | {r.get('fovea_gflops', '')} |")


if __name__ == "__main__":
    main()
