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

from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedOpError

if TYPE_CHECKING:
    import onnx

    from savedmodel_io.model import MetaGraph, SavedModel
    from savedmodel_io.onnx._convert import Problem

__all__ = ["DEFAULT_OPSET", "EXPORTER_VERSION", "MIN_OPSET", "check", "export", "save"]

DEFAULT_OPSET = 20
MIN_OPSET = 15
# Part of the on-disk cache key: bump when the exported graphs change.
EXPORTER_VERSION = "1"


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "ONNX export needs the onnx package: pip install 'savedmodel-io[onnx]'") from None


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


def _opset(opset: int | None) -> int:
    import onnx

    if opset is None:
        return DEFAULT_OPSET
    top = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= top:
        raise InvalidArgumentError(f"opset must be an integer in {MIN_OPSET}..{top}, got {opset!r}")
    return opset


def _exporter_for(model_or_path: Any, signature: str, tags: Any, opset: int | None) -> tuple[Any, Any, Any]:
    from savedmodel_io.onnx._convert import Exporter

    _require_onnx()
    mg = _meta_graph(model_or_path, tags)
    exporter = Exporter(mg.session, _opset(opset))
    graph = exporter.signature(signature)
    return mg, exporter, graph


def check(model_or_path: str | os.PathLike[str] | SavedModel | MetaGraph,
          signature: str = "serving_default", *, tags: Any = None, opset: int | None = None) -> list[Problem]:
    """Every node of a signature that ONNX cannot express (empty list: it exports)."""
    _mg, exporter, _graph = _exporter_for(model_or_path, signature, tags, opset)
    return list(exporter.problems)


def export(model_or_path: str | os.PathLike[str] | SavedModel | MetaGraph,
           signature: str = "serving_default", *, tags: Any = None, opset: int | None = None
           ) -> onnx.ModelProto:
    """Signature ``signature`` of a SavedModel as an ONNX model.

    Inputs and outputs keep the signature's keys, dtypes and shapes (unknown dims
    become named symbolic dims). Raises UnsupportedOpError listing every node ONNX
    cannot express (op, node, function and why).
    """
    mg, exporter, graph = _exporter_for(model_or_path, signature, tags, opset)
    if exporter.problems:
        raise unsupported(exporter.problems, path=mg._path)
    from savedmodel_io.onnx._model import assemble

    return assemble(exporter, graph, signature, mg)


def unsupported(problems: list[Problem], path: str | None = None) -> UnsupportedOpError:
    """One UnsupportedOpError naming the first problem and the ops of the others."""
    first = problems[0]
    more = ""
    if len(problems) > 1:
        others = sorted({p.op for p in problems[1:]})
        more = f" (and {len(problems) - 1} more: {', '.join(others)})"
    return UnsupportedOpError(f"cannot export to ONNX: {first}{more}", path=path)


def save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically; tensors go to ``<name>.data`` beside it past 2 GiB."""
    from savedmodel_io.onnx._model import write

    write(model, path)
