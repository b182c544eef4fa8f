"""Find ops in a SavedModel that touch files, the network, or run code: ``savedmodel-io scan``.

Like ``saved_model_cli scan`` (tensorflow/tensorflow
tensorflow/python/tools/saved_model_cli.py, whose default denylist is ReadFile,
WriteFile and PrintV2), with three differences:

* the default list is wider (:data:`DENYLIST`: file readers and writers, datasets
  on files or remote services, summaries, debug ops that dump tensors to URLs,
  RPC, Python callbacks);
* every function of the library is scanned, reachable from the graph or not (a
  loaded TF2 model can call any function its object graph names);
* checkpoint ops (SaveV2, RestoreV2, MergeV2Checkpoints, ...) are reported only
  where using the model can run them: from a signature, an init op or a
  function the object graph restores. Every SavedModel has them in its own
  saver (``saver_def``), which is how variables are saved and restored; the
  same ops inside a serving function read or write arbitrary files.

Nothing is executed: this reads the graph protos only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from savedmodel_io.errors import NotFoundError
from savedmodel_io.formats import saved_model_file
from savedmodel_io.graph.library import called_functions
from savedmodel_io.proto import FunctionDef, MetaGraphDef, NodeDef, TensorInfo

__all__ = [
    "CATEGORIES",
    "DENYLIST",
    "TF_DEFAULT_DENYLIST",
    "MetaGraphScan",
    "Occurrence",
    "ScanReport",
    "parse_denylist",
    "scan_meta_graph",
    "scan_saved_model",
]

# saved_model_cli's default list (_OP_DENYLIST in saved_model_cli.py).
TF_DEFAULT_DENYLIST = frozenset({"ReadFile", "WriteFile", "PrintV2"})

CATEGORIES = {
    "file": "reads or writes files",
    "checkpoint": "reads or writes checkpoint files",
    "print": "prints to stderr, the log or a file",
    "debug": "dumps tensors to files or URLs (tfdbg)",
    "network": "talks to other processes or hosts",
    "code": "calls back into Python code of the running process",
}

_BY_CATEGORY = {
    "file": """
        ReadFile WriteFile MatchingFiles ImmutableConst LoadAndRemapMatrix
        InitializeTableFromTextFile InitializeTableFromTextFileV2 DecodeProtoV2 EncodeProto
        TFRecordReader TFRecordReaderV2 TextLineReader TextLineReaderV2
        FixedLengthRecordReader FixedLengthRecordReaderV2 WholeFileReader WholeFileReaderV2
        LMDBReader TFRecordDataset TFRecordDatasetV2 TextLineDataset FixedLengthRecordDataset
        FixedLengthRecordDatasetV2 CSVDataset CSVDatasetV2 ExperimentalCSVDataset LMDBDataset
        ExperimentalLMDBDataset MatchingFilesDataset ExperimentalMatchingFilesDataset
        CacheDataset CacheDatasetV2 SnapshotDataset SnapshotDatasetV2 SnapshotDatasetReader
        SnapshotChunkDataset SnapshotNestedDatasetReader ListSnapshotChunksDataset
        SaveDataset SaveDatasetV2 LoadDataset DatasetToTFRecord ExperimentalDatasetToTFRecord
        SqlDataset ExperimentalSqlDataset CreateSummaryFileWriter CreateSummaryDbWriter
        WriteSummary WriteScalarSummary WriteHistogramSummary WriteImageSummary
        WriteAudioSummary WriteGraphSummary WriteRawProtoSummary ImportEvent
        FlushSummaryWriter CloseSummaryWriter StatsAggregatorSetSummaryWriter
    """,
    "checkpoint": "Save SaveV2 SaveSlices Restore RestoreV2 RestoreSlice MergeV2Checkpoints",
    "print": "PrintV2 Print",
    "debug": """
        DebugIdentity DebugIdentityV2 DebugIdentityV3 DebugNanCount DebugNumericSummary
        DebugNumericSummaryV2 Copy CopyHost
    """,
    "network": """
        RpcCall RpcClient RpcServer RpcServerStart RpcServerRegister RpcCheckStatus
        RpcGetValue DeleteRpcFutureResource RemoteCall DataServiceDataset
        DataServiceDatasetV2 DataServiceDatasetV3 DataServiceDatasetV4 RegisterDataset
        RegisterDatasetV2 DistributedSave Send Recv _Send _Recv _HostSend _HostRecv
    """,
    "code": "PyFunc PyFuncStateless EagerPyFunc",
}

# Op type -> category. Every name is a registered TensorFlow op (checked by the tests).
DENYLIST: dict[str, str] = {
    op: cat for cat, names in _BY_CATEGORY.items() for op in names.split()
}


def parse_denylist(text: str) -> frozenset[str]:
    """Ops from a comma-separated list, as ``--op_denylist``; "" is the empty list."""
    return frozenset(op.strip() for op in text.split(",") if op.strip())


@dataclass(frozen=True)
class Occurrence:
    """One node using a denylisted op: in the graph (function None) or in a library function."""

    op: str
    node: str
    function: str | None = None

    def __str__(self) -> str:
        if self.function is None:
            return f"graph node {self.node!r}"
        return f"function {self.function!r} node {self.node!r}"


@dataclass
class MetaGraphScan:
    """Denylisted ops found in one meta graph, each with the nodes using it."""

    tags: tuple[str, ...]
    found: dict[str, list[Occurrence]] = field(default_factory=dict)

    @property
    def ops(self) -> list[str]:
        return sorted(self.found)


@dataclass
class ScanReport:
    """The result of scanning a SavedModel: one entry per scanned meta graph."""

    path: str | None
    denylist: frozenset[str]
    default_denylist: bool
    meta_graphs: list[MetaGraphScan]

    @property
    def found(self) -> bool:
        return any(mg.found for mg in self.meta_graphs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``savedmodel-io scan --json``)."""
        return {
            "path": self.path,
            "denylist": "default" if self.default_denylist else sorted(self.denylist),
            "found": self.found,
            "meta_graphs": [
                {
                    "tags": list(mg.tags),
                    "denylisted_ops": [
                        {
                            "op": op,
                            "category": DENYLIST.get(op),
                            "locations": [
                                {"function": o.function, "node": o.node} for o in mg.found[op]
                            ],
                        }
                        for op in mg.ops
                    ],
                }
                for mg in self.meta_graphs
            ],
        }


