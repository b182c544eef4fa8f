"""Softmax cross-entropy losses (dense and sparse labels), as evaluation graphs compute them.

Both return the per-example loss and its gradient with respect to the logits, computed as
tensorflow/tensorflow tensorflow/core/kernels/xent_op.{h,cc} and
sparse_xent_op.{h,cc} do: logits shifted by their row maximum, loss
``log(sum(exp(shifted))) - shifted[label]``, gradient ``softmax - labels``. Dense labels
and logits broadcast against each other as 2-D tensors; sparse labels outside
``[0, classes)`` are an error.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """Half precision types are computed in float32 and rounded once at the end."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


@kernel("SoftmaxCrossEntropyWithLogits")
def softmax_cross_entropy(node, inputs, ctx):
    logits, labels = np.asarray(inputs[0]), np.asarray(inputs[1])
    dtype = logits.dtype
    if logits.ndim > 2 or labels.ndim > 2:
        raise bad(node, "logits and labels must be either 2-dimensional, or broadcasted to be "
                        f"2-dimensional: {list(logits.shape)} vs. {list(labels.shape)}")
    try:
        shape = np.broadcast_shapes(logits.shape, labels.shape)
    except ValueError:
        raise bad(node, f"logits and labels must be broadcastable: logits_size={list(logits.shape)} "
                        f"labels_size={list(labels.shape)}") from None
    if len(shape) != 2:
        raise bad(node, "logits and labels must be either 2-dimensional, or broadcasted to be "
                        f"2-dimensional: {list(logits.shape)} vs. {list(labels.shape)}")
    ct = _compute_dtype(dtype)
    x = np.broadcast_to(logits, shape).astype(ct)
    y = np.broadcast_to(labels, shape).astype(ct)
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=1, keepdims=True) if shape[1] else x
        sum_exp = np.exp(shifted).sum(axis=1, keepdims=True)
        loss = (y * (np.log(sum_exp) - shifted)).sum(axis=1)
        grad = np.exp(shifted) / sum_exp - y
    return [loss.astype(dtype), grad.astype(dtype)]


@kernel("SparseSoftmaxCrossEntropyWithLogits")
def sparse_softmax_cross_entropy(node, inputs, ctx):
    logits, labels = np.asarray(inputs[0]), np.asarray(inputs[1])
    dtype = logits.dtype
    if logits.ndim != 2:
        raise bad(node, f"logits must be 2-D, but got shape {list(logits.shape)}")
    if labels.ndim != 1:
        raise bad(node, f"labels must be 1-D, but got shape {list(labels.shape)}")
    if logits.shape[0] != labels.shape[0]:
        raise bad(node, f"logits and labels must have the same first dimension, got logits shape "
                        f"{list(logits.shape)} and labels shape {list(labels.shape)}")
    classes = logits.shape[1]
    if labels.size and classes == 0:
        raise bad(node, f"Must have at least one class, but got logits shape {list(logits.shape)}")
    wrong = np.flatnonzero((labels < 0) | (labels >= classes))
    if wrong.size:
        v = int(labels[wrong[0]])
        raise bad(node, f"Received a label value of {v} which is outside the valid range of "
                        f"[0, {classes}).  Label values: {' '.join(str(int(a)) for a in labels)}")
    ct = _compute_dtype(dtype)
    x = logits.astype(ct)
    rows = np.arange(x.shape[0])
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=1, keepdims=True) if classes else x
        sum_exp = np.exp(shifted).sum(axis=1, keepdims=True)
        loss = np.log(sum_exp[:, 0]) - shifted[rows, labels.astype(np.int64)]
        grad = np.exp(shifted) / sum_exp
        grad[rows, labels.astype(np.int64)] -= 1
    return [loss.astype(dtype), grad.astype(dtype)]
