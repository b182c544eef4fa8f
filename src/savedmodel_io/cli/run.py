"""``savedmodel-io run``: run a SignatureDef without TensorFlow, like ``saved_model_cli run``.

Same flags and input syntax as saved_model_cli; the stdout is the same
``Result for output key <key>:`` blocks (outputs in sorted key order, numpy's
text form) and ``Output <key> is saved to <path>`` lines. Differences, on purpose:

* pickle files are only loaded with ``--allow_pickle``; ``--input_exprs`` is
  evaluated by an allow-list parser, never ``eval``;
* signatures without inputs can run; ``--outdir`` checks every target before
  writing anything, and writes each file atomically;
* ``--tf_debug`` is a trace (dtype, shape, min/max of every op output on stderr,
  stopping at the first NaN/Inf) rather than TensorFlow's interactive debugger;
* ``--check`` lists the ops the runtime lacks; ``--backend onnxruntime`` (or ``auto``)
  runs the signature exported to ONNX on onnxruntime (the export is cached on disk);
  ``--backend tensorflow`` runs the same command through TensorFlow, for comparison;
  ``--no_optimize`` runs the saved graph node by node (the optimised program is the
  default; ``--tf_debug`` names the saved graph's nodes either way).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from savedmodel_io.cli._absl import accept_saved_model_cli_flags, bool_flag
from savedmodel_io.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    ModelExistsError,
    RuntimeFailure,
)
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers
    from savedmodel_io.model import MetaGraph

_HELP = """Usage example:
To run input tensors from files through a MetaGraphDef and save the output tensors to files:
$savedmodel-io run --dir /tmp/saved_model --tag_set serve \\
   --signature_def serving_default \\
   --inputs 'input1_key=/tmp/124.npz[x];input2_key=/tmp/123.npy' \\
   --input_exprs 'input3_key=np.ones(2)' \\
   --input_examples 'input4_key=[{"id":[26],"weights":[0.5, 0.5]}]' \\
   --outdir=/out

