"""Pictures of SavedModel graphs: Graphviz DOT text (no dependency), SVG/PNG through ``dot``.

A signature's graph in a TF2 SavedModel is a few placeholders and one
``StatefulPartitionedCall``; the real work lives in the function library. The
picture follows every call (``PartitionedCall``, ``StatefulPartitionedCall`` and
ops named after a library function) into the callee and draws its body inside a
cluster, wiring the caller's inputs to the callee's arguments and the callee's
return values to the caller's consumers.

Facts used (tensorflow/tensorflow ``tensorflow/core/framework/function.proto``,
``node_def.proto``): GraphDef inputs are ``node``, ``node:k`` or ``^node``
(control); FunctionDef inputs are ``arg``, ``node:out_arg:k`` or ``^node``; a
FunctionDef's ``ret`` maps output arg names to such references; a
``(Stateful)PartitionedCall`` names its callee in attr ``f`` and its outputs
are ``output:k``, in the callee's output arg order. ``_output_shapes`` attrs
(written by TensorFlow's SavedModel exporter and by our graph builder) give the
labelled shapes.

By default variables, constants and Identity ops are *folded*: a ``Conv2D``
reading ``Conv1/kernel`` through ``ReadVariableOp`` is drawn as one box that
lists the kernel and its shape, the way model viewers show layers. Big graphs
can be collapsed by name scope (``collapse=N`` keeps N scope levels), or
automatically with ``max_nodes``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from savedmodel_io import dtypes
from savedmodel_io.errors import (
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
    RuntimeFailure,
)
from savedmodel_io.proto import DataType
from savedmodel_io.tensors import Shape, shape_from_proto

__all__ = [
    "FORMATS",
    "Picture",
    "PictureNode",
    "draw",
    "function_picture",
    "render",
    "signature_picture",
    "to_dot",
]

FORMATS = ("dot", "svg", "png")
CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable", "VarHandleOpV2")
PASS_THROUGH_OPS = ("Identity", "Snapshot", "StopGradient", "PreventGradient")
# Attributes that name control-flow bodies; drawn as text, not expanded.
_BODY_ATTRS = ("then_branch", "else_branch", "cond", "body", "branches")

DEFAULT_MAX_DEPTH = 32
DEFAULT_NODE_BUDGET = 200_000
_MAX_FOLDED_LINES = 4

# Fill colours by op family, so a reader sees the structure (convolutions, activations...).
_COLORS = {
    "conv": "#cfe2f3",
    "matmul": "#b4d7f0",
    "act": "#f8cbad",
    "norm": "#d9ead3",
    "pool": "#fff2cc",
    "shape": "#eeeeee",
    "io": "#ffe599",
    "call": "#ead1dc",
    "other": "#ffffff",
}
_FAMILY = {
    **dict.fromkeys(
        ["Conv2D", "Conv3D", "Conv1D", "DepthwiseConv2dNative", "Conv2DBackpropInput",
         "Conv3DBackpropInputV2", "Conv"], "conv"),
    **dict.fromkeys(["MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"], "matmul"),
    **dict.fromkeys(
        ["Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus",
         "Gelu", "LeakyRelu", "Swish", "HardSwish"], "act"),
    **dict.fromkeys(["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Rsqrt"], "norm"),
    **dict.fromkeys(["MaxPool", "AvgPool", "MaxPoolV2", "Mean", "Max", "Sum"], "pool"),
    **dict.fromkeys(
        ["Reshape", "Shape", "Transpose", "ExpandDims", "Squeeze", "ConcatV2", "Pack", "Unpack",
         "StridedSlice", "Slice", "GatherV2", "Cast", "Pad", "Fill"], "shape"),
}


# --------------------------------------------------------------------- the picture model


@dataclass
class PictureNode:
    """One box of the picture: an op (or a collapsed name scope), an input or an output."""

    id: int
    op: str
    name: str
    kind: str = "op"  # op | input | output | call | scope
    shapes: list[Shape] | None = None
    folded: list[str] = field(default_factory=list)
    cluster: int | None = None
    detail: str = ""
    caption: str | None = None  # shown instead of the last name component

    @property
    def family(self) -> str:
        if self.kind in ("input", "output"):
            return "io"
        if self.kind == "call":
            return "call"
        return _FAMILY.get(self.op, "other")


@dataclass
class Cluster:
    """A function body drawn inside a box labelled with the function's name."""

    id: int
    label: str
    parent: int | None


