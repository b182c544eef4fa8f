"""Keras LSTM and GRU loops as ONNX LSTM / GRU ops; TF's fused block cells by their arithmetic.

Which While loops are such layers is decided by :mod:`savedmodel_io.graph.rnn_loops`
(it runs the loop's body against the Keras cell); the input list must also have a known
number of steps and depth. Anything else stays a Loop.
ONNX gate layouts: onnx/onnx docs/Operators.md (LSTM: i, o, f, c; GRU: z, r, h with
linear_before_reset=1 for Keras' reset_after).

LSTMBlockCell / BlockLSTM(V2) / GRUBlockCell return every gate as well as the states, which
ONNX LSTM/GRU do not: they are the cell's arithmetic (graph/ops/rnn.py; tensorflow/tensorflow
tensorflow/core/kernels/rnn/lstm_ops.h, gru_ops.h), BlockLSTM's time steps a Scan.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.rnn_loops import Layer, Slot, recognise
from savedmodel_io.graph.variables import Handle
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._subgraph import body_graph
from savedmodel_io.onnx.ops._util import cast, need_rank, scalar, split, squeeze, unsqueeze

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


# -- TF's fused block cells -----------------------------------------------------------------------

F32 = np.dtype(np.float32)


def _lstm_step(g: Graph, node: Any, x: Val, cs_prev: Val, h_prev: Val, w: Val, wci: Val, wcf: Val, wco: Val,
               b: Val) -> list[Val]:
    """One LSTM step in float32: [i, cs, f, o, ci, co, h] as TF's cells return them.

    BlockLSTM / LSTMBlockCell pack the gates i, ci, f, o and add forget_bias; BlockLSTMV2
    packs i, f, ci, o (Keras) with no forget bias; peepholes add the previous cell state to
    i and f and the new one to o; a positive cell_clip clips the cell state.
    """
    z = g.op1("Add", g.op1("MatMul", g.op1("Concat", x, h_prev, axis=1), w), b)
    p = split(g, z, 1, num=4)
    i, f, ci, o = (p[0], p[1], p[2], p[3]) if node.op == "BlockLSTMV2" else (p[0], p[2], p[1], p[3])
    if node.attr.get("use_peephole"):
        i = g.op1("Add", i, g.op1("Mul", cs_prev, wci))
        f = g.op1("Add", f, g.op1("Mul", cs_prev, wcf))
    forget_bias = float(node.attr.get("forget_bias", 0.0)) if node.op != "BlockLSTMV2" else 0.0
    i = g.op1("Sigmoid", i)
    f = g.op1("Sigmoid", g.op1("Add", f, scalar(g, forget_bias, F32)) if forget_bias else f)
    ci = g.op1("Tanh", ci)
    cs = g.op1("Add", g.op1("Mul", ci, i), g.op1("Mul", cs_prev, f))
    clip = float(node.attr.get("cell_clip", 0.0))
    if clip > 0:
        cs = g.op1("Clip", cs, scalar(g, -clip, F32), scalar(g, clip, F32))
    if node.attr.get("use_peephole"):
        o = g.op1("Add", o, g.op1("Mul", cs, wco))
    o = g.op1("Sigmoid", o)
    co = g.op1("Tanh", cs)
    return [i, cs, f, o, ci, co, g.op1("Mul", co, o)]


def _floats(g: Graph, vals: list[Val], what: str, ranks: tuple[int, ...] = (2, 2, 2, 2, 1, 1, 1, 1)) -> list[Val]:
    """The inputs as float32, after checking their ranks."""
    for v, rank in zip(vals, ranks):
        if need_rank(v, what) != rank:
            raise ExportError(f"{what}: an input of rank {v.rank} where rank {rank} is required")
    return [cast(g, v, F32) for v in vals]


@converter("LSTMBlockCell", onnx="MatMul, Sigmoid, Tanh, Mul, Add (Clip)")
def lstm_block_cell(cx, node, ins):
    g = cx.g
    dt = ins[0].dtype
    outs = _lstm_step(g, node, *_floats(g, list(ins), "LSTMBlockCell"))
    return [cast(g, v, dt) for v in outs]


@converter("BlockLSTM", "BlockLSTMV2", onnx="Scan of the LSTM cell's arithmetic")
def block_lstm(cx, node, ins):
    """A Scan over time of the cell; steps from seq_len_max on give zeros (TF's kernel zeroes cs and
    h there and leaves the gates unwritten; the numpy runtime gives zeros for all seven)."""
    g = cx.g
    seq_len, dt = ins[0], ins[1].dtype
    xs, cs0, h0, w, wci, wcf, wco, b = _floats(g, list(ins[1:]), node.op, (3, 2, 2, 2, 1, 1, 1, 1))
    steps, batch = xs.shape[0], xs.shape[1]
    cell = cs0.shape[1] if cs0.shape is not None else None
    full = isinstance(steps, int) and seq_len.is_const and int(seq_len.const) == steps
    state_t = tensor_type(F32, (batch, cell))
    names = [cx.model.fresh(f"{g.hint}/{n}") for n in ("cs", "h", "x", "live")]
    in_types = [(names[0], state_t), (names[1], state_t), (names[2], tensor_type(F32, (batch, xs.shape[2])))]
    if not full:
        in_types.append((names[3], tensor_type(np.dtype(bool), ())))

    def build(child: Graph) -> list[Val]:
        cs, h, x = (Val(n, F32, (batch, cell if k < 2 else xs.shape[2])) for k, n in enumerate(names[:3]))
        outs = _lstm_step(child, node, x, cs, h, w, wci, wcf, wco, b)
        if not full:
            live = Val(names[3], np.dtype(bool), ())
            zero = scalar(child, 0, F32)
            outs = [child.op1("Where", live, v, zero) for v in outs]
        return [outs[1], outs[6]] + outs

    body, _ = body_graph(g, "lstm", build, in_types)
    scan_ins = [cs0, h0, xs]
    if not full:
        t = g.op1("Range", scalar(g, 0, np.int64), g.op1("Squeeze", g.op1("Shape", xs, start=0, end=1)),
                  scalar(g, 1, np.int64))
        scan_ins.append(g.op1("Less", t, cast(g, seq_len, np.int64)))
    seq_t = tensor_type(F32, (steps, batch, cell))
    outs = g.op("Scan", scan_ins, outputs=9, types=[state_t, state_t] + [seq_t] * 7, body=body,
                num_scan_inputs=len(scan_ins) - 2)
    return [cast(g, v, dt) for v in outs[2:]]


@converter("GRUBlockCell", onnx="MatMul, Sigmoid, Tanh, Mul, Add")
def gru_block_cell(cx, node, ins):
    """r, u = sigmoid([x, h] W_ru + b_ru); c = tanh([x, r h] W_c + b_c); h' = u h + (1 - u) c."""
    g = cx.g
    dt = ins[0].dtype
    x, h, w_ru, w_c, b_ru, b_c = _floats(g, list(ins), node.op, (2, 2, 2, 2, 1, 1))
    ru = g.op1("Sigmoid", g.op1("Add", g.op1("MatMul", g.op1("Concat", x, h, axis=1), w_ru), b_ru))
    r, u = split(g, ru, 1, num=2)
    c = g.op1("Tanh", g.op1("Add", g.op1("MatMul", g.op1("Concat", x, g.op1("Mul", h, r), axis=1), w_c), b_c))
    new = g.op1("Add", g.op1("Mul", u, h), g.op1("Mul", g.op1("Sub", scalar(g, 1, F32), u), c))
    return [cast(g, v, dt) for v in (r, u, c, new)]
