"""Benchmark: per-inference time of the numpy runtime against TensorFlow (and onnxruntime).

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_run.py [--models resnet50,...] [--batches 1,8]
        [--repeat 15] [--engines ours,ours_fast,tf,tf_noonednn,ort] [--variance] [--profile]
        [--process] [--baseline DIR]

All of issue 17's figures in one run (bench/README.md has the command): ``--variance
--profile`` with the defaults.

Models (bench/bench_models.py: Keras 3 exports, weights=None, built once with TensorFlow
into bench/.cache/run/): ResNet50, VGG16, ConvNeXt-Tiny (224x224), a BERT-base-shaped
encoder (12 layers, hidden 768, sequence 128), two stacked LSTMs (256 units, 50 steps) and
MobileNetV2 at 96x96.

Engines, each in its own worker process (TF_ENABLE_ONEDNN_OPTS is read when TensorFlow is
imported, and thread pools of one engine would otherwise spin inside another's timings):

* ``ours``: ``savedmodel_io.load(p).signatures[k](x=...)`` as a default install has it
  (threadpoolctl hidden: BLAS threads are set through the BLAS library's own controls);
* ``ours_fast``: the same with threadpoolctl importable (the ``fast`` extra);
* ``ours_numpy``: ``ours`` with its GEMMs on numpy's OpenBLAS (``SAVEDMODEL_IO_GEMM=numpy``),
  what an install without the ``mkl`` extra runs;
* ``tf``: ``tf.saved_model.load(p).signatures[k]``, TensorFlow's default (oneDNN on);
* ``tf_noonednn``: the same with ``TF_ENABLE_ONEDNN_OPTS=0``;
* ``ours_before``: ``ours`` run from another checkout (``--baseline DIR``: its ``src``, C
  loops built there), for before/after figures in one interleaved run;
* ``ort``: onnxruntime (default session options) on the model converted to ONNX by
  ``savedmodel_io.onnx.export`` when that exists, else by tf2onnx (``--opset 17``); the
  header line says which.

One driver process sends "run once" to the workers in turn, rotating the order each
round, ``--repeat`` rounds after three warm-up calls each; the table gives the best (and
median) wall time per call, the best CPU time (all threads of the worker) and ratios to
TensorFlow measured in that same run, with the load average in a comment. Every engine's
output is checked against TensorFlow's first (rtol 1e-3, atol 1e-4).

``--variance`` times 20 calls each of ResNet50, MobileNetV2 and the BERT encoder at batch
1 in these settings: BLAS left alone (what a default install did before the runtime set
BLAS threads itself), the default install, ``[fast]``, and other splits of the cores (the runtime's
ops serial with BLAS on every core; everything on one thread; ``Session.threads="auto"``),
so the default split can be checked on the machine at hand. ``--profile`` shows where our time
goes (top ops and the per-node cost) before and after the graph optimiser; ``--process``
compares whole processes at batch 1: ``savedmodel-io run --inputs x=input.npy`` against
the smallest TensorFlow script doing the same (load, call the signature, print), best of
``--repeat`` fresh processes (``saved_model_cli run`` cannot run Keras 3 exports, see
tf_quirks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_models  # noqa: E402

ENGINES = ("ours", "ours_fast", "tf", "tf_noonednn", "ort")
BASELINE: Path | None = None  # --baseline: the checkout the ours_before engine runs
VARIANCE_MODELS = ("resnet50", "mobilenetv2_96", "bert_base")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1",
       "PYTHONPATH": str(ROOT / "src")}


# -- worker side ------------------------------------------------------------------------------

def _load(engine: str, name: str):
    """A function running the model once on its input, returning the first output as numpy."""
    path = bench_models.build(name)
    if engine.startswith("ours"):
        import savedmodel_io

        sig = savedmodel_io.load(path).signatures["serving_default"]
        keys = sorted(sig.outputs)
        return lambda x: sig(x=x)[keys[0]]
    if engine.startswith("tf"):
        import tensorflow as tf

        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        keys = sorted(fn.structured_outputs)
        return lambda x: fn(x=tf.constant(x))[keys[0]].numpy()
    from savedmodel_io.onnx.backend import new_session

    onnx_path = _onnx_file(name)
    sess = new_session(str(onnx_path))  # backend="onnxruntime"'s own session options
    if onnx_path.parent.name.startswith("bench_run_"):  # a fresh export: loaded, so gone
        shutil.rmtree(onnx_path.parent)
    inp = sess.get_inputs()[0].name
    outs = sorted(o.name for o in sess.get_outputs())
    return lambda x: sess.run([outs[0]], {inp: x})[0]


def _onnx_file(name: str) -> Path:
    """Our own ONNX export, made afresh by this checkout's exporter (without the onnx package:
    tf2onnx's cached conversion)."""
    try:
        from savedmodel_io import onnx as sx
    except ImportError:
        sx = None
    if sx is not None:
        out = Path(tempfile.mkdtemp(prefix="bench_run_")) / f"{name}.onnx"
        out.write_bytes(sx.export(str(bench_models.build(name))).SerializeToString())
        return out
    out = bench_models.onnx_file(name)
    if out is None:
        raise RuntimeError(f"no ONNX conversion of {name}")
    return out


