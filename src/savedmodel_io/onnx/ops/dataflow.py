"""TF1 dataflow control flow: Switch/Merge conds -> ONNX If, Enter/Exit loop frames -> ONNX Loop.

The runtime compiles each top-level TF1 while-loop frame into one ``_DataflowLoop`` node
(graph/frames.py): a sub-body whose arguments are the frame's Enter nodes, its loop Merges
(an entry value and a NextIteration back edge each) and the Exits it hands out. Its parts
are regular (the form ``tf.compat.v1.while_loop`` builds; tensorflow/tensorflow
tensorflow/python/ops/control_flow_ops.py, and tf2onnx's loop_rewriter reads the same
shape):

* the loop variables are the Merges; the condition is the subgraph from the Merges to the
  one ``LoopCond``; every Switch on the LoopCond sends its value into the body (output 1)
  or out through an Exit (output 0); the body runs from those Switch outputs to the
  NextIteration inputs; Enters with ``is_constant`` are loop invariants, read from the
  enclosing ONNX graph;
* ONNX ``Loop`` takes the condition before its first iteration and returns the next one at
  the end of each: the condition subgraph is computed on the entry values outside the Loop
  and on the new values inside it; the Exits are computed after it from the final values.

A TF1 cond (``tf.compat.v1.cond``) puts every value its branches read through a Switch on
the predicate (output 1 into the true branch, output 0 into the false one; constants hang on
a pivot Identity of a Switch by a control edge) and joins each result with a Merge. A Merge
becomes an ONNX ``If`` on the one predicate whose Switches reach its two inputs from
opposite sides (nested conds reach both sides of their own predicates through their own
Merges); each branch computes its input with those Switches passing their value on the
branch's side. A constant predicate takes its side without an If. Dead values never exist
in the ONNX graph: a value read from the untaken side of a Switch is refused.

The walker here replaces the exporter's plain walk on bodies with Switch/Merge nodes and
on loop bodies; every other node is converted by its own converter (``cx.convert``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx

from savedmodel_io.graph import frames
from savedmodel_io.onnx._graph import ExportError, ListInfo, Val
from savedmodel_io.onnx._postorder import post_order
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import NOT_EXPRESSIBLE, STATE, converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import if_node, merged_type, subgraph, truth, typed_outputs

__all__ = ["walk"]

_SWITCHES = frozenset({"Switch", "RefSwitch"})
_MERGES = frozenset({"Merge", "RefMerge"})
_NEXTS = frozenset({"NextIteration", "RefNextIteration"})

# The value on the untaken output of a Switch (never an ONNX value: reading it is refused).
_DEAD = Val(None, None, None, kind="poison")


# What could not be converted (the exporter's poison: what depends on it stays quiet).
POISON = Val(None, None, None, kind="poison")
# Deepest nesting of conds, loops and function calls (as the exporter's limit on calls,
# onnx/_convert.py MAX_DEPTH: each level costs several Python frames).
_MAX_NESTING = 64


class _Dead:
    def __getitem__(self, index: int) -> Val:
        return _DEAD


class _Poisoned:
    def __getitem__(self, index: int) -> Val:
        return POISON


_ALL_POISON = _Poisoned()


class _Scope:
    """Node values known in one place of the ONNX graph, and the Switches whose side is taken there.

    A child scope (an If branch) sees its parent's values (ONNX subgraphs read outer values by
    name); what it computes stays in it.
    """

    def __init__(self, parent: _Scope | None = None, values: Mapping[int, Any] | None = None,
                 sides: dict[int, int] | None = None) -> None:
        self.parent = parent
        self.values: dict[int, Any] = dict(values or {})
        self.sides: dict[int, int] = dict(sides or {})

    def get(self, i: int) -> Any:
        s: _Scope | None = self
        while s is not None:
            v = s.values.get(i)
            if v is not None:
                return v
            s = s.parent
        return None

    def side(self, i: int) -> int | None:
        s: _Scope | None = self
        while s is not None:
            k = s.sides.get(i)
            if k is not None:
                return k
            s = s.parent
        return None


def walk(cx: Any, body: Any, targets: list[tuple[int, int]], bound: Mapping[int, Any],
         controls: Any = ()) -> list[Val]:
    """The exporter's walk for a body with TF1 Switch/Merge nodes."""
    scope = _Scope(None, bound)
    out = _evaluate(cx, body, scope, targets)
    # Nodes only control edges reach (of the outputs' nodes, or the body's): none may change state.
    done = set(scope.values)
    stack = list(controls) + [c for i in done for c in body.nodes[i].controls]
    seen: set[int] = set()
    while stack:
        i = stack.pop()
        if i in seen or i in done or i in bound:
            continue
        seen.add(i)
        cx._check_writes(body.nodes[i], set())
        stack.extend(body.nodes[i].controls)
        stack.extend(s for s, _ in body.nodes[i].inputs)
    return out


