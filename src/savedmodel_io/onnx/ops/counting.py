"""Counting: HistogramFixedWidth, sparse and ragged bincounts as scatters; sparse-output counts say why not.

Semantics: the numpy kernels (graph/ops/counting.py; tensorflow/tensorflow
tensorflow/core/kernels/histogram_op.cc): the bin is ``min((max(v, lo) - lo) / step, nbins - 1)``
in double, truncated, with ``step = (hi - lo) / nbins``; bincount_op.cc: values at or above
``size`` (and, batched, below 0) are not counted, ``binary_output`` marks a bin with 1.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import (
    INT64_MIN,
    attr_dtype,
    cast,
    dim_of,
    i64,
    reduce,
    scalar,
    squeeze,
    unsqueeze,
)


@converter("HistogramFixedWidth", onnx="Div, Min, Cast, ScatterElements(reduction=add)")
def histogram(cx, node, ins):
    g = cx.g
    values, vrange, nbins = ins
    if cx.opset < 18:
        raise ExportError("histograms need ONNX opset 18 (ScatterElements reductions)")
    r = cast(g, vrange, np.float64)
    lo = g.op1("Gather", r, scalar(g, 0, np.int64), axis=0)
    hi = g.op1("Gather", r, scalar(g, 1, np.int64), axis=0)
    n = cast(g, nbins, np.float64)
    step = g.op1("Div", g.op1("Sub", hi, lo), n)
    flat = g.op1("Reshape", cast(g, values, np.float64), g.const(np.asarray([-1], np.int64)))
    shifted = g.op1("Sub", g.op1("Max", flat, lo), lo)
    top = g.op1("Sub", n, scalar(g, 1, np.float64))
    index = cast(g, g.op1("Min", g.op1("Div", shifted, step), top), np.int64)
    size = g.op1("Reshape", i64(g, nbins), g.const(np.asarray([1], np.int64)))
    dt = attr_dtype(node, "dtype")
    zeros = g.op1("Expand", scalar(g, 0, dt), size)
    ones = g.op1("Expand", scalar(g, 1, dt), g.op1("Shape", flat))
    return g.op1("ScatterElements", zeros, index, ones, axis=0, reduction="add")


inexpressible("counts with sparse outputs whose sizes depend on the data: no cheap ONNX form",
              "DenseCountSparseOutput", "SparseCountSparseOutput", "RaggedCountSparseOutput")


def count_table(g: Graph, rows: Val, values: Val, weights: Val | None, nrows: Val, size: Val, binary: bool,
                dt: np.dtype) -> Val:
    """A [nrows, size] table counting ``values[i]`` into row ``rows[i]`` (values outside [0, size) skipped)."""
    v, n = i64(g, values), g.op1("Reshape", i64(g, size), g.const(np.asarray([1], np.int64)))
    valid = g.op1("And", g.op1("Less", v, n), g.op1("GreaterOrEqual", v, scalar(g, 0, np.int64)))
    # Skipped values go to one extra column, cut off after.
    col = g.op1("Where", valid, v, g.op1("Reshape", n, g.const(np.zeros(0, np.int64))))
    upd = cast(g, valid, dt) if binary or weights is None else \
        g.op1("Where", valid, cast(g, weights, dt), scalar(g, 0, dt))
    idx = g.op1("Concat", unsqueeze(g, i64(g, rows), [1]), unsqueeze(g, col, [1]), axis=1)
    cols = g.op1("Add", n, g.const(np.asarray([1], np.int64)))
    zeros = g.op1("Expand", scalar(g, 0, dt), g.op1("Concat", g.op1("Reshape", nrows, g.const(
        np.asarray([1], np.int64))), cols, axis=0))
    out = g.op1("ScatterND", zeros, idx, upd, reduction="max" if binary else "add")
    return g.op1("Slice", out, g.const(np.asarray([0], np.int64)), n, g.const(np.asarray([1], np.int64)))


def _weights(w: Val) -> Val | None:
    """None when the weights are empty (each value counts once)."""
    return None if w.shape is not None and 0 in w.shape else w


@converter("SparseBincount", onnx="ScatterND(reduction=add/max), Slice")
def sparse_bincount(cx, node, ins):
    g = cx.g
    if cx.opset < 18:
        raise ExportError("bincounts need ONNX opset 18 (ScatterND reductions)")
    indices, values, shape, size, weights = ins
    rank = shape.shape[0] if shape.shape else None
    if not isinstance(rank, int):
        raise ExportError("the rank of the sparse input is not known before running")
    dt = attr_dtype(node, "T")
    binary = bool(node.attr.get("binary_output"))
    w = _weights(weights)
    flat = g.const(np.asarray([-1], np.int64))
    vals = g.op1("Reshape", values, flat)
    w = None if w is None else g.op1("Reshape", w, flat)
    if rank == 1:  # one row of counts
        zero_rows = g.op1("Mul", i64(g, vals), scalar(g, 0, np.int64))
        one = g.const(np.asarray(1, np.int64))
        return squeeze(g, count_table(g, zero_rows, vals, w, one, size, binary, dt), [0])
    rows = g.op1("Gather", indices, g.const(np.asarray(0, np.int64)), axis=1)  # the batch index
    nrows = g.op1("Gather", i64(g, shape), g.const(np.asarray(0, np.int64)), axis=0)
    return count_table(g, rows, vals, w, nrows, size, binary, dt)


@converter("RaggedBincount", onnx="ReduceMax (running max of the splits), ScatterElements, CumSum, ScatterND")
def ragged_bincount(cx, node, ins):
    g = cx.g
    if cx.opset < 18:
        raise ExportError("bincounts need ONNX opset 18 (ScatterND reductions)")
    splits, values, size, weights = ins
    flat = g.const(np.asarray([-1], np.int64))
    splits = g.op1("Reshape", i64(g, splits), flat)
    vals = g.op1("Reshape", values, flat)
    w = _weights(weights)
    w = None if w is None else g.op1("Reshape", w, flat)
    # A value's row: how many splits after the first are at or below its position, the splits
    # taken as their running maximum (TF walks them forward).
    k = g.op1("Reshape", dim_of(g, splits, 0), g.const(np.zeros(0, np.int64)))
    pos = g.op1("Range", scalar(g, 0, np.int64), k, scalar(g, 1, np.int64))
    upto = g.op1("LessOrEqual", unsqueeze(g, pos, [0]), unsqueeze(g, pos, [1]))  # [j, i]: i <= j
    run = reduce(g, "ReduceMax", g.op1("Where", upto, unsqueeze(g, splits, [0]), scalar(g, INT64_MIN, np.int64)),
                 [1], False)
    n = dim_of(g, vals, 0)
    ends = g.op1("Slice", run, g.const(np.asarray([1], np.int64)), g.const(np.asarray([np.iinfo(np.int64).max],
                                                                                   np.int64)))
    marks = g.op1("ScatterElements", g.op1("Expand", scalar(g, 0, np.int64), g.op1("Add", n, g.const(
        np.asarray([1], np.int64)))), g.op1("Min", ends, n), g.op1("Expand", scalar(g, 1, np.int64),
                                                                   g.op1("Shape", ends)), axis=0, reduction="add")
    rows = g.op1("Slice", g.op1("CumSum", marks, scalar(g, 0, np.int64)), g.const(np.asarray([0], np.int64)), n)
    nrows = g.op1("Sub", k, scalar(g, 1, np.int64))
    return count_table(g, rows, vals, w, nrows, size, bool(node.attr.get("binary_output")), attr_dtype(node, "T"))
