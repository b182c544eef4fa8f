"""Run signatures on onnxruntime (the ``onnxruntime`` extra): ``backend="onnxruntime"`` / ``"auto"``.

A signature is exported once per process: its InferenceSession is kept on the
:class:`~savedmodel_io.model.Signature` (``auto`` also remembers when a signature
does not export, and runs it on numpy from then on). An input whose rank the signature
leaves unknown takes the rank of what is fed (one export per combination of ranks). The CLI passes a
:class:`~savedmodel_io.onnx.cache.DiskCache` so that a second ``run`` reads the
.onnx file exported by the first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, SavedModelError, UnsupportedOpError
from savedmodel_io.proto import DataType

__all__ = ["BACKENDS", "available", "complex_pairs", "from_pairs", "new_session", "output_keys", "ranks_of", "run",
           "session", "session_options", "unranked", "usable"]

BACKENDS = ("numpy", "onnxruntime", "auto")


def available() -> bool:
    """Whether onnxruntime and onnx can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def session_options(config: Mapping[str, str] | None = None) -> Any:
    """The SessionOptions every session gets (the benchmark uses them too, so it measures this).

    One op at a time over all the cores the process may use, every graph optimisation
    (NCHWc convolutions included), and no spinning: onnxruntime's pool threads otherwise
    busy-wait between ops, which on a machine where anything else runs takes the cores
    the next op needs (bench/README.md, ONNX section: measured both ways). ``config``
    adds or overrides onnxruntime session config entries (``{"session.intra_op.allow_spinning":
    "1"}`` turns spinning back on).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # include/onnxruntime/core/session/onnxruntime_session_options_config_keys.h: the spinning keys
    settings = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0", **(config or {})}
    for key, value in settings.items():
        opts.add_session_config_entry(key, value)
    return opts


def new_session(model: bytes | str) -> Any:
    """An InferenceSession on serialized ONNX bytes or an .onnx path (CPU)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError(
            "backend='onnxruntime' needs onnxruntime: pip install 'savedmodel-io[onnxruntime]'") from None
    return ort.InferenceSession(model, session_options(), providers=["CPUExecutionProvider"])


def session_of(proto: Any) -> Any:
    """An InferenceSession of a ModelProto (through a temporary file with external data past 2 GiB)."""
    from savedmodel_io.onnx._model import serialized, write

    data = serialized(proto)
    if data is not None:
        return new_session(data)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        write(proto, path)
        return new_session(str(path))


def unranked(signature: Any) -> list[str]:
    """The keys of a signature's inputs whose rank it leaves unknown (taken from each feed)."""
    return sorted(k for k, info in signature.proto.inputs.items()
                  if info.name and tensors.shape_from_proto(info.tensor_shape) is None)


def ranks_of(signature: Any, inputs: Mapping[str, Any]) -> dict[str, list[int | None]] | None:
    """``input_shapes`` for an export that takes the fed ranks of the inputs of unknown rank
    (every dim unknown, so one export serves every shape of that rank); None when none is."""
    keys = unranked(signature)
    if not keys:
        return None
    return {k: [None] * np.ndim(inputs[k]) for k in keys if k in inputs}


