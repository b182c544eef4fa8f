"""Segment reductions: sorted (Segment*), unsorted (UnsortedSegment*), sparse (SparseSegment*).

All of them come down to :func:`reduce_segments`: rows of ``data`` (the first axis) reduced
into ``n`` output rows by segment id. What differs between the op kinds is validation and
what an output row no id maps to holds.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, extreme, is_floating, scalar_int

__all__ = ["reduce_segments", "trunc_divide"]


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def trunc_divide(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count`` as C divides: integers truncate toward zero, others divide exactly."""
    if total.dtype.kind in "iu":
        q = np.abs(total) // count
        return np.where(total < 0, -q, q).astype(total.dtype)
    return (total / count).astype(total.dtype)


# Bytes of working memory per output element besides the output itself: max/min keep three
# int64 or float arrays the output's size (last NaN, best, last hit), the others a float32 copy
# and an int64 count per segment. The size checks bound the sum, not the output alone.
_WORK = 24


def _working(rows: np.ndarray) -> np.ndarray:
    """float16/bfloat16 rows widened to float32 (exactly), as numpy's ufunc.at wants."""
    if is_floating(rows.dtype) and rows.dtype.itemsize < 4:
        return rows.astype(np.float32)
    return rows


def _extremum(rows: np.ndarray, ids: np.ndarray, n: int, high: bool,
              start: object | None) -> np.ndarray:
    """Max (``high``) or min per segment, each segment folded in row order as TF's kernels do.

    The fold is ``acc = acc if x < acc else x`` (max): a NaN replaces the accumulator and the
    next value replaces the NaN, so a segment's result is the extremum of the values after
    its last NaN (NaN when the NaN comes last), and of equal values the last one wins (which
    decides the sign of a zero). ``start`` is the accumulator's first value (None: the first
    row's); it only wins over rows that all lie below it.
    """
    k = rows.shape[0]
    cols = int(np.prod(rows.shape[1:], dtype=np.int64))
    flat = rows.reshape(k, cols)
    if not is_floating(rows.dtype):
        fill = extreme(rows.dtype, not high) if start is None else start
        out = np.full((n, cols), fill, rows.dtype)
        (np.maximum if high else np.minimum).at(out, ids, flat)
        return out.reshape((n,) + rows.shape[1:])
    work = _working(flat)
    fill = work.dtype.type(-np.inf if high else np.inf)
    if k == 0:
        return np.full((n,) + rows.shape[1:], fill, rows.dtype)
    order = np.arange(k)[:, None]
    is_nan = np.isnan(work)
    last_nan = np.full((n, cols), -1, np.int64)
    np.maximum.at(last_nan, ids, np.where(is_nan, order, -1))
    tail = order > last_nan[ids]
    best = np.full((n, cols), fill, work.dtype)
    (np.maximum if high else np.minimum).at(best, ids, np.where(tail, work, fill))
    hit = tail & (work == best[ids])
    last_hit = np.full((n, cols), -1, np.int64)
    np.maximum.at(last_hit, ids, np.where(hit, order, -1))
    out = work[np.maximum(last_hit, 0), np.arange(cols)]
    out = np.where(last_hit >= 0, out, np.where(last_nan >= 0, np.nan, fill))
    if start is not None:
        below = (last_nan < 0) & (last_hit >= 0) & ((out < start) if high else (out > start))
        out = np.where(below, work.dtype.type(start), out)
    return out.astype(rows.dtype).reshape((n,) + rows.shape[1:])


def reduce_segments(rows: np.ndarray, ids: np.ndarray, n: int, how: str, empty: object,
                    start: object | None = None) -> np.ndarray:
    """Reduce ``rows[i]`` into output row ``ids[i]`` (ids already checked to lie in [0, n)).

    ``how``: sum, prod, mean, sqrtn (sum over the square root of the count), max, min.
    Output rows no id maps to hold ``empty``; ``start`` is max/min's first accumulator.
    """
    ids = ids.astype(np.intp, copy=False)
    shape = (n,) + rows.shape[1:]
    if how in ("max", "min"):
        out = _extremum(rows, ids, n, how == "max", start)
    else:
        work = _working(rows)
        out = np.zeros(shape, work.dtype) if how != "prod" else np.ones(shape, work.dtype)
        (np.multiply if how == "prod" else np.add).at(out, ids, work)
        if how in ("mean", "sqrtn"):
            count = np.bincount(ids, minlength=n).reshape((n,) + (1,) * (rows.ndim - 1))
            with np.errstate(all="ignore"):
                if how == "mean":
                    out = trunc_divide(out, np.maximum(count, 1))
                else:
                    out = out / np.sqrt(np.maximum(count, 1))
        out = out.astype(rows.dtype)
    counts = np.bincount(ids, minlength=n)
    if (counts == 0).any():
        out[counts == 0] = empty
    return out


