"""Benchmark: ONNX export without TensorFlow, against tf2onnx, and inference on onnxruntime.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_onnx.py [--models resnet50,...] [--convert resnet50,bert]
        [--rounds 3] [--repeat 5] [--skip-numpy] [--json OUT]

Builds (with TensorFlow, once, cached under ``bench/.cache/onnx``) Keras 3 exports of
ResNet50 (224x224), MobileNetV2 (96x96), VGG16 (224x224), a BERT-base-shaped encoder
(12 layers, hidden 768, 12 heads, FFN 3072, sequence 128) and a 2-layer LSTM (256 units,
sequence 50), all ``weights=None`` / random init, and reports:

1. conversion, whole process (fresh interpreter, import to written file), wall and CPU
   seconds (user + system of the child): ours (``savedmodel-io export --format onnx``, best of
   2) vs ``python -m tf2onnx.convert --saved-model`` (opset 18, tf2onnx's newest), both timed
   in this run for the ``--convert`` models (the issue's anchors: ResNet50 and the BERT-shaped
   encoder); for the other models tf2onnx's export is only needed for inference and is reused
   from the cache when there (``--fresh`` converts those again too: minutes and gigabytes);
2. inference per call, batch 1 and 8, warm, the best single call over ``--rounds`` rounds that
   alternate the engines' processes (``--repeat`` x 3 calls each):
   our export on onnxruntime vs tf2onnx's export on onnxruntime (same onnxruntime, same
   session options: all cores, ORT_ENABLE_ALL) vs TensorFlow
   (``tf.saved_model.load(p).signatures[k]``) vs the numpy runtime; outputs of all four are
   checked against TensorFlow's (rtol 1e-4, atol 1e-5 after a float32 matmul chain: the
   largest difference is printed). The CPU time of the fastest call is kept beside it.

The load average before and after the run is printed (figures from a busy machine are not
comparable); ``--json OUT`` also writes every figure as JSON.

Each engine runs in its own process (TensorFlow's thread pools would otherwise compete
with onnxruntime's); the ONNX sessions share one process and alternate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "onnx"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
MODELS = ["resnet50", "mobilenetv2", "vgg16", "bert", "lstm"]

BUILD = r'''
import sys, numpy as np, tensorflow as tf
name, out = sys.argv[1], sys.argv[2]
k = tf.keras
k.utils.set_random_seed(0)
if name == "resnet50":
    m = k.applications.ResNet50(weights=None, input_tensor=k.Input((224, 224, 3), name="x"))
elif name == "mobilenetv2":
    m = k.applications.MobileNetV2(weights=None, input_tensor=k.Input((96, 96, 3), name="x"))
elif name == "vgg16":
    m = k.applications.VGG16(weights=None, input_tensor=k.Input((224, 224, 3), name="x"))
elif name == "bert":
    L = k.layers
    ids = k.Input((128,), dtype="int32", name="x")
    h = L.Embedding(30522, 768)(ids) + L.Embedding(128, 768)(tf.range(128))
    h = L.LayerNormalization(epsilon=1e-12)(h)
    for _ in range(12):
        a = L.MultiHeadAttention(12, 64)(h, h)
        h = L.LayerNormalization(epsilon=1e-12)(h + a)
        f = L.Dense(768)(L.Dense(3072, activation="gelu")(h))
        h = L.LayerNormalization(epsilon=1e-12)(h + f)
    m = k.Model(ids, h)
elif name == "lstm":
    L = k.layers
    x = k.Input((50, 64), name="x")
    h = L.LSTM(256, return_sequences=True)(x)
    h = L.LSTM(256)(h)
    m = k.Model(x, L.Dense(10)(h))
m.export(out, verbose=False)
'''


def inputs(name: str, batch: int):
    import numpy as np

    rs = np.random.RandomState(batch)
    if name == "bert":
        return {"x": rs.randint(0, 30522, (batch, 128)).astype(np.int32)}
    if name == "lstm":
        return {"x": rs.standard_normal((batch, 50, 64)).astype(np.float32)}
    size = 96 if name == "mobilenetv2" else 224
    return {"x": rs.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)}


def build(name: str) -> Path:
    out = CACHE / name / "model"
    if not (out / "saved_model.pb").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, name, str(out)], check=True, env=ENV)
    return out


def _timed(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``: (process, wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def convert_ours(model: Path, out: Path) -> dict:
    p, wall, cpu = _timed([sys.executable, "-m", "savedmodel_io", "export", "--dir", str(model), "--format", "onnx",
                           "--output", str(out)])
    if p.returncode != 0:
        raise SystemExit(f"our export of {model} failed:\n{p.stderr[-2000:]}")
    return {"seconds": wall, "cpu": cpu}


def convert_tf2onnx(model: Path, out: Path, fresh: bool) -> dict:
    """tf2onnx's whole-process time or failure (kept beside the output: it takes minutes on large models)."""
    record = out.with_suffix(".json")
    if not fresh and record.is_file() and out.is_file():
        return {**json.loads(record.read_text()), "cached": True}
    p, wall, cpu = _timed([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(model), "--output", str(out),
                           "--opset", "18"])
    result: dict = {"seconds": wall, "cpu": cpu}
    if p.returncode != 0:
        result["error"] = f"exit status {p.returncode}" + (" (killed: out of memory)" if p.returncode == -9 else "")
    record.write_text(json.dumps(result))
    return result