def worker(engine: str) -> None:
    """Serve "load NAME BATCH" / "run" / "out PATH" / "quit" on stdin; answer on stdout."""
    if engine in ("ours", "ours_before", "ours_numpy"):
        sys.modules["threadpoolctl"] = None  # type: ignore[assignment]  # a default install
    fn = x = None
    for line in sys.stdin:
        cmd, *args = line.split()
        try:
            if cmd == "load":
                fn, x = _load(engine, args[0]), bench_models.inputs(args[0], int(args[1]))
                for _ in range(3):
                    fn(x)
                reply = "ok"
            elif cmd == "run":
                c = time.process_time()
                t = time.perf_counter()
                fn(x)
                reply = f"{time.perf_counter() - t!r} {time.process_time() - c!r}"
            elif cmd == "out":
                np.save(args[0], np.asarray(fn(x)))
                reply = "ok"
            elif cmd == "variance":
                reply = json.dumps(_variance(args[0], args[1]))
            elif cmd == "profile":
                reply = json.dumps(_profile(args[0], int(args[1])))
            else:
                return
        except Exception as exc:  # reported to the driver, which prints it
            reply = "error " + f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        print(reply, flush=True)


def _variance(name: str, mode: str) -> list[float]:
    """20 warm calls of our runtime at batch 1. ``mode``: "before" = one thread of our own
    and BLAS left alone (what a default install did before), "now" = the Session's
    defaults, "T:B" = T threads of our own and B BLAS threads (the split of the cores;
    "auto" = the cores other processes leave free)."""
    import savedmodel_io

    mg = savedmodel_io.load(bench_models.build(name)).meta_graph()
    if mode == "before":
        mg.session.threads, mg.session.blas_threads = 1, None
    elif mode != "now":
        mg.session.threads, mg.session.blas_threads = (
            v if v == "auto" else int(v) for v in mode.split(":"))
    x = bench_models.inputs(name, 1)
    sig = mg.signatures["serving_default"]
    for _ in range(3):
        sig(x=x)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        sig(x=x)
        times.append(time.perf_counter() - t)
    return times


def _profile(name: str, batch: int) -> dict:
    """Top ops by time and the interpreter's cost per node, saved graph vs optimised.

    Kernel times are exclusive (a While's time excludes the nodes of its body); the
    interpreter's cost per node is the run's wall time minus its kernels' times, divided by
    the nodes run, in the same run (so load on the machine hits both alike); of 5 timed
    runs, the fastest.
    The whole-run time is measured separately, without the timers.
    """
    import savedmodel_io

    sess = savedmodel_io.load(bench_models.build(name)).meta_graph().session
    x = bench_models.inputs(name, batch)
    out = {}
    for optimize in (False, True):
        def run():
            sess.run_signature("serving_default", {"x": x}, optimize=optimize)
        run()
        whole = min(_timed_call(run) for _ in range(5))
        plans = [p for b in [sess.graph, *sess._bodies.values()] for p in b._plans.values()]
        plans += [p.plan for p in [*sess._programs.values(), *sess._functions.values()]]
        plans = list({id(p): p for p in plans}.values())
        saved = [p.steps for p in plans]
        best: tuple[float, float, dict[str, float], int] | None = None
        for _ in range(5):
            per: dict[str, float] = {}
            count: dict[str, int] = {}
            stack = [0.0]
            for p, steps in zip(plans, saved):
                p.steps = [(n, _exclusive(fn, n.op, per, count, stack), *rest)
                           for n, fn, *rest in steps]
            spent = _timed_call(run)
            nodes = sum(count.values())
            loop = max(spent - sum(per.values()), 0.0) / max(nodes, 1)
            if best is None or spent < best[0]:  # the least disturbed of the timed runs
                best = (spent, loop, per, nodes)
        for p, steps in zip(plans, saved):
            p.steps = steps
        _, loop, per, nodes = best
        out["optimised" if optimize else "saved graph"] = {
            "whole_ms": whole * 1e3, "nodes": nodes, "per_node_us": loop * 1e6,
            "top": sorted(((k, v * 1e3) for k, v in per.items()), key=lambda r: -r[1])[:6]}
    return out