_HOW = {"Sum": "sum", "Prod": "prod", "Mean": "mean", "Max": "max", "Min": "min", "SqrtN": "sqrtn"}


def _how(op: str) -> str:
    for name, how in _HOW.items():
        if name in op:
            return how
    raise AssertionError(op)


def _sorted_ids(node, ids: np.ndarray, limit: int | None) -> None:
    """Segment ids must be non-decreasing, non-negative and (with ``limit``) below it."""
    if ids.size == 0:
        return
    if (np.diff(ids) < 0).any():
        raise bad(node, "segment ids are not increasing")
    if ids[0] < 0:
        raise bad(node, f"segment id {int(ids[0])} is out of range: segment ids must be >= 0")
    if limit is not None and ids[-1] >= limit:
        raise bad(node, "segment ids must be < num_segments")


# -- sorted segments: tensorflow/tensorflow tensorflow/core/kernels/segment_reduction_ops_impl.h

@kernel("SegmentSum", "SegmentProd", "SegmentMean", "SegmentMax", "SegmentMin")
def segment(node, inputs, ctx):
    """Sorted segments; a gap between ids gives a row of 0 (1 for prod)."""
    data, ids = _a(inputs[0]), _a(inputs[1])
    if data.ndim < 1:
        raise bad(node, "input must be at least rank 1")
    if ids.ndim != 1:
        raise bad(node, "segment_ids should be a vector.")
    if ids.size != data.shape[0]:
        raise bad(node, "segment_ids should be the same size as dimension 0 of input.")
    if ids.size and ids[-1] < 0:
        raise bad(node, "segment ids must be >= 0")
    _sorted_ids(node, ids, None)
    n = int(ids[-1]) + 1 if ids.size else 0
    check_size(node, (n,) + data.shape[1:], _WORK + data.dtype.itemsize)
    how = _how(node.op)
    return reduce_segments(data, ids, n, how, 1 if how == "prod" else 0)


@kernel("SegmentSumV2", "SegmentProdV2", "SegmentMaxV2", "SegmentMinV2")
def segment_v2(node, inputs, ctx):
    """num_segments output rows (TensorFlow runs these under XLA only, as scatters).

    Ids outside [0, num_segments) are dropped; an empty segment holds the reduction's
    identity (0, 1, the lowest or the highest value), as the op documentation says.
    """
    data, ids = _a(inputs[0]), _a(inputs[1])
    n = scalar_int(node, inputs[2], "num_segments")
    if data.ndim < 1 or ids.ndim != 1 or ids.size != data.shape[0]:
        raise bad(node, "segment_ids must be a vector of the size of dimension 0 of data")
    if n < 0:
        raise bad(node, f"num_segments {n} must not be negative")
    check_size(node, (n,) + data.shape[1:], _WORK + data.dtype.itemsize)
    return _unsorted(data, ids, n, _how(node.op))


def _unsorted(data: np.ndarray, ids: np.ndarray, n: int, how: str) -> np.ndarray:
    """Unsorted reduction; ids outside [0, n) are skipped; empty segments hold the identity."""
    inner = data.shape[ids.ndim:]
    rows = data.reshape((ids.size,) + inner)  # not -1: an empty inner shape leaves it undetermined
    flat = ids.reshape(-1)
    keep = (flat >= 0) & (flat < n)
    if how in ("max", "min"):
        start = extreme(data.dtype, how == "min")
        return reduce_segments(rows[keep], flat[keep], n, how, start, start)
    return reduce_segments(rows[keep], flat[keep], n, how, 1 if how == "prod" else 0)


