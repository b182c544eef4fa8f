"""DynamicPartition, DynamicStitch, ListDiff and UnravelIndex as Compress / ScatterND / Div / Mod.

Semantics: the numpy kernels (graph/ops/indexing.py; tensorflow/tensorflow
tensorflow/core/kernels/dynamic_partition_op.cc, dynamic_stitch_op.cc, listdiff_op.cc,
unravel_index_op.cc).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import INT64_MAX, attr_dtype, cast, const_ints, i64, need_rank, reduce, scalar, \
    shape_of, unsqueeze


@converter("DynamicPartition", onnx="Reshape, Equal, Compress")
def dynamic_partition(cx, node, ins):
    g = cx.g
    data, parts = ins
    r = need_rank(parts, "partitions")
    need_rank(data)
    tail = g.op1("Slice", shape_of(g, data), g.const(np.asarray([r], np.int64)),
                 g.const(np.asarray([INT64_MAX], np.int64)))
    rows = g.op1("Reshape", data, g.op1("Concat", g.const(np.asarray([-1], np.int64)), tail, axis=0))
    flat = g.op1("Reshape", parts, g.const(np.asarray([-1], np.int64)))
    return [g.op1("Compress", rows, g.op1("Equal", flat, scalar(g, i, parts.dtype)), axis=0)
            for i in range(int(node.attr["num_partitions"]))]


@converter("ListDiff", onnx="Equal, ReduceSum, Compress")
def list_diff(cx, node, ins):
    g = cx.g
    x, y = ins
    if need_rank(x) != 1 or need_rank(y) != 1:
        raise ExportError("ListDiff takes vectors")
    hits = reduce(g, "ReduceSum", cast(g, g.op1("Equal", unsqueeze(g, x, [1]), unsqueeze(g, y, [0])), np.int64),
                  [1], False)
    keep = g.op1("Equal", hits, scalar(g, 0, np.int64))
    n = g.op1("Squeeze", g.op1("Shape", x), g.const(np.asarray([0], np.int64)))
    pos = cast(g, g.op1("Range", scalar(g, 0, np.int64), n, scalar(g, 1, np.int64)), attr_dtype(node, "out_idx"))
    return [g.op1("Compress", x, keep, axis=0), g.op1("Compress", pos, keep, axis=0)]


@converter("UnravelIndex", onnx="Div, Mod")
def unravel_index(cx, node, ins):
    g = cx.g
    idx, dims_v = ins
    dims = np.asarray(const_ints(dims_v, "dims"), np.int64)
    if (dims <= 0).any() or need_rank(idx) > 1:
        raise ExportError("UnravelIndex needs positive dims and a scalar or vector of indices")
    strides = np.append(np.cumprod(dims[::-1][:-1])[::-1], 1)[:dims.size]
    flat = unsqueeze(g, g.op1("Reshape", idx, g.const(np.asarray([-1], np.int64))), [0])
    # C division and remainder (ONNX integer Div truncates; Mod with fmod=1 keeps the dividend's sign).
    q = g.op1("Div", flat, g.const(strides.astype(idx.dtype)[:, None]))
    out = g.op1("Mod", q, g.const(dims.astype(idx.dtype)[:, None]), fmod=1)
    return out if idx.rank == 1 else g.op1("Squeeze", out, g.const(np.asarray([1], np.int64)))


@converter("DynamicStitch", "ParallelDynamicStitch", onnx="Concat, ReduceMax, ScatterND")
def dynamic_stitch(cx, node, ins):
    """merged[indices[m][i]] = data[m][i]; later pieces win; rows no index names are zero."""
    g = cx.g
    n = len(ins) // 2
    indices, data = ins[:n], ins[n:]
    if not n:
        raise ExportError("DynamicStitch of no pieces")
    tail = g.op1("Slice", shape_of(g, data[0]), g.const(np.asarray([need_rank(indices[0])], np.int64)),
                 g.const(np.asarray([INT64_MAX], np.int64)))
    rows_shape = g.op1("Concat", g.const(np.asarray([-1], np.int64)), tail, axis=0)
    flat_idx = g.op1("Concat", *[g.op1("Reshape", i64(g, i), g.const(np.asarray([-1], np.int64)))
                                 for i in indices], axis=0)
    rows = g.op1("Concat", *[g.op1("Reshape", d, rows_shape) for d in data], axis=0)
    top = reduce(g, "ReduceMax", flat_idx, [0], True)
    size = g.op1("Max", g.op1("Add", top, scalar(g, 1, np.int64)), scalar(g, 0, np.int64))
    zeros = g.op1("Expand", scalar(g, b"" if data[0].dtype.kind == "O" else 0, data[0].dtype),
                  g.op1("Concat", size, tail, axis=0))
    # onnxruntime scatters repeated indices in order, so the last piece wins, as in TensorFlow.
    return g.op1("ScatterND", zeros, unsqueeze(g, flat_idx, [1]), rows)
