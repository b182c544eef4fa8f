"""Object paths of a checkpoint's TrackableObjectGraph (``layer_with_weights-0/kernel``), bounded.

TensorFlow stores the object graph of a TF2 checkpoint as a serialized TrackableObjectGraph
in the string tensor ``_CHECKPOINTABLE_OBJECT_GRAPH`` (tensorflow/tensorflow
tensorflow/python/checkpoint/checkpoint.py, OBJECT_GRAPH_PROTO_KEY). Each node's path is
its shortest path from the root, as TF's object graph view names them; optimizer slots are
``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>``, attributes other than the value
``<path>/.ATTRIBUTES/<name>``. A hostile graph could make the paths quadratic in its size:
:class:`PathBudget` bounds them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.proto import TrackableObjectGraph

__all__ = ["OBJECT_GRAPH_KEY", "VALUE_ATTRIBUTE", "PathBudget", "escape_local_name",
           "key_object_path", "object_graph_paths", "shortest_paths"]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# The attribute of a variable's node that holds its value (tensorflow/tensorflow
# tensorflow/python/trackable/base.py, VARIABLE_VALUE_KEY).
VALUE_ATTRIBUTE = "VARIABLE_VALUE"


class PathBudget:
    """How many characters of object paths one object graph may produce (LimitExceededError beyond).

    Every node's path repeats its parent's, so a chain of N nodes (~11*N bytes) has paths of
    N**2/2 characters: 1 MB of checkpoint would need ~10**10. Real graphs are shallow (paths
    total a few times the graph's size), so the budget is PER_BYTE times the serialized graph
    plus MINIMUM: linear in the input, far above what real models use.
    """

    PER_BYTE = 64
    MINIMUM = 16 << 20

    def __init__(self, graph_bytes: int, path: str | os.PathLike[str] | None = None) -> None:
        self.total = self.MINIMUM + self.PER_BYTE * graph_bytes
        self.left = self.total
        self.path = path

    def charge(self, chars: int) -> None:
        """Account for ``chars`` more characters of paths."""
        self.left -= chars
        if self.left < 0:
            raise LimitExceededError(
                f"the object graph's paths need more than {self.total} characters "
                f"({self.PER_BYTE} per byte of the graph): a hostile chain or fan-in of objects",
                path=self.path,
            )


def object_graph_paths(
    graph: TrackableObjectGraph | None, path: str | os.PathLike[str] | None = None
) -> dict[str, tuple[str, int]]:
    """Object path -> (checkpoint key, node id) for every attribute, within a PathBudget."""
    if graph is None or not len(graph.nodes):
        return {}
    budget = PathBudget(graph.ByteSize(), path)
    nodes = graph.nodes
    paths = shortest_paths(nodes, budget)
    _prefer_key_paths(nodes, paths, budget)
    for nid, owner in list(paths.items()):
        for slot in nodes[nid].slot_variables:
            var = paths.get(slot.original_variable_node_id)
            sid = slot.slot_variable_node_id
            if var is not None and 0 <= sid < len(nodes) and sid not in paths:
                paths[sid] = f"{var}/.OPTIMIZER_SLOT/{owner}/{slot.slot_name}"
                budget.charge(len(paths[sid]))
    out: dict[str, tuple[str, int]] = {}
    for nid in sorted(paths):
        base = paths[nid]
        for attr in nodes[nid].attributes:
            name = base if attr.name == VALUE_ATTRIBUTE else f"{base}/.ATTRIBUTES/{attr.name}"
            budget.charge(len(name))
            out.setdefault(name, (attr.checkpoint_key, nid))
    return out


def shortest_paths(nodes: Any, budget: PathBudget,
                   edge: Callable[[str], str] = str) -> dict[int, str]:
    """Node id -> its shortest path from the root (breadth first, like TF's object graph view).

    ``nodes``: a TrackableObjectGraph's or SavedObjectGraph's nodes (children by node_id and
    local_name); ``edge`` spells each step (``escape_local_name`` for checkpoint keys).
    """
    paths: dict[int, str] = {0: ""}
    queue = [0]
    while queue:
        nxt = []
        for nid in queue:
            base = paths[nid]
            for ref in nodes[nid].children:
                if 0 <= ref.node_id < len(nodes) and ref.node_id not in paths:
                    step = edge(ref.local_name)
                    paths[ref.node_id] = f"{base}/{step}" if base else step
                    budget.charge(len(paths[ref.node_id]))
                    nxt.append(ref.node_id)
        queue = nxt
    return paths


def _prefer_key_paths(nodes: Any, paths: dict[int, str], budget: PathBudget) -> None:
    """Name a node by the object path its checkpoint key spells, when that path leads to it.

    TensorFlow derives keys from the breadth-first path, so its checkpoints keep the
    breadth-first names. savedmodel_io's writer derives them from the path the user wrote
    (``attn/q/kernel``), which the root's ``variables`` list reaches in fewer steps
    (``variables/2``): without this, that shorter alias became the variable's name.
    """
    index: dict[int, dict[str, int]] = {}

    def child(nid: int, name: str) -> int | None:
        if nid not in index:
            index[nid] = {}
            for c in nodes[nid].children:
                index[nid].setdefault(c.local_name, c.node_id)
        found = index[nid].get(name)
        return found if found is not None and 0 <= found < len(nodes) else None

    for nid, node in enumerate(nodes):
        for attr in node.attributes:
            spelled = key_object_path(attr.checkpoint_key, attr.name)
            if not spelled:
                continue
            budget.charge(len(attr.checkpoint_key))
            cur: int | None = 0
            for part in spelled:
                if cur is None:
                    break
                cur = child(cur, part)
            if cur == nid:
                paths[nid] = "/".join(spelled)
                break


def escape_local_name(name: str) -> str:
    """Escape one object-graph edge name for a checkpoint key ("." -> "..", "/" -> ".S").

    The rule is TensorFlow's (tensorflow/tensorflow tensorflow/python/trackable/
    trackable_utils.py, escape_local_name), observed on tf.train.Checkpoint output.
    """
    return name.replace(".", "..").replace("/", ".S")


def key_object_path(key: str, attribute: str) -> list[str] | None:
    """The local names a checkpoint key ``<path>/.ATTRIBUTES/<attribute>`` spells, unescaped
    (the inverse of :func:`escape_local_name` on each part); None for keys of another form."""
    suffix = f"/.ATTRIBUTES/{attribute}"
    if not key.endswith(suffix) or len(key) == len(suffix):
        return None
    out = []
    for part in key[: -len(suffix)].split("/"):
        name, i = [], 0
        while i < len(part):
            if part[i] == "." and i + 1 < len(part) and part[i + 1] in ".S":
                name.append("." if part[i + 1] == "." else "/")
                i += 2
            else:
                name.append(part[i])
                i += 1
        out.append("".join(name))
    return out
