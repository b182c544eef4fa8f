"""The remaining math ops: AccumulateNV2, ApproximateEqual, CumulativeLogsumexp, PopulationCount.

Semantics from tensorflow/tensorflow tensorflow/core/kernels/cwise_op_approximate_equal.cc
(``|x - y| < tolerance``, shapes equal), scan_ops.h (log-sum-exp scans, exclusive scans
start from -inf), population_count_op.cc (bits of the two's-complement value, as uint8)
and math_ops.cc (AccumulateNV2 is AddN that TensorFlow's graph rewrite turns into
in-place adds).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype


@kernel("AccumulateNV2")
def accumulate_n(node, inputs, ctx):
    values = [np.asarray(v) for v in inputs]
    for i, v in enumerate(values[1:], 1):
        if v.shape != values[0].shape:
            raise bad(node, f"Inputs to operation AccumulateNV2 must have the same shape: input 0 "
                            f"has shape {list(values[0].shape)}, input {i} has {list(v.shape)}")
    out = np.array(values[0], copy=True)
    with np.errstate(all="ignore"):
        for v in values[1:]:
            out += v
    return out


@kernel("ApproximateEqual")
def approximate_equal(node, inputs, ctx):
    x, y = np.asarray(inputs[0]), np.asarray(inputs[1])
    if x.shape != y.shape:
        raise bad(node, f"x and y must be of the same shape. x shape: {list(x.shape)}. y shape: "
                        f"{list(y.shape)}")
    tol = x.dtype.type(node.attr["tolerance"])
    with np.errstate(all="ignore"):
        return np.abs(x - y) < tol


@kernel("CumulativeLogsumexp")
def cumulative_logsumexp(node, inputs, ctx):
    x, axis_t = np.asarray(inputs[0]), np.asarray(inputs[1])
    if axis_t.ndim:
        raise bad(node, f"ScanOp: axis must be a scalar, not {list(axis_t.shape)}")
    axis = int(axis_t)
    if not -x.ndim <= axis < x.ndim:
        raise bad(node, f"ScanOp: Expected scan axis in the range [{-x.ndim}, {x.ndim}), but got {axis}")
    axis %= x.ndim
    work = x.astype(np.float32) if x.dtype.itemsize < 4 else x
    if node.attr["reverse"]:
        work = np.flip(work, axis)
    with np.errstate(all="ignore"):
        out = np.logaddexp.accumulate(work, axis=axis) if work.size else work.copy()
        if node.attr["exclusive"]:
            pad = np.full_like(np.take(out, [0], axis=axis), -np.inf)
            out = np.concatenate([pad, np.take(out, range(out.shape[axis] - 1), axis=axis)], axis=axis)
    if node.attr["reverse"]:
        out = np.flip(out, axis)
    return np.ascontiguousarray(out).astype(x.dtype)


@kernel("PopulationCount")
def population_count(node, inputs, ctx):
    x = np.asarray(inputs[0])
    octets = np.ascontiguousarray(x.reshape(-1)).view(np.uint8).reshape(-1, x.dtype.itemsize)
    return np.unpackbits(octets, axis=1).sum(axis=1, dtype=np.uint8).reshape(x.shape)


@kernel("IsotonicRegression", per_element=True)
def isotonic_regression(node, inputs, ctx):
    """Non-increasing isotonic regression of each row (pool adjacent violators), and the
    segment each element ends in (tensorflow/core/kernels/isotonic_regression_op.cc)."""
    x = np.asarray(inputs[0])
    out_dtype = np_dtype(node.attr["output_dtype"])
    # (rows, last axis): an explicit row count, since -1 is undetermined when the last axis is empty
    rows = x.reshape(int(np.prod(x.shape[:-1], dtype=np.int64)), x.shape[-1]) if x.ndim else x.reshape(1, 1)
    values = np.zeros(rows.shape, np.float64)
    segments = np.zeros(rows.shape, np.int32)
    for r, row in enumerate(rows.astype(np.float64)):
        blocks: list[list[float]] = []  # [sum, count]
        for v in row:
            blocks.append([v, 1])
            while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
                s, n = blocks.pop()
                blocks[-1][0] += s
                blocks[-1][1] += n
        k = 0
        for b, (s, n) in enumerate(blocks):
            values[r, k:k + n] = s / n
            segments[r, k:k + n] = b
            k += n
    return [values.astype(out_dtype).reshape(x.shape), segments.reshape(x.shape)]
