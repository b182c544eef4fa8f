"""Keras LSTM and GRU loops as ONNX LSTM / GRU ops (instead of a Loop of their cells).

A While loop is taken for an LSTM (or GRU) layer when it behaves as one, checked by
running it rather than by matching its nodes: the loop steps over a TensorList of
``T`` inputs (``T`` known before running) with counters that start at 0 and grow by 1
until ``T``, and the body, run by the numpy runtime on random states and inputs,
gives exactly (float32 rounding) the Keras cell on the layer's kernel, recurrent
kernel and bias: LSTM ``i, f, c, o = split(x W + h U + b)``, ``c' = f c + i tanh(c)``,
``h' = o tanh(c')``; GRU (reset_after) ``z, r = sigmoid(...)``, ``h~ = tanh(x W_h + b_h
+ r (h U_h + b'_h))``, ``h' = z h + (1 - z) h~``. Anything else (masking, other
activations, dynamic lengths, peepholes...) stays a Loop.
ONNX gate layouts: onnx/onnx docs/Operators.md (LSTM: i, o, f, c; GRU: z, r, h with
linear_before_reset=1 for Keras' reset_after).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops.tensorlist import TensorList
from savedmodel_io.graph.variables import Handle
from savedmodel_io.onnx._graph import Val
from savedmodel_io.onnx.ops._util import cast, scalar, squeeze, unsqueeze

__all__ = ["fuse"]

_BATCH = 2  # batch size of the trial runs


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lstm_step(x, h, c, w, u, b):
    z = x @ w + h @ u + b
    i, f, cc, o = np.split(z, 4, axis=1)
    c2 = _sigmoid(f) * c + _sigmoid(i) * np.tanh(cc)
    return _sigmoid(o) * np.tanh(c2), c2


def _gru_step(x, h, w, u, b):
    bx, bh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    xz, xr, xh = np.split(x @ w + bx, 3, axis=1)
    hz, hr, hh = np.split(h @ u + bh, 3, axis=1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    return z * h + (1 - z) * np.tanh(xh + r * hh)


class _Plan:
    """What the trial runs found: the kind of cell, its weights and which variable is what."""

    def __init__(self) -> None:
        self.kind = ""
        self.w = self.u = self.b = np.zeros(0)
        self.inputs = -1  # index of the loop variable holding the input list
        self.counters: list[int] = []
        self.lists: dict[int, str] = {}  # output list variable -> "sequence" or "last"
        self.h = self.c = -1


def fuse(cx: Any, node: Any, init: list[Val], fixed: list[bool]) -> list[Val] | None:
    """The loop's results through ONNX LSTM/GRU, or None when it is not such a loop."""
    plan = _plan(cx, node, init, fixed)
    return None if plan is None else _emit(cx, plan, init)


def _plan(cx: Any, node: Any, init: list[Val], fixed: list[bool]) -> _Plan | None:
    p = _Plan()
    lists = [i for i, v in enumerate(init) if fixed[i] and v.kind == "list" and not v.is_const]
    if len(lists) != 1:
        return None
    p.inputs = lists[0]
    xs = init[p.inputs]
    if xs.shape is None or len(xs.shape) != 3 or not all(isinstance(d, int) for d in (xs.shape[0], xs.shape[2])):
        return None
    steps, depth = xs.shape[0], xs.shape[2]
    if steps < 2 or xs.dtype != np.float32:
        return None
    states = []
    for i, v in enumerate(init):
        if fixed[i]:
            if not (v.is_const or isinstance(v.const, Handle) or i == p.inputs):
                return None  # a run-time tensor the body reads: not a plain Keras cell
        elif v.kind in ("list", "sequence"):
            p.lists[i] = ""
        elif v.is_const and v.const.ndim == 0 and v.const.dtype.kind in "iu" and int(v.const) == 0:
            p.counters.append(i)
        elif v.dtype == np.float32 and v.rank == 2:
            states.append(i)
        else:
            return None
    if not p.counters or len(p.lists) != 1 or len(states) not in (1, 2):
        return None
    weights = [cx.session.store.read(v.const) if isinstance(v.const, Handle) else v.const
               for i, v in enumerate(init) if fixed[i] and i != p.inputs and not (v.is_const and v.const.ndim == 0)]
    gates = 4 if len(states) == 2 else 3
    # The recurrent kernel is [units, gates * units].
    units = next((w.shape[0] for w in weights if w.ndim == 2 and w.shape[1] == gates * w.shape[0]), None)
    if units is None:
        return None
    p.kind = "LSTM" if gates == 4 else "GRU"
    if not _check_cond(cx, node, init, p, steps):
        return None
    rs = np.random.RandomState(0)
    x = rs.standard_normal((steps, _BATCH, depth)).astype(np.float32)
    h0 = [rs.standard_normal((_BATCH, units)).astype(np.float32) for _ in states]
    # Two trial steps, at time 0 and time 1 (where the output list is written tells its kind),
    # for each way of reading the weights as kernel, recurrent kernel and bias.
    outs = []
    for t in (0, 1):
        try:
            outs.append(cx._ctx.call(node.attr["body"].name, _trial_args(init, p, fixed, x, states, h0, t, steps),
                                     node.where))
        except Exception:  # noqa: BLE001 - a body the runtime cannot run on these values: no fusion
            return None
    for w, u, b in _candidates(weights, depth, units, gates):
        p.w, p.u, p.b = w, u, b
        if all(_same_cell(p, outs[t], states, x[t], h0, t, steps) for t in (0, 1)):
            break
    else:
        return None
    if gates == 4:
        p.h, p.c = _h_and_c(p, cx, node, init, fixed, x, states, h0, steps)
        if p.h < 0:
            return None
    else:
        p.h = states[0]
    return p


