"""Ops returning a tensor with part of it replaced: strided-slice updates, Inplace*, ScatterNdNonAliasingAdd.

``tensor[1:3].assign(...)`` style updates on values (TensorStridedSliceUpdate, from
``tf.tensor_scatter_nd_update``'s slice sibling and ``x.__setitem__`` in tf.experimental.numpy),
the row updates ``tf.raw_ops.InplaceUpdate/Add/Sub`` (used by ``tf.tensor_scatter``-free
TF1 graphs and ``alias_inplace_*``), and ScatterNdNonAliasingAdd (``tf.scatter_nd_add`` on
a plain tensor). None writes into its input: the result is a new array.
Rules follow tensorflow/tensorflow tensorflow/core/kernels/strided_slice_op.cc,
inplace_ops.cc and scatter_nd_op.cc.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad
from savedmodel_io.graph.ops.array import assign_slice
from savedmodel_io.graph.ops.resource import scatter_nd


@kernel("TensorStridedSliceUpdate")
def tensor_strided_slice_update(node, inputs, ctx):
    return assign_slice(node, np.asarray(inputs[0]), inputs[1], inputs[2], inputs[3], inputs[4])


def _inplace(node, x: np.ndarray, i: np.ndarray, v: np.ndarray, fn) -> np.ndarray:
    if x.ndim != v.ndim:
        raise bad(node, f"x and v shape doesn't match (ranks differ): {list(x.shape)} vs. {list(v.shape)}")
    if x.shape[1:] != v.shape[1:]:
        raise bad(node, f"x and v shape doesn't match at index 1+: {list(x.shape)} vs. {list(v.shape)}")
    if i.ndim != 1 or i.shape[0] != v.shape[0]:
        raise bad(node, f"i and x shape doesn't match at index 0: {list(i.shape)} vs. {list(v.shape)}")
    if x.ndim == 0:
        raise bad(node, "x must be at least 1-D")
    if x.shape[0] == 0 and i.size:
        raise bad(node, "cannot update rows of a tensor without rows")
    out = np.array(x, copy=True)
    # Row indices wrap around (inplace_ops.cc takes them modulo the row count, floored).
    rows = np.mod(i.astype(np.int64), max(x.shape[0], 1))
    fn(out, rows, v.astype(x.dtype, copy=False))
    return out


def _set(out, i, v):
    out[i] = v


_INPLACE = {"InplaceUpdate": _set, "InplaceAdd": np.add.at, "InplaceSub": np.subtract.at}


@kernel("InplaceUpdate", "InplaceAdd", "InplaceSub")
def inplace(node, inputs, ctx):
    x, i, v = (np.asarray(a) for a in inputs)
    with np.errstate(all="ignore"):
        return _inplace(node, x, i, v, _INPLACE[node.op])


@kernel("ScatterNdNonAliasingAdd")
def scatter_nd_non_aliasing_add(node, inputs, ctx):
    x, indices, updates = (np.asarray(a) for a in inputs)
    return scatter_nd(node, x, indices, updates, "Add")