def _evaluate(cx: Any, body: Any, scope: _Scope, targets: list[tuple[int, int]]) -> list[Val]:
    """Values of ``targets`` in ``scope``, converting the nodes they need (in the graph ``cx.g``)."""
    order = _order(body, scope, targets)
    for i in order:
        if scope.get(i) is not None:
            continue
        node = body.nodes[i]
        if node.op in _MERGES:
            g = cx.g
            saved = g.hint
            g.hint = node.name
            try:
                out = _nested(cx, lambda: _cond_merge(cx, body, scope, i))
            except ExportError as exc:
                cx.problem(node, str(exc))
                out = _ALL_POISON
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                cx.problem(node, f"cannot be converted ({type(exc).__name__}: {exc})")
                out = _ALL_POISON
            finally:
                g.hint = saved
        elif node.op in _SWITCHES:
            out = _switch(cx, body, scope, i)
        else:
            try:
                ins = [scope.get(s)[o] for s, o in node.inputs]
            except (IndexError, TypeError):
                cx.problem(node, "an input names an output its producer does not have")
                ins = [POISON]
            if any(v is _DEAD for v in ins):
                cx.problem(node, "reads the untaken output of a TF1 Switch (a value that only exists "
                                 "on one side of a cond)")
                out = _ALL_POISON
            else:
                out = cx.convert(node, ins)
        scope.values[i] = out
    result = []
    for s, o in targets:
        try:
            result.append(scope.get(s)[o])
        except (IndexError, TypeError):
            cx.problem(body.nodes[s], f"has no output {o}")
            result.append(POISON)
    return result


def _nested(cx: Any, build: Any) -> Any:
    """``build()`` one level deeper in the exporter's nesting (conds in conds, loops in loops, calls):
    past its limit an ExportError, not a Python recursion error."""
    if cx._depth >= _MAX_NESTING:
        raise ExportError(f"TF1 conds, loops and function calls nest deeper than {_MAX_NESTING}")
    cx._depth += 1
    try:
        return build()
    finally:
        cx._depth -= 1


def _inputs_needed(body: Any, scope: _Scope, i: int) -> list[int]:
    node = body.nodes[i]
    if node.op in _MERGES:
        # A cond's Merge is built as a unit (its branches inside an If): what it needs first is
        # its predicate and the values its Switches take in from outside the cond.
        try:
            p, _, seen, on_p = _plan(body, scope, i)
        except (ExportError, KeyError, IndexError, TypeError, ValueError, AttributeError):
            return []  # reported when the Merge is converted
        return [p[0]] + [body.nodes[s].inputs[0][0] for s in sorted(on_p & seen)]
    if node.op in _SWITCHES and scope.side(i) is not None:
        return [node.inputs[0][0]] if node.inputs else []
    return [s for s, _ in node.inputs]


