"""Helpers shared by the converters: attrs, constants, and ONNX ops whose form changed between opsets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx._types import onnx_type

__all__ = [
    "MAX_CONST_ELEMENTS", "MAX_UNROLLED", "bounded", "attr_dtype", "cast", "const_ints", "i64", "reduce", "squeeze", "unsqueeze", "split", "shape_of",
    "norm_axis", "need_rank", "scalar", "working", "working_dtype", "INT64_MAX", "INT64_MIN", "is_float",
    "truncate_bf16",
]

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# What one op may make at export: constants built in numpy (elements) and ONNX nodes unrolled one
# per tap. A graph is data: a mistaken or hostile size gets an ExportError, not gigabytes of
# constants or millions of nodes.
MAX_CONST_ELEMENTS = 1 << 26
MAX_UNROLLED = 1 << 12


def bounded(n: int, most: int, what: str) -> int:
    """``n``, or an ExportError when it is over ``most``."""
    if n > most:
        raise ExportError(f"{what} is {n}, over the exporter's limit of {most}")
    return n


def attr_dtype(node: Any, name: str, default: int | None = None) -> np.dtype:
    """numpy dtype of a DataType attr."""
    dt = node.attr.get(name, default)
    if dt is None:
        raise ExportError(f"attr {name!r} is missing")
    return dtypes.to_numpy(dt)


def attr_text(node: Any, name: str, default: str = "") -> str:
    v = node.attr.get(name)
    if v is None:
        return default
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def const_ints(v: Val, what: str) -> list[int]:
    """A constant integer tensor as a list (ExportError when it is computed at run time)."""
    if not v.is_const:
        raise ExportError(f"{what} must be a constant (it is computed at run time)")
    return [int(x) for x in np.asarray(v.const).reshape(-1)]


def partly_known(v: Val, what: str) -> list[int | None]:
    """A small integer tensor's elements, None where only known at run time (see ``_sym``)."""
    from savedmodel_io.onnx._sym import sym_of

    sym = sym_of(v)
    if sym is None:
        raise ExportError(f"{what} is computed at run time")
    return [int(x) if isinstance(x, (int, np.integer)) else None for x in sym.reshape(-1)]


def scalar(g: Graph, value: Any, dtype: Any) -> Val:
    return g.const(np.asarray(value, dtype=dtype))


def cast(g: Graph, v: Val, dtype: Any) -> Val:
    """``v`` as ``dtype`` (no node when it already is)."""
    dt = np.dtype(dtype)
    if v.dtype == dt:
        return v
    to = onnx_type(dt)
    if to is None:
        raise ExportError(f"ONNX has no {dt} tensors")
    if v.is_const and dt.kind != "O" and v.dtype.kind != "O" and not (v.dtype.kind == "f" and dt.kind in "iub"):
        return g.const(v.const.astype(dt))
    return g.op1("Cast", v, to=to)


# onnxruntime's CPU kernels for scatters, TopK, Where and Expand cover 32/64-bit numbers (and a
# few 8-bit ones): narrower types are computed in these, exactly (floats widen to float32).
_WORKING = {np.dtype(np.float16): np.float32, np.dtype(np.int8): np.int32, np.dtype(np.int16): np.int32,
            np.dtype(np.uint8): np.int32, np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64}


def is_float(dt: Any) -> bool:
    """Whether ``dt`` is a floating type: numpy's kind ``f``, or bfloat16 (ml_dtypes' kind ``V``)."""
    d = np.dtype(dt)
    return d.kind == "f" or d.name == "bfloat16"


def working_dtype(dt: np.dtype) -> np.dtype:
    """The type onnxruntime computes ``dt`` in (ExportError for uint64, which nothing wider holds)."""
    if dt == np.uint64:
        raise ExportError("onnxruntime has no uint64 kernel for this op")
    return np.dtype(_WORKING.get(np.dtype(dt), dt))


def working(g: Graph, v: Val) -> Val:
    """``v`` cast to its working type (see ``working_dtype``)."""
    return cast(g, v, working_dtype(v.dtype))


def i64(g: Graph, v: Val) -> Val:
    return cast(g, v, np.int64)


def need_rank(v: Val, what: str = "input") -> int:
    """The rank of ``v`` (ExportError when not known before running)."""
    if v.shape is None:
        raise ExportError(f"the rank of the {what} is not known before running")
    return len(v.shape)


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ExportError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def _axes_val(g: Graph, axes: Sequence[int] | Val) -> Val:
    if isinstance(axes, Val):
        a = i64(g, axes)
        return a if a.rank == 1 else g.op1("Reshape", a, g.const(np.asarray([-1], np.int64)))
    return g.const(np.asarray(list(axes), np.int64))


