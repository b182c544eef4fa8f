"""Questions about a graph's function library that several modules ask."""

from __future__ import annotations

from collections.abc import Container

from savedmodel_io.proto import NodeDef

__all__ = ["called_functions"]


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
