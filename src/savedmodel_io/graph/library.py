"""Questions about a graph's function library that several modules ask."""

from __future__ import annotations

from collections.abc import Container

from savedmodel_io.proto import FunctionDef, GraphDef, NodeDef

__all__ = ["called_functions", "ops_used"]


def called_functions(node: NodeDef, library: Container[str]) -> list[str]:
    """Library functions ``node`` calls: as its op type, or through func-valued attrs."""
    out = [node.op] if node.op in library else []
    for value in node.attr.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            out.append(value.func.name)
        elif kind == "list":
            out.extend(f.name for f in value.list.func)
    return [f for f in out if f in library]


def ops_used(graph_def: GraphDef) -> set[str]:
    """Op types used by a GraphDef and the library functions its nodes call.

    The rule of TensorFlow's ``ops_used_by_graph_def`` (``saved_model_cli show
    --list_ops``): a function is followed when called as an op or through a
    (Stateful)PartitionedCall's ``f``, not through other func-valued attrs.
    """
    library = {f.signature.name: f for f in graph_def.library.function}
    used: set[str] = set()
    todo: list[FunctionDef] = []

    def mark(op: str) -> None:
        if op not in used and op in library:
            todo.append(library[op])
        used.add(op)

    def visit(node: NodeDef) -> None:
        mark(node.op)
        if node.op in ("PartitionedCall", "StatefulPartitionedCall") and "f" in node.attr:
            mark(node.attr["f"].func.name)

    for node in graph_def.node:
        visit(node)
    while todo:
        for node in todo.pop().node_def:
            visit(node)
    return {op for op in used if op not in library}
