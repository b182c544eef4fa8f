"""Export SavedModel signatures to ONNX without TensorFlow (the ``onnx`` extra).

    >>> import savedmodel_io.onnx
    >>> proto = savedmodel_io.onnx.export("path/to/model", "serving_default")
    >>> savedmodel_io.onnx.save(proto, "model.onnx")

The exporter walks the numpy runtime's compiled graph (see ``_convert``): functions
are inlined, variables become initializers, everything that depends only on
constants and variables is folded, and each remaining op maps to ONNX through the
per-family converters in ``savedmodel_io.onnx.ops``. Ops ONNX cannot express are
reported all at once (:func:`check`) before anything is written.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.onnx._export import Shapes, exporter_for, export_meta_graph, require_onnx, unsupported
from savedmodel_io.onnx._opsets import DEFAULT_OPSET, EXPORTER_VERSION, MIN_OPSET

if TYPE_CHECKING:
    import onnx

    from savedmodel_io.model import MetaGraph, SavedModel
    from savedmodel_io.onnx._convert import Problem

__all__ = ["DEFAULT_OPSET", "EXPORTER_VERSION", "MIN_OPSET", "check", "export", "save", "unsupported"]


def _meta_graph(model_or_path: Any, tags: Any) -> MetaGraph:
    from savedmodel_io.model import MetaGraph, SavedModel, load

    if isinstance(model_or_path, MetaGraph):
        return model_or_path
    if isinstance(model_or_path, SavedModel):
        return model_or_path.meta_graph(tags)
    if isinstance(model_or_path, (str, os.PathLike)):
        return load(model_or_path).meta_graph(tags)
    raise InvalidArgumentError(
        f"expected a SavedModel, a MetaGraph or a path, got {type(model_or_path).__name__}")


def _exporter_for(model_or_path: Any, signature: str, tags: Any, opset: int | None,
                  complex_pairs: bool, input_shapes: Shapes, bfloat16_as_float32: bool = False
                  ) -> tuple[Any, Any, Any]:
    require_onnx()
    mg = _meta_graph(model_or_path, tags)
    exporter, graph = exporter_for(mg, signature, opset, complex_pairs, input_shapes, bfloat16_as_float32)
    return mg, exporter, graph


def check(model_or_path: str | os.PathLike[str] | SavedModel | MetaGraph,
          signature: str = "serving_default", *, tags: Any = None, opset: int | None = None,
          complex_pairs: bool = False, input_shapes: Shapes = None,
          bfloat16_as_float32: bool = False) -> list[Problem]:
    """Every node of a signature that ONNX cannot express (empty list: it exports)."""
    _mg, exporter, _graph = _exporter_for(model_or_path, signature, tags, opset, complex_pairs, input_shapes,
                                          bfloat16_as_float32)
    return list(exporter.problems)


def export(model_or_path: str | os.PathLike[str] | SavedModel | MetaGraph,
           signature: str = "serving_default", *, tags: Any = None, opset: int | None = None,
           complex_pairs: bool = False, input_shapes: Shapes = None,
           bfloat16_as_float32: bool = False) -> onnx.ModelProto:
    """Signature ``signature`` of a SavedModel as an ONNX model.

    Inputs and outputs keep the signature's keys, dtypes and shapes (unknown dims
    become named symbolic dims). Complex inputs and outputs are refused (onnxruntime has no
    complex tensors), or with ``complex_pairs=True`` given as float tensors with a trailing
    axis of 2 holding the real and imaginary parts (named in the model's
    ``savedmodel_io.complex_pairs`` metadata). ``input_shapes`` (input key -> dims, None for an
    unknown dim) gives the rank of inputs the signature leaves unknown (ONNX graph inputs need
    one) and may fix dims it leaves unknown; it must agree with what the signature knows.
    bfloat16 inputs and outputs stay bfloat16 (which onnxruntime's Python API cannot feed or
    return), or with ``bfloat16_as_float32=True`` are float32 tensors cast to and from bfloat16 at
    the graph's edge (exactly, for bfloat16 values; named in the ``savedmodel_io.bfloat16_as_float32``
    metadata). Raises UnsupportedOpError listing every node ONNX cannot express (op, node, function
    and why).
    """
    require_onnx()
    return export_meta_graph(_meta_graph(model_or_path, tags), signature, opset, complex_pairs, input_shapes,
                             bfloat16_as_float32)


def save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically; tensors go to ``<name>.data`` beside it past 2 GiB."""
    from savedmodel_io.onnx._model import write

    write(model, path)
