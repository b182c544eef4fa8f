"""Recognise a While loop that is a Keras LSTM or GRU layer (for the runtime's fused kernel and ONNX's LSTM/GRU).

A loop is taken for an LSTM (or GRU) layer when it behaves as one, checked by running
it rather than by matching its nodes: the loop steps over a TensorList of inputs with
counters that start at 0 and grow by 1 until ``T`` (the condition holds for 0..T-1 and
fails at T), and the body, run on random states and inputs, gives exactly (float32
rounding) the Keras cell on the layer's kernel, recurrent kernel and bias: LSTM
``i, f, c, o = split(x W + h U + b)``, ``c' = f c + i tanh(c)``, ``h' = o tanh(c')``;
GRU (reset_after) ``z, r = sigmoid(...)``, ``h~ = tanh(x W_h + b_h + r (h U_h + b'_h))``,
``h' = z h + (1 - z) h~``. Anything else (masking, other activations, dynamic lengths,
peepholes...) is not recognised. Cell equations: keras-team/keras keras/src/layers/rnn/
lstm.py and gru.py (gate order i, f, c, o and z, r, h).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from savedmodel_io.graph.ops.tensorlist import TensorList

__all__ = ["Layer", "Slot", "gru_step", "lstm_step", "recognise"]

_BATCH = 2  # batch size of the trial runs
_MAX_STEPS = 1 << 17  # a longer loop is not searched for (nor given trial lists that long)
_RTOL, _ATOL = 1e-4, 1e-5  # float32 rounding of the body's own order of operations


@dataclass
class Slot:
    """One loop variable as the recognition sees it."""

    fixed: bool  # the body returns it unchanged
    value: Any = None  # what the body is given for it when known before the loop runs (array, Handle), else None
    array: np.ndarray | None = None  # its value as an array when known (a variable's value for a Handle)
    is_list: bool = False  # a TensorList
    dtype: np.dtype | None = None  # the tensor's dtype (None when unknown)
    rank: int | None = None  # the tensor's rank (None when unknown)


@dataclass
class Layer:
    """A recognised layer: its cell, its weights and which loop variable is what."""

    kind: str  # "LSTM" or "GRU"
    w: np.ndarray  # kernel [depth, gates * units]
    u: np.ndarray  # recurrent kernel [units, gates * units]
    b: np.ndarray  # bias [gates * units], or [2, 3 * units] for a reset_after GRU
    steps: int  # T; 0 when only the limits give it (a runner takes the input list's length)
    inputs: int  # the loop variable holding the input TensorList (T items of [batch, depth])
    output: int  # the loop variable holding the output TensorList
    sequence: bool  # the output list gets h at every step t (else only the last h, at 0)
    h: int
    c: int = -1  # LSTM only
    counters: list[int] = field(default_factory=list)  # variables counting 0..T
    # Integer scalars known only when the loop runs (Keras' maximum_iterations), which
    # the condition may compare a counter with: recognised with their largest value, so
    # a runner must check that the condition still stops at T with their real values.
    limits: list[int] = field(default_factory=list)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    y: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return y


def _count(slot: Slot, k: int) -> np.ndarray:
    """A counter's value ``k`` in its own dtype."""
    assert slot.array is not None  # counters are known scalars
    return np.asarray(k, slot.array.dtype)


