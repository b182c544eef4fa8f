"""Benchmark: HighwayHash-64 and saved_model.cpb read/write vs TensorFlow, same run, same machine.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_cpb.py [--tensors 3] [--tensor-mb 850] [--skip-tf]

* HighwayHash-64 MB/s: the C accelerator (the SIMD path this CPU gets, and the portable path
  via SAVEDMODEL_IO_HH_SCALAR=1) and the pure-Python fallback.
* A SavedModel of ``--tensors`` Const tensors of ``--tensor-mb`` MB (2.5 GB by default, over
  protobuf's 2 GB limit): our write (saved_model.cpb), our read, and TensorFlow's C++ Merger
  reading the same file (cpb_merger_oracle from tests/formats, built with g++).
* The same weights the way TensorFlow OSS can store them, saved_model.pb + variables/:
  ``tf.saved_model.save`` / ``tf.saved_model.load`` (all variables read), and our
  ``open_checkpoint`` reading those variables.

Every measurement runs in a fresh process (peak RSS is that process's alone; the Python
interpreter and imports are subtracted). One run each: these jobs take minutes on 2 vCPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "tests" / "formats" / "cpb_large_job.py"
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"}

HASH_CODE = """
import os, sys, time
sys.path.insert(0, {src!r})
from savedmodel_io.hashing import highwayhash as hh
data = os.urandom({n})
if {python}:
    fn, label = hh.py_highwayhash64, "python"
else:
    from savedmodel_io.hashing import _highwayhash
    fn, label = hh.highwayhash64, _highwayhash.simd()
fn(data[:4096])
best = min((lambda t: (fn(data), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(label, {n} / best / 1e6)
"""

TF_SAVE = """
import json, resource, sys, time
import numpy as np, tensorflow as tf
n, size, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
m = tf.Module()
m.weights = [tf.Variable(np.full(size // 4, k, np.float32)) for k in range(n)]
m.f = tf.function(lambda: m.weights[0][0], input_signature=[])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
tf.saved_model.save(m, out)
print(json.dumps({"seconds": time.perf_counter() - t, "peak": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

TF_LOAD = """
import json, resource, sys, time
import tensorflow as tf
tf.constant(0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
m = tf.saved_model.load(sys.argv[1])
total = sum(v.numpy().nbytes for v in m.weights)
print(json.dumps({"seconds": time.perf_counter() - t, "base": base, "bytes": total,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

OURS_VARIABLES = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
from savedmodel_io.formats.bundle import open_checkpoint
from savedmodel_io.formats import saved_model_file
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
sm = saved_model_file.read(sys.argv[1])
with open_checkpoint(sys.argv[1]) as ckpt:
    arrays = {{k: ckpt[k] for k in ckpt}}
total = sum(a.nbytes for a in arrays.values())
print(json.dumps({{"seconds": time.perf_counter() - t, "base": base, "bytes": total,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""


def run(args: list[str], env: dict | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout.strip().splitlines()[-1]


def hash_speeds() -> dict[str, float]:
    src = str(ROOT / "src")
    out = {}
    for python, n, env in ((False, 1 << 30, {}), (False, 1 << 28, {"SAVEDMODEL_IO_HH_SCALAR": "1"}),
                           (True, 1 << 22, {})):
        try:
            label, mbs = run([sys.executable, "-c", HASH_CODE.format(src=src, n=n, python=python)],
                             env).split()
        except RuntimeError as exc:  # accelerator not built
            print(f"  hash ({'python' if python else 'C'}): {exc}", file=sys.stderr)
            continue
        out[label] = float(mbs)
    return out


def oracle_seconds(path: Path) -> float | None:
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tests" / "formats"))
    try:
        from cpb_helpers import build_oracle

        binary = build_oracle()
    except BaseException as exc:  # pytest.skip outside pytest, missing g++/TF
        print(f"  TF Merger oracle unavailable: {exc}", file=sys.stderr)
        return None
    out = path.parent / "merged.pb"
    proc = subprocess.run([str(binary), "savedmodel", str(path), str(out), "--summary"],
                          capture_output=True, text=True, env={**os.environ, **TF_ENV},
                          check=False)
    out.unlink(missing_ok=True)
    for line in proc.stderr.splitlines():
        if line.startswith("merge_seconds "):
            return float(line.split()[1])
    print(f"  TF Merger failed: {proc.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tensors", type=int, default=3)
    ap.add_argument("--tensor-mb", type=int, default=850)
    ap.add_argument("--skip-tf", action="store_true", help="no TensorFlow comparisons")
    ap.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    args = ap.parse_args()
    tensor_bytes = args.tensor_mb * 1_000_000

    print("HighwayHash-64 (MB/s):")
    for label, mbs in hash_speeds().items():
        print(f"  {label:8s} {mbs:10.1f}")

    scratch = Path(args.dir or tempfile.mkdtemp(prefix="bench_cpb."))
    cpb_dir = scratch / "cpb"
    cpb_dir.mkdir(parents=True, exist_ok=True)
    w = json.loads(run([sys.executable, str(JOB), "write", str(cpb_dir), str(args.tensors),
                        str(tensor_bytes), "cpb"]))
    size = w["file_bytes"]
    r = json.loads(run([sys.executable, str(JOB), "read", str(cpb_dir)]))
    assert r["summary"] == w["expected"], "read back differs"
    mb = size / 1e6

    def line(name: str, seconds: float, peak_extra: int | None = None) -> None:
        mem = f"  peak +{peak_extra / 1e9:.2f} GB ({peak_extra / size:.2f}x model)" if (
            peak_extra is not None) else ""
        print(f"  {name:44s} {seconds:7.1f} s {mb / seconds:8.0f} MB/s{mem}")

    print(f"saved_model.cpb of {args.tensors} x {args.tensor_mb} MB ({mb:.0f} MB file):")
    line("ours: write_saved_model_file (.cpb)", w["seconds"], w["peak"] - w["rss_base"])
    line("ours: read_saved_model_cpb", r["seconds"], r["peak"] - r["rss_base"])
    if not args.skip_tf:
        seconds = oracle_seconds(cpb_dir / "saved_model.cpb")
        if seconds is not None:
            line("TF C++ Merger: read file + merge", seconds)
        pb_dir = scratch / "pb"
        s = json.loads(run([sys.executable, "-c", TF_SAVE, str(args.tensors),
                            str(tensor_bytes), str(pb_dir)], TF_ENV))
        line("TF: tf.saved_model.save (.pb + variables)", s["seconds"])
        ld = json.loads(run([sys.executable, "-c", TF_LOAD, str(pb_dir)], TF_ENV))
        line("TF: tf.saved_model.load + all variables", ld["seconds"], ld["peak"] - ld["base"])
        ov = json.loads(run([sys.executable, "-c", OURS_VARIABLES.format(src=str(ROOT / "src")),
                             str(pb_dir)]))
        line("ours: saved_model.pb + open_checkpoint (all)", ov["seconds"], ov["peak"] - ov["base"])
    if not args.dir:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
