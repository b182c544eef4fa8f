"""Fused recurrent cells: LSTMBlockCell, BlockLSTM, BlockLSTMV2, GRUBlockCell; Keras LSTM/GRU loops.

The ops behind ``tf.contrib.rnn.LSTMBlockCell`` / ``LSTMBlockFusedCell`` / ``GRUBlockCell``
(still in TF1 SavedModels) and Keras-layout fused LSTMs. Gate math, gate order and output
layout follow tensorflow/tensorflow tensorflow/core/kernels/rnn/lstm_ops.{h,cc} and
gru_ops.{h,cc}: BlockLSTM packs its gates as input, cell input, forget, output (ICFO) and
adds ``forget_bias``; BlockLSTMV2 uses Keras's IFCO order without a forget bias; a positive
``cell_clip`` clips the cell state; peepholes feed the previous cell state into the input
and forget gates and the new one into the output gate. Time steps from ``seq_len_max`` on
give zeros (TensorFlow leaves them unwritten). Half precision is computed in float32 and
rounded once (TensorFlow rounds after each operation: results differ in the last bits).
``_KerasLSTM`` / ``_KerasGRU`` are this library's own internal ops: the optimiser
(graph/optimize.py) puts one in place of a While loop it recognised as a Keras layer and
binds it to :data:`KERAS_LAYERS`' kernel itself; they are not registered, so a saved graph
naming them has no kernel for them (TensorFlow has no such ops).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._accel import accel
from savedmodel_io.graph.ops._parallel import run_pieces
from savedmodel_io.graph.ops._registry import Kernel, kernel
from savedmodel_io.graph.ops._util import bad, check_size
from savedmodel_io.graph.ops.nn import _gemm_rows


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


# -- Keras LSTM / GRU layers: a recognised While loop as one kernel ------------------------------

def _fits(shape: tuple | None, want: tuple[int, ...]) -> bool:
    """Whether a (possibly partial) TensorList element shape admits ``want``."""
    return shape is None or (len(shape) == len(want) and all(d is None or d < 0 or d == w
                                                             for d, w in zip(shape, want)))


def _stops_at(node, state: list, steps: int, ctx) -> bool:
    """Whether the loop condition, on the run's own limits, holds for counters 0..T-1 and
    fails at T (checked at 0, T-1 and T, as the recognition did)."""
    from savedmodel_io.graph.ops.control import _truth

    for k, want in ((0, True), (steps - 1, True), (steps, False)):
        args = list(state)
        for i in node.attr["counters"]:
            args[i] = np.asarray(k, np.asarray(state[i]).dtype)
        if _truth(node, ctx.call(node.attr["cond"].name, args, node.where)[0]) != want:
            return False
    return True


def _sequence(node, state: list, w: np.ndarray, u: np.ndarray, ctx) -> list[np.ndarray] | None:
    """The loop's T inputs ([batch, depth] float32 arrays), or None when the loop's variables
    are not what the recognised layer was (then the original loop runs)."""
    from savedmodel_io.graph.ops.tensorlist import TensorList

    a = node.attr
    xs = state[a["inputs"]]
    # T: the recognised loop's, or (a length only the run's limits give) the input list's.
    steps, units = a["steps"] or (len(xs.items) if isinstance(xs, TensorList) else 0), u.shape[0]
    if steps < 1 or (a["limits"] and not _stops_at(node, state, steps, ctx)):
        return None
    out = state[a["output"]]
    if not isinstance(xs, TensorList) or not isinstance(out, TensorList) or len(xs.items) < steps:
        return None
    items = xs.items[:steps]
    first = items[0]
    if not isinstance(first, np.ndarray) or first.dtype != np.float32 or first.ndim != 2 \
            or first.shape[1] != w.shape[0]:
        return None
    if any(not isinstance(i, np.ndarray) or i.dtype != np.float32 or i.shape != first.shape for i in items):
        return None
    h_shape = (first.shape[0], units)
    carried = [state[a["h"]]] + ([state[a["c"]]] if a["c"] >= 0 else [])
    if any(not isinstance(s, np.ndarray) or s.dtype != np.float32 or s.shape != h_shape for s in carried):
        return None
    if out.dtype != np.float32 or not _fits(out.shape, h_shape) or any(i is not None for i in out.items) \
            or len(out.items) < (steps if a["sequence"] else 1):
        return None
    return items


_BLOCK_VALUES = 1 << 24  # x W of this many values at a time (64 MB of float32)


def _sigmoid_(x: np.ndarray) -> None:
    """x = sigmoid(x), in place (exp overflowing to inf gives 0: callers ignore the warning)."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _lstm_steps(where: str, ctx, t0: int, xw: np.ndarray, u: np.ndarray, h: np.ndarray, c: np.ndarray,
                seq: np.ndarray) -> None:
    """Keras LSTM steps t0... (gates i, f, c, o; ``xw``: their x W + b): ``seq[t]`` = h at
    step t; ``c`` updated in place."""
    units = u.shape[0]
    z = np.empty_like(xw[0])
    g = np.empty_like(c)
    for t in range(t0, t0 + xw.shape[0]):
        ctx.meter.iteration(t + 1, where)
        np.matmul(h, u, out=z)
        z += xw[t - t0]
        np.tanh(z[:, 2 * units:3 * units], out=g)
        _sigmoid_(z[:, :2 * units])
        _sigmoid_(z[:, 3 * units:])
        c *= z[:, units:2 * units]
        g *= z[:, :units]
        c += g
        h = seq[t]
        np.tanh(c, out=h)
        h *= z[:, 3 * units:]


