"""Counting: HistogramFixedWidth as ScatterElements; sparse-output counts say why not.

Semantics: the numpy kernels (graph/ops/counting.py; tensorflow/tensorflow
tensorflow/core/kernels/histogram_op.cc): the bin is ``min((max(v, lo) - lo) / step, nbins - 1)``
in double, truncated, with ``step = (hi - lo) / nbins``.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, cast, i64, scalar


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
inexpressible("not mapped yet: counts of sparse or ragged values (ONNX could express it with ScatterElements)",
              "SparseBincount", "RaggedBincount")
