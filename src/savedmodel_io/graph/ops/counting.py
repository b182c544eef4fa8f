"""Counting: bincounts (dense, sparse, ragged inputs), sparse-output counts, histograms.

Facts from tensorflow/tensorflow tensorflow/core/kernels/bincount_op.cc, count_ops.cc and
histogram_op.cc. A value at or above ``size`` is not counted; ``binary_output`` marks a
bin with 1 instead of counting; empty ``weights`` count each value once.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype, scalar_int


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _bins(rows: np.ndarray, values: np.ndarray, weights: np.ndarray | None, nrows: int,
          size: int, binary: bool, dtype: np.dtype) -> np.ndarray:
    """A (nrows, size) table counting ``values[i]`` into row ``rows[i]`` (values < size only)."""
    out = np.zeros((nrows, size), dtype)
    keep = values < size
    r, v = rows[keep].astype(np.intp), values[keep].astype(np.intp)
    if binary:
        out[r, v] = 1
    elif weights is not None:
        np.add.at(out, (r, v), weights[keep].astype(dtype, copy=False))
    else:
        np.add.at(out, (r, v), dtype.type(1))
    return out


def _size(node, value) -> int:
    size = scalar_int(node, value, "size")
    if size < 0:
        raise bad(node, f"size ({size}) must be non-negative")
    return size


def _weights(node, weights: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """None for empty weights; otherwise weights of the values' shape, flattened."""
    if weights.size == 0:
        return None
    if weights.shape != values.shape:
        raise bad(node, "`weights` must be the same shape as `arr` or a length-0 `Tensor`")
    return weights.reshape(-1)


def _nonnegative(node, values: np.ndarray) -> None:
    if (values < 0).any():
        raise bad(node, "input values must be non-negative")


@kernel("Bincount")
def bincount(node, inputs, ctx):
    """Bincount (tf.math.bincount's v1 op): arr of any shape counted into one row."""
    arr = _a(inputs[0]).reshape(-1)
    size = _size(node, inputs[1])
    weights = _a(inputs[2]).reshape(-1)
    if weights.size and weights.size != arr.size:
        raise bad(node, "Input indices and weights must have the same size.")
    _nonnegative(node, arr)
    check_size(node, [size], weights.itemsize)
    w = weights if weights.size else None
    dtype = np_dtype(node.attr["T"])
    return _bins(np.zeros(arr.size, np.intp), arr, w, 1, size, False, dtype)[0]


@kernel("DenseBincount")
def dense_bincount(node, inputs, ctx):
    """A scalar or 1-D input gives one row of counts; a 2-D input one row per input row."""
    data = _a(inputs[0])
    if data.ndim > 2:
        raise bad(node, f"Shape must be at most rank 2 but is rank {data.ndim}")
    size = _size(node, inputs[1])
    w = _weights(node, _a(inputs[2]), data)
    _nonnegative(node, data)
    binary = node.attr["binary_output"]
    dtype = np_dtype(node.attr["T"])
    if data.ndim < 2:
        check_size(node, [size], dtype.itemsize)
        flat = data.reshape(-1)
        return _bins(np.zeros(flat.size, np.intp), flat, w, 1, size, binary, dtype)[0]
    check_size(node, [data.shape[0], size], dtype.itemsize)
    rows = np.repeat(np.arange(data.shape[0]), data.shape[1])
    return _bins(rows, data.reshape(-1), w, data.shape[0], size, binary, dtype)


