"""Post-order of a graph's nodes from some roots: what to convert, inputs first (iterative, since
graphs can be deeper than Python's recursion limit). Shared by the exporter's walk and the TF1
dataflow walker (onnx/ops/dataflow.py), which differ in how they read a node's inputs and what
they already know."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = ["post_order"]


def post_order(roots: Iterable[int], inputs: Callable[[int], Sequence[int]], known: Callable[[int], bool],
               state: dict[int, int], order: list[int], cycle: Callable[[int], Exception]) -> None:
    """Append to ``order`` every node the roots need that is not ``known``, each after its
    inputs. ``state`` (1: on the path, 2: done) may be shared between calls; a node met again on
    its own path raises ``cycle(node)``."""
    for root in roots:
        if state.get(root) == 2 or known(root):
            continue
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            i, finish = stack.pop()
            if finish:
                state[i] = 2
                order.append(i)
                continue
            st = state.get(i)
            if st == 2 or known(i):
                continue
            if st == 1:
                raise cycle(i)
            state[i] = 1
            stack.append((i, True))
            for s in reversed(inputs(i)):
                if state.get(s) != 2 and not known(s):
                    stack.append((s, False))
