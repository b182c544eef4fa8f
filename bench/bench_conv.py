"""Benchmark: one 3x3 stride-1 convolution layer, im2col + GEMM against Winograd F(2x2, 3x3).

    python bench/bench_conv.py [--batches 1,8] [--threads 2] [--repeat 5]

The layer shapes of VGG16 and ResNet50's 3x3 convolutions (224x224 input, SAME padding,
float32, filter laid out once as the optimiser does), each run through the runtime's
Conv2D kernel both ways, interleaved, BLAS on one thread as in a run; cells are best wall /
best CPU (ms) of ``--repeat`` calls, with the largest difference from a float64 convolution
relative to the output's largest magnitude.
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

import numpy as np

from savedmodel_io.graph import runtime
from savedmodel_io.graph._threads import blas_limit
from savedmodel_io.graph.ops import get, nn

# (spatial size, input channels, output channels)
SHAPES = [(224, 64, 64), (112, 128, 128), (56, 256, 256), (28, 512, 512), (14, 512, 512),
          (56, 64, 64), (28, 128, 128), (7, 512, 512)]


def _node(w: np.ndarray) -> runtime.Node:
    node = runtime.Node("conv", "Conv2D", {"strides": [1, 1, 1, 1], "dilations": [1, 1, 1, 1],
                                           "padding": b"SAME", "data_format": b"NHWC",
                                           "explicit_paddings": []}, 0, "bench")
    node.bind({})
    node.prepared = nn._prepare_conv(node, {1: w})
    return node


def _reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    xp = np.pad(x.astype(np.float64), [(0, 0), (1, 1), (1, 1), (0, 0)])
    h, wd = x.shape[1:3]
    return sum(xp[:, i:i + h, j:j + wd] @ w[i, j].astype(np.float64)
               for i in range(3) for j in range(3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    kernel = get("Conv2D").fn
    ctx = SimpleNamespace(threads=args.threads)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, "
          f"{args.threads} threads; ms: best wall / best CPU of {args.repeat}")
    print("| layer | batch | im2col | winograd | winograd / im2col | max error / max |y| "
          "(im2col, winograd) |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    paths = {"im2col": 1 << 30, "winograd": nn._WINOGRAD_MIN_CIN}
    with blas_limit(1):
        for batch in (int(b) for b in args.batches.split(",")):
            for size, cin, cout in SHAPES:
                x = np.maximum(rng.standard_normal((batch, size, size, cin), np.float32), 0)
                w = (rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin))).astype(
                    np.float32)
                node = _node(w)
                wall = {p: [] for p in paths}
                cpu = {p: [] for p in paths}
                err = {}
                ref = _reference(x, w) if batch == 1 else None
                for r in range(args.repeat + 1):
                    for p, min_cin in paths.items():
                        nn._WINOGRAD_MIN_CIN = min_cin
                        c, t = time.process_time(), time.perf_counter()
                        y = kernel(node, [x, w], ctx)
                        if r:  # the first round warms up
                            wall[p].append(time.perf_counter() - t)
                            cpu[p].append(time.process_time() - c)
                        elif ref is not None:
                            err[p] = np.abs(y - ref).max() / np.abs(ref).max()
                nn._WINOGRAD_MIN_CIN = paths["winograd"]
                cells = [f"{min(wall[p]) * 1e3:.1f} / {min(cpu[p]) * 1e3:.0f}" for p in paths]
                ratio = f"{min(wall['winograd']) / min(wall['im2col']):.2f} " \
                        f"({min(cpu['winograd']) / min(cpu['im2col']):.2f})"
                errs = ", ".join(f"{err[p]:.1e}" for p in paths) if err else "-"
                print(f"| {size}x{size}, {cin}->{cout} | {batch} | {cells[0]} | {cells[1]} | "
                      f"{ratio} | {errs} |", flush=True)


if __name__ == "__main__":
    main()
