"""The converter registry the op-family modules register into (see ``savedmodel_io.onnx.ops``).

Its own module so that the family modules import it, not the package that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CONVERTERS", "NOT_EXPRESSIBLE", "STATE", "Converter", "converter", "inexpressible"]


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
