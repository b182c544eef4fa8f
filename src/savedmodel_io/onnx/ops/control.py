"""Functional control flow: If/Case -> ONNX If, While and For -> ONNX Loop.

Branch and loop bodies are library functions; each becomes an ONNX subgraph by
walking the function with its arguments bound to the caller's values (subgraphs
read outer values by name, as ONNX allows). A constant predicate or branch index
inlines the taken branch instead. Loop variables a While body passes through
unchanged (weights, captured tensors) are not carried: the body reads them from the
enclosing graph, so they stay constants there.
Keras LSTM and GRU loops become ONNX LSTM / GRU ops instead (see ``rnn``).
Semantics: tensorflow/tensorflow tensorflow/core/ops/functional_ops.cc (If, Case,
While, For: the body runs for i = start, start + delta, ... while i < limit, or > limit
when delta is negative; a non-boolean predicate is true when non-zero, or non-empty when not a
scalar); ONNX If and Loop: onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from savedmodel_io.onnx._graph import ExportError, Val
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import complex_form, converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import if_node, merged_type, subgraph, truth, typed_outputs
from savedmodel_io.onnx.ops._util import scalar


@converter("PartitionedCall", "StatefulPartitionedCall", onnx="(inlined)")
def call(cx, node, ins):
    return cx.call(node.attr["f"].name, list(ins), node)


@converter("NoOp", "Assert", "PrintV2", onnx="(dropped: no data outputs)")
def no_data(cx, node, ins):
    return []


@converter("If", "StatelessIf", onnx="If")
def if_(cx, node, ins):
    pred, args = ins[0], list(ins[1:])
    then_f, else_f = node.attr["then_branch"].name, node.attr["else_branch"].name
    if pred.is_const:
        from savedmodel_io.graph.ops.control import _truth

        return cx.call(then_f if _truth(node, pred.const) else else_f, args, node)
    return if_node(cx, truth(cx.g, pred), lambda: cx.call(then_f, args, node),
               lambda: cx.call(else_f, args, node))


@converter("Case", "StatelessCase", onnx="If (nested)")
def case(cx, node, ins):
    g = cx.g
    idx, args = ins[0], list(ins[1:])
    branches = [f.name for f in node.attr["branches"]]
    if not branches:
        raise ExportError("a Case without branches")
    if idx.is_const:
        i = int(idx.const)
        return cx.call(branches[i if 0 <= i < len(branches) else -1], args, node)
    idx = g.plain(idx)

    def chain(k: int) -> list[Val]:
        # Out-of-range indices run the last branch, as TensorFlow's Case does.
        if k == len(branches) - 1:
            return cx.call(branches[k], args, node)
        pred = cx.g.op1("Equal", idx, scalar(cx.g, k, idx.dtype))
        return if_node(cx, pred, lambda: cx.call(branches[k], args, node), lambda: chain(k + 1))

    return chain(0)


def _complex_pairs(g: Any, vals: list[Val]) -> list[Val]:
    """Complex constants among ``vals`` as pair tensors (an ONNX If or Loop takes real tensors)."""
    from savedmodel_io.onnx.ops.complex import is_complex, written

    return [written(g, v) if is_complex(v) else v for v in vals]


@complex_form("If", "StatelessIf", "Case", "StatelessCase", "While", "StatelessWhile", "For", "PartitionedCall",
              "StatefulPartitionedCall", onnx="the same, complex values carried as (real, imaginary) pairs")
def _complex_control(cx, node, ins, conv):
    """Complex values flow through branches and loop bodies as the pair tensors they are
    elsewhere (kind "complex" on both sides of the If or Loop); constants become pairs where an
    If or Loop takes them."""
    return conv.fn(cx, node, ins)


# -- While ----------------------------------------------------------------------------------------

def _passed_through(cx: Any, fname: str, node: Any) -> list[bool]:
    """For each loop variable, whether the body returns its argument unchanged."""
    body = cx.session.function(fname, node.where)
    out = []
    for i, (src, k) in enumerate(body.rets):
        while body.nodes[src].op in ("Identity", "Snapshot") and body.nodes[src].inputs:
            src, k = body.nodes[src].inputs[0]
        out.append(src == i and k == 0 and body.nodes[src].op == "_Arg")
    return out


def _loop_shape(v: Val, declared: Any) -> Any:
    """The shape a carried variable keeps across iterations (TF's output_shapes, else the rank;
    a complex value's trailing (real, imaginary) axis stays 2)."""
    if v.shape is None:
        return None
    if v.kind == "complex":
        return _loop_shape(Val(v.name, v.dtype, v.shape[:-1]), declared) + (2,)
    if declared is not None and len(declared) == len(v.shape):
        return tuple(d if (w is not None and d == w) else None for d, w in zip(v.shape, declared))
    return tuple(None for _ in v.shape)


@converter("While", "StatelessWhile", onnx="Loop")
def while_(cx, node, ins):
    g = cx.g
    cond_f, body_f = node.attr["cond"].name, node.attr["body"].name
    init = [g.plain(v) if v.kind == "tensor" else v for v in ins]
    fixed = _passed_through(cx, body_f, node)
    if len(fixed) != len(init):
        raise ExportError("the loop body returns a different number of values")
    first = truth(g, cx.call(cond_f, init, node)[0])
    if first.is_const and not bool(first.const):
        return init
    from savedmodel_io.onnx.ops import rnn

    fused = rnn.fuse(cx, node, init, fixed)
    if fused is not None:
        return fused
    carried = [i for i, f in enumerate(fixed) if not f]
    for i in carried:
        init[i] = _complex_pairs(g, [init[i]])[0]
        if init[i].kind == "handle":
            raise ExportError("a resource handle that the loop body changes")
    declared = list(node.attr.get("output_shapes") or [])
    names = {i: cx.model.fresh(f"{g.hint}/var{i}") for i in carried}
    it_name, cond_name = cx.model.fresh(f"{g.hint}/iter"), cx.model.fresh(f"{g.hint}/cond")
    inner: dict[int, Val] = {}
    in_types = [(it_name, tensor_type(np.dtype(np.int64), ())), (cond_name, tensor_type(np.dtype(bool), ()))]
    for i in carried:
        v = init[i]
        shape = _loop_shape(v, declared[i] if i < len(declared) else None)
        tmpl = Val(names[i], v.dtype, shape, kind=v.kind, info=v.info)
        inner[i] = tmpl
        in_types.append((names[i], g.type_of(tmpl)))

    def build() -> list[Val]:
        state = [inner.get(i, v) for i, v in enumerate(init)]
        new = cx.call(body_f, state, node)
        from savedmodel_io.onnx.ops.tensorlist import same_kind

        out = [same_kind(cx.g, new[i], init[i]) for i in carried]
        again = truth(cx.g, cx.call(cond_f, [new[i] if i in carried else init[i] for i in range(len(init))],
                                    node)[0])
        return [again] + out

    body, outs = subgraph(cx, "body", build, in_types)
    # Body input and output types must agree: relax the inputs to what the outputs allow.
    types = []
    for k, i in enumerate(carried):
        t, tmpl = merged_type(g, [inner[i], outs[k + 1]])
        types.append((t, tmpl))
        body.input[k + 2].type.CopyFrom(t)
    loop = g.op("Loop", [None, first] + [init[i] for i in carried], outputs=len(carried),
                types=[t for t, _ in types], body=body)
    typed_outputs(loop, [tmpl for _, tmpl in types])
    result = list(init)
    for k, i in enumerate(carried):
        result[i] = loop[k]
    return result


def _trip_count(g: Any, start: Val, limit: Val, delta: Val) -> Val:
    """How many times For runs its body: ceil((limit - start) / delta), at least 0 (0 when delta is 0)."""
    s, l, d = (g.op1("Cast", _scalar(g, v), to=onnx.TensorProto.INT64) for v in (start, limit, delta))
    sign = g.op1("Sign", d)
    span, step = g.op1("Mul", g.op1("Sub", l, s), sign), g.op1("Abs", d)
    one = scalar(g, 1, np.int64)
    n = g.op1("Div", g.op1("Add", span, g.op1("Sub", step, one)), g.op1("Max", step, one))
    return g.op1("Where", g.op1("Equal", step, scalar(g, 0, np.int64)), scalar(g, 0, np.int64),
                 g.op1("Max", n, scalar(g, 0, np.int64)))


def _scalar(g: Any, v: Val) -> Val:
    v = g.plain(v)
    return v if v.rank == 0 else g.op1("Reshape", v, g.const(np.zeros(0, np.int64)))


@converter("For", onnx="Loop")
def for_(cx, node, ins):
    g = cx.g
    start, limit, delta = ins[:3]
    init = _complex_pairs(g, [g.plain(v) if v.kind == "tensor" else v for v in ins[3:]])
    body_f = node.attr["body"].name
    if any(v.kind == "handle" for v in init):
        raise ExportError("a resource handle as a For loop variable")
    if all(v.is_const for v in (start, limit, delta)):
        b, e, d = (int(np.asarray(v.const).reshape(-1)[0]) for v in (start, limit, delta))
        trips = g.const(np.asarray(max(0, -(-(e - b) * (1 if d > 0 else -1) // abs(d))) if d else 0, np.int64))
    else:
        trips = _trip_count(g, start, limit, delta)
    it_name, cond_name = cx.model.fresh(f"{g.hint}/iter"), cx.model.fresh(f"{g.hint}/cond")
    names = [cx.model.fresh(f"{g.hint}/var{i}") for i in range(len(init))]
    in_types = [(it_name, tensor_type(np.dtype(np.int64), ())), (cond_name, tensor_type(np.dtype(bool), ()))]
    inner = []
    for name, v in zip(names, init):
        tmpl = Val(name, v.dtype, _loop_shape(v, None), kind=v.kind, info=v.info)
        inner.append(tmpl)
        in_types.append((name, g.type_of(tmpl)))

    def build() -> list[Val]:
        h = cx.g
        k = Val(it_name, np.dtype(np.int64), ())
        # The body's index: start + k * delta, in int32 as TensorFlow passes it.
        i = h.op1("Add", _scalar(h, start), h.op1("Mul", h.op1("Cast", k, to=onnx.TensorProto.INT32),
                                                   _scalar(h, delta)))
        new = cx.call(body_f, [i, *inner], node)
        from savedmodel_io.onnx.ops.tensorlist import same_kind

        return [Val(cond_name, np.dtype(bool), ())] + [same_kind(h, v, w) for v, w in zip(new, init)]

    body, outs = subgraph(cx, "body", build, in_types)
    types = []
    for k, tmpl in enumerate(inner):
        t, merged = merged_type(g, [tmpl, outs[k + 1]])
        types.append((t, merged))
        body.input[k + 2].type.CopyFrom(t)
    loop = g.op("Loop", [trips, g.const(np.asarray(True))] + init, outputs=len(init),
                types=[t for t, _ in types], body=body)
    return typed_outputs(loop, [m for _, m in types])
inexpressible("mutexes, cross-call batching and aborting the process: no ONNX form", "MutexV2", "MutexLock",
              "ConsumeMutexLock", "Batch", "BatchFunction", "Unbatch", "Abort")
inexpressible("graph plumbing with no value to compute (device placement, gradient stand-ins)", "DeviceIndex",
              "FakeParam")
inexpressible("side effects with no value to compute (printing, the clock): no ONNX form", "Print", "Timestamp")
