"""IsotonicRegression: pool adjacent violators as a Loop over each row's elements, batched over the rows.

Semantics: the numpy runtime's kernel (graph/ops/math_extra.py, ``isotonic_regression``), which follows
tensorflow/tensorflow tensorflow/core/kernels/isotonic_regression_op.cc: each row (the last axis) is fitted
by a non-increasing sequence; elements are pushed as one-element blocks and, while the block before the last
has a smaller mean than the last (strictly), the two are pooled (sums and counts added); each element's value
is its block's mean and its segment the block's index. Computed in float64 as the runtime does, the means
rounded to ``output_dtype`` at the end.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._loop import loop
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops._util import attr_dtype, cast, dim_of, reduce, scalar, squeeze, unsqueeze

_I64 = np.int64
_F64 = np.dtype(np.float64)


def _ints(g: Graph, *values: int) -> Val:
    return g.const(np.asarray(values, _I64))


@converter("IsotonicRegression", onnx="Loop (elements) of a Loop (pooling), GatherElements, ScatterElements, CumSum")
def isotonic(cx, node, ins):
    """The blocks of every row are a stack: sums and counts [rows, n] and the stack size per row. Each outer
    iteration pushes the next element; an inner Loop pools the top two blocks of every row whose second block
    has the smaller mean, until no row has one (at most as many rounds as elements pushed). The blocks' starts
    then mark where each segment begins: a running sum of the marks is each element's segment, and its value
    that block's mean."""
    g = cx.g
    x = ins[0]
    if x.shape is None:
        raise ExportError("the rank of the input is not known before running")
    out_dt = attr_dtype(node, "output_dtype", 1)
    if x.dtype.kind not in "iuf" or out_dt.kind != "f":
        raise ExportError(f"isotonic regression of {x.dtype} to {out_dt}")
    shape = g.op1("Shape", x)
    n = dim_of(g, x, -1) if x.rank else _ints(g, 1)
    # [R, n] with R counted (not -1, which an empty last axis leaves undetermined)
    lead = g.op1("ReduceProd", g.op1("Slice", shape, _ints(g, 0), _ints(g, -1)), keepdims=1) if x.rank else _ints(g, 1)
    rows = g.op1("Reshape", cast(g, x, _F64), g.op1("Concat", lead, n, axis=0), allowzero=1)
    r = dim_of(g, rows, 0)
    rn = g.op1("Concat", r, n, axis=0)
    zeros = g.op1("Expand", scalar(g, 0.0, _F64), rn)
    top0 = g.op1("Expand", scalar(g, 0, _I64), r)  # [R] blocks on each row's stack
    one = scalar(g, 1, _I64)

    def push(gg: Graph, i: Val, vs: list[Val]):
        sums, counts, top = vs
        at = unsqueeze(gg, top, [1])  # [R, 1]
        value = gg.op1("Gather", rows, i, axis=1)  # [R]
        sums = gg.op1("ScatterElements", sums, at, unsqueeze(gg, value, [1]), axis=1)
        counts = gg.op1("ScatterElements", counts, at, gg.op1("Expand", scalar(gg, 1.0, _F64), gg.op1("Shape", at)),
                        axis=1)
        top = gg.op1("Add", top, scalar(gg, 1, _I64))

        def pool(g2: Graph, j: Val, ws: list[Val]):
            s, c, t = ws
            i1 = unsqueeze(g2, g2.op1("Max", g2.op1("Sub", t, one), scalar(g2, 0, _I64)), [1])
            i2 = unsqueeze(g2, g2.op1("Max", g2.op1("Sub", t, scalar(g2, 2, _I64)), scalar(g2, 0, _I64)), [1])
            s1, c1 = g2.op1("GatherElements", s, i1, axis=1), g2.op1("GatherElements", c, i1, axis=1)
            s2, c2 = g2.op1("GatherElements", s, i2, axis=1), g2.op1("GatherElements", c, i2, axis=1)
            worse = g2.op1("And", unsqueeze(g2, g2.op1("GreaterOrEqual", t, scalar(g2, 2, _I64)), [1]),
                           g2.op1("Less", g2.op1("Div", s2, c2), g2.op1("Div", s1, c1)))  # [R, 1]
            s = g2.op1("ScatterElements", s, i2, g2.op1("Where", worse, g2.op1("Add", s2, s1), s2), axis=1)
            c = g2.op1("ScatterElements", c, i2, g2.op1("Where", worse, g2.op1("Add", c2, c1), c2), axis=1)
            pooled = cast(g2, squeeze(g2, worse, [1]), _I64)
            t = g2.op1("Sub", t, pooled)
            more = g2.op1("Greater", reduce(g2, "ReduceSum", pooled, None, keepdims=False), scalar(g2, 0, _I64))
            return more, [s, c, t], []

        rounds = gg.op1("Add", i, one)
        (sums, counts, top), _ = loop(gg, "pool", rounds, gg.const(np.asarray(True)), [sums, counts, top], pool)
        return None, [sums, counts, top], []

    (sums, counts, top), _ = loop(g, "isotonic", squeeze(g, n, [0]), None, [zeros, zeros, top0], push)
    # Where each block starts (blocks past the stack start "at n", a column dropped below).
    blocks = unsqueeze(g, g.op1("Range", scalar(g, 0, _I64), squeeze(g, n, [0]), one), [0])
    live = g.op1("Less", blocks, unsqueeze(g, top, [1]))  # [R, n]
    counts_i = cast(g, g.op1("Where", live, counts, scalar(g, 0.0, _F64)), _I64)
    ends = g.op1("CumSum", counts_i, one)
    begin = g.op1("Where", live, g.op1("Sub", ends, counts_i), g.op1("Expand", n, rn))
    marks = g.op1("ScatterElements", g.op1("Expand", scalar(g, 0, _I64), g.op1("Add", rn, _ints(g, 0, 1))), begin,
                  g.op1("Expand", one, rn), axis=1)
    marks = g.op1("Slice", marks, _ints(g, 0), g.op1("Reshape", n, _ints(g, 1)), _ints(g, 1))
    segment = g.op1("Sub", g.op1("CumSum", marks, one), one)  # [R, n]
    means = g.op1("Div", sums, g.op1("Where", live, counts, scalar(g, 1.0, _F64)))
    values = g.op1("GatherElements", means, g.op1("Max", segment, scalar(g, 0, _I64)), axis=1)
    values = g.op1("Reshape", cast(g, values, out_dt), shape, allowzero=1)
    return [values, g.op1("Reshape", cast(g, segment, np.int32), shape, allowzero=1)]
