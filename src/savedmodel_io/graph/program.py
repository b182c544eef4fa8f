"""The compiled form of a graph body and the loop that runs it.

:class:`Body` is one graph body (the MetaGraph's GraphDef, or one FunctionDef of its
library) compiled once: nodes with decoded attrs, inputs resolved to ``(producer,
output index)`` pairs and a kernel bound to each; :class:`Plan` the nodes some
requested tensors need, in dependency order; :class:`Context` one run of plans. The
session that owns bodies, their caches and the variables is :mod:`.runtime`; the
optimiser (:mod:`.optimize`) rewrites bodies and sits between the two.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from savedmodel_io import tensors
from savedmodel_io.errors import (
    NotFoundError,
    RuntimeFailure,
    SavedModelError,
    UnsupportedOpError,
)
from savedmodel_io.graph import families, frames, opdefs
from savedmodel_io.graph import ops as _ops
from savedmodel_io.graph import variables as _vars
from savedmodel_io.graph.attrs import FuncRef, decode_attr
from savedmodel_io.graph.budget import Budget
from savedmodel_io.graph.dataflow import ALL_DEAD, DATAFLOW_OPS, DEAD, is_dead
from savedmodel_io.proto import FunctionDef, NodeDef

if TYPE_CHECKING:
    from savedmodel_io.graph.runtime import Session


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

# What a kernel raises on values it cannot handle (hostile shapes, attrs, bytes): the run
# turns each into a RuntimeFailure naming the node; constant folding leaves the node to run.
KERNEL_FAILURES: tuple[type[BaseException], ...] = (
    ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError, AttributeError,
    RecursionError, re.error, struct.error)

# Attrs naming the functions an op calls (If/While/Case/PartitionedCall...).
_FUNC_ATTRS = ("f", "then_branch", "else_branch", "cond", "body", "branches")


class Node:
    """One compiled node: op, decoded attrs (OpDef defaults filled in), resolved inputs, kernel."""

    __slots__ = ("name", "op", "attr", "inputs", "controls", "kernel", "index", "body", "call",
                 "opdef", "deref", "origin", "prepared")

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
        # The nodes of the saved graph this one stands for, when the optimiser made it
        # (inlined, folded or fused); None: it is one of them itself.
        self.origin: tuple[Node, ...] | None = None
        # What a kernel computed once from constant inputs (weights laid out for GEMM...).
        self.prepared: Any = None

    def clone(self, index: int, **changes: Any) -> Node:
        """A copy at position ``index`` (attrs copied, inputs and controls as given or copied)."""
        n = Node(changes.pop("name", self.name), changes.pop("op", self.op),
                 changes.pop("attr", dict(self.attr)), index, changes.pop("body", self.body))
        n.inputs = changes.pop("inputs", list(self.inputs))
        n.controls = changes.pop("controls", list(self.controls))
        n.kernel, n.call, n.opdef, n.deref = self.kernel, self.call, self.opdef, self.deref
        n.origin = changes.pop("origin", self.origins)
        if changes:
            raise TypeError(f"unknown fields {sorted(changes)}")
        return n

    @property
    def origins(self) -> tuple[Node, ...]:
        """The saved graph's nodes this node computes (itself, unless the optimiser made it)."""
        return self.origin if self.origin is not None else (self,)

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
        """Where this node is, for error messages (the saved graph's nodes it stands for)."""
        first, *more = self.origins
        text = f"node {first.name!r} ({first.op}) in {first.body}"
        if more:
            text += ", fused with " + ", ".join(f"{o.name!r} ({o.op})" for o in more)
        return text

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
    # Optimised bodies: the values a run starts from (their constants in place), and which
    # nodes those constants are (in dependency order, for traces).
    preset: list[Any] | None = None
    consts: list[int] = field(default_factory=list)
    # (node, kernel function, inputs, release, special) per node to run, in order: what the
    # run loop reads; ``special``: TF1 references to read or a budget charge first.
    steps: list[tuple[Node, Callable[..., Any], list[tuple[int, int]], list[int], bool]] = \
        field(default_factory=list)


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
        # Optimised bodies hold their constants as values a run starts from, not as nodes to run.
        self.preset_consts = False

    @classmethod
    def assemble(cls, name: str, nodes: list[Node], library: Mapping[str, FunctionDef], *,
                 rets: list[tuple[int, int]], control_rets: list[int], args: Sequence[str] = (),
                 is_function: bool = False) -> Body:
        """A Body made of compiled nodes (node ``k`` at index ``k``), as the optimiser builds it."""
        body = cls(name, (), library, is_function=is_function)
        body.args = list(args)
        for k, node in enumerate(nodes):
            if node.index != k or node.name in body.by_name:
                raise RuntimeFailure(f"cannot assemble node {node.name!r} at {k}", where=name)
            body._add(node)
        body.dataflow = any(n.op in DATAFLOW_OPS for n in nodes)
        body.rets = list(rets)
        body.control_rets = list(control_rets)
        return body

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
        consts: list[int] = []
        preset: list[Any] | None = None
        if self.preset_consts:
            consts = [i for i in order if self.nodes[i].op == "Const" and i not in fed]
            preset = [None] * len(self.nodes)
            for i in consts:
                preset[i] = [self.nodes[i].attr["value"]]
            order = [i for i in order if preset[i] is None]
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
        steps = []
        for i, rel in zip(order, release):
            if i not in fed:
                node = self.nodes[i]
                kern = node.kernel
                special = bool(node.deref) or (kern is not None and kern.per_element)
                steps.append((node, kern.fn if kern is not None else _no_kernel, node.inputs,
                              rel, special))
        plan = Plan(order, release, preset, consts, steps)
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