# -- per-inference timing, one engine per process -------------------------------------------------

WORKER = r'''
import json, os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[5])
from bench_onnx import inputs
engine, model, name, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = {}
if engine == "onnx":
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = len(os.sched_getaffinity(0))
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for label in ("ours", "tf2onnx"):
        if not os.path.isfile(model + f".{label}.onnx"):
            continue
        try:
            s = ort.InferenceSession(model + f".{label}.onnx", opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # tf2onnx may write a model onnxruntime refuses
            print(f"{label}: {str(exc)[:200]}", file=sys.stderr)
            continue
        runs[label] = (lambda s: lambda feed: s.run(None, {s.get_inputs()[0].name: feed["x"]})[0])(s)
elif engine == "tf":
    import tensorflow as tf
    f = tf.saved_model.load(model).signatures["serving_default"]
    runs["tf"] = lambda feed: list(f(x=tf.constant(feed["x"])).values())[0].numpy()
else:
    import savedmodel_io
    sig = savedmodel_io.load(model).signatures["serving_default"]
    runs["numpy"] = lambda feed: list(sig(**feed).values())[0]
result = {}
for batch in (1, 8):
    feed = inputs(name, batch)
    best = {k: (float("inf"), 0.0) for k in runs}
    outs = {k: fn(feed) for k, fn in runs.items()}
    for _ in range(repeat):
        for k, fn in runs.items():  # interleaved: load on the machine hits every engine alike
            for _ in range(3):
                c = time.process_time()
                t = time.perf_counter()
                fn(feed)
                wall = time.perf_counter() - t
                if wall < best[k][0]:
                    best[k] = (wall, time.process_time() - c)
    for k in runs:
        np.save(f"{model}.{k}.{batch}.npy", np.asarray(outs[k]))
        result[f"{k}/{batch}"] = best[k][0]
        result[f"{k}/{batch}/cpu"] = best[k][1]
print(json.dumps(result))
'''