def _timed_call(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _exclusive(fn, op: str, per: dict, count: dict, stack: list):
    """``fn`` adding its own time (minus the kernels it calls) to ``per[op]``."""
    def run(node, inputs, ctx):
        stack.append(0.0)
        t = time.perf_counter()
        try:
            return fn(node, inputs, ctx)
        finally:
            spent = time.perf_counter() - t
            inner = stack.pop()
            per[op] = per.get(op, 0.0) + spent - inner
            count[op] = count.get(op, 0) + 1
            stack[-1] += spent
    return run


# -- driver side -------------------------------------------------------------------------------

TF_SCRIPT = """
import sys
import numpy as np, tensorflow as tf
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = fn(x=tf.constant(np.load(sys.argv[2])))
for k in sorted(out):
    print("Result for output key %s:\\n%s" % (k, out[k].numpy()))
"""


def whole_process(name: str, repeat: int) -> tuple[float, float]:
    """Best wall seconds of fresh processes: ours (savedmodel-io run) and TensorFlow's script."""
    path = bench_models.build(name)
    inp = bench_models.CACHE / name / "input_b1.npy"
    np.save(inp, bench_models.inputs(name, 1))
    ours = [sys.executable, "-m", "savedmodel_io", "run", "--dir", str(path), "--tag_set", "serve",
            "--signature_def", "serving_default", "--inputs", f"x={inp}"]
    theirs = [sys.executable, "-c", TF_SCRIPT, str(path), str(inp)]
    best = {"ours": float("inf"), "tf": float("inf")}
    for _ in range(repeat):
        for key, argv in (("ours", ours), ("tf", theirs)):
            t = time.perf_counter()
            subprocess.run(argv, env=ENV, capture_output=True, check=True)
            best[key] = min(best[key], time.perf_counter() - t)
    return best["ours"], best["tf"]


class Worker:
    """One engine's worker process."""

    def __init__(self, engine: str) -> None:
        env = dict(ENV)
        if engine == "tf_noonednn":
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        if engine == "ours_numpy":
            env["SAVEDMODEL_IO_GEMM"] = "numpy"
        if engine == "ours_before":
            if BASELINE is None:
                raise SystemExit("the ours_before engine needs --baseline DIR")
            env["PYTHONPATH"] = str(BASELINE / "src")
        self.engine = engine
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", engine], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply or reply.startswith("error"):
            raise RuntimeError(f"{self.engine}: {reply or 'worker died'}")
        return reply

    def close(self) -> None:
        try:
            self.ask("quit")
        except (RuntimeError, BrokenPipeError):
            pass
        self.proc.wait(timeout=60)


def compare(name: str, batch: int, engines: list[str], repeat: int) -> dict:
    """Interleaved timings of every engine on one model and batch."""
    workers, notes = [], {}
    for e in engines:
        w = Worker(e)
        try:
            w.ask(f"load {name} {batch}")
            workers.append(w)
        except RuntimeError as exc:
            notes[e] = str(exc)
            w.close()
    ref = None
    tmp = bench_models.CACHE / name / f"out_b{batch}"
    tmp.mkdir(parents=True, exist_ok=True)
    for w in sorted(workers, key=lambda w: not w.engine.startswith("tf")):
        w.ask(f"out {tmp / w.engine}.npy")
        got = np.load(tmp / f"{w.engine}.npy")
        if ref is None:
            ref = got
        elif not np.allclose(got, ref, rtol=1e-3, atol=1e-4):
            notes[w.engine] = f"output differs from TensorFlow by {np.abs(got - ref).max():.2g}"
    times: dict[str, list[float]] = {w.engine: [] for w in workers}
    cpu: dict[str, list[float]] = {w.engine: [] for w in workers}
    for r in range(repeat):
        for k in range(len(workers)):
            w = workers[(k + r) % len(workers)]
            wall, used = (float(v) for v in w.ask("run").split())
            times[w.engine].append(wall)
            cpu[w.engine].append(used)
    for w in workers:
        w.close()
    return {"times": times, "cpu": cpu, "notes": notes}


def _versions() -> str:
    """The versions of the engines' packages (without importing them)."""
    from importlib import metadata

    out = []
    for dist in ("numpy", "tensorflow-cpu", "tensorflow", "onnxruntime", "tf2onnx",
                 "threadpoolctl"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def _fmt(ts: list[float], cpu: list[float]) -> str:
    return f"{min(ts) * 1e3:.1f} ({statistics.median(ts) * 1e3:.0f}) / {min(cpu) * 1e3:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--models", default=",".join(bench_models.BUILDERS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--variance", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--process", action="store_true")
    ap.add_argument("--baseline", type=Path,
                    help="another checkout, run as the ours_before engine (added to --engines)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.process:
        print("## whole process, batch 1 (s, best of %d fresh processes)" % args.repeat)
        print("| model | savedmodel-io run | TensorFlow script | speed-up |\n"
              "| --- | ---: | ---: | ---: |")
        for name in args.models.split(","):
            ours, theirs = whole_process(name, args.repeat)
            print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |", flush=True)
        return
    engines = args.engines.split(",")
    if args.baseline is not None:
        global BASELINE
        BASELINE = args.baseline.resolve()
        if "ours_before" not in engines:
            engines.insert(0, "ours_before")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {_versions()}")
    if "ort" in engines:
        ours = (ROOT / "src" / "savedmodel_io" / "onnx").is_dir()
        print("ort column: the model exported by "
              + ("savedmodel_io.onnx.export" if ours else "tf2onnx (--opset 17; savedmodel_io.onnx "
                 "is not in this checkout)"))
    if args.variance:
        w = Worker("ours")
        wf = Worker("ours_fast")
        cores = os.cpu_count() or 1
        splits = [f"1:{cores}", "1:1", "auto:1"]
        print("\n## per-inference variance and the split of threads, 20 calls, batch 1 "
              "(ms: min / median / max)")
        print("| model | before: BLAS left alone | default install | `[fast]` | "
              + " | ".join(f"{t} runtime, {b} BLAS" for t, b in (m.split(":") for m in splits))
              + " |\n| --- |" + " ---: |" * (3 + len(splits)))
        for name in VARIANCE_MODELS:
            cells = []
            runs = [(w, "before"), (w, "now"), (wf, "now"), *((w, m) for m in splits)]
            for worker_, mode in runs:
                ts = json.loads(worker_.ask(f"variance {name} {mode}"))
                cells.append(f"{min(ts) * 1e3:.1f} / {statistics.median(ts) * 1e3:.1f} / "
                             f"{max(ts) * 1e3:.1f}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        w.close()
        wf.close()
    if args.profile:
        w = Worker("ours")
        for name in args.models.split(","):
            prof = json.loads(w.ask(f"profile {name} 1"))
            print(f"\n## where the time goes: {name}, batch 1")
            for kind, p in prof.items():
                tops = ", ".join(f"{op} {ms:.1f} ms" for op, ms in p["top"])
                print(f"- {kind}: {p['whole_ms']:.1f} ms, {p['nodes']} nodes run, "
                      f"{p['per_node_us']:.1f} µs per node of interpreter; top: {tops}")
        w.close()
    print("\n## per inference (ms: best wall of %d (median wall) / best CPU; ratios of best wall "
          "times, CPU in brackets)" % args.repeat)
    cols = [e for e in engines]
    print("| model | batch | " + " | ".join(cols) + " | ours / tf | ours / tf_noonednn |")
    print("| --- | ---: | " + " | ".join("---:" for _ in cols) + " | ---: | ---: |")
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            load = os.getloadavg()[0]
            res = compare(name, batch, engines, args.repeat)
            t, c = res["times"], res["cpu"]
            cells = [_fmt(t[e], c[e]) if e in t else "-" for e in cols]

            def ratio(a: str, b: str) -> str:
                if a not in t or b not in t:
                    return "-"
                return f"{min(t[a]) / min(t[b]):.2f} ({min(c[a]) / min(c[b]):.2f})"
            print(f"| {name} | {batch} | " + " | ".join(cells) +
                  f" | {ratio('ours', 'tf')} | {ratio('ours', 'tf_noonednn')} |"
                  f" <!-- load {load:.1f} -->", flush=True)
            for e, note in res["notes"].items():
                print(f"  note: {e}: {note}", flush=True)


if __name__ == "__main__":
    main()