For more information about input file format, please see:
https://www.tensorflow.org/guide/saved_model_cli
"""

def register(subparsers: Subparsers) -> None:
    """Add the ``run`` parser (the flags of ``saved_model_cli run`` plus a few of ours)."""
    p = subparsers.add_parser(
        "run",
        help="run a SignatureDef on inputs without TensorFlow (saved_model_cli run)",
        description=_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--dir", "-dir", required=True, help="Directory containing the SavedModel.")
    p.add_argument("--tag_set", "-tag_set", required=True,
                   help="Comma-separated set of tags that identify variant graphs in the SavedModel.")
    p.add_argument("--signature_def", "-signature_def", required=True,
                   help="Specifies a SignatureDef (by key) within the SavedModel to run.")
    p.add_argument("--inputs", "-inputs", default="",
                   help="Input data files to pass to numpy.load(): '<input_key>=<filename>' or "
                   "'<input_key>=<filename>[<variable_name>]', separated by ';'. .npy and .npz "
                   "(pickle files only with --allow_pickle).")
    p.add_argument("--input_exprs", "-input_exprs", default="",
                   help="Python literals or numpy constructors: \"<input_key>='<expression>'\", "
                   "separated by ';'. Numpy is 'np' (np.ones, np.zeros, np.full, np.arange, "
                   "np.linspace, np.eye, np.random.*, ...); never passed to eval. Overrides "
                   "--inputs.")
    p.add_argument("--input_examples", "-input_examples", default="",
                   help="tf.train.Example inputs: '<input_key>=[{feature0:value_list,"
                   "feature1:value_list}]', separated by ';'. Overrides --inputs and --input_exprs.")
    p.add_argument("--outdir", "-outdir", default=None,
                   help="If specified, output tensors are saved to <outdir>/<output_key>.npy.")
    bool_flag(p, "overwrite", "If set, output files are overwritten if they already exist.")
    bool_flag(p, "tf_debug", "Trace mode: print every op's output dtype, shape and min/max to "
          "stderr and stop at the first NaN or Inf, naming the node.")
    p.add_argument("--worker", "-worker", default=None,
                   help="(TensorFlow only) a remote worker; not supported here.")
    bool_flag(p, "init_tpu", "(TensorFlow only) initialize a TPU system; not supported here.")
    bool_flag(p, "use_tfrt", "(TensorFlow only) run with TFRT; accepted and ignored.")
    bool_flag(p, "allow_pickle", "Allow --inputs files that are pickles (unpickling can run code).")
    bool_flag(p, "strict", "Refuse inputs whose dtype differs from the signature's (by default "
              "a conversion that changes no value beyond float rounding is made; see docs/run.md).")
    bool_flag(p, "check", "List the ops of the signature the runtime has no kernel for, and exit "
          "(status 1 if any).")
    p.add_argument("--no_optimize", "--no-optimize", dest="no_optimize", action="store_true",
                   help="Run the saved graph node by node, without the graph optimiser (no "
                   "inlining, constant folding or fusion): for debugging, e.g. with --tf_debug.")
    p.add_argument("--backend", choices=("numpy", "onnxruntime", "auto", "tensorflow"), default="numpy",
                   help="numpy (default, no TensorFlow); onnxruntime (the signature exported to ONNX, "
                   "cached under the user cache dir, run on onnxruntime); auto (onnxruntime when "
                   "installed and the signature exports, else numpy); tensorflow (needs TensorFlow).")
    p.add_argument("--json", action="store_true",
                   help="print outputs (or --check's missing kernels) as one JSON document")
    _budget_flags(p)
    accept_saved_model_cli_flags(p)
    add_links_flag(p)
    p.set_defaults(_run=run)


def _budget_flags(p: argparse.ArgumentParser) -> None:
    """Work limits of the run (savedmodel_io.graph.budget.Budget); 0 lifts a limit."""
    from savedmodel_io.graph.budget import Budget

    default = Budget()
    p.add_argument("--max_seconds", type=float, default=default.max_seconds, metavar="S",
                   help="stop a run that takes longer than S seconds (0: no limit)")
    p.add_argument("--max_loop_iterations", type=int, default=default.max_loop_iterations,
                   metavar="N", help="stop a While loop at its N+1-th iteration (0: no limit)")
    p.add_argument("--max_python_elements", type=int, default=default.max_python_elements,
                   metavar="N", help="stop once string, lookup-table and parsing ops would "
                   "handle more than N elements one by one in Python (0: no limit)")


def _budget(args: argparse.Namespace) -> Any:
    """The Budget the flags ask for (a limit of 0 or less is no limit)."""
    from savedmodel_io.graph.budget import Budget

    def limit(value: Any) -> Any:
        return value if value is not None and value > 0 else None

    return Budget(max_seconds=limit(args.max_seconds),
                  max_loop_iterations=limit(args.max_loop_iterations),
                  max_python_elements=limit(args.max_python_elements))


def run(args: argparse.Namespace) -> int:
    """Run the signature and print (and optionally save) its outputs."""
    from savedmodel_io.cli.run_inputs import load_inputs
    from savedmodel_io.model import load, normalize_tags

    if args.worker:
        raise InvalidArgumentError("--worker (a remote TensorFlow session) is not supported")
    if args.init_tpu:
        raise InvalidArgumentError("--init_tpu is not supported (no TPUs without TensorFlow)")
    tags = normalize_tags(args.tag_set)
    if not tags:
        raise InvalidArgumentError("--tag_set must contain at least one non-empty tag")
    model = load(args.dir, allow_external_links=args.allow_external_links)
    mg = model.meta_graph(tags)
    sess = mg.session
    sig = sess.signature(args.signature_def)

    if args.check:
        return _check(mg, args.signature_def, as_json=getattr(args, "json", False))

    feed = load_inputs(args.inputs, args.input_exprs, args.input_examples,
                       allow_pickle=args.allow_pickle)
    valid = list(sig.inputs)
    for key in feed:
        if key not in sig.inputs:
            raise InvalidArgumentError(
                f'"{key}" is not a valid input key. Please choose from '
                f'{", ".join(chr(34) + k + chr(34) for k in valid) or "(no inputs)"}, or use the '
                "show command.", path=args.dir)
    targets = _output_paths(args, sorted(sig.outputs))
    if args.backend == "tensorflow":
        missing = sorted(set(valid) - set(feed))
        if missing:  # a TF2 signature function takes every input
            raise InvalidArgumentError(
                f"no value for input {', '.join(repr(m) for m in missing)}: give it with "
                "--inputs, --input_exprs or --input_examples", path=args.dir)
        outputs = _run_tensorflow(args, tags, feed)
    elif args.backend in ("onnxruntime", "auto") and _use_onnxruntime(args, mg, feed):
        from savedmodel_io.onnx import backend as ort_backend
        from savedmodel_io.onnx.cache import DiskCache

        outputs = ort_backend.run(mg.signature(args.signature_def), feed, cache=DiskCache(),
                                  strict=args.strict)
    else:
        # Like saved_model_cli (a TF1 session), feed only what was given: inputs no output
        # needs, and inputs with defaults, may be left out.
        trace = _Tracer() if args.tf_debug else None
        sess.budget = _budget(args)  # for the init op too
        outputs = sess.run_signature(args.signature_def, feed, strict=args.strict, trace=trace,
                                     partial=True, optimize=not args.no_optimize)
    if targets is not None:
        from savedmodel_io._fsutil import make_directory

        make_directory(args.outdir, "--outdir")
    if getattr(args, "json", False):
        return _print_json(outputs, targets)
    for key in sorted(outputs):
        # "%s", not an f-string: format() turns a 0-d array into a Python float (float64 digits).
        print("Result for output key %s:\n%s" % (key, outputs[key]))
        if targets is not None:
            _save(targets[key], outputs[key])
            print(f"Output {key} is saved to {targets[key]}")
    sys.stdout.flush()
    return 0


def _use_onnxruntime(args: argparse.Namespace, mg: Any, feed: dict[str, Any]) -> bool:
    """--backend onnxruntime (always) or auto (onnxruntime installed, every input given, the signature exports)."""
    from savedmodel_io.onnx import backend as ort_backend
    from savedmodel_io.onnx.cache import DiskCache

    if args.tf_debug:
        if args.backend == "onnxruntime":
            raise InvalidArgumentError("--tf_debug traces the numpy runtime: use --backend numpy")
        return False
    if args.backend == "onnxruntime":
        return True
    if set(feed) != set(mg.signature(args.signature_def).inputs):
        return False  # the numpy runtime feeds only what was given (TF1 session style)
    return ort_backend.usable(mg.signature(args.signature_def), feed, cache=DiskCache())


def _print_json(outputs: dict[str, Any], targets: dict[str, str] | None) -> int:
    """--json: every output's dtype, shape and value (strings as text or base64)."""
    import json

    from savedmodel_io.cli.variables import _jsonable

    doc = {}
    for key in sorted(outputs):
        arr = np.asarray(outputs[key])
        doc[key] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "value": _jsonable(arr)}
        if targets is not None:
            _save(targets[key], outputs[key])
            doc[key]["saved_to"] = targets[key]
    print(json.dumps({"outputs": doc}, indent=1))
    return 0


