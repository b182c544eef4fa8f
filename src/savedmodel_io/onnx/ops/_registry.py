"""The converter registry the op-family modules register into (see ``savedmodel_io.onnx.ops``).

Its own module so that the family modules import it, not the package that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPLEX_FORMS", "CONVERTERS", "NOT_EXPRESSIBLE", "STATE", "ComplexForm", "Converter", "complex_form",
           "converter", "inexpressible"]


@dataclass(frozen=True)
class Converter:
    """One registered mapping: the function, the family and what it maps to (for the docs)."""

    op: str
    fn: Callable[..., Any]
    family: str
    onnx: str  # the ONNX ops it emits, for docs/onnx.md
    layout: bool = False
    complex: bool = False  # takes complex inputs itself, as (real, imaginary) pairs (see complex.py)


@dataclass(frozen=True)
class ComplexForm:
    """How an op whose converter is real-only runs on complex values (see ``complex.py``)."""

    op: str
    fn: Callable[..., Any]  # fn(cx, node, inputs, converter) -> Val | list[Val]
    onnx: str


CONVERTERS: dict[str, Converter] = {}
# The reason given for ops that change variables or tables.
STATE = "changes a variable or table, which an ONNX graph cannot keep between calls"
# Ops the numpy runtime runs that ONNX cannot express, each with the reason.
NOT_EXPRESSIBLE: dict[str, str] = {}
# The complex forms of ops whose converters take real values only.
COMPLEX_FORMS: dict[str, ComplexForm] = {}


def converter(*ops: str, onnx: str, layout: bool = False,
              complex: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the ONNX mapping of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        family = fn.__module__.rsplit(".", 1)[-1]
        for op in ops:
            if op in CONVERTERS:
                raise ValueError(f"converter for {op} registered twice")
            CONVERTERS[op] = Converter(op, fn, family, onnx, layout, complex)
        return fn

    return register


def complex_form(*ops: str, onnx: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the complex-valued form of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            if op in COMPLEX_FORMS:
                raise ValueError(f"complex form of {op} registered twice")
            COMPLEX_FORMS[op] = ComplexForm(op, fn, onnx)
        return fn

    return register


def inexpressible(reason: str, *ops: str) -> None:
    """Record that ONNX cannot express ``ops``, and why (the export report and docs/onnx.md say so)."""
    for op in ops:
        if op in NOT_EXPRESSIBLE or op in CONVERTERS:
            raise ValueError(f"{op} is registered twice")
        NOT_EXPRESSIBLE[op] = reason