@dataclass
class Picture:
    """Nodes, edges and clusters of a picture, independent of the output format."""

    title: str
    nodes: dict[int, PictureNode] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)
    clusters: dict[int, Cluster] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Picture({self.title!r}, nodes={len(self.nodes)}, edges={len(self.edges)}, "
            f"clusters={len(self.clusters)})"
        )

    def ops(self) -> dict[str, int]:
        """How many boxes draw each op type."""
        out: dict[str, int] = {}
        for n in self.nodes.values():
            if n.kind == "op":
                out[n.op] = out.get(n.op, 0) + 1
        return dict(sorted(out.items()))

    def collapse(self, depth: int) -> Picture:
        """A copy where nodes sharing the first ``depth`` name-scope levels (per cluster) are one box."""
        if depth < 1:
            raise InvalidArgumentError(f"collapse depth must be at least 1, got {depth}")
        groups: dict[tuple[int | None, str], list[PictureNode]] = {}
        owner: dict[int, int] = {}
        out = Picture(self.title, clusters=dict(self.clusters))
        for n in self.nodes.values():
            parts = n.name.split("/")
            if n.kind != "op" or len(parts) <= depth:
                out.nodes[n.id] = n
                owner[n.id] = n.id
                continue
            groups.setdefault((n.cluster, "/".join(parts[:depth])), []).append(n)
        leaving: set[int] = set()
        for a, b in self.edges:
            leaving.add(a)
        for (cluster, scope), members in groups.items():
            if len(members) == 1:
                n = members[0]
                out.nodes[n.id] = PictureNode(
                    id=n.id, op=n.op, name=n.name, kind=n.kind, shapes=n.shapes,
                    folded=n.folded, cluster=n.cluster, detail=n.detail,
                    caption=scope.rsplit("/", 1)[-1],
                )
                owner[n.id] = n.id
                continue
            gid = members[0].id
            for m in members:
                owner[m.id] = gid
            counts: dict[str, int] = {}
            for m in members:
                counts[m.op] = counts.get(m.op, 0) + 1
            main = _main_op(counts)
            exits = [m for m in members if m.id in leaving]
            last = exits[-1] if exits else members[-1]
            weights = [f for m in members for f in m.folded if not f.startswith("const")]
            folded = weights[:_MAX_FOLDED_LINES]
            if len(weights) > _MAX_FOLDED_LINES:
                folded.append(f"+{len(weights) - _MAX_FOLDED_LINES} more weights")
            ops_text = ", ".join(
                f"{op}×{c}" if c > 1 else op for op, c in sorted(counts.items(), key=lambda kv: -kv[1])
            )
            out.nodes[gid] = PictureNode(
                id=gid,
                op=main,
                name=scope,
                kind="scope",
                shapes=last.shapes,
                folded=folded,
                cluster=cluster,
                detail=_clip(ops_text, 60),
            )
        seen: set[tuple[int, int]] = set()
        for a, b in self.edges:
            e = (owner[a], owner[b])
            if e[0] != e[1] and e not in seen:
                seen.add(e)
                out.edges.append(e)
        return out

    def scope_depth(self) -> int:
        """The deepest name-scope nesting of any op box."""
        return max((n.name.count("/") for n in self.nodes.values() if n.kind == "op"), default=0)


def _main_op(counts: dict[str, int]) -> str:
    """The op that names a collapsed scope: the heaviest family first (conv, matmul, ...)."""
    rank = ["conv", "matmul", "pool", "norm", "act"]
    for fam in rank:
        hits = [op for op in counts if _FAMILY.get(op) == fam]
        if hits:
            return min(hits, key=lambda op: (-counts[op], op))
    return min(counts, key=lambda op: (-counts[op], op))