def _candidates(weights: list[np.ndarray], depth: int, units: int, gates: int) -> list[tuple[np.ndarray, ...]]:
    """Every (kernel, recurrent kernel, bias) the loop's constants could be, by their shapes."""
    f32 = [w.astype(np.float32) for w in weights if w.dtype.kind == "f"]
    ws = [w for w in f32 if w.shape == (depth, gates * units)]
    us = [w for w in f32 if w.shape == (units, gates * units)]
    bs = [w for w in f32 if w.shape == (gates * units,) or (gates == 3 and w.shape == (2, gates * units))]
    if len(f32) != 2 + min(len(bs), 1) or len(bs) > 1:
        return []  # other float constants: not a plain cell
    b = bs[0] if bs else np.zeros(gates * units, np.float32)
    return [(w, u, b) for w in ws for u in us if w is not u]


def _check_cond(cx: Any, node: Any, init: list[Val], p: _Plan, steps: int) -> bool:
    """The loop condition holds for counters 0..T-1 and fails at T."""
    for k, want in ((0, True), (steps - 1, True), (steps, False)):
        args = []
        for i, v in enumerate(init):
            if i in p.counters:
                args.append(np.asarray(k, v.dtype))
            elif v.is_const or isinstance(v.const, Handle):
                args.append(v.const)
            else:
                args.append(None)  # lists and states: a condition on them is not a counted loop
        try:
            got = cx._ctx.call(node.attr["cond"].name, args, node.where)[0]
        except Exception:  # noqa: BLE001 - the condition reads something else: no fusion
            return False
        if bool(np.asarray(got)) != want:
            return False
    return True


def _trial_args(init, p, fixed, x, states, h0, t, steps) -> list[Any]:
    args: list[Any] = []
    for i, v in enumerate(init):
        if i == p.inputs:
            args.append(TensorList(list(x), np.dtype(np.float32), tuple(x.shape[1:])))
        elif i in p.counters:
            args.append(np.asarray(t, v.dtype))
        elif i in p.lists:
            n = v.shape[0] if v.kind == "list" and v.shape is not None and isinstance(v.shape[0], int) else steps
            args.append(TensorList([None] * n, np.dtype(np.float32), None))
        elif i in states:
            args.append(h0[states.index(i)])
        else:
            args.append(v.const)
    return args


def _same_cell(p: _Plan, out: list[Any], states: list[int], x: np.ndarray, h0: list[np.ndarray], t: int,
               steps: int) -> bool:
    if p.kind == "LSTM":
        cands = [_lstm_step(x, h0[0], h0[1], p.w, p.u, p.b), _lstm_step(x, h0[1], h0[0], p.w, p.u, p.b)]
        want_pairs = [(cands[0][0], cands[0][1]), (cands[1][1], cands[1][0])]
        got = [np.asarray(out[i]) for i in states]
        if not any(np.allclose(got[0], a, rtol=1e-4, atol=1e-5) and np.allclose(got[1], b, rtol=1e-4, atol=1e-5)
                   for a, b in want_pairs):
            return False
        new_h = cands[0][0] if np.allclose(got[0], cands[0][0], rtol=1e-4, atol=1e-5) else cands[1][0]
    else:
        new_h = _gru_step(x, h0[0], p.w, p.u, p.b)
        if not np.allclose(np.asarray(out[states[0]]), new_h, rtol=1e-4, atol=1e-5):
            return False
    for i in p.counters:
        if int(np.asarray(out[i])) != t + 1:
            return False
    (li,) = p.lists
    lst = out[li]
    if not isinstance(lst, TensorList):
        return False
    written = [k for k, item in enumerate(lst.items) if item is not None]
    if written != [t] and written != [0]:
        return False
    if not np.allclose(np.asarray(lst.items[written[0]]), new_h, rtol=1e-4, atol=1e-5):
        return False
    kind = "sequence" if written == [t] and t == 1 else "last" if t == 1 else p.lists[li]
    p.lists[li] = kind
    return True


def _h_and_c(p, cx, node, init, fixed, x, states, h0, steps) -> tuple[int, int]:
    """Which LSTM state variable is h (the one written to the output list) and which is c."""
    out = cx._ctx.call(node.attr["body"].name, _trial_args(init, p, fixed, x, states, h0, 0, steps), node.where)
    (li,) = p.lists
    written = next(item for item in out[li].items if item is not None)
    for a, b in ((states[0], states[1]), (states[1], states[0])):
        if np.allclose(np.asarray(out[a]), written):
            return a, b
    return -1, -1


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


def _emit(cx: Any, p: _Plan, init: list[Val]) -> list[Val]:
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
    (li,) = p.lists
    info = init[li].info
    seq = squeeze(g, y, [1]) if p.lists[li] == "sequence" else yh
    result[li] = Val(seq.name, seq.dtype, seq.shape, kind="list", info=info)
    result[p.h] = squeeze(g, yh, [0])
    if p.kind == "LSTM":
        result[p.c] = squeeze(g, outs[2], [0])
    return [cast(g, v, init[i].dtype) if v.kind == "tensor" and init[i].kind == "tensor" else v
            for i, v in enumerate(result)]
