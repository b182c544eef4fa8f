"""The order in which ``saved_model_cli show --all`` lists a function's concrete functions.

saved_model_cli sorts them by the names TensorFlow's loader gives them, which depend on a
global counter advanced while the function library is loaded; this module replays that count.
"""

from __future__ import annotations

import re

from savedmodel_io.graph.library import called_functions
from savedmodel_io.model import ConcreteFunction, MetaGraph

__all__ = ["in_load_order"]


def in_load_order(mg: MetaGraph, cfs: list[ConcreteFunction]) -> list[ConcreteFunction]:
    """Concrete functions sorted as saved_model_cli sorts them (by their name after loading)."""
    if len(cfs) < 2:
        return list(cfs)
    order = mg.__dict__.get("_load_names")
    if order is None:  # computed once per meta graph, and only when needed
        order = mg.__dict__["_load_names"] = _load_names(mg)
    return sorted(cfs, key=lambda c: order.get(c.name, c.name))


_INFERENCE = re.compile(r"^__inference_(.*)_\d+$")

# Output arity of common ops, for ops missing from the meta graph's stripped_op_list
# (ops only reachable from uncalled functions). Default 1. From TensorFlow's op
# registrations (tensorflow/tensorflow tensorflow/core/ops/*.cc).
_NO_OUTPUT = {
    "NoOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "SaveV2", "Save",
    "SaveSlices", "DestroyResourceOp", "InitializeTableV2", "InitializeTableFromTextFileV2",
    "LookupTableImportV2", "LookupTableInsertV2", "LookupTableRemoveV2", "ResourceScatterUpdate",
    "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul", "ResourceScatterDiv",
    "ResourceScatterMin", "ResourceScatterMax", "ResourceScatterNdUpdate", "ResourceScatterNdAdd",
    "ResourceScatterNdSub", "ResourceStridedSliceAssign", "Assert", "PrintV2", "WriteFile",
    "MergeV2Checkpoints", "DisableCopyOnRead",
}
_FIXED_OUTPUTS = {
    "Unique": 2, "UniqueV2": 2, "UniqueWithCounts": 3, "TopKV2": 2, "TopK": 2,
    "FusedBatchNorm": 5, "FusedBatchNormV2": 5, "FusedBatchNormV3": 6, "Switch": 2, "Merge": 2,
    "RefSwitch": 2, "Svd": 3, "Qr": 2, "Eig": 2, "SelfAdjointEigV2": 2,
    "LookupTableExportV2": 2, "BroadcastGradientArgs": 2, "SparseFillEmptyRows": 4,
    "SparseReshape": 2, "SparseSlice": 3, "SparseConcat": 3, "SparseAdd": 3, "SparseReorder": 2,
    "CTCGreedyDecoder": 4, "QuantizeV2": 3, "ListDiff": 2,
    "RaggedTensorToSparse": 3, "RaggedRange": 2, "UnicodeDecode": 2,
    "UnicodeDecodeWithOffsets": 3, "StringSplit": 3, "StringSplitV2": 3,
}
_COUNT_ATTR = {"Unpack": "num", "Split": "num_split", "SplitV": "num_split", "ShapeN": "N",
               "DynamicPartition": "num_partitions"}
_TYPE_LIST_ATTR = {
    "RestoreV2": "dtypes", "IdentityN": "T", "While": "T", "StatelessWhile": "T", "If": "Tout",
    "StatelessIf": "Tout", "Case": "Tout", "StatelessCase": "Tout", "PartitionedCall": "Tout",
    "StatefulPartitionedCall": "Tout", "RemoteCall": "Tout", "SymbolicGradient": "Tout",
}


def _num_outputs(node, op_defs: dict, lib: dict) -> int:
    """How many output tensors a node has (TensorFlow gives each one a uid when loading)."""
    if node.op in lib:
        return len(lib[node.op].signature.output_arg)
    od = op_defs.get(node.op)
    if od is not None:
        n = 0
        defaults = {a.name: a.default_value for a in od.attr}
        for arg in od.output_arg:
            if arg.number_attr:
                v = node.attr[arg.number_attr] if arg.number_attr in node.attr else defaults.get(
                    arg.number_attr)
                n += v.i if v is not None else 1
            elif arg.type_list_attr:
                v = node.attr[arg.type_list_attr] if arg.type_list_attr in node.attr else (
                    defaults.get(arg.type_list_attr))
                n += len(v.list.type) if v is not None else 1
            else:
                n += 1
        return n
    if node.op in _NO_OUTPUT:
        return 0
    if node.op in _FIXED_OUTPUTS:
        return _FIXED_OUTPUTS[node.op]
    if node.op in _COUNT_ATTR:
        a = _COUNT_ATTR[node.op]
        return node.attr[a].i if a in node.attr else 1
    a = _TYPE_LIST_ATTR.get(node.op)
    if a and a in node.attr:
        return len(node.attr[a].list.type)
    return 1


def _load_names(mg: MetaGraph) -> dict[str, str]:
    """The names TensorFlow's loader gives the library's concrete functions.

    saved_model_cli sorts a function's concrete functions by these names. The
    loader (tensorflow/python/saved_model/function_deserialization.py,
    ``load_function_def_library``) visits the library in a topological order
    (Kahn's algorithm, LIFO), strips ``__inference_`` and the numeric suffix and
    renames each function ``__inference_<name>_<uid>``. Its global uid counter
    starts at 2 (the load's graph and shared-name suffix) and, per function, takes
    one uid for the function graph, one per output tensor (inputs and every node's
    outputs), one per old-style HashTableV2 node, then one for the name itself.
    """
    lib = {f.signature.name: f for f in mg.proto.graph_def.library.function}
    names = list(lib)
    deps: dict[str, list[str]] = {}
    for fname, f in lib.items():
        d: list[str] = []
        for node in f.node_def:
            # Like TF's loader: a call by op type hides the node's func-valued attrs.
            d.extend([node.op] if node.op in lib else called_functions(node, lib))
        deps[fname] = list(dict.fromkeys(d))
    edges: dict[str, list[str]] = {}
    count: dict[str, int] = {}
    for fname, ds in deps.items():
        for dep in ds:
            edges.setdefault(dep, []).append(fname)
            count[fname] = count.get(fname, 0) + 1
    ready = [n for n in names if count.get(n, 0) == 0]
    order: list[str] = []
    while ready:
        n = ready.pop()
        order.append(n)
        for dest in edges.get(n, ()):
            count[dest] -= 1
            if not count[dest]:
                ready.append(dest)
    op_defs = {o.name: o for o in mg.proto.meta_info_def.stripped_op_list.op}
    uid = 2
    out = {}
    for n in order:
        f = lib[n]
        uid += 1 + len(f.signature.input_arg)
        for node in f.node_def:
            uid += _num_outputs(node, op_defs, lib)
            if node.op == "HashTableV2" and not (
                "use_node_name_sharing" in node.attr and node.attr["use_node_name_sharing"].b
            ):
                uid += 1
        m = _INFERENCE.match(n)
        out[n] = f"__inference_{m.group(1) if m else n}_{uid}"
        uid += 1
    return out

