"""TensorFlow-built fixtures with stored inputs and TensorFlow's outputs, for the ONNX tests.

Two layouts of ``reference.npz`` exist: ``in|out/<signature>/<key>`` (models_runtime.py)
and ``in|out/<signature>/<case>/<key>`` (models_control.py). Both read as
``{signature: [(inputs, outputs), ...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

Case = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]

# Fixtures whose reference.npz holds TensorFlow's outputs.
REFERENCE_FIXTURES = [
    "runtime_mlp", "runtime_cnn", "runtime_mobilenetv2", "runtime_resnet50", "runtime_lstm",
    "runtime_bigru", "runtime_transformer", "runtime_module", "runtime_tf1", "runtime_lookup",
    "runtime_keras_layers", "runtime_keras_text", "control_flow", "control_tensorlist",
    "control_keras_rnn", "control_lookup", "control_parsing", "control_misc",
]


def cases(path: Path) -> dict[str, list[Case]]:
    """{signature: [(inputs, outputs), ...]} from a fixture's reference.npz, cases in order."""
    data = np.load(path / "reference.npz")
    grouped: dict[str, dict[int, Case]] = {}
    for name in data.files:
        parts = name.split("/")
        kind, sig, key = parts[0], parts[1], parts[-1]
        case = int(parts[2]) if len(parts) == 4 else 0
        arr = data[name]
        if arr.dtype.kind == "S":
            arr = arr.astype(object)
        pair = grouped.setdefault(sig, {}).setdefault(case, ({}, {}))
        pair[0 if kind == "in" else 1][key] = arr
    return {sig: [by_case[i] for i in sorted(by_case)] for sig, by_case in grouped.items()}


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """TensorFlow's dtype and shape; floats within rtol 1e-4 / atol 1e-5, the rest exact."""
    got = np.asarray(got)
    if got.dtype.kind == "U":
        got = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(got)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype == object:
        assert got.dtype == object, (what, got.dtype)
        got = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s, otypes=[object])(got)
    else:
        assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def ort_value(x: np.ndarray) -> np.ndarray:
    """An input as onnxruntime takes it: TF's bytes strings as str (surrogate-escaped, lossless)."""
    if x.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8", "surrogateescape"), otypes=[object])(x) if x.size else x
    return x


# -- one-signature graphs built by hand -----------------------------------------------------------

class Tags:
    """The tag set :func:`savedmodel_io.onnx._model.assemble` records for a hand-built MetaGraph."""

    tag_set = frozenset({"serve"})


def signature(nodes: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """A MetaGraphDef whose signature ``s`` runs ``nodes``. ``inputs``: name -> an array (its dtype
    and shape) or (DataType, shape with None for unknown dims), read as ``name:0``; ``outputs``: key ->
    a tensor name, or (tensor name, DataType or None, shape or None)."""
    from savedmodel_io import dtypes, tensors
    from savedmodel_io.proto import MetaGraphDef

    mg = MetaGraphDef()
    mg.graph_def.node.extend(nodes)
    sd = mg.signature_def["s"]
    for k, v in inputs.items():
        dt, shape = (dtypes.from_numpy(v.dtype), v.shape) if hasattr(v, "dtype") else v
        info = sd.inputs[k]
        info.name = f"{k}:0"
        info.dtype = dt
        info.tensor_shape.CopyFrom(tensors.shape_to_proto(shape))
    for k, v in outputs.items():
        ref, dt, shape = (v, None, None) if isinstance(v, str) else v
        info = sd.outputs[k]
        info.name = ref
        if dt is not None:
            info.dtype = dt
        if shape is not None:
            info.tensor_shape.CopyFrom(tensors.shape_to_proto(shape))
    return mg


def exported(mg: Any, opset: int = 20, **options: Any) -> tuple[Any, list]:
    """(the ONNX model of signature ``s``, []) or (None, the exporter's problems)."""
    from savedmodel_io.graph import runtime
    from savedmodel_io.onnx import _model
    from savedmodel_io.onnx._convert import Exporter

    ex = Exporter(runtime.Session(mg), opset, **options)
    graph = ex.signature("s")
    if ex.problems:
        return None, list(ex.problems)
    return _model.assemble(ex, graph, "s", Tags()), []
