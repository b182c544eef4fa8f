#!/usr/bin/env python3
"""Whole-process timings: ``savedmodel-io show`` vs ``saved_model_cli show``, and
``import + load + signatures`` vs TensorFlow's, on a MobileNetV2-sized SavedModel.

    python bench/bench_show.py [--repeat 5] [--model DIR]

The model (keras.applications.MobileNetV2(weights=None), exported with Keras 3's
``model.export``) is built once into bench/.cache/. Every figure is the median
wall time of ``--repeat`` fresh processes, run alternately on the same machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CACHE = ROOT / "bench" / ".cache"
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "CUDA_VISIBLE_DEVICES": "-1",
    "PYTHONPATH": str(SRC),
}


def build_model(out: Path) -> Path:
    """Export MobileNetV2 (random weights) once; reuse it afterwards."""
    if (out / "saved_model.pb").is_file():
        return out
    code = (
        "import tensorflow as tf, sys\n"
        "m = tf.keras.applications.MobileNetV2(weights=None)\n"
        "m.export(sys.argv[1])\n"
    )
    tmp = out.with_name(out.name + ".tmp")
    subprocess.run([sys.executable, "-c", code, str(tmp)], check=True, env=ENV,
                   stdout=subprocess.DEVNULL)
    tmp.rename(out)
    return out


def timed(cmd: list[str]) -> tuple[float, float, bytes]:
    """Wall time, CPU time (user + sys of the child) and stdout of one process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, check=False)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr.decode()[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dt, cpu, proc.stdout


def compare(name: str, ours: list[str], theirs: list[str], repeat: int) -> dict:
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(ours)[:2])
        b.append(timed(theirs)[:2])
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    return {"name": name, "ours": med(a, 0), "tf": med(b, 0), "ours_cpu": med(a, 1),
            "tf_cpu": med(b, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", type=Path, default=None, help="use this SavedModel instead")
    args = ap.parse_args()
    model = args.model or build_model(CACHE / "mobilenet_v2")
    size = (model / "saved_model.pb").stat().st_size
    py = sys.executable
    smcli = str(Path(py).with_name("saved_model_cli"))
    p = str(model)

    # Same output first (modulo TF's randomly ordered op set).
    ours_out = timed([py, "-m", "savedmodel_io", "show", "--dir", p, "--all"])[2]
    tf_out = timed([smcli, "show", "--dir", p, "--all"])[2]
    strip = lambda t: [x for x in t.decode().splitlines() if "contains the following ops" not in x]
    same = strip(ours_out) == strip(tf_out)

    rows = [
        compare(
            "show --all (whole process)",
            [py, "-m", "savedmodel_io", "show", "--dir", p, "--all"],
            [smcli, "show", "--dir", p, "--all"],
            args.repeat,
        ),
        compare(
            "import + load + signatures",
            [py, "-c", f"import savedmodel_io; savedmodel_io.load({p!r}).signatures"],
            [py, "-c", f"import tensorflow as tf; tf.saved_model.load({p!r}).signatures"],
            args.repeat,
        ),
        compare(
            "import + read_signatures (fast path)",
            [py, "-c", f"import savedmodel_io; savedmodel_io.read_signatures({p!r})"],
            [py, "-c", f"import tensorflow as tf; tf.saved_model.load({p!r}).signatures"],
            args.repeat,
        ),
    ]
    print(f"model: {model} (saved_model.pb {size / 1e6:.1f} MB); median of {args.repeat} runs")
    print(f"show --all output identical to saved_model_cli (op-set line aside): {same}")
    print()
    print("| measurement | savedmodel_io wall / CPU | TensorFlow wall / CPU | wall ratio | CPU ratio |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['ours']:.2f} s / {r['ours_cpu']:.2f} s | "
            f"{r['tf']:.2f} s / {r['tf_cpu']:.2f} s | {r['tf'] / r['ours']:.1f}x "
            f"({100 * r['ours'] / r['tf']:.1f}% of TF) | {r['tf_cpu'] / r['ours_cpu']:.1f}x "
            f"({100 * r['ours_cpu'] / r['tf_cpu']:.1f}% of TF) |"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
