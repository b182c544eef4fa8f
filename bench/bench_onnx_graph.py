"""Benchmark: the exported ONNX graph of two checkouts side by side (node counts, outputs, conversion time).

    python bench/bench_onnx_graph.py --base /path/to/other/checkout [--models resnet50,...] [--rounds 2]

For each model of bench_onnx.py (built there, cached under ``bench/.cache/onnx``) both
checkouts export ``serving_default`` in a fresh process (``savedmodel-io export --format
onnx``, PYTHONPATH set to that checkout's ``src``), alternating, ``--rounds`` times each;
the best wall time is kept with its CPU time (user + system of the child). Then it prints
the ONNX nodes per op type of both exports, and the largest difference of each export's
output on onnxruntime from TensorFlow's (batch 1, recorded by bench_onnx.py). The load
average before and after is printed: compare the two columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_onnx import build, inputs  # noqa: E402

MODELS = ["resnet50", "mobilenetv2", "bert", "lstm"]


def export(src: Path, model: Path, out: Path) -> tuple[float, float]:
    """Export ``model`` with checkout ``src``: (wall seconds, CPU seconds of the child)."""
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "savedmodel_io", "export", "--dir", str(model), "--format", "onnx",
                        "--output", str(out)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"export of {model} with {src} failed:\n{p.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def max_diff(path: Path, name: str, want: Path) -> float:
    import numpy as np
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: inputs(name, 1)["x"]})[0]
    return float(np.max(np.abs(got - np.load(want))))


def main() -> int:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the other checkout (its src/ is used)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    checkouts = {"base": args.base.resolve(), "this": ROOT}
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {len(os.sched_getaffinity(0))} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = build(name)
            best: dict[str, tuple[float, float]] = {}
            for _ in range(args.rounds):
                for label, src in checkouts.items():  # interleaved: load falls on both alike
                    w, c = export(src, model, Path(tmp) / f"{name}.{label}.onnx")
                    if label not in best or w < best[label][0]:
                        best[label] = (w, c)
            counts = {label: collections.Counter(n.op_type for n in
                                                 onnx.load(str(Path(tmp) / f"{name}.{label}.onnx")).graph.node)
                      for label in checkouts}
            want = Path(f"{model}.tf.1.npy")
            diffs = {label: max_diff(Path(tmp) / f"{name}.{label}.onnx", name, want) if want.is_file() else None
                     for label in checkouts}
            print(f"\n{name}: conversion wall s (CPU s): base {best['base'][0]:.2f} ({best['base'][1]:.2f}), "
                  f"this {best['this'][0]:.2f} ({best['this'][1]:.2f}); max |ORT - TF| (batch 1): "
                  + ", ".join(f"{k} {'-' if v is None else f'{v:.2e}'}" for k, v in diffs.items()))
            print("| op | base | this |\n| --- | ---: | ---: |")
            for op in sorted(set(counts["base"]) | set(counts["this"])):
                print(f"| {op} | {counts['base'][op]} | {counts['this'][op]} |")
            print(f"| **total** | {sum(counts['base'].values())} | {sum(counts['this'].values())} |")
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
