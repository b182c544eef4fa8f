"""Benchmark: TensorBundle read/write vs TensorFlow, same run, same machine.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_bundle.py [--sizes 17,300] [--repeat 3]

For each model size (MB of float32 variables, shaped like a dense/conv net) it writes a
checkpoint with ``tf.train.Checkpoint.write`` and reports, best of ``--repeat`` warm runs:

* read all tensors: ``tf.train.load_checkpoint(p).get_tensor`` over all keys vs ours
  (CRC on / off, fresh arrays) and ours zero-copy (views over the memory map, CRC off;
  "touched" also sums every array so every page is read) vs plain ``np.memmap`` of the shard;
* write: ``tf.train.Checkpoint.write`` vs ``write_checkpoint`` of the same tensors.
Ratios are ours / TensorFlow (below 1 = faster than TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from savedmodel_io.formats.bundle import data_filename, open_checkpoint, write_checkpoint  # noqa: E402
from savedmodel_io.hashing import crc32c  # noqa: E402


def shapes_for(mb: int) -> list[tuple[int, ...]]:
    """Variable shapes adding up to about ``mb`` MB of float32, a mix of big and small."""
    target = mb * 1_000_000 // 4
    shapes: list[tuple[int, ...]] = []
    total = 0
    i = 0
    while total < target:
        width = [64, 128, 256, 512, 1024, 2048][i % 6]
        rows = max(1, min(4096, (target - total) // width))
        for s in ((rows, width), (width,), (3, 3, min(width, 256), 8)):
            shapes.append(s)
            total += int(np.prod(s))
        i += 1
    return shapes


def best(fn, repeat: int) -> float:
    fn()  # warm the page cache and imports
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="17,300")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--crc-backend", choices=sorted(crc32c.backends()), help="force a CRC32C backend")
    args = ap.parse_args()
    if args.crc_backend:
        crc32c._extend = crc32c.backends()[args.crc_backend]
        crc32c.BACKEND = args.crc_backend
    import tensorflow as tf

    print(f"crc32c backend: {crc32c.BACKEND}; tensorflow {tf.__version__}; numpy {np.__version__}")
    root = Path(tempfile.mkdtemp(prefix="bench_bundle_"))
    try:
        for mb in (int(s) for s in args.sizes.split(",")):
            rng = np.random.default_rng(mb)
            shapes = shapes_for(mb)
            variables = {f"v{i}": tf.Variable(rng.standard_normal(s, dtype=np.float32)) for i, s in enumerate(shapes)}
            ckpt = tf.train.Checkpoint(**variables)
            tf_prefix = str(root / f"tf{mb}" / "ckpt")
            ckpt.write(tf_prefix)
            size = sum(f.stat().st_size for f in (root / f"tf{mb}").iterdir())
            keys = [k for k, _ in tf.train.list_variables(tf_prefix)]

            def tf_read():
                r = tf.train.load_checkpoint(tf_prefix)
                for k in keys:
                    r.get_tensor(k)

            def ours_read(verify: bool):
                r = open_checkpoint(tf_prefix, verify_checksums=verify)
                for k in keys:
                    r.read(k)

            def ours_zero_copy(touch: bool):
                r = open_checkpoint(tf_prefix, verify_checksums=False, zero_copy=True)
                for k in keys:
                    a = r.read(k)
                    if touch and a.dtype != object:
                        a.view(np.uint8).sum(dtype=np.uint64) if a.ndim else None

            def raw_memmap(touch: bool):
                m = np.memmap(data_filename(tf_prefix, 0, 1), mode="r", dtype=np.uint8)
                if touch:
                    m.sum(dtype=np.uint64)

            t_tf = best(tf_read, args.repeat)
            rows = [
                ("read, TensorFlow get_tensor", t_tf, 1.0),
                ("read, ours CRC on", best(lambda: ours_read(True), args.repeat), None),
                ("read, ours CRC off", best(lambda: ours_read(False), args.repeat), None),
                ("read, ours zero-copy views", best(lambda: ours_zero_copy(False), args.repeat), None),
                ("read, np.memmap of shard", best(lambda: raw_memmap(False), args.repeat), None),
                ("read, ours zero-copy + touch", best(lambda: ours_zero_copy(True), args.repeat), None),
                ("read, np.memmap + touch", best(lambda: raw_memmap(True), args.repeat), None),
            ]
            ours = open_checkpoint(tf_prefix)
            # TF's data order (by offset), so the written files can be compared byte for byte
            order = sorted(ours.entries(), key=lambda e: (e.shard_id, e.offset))
            tensors = {e.key: ours.read(e.key) for e in order}
            out_tf = str(root / f"wtf{mb}" / "ckpt")
            out_ours = str(root / f"wours{mb}" / "ckpt")
            t_wtf = best(lambda: ckpt.write(out_tf), args.repeat)
            t_wours = best(lambda: write_checkpoint(out_ours, tensors), args.repeat)
            same = all(
                Path(out_ours + s).read_bytes() == Path(out_tf + s).read_bytes()
                for s in (".index", ".data-00000-of-00001")
            )
            print(f"\n## {size / 1e6:.1f} MB checkpoint, {len(keys)} tensors (files identical to TF's: {same})")
            print(f"{'case':34} {'seconds':>9} {'vs TF':>7}")
            for name, t, _ in rows:
                print(f"{name:34} {t:9.4f} {t / t_tf:7.2f}")
            print(f"{'write, TensorFlow Checkpoint.write':34} {t_wtf:9.4f} {1.0:7.2f}")
            print(f"{'write, ours write_checkpoint':34} {t_wours:9.4f} {t_wours / t_wtf:7.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
