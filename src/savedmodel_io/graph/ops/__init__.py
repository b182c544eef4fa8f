"""The kernel registry: TensorFlow op name -> numpy kernel.

A kernel is ``fn(node, inputs, ctx) -> list`` (or one array for single-output ops):
``node`` is a :class:`savedmodel_io.graph.runtime.Node` (decoded attrs in ``node.attr``),
``inputs`` the evaluated input values, ``ctx`` the running
:class:`savedmodel_io.graph.runtime.Context` (variables, tables, function calls).

Each op family lives in its own module and registers its kernels on import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KERNELS", "Kernel", "kernel", "get", "supported_ops"]

# Modules holding kernels, imported on first use of the registry.

# Output arg names of an op, or a function of the node's attrs giving (name, count) pairs.
OutputSpec = Sequence[str] | Callable[[dict[str, Any]], Sequence[tuple[str, int]]] | None


@dataclass(frozen=True)
class Kernel:
    """One registered op: its function and how its outputs are named."""

    op: str
    fn: Callable[..., Any]
    outputs: OutputSpec = None  # None: one output arg (maybe a list), indexed directly
    # TF1 reference types (OpDef ``is_ref``): inputs that take a variable reference instead of
    # its value, and whether the output is a reference (read by consumers when they run).
    ref_inputs: tuple[int, ...] = ()
    ref_output: bool = False

    def output_pairs(self, attrs: dict[str, Any]) -> list[tuple[str, int]] | None:
        """(output arg name, count) pairs of a node with ``attrs`` (None: one arg, count unknown)."""
        if self.outputs is None:
            return None
        if callable(self.outputs):
            return list(self.outputs(attrs))
        return [(n, 1) for n in self.outputs]

    def output_offset(self, attrs: dict[str, Any], arg: str) -> int | None:
        """Flat output index where output arg ``arg`` starts (for ``node:arg:i`` names)."""
        pairs = self.output_pairs(attrs)
        if pairs is None:
            return 0
        offset = 0
        for name, count in pairs:
            if name == arg:
                return offset
            offset += count
        return None

    def output_count(self, attrs: dict[str, Any]) -> int | None:
        """How many outputs a node with ``attrs`` has (None: known only once it ran)."""
        pairs = self.output_pairs(attrs)
        return None if pairs is None else sum(count for _, count in pairs)


KERNELS: dict[str, Kernel] = {}
_loaded = False


def kernel(*ops: str, outputs: OutputSpec = None, ref_inputs: tuple[int, ...] = (),
           ref_output: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the kernel of each op in ``ops``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            if op in KERNELS:
                raise ValueError(f"kernel for {op} registered twice")
            KERNELS[op] = Kernel(op, fn, outputs, ref_inputs, ref_output)
        return fn

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing a family module registers its kernels (static imports: no computed names).
        from savedmodel_io.graph.ops import (  # noqa: F401
            array,
            control,
            image,
            lookup,
            math,
            nn,
            parsing,
            random,
            resource,
            strings,
            tensorlist,
        )


def get(op: str) -> Kernel | None:
    """The kernel registered for ``op``, or None."""
    _load()
    return KERNELS.get(op)


def supported_ops() -> list[str]:
    """Every op name the runtime has a kernel for, sorted."""
    _load()
    return sorted(KERNELS)