# --------------------------------------------------------------------- graph walking


@dataclass(frozen=True)
class _Ref:
    """A drawn node's output."""

    node: int
    index: int


@dataclass(frozen=True)
class _Folded:
    """A value drawn as text inside its consumers (variable, constant)."""

    text: str


@dataclass(frozen=True)
class _Lazy:
    """An output not yet processed (a back edge of a TF1 while loop)."""

    body: _Body
    name: str
    out: str | None
    index: int


_Endpoint = _Ref | _Folded | _Lazy | None


class _Call:
    """What a call node resolves to: the callee's return values, by output position."""

    def __init__(self, rets: list[_Endpoint], out_names: list[str]) -> None:
        self.rets = rets
        self.out_names = out_names

    def output(self, out: str | None, index: int) -> _Endpoint:
        pos = _out_position(out, index, self.out_names)
        return self.rets[pos] if 0 <= pos < len(self.rets) else None


def _out_position(out: str | None, index: int, out_names: list[str]) -> int:
    """Which return value ``node:out:index`` of a call names (``output:k`` -> k)."""
    if out is not None and out in out_names:
        return out_names.index(out)
    return index




@dataclass(frozen=True)
class _Pass:
    """A pass-through op (Identity): its outputs are its data inputs."""

    inputs: tuple[_Endpoint, ...]


_Resolved = _Ref | _Folded | _Call | _Pass | None


def _parse_graph_input(ref: str) -> tuple[str, str | None, int] | None:
    """GraphDef input ``node`` / ``node:k``; None for control inputs."""
    if ref.startswith("^"):
        return None
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, None, int(idx)
    return ref, None, 0


def _parse_function_input(ref: str) -> tuple[str, str | None, int] | None:
    """FunctionDef input ``arg`` / ``node:out`` / ``node:out:k``; None for control inputs."""
    if ref.startswith("^"):
        return None
    parts = ref.split(":")
    if len(parts) == 1:
        return parts[0], None, 0
    if len(parts) == 2:
        return parts[0], parts[1], 0
    idx = parts[-1]
    return ":".join(parts[:-2]), parts[-2], int(idx) if idx.isdigit() else 0


def _shapes_of(node: Any) -> list[Shape] | None:
    if "_output_shapes" not in node.attr:
        return None
    return [shape_from_proto(s) for s in node.attr["_output_shapes"].list.shape]


def _shape_text(shape: Shape) -> str:
    if shape is None:
        return "?"
    if not shape:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


def _dtype_text(dt: int) -> str:
    """``float32`` for DT_FLOAT; empty for DT_INVALID."""
    return dtypes.python_name(dt) if dt else ""


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _var_text(node: Any) -> str:
    name = node.name
    for key in ("debug_name", "shared_name"):
        if key in node.attr and node.attr[key].s:
            name = node.attr[key].s.decode("utf-8", "replace").rstrip("/")
            break
    shape = ""
    if "shape" in node.attr:
        shape = " " + _shape_text(shape_from_proto(node.attr["shape"].shape))
    return _clip(name, 48) + shape


def _const_text(node: Any) -> str:
    shape: Shape = None
    if "value" in node.attr and node.attr["value"].HasField("tensor"):
        t = node.attr["value"].tensor
        shape = shape_from_proto(t.tensor_shape)
        if shape == () and len(t.float_val) == 1:
            return f"const {t.float_val[0]:g}"
        if shape == () and len(t.int_val) == 1:
            return f"const {t.int_val[0]}"
    return f"const {_shape_text(shape)}"