def session(signature: Any, *, cache: Any = None, opset: int | None = None,
            input_shapes: Mapping[str, list[int | None]] | None = None) -> Any:
    """The (cached) InferenceSession of a :class:`~savedmodel_io.model.Signature`.

    One per ``input_shapes`` (see :func:`ranks_of`). Raises UnsupportedOpError when the
    signature does not export (remembered, so ``auto`` falls back to numpy without exporting
    again).
    """
    key = None if not input_shapes else tuple(sorted((k, len(v)) for k, v in input_shapes.items()))
    states = signature._onnx
    if states is None:
        states = signature._onnx = {}
    state = states.get(key)
    if state is not None:
        if isinstance(state, SavedModelError):
            raise state
        return state
    mg = signature.meta_graph
    try:
        if cache is not None:
            sess = cache.session(mg, signature.key, opset, input_shapes)
        else:
            from savedmodel_io.onnx._export import export_meta_graph

            sess = session_of(export_meta_graph(mg, signature.key, opset, complex_pairs=True,
                                                input_shapes=input_shapes, bfloat16_as_float32=True))
    except SavedModelError as exc:
        if not isinstance(exc, MissingDependencyError):
            states[key] = exc
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own types: a model it cannot load (a kernel
        # it lacks) is a signature that does not run there, which "auto" runs on numpy instead
        failed = UnsupportedOpError(f"onnxruntime cannot run the exported model: {str(exc).strip()[:500]}",
                                    path=mg._path if mg is not None else None)
        states[key] = failed
        raise failed from None
    states[key] = sess
    return sess


def usable(signature: Any, inputs: Mapping[str, Any] | None = None, *, cache: Any = None) -> bool:
    """``auto``'s choice: whether onnxruntime is installed and the signature exports (for
    inputs of unknown rank, at the ranks of ``inputs``)."""
    if not available():
        return False
    shapes = ranks_of(signature, inputs or {})
    if shapes is not None and len(shapes) < len(unranked(signature)):
        return False  # an input of unknown rank is missing: the numpy runtime says which
    try:
        session(signature, cache=cache, input_shapes=shapes)
    except UnsupportedOpError:
        return False
    return True


def run(signature: Any, inputs: Mapping[str, Any], *, cache: Any = None, strict: bool = False
        ) -> dict[str, np.ndarray]:
    """Outputs of ``signature`` on onnxruntime, inputs checked and converted like the numpy runtime's."""
    from savedmodel_io.graph.runtime import convert_input

    proto = signature.proto
    where = f"signature {signature.key!r}"
    path = signature.meta_graph._path if signature.meta_graph is not None else None
    unknown = sorted(set(inputs) - set(proto.inputs))
    if unknown:
        raise InvalidArgumentError(
            f"unknown input {', '.join(repr(u) for u in unknown)}; the inputs are "
            f"{', '.join(repr(w) for w in sorted(proto.inputs)) or 'none'}", path=path, where=where)
    absent = sorted(set(proto.inputs) - set(inputs))
    if absent:
        raise InvalidArgumentError(f"missing input {', '.join(repr(a) for a in absent)}", path=path, where=where)
    feeds = {}
    for k in sorted(proto.inputs):
        info = proto.inputs[k]
        feeds[k] = convert_input(inputs[k], info.dtype, tensors.shape_from_proto(info.tensor_shape), k,
                                 strict=strict, path=path, where=where)
    sess = session(signature, cache=cache, input_shapes=ranks_of(signature, feeds))
    from savedmodel_io.onnx._opsets import BFLOAT16_AS_FLOAT32

    pair_in, pair_out = complex_pairs(sess)
    wide_in, wide_out = _keys(sess, BFLOAT16_AS_FLOAT32)
    for k, arr in feeds.items():
        if arr.dtype == object:
            feeds[k] = np.vectorize(_text, otypes=[object])(arr) if arr.size else arr
        elif k in pair_in:
            feeds[k] = np.stack([arr.real, arr.imag], axis=-1)
        elif k in wide_in:
            feeds[k] = arr.astype(np.float32)  # exact: the graph casts it back to bfloat16
    names = [o.name for o in sess.get_outputs()]
    keys = output_keys(sess)
    try:
        values = sess.run(names, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        from savedmodel_io.errors import RuntimeFailure

        raise RuntimeFailure(f"onnxruntime: {exc}", path=path, where=where) from None
    out = {}
    for k, v in zip(keys, values):
        want = proto.outputs[k].dtype
        if want == DataType.DT_STRING:
            v = np.vectorize(_bytes, otypes=[object])(v) if np.asarray(v).size else np.asarray(v, dtype=object)
        elif k in pair_out:
            v = from_pairs(np.asarray(v))
        elif k in wide_out:
            v = np.asarray(v).astype(dtypes.to_numpy(want))  # bfloat16 values, as float32
        out[k] = np.asarray(v)
    return out


def complex_pairs(sess: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(input keys, output keys) a session takes and gives as (real, imaginary) pairs."""
    from savedmodel_io.onnx._opsets import COMPLEX_PAIRS

    return _keys(sess, COMPLEX_PAIRS)


def _keys(sess: Any, prop: str) -> tuple[frozenset[str], frozenset[str]]:
    """(input keys, output keys) a session's metadata property ``prop`` names."""
    import json

    meta = sess.get_modelmeta().custom_metadata_map
    if prop not in meta:
        return frozenset(), frozenset()
    named = json.loads(meta[prop])
    return frozenset(named.get("inputs", ())), frozenset(named.get("outputs", ()))


def from_pairs(pairs: np.ndarray) -> np.ndarray:
    """Complex values from a trailing (real, imaginary) axis, complex64 from float32 parts, else
    complex128 (not re + 1j * im: inf * 1j is NaN)."""
    out = np.empty(pairs.shape[:-1], np.complex64 if pairs.dtype == np.float32 else np.complex128)
    out.real, out.imag = pairs[..., 0], pairs[..., 1]
    return out


def output_keys(sess: Any) -> list[str]:
    """The signature output key of each of a session's outputs (recorded by the exporter)."""
    import json

    from savedmodel_io.onnx._opsets import OUTPUT_KEYS

    meta = sess.get_modelmeta().custom_metadata_map
    if OUTPUT_KEYS in meta:
        return list(json.loads(meta[OUTPUT_KEYS]))
    return [o.name for o in sess.get_outputs()]


def _text(x: bytes) -> str:
    """onnxruntime's string tensors hold str; TF strings are bytes (kept lossless via surrogates)."""
    return x.decode("utf-8", "surrogateescape")


def _bytes(x: Any) -> bytes:
    return x.encode("utf-8", "surrogateescape") if isinstance(x, str) else bytes(x)
