"""Questions about a graph, its function library and its MetaGraphDef that several modules ask."""

from __future__ import annotations

import os
from collections.abc import Container

from savedmodel_io.errors import CorruptFileError
from savedmodel_io.proto import (
    AssetFileDef,
    FunctionDef,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    parse_message,
)

__all__ = ["ASSETS_COLLECTION", "asset_file_defs", "called_functions", "ops_used"]


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


# The collection older TF1 SavedModelBuilders list assets in, as packed AssetFileDefs
# (tensorflow/tensorflow tensorflow/python/saved_model/constants.py, ASSETS_KEY).
ASSETS_COLLECTION = "saved_model_assets"
_ASSET_FILE_DEF_TYPE = "tensorflow.AssetFileDef"


def asset_file_defs(proto: MetaGraphDef, path: str | os.PathLike[str] | None = None) -> list[AssetFileDef]:
    """A meta graph's assets: ``asset_file_def``, else the ``saved_model_assets`` collection.

    The same fallback as TensorFlow's loader (tensorflow/tensorflow
    tensorflow/python/saved_model/loader_impl.py, get_asset_tensors): the collection is read
    only when the meta graph lists no AssetFileDef itself.
    """
    if len(proto.asset_file_def) or ASSETS_COLLECTION not in proto.collection_def:
        return list(proto.asset_file_def)
    out = []
    for i, packed in enumerate(proto.collection_def[ASSETS_COLLECTION].any_list.value):
        if packed.type_url.rpartition("/")[2] != _ASSET_FILE_DEF_TYPE:
            raise CorruptFileError(
                f"entry {i} of collection {ASSETS_COLLECTION!r} is a {packed.type_url!r}, "
                "not an AssetFileDef", path=path)
        out.append(parse_message(AssetFileDef, packed.value, path=path))
    return out
