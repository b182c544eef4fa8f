"""The kernel registry the op families write into: ``@kernel("Op")`` and the table it fills.

A family module imports ``kernel`` from here, not from the package: the package
(:mod:`savedmodel_io.graph.ops`) imports every family, so that would be an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["KERNELS", "PREPARE", "Kernel", "kernel"]


@dataclass(frozen=True)
class Kernel:
    """One registered op and the function computing it.

    ``per_element``: the kernel handles its inputs' elements one at a time in Python, so
    each run charges their count to its budget first (see savedmodel_io.graph.budget).
    """

    op: str
    fn: Callable[..., Any]
    per_element: bool = False


KERNELS: dict[str, Kernel] = {}
# op -> prepare(node, constant inputs by position): what the kernel computes once from its
# constant inputs (kept in ``node.prepared`` by the optimiser's lay_out_weights pass).
PREPARE: dict[str, Callable[[Any, dict[int, Any]], Any]] = {}


def kernel(
    *ops: str, per_element: bool = False,
    prepare: Callable[[Any, dict[int, Any]], Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the kernel of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            if op in KERNELS:
                raise ValueError(f"kernel for {op} registered twice")
            KERNELS[op] = Kernel(op, fn, per_element)
            if prepare is not None:
                PREPARE[op] = prepare
        return fn

    return register
