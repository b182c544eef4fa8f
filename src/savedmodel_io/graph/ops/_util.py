"""Small helpers shared by the kernels: attr access, dtype mapping, shape checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.proto import DataType

__all__ = ["np_dtype", "attr_str", "ints", "axis_list", "bad", "check_input_rank"]


def np_dtype(dt: int) -> np.dtype:
    """numpy dtype of a DataType attr; a variant tensor is an object array of payloads
    (TensorLists, RaggedVariants, CSR matrices...)."""
    if dt == DataType.DT_VARIANT:
        return np.dtype(object)
    return dtypes.to_numpy(dt)


def attr_str(node: Any, name: str, default: str = "") -> str:
    """A string attr decoded as text."""
    v = node.attr.get(name)
    if v is None:
        return default
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def ints(x: Any) -> list[int]:
    """A tensor of integers as a Python list."""
    a = np.asarray(x)
    if a.dtype.kind in "iu":  # tolist() gives Python ints at C speed (shape vectors: every node)
        return a.reshape(-1).tolist()  # type: ignore[no-any-return]
    return [int(v) for v in a.reshape(-1)]


def axis_list(axis: Any, ndim: int, node: Any) -> tuple[int, ...]:
    """Normalised reduction axes (negative allowed), checked against ``ndim``."""
    out = []
    for a in ints(axis):
        if not -ndim <= a < max(ndim, 1):
            raise bad(node, f"axis {a} is out of range for a rank-{ndim} tensor")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def check_input_rank(node: Any, x: np.ndarray) -> None:
    """Refuse input 0 of a rank other than the one the optimiser relied on (``_input_rank``,
    set where it rewrote the node from the graph's recorded shapes): the saved graph would fail
    there, so the rewritten node must not compute something instead."""
    rank = node.attr.get("_input_rank")
    if rank is not None and x.ndim != rank:
        raise bad(node, f"the graph records a rank-{rank} input, got shape {list(x.shape)}")


def bad(node: Any, message: str) -> InvalidArgumentError:
    """InvalidArgumentError naming the node (TF raises InvalidArgument for these)."""
    return InvalidArgumentError(message, where=node.where)


# Largest tensor a kernel may create from a few bytes of input (Fill, Tile, Range...):
# a hostile graph must get an error, not an out-of-memory kill.
MAX_RESULT_BYTES = 1 << 32
# Tensors one node may output when an attr sets the count (DynamicPartition's num_partitions): a
# damaged or hostile count must fail, not loop 2**40 times.
MAX_OUTPUTS = 1 << 20


def check_size(node: Any, shape: Any, itemsize: int = 4) -> None:
    """LimitExceededError if a tensor of ``shape`` would exceed MAX_RESULT_BYTES."""
    from savedmodel_io.errors import LimitExceededError

    n = 1
    for d in shape:
        n *= max(int(d), 0)
    if n * max(itemsize, 1) > MAX_RESULT_BYTES:
        raise LimitExceededError(
            f"result of shape {list(shape)} would take {n * itemsize} bytes "
            f"(limit {MAX_RESULT_BYTES})", where=node.where)


def pad_constant(x: np.ndarray, pads: list[tuple[int, int]], value: Any = 0) -> np.ndarray:
    """``np.pad`` in constant mode, done as one fill and one copy (several times faster)."""
    shape = tuple(d + a + b for d, (a, b) in zip(x.shape, pads))
    out = np.full(shape, value, dtype=x.dtype) if value != 0 or x.dtype == object \
        else np.zeros(shape, dtype=x.dtype)
    out[tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, pads))] = x
    return out


def scalar_int(node: Any, value: Any, name: str) -> int:
    """An integer input that must be a scalar (TF: "<name> must be a scalar")."""
    a = np.asarray(value)
    if a.ndim != 0:
        raise bad(node, f"{name} must be a scalar, not shape {list(a.shape)}")
    return int(a)


def extreme(dtype: np.dtype, high: bool) -> Any:
    """The largest (``high``) or lowest finite value of a numeric dtype (numeric_limits)."""
    dtype = np.dtype(dtype)
    info: Any
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
    elif dtype.kind == "f":
        info = np.finfo(dtype)
    else:  # bfloat16 (a dtype only ml_dtypes defines, so only ml_dtypes knows its limits)
        import ml_dtypes

        info = ml_dtypes.finfo(dtype)  # type: ignore[no-untyped-call]
    return dtype.type(info.max if high else info.min)


def is_floating(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is a real floating type (bfloat16 and ml_dtypes' other floats too)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.name.startswith(("bfloat", "float")))