def _gru_steps(where: str, ctx, t0: int, xw: np.ndarray, u: np.ndarray, bh: np.ndarray, h: np.ndarray,
               seq: np.ndarray) -> None:
    """Keras GRU steps t0... (gates z, r, h; ``xw``: their x W + b; the recurrent bias
    inside the reset): ``seq[t]`` = h at step t."""
    units = u.shape[0]
    hu = np.empty_like(xw[0])
    cand = np.empty_like(h)
    for t in range(t0, t0 + xw.shape[0]):
        ctx.meter.iteration(t + 1, where)
        np.matmul(h, u, out=hu)
        hu += bh
        zr = hu[:, :2 * units]
        zr += xw[t - t0, :, :2 * units]
        _sigmoid_(zr)
        np.multiply(zr[:, units:], hu[:, 2 * units:], out=cand)
        cand += xw[t - t0, :, 2 * units:]
        np.tanh(cand, out=cand)
        new = seq[t]
        np.subtract(h, cand, out=new)  # h' = h~ + z (h - h~)
        new *= zr[:, :units]
        new += cand
        h = new


# Up to this batch the recurrent steps run in the C loop (its h U beats BLAS's, which packs U
# at every step); above it numpy's BLAS does (packing U pays off over many rows).
_C_BATCH = 64


def _row_pieces(batch: int, threads: int) -> list[tuple[int, int]]:
    """Batch rows split evenly over ``threads`` (the steps of different rows are independent)."""
    share = max(1, -(-batch // max(threads, 1)))
    return [(r, min(batch, r + share)) for r in range(0, batch, share)]


def _c_steps(where: str, ctx, t0: int, xw: np.ndarray, u: np.ndarray, bh: np.ndarray | None,
             h: np.ndarray, c: np.ndarray | None, seq: np.ndarray) -> bool:
    """The steps of ``_lstm_steps``/``_gru_steps`` (``c`` None: GRU) in the C loop, batch rows
    shared among the run's threads, when the loop is built and the batch small; False when
    numpy should run them."""
    batch, units = h.shape
    if accel is None or batch > _C_BATCH or xw.dtype != np.float32 or u.dtype != np.float32 \
            or (bh if c is None else c).dtype != np.float32:
        return False
    steps = xw.shape[0]
    ctx.meter.iteration(t0 + steps, where)
    out = seq[t0:t0 + steps]
    h, u, z = np.ascontiguousarray(h), np.ascontiguousarray(u), np.empty_like(xw[0])
    if c is not None:
        def rows(piece: tuple[int, int]) -> None:
            accel.lstm_steps(xw, u, h, c, out, z, steps, batch, units, *piece)
    else:
        bh = np.ascontiguousarray(bh)

        def rows(piece: tuple[int, int]) -> None:
            accel.gru_steps(xw, u, bh, h, out, z, steps, batch, units, *piece)
    run_pieces(_row_pieces(batch, getattr(ctx, "threads", 1)), rows, getattr(ctx, "threads", 1))
    return True


def keras_rnn(node, inputs, ctx):
    """A While loop recognised as a Keras LSTM/GRU layer (graph/rnn_loops.py, made by the
    optimiser): the input projection of every step in one matmul, then per step h @ U and
    the gates in place. Loop variables of another shape or kind run the original loop."""
    from savedmodel_io.graph.ops.control import while_
    from savedmodel_io.graph.ops.tensorlist import TensorList

    state = list(inputs[:-3])
    w, u, b = inputs[-3:]
    xs = _sequence(node, state, w, u, ctx)
    if xs is None:
        return while_(node, state, ctx)
    a = node.attr
    steps, (batch, depth), where = len(xs), xs[0].shape, node.where
    bx, bh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    seq = np.empty((steps, batch, u.shape[0]), np.float32)
    h = state[a["h"]]
    c = state[a["c"]].copy() if node.op == "_KerasLSTM" else None
    # The input projection of many steps at once, in blocks of about 16M values.
    block = max(1, _BLOCK_VALUES // max(1, batch * w.shape[1]))
    with np.errstate(over="ignore"):  # sigmoid's exp(-x) overflowing to inf is its 0
        for t0 in range(0, steps, block):
            x = np.stack(xs[t0:t0 + block])
            xw = np.empty((x.shape[0], batch, w.shape[1]), np.result_type(x.dtype, w.dtype))
            _gemm_rows(x.reshape(-1, depth), w, xw, None, getattr(ctx, "threads", 1))
            xw += bx
            if not _c_steps(where, ctx, t0, xw, u, bh, h, c, seq):
                if c is not None:
                    _lstm_steps(where, ctx, t0, xw, u, h, c, seq)
                else:
                    _gru_steps(where, ctx, t0, xw, u, bh, h, seq)
            h = seq[t0 + x.shape[0] - 1]
    if c is not None:
        state[a["c"]] = c
    state[a["h"]] = seq[-1].copy()
    out = state[a["output"]]
    items = list(out.items)
    if a["sequence"]:
        items[:steps] = list(seq)
    else:
        items[0] = seq[-1].copy()
    state[a["output"]] = TensorList(items, out.dtype, out.shape)
    for i in a["counters"]:
        state[i] = np.asarray(steps, np.asarray(state[i]).dtype)
    return state


# The optimiser's node for each recognised layer kind (graph/rnn_loops.Layer.kind).
KERAS_LAYERS = {"LSTM": Kernel("_KerasLSTM", keras_rnn), "GRU": Kernel("_KerasGRU", keras_rnn)}
