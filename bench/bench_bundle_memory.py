"""Peak anonymous memory while writing / verifying a big TensorBundle (streaming check).

    python bench/bench_bundle_memory.py [--mb 1536]

Writes an ``--mb`` MB float32 array held in a memory-mapped .npy file (contiguous, then a
strided view of it), then verifies the bundle through zero-copy views. Memory-mapped file
pages are page cache, not our allocations, so this samples ``RssAnon`` from /proc (Linux only).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from savedmodel_io.formats.bundle import open_checkpoint, write_checkpoint  # noqa: E402


def rss_anon_mb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) // 1024
    return -1


def peak_during(fn) -> tuple[int, int]:
    base = rss_anon_mb()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon_mb())
            time.sleep(0.002)

    t = threading.Thread(target=sample)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return base, peak[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1536)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_bundle_mem_"))
    try:
        n = (args.mb << 20) // 4
        m = np.lib.format.open_memmap(root / "big.npy", mode="w+", dtype=np.float32, shape=(n,))
        m[::1024] = 1
        m.flush()
        del m
        src = np.load(root / "big.npy", mmap_mode="r")
        cases = {
            "write contiguous memmap": lambda: write_checkpoint(root / "a" / "ck", {"big": src}),
            "write strided view": lambda: write_checkpoint(root / "b" / "ck", {"t": src.reshape(1024, -1)[:, ::2]}),
            "verify zero-copy (CRC all)": lambda: open_checkpoint(root / "a" / "ck", zero_copy=True).verify(),
        }
        print(f"{args.mb} MB tensor; anonymous memory (MB) before -> peak")
        for name, fn in cases.items():
            base, peak = peak_during(fn)
            print(f"{name:28} {base:5d} -> {peak:5d}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
