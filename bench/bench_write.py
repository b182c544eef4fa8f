"""Benchmark: writing a SavedModel from numpy weights, ours vs ``tf.saved_model.save``.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_write.py [--mb 300] [--repeat 3]

The model is an MLP of square float32 dense layers adding up to ``--mb`` MB, with one
``serving_default`` signature. Each measurement runs in a fresh process:

* ours: ``writer.Model`` built from the numpy arrays, then ``writer.save`` (once with the
  default copy of each array in ``Model.variable``, once with ``copy=False``);
* TensorFlow: a ``tf.Module`` whose ``tf.Variable``s are made from the same arrays and a
  ``tf.function`` with the same computation, then ``tf.saved_model.save``.

Reported: wall time of building + saving, of saving alone, and the peak extra memory
(``ru_maxrss`` high-water mark after saving minus the one before building, i.e. beyond
the numpy weights and the imports). Times are best of ``--repeat`` runs; memory is from
the first run. Ratios are ours / TensorFlow (below 1 = better).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def weights(mb: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) pairs of 2048-wide layers summing to about ``mb`` MB of float32."""
    width = 2048
    per_layer = (width * width + width) * 4
    n = max(1, round(mb * 1_000_000 / per_layer))
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((width, width), dtype=np.float32) * 0.02,
             np.zeros(width, np.float32)) for _ in range(n)]


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker_ours(layers, out: Path, copy: bool = True) -> tuple[float, float]:
    from savedmodel_io.writer import Model, save

    t0 = time.perf_counter()
    m = Model()
    f = m.function("__call__", {"x": ("float32", (None, layers[0][0].shape[0]))})
    h = f.inputs["x"]
    for i, (k, b) in enumerate(layers):
        h = f.dense(h, m.variable(f"layer_{i}/kernel", k, copy=copy),
                    m.variable(f"layer_{i}/bias", b, copy=copy), "relu", name=f"layer_{i}")
    f.outputs({"y": h})
    m.signature("serving_default", f)
    t1 = time.perf_counter()
    save(out, m)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def worker_tf(layers, out: Path) -> tuple[float, float]:
    import tensorflow as tf

    class MLP(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernels = [tf.Variable(k) for k, _ in layers]
            self.biases = [tf.Variable(b) for _, b in layers]

        @tf.function(input_signature=[tf.TensorSpec([None, layers[0][0].shape[0]], tf.float32)])
        def __call__(self, x):
            for k, b in zip(self.kernels, self.biases):
                x = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, k), b))
            return {"y": x}

    t0 = time.perf_counter()
    mod = MLP()
    t1 = time.perf_counter()
    tf.saved_model.save(mod, str(out), signatures=mod.__call__.get_concrete_function())
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def worker(kind: str, mb: int, out: Path) -> None:
    layers = weights(mb)
    if kind == "tf":
        import tensorflow  # noqa: F401  (import cost is not part of the measurement)
    else:
        import savedmodel_io.writer  # noqa: F401
    before = _maxrss_mb()
    if kind == "tf":
        total, save_only = worker_tf(layers, out)
    else:
        total, save_only = worker_ours(layers, out, copy=kind == "ours")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    print(json.dumps({"total": total, "save": save_only, "peak_extra_mb": _maxrss_mb() - before,
                      "size_mb": size}))


def run(kind: str, mb: int, root: Path) -> dict:
    out = root / f"{kind}_model"
    if out.exists():
        shutil.rmtree(out)
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, "--mb", str(mb),
                           "--out", str(out)], capture_output=True, text=True, check=True)
    shutil.rmtree(out)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", choices=["ours", "ours_nocopy", "tf"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.mb, args.out)
        return
    root = Path(tempfile.mkdtemp(prefix="bench_write_"))
    try:
        res = {k: [run(k, args.mb, root) for _ in range(args.repeat)]
               for k in ("ours", "ours_nocopy", "tf")}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    best = {k: {m: min(r[m] for r in runs) for m in ("total", "save")} for k, runs in res.items()}
    mem = {k: runs[0]["peak_extra_mb"] for k, runs in res.items()}
    size = res["ours"][0]["size_mb"]
    print(f"model: {size:.0f} MB on disk (ours), {res['tf'][0]['size_mb']:.0f} MB (TF)")
    print("| case | ours | TensorFlow | ours / TF |")
    print("| --- | ---: | ---: | ---: |")
    for m, label in (("total", "build + save (s)"), ("save", "save only (s)")):
        o, t = best["ours"][m], best["tf"][m]
        print(f"| {label} | {o:.2f} | {t:.2f} | {o / t:.2f} |")
    print(f"| peak extra memory (MB) | {mem['ours']:.0f} | {mem['tf']:.0f} | "
          f"{mem['ours'] / max(mem['tf'], 1):.2f} |")
    o, t = best["ours_nocopy"]["total"], best["tf"]["total"]
    print(f"| build + save, `copy=False` (s) | {o:.2f} | {t:.2f} | {o / t:.2f} |")
    o, t = mem["ours_nocopy"], mem["tf"]
    print(f"| peak extra memory, `copy=False` (MB) | {o:.0f} | {t:.0f} | {o / max(t, 1):.2f} |")


if __name__ == "__main__":
    main()
