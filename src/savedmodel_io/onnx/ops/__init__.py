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

__all__ = ["CONVERTERS", "NOT_EXPRESSIBLE", "Converter", "converter", "get", "inexpressible", "reason",
           "supported_ops", "writes_state", "STATE"]


@dataclass(frozen=True)
class Converter:
    """One registered mapping: the function, the family and what it maps to (for the docs)."""

    op: str
    fn: Callable[..., Any]
    family: str
    onnx: str  # the ONNX ops it emits, for docs/onnx.md
    layout: bool = False


CONVERTERS: dict[str, Converter] = {}
# The reason given for ops that change variables or tables.
STATE = "changes a variable or table, which an ONNX graph cannot keep between calls"
# Ops the numpy runtime runs that ONNX cannot express, each with the reason.
NOT_EXPRESSIBLE: dict[str, str] = {}
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


def inexpressible(reason: str, *ops: str) -> None:
    """Record that ONNX cannot express ``ops``, and why (the export report and docs/onnx.md say so)."""
    for op in ops:
        if op in NOT_EXPRESSIBLE or op in CONVERTERS:
            raise ValueError(f"{op} is registered twice")
        NOT_EXPRESSIBLE[op] = reason


def writes_state(op: str) -> bool:
    """Whether ``op`` changes a variable or table."""
    _load()
    return NOT_EXPRESSIBLE.get(op) == STATE


def reason(op: str) -> str:
    """Why ``op`` has no ONNX mapping."""
    _load()
    return NOT_EXPRESSIBLE.get(op, "no ONNX mapping")


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing a family module registers its converters (static imports: no computed names).
        from savedmodel_io.onnx.ops import (  # noqa: F401
            array,
            audio,
            control,
            conv_pool,
            counting,
            fft,
            image,
            indexing,
            linalg,
            lookup,
            math,
            nn,
            resource,
            segment,
            selection,
            sparse,
            special,
            strings,
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