def lstm_step(x: np.ndarray, h: np.ndarray, c: np.ndarray, w: np.ndarray, u: np.ndarray,
              b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Keras LSTM step: the new h and c."""
    z = x @ w + h @ u + b
    i, f, cc, o = np.split(z, 4, axis=1)
    c2 = _sigmoid(f) * c + _sigmoid(i) * np.tanh(cc)
    return _sigmoid(o) * np.tanh(c2), c2


def gru_step(x: np.ndarray, h: np.ndarray, w: np.ndarray, u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One Keras GRU step (reset_after when ``b`` holds two biases): the new h."""
    bx, bh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    xz, xr, xh = np.split(x @ w + bx, 3, axis=1)
    hz, hr, hh = np.split(h @ u + bh, 3, axis=1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    new: np.ndarray = z * h + (1 - z) * np.tanh(xh + r * hh)
    return new


Call = Callable[[str, list[Any]], list[Any]]


def recognise(call: Call, cond: str, body: str, slots: list[Slot], steps: int | None = None,
              limits: bool = False) -> Layer | None:
    """The layer the loop ``cond``/``body`` over ``slots`` is, or None.

    ``call(function, args)`` runs a library function; ``steps`` is T when known (else the
    condition is searched for it); ``limits`` admits run-time integer scalars the body
    passes through (see :attr:`Layer.limits`)."""
    slots = list(slots)  # limits get their stand-in value below
    lists = [i for i, s in enumerate(slots) if s.fixed and s.is_list and s.value is None]
    if len(lists) != 1:
        return None
    inputs = lists[0]
    counters, outputs, states, bounds = [], [], [], []
    for i, s in enumerate(slots):
        if s.fixed:
            if s.value is None and i != inputs:
                if not (limits and s.rank == 0 and s.dtype is not None and s.dtype.kind in "iu"):
                    return None  # a run-time tensor the body reads: not a plain Keras cell
                bounds.append(i)
                slots[i] = Slot(True, np.asarray(np.iinfo(s.dtype).max, s.dtype), None, False, s.dtype, 0)
        elif s.is_list:
            outputs.append(i)
        elif s.array is not None and s.array.ndim == 0 and s.array.dtype.kind in "iu" and int(s.array) == 0:
            counters.append(i)
        elif s.dtype == np.float32 and s.rank in (2, None):
            states.append(i)
        else:
            return None
    if not counters or len(outputs) != 1 or len(states) not in (1, 2):
        return None
    weights = [s.array for i, s in enumerate(slots) if s.fixed and i != inputs and s.array is not None
               and s.array.ndim > 0]
    gates = 4 if len(states) == 2 else 3
    # The recurrent kernel is [units, gates * units].
    units = next((w.shape[0] for w in weights if w.ndim == 2 and w.shape[1] == gates * w.shape[0]), None)
    if units is None:
        return None
    steps = _steps(call, cond, slots, counters, steps, dynamic=bool(bounds))
    if steps is None or steps == 1:
        return None
    p = Layer("LSTM" if gates == 4 else "GRU", np.zeros(0), np.zeros(0), np.zeros(0), steps, inputs,
              outputs[0], False, states[0], counters=counters, limits=bounds)
    trials: dict[int, tuple[np.ndarray, list[np.ndarray], list[list[Any]]]] = {}
    for w, u, b in _candidates(weights, units, gates):
        depth = w.shape[0]
        if depth not in trials:
            rs = np.random.RandomState(0)
            x = rs.standard_normal((2, _BATCH, depth)).astype(np.float32)
            h0 = [rs.standard_normal((_BATCH, units)).astype(np.float32) for _ in states]
            # Two trial steps, at time 0 and time 1 (where the output list is written tells its kind).
            try:
                outs = [call(body, _trial_args(slots, p, states, x, h0, t)) for t in (0, 1)]
            except Exception:  # noqa: BLE001 - a body that cannot run on these values: not this kernel
                outs = []
            trials[depth] = (x, h0, outs)
        x, h0, outs = trials[depth]
        if not outs:
            continue
        p.w, p.u, p.b = w, u, b
        if all(_same_cell(p, outs[t], states, x[t], h0, t) for t in (0, 1)):
            break
    else:
        return None
    if gates == 4:
        p.h, p.c = _h_and_c(p, trials[p.w.shape[0]][2][0], states)
        if p.h < 0:
            return None
    return p


def _steps(call: Call, cond: str, slots: list[Slot], counters: list[int], steps: int | None,
           dynamic: bool) -> int | None:
    """T: the condition holds for counters 0..T-1 and fails at T (``steps`` checked, else searched);
    0 when ``dynamic`` and it holds at every count searched (the limits stop the loop)."""
    def holds(k: int) -> bool | None:
        args = [_count(slots[i], k) if i in counters else slots[i].value
                for i in range(len(slots))]
        try:
            return bool(np.asarray(call(cond, args)[0]))
        except Exception:  # noqa: BLE001 - the condition reads the states or lists: not a counted loop
            return None

    if steps is None:
        if holds(0) is not True:
            return None
        hi = 1
        while (ok := holds(hi)) is True:
            if hi >= _MAX_STEPS:
                return 0 if dynamic else None
            hi *= 2
        if ok is None:
            return None
        lo = hi // 2  # holds(lo) is True, holds(hi) is False
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ok = holds(mid)
            if ok is None:
                return None
            lo, hi = (mid, hi) if ok else (lo, mid)
        steps = hi
    if holds(0) is not True or holds(steps - 1) is not True or holds(steps) is not False:
        return None
    return steps


def _candidates(weights: list[np.ndarray], units: int, gates: int) -> list[tuple[np.ndarray, ...]]:
    """Every (kernel, recurrent kernel, bias) the loop's constants could be, by their shapes."""
    f32 = [w.astype(np.float32) for w in weights if w.dtype.kind == "f"]
    us = [w for w in f32 if w.shape == (units, gates * units)]
    bs = [w for w in f32 if w.shape == (gates * units,) or (gates == 3 and w.shape == (2, gates * units))]
    ws = [w for w in f32 if w.ndim == 2 and w.shape[1] == gates * units and not any(w is b for b in bs)]
    if len(f32) != 2 + min(len(bs), 1) or len(bs) > 1:
        return []  # other float constants: not a plain cell
    b = bs[0] if bs else np.zeros(gates * units, np.float32)
    return [(w, u, b) for w in ws for u in us if w is not u]


def _trial_args(slots: list[Slot], p: Layer, states: list[int], x: np.ndarray, h0: list[np.ndarray],
                t: int) -> list[Any]:
    args: list[Any] = []
    for i, s in enumerate(slots):
        if i == p.inputs:
            # Only items 0 and 1 are read by the two trial steps; the rest share one array.
            args.append(TensorList([x[0], x[1]] + [x[1]] * (max(p.steps, 2) - 2), np.dtype(np.float32),
                                   tuple(x.shape[1:])))
        elif i in p.counters:
            args.append(_count(s, t))
        elif i == p.output:
            args.append(TensorList([None] * max(p.steps, 2), np.dtype(np.float32), None))
        elif i in states:
            args.append(h0[states.index(i)])
        else:
            args.append(s.value)
    return args


def _close(a: Any, b: np.ndarray) -> bool:
    a = np.asarray(a)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=_RTOL, atol=_ATOL))


