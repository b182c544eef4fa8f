"""Order statistics and sorted searches: NthElement, InTopK, ApproxTopK, Lower/UpperBound."""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype, scalar_int


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


# tensorflow/tensorflow tensorflow/core/kernels/searchsorted_op.cc: both inputs are matrices
# with one row per search; each row of values is searched in the same row of sorted_inputs.
@kernel("LowerBound", "UpperBound")
def bound(node, inputs, ctx):
    sorted_in, values = _a(inputs[0]), _a(inputs[1])
    for name, v in (("sorted_inputs", sorted_in), ("values", values)):
        if v.ndim != 2:
            raise bad(node, f"Shape must be rank 2 but is rank {v.ndim} for `{name}` argument")
    if sorted_in.shape[0] != values.shape[0]:
        raise bad(node, "Leading dim_size of both tensors must match.")
    side = "left" if node.op == "LowerBound" else "right"
    out = np.empty(values.shape, np_dtype(node.attr["out_type"]))
    for row in range(values.shape[0]):
        out[row] = np.searchsorted(sorted_in[row], values[row], side=side)
    return out


# tensorflow/tensorflow tensorflow/core/kernels/nth_element_op.cc: the n-th smallest value
# along the last axis (n-th largest with reverse).
@kernel("NthElement")
def nth_element(node, inputs, ctx):
    x = _a(inputs[0])
    n = scalar_int(node, inputs[1], "n")
    if x.ndim < 1:
        raise bad(node, f"Input must be at least rank 1 but is rank {x.ndim}")
    if n < 0:
        raise bad(node, f"n must be non-negative but is {n}")
    if x.shape[-1] <= n:
        raise bad(node, f"Input must have last dimension > n = {n}")
    k = x.shape[-1] - 1 - n if node.attr["reverse"] else n
    return np.partition(x, k, axis=-1)[..., k]


# tensorflow/tensorflow tensorflow/core/kernels/in_topk_op.h: a target is in the top k when
# fewer than k classes score strictly higher; an out-of-range target or any non-finite
# score in the row gives False.
@kernel("InTopK", "InTopKV2")
def in_top_k(node, inputs, ctx):
    pred, targets = _a(inputs[0]), _a(inputs[1])
    k = int(node.attr["k"]) if node.op == "InTopK" else scalar_int(node, inputs[2], "k")
    if pred.ndim != 2:
        raise bad(node, "predictions must be 2-dimensional")
    if targets.ndim != 1:
        raise bad(node, "targets must be 1-dimensional")
    if pred.shape[0] != targets.shape[0]:
        raise bad(node, f"First dimension of predictions {pred.shape[0]} must match length "
                        f"of targets {targets.shape[0]}")
    classes = pred.shape[1]
    valid = (targets >= 0) & (targets < classes)
    rows = np.arange(pred.shape[0])
    own = pred[rows, np.where(valid, targets, 0)] if classes else np.zeros(len(rows), pred.dtype)
    higher = (pred > own[:, None]).sum(axis=1)
    finite = np.isfinite(pred).all(axis=1)
    return valid & finite & (higher < k)


# ApproxTopK has only XLA kernels; on CPU, XLA's fallback sorts exactly (xla::ApproxTopKFallback),
# keeping the first of equal values first.
@kernel("ApproxTopK")
def approx_top_k(node, inputs, ctx):
    x = _a(inputs[0])
    k = int(node.attr["k"])
    if x.ndim < 1:
        raise bad(node, "input must be at least 1-D")
    axis = int(node.attr["reduction_dimension"])
    if not -x.ndim <= axis < x.ndim:
        raise bad(node, f"reduction_dimension {axis} is out of range for rank {x.ndim}")
    axis %= x.ndim
    if k < 0 or x.shape[axis] < k:
        raise bad(node, f"input must have at least k columns. Had {x.shape[axis]}, needed {k}")
    keys = x.astype(np.float32)
    order = np.argsort(-keys if node.attr["is_max_k"] else keys, axis=axis, kind="stable")
    order = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, order, axis=axis), order.astype(np.int32)]
