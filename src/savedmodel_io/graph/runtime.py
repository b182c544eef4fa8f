"""A numpy interpreter of TensorFlow graphs: run a SignatureDef without TensorFlow.

The interpreter compiles each graph body (the MetaGraph's GraphDef, or one
FunctionDef of its library) once into :class:`Body`: nodes with decoded attrs,
inputs resolved to ``(producer, output index)`` pairs and a kernel bound to each.
For a set of requested tensors it computes (and caches) a :class:`Plan`: the
nodes those tensors need, in dependency order, data and control edges both.
Running a plan is a flat loop over that list; values are dropped once their last
consumer ran.

Ops without a kernel are found while planning, before any kernel runs, and raise
UnsupportedOpError naming the op, node and function; :func:`check_signature`
lists all of them at once.

Function-internal tensor names (``node:out_arg:index``) follow
tensorflow/tensorflow tensorflow/core/framework/function.proto; the output arg
layout of each op, and the defaults of the attrs a node leaves out (filled in while
compiling, so kernels read every attr directly), come from the op's OpDef
(:mod:`savedmodel_io.graph.opdefs`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from savedmodel_io import dtypes, tensors
from savedmodel_io.errors import (
    InvalidArgumentError,
    NotFoundError,
    RuntimeFailure,
    SavedModelError,
    UnsupportedOpError,
)
from savedmodel_io.graph import families, frames, opdefs
from savedmodel_io.graph import ops as _ops
from savedmodel_io.graph._threads import blas_limit
from savedmodel_io.graph import variables as _vars
from savedmodel_io.graph.attrs import FuncRef, decode_attr
from savedmodel_io.graph.budget import Budget
from savedmodel_io.graph.dataflow import ALL_DEAD, DATAFLOW_OPS, DEAD, is_dead
from savedmodel_io.proto import DataType, FunctionDef, MetaGraphDef, NodeDef, SignatureDef

__all__ = [
    "Body",
    "Context",
    "FuncRef",
    "Missing",
    "Node",
    "OwnsSession",
    "Session",
    "TraceEvent",
    "check_signature",
    "run_signature",
]


def _run_loop(node: Node, inputs: list[Any], ctx: Context) -> list[Any]:
    loop: frames.Loop = node.attr["loop"]
    return loop.run(node, inputs, ctx)


# The kernel of a TF1 loop node (not registered: no graph names the op).
_LOOP_KERNEL = _ops.Kernel(frames.LOOP_OP, _run_loop)

class _Fed:
    """The fed outputs of one node by index: sparse, so a feed of "x:1000000" stores one value."""

    __slots__ = ("_by_index",)

    def __init__(self) -> None:
        self._by_index: dict[int, Any] = {}

    def __setitem__(self, index: int, value: Any) -> None:
        self._by_index[index] = value

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            raise IndexError(index)
        return self._by_index.get(index)  # an unfed output of a fed node reads as None

    def __len__(self) -> int:
        return max(self._by_index, default=-1) + 1


# Largest output index a tensor name may use when the op's output count is only known
# at run time (Split, Unpack...): far beyond real graphs, small enough to stay cheap.
MAX_OUTPUTS = 1 << 20

# Attrs naming the functions an op calls (If/While/Case/PartitionedCall...).
_FUNC_ATTRS = ("f", "then_branch", "else_branch", "cond", "body", "branches")


class Node:
    """One compiled node: op, decoded attrs (OpDef defaults filled in), resolved inputs, kernel."""

    __slots__ = ("name", "op", "attr", "inputs", "controls", "kernel", "index", "body", "call",
                 "opdef", "deref")

    def __init__(self, name: str, op: str, attr: dict[str, Any], index: int, body: str) -> None:
        self.name = name
        self.op = op
        self.attr = attr
        self.index = index
        self.body = body
        self.inputs: list[tuple[int, int]] = []
        self.controls: list[int] = []
        self.kernel: _ops.Kernel | None = None
        self.call: str | None = None  # library function name when the op is a function
        # Inputs that may receive a TF1 variable reference this node reads as a value.
        self.deref: tuple[int, ...] = ()
        self.opdef: opdefs.OpDef | None = None  # None for function calls and custom ops

    def bind(self, library: Mapping[str, FunctionDef]) -> None:
        """Find what runs this node (kernel or library function) and fill in its default attrs."""
        if self.op in library:
            self.call = self.op
            self.kernel = _ops.get("PartitionedCall")
            return
        self.kernel = _ops.get(self.op)
        self.opdef = opdefs.get(self.op)
        if self.opdef is not None:
            for key, value in self.opdef.defaults.items():
                if key not in self.attr:  # TensorFlow's rule: a missing attr takes its default
                    self.attr[key] = list(value) if isinstance(value, list) else value

    @property
    def where(self) -> str:
        """Where this node is, for error messages."""
        return f"node {self.name!r} ({self.op}) in {self.body}"

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op!r})"


@dataclass(frozen=True)
class Missing:
    """An op the runtime has no kernel for, and where it is used."""

    op: str
    node: str
    function: str

    @property
    def note(self) -> str | None:
        """What the op is when TensorFlow does not register it ("custom op from tensorflow-text...")."""
        return families.custom_op_note(self.op.split(" ")[0])

    def __str__(self) -> str:
        note = f"; a {self.note}" if self.note else ""
        return f"{self.op} (node {self.node!r} in {self.function}{note})"


@dataclass
class Plan:
    """Nodes to run for a set of targets, in order, with last-use bookkeeping."""

    order: list[int]
    release: list[list[int]]  # release[k]: producers whose values can be dropped after order[k]


class Body:
    """A compiled graph or FunctionDef."""

    def __init__(
        self,
        name: str,
        node_defs: Iterable[NodeDef],
        library: Mapping[str, FunctionDef],
        *,
        args: list[str] | None = None,
        is_function: bool = False,
        ref_args: frozenset[int] = frozenset(),
    ) -> None:
        self.name = name
        self.is_function = is_function
        self.nodes: list[Node] = []
        self.by_name: dict[str, int] = {}
        self.missing: list[Missing] = []
        self.args = list(args or [])
        self._ref_args = ref_args  # arguments that carry TF1 references (a loop's RefEnters)
        for i, a in enumerate(self.args):
            self._add(Node(a, "_Arg", {"index": i}, i, name))
        defs = list(node_defs)
        # TF1 while loops: each top-level frame becomes one loop node (graph/frames.py).
        specs: list[frames.LoopSpec] = []
        if any(nd.op in frames.ENTERS for nd in defs):
            defs, specs = frames.split(defs, name)
        for nd in defs:
            where = f"node {nd.name!r} in {name}"
            attr = {k: decode_attr(v, where=where) for k, v in nd.attr.items()}
            node = Node(nd.name, nd.op, attr, len(self.nodes), name)
            if nd.name in self.by_name:
                raise RuntimeFailure(f"two nodes are named {nd.name!r}", where=name)
            self._add(node)
            node.bind(library)
        self._library = library
        loops = frames.compile_loops(
            specs, name, library,
            lambda sub, sub_defs, sub_args, refs: Body(sub, sub_defs, library, args=sub_args,
                                                       ref_args=frozenset(refs)))
        for spec, loop in zip(specs, loops):
            if spec.node_name in self.by_name:
                raise RuntimeFailure(f"two nodes are named {spec.node_name!r}", where=name)
            node = Node(spec.node_name, frames.LOOP_OP, {"loop": loop}, len(self.nodes), name)
            node.kernel = _LOOP_KERNEL
            self._add(node)
        for spec in specs:
            node = self.nodes[self.by_name[spec.node_name]]
            for nd in spec.enters:
                for ref in nd.input:
                    if ref.startswith("^"):
                        node.controls.append(self._lookup(ref[1:], node))
                    else:
                        node.inputs.append(self.resolve(ref, node))
        for nd in defs:
            node = self.nodes[self.by_name[nd.name]]
            for ref in nd.input:
                if ref.startswith("^"):
                    node.controls.append(self._lookup(ref[1:], node))
                else:
                    node.inputs.append(self.resolve(ref, node))
        self._mark_reads()
        self._plans: dict[tuple[Any, ...], Plan] = {}
        # TF1 dataflow conditionals (Switch/Merge) need dead-value propagation while running;
        # so does a loop, whose Exit values can be dead.
        self.dataflow = any(n.op in DATAFLOW_OPS or n.op == frames.LOOP_OP for n in self.nodes)
        # For functions: where each output comes from, and the control outputs.
        self.rets: list[tuple[int, int]] = []
        self.control_rets: list[int] = []

    def _mark_reads(self) -> None:
        """Set ``deref`` where a TF1 reference (VariableV2, Assign...) feeds an input taking values.

        Which outputs are references and which inputs take them is the OpDefs' ``is_ref``.
        """
        makers = {n.index for n in self.nodes if n.opdef is not None and any(a.is_ref for a in n.opdef.outputs)}
        makers |= self._ref_args
        if not makers:
            return
        for node in self.nodes:
            fed = [(j, src, out) for j, (src, out) in enumerate(node.inputs) if src in makers]
            if not fed:
                continue
            takes = _ref_args(node, "inputs", len(node.inputs))
            node.deref = tuple(j for j, src, out in fed
                               if not takes[j] and (src in self._ref_args or
                                                    _ref_args(self.nodes[src], "outputs", out + 1)[out]))

    def _add(self, node: Node) -> None:
        self.by_name[node.name] = node.index
        self.nodes.append(node)

    def _lookup(self, name: str, user: Node | None) -> int:
        idx = self.by_name.get(name)
        if idx is None:
            where = user.where if user is not None else self.name
            raise NotFoundError(f"no node named {name!r} in {self.name}", where=where)
        return idx

    def resolve(self, ref: str, user: Node | None = None) -> tuple[int, int]:
        """(node index, output index) of a tensor name, in this body's naming scheme."""
        parts = ref.split(":")
        if len(parts) == 1:
            return self._lookup(parts[0], user), 0
        if len(parts) == 2:
            idx = self._lookup(parts[0], user)
            return idx, self._check_index(idx, self._int(parts[1], ref), ref, user)
        if len(parts) == 3:
            idx = self._lookup(parts[0], user)
            node = self.nodes[idx]
            k = self._int(parts[2], ref)
            off = self._output_offset(node, parts[1], user)
            if off is None:
                raise RuntimeFailure(
                    f"{node.op} has no output named {parts[1]!r} (tensor {ref!r})",
                    where=user.where if user is not None else self.name,
                )
            return idx, self._check_index(idx, off + k, ref, user)
        raise RuntimeFailure(f"bad tensor name {ref!r}", where=self.name)

    def _int(self, text: str, ref: str) -> int:
        """The integer part of a tensor name (RuntimeFailure if it is not one)."""
        try:
            return int(text)
        except ValueError:
            raise RuntimeFailure(f"bad tensor name {ref!r}", where=self.name) from None

    def _check_index(self, idx: int, k: int, ref: str, user: Node | None) -> int:
        """``k`` if node ``idx`` can have an output ``k``; hostile names ("x:-3", "x:400000000") fail here."""
        node = self.nodes[idx]
        count = self._output_count(node, user)
        limit = MAX_OUTPUTS if count is None else count
        if not 0 <= k < limit:
            has = f"{node.op} has {count} output(s)" if count is not None else \
                f"output indices must be in 0..{MAX_OUTPUTS - 1}"
            raise RuntimeFailure(
                f"tensor {ref!r} names output {k} of node {node.name!r} ({has})",
                where=user.where if user is not None else self.name,
            )
        return k

    def _output_count(self, node: Node, user: Node | None) -> int | None:
        """How many outputs ``node`` has, when its op says so (None: not known before running)."""
        if node.op == "_Arg":
            return 1
        if node.call is not None:
            args = self._library[node.call].signature.output_arg
            fixed = all(not a.number_attr and not a.type_list_attr for a in args)
            return len(args) if fixed else None
        od = node.opdef
        if od is None:
            return None  # a custom op: reported as unsupported when planned
        count: int | None = _layout(node, user, lambda attrs: opdefs.output_count(od, attrs))
        return count

    def _output_offset(self, node: Node, arg: str, user: Node | None = None) -> int | None:
        if node.call is not None:
            outs = [a.name for a in self._library[node.call].signature.output_arg]
            return outs.index(arg) if arg in outs else None
        od = node.opdef
        if od is None:
            return 0  # a custom op: reported as unsupported when planned
        offset: int | None = _layout(node, user, lambda attrs: opdefs.output_offset(od, attrs, arg))
        if offset is None and any(a.name == arg for a in od.outputs):
            raise RuntimeFailure(
                f"cannot find output {arg!r} of {node.op}: the length of an output list before it "
                "is not known (its attr is missing)", where=node.where)
        return offset

    def plan(self, targets: Iterable[tuple[int, int]], controls: Iterable[int] = (),
             fed: frozenset[int] = frozenset()) -> Plan:
        """The nodes needed for ``targets`` (and control targets), in dependency order."""
        targets = tuple(targets)
        controls = tuple(controls)
        key = (targets, controls, fed)
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        roots = [t[0] for t in targets] + list(controls)
        done: set[int] = set()
        visiting: set[int] = set()
        order: list[int] = []
        stack: list[tuple[int, bool]] = [(r, False) for r in reversed(roots)]
        while stack:
            i, finish = stack.pop()
            if finish:
                visiting.discard(i)
                if i not in done:
                    done.add(i)
                    order.append(i)
                continue
            if i in done:
                continue
            if i in visiting:
                node = self.nodes[i]
                raise UnsupportedOpError("the graph has a cycle that is not a TF1 while loop",
                                         where=node.where)
            visiting.add(i)
            stack.append((i, True))
            if i in fed:
                continue
            node = self.nodes[i]
            for dep in reversed(node.controls):
                if dep not in done:
                    stack.append((dep, False))
            for src, _ in reversed(node.inputs):
                if src not in done:
                    stack.append((src, False))
        # Last use of each produced value, to free memory while running.
        keep = {t[0] for t in targets}
        last: dict[int, int] = {}
        for pos, i in enumerate(order):
            if i in fed:
                continue
            for src, _ in self.nodes[i].inputs:
                last[src] = pos
        release: list[list[int]] = [[] for _ in order]
        for src, pos in last.items():
            if src not in keep:
                release[pos].append(src)
        plan = Plan(order, release)
        self._plans[key] = plan
        return plan

    def missing_in(self, plan: Plan) -> list[Missing]:
        """Ops in a plan that have no kernel."""
        out = []
        for i in plan.order:
            node = self.nodes[i]
            if node.kernel is None and node.op not in ("_Arg",):
                out.append(Missing(node.op, node.name, self.name))
        return out