@kernel("SparseBincount")
def sparse_bincount(node, inputs, ctx):
    """A SparseTensor's values counted per row (its first index), or into one row if 1-D."""
    indices, values, shape = _a(inputs[0]), _a(inputs[1]).reshape(-1), _a(inputs[2]).reshape(-1)
    size = _size(node, inputs[3])
    weights = _a(inputs[4]).reshape(-1)
    binary = node.attr["binary_output"]
    dtype = np_dtype(node.attr["T"])
    if weights.size and weights.size != values.size:
        raise bad(node, "weights and values must have the same size")
    w = weights if weights.size else None
    if shape.size == 1:
        _nonnegative(node, values)
        check_size(node, [size], dtype.itemsize)
        return _bins(np.zeros(values.size, np.intp), values, w, 1, size, binary, dtype)[0]
    if indices.ndim != 2 or indices.shape[0] != values.size or indices.shape[1] != shape.size:
        raise bad(node, "indices must be a matrix of one row per value and one column per "
                        "dimension of dense_shape")
    nrows = int(shape[0])
    check_size(node, [nrows, size], dtype.itemsize)
    batch = indices[:, 0]
    if ((batch < 0) | (batch >= nrows)).any():
        raise bad(node, "sparse index is out of bounds of dense_shape")
    # bincount_op.cc (SparseBincountOp): in the batched form, negative values are skipped.
    keep = values >= 0
    return _bins(batch[keep], values[keep], None if w is None else w[keep], nrows, size,
                 binary, dtype)


def _ragged_rows(node, splits: np.ndarray, nvalues: int) -> np.ndarray:
    """The row of each value of a ragged tensor from its row splits.

    TF walks the splits forward while a value's position reaches the next split, so
    splits that go down are treated as their running maximum.
    """
    if splits.ndim != 1 or splits.size == 0:
        raise bad(node, "Splits must be non-empty")
    if splits[0] != 0:
        raise bad(node, f"Splits must start with 0, not with {int(splits[0])}")
    if splits[-1] != nvalues:
        raise bad(node, f"Splits must end with the number of values, got {int(splits[-1])} "
                        f"instead of {nvalues}")
    run = np.maximum.accumulate(splits)
    return np.searchsorted(run, np.arange(nvalues), side="right") - 1


@kernel("RaggedBincount")
def ragged_bincount(node, inputs, ctx):
    """One row of counts per ragged row."""
    splits, values = _a(inputs[0]).reshape(-1), _a(inputs[1]).reshape(-1)
    size = _size(node, inputs[2])
    weights = _a(inputs[3]).reshape(-1)
    rows = _ragged_rows(node, splits, values.size)
    if weights.size and weights.size != values.size:
        raise bad(node, "weights and values must have the same size")
    _nonnegative(node, values)
    dtype = np_dtype(node.attr["T"])
    check_size(node, [splits.size - 1, size], dtype.itemsize)
    return _bins(rows, values, weights if weights.size else None, splits.size - 1, size,
                 node.attr["binary_output"], dtype)


# -- counts with a sparse output: count_ops.cc -------------------------------------------

def _sparse_counts(node, rows: np.ndarray, values: np.ndarray, weights: np.ndarray | None,
                   nrows: int, one_d: bool) -> list[np.ndarray]:
    """(indices, values, dense_shape) of the non-empty bins, row by row, bins ascending."""
    maxlength, minlength = int(node.attr["maxlength"]), int(node.attr["minlength"])
    binary = node.attr["binary_output"]
    dtype = np_dtype(node.attr["output_type"])
    keep = (values >= 0) & ((values < maxlength) if maxlength > 0 else True)
    r, v = rows[keep].astype(np.int64), values[keep].astype(np.int64)
    max_seen = int(v.max()) if v.size else 0
    width = maxlength if maxlength > 0 else max(max_seen + 1, minlength)
    pairs, first, inverse = np.unique(np.stack([r, v], 1), axis=0, return_index=True,
                                      return_inverse=True)
    inverse = inverse.reshape(-1)
    if binary:
        counts = np.ones(len(pairs), dtype)
    else:
        counts = np.zeros(len(pairs), dtype)
        add = weights[keep].astype(dtype) if weights is not None else dtype.type(1)
        np.add.at(counts, inverse, add)
    pairs = pairs.reshape(-1, 2)
    if one_d:
        return [pairs[:, 1:].copy(), counts, np.array([width], np.int64)]
    return [pairs, counts, np.array([nrows, width], np.int64)]


