"""Small helpers shared by the kernels: attr access, dtype mapping, shape checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError

__all__ = ["np_dtype", "attr_str", "ints", "axis_list", "bad"]


def np_dtype(dt: int) -> np.dtype:
    """numpy dtype of a DataType attr."""
    return dtypes.to_numpy(dt)


def attr_str(node: Any, name: str, default: str = "") -> str:
    """A string attr decoded as text."""
    v = node.attr.get(name)
    if v is None:
        return default
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def ints(x: Any) -> list[int]:
    """A tensor of integers as a Python list."""
    return [int(v) for v in np.asarray(x).reshape(-1)]


def axis_list(axis: Any, ndim: int, node: Any) -> tuple[int, ...]:
    """Normalised reduction axes (negative allowed), checked against ``ndim``."""
    out = []
    for a in ints(axis):
        if not -ndim <= a < max(ndim, 1):
            raise bad(node, f"axis {a} is out of range for a rank-{ndim} tensor")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def bad(node: Any, message: str) -> InvalidArgumentError:
    """InvalidArgumentError naming the node (TF raises InvalidArgument for these)."""
    return InvalidArgumentError(message, where=node.where)