def _ref_args(node: Node, side: str, n: int) -> list[bool]:
    """For the first ``n`` flat inputs or outputs of ``node``: whether each is a reference."""
    od = node.opdef
    if od is None:
        return [False] * n
    args = od.inputs if side == "inputs" else od.outputs
    try:
        counts = opdefs.arg_counts(args, node.attr, od)
    except ValueError:  # a hostile count attr: the node fails when it runs
        return [False] * n
    flags: list[bool] = []
    for arg, count in zip(args, counts):
        flags += [arg.is_ref] * (n - len(flags) if count is None else count)
    return (flags + [False] * n)[:n]


def _layout(node: Node, user: Node | None, fn: Callable[[dict[str, Any]], Any]) -> Any:
    """``fn(node.attr)`` for an op's output layout; attrs of the wrong kind fail naming the node."""
    try:
        return fn(node.attr)
    except SavedModelError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        used = f" (used by {user.where})" if user is not None else ""
        raise RuntimeFailure(f"bad attrs for the outputs of {node.op}: {type(exc).__name__}: {exc}{used}",
                             where=node.where) from None


@dataclass
class TraceEvent:
    """One evaluated node, as handed to a trace callback."""

    node: Node
    outputs: list[Any]
    depth: int


class Session:
    """Everything needed to run one MetaGraph: compiled bodies, variables, resources."""

    def __init__(
        self,
        meta_graph: MetaGraphDef,
        *,
        export_dir: str | os.PathLike[str] | None = None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
        allow_external_links: bool = False,
    ) -> None:
        self.meta_graph = meta_graph
        self.export_dir = os.fspath(export_dir) if export_dir is not None else None
        # Files of export_dir (variables, vocabularies) are read only inside it unless this is set.
        self.allow_external_links = allow_external_links
        self.library: dict[str, FunctionDef] = {
            f.signature.name: f for f in meta_graph.graph_def.library.function
        }
        self.graph = Body("the graph", meta_graph.graph_def.node, self.library)
        self._bodies: dict[str, Body] = {}
        self.resources: dict[Any, Any] = {}
        self.store = _vars.VariableStore(self, variables)
        self._initialized = False
        self._checked: set[tuple[Any, ...]] = set()
        # Work limits of each run (time, loop iterations, Python per-element work).
        self.budget = Budget()
        # BLAS threads while running (needs threadpoolctl; None leaves BLAS alone).
        self.blas_threads: int | None = 1

    # -- compiled bodies -------------------------------------------------------------

    def function(self, name: str, where: str = "") -> Body:
        """The compiled Body of library function ``name``."""
        body = self._bodies.get(name)
        if body is None:
            fdef = self.library.get(name)
            if fdef is None:
                raise NotFoundError(f"function {name!r} is not in the graph's library", where=where)
            body = Body(
                f"function {name!r}",
                fdef.node_def,
                self.library,
                args=[a.name for a in fdef.signature.input_arg],
                is_function=True,
            )
            for a in fdef.signature.output_arg:
                if a.name not in fdef.ret:
                    raise RuntimeFailure(f"output {a.name!r} has no ret entry", where=body.name)
                body.rets.append(body.resolve(fdef.ret[a.name]))
            body.control_rets = [body._lookup(v, None) for v in fdef.control_ret.values()]
            self._bodies[name] = body
        return body

    def function_plan(self, body: Body) -> Plan:
        """The plan computing all of a function's outputs and control outputs."""
        return body.plan(body.rets, body.control_rets)

    # -- static checks ---------------------------------------------------------------

    def missing_ops(self, targets: list[str], controls: Sequence[str] = (),
                    feeds: Iterable[str] = ()) -> list[Missing]:
        """Every op without a kernel that running ``targets`` would reach (functions included)."""
        fed = frozenset(self.graph.resolve(f)[0] for f in feeds)
        plan = self.graph.plan([self.graph.resolve(t) for t in targets],
                               [self.graph._lookup(c.lstrip("^"), None) for c in controls], fed)
        missing: list[Missing] = []
        seen: set[str] = set()
        todo: list[tuple[Body, Plan]] = [(self.graph, plan)]
        while todo:
            body, p = todo.pop()
            missing.extend(body.missing_in(p))
            for i in p.order:
                loop = body.nodes[i].attr.get("loop") if body.nodes[i].op == frames.LOOP_OP else None
                if isinstance(loop, frames.Loop):
                    todo.append((loop.body, loop.step_plan))
                    todo.append((loop.body, loop.entry_plan))
                for fname in _called_functions(body.nodes[i]):
                    if fname in seen:
                        continue
                    seen.add(fname)
                    fb = self.function(fname, body.nodes[i].where)
                    todo.append((fb, self.function_plan(fb)))
        return missing

    def require_kernels(self, targets: list[str], controls: Sequence[str] = (),
                        feeds: Iterable[str] = ()) -> None:
        """Raise UnsupportedOpError (naming op, node, function) if anything lacks a kernel."""
        missing = self.missing_ops(targets, controls, feeds)
        if missing:
            first = missing[0]
            others = sorted({m.op for m in missing} - {first.op})
            more = f" (and {len(others)} more: {', '.join(others)})" if others else ""
            raise UnsupportedOpError(f"no kernel for op {first}{more}", path=self.export_dir)

    # -- running ---------------------------------------------------------------------

    def run(
        self,
        fetches: list[str],
        feeds: Mapping[str, Any],
        *,
        controls: Sequence[str] = (),
        trace: Callable[[TraceEvent], None] | None = None,
        budget: Budget | None = None,
    ) -> list[Any]:
        """Values of tensor names ``fetches`` given ``feeds`` (tensor name -> value).

        ``budget`` limits this run's work (default: ``self.budget``).
        """
        self.initialize()
        return self._run(fetches, feeds, controls, trace, budget)

    def _run(self, fetches: list[str], feeds: Mapping[str, Any], controls: Sequence[str] = (),
             trace: Callable[[TraceEvent], None] | None = None, budget: Budget | None = None
             ) -> list[Any]:
        graph = self.graph
        fed_vals: dict[int, _Fed] = {}
        for name, value in feeds.items():
            idx, out = graph.resolve(name)
            fed_vals.setdefault(idx, _Fed())[out] = value
        check_key = (tuple(fetches), tuple(controls), tuple(sorted(feeds)))
        if check_key not in self._checked:
            self.require_kernels(list(fetches), list(controls), feeds.keys())
            self._checked.add(check_key)
        targets = [graph.resolve(f) for f in fetches]
        plan = graph.plan(targets, [graph._lookup(c.lstrip("^"), None) for c in controls],
                          frozenset(fed_vals))
        ctx = Context(self, trace, budget or self.budget)
        with blas_limit(self.blas_threads):
            values = ctx.execute(graph, plan, fed_vals)
            return [self._fetched(_output(values, graph, t)) for t in targets]

    def _fetched(self, value: Any) -> Any:
        """A fetched value; a fetched TF1 reference is read (a copy: later updates don't change it)."""
        if isinstance(value, _vars.Ref):
            return np.array(self.store.read(value.handle), copy=True)
        return value

    def initialize(self) -> None:
        """Run the MetaGraph's init op once, before the first signature, as TF's loader does.

        Variables are restored first (lazily: a checkpoint value is read on first use), then
        the init op (``__saved_model_init_op``, main_op or legacy_init_op) runs with the asset
        paths fed: what it assigns overrides the checkpoint, tables get filled. An init op that
        fails is run again on the next call (and fails again), never skipped.
        """
        if self._initialized:
            return
        init = _vars.init_op_name(self.meta_graph)
        feeds = _vars.asset_feeds(self.meta_graph, self.export_dir)
        if init:
            self._run([], feeds, [init])
        self._asset_feeds = feeds
        self._initialized = True

    def run_signature(
        self,
        key: str,
        inputs: Mapping[str, Any],
        *,
        trace: Callable[[TraceEvent], None] | None = None,
        strict: bool = False,
        partial: bool = False,
        budget: Budget | None = None,
    ) -> dict[str, np.ndarray]:
        """Run SignatureDef ``key`` on ``inputs`` (input key -> value); output key -> array.

        Inputs are converted by :func:`convert_input`'s rule (``strict``: no dtype changes).
        ``partial=True`` feeds only the inputs given, as a TF1 session (and
        ``saved_model_cli run``) does: an input that no output needs, or one with a
        default (PlaceholderWithDefault), may be left out. ``budget`` limits the run's
        work (default: ``self.budget``).
        """
        sig = self.signature(key)
        feeds = self.signature_feeds(key, inputs, strict=strict, partial=partial)
        names = sorted(sig.outputs)
        self.initialize()
        feeds.update({k: v for k, v in getattr(self, "_asset_feeds", {}).items() if k not in feeds})
        fetches, controls = [], []
        for k in names:
            t = sig.outputs[k].name
            if not t:
                raise RuntimeFailure(f"output {k!r} is not a dense tensor (sparse/composite outputs are not supported)",
                                     path=self.export_dir, where=f"signature {key!r}")
            # An output naming an op without ":n" (the init-op signature) is a control target.
            node = self.graph.nodes[self.graph._lookup(t.split(":")[0], None)]
            if ":" not in t and opdefs.no_outputs(node.op):
                controls.append(t)
            else:
                fetches.append(t)
        try:
            values = self._run(fetches, feeds, controls, trace, budget)
        except InvalidArgumentError as exc:
            # A left-out input that an output needs: name the input key, not its placeholder.
            for k in sorted(set(sig.inputs) - set(inputs)):
                node = sig.inputs[k].name.split(":")[0]
                if f"placeholder {node!r} needs a value" in exc.message:
                    raise InvalidArgumentError(
                        f"no value for input {k!r} (tensor {sig.inputs[k].name}), which the "
                        "outputs need", path=self.export_dir, where=f"signature {key!r}",
                    ) from None
            raise
        out: dict[str, np.ndarray] = {}
        it = iter(values)
        for k in names:
            t = sig.outputs[k].name
            if t in controls:
                continue
            out[k] = _signature_output(next(it), k, t, self.export_dir, key)
        return out

    def signature(self, key: str) -> SignatureDef:
        """The SignatureDef named ``key`` (NotFoundError listing the keys otherwise)."""
        sigs = self.meta_graph.signature_def
        if key not in sigs:
            keys = ", ".join(sorted(sigs)) or "none"
            raise NotFoundError(f"no signature {key!r} (signatures: {keys})", path=self.export_dir)
        sig: SignatureDef = sigs[key]
        return sig

    def signature_feeds(
        self, key: str, inputs: Mapping[str, Any], *, strict: bool = False, partial: bool = False
    ) -> dict[str, Any]:
        """Validate ``inputs`` against a signature; returns tensor name -> numpy array.

        Every input must be given unless ``partial`` (then only the given ones are fed).
        """
        sig = self.signature(key)
        want = set(sig.inputs)
        given = set(inputs)
        where = f"signature {key!r}"
        unknown = sorted(given - want)
        if unknown:
            raise InvalidArgumentError(
                f"unknown input {', '.join(repr(u) for u in unknown)}; the inputs are "
                f"{', '.join(repr(w) for w in sorted(want)) or 'none'}",
                path=self.export_dir, where=where,
            )
        absent = sorted(want - given)
        if absent and not partial:
            raise InvalidArgumentError(
                f"missing input {', '.join(repr(a) for a in absent)}", path=self.export_dir,
                where=where,
            )
        feeds = {}
        for k in sorted(want & given):
            info = sig.inputs[k]
            if not info.name:
                raise InvalidArgumentError(
                    f"input {k!r} is a sparse or composite tensor, which run does not support",
                    path=self.export_dir, where=where,
                )
            feeds[info.name] = convert_input(
                inputs[k], info.dtype, tensors.tensor_info_shape(info), k,
                strict=strict, path=self.export_dir, where=where,
            )
        return feeds


