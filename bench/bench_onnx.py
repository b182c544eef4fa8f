"""Benchmark: ONNX export without TensorFlow, against tf2onnx, and inference on onnxruntime.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_onnx.py [--models resnet50,...] [--convert resnet50,bert]
        [--repeat 15] [--skip-numpy] [--ort-config KEY=VALUE,...] [--json OUT]

Builds (with TensorFlow, once, cached under ``bench/.cache/onnx``) Keras 3 exports of
ResNet50 (224x224), MobileNetV2 (96x96), VGG16 (224x224), a BERT-base-shaped encoder
(12 layers, hidden 768, 12 heads, FFN 3072, sequence 128) and a 2-layer LSTM (256 units,
sequence 50), all ``weights=None`` / random init (``--models op_ffn_in,...`` adds single
layers at those models' dominant shapes, see ``OPS``), and reports:

1. conversion, whole process (fresh interpreter, import to written file), wall and CPU
   seconds (user + system of the child): ours (``savedmodel-io export --format onnx``, best of
   2, into a temporary directory) vs ``python -m tf2onnx.convert --saved-model`` (opset 18,
   tf2onnx's newest), both timed in this run for the ``--convert`` models (the issue's
   anchors: ResNet50 and the BERT-shaped encoder); for the other models tf2onnx's export is
   only needed for inference and is reused from the cache when there (``--fresh`` converts
   those again too: minutes and gigabytes);
2. inference per call, batch 1 and 8, warm (3 calls first): our export on onnxruntime with
   the backend's own session options (``savedmodel_io.onnx.backend.session_options``: what
   ``backend="onnxruntime"`` runs) vs tf2onnx's export with the same options vs TensorFlow
   (``tf.saved_model.load(p).signatures[k]``) vs the numpy runtime, plus one more "ours" per
   ``--ort-config`` (onnxruntime session config entries over the backend's). Every engine is
   its own worker process (one engine's thread pool must not run inside another's timings);
   the driver asks them for one call at a time in turn, rotating the order each round, for
   ``--repeat`` rounds, so load from elsewhere falls on all alike. Figures: best wall (median
   wall) / best CPU (user + system, all threads of the worker: the work done, which load from
   elsewhere changes least). Every engine's
   outputs are compared with TensorFlow's (the largest difference is printed).

The load average before and after the run and per model is printed (figures from a busy
machine are not comparable); ``--json OUT`` also writes every figure as JSON.
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
MODELS = ["resnet50", "mobilenetv2", "vgg16", "bert", "lstm", "melspec"]
# Single layers at the shapes that dominate the models above (``--models op_...``): where the
# whole-model ratios come from. Input shape without the batch, and the Keras layer.
OPS = {
    "op_ffn_in": ((128, 768), "L.Dense(3072)"),  # BERT: hidden -> FFN
    "op_ffn_out": ((128, 3072), "L.Dense(768)"),  # BERT: FFN -> hidden
    "op_conv_resnet": ((56, 56, 64), "L.Conv2D(64, 3, padding='same', activation='relu')"),  # ResNet50 stage 1
    "op_conv_vgg": ((224, 224, 64), "L.Conv2D(64, 3, padding='same', activation='relu')"),  # VGG16 block 1
}

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
elif name == "melspec":
    # A keyword-spotting shape: 1 s of 16 kHz audio -> 64-bin log-mel spectrogram (RFFT inside,
    # complex values in the exported graph) -> small CNN.
    L = k.layers
    x = k.Input((16000,), name="x")
    s = L.MelSpectrogram(fft_length=512, sequence_stride=160, sequence_length=400, num_mel_bins=64,
                         sampling_rate=16000)(x)
    h = L.Reshape((64, -1, 1))(s)
    h = L.MaxPooling2D()(L.Conv2D(32, 3, activation="relu")(h))
    h = L.GlobalAveragePooling2D()(L.Conv2D(64, 3, activation="relu")(h))
    m = k.Model(x, L.Dense(10)(h))
else:
    L = k.layers
    shape, layer = eval(sys.argv[3])
    x = k.Input(shape, name="x")
    m = k.Model(x, eval(layer)(x))
m.export(out, verbose=False)
'''


def inputs(name: str, batch: int):
    import numpy as np

    rs = np.random.RandomState(batch)
    if name in OPS:
        return {"x": rs.uniform(-1, 1, (batch, *OPS[name][0])).astype(np.float32)}
    if name == "bert":
        return {"x": rs.randint(0, 30522, (batch, 128)).astype(np.int32)}
    if name == "lstm":
        return {"x": rs.standard_normal((batch, 50, 64)).astype(np.float32)}
    if name == "melspec":
        return {"x": rs.uniform(-1, 1, (batch, 16000)).astype(np.float32)}
    size = 96 if name == "mobilenetv2" else 224
    return {"x": rs.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)}


def build(name: str) -> Path:
    out = CACHE / name / "model"
    if not (out / "saved_model.pb").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, name, str(out), repr(OPS.get(name))], check=True, env=ENV)
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


# -- per-inference timing: one worker process per engine, calls interleaved by the driver ----------

def _ort_config(spec: str) -> dict[str, str]:
    """``KEY=VALUE,KEY=VALUE`` as a dict (session config entries, or SessionOptions attributes)."""
    return dict(item.split("=", 1) for item in spec.split(",") if item)


def worker(engine: str, model: str, name: str, out: str) -> None:
    """Serve "warm BATCH" (3 calls, output saved) / "run BATCH" (one call timed) / "quit" on stdin."""
    import numpy as np

    if engine.startswith("ours") or engine == "tf2onnx":
        from savedmodel_io.onnx.backend import session_options

        import onnxruntime as ort

        config = _ort_config(engine[len("ours["):-1]) if engine.startswith("ours[") else {}
        # SessionOptions attributes (intra_op_num_threads=1) are set as such, the rest are config entries.
        attrs = {k: int(v) for k, v in config.items() if hasattr(ort.SessionOptions, k)}
        opts = session_options({k: v for k, v in config.items() if k not in attrs})
        for k, v in attrs.items():
            setattr(opts, k, v)
        path = f"{out}/{name}.ours.onnx" if engine.startswith("ours") else f"{model}.tf2onnx.onnx"
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        key = sess.get_inputs()[0].name
        fn = lambda feed: sess.run(None, {key: feed["x"]})[0]  # noqa: E731
    elif engine == "tf":
        import tensorflow as tf

        f = tf.saved_model.load(model).signatures["serving_default"]
        fn = lambda feed: list(f(x=tf.constant(feed["x"])).values())[0].numpy()  # noqa: E731
    else:
        import savedmodel_io

        sig = savedmodel_io.load(model).signatures["serving_default"]
        fn = lambda feed: list(sig(**feed).values())[0]  # noqa: E731
    feeds = {b: inputs(name, b) for b in (1, 8)}
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, arg = (line.split() + [""])[:2]
        if cmd == "quit":
            break
        feed = feeds[int(arg)]
        if cmd == "warm":
            for _ in range(3):
                y = fn(feed)
            np.save(f"{out}/{name}.{engine}.{arg}.npy", np.asarray(y))
            print("ok", flush=True)
            continue
        c = time.process_time()
        t = time.perf_counter()
        fn(feed)
        wall = time.perf_counter() - t
        print(json.dumps([wall, time.process_time() - c]), flush=True)


class Worker:
    """One engine's process: loads the model, then answers the driver one call at a time."""

    def __init__(self, engine: str, model: Path, name: str, out: str) -> None:
        self.engine = engine
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", engine, str(model), name, out], env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reply()

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def reply(self) -> str:
        assert self.proc.stdout is not None
        text = self.proc.stdout.readline().strip()
        if not text:
            raise SystemExit(f"worker {self.engine} died (exit status {self.proc.wait()})")
        return text

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait()