def _check(mg: MetaGraph, key: str, as_json: bool = False) -> int:
    from savedmodel_io.graph.runtime import check_signature

    missing = check_signature(mg, key)
    if as_json:
        import json

        print(json.dumps({"signature": key, "missing": [
            {"op": m.op, "node": m.node, "function": m.function, "custom": m.note}
            for m in missing]}, indent=1))
        return 1 if missing else 0
    if not missing:
        print(f"All ops of signature '{key}' have kernels: it can run without TensorFlow.")
        return 0
    ops = sorted({m.op for m in missing})
    print(f"Signature '{key}' needs {len(ops)} op(s) the runtime has no kernel for: {', '.join(ops)}")
    for m in missing:
        note = f" ({m.note})" if m.note else ""
        print(f"  {m.op}{note}: node '{m.node}' in {m.function}")
    return 1


def _check_outdir(outdir: str) -> None:
    """--outdir must be a directory (or not exist yet: it is created after the run)."""
    from savedmodel_io._fsutil import kind_of

    try:
        mode = os.stat(outdir).st_mode
    except FileNotFoundError:
        if os.path.islink(outdir):
            raise InvalidArgumentError(
                f"--outdir is a symbolic link to {os.readlink(outdir)!r}, which does not exist",
                path=outdir) from None
        return
    except OSError as exc:  # a parent is a file, a symlink loop, no permission
        raise InvalidArgumentError(f"--outdir cannot be used ({exc.strerror or exc})",
                                   path=outdir) from None
    if not stat.S_ISDIR(mode):
        raise InvalidArgumentError(f"--outdir is {kind_of(mode)}, not a directory", path=outdir)


