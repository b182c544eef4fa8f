"""Dead values of TF1 dataflow conditionals (Switch/Merge), shared by the runtime and the kernels.

A Switch puts its input on one output and a dead value on the other; a node with a
dead input is dead itself, except a Merge, which is dead only when all its inputs
are (tensorflow/tensorflow tensorflow/core/common_runtime/executor.cc).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ALL_DEAD", "DATAFLOW_OPS", "DEAD", "Dead", "is_dead"]

# The ops that make and consume dead values.
DATAFLOW_OPS = frozenset({"Switch", "RefSwitch", "Merge", "RefMerge"})
_MERGES = frozenset({"Merge", "RefMerge"})


class Dead:
    """The value on the untaken output of a Switch."""

    def __repr__(self) -> str:
        return "<dead>"


DEAD = Dead()


class _AllDead:
    """Outputs of a dead node: every index is dead."""

    def __getitem__(self, index: int) -> Dead:
        return DEAD

    def __len__(self) -> int:
        return 1 << 30


ALL_DEAD = _AllDead()


def is_dead(op: str, inputs: Sequence[Any], control_values: Sequence[Any]) -> bool:
    """Whether a node of ``op`` with these input values (and control inputs' outputs) is dead."""
    if any(c is ALL_DEAD for c in control_values):
        return True
    if op in _MERGES:
        return bool(inputs) and all(v is DEAD for v in inputs)
    return any(v is DEAD for v in inputs)
