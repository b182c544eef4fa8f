"""Index bookkeeping: DynamicPartition / DynamicStitch, ListDiff, UnravelIndex.

Facts from tensorflow/tensorflow tensorflow/core/kernels/dynamic_partition_op.cc,
dynamic_stitch_op.cc, listdiff_op.cc and unravel_index_op.cc.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import MAX_OUTPUTS, bad, check_size, np_dtype


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


@kernel("DynamicPartition")
def dynamic_partition(node, inputs, ctx):
    """Output i holds the slices of data whose partition is i, in order."""
    data, parts = _a(inputs[0]), _a(inputs[1])
    n = int(node.attr["num_partitions"])
    if not 1 <= n <= MAX_OUTPUTS:
        raise bad(node, f"num_partitions must be in [1, {MAX_OUTPUTS}], got {n}")
    if data.shape[:parts.ndim] != parts.shape:
        raise bad(node, f"data.shape must start with partitions.shape, got data.shape = "
                        f"{list(data.shape)}, partitions.shape = {list(parts.shape)}")
    flat = parts.reshape(-1)
    wrong = np.flatnonzero((flat < 0) | (flat >= n))
    if wrong.size:
        i = int(wrong[0])
        raise bad(node, f"partitions[{i}] = {int(flat[i])} is not in [0, {n})")
    rows = data.reshape((flat.size,) + data.shape[parts.ndim:])
    # One stable sort by partition, cut at the partitions' counts: O(size log size + n), where
    # one mask per partition would be O(size * n).
    order = np.argsort(flat, kind="stable")
    ends = np.cumsum(np.bincount(flat, minlength=n))[:-1]
    return np.split(rows[order], ends)


@kernel("DynamicStitch", "ParallelDynamicStitch")
def dynamic_stitch(node, inputs, ctx):
    """merged[indices[m][i]] = data[m][i]; later pieces win; rows no index names are zero.

    (ParallelDynamicStitch leaves the winner of a repeated index unspecified; the last
    one is as good as any.)
    """
    n = len(inputs) // 2
    indices, data = [_a(v) for v in inputs[:n]], [_a(v) for v in inputs[n:]]
    inner = None
    for m, (idx, d) in enumerate(zip(indices, data)):
        if d.shape[:idx.ndim] != idx.shape:
            raise bad(node, f"data[{m}].shape = {list(d.shape)} does not start with "
                            f"indices[{m}].shape = {list(idx.shape)}")
        rest = d.shape[idx.ndim:]
        if inner is None:
            inner = rest
        elif rest != inner:
            raise bad(node, f"data[{m}] has inner shape {list(rest)}, expected {list(inner)}")
    inner = inner or ()
    flat_idx = [i.reshape(-1).astype(np.int64) for i in indices]
    size = max((int(i.max()) + 1 for i in flat_idx if i.size), default=0)
    for i in flat_idx:
        wrong = np.flatnonzero(i < 0)
        if wrong.size:
            raise bad(node, f"indices[{int(wrong[0])}] is out of range")
    dtype = data[0].dtype if data else np.float32
    check_size(node, (size,) + inner, dtype.itemsize)
    out = np.zeros((size,) + inner, dtype)
    if dtype == object:
        out[...] = b""
    for i, d in zip(flat_idx, data):
        out[i] = d.reshape((i.size,) + inner)
    return out


@kernel("ListDiff", per_element=True)
def list_diff(node, inputs, ctx):
    """The values of x not in y, in x's order, with their positions in x."""
    x, y = _a(inputs[0]), _a(inputs[1])
    if x.ndim != 1:
        raise bad(node, "x should be a 1D vector.")
    if y.ndim != 1:
        raise bad(node, "y should be a 1D vector.")
    keep = ~np.isin(x, y) if x.dtype != object else np.array([v not in set(y) for v in x], bool)
    pos = np.flatnonzero(keep)
    return [x[pos], pos.astype(np_dtype(node.attr["out_idx"]))]


@kernel("UnravelIndex")
def unravel_index(node, inputs, ctx):
    """Flat indices to coordinates, one row per dimension (C division: -1 -> (0, -1) in 3x3)."""
    idx, dims = _a(inputs[0]), _a(inputs[1])
    if dims.ndim != 1:
        raise bad(node, f"The indices can only be 1-D, got {list(dims.shape)}")
    if idx.ndim > 1:
        raise bad(node, f"The indices can only be scalar or vector, got {list(idx.shape)}")
    if idx.size == 0:
        raise bad(node, "received empty tensor indices")
    for j, d in enumerate(dims.tolist()):
        if d == 0:
            raise bad(node, f"Input dims cannot contain a dim of zero, but dims contains zero "
                            f"at index {j}")
        if d < 0:
            raise bad(node, f"Input dims cannot be negative. Got dim = {d} at index {j}")
    total = int(np.prod(dims.astype(object))) if dims.size else 1
    if (idx >= total).any():
        raise bad(node, "index is out of bound as with dims")
    d64 = dims.astype(np.int64)
    strides = np.append(np.cumprod(d64[::-1][:-1])[::-1], 1)[:d64.size]
    flat = idx.reshape(-1).astype(np.int64)[None, :]
    q = np.abs(flat) // strides[:, None]
    q = np.where(flat < 0, -q, q)  # C division truncates toward zero
    out = np.fmod(q, d64[:, None]).astype(idx.dtype)
    return out[:, 0] if idx.ndim == 0 else out