class _Walker:
    """Builds a Picture by walking a GraphDef and the library functions it calls."""

    def __init__(
        self,
        graph_def: Any,
        *,
        expand: bool,
        fold: bool,
        max_depth: int,
        node_budget: int,
        title: str,
    ) -> None:
        self.library = {f.signature.name: f for f in graph_def.library.function}
        self.graph_def = graph_def
        self.expand = expand
        self.fold = fold
        self.max_depth = max_depth
        self.node_budget = node_budget
        self.picture = Picture(title)
        self.edges: list[tuple[_Endpoint, int]] = []
        self._next_id = 0

    def _spend(self) -> None:
        """Boxes and expanded calls share one budget: calls whose bodies draw nothing
        (``ret = arg``) must not let a small model fan out into billions of walks."""
        if len(self.picture.nodes) + len(self.picture.clusters) >= self.node_budget:
            raise LimitExceededError(
                f"the picture would have more than {self.node_budget} boxes and calls; draw "
                "one function (--function), skip calls (--no-expand) or raise the budget"
            )

    def new_node(self, **kw: Any) -> PictureNode:
        self._spend()
        node = PictureNode(id=self._next_id, **kw)
        self._next_id += 1
        self.picture.nodes[node.id] = node
        return node

    def new_cluster(self, label: str, parent: int | None) -> int:
        self._spend()
        cid = len(self.picture.clusters)
        self.picture.clusters[cid] = Cluster(cid, label, parent)
        return cid

    def callee(self, node: Any) -> str | None:
        if node.op in CALL_OPS and "f" in node.attr:
            return str(node.attr["f"].func.name)
        if node.op in self.library:
            return str(node.op)
        return None

    def finish(self) -> Picture:
        seen: set[tuple[int, int]] = set()
        for src, dst in self.edges:
            for _ in range(64):  # bounded: lazies point at lazies only through pass-throughs
                if not isinstance(src, _Lazy):
                    break
                src = src.body.output(src.name, src.out, src.index, final=True)
            if isinstance(src, _Ref) and (src.node, dst) not in seen:
                seen.add((src.node, dst))
                self.picture.edges.append((src.node, dst))
        return self.picture