def _called_functions(node: Node) -> list[str]:
    names = []
    if node.call is not None:
        names.append(node.call)
    for a in _FUNC_ATTRS:
        v = node.attr.get(a)
        if isinstance(v, FuncRef):
            names.append(v.name)
        elif isinstance(v, list):
            names.extend(x.name for x in v if isinstance(x, FuncRef))
    return names


def _output(values: list[Any], body: Body, ref: tuple[int, int]) -> Any:
    outs = values[ref[0]]
    if outs is None or ref[1] >= len(outs):
        node = body.nodes[ref[0]]
        raise RuntimeFailure(f"has no output {ref[1]}", where=node.where)
    v = outs[ref[1]]
    if v is DEAD:
        node = body.nodes[ref[0]]
        raise RuntimeFailure(f"output {ref[1]} is on a branch that was not taken", where=node.where)
    return v


def _as_array(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (np.generic, int, float, bool, bytes)):
        return np.asarray(v)
    return v


def _signature_output(v: Any, key: str, tensor: str, path: str | None, sig: str) -> np.ndarray:
    """A signature output as an array; a resource handle, TensorList or other object is refused."""
    arr = _as_array(v)
    if isinstance(arr, np.ndarray) and (arr.dtype != object or _all_bytes(arr)):
        return arr
    what = type(v).__name__ if not isinstance(arr, np.ndarray) else "an array holding non-string objects"
    raise RuntimeFailure(
        f"output {key!r} (tensor {tensor}) is not a tensor value but {what} (resource handles "
        "and TensorLists cannot be returned)", path=path, where=f"signature {sig!r}")


