#!/usr/bin/env python3
"""Throughput of every backend of the four accelerated steps (what `savedmodel-io --version` lists).

    python bench/bench_hashes.py [--mb 64] [--repeat 5]

CRC32C (google-crc32c, crcmod, pure Python), FarmHash Fingerprint64 (cityhash, pure Python),
HighwayHash-64 (our C module, pure Python) on random bytes, in cache (1 MiB) and not (``--mb``);
and the deterministic map re-sort (our C module, pure Python) on a graph-heavy SavedModel
(2,000 functions of 50 nodes with 4 attrs each), the case where it costs most. MB/s, best of
``--repeat`` (pure-Python backends: one run on a smaller input).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def rate(fn: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    """MB/s of ``fn(data)``, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - t)
    return len(data) / best / 1e6


def graph_heavy_model():
    """A SavedModel whose bytes are mostly NodeDefs with attr maps."""
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    lib = sm.meta_graphs.add().graph_def.library
    for f in range(2000):
        fd = lib.function.add()
        fd.signature.name = f"__inference_fn_{f}"
        for n in range(50):
            node = fd.node_def.add(name=f"n{n}", op="Conv2D", input=[f"n{n - 1}"])
            for key in ("T", "strides", "padding", "data_format"):
                node.attr[key].s = key.encode() * 3
        fd.attr["_input_shapes"].s = b"x"
    return sm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from savedmodel_io import _config
    from savedmodel_io.hashing import crc32c, farmhash, highwayhash
    from savedmodel_io.proto import deterministic

    print(_config.report())
    big = os.urandom(args.mb << 20)
    small = big[: 1 << 20]
    slow = big[: 4 << 20]
    rows: list[tuple[str, str, float, float]] = []
    for name, fn in crc32c.backends().items():
        fast = name != "python"
        data = big if fast else slow
        rows.append(("CRC32C", name, rate(lambda d: fn(0, d), small, args.repeat),
                     rate(lambda d: fn(0, d), data, args.repeat if fast else 1)))
    if farmhash.ACCELERATED:
        fp = farmhash._fast
        rows.append(("FarmHash", "cityhash", rate(fp, small, args.repeat),
                     rate(fp, big, args.repeat)))
    rows.append(("FarmHash", "pure Python", rate(farmhash.fingerprint64_py, small, 1),
                 rate(farmhash.fingerprint64_py, slow, 1)))
    if highwayhash.ACCELERATED:
        rows.append(("HighwayHash", f"C ({highwayhash.SIMD})",
                     rate(highwayhash.highwayhash64, small, args.repeat),
                     rate(highwayhash.highwayhash64, big, args.repeat)))
    rows.append(("HighwayHash", "pure Python", rate(highwayhash.py_highwayhash64, small, 1),
                 rate(highwayhash.py_highwayhash64, small, 1)))

    print(f"| step | backend | MB/s, 1 MiB | MB/s, {args.mb} MiB (pure Python: 4 MiB) |")
    print("| --- | --- | ---: | ---: |")
    for step, backend, a, b in rows:
        print(f"| {step} | {backend} | {a:,.0f} | {b:,.0f} |")

    sm = graph_heavy_model()
    size = len(sm.SerializeToString(deterministic=True))
    ser = min(_time(lambda: sm.SerializeToString(deterministic=True)) for _ in range(args.repeat))
    print(f"\ndeterministic serialisation of a {size / 1e6:.1f} MB graph-heavy SavedModel "
          f"(upb's own serialisation: {ser * 1e3:.0f} ms):")
    if deterministic.ACCELERATED:
        c = min(_time(lambda: deterministic.deterministic_buffer(sm)) for _ in range(args.repeat))
        resort = max(c - ser, 0)
        print(f"  with the C re-sort:      {c * 1e3:7.0f} ms (re-sort {resort * 1e3:.0f} ms)")
    py = _time(lambda: deterministic.deterministic_buffer(sm, accelerated=False))
    print(f"  with the Python re-sort: {py * 1e3:7.0f} ms (re-sort {(py - ser) * 1e3:.0f} ms)")
    return 0


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
