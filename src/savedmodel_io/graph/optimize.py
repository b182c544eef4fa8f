"""Graph optimisation: passes that rewrite a compiled graph into a faster one with the same outputs.

:func:`optimize` copies the part of a :class:`~savedmodel_io.graph.runtime.Body` that
some outputs need into a new Body (its ``rets`` are those outputs, fed nodes first)
and runs passes over it. A pass is a function ``pass_(body, env)`` rewriting the body
in place; :func:`optimize` drops what no output needs afterwards. The default passes,
in order:

* :func:`inline_calls`: (Stateful)PartitionedCall bodies spliced into the caller, so
  the other passes see through function boundaries (calls with control outputs or
  TF1 dataflow control flow are left as calls);
* :func:`fold_constants`: every node whose inputs are all constant is computed once,
  variables included: a variable is a constant for inference unless an op of the
  program (or a function it calls) may write it; the Session re-optimises when a
  variable folded in changes (another signature assigned it);
* :func:`remove_identities`: Identity, IdentityN, StopGradient, Snapshot, NoOp... are
  bypassed, their control inputs handed on to their consumers;
* :func:`fuse_rnn_loops`: While loops that are Keras LSTM / GRU layers (recognised by
  :mod:`~savedmodel_io.graph.rnn_loops`, which runs their body against the Keras cell)
  become one ``_KerasLSTM`` / ``_KerasGRU`` node (this library's internal ops) computing
  the whole sequence: every step's input projection in one matmul, then per step only
  ``h @ U`` and the gates; it keeps the loop's cond and body and runs them when the loop
  variables are not what was recognised;
* :func:`fold_batch_norms`: inference FusedBatchNorm* with constant statistics becomes
  the multiply-add it is;
* :func:`fuse_ops`: Conv2D / DepthwiseConv2dNative / MatMul absorb what follows them:
  per-channel multiplies and adds (batch norm, Keras' Mul/Add pattern) folded into the
  weights and bias, BiasAdd, a residual Add, and an activation (Relu, Relu6, Elu,
  LeakyRelu, Sigmoid, Tanh), as TensorFlow's own ``_FusedConv2D`` /
  ``_FusedDepthwiseConv2dNative`` / ``_FusedMatMul`` ops (same attrs: ``fused_ops``,
  ``num_args``), which the numpy runtime runs;
* :func:`fuse_attention`: Einsum -> Softmax -> Einsum (scaled dot-product attention)
  becomes one ``_Attention`` node (runtime only; graph/ops/attention.py);
* :func:`lay_out_weights`: kernels with a ``prepare`` hook lay their constant inputs
  out once (convolution filters as GEMM matrices...).

Every node the passes make records ``origin``: the saved graph's nodes it stands for,
which errors and traces name. Each rewrite is exact up to float rounding (folding a
scale into weights reorders one multiplication): outputs stay within float32 tolerance
of the unoptimised graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.errors import RuntimeFailure, SavedModelError
from savedmodel_io.graph import ops as _ops
from savedmodel_io.graph.attrs import FuncRef
from savedmodel_io.graph.ops import attention as attention_ops
from savedmodel_io.graph.ops import rnn as rnn_ops
from savedmodel_io.graph.ops._util import attr_str
from savedmodel_io.graph.program import KERNEL_FAILURES, Body, Context, Node, _called_functions
from savedmodel_io.graph.rnn_loops import Slot, recognise
from savedmodel_io.graph.variables import Handle
from savedmodel_io.graph.variables import Ref as VariableRef
from savedmodel_io.proto import DataType

if TYPE_CHECKING:
    from savedmodel_io.graph.budget import Meter
    from savedmodel_io.graph.runtime import Session

__all__ = [
    "DEFAULT_PASSES",
    "Env",
    "Pass",
    "fold_batch_norms",
    "fold_einsum_scales",
    "fuse_attention",
    "fold_constants",
    "fuse_layer_norms",
    "fuse_ops",
    "fuse_rnn_loops",
    "inline_calls",
    "lay_out_weights",
    "merge_sibling_matmuls",
    "optimize",
    "remove_identities",
    "sink_reshapes",
    "specialize_loops",
    "tensordot_as_matmul",
]

Ref = tuple[int, int]


@dataclass
class Env:
    """What the passes share: the session (library, variables) and what they must not touch."""

    session: Session | None
    keep: set[int]  # fed nodes: left as they are, never folded or bypassed
    # Variables whose values were folded in, by handle name (the Session re-optimises when
    # one of them is assigned another value).
    variables: dict[str, Any] = field(default_factory=dict)
    # The run's budget meter (graph/budget.py): optimising is part of the first run, and a
    # hostile graph (calls fanning out, huge constants) must not make it endless.
    meter: Meter | None = None
    max_nodes: int = 200_000  # inlining stops growing the body beyond this many nodes
    max_constant_bytes: int = 1 << 24  # a folded value may not exceed this (nor its inputs' size)

    def clock(self, node: Node) -> None:
        """LimitExceededError (naming ``node``) once the run is past its deadline."""
        if self.meter is not None:
            self.meter.node(node)


Pass = Callable[[Body, Env], None]


def optimize(body: Body, outputs: Sequence[Ref], *, controls: Sequence[int] = (),
             feeds: Sequence[int] = (), constants: Mapping[int, Any] | None = None,
             session: Session | None = None, meter: Meter | None = None,
             passes: Sequence[Pass] | None = None) -> tuple[Body, Env]:
    """A new Body computing ``outputs`` of ``body`` (its ``rets``), optimised by ``passes``.

    ``outputs`` are (node index, output index) pairs of ``body``, ``controls`` nodes that
    must run, ``feeds`` nodes whose values are given (they come first in the new body, in
    this order, as a function's args do); ``constants`` gives the value of some of them
    (by position in ``feeds``), known in advance and folded in. Without a ``session``,
    calls are not inlined and variables are not folded. ``meter`` (a run's budget) bounds
    the time spent.
    """
    work, keep = _program(body, outputs, controls, feeds)
    users = _Users(work)
    for k, value in (constants or {}).items():
        fed = work.nodes[k]
        c = _const(work, f"{fed.name}/known", value, fed.origins)
        _redirect(work, users, (k, 0), (c.index, 0))
    env = Env(session, keep, meter=meter)
    for p in DEFAULT_PASSES if passes is None else passes:
        if not work.dataflow:  # TF1 Switch/Merge graphs: dead values make rewrites unsafe
            p(work, env)
    return _compact(work, len(feeds)), env


# -- the working body ---------------------------------------------------------------------

def _program(body: Body, outputs: Sequence[Ref], controls: Sequence[int],
             feeds: Sequence[int]) -> tuple[Body, set[int]]:
    """A copy of the nodes ``outputs`` and ``controls`` need, feeds first."""
    fed = frozenset(feeds)
    order = list(feeds) + [i for i in body.plan(list(outputs), list(controls), fed).order
                           if i not in fed]
    new = {old: k for k, old in enumerate(order)}
    nodes = []
    for k, old in enumerate(order):
        n = body.nodes[old]
        if old in fed:
            nodes.append(n.clone(k, inputs=[], controls=[]))
        else:
            nodes.append(n.clone(k, inputs=[(new[s], o) for s, o in n.inputs],
                                 controls=[new[c] for c in n.controls]))
    work = Body.assemble(body.name, nodes, body._library,
                         rets=[(new[i], o) for i, o in outputs],
                         control_rets=[new[c] for c in controls], args=body.args,
                         is_function=body.is_function)
    return work, set(range(len(feeds)))


def _compact(body: Body, nfeeds: int) -> Body:
    """The nodes the rets and control rets still need, renumbered (feeds first), consts preset."""
    needed = set(range(nfeeds))
    stack = [i for i, _ in body.rets] + list(body.control_rets)
    while stack:
        i = stack.pop()
        if i in needed:
            continue
        needed.add(i)
        node = body.nodes[i]
        stack.extend(s for s, _ in node.inputs)
        stack.extend(node.controls)
    order = sorted(needed)
    new = {old: k for k, old in enumerate(order)}
    nodes = [body.nodes[old].clone(k, inputs=[(new[s], o) for s, o in body.nodes[old].inputs],
                                   controls=[new[c] for c in body.nodes[old].controls])
             for k, old in enumerate(order)]
    for old, n in zip(order, nodes):
        n.prepared = body.nodes[old].prepared
    out = Body.assemble(body.name, nodes, body._library,
                        rets=[(new[i], o) for i, o in body.rets],
                        control_rets=[new[c] for c in body.control_rets], args=body.args,
                        is_function=body.is_function)
    out.preset_consts = True
    return out


def _topo(body: Body) -> list[int]:
    """Every node the rets and control rets need, producers before consumers."""
    done: set[int] = set()
    order: list[int] = []
    stack: list[tuple[int, bool]] = [(i, False) for i, _ in reversed(body.rets)]
    stack += [(c, False) for c in reversed(body.control_rets)]
    while stack:
        i, finish = stack.pop()
        if finish:
            if i not in done:
                done.add(i)
                order.append(i)
            continue
        if i in done:
            continue
        stack.append((i, True))
        node = body.nodes[i]
        stack.extend((c, False) for c in node.controls if c not in done)
        stack.extend((s, False) for s, _ in node.inputs if s not in done)
    return order


class _Users:
    """Who reads (data edges, with input position) and who waits for (control edges) each node;
    the rewrites that use it keep it up to date with ``drop`` / ``add`` around each edit."""

    def __init__(self, body: Body) -> None:
        self.data: dict[int, list[tuple[int, int]]] = {}
        self.waits: dict[int, set[int]] = {}
        for node in body.nodes:
            self.add(node)

    def add(self, node: Node) -> None:
        for pos, (s, _) in enumerate(node.inputs):
            self.data.setdefault(s, []).append((node.index, pos))
        for c in node.controls:
            self.waits.setdefault(c, set()).add(node.index)

    def drop(self, node: Node) -> None:
        for s, _ in node.inputs:
            self.data[s] = [u for u in self.data.get(s, []) if u[0] != node.index]
        for c in node.controls:
            self.waits.get(c, set()).discard(node.index)

    def of(self, i: int) -> list[int]:
        """Every node reading or waiting for node ``i``."""
        return sorted({u for u, _ in self.data.get(i, [])} | self.waits.get(i, set()))


def _new_node(body: Body, name: str, op: str, attr: dict[str, Any], inputs: list[Ref],
              origin: tuple[Node, ...], index: int | None = None,
              controls: Iterable[int] = ()) -> Node:
    """A node bound to its kernel, appended (or put at ``index``, replacing what was there)."""
    if index is None:
        index = len(body.nodes)
        body.nodes.append(None)  # type: ignore[arg-type]  # filled just below
    else:
        old = body.nodes[index]
        if body.by_name.get(old.name) == index:
            del body.by_name[old.name]
    if name in body.by_name:
        base, k = name, 1
        while f"{base}_{k}" in body.by_name:
            k += 1
        name = f"{base}_{k}"
    node = Node(name, op, attr, index, origin[0].body if origin else body.name)
    node.bind(body._library)
    if len(origin) == 1 and origin[0].op == op and len(origin[0].inputs) == len(inputs):
        node.deref = origin[0].deref  # an inlined copy reads TF1 references where it did
    node.inputs = list(inputs)
    node.controls = list(dict.fromkeys(controls))
    node.origin = origin
    body.nodes[index] = node
    body.by_name[name] = index
    return node


def _const(body: Body, name: str, value: Any, origin: tuple[Node, ...],
           index: int | None = None, controls: Iterable[int] = ()) -> Node:
    """A Const node holding ``value`` (any runtime value; ``dtype`` set when it has one)."""
    attr: dict[str, Any] = {"value": value}
    if isinstance(value, Handle):
        attr["dtype"] = DataType.DT_RESOURCE
    elif isinstance(value, (np.ndarray, np.generic)):
        try:
            attr["dtype"] = dtypes.from_numpy(value.dtype)
        except SavedModelError:
            pass
    return _new_node(body, name, "Const", attr, [], origin, index, controls)


def _redirect(body: Body, users: _Users, old: Ref, new: Ref,
              extra_controls: Iterable[int] = ()) -> None:
    """Every use of tensor ``old`` (inputs and rets) reads ``new`` instead; its users also get
    ``extra_controls``."""
    extra = list(extra_controls)
    for u in users.of(old[0]):
        node = body.nodes[u]
        if old in node.inputs:
            users.drop(node)
            node.inputs = [new if r == old else r for r in node.inputs]
            if extra:
                node.controls = list(dict.fromkeys(node.controls + extra))
            users.add(node)
    body.rets = [new if r == old else r for r in body.rets]


# -- inlining -------------------------------------------------------------------------------

_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
# Calls nested deeper than this stay calls (real models nest a few levels; a function calling
# itself would otherwise be inlined up to ``max_nodes`` times, its node names growing each time).
MAX_INLINE_DEPTH = 64


def _callee(node: Node) -> str | None:
    """The library function a (Stateful)PartitionedCall or function-op node calls."""
    if node.call is not None:
        return node.call
    f = node.attr.get("f")
    return f.name if node.op in _CALL_OPS and isinstance(f, FuncRef) else None


def inline_calls(body: Body, env: Env) -> None:
    """Splice called function bodies into ``body`` (nested calls too, within ``env.max_nodes``).

    Inlined nodes are named ``<call>/<node>``; the call node becomes a NoOp waiting for
    the function's outputs and control outputs (for control edges on the call), readers
    of its outputs wait for the control outputs, and the call's control inputs go to the
    inlined nodes without inputs, as TensorFlow's inliner does
    (tensorflow/tensorflow tensorflow/core/common_runtime/inline_function_utils.cc).
    """
    session = env.session
    if session is None:
        return
    users = _Users(body)
    depth: dict[int, int] = {}  # how many inlined calls deep a node is
    i = 0
    while i < len(body.nodes):
        node = body.nodes[i]
        i += 1
        fname = _callee(node)
        if fname is None or node.index in env.keep or depth.get(node.index, 0) >= MAX_INLINE_DEPTH:
            continue
        env.clock(node)
        try:
            fb = session.function(fname, node.where)
        except SavedModelError:
            continue  # reported when the call runs
        if (fb.dataflow or len(fb.args) != len(node.inputs)
                or len(body.nodes) + len(fb.nodes) > env.max_nodes):
            continue
        base = len(body.nodes)
        _inline(body, users, node, fb)
        for k in range(base, len(body.nodes)):
            depth[k] = depth.get(node.index, 0) + 1


def _inline(body: Body, users: _Users, call: Node, fb: Body) -> None:
    nargs = len(fb.args)
    new: dict[int, int] = {}
    base = len(body.nodes)
    inner_nodes = [n for n in fb.nodes if n.index >= nargs]
    for k, n in enumerate(inner_nodes):
        new[n.index] = base + k

    def ref(r: Ref) -> Ref:
        return call.inputs[r[0]] if r[0] < nargs else (new[r[0]], r[1])

    def ctl(c: int) -> int:
        return call.inputs[c][0] if c < nargs else new[c]

    for n in inner_nodes:
        inputs = [ref(r) for r in n.inputs]
        controls = [ctl(c) for c in n.controls]
        if not inputs and not controls:
            controls = list(call.controls)
        users.add(_new_node(body, f"{call.name}/{n.name}", n.op, dict(n.attr), inputs,
                            n.origins, controls=controls))
    # The function's control outputs ran before the call returned: whoever reads an output
    # (or waits for the call) waits for them too.
    after = [ctl(c) for c in fb.control_rets]
    outs = [ref(r) for r in fb.rets]
    for k, r in enumerate(outs):
        if after and (call.index, k) in body.rets:
            body.control_rets = list(dict.fromkeys(body.control_rets + after))
        _redirect(body, users, (call.index, k), r, after)
    users.drop(call)
    users.add(_new_node(body, call.name, "NoOp", {}, [], call.origins, index=call.index,
                        controls=[r[0] for r in outs] + after))


# -- constant folding -----------------------------------------------------------------------

# Ops never folded even with constant inputs: they stand for values given at run time, or
# make big tensors out of small ones (kept as the cheap recipe, not as the result).
_NEVER_FOLD = frozenset({"Placeholder", "PlaceholderV2", "_Arg", "Switch", "RefSwitch", "Merge",
                         "RefMerge", "Enter", "Exit", "NextIteration", "LoopCond", "Fill",
                         "Tile", "BroadcastTo", "Range", "OneHot", "Empty", "TensorListReserve",
                         "ZerosLike", "OnesLike"})
# Stateful ops that only read a resource: no variable is written by them.
_READS = frozenset({"ReadVariableOp", "ResourceGather", "ResourceGatherNd", "VarIsInitializedOp",
                    "VariableShape", "VarHandleOp", "LookupTableFindV2", "LookupTableSizeV2",
                    "LookupTableExportV2", "LookupTableFind", "LookupTableSize",
                    "IsVariableInitialized"})
_IDENTITIES = frozenset({"Identity", "StopGradient", "PreventGradient", "Snapshot", "RefIdentity",
                         "PlaceholderWithDefault"})


def _variable_name(body: Body, ref: Ref) -> str | None:
    """The variable a resource / ref input names ("" for other resources, None: unknown)."""
    seen = 0
    node = body.nodes[ref[0]]
    while node.op in _IDENTITIES and node.inputs and seen < 10_000:
        node = body.nodes[node.inputs[0][0]]
        seen += 1
    if node.op == "VarHandleOp":
        shared = node.attr.get("shared_name") or b""
        return shared.decode("utf-8", "replace") or node.name
    if node.op in ("VariableV2", "Variable"):
        from savedmodel_io.graph.variables import variable_name

        return variable_name(node.name, node.attr.get("shared_name") or b"")
    if node.opdef is not None and node.opdef.is_stateful and not node.inputs and node.op != "_Arg":
        return ""  # a table, a TensorArray...: created here, not a variable
    return None


def _writes(node: Node) -> bool:
    """Whether ``node`` may change a resource or ref variable it is given.

    A TF1 reference input is taken to be written (TensorFlow does not mark Assign,
    ScatterUpdate... stateful: the reference is what they change); a resource input is
    written by a stateful op that is not a known reader.
    """
    od = node.opdef
    if od is None or node.op in _READS or node.op in _IDENTITIES:
        return False
    if any(a.is_ref for a in od.inputs):
        return True
    return od.is_stateful and any(a.type == DataType.DT_RESOURCE for a in od.inputs)


def _written(body: Body, env: Env) -> frozenset[str] | None:
    """Variables an op of ``body`` or of a function it calls may write (None: cannot tell)."""
    names: set[str] = set()
    for node in body.nodes:
        if _writes(node):
            for pos, a in enumerate(node.opdef.inputs if node.opdef else ()):
                if (a.is_ref or a.type == DataType.DT_RESOURCE) and pos < len(node.inputs):
                    name = _variable_name(body, node.inputs[pos])
                    if name is None:
                        return None
                    if name:
                        names.add(name)
    if env.session is not None and _functions_write(body, env.session):
        return None
    return frozenset(names)


def _reachable(functions: Iterable[str], session: Session) -> Iterator[Body | None]:
    """The body of each library function ``functions`` call, directly or through others, once
    (None for a name the library does not hold)."""
    todo, seen = list(functions), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            fb = session.function(name)
        except SavedModelError:
            yield None
            continue
        yield fb
        todo.extend(f for n in fb.nodes for f in _called_functions(n))


def _functions_write(body: Body, session: Session) -> bool:
    """Whether a library function ``body`` still calls (loops, conditionals) writes a resource."""
    called = [f for n in body.nodes for f in _called_functions(n)]
    return any(fb is not None and any(_writes(n) for n in fb.nodes) for fb in _reachable(called, session))


def _size(values: Iterable[Any]) -> int:
    return sum(v.nbytes for v in values if isinstance(v, np.ndarray))


def fold_constants(body: Body, env: Env) -> None:
    """Compute every node whose inputs are all constant once; it becomes a Const node."""
    written = _written(body, env)
    session = env.session
    ctx = Context(session, None, session.budget) if session is not None else None
    if ctx is not None and env.meter is not None:
        ctx.meter = env.meter  # folded kernels are charged to the run being optimised
    values: dict[int, list[Any]] = {}
    # Control inputs of folded nodes, handed on to whoever uses their value.
    inherited: dict[int, list[int]] = {}
    for i in _topo(body):
        node = body.nodes[i]
        if i in env.keep:
            continue
        if node.op == "Const":
            values[i] = [node.attr.get("value")]
        elif all(s in values for s, _ in node.inputs):
            env.clock(node)
            out = _evaluate(node, [values[s][o] for s, o in node.inputs], ctx, written, env)
            if out is None:
                continue
            values[i] = out
        else:
            continue
        controls: list[int] = []
        for c in node.controls:
            controls.extend(inherited[c] if c in values else [c])
        for s, _ in node.inputs:
            controls.extend(inherited.get(s, ()))
        inherited[i] = list(dict.fromkeys(controls))
    _replace_folded(body, values, inherited)


def _evaluate(node: Node, inputs: list[Any], ctx: Context | None, written: frozenset[str] | None,
              env: Env) -> list[Any] | None:
    """The outputs of ``node`` on constant ``inputs``, or None if it must run at run time."""
    op = node.op
    if op in _NEVER_FOLD or node.kernel is None or node.opdef is None or ctx is None or \
            _writes(node):
        return None
    if op == "ReadVariableOp":
        value = _variable_value(inputs[0], node, ctx, written, env)
        return None if value is None else [value]
    if node.deref:  # TF1 references this node reads as values
        inputs = list(inputs)
        for j in node.deref:
            if isinstance(inputs[j], VariableRef):
                inputs[j] = _variable_value(inputs[j].handle, node, ctx, written, env)
                if inputs[j] is None:
                    return None
    if op not in ("VarHandleOp", "VariableV2", "Variable") and (node.opdef.is_stateful or any(
            isinstance(v, (FuncRef, list)) and _is_func(v) for v in node.attr.values())):
        return None
    if node.kernel.per_element and env.meter is not None:  # Python-loop work counts as in a run
        env.meter.elements(sum(getattr(v, "size", 1) for v in inputs), node.where)
    try:
        with np.errstate(all="ignore"):
            out = node.kernel.fn(node, inputs, ctx)
    except _FOLD_FAILURES:
        return None  # the same error is raised, naming the node, if it ever runs
    out = out if isinstance(out, list) else [out]
    if not all(isinstance(v, (np.ndarray, np.generic, Handle, VariableRef)) for v in out):
        return None  # TensorLists, tables...: objects with state of their own
    if _size(out) > max(env.max_constant_bytes, _size(inputs)):
        return None
    return out


_FOLD_FAILURES: tuple[type[BaseException], ...] = (SavedModelError, *KERNEL_FAILURES)


def _variable_value(handle: Any, node: Node, ctx: Context, written: frozenset[str] | None,
                    env: Env) -> Any:
    """The value of the variable ``handle`` names, if no op may write it (else None)."""
    if written is None or not isinstance(handle, Handle) or handle.name in written:
        return None
    try:
        value = ctx.session.store.read(handle, node.where)
    except SavedModelError:
        return None  # reported when it runs
    env.variables[handle.name] = value
    return value


def _is_func(v: Any) -> bool:
    return isinstance(v, FuncRef) or (
        isinstance(v, list) and any(isinstance(x, FuncRef) for x in v))


def _dense(value: Any) -> Any:
    """A folded array as a contiguous one (a strided view, e.g. one part of a Split weight
    matrix, would be copied by BLAS at every use)."""
    if isinstance(value, np.ndarray) and not value.flags.c_contiguous and value.dtype != object:
        return np.ascontiguousarray(value)
    return value


def _replace_folded(body: Body, values: dict[int, list[Any]],
                    inherited: dict[int, list[int]]) -> None:
    """Turn folded nodes other nodes still read into Const nodes (one per output read)."""
    made: dict[Ref, Ref] = {}

    def const_for(r: Ref) -> Ref:
        if r not in made:
            src = body.nodes[r[0]]
            if not 0 <= r[1] < len(values[r[0]]):
                # A graph reading an output its node does not make (its kernel made fewer).
                raise RuntimeFailure(f"has no output {r[1]} (it made {len(values[r[0]])})", where=src.where)
            if len(values[r[0]]) == 1:
                if src.op != "Const" or src.controls:
                    _const(body, src.name, _dense(values[r[0]][0]), src.origins, index=r[0])
                made[r] = (r[0], 0)
            else:
                made[r] = (_const(body, f"{src.name}/output_{r[1]}", _dense(values[r[0]][r[1]]),
                                  src.origins).index, 0)
        return made[r]

    for node in list(body.nodes):
        if node.index in values:
            continue
        if any(s in values for s, _ in node.inputs) or any(c in values for c in node.controls):
            controls: list[int] = []
            for c in node.controls:
                controls.extend(inherited[c] if c in values else [c])
            inputs = []
            for r in node.inputs:
                if r[0] in values:
                    controls.extend(inherited[r[0]])
                    inputs.append(const_for(r))
                else:
                    inputs.append(r)
            node.inputs = inputs
            node.controls = list(dict.fromkeys(controls))
    rets = []
    for r in body.rets:
        if r[0] in values:
            body.control_rets = list(dict.fromkeys(body.control_rets + inherited[r[0]]))
            r = const_for(r)
        rets.append(r)
    body.rets = rets
    controls = []
    for c in body.control_rets:
        controls.extend(inherited[c] if c in values else [c])
    body.control_rets = list(dict.fromkeys(controls))


# -- identities -------------------------------------------------------------------------------

def remove_identities(body: Body, env: Env) -> None:
    """Bypass Identity-like nodes and NoOps: users read (or wait for) what they forward; then
    drop control edges to nodes without effects (a control edge only orders effects)."""
    users = _Users(body)
    for node in list(body.nodes):
        if node.index in env.keep:
            continue
        if node.op in _IDENTITIES and len(node.inputs) == 1:
            _bypass(body, users, node, {(node.index, 0): node.inputs[0]})
        elif node.op == "IdentityN":
            _bypass(body, users, node, {(node.index, k): r for k, r in enumerate(node.inputs)})
        elif node.op == "NoOp" and not node.inputs:
            _bypass(body, users, node, {})
        elif node.op == "Transpose" and len(node.inputs) == 2:
            perm = _const_value(body, node.inputs[1])
            if isinstance(perm, np.ndarray) and perm.dtype.kind in "iu" and perm.ndim == 1 and \
                    perm.tolist() == list(range(perm.size)):  # the identity permutation
                _bypass(body, users, node, {(node.index, 0): node.inputs[0]})
    _drop_pure_controls(body, env)


def _drop_pure_controls(body: Body, env: Env) -> None:
    """Remove control edges (and control rets) to nodes with no effect anywhere upstream: waiting
    for a computation that changes nothing orders nothing (Keras functions end with a NoOp
    waiting for every layer call, which would otherwise pin each layer's output)."""
    effects: dict[int, bool] = {}

    def has_effects(i: int) -> bool:
        # Iterative post-order over data and control inputs, memoised.
        stack = [i]
        while stack:
            j = stack[-1]
            if j in effects:
                stack.pop()
                continue
            node = body.nodes[j]
            deps = [s for s, _ in node.inputs] + node.controls
            todo = [d for d in deps if d not in effects]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            own = node.op != "_Arg" and (
                node.opdef is None or node.opdef.is_stateful or _writes(node) or
                _callee(node) is not None or any(_is_func(v) for v in node.attr.values()))
            effects[j] = own or any(effects[d] for d in deps)
        return effects[i]

    for node in body.nodes:
        if node.controls:
            node.controls = [c for c in node.controls if has_effects(c)]
    body.control_rets = [c for c in body.control_rets if has_effects(c)]


def _bypass(body: Body, users: _Users, node: Node, forward: dict[Ref, Ref]) -> None:
    i = node.index
    if any(r[0] == i and r not in forward for r in body.rets):
        return  # an output index the node does not have: left for the run to report
    readers = users.of(i)
    for u in readers:
        if any(r[0] == i and r not in forward for r in body.nodes[u].inputs):
            return
    waits = list(dict.fromkeys(node.controls + [s for s, _ in node.inputs]))
    for u in readers:
        other = body.nodes[u]
        users.drop(other)
        reads = any(r[0] == i for r in other.inputs)
        waited = i in other.controls
        other.inputs = [forward.get(r, r) for r in other.inputs]
        controls = [c for c in other.controls if c != i]
        controls += waits if waited else node.controls if reads else []
        other.controls = list(dict.fromkeys(c for c in controls if c != u))
        users.add(other)
    if any(r[0] == i for r in body.rets):
        body.rets = [forward.get(r, r) for r in body.rets]
        body.control_rets = list(dict.fromkeys(body.control_rets + node.controls))
    if i in body.control_rets:
        body.control_rets = list(dict.fromkeys(
            [c for c in body.control_rets if c != i] + waits))
    users.drop(node)
    node.inputs, node.controls = [], []  # nothing reads it any more: dropped at the end


# -- loops --------------------------------------------------------------------------------------

_WHILES = frozenset({"While", "StatelessWhile"})


def _passes_through(fb: Body, k: int) -> bool:
    """Whether function body ``fb`` returns its arg ``k`` unchanged as output ``k``."""
    if k >= len(fb.rets):
        return False
    i, o = fb.rets[k]
    seen = 0
    while fb.nodes[i].op in _IDENTITIES and fb.nodes[i].inputs and seen < 10_000:
        i, o = fb.nodes[i].inputs[0]
        seen += 1
    return i == k and o == 0


def _while_loops(body: Body, env: Env,
                 session: Session) -> Iterator[tuple[Node, FuncRef, FuncRef, Body]]:
    """Each While the passes may rewrite, with its cond, its body and the body's program."""
    for node in list(body.nodes):
        if node.op not in _WHILES or node.index in env.keep:
            continue
        cond, loop = node.attr.get("cond"), node.attr.get("body")
        if not isinstance(cond, FuncRef) or not isinstance(loop, FuncRef):
            continue
        try:
            fb = session.function(loop.name, node.where)
        except SavedModelError:
            continue
        yield node, cond, loop, fb


def specialize_loops(body: Body, env: Env) -> None:
    """While loops whose body passes a constant input through unchanged (weights, variable
    handles) call versions of their cond and body with that value folded in
    (:meth:`Session.specialize`), so the passes see the weights inside the loop too."""
    session = env.session
    if session is None:
        return
    for node, cond, loop, fb in _while_loops(body, env, session):
        known = {k: _const_value(body, r) for k, r in enumerate(node.inputs)
                 if body.nodes[r[0]].op == "Const" and _passes_through(fb, k)}
        known = {k: v for k, v in known.items() if v is not None}
        if known:
            node.attr = dict(node.attr)
            node.attr["body"] = FuncRef(session.specialize(loop.name, known), loop.attr)
            node.attr["cond"] = FuncRef(session.specialize(cond.name, known), cond.attr)


def fuse_rnn_loops(body: Body, env: Env) -> None:
    """While loops that are Keras LSTM / GRU layers become one _KerasLSTM / _KerasGRU node."""
    session = env.session
    if session is None:
        return
    written = _written(body, env)
    ctx = Context(session, None, session.budget)
    if env.meter is not None:
        ctx.meter = env.meter  # the trial runs are charged to the run being optimised
    for node, cond, loop, fb in _while_loops(body, env, session):
        if len(fb.rets) != len(node.inputs) or not _side_effect_free([cond.name, loop.name], session):
            continue  # the trial runs must change nothing (variables, prints, random states...)
        env.clock(node)
        slots = _loop_slots(body, node, fb, ctx, written, env)

        def call(fname: str, args: list[Any], where: str = node.where) -> list[Any]:
            return ctx.call(fname, args, where)

        layer = recognise(call, cond.name, loop.name, slots, limits=True)
        if layer is None:
            continue
        weights = [_const(body, f"{node.name}/{part}", value, node.origins)
                   for part, value in (("kernel", layer.w), ("recurrent_kernel", layer.u), ("bias", layer.b))]
        attr = {"cond": cond, "body": loop, "steps": layer.steps, "inputs": layer.inputs,
                "output": layer.output, "sequence": layer.sequence, "h": layer.h, "c": layer.c,
                "counters": list(layer.counters), "limits": list(layer.limits)}
        fused = _new_node(body, node.name, rnn_ops.KERAS_LAYERS[layer.kind].op, attr,
                          list(node.inputs) + [(c.index, 0) for c in weights], node.origins,
                          index=node.index, controls=node.controls)
        fused.kernel = rnn_ops.KERAS_LAYERS[layer.kind]  # not a registered op: bound here only


def _side_effect_free(functions: list[str], session: Session) -> bool:
    """Whether library ``functions`` and those they call hold only stateless ops and reads."""
    for fb in _reachable(functions, session):
        if fb is None:
            return False
        for n in fb.nodes:
            if not _called_functions(n) and n.op != "_Arg" and n.op not in _READS \
                    and (n.opdef is None or n.opdef.is_stateful):
                return False
    return True


def _loop_slots(body: Body, node: Node, fb: Body, ctx: Context, written: frozenset[str] | None,
                env: Env) -> list[Slot]:
    """The While's loop variables as :func:`~savedmodel_io.graph.rnn_loops.recognise` sees them."""
    types = list(node.attr.get("T") or [])
    shapes = list(node.attr.get("output_shapes") or [])
    slots = []
    for k, ref in enumerate(node.inputs):
        value = _const_value(body, ref)
        array = None
        if isinstance(value, Handle):
            array = _variable_value(value, node, ctx, written, env)
        elif isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
        dt = types[k] if k < len(types) else None
        shape = shapes[k] if k < len(shapes) else None
        try:
            npdt = dtypes.numpy_or_none(dt) if dt is not None else None
        except SavedModelError:
            npdt = None  # ml_dtypes types without ml_dtypes: not a float32 state
        slots.append(Slot(_passes_through(fb, k), value, array if isinstance(array, np.ndarray) else None,
                          dt == DataType.DT_VARIANT, npdt, len(shape) if shape is not None else None))
    return slots


# -- batch norm -------------------------------------------------------------------------------

_BATCH_NORMS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})


def _const_value(body: Body, ref: Ref) -> Any:
    """The value of a Const node's output, or None."""
    node = body.nodes[ref[0]]
    return node.attr.get("value") if node.op == "Const" and ref[1] == 0 else None


def _const_list(body: Body, ref: Ref) -> list[Any] | None:
    """A Const's values as a flat list (axes, indices, shape vectors), or None."""
    v = _const_value(body, ref)
    return None if v is None else np.asarray(v).reshape(-1).tolist()


def fold_batch_norms(body: Body, env: Env) -> None:
    """Inference FusedBatchNorm* with constant statistics -> Mul and AddV2 by per-channel constants.

    y = x * s + t with s = scale / sqrt(variance + epsilon), t = offset - mean * s
    (tensorflow/tensorflow tensorflow/core/kernels/fused_batch_norm_op.cc, inference branch).
    """
    used_outputs: dict[int, set[int]] = {}
    for node in body.nodes:
        for s, o in node.inputs:
            used_outputs.setdefault(s, set()).add(o)
    for s, o in body.rets:
        used_outputs.setdefault(s, set()).add(o)
    for node in list(body.nodes):
        if node.op not in _BATCH_NORMS or node.index in env.keep or node.attr.get("is_training"):
            continue
        if used_outputs.get(node.index, set()) != {0}:
            continue  # the batch statistics outputs are read (or nothing is)
        params = [_const_value(body, r) for r in node.inputs[1:5]]
        if len(params) != 4 or any(not isinstance(p, np.ndarray) or p.ndim != 1 for p in params):
            continue
        scale, offset, mean, var = (p.astype(np.float32) for p in params)
        if not scale.shape == offset.shape == mean.shape == var.shape:
            continue
        fmt = node.attr.get("data_format", b"NHWC")
        fmt = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else str(fmt)
        if fmt not in ("NHWC", "NCHW"):
            continue
        s = scale / np.sqrt(var + np.float32(node.attr.get("epsilon", 1e-3)))
        t = offset - mean * s
        if fmt == "NCHW":
            s, t = s.reshape(-1, 1, 1), t.reshape(-1, 1, 1)
        dt = node.attr.get("T")
        if dt is not None and dt != DataType.DT_FLOAT:
            continue  # half / bfloat16 inputs: TF computes in float32 and casts back
        origin = node.origins
        sc = _const(body, f"{node.name}/scale", s.astype(np.float32), origin)
        sh = _const(body, f"{node.name}/shift", t.astype(np.float32), origin)
        mul = _new_node(body, f"{node.name}/mul", "Mul", {"T": DataType.DT_FLOAT},
                        [node.inputs[0], (sc.index, 0)], origin, controls=node.controls)
        _new_node(body, node.name, "AddV2", {"T": DataType.DT_FLOAT},
                  [(mul.index, 0), (sh.index, 0)], origin, index=node.index)


# -- fusion -----------------------------------------------------------------------------------

_FUSED = {"Conv2D": "_FusedConv2D", "DepthwiseConv2dNative": "_FusedDepthwiseConv2dNative",
          "MatMul": "_FusedMatMul", "BatchMatMulV2": "_MklFusedBatchMatMulV2"}
_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Tanh"})
_ADDS = frozenset({"Add", "AddV2"})


@dataclass
class _Chain:
    """What a producer absorbs: weight scale, bias, residual input, activation."""

    producer: Node
    cout: int
    weights: np.ndarray | None  # the constant filter / matrix, when known
    scale: np.ndarray | None = None
    bias: np.ndarray | None = None
    bias_ref: Ref | None = None  # a non-constant bias (BiasAdd of a computed vector)
    residual: Ref | None = None
    activation: tuple[str, float] | None = None  # fused_ops name, LeakyRelu's alpha
    nodes: list[Node] = field(default_factory=list)


def _channel_vector(c: Any, cout: int) -> np.ndarray | None:
    """A constant that broadcasts along the last (channel) axis only, as a (cout,) float vector."""
    if not isinstance(c, np.ndarray) or c.dtype.kind != "f":
        return None
    if c.size == 1:
        return np.full(cout, c.reshape(()), dtype=c.dtype)
    if c.shape[-1:] == (cout,) and all(d == 1 for d in c.shape[:-1]):
        return c.reshape(cout)
    return None


def _single_use(body: Body, users: _Users, node: Node, env: Env) -> Node | None:
    """The one node reading ``node``'s only used output 0, if that is all that reads it."""
    uses = users.data.get(node.index, [])
    if len(uses) != 1 or node.index in env.keep or any(r[0] == node.index for r in body.rets):
        return None
    user = body.nodes[uses[0][0]]
    if any(r[0] == node.index and r[1] != 0 for r in user.inputs):
        return None
    if users.waits.get(node.index) or node.index in body.control_rets:
        return None
    return user


def _chain(body: Body, users: _Users, producer: Node, env: Env) -> _Chain | None:
    """What ``producer`` can absorb, walking its single-use consumers."""
    w = _const_value(body, producer.inputs[1]) if len(producer.inputs) > 1 else None
    cout = _out_channels(body, producer)
    if cout is None:
        if producer.op == "MatMul":
            return _chain_without_weights(body, users, producer, env)
        return None
    ch = _Chain(producer, cout, w if w is not None and w.dtype.kind == "f" else None)
    cur = producer
    while True:
        if _activation(body, users, cur, env, ch):
            break
        user = _single_use(body, users, cur, env)
        if user is None:
            break
        other = [r for r in user.inputs if r[0] != cur.index]
        if any(r[0] == cur.index and r[1] != 0 for r in user.inputs) or len(other) > 1:
            break
        c = _const_value(body, other[0]) if other else None
        vec = _channel_vector(c, cout) if c is not None else None
        if user.op in ("BiasAdd", "BiasAddV1") and user.inputs[0][0] == cur.index and \
                user.attr.get("data_format", b"NHWC") in (b"NHWC", "NHWC"):
            if vec is not None and ch.bias_ref is None:
                # after a residual add too: (p + r) + b = (p + b) + r up to rounding
                ch.bias = vec if ch.bias is None else ch.bias + vec
            elif c is None and ch.bias is None and ch.residual is None and ch.bias_ref is None:
                ch.bias_ref = other[0]
            else:
                break
        elif user.op in _ADDS and vec is not None and ch.bias_ref is None:
            ch.bias = vec if ch.bias is None else ch.bias + vec
        elif user.op == "Sub" and vec is not None and user.inputs[0][0] == cur.index and \
                ch.residual is None and ch.bias_ref is None:
            ch.bias = -vec if ch.bias is None else ch.bias - vec
        elif user.op in ("Mul", "RealDiv") and vec is not None and ch.weights is not None and \
                ch.residual is None and ch.bias_ref is None and \
                (user.op == "Mul" or user.inputs[0][0] == cur.index):
            f = vec if user.op == "Mul" else np.float32(1) / vec
            ch.scale = f if ch.scale is None else ch.scale * f
            if ch.bias is not None:
                ch.bias = ch.bias * f
        elif user.op in _ADDS and c is None and other and ch.residual is None:
            ch.residual = other[0]
        else:
            break
        ch.nodes.append(user)
        cur = user
    return ch if ch.nodes else None


def _activation(body: Body, users: _Users, node: Node, env: Env, ch: _Chain) -> bool:
    """Add the activation reading ``node`` (one op, or the nodes of an exact GELU) to ``ch``."""
    gelu = _gelu(body, users, node, env)
    if gelu is not None:
        ch.activation = ("GeluExact", 0.0)
        ch.nodes.extend(gelu)
        return True
    user = _single_use(body, users, node, env)
    if user is None or user.op not in _ACTIVATIONS:
        return False
    ch.activation = (user.op, float(user.attr.get("alpha", 0.2)))
    ch.nodes.append(user)
    return True


def _chain_without_weights(body: Body, users: _Users, producer: Node, env: Env) -> _Chain | None:
    """A MatMul with computed weights: only a BiasAdd and an activation can follow it in."""
    ch = _Chain(producer, 0, None)
    user = _single_use(body, users, producer, env)
    if user is not None and user.op in ("BiasAdd", "BiasAddV1") and \
            user.inputs[0][0] == producer.index:
        ch.bias_ref = user.inputs[1]
        ch.nodes.append(user)
        _activation(body, users, user, env, ch)
    return ch if ch.nodes else None


def _near(value: Any, want: float) -> bool:
    """Whether a constant is the scalar ``want`` (to float32 precision)."""
    return isinstance(value, (np.ndarray, np.generic)) and np.size(value) == 1 and \
        value.dtype.kind == "f" and abs(float(np.reshape(value, ())) - want) <= 1e-6 * abs(want)


def _gelu(body: Body, users: _Users, x: Node, env: Env) -> list[Node] | None:
    """The nodes of the exact GELU TensorFlow builds on ``x`` (tf.nn.gelu, Keras' "gelu"):
    0.5 * x * erfc(-x * (1 / sqrt 2)), output node last; None if that is not what reads ``x``."""
    readers = [body.nodes[u] for u, _ in users.data.get(x.index, [])]
    if len(readers) != 2 or x.index in env.keep or any(r[0] == x.index for r in body.rets) or \
            users.waits.get(x.index):
        return None
    half = next((n for n in readers if n.op == "Mul"), None)
    neg = next((n for n in readers if n.op == "Neg"), None)
    if half is None or neg is None or any(r[1] != 0 for r in half.inputs + neg.inputs
                                          if r[0] == x.index):
        return None
    if not any(_near(_const_value(body, r), 0.5) for r in half.inputs if r[0] != x.index):
        return None
    scaled = _single_use(body, users, neg, env)
    if scaled is None or not (
            scaled.op == "Mul" and any(_near(_const_value(body, r), 0.7071067811865476)
                                       for r in scaled.inputs if r[0] != neg.index) or
            scaled.op == "RealDiv" and scaled.inputs[0][0] == neg.index and
            _near(_const_value(body, scaled.inputs[1]), 1.4142135623730951)):
        return None
    erfc = _single_use(body, users, scaled, env)
    out = _single_use(body, users, erfc, env) if erfc is not None and erfc.op == "Erfc" else None
    if out is None or erfc is None or out.op != "Mul" or \
            _single_use(body, users, half, env) is not out or \
            sorted(r[0] for r in out.inputs) != sorted([half.index, erfc.index]):
        return None
    return [half, neg, scaled, erfc, out]


def _out_channels(body: Body, node: Node) -> int | None:
    """How many channels (last-axis size) a MatMul / convolution with constant weights makes."""
    w = _const_value(body, node.inputs[1]) if len(node.inputs) > 1 else None
    if not isinstance(w, np.ndarray):
        return None
    if node.op == "MatMul" and w.ndim == 2:
        return int(w.shape[0] if node.attr.get("transpose_b") else w.shape[1])
    if node.op == "BatchMatMulV2" and w.ndim == 2 and not node.attr.get("adj_x") and \
            not node.attr.get("adj_y"):  # x (..., K) times one (K, N) matrix: a dense layer
        return int(w.shape[1])
    if node.op in ("Conv2D", "DepthwiseConv2dNative") and w.ndim == 4 and \
            node.attr.get("data_format", b"NHWC") in (b"NHWC", "NHWC"):
        return int(w.shape[3] if node.op == "Conv2D" else w.shape[2] * w.shape[3])
    return None


def _channel_block(body: Body, shape: Ref, cout: int) -> tuple[int, ...] | None:
    """The trailing dims of a Reshape's target shape that hold the ``cout`` channels (product
    ``cout``; (cout,) when the channel axis stays), if the shape is known that far: a Const,
    or a ConcatV2 / Pack ending in constants (the Tensordot pattern of Keras' Dense)."""
    v = _const_value(body, shape)
    if v is None:
        node = body.nodes[shape[0]]
        last = node.inputs[-2] if node.op == "ConcatV2" and len(node.inputs) > 1 else \
            node.inputs[-1] if node.op == "Pack" and node.inputs else None
        v = _const_value(body, last) if last is not None else None
    if not isinstance(v, np.ndarray) or v.dtype.kind not in "iu" or v.size == 0:
        return None
    dims: list[int] = []
    n = 1
    for d in reversed(v.reshape(-1).tolist()):
        if d <= 0 or n * d > cout:
            return None
        dims.insert(0, int(d))
        n *= d
        if n == cout:
            return tuple(dims)
    return None


def _block_vector(c: Any, block: tuple[int, ...]) -> np.ndarray | None:
    """A float constant that broadcasts only over the channel block, as a flat (cout,) vector."""
    if not isinstance(c, np.ndarray) or c.dtype.kind != "f":
        return None
    lead = 0
    while lead < c.ndim - len(block) and c.shape[lead] == 1:
        lead += 1
    core = c.reshape(c.shape[lead:])
    if core.ndim > len(block):
        return None
    try:
        return np.broadcast_to(core, block).reshape(-1)
    except ValueError:
        return None


def sink_reshapes(body: Body, env: Env) -> None:
    """Move a Reshape that keeps the channels together (the last axis, or split into trailing
    axes) below the bias, per-channel affine ops and activation that follow it, so they meet
    the matmul / convolution before it and fuse: Keras' Dense on 3-D and 4-D inputs (MatMul,
    Reshape, BiasAdd, GELU) and EinsumDense (BatchMatMulV2, Reshape to heads, Add). Channel-
    wise ops commute with such a reshape once their constants are flattened the same way."""
    users = _Users(body)
    for i in _topo(body):
        r = body.nodes[i]
        if r.op != "Reshape" or i in env.keep or len(r.inputs) != 2:
            continue
        src = body.nodes[r.inputs[0][0]]
        cout = _out_channels(body, src) if src.op in _FUSED else None
        if cout is None or r.inputs[0][1] != 0 or _single_use(body, users, src, env) is not r:
            continue
        block = _channel_block(body, r.inputs[1], cout)
        if block is None:
            continue
        moved: list[tuple[Node, np.ndarray | None]] = []
        cur = r
        while True:
            gelu = _gelu(body, users, cur, env)
            if gelu is not None:
                moved.extend((n, None) for n in gelu)
                cur = gelu[-1]
                continue
            user = _single_use(body, users, cur, env)
            if user is None:
                break
            other = [x for x in user.inputs if x[0] != cur.index]
            vec = _block_vector(_const_value(body, other[0]), block) if len(other) == 1 else None
            first = user.inputs[0][0] == cur.index
            if user.op in _ACTIVATIONS or vec is not None and (
                    user.op in ("BiasAdd", "Sub", "RealDiv") and first or
                    user.op in ("Mul", "Add", "AddV2")):
                moved.append((user, vec))
                cur = user
            else:
                break
        if moved:
            _sink(body, users, r, moved)


def _sink(body: Body, users: _Users, r: Node, moved: list[tuple[Node, np.ndarray | None]]) -> None:
    """Rewire the ``moved`` nodes (reading ``r``'s output, in order; each with its constant
    flattened to the channels) to run before Reshape ``r``."""
    last = moved[-1][0]
    readers = [body.nodes[u] for u in users.of(last.index)]
    rets = [k for k, x in enumerate(body.rets) if x == (last.index, 0)]
    nodes = [n for n, _ in moved]
    for n in (*nodes, r, *readers):
        users.drop(n)
    for n, vec in moved:
        n.inputs = [r.inputs[0] if x == (r.index, 0) else x for x in n.inputs]
        if vec is not None:
            c = next(k for k, x in enumerate(n.inputs) if body.nodes[x[0]].op == "Const")
            n.inputs[c] = (_const(body, f"{n.name}/channels", vec, n.origins).index, 0)
    for n in readers:
        n.inputs = [(r.index, 0) if x == (last.index, 0) else x for x in n.inputs]
        n.controls = [r.index if c == last.index else c for c in n.controls]
    for k in rets:
        body.rets[k] = (r.index, 0)
    r.inputs = [(last.index, 0), r.inputs[1]]
    for n in (*nodes, r, *readers):
        users.add(n)


def fuse_ops(body: Body, env: Env) -> None:
    """Convolutions and matmuls absorb the per-channel affine ops, bias, residual add and
    activation that follow them, as TensorFlow's _Fused* ops."""
    users = _Users(body)
    for node in _topo(body):
        producer = body.nodes[node]
        if producer.op not in _FUSED or producer.index in env.keep:
            continue
        if producer.attr.get("T", DataType.DT_FLOAT) not in (DataType.DT_FLOAT, DataType.DT_DOUBLE):
            continue
        ch = _chain(body, users, producer, env)
        if ch is not None:
            for n in [ch.producer, *ch.nodes]:
                users.drop(n)
            users.add(_fuse(body, ch))


def _fuse(body: Body, ch: _Chain) -> Node:
    p = ch.producer
    last = ch.nodes[-1]
    origin = p.origins + tuple(o for n in ch.nodes for o in n.origins)
    inputs = list(p.inputs[:2])
    if ch.scale is not None:
        w = ch.weights
        assert w is not None  # a scale is only taken on known weights
        if p.op == "Conv2D":
            w = w * ch.scale.astype(w.dtype)
        elif p.op == "DepthwiseConv2dNative":
            w = w * ch.scale.astype(w.dtype).reshape(w.shape[2], w.shape[3])
        elif p.attr.get("transpose_b"):
            w = w * ch.scale.astype(w.dtype)[:, None]
        else:
            w = w * ch.scale.astype(w.dtype)
        inputs[1] = (_const(body, f"{p.name}/folded_filter", w, p.origins).index, 0)
    fused_ops: list[bytes] = []
    if ch.bias is not None or ch.bias_ref is not None or ch.residual is not None or ch.activation:
        fused_ops.append(b"BiasAdd")
        if ch.bias_ref is not None:
            inputs.append(ch.bias_ref)
        else:
            bias = ch.bias if ch.bias is not None else np.zeros(ch.cout, np.float32)
            dt = ch.weights.dtype if ch.weights is not None else np.float32
            folded = _const(body, f"{p.name}/folded_bias", bias.astype(dt), p.origins)
            inputs.append((folded.index, 0))
    if ch.residual is not None:
        fused_ops.append(b"Add")
        inputs.append(ch.residual)
    attr = dict(p.attr)
    if ch.activation is not None:
        fused_ops.append(ch.activation[0].encode())
        if ch.activation[0] == "LeakyRelu":
            attr["leakyrelu_alpha"] = ch.activation[1]
    controls = list(dict.fromkeys(p.controls + [c for n in ch.nodes for c in n.controls]))
    for n in [p, *ch.nodes[:-1]]:  # read only inside the chain: disconnected, then dropped
        n.inputs, n.controls = [], []
    if not fused_ops:  # only a scale folded in: the plain op on the new weights
        return _new_node(body, last.name, p.op, attr, inputs, origin, index=last.index,
                         controls=controls)
    attr["fused_ops"] = fused_ops
    attr["num_args"] = len(inputs) - 2
    if p.op != "BatchMatMulV2":  # _MklFusedBatchMatMulV2's args share T
        attr["TArgs"] = [attr.get("T", DataType.DT_FLOAT)] * (len(inputs) - 2)
    return _new_node(body, last.name, _FUSED[p.op], attr, inputs, origin, index=last.index,
                     controls=controls)


# -- layer norm ---------------------------------------------------------------------------------

def _reader(body: Body, users: _Users, node: Node, op: str, env: Env,
            other: Callable[[Ref], bool] | None = None) -> Node | None:
    """The one node of type ``op`` reading ``node`` (its other input passing ``other``)."""
    found = [body.nodes[u] for u, _ in users.data.get(node.index, []) if body.nodes[u].op == op]
    if len(found) != 1 or node.index in env.keep:
        return None
    n = found[0]
    rest = [r for r in n.inputs if r[0] != node.index]
    if other is not None and not (len(rest) == 1 and other(rest[0])):
        return None
    return n


def fuse_layer_norms(body: Body, env: Env) -> None:
    """Keras' LayerNormalization over the last axis (moments, rsqrt, scale and centre as 11
    element-wise ops) -> one ``_MklLayerNorm`` (TensorFlow's fused op: x, scale, offset,
    epsilon), which normalises in one pass per row block."""
    users = _Users(body)
    for i in _topo(body):
        mean = body.nodes[i]
        axes = _const_list(body, mean.inputs[1]) if mean.op == "Mean" and \
            len(mean.inputs) == 2 else None
        if axes != [-1] or not mean.attr.get("keep_dims") or i in env.keep:
            continue
        x = mean.inputs[0]
        found = _layer_norm_at(body, users, mean, x, env)
        if found is None:
            continue
        nodes, eps, gamma, beta, out = found
        c = (gamma if gamma is not None else beta).shape[-1] if gamma is not None or \
            beta is not None else None
        if c is None:
            continue
        dt = gamma.dtype if gamma is not None else beta.dtype
        g = _const(body, f"{out.name}/scale", (gamma if gamma is not None else
                                               np.ones(c, dt)).reshape(c), out.origins)
        b = _const(body, f"{out.name}/offset", (beta if beta is not None else
                                                np.zeros(c, dt)).reshape(c), out.origins)
        for n in nodes:
            users.drop(n)
        origin = tuple(o for n in nodes for o in n.origins)
        fused = _new_node(body, out.name, "_MklLayerNorm",
                          {"T": out.attr.get("T", DataType.DT_FLOAT), "epsilon": eps},
                          [x, (g.index, 0), (b.index, 0)], origin, index=out.index,
                          controls=[c for n in nodes for c in n.controls])
        for n in nodes[:-1]:
            n.inputs, n.controls = [], []
        users.add(fused)


def _layer_norm_at(body: Body, users: _Users, mean: Node, x: Ref, env: Env
                   ) -> tuple[list[Node], float, Any, Any, Node] | None:
    """(nodes, epsilon, gamma, beta, output) of the layer norm whose mean is ``mean``, or None."""
    def vector(r: Ref) -> bool:
        v = _const_value(body, r)
        return isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.ndim >= 1 and \
            all(d == 1 for d in v.shape[:-1])

    def is_x(r: Ref) -> bool:
        return r == x

    def is_eps(r: Ref) -> bool:
        v = _const_value(body, r)
        return isinstance(v, (np.ndarray, np.generic)) and np.size(v) == 1

    sqd = _reader(body, users, mean, "SquaredDifference", env, is_x)
    neg = _reader(body, users, mean, "Neg", env)
    if sqd is None or neg is None or len(users.data.get(mean.index, [])) != 2:
        return None
    var = _single_use(body, users, sqd, env)
    if var is None or var.op != "Mean" or var.inputs[0][0] != sqd.index or \
            _const_list(body, var.inputs[1]) != [-1]:
        return None
    add = _single_use(body, users, var, env)
    if add is None or add.op not in _ADDS or not any(is_eps(r) for r in add.inputs):
        return None
    eps = float(np.reshape(next(_const_value(body, r) for r in add.inputs if is_eps(r)), ()))
    rs = _single_use(body, users, add, env)
    if rs is None or rs.op != "Rsqrt":
        return None
    inv, gamma, nodes = rs, None, [mean, sqd, var, add, rs]
    scaled = _single_use(body, users, rs, env)
    if scaled is not None and scaled.op == "Mul" and any(vector(r) for r in scaled.inputs):
        gamma = next(_const_value(body, r) for r in scaled.inputs if vector(r))
        inv = scaled
        nodes.append(scaled)
    readers = [body.nodes[u] for u, _ in users.data.get(inv.index, [])]
    mul_x = next((n for n in readers if n.op == "Mul" and x in n.inputs), None)
    mul_m = next((n for n in readers if n.op == "Mul" and (neg.index, 0) in n.inputs), None)
    if len(readers) != 2 or mul_x is None or mul_m is None or \
            _single_use(body, users, neg, env) is not mul_m:
        return None
    nodes += [neg, mul_x, mul_m]
    centre, beta = mul_m, None
    shift = _single_use(body, users, mul_m, env)
    if shift is not None and shift.op in _ADDS and any(vector(r) for r in shift.inputs):
        beta = next(_const_value(body, r) for r in shift.inputs if vector(r))
        centre = shift
        nodes.append(shift)
    out = _single_use(body, users, centre, env)
    if out is None or out.op not in _ADDS or \
            sorted(r[0] for r in out.inputs) != sorted([mul_x.index, centre.index]) or \
            _single_use(body, users, mul_x, env) is not out:
        return None
    if gamma is not None and beta is not None and gamma.shape[-1] != beta.shape[-1]:
        return None
    return nodes + [out], eps, gamma, beta, out


# -- tensordot -----------------------------------------------------------------------------------

def tensordot_as_matmul(body: Body, env: Env) -> None:
    """``tf.tensordot`` over the last axis of an input of unknown batch size (Keras' Dense on
    3-D and higher inputs) -> one BatchMatMulV2 by the (K, N) weights. TensorFlow builds it as
    Shape, two GatherV2 and two Prod to flatten the input to (rows, K), the MatMul, then a
    ConcatV2 to restore the leading dimensions: nine nodes per layer that only move shapes
    (about half of a BERT encoder's nodes). BatchMatMulV2 broadcasts the matrix over the
    leading dimensions, which is the same product; later passes fuse its bias and activation."""
    users = _Users(body)
    for node in _topo(body):
        r2 = body.nodes[node]
        m = _tensordot(body, users, r2, env)
        if m is None:
            continue
        mm, x, w_ref, chain, rank = m
        # _input_rank: the rank read from the recorded shapes, checked by the kernel at run time
        attr = {"T": mm.attr.get("T", DataType.DT_FLOAT), "adj_x": False, "adj_y": False,
                "_input_rank": rank}
        origin = tuple(o for n in chain for o in n.origins)
        for n in chain:
            users.drop(n)
        bmm = _new_node(body, r2.name, "BatchMatMulV2", attr, [x, w_ref], origin,
                        index=r2.index, controls=r2.controls)
        users.add(bmm)
        for n in chain[:-1]:  # read only inside the pattern (checked): dropped with it
            n.inputs, n.controls = [], []


def _tensordot(body: Body, users: _Users, r2: Node, env: Env
               ) -> tuple[Node, Ref, Ref, list[Node], int] | None:
    """(matmul, input, weights, [reshape in, matmul, reshape out], input rank) when ``r2`` ends
    the pattern ``tensordot_as_matmul`` rewrites, else None.

    The pattern: r1 = Reshape(x, (rows, K)), the MatMul by (K, N) weights, r2 = Reshape(product,
    ConcatV2(x's leading dimensions, [N], 0)). (rows, K) is Pack(Prod(GatherV2(Shape(x), free)),
    Prod(GatherV2(Shape(x), [rank - 1]))) as tf.tensordot builds it, or the constant [-1, K];
    the leading dimensions are GatherV2(Shape(x), [0 .. rank - 2]) or Slice(Shape(x), [0],
    [rank - 1])."""
    if r2.op != "Reshape" or len(r2.inputs) != 2 or r2.index in env.keep:
        return None
    mm = body.nodes[r2.inputs[0][0]]
    if mm.op != "MatMul" or r2.inputs[0][1] != 0 or len(mm.inputs) != 2 or mm.controls:
        return None
    if mm.attr.get("transpose_a") or mm.attr.get("transpose_b"):
        return None
    if _single_use(body, users, mm, env) is not r2:
        return None
    w = _const_value(body, mm.inputs[1])
    r1 = body.nodes[mm.inputs[0][0]]
    if not isinstance(w, np.ndarray) or w.ndim != 2 or r1.op != "Reshape" or r1.controls:
        return None
    if mm.inputs[0][1] != 0 or _single_use(body, users, r1, env) is not mm or len(r1.inputs) != 2:
        return None
    x = r1.inputs[0]
    cat = body.nodes[r2.inputs[1][0]]
    if cat.op != "ConcatV2" or len(cat.inputs) != 3 or r2.inputs[1][1] != 0:
        return None
    if _const_list(body, cat.inputs[2]) != [0] or _const_list(body, cat.inputs[1]) != [w.shape[1]]:
        return None
    lead = _leading_dims(body, cat.inputs[0])
    if lead is None or lead[0].inputs[0] != x:
        return None
    rank = _static_rank(body, lead[0])
    if rank is None or rank != lead[1] + 1 or not _flattens(body, r1.inputs[1], x, rank, w):
        return None
    return mm, x, mm.inputs[1], [r1, mm, r2], rank


def _flattens(body: Body, target: Ref, x: Ref, rank: int, w: np.ndarray) -> bool:
    """Whether Reshape target ``target`` flattens rank-``rank`` tensor ``x`` to (rows, K)."""
    if _const_list(body, target) == [-1, w.shape[0]]:
        return True
    pack = body.nodes[target[0]]
    if pack.op != "Pack" or target[1] != 0 or len(pack.inputs) != 2 or pack.attr.get("axis", 0):
        return False
    rows, cols = (_prod_of_gather(body, ref) for ref in pack.inputs)
    return rows is not None and cols is not None and rows[1] == list(range(rank - 1)) and \
        cols[1] == [rank - 1] and rows[2].inputs[0] == x and cols[2].inputs[0] == x


def _shape_of(body: Body, ref: Ref) -> Node | None:
    """The Shape node whose output ``ref`` is, or None."""
    node = body.nodes[ref[0]]
    return node if node.op == "Shape" and ref[1] == 0 and len(node.inputs) == 1 else None


def _leading_dims(body: Body, ref: Ref) -> tuple[Node, int] | None:
    """(Shape node, count) when ``ref`` is the first ``count`` entries of a Shape:
    GatherV2(Shape(x), [0 .. count - 1], 0) or Slice(Shape(x), [0], [count])."""
    node = body.nodes[ref[0]]
    if ref[1] != 0 or not node.inputs:
        return None
    shape = _shape_of(body, node.inputs[0])
    if shape is None or len(node.inputs) != 3:
        return None
    if node.op == "GatherV2" and not node.attr.get("batch_dims"):
        idx = _const_list(body, node.inputs[1])
        if idx and idx == list(range(len(idx))) and _const_list(body, node.inputs[2]) == [0]:
            return shape, len(idx)
    if node.op == "Slice" and _const_list(body, node.inputs[1]) == [0]:
        size = _const_list(body, node.inputs[2])
        if size is not None and len(size) == 1 and size[0] >= 1:
            return shape, size[0]
    return None


def _prod_of_gather(body: Body, ref: Ref) -> tuple[Ref, list[int], Node] | None:
    """(the GatherV2's output, its constant indices, the Shape node) for ``ref`` =
    Prod(GatherV2(Shape(x), indices, 0), 0)."""
    prod = body.nodes[ref[0]]
    if prod.op != "Prod" or ref[1] != 0 or len(prod.inputs) != 2 or prod.attr.get("keep_dims"):
        return None
    if _const_list(body, prod.inputs[1]) != [0]:
        return None
    gather = body.nodes[prod.inputs[0][0]]
    if gather.op != "GatherV2" or prod.inputs[0][1] != 0 or len(gather.inputs) != 3:
        return None
    if gather.attr.get("batch_dims", 0) != 0:
        return None
    idx = _const_list(body, gather.inputs[1])
    shape = _shape_of(body, gather.inputs[0])
    if idx is None or shape is None or _const_list(body, gather.inputs[2]) != [0]:
        return None
    return prod.inputs[0], idx, shape


def _static_rank(body: Body, shape: Node) -> int | None:
    """The rank of the tensor a Shape node reads, from the graph's recorded shapes (the Shape
    node's own output length, else its input's), or None when the graph does not say."""
    recorded = shape.attr.get("_output_shapes")
    if isinstance(recorded, list) and recorded and isinstance(recorded[0], tuple) \
            and len(recorded[0]) == 1 and isinstance(recorded[0][0], int) and recorded[0][0] >= 0:
        return recorded[0][0]
    src, k = shape.inputs[0]
    recorded = body.nodes[src].attr.get("_output_shapes")
    if isinstance(recorded, list) and k < len(recorded) and isinstance(recorded[k], tuple):
        return len(recorded[k])
    return None


# -- einsum scales -------------------------------------------------------------------------------

def fold_einsum_scales(body: Body, env: Env) -> None:
    """Mul(Einsum(...), scalar constant) -> the Einsum scaling its own new output in place
    (``_scale``): attention multiplies its scores by 1 / sqrt(depth) right after the einsum, a
    node and a new array per layer. Run by the runtime only."""
    users = _Users(body)
    for i in _topo(body):
        mul = body.nodes[i]
        if mul.op != "Mul" or len(mul.inputs) != 2 or i in env.keep:
            continue
        for k in (0, 1):
            ein = body.nodes[mul.inputs[k][0]]
            c = _const_value(body, mul.inputs[1 - k])
            if ein.op != "Einsum" or mul.inputs[k][1] != 0 or ein.index in env.keep or \
                    not isinstance(c, np.ndarray) or c.ndim != 0 or c.dtype.kind != "f" or \
                    ein.attr.get("T") != dtypes.from_numpy(c.dtype) or \
                    _single_use(body, users, ein, env) is not mul:
                continue
            scale = c * ein.attr["_scale"] if "_scale" in ein.attr else c
            users.drop(ein)
            ein.attr = {**ein.attr, "_scale": scale}
            ein.origin = ein.origins + mul.origins
            ein.controls = list(dict.fromkeys(ein.controls + mul.controls))
            users.add(ein)
            _redirect(body, users, (i, 0), (ein.index, 0))
            users.drop(mul)
            mul.inputs, mul.controls = [], []
            break


def fuse_attention(body: Body, env: Env) -> None:
    """Einsum (scores, scaled or not) -> Softmax -> Einsum (context) -> one ``_Attention`` node
    (graph/ops/attention.py): the blocks of heads then run their three steps on one thread while
    the scores are in cache. Only when the scores feed just the softmax and the softmax just the
    context einsum, and the equations have attention's shape. Run by the runtime only."""
    users = _Users(body)
    for i in _topo(body):
        sm = body.nodes[i]
        if sm.op != "Softmax" or i in env.keep or len(sm.inputs) != 1 or sm.inputs[0][1] != 0:
            continue
        sc = body.nodes[sm.inputs[0][0]]
        cx = _single_use(body, users, sm, env)
        t = cx.attr.get("T") if cx is not None else None
        if sc.op != "Einsum" or len(sc.inputs) != 2 or _single_use(body, users, sc, env) is not sm \
                or cx is None or cx.op != "Einsum" or len(cx.inputs) != 2 or cx.index in env.keep \
                or t is None or not sc.attr.get("T") == sm.attr.get("T") == t:
            continue
        scores = attr_str(sc, "equation").replace(" ", "")
        context = attr_str(cx, "equation").replace(" ", "")
        value = cx.inputs[1]
        if cx.inputs[0] != (i, 0):  # the probabilities are the second operand: swap
            lhs, _, out = context.partition("->")
            context = ",".join(reversed(lhs.split(","))) + "->" + out
            value = cx.inputs[0]
        if value == (i, 0) or attention_ops.attention_plan(scores, context) is None:
            continue
        attr = {"T": t, "scores": scores, "context": context}
        attr.update({k: v for k, v in cx.attr.items() if k == "_output_shapes"})
        if "_scale" in sc.attr:
            attr["_scale"] = sc.attr["_scale"]
        for n in (sc, sm, cx):
            users.drop(n)
        fused = _new_node(body, cx.name, "_Attention", attr, [sc.inputs[0], sc.inputs[1], value],
                          sc.origins + sm.origins + cx.origins, index=cx.index,
                          controls=sc.controls + sm.controls + cx.controls)
        fused.kernel = attention_ops.ATTENTION  # not a registered op: bound here only
        users.add(fused)
        for n in (sc, sm):
            n.inputs, n.controls = [], []


# -- sibling matmuls ----------------------------------------------------------------------------

_MATMULS = frozenset({"MatMul", "BatchMatMulV2", "_FusedMatMul", "_MklFusedBatchMatMulV2"})
# Fused steps under which products with the same input can share one GEMM: per-column work
# only (a residual is a different tensor for each).
_COLUMNWISE = frozenset({b"BiasAdd", b"Relu", b"Relu6", b"Elu", b"LeakyRelu", b"Sigmoid", b"Tanh",
                         b"GeluExact", b"GeluApproximate"})


# Merged weights are a copy beside the originals (which the saved graph keeps): matrices past
# this size are left apart, so a large model's memory does not grow by its attention weights.
_MERGE_MAX_BYTES = 1 << 26


def merge_sibling_matmuls(body: Body, env: Env) -> None:
    """Matmuls reading the same input with constant weights (attention's query, key and value
    projections) -> one matmul on the weights side by side, then a SplitV: one GEMM and one
    epilogue pass instead of several, each big enough to share among threads. Run by the
    runtime only (an ONNX graph keeps the separate products: onnxruntime gains nothing)."""
    users = _Users(body)
    groups: dict[tuple[Any, ...], list[Node]] = {}
    for node in body.nodes:
        key = _sibling_key(body, node, env)
        if key is not None:
            groups.setdefault(key, []).append(node)
    for group in groups.values():
        weights = [_const_value(body, n.inputs[1]) for n in group]
        if len(group) > 1 and sum(w.nbytes for w in weights) <= _MERGE_MAX_BYTES:
            _merge(body, users, group, weights)


def _sibling_key(body: Body, node: Node, env: Env) -> tuple[Any, ...] | None:
    """What matmuls must share to merge (op, input, attributes, weight rows), or None."""
    if node.op not in _MATMULS or node.index in env.keep or node.controls:
        return None
    attr = node.attr
    if any(attr.get(k) for k in ("transpose_a", "transpose_b", "adj_x", "adj_y")):
        return None
    fused = tuple(attr.get("fused_ops") or ())
    if not set(fused) <= _COLUMNWISE or len(node.inputs) != 2 + (b"BiasAdd" in fused):
        return None
    w = _const_value(body, node.inputs[1])
    if not isinstance(w, np.ndarray) or w.ndim != 2 or w.dtype.kind != "f":
        return None
    if b"BiasAdd" in fused:
        bias = _const_value(body, node.inputs[2])
        if not isinstance(bias, np.ndarray) or bias.shape != (w.shape[1],) or bias.dtype != w.dtype:
            return None
    if node.index in body.control_rets:
        return None
    same = tuple(sorted((k, repr(v)) for k, v in attr.items() if k != "_output_shapes"))
    return node.op, node.inputs[0], w.shape[0], w.dtype.str, same


def _merge(body: Body, users: _Users, group: list[Node], weights: list[np.ndarray]) -> None:
    """One matmul for ``group`` (its ``weights`` and biases side by side), split back by
    columns."""
    first = group[0]
    origin = tuple(o for n in group for o in n.origins)
    w = np.concatenate(weights, axis=1)
    inputs = [first.inputs[0], (_const(body, f"{first.name}/merged_weights", w, origin).index, 0)]
    if len(first.inputs) == 3:
        b = np.concatenate([_const_value(body, n.inputs[2]) for n in group])
        inputs.append((_const(body, f"{first.name}/merged_bias", b, origin).index, 0))
    attr = {k: v for k, v in first.attr.items() if k != "_output_shapes"}  # shapes change
    merged = _new_node(body, f"{first.name}/merged", first.op, attr, inputs, origin)
    widths = np.asarray([v.shape[1] for v in weights], np.int32)
    sizes = _const(body, f"{first.name}/merged_sizes", widths, origin)
    axis = _const(body, f"{first.name}/merged_axis", np.int32(-1), origin)
    split = _new_node(body, f"{first.name}/merged_split", "SplitV",
                      {"T": first.attr.get("T", DataType.DT_FLOAT), "num_split": len(group),
                       "Tlen": DataType.DT_INT32},
                      [(merged.index, 0), (sizes.index, 0), (axis.index, 0)], origin)
    users.add(merged)
    users.add(split)
    for k, n in enumerate(group):
        waiting = sorted(users.waits.get(n.index, set()))
        _redirect(body, users, (n.index, 0), (split.index, k))
        for u in waiting:  # control edges on a merged product wait for the merged one
            reader = body.nodes[u]
            users.drop(reader)
            reader.controls = [merged.index if c == n.index else c for c in reader.controls]
            users.add(reader)
        users.drop(n)
        n.inputs = []


# -- weight layout ------------------------------------------------------------------------------

def lay_out_weights(body: Body, env: Env) -> None:
    """Let kernels with a ``prepare`` hook lay out their constant inputs once."""
    for node in body.nodes:
        hook = _ops.PREPARE.get(node.op)
        if hook is None or node.index in env.keep:
            continue
        consts = {k: _const_value(body, r) for k, r in enumerate(node.inputs)}
        consts = {k: v for k, v in consts.items() if v is not None}
        if consts:
            node.prepared = hook(node, consts)


DEFAULT_PASSES: tuple[Pass, ...] = (inline_calls, fold_constants, remove_identities,
                                    tensordot_as_matmul, specialize_loops, fuse_rnn_loops,
                                    fold_batch_norms, sink_reshapes, fuse_ops, fuse_layer_norms,
                                    merge_sibling_matmuls, fold_einsum_scales, fuse_attention,
                                    lay_out_weights)
