"""Benchmark: the runtime's float32 GEMMs on MKL (the ``mkl`` extra) against numpy's OpenBLAS.

    python bench/bench_gemm.py [--repeat 60]

One thread each (OpenBLAS held at one thread through threadpoolctl, MKL sequential as the
runtime loads it), the two interleaved call by call so the machine's drift hits both alike;
the table gives the median GFLOP/s of each and their ratio. Shapes are the GEMMs of the
bench models (bench/bench_run.py): BERT-base's dense layers at batch 1 and 8, ResNet50's 1x1
convolutions, and stacks of products (Winograd's 16 per tile piece, attention's heads) that go
to MKL's batched call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from savedmodel_io.graph.ops import _gemm  # noqa: E402

# (label, batch of products or 0 for one 2-D product, m, k, n)
SHAPES = [
    ("BERT b1 attention projection", 0, 128, 768, 768),
    ("BERT b1 first FFN layer", 0, 128, 768, 3072),
    ("BERT b1 second FFN layer", 0, 128, 3072, 768),
    ("BERT b8 attention projection", 0, 1024, 768, 768),
    ("BERT b8 second FFN layer", 0, 1024, 3072, 768),
    ("ResNet50 b1 1x1, 64 -> 256", 0, 3136, 64, 256),
    ("ResNet50 b1 1x1, 128 -> 512", 0, 784, 128, 512),
    ("ResNet50 b1 last stage 1x1", 0, 49, 2048, 512),
    ("ResNet50 b8 1x1, 256 -> 64", 0, 25088, 256, 64),
    ("Winograd piece, 128 channels", 16, 70, 128, 128),
    ("Winograd piece, 256 channels", 16, 98, 256, 256),
    ("attention scores, 12 heads", 12, 128, 64, 128),
]


def _median_seconds(fn, repeat: int, other) -> tuple[float, float]:
    """Median time of ``fn`` and of ``other``, called in turn ``repeat`` times."""
    fn()
    other()
    a, b = [], []
    for _ in range(repeat):
        for f, times in ((fn, a), (other, b)):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=60)
    args = ap.parse_args()
    if not _gemm.ACCELERATED:
        raise SystemExit(f"MKL is not in use ({_gemm.BACKEND}): pip install 'savedmodel-io[mkl]'")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    rng = np.random.default_rng(0)
    print(f"{_gemm.BACKEND} against numpy {np.__version__}'s BLAS, one thread each, "
          f"median of {args.repeat} interleaved calls\n")
    print("| product | batch x m x k x n | OpenBLAS GFLOP/s | MKL GFLOP/s | MKL / OpenBLAS |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, batch, m, k, n in SHAPES:
        lead = (batch,) if batch else ()
        a = rng.standard_normal((*lead, m, k), np.float32)
        b = rng.standard_normal((*lead, k, n), np.float32)
        out = np.empty((*lead, m, n), np.float32)
        mkl, blas = _median_seconds(lambda: _gemm.matmul(a, b, out),  # noqa: B023
                                    args.repeat, lambda: np.matmul(a, b, out=out))  # noqa: B023
        flops = 2.0 * max(batch, 1) * m * k * n
        shape = f"{batch} x {m} x {k} x {n}" if batch else f"{m} x {k} x {n}"
        print(f"| {label} | {shape} | {flops / blas / 1e9:.1f} | {flops / mkl / 1e9:.1f} | "
              f"{blas / mkl:.2f} |", flush=True)


if __name__ == "__main__":
    main()
