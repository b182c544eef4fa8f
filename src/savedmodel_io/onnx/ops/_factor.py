"""Matrix factorizations and solves as ONNX ``Loop``s: one column, row or pivot an iteration.

ONNX has no decomposition operator, but each factorization here is a fixed sequence of steps
over the matrix dimension, so it is a Loop whose trip count is that dimension (read with
``Shape``, so sizes known only at run time work) carrying the batch of matrices, flattened to
[B, m, n]. A step reads the k-th row or column with ``Gather``, writes a row or column with
``ScatterElements`` and updates the trailing block with a rank-1 ``MatMul`` (O(n^2) work a step,
O(n^3) in all, as the textbook algorithms); onnxruntime's broadcasting ``Where`` over the whole
batch is kept to [B, n] vectors, being the slowest op there.
Each follows the numpy runtime's kernel (graph/ops/linalg.py), which follows TensorFlow's:

* ``cholesky``: left-looking, column by column (LAPACK potf2's order); a pivot that is not > 0
  (or NaN) marks the matrix failed (TF's kernel then gives NaN below the diagonal).
* ``lu``: right-looking elimination with partial pivoting, the row of largest modulus and the
  first of equal ones (Eigen's PartialPivLU, tensorflow/tensorflow
  tensorflow/core/kernels/linalg/lu_op.cc); a zero pivot leaves its column undivided.
* ``tri_solve``: forward or back substitution, a row an iteration.
* ``qr``: Householder reflections with Eigen's sign rule (libeigen/eigen
  Eigen/src/Householder/Householder.h, makeHouseholder: beta = -sign(c0) * norm, no
  reflection when the tail's squared norm is at most the smallest normal number), which is
  LAPACK's (dlarfg) too: R's diagonal keeps the signs the reflections give.
* tridiagonal systems: LAPACK gtsv's elimination with partial pivoting, or Thomas' algorithm.
* ``symmetric_eigen`` and ``one_sided_jacobi``: Jacobi rotations, n / 2 disjoint pairs a round,
  until converged (a data-dependent Loop condition, at most MAX_SWEEPS sweeps); eigen- and
  singular values match TF's, vectors are unique only up to sign (as the runtime's LAPACK ones).

The graph is the same size whatever the matrix size: nothing here is unrolled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from savedmodel_io.onnx._graph import Graph, Val
from savedmodel_io.onnx._types import onnx_type as _onnx_type, tensor_type
from savedmodel_io.onnx.ops._subgraph import body_graph
from savedmodel_io.onnx.ops._util import cast, need_rank, reduce, scalar

I64 = np.dtype(np.int64)
_NO_SHAPE = np.zeros(0, np.int64)


def i64(g: Graph, value) -> Val:
    return g.const(np.asarray(value, np.int64))


def to_scalar(g: Graph, v: Val) -> Val:
    """A one-element int64 tensor as a scalar."""
    return v if v.rank == 0 else g.op1("Reshape", v, g.const(_NO_SHAPE))


def dim(g: Graph, x: Val, axis: int) -> Val:
    """Size of ``x``'s axis as an int64 scalar (a constant when known)."""
    r = need_rank(x)
    a = axis % r
    if x.shape is not None and isinstance(x.shape[a], int):
        return i64(g, x.shape[a])
    return to_scalar(g, g.op1("Shape", x, start=a, end=a + 1))


def lead_shape(g: Graph, x: Val) -> Val:
    """The batch dims of [..., m, n] ``x`` as a 1-D int64 tensor."""
    r = need_rank(x)
    if x.shape is not None and all(isinstance(d, int) for d in x.shape[:-2]):
        return g.const(np.asarray(x.shape[:-2], np.int64))
    return g.op1("Shape", x, start=0, end=r - 2)


def flat3(g: Graph, x: Val) -> Val:
    """[..., m, n] as [B, m, n]."""
    r = need_rank(x)
    if r == 3:
        return x
    s = x.shape
    if s is not None and all(isinstance(d, int) for d in s):
        b = int(np.prod(s[:-2], dtype=np.int64))
        return g.op1("Reshape", x, g.const(np.asarray([b, s[-2], s[-1]], np.int64)), allowzero=1)
    lead = g.op1("ReduceProd", lead_shape(g, x), keepdims=1)  # not -1: a batch may be empty
    out = g.op1("Reshape", x, g.op1("Concat", lead, g.op1("Shape", x, start=r - 2), axis=0), allowzero=1)
    if s is not None:
        g.refine(out, (None, s[-2], s[-1]))
    return out


def unflat(g: Graph, y: Val, lead: Val, rank: int, shape=None) -> Val:
    """[B, ...] ``y`` with B split back into the batch dims ``lead`` (``rank``: the result's rank)."""
    tail = need_rank(y) - 1
    if rank == tail + 1 and lead.is_const and lead.const.size == 1:
        out = y
    else:
        out = g.op1("Reshape", y, g.op1("Concat", lead, g.op1("Shape", y, start=1), axis=0), allowzero=1)
    if shape is not None:
        g.refine(out, shape)
    return out


def loop(g: Graph, name: str, trips: Val, init: list[Val],
         step: Callable[[Graph, Val, list[Val]], list[Val]]) -> list[Val]:
    """An ONNX Loop of ``trips`` iterations carrying ``init``; ``step(body, k, carried)`` gives the next values.

    The carried values keep their rank; their dims are left unknown inside the body.
    """
    names = [g.model.fresh(f"{g.hint}/{name}_{k}") for k in ("iter", "cond", *(f"v{j}" for j in range(len(init))))]
    types = [tensor_type(v.dtype, None if v.shape is None else (None,) * len(v.shape)) for v in init]

    def body(gg: Graph) -> list[Val]:
        carried = [Val(nm, v.dtype, None if v.shape is None else (None,) * len(v.shape))
                   for nm, v in zip(names[2:], init)]
        new = step(gg, Val(names[0], I64, ()), carried)
        return [gg.const(np.asarray(True)), *(cast(gg, v, c.dtype) for v, c in zip(new, carried))]

    proto, _ = body_graph(g, name, body, [(names[0], tensor_type(I64, ())),
                                          (names[1], tensor_type(np.dtype(bool), ())),
                                          *zip(names[2:], types)])
    outs = g.op("Loop", [to_scalar(g, trips), None, *init], outputs=len(init), types=types, body=proto)
    for o, v in zip(outs, init):
        g.refine(o, v.shape)
    return outs


