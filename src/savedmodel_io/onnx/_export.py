"""Export one signature of a MetaGraph: the exporter run, its problems as one error, assembly.

Below the public entry (``savedmodel_io.onnx``, which also takes paths and SavedModels), so
that the signature backend and the disk cache export without importing the object model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedOpError

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from savedmodel_io.onnx._convert import Problem


# ``input_shapes``: signature input key -> dims (None for an unknown dim), for inputs whose
# rank the signature leaves unknown, or to fix dims it leaves unknown.
Shapes = Optional[Mapping[str, Sequence[Optional[int]]]]


def require_onnx() -> None:
    """MissingDependencyError unless the onnx package imports."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "ONNX export needs the onnx package: pip install 'savedmodel-io[onnx]'") from None


def opset_of(opset: int | None) -> int:
    import onnx

    from savedmodel_io.onnx._opsets import DEFAULT_OPSET, MIN_OPSET

    if opset is None:
        return DEFAULT_OPSET
    top = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= top:
        raise InvalidArgumentError(f"opset must be an integer in {MIN_OPSET}..{top}, got {opset!r}")
    return opset


def exporter_for(mg: Any, signature: str, opset: int | None, complex_pairs: bool = False,
                 input_shapes: Shapes = None, bfloat16_as_float32: bool = False) -> tuple[Any, Any]:
    """The exporter run over ``signature`` of ``mg``, and the ONNX graph it built."""
    from savedmodel_io.onnx._convert import Exporter

    exporter = Exporter(mg.session, opset_of(opset), complex_pairs=complex_pairs, input_shapes=input_shapes,
                        bfloat16_as_float32=bfloat16_as_float32)
    return exporter, exporter.signature(signature)


def export_meta_graph(mg: Any, signature: str, opset: int | None = None, complex_pairs: bool = False,
                      input_shapes: Shapes = None, bfloat16_as_float32: bool = False) -> onnx.ModelProto:
    """Signature ``signature`` of MetaGraph ``mg`` as an ONNX model (UnsupportedOpError: what does not map)."""
    from savedmodel_io.onnx._model import fill_initializers

    proto, tensors = export_parts(mg, signature, opset, complex_pairs, input_shapes, bfloat16_as_float32)
    fill_initializers(proto, tensors)
    return proto


def export_parts(mg: Any, signature: str, opset: int | None = None, complex_pairs: bool = False,
                 input_shapes: Shapes = None, bfloat16_as_float32: bool = False
                 ) -> tuple[onnx.ModelProto, list[tuple[str, np.ndarray]]]:
    """:func:`export_meta_graph`'s model without its initializers, and those as (name, array)
    (for :func:`savedmodel_io.onnx._model.write_parts`, which streams them to a file)."""
    require_onnx()
    exporter, graph = exporter_for(mg, signature, opset, complex_pairs, input_shapes, bfloat16_as_float32)
    if exporter.problems:
        raise unsupported(exporter.problems, path=mg._path)
    from savedmodel_io.onnx._model import assemble_parts

    return assemble_parts(exporter, graph, signature, mg)


def unsupported(problems: list[Problem], path: str | None = None) -> UnsupportedOpError:
    """One UnsupportedOpError naming the first problem and the ops of the others."""
    first = problems[0]
    more = ""
    if len(problems) > 1:
        others = sorted({p.op for p in problems[1:]})
        more = f" (and {len(problems) - 1} more: {', '.join(others)})"
    return UnsupportedOpError(f"cannot export to ONNX: {first}{more}", path=path)
