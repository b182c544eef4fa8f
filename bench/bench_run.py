"""Benchmark: running MobileNetV2 without TensorFlow vs with it, same run, same machine.

    TF_CPP_MIN_LOG_LEVEL=3 python bench/bench_run.py [--repeat 5] [--keep DIR]

Builds (with TensorFlow) two SavedModels of ``keras.applications.MobileNetV2``
(weights=None, 224x224x3):

* ``keras``: ``model.export()`` (Keras 3, TF2 functions, resource variables);
* ``frozen``: the same network frozen to constants in a TF1 graph SavedModel,
  because ``saved_model_cli run`` cannot run Keras 3 exports (tf_quirks.md).

and reports:

1. whole process: ``savedmodel-io run`` vs ``saved_model_cli run`` with the same
   arguments (``--inputs x=input.npy``), best of ``--repeat`` fresh processes; on the
   Keras export TensorFlow's CLI fails, so the TF side there is the smallest
   Python script doing the same (load, call the signature, print);
2. per inference, warm: ``savedmodel_io.load(p).signatures[k](x=...)`` vs
   ``tf.saved_model.load(p).signatures[k](x=...)``, best of ``--repeat`` x 5 calls;
3. where our time goes: time per op type over one warm inference.
"""

from __future__ import annotations

import argparse
import collections
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

import savedmodel_io  # noqa: E402

TF_SCRIPT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
out = m.signatures["serving_default"](x=tf.constant(np.load(sys.argv[2])))
for k in sorted(out):
    print("Result for output key %s:\\n%s" % (k, out[k].numpy()))
