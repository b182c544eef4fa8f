"""Export-specific clean-ups of the finished ONNX graph: Identity removal, output naming, pruning.

The TensorFlow graph was optimised before export (graph/optimize.py: its Identity and NoOp
nodes bypassed, what no output needs dropped); these passes tidy what the converters emit:
the Identity that names each graph output (its producer takes the name instead), Identity
nodes of function bodies walked as If/Loop bodies, nodes a converter's peephole left unread,
and the unread optional outputs of recurrent ops.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx

__all__ = ["drop_unread_outputs", "prune", "remove_identities", "subgraphs", "used_names"]


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    """The If/Loop/Scan bodies held in a node's attributes."""
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _reads(node: onnx.NodeProto) -> Iterator[str]:
    """Every name a node reads, including outer-scope names its bodies read."""
    yield from (n for n in node.input if n)
    for sub in subgraphs(node):
        yield from _outer_reads(sub)


def _outer_reads(graph: onnx.GraphProto) -> set[str]:
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    for n in graph.node:
        defined.update(n.output)
    out: set[str] = set()
    for n in graph.node:
        out.update(x for x in _reads(n) if x not in defined)
    out.update(v.name for v in graph.output if v.name not in defined)
    return out


def used_names(graph: onnx.GraphProto) -> set[str]:
    """Names read by any node (bodies included) or listed as graph outputs."""
    out = {v.name for v in graph.output}
    for n in graph.node:
        out.update(_reads(n))
    return out


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Replace reads of ``old`` by ``new`` in ``graph`` and the bodies inside it."""
    for n in graph.node:
        for i, x in enumerate(n.input):
            if x == old:
                n.input[i] = new
        for sub in subgraphs(n):
            _rename(sub, old, new)
    for v in graph.output:
        if v.name == old:
            v.name = new


def remove_identities(graph: onnx.GraphProto) -> None:
    """Drop Identity nodes: readers read the Identity's input; graph outputs take over names."""
    outputs = {v.name for v in graph.output}
    inputs = {v.name for v in graph.input}
    producers = {o: n for n in graph.node for o in n.output}
    claimed: set[str] = set()
    keep = []
    for n in graph.node:
        if n.op_type != "Identity" or n.domain not in ("", "ai.onnx"):
            keep.append(n)
            continue
        src, dst = n.input[0], n.output[0]
        if dst in outputs:
            # A graph output: let the producer write the output's name directly when it can.
            prod = producers.get(src)
            if prod is None or src in outputs or src in inputs or src in claimed:
                keep.append(n)
                continue
            claimed.add(src)
            for i, o in enumerate(prod.output):
                if o == src:
                    prod.output[i] = dst
            _rename(graph, src, dst)
            continue
        _rename(graph, dst, src)
    del graph.node[:]
    graph.node.extend(keep)


def prune(graph: onnx.GraphProto) -> None:
    """Remove nodes none of whose outputs is read (repeated until nothing changes)."""
    while True:
        used = used_names(graph)
        keep = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    for n in graph.node:
        for sub in subgraphs(n):
            prune(sub)


# Ops all of whose outputs are optional: unread ones are dropped so they are not computed.
_OPTIONAL_OUTPUTS = frozenset({"LSTM", "GRU", "RNN"})


def drop_unread_outputs(graph: onnx.GraphProto) -> None:
    """Unread optional outputs of recurrent ops become "" (onnxruntime then skips them)."""
    used = used_names(graph)
    for n in graph.node:
        if n.op_type in _OPTIONAL_OUTPUTS and n.domain in ("", "ai.onnx"):
            names = [o if o in used else "" for o in n.output]
            while names and not names[-1]:
                names.pop()
            del n.output[:]
            n.output.extend(names)