def _same_cell(p: Layer, out: list[Any], states: list[int], x: np.ndarray, h0: list[np.ndarray], t: int) -> bool:
    if p.kind == "LSTM":
        h1, c1 = lstm_step(x, h0[0], h0[1], p.w, p.u, p.b)
        c2, h2 = lstm_step(x, h0[1], h0[0], p.w, p.u, p.b)[::-1]
        got = [out[i] for i in states]
        if _close(got[0], h1) and _close(got[1], c1):
            new_h = h1
        elif _close(got[0], c2) and _close(got[1], h2):
            new_h = h2
        else:
            return False
    else:
        new_h = gru_step(x, h0[0], p.w, p.u, p.b)
        if not _close(out[states[0]], new_h):
            return False
    if any(int(np.asarray(out[i])) != t + 1 for i in p.counters):
        return False
    lst = out[p.output]
    if not isinstance(lst, TensorList):
        return False
    written = [k for k, item in enumerate(lst.items) if item is not None]
    if written != [t] and written != [0]:
        return False
    if not _close(lst.items[written[0]], new_h):
        return False
    if t == 1:
        p.sequence = written == [1]
    return True


def _h_and_c(p: Layer, out: list[Any], states: list[int]) -> tuple[int, int]:
    """Which LSTM state variable is h (the one written to the output list) and which is c."""
    written = next(item for item in out[p.output].items if item is not None)
    for a, b in ((states[0], states[1]), (states[1], states[0])):
        if np.allclose(np.asarray(out[a]), written):
            return a, b
    return -1, -1