def _order(body: Any, scope: _Scope, targets: list[tuple[int, int]]) -> list[int]:
    """Post-order of what ``targets`` need that ``scope`` does not know."""
    order: list[int] = []

    def cycle(i: int) -> Exception:
        return ExportError(f"node {body.nodes[i].name!r} is on a cycle the TF1 loop structure does not explain")

    post_order([r for r, _ in targets], lambda i: _inputs_needed(body, scope, i),
               lambda i: scope.get(i) is not None, {}, order, cycle)
    return order


def _switch(cx: Any, body: Any, scope: _Scope, i: int) -> Any:
    """A Switch whose side is taken here (a cond branch, a loop body or its exit), or whose
    predicate is a constant."""
    node = body.nodes[i]
    if len(node.inputs) != 2:
        cx.problem(node, "a Switch needs a value and a predicate")
        return _Dead()
    side = scope.side(i)
    data = scope.get(node.inputs[0][0])[node.inputs[0][1]]
    if side is None:
        pred = scope.get(node.inputs[1][0])[node.inputs[1][1]]
        if not pred.is_const:
            cx.problem(node, "a TF1 Switch whose outputs reach no Merge of a cond (its value exists on "
                             "one side only): no structured form to map to If")
            return _Dead()
        from savedmodel_io.graph.ops.control import _truth

        side = 1 if _truth(node, pred.const) else 0
    return [data, _DEAD] if side == 0 else [_DEAD, data]


def _switch_sides(body: Any, scope: _Scope, start: tuple[int, int], switches: set[int],
                  seen: set[int] | None = None) -> dict[tuple[int, int], set[int]]:
    """For each predicate (a tensor reference), the Switch outputs on it the value ``start``
    depends on (through data and control inputs), as the set of sides (``seen`` collects the
    nodes passed)."""
    found: dict[tuple[int, int], set[int]] = {}
    seen = set() if seen is None else seen
    stack = [start]
    while stack:
        s, o = stack.pop()
        if s in switches and scope.side(s) is None:
            node = body.nodes[s]
            if len(node.inputs) == 2:
                found.setdefault(_canonical(body, node.inputs[1]), set()).add(o)
        if s in seen or scope.get(s) is not None or scope.side(s) is not None:
            continue
        seen.add(s)
        node = body.nodes[s]
        stack.extend(node.inputs)
        # A control edge from a Switch itself carries no side (one of its outputs is always live).
        stack.extend((c, 0) for c in node.controls if c not in switches)
    return found


def _split_by(body: Any, scope: _Scope, i: int, switches: set[int]) -> tuple[tuple[int, int], int, set[int]]:
    """The predicate of cond Merge ``i`` (canonical reference), which input is its true side, and the
    nodes its inputs depend on."""
    node = body.nodes[i]
    if len(node.inputs) != 2:
        raise ExportError(f"a Merge of {len(node.inputs)} inputs (a TF1 cond joins two)")
    seen: set[int] = set()
    sides = [_switch_sides(body, scope, ref, switches, seen) for ref in node.inputs]
    cands = [p for p, k in sides[0].items() if len(k) == 1 and sides[1].get(p) == {1 - next(iter(k))}]
    if len(cands) != 1:
        raise ExportError("no Switch predicate reaches the Merge's two inputs from opposite sides: "
                          "not a TF1 cond the exporter can structure as an If")
    p = cands[0]
    return p, 0 if sides[0][p] == {1} else 1, seen


