"""Bind a graph's variables to checkpoint values, and find its init op and asset feeds.

TF2 SavedModels: the signature's call node passes variable handles (VarHandleOp
nodes of the MetaGraph) as its trailing inputs; ``SavedConcreteFunction.bound_inputs``
names the SavedObjectGraph node of each, and the checkpoint's own object graph
(the ``_CHECKPOINTABLE_OBJECT_GRAPH`` entry, a TrackableObjectGraph) gives each node's
``VARIABLE_VALUE`` checkpoint key. TensorFlow's loader binds them the same way
(tensorflow/tensorflow tensorflow/python/saved_model/load.py): the restore function
of the MetaGraph's SaverDef is not used, since Keras 3 exports restore into
different handles than the ones its signatures read.

TF1 graphs: the Saver's restore subgraph (RestoreV2 + Assign/AssignVariableOp)
maps each variable node to its checkpoint key; without one, the key is the
variable's node name, which is what ``tf.compat.v1.train.Saver`` writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from savedmodel_io.errors import CorruptFileError, NotFoundError
from savedmodel_io.formats import layout
from savedmodel_io.formats.object_paths import (
    OBJECT_GRAPH_KEY,
    VALUE_ATTRIBUTE,
    PathBudget,
    escape_local_name,
    shortest_paths,
)
from savedmodel_io.graph.library import asset_file_defs
from savedmodel_io.proto import MetaGraphDef, TrackableObjectGraph, parse_message

__all__ = ["Handle", "Ref", "VariableStore", "asset_feeds", "init_op_name", "variable_name",
           "OBJECT_GRAPH_KEY"]



@dataclass(frozen=True)
class Handle:
    """A resource handle: which kind of resource and its (shared) name."""

    kind: str
    name: str

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass(frozen=True)
class Ref:
    """A TF1 reference to a variable (``DT_FLOAT_REF``...): read when a consumer runs, not before.

    Ref-typed outputs (VariableV2, Assign, ScatterAdd...) flow as Refs into the inputs that
    take references (Assign's first input...); every other consumer gets the variable's value
    at the moment it runs, as in a TF1 session.
    """

    handle: Handle
    shape: tuple[int, ...] = ()  # the variable's declared shape (its shape until assigned)

    def __repr__(self) -> str:
        return f"<ref to {self.handle.name}>"


def variable_name(node_name: str, shared_name: bytes | None) -> str:
    """The name a variable lives under in a session: its ``shared_name``, else its node's name."""
    shared = (shared_name or b"").decode("utf-8", "replace")
    return shared or node_name


class VariableStore:
    """Variable values of one Session: read lazily from the checkpoint, then kept."""

    def __init__(self, session: Any, source: Mapping[str, Any] | Callable[[str], Any] | None) -> None:
        self.session = session
        self.source = source
        self.values: dict[str, np.ndarray] = {}
        self._keys: dict[str, str] | None = None
        self._reader: Callable[[str], Any] | None = None
        # Bumped by every assignment: optimised programs with folded variables check it.
        self.version = 0

    # -- checkpoint access -----------------------------------------------------

    def _prefix(self) -> str | None:
        d = self.session.export_dir
        return os.path.join(d, layout.VARIABLES_PREFIX) if d else None

    def checkpoint(self, key: str) -> Any:
        """The value stored under checkpoint ``key``."""
        src = self.source
        if src is None:
            if self._reader is None:
                self._reader = _bundle_reader(self.session.export_dir,
                                              self.session.allow_external_links)
            return self._reader(key)
        if callable(src) and not isinstance(src, Mapping):
            return src(key)
        if key not in src:
            raise NotFoundError(f"no checkpoint entry {key!r}", path=self._prefix())
        return src[key]

    # -- handle -> key -----------------------------------------------------------

    def key_for(self, name: str) -> str:
        """Checkpoint key of the variable whose handle (or TF1 node) is named ``name``."""
        if self._keys is None:
            self._keys = self._build_keys()
        return self._keys.get(name, name)

    def _build_keys(self) -> dict[str, str]:
        mg: MetaGraphDef = self.session.meta_graph
        keys: dict[str, str] = {}
        if mg.HasField("object_graph_def") and len(mg.object_graph_def.nodes):
            keys.update(self._tf2_keys(mg))
        keys.update({k: v for k, v in _tf1_keys(mg, self.session.export_dir).items() if k not in keys})
        return keys

    def _tf2_keys(self, mg: MetaGraphDef) -> dict[str, str]:
        og = mg.object_graph_def
        ckpt_keys = self._object_keys(og)
        graph = self.session.graph
        out: dict[str, str] = {}
        for node in graph.nodes:
            f = node.attr.get("f") if node.op in ("StatefulPartitionedCall", "PartitionedCall") else None
            fname = getattr(f, "name", None)
            if fname is None or fname not in og.concrete_functions:
                continue
            bound = list(og.concrete_functions[fname].bound_inputs)
            if not bound:
                continue
            captured = node.inputs[len(node.inputs) - len(bound):]
            for (src, _), obj_id in zip(captured, bound):
                producer = graph.nodes[src]
                if producer.op != "VarHandleOp":
                    continue
                key = ckpt_keys.get(obj_id)
                if key is not None:
                    shared = producer.attr.get("shared_name") or producer.name.encode()
                    out[shared.decode("utf-8", "replace")] = key
        return out

    def _object_keys(self, og: Any) -> dict[int, str]:
        """Object node id -> VARIABLE_VALUE checkpoint key."""
        try:
            raw = self.checkpoint(OBJECT_GRAPH_KEY)
        except NotFoundError:
            raw = None
        if raw is not None:
            data = raw.item() if isinstance(raw, np.ndarray) else raw
            tog = parse_message(TrackableObjectGraph, bytes(data), path=self._prefix())
            out = {}
            for i, n in enumerate(tog.nodes):
                for a in n.attributes:
                    if a.name == VALUE_ATTRIBUTE:
                        out[i] = a.checkpoint_key
            return out
        return _path_keys(og, self.session.export_dir)

    # -- reads and writes ----------------------------------------------------------

    def read(self, handle: Handle, where: str = "") -> np.ndarray:
        """Current value of a variable."""
        v = self.values.get(handle.name)
        if v is None:
            key = self.key_for(handle.name)
            try:
                v = self.checkpoint(key)
            except NotFoundError:
                raise NotFoundError(
                    f"variable {handle.name!r} is not initialized: the checkpoint has no entry "
                    f"{key!r} and nothing assigned it (an init op or a signature run)",
                    path=self._prefix(), where=where) from None
            v = np.asarray(v) if not isinstance(v, np.ndarray) else v
            self.values[handle.name] = v
        return v

    def assign(self, handle: Handle, value: np.ndarray) -> None:
        """Set a variable's value (AssignVariableOp, TF1 Assign)."""
        self.values[handle.name] = value
        self.version += 1

    def is_initialized(self, handle: Handle) -> bool:
        """Whether a variable has a value: assigned in this session, or restored from the checkpoint."""
        if handle.name in self.values:
            return True
        try:
            self.read(handle)
        except NotFoundError:
            return False
        return True

    def forget(self, handle: Handle) -> None:
        """Drop a variable's value (DestroyTemporaryVariable)."""
        self.values.pop(handle.name, None)


def _bundle_reader(export_dir: str | None, allow_external_links: bool) -> Callable[[str], Any]:
    if export_dir is None:
        def nothing(key: str) -> Any:
            raise NotFoundError(
                f"checkpoint key {key!r} is needed but the model's directory is not known "
                "(pass export_dir= or variables=)")
        return nothing
    from savedmodel_io.formats import bundle
    state: dict[str, Any] = {}
    prefix = os.path.join(export_dir, layout.VARIABLES_PREFIX)

    def read(key: str) -> Any:
        reader = state.get("reader")
        if reader is None:
            if not os.path.exists(layout.index_filename(prefix)):
                raise NotFoundError(f"no checkpoint to read {key!r} from",
                                    path=layout.index_filename(prefix))
            # Opened from the model directory: its files must resolve inside it.
            reader = state["reader"] = bundle.open_checkpoint(
                export_dir, allow_external_links=allow_external_links)
        if key not in reader:
            raise NotFoundError(f"no checkpoint entry {key!r}", path=prefix)
        return reader[key]

    return read


def _path_keys(og: Any, where: str | None = None) -> dict[int, str]:
    """Checkpoint keys from the object graph paths (breadth-first, first path wins)."""
    paths = shortest_paths(og.nodes, PathBudget(og.ByteSize(), where), escape_local_name)
    return {
        nid: f"{p}/.ATTRIBUTES/{VALUE_ATTRIBUTE}"
        for nid, p in paths.items()
        if og.nodes[nid].WhichOneof("kind") == "variable"
    }


def _tf1_keys(mg: MetaGraphDef, path: str | None = None) -> dict[str, str]:
    """TF1: variable node name -> checkpoint key, from the Saver's restore subgraph."""
    nodes = {n.name: n for n in mg.graph_def.node}
    out: dict[str, str] = {}

    def strip(ref: str) -> tuple[str, int]:
        name, _, idx = ref.partition(":")
        return name, int(idx) if idx.isdigit() else 0

    for n in mg.graph_def.node:
        if n.op not in ("Assign", "AssignVariableOp") or len(n.input) < 2:
            continue
        src, idx = _through_identities(nodes, *strip(n.input[1]), strip, path)
        restore = nodes.get(src)
        if restore is None or restore.op not in ("RestoreV2", "Restore", "RestoreSlice"):
            continue
        names_node = nodes.get(strip(restore.input[1])[0]) if len(restore.input) > 1 else None
        if names_node is None or names_node.op != "Const" or "value" not in names_node.attr:
            continue
        names = list(names_node.attr["value"].tensor.string_val)
        if idx >= len(names):
            continue
        var = strip(n.input[0])[0]
        var_node = nodes.get(var)
        handle = var
        if var_node is not None and "shared_name" in var_node.attr:
            handle = variable_name(var, var_node.attr["shared_name"].s)
        out[handle] = names[idx].decode("utf-8", "replace")
    return out


def _through_identities(nodes: dict[str, Any], src: str, idx: int,
                        strip: Callable[[str], tuple[str, int]], path: str | None) -> tuple[str, int]:
    """The tensor an Identity chain starts from; a chain that loops is a corrupt graph."""
    seen: set[str] = set()
    while src in nodes and nodes[src].op == "Identity" and nodes[src].input:
        if src in seen:
            raise CorruptFileError(f"Identity node {src!r} is its own input (through a cycle)",
                                   path=path, where=f"node {src!r} in the graph")
        seen.add(src)
        src, idx = strip(nodes[src].input[0])
    return src, idx


def init_op_name(mg: MetaGraphDef) -> str | None:
    """Name of the op to run once after restoring the variables, before serving.

    TensorFlow's loader order (tensorflow/tensorflow tensorflow/python/saved_model/
    loader_impl.py, get_init_op): the ``__saved_model_init_op`` signature, else the
    ``saved_model_main_op`` collection, else the ``legacy_init_op`` collection.
    """
    sig = mg.signature_def.get("__saved_model_init_op") if "__saved_model_init_op" in mg.signature_def else None
    if sig is not None and "__saved_model_init_op" in sig.outputs:
        name: str = sig.outputs["__saved_model_init_op"].name
        return name.split(":")[0]
    for coll in ("saved_model_main_op", "legacy_init_op"):
        if coll in mg.collection_def:
            vals = mg.collection_def[coll].node_list.value
            if vals:
                first: str = vals[0]
                return first.split(":")[0].lstrip("^")
    return None


def asset_feeds(mg: MetaGraphDef, export_dir: str | None) -> dict[str, np.ndarray]:
    """Asset tensor name -> absolute asset path (what TF's loader feeds before the init op)."""
    feeds = {}
    for a in asset_file_defs(mg, export_dir):
        if not a.tensor_info.name:
            continue
        path = os.path.join(export_dir, layout.ASSETS_DIR, a.filename) if export_dir else a.filename
        feeds[a.tensor_info.name] = np.array(path.encode("utf-8"), dtype=object)
    return feeds
