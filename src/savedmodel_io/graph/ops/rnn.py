"""Fused recurrent cells: LSTMBlockCell, BlockLSTM, BlockLSTMV2 and GRUBlockCell.

The ops behind ``tf.contrib.rnn.LSTMBlockCell`` / ``LSTMBlockFusedCell`` / ``GRUBlockCell``
(still in TF1 SavedModels) and Keras-layout fused LSTMs. Gate math, gate order and output
layout follow tensorflow/tensorflow tensorflow/core/kernels/rnn/lstm_ops.{h,cc} and
gru_ops.{h,cc}: BlockLSTM packs its gates as input, cell input, forget, output (ICFO) and
adds ``forget_bias``; BlockLSTMV2 uses Keras's IFCO order without a forget bias; a positive
``cell_clip`` clips the cell state; peepholes feed the previous cell state into the input
and forget gates and the new one into the output gate. Time steps from ``seq_len_max`` on
give zeros (TensorFlow leaves them unwritten). Half precision is computed in float32 and
rounded once (TensorFlow rounds after each operation: results differ in the last bits).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _f32(x) -> np.ndarray:
    return np.asarray(x, np.float32)


def _lstm_shapes(node, x, cs_prev, h_prev, w, b) -> tuple[int, int, int]:
    if x.ndim != 2:
        raise bad(node, f"x must be 2D but is {x.ndim}D")
    batch, input_size = x.shape
    if cs_prev.ndim != 2 or h_prev.ndim != 2:
        raise bad(node, "cs_prev and h_prev must be 2D")
    cell = cs_prev.shape[1]
    if cs_prev.shape[0] != batch:
        raise bad(node, f"cs_prev.dims(0) != batch_size: {cs_prev.shape[0]} vs. {batch}")
    if h_prev.shape != (batch, cell):
        raise bad(node, f"h_prev must be [{batch}, {cell}], got {list(h_prev.shape)}")
    if w.ndim != 2 or w.shape[0] != input_size + cell:
        raise bad(node, f"w.dim_size(0) != input_size + cell_size: {w.shape[0] if w.ndim else w.shape} "
                        f"vs. {input_size + cell}")
    if w.shape[1] != cell * 4:
        raise bad(node, f"w.dim_size(1) != cell_size * 4: {w.shape[1]} vs. {cell * 4}")
    if b.ndim != 1 or b.shape[0] != cell * 4:
        raise bad(node, f"b.dim_size(0) != cell_size * 4: {b.shape} vs. {cell * 4}")
    return batch, input_size, cell


def _lstm_step(node, x, cs_prev, h_prev, w, wci, wcf, wco, b, *, forget_bias: float, clip: float,
               peephole: bool, ifco: bool) -> list[np.ndarray]:
    """One LSTM step on float32 operands: the gates and states TF's cell outputs."""
    cell = cs_prev.shape[1]
    z = np.concatenate([x, h_prev], axis=1) @ w + b
    parts = [z[:, k * cell:(k + 1) * cell] for k in range(4)]
    i, f, ci, o = (parts[0], parts[1], parts[2], parts[3]) if ifco else \
        (parts[0], parts[2], parts[1], parts[3])
    if peephole:
        i = i + cs_prev * wci
        f = f + cs_prev * wcf
    i = _sigmoid(i)
    f = _sigmoid(f + np.float32(forget_bias))
    ci = np.tanh(ci)
    cs = ci * i + cs_prev * f
    if clip > 0:
        cs = np.clip(cs, -clip, clip)
    if peephole:
        o = o + cs * wco
    o = _sigmoid(o)
    co = np.tanh(cs)
    return [i, cs, f, o, ci, co, co * o]


def _lstm_args(node):
    return {"forget_bias": float(node.attr.get("forget_bias", 0.0)), "clip": float(node.attr["cell_clip"]),
            "peephole": bool(node.attr["use_peephole"]), "ifco": node.op == "BlockLSTMV2"}


@kernel("LSTMBlockCell")
def lstm_block_cell(node, inputs, ctx):
    dtype = np.asarray(inputs[0]).dtype
    x, cs_prev, h_prev, w, wci, wcf, wco, b = (_f32(v) for v in inputs)
    _lstm_shapes(node, x, cs_prev, h_prev, w, b)
    outs = _lstm_step(node, x, cs_prev, h_prev, w, wci, wcf, wco, b, **_lstm_args(node))
    return [o.astype(dtype) for o in outs]


@kernel("BlockLSTM", "BlockLSTMV2")
def block_lstm(node, inputs, ctx):
    dtype = np.asarray(inputs[1]).dtype
    seq_len_max = int(np.asarray(inputs[0]))
    x, cs, h, w, wci, wcf, wco, b = (_f32(v) for v in inputs[1:])
    if x.ndim != 3:
        raise bad(node, f"x must be 3D but is {x.ndim}D")
    time_len = x.shape[0]
    if not 0 <= seq_len_max <= time_len:
        raise bad(node, f"seq_len_max must be in [0, {time_len}], got {seq_len_max}")
    batch, _, cell = _lstm_shapes(node, x[0] if time_len else x.reshape(x.shape[1:]), cs, h, w, b)
    check_size(node, (7, time_len, batch, cell), 4)
    outs = [np.zeros((time_len, batch, cell), np.float32) for _ in range(7)]
    args = _lstm_args(node)
    for t in range(seq_len_max):
        step = _lstm_step(node, x[t], cs, h, w, wci, wcf, wco, b, **args)
        for k, v in enumerate(step):
            outs[k][t] = v
        cs, h = step[1], step[6]
    return [o.astype(dtype) for o in outs]


@kernel("GRUBlockCell")
def gru_block_cell(node, inputs, ctx):
    dtype = np.asarray(inputs[0]).dtype
    x, h_prev, w_ru, w_c, b_ru, b_c = (_f32(v) for v in inputs)
    if x.ndim != 2:
        raise bad(node, f"Rank of x should be 2, got {x.ndim}")
    batch, input_size = x.shape
    if h_prev.ndim != 2 or h_prev.shape[0] != batch:
        raise bad(node, f"h_prev must be [{batch}, cell_size], got {list(h_prev.shape)}")
    cell = h_prev.shape[1]
    checks = ((w_ru, (input_size + cell, 2 * cell), "w_ru"), (w_c, (input_size + cell, cell), "w_c"),
              (b_ru, (2 * cell,), "b_ru"), (b_c, (cell,), "b_c"))
    for arr, want, what in checks:
        if arr.shape != want:
            raise bad(node, f"{what} must have shape {list(want)}, got {list(arr.shape)}")
    ru = _sigmoid(np.concatenate([x, h_prev], axis=1) @ w_ru + b_ru)
    r, u = ru[:, :cell], ru[:, cell:]
    c = np.tanh(np.concatenate([x, h_prev * r], axis=1) @ w_c + b_c)
    h = u * h_prev + (np.float32(1.0) - u) * c
    return [v.astype(dtype) for v in (r, u, c, h)]
