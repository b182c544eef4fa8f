"""Complex products along an axis: Prod, Cumprod, SegmentProd, UnsortedSegmentProd, SegmentProdV2.

A product of complex numbers mixes their parts at every step, so it is no real reduction of
the parts (ONNX ReduceProd, ScatterND's mul); the products here multiply (real, imaginary)
pair tensors (see ``complex.py``) with the textbook formula TensorFlow's std::complex uses.

* ``Prod``: the reduced axes are moved last and flattened into one axis of K elements; with K
  known before running, a log-depth tree multiplies its first half by its second half (an odd
  element left over is carried to the next level), ceil(log2 K) levels of Slice and products;
  with K known only at run time a Loop multiplies the elements in turn. An empty product is
  1 + 0i.
* ``Cumprod``: a Loop along the axis keeping the running product (its scan output is the
  result; ``exclusive`` gives the product before each element, ``reverse`` runs backwards),
  in the order of Eigen's scan (tensorflow/tensorflow tensorflow/core/kernels/scan_ops.h).
* Segment products: a Loop over the rows multiplying each into its segment's accumulator
  (GatherND / ScatterND), in row order as TensorFlow's kernels and the numpy runtime's
  ``np.multiply.at`` do (graph/ops/segment.py); accumulators start at 1 + 0i (what an empty
  segment holds), and unsorted ids outside [0, num_segments) go to a spare row that is cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import complex_form
from savedmodel_io.onnx.ops._subgraph import body_graph
from savedmodel_io.onnx.ops._util import INT64_MAX, INT64_MIN, const_ints, i64, norm_axis, scalar

__all__: list[str] = []


def _pmul(g: Graph, a: Val, b: Val) -> Val:
    """The product of pair tensors ``a`` and ``b`` ([..., 2], broadcasting) as a pair tensor."""
    from savedmodel_io.onnx.ops.complex import _mul

    def split(v: Val) -> tuple[Val, Val]:
        return (g.op1("Gather", v, scalar(g, 0, np.int64), axis=-1),
                g.op1("Gather", v, scalar(g, 1, np.int64), axis=-1))

    re, im = _mul(g, split(a), split(b))
    last = g.const(np.asarray([-1], np.int64))
    return g.op1("Concat", g.op1("Unsqueeze", re, last), g.op1("Unsqueeze", im, last), axis=-1)


def _ones(g: Graph, shape: Val, dt: np.dtype) -> Val:
    """1 + 0i pairs of physical shape ``shape`` (int64, ending in 2)."""
    return g.op1("Expand", g.const(np.asarray([1, 0], dt)), shape)


def _i64s(g: Graph, *vals: int) -> Val:
    return g.const(np.asarray(vals, np.int64))


def _slice(g: Graph, v: Val, start: int, end: int, axis: int) -> Val:
    return g.op1("Slice", v, _i64s(g, start), _i64s(g, end), _i64s(g, axis))


def _loop(g: Graph, trips: Val, inits: list[Val], step: Callable[[Graph, Val, list[Val]], tuple[list[Val], list[Val]]],
          scans: list[tuple[np.dtype, tuple]] = ()) -> list[Val]:
    """An ONNX Loop of ``trips`` (int64 scalar) iterations carrying ``inits`` (real tensors);
    ``step(graph, i, carried)`` gives (the new carried values, the scan outputs)."""
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("i", "cond")] + \
        [g.model.fresh(f"{g.hint}/acc{k}") for k in range(len(inits))]
    carried_t = [tensor_type(v.dtype, v.shape) for v in inits]

    def body(h: Graph) -> list[Val]:
        i = Val(names[0], np.dtype(np.int64), ())
        state = [Val(n, v.dtype, v.shape) for n, v in zip(names[2:], inits)]
        new, scanned = step(h, i, state)
        return [h.const(np.asarray(True))] + new + scanned

    proto, _ = body_graph(g, "product", body, [(names[0], tensor_type(np.dtype(np.int64), ())),
                                               (names[1], tensor_type(np.dtype(bool), ()))] +
                          list(zip(names[2:], carried_t)))
    types = carried_t + [tensor_type(dt, shape) for dt, shape in scans]
    return g.op("Loop", [trips, None, *inits], outputs=len(types), types=types, body=proto)


def _tree(g: Graph, q: Val, k: int, ones: Val) -> Val:
    """The product of pair tensor ``q`` [..., K, 2] along axis -2 (K = ``k``, known), as [..., 2]."""
    if k == 0:
        return ones
    while k > 1:
        h = k // 2
        prod = _pmul(g, _slice(g, q, 0, h, -2), _slice(g, q, h, 2 * h, -2))
        if k % 2:
            prod = g.op1("Concat", prod, _slice(g, q, 2 * h, k, -2), axis=-2)
        q, k = prod, h + k % 2
    return g.op1("Squeeze", q, _i64s(g, -2))


def _axis_dims(v: Val, axes: list[int]) -> tuple:
    if v.shape is None:
        return tuple(None for _ in axes)
    return tuple(v.shape[a] for a in axes)


@complex_form("Prod", onnx="a tree of complex products (Slice, Mul, Sub, Add) over the reduced axes, or a Loop "
              "when their length is known only at run time")
def _complex_prod(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    from savedmodel_io.onnx.ops.complex import _complex_of, _plain, as_complex, pair, real_dtype

    g = cx.g
    dt = _complex_of(ins)
    rt = real_dtype(dt)
    p = pair(g, _plain(g, ins[:1])[0])
    if p.shape is None:
        raise ExportError("the rank of the input is not known before running")
    r = len(p.shape) - 1
    axes = const_ints(ins[1], "the reduction axes") if r else []
    red = sorted({norm_axis(a, r) for a in axes})
    if len(red) != len(axes):
        raise ExportError("the reduction axes repeat an axis")
    if not red:
        return as_complex(p, dt)
    kept = [i for i in range(r) if i not in red]
    perm = kept + red + [r]
    pt = g.op1("Transpose", p, perm=perm) if perm != list(range(r + 1)) else p
    shp = g.op1("Shape", pt)
    kept_shape = _slice(g, shp, 0, len(kept), 0)
    dims = _axis_dims(p, red)
    static = all(isinstance(d, int) for d in dims)
    k_val = _i64s(g, int(np.prod(dims, dtype=np.int64))) if static else \
        g.op1("ReduceProd", _slice(g, shp, len(kept), r, 0), keepdims=1)
    q = g.op1("Reshape", pt, g.op1("Concat", kept_shape, k_val, _i64s(g, 2), axis=0))
    ones = _ones(g, g.op1("Concat", kept_shape, _i64s(g, 2), axis=0), rt)
    if static:
        out = _tree(g, q, int(np.prod(dims, dtype=np.int64)), ones)
    else:
        kept_dims = _axis_dims(p, kept)

        def step(h: Graph, i: Val, state: list[Val]) -> tuple[list[Val], list[Val]]:
            return [_pmul(h, state[0], h.op1("Gather", q, i, axis=-2))], []

        init = Val(ones.name, rt, kept_dims + (2,))
        out = _loop(g, g.op1("Squeeze", k_val, _i64s(g, 0)), [init], step)[0]
    if bool(node.attr.get("keep_dims", False)):
        out = g.op1("Unsqueeze", out, g.const(np.asarray(red, np.int64)))
    return as_complex(out, dt)


@complex_form("Cumprod", onnx="Loop of complex products along the axis (scan output), Transpose, Slice to reverse")
def _complex_cumprod(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    from savedmodel_io.onnx.ops.complex import _complex_of, _plain, as_complex, pair, real_dtype

    g = cx.g
    dt = _complex_of(ins)
    rt = real_dtype(dt)
    p = pair(g, _plain(g, ins[:1])[0])
    if p.shape is None or len(p.shape) < 2:
        raise ExportError("Cumprod needs an input of known rank, at least 1")
    r = len(p.shape) - 1
    (axis,) = const_ints(ins[1], "the scan axis")
    a = norm_axis(axis, r)
    perm = [a] + [i for i in range(r) if i != a] + [r]
    pt = g.op1("Transpose", p, perm=perm) if a else p
    reverse, exclusive = bool(node.attr.get("reverse")), bool(node.attr.get("exclusive"))

    def flip(v: Val) -> Val:
        return g.op1("Slice", v, _i64s(g, -1), _i64s(g, INT64_MIN), _i64s(g, 0), _i64s(g, -1))

    if reverse:
        pt = flip(pt)
    shp = g.op1("Shape", pt)
    n = g.op1("Squeeze", _slice(g, shp, 0, 1, 0), _i64s(g, 0))
    rest = tuple(p.shape[i] for i in perm[1:])
    ones = _ones(g, _slice(g, shp, 1, INT64_MAX, 0), rt)

    def step(h: Graph, i: Val, state: list[Val]) -> tuple[list[Val], list[Val]]:
        new = _pmul(h, state[0], h.op1("Gather", pt, i, axis=0))
        return [new], [state[0] if exclusive else new]

    out = _loop(g, n, [Val(ones.name, rt, rest)], step, [(rt, (p.shape[a],) + rest)])[1]
    # onnxruntime's scan output of no iterations has no shape of its own: take the input's.
    out = g.op1("Reshape", out, shp)
    if reverse:
        out = flip(out)
    if a:
        out = g.op1("Transpose", out, perm=invert(perm))
    return as_complex(out, dt)


@complex_form("SegmentProd", "UnsortedSegmentProd", "SegmentProdV2",
              onnx="Loop over the rows: Gather, complex product, ScatterND into the segment's accumulator")
def _complex_segment_prod(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    from savedmodel_io.onnx.ops.complex import _complex_of, _plain, as_complex, pair, real_dtype
    from savedmodel_io.onnx.ops.segment import _count_from_ids, _num

    g = cx.g
    dt = _complex_of(ins)
    rt = real_dtype(dt)
    data = pair(g, _plain(g, ins[:1])[0])
    ids = i64(g, g.plain(ins[1]))
    if data.shape is None or ids.shape is None:
        raise ExportError("the ranks of the data and the segment ids must be known before running")
    r_ids = len(ids.shape)
    n = _num(g, ins[2]) if len(ins) > 2 else _count_from_ids(g, ids)
    flat_ids = g.op1("Reshape", ids, _i64s(g, -1))
    rows = g.op1("Shape", flat_ids)
    tail = g.op1("Slice", g.op1("Shape", data), _i64s(g, r_ids), _i64s(g, INT64_MAX))
    flat = g.op1("Reshape", data, g.op1("Concat", rows, tail, axis=0))
    n0 = g.op1("Squeeze", n, _i64s(g, 0))
    outside = g.op1("Or", g.op1("Less", flat_ids, scalar(g, 0, np.int64)), g.op1("GreaterOrEqual", flat_ids, n0))
    where = g.op1("Where", outside, n0, flat_ids)
    acc0 = _ones(g, g.op1("Concat", g.op1("Add", n, _i64s(g, 1)), tail, axis=0), rt)
    inner = tuple(data.shape[r_ids:])

    def step(h: Graph, i: Val, state: list[Val]) -> tuple[list[Val], list[Val]]:
        acc = state[0]
        seg = h.op1("Gather", where, i)
        new = _pmul(h, h.op1("Gather", acc, seg, axis=0), h.op1("Gather", flat, i, axis=0))
        at = h.op1("Reshape", seg, _i64s(h, 1, 1))
        return [h.op1("ScatterND", acc, at, h.op1("Unsqueeze", new, _i64s(h, 0)))], []

    acc = _loop(g, g.op1("Squeeze", rows, _i64s(g, 0)), [Val(acc0.name, rt, (None,) + inner)], step)[0]
    return as_complex(g.op1("Slice", acc, _i64s(g, 0), n, _i64s(g, 0)), dt)


@complex_form("MatrixDeterminant", "BatchMatrixDeterminant",
              onnx="a Loop over the columns of an LU factorisation with partial pivoting (ArgMax of the moduli, "
                   "GatherElements to swap rows, complex quotients and products to eliminate)")
def _complex_determinant(cx: Any, node: Any, ins: list[Val], conv: Any) -> Val:
    """det = sign * exp(sum log|u_kk|), sign = the row permutation's parity times the product of
    u_kk / |u_kk| (0 for a zero pivot), as TensorFlow's SLogDet computes it from Eigen's
    PartialPivLU (tensorflow/tensorflow tensorflow/core/kernels/linalg/determinant_op.cc; the
    numpy runtime's graph/ops/linalg.py _slogdet): column k's pivot is the first row at or below
    k of largest modulus; rows below it lose their multiple of the pivot row (not when the pivot
    is 0). A Loop over the columns, in the complex type's own precision as TensorFlow's kernel."""
    from savedmodel_io.onnx.ops.complex import _complex_of, _div, _hypot, _plain, as_complex, join, pair, real_dtype

    g = cx.g
    dt = _complex_of(ins)
    rt = real_dtype(dt)
    m = pair(g, _plain(g, ins)[0])
    if m.shape is None or len(m.shape) < 3:
        raise ExportError("the determinant needs matrices of known rank")
    r = len(m.shape)  # physical: [..., n, n, 2]
    batch = tuple(m.shape[:-3])
    shp = g.op1("Shape", m)
    n = g.op1("Squeeze", _slice(g, shp, r - 2, r - 1, 0), _i64s(g, 0))
    rows = g.op1("Range", scalar(g, 0, np.int64), n, scalar(g, 1, np.int64))  # [n]
    zero, one = scalar(g, 0, rt), scalar(g, 1, rt)
    batch_shape = _slice(g, shp, 0, r - 3, 0)
    logabs0 = g.op1("Expand", zero, batch_shape)
    phase0 = _ones(g, g.op1("Concat", batch_shape, _i64s(g, 2), axis=0), rt)

    def split(h: Graph, v: Val) -> tuple[Val, Val]:
        return (h.op1("Gather", v, scalar(h, 0, np.int64), axis=-1), h.op1("Gather", v, scalar(h, 1, np.int64), axis=-1))

    def pairs(h: Graph, re: Val, im: Val) -> Val:
        last = _i64s(h, -1)
        return h.op1("Concat", h.op1("Unsqueeze", re, last), h.op1("Unsqueeze", im, last), axis=-1)

    def step(h: Graph, k: Val, state: list[Val]) -> tuple[list[Val], list[Val]]:
        mat, logabs, phase = state
        mag = _hypot(h, *split(h, h.op1("Gather", mat, k, axis=-2)))  # |a_ik|, [..., n]
        below = h.op1("GreaterOrEqual", rows, k)
        score = h.op1("Where", below, mag, scalar(h, -1, rt))
        p = h.op1("ArgMax", score, axis=-1, keepdims=1)  # [..., 1]: the first row of largest modulus
        at_k = h.op1("Equal", rows, k)
        swapped = h.op1("Where", at_k, p, h.op1("Where", h.op1("Equal", rows, p), k, rows))  # [..., n]
        index = h.op1("Expand", h.op1("Unsqueeze", swapped, _i64s(h, -1, -2)), h.op1("Shape", mat))
        mat = h.op1("GatherElements", mat, index, axis=r - 3)
        flip = h.op1("Not", h.op1("Equal", h.op1("Squeeze", p, _i64s(h, -1)), k))
        row_k = h.op1("Gather", mat, k, axis=-3)  # [..., n, 2]
        pr, pi = split(h, h.op1("Gather", row_k, k, axis=-2))  # the pivot, [...]
        size = _hypot(h, pr, pi)
        nonzero = h.op1("Not", h.op1("Equal", size, zero))
        safe = h.op1("Where", nonzero, size, one)
        unit_re = h.op1("Where", nonzero, h.op1("Div", pr, safe), zero)
        unit_im = h.op1("Where", nonzero, h.op1("Div", pi, safe), zero)
        unit_re = h.op1("Where", flip, h.op1("Neg", unit_re), unit_re)
        unit_im = h.op1("Where", flip, h.op1("Neg", unit_im), unit_im)
        phase = _pmul(h, phase, pairs(h, unit_re, unit_im))
        logabs = h.op1("Add", logabs, h.op1("Log", size))
        # Rows below k: l_i = a_ik / u_kk; row_i -= l_i * row_k.
        cr, ci = split(h, h.op1("Gather", mat, k, axis=-2))  # [..., n]
        last = _i64s(h, -1)
        lr, li = _div(h, (cr, ci), (h.op1("Unsqueeze", pr, last), h.op1("Unsqueeze", pi, last)))
        keep = h.op1("And", h.op1("Greater", rows, k), h.op1("Unsqueeze", nonzero, last))
        lr, li = h.op1("Where", keep, lr, zero), h.op1("Where", keep, li, zero)
        outer = _pmul(h, h.op1("Unsqueeze", pairs(h, lr, li), _i64s(h, -2)), h.op1("Unsqueeze", row_k, _i64s(h, -3)))
        return [h.op1("Sub", mat, outer), logabs, phase], []

    _, logabs, phase = _loop(g, n, [Val(m.name, m.dtype, m.shape) if m.name is not None else m,
                                    Val(logabs0.name, rt, batch), Val(phase0.name, rt, batch + (2,))], step)
    mag = g.op1("Exp", logabs)
    re, im = split(g, phase)
    return join(g, g.op1("Mul", re, mag), g.op1("Mul", im, mag), dt)