class _Body:
    """One graph or function body being drawn (one instance per call site)."""

    def __init__(
        self,
        walker: _Walker,
        nodes: Sequence[Any],
        *,
        function: bool,
        args: dict[str, _Endpoint],
        cluster: int | None,
        stack: tuple[str, ...],
    ) -> None:
        self.w = walker
        self.by_name = {n.name: n for n in nodes}
        self.function = function
        self.args = args
        self.cluster = cluster
        self.stack = stack
        self.done: dict[str, _Resolved] = {}
        self.used: dict[str, set[tuple[str | None, int]]] = {}
        self.parse = _parse_function_input if function else _parse_graph_input

    # -- references
    def ref(self, text: str, *, final: bool = False) -> _Endpoint:
        parsed = self.parse(text)
        if parsed is None:
            return None
        name, out, index = parsed
        if self.function and out is None and name in self.args:
            return self.args[name]
        return self.output(name, out, index, final=final)

    def output(self, name: str, out: str | None, index: int, *, final: bool = False) -> _Endpoint:
        if name not in self.done:
            if name not in self.by_name or final:
                return None
            return _Lazy(self, name, out, index)
        res = self.done[name]
        if isinstance(res, _Call):
            return res.output(out, index)
        if isinstance(res, _Pass):
            return res.inputs[0] if res.inputs else None
        if isinstance(res, _Ref):
            return _Ref(res.node, index)
        return res

    # -- walking
    def order(self, roots: Iterable[str]) -> list[str]:
        """Nodes needed for ``roots`` (data inputs only), inputs before consumers (iterative DFS)."""
        order: list[str] = []
        state: dict[str, int] = {}
        for root in roots:
            if root not in self.by_name or root in state:
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            state[root] = 1
            while stack:
                name, i = stack.pop()
                inputs = self.by_name[name].input
                while i < len(inputs):
                    parsed = self.parse(inputs[i])
                    i += 1
                    if parsed is None:
                        continue
                    dep = parsed[0]
                    if self.function and parsed[1] is None and dep in self.args:
                        continue
                    if dep in self.by_name and dep not in state:
                        stack.append((name, i))
                        stack.append((dep, 0))
                        state[dep] = 1
                        break
                else:
                    state[name] = 2
                    order.append(name)
        return order

    def walk(self, refs: Iterable[str]) -> None:
        """Draw what the references ``refs`` need (and, of each call, only the used outputs)."""
        refs = list(refs)
        roots = [p[0] for r in refs if (p := self.parse(r)) is not None]
        order = self.order(roots)
        self.used = {}
        for text in refs + [r for name in order for r in self.by_name[name].input]:
            parsed = self.parse(text)
            if parsed is not None:
                self.used.setdefault(parsed[0], set()).add((parsed[1], parsed[2]))
        for name in order:
            self.done[name] = self.visit(self.by_name[name])

    def visit(self, node: Any) -> _Resolved:
        w = self.w
        inputs = [self.ref(r) for r in node.input if not r.startswith("^")]
        callee = w.callee(node)
        if callee is not None and w.expand:
            return self.call(node, callee, inputs)
        if w.fold:
            if node.op in VARIABLE_OPS:
                return _Folded(_var_text(node))
            if node.op == "Const":
                return _Folded(_const_text(node))
            if node.op == "ReadVariableOp" and inputs and isinstance(inputs[0], _Folded):
                return inputs[0]
            if node.op in PASS_THROUGH_OPS and len(inputs) == 1:
                return _Pass((inputs[0],))
        kind = "input" if node.op == "Placeholder" and not self.function else "op"
        detail = ""
        if callee is not None:
            kind, detail = "call", callee
        else:
            bodies = [
                node.attr[a].func.name for a in _BODY_ATTRS if a in node.attr and node.attr[a].func.name
            ]
            if "branches" in node.attr:
                bodies += [f.name for f in node.attr["branches"].list.func]
            detail = ", ".join(bodies)
        box = w.new_node(
            op=node.op,
            name=node.name,
            kind=kind,
            shapes=_shapes_of(node),
            cluster=self.cluster,
            detail=detail,
        )
        folded: list[str] = []
        for src in inputs:
            if isinstance(src, _Folded):
                if src.text not in folded:
                    folded.append(src.text)
            elif src is not None:
                w.edges.append((src, box.id))
        if len(folded) > _MAX_FOLDED_LINES:
            folded = folded[:_MAX_FOLDED_LINES] + [f"+{len(folded) - _MAX_FOLDED_LINES} more"]
        box.folded = folded
        return _Ref(box.id, 0)

    def call(self, node: Any, callee: str, inputs: list[_Endpoint]) -> _Resolved:
        w = self.w
        fdef = w.library.get(callee)
        if fdef is None or callee in self.stack or len(self.stack) >= w.max_depth:
            why = (
                "missing from the library" if fdef is None
                else "recursive call" if callee in self.stack
                else "too deeply nested"
            )
            box = w.new_node(op=node.op, name=node.name, kind="call", cluster=self.cluster,
                             detail=f"{callee} ({why})", shapes=_shapes_of(node))
            for src in inputs:
                if isinstance(src, (_Ref, _Lazy)):
                    w.edges.append((src, box.id))
            return _Ref(box.id, 0)
        cluster = w.new_cluster(callee, self.cluster)
        arg_names = [a.name for a in fdef.signature.input_arg]
        args: dict[str, _Endpoint] = {}
        for i, name in enumerate(arg_names):
            args[name] = inputs[i] if i < len(inputs) else None
        body = _Body(w, fdef.node_def, function=True, args=args, cluster=cluster,
                     stack=self.stack + (callee,))
        out_names = [a.name for a in fdef.signature.output_arg]
        rets_text = [fdef.ret.get(n, "") for n in out_names]
        wanted = {_out_position(out, idx, out_names) for out, idx in self.used.get(node.name, ())}
        rets_text = [r if i in wanted else "" for i, r in enumerate(rets_text)]
        body.walk(r for r in rets_text if r)
        rets = [body.ref(r) if r else None for r in rets_text]
        return _Call(rets, out_names)


