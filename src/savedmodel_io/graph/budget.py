"""How much work one run of a graph may do: a deadline, loop iterations, per-element work.

A graph can legitimately ask for unbounded work: a ``While`` loop whose condition never
turns false, a function calling itself twice twenty levels deep (a million calls), a
string kernel iterating in Python over a gigabyte-sized constant, a TensorList of a
billion slots. Every run therefore carries a :class:`Budget` (``Session.budget`` by
default, or one given to a call); the interpreter checks it where work repeats: each
function call, each loop iteration, every few nodes, and before a kernel that handles
elements one by one in Python. Exceeding it raises :class:`LimitExceededError` naming
the node and the limit to raise.

The checks are a counter and a clock read, not per element: a kernel is charged its
element count once, before it starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from savedmodel_io.errors import LimitExceededError

__all__ = ["Budget", "Meter"]

# Nodes run between two looks at the clock (a clock read costs ~50 ns, a node ~2 us+).
_CLOCK_EVERY = 32


@dataclass(frozen=True)
class Budget:
    """Limits on one run (a signature call, a ``Session.run``); None lifts a limit.

    * ``max_seconds``: wall-clock time of the run.
    * ``max_loop_iterations``: iterations of any one ``While`` loop.
    * ``max_python_elements``: tensor elements that kernels handle one at a time in
      Python (string, lookup-table and parsing ops, TensorList slots), in all.

    The defaults bound an untrusted graph to minutes of work while leaving room for real
    models; raise them (or pass None) for trusted graphs that need more.
    """

    max_seconds: float | None = 300.0
    max_loop_iterations: int | None = 1_000_000
    max_python_elements: int | None = 50_000_000

    def start(self, path: str | None = None) -> Meter:
        """A meter for one run of the model at ``path``, its clock starting now."""
        return Meter(self, path)


#: Where each limit is raised: the Budget field and the `savedmodel-io run` flag.
_HOW = {
    "max_seconds": "Budget.max_seconds, run --max_seconds",
    "max_loop_iterations": "Budget.max_loop_iterations, run --max_loop_iterations",
    "max_python_elements": "Budget.max_python_elements, run --max_python_elements",
}


class Meter:
    """The running counts of one run against its Budget."""

    __slots__ = ("budget", "deadline", "elements_left", "nodes", "path")

    def __init__(self, budget: Budget, path: str | None = None) -> None:
        self.budget = budget
        self.path = path
        self.deadline = (
            None if budget.max_seconds is None else time.monotonic() + budget.max_seconds
        )
        self.elements_left = budget.max_python_elements
        self.nodes = 0

    def node(self, node: Any) -> None:
        """One node is about to run: look at the clock every few nodes (``node.where`` names
        it; read only then, since composing that text costs more than the check)."""
        self.nodes += 1
        if self.nodes % _CLOCK_EVERY == 0:
            self.clock(node.where)

    def clock(self, where: str) -> None:
        """LimitExceededError once the run is past its deadline."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise self._over("max_seconds", f"the run took longer than {self.budget.max_seconds} s",
                             where)

    def iteration(self, count: int, where: str) -> None:
        """A loop is about to run its ``count``-th iteration."""
        limit = self.budget.max_loop_iterations
        if limit is not None and count > limit:
            raise self._over("max_loop_iterations",
                             f"the loop ran more than {limit} iterations", where)
        self.clock(where)

    def elements(self, count: int, where: str) -> None:
        """A kernel is about to handle ``count`` elements one at a time in Python."""
        if self.elements_left is not None:
            self.elements_left -= count
            if self.elements_left < 0:
                limit = self.budget.max_python_elements
                raise self._over(
                    "max_python_elements",
                    f"kernels handling elements one at a time in Python would process more "
                    f"than {limit} elements in this run ({count} here)",
                    where,
                )
        self.clock(where)

    def _over(self, limit: str, what: str, where: str) -> LimitExceededError:
        return LimitExceededError(
            f"{what}; raise the limit with {_HOW[limit]}", path=self.path, where=where
        )