def _output_paths(args: argparse.Namespace, keys: list[str]) -> dict[str, str] | None:
    """``<outdir>/<key>.npy`` per output, refusing unsafe names and existing files that are not
    to be (without --overwrite) or cannot be (not a file) replaced."""
    from pathlib import Path

    from savedmodel_io._fsutil import check_file_target

    if not args.outdir:
        return None
    _check_outdir(args.outdir)
    paths = {}
    for key in keys:
        # "<key>.npy" must stay inside outdir ("..", giving "...npy", is fine).
        if "/" in key or os.sep in key or "\0" in key:
            raise InvalidArgumentError(f"output key {key!r} cannot be used as a file name",
                                       path=args.outdir)
        path = os.path.join(args.outdir, key + ".npy")
        if not args.overwrite and os.path.lexists(path):
            raise ModelExistsError(
                f'Output file {path} already exists. Add "--overwrite" to overwrite the existing '
                "output files.", path=path)
        if os.path.isdir(args.outdir):
            check_file_target(Path(path), overwrite=True)  # only files are replaced
        paths[key] = path
    return paths


def _save(path: str, value: Any) -> None:
    from savedmodel_io._fsutil import atomic_file

    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype == object:
        # A scalar string: TensorFlow's session hands saved_model_cli a bytes object, which
        # numpy saves as a fixed-width "S" array (no pickle needed to load it).
        arr = np.asarray(arr.item())
    with atomic_file(path) as f:
        np.save(f, arr, allow_pickle=arr.dtype == object)


class _Tracer:
    """--tf_debug: one stderr line per op output; stop at the first NaN/Inf.

    Lines name the saved graph's nodes: a node the optimiser fused stands for several,
    named after the one whose output it computes, the others listed.
    """

    def __call__(self, event: Any) -> None:
        node = event.node
        indent = "  " * event.depth
        *fused, last = node.origins
        also = " (fused: " + ", ".join(f"{o.name} {o.op}" for o in fused) + ")" if fused else ""
        for i, v in enumerate(event.outputs):
            desc = _describe(v)
            print(f"{indent}{last.name}:{i} {last.op} {desc}{also}", file=sys.stderr)
            if isinstance(v, np.ndarray) and v.dtype.kind in "fc" and v.size and not np.isfinite(v).all():
                kind = "NaN" if np.isnan(v).any() else "Inf"
                raise RuntimeFailure(f"output {i} has {kind} values (first NaN/Inf in this run)",
                                     where=node.where)


def _describe(v: Any) -> str:
    if isinstance(v, (np.ndarray, np.generic)):
        a = np.asarray(v)
        shape = "[" + ",".join(str(d) for d in a.shape) + "]"
        if a.size and a.dtype.kind in "biuf":
            with np.errstate(all="ignore"):
                return f"{a.dtype}{shape} min={a.min()} max={a.max()}"
        return f"{a.dtype}{shape}"
    return repr(v)


def _run_tensorflow(args: argparse.Namespace, tags: frozenset[str], feed: dict[str, Any]
                    ) -> dict[str, np.ndarray]:
    """The same signature through TensorFlow (``--backend tensorflow``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependencyError("--backend tensorflow needs TensorFlow installed") from None
    loaded = tf.saved_model.load(args.dir, tags=sorted(tags))
    fn = loaded.signatures[args.signature_def]
    specs = fn.structured_input_signature[1]
    tf_inputs = {k: tf.constant(np.asarray(v) if not isinstance(v, np.ndarray) else v,
                                dtype=specs[k].dtype) for k, v in feed.items()}
    return {k: v.numpy() for k, v in fn(**tf_inputs).items()}