"""


def build(root: Path) -> tuple[Path, Path, Path]:
    """The Keras export, the frozen TF1 SavedModel and an input .npy."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.applications.MobileNetV2(
        weights=None, input_tensor=tf.keras.Input((224, 224, 3), name="x"))
    keras_dir = root / "keras"
    model.export(str(keras_dir), verbose=False)

    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(
        fn.get_concrete_function(tf.TensorSpec([None, 224, 224, 3], tf.float32, name="x")))
    graph_def = frozen.graph.as_graph_def()
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(graph_def, name="")
        x = g.get_tensor_by_name(frozen.inputs[0].name)
        y = g.get_tensor_by_name(frozen.outputs[0].name)
        with tf.compat.v1.Session(graph=g) as sess:
            frozen_dir = root / "frozen"
            b = tf.compat.v1.saved_model.Builder(str(frozen_dir))
            sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"output_0": y})
            b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
            b.save()
    x = np.random.RandomState(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    np.save(root / "input.npy", x)
    return keras_dir, frozen_dir, root / "input.npy"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def best_process(argv: list[str], repeat: int) -> tuple[float, float, int, str]:
    """(best wall seconds, best CPU seconds, exit code, stdout) over fresh processes."""
    walls, cpus, code, out = [], [], 0, ""
    for _ in range(repeat):
        c0 = _children_cpu()
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        walls.append(time.perf_counter() - t)
        cpus.append(_children_cpu() - c0)
        code, out = p.returncode, p.stdout
    return min(walls), min(cpus), code, out


def best_call(fn, repeat: int, inner: int = 5) -> tuple[float, float]:
    """(best wall seconds, best process CPU seconds) per call (CPU includes worker threads)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        walls.append((time.perf_counter() - t) / inner)
        cpus.append((time.process_time() - c) / inner)
    return min(walls), min(cpus)


def op_profile(sig, x) -> list[tuple[str, float, int]]:
    """Seconds per op type in one warm run (time between consecutive trace events).

    Time spent between events (BLAS worker threads still spinning after a matmul,
    the interpreter loop) lands on the next op, so read it together with the
    per-kernel CPU figures above.
    """
    totals: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter = collections.Counter()
    last = [time.perf_counter()]

    def trace(ev):
        now = time.perf_counter()
        if ev.depth > 0 or ev.node.op not in ("StatefulPartitionedCall", "PartitionedCall"):
            totals[ev.node.op] += now - last[0]
            counts[ev.node.op] += 1
        last[0] = time.perf_counter()

    from savedmodel_io.graph.runtime import run_signature

    run_signature(sig.meta_graph, sig.key, {"x": x}, trace=trace)
    return sorted(((k, v, counts[k]) for k, v in totals.items()), key=lambda r: -r[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build into (and keep) this directory")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_run_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        import tensorflow as tf

        keras_dir, frozen_dir, inp = build(root)
        print(f"tensorflow {tf.__version__}; numpy {np.__version__}; "
              f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
        ours_cli = [sys.executable, "-m", "savedmodel_io", "run"]
        smcli = [str(Path(sys.executable).with_name("saved_model_cli")), "run"]
        common = ["--tag_set", "serve", "--signature_def", "serving_default", "--inputs", f"x={inp}"]

        print("\n## whole process (seconds, best of %d; wall / CPU)" % args.repeat)
        print(f"{'model':8} {'savedmodel-io run':>18} {'TensorFlow':>12} {'speed-up':>13}  TF side")
        for name, d in (("frozen", frozen_dir), ("keras", keras_dir)):
            t_ours, u_ours, c_ours, out_ours = best_process(
                [*ours_cli, "--dir", str(d), *common], args.repeat)
            assert c_ours == 0, out_ours
            t_tf, u_tf, c_tf, out_tf = best_process([*smcli, "--dir", str(d), *common], args.repeat)
            side = "saved_model_cli run"
            if c_tf != 0:
                side = f"saved_model_cli run fails (exit {c_tf}); python script instead"
                t_tf, u_tf, c_tf, out_tf = best_process(
                    [sys.executable, "-c", TF_SCRIPT, str(d), str(inp)], args.repeat)
            same = out_ours.split("\n")[0] == out_tf.split("\n")[0]
            print(f"{name:8} {t_ours:8.2f} / {u_ours:6.2f} {t_tf:5.2f} / {u_tf:5.2f} "
                  f"{t_tf / t_ours:5.1f}x / {u_tf / u_ours:4.1f}x  {side}"
                  f"{'' if same else ' (outputs printed differently!)'}")

        x = np.load(inp)
        print("\n## per inference, warm (milliseconds, best of %d x 5; wall / CPU)" % args.repeat)
        print(f"{'model':8} {'ours':>15} {'TensorFlow':>15} {'ours/TF':>13}")
        for name, d in (("keras", keras_dir), ("frozen", frozen_dir)):
            sig = savedmodel_io.load(d).signatures["serving_default"]
            tf_fn = tf.saved_model.load(str(d)).signatures["serving_default"]
            tx = tf.constant(x)
            ours = sig(x=x)["output_0"]
            theirs = tf_fn(x=tx)["output_0"].numpy()
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
            t_ours, u_ours = best_call(lambda: sig(x=x), args.repeat)
            t_tf, u_tf = best_call(lambda: tf_fn(x=tx), args.repeat)
            print(f"{name:8} {t_ours * 1e3:6.1f} / {u_ours * 1e3:6.1f} {t_tf * 1e3:6.1f} / {u_tf * 1e3:6.1f} "
                  f"{t_ours / t_tf:5.2f} / {u_ours / u_tf:5.2f}")

        print("\n## where our time goes (keras export, one warm inference)")
        sig = savedmodel_io.load(keras_dir).signatures["serving_default"]
        sig(x=x)
        rows = op_profile(sig, x)
        total = sum(r[1] for r in rows)
        for op, t, n in rows[:8]:
            print(f"{op:24} {n:4d} nodes {t * 1e3:8.1f} ms {100 * t / total:5.1f}%")
        print(f"{'(all ops)':24} {sum(r[2] for r in rows):4d} nodes {total * 1e3:8.1f} ms")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