def _siblings(body: Any, scope: _Scope, i: int, p: tuple[int, int], on_p: set[int], switches: set[int],
              seen: set[int]) -> list[tuple[int, int]]:
    """Other Merges of the cond on ``p`` that Merge ``i`` belongs to (a cond's outputs: one If gives
    them all), with their true sides; none that depends on ``i`` or that ``i`` depends on."""
    users = _users(body)
    found: list[int] = []
    stack = list(on_p)
    reached: set[int] = set(on_p)
    while stack and len(reached) < 100_000:
        for u in users.get(stack.pop(), ()):
            if u in reached:
                continue
            reached.add(u)
            if body.nodes[u].op in _MERGES:
                found.append(u)
            else:
                stack.append(u)
    out = []
    for j in sorted(found):
        if j == i or j in seen or scope.get(j) is not None:
            continue
        try:
            q, true_in, deps = _split_by(body, scope, j, switches)
        except ExportError:
            continue
        if q == p and i not in deps:
            out.append((j, true_in))
    return out


def _users(body: Any) -> dict[int, list[int]]:
    cached = getattr(body, "_onnx_users", None)
    if cached is None:
        cached = {}
        for n in body.nodes:
            for s in {s for s, _ in n.inputs} | set(n.controls):
                cached.setdefault(s, []).append(n.index)
        try:
            body._onnx_users = cached
        except AttributeError:
            pass
    return cached


def _plan(body: Any, scope: _Scope, i: int) -> tuple[tuple[int, int], int, set[int], set[int]]:
    """Cond Merge ``i``'s predicate, true side, the nodes it depends on and the Switches on its
    predicate (worked out once per scope)."""
    cache = scope.__dict__.setdefault("plans", {})
    got = cache.get(i)
    if got is None:
        switches = _switch_nodes(body)
        p, true_in, seen = _split_by(body, scope, i, switches)
        on_p = {s for s in switches if _canonical(body, body.nodes[s].inputs[1]) == p}
        got = cache[i] = (p, true_in, seen, on_p)
    return got


def _cond_merge(cx: Any, body: Any, scope: _Scope, i: int) -> list[Val]:
    """A TF1 cond's Merges as one ONNX If (or the taken branch when the predicate is a constant):
    the values of Merge ``i`` (its siblings' go into ``scope``)."""
    switches = _switch_nodes(body)
    p, true_in, seen, on_p = _plan(body, scope, i)
    group = [(i, true_in)] + _siblings(body, scope, i, p, on_p, switches, seen)
    pred = _evaluate(cx, body, scope, [p])[0]
    if pred.kind == "poison":
        raise ExportError("the cond's predicate could not be converted")

    def branch(side: int):
        def build() -> list[Val]:
            child = _Scope(scope, sides={s: side for s in on_p})
            refs = [body.nodes[j].inputs[t if side == 1 else 1 - t] for j, t in group]
            vals = _evaluate(cx, body, child, refs)
            if any(v is _DEAD or v.kind == "poison" for v in vals):
                raise ExportError("a value the cond's branch needs could not be converted")
            return vals
        return build

    g = cx.g
    if pred.is_const:
        from savedmodel_io.graph.ops.control import _truth

        side = 1 if _truth(body.nodes[i], pred.const) else 0
        values = branch(side)()
        index = [g.const(np.asarray(t if side == 1 else 1 - t, np.int32)) for _, t in group]
    else:
        t = truth(g, pred)
        values = if_node(cx, t, branch(1), branch(0))
        index = [g.op1("Where", t, g.const(np.asarray(k, np.int32)), g.const(np.asarray(1 - k, np.int32)))
                 for _, k in group]
    for (j, _), v, k in zip(group[1:], values[1:], index[1:]):
        scope.values[j] = [v, k]
    return [values[0], index[0]]


def _canonical(body: Any, ref: tuple[int, int]) -> tuple[int, int]:
    """A predicate through the Identity nodes TF's cond puts before its Switches (``pred_id``)."""
    seen = 0
    while body.nodes[ref[0]].op in ("Identity", "Snapshot") and body.nodes[ref[0]].inputs and seen < 1000:
        ref = body.nodes[ref[0]].inputs[0]
        seen += 1
    return ref