# -- small building blocks (batch of matrices [B, m, n], k an int64 scalar) ---------------------

def row(g: Graph, x: Val, k: Val) -> Val:
    """x[:, k, :] of [B, m, n]: [B, n]."""
    return g.op1("Gather", x, k, axis=1)


def col(g: Graph, x: Val, k: Val) -> Val:
    """x[:, :, k] of [B, m, n]: [B, m]."""
    return g.op1("Gather", x, k, axis=2)


def entry(g: Graph, v: Val, k: Val) -> Val:
    """v[:, k] of [B, n]: [B]."""
    return g.op1("Gather", v, k, axis=1)


def as_col(g: Graph, v: Val) -> Val:
    """[B, n] as [B, n, 1]."""
    return g.op1("Unsqueeze", v, i64(g, [2]))


def as_row(g: Graph, v: Val) -> Val:
    """[B, n] as [B, 1, n]."""
    return g.op1("Unsqueeze", v, i64(g, [1]))


def per_matrix(g: Graph, v: Val) -> Val:
    """[B] as [B, 1]."""
    return g.op1("Unsqueeze", v, i64(g, [1]))


def _index_like(g: Graph, upd: Val, i: Val) -> Val:
    """int64 ``i`` in the shape of ``upd`` (ConstantOfShape: onnxruntime's Expand of a [1, 1]
    tensor to a shape with a 0 keeps the 1)."""
    import onnx

    zeros = g.op1("ConstantOfShape", g.op1("Shape", upd), value=onnx.numpy_helper.from_array(np.zeros(1, np.int64)))
    return g.op1("Add", zeros, i)


def set_row(g: Graph, x: Val, i: Val, values: Val) -> Val:
    """[B, m, n] ``x`` with row i set to [B, n] ``values`` (ScatterElements: no pass over the whole
    batch with a mask, which onnxruntime's broadcasting Where makes the slowest step)."""
    upd = as_row(g, values)
    idx = _index_like(g, upd, i)
    return g.op1("ScatterElements", x, idx, upd, axis=1)


def set_col(g: Graph, x: Val, j: Val, values: Val) -> Val:
    """[B, m, n] ``x`` with column j set to [B, m] ``values``."""
    upd = as_col(g, values)
    idx = _index_like(g, upd, j)
    return g.op1("ScatterElements", x, idx, upd, axis=2)


def arange(g: Graph, n: Val) -> Val:
    return g.op1("Range", i64(g, 0), n, i64(g, 1))


def eye(g: Graph, n: Val, dtype) -> Val:
    """The [n, n] identity of ``dtype``."""
    ar = arange(g, n)
    same = g.op1("Equal", g.op1("Unsqueeze", ar, i64(g, [1])), g.op1("Unsqueeze", ar, i64(g, [0])))
    if np.dtype(dtype) == np.bool_:
        return same
    return g.op1("Where", same, scalar(g, 1, dtype), scalar(g, 0, dtype))


def zeros_like(g: Graph, x: Val) -> Val:
    return g.op1("Expand", scalar(g, 0, x.dtype), g.op1("Shape", x))


def flat2(g: Graph, x: Val, n: Val) -> Val:
    """[B, n, n] as [B, n * n] (B read from the shape: a batch may be empty)."""
    nn = g.op1("Reshape", g.op1("Mul", n, n), i64(g, [1]))
    return g.op1("Reshape", x, g.op1("Concat", g.op1("Shape", x, start=0, end=1), nn, axis=0), allowzero=1)


def diagonal(g: Graph, x: Val) -> Val:
    """The diagonal of [B, n, n]: [B, n] (other entries never read, NaN or not)."""
    n = dim(g, x, 2)
    flat = flat2(g, x, n)
    return g.op1("Gather", flat, g.op1("Mul", arange(g, n), g.op1("Add", n, i64(g, 1))), axis=1)


def lower_mask(g: Graph, n: Val, strict: bool = False, upper: bool = False) -> Val:
    """[n, n] bool: the lower (or upper) triangle, with or without the diagonal."""
    ar = arange(g, n)
    r, c = g.op1("Unsqueeze", ar, i64(g, [1])), g.op1("Unsqueeze", ar, i64(g, [0]))
    a, b = (c, r) if not upper else (r, c)
    # lower: c <= r (c < r strictly); upper: r <= c.
    return g.op1("Less", a, b) if strict else g.op1("Not", g.op1("Less", b, a))


def transpose3(g: Graph, x: Val) -> Val:
    return g.op1("Transpose", x, perm=[0, 2, 1])


# -- Cholesky ----------------------------------------------------------------------------------

def cholesky(g: Graph, a: Val) -> tuple[Val, Val]:
    """Lower Cholesky factors of [B, n, n] (read from the lower triangles) and which failed ([B] bool)."""
    dt = a.dtype
    n = dim(g, a, 2)
    ar = arange(g, n)
    zero, one = scalar(g, 0, dt), scalar(g, 1, dt)
    b = dim(g, a, 0)
    failed0 = g.op1("Expand", g.const(np.asarray(False)), g.op1("Reshape", b, i64(g, [1])))

    def step(h: Graph, j: Val, carried: list[Val]) -> list[Val]:
        low, failed = carried
        r = row(h, low, j)  # L[j, :j] (zeros from j on)
        d = h.op1("Sub", entry(h, col(h, a, j), j), h.op1("ReduceSum", h.op1("Mul", r, r), i64(h, [1]), keepdims=0))
        pos = h.op1("Greater", d, zero)
        failed = h.op1("Or", failed, h.op1("Not", pos))
        root = per_matrix(h, h.op1("Sqrt", h.op1("Where", pos, d, one)))
        v = h.op1("Sub", col(h, a, j), h.op1("Squeeze", h.op1("MatMul", low, as_col(h, r)), i64(h, [2])))
        new = h.op1("Where", h.op1("Equal", ar, j), root, h.op1("Div", v, root))
        new = h.op1("Where", h.op1("Less", ar, j), zero, new)
        return [set_col(h, low, j, new), failed]

    low, failed = loop(g, "cholesky", n, [zeros_like(g, a), failed0], step)
    return low, failed


# -- triangular solves -------------------------------------------------------------------------

