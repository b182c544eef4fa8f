"""Walk a graph into a picture: follow calls into library functions, fold variables and constants.

The entry points are :func:`signature_picture` and :func:`function_picture`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from savedmodel_io.errors import LimitExceededError, NotFoundError
from savedmodel_io.graphviz.picture import (
    MAX_FOLDED_LINES,
    Cluster,
    Picture,
    PictureNode,
    clip,
    dtype_text,
    shape_text,
)
from savedmodel_io.proto import DataType
from savedmodel_io.tensors import Shape, shape_from_proto

__all__ = ["function_picture", "signature_picture"]

CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable", "VarHandleOpV2")
PASS_THROUGH_OPS = ("Identity", "Snapshot", "StopGradient", "PreventGradient")
# Attributes that name control-flow bodies; drawn as text, not expanded.
_BODY_ATTRS = ("then_branch", "else_branch", "cond", "body", "branches")

DEFAULT_MAX_DEPTH = 32
DEFAULT_NODE_BUDGET = 200_000


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



def _var_text(node: Any) -> str:
    name = node.name
    for key in ("debug_name", "shared_name"):
        if key in node.attr and node.attr[key].s:
            name = node.attr[key].s.decode("utf-8", "replace").rstrip("/")
            break
    shape = ""
    if "shape" in node.attr:
        shape = " " + shape_text(shape_from_proto(node.attr["shape"].shape))
    return clip(name, 48) + shape


def _const_text(node: Any) -> str:
    shape: Shape = None
    if "value" in node.attr and node.attr["value"].HasField("tensor"):
        t = node.attr["value"].tensor
        shape = shape_from_proto(t.tensor_shape)
        if shape == () and len(t.float_val) == 1:
            return f"const {t.float_val[0]:g}"
        if shape == () and len(t.int_val) == 1:
            return f"const {t.int_val[0]}"
    return f"const {shape_text(shape)}"


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
        if len(folded) > MAX_FOLDED_LINES:
            folded = folded[:MAX_FOLDED_LINES] + [f"+{len(folded) - MAX_FOLDED_LINES} more"]
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
                         detail=dtype_text(info.dtype))
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
            shape = f" {shape_text(shape_from_proto(hd.shape))}" if hd is not None else ""
            args[arg.name] = _Folded(clip(arg.name, 48) + shape)
            continue
        box = w.new_node(op="arg", name=arg.name, kind="input", shapes=shapes.get(i),
                         detail=dtype_text(arg.type) if arg.type else arg.type_attr)
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