# --------------------------------------------------------------------- entry points


def _walker(meta_graph: Any, title: str, expand: bool, fold: bool, max_depth: int,
            node_budget: int) -> _Walker:
    return _Walker(meta_graph.proto.graph_def, expand=expand, fold=fold, max_depth=max_depth,
                   node_budget=node_budget, title=title)


def _finish(picture: Picture, collapse: int | None, max_nodes: int | None) -> Picture:
    if collapse is not None:
        picture = picture.collapse(collapse)
    elif max_nodes and len(picture.nodes) > max_nodes:
        for depth in range(picture.scope_depth(), 0, -1):
            candidate = picture.collapse(depth)
            if len(candidate.nodes) <= max_nodes or depth == 1:
                picture = candidate
                if len(candidate.nodes) <= max_nodes:
                    break
    return picture


def signature_picture(
    meta_graph: Any,
    key: str = "serving_default",
    *,
    expand: bool = True,
    fold: bool = True,
    collapse: int | None = None,
    max_nodes: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    node_budget: int = DEFAULT_NODE_BUDGET,
) -> Picture:
    """The graph behind signature ``key`` of a :class:`~savedmodel_io.MetaGraph`, calls followed.

    ``collapse=N`` merges ops sharing N name-scope levels into one box; without it,
    ``max_nodes`` picks the deepest collapse that fits (if the graph is bigger).
    """
    sig = meta_graph.signature(key)
    w = _walker(meta_graph, f"signature {key!r}", expand, fold, max_depth, node_budget)
    body = _Body(w, meta_graph.proto.graph_def.node, function=False, args={}, cluster=None,
                 stack=())
    outputs = []
    for out_key, info in sorted(sig.proto.outputs.items()):
        names = _tensor_names(info)
        for tname in names:
            parsed = _parse_graph_input(tname)
            if parsed is None or parsed[0] not in body.by_name:
                raise NotFoundError(
                    f"signature {key!r} output {out_key!r} names tensor {tname!r}, "
                    "which is not in the graph",
                    path=meta_graph._path,
                )
            outputs.append((out_key, tname, info))
    body.walk(t for _k, t, _i in outputs)
    in_names = {t: k for k, info in sig.proto.inputs.items() for t in _tensor_names(info)}
    for box in w.picture.nodes.values():
        for tname in (box.name, box.name + ":0"):
            if tname in in_names and box.kind == "input":
                box.detail = f"input {in_names[tname]!r}"
    for out_key, tname, info in outputs:
        shape = shape_from_proto(info.tensor_shape) if info.HasField("tensor_shape") else None
        box = w.new_node(op="output", name=out_key, kind="output", shapes=[shape],
                         detail=_dtype_text(info.dtype))
        src = body.ref(tname)
        if isinstance(src, _Folded):
            box.folded = [src.text]
        elif src is not None:
            w.edges.append((src, box.id))
    return _finish(w.finish(), collapse, max_nodes)


def _tensor_names(info: Any) -> list[str]:
    enc = info.WhichOneof("encoding")
    if enc == "name":
        return [info.name]
    if enc == "coo_sparse":
        c = info.coo_sparse
        return [t for t in (c.values_tensor_name, c.indices_tensor_name, c.dense_shape_tensor_name) if t]
    if enc == "composite_tensor":
        out: list[str] = []
        for comp in info.composite_tensor.components:
            out += _tensor_names(comp)
        return out
    return []


