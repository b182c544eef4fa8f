"""Keras LSTM and GRU loops as ONNX LSTM / GRU ops (instead of a Loop of their cells).

Which While loops are such layers is decided by :mod:`savedmodel_io.graph.rnn_loops`
(it runs the loop's body against the Keras cell); the input list must also have a known
number of steps and depth. Anything else stays a Loop.
ONNX gate layouts: onnx/onnx docs/Operators.md (LSTM: i, o, f, c; GRU: z, r, h with
linear_before_reset=1 for Keras' reset_after).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.rnn_loops import Layer, Slot, recognise
from savedmodel_io.graph.variables import Handle
from savedmodel_io.onnx._graph import Val
from savedmodel_io.onnx.ops._util import cast, scalar, squeeze, unsqueeze

__all__ = ["fuse"]


def fuse(cx: Any, node: Any, init: list[Val], fixed: list[bool]) -> list[Val] | None:
    """The loop's results through ONNX LSTM/GRU, or None when it is not such a loop."""
    plan = _plan(cx, node, init, fixed)
    return None if plan is None else _emit(cx, plan, init)


def _plan(cx: Any, node: Any, init: list[Val], fixed: list[bool]) -> Layer | None:
    lists = [i for i, v in enumerate(init) if fixed[i] and v.kind == "list" and not v.is_const]
    if len(lists) != 1:
        return None
    xs = init[lists[0]]
    if xs.shape is None or len(xs.shape) != 3 or not all(isinstance(d, int) for d in (xs.shape[0], xs.shape[2])):
        return None
    if xs.dtype != np.float32:
        return None
    slots = []
    for i, v in enumerate(init):
        known = v.is_const or isinstance(v.const, Handle)
        array = None
        if isinstance(v.const, Handle):
            array = cx.session.store.read(v.const)
        elif v.is_const and isinstance(v.const, (np.ndarray, np.generic)):
            array = np.asarray(v.const)
        slots.append(Slot(fixed[i], v.const if known else None, array, v.kind in ("list", "sequence"),
                          v.dtype, v.rank))

    def call(fname: str, args: list[Any]) -> list[Any]:
        return cx._ctx.call(fname, args, node.where)

    layer = recognise(call, node.attr["cond"].name, node.attr["body"].name, slots, steps=xs.shape[0])
    if layer is None or layer.w.shape[0] != xs.shape[2]:
        return None
    return layer


def _onnx_gates(m: np.ndarray, gates: int) -> np.ndarray:
    """Keras gate blocks (LSTM i, f, c, o) in ONNX's order (i, o, f, c); GRU's z, r, h already match."""
    if gates == 3:
        return m
    i, f, c, o = np.split(m, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _initial(g: Any, state: Val) -> Val | None:
    """An initial state as [1, batch, units]; None for zeros (the ONNX default)."""
    if state.origin == ("zeros",):
        return None
    return unsqueeze(g, state, [0])


def _emit(cx: Any, p: Layer, init: list[Val]) -> list[Val]:
    g = cx.g
    gates = 4 if p.kind == "LSTM" else 3
    units = p.u.shape[0]
    w = g.const(np.ascontiguousarray(_onnx_gates(p.w, gates).T[None]))
    r = g.const(np.ascontiguousarray(_onnx_gates(p.u, gates).T[None]))
    if p.b.ndim == 2:  # GRU reset_after: input and recurrent biases
        bias = np.concatenate([_onnx_gates(p.b[0], gates), _onnx_gates(p.b[1], gates)])
    else:
        bias = np.concatenate([_onnx_gates(p.b, gates), np.zeros(gates * units, np.float32)])
    b = g.const(bias[None].astype(np.float32))
    xs = init[p.inputs]
    x = Val(xs.name, xs.dtype, xs.shape, const=xs.const)
    ins: list[Val | None] = [x, w, r, b, None, _initial(g, init[p.h])]
    attrs: dict[str, Any] = {"hidden_size": units}
    if p.kind == "LSTM":
        ins.append(_initial(g, init[p.c]))
        outs = g.op("LSTM", ins, outputs=3, **attrs)
    else:
        outs = g.op("GRU", ins, outputs=2, linear_before_reset=1, **attrs)
    y, yh = outs[0], outs[1]
    result = list(init)
    steps = xs.shape[0]
    for i in p.counters:
        result[i] = scalar(g, steps, init[i].dtype)
    li = p.output
    info = init[li].info
    seq = squeeze(g, y, [1]) if p.sequence else yh
    result[li] = Val(seq.name, seq.dtype, seq.shape, kind="list", info=info)
    result[p.h] = squeeze(g, yh, [0])
    if p.kind == "LSTM":
        result[p.c] = squeeze(g, outs[2], [0])
    return [cast(g, v, init[i].dtype) if v.kind == "tensor" and init[i].kind == "tensor" else v
            for i, v in enumerate(result)]