def _node_name(tensor: str) -> str:
    """``"^a"``, ``"a:0"``, ``"a"`` -> ``"a"``."""
    name = tensor[1:] if tensor.startswith("^") else tensor
    return name.split(":", 1)[0]


def _ancestors(roots: Iterable[str], nodes: dict[str, NodeDef]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in nodes]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(i for i in (_node_name(x) for x in nodes[name].input) if i in nodes)
    return seen


def _closure(start: Iterable[str], library: dict[str, FunctionDef]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        for node in library[name].node_def:
            todo.extend(called_functions(node, library))
    return seen


def _tensor_names(info: TensorInfo) -> list[str]:
    kind = info.WhichOneof("encoding")
    if kind == "name":
        name: str = info.name
        return [name]
    if kind == "coo_sparse":
        c = info.coo_sparse
        names: list[str] = [c.values_tensor_name, c.indices_tensor_name, c.dense_shape_tensor_name]
        return names
    if kind == "composite_tensor":
        return [n for comp in info.composite_tensor.components for n in _tensor_names(comp)]
    return []


def _reachable(mg: MetaGraphDef, nodes: dict[str, NodeDef], library: dict[str, FunctionDef]
               ) -> tuple[set[str], set[str]]:
    """Graph nodes and functions that using the model can run.

    Entry points are signature tensors, node lists of collections (init and main
    ops) and the concrete functions the object graph restores. The saver behind
    ``saver_def`` is not an entry point: it is how variables get in and out.
    """
    entries: list[str] = []
    for sig in mg.signature_def.values():
        for info in list(sig.inputs.values()) + list(sig.outputs.values()):
            entries.extend(_node_name(n) for n in _tensor_names(info))
    for coll in mg.collection_def.values():
        if coll.WhichOneof("kind") == "node_list":
            entries.extend(_node_name(n) for n in coll.node_list.value)
    live = _ancestors(entries, nodes)
    start = [f for n in live for f in called_functions(nodes[n], library)]
    start.extend(mg.object_graph_def.concrete_functions.keys())
    return live, _closure(start, library)


def scan_meta_graph(
    mg: MetaGraphDef, denylist: Iterable[str] | None = None
) -> MetaGraphScan:
    """Denylisted ops of one meta graph: its graph and every function of its library.

    With the default list, checkpoint ops are reported only where an entry point
    (signature, init op, restored function) reaches them; an explicit ``denylist``
    reports every occurrence.
    """
    default = denylist is None
    deny = frozenset(DENYLIST if denylist is None else denylist)
    graph = mg.graph_def
    library = {f.signature.name: f for f in graph.library.function}
    nodes = {n.name: n for n in graph.node}
    live_nodes, live_funcs = _reachable(mg, nodes, library) if default else (set(), set())

    result = MetaGraphScan(tuple(mg.meta_info_def.tags))

    def hit(op: str, occurrence: Occurrence, live: bool) -> None:
        if op not in deny:
            return
        if default and not live and DENYLIST[op] == "checkpoint":
            return
        result.found.setdefault(op, []).append(occurrence)

    for node in graph.node:
        hit(node.op, Occurrence(node.op, node.name), node.name in live_nodes)
    for fname in sorted(library):
        for node in library[fname].node_def:
            hit(node.op, Occurrence(node.op, node.name, fname), fname in live_funcs)
    return result


def _match_tags(tags: Iterable[str], want: frozenset[str]) -> bool:
    return frozenset(tags) == want


def scan_saved_model(
    path: str | os.PathLike[str],
    *,
    tag_set: Iterable[str] | str | None = None,
    denylist: Iterable[str] | None = None,
    allow_external_links: bool = False,
) -> ScanReport:
    """Scan the SavedModel directory ``path`` (all meta graphs, or the one with ``tag_set``).

    ``allow_external_links``: follow symlinks out of the directory (refused by default).
    """
    directory = Path(path)
    proto = saved_model_file.read(directory, allow_external_links=allow_external_links)
    meta_graphs = list(proto.meta_graphs)
    if tag_set is not None:
        want = frozenset(
            t.strip() for t in (tag_set.split(",") if isinstance(tag_set, str) else tag_set)
            if t.strip()
        )
        meta_graphs = [mg for mg in meta_graphs if _match_tags(mg.meta_info_def.tags, want)]
        if not meta_graphs:
            avail = "; ".join(
                ",".join(sorted(mg.meta_info_def.tags)) for mg in proto.meta_graphs
            ) or "none"
            raise NotFoundError(
                f"no meta graph with tag-set {','.join(sorted(want))!r} "
                f"(available tag-sets: {avail})",
                path=directory,
            )
    deny = None if denylist is None else frozenset(denylist)
    return ScanReport(
        path=str(directory),
        denylist=frozenset(DENYLIST) if deny is None else deny,
        default_denylist=deny is None,
        meta_graphs=[scan_meta_graph(mg, deny) for mg in meta_graphs],
    )