# -- unsorted segments: segment_reduction_ops_impl.h (UnsortedSegmentReductionOp)

@kernel("UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax", "UnsortedSegmentMin")
def unsorted_segment(node, inputs, ctx):
    """ids of any shape prefixing data's; negative ids are dropped; max/min start at the
    lowest/highest value, which is also what an empty segment holds."""
    data, ids = _a(inputs[0]), _a(inputs[1])
    ns = _a(inputs[2])
    if ns.ndim != 0:
        raise bad(node, f"num_segments should be a scalar, not shape {list(ns.shape)}")
    n = int(ns)
    if n < 0:
        raise bad(node, f"Input num_segments == {n} must not be negative.")
    if data.shape[:ids.ndim] != ids.shape:
        raise bad(node, f"data.shape = {list(data.shape)} does not start with "
                        f"segment_ids.shape = {list(ids.shape)}")
    flat = ids.reshape(-1)
    over = np.flatnonzero(flat >= n)
    if over.size and data.size:
        i = int(over[0])
        raise bad(node, f"segment_ids[{i}] = {int(flat[i])} is out of range [0, {n})")
    check_size(node, (n,) + data.shape[ids.ndim:], _WORK + data.dtype.itemsize)
    return _unsorted(data, ids, n, _how(node.op))


# -- sparse segments: tensorflow/tensorflow tensorflow/core/kernels/segment_reduction_ops_impl.h
# (SparseSegmentReductionOpBase): rows data[indices[i]] into sorted segment_ids[i].

@kernel("SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN",
        "SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
        "SparseSegmentSqrtNWithNumSegments")
def sparse_segment(node, inputs, ctx):
    data, indices, ids = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    with_n = node.op.endswith("WithNumSegments")
    if indices.ndim != 1:
        raise bad(node, "indices should be a vector.")
    if ids.ndim != 1:
        raise bad(node, "segment_ids should be a vector.")
    if indices.size != ids.size:
        raise bad(node, "segment_ids and indices should have same size.")
    if data.ndim < 1:
        raise bad(node, "data must be at least rank 1")
    limit = None
    if with_n:
        limit = scalar_int(node, inputs[3], "num_segments")
    _sorted_ids(node, ids, limit)
    n = limit if limit is not None else (int(ids[-1]) + 1 if ids.size else 0)
    bad_idx = np.flatnonzero((indices < 0) | (indices >= data.shape[0]))
    if bad_idx.size:
        i = int(bad_idx[0])
        raise bad(node, f"indices[{i}] == {int(indices[i])} out of range [0, {data.shape[0]})")
    check_size(node, (n,) + data.shape[1:], _WORK + data.dtype.itemsize)
    return reduce_segments(data[indices], ids, n, _how(node.op), 0)


# tensorflow/tensorflow tensorflow/core/kernels/unsorted_segment_join_op.cc: strings joined in
# input order per segment; ids must lie in [0, num_segments).
@kernel("UnsortedSegmentJoin", per_element=True)
def unsorted_segment_join(node, inputs, ctx):
    strs, ids = _a(inputs[0]), _a(inputs[1])
    n = scalar_int(node, inputs[2], "num_segments")
    if n < 0:
        raise bad(node, "num_segments must not be negative")
    if strs.shape[:ids.ndim] != ids.shape:
        raise bad(node, "segment_ids.shape must be a prefix of inputs.shape")
    flat = ids.reshape(-1)
    if ((flat < 0) | (flat >= n)).any():
        raise bad(node, "segment_ids are not allowed to exceed num_segments or to have "
                        "negative values.")
    inner = strs.shape[ids.ndim:]
    width = int(np.prod(inner, dtype=np.int64))
    rows = strs.reshape((flat.size, width))
    check_size(node, (n,) + inner, 8)
    parts: list[list[list[bytes]]] = [[[] for _ in range(width)] for _ in range(n)]
    for row, seg in zip(rows, flat):
        for j, v in enumerate(row):
            parts[seg][j].append(v)
    sep = node.attr["separator"]
    sep = sep if isinstance(sep, bytes) else str(sep).encode()
    out = np.empty((n, width), dtype=object)
    for i in range(n):
        for j in range(width):
            out[i, j] = sep.join(parts[i][j])
    return out.reshape((n,) + inner)