def _all_bytes(arr: np.ndarray) -> bool:
    """Whether an object array holds only bytes, i.e. is a TF string tensor."""
    return all(isinstance(x, bytes) for x in arr.reshape(-1))


class Context:
    """State of one run: the session, the trace hook, the function-call depth, the budget."""

    MAX_DEPTH = 200

    def __init__(
        self, session: Session, trace: Callable[[TraceEvent], None] | None, budget: Budget
    ) -> None:
        self.session = session
        self.trace = trace
        self.depth = 0
        self.meter = budget.start(session.export_dir)

    def execute(self, body: Body, plan: Plan, fed: Mapping[int, Any]) -> list[Any]:
        """Run ``plan`` over ``body``; returns the per-node output lists."""
        nodes = body.nodes
        values: list[Any] = [None] * len(nodes)
        trace = self.trace
        meter = self.meter
        for pos, i in enumerate(plan.order):
            if i in fed:
                values[i] = fed[i]
                continue
            node = nodes[i]
            meter.node(node.where)
            try:
                ins = [values[s][o] for s, o in node.inputs]
            except (IndexError, TypeError):
                raise RuntimeFailure("an input was not produced (bad output index)", where=node.where) from None
            if body.dataflow and is_dead(node.op, ins, [values[c] for c in node.controls]):
                values[i] = ALL_DEAD
                continue
            if node.deref:
                self.read_refs(node, ins)
            kern = node.kernel
            if kern is None:
                raise UnsupportedOpError(f"no kernel for op {Missing(node.op, node.name, body.name)}",
                                         where=node.where)
            if kern.per_element:
                meter.elements(sum(getattr(v, "size", 1) for v in ins), node.where)
            try:
                out = kern.fn(node, ins, self)
            except SavedModelError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError,
                    AttributeError, OverflowError, re.error) as exc:
                raise RuntimeFailure(f"{type(exc).__name__}: {exc}", where=node.where) from exc
            if not isinstance(out, list):
                out = [out]
            values[i] = out
            if trace is not None:
                trace(TraceEvent(node, out, self.depth))
            for s in plan.release[pos]:
                values[s] = None
        return values

    def read_refs(self, node: Node, ins: list[Any]) -> None:
        """Replace the variable references among ``ins`` that ``node`` reads by their values."""
        store = self.session.store
        for j in node.deref:
            v = ins[j]
            if isinstance(v, _vars.Ref):
                ins[j] = store.read(v.handle, node.where)

    def call(self, name: str, args: list[Any], where: str = "") -> list[Any]:
        """Call library function ``name`` on ``args``; returns its outputs."""
        body = self.session.function(name, where)
        nargs = len(body.args)
        if len(args) != nargs:
            raise RuntimeFailure(f"function {name!r} takes {nargs} inputs, got {len(args)}", where=where)
        if self.depth >= self.MAX_DEPTH:
            raise RuntimeFailure(f"function calls nest deeper than {self.MAX_DEPTH}", where=where)
        self.meter.clock(where)
        plan = self.session.function_plan(body)
        fed = {i: [a] for i, a in enumerate(args)}
        self.depth += 1
        try:
            values = self.execute(body, plan, fed)
        finally:
            self.depth -= 1
        return [_output(values, body, r) for r in body.rets]


