"""Fold ONNX nodes whose inputs are all constants (shape-moving ops and exact integer maths).

Converters emit ONNX ops without checking whether their inputs are constant; when
they are, the few ops below are computed here with numpy instead (weights laid out
for Conv, shape vectors, ...). Only ops whose numpy form is exactly ONNX's are listed:
semantics from onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["fold"]

# Results larger than this stay graph ops (Expand/Tile of a constant would bloat the file).
MAX_FOLDED_ELEMENTS = 1 << 16


def _axes(inputs: list[Any], attrs: dict[str, Any], at: int) -> list[int] | None:
    if len(inputs) > at and inputs[at] is not None:
        return [int(a) for a in np.asarray(inputs[at]).reshape(-1)]
    a = attrs.get("axes")
    return None if a is None else [int(x) for x in a]


def _reshape(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, shape = inputs
    shape = [int(d) for d in shape]
    if not attrs.get("allowzero"):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x = inputs[0]
    axes = _axes(inputs, attrs, 1) or []
    rank = x.ndim + len(axes)
    out = x
    for a in sorted(a % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


def _squeeze(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x = inputs[0]
    axes = _axes(inputs, attrs, 1)
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


def _slice(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, starts, ends = inputs[0], inputs[1], inputs[2]
    axes = range(len(starts)) if len(inputs) < 4 or inputs[3] is None else inputs[3]
    steps = [1] * len(starts) if len(inputs) < 5 or inputs[4] is None else inputs[4]
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = int(a) % x.ndim
        n = x.shape[a]
        s, e, st = int(s), int(e), int(st)
        s, e = s + n if s < 0 else s, e + n if e < 0 else e
        # Clamping: onnx/onnx docs/Operators.md, Slice.
        if st > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
        x = np.take(x, np.arange(s, e, st, dtype=np.int64), axis=a)
    return x


def _cast(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    from savedmodel_io.onnx._types import np_type

    x = inputs[0]
    to = np_type(attrs["to"])
    if x.dtype.kind == "f" and to.kind in "iub":
        return None  # float -> int rounding is left to the runtime
    if x.dtype.kind == "O" or to.kind == "O":
        return None
    return x.astype(to)


def _int_binary(fn: Callable[[Any, Any], Any]) -> Callable[[list[Any], dict[str, Any]], Any]:
    def run(inputs: list[Any], attrs: dict[str, Any]) -> Any:
        a, b = inputs
        if a.dtype != b.dtype or a.dtype.kind not in "iu":
            return None
        with np.errstate(all="ignore"):
            return fn(a, b).astype(a.dtype)
    return run


def _int_only(fn: Callable[..., Any]) -> Callable[[list[Any], dict[str, Any]], Any]:
    """Exact integer/boolean maths (index computations): None for other types."""
    def run(inputs: list[Any], attrs: dict[str, Any]) -> Any:
        if any(x.dtype.kind not in "iub" for x in inputs):
            return None
        return fn(*inputs)
    return run


def _where(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    c, a, b = inputs
    if a.dtype != b.dtype or a.dtype.kind not in "iub":
        return None
    return np.where(c, a, b)


def _range(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """np.arange, unless its length is past MAX_FOLDED_ELEMENTS (checked before allocating)."""
    if not d or max(0, -(-(int(b) - int(a)) // int(d))) > MAX_FOLDED_ELEMENTS:
        return None
    out: np.ndarray = np.arange(int(a), int(b), int(d), dtype=a.dtype)
    return out


def _expand(i: list[np.ndarray], a: dict[str, Any]) -> np.ndarray | None:
    """ONNX Expand (numpy broadcasting), unless the result is past MAX_FOLDED_ELEMENTS and its input
    (checked before allocating; fold() checks the other ops' results after)."""
    shape = np.broadcast_shapes(i[0].shape, tuple(int(d) for d in i[1]))
    size = float(np.prod(shape, dtype=np.float64))
    if size > MAX_FOLDED_ELEMENTS and size > i[0].size:
        return None
    out: np.ndarray = np.broadcast_to(i[0], shape).copy()
    return out


_FOLD: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {
    "Min": _int_only(lambda *xs: np.minimum.reduce(np.broadcast_arrays(*xs))),
    "Max": _int_only(lambda *xs: np.maximum.reduce(np.broadcast_arrays(*xs))),
    "Less": _int_only(np.less),
    "LessOrEqual": _int_only(np.less_equal),
    "Greater": _int_only(np.greater),
    "GreaterOrEqual": _int_only(np.greater_equal),
    "Equal": _int_only(np.equal),
    "And": _int_only(np.logical_and),
    "Or": _int_only(np.logical_or),
    "Not": _int_only(np.logical_not),
    "Where": _where,
    "Range": _int_only(_range),
    "Identity": lambda i, a: i[0],
    "Transpose": lambda i, a: np.transpose(i[0], a.get("perm")),
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda i, a: np.concatenate([np.asarray(x) for x in i], axis=a["axis"]),
    "Shape": lambda i, a: np.asarray(i[0].shape[a.get("start", 0):a.get("end")], np.int64),
    "Size": lambda i, a: np.asarray(i[0].size, np.int64),
    "Gather": lambda i, a: np.take(i[0], i[1], axis=a.get("axis", 0)),
    "Slice": _slice,
    "Cast": _cast,
    "Expand": _expand,
    "Add": _int_binary(np.add),
    "Sub": _int_binary(np.subtract),
    "Mul": _int_binary(np.multiply),
    "Neg": lambda i, a: np.negative(i[0]) if i[0].dtype.kind in "i" else None,
}


def fold(op_type: str, inputs: list[Any], attrs: dict[str, Any]) -> list[np.ndarray] | None:
    """The outputs of ONNX ``op_type`` on constant ``inputs``, or None to emit the node."""
    fn = _FOLD.get(op_type)
    if fn is None or any(x is not None and not isinstance(x, np.ndarray) for x in inputs):
        return None
    try:
        out = fn(inputs, attrs)
    except (ValueError, IndexError, TypeError):
        return None  # let ONNX inference report the problem on the real node
    if out is None:
        return None
    out = np.asarray(out)
    if out.size > MAX_FOLDED_ELEMENTS and out.size > sum(x.size for x in inputs if x is not None):
        return None
    return [out]