def tri_solve(g: Graph, t: Val, b: Val, lower: bool, unit: bool = False) -> Val:
    """Solve t x = b for [B, n, n] triangular t (only its ``lower`` or upper triangle read) and [B, n, k] b."""
    n = dim(g, t, 2)
    ar = arange(g, n)
    zero = scalar(g, 0, t.dtype)
    last = g.op1("Sub", n, i64(g, 1))

    def step(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        (x,) = carried
        i = k if lower else h.op1("Sub", last, k)
        full = row(h, t, i)
        done = h.op1("Less", ar, i) if lower else h.op1("Greater", ar, i)
        tr = h.op1("Where", done, full, zero)  # the rows solved before; the other triangle is not read
        acc = h.op1("Squeeze", h.op1("MatMul", as_row(h, tr), x), i64(h, [1]))  # [B, k]
        xi = h.op1("Sub", row(h, b, i), acc)
        if not unit:
            xi = h.op1("Div", xi, per_matrix(h, entry(h, full, i)))
        return [set_row(h, x, i, xi)]

    return loop(g, "tri_solve", n, [zeros_like(g, b)], step)[0]


# -- LU with partial pivoting ------------------------------------------------------------------

def lu(g: Graph, a: Val) -> tuple[Val, Val, Val]:
    """Packed LU of [B, n, n] (unit L below the diagonal, U on and above), the row permutation
    ``perm`` [B, n] int64 with L U = a[perm], and its parity [B] (+-1 in a's dtype)."""
    dt = a.dtype
    n = dim(g, a, 2)
    ar = arange(g, n)
    zero, one = scalar(g, 0, dt), scalar(g, 1, dt)
    bshape = g.op1("Reshape", dim(g, a, 0), i64(g, [1]))
    perm0 = g.op1("Expand", g.op1("Unsqueeze", ar, i64(g, [0])), g.op1("Concat", bshape, i64(g, [1]), axis=0))
    parity0 = g.op1("Expand", one, bshape)

    def step(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        x, perm, parity = carried
        c = col(h, x, k)
        score = h.op1("Where", h.op1("Less", ar, k), scalar(h, -1, dt), h.op1("Abs", c))
        r = h.op1("ArgMax", score, axis=1, keepdims=1)  # [B, 1]: the first largest
        at_k, at_r = h.op1("Equal", ar, k), h.op1("Equal", ar, r)  # [n], [B, n]
        idx = h.op1("Where", at_k, r, h.op1("Where", at_r, k, ar))  # [B, n]: rows k and r swapped
        # Swap rows k and r: two rows read ([B, 1, n]) and written, not a gather of the whole batch.
        row_k = h.op1("Unsqueeze", row(h, x, k), i64(h, [1]))
        shape = h.op1("Shape", row_k)
        idx_k = _index_like(h, row_k, k)
        idx_r = h.op1("Expand", h.op1("Unsqueeze", r, i64(h, [2])), shape)
        row_r = h.op1("GatherElements", x, idx_r, axis=1)
        x = h.op1("ScatterElements", x, h.op1("Concat", idx_k, idx_r, axis=1),
                  h.op1("Concat", row_r, row_k, axis=1), axis=1)
        perm = h.op1("GatherElements", perm, idx, axis=1)
        moved = h.op1("Squeeze", h.op1("Equal", r, k), i64(h, [1]))
        parity = h.op1("Where", moved, parity, h.op1("Neg", parity))
        c = col(h, x, k)
        piv = per_matrix(h, entry(h, c, k))  # [B, 1]
        nz = h.op1("Not", h.op1("Equal", piv, zero))
        l = h.op1("Where", nz, h.op1("Div", c, h.op1("Where", nz, piv, one)), c)
        below = h.op1("Greater", ar, k)
        lm = h.op1("Where", below, l, zero)  # rows after k
        um = h.op1("Where", below, row(h, x, k), zero)  # columns after k
        # The trailing block less l u^T (other entries less 0; a non-finite u makes them NaN).
        x = h.op1("Sub", x, h.op1("MatMul", as_col(h, lm), as_row(h, um)))
        x = set_col(h, x, k, h.op1("Where", below, l, c))
        return [x, perm, parity]

    packed, perm, parity = loop(g, "lu", n, [a, perm0, parity0], step)
    return packed, perm, parity


def lu_solve(g: Graph, packed: Val, perm: Val, b: Val) -> Val:
    """Solve a x = b from a's packed LU and permutation ([B, n, n], [B, n]; b [B, n, k])."""
    rows = g.op1("Expand", as_col(g, perm), g.op1("Shape", b))
    pb = g.op1("GatherElements", b, rows, axis=1)
    y = tri_solve(g, packed, pb, lower=True, unit=True)
    return tri_solve(g, packed, y, lower=False)


def slogdet(g: Graph, packed: Val, parity: Val) -> tuple[Val, Val]:
    """Sign and log|det| from the packed LU: the permutation's parity times the pivots' signs, and
    the sum of log|pivot| (determinant_op.cc's SLogDet; an exact zero pivot gives sign 0, -inf)."""
    d = diagonal(g, packed)
    logdet = g.op1("ReduceSum", g.op1("Log", g.op1("Abs", d)), i64(g, [1]), keepdims=0)
    sign = g.op1("Mul", parity, reduce(g, "ReduceProd", g.op1("Sign", d), [1], keepdims=False))
    return sign, logdet


# -- Householder QR ----------------------------------------------------------------------------

def qr(g: Graph, a: Val) -> tuple[Val, Val]:
    """Full Householder QR of [B, m, n]: Q [B, m, m] and R [B, m, n] (upper triangular)."""
    dt = a.dtype
    m, n = dim(g, a, 1), dim(g, a, 2)
    p = g.op1("Min", m, n)
    ar = arange(g, m)
    zero, one = scalar(g, 0, dt), scalar(g, 1, dt)
    tiny = scalar(g, np.finfo(dt).tiny, dt)
    q0 = g.op1("Expand", eye(g, m, dt), g.op1("Concat", g.op1("Shape", a, start=0, end=1), g.op1(
        "Reshape", m, i64(g, [1])), g.op1("Reshape", m, i64(g, [1])), axis=0))

    def step(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        r, q = carried
        x = col(h, r, k)  # [B, m]
        alpha = entry(h, x, k)
        after = h.op1("Greater", ar, k)
        tail = h.op1("Where", after, x, zero)
        tsq = h.op1("ReduceSum", h.op1("Mul", tail, tail), i64(h, [1]), keepdims=0)
        norm = h.op1("Sqrt", h.op1("Add", h.op1("Mul", alpha, alpha), tsq))
        beta = h.op1("Where", h.op1("Less", alpha, zero), norm, h.op1("Neg", norm))
        trivial = h.op1("Not", h.op1("Greater", tsq, tiny))
        tau = h.op1("Where", trivial, zero, h.op1("Div", h.op1("Sub", beta, alpha), beta))
        denom = per_matrix(h, h.op1("Where", trivial, one, h.op1("Sub", alpha, beta)))
        v = h.op1("Where", h.op1("Equal", ar, k), one, h.op1("Where", after, h.op1("Div", x, denom), zero))
        tv = h.op1("Mul", per_matrix(h, tau), v)
        # R - tau v (v^T R) and Q - (Q v) tau v^T, the outer products as MatMuls of inner size 1.
        r = h.op1("Sub", r, h.op1("MatMul", as_col(h, tv), h.op1("MatMul", as_row(h, v), r)))
        q = h.op1("Sub", q, h.op1("MatMul", h.op1("MatMul", q, as_col(h, v)), as_row(h, tv)))
        # Column k: beta on the diagonal (alpha untouched without a reflection), zeros below.
        newc = h.op1("Where", h.op1("Equal", ar, k), per_matrix(h, h.op1("Where", trivial, alpha, beta)),
                     h.op1("Where", after, zero, col(h, r, k)))
        r = set_col(h, r, k, newc)
        return [r, q]

    r, q = loop(g, "qr", p, [a, q0], step)
    r = g.op1("Trilu", r, upper=1)
    return q, r


# -- tridiagonal systems -----------------------------------------------------------------------

def _put(h: Graph, v: Val, ar: Val, i: Val, value: Val) -> Val:
    """[B, M] ``v`` with column i set to [B] ``value`` (ScatterElements: onnxruntime's broadcasting
    Where turns a -0 it picks from the broadcast side into +0, and the sign of a zero pivot decides
    the sign of its perturbation)."""
    upd = per_matrix(h, value)
    idx = _index_like(h, upd, i)
    return h.op1("ScatterElements", v, idx, upd, axis=1)


def _put_row(h: Graph, x: Val, ar: Val, i: Val, value: Val) -> Val:
    """[B, M, K] ``x`` with row i set to [B, K] ``value``."""
    return set_row(h, x, i, value)


def tridiagonal_pivoting(g: Graph, sup: Val, main: Val, sub: Val, rhs: Val) -> tuple[Val, Val]:
    """Gaussian elimination with partial pivoting on [B, M] diagonals and [B, M, K] right-hand
    sides (LAPACK gtsv's scheme, the runtime's _pivoted_tridiagonal): x, and which systems met an
    exactly zero pivot."""
    dt = main.dtype
    n = dim(g, main, 1)
    ar = arange(g, n)
    zero = scalar(g, 0, dt)
    one_i = i64(g, 1)
    failed0 = g.op1("Expand", g.const(np.asarray(False)), g.op1("Reshape", dim(g, main, 0), i64(g, [1])))

    def forward(h: Graph, i: Val, carried: list[Val]) -> list[Val]:
        u0, u1, u2, x, failed = carried
        j = h.op1("Add", i, one_i)
        ui0, ui1, xi = entry(h, u0, i), entry(h, u1, i), row(h, x, i)
        sub_n, main_n, sup_n, rhs_n = entry(h, sub, j), entry(h, main, j), entry(h, sup, j), row(h, rhs, j)
        a, b = h.op1("Abs", ui0), h.op1("Abs", sub_n)
        keep = h.op1("Or", h.op1("Greater", a, b), h.op1("Equal", a, b))
        failed = h.op1("Or", failed, h.op1("And", keep, h.op1("Equal", ui0, zero)))
        f_keep, f_swap = h.op1("Div", sub_n, ui0), h.op1("Div", ui0, sub_n)
        k1 = per_matrix(h, keep)
        fk1, fs1 = per_matrix(h, f_keep), per_matrix(h, f_swap)
        u0 = _put(h, u0, ar, j, h.op1("Where", keep, h.op1("Sub", main_n, h.op1("Mul", f_keep, ui1)),
                                      h.op1("Sub", ui1, h.op1("Mul", f_swap, main_n))))
        x = _put_row(h, x, ar, j, h.op1("Where", k1, h.op1("Sub", rhs_n, h.op1("Mul", fk1, xi)),
                                        h.op1("Sub", xi, h.op1("Mul", fs1, rhs_n))))
        x = _put_row(h, x, ar, i, h.op1("Where", k1, xi, rhs_n))
        u0 = _put(h, u0, ar, i, h.op1("Where", keep, ui0, sub_n))
        u1 = _put(h, u1, ar, i, h.op1("Where", keep, ui1, main_n))
        # Row i+1's superdiagonal and row i's second one (unused after the last step).
        u1 = _put(h, u1, ar, j, h.op1("Where", keep, sup_n, h.op1("Neg", h.op1("Mul", f_swap, sup_n))))
        u2 = _put(h, u2, ar, i, h.op1("Where", keep, zero, sup_n))
        return [u0, u1, u2, x, failed]

    trips = g.op1("Max", g.op1("Sub", n, one_i), i64(g, 0))
    u0, u1, u2, x, failed = loop(g, "gtsv", trips, [main, sup, zeros_like(g, main), rhs, failed0], forward)
    last = g.op1("Sub", n, one_i)

    def back(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        x, failed = carried
        i = h.op1("Sub", last, k)
        ui0 = entry(h, u0, i)
        failed = h.op1("Or", failed, h.op1("And", h.op1("Equal", i, last), h.op1("Equal", ui0, zero)))
        acc = row(h, x, i)
        for step, coef in ((1, u1), (2, u2)):
            j = h.op1("Add", i, i64(h, step))
            inside = h.op1("Less", j, n)
            term = h.op1("Mul", per_matrix(h, entry(h, coef, i)), row(h, x, h.op1("Min", j, last)))
            acc = h.op1("Where", inside, h.op1("Sub", acc, term), acc)
        return [_put_row(h, x, ar, i, h.op1("Div", acc, per_matrix(h, ui0))), failed]

    x, failed = loop(g, "gtsv_back", n, [x, failed], back)
    return x, failed


def tridiagonal_thomas(g: Graph, sup: Val, main: Val, sub: Val, rhs: Val) -> tuple[Val, Val]:
    """The Thomas algorithm (no pivoting, the runtime's _thomas): x, and which systems met a zero pivot."""
    dt = main.dtype
    n = dim(g, main, 1)
    ar = arange(g, n)
    zero = scalar(g, 0, dt)
    one_i = i64(g, 1)
    failed0 = g.op1("Expand", g.const(np.asarray(False)), g.op1("Reshape", dim(g, main, 0), i64(g, [1])))

    def forward(h: Graph, i: Val, carried: list[Val]) -> list[Val]:
        u, x, failed = carried
        prev = h.op1("Max", h.op1("Sub", i, one_i), i64(h, 0))
        first = h.op1("Equal", i, i64(h, 0))
        main_i, sub_i = entry(h, main, i), entry(h, sub, i)
        denom = h.op1("Where", first, main_i, h.op1("Sub", main_i, h.op1("Mul", sub_i, entry(h, u, prev))))
        num = h.op1("Where", first, row(h, rhs, i),
                    h.op1("Sub", row(h, rhs, i), h.op1("Mul", per_matrix(h, sub_i), row(h, x, prev))))
        failed = h.op1("Or", failed, h.op1("Equal", denom, zero))
        u = _put(h, u, ar, i, h.op1("Div", entry(h, sup, i), denom))
        x = _put_row(h, x, ar, i, h.op1("Div", num, per_matrix(h, denom)))
        return [u, x, failed]

    u, x, failed = loop(g, "thomas", n, [zeros_like(g, main), zeros_like(g, rhs), failed0], forward)
    start = g.op1("Sub", n, i64(g, 2))

    def back(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        (x,) = carried
        i = h.op1("Sub", start, k)
        nxt = row(h, x, h.op1("Add", i, one_i))
        return [_put_row(h, x, ar, i, h.op1("Sub", row(h, x, i), h.op1("Mul", per_matrix(h, entry(h, u, i)), nxt)))]

    trips = g.op1("Max", g.op1("Sub", n, one_i), i64(g, 0))
    (x,) = loop(g, "thomas_back", trips, [x], back)
    return x, failed


# -- Jacobi eigenvalues and singular values ----------------------------------------------------
# Parallel (round-robin) Jacobi: a sweep is m - 1 rounds (m = n rounded up to even); round t pairs
# index t with m - 1 and a with (2t - a) mod (m - 1) (the circle method), so each round rotates n/2
# disjoint pairs at once, each rotation an O(n) update of two rows and columns: the whole round is
# elementwise work and a Gather of the partners' rows, no matrix product. An index
# paired with m - 1 = n (odd n) sits the round out. Rotation angles: Golub and Van Loan's symmetric
# Schur 2x2 (t = sign(tau) / (|tau| + sqrt(1 + tau^2)), tau = (a_qq - a_pp) / (2 a_pq)).

MAX_SWEEPS = 40


def _partners(h: Graph, n: Val, m1: Val, t: Val) -> tuple[Val, Val]:
    """Round t's partner of each index [n] (itself when it sits the round out) and whether it has one."""
    ar = arange(h, n)
    other = h.op1("Mod", h.op1("Add", h.op1("Sub", h.op1("Mul", t, i64(h, 2)), ar), h.op1("Mul", m1, i64(h, 2))), m1)
    p = h.op1("Where", h.op1("Equal", ar, t), m1, h.op1("Where", h.op1("Equal", ar, m1), t, other))
    paired = h.op1("Less", p, n)
    return h.op1("Where", paired, p, ar), paired


def _rotation(h: Graph, alpha: Val, beta: Val, gamma: Val, active: Val) -> tuple[Val, Val]:
    """(c, s) of the rotation zeroing gamma between diagonal entries alpha (p) and beta (q); (1, 0) where not active."""
    dt = alpha.dtype
    one, zero = scalar(h, 1, dt), scalar(h, 0, dt)
    g_safe = h.op1("Where", active, gamma, one)
    tau = h.op1("Div", h.op1("Sub", beta, alpha), h.op1("Mul", scalar(h, 2, dt), g_safe))
    sign = h.op1("Where", h.op1("Less", tau, zero), scalar(h, -1, dt), one)
    t = h.op1("Div", sign, h.op1("Add", h.op1("Abs", tau), h.op1("Sqrt", h.op1("Add", one, h.op1("Mul", tau, tau)))))
    c = h.op1("Div", one, h.op1("Sqrt", h.op1("Add", one, h.op1("Mul", t, t))))
    return h.op1("Where", active, c, one), h.op1("Where", active, h.op1("Mul", t, c), zero)


def _rotate_rows(h: Graph, x: Val, p: Val, c: Val, w: Val) -> Val:
    """J^T x for the round's J (J[i, i] = c_i, J[i, p_i] = w_i, J[p_i, i] = -w_i): row i = c_i x_i - w_i x_{p_i}."""
    return h.op1("Sub", h.op1("Mul", x, as_col(h, c)), h.op1("Mul", h.op1("Gather", x, p, axis=1), as_col(h, w)))


def _any(h: Graph, v: Val) -> Val:
    return h.op1("Greater", h.op1("ReduceSum", h.op1("Cast", v, to=7), keepdims=0), i64(h, 0))


def symmetric_eigen(g: Graph, a: Val) -> tuple[Val, Val]:
    """Eigenvalues (ascending) and eigenvectors (columns, signs as the iteration leaves them) of
    symmetric [B, n, n] ``a``, by parallel Jacobi sweeps until a sweep rotates nothing (each a_pq^2
    at most (eps / n)^2 (a_pp^2 + a_qq^2)), at most MAX_SWEEPS sweeps."""
    dt = a.dtype
    n = dim(g, a, 2)
    m1 = g.op1("Max", g.op1("Sub", g.op1("Add", n, g.op1("Mod", n, i64(g, 2))), i64(g, 1)), i64(g, 1))
    eps = float(np.finfo(dt).eps)
    v0 = g.op1("Expand", eye(g, n, dt), g.op1("Shape", a))
    nf = g.op1("Cast", g.op1("Max", n, i64(g, 1)), to=_onnx_type(dt))
    rel = g.op1("Div", scalar(g, eps * eps, dt), g.op1("Mul", nf, nf))

    def step(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        x, v = carried
        t = h.op1("Mod", k, m1)
        p, paired = _partners(h, n, m1, t)
        ar = arange(h, n)
        d = diagonal(h, x)
        dp = h.op1("Gather", d, p, axis=1)
        flat = flat2(h, x, n)
        # (a[i, p_i] + a[p_i, i]) / 2: rounding leaves the two unequal, and both rows of a pair must
        # compute the same rotation.
        apq = h.op1("Mul", scalar(h, 0.5, dt), h.op1("Add", h.op1("Gather", flat, h.op1("Add", h.op1("Mul", ar, n), p), axis=1),
                                                     h.op1("Gather", flat, h.op1("Add", h.op1("Mul", p, n), ar), axis=1)))
        first = h.op1("Less", ar, p)  # i is the pair's p (else its q)
        alpha, beta = h.op1("Where", first, d, dp), h.op1("Where", first, dp, d)
        # Rotate unless a_pq^2 <= (eps / n)^2 (a_pp^2 + a_qq^2): what is left then is below the
        # stopping threshold, and rotating by rounding noise could mix converged columns.
        big = h.op1("Greater", h.op1("Mul", apq, apq), h.op1("Mul", rel, h.op1("Add", h.op1("Mul", alpha, alpha),
                                                                            h.op1("Mul", beta, beta))))
        active = h.op1("And", paired, big)
        c, s = _rotation(h, alpha, beta, apq, active)
        w = h.op1("Where", first, s, h.op1("Neg", s))  # J[i, p_i]
        # J^T x J = J^T (J^T x)^T for symmetric x: row operations only (onnxruntime gathers whole
        # rows much faster than columns), and V J kept as its transpose J^T V^T.
        x = _rotate_rows(h, transpose3(h, _rotate_rows(h, x, p, c, w)), p, c, w)
        v = _rotate_rows(h, v, p, c, w)
        return [x, v, active]

    names = [g.model.fresh(f"{g.hint}/jacobi_{k}") for k in ("iter", "cond", "x", "v", "rot")]
    t3, tb = tensor_type(dt, (None, None, None)), tensor_type(np.dtype(bool), ())

    def body(h: Graph) -> list[Val]:
        x, v, rotated = (Val(names[2], dt, (None,) * 3), Val(names[3], dt, (None,) * 3),
                         Val(names[4], np.dtype(bool), ()))
        k = Val(names[0], I64, ())
        x, v, active = step(h, k, [x, v])
        # Stop after a sweep that rotated nothing (every a_pq below the rotation threshold).
        rotated = h.op1("Or", rotated, _any(h, active))
        end = h.op1("Equal", h.op1("Mod", k, m1), h.op1("Sub", m1, i64(h, 1)))
        return [h.op1("Or", h.op1("Not", end), rotated), x, v, h.op1("And", rotated, h.op1("Not", end))]

    proto, _ = body_graph(g, "jacobi", body, [(names[0], tensor_type(I64, ())), (names[1], tb),
                                              (names[2], t3), (names[3], t3), (names[4], tb)])
    trips = g.op1("Mul", m1, i64(g, MAX_SWEEPS))
    x, v, _ = g.op("Loop", [trips, g.const(np.asarray(True)), a, v0, g.const(np.asarray(False))], outputs=3,
                   types=[t3, t3, tb], body=proto)
    e = diagonal(g, x)
    k = g.op1("Reshape", n, i64(g, [1]))
    e, order = g.op("TopK", [e, k], outputs=2, axis=1, largest=0, sorted=1)
    v = transpose3(g, v)
    v = g.op1("GatherElements", v, g.op1("Expand", as_row(g, order), g.op1("Shape", v)), axis=2)
    return e, v


def one_sided_jacobi(g: Graph, a: Val) -> tuple[Val, Val, Val]:
    """Singular values (descending) of [B, m, n] ``a`` (m >= n), its columns orthogonalized
    (a V = U diag(s), in the same order) and V [B, n, n], by one-sided (Hestenes) Jacobi: round-robin
    rotations of column pairs until a whole sweep needs none (|u_p . u_q| <= sqrt(m) eps |u_p| |u_q|,
    LAPACK dgesvj's tolerance), at most MAX_SWEEPS sweeps."""
    dt = a.dtype
    m, n = dim(g, a, 1), dim(g, a, 2)
    m1 = g.op1("Max", g.op1("Sub", g.op1("Add", n, g.op1("Mod", n, i64(g, 2))), i64(g, 1)), i64(g, 1))
    eps = float(np.finfo(dt).eps)
    tol2 = g.op1("Mul", g.op1("Cast", g.op1("Max", m, i64(g, 1)), to=_onnx_type(dt)), scalar(g, eps * eps, dt))
    v0 = g.op1("Expand", eye(g, n, dt), g.op1("Concat", g.op1("Shape", a, start=0, end=1),
                                              g.op1("Reshape", n, i64(g, [1])), g.op1("Reshape", n, i64(g, [1])), axis=0))
    two_ax = i64(g, [2])

    def step(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        u, v, rotated = carried  # both transposed: columns as rows, which onnxruntime gathers fast
        t = h.op1("Mod", k, m1)
        p, paired = _partners(h, n, m1, t)
        ar = arange(h, n)
        norms = h.op1("ReduceSum", h.op1("Mul", u, u), two_ax, keepdims=0)  # [B, n]
        gamma = h.op1("ReduceSum", h.op1("Mul", u, h.op1("Gather", u, p, axis=1)), two_ax, keepdims=0)
        np_ = h.op1("Gather", norms, p, axis=1)
        first = h.op1("Less", ar, p)
        alpha, beta = h.op1("Where", first, norms, np_), h.op1("Where", first, np_, norms)
        active = h.op1("And", paired, h.op1("Greater", h.op1("Mul", gamma, gamma),
                                             h.op1("Mul", tol2, h.op1("Mul", alpha, beta))))
        c, s = _rotation(h, alpha, beta, gamma, active)
        w = h.op1("Where", first, s, h.op1("Neg", s))
        u, v = _rotate_rows(h, u, p, c, w), _rotate_rows(h, v, p, c, w)
        rotated = h.op1("Or", rotated, _any(h, active))
        end = h.op1("Equal", t, h.op1("Sub", m1, i64(h, 1)))
        go = h.op1("Or", h.op1("Not", end), rotated)
        return [go, u, v, h.op1("And", rotated, h.op1("Not", end))]

    names = [g.model.fresh(f"{g.hint}/svd_{k}") for k in ("iter", "cond", "u", "v", "rot")]
    t3, tb = tensor_type(dt, (None, None, None)), tensor_type(np.dtype(bool), ())

    def body(h: Graph) -> list[Val]:
        return step(h, Val(names[0], I64, ()), [Val(names[2], dt, (None,) * 3), Val(names[3], dt, (None,) * 3),
                                                Val(names[4], np.dtype(bool), ())])

    proto, _ = body_graph(g, "one_sided_jacobi", body, [(names[0], tensor_type(I64, ())), (names[1], tb),
                                                        (names[2], t3), (names[3], t3), (names[4], tb)])
    false = g.const(np.asarray(False))
    u, v, _ = g.op("Loop", [g.op1("Mul", m1, i64(g, MAX_SWEEPS)), g.const(np.asarray(True)), transpose3(g, a), v0,
                            false], outputs=3, types=[t3, t3, tb], body=proto)
    u, v = transpose3(g, u), transpose3(g, v)
    s = g.op1("Sqrt", g.op1("ReduceSum", g.op1("Mul", u, u), i64(g, [1]), keepdims=0))
    s, order = g.op("TopK", [s, g.op1("Reshape", n, i64(g, [1]))], outputs=2, axis=1, largest=1, sorted=1)
    u = g.op1("GatherElements", u, g.op1("Expand", as_row(g, order), g.op1("Shape", u)), axis=2)
    v = g.op1("GatherElements", v, g.op1("Expand", as_row(g, order), g.op1("Shape", v)), axis=2)
    return s, u, v


def orthonormal_columns(g: Graph, u: Val, full: bool) -> Val:
    """[B, m, k] columns that are orthogonal (some may be zero) made orthonormal: Householder QR's Q,
    each of the first k columns signed as its column of ``u`` (full: all m columns of Q, the rest
    completing the basis)."""
    q, r = qr(g, u)
    m, k = dim(g, u, 1), dim(g, u, 2)
    p = g.op1("Min", m, k)
    kk = g.op1("Reshape", p, i64(g, [1]))
    diag = diagonal(g, g.op1("Slice", g.op1("Slice", r, i64(g, [0]), kk, i64(g, [1])), i64(g, [0]), kk, i64(g, [2])))
    dt = u.dtype
    signs = g.op1("Where", g.op1("Less", diag, scalar(g, 0, dt)), scalar(g, -1, dt), scalar(g, 1, dt))  # [B, p]
    if full:
        rest = g.op1("Expand", scalar(g, 1, dt), g.op1("Concat", g.op1("Shape", signs, start=0, end=1),
                                                      g.op1("Reshape", g.op1("Sub", m, p), i64(g, [1])), axis=0))
        return g.op1("Mul", q, as_row(g, g.op1("Concat", signs, rest, axis=1)))
    return g.op1("Mul", g.op1("Slice", q, i64(g, [0]), kk, i64(g, [2])), as_row(g, signs))


# -- tridiagonal systems with perturbed pivots -----------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/linalg/tridiagonal_solve_op.cc
# (SolveWithGaussianEliminationWithPivotingAndPerturbSingular, MaybePerturbPivot, after LAPACK's
# xLAGTF / xLAGTS): scaled partial pivoting, and in the back substitution a pivot too small for its
# row is nudged by a perturbation (eps * max|U| to start, doubled each time) instead of failing;
# the runtime's _perturbed_tridiagonal and _perturb_pivots, step for step.

MAX_NUDGES = 2200  # doublings from the smallest normal number past 1 (float64), and the scalings


def _select(h: Graph, c: Val, a: Val, b: Val) -> Val:
    """Where(c, a, b) keeping the sign of a zero: onnxruntime's Where gives +0 for a -0 it takes
    from its first branch, and the sign of a zero pivot decides which way it is perturbed."""
    dt = a.dtype
    one = scalar(h, 1, dt)
    sel = h.op1("Where", c, a, b)
    recip = h.op1("Where", c, h.op1("Div", one, a), h.op1("Div", one, b))  # -inf for -0
    zero = scalar(h, 0, dt)
    lost = h.op1("And", h.op1("And", h.op1("Equal", sel, zero), h.op1("Less", recip, zero)),
                 h.op1("Not", h.op1("Less", h.op1("Div", one, sel), zero)))  # -0 wanted, +0 given
    return h.op1("Mul", sel, h.op1("Where", lost, scalar(h, -1, dt), one))


def _perturb_pivots(g: Graph, perturb: Val, pivot: Val, row: Val) -> tuple[Val, Val]:
    """(pivot, row) with the pivot nudged (or both scaled) until row / pivot cannot overflow."""
    dt = pivot.dtype
    fi = np.finfo(dt)
    safemin = max(float(fi.tiny), (1 + float(fi.eps)) / float(fi.max))
    bignum = 1 / safemin
    zero, one = scalar(g, 0, dt), scalar(g, 1, dt)
    smin, big = scalar(g, safemin, dt), scalar(g, bignum, dt)
    neg = g.op1("Less", g.op1("Div", one, pivot), zero)  # the sign bit, -0 included (np.copysign)
    mag = g.op1("Max", g.op1("Abs", perturb), smin)
    perturb = g.op1("Where", neg, g.op1("Neg", mag), mag)
    biggest = g.op1("ReduceMax", g.op1("Concat", g.op1("Abs", row), g.op1("Expand", zero, g.op1("Concat", g.op1(
        "Shape", row, start=0, end=1), i64(g, [1]), axis=0)), axis=1), i64(g, [1]), keepdims=0) \
        if g.model.opset >= 18 else g.op1("ReduceMax", g.op1("Concat", g.op1("Abs", row), g.op1(
            "Expand", zero, g.op1("Concat", g.op1("Shape", row, start=0, end=1), i64(g, [1]), axis=0)), axis=1),
            axes=[1], keepdims=0)
    active0 = g.op1("Less", g.op1("Abs", pivot), one)
    names = [g.model.fresh(f"{g.hint}/nudge_{k}") for k in ("iter", "cond", "pivot", "row", "perturb", "active")]
    t1, t2, tb1 = tensor_type(dt, (None,)), tensor_type(dt, (None, None)), tensor_type(np.dtype(bool), (None,))

    def body(h: Graph) -> list[Val]:
        pv, rw, pt, active = (Val(names[2], dt, (None,)), Val(names[3], dt, (None, None)), Val(names[4], dt, (None,)),
                              Val(names[5], np.dtype(bool), (None,)))
        ap = h.op1("Abs", pv)
        tiny = h.op1("Less", ap, smin)
        nudge_tiny = h.op1("And", h.op1("And", active, tiny), h.op1("Or", h.op1("Equal", ap, zero),
                                                                    h.op1("Greater", h.op1("Mul", biggest, smin), ap)))
        scale = h.op1("And", h.op1("And", active, tiny), h.op1("Not", nudge_tiny))
        nudge = h.op1("Or", nudge_tiny, h.op1("And", h.op1("And", active, h.op1("Not", tiny)),
                                             h.op1("Greater", biggest, h.op1("Mul", ap, big))))
        pv = h.op1("Where", nudge, h.op1("Add", pv, pt), h.op1("Where", scale, h.op1("Mul", pv, big), pv))
        rw = h.op1("Where", per_matrix(h, scale), h.op1("Mul", rw, big), rw)
        pt = h.op1("Where", nudge, h.op1("Mul", pt, scalar(h, 2, dt)), pt)
        active = h.op1("And", nudge, h.op1("Less", h.op1("Abs", pv), one))
        return [_any(h, active), pv, rw, pt, active]

    proto, _ = body_graph(g, "perturb_pivots", body, [(names[0], tensor_type(I64, ())),
                                                      (names[1], tensor_type(np.dtype(bool), ())),
                                                      (names[2], t1), (names[3], t2), (names[4], t1), (names[5], tb1)])
    pv, rw, _, _ = g.op("Loop", [i64(g, MAX_NUDGES), _any(g, active0), pivot, row, perturb, active0], outputs=4,
                        types=[t1, t2, t1, tb1], body=proto)
    return pv, rw


def tridiagonal_perturbed(g: Graph, sup: Val, main: Val, sub: Val, rhs: Val) -> Val:
    """Scaled partial pivoting with perturbed tiny pivots on [B, M] diagonals, [B, M, K] rhs."""
    dt = main.dtype
    n = dim(g, main, 1)
    ar = arange(g, n)
    zero, one = scalar(g, 0, dt), scalar(g, 1, dt)
    one_i = i64(g, 1)
    eps = scalar(g, float(np.finfo(dt).eps), dt)
    abs_ = lambda h, v: h.op1("Abs", v)  # noqa: E731
    zero_i = i64(g, 0)
    main0, sup0 = entry(g, main, zero_i), entry(g, sup, zero_i)
    single = g.op1("Equal", n, one_i)
    max_u0 = g.op1("Where", single, abs_(g, main0), g.op1("Max", abs_(g, main0), abs_(g, sup0)))
    scale0 = g.op1("Add", abs_(g, main0), abs_(g, sup0))
    last_k = g.op1("Sub", n, i64(g, 2))

    def forward(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        u0, u1, u2, x, scale1, max_u = carried
        j = h.op1("Add", k, one_i)
        last = h.op1("Equal", k, last_k)
        main_j, sub_j, sup_j, rhs_j = entry(h, main, j), entry(h, sub, j), entry(h, sup, j), row(h, rhs, j)
        uk0, uk1, xk = entry(h, u0, k), entry(h, u1, k), row(h, x, k)
        scale2 = h.op1("Add", h.op1("Add", abs_(h, sub_j), abs_(h, main_j)), h.op1("Where", last, zero, abs_(h, sup_j)))
        zero_sub = h.op1("Equal", sub_j, zero)
        piv1 = h.op1("Where", h.op1("Equal", uk0, zero), zero, h.op1("Div", abs_(h, uk0), scale1))
        piv2 = h.op1("Div", abs_(h, sub_j), scale2)
        keep = h.op1("And", h.op1("Not", zero_sub), h.op1("Or", h.op1("Less", piv2, piv1), h.op1("Equal", piv2, piv1)))
        swap = h.op1("And", h.op1("Not", zero_sub), h.op1("Not", keep))
        f_keep, f_swap = h.op1("Div", sub_j, uk0), h.op1("Div", uk0, sub_j)
        next_sup = h.op1("Where", last, zero, sup_j)
        new_j0 = _select(h, keep, h.op1("Sub", main_j, h.op1("Mul", f_keep, uk1)),
                         _select(h, swap, h.op1("Sub", uk1, h.op1("Mul", f_swap, main_j)), main_j))
        new_j1 = _select(h, swap, h.op1("Where", last, zero, h.op1("Neg", h.op1("Mul", f_swap, next_sup))), sup_j)
        k2 = _select(h, swap, next_sup, zero)
        k0 = _select(h, swap, sub_j, uk0)
        k1 = _select(h, swap, main_j, uk1)
        kk, sw = per_matrix(h, keep), per_matrix(h, swap)
        xj = h.op1("Where", kk, h.op1("Sub", rhs_j, h.op1("Mul", per_matrix(h, f_keep), xk)),
                   h.op1("Where", sw, h.op1("Sub", xk, h.op1("Mul", per_matrix(h, f_swap), rhs_j)), rhs_j))
        x = _put_row(h, _put_row(h, x, ar, j, xj), ar, k, h.op1("Where", sw, rhs_j, xk))
        u0 = _put(h, _put(h, u0, ar, j, new_j0), ar, k, k0)
        u1 = _put(h, _put(h, u1, ar, j, new_j1), ar, k, k1)
        u2 = _put(h, u2, ar, k, k2)
        scale1 = h.op1("Where", swap, scale1, scale2)
        row_max = h.op1("Max", h.op1("Max", abs_(h, k0), abs_(h, k1)), abs_(h, k2))
        max_u = h.op1("Where", last, max_u, h.op1("Max", max_u, row_max))
        return [u0, u1, u2, x, scale1, max_u]

    trips = g.op1("Max", g.op1("Sub", n, one_i), i64(g, 0))
    u0, u1, u2, x, _, max_u = loop(g, "gtsv_perturb", trips, [main, sup, zeros_like(g, main), rhs, scale0, max_u0],
                                   forward)
    last = g.op1("Sub", n, one_i)
    max_u = g.op1("Max", max_u, abs_(g, entry(g, u0, g.op1("Max", last, zero_i))))
    tol = g.op1("Mul", eps, max_u)

    def back(h: Graph, k: Val, carried: list[Val]) -> list[Val]:
        (x,) = carried
        i = h.op1("Sub", last, k)
        acc = row(h, x, i)
        for step, coef in ((1, u1), (2, u2)):
            j = h.op1("Add", i, i64(h, step))
            term = h.op1("Mul", per_matrix(h, entry(h, coef, i)), row(h, x, h.op1("Min", j, last)))
            acc = h.op1("Where", h.op1("Less", j, n), h.op1("Sub", acc, term), acc)
        denom, rw = _perturb_pivots(h, tol, entry(h, u0, i), acc)
        return [_put_row(h, x, ar, i, h.op1("Mul", rw, per_matrix(h, h.op1("Div", one, denom))))]

    (x,) = loop(g, "gtsv_perturb_back", n, [x], back)
    return x