def convert_input(
    value: Any,
    dt: int,
    shape: tensors.Shape,
    key: str,
    *,
    strict: bool = False,
    path: str | None = None,
    where: str | None = None,
) -> np.ndarray:
    """``value`` as an array of DataType ``dt`` matching ``shape``, or InvalidArgumentError.

    One rule for the Python API and ``savedmodel-io run`` (``dtypes.safe_cast``): a value
    of another dtype is converted when no value changes beyond float rounding (int16 ->
    float32, float64 -> float32, int64 -> int32 when every value fits); float -> int,
    overflow to inf and integers that do not fit are refused. ``strict`` refuses every
    numpy array or scalar of another dtype; Python numbers and lists, which have no dtype
    of their own, always take the input's dtype by the rule.
    """
    want_name = dtypes.python_name(dt)
    if dt == DataType.DT_STRING:
        arr = _string_array(value, key, path, where)
    else:
        try:
            np_dtype = dtypes.to_numpy(dt, path=path, where=where)
        except SavedModelError as exc:
            raise InvalidArgumentError(f"input {key!r} has type {want_name}, which run does not support ({exc.message})",
                                       path=path, where=where) from None
        typed = isinstance(value, (np.ndarray, np.generic))
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"input {key!r} is not a tensor value ({exc})",
                                       path=path, where=where) from None
        got = f"an array of {raw.dtype}" if typed else f"{raw.dtype} values"
        if typed and strict and raw.dtype != np_dtype:
            raise InvalidArgumentError(f"input {key!r} expects {want_name}, got {got} "
                                       "(strict: no conversion)", path=path, where=where)
        try:
            arr = dtypes.safe_cast(raw, np_dtype)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"input {key!r} expects {want_name}, got {got}: {exc.message}",
                                       path=path, where=where) from None
    if shape is not None:
        if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
            shown = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
            raise InvalidArgumentError(
                f"input {key!r} expects shape {shown}, got {tuple(arr.shape)}", path=path, where=where)
    return arr