def _no_kernel(node: Node, inputs: list[Any], ctx: Context) -> Any:
    """What runs a node without a kernel: UnsupportedOpError naming it."""
    raise UnsupportedOpError(f"no kernel for op {Missing(node.op, node.name, node.body)}",
                             where=node.where)


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


class Context:
    """State of one run: the session, the trace hook, the function-call depth, the budget."""

    MAX_DEPTH = 200

    def __init__(
        self, session: Session, trace: Callable[[TraceEvent], None] | None, budget: Budget,
        optimize: bool = False,
    ) -> None:
        self.session = session
        self.trace = trace
        self.depth = 0
        self.meter = budget.start(session.export_dir)
        self.optimize = optimize  # functions called run their optimised bodies
        self.threads = 1  # how many threads one kernel may split its work over

    def execute(self, body: Body, plan: Plan, fed: Mapping[int, Any]) -> list[Any]:
        """Run ``plan`` over ``body``; returns the per-node output lists."""
        nodes = body.nodes
        values: list[Any] = list(plan.preset) if plan.preset is not None else [None] * len(nodes)
        for i, v in fed.items():
            values[i] = v
        trace = self.trace
        if trace is not None:
            for i in plan.consts:
                trace(TraceEvent(nodes[i], values[i], self.depth))
        dataflow = body.dataflow
        meter = self.meter
        node = None
        gathered = False
        try:
            for node, fn, srcs, release, special in plan.steps:
                meter.node(node)
                gathered = False
                ins = [values[s][o] for s, o in srcs]
                gathered = True
                if dataflow and is_dead(node.op, ins, [values[c] for c in node.controls]):
                    values[node.index] = ALL_DEAD
                    continue
                if special:  # TF1 references to read, or a kernel that charges the budget
                    if node.deref:
                        self.read_refs(node, ins)
                    if node.kernel is not None and node.kernel.per_element:
                        meter.elements(sum(getattr(v, "size", 1) for v in ins), node.where)
                out = fn(node, ins, self)
                if type(out) is not list:
                    out = [out]
                values[node.index] = out
                if trace is not None:
                    trace(TraceEvent(node, out, self.depth))
                for s in release:
                    values[s] = None
        except SavedModelError:
            raise
        except KERNEL_FAILURES as exc:
            if node is not None and not gathered:
                raise RuntimeFailure("an input was not produced (bad output index)",
                                     where=node.where) from None
            where = node.where if node is not None else body.name
            raise RuntimeFailure(f"{type(exc).__name__}: {exc}", where=where) from exc
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
        body, plan = self.session.callee(name, where, self.optimize, self.meter)
        nargs = len(body.args)
        if len(args) != nargs:
            raise RuntimeFailure(f"function {name!r} takes {nargs} inputs, got {len(args)}", where=where)
        if self.depth >= self.MAX_DEPTH:
            raise RuntimeFailure(f"function calls nest deeper than {self.MAX_DEPTH}", where=where)
        self.meter.clock(where)
        fed = {i: [a] for i, a in enumerate(args)}
        self.depth += 1
        try:
            values = self.execute(body, plan, fed)
        finally:
            self.depth -= 1
        return [_output(values, body, r) for r in body.rets]


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
