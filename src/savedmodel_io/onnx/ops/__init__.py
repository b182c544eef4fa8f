"""The ONNX mapping registry: TensorFlow op name -> converter.

A converter is ``fn(cx, node, inputs) -> Val | list[Val]``: ``cx`` is the running
:class:`savedmodel_io.onnx._convert.Exporter` (``cx.g`` is the ONNX graph being built),
``node`` the runtime's compiled :class:`savedmodel_io.graph.runtime.Node` (decoded
attrs, resolved inputs), ``inputs`` the :class:`savedmodel_io.onnx._graph.Val` of each
input. Each op family lives in its own module beside the numpy kernels' family
(``graph/ops/<family>.py``) and registers its converters on import. ``layout=True``
marks converters that accept inputs with a pending layout permutation (NCHW data
of an NHWC graph); the others see plain tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CONVERTERS", "Converter", "converter", "get", "supported_ops"]


@dataclass(frozen=True)
class Converter:
    """One registered mapping: the function, the family and what it maps to (for the docs)."""

    op: str
    fn: Callable[..., Any]
    family: str
    onnx: str  # the ONNX ops it emits, for docs/onnx.md
    layout: bool = False


CONVERTERS: dict[str, Converter] = {}
_loaded = False


def converter(*ops: str, onnx: str, layout: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the ONNX mapping of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        family = fn.__module__.rsplit(".", 1)[-1]
        for op in ops:
            if op in CONVERTERS:
                raise ValueError(f"converter for {op} registered twice")
            CONVERTERS[op] = Converter(op, fn, family, onnx, layout)
        return fn

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing a family module registers its converters (static imports: no computed names).
        from savedmodel_io.onnx.ops import (  # noqa: F401
            array,
            control,
            image,
            math,
            nn,
            resource,
            tensorlist,
        )


def get(op: str) -> Converter | None:
    """The converter registered for ``op``, or None."""
    _load()
    return CONVERTERS.get(op)


def supported_ops() -> list[str]:
    """Every op name with an ONNX mapping, sorted."""
    _load()
    return sorted(CONVERTERS)