def _string_array(value: Any, key: str, path: str | None, where: str | None) -> np.ndarray:
    arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind in "SU" or arr.dtype == object:
        flat = arr.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, x in enumerate(flat):
            if isinstance(x, str):
                out[i] = x.encode("utf-8")
            elif isinstance(x, (bytes, np.bytes_)):
                out[i] = bytes(x)
            else:
                raise InvalidArgumentError(
                    f"input {key!r} expects strings, got {type(x).__name__}", path=path, where=where)
        return out.reshape(arr.shape)
    raise InvalidArgumentError(f"input {key!r} expects strings, got an array of {arr.dtype}",
                               path=path, where=where)


# -- entry points --------------------------------------------------------------------

@runtime_checkable
class OwnsSession(Protocol):
    """A loaded meta graph that keeps its own Session (:class:`savedmodel_io.model.MetaGraph`).

    Declared here so that the runtime, which the object model sits on, never imports it.
    """

    def session_for(
        self,
        export_dir: str | os.PathLike[str] | None = None,
        variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
    ) -> Session:
        """Its own Session (no arguments), else a new one on other variables."""


def _session(
    meta_graph: OwnsSession | MetaGraphDef,
    export_dir: str | os.PathLike[str] | None,
    variables: Mapping[str, Any] | Callable[[str], Any] | None,
) -> Session:
    """A loaded MetaGraph's own Session, or a new one (a bare MetaGraphDef, other variables)."""
    if isinstance(meta_graph, MetaGraphDef):
        return Session(meta_graph, export_dir=export_dir, variables=variables)
    if isinstance(meta_graph, OwnsSession):
        return meta_graph.session_for(export_dir, variables)
    raise InvalidArgumentError(f"expected a MetaGraph or a MetaGraphDef, got {type(meta_graph).__name__}")