def timings(engine: str, model: Path, name: str, repeat: int) -> dict[str, float]:
    p = subprocess.run([sys.executable, "-c", WORKER, engine, str(model), name, str(repeat),
                        str(ROOT / "bench")], check=True, env=ENV, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=5, help="calls per engine and batch in a round (x3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating engine processes")
    ap.add_argument("--convert", default="resnet50,bert",
                    help="models whose conversion is timed in this run, ours and tf2onnx's (the anchors)")
    ap.add_argument("--skip-numpy", action="store_true", help="leave out the numpy runtime")
    ap.add_argument("--fresh", action="store_true",
                    help="convert the other models with tf2onnx again too (else its cached export)")
    ap.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    args = ap.parse_args()
    import numpy as np

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"{len(os.sched_getaffinity(0))} cores", flush=True)
    timed = set(args.convert.split(",")) if args.convert else set()
    rows = []
    for name in args.models.split(","):
        model = build(name)
        ours = min((convert_ours(model, Path(f"{model}.ours.onnx")) for _ in range(2)), key=lambda r: r["seconds"])
        theirs = convert_tf2onnx(model, Path(f"{model}.tf2onnx.onnx"), args.fresh or name in timed)
        # Rounds alternate the engines' processes, so load from elsewhere on the machine falls on
        # all of them alike; each figure is the best of every round.
        t: dict[str, float] = {}
        engines = ["onnx", "tf"] + ([] if args.skip_numpy else ["numpy"])
        for r in range(args.rounds):
            for engine in engines:
                if engine == "numpy" and r:
                    continue  # one round: it is slow, and far from the others
                for k, v in timings(engine, model, name, args.repeat).items():
                    t[k] = min(v, t.get(k, v))
        diffs = {}
        for batch in (1, 8):
            want = np.load(f"{model}.tf.{batch}.npy")
            for k in ("ours", "tf2onnx", "numpy"):
                f = Path(f"{model}.{k}.{batch}.npy")
                if f.is_file():
                    diffs[f"{k}/{batch}"] = float(np.max(np.abs(np.load(f) - want)))
        rows.append({"model": name, "convert_ours": ours, "tf2onnx": theirs, **t,
                     "max_diff": diffs})
        print(json.dumps(rows[-1]), flush=True)
    load_after = os.getloadavg()
    print()
    print(f"load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f} (1 min), "
          f"{load_before[1]:.2f} / {load_after[1]:.2f} (5 min)")
    print()
    print("Conversion, whole process, wall seconds (CPU seconds):")
    print()
    print("| model | ours | tf2onnx | tf2onnx / ours (wall) | tf2onnx / ours (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        o, t2 = r["convert_ours"], r["tf2onnx"]
        theirs = f"{t2['seconds']:.1f} ({t2.get('cpu', float('nan')):.1f})" + (
            " cached" if t2.get("cached") else "") + (f" ({t2['error']})" if "error" in t2 else "")
        cpu_ratio = f"{t2['cpu'] / o['cpu']:.1f}x" if "cpu" in t2 else "-"
        print(f"| {r['model']} | {o['seconds']:.2f} ({o['cpu']:.2f}) | {theirs} | "
              f"{t2['seconds'] / o['seconds']:.1f}x | {cpu_ratio} |")
    print()
    print("Inference per call, best wall ms (CPU ms of that call):")
    print()
    print("| model | batch | ours on ORT | tf2onnx on ORT | TF | numpy | tf2onnx / ours | TF / ours |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def ms(r: dict, key: str) -> str:
        return "-" if key not in r else f"{r[key] * 1e3:.1f} ({r[key + '/cpu'] * 1e3:.0f})"

    for r in rows:
        for b in (1, 8):
            o, t2, tf_ = r[f"ours/{b}"], r.get(f"tf2onnx/{b}"), r[f"tf/{b}"]
            vs = "-" if t2 is None else f"{t2 / o:.2f}x"
            print(f"| {r['model']} | {b} | {ms(r, f'ours/{b}')} | {ms(r, f'tf2onnx/{b}')} | {ms(r, f'tf/{b}')} | "
                  f"{ms(r, f'numpy/{b}')} | {vs} | {tf_ / o:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_before": load_before, "load_after": load_after,
                                               "cores": len(os.sched_getaffinity(0)), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
