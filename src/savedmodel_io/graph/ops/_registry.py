"""The kernel registry the op families write into: ``@kernel("Op")`` and the table it fills.

A family module imports ``kernel`` from here, not from the package: the package
(:mod:`savedmodel_io.graph.ops`) imports every family, so that would be an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["KERNELS", "Kernel", "kernel"]


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


def kernel(
    *ops: str, per_element: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the kernel of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            if op in KERNELS:
                raise ValueError(f"kernel for {op} registered twice")
            KERNELS[op] = Kernel(op, fn, per_element)
        return fn

    return register