def run_signature(
    meta_graph: OwnsSession | MetaGraphDef,
    key: str,
    inputs: Mapping[str, Any],
    *,
    export_dir: str | os.PathLike[str] | None = None,
    variables: Mapping[str, Any] | Callable[[str], Any] | None = None,
    trace: Callable[[TraceEvent], None] | None = None,
    strict: bool = False,
    budget: Budget | None = None,
) -> dict[str, np.ndarray]:
    """Run SignatureDef ``key`` of a MetaGraph on ``inputs``; returns output key -> array.

    A loaded :class:`~savedmodel_io.model.MetaGraph` runs in its own Session (kept, with
    its variables' state). A bare MetaGraphDef, or other ``variables`` (checkpoint key ->
    array, or a callable), get a new Session for this call; without ``variables`` they
    are read from ``export_dir``'s ``variables/`` checkpoint. ``strict`` refuses inputs
    of another dtype (see :func:`convert_input`). ``budget`` limits the run's work
    (default: the session's ``budget``, see :mod:`savedmodel_io.graph.budget`).
    """
    sess = _session(meta_graph, export_dir, variables)
    return sess.run_signature(key, inputs, trace=trace, strict=strict, budget=budget)


def check_signature(meta_graph: OwnsSession | MetaGraphDef, key: str, *,
                    export_dir: str | os.PathLike[str] | None = None) -> list[Missing]:
    """Every op a signature needs that the runtime has no kernel for (empty list: runnable)."""
    sess = _session(meta_graph, export_dir, None)
    sig = sess.signature(key)
    fetches = [t.name for t in sig.outputs.values() if t.name]
    feeds = [t.name for t in sig.inputs.values() if t.name]
    missing = sess.missing_ops(fetches, [], feeds)
    init = _vars.init_op_name(sess.meta_graph)
    if init:
        missing += [m for m in sess.missing_ops([], [init], _vars.asset_feeds(sess.meta_graph, None).keys())
                    if m not in missing]
    return missing
