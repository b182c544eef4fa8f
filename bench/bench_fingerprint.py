#!/usr/bin/env python3
"""Fingerprint speed: ours vs TensorFlow's C++ CreateFingerprintDef, and FarmHash throughput.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_fingerprint.py [--mb 300] [--variables 5000] [--repeat 3]

Builds (once, cached in bench/.cache/) a SavedModel of about ``--mb`` MB with TensorFlow:
a tf.function holding one big float32 constant (so saved_model.pb is large) and
``--variables`` variables (a large object graph and checkpoint index). Then times, best of
``--repeat``, in this process and in a TensorFlow subprocess on the same files:

* ``compute_fingerprint`` with the accelerators (FarmHash from the cityhash package, the C
  map re-sort), and without them;
* TensorFlow's ``pywrap_saved_model.fingerprinting.CreateFingerprintDef``;
* FarmHash Fingerprint64 MB/s, cityhash and pure Python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

CACHE = HERE / ".cache"
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"}

BUILD = r"""
import sys, numpy as np, tensorflow as tf
out, mb, nvars = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
big = np.random.default_rng(0).standard_normal(mb * (1 << 20) // 4, dtype=np.float32)

class Big(tf.Module):
    def __init__(self):
        super().__init__()
        self.vs = [tf.Variable(np.full((4,), i, np.float32), name=f"v{i}") for i in range(nvars)]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(self, x):
        return {"y": x + tf.reduce_sum(tf.constant(big)) + self.vs[0][0] + self.vs[-1][0]}

m = Big()
tf.saved_model.save(m, out, signatures={"serving_default": m.serve})
"""

TF_TIME = r"""
import json, sys, time
import tensorflow as tf
from tensorflow.python.saved_model import pywrap_saved_model
from tensorflow.core.protobuf import fingerprint_pb2
d, repeat = sys.argv[1], int(sys.argv[2])
best = None
for _ in range(repeat):
    t = time.perf_counter()
    raw = pywrap_saved_model.fingerprinting.CreateFingerprintDef(d)
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
fp = fingerprint_pb2.FingerprintDef.FromString(raw)
print(json.dumps({"seconds": best, "singleprint": "/".join(str(v) for v in (
    fp.graph_def_program_hash, fp.signature_def_hash, fp.saved_object_graph_hash,
    fp.checkpoint_hash)), "checksum": fp.saved_model_checksum}))
"""


def build_model(mb: int, nvars: int) -> Path:
    target = CACHE / f"fingerprint_{mb}mb_{nvars}v"
    if (target / "saved_model.pb").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp), str(mb), str(nvars)],
        check=True,
        env={**os.environ, **ENV},
    )
    tmp.rename(target)
    return target


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, result


def size_mb(d: Path) -> float:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300, help="size of the big constant, MiB")
    ap.add_argument("--variables", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-python", action="store_true", help="skip the pure-Python runs")
    args = ap.parse_args()

    from savedmodel_io.fingerprint import compute_fingerprint
    from savedmodel_io.hashing import farmhash
    from savedmodel_io.proto import deterministic

    d = build_model(args.mb, args.variables)
    pb = (d / "saved_model.pb").stat().st_size / 1e6
    index = (d / "variables" / "variables.index").stat().st_size / 1e6
    print(
        f"model: {d} ({size_mb(d):.0f} MB; saved_model.pb {pb:.0f} MB, variables.index {index:.2f} MB)"
    )

    proc = subprocess.run(
        [sys.executable, "-c", TF_TIME, str(d), str(args.repeat)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        check=True,
    )
    tf_result = json.loads(proc.stdout.strip().splitlines()[-1])
    tf_s = tf_result["seconds"]

    rows = []
    ours_s, fp = best_of(args.repeat, lambda: compute_fingerprint(d))
    assert fp.singleprint() == tf_result["singleprint"], "fingerprint differs from TensorFlow's"
    assert fp.saved_model_checksum == tf_result["checksum"], "checksum differs from TensorFlow's"
    accelerated = farmhash.ACCELERATED and deterministic.ACCELERATED
    label = "accelerators" if accelerated else "without accelerators (not installed / built)"
    rows.append((f"compute_fingerprint, {label}", ours_s))

    if not args.skip_python:
        saved = farmhash._fast, deterministic._compiled
        farmhash._fast, deterministic._compiled = None, None
        try:
            py_s, fp_py = best_of(1, lambda: compute_fingerprint(d))
        finally:
            farmhash._fast, deterministic._compiled = saved
        assert fp_py == fp
        rows.append(("compute_fingerprint, pure Python (no accelerators)", py_s))

    print(f"\nTensorFlow CreateFingerprintDef: {tf_s:.3f} s (best of {args.repeat})")
    print("| case | seconds | vs TF |\n| --- | ---: | ---: |")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {s / tf_s:.2f} |")

    data = os.urandom(64 << 20)
    print("\nFarmHash Fingerprint64 throughput:")
    if farmhash.ACCELERATED:
        s, _ = best_of(args.repeat, lambda: farmhash.fingerprint64(data))
        print(f"  cityhash:    {len(data) / s / 1e6:8.0f} MB/s")
    small = data[: 8 << 20]
    s, _ = best_of(1, lambda: farmhash.fingerprint64_py(small))
    print(f"  pure Python: {len(small) / s / 1e6:8.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