def function_picture(
    meta_graph: Any,
    name: str,
    *,
    expand: bool = True,
    fold: bool = True,
    collapse: int | None = None,
    max_nodes: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    node_budget: int = DEFAULT_NODE_BUDGET,
) -> Picture:
    """The body of library function ``name`` (arguments as inputs, return values as outputs)."""
    w = _walker(meta_graph, f"function {name!r}", expand, fold, max_depth, node_budget)
    fdef = w.library.get(name)
    if fdef is None:
        import difflib

        close = difflib.get_close_matches(name, list(w.library), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(f"no function {name!r} in the function library{hint}",
                            path=meta_graph._path)
    shapes: dict[int, list[Shape]] = {}
    for i, attrs in fdef.arg_attr.items():
        if "_output_shapes" in attrs.attr:
            shapes[i] = [shape_from_proto(s) for s in attrs.attr["_output_shapes"].list.shape]
    args: dict[str, _Endpoint] = {}
    for i, arg in enumerate(fdef.signature.input_arg):
        if fold and arg.type == DataType.DT_RESOURCE:
            hd = arg.handle_data[0] if len(arg.handle_data) else None
            shape = f" {_shape_text(shape_from_proto(hd.shape))}" if hd is not None else ""
            args[arg.name] = _Folded(_clip(arg.name, 48) + shape)
            continue
        box = w.new_node(op="arg", name=arg.name, kind="input", shapes=shapes.get(i),
                         detail=_dtype_text(arg.type) if arg.type else arg.type_attr)
        args[arg.name] = _Ref(box.id, 0)
    body = _Body(w, fdef.node_def, function=True, args=args, cluster=None, stack=(name,))
    rets = [(a.name, fdef.ret.get(a.name, "")) for a in fdef.signature.output_arg]
    body.walk(r for _n, r in rets if r)
    for out_name, r in rets:
        box = w.new_node(op="output", name=out_name, kind="output")
        src = body.ref(r) if r else None
        if isinstance(src, _Folded):
            box.folded = [src.text]
        elif src is not None:
            w.edges.append((src, box.id))
    return _finish(w.finish(), collapse, max_nodes)


# --------------------------------------------------------------------- DOT text


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(n: PictureNode) -> str:
    short = n.caption if n.caption is not None else n.name.rsplit("/", 1)[-1]
    rows = []
    if n.kind == "input":
        rows.append(f"<b>{_html(_clip(short, 40))}</b>")
        if n.detail:
            rows.append(_html(n.detail))
    elif n.kind == "output":
        rows.append(f"<b>{_html(_clip(n.name, 40))}</b>")
        if n.detail:
            rows.append(_html(n.detail))
    elif n.kind == "scope":
        rows.append(f"<b>{_html(_clip(short, 40))}</b>")
        rows.append(f'<font point-size="8">{_html(n.detail)}</font>')
    else:
        rows.append(f"<b>{_html(n.op)}</b>")
        if short != n.op:
            rows.append(f'<font point-size="8">{_html(_clip(short, 40))}</font>')
        if n.detail:
            rows.append(f'<font point-size="8">→ {_html(_clip(n.detail, 60))}</font>')
    for f in n.folded:
        rows.append(f'<font point-size="8" color="#555555">{_html(f)}</font>')
    if n.shapes:
        text = ", ".join(_shape_text(s) for s in n.shapes[:4])
        if len(n.shapes) > 4:
            text += f", +{len(n.shapes) - 4}"
        rows.append(f'<font point-size="8" color="#1f4e79">{_html(text)}</font>')
    return "<" + "<br/>".join(rows) + ">"


def _short_function(name: str) -> str:
    """``__inference___call___5210`` -> ``__call__`` (TF's traced-function naming)."""
    base = name
    if base.startswith("__inference_"):
        base = base[len("__inference_"):]
        head, sep, tail = base.rpartition("_")
        if sep and tail.isdigit():
            base = head
    return base or name


def to_dot(picture: Picture, *, rankdir: str = "TB") -> str:
    """Graphviz DOT text for a picture (clusters for function bodies, coloured op families)."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"rankdir must be TB, LR, BT or RL, got {rankdir!r}")
    lines = [
        "digraph savedmodel {",
        (f"  graph [rankdir={rankdir}, label={_quote(picture.title)}, labelloc=t, fontsize=12, "
        'fontname="Helvetica", newrank=true, nodesep=0.25, ranksep=0.3];'),
        ('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
        'margin="0.08,0.03", penwidth=0.8];'),
        '  edge [arrowsize=0.6, color="#666666", penwidth=0.8];',
    ]
    members: dict[int | None, list[PictureNode]] = {}
    for n in picture.nodes.values():
        members.setdefault(n.cluster, []).append(n)
    children: dict[int | None, list[int]] = {}
    for c in picture.clusters.values():
        children.setdefault(c.parent, []).append(c.id)

    def node_line(n: PictureNode, indent: str) -> str:
        shape = "ellipse" if n.kind in ("input", "output") else "box"
        style = '"filled"' if shape == "ellipse" else '"rounded,filled"'
        if n.kind == "scope":
            style = '"rounded,filled,bold"'
        return (
            f"{indent}n{n.id} [label={_label(n)}, shape={shape}, style={style}, "
            f'fillcolor="{_COLORS[n.family]}", tooltip={_quote(n.name)}];'
        )

    def emit(cluster: int | None, indent: str) -> None:
        for n in members.get(cluster, []):
            lines.append(node_line(n, indent))
        for cid in children.get(cluster, []):
            c = picture.clusters[cid]
            lines.append(f"{indent}subgraph cluster_{cid} {{")
            lines.append(
                f"{indent}  label={_quote(_short_function(c.label))}; tooltip={_quote(c.label)}; "
                'style="rounded,dashed"; color="#999999"; fontsize=10;'
            )
            emit(cid, indent + "  ")
            lines.append(f"{indent}}}")

    emit(None, "  ")
    for a, b in picture.edges:
        lines.append(f"  n{a} -> n{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- rendering


def dot_binary() -> str | None:
    """Path of Graphviz's ``dot`` (``$SAVEDMODEL_IO_DOT`` overrides), or None."""
    override = os.environ.get("SAVEDMODEL_IO_DOT")
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which("dot")


def render(dot_text: str, fmt: str, *, timeout: float | None = 600.0) -> bytes:
    """Render DOT text to ``svg`` or ``png`` bytes with Graphviz's ``dot`` program."""
    if fmt == "dot":
        return dot_text.encode("utf-8")
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown picture format {fmt!r} (choose from {', '.join(FORMATS)})")
    exe = dot_binary()
    if exe is None:
        raise MissingDependencyError(
            f"{fmt.upper()} output needs Graphviz's 'dot' program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
            "conda: conda install graphviz); --format dot needs nothing"
        )
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(
            f"Graphviz took more than {timeout:g} s; try collapsing name scopes (--collapse) "
            "or --format dot"
        ) from None
    except OSError as exc:
        raise RuntimeFailure(f"could not run Graphviz ({exe}): {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeFailure(f"Graphviz failed: {err[-1] if err else f'exit status {proc.returncode}'}")
    return proc.stdout


def draw(
    model: Any,
    *,
    signature: str | None = None,
    function: str | None = None,
    tags: Any = None,
    fmt: str = "dot",
    collapse: int | None = None,
    max_nodes: int | None = 1500,
    expand: bool = True,
    fold: bool = True,
    rankdir: str = "TB",
) -> bytes:
    """Draw a signature (default ``serving_default``) or a library function of a model.

    ``model`` is a path or a loaded :class:`~savedmodel_io.SavedModel`; the result is
    DOT, SVG or PNG bytes.
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown picture format {fmt!r} (choose from {', '.join(FORMATS)})")
    if signature is not None and function is not None:
        raise InvalidArgumentError("pass either a signature or a function, not both")
    if isinstance(model, (str, os.PathLike)):
        from savedmodel_io.model import load

        model = load(model)
    mg = model.meta_graph(tags)
    opts: dict[str, Any] = {"expand": expand, "fold": fold, "collapse": collapse, "max_nodes": max_nodes}
    if function is not None:
        pic = function_picture(mg, function, **opts)
    else:
        pic = signature_picture(mg, signature or "serving_default", **opts)
    return render(to_dot(pic, rankdir=rankdir), fmt)
