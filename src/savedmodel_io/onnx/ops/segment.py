"""Segment reductions (sorted, unsorted, sparse) as one ScatterND with a reduction, plus counts.

Semantics: the numpy kernels (graph/ops/segment.py; tensorflow/tensorflow
tensorflow/core/kernels/segment_reduction_ops_impl.h): Segment* have max(id) + 1 rows, an
empty segment holds 0 (1 for prod) and max/min fold from -inf/+inf; UnsortedSegment* and
Segment*V2 have num_segments rows, skip ids outside [0, num_segments), and max/min start from
the lowest/highest finite value, which an empty segment keeps; SparseSegment* reduce
``data[indices[i]]`` into ``segment_ids[i]``, mean divides by the count and sqrtn by its square
root (at least 1), empty segments hold 0. onnxruntime scatters 32/64-bit types only: narrower
data is reduced in its working type (``_util.working``), exactly, and cast back.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.graph.ops._util import extreme
from savedmodel_io.onnx.ops._util import INT64_MAX, cast, i64, is_float, need_rank, reduce, scalar, shape_of, working

_RED = {"Sum": "add", "Prod": "mul", "Max": "max", "Min": "min", "Mean": "add", "SqrtN": "add"}


def _kind(op: str) -> str:
    return next(k for k in ("SqrtN", "Mean", "Sum", "Prod", "Max", "Min") if k in op)


def _start(kind: str, dt: np.dtype, infinite: bool) -> object:
    """The accumulator's first value: the reduction's identity (max/min: infinite or the finite extreme)."""
    if kind == "Prod":
        return 1
    if kind in ("Max", "Min"):
        if is_float(dt) and infinite:
            return -np.inf if kind == "Max" else np.inf
        return extreme(dt, kind != "Max")
    return 0


def _segments(g: Graph, data: Val, ids: Val, n: Val, kind: str, *, infinite: bool = False,
              empty: object | None = None) -> Val:
    """Reduce ``data`` by ``ids`` (any rank, a prefix of data's shape) into ``n`` (int64 [1]) segments.

    ``empty`` (None: the accumulator's start) fills segments no id names.
    """
    red = _RED[kind]
    if red in ("max", "min") and g.model.opset < 18:
        raise ExportError("ScatterND max/min reductions need ONNX opset 18")
    r_ids = need_rank(ids, "segment ids")
    rank = need_rank(data)
    out_dt = data.dtype
    data = working(g, data)
    dt = data.dtype
    tail = g.op1("Slice", shape_of(g, data), g.const(np.asarray([r_ids], np.int64)),
                 g.const(np.asarray([INT64_MAX], np.int64)))
    # Ids outside [0, n) go to one extra row, cut off after the scatter.
    ids64 = i64(g, ids)
    n0 = g.op1("Reshape", n, g.const(np.zeros(0, np.int64)))
    outside = g.op1("Or", g.op1("Less", ids64, scalar(g, 0, np.int64)), g.op1("GreaterOrEqual", ids64, n0))
    ids64 = g.op1("Unsqueeze", g.op1("Where", outside, n0, ids64), g.const(np.asarray([-1], np.int64)))
    rows = g.op1("Add", n, g.const(np.asarray([1], np.int64)))
    start = _start(kind, out_dt, infinite)
    base = g.op1("Expand", scalar(g, start, dt), g.op1("Concat", rows, tail, axis=0))
    out = g.op1("ScatterND", base, ids64, data, reduction=red)
    first, axis0 = g.const(np.asarray([0], np.int64)), g.const(np.asarray([0], np.int64))
    out = g.op1("Slice", out, first, n, axis0)
    if kind in ("Mean", "SqrtN") or empty is not None:
        ones = g.op1("Expand", scalar(g, 1, np.int64), g.op1("Shape", ids))
        counts = g.op1("ScatterND", g.op1("Expand", scalar(g, 0, np.int64), rows), ids64, ones, reduction="add")
        counts = g.op1("Slice", counts, first, n, axis0)
        if rank > r_ids:
            counts = g.op1("Unsqueeze", counts, g.const(np.arange(1, 1 + rank - r_ids, dtype=np.int64)))
        at_least_1 = g.op1("Max", counts, scalar(g, 1, np.int64))
        if kind == "Mean":  # integers truncate toward zero, as ONNX Div does
            out = g.op1("Div", out, cast(g, at_least_1, dt))
        elif kind == "SqrtN":
            out = g.op1("Div", out, g.op1("Sqrt", cast(g, at_least_1, dt)))
        if empty is not None:
            out = g.op1("Where", g.op1("Equal", counts, scalar(g, 0, np.int64)), scalar(g, empty, dt), out)
    return cast(g, out, out_dt)


def _count_from_ids(g: Graph, ids: Val) -> Val:
    """max(ids) + 1 (0 for no ids) as int64 [1]."""
    top = reduce(g, "ReduceMax", i64(g, ids), [0], True)
    return g.op1("Max", g.op1("Add", top, scalar(g, 1, np.int64)), scalar(g, 0, np.int64))


def _num(g: Graph, v: Val) -> Val:
    return g.op1("Reshape", i64(g, v), g.const(np.asarray([1], np.int64)))


@converter("SegmentSum", "SegmentProd", "SegmentMean", "SegmentMax", "SegmentMin",
           onnx="ReduceMax, ScatterND with a reduction")
def segment(cx, node, ins):
    g = cx.g
    data, ids = ins
    kind = _kind(node.op)
    return _segments(g, data, ids, _count_from_ids(g, ids), kind, infinite=True,
                     empty=0 if kind in ("Max", "Min") else None)


@converter("UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax", "UnsortedSegmentMin",
           "SegmentSumV2", "SegmentProdV2", "SegmentMaxV2", "SegmentMinV2", onnx="ScatterND with a reduction")
def unsorted_segment(cx, node, ins):
    g = cx.g
    data, ids, num = ins
    return _segments(g, data, ids, _num(g, num), _kind(node.op))


@converter("SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN", "SparseSegmentSumWithNumSegments",
           "SparseSegmentMeanWithNumSegments", "SparseSegmentSqrtNWithNumSegments",
           onnx="Gather, ScatterND(reduction=add), Div")
def sparse_segment(cx, node, ins):
    g = cx.g
    data, indices, ids = ins[:3]
    rows = g.op1("Gather", data, i64(g, indices), axis=0)
    n = _num(g, ins[3]) if node.op.endswith("WithNumSegments") else _count_from_ids(g, ids)
    return _segments(g, rows, ids, n, _kind(node.op))  # sums: an empty segment's 0 is the start


inexpressible("ONNX has no string reduction", "UnsortedSegmentJoin")