def unsqueeze(g: Graph, x: Val, axes: Sequence[int]) -> Val:
    return g.op1("Unsqueeze", x, _axes_val(g, axes))


def squeeze(g: Graph, x: Val, axes: Sequence[int] | None) -> Val:
    if axes is None:
        return g.op1("Squeeze", x)
    if not axes:
        return x
    return g.op1("Squeeze", x, _axes_val(g, axes))


def reduce(g: Graph, op: str, x: Val, axes: Sequence[int] | Val | None, keepdims: bool) -> Val:
    """Reduce* over ``axes`` (None: all axes; an empty list: no reduction, as in TensorFlow)."""
    if axes is not None and not isinstance(axes, Val) and len(axes) == 0:
        return x
    k = 1 if keepdims else 0
    if axes is None:
        return g.op1(op, x, keepdims=k)
    if g.model.opset >= 18 or op == "ReduceSum":
        if isinstance(axes, Val) and not axes.is_const:
            return g.op1(op, x, _axes_val(g, axes), keepdims=k, noop_with_empty_axes=1)
        return g.op1(op, x, _axes_val(g, axes), keepdims=k)
    if isinstance(axes, Val):
        axes = const_ints(axes, "the reduction axes")
    return g.op1(op, x, keepdims=k, axes=list(axes))


def split(g: Graph, x: Val, axis: int, sizes: Sequence[int] | None = None, num: int | None = None) -> list[Val]:
    """Split ``x`` along ``axis`` into ``num`` equal parts or parts of ``sizes``."""
    if sizes is not None:
        return g.op("Split", [x, g.const(np.asarray(list(sizes), np.int64))], outputs=len(sizes), axis=axis)
    assert num is not None
    if g.model.opset >= 18:
        return g.op("Split", [x], outputs=num, axis=axis, num_outputs=num)
    return g.op("Split", [x], outputs=num, axis=axis)


def shape_of(g: Graph, x: Val, dtype: Any = np.int64) -> Val:
    """The (logical) shape of ``x`` as a 1-D tensor of ``dtype``."""
    if x.shape is not None and all(isinstance(d, int) for d in x.logical_shape):
        return g.const(np.asarray(x.logical_shape, dtype))
    if x.perm is not None:
        s = g.op1("Shape", x)
        from savedmodel_io.onnx._graph import invert

        s = g.op1("Gather", s, g.const(np.asarray(invert(x.perm), np.int64)), axis=0)
    else:
        s = g.op1("Shape", x)
    return cast(g, s, dtype)


def dim_of(g: Graph, x: Val, axis: int) -> Val:
    """Size of ``x``'s axis as an int64 1-element vector."""
    if x.shape is not None and isinstance(x.shape[axis], int):
        return g.const(np.asarray([x.shape[axis]], np.int64))
    return g.op1("Shape", x, start=axis, end=axis + 1 if axis != -1 else None)


def truncate_bf16(g: Graph, x: Val) -> Val:
    """float32 ``x`` as bfloat16 rounded toward zero (its high 16 bits), as TensorFlow's
    ``FloatToBFloat16`` converts (tensorflow/tensorflow tensorflow/core/framework/bfloat16.cc); ONNX's
    Cast rounds to nearest even. In float32 arithmetic: ``x - fmod(x, ulp)`` with the bfloat16 ulp
    of ``|x|``, ``2 ** (e - 7)`` for ``2 ** e <= |x| < 2 ** (e + 1)`` (``e`` at least -126: the
    subnormals' ulp is 2 ** -133); infinities and zeros are kept, NaN stays NaN."""
    f32 = np.float32
    a = g.op1("Abs", x)
    e = g.op1("Floor", g.op1("Mul", g.op1("Log", a), scalar(g, 1 / np.log(2), f32)))
    two = scalar(g, 2, f32)
    p = g.op1("Pow", two, e)
    # Log's rounding can put e one off either way near powers of two.
    e = g.op1("Sub", e, cast(g, g.op1("Greater", p, a), f32))
    e = g.op1("Add", e, cast(g, g.op1("LessOrEqual", g.op1("Mul", p, two), a), f32))
    e = g.op1("Max", e, scalar(g, -126, f32))
    ulp = g.op1("Pow", two, g.op1("Sub", e, scalar(g, 7, f32)))
    t = g.op1("Sub", x, g.op1("Mod", x, ulp, fmod=1))
    keep = g.op1("Or", g.op1("IsInf", x), g.op1("Equal", a, scalar(g, 0, f32)))
    picked = g.op1("Where", keep, x, t)
    out = cast(g, picked, _bf16())
    out._wide = [(g, picked)]  # a bfloat16 value already: later float32 ops read it without a Cast
    return out


def _bf16() -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)
