"""Partly known values of small integer tensors (shape vectors), so shape arithmetic folds.

Keras builds shapes at run time: ``tf.shape(x)`` sliced, packed with constants,
multiplied... With ``x`` of shape (batch, 8, 8, 3) most of those values are known
before running. A Val's ``sym`` is an object array of ints, of symbolic dim names
(a str: the size of a graph input's unknown dim) and None where the value is only
known at run time; this module computes the ``sym`` of an op's
output from its inputs' (reusing the numpy kernels on the object arrays for the ops
that only move elements). A fully known result becomes a constant and no ONNX node
is emitted for it; a partly known one lets later ops (Conv2DBackpropInput's
input_sizes, Reshape targets) read the parts they need.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from savedmodel_io import dtypes

__all__ = ["OPS", "infer", "known", "out_dtype", "sym_of"]

# Sym arrays longer than this are not tracked (shape vectors are short).
MAX_SYM = 64


def sym_of(v: Any) -> np.ndarray | None:
    """The partly known value of a Val (an object array), or None."""
    if v.is_const:
        c: np.ndarray = v.const
        if c.dtype.kind in "iu" and c.ndim <= 1 and c.size <= MAX_SYM:
            return c.astype(object)
        return None
    if v.sym is not None:
        sym: np.ndarray = v.sym
        return sym
    # A small integer tensor of known shape: every element unknown, but its place is known.
    if v.kind == "tensor" and v.dtype is not None and v.dtype.kind in "iu" and v.perm is None and \
            v.shape is not None and len(v.shape) <= 1 and all(isinstance(d, int) for d in v.shape) and \
            int(np.prod(v.shape, dtype=np.int64)) <= MAX_SYM:
        return np.full(v.shape, None, dtype=object)
    return None


def _shape(node: Any, ins: list[Any]) -> list[np.ndarray] | None:
    out = []
    for x in ins:
        if x.shape is None:
            return None
        # Symbolic dims stay as their names: equal names are equal sizes.
        out.append(np.asarray(list(x.logical_shape), dtype=object).reshape(-1))
    return out


def _size(node: Any, ins: list[Any]) -> list[np.ndarray] | None:
    s = _shape(node, ins)
    if s is None or any(not isinstance(d, int) for d in s[0]):
        return None
    return [np.asarray(int(np.prod([int(d) for d in s[0]], dtype=np.int64)), dtype=object)]


def _lift(fn: Callable[[Any, Any], Any]) -> Any:
    def apply(a: Any, b: Any) -> Any:
        return fn(a, b) if isinstance(a, int) and isinstance(b, int) else None
    return np.frompyfunc(apply, 2, 1)


_ARITH = {
    "Add": _lift(operator.add), "AddV2": _lift(operator.add), "Sub": _lift(operator.sub),
    "Mul": _lift(operator.mul), "FloorDiv": _lift(lambda a, b: a // b if b else None),
    "Maximum": _lift(max), "Minimum": _lift(min),
}

# Ops whose kernels only move elements: run on the object arrays as they are.
_MOVES = {"StridedSlice", "Slice", "GatherV2", "Gather", "Pack", "ConcatV2", "Concat", "ExpandDims",
          "Squeeze", "Reshape", "Identity", "Unpack"}

# Every op this module follows.
OPS = frozenset(_MOVES | set(_ARITH) | {"Shape", "ShapeN", "Size", "Prod", "Cast"})


def _elementwise(node: Any, syms: list[np.ndarray]) -> list[np.ndarray] | None:
    fn = _ARITH[node.op]
    a, b = syms
    try:
        return [np.asarray(fn(a, b), dtype=object)]
    except (ValueError, TypeError, ZeroDivisionError):
        return None


def _prod(node: Any, ins: list[Any], syms: list[np.ndarray | None]) -> list[np.ndarray] | None:
    x, axes = syms
    if x is None or axes is None or x.ndim != 1 or node.attr.get("keep_dims"):
        return None
    if any(not isinstance(v, int) for v in x):
        return [np.asarray(None, dtype=object)]
    return [np.asarray(int(np.prod([int(v) for v in x], dtype=np.int64)), dtype=object)]


def infer(node: Any, ins: list[Any], ctx: Any) -> list[np.ndarray] | None:
    """The partly known outputs of ``node`` (object arrays), or None when not tracked."""
    op = node.op
    if op in ("Shape", "ShapeN"):
        return _shape(node, ins)
    if op == "Size":
        return _size(node, ins)
    syms = [sym_of(v) for v in ins]
    if op in _ARITH:
        if any(s is None for s in syms) or not all(v.dtype is not None and v.dtype.kind in "iu" for v in ins):
            return None
        return _elementwise(node, syms)  # type: ignore[arg-type]
    if op == "Prod":
        return _prod(node, ins, syms)
    if op == "Cast":
        int_to_int = ins[0].dtype is not None and ins[0].dtype.kind in "iu" \
            and dtypes.to_numpy(node.attr["DstT"]).kind in "iu"
        return [syms[0]] if int_to_int and syms[0] is not None else None
    if op not in _MOVES or node.kernel is None:
        return None
    if any(s is None for s in syms):
        return None
    # Constants go in as themselves (indices and axes must stay integers).
    args = [v.const if v.is_const else sym for v, sym in zip(ins, syms)]
    try:
        out = node.kernel.fn(node, args, ctx)
    except Exception:  # noqa: BLE001 - a kernel that cannot run on object arrays: not tracked
        return None
    outs = out if isinstance(out, list) else [out]
    result = []
    for o in outs:
        arr = np.asarray(o, dtype=object)
        if arr.ndim > 1 or arr.size > MAX_SYM:
            return None
        result.append(arr)
    return result


def known(sym: np.ndarray | None) -> bool:
    """Whether every element of a sym is a known integer."""
    return sym is not None and all(isinstance(v, (int, np.integer)) for v in sym.reshape(-1))


def out_dtype(node: Any, ins: list[Any]) -> np.dtype:
    """The dtype of a followed op's outputs."""
    if node.op in ("Shape", "ShapeN", "Size"):
        return dtypes.to_numpy(node.attr.get("out_type", 3))  # DT_INT32 by default
    if node.op == "Cast":
        return dtypes.to_numpy(node.attr["DstT"])
    dt: np.dtype = ins[1].dtype if node.op == "Concat" else ins[0].dtype
    return dt