def _switch_nodes(body: Any) -> set[int]:
    cached = getattr(body, "_onnx_switches", None)
    if cached is None:
        cached = {n.index for n in body.nodes if n.op in _SWITCHES and len(n.inputs) == 2}
        try:
            body._onnx_switches = cached
        except AttributeError:
            pass
    return cached


# -- loops ----------------------------------------------------------------------------------------

@converter(frames.LOOP_OP, onnx="Loop")
def dataflow_loop(cx, node, ins):
    loop: frames.Loop = node.attr["loop"]
    body = loop.body
    g = cx.g
    enters = loop.spec.enters
    if len(ins) != len(enters):
        raise ExportError(f"the loop frame has {len(enters)} Enter nodes and {len(ins)} inputs")
    args: dict[int, Any] = {}
    for k, (v, nd) in enumerate(zip(ins, enters)):
        args[k] = [_deref(cx, v, nd, node)]
    merges = loop.merges
    merge_ids = {m[0] for m in merges}
    for n in body.nodes:  # a loop that changes a variable or table (even through control edges only)
        if NOT_EXPRESSIBLE.get(n.op) == STATE:
            cx.problem(n, STATE)
    _check_enters(body, enters, merge_ids)
    conds = [n for n in body.nodes if n.op == "LoopCond"]
    if len(conds) != 1 or not conds[0].inputs:
        raise ExportError(f"the loop frame {loop.spec.frame!r} has {len(conds)} LoopCond nodes (a TF1 "
                          "while loop has one)")
    loopcond = conds[0].index
    pred_ref = conds[0].inputs[0]
    exits_sw = {n.index for n in body.nodes if n.op in _SWITCHES and len(n.inputs) == 2
                and n.inputs[1][0] == loopcond}
    outer = _Scope(None, args)
    init = [g.plain(v) if v.kind == "tensor" else v for v in _evaluate(cx, body, outer, [m[1] for m in merges])]
    for v, m in zip(init, merges):
        _carriable(v, body.nodes[m[0]])

    def bind(values: list[Val], came_from: list[int]) -> dict[int, Any]:
        return {m[0]: [v, g.const(np.asarray(k, np.int32))] for m, v, k in zip(merges, values, came_from)}

    entry_side = [1 - m[3] for m in merges]
    back_side = [m[3] for m in merges]
    first = _evaluate(cx, body, _Scope(outer, bind(init, entry_side)), [pred_ref])[0]
    if first.kind == "poison":
        raise ExportError("the loop condition could not be converted")
    first = truth(g, first)
    if first.is_const and not bool(first.const):
        finals, came_from = init, entry_side  # the loop never runs: the Exits take the entry values
    else:
        finals = _nested(cx, lambda: _loop(cx, node, body, outer, merges, init, pred_ref, exits_sw, first, bind,
                                           back_side))
        came_from = back_side
    done = _Scope(outer, bind(finals, came_from), {s: 0 for s in exits_sw})
    out = _evaluate(cx, body, done, loop.exits)
    if any(v is _DEAD or v.kind == "poison" for v in out):
        raise ExportError("an Exit of the loop could not be converted")
    return out


def _deref(cx: Any, v: Val, nd: Any, node: Any) -> Val:
    """An Enter's value: a TF1 variable reference read (RefEnter keeps the reference)."""
    from savedmodel_io.graph.variables import Ref
    from savedmodel_io.onnx._graph import const_val

    if nd.op == "Enter" and isinstance(v.const, Ref):
        return const_val(cx.session.store.read(v.const.handle, node.where))
    return v


def _check_enters(body: Any, enters: list[Any], merge_ids: set[int]) -> None:
    """A non-constant Enter feeds loop Merges only (its value exists in the first iteration)."""
    for k, nd in enumerate(enters):
        if "is_constant" in nd.attr and nd.attr["is_constant"].b:
            continue
        for n in body.nodes:
            if n.index not in merge_ids and any(s == k for s, _ in n.inputs):
                raise ExportError(f"node {n.name!r} reads the loop entry {nd.name!r} (not a loop "
                                  "invariant) outside a loop Merge")