def timings(engines: list[str], model: Path, name: str, out: str, repeat: int) -> dict[str, float]:
    """Best wall, median wall and best CPU time per engine and batch, the engines' calls interleaved."""
    import statistics

    workers = []
    try:
        for e in engines:
            try:
                workers.append(Worker(e, model, name, out))
            except SystemExit as exc:  # tf2onnx may write a model onnxruntime refuses (its error is above)
                if e != "tf2onnx":
                    raise
                print(f"{name}: {exc}", file=sys.stderr)
        result: dict[str, float] = {}
        for batch in (1, 8):
            for w in workers:
                w.ask(f"warm {batch}")
            calls: dict[str, list[tuple[float, float]]] = {w.engine: [] for w in workers}
            for r in range(repeat):
                # Rotate the order each round: load from elsewhere falls on every engine alike.
                for w in workers[r % len(workers):] + workers[:r % len(workers)]:
                    calls[w.engine].append(tuple(json.loads(w.ask(f"run {batch}"))))
            for e, c in calls.items():
                result[f"{e}/{batch}"] = min(w for w, _ in c)
                result[f"{e}/{batch}/cpu"] = min(cpu for _, cpu in c)  # the work, whatever the load
                result[f"{e}/{batch}/median"] = statistics.median(w for w, _ in c)
        return result
    finally:
        for w in workers:
            w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=15, help="timed calls per engine and batch, interleaved")
    ap.add_argument("--convert", default="resnet50,bert",
                    help="models whose conversion is timed in this run, ours and tf2onnx's (the anchors)")
    ap.add_argument("--skip-numpy", action="store_true", help="leave out the numpy runtime")
    ap.add_argument("--fresh", action="store_true",
                    help="convert the other models with tf2onnx again too (else its cached export)")
    ap.add_argument("--ort-config", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                    help="one more engine: our export on onnxruntime with these session config entries or "
                         "SessionOptions attributes over the backend's (session.intra_op.allow_spinning=1, "
                         "intra_op_num_threads=1); repeatable")
    ap.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    import tempfile

    import numpy as np

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"{len(os.sched_getaffinity(0))} cores", flush=True)
    timed = set(args.convert.split(",")) if args.convert else set()
    variants = [f"ours[{c}]" for c in args.ort_config]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_onnx") as out:
        for name in args.models.split(","):
            model = build(name)
            ours = min((convert_ours(model, Path(out, f"{name}.ours.onnx")) for _ in range(2)),
                       key=lambda r: r["seconds"])
            theirs = None if name in OPS else convert_tf2onnx(model, Path(f"{model}.tf2onnx.onnx"),
                                                              args.fresh or name in timed)
            engines = ["ours", *variants] + (["tf2onnx"] if theirs and "error" not in theirs else []) + ["tf"] + (
                [] if args.skip_numpy else ["numpy"])
            load = os.getloadavg()[0]
            t = timings(engines, model, name, out, args.repeat)
            diffs = {}
            for batch in (1, 8):
                want = np.load(f"{out}/{name}.tf.{batch}.npy")
                for e in engines:
                    if e != "tf" and f"{e}/{batch}" in t:
                        diffs[f"{e}/{batch}"] = float(np.max(np.abs(np.load(f"{out}/{name}.{e}.{batch}.npy") - want)))
            rows.append({"model": name, "convert_ours": ours, "tf2onnx": theirs, **t, "max_diff": diffs,
                         "load": [load, os.getloadavg()[0]]})
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
        if t2 is None:
            continue
        theirs = f"{t2['seconds']:.1f} ({t2.get('cpu', float('nan')):.1f})" + (
            " cached" if t2.get("cached") else "") + (f" ({t2['error']})" if "error" in t2 else "")
        cpu_ratio = f"{t2['cpu'] / o['cpu']:.1f}x" if "cpu" in t2 else "-"
        print(f"| {r['model']} | {o['seconds']:.2f} ({o['cpu']:.2f}) | {theirs} | "
              f"{t2['seconds'] / o['seconds']:.1f}x | {cpu_ratio} |")
    print()
    print(f"Inference per call, best wall ms (median wall) / best CPU ms, {args.repeat} interleaved "
          "calls per engine; ratios of best wall times (of best CPU times):")
    print()

    def ms(r: dict, key: str) -> str:
        if key not in r:
            return "-"
        return f"{r[key] * 1e3:.1f} ({r[key + '/median'] * 1e3:.1f}) / {r[key + '/cpu'] * 1e3:.0f}"

    print("| model | batch | ours on ORT | tf2onnx on ORT | TF | numpy | tf2onnx / ours | TF / ours | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for b in (1, 8):
            o, t2, tf_ = r[f"ours/{b}"], r.get(f"tf2onnx/{b}"), r[f"tf/{b}"]
            vs = "-" if t2 is None else f"{t2 / o:.2f}x ({r[f'tf2onnx/{b}/cpu'] / r[f'ours/{b}/cpu']:.2f}x)"
            print(f"| {r['model']} | {b} | {ms(r, f'ours/{b}')} | {ms(r, f'tf2onnx/{b}')} | {ms(r, f'tf/{b}')} | "
                  f"{ms(r, f'numpy/{b}')} | {vs} | {tf_ / o:.2f}x ({r[f'tf/{b}/cpu'] / r[f'ours/{b}/cpu']:.2f}x) | "
                  f"{r['load'][0]:.1f}-{r['load'][1]:.1f} |")
    if variants:
        print()
        print("Our export on onnxruntime with other session config entries (same run):")
        print()
        print("| model | batch | config | ms | ours / this | TF / this |")
        print("| --- | ---: | --- | ---: | ---: | ---: |")
        for r in rows:
            for b in (1, 8):
                for v in variants:
                    print(f"| {r['model']} | {b} | `{v[5:-1]}` | {ms(r, f'{v}/{b}')} | "
                          f"{r[f'ours/{b}'] / r[f'{v}/{b}']:.2f}x | {r[f'tf/{b}'] / r[f'{v}/{b}']:.2f}x |")
    print()
    print("Largest difference from TensorFlow's outputs (any engine, batch 1 and 8):",
          ", ".join(f"{r['model']} {max(r['max_diff'].values(), default=0.0):.1e}" for r in rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"load_before": load_before, "load_after": load_after,
                                               "cores": len(os.sched_getaffinity(0)), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
