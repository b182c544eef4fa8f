"""ONNX subgraphs for control flow: conditions, If branches and Loop bodies (shared by the families).

Used by ``control`` (If/Case/While) and ``tensorlist`` (per-element loops and branches); its
own module so that neither family imports the other for it. See ``control`` for the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx

from savedmodel_io.onnx._graph import ExportError, Graph, Val, value_info
from savedmodel_io.onnx.ops._util import scalar


def truth(g: Graph, v: Val) -> Val:
    """A predicate as a boolean scalar, by TF's rule for If/While conditions."""
    v = g.plain(v)
    if v.kind != "tensor":
        raise ExportError(f"a {v.kind} as a condition")
    if v.rank is not None and v.rank > 0:
        n = g.op1("Size", v)
        return g.op1("Greater", n, scalar(g, 0, np.int64))
    if v.dtype.kind == "b":
        return v if v.rank == 0 else g.op1("Reshape", v, g.const(np.zeros(0, np.int64)))
    if v.dtype.kind == "O":
        raise ExportError("a string condition")
    out = g.op1("Not", g.op1("Equal", v, scalar(g, 0, v.dtype)))
    return out if v.rank == 0 else g.op1("Reshape", out, g.const(np.zeros(0, np.int64)))


def body_graph(g: Graph, name: str, build: Callable[[Graph], list[Val]],
               inputs: Sequence[tuple[str, onnx.TypeProto]] = ()) -> tuple[onnx.GraphProto, list[Val]]:
    """An ONNX body (If branch, Loop body) built by ``build(child)`` on a new child graph of ``g``.

    Returns the GraphProto and the output values (as seen inside it, for their types).
    """
    child = g.subgraph()
    child.hint = g.hint
    finals = []
    for v in build(child):
        if v.kind == "poison":
            raise ExportError("a value the body needs could not be converted")
        if v.kind == "handle":
            raise ExportError("a resource handle as a branch or loop output")
        if v.is_const and v.dtype is not None and v.dtype.kind == "c":
            # A complex constant as the initializer of its (real, imaginary) pairs (complex.py's form).
            arr = np.asarray(v.const)
            pairs = child.const(np.stack([arr.real, arr.imag], -1))
            v = Val(child.name_of(pairs), arr.dtype, pairs.const.shape, kind="complex")
        v = child.plain(v)
        # Every output is a fresh name of this body (not an outer value or initializer).
        ident = child.op1("Identity", v, fold=False)
        ident.kind, ident.info = v.kind, v.info
        if v.kind == "complex":  # the pair tensor's real type is the physical one
            ident.dtype = v.dtype
        finals.append(ident)
    proto = child.to_proto(
        g.model.fresh(name), [value_info(n, t) for n, t in inputs],
        [value_info(v.name, child.type_of(v)) for v in finals])
    return proto, finals


def subgraph(cx: Any, name: str, build: Callable[[], list[Val]],
             inputs: Sequence[tuple[str, onnx.TypeProto]] = ()) -> tuple[onnx.GraphProto, list[Val]]:
    """:func:`body_graph` for bodies that walk TF functions (``cx.g`` is the child while building)."""
    outer = cx.g

    def run(child: Graph) -> list[Val]:
        cx.g = child
        try:
            return build()
        finally:
            cx.g = outer

    return body_graph(outer, name, run, inputs)


def merged_type(g: Graph, vals: list[Val]) -> tuple[onnx.TypeProto, Val]:
    """The type covering every value (dims that differ become unknown), and a template value."""
    first = vals[0]
    for v in vals[1:]:
        if v.kind != first.kind or v.dtype != first.dtype:
            raise ExportError(f"branches give different types ({first.dtype} {first.kind} vs "
                              f"{v.dtype} {v.kind})")
    shapes = [v.shape for v in vals]
    if any(s is None for s in shapes) or len({len(s) for s in shapes}) > 1:
        shape = None
    else:
        shape = tuple(d if all(s[i] == d for s in shapes) else None for i, d in enumerate(shapes[0]))
    info = next((v.info for v in vals if v.info is not None and v.info.shape is not None), first.info)
    tmpl = Val(None, first.dtype, shape, kind=first.kind, info=info)
    return g.type_of(tmpl), tmpl


def typed_outputs(outs: list[Val], templates: list[Val]) -> list[Val]:
    for v, t in zip(outs, templates):
        v.kind, v.info = t.kind, t.info
        if t.kind == "complex":  # a pair tensor: its type says float, the value is complex
            v.dtype = t.dtype
    return outs


def if_graph(g: Graph, pred: Val, then_build: Callable[[Graph], list[Val]],
             else_build: Callable[[Graph], list[Val]]) -> list[Val]:
    """An ONNX If on a boolean scalar, its branches built by the two callables."""
    then_p, then_outs = body_graph(g, "then", then_build)
    else_p, else_outs = body_graph(g, "else", else_build)
    if len(then_outs) != len(else_outs):
        raise ExportError("branches give different numbers of outputs")
    merged = [merged_type(g, [a, b]) for a, b in zip(then_outs, else_outs)]
    outs = g.op("If", [pred], outputs=len(merged), types=[t for t, _ in merged],
                then_branch=then_p, else_branch=else_p)
    return typed_outputs(outs, [m for _, m in merged])


def if_node(cx: Any, pred: Val, then_build: Callable[[], list[Val]], else_build: Callable[[], list[Val]]) -> list[Val]:
    """:func:`if_graph` with branches that walk TF functions."""
    outer = cx.g

    def wrap(build: Callable[[], list[Val]]) -> Callable[[Graph], list[Val]]:
        def run(child: Graph) -> list[Val]:
            cx.g = child
            try:
                return build()
            finally:
                cx.g = outer
        return run

    return if_graph(outer, pred, wrap(then_build), wrap(else_build))
