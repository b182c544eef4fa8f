"""Order statistics and sorted searches: Lower/UpperBound, NthElement, InTopK, ApproxTopK.

Semantics: the numpy kernels (graph/ops/selection.py; tensorflow/tensorflow
tensorflow/core/kernels/searchsorted_op.cc, nth_element_op.cc, in_topk_op.h).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import attr_dtype, cast, i64, norm_axis, need_rank, reduce, scalar, unsqueeze, \
    working


@converter("LowerBound", "UpperBound", onnx="Less/LessOrEqual, ReduceSum")
def bound(cx, node, ins):
    g = cx.g
    sorted_in, values = ins
    if need_rank(sorted_in) != 2 or need_rank(values) != 2:
        raise ExportError("sorted_inputs and values must be matrices")
    # The insertion point is the count of sorted entries below (LowerBound) or not above the value.
    cmp = "Less" if node.op == "LowerBound" else "LessOrEqual"
    below = g.op1(cmp, unsqueeze(g, sorted_in, [1]), unsqueeze(g, values, [2]))
    return cast(g, reduce(g, "ReduceSum", cast(g, below, np.int64), [2], False), attr_dtype(node, "out_type"))


@converter("NthElement", onnx="TopK, Gather")
def nth_element(cx, node, ins):
    g = cx.g
    x, n = ins
    k = g.op1("Add", g.op1("Reshape", i64(g, n), g.const(np.asarray([1], np.int64))), scalar(g, 1, np.int64))
    values = g.op("TopK", [working(g, x), k], outputs=2, axis=-1, largest=int(bool(node.attr.get("reverse"))),
                  sorted=1)[0]
    last = g.op1("Sub", k, scalar(g, 1, np.int64))
    out = g.op1("Squeeze", g.op1("Gather", values, last, axis=-1), g.const(np.asarray([-1], np.int64)))
    return cast(g, out, x.dtype)


@converter("InTopK", "InTopKV2", onnx="GatherElements, Greater, ReduceSum, IsNaN/IsInf")
def in_top_k(cx, node, ins):
    g = cx.g
    pred, targets = ins[0], ins[1]
    if need_rank(pred) != 2:
        raise ExportError("predictions must be a matrix")
    k = scalar(g, int(node.attr["k"]), np.int64) if node.op == "InTopK" else i64(g, ins[2])
    t = i64(g, targets)
    classes = g.op1("Shape", pred, start=1, end=2)
    valid = g.op1("And", g.op1("GreaterOrEqual", t, scalar(g, 0, np.int64)),
                  g.op1("Less", t, g.op1("Squeeze", classes, g.const(np.asarray([0], np.int64)))))
    safe = unsqueeze(g, g.op1("Where", valid, t, scalar(g, 0, np.int64)), [1])
    own = g.op1("GatherElements", pred, safe, axis=1)
    higher = reduce(g, "ReduceSum", cast(g, g.op1("Greater", pred, own), np.int64), [1], False)
    bad = g.op1("Or", g.op1("IsNaN", pred), g.op1("IsInf", pred))
    finite = g.op1("Equal", reduce(g, "ReduceSum", cast(g, bad, np.int64), [1], False), scalar(g, 0, np.int64))
    return g.op1("And", g.op1("And", valid, finite), g.op1("Less", higher, k))


@converter("ApproxTopK", onnx="TopK, Cast")
def approx_top_k(cx, node, ins):
    g, x = cx.g, ins[0]
    axis = norm_axis(int(node.attr["reduction_dimension"]), need_rank(x))
    k = g.const(np.asarray([int(node.attr["k"])], np.int64))
    # The CPU fallback sorts exactly; ONNX TopK keeps the first of equal values first too.
    values, idx = g.op("TopK", [x, k], outputs=2, axis=axis, largest=int(bool(node.attr.get("is_max_k", True))),
                       sorted=1)
    return [values, cast(g, idx, np.int32)]
