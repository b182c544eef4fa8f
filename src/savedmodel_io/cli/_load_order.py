"""The order in which ``saved_model_cli show --all`` lists a function's concrete functions.

saved_model_cli sorts them by the names TensorFlow's loader gives them, which depend on a
global counter advanced while the function library is loaded; this module replays that count.
"""

from __future__ import annotations

import re
from typing import Any

from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph import opdefs
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


def _num_outputs(node: Any, lib: dict[str, Any], stripped: dict[str, Any]) -> int:
    """How many output tensors a node has (TensorFlow gives each one a uid when loading).

    The op's OpDef says (TensorFlow's registry; for a custom op, the meta graph's
    stripped_op_list); a list whose length attr is missing counts 1, an unknown op 1.
    """
    if node.op in lib:
        return len(lib[node.op].signature.output_arg)
    od = opdefs.get(node.op)
    if od is None and node.op in stripped:
        try:
            od = opdefs.from_proto(stripped[node.op])
        except SavedModelError:  # a malformed OpDef: count the node like an unknown op
            od = None
    if od is None:
        return 1
    attrs: dict[str, Any] = {}
    for arg in od.outputs:
        if arg.number_attr in node.attr:
            attrs[arg.number_attr] = node.attr[arg.number_attr].i
        if arg.type_list_attr in node.attr:
            attrs[arg.type_list_attr] = list(node.attr[arg.type_list_attr].list.type)
    return sum(1 if n is None else n for n in opdefs.arg_counts(od.outputs, attrs, od))


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
    stripped = {o.name: o for o in mg.proto.meta_info_def.stripped_op_list.op}
    uid = 2
    out = {}
    for n in order:
        f = lib[n]
        uid += 1 + len(f.signature.input_arg)
        for node in f.node_def:
            uid += _num_outputs(node, lib, stripped)
            if node.op == "HashTableV2" and not (
                "use_node_name_sharing" in node.attr and node.attr["use_node_name_sharing"].b
            ):
                uid += 1
        m = _INFERENCE.match(n)
        out[n] = f"__inference_{m.group(1) if m else n}_{uid}"
        uid += 1
    return out