def _written(info: Any) -> Any:
    from dataclasses import replace

    return replace(info, reserved=None) if isinstance(info, ListInfo) and info.reserved is not None else info


def _carriable(v: Val, merge: Any) -> None:
    if v.kind in ("tensor", "sequence", "list"):
        return
    what = {"tarray": "a TensorArray handle", "handle": "a resource handle"}.get(v.kind, f"a {v.kind}")
    raise ExportError(f"{what} as the loop variable of Merge {merge.name!r}")


def _loop(cx: Any, node: Any, body: Any, outer: _Scope, merges: list, init: list[Val], pred_ref: tuple[int, int],
          exits_sw: set[int], first: Val, bind: Any, back_side: list[int]) -> list[Val]:
    """The ONNX Loop: its final loop variables."""
    g = cx.g
    hint = g.hint
    it_name, cond_name = cx.model.fresh(f"{hint}/iter"), cx.model.fresh(f"{hint}/cond")
    names = [cx.model.fresh(f"{hint}/var{k}") for k in range(len(merges))]
    shapes = [v.shape for v in init]
    for _attempt in range(3):
        # Inside the body an array may have been written by earlier iterations: not fresh.
        inner = [Val(n, v.dtype, s, kind=v.kind, info=_written(v.info)) for n, v, s in zip(names, init, shapes)]
        in_types = [(it_name, tensor_type(np.dtype(np.int64), ())), (cond_name, tensor_type(np.dtype(bool), ()))]
        in_types += [(n, g.type_of(t)) for n, t in zip(names, inner)]

        def build() -> list[Val]:
            from savedmodel_io.onnx.ops.tensorlist import same_kind

            h = cx.g
            scope = _Scope(outer, bind(inner, back_side), {s: 1 for s in exits_sw})
            new = _evaluate(cx, body, scope, [m[2] for m in merges])
            for v, m in zip(new, merges):
                if v is _DEAD or v.kind == "poison":
                    raise ExportError(f"the value {body.nodes[m[0]].name!r} takes at the next iteration "
                                      "could not be converted")
                _carriable(v, body.nodes[m[0]])
            new = [same_kind(h, h.plain(v) if v.kind == "tensor" else v, w) for v, w in zip(new, init)]
            again = _evaluate(cx, body, _Scope(outer, bind(new, back_side)), [pred_ref])[0]
            if again.kind == "poison":
                raise ExportError("the loop condition could not be converted")
            return [truth(h, again)] + new

        proto, outs = subgraph(cx, "body", build, in_types)
        types = [merged_type(g, [t, o]) for t, o in zip(inner, outs[1:])]
        relaxed = [tmpl.shape for _, tmpl in types]
        if relaxed == shapes:
            break
        shapes = relaxed  # a variable changes shape between iterations: build again with the looser one
    else:
        raise ExportError("the loop variables' shapes do not settle")
    loop = g.op("Loop", [None, first] + init, outputs=len(init), types=[t for t, _ in types], body=proto)
    return typed_outputs(loop, [tmpl for _, tmpl in types])


# The parts of a loop frame: structured by the loop node above, identities where they remain.
@converter("Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond", "Enter", "RefEnter",
           onnx="(part of the TF1 loop frame's Loop)")
def frame_part(cx, node, ins):
    return ins[0]


@converter("Switch", "RefSwitch", "Merge", "RefMerge", onnx="If (a TF1 cond's Switches and Merges)")
def unstructured(cx, node, ins):
    # Conds are structured by the dataflow walk above; a Switch or Merge reaching a converter
    # is in a body walked without it.
    raise ExportError("a TF1 Switch/Merge outside the structure of a cond or while loop")


inexpressible("TF1 dataflow plumbing with no value to compute (control triggers, reference selects)",
              "ControlTrigger", "RefSelect")