def _count_weights(node, weights: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    if weights.size == 0:
        return None
    if weights.shape != values.shape:
        raise bad(node, "Weights and values must have the same shape.")
    return weights.reshape(-1)


@kernel("DenseCountSparseOutput")
def dense_count(node, inputs, ctx):
    values = _a(inputs[0])
    if values.ndim not in (1, 2):
        raise bad(node, "Input must be a 1 or 2-dimensional tensor.")
    w = _count_weights(node, _a(inputs[1]), values)
    if values.ndim == 2 and values.shape[0] == 0:
        raise bad(node, "Invalid input: Shapes dimension cannot be 0.")
    if (values < 0).any():
        raise bad(node, "Input values must all be non-negative")
    nrows = values.shape[0] if values.ndim == 2 else 1
    per_row = values.shape[-1]
    rows = np.repeat(np.arange(nrows), per_row)
    return _sparse_counts(node, rows, values.reshape(-1), w, nrows, values.ndim == 1)


@kernel("SparseCountSparseOutput")
def sparse_count(node, inputs, ctx):
    indices, values, shape = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    if indices.ndim != 2:
        raise bad(node, "Input indices must be a 2-dimensional tensor.")
    if values.ndim != 1 or shape.ndim != 1:
        raise bad(node, "Input values and shape must be vectors.")
    if values.shape[0] != indices.shape[0] or shape.shape[0] != indices.shape[1]:
        raise bad(node, "indices must have one row per value and one column per dimension")
    if shape.size == 0:
        raise bad(node, "The shape argument requires at least one element.")
    if ((indices < 0) | (indices >= shape[None, :])).any():
        raise bad(node, "Invalid index value: not within the dense shape")
    w = _count_weights(node, _a(inputs[3]), values)
    if (shape < 0).any():
        raise bad(node, "Elements in dense_shape must be >= 0.")
    one_d = shape.size == 1
    nrows = 1 if one_d else int(shape[0])
    if not 0 < nrows < 2**31 - 1:
        raise bad(node, f"Cannot allocate {nrows} batches, is the dense shape too wide?")
    if (values < 0).any():
        raise bad(node, "Input values must all be non-negative")
    rows = np.zeros(values.size, np.int64) if one_d else indices[:, 0]
    return _sparse_counts(node, rows, values, w, nrows, one_d)


@kernel("RaggedCountSparseOutput")
def ragged_count(node, inputs, ctx):
    splits, values = _a(inputs[0]).reshape(-1), _a(inputs[1])
    w = _count_weights(node, _a(inputs[2]), values)
    if splits.size < 2:
        raise bad(node, "Must provide at least 2 elements for the splits argument")
    flat = values.reshape(-1)
    rows = _ragged_rows(node, splits, flat.size)
    if (flat < 0).any():
        raise bad(node, "Input values must all be non-negative")
    return _sparse_counts(node, rows, flat, w, splits.size - 1, False)


# tensorflow/tensorflow tensorflow/core/kernels/histogram_op.cc: values clamped below at
# value_range[0], shifted by it (in the values' type), divided by the bin width as doubles,
# capped at nbins - 1 and truncated.
@kernel("HistogramFixedWidth")
def histogram_fixed_width(node, inputs, ctx):
    values, vrange = _a(inputs[0]), _a(inputs[1])
    nbins = scalar_int(node, inputs[2], "nbins")
    if vrange.shape != (2,):
        raise bad(node, "value_range should be a vector of 2 elements.")
    if nbins <= 0:
        raise bad(node, f"nbins should be a positive number, but got '{nbins}'")
    lo, hi = vrange[0], vrange[1]
    if not lo < hi:
        raise bad(node, "value_range should satisfy value_range[0] < value_range[1]")
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise bad(node, "Histogram values must not contain NaN")
    check_size(node, [nbins], 8)
    with np.errstate(all="ignore"):
        step = float(hi - lo) / nbins
        shifted = (np.maximum(values, lo) - lo).astype(np.float64).reshape(-1)
        index = np.minimum(shifted / step, nbins - 1).astype(np.int32)
    return np.bincount(index, minlength=nbins).astype(np_dtype(node.attr["dtype"]))
