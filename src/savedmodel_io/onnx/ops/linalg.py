"""Linear algebra: determinants (ONNX Det), cross products, diagonals (Gather by computed
indices), tridiagonal products, and the decompositions and solves ONNX has no operator for
(Cholesky, LU, QR, triangular, banded and tridiagonal solves, inverses, least squares, the
matrix exponential, symmetric eigendecompositions and SVD), each an ONNX Loop (see ``_factor``).

Semantics: the numpy kernels (graph/ops/linalg.py; tensorflow/tensorflow
tensorflow/core/kernels/linalg/determinant_op.cc, cross_op.cc, matrix_diag_op.cc,
matrix_set_diag_op.cc, diag_op.cc, tridiagonal_matmul_op.cc); ONNX Det takes [..., M, M].
Diagonals k in [lo, hi] are packed from hi down, each of length
``min(M + min(d, 0), N - max(d, 0))``, padded to the longest on the side ``align`` says
(V1/V2: left; the main diagonal counts as both a super- and a subdiagonal).
"""

from __future__ import annotations

import math

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx._types import onnx_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import if_graph
from savedmodel_io.onnx.ops import _factor as F
from savedmodel_io.onnx.ops._util import attr_dtype, attr_text, cast, const_ints, dim_of, need_rank, reduce, scalar, squeeze, working


@converter("Cross", onnx="Gather, Mul, Sub")
def cross(cx, node, ins):
    g = cx.g
    a, b = ins
    # a x b = a[1,2,0] * b[2,0,1] - a[2,0,1] * b[1,2,0] over the last axis.
    p, q = g.const(np.asarray([1, 2, 0], np.int64)), g.const(np.asarray([2, 0, 1], np.int64))
    left = g.op1("Mul", g.op1("Gather", a, p, axis=-1), g.op1("Gather", b, q, axis=-1))
    right = g.op1("Mul", g.op1("Gather", a, q, axis=-1), g.op1("Gather", b, p, axis=-1))
    return g.op1("Sub", left, right)


inexpressible("general (non-symmetric) eigendecompositions: complex eigenvalues from Eigen's complex Schur "
              "iteration, in an order TensorFlow does not define", "Eig")
inexpressible("matrix functions through Schur decompositions (Eigen's MatrixSquareRoot and MatrixLogarithm): "
              "an iterative eigenvalue algorithm with no ONNX form", "MatrixLogarithm", "MatrixSquareRoot")


# -- decompositions and solves (ONNX Loops: see _factor) -------------------------------------------
# Semantics: the numpy kernels (graph/ops/linalg.py) and tensorflow/tensorflow
# tensorflow/core/kernels/linalg/ (cholesky_op.cc, lu_op.cc, determinant_op.cc, matrix_inverse_op.cc,
# matrix_solve_op.cc, matrix_triangular_solve_op_impl.h, banded_triangular_solve_op.cc, qr_op_impl.h,
# matrix_solve_ls_op_impl.h). float16 is factored in float32, as the runtime does.

def _work(g: Graph, x: Val, op: str) -> Val:
    """``x`` in the type it is factored in (float16 in float32)."""
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise ExportError(f"{op} of {x.dtype} matrices")
    return cast(g, x, np.float32) if x.dtype == np.float16 else x


def _square(x: Val) -> int:
    r = need_rank(x)
    if r < 2:
        raise ExportError(f"Input tensor 0 must have rank >= 2, got {r}")
    m, n = x.shape[-2:]
    if isinstance(m, int) and isinstance(n, int) and m != n:
        raise ExportError("Input matrix must be square.")
    return r


def _nan(g: Graph, dt) -> Val:
    return scalar(g, np.nan, dt)


def _out(g: Graph, y: Val, x: Val, lead: Val, rank: int, shape=None) -> Val:
    """[B, ...] ``y`` back to the batch dims of ``x`` and its dtype."""
    return cast(g, F.unflat(g, y, lead, rank, shape), x.dtype)


@converter("Cholesky", "BatchCholesky", onnx="Loop (a column an iteration), Where")
def cholesky(cx, node, ins):
    g, x = cx.g, ins[0]
    r = _square(x)
    a = F.flat3(g, _work(g, x, node.op))
    low, failed = F.cholesky(g, a)
    # A matrix that is not positive definite: NaN on and below the diagonal (cholesky_op.cc).
    nan_low = g.op1("Where", F.lower_mask(g, F.dim(g, a, 2)), _nan(g, a.dtype), scalar(g, 0, a.dtype))
    out = g.op1("Where", g.op1("Unsqueeze", failed, F.i64(g, [1, 2])), nan_low, low)
    return _out(g, out, x, F.lead_shape(g, x), r, x.shape)


def _broadcast_pair(g: Graph, a: Val, b: Val) -> tuple[Val, Val, Val, int, tuple | None]:
    """[..., n, n] and [..., n, k] with their batch dims broadcast (MatMulBCast), flattened to 3-D;
    and the batch dims, the rank and the static shape of the result."""
    ra, rb = need_rank(a), need_rank(b)
    if ra < 2 or rb < 2:
        raise ExportError(f"In[{0 if ra < 2 else 1}] ndims must be >= 2")
    shape = None
    if a.shape is not None and b.shape is not None:
        la, lb = a.shape[:-2], b.shape[:-2]
        if all(isinstance(d, int) for d in (*la, *lb)):
            try:
                lead = tuple(np.broadcast_shapes(la, lb))
            except ValueError:
                raise ExportError("In[0] and In[1] must have compatible batch dimensions: "
                                  f"{list(a.shape)} vs. {list(b.shape)}") from None
            shape = (*lead, a.shape[-1], b.shape[-1])
    if a.shape is None or b.shape is None or a.shape[:-2] != b.shape[:-2]:
        one2 = F.i64(g, [1, 1])
        a, b = (g.op1("Expand", a, g.op1("Concat", F.lead_shape(g, b), one2, axis=0)),
                g.op1("Expand", b, g.op1("Concat", F.lead_shape(g, a), one2, axis=0)))
    rank = max(ra, rb)
    return F.flat3(g, a), F.flat3(g, b), F.lead_shape(g, b), rank, shape


def _tri_solve_out(g: Graph, t: Val, rhs: Val, lower: bool, adjoint: bool) -> Val:
    if adjoint:
        t, lower = F.transpose3(g, t), not lower
    return F.tri_solve(g, t, rhs, lower)


@converter("MatrixTriangularSolve", "BatchMatrixTriangularSolve",
           onnx="Loop (a row an iteration: forward or back substitution)")
def matrix_triangular_solve(cx, node, ins):
    g = cx.g
    a, b = _work(g, ins[0], node.op), _work(g, ins[1], node.op)
    _square(a)
    a3, b3, lead, rank, shape = _broadcast_pair(g, a, b)
    x = _tri_solve_out(g, a3, b3, bool(node.attr.get("lower", True)), bool(node.attr.get("adjoint", False)))
    return _out(g, x, ins[1], lead, rank, shape)


@converter("BandedTriangularSolve", onnx="Gather (band to matrix), Loop (a row an iteration)")
def banded_triangular_solve(cx, node, ins):
    g = cx.g
    band, b = _work(g, ins[0], node.op), _work(g, ins[1], node.op)
    rb = need_rank(band)
    if rb < 2 or need_rank(b) < 2:
        raise ExportError("In[0] and In[1] ndims must be >= 2")
    lower = bool(node.attr.get("lower", True))
    nb, n = F.dim(g, band, rb - 2), F.dim(g, band, rb - 1)
    ar = F.arange(g, n)
    i, j = g.op1("Unsqueeze", ar, F.i64(g, [1])), g.op1("Unsqueeze", ar, F.i64(g, [0]))
    # banded_triangular_solve_op.cc: lower keeps A[i, i-r] in band row r; upper keeps A[i, i+d]
    # in band row nb-1-d.
    off = g.op1("Sub", i, j) if lower else g.op1("Sub", j, i)
    valid = g.op1("And", g.op1("Not", g.op1("Less", off, F.i64(g, 0))), g.op1("Less", off, nb))
    band_row = off if lower else g.op1("Sub", g.op1("Sub", nb, F.i64(g, 1)), off)
    idx = g.op1("Where", valid, g.op1("Add", g.op1("Mul", band_row, n), i), F.i64(g, 0))
    dense = g.op1("Where", valid, g.op1("Gather", _flat_matrix(g, band, 2), idx, axis=-1), scalar(g, 0, band.dtype))
    a3, b3, lead, rank, shape = _broadcast_pair(g, dense, b)
    x = _tri_solve_out(g, a3, b3, lower, bool(node.attr.get("adjoint", False)))
    return _out(g, x, ins[1], lead, rank, shape)


def _lu_of(g: Graph, x: Val, op: str) -> tuple[Val, Val, Val, Val, int]:
    r = _square(x)
    a = F.flat3(g, _work(g, x, op))
    packed, perm, parity = F.lu(g, a)
    return a, packed, perm, parity, r


@converter("Lu", onnx="Loop (a pivot an iteration: ArgMax, ScatterElements, MatMul)")
def lu(cx, node, ins):
    g, x = cx.g, ins[0]
    a, packed, perm, _, r = _lu_of(g, x, node.op)
    lead = F.lead_shape(g, x)
    idx = attr_dtype(node, "output_idx_type", 3)
    return [_out(g, packed, x, lead, r, x.shape),
            cast(g, F.unflat(g, perm, lead, r - 1, None if x.shape is None else x.shape[:-1]), idx)]


@converter("MatrixSolve", "BatchMatrixSolve", onnx="Loop (LU with partial pivoting), Loops (substitution)")
def matrix_solve(cx, node, ins):
    g, x, b = cx.g, ins[0], ins[1]
    r = _square(x)
    if need_rank(b) != r:
        raise ExportError("All input tensors must have the same rank.")
    a = F.flat3(g, _work(g, x, node.op))
    if node.attr.get("adjoint"):
        a = F.transpose3(g, a)
    packed, perm, _ = F.lu(g, a)
    out = F.lu_solve(g, packed, perm, F.flat3(g, _work(g, b, node.op)))
    return _out(g, out, b, F.lead_shape(g, b), r, b.shape)


@converter("MatrixInverse", "BatchMatrixInverse", onnx="Loop (LU with partial pivoting), Loops (substitution)")
def matrix_inverse(cx, node, ins):
    g, x = cx.g, ins[0]
    r = _square(x)
    a = F.flat3(g, _work(g, x, node.op))
    if node.attr.get("adjoint"):
        a = F.transpose3(g, a)
    packed, perm, _ = F.lu(g, a)
    ident = g.op1("Expand", F.eye(g, F.dim(g, a, 2), a.dtype), g.op1("Shape", a))
    return _out(g, F.lu_solve(g, packed, perm, ident), x, F.lead_shape(g, x), r, x.shape)


@converter("MatrixDeterminant", "BatchMatrixDeterminant",
           onnx="Det (float32); float64: Loop (LU with partial pivoting), ReduceSum of Log, Exp")
def determinant(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.dtype.kind != "f":
        raise ExportError("ONNX Det takes real floating-point matrices")
    if x.dtype == np.float16:  # onnxruntime's Det has float32 kernels only
        return cast(g, g.op1("Det", cast(g, x, np.float32)), np.float16)
    if x.dtype == np.float32:
        return g.op1("Det", x)
    # onnxruntime's Det has no float64 kernel: sign * exp(log|det|) from the LU, as
    # determinant_op.cc computes it.
    a, packed, _, parity, r = _lu_of(g, x, node.op)
    sign, logdet = F.slogdet(g, packed, parity)
    det = g.op1("Mul", sign, g.op1("Exp", logdet))
    return _out(g, det, x, F.lead_shape(g, x), r - 2, None if x.shape is None else x.shape[:-2])


@converter("LogMatrixDeterminant", onnx="Loop (LU with partial pivoting), ReduceSum of Log, ReduceProd of Sign")
def log_matrix_determinant(cx, node, ins):
    g, x = cx.g, ins[0]
    a, packed, _, parity, r = _lu_of(g, x, node.op)
    sign, logdet = F.slogdet(g, packed, parity)
    lead = F.lead_shape(g, x)
    shape = None if x.shape is None else x.shape[:-2]
    return [_out(g, sign, x, lead, r - 2, shape), _out(g, logdet, x, lead, r - 2, shape)]


@converter("Qr", onnx="Loop (a Householder reflection an iteration), Trilu")
def qr(cx, node, ins):
    g, x = cx.g, ins[0]
    r = need_rank(x)
    if r < 2:
        raise ExportError(f"Input tensor 0 must have rank >= 2, got {r}")
    a = F.flat3(g, _work(g, x, node.op))
    q, rr = F.qr(g, a)
    if not node.attr.get("full_matrices"):
        p = g.op1("Reshape", g.op1("Min", F.dim(g, a, 1), F.dim(g, a, 2)), F.i64(g, [1]))
        zero = F.i64(g, [0])
        q = g.op1("Slice", q, zero, p, F.i64(g, [2]))
        rr = g.op1("Slice", rr, zero, p, F.i64(g, [1]))
    lead = F.lead_shape(g, x)
    return [_out(g, q, x, lead, r), _out(g, rr, x, lead, r)]


@converter("MatrixSolveLs", "BatchMatrixSolveLs",
           onnx="MatMul (normal equations), Loop (Cholesky), Loops (substitution); fast=False: Loop (one-sided Jacobi SVD), MatMul")
def matrix_solve_ls(cx, node, ins):
    """fast=True: the regularized normal equations solved by Cholesky (matrix_solve_ls_op_impl.h).
    fast=False: the minimum-norm least-squares solution (TF: a complete orthogonal decomposition; the
    runtime: the pseudo-inverse with singular values up to eps * min(m, n) * s_max taken as zero), here
    from the one-sided Jacobi SVD, the runtime's rule."""
    g = cx.g
    x, b, l2 = ins
    r = need_rank(x)
    if r < 2 or need_rank(b) != r:
        raise ExportError("All input tensors must have the same rank >= 2.")
    m, n = x.shape[-2:]
    a = F.flat3(g, _work(g, x, node.op))
    rhs = F.flat3(g, _work(g, b, node.op))
    ah = F.transpose3(g, a)
    shape = None if b.shape is None else (*b.shape[:-2], n, b.shape[-1])
    fast = bool(node.attr.get("fast", True))
    reg = cast(g, l2 if l2.rank == 0 else g.op1("Reshape", l2, g.const(np.zeros(0, np.int64))), a.dtype)

    def solve(h: Graph, wide: bool) -> list[Val]:
        if not fast:
            return [_min_norm_solve(h, a, ah, rhs, wide)]
        gram = h.op1("MatMul", a, ah) if wide else h.op1("MatMul", ah, a)
        gram = h.op1("Add", gram, h.op1("Mul", reg, F.eye(h, F.dim(h, gram, 2), a.dtype)))
        low, failed = F.cholesky(h, gram)
        low = h.op1("Where", h.op1("Unsqueeze", failed, F.i64(h, [1, 2])), _nan(h, a.dtype), low)
        c = rhs if wide else h.op1("MatMul", ah, rhs)
        z = F.tri_solve(h, F.transpose3(h, low), F.tri_solve(h, low, c, lower=True), lower=False)
        return [h.op1("MatMul", ah, z) if wide else z]

    # fast: the normal equations of A^T A (m >= n) or of A A^T; else the SVD of the taller of A
    # and A^T. An If when that is only known at run time.
    if isinstance(m, int) and isinstance(n, int):
        (out,) = solve(g, m < n)
    else:
        (out,) = if_graph(g, g.op1("Less", F.dim(g, a, 1), F.dim(g, a, 2)), lambda h: solve(h, True),
                          lambda h: solve(h, False))
    return _out(g, out, b, F.lead_shape(g, b), r, shape)


def _min_norm_solve(g: Graph, a: Val, ah: Val, rhs: Val, wide: bool) -> Val:
    """pinv(a) rhs for [B, m, n] a: with a's (or a^T's, when wide) columns orthogonalized, W = a V
    (= U S), pinv(a) = V S^-2 W^T (tall) or W S^-2 V^T (wide), 1 / s^2 taken as 0 for s at most
    eps * min(m, n) * s_max (numpy's pinv rule the runtime uses)."""
    dt = a.dtype
    s, w, v = F.one_sided_jacobi(g, ah if wide else a)
    k = g.op1("Cast", g.op1("Min", F.dim(g, a, 1), F.dim(g, a, 2)), to=onnx_type(dt))
    cutoff = g.op1("Mul", g.op1("Mul", scalar(g, float(np.finfo(dt).eps), dt), k),
                   reduce(g, "ReduceMax", s, [1], keepdims=True))  # s is [B, k], descending
    keep = g.op1("Greater", s, cutoff)
    inv2 = g.op1("Where", keep, g.op1("Div", scalar(g, 1, dt), g.op1("Mul", s, s)), scalar(g, 0, dt))
    scaled = g.op1("Mul", F.as_col(g, inv2), F.transpose3(g, v if wide else w))  # S^-2 (V^T or W^T)
    if wide:  # a = V' S W'^T with W' = a^T V': pinv(a) b = W' S^-2 V'^T b
        return g.op1("MatMul", w, g.op1("MatMul", scaled, rhs))
    return g.op1("MatMul", v, g.op1("MatMul", scaled, rhs))


# -- diagonals ------------------------------------------------------------------------------------

def _diag_range(v: Val) -> tuple[int, int]:
    k = const_ints(v, "the diagonal index k")
    if not 0 < len(k) <= 2 or k[0] > k[-1]:
        raise ExportError(f"diagonal index k {k} is not one index or an ordered pair")
    return k[0], k[-1]


def _left(node, d_nonneg: bool, d_nonpos: bool) -> bool:
    """Whether a diagonal packs from the left (V3's align; V1/V2 always)."""
    align = attr_text(node, "align", "LEFT_LEFT")
    sup, sub = align.split("_")
    return (d_nonneg and sup == "LEFT") or (d_nonpos and sub == "LEFT")


def _wide(g: Graph, x: Val) -> Val:
    """``x`` in a type onnxruntime's Gather/Where take (bool as int32)."""
    return cast(g, x, np.int32) if x.dtype == np.bool_ else working(g, x)


def _i64(g: Graph, value) -> Val:
    return g.const(np.asarray(value, np.int64))


def _at_least(g: Graph, a: Val, b: Val) -> Val:
    """a >= b as Not(Less): ONNX infers no shape for GreaterOrEqual before opset 16 (a function there)."""
    return g.op1("Not", g.op1("Less", a, b))


def _dims(g: Graph, x: Val) -> tuple[Val, Val]:
    """The matrix dims M, N of [..., M, N] as int64 scalars."""
    r = need_rank(x)
    if r < 2:
        raise ExportError("the input must be at least 2-D")
    flat = g.const(np.zeros(0, np.int64))
    return (g.op1("Reshape", dim_of(g, x, r - 2), flat), g.op1("Reshape", dim_of(g, x, r - 1), flat))


def _width(g: Graph, m: Val, n: Val, lo: int, hi: int) -> Val:
    """The longest diagonal in [lo, hi]: min(M + min(hi, 0), N - max(lo, 0)), at least 0."""
    w = g.op1("Min", g.op1("Add", m, _i64(g, min(hi, 0))), g.op1("Sub", n, _i64(g, max(lo, 0))))
    return g.op1("Max", w, _i64(g, 0))


def _length(g: Graph, m: Val, n: Val, d: Val) -> Val:
    zero = _i64(g, 0)
    return g.op1("Min", g.op1("Add", m, g.op1("Min", d, zero)), g.op1("Sub", n, g.op1("Max", d, zero)))


def _offset(g: Graph, node, d: Val, width: Val, length: Val) -> Val:
    """Where diagonal d starts in its packed row: 0 when left-aligned, else width - length."""
    zero = _i64(g, 0)
    sup_left, sub_left = _left(node, True, False), _left(node, False, True)
    if sup_left and sub_left:
        return g.op1("Mul", d, zero)
    right = g.op1("Sub", width, length)
    nonneg, nonpos = _at_least(g, d, zero), _at_least(g, zero, d)
    left = nonneg if sup_left else nonpos if sub_left else None
    if left is None:
        return g.op1("Add", right, g.op1("Mul", d, zero))  # broadcast to d's shape
    return g.op1("Where", left, g.op1("Mul", d, zero), right)


def _row(g: Graph, v: Val) -> Val:
    """A vector as a [1, n] row."""
    return g.op1("Unsqueeze", v, _i64(g, [0]))


def _flat_matrix(g: Graph, x: Val, keep: int) -> Val:
    """``x`` with its last ``keep`` dims merged into one."""
    r = need_rank(x)
    lead = g.op1("Shape", x, start=0, end=r - keep)
    merged = g.op1("ReduceProd", g.op1("Shape", x, start=r - keep), keepdims=1)  # not -1: a batch may be empty
    return g.op1("Reshape", x, g.op1("Concat", lead, merged, axis=0), allowzero=1)


def _fill_band(g: Graph, node, diag: Val, base: Val, m: Val, n: Val, lo: int, hi: int, width: Val) -> Val:
    """[..., M, N] ``base`` with diagonals lo..hi taken from packed ``diag`` ([..., W] or [..., D, W])."""
    one, zero = _i64(g, 1), _i64(g, 0)
    r = g.op1("Unsqueeze", g.op1("Range", zero, m, one), _i64(g, [1]))  # [M, 1]
    c = _row(g, g.op1("Range", zero, n, one))  # [1, N]
    d = g.op1("Sub", c, r)  # [M, N]: the diagonal each element is on
    band = g.op1("And", _at_least(g, d, _i64(g, lo)), _at_least(g, _i64(g, hi), d))
    # Element (r, c) is entry min(r, c) of diagonal d, packed at that plus d's offset in row hi - d.
    pos = g.op1("Add", g.op1("Min", r, c), _offset(g, node, d, width, _length(g, m, n, d)))
    if lo != hi:
        pos = g.op1("Add", g.op1("Mul", g.op1("Sub", _i64(g, hi), d), width), pos)
    idx = g.op1("Where", band, pos, zero)
    got = g.op1("Gather", _flat_matrix(g, diag, 1 if lo == hi else 2), idx, axis=-1)
    return g.op1("Where", band, got, base)


@converter("MatrixDiagPart", "MatrixDiagPartV2", "MatrixDiagPartV3", "BatchMatrixDiagPart",
           onnx="Gather of computed indices, Where (padding)")
def matrix_diag_part(cx, node, ins):
    g, x = cx.g, ins[0]
    lo, hi = _diag_range(ins[1]) if len(ins) > 1 else (0, 0)
    m, n = _dims(g, x)
    width = _width(g, m, n, lo, hi)
    d = _i64(g, np.arange(hi, lo - 1, -1).reshape(-1, 1))  # [D, 1], hi first
    length = _length(g, m, n, d)
    j = g.op1("Sub", _row(g, g.op1("Range", _i64(g, 0), width, _i64(g, 1))),
              _offset(g, node, d, width, length))  # [D, W]: position along each diagonal
    valid = g.op1("And", _at_least(g, j, _i64(g, 0)), g.op1("Less", j, length))
    zero = _i64(g, 0)
    row = g.op1("Add", j, g.op1("Max", g.op1("Neg", d), zero))
    col = g.op1("Add", j, g.op1("Max", d, zero))
    idx = g.op1("Where", valid, g.op1("Add", g.op1("Mul", row, n), col), zero)
    xw = _wide(g, x)
    got = g.op1("Gather", _flat_matrix(g, xw, 2), idx, axis=-1)  # [..., D, W]
    if len(ins) > 2:
        pad = cast(g, ins[2], xw.dtype)
        pad = pad if pad.rank == 0 else g.op1("Reshape", pad, g.const(np.zeros(0, np.int64)))
        got = g.op1("Where", valid, got, pad)
    out = cast(g, got, x.dtype)
    return squeeze(g, out, [need_rank(x) - 2]) if lo == hi else out


@converter("MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3", "BatchMatrixSetDiag",
           onnx="Gather of computed indices, Where")
def matrix_set_diag(cx, node, ins):
    g, x, diag = cx.g, ins[0], ins[1]
    lo, hi = _diag_range(ins[2]) if len(ins) > 2 else (0, 0)
    m, n = _dims(g, x)
    xw = _wide(g, x)
    filled = _fill_band(g, node, cast(g, diag, xw.dtype), xw, m, n, lo, hi, _width(g, m, n, lo, hi))
    return cast(g, filled, x.dtype)


@converter("MatrixDiag", "MatrixDiagV2", "MatrixDiagV3", "BatchMatrixDiag",
           onnx="Gather of computed indices, Where (padding)")
def matrix_diag(cx, node, ins):
    g, diag = cx.g, ins[0]
    lo, hi, rows, cols = 0, 0, -1, -1
    dw = _wide(g, diag)
    pad = g.const(np.zeros((), dw.dtype))
    if len(ins) > 1:
        lo, hi = _diag_range(ins[1])
        rows, cols = const_ints(ins[2], "num_rows")[0], const_ints(ins[3], "num_cols")[0]
        pad = cast(g, ins[4], dw.dtype)
        pad = pad if pad.rank == 0 else g.op1("Reshape", pad, g.const(np.zeros(0, np.int64)))
    r = need_rank(diag)
    if r < 1 or (lo != hi and r < 2):
        raise ExportError("the diagonals have too low a rank")
    flat = g.const(np.zeros(0, np.int64))
    width = g.op1("Reshape", dim_of(g, diag, r - 1), flat)
    # matrix_diag_op.cc: the smallest matrix holding the diagonals; a size given for one side
    # fixes it, the other is the smallest (both -1: square).
    min_rows = g.op1("Sub", width, _i64(g, min(hi, 0)))
    min_cols = g.op1("Add", width, _i64(g, max(lo, 0)))
    if rows == -1 and cols == -1:
        m = n = g.op1("Max", min_rows, min_cols)
    else:
        m = min_rows if rows == -1 else _i64(g, rows)
        n = min_cols if cols == -1 else _i64(g, cols)
    lead = g.op1("Shape", dw, start=0, end=r - (1 if lo == hi else 2))
    dims = g.op1("Concat", lead, g.op1("Reshape", m, _i64(g, [1])), g.op1("Reshape", n, _i64(g, [1])), axis=0)
    base = g.op1("Expand", pad, dims)
    return cast(g, _fill_band(g, node, dw, base, m, n, lo, hi, width), diag.dtype)


@converter("Diag", onnx="Where (identity pattern), Reshape")
def diag(cx, node, ins):
    g, x = cx.g, ins[0]
    flat = g.op1("Reshape", _wide(g, x), _i64(g, [-1]))
    size = g.op1("Reshape", g.op1("Size", x), g.const(np.zeros(0, np.int64)))
    ar = g.op1("Range", _i64(g, 0), size, _i64(g, 1))
    eye = g.op1("Equal", g.op1("Unsqueeze", ar, _i64(g, [1])), _row(g, ar))
    zero = g.const(np.zeros((), flat.dtype) if flat.dtype.kind != "O" else np.asarray(b"", dtype=object))
    out = g.op1("Where", eye, g.op1("Unsqueeze", flat, _i64(g, [1])), zero)
    shape = g.op1("Shape", x)
    return cast(g, g.op1("Reshape", out, g.op1("Concat", shape, shape, axis=0)), x.dtype)


@converter("DiagPart", onnx="Reshape, Gather")
def diag_part(cx, node, ins):
    g, x = cx.g, ins[0]
    r = need_rank(x)
    if r == 0 or r % 2:
        raise ExportError("DiagPart takes a tensor of even rank")
    half = g.op1("Shape", x, start=0, end=r // 2)
    n = g.op1("ReduceProd", half, keepdims=0)
    flat = g.op1("Reshape", x, _i64(g, [-1]))
    # Element i of the diagonal is at i * (n + 1) in the flattened [n, n] tensor.
    idx = g.op1("Mul", g.op1("Range", _i64(g, 0), n, _i64(g, 1)), g.op1("Add", n, _i64(g, 1)))
    return g.op1("Reshape", g.op1("Gather", flat, idx, axis=0), half)


@converter("TridiagonalMatMul", onnx="Transpose, Mul, Slice, Pad, Add")
def tridiagonal_matmul(cx, node, ins):
    g = cx.g
    sup, main, sub, rhs = ins
    if rhs.dtype.kind != "f":
        raise ExportError("ONNX has no complex arithmetic")
    r = need_rank(rhs)
    perm = list(range(r - 2)) + [r - 1, r - 2]
    # [..., 1, M] diagonals as [..., M, 1] columns.
    sup, main, sub = (g.op1("Transpose", v, perm=perm) for v in (sup, main, sub))
    ax = _i64(g, [r - 2])

    def rows(v: Val, start: int, end: int) -> Val:
        return g.op1("Slice", v, _i64(g, [start]), _i64(g, [end]), ax)

    big = np.iinfo(np.int64).max
    # out[i] = main[i] rhs[i] + sub[i] rhs[i-1] (i >= 1) + sup[i] rhs[i+1] (i < M-1), in this order.
    out = g.op1("Mul", main, rhs)
    below = g.op1("Mul", rows(sub, 1, big), rows(rhs, 0, -1))
    above = g.op1("Mul", rows(sup, 0, -1), rows(rhs, 1, big))
    pads_lo, pads_hi = [0] * (2 * r), [0] * (2 * r)
    pads_lo[r - 2], pads_hi[2 * r - 2] = 1, 1
    out = g.op1("Add", out, g.op1("Pad", below, _i64(g, pads_lo)))
    return g.op1("Add", out, g.op1("Pad", above, _i64(g, pads_hi)))


@converter("TridiagonalSolve", onnx="Loops (elimination with partial pivoting or Thomas, then back substitution; "
                                   "perturb_singular: a Loop nudging each pivot)")
def tridiagonal_solve(cx, node, ins):
    """[..., 3, M] diagonals (super, main, sub) and [..., M, K] right-hand sides (tridiagonal_solve_op.cc).

    A system that meets an exactly zero pivot is NaN, as the runtime gives it; with
    perturb_singular, tiny pivots are nudged instead (LAPACK xLAGTS's safeguard).
    """
    g = cx.g
    diags, rhs = _work(g, ins[0], node.op), _work(g, ins[1], node.op)
    pivoting = bool(node.attr.get("partial_pivoting", True))
    perturb = bool(node.attr.get("perturb_singular", False))
    if perturb and not pivoting:
        raise ExportError("Setting perturb_singular requires also setting partial_pivoting.")
    r = need_rank(diags)
    if r < 2 or need_rank(rhs) != r:
        raise ExportError("All input tensors must have the same rank >= 2.")
    if diags.shape is not None and isinstance(diags.shape[-2], int) and diags.shape[-2] != 3:
        raise ExportError(f"Expected diagonals to be provided as a matrix with 3 rows, got {diags.shape[-2]} rows.")
    d3, b3 = F.flat3(g, diags), F.flat3(g, rhs)
    sup, main, sub = (g.op1("Gather", d3, F.i64(g, k), axis=1) for k in (0, 1, 2))
    if perturb:  # tiny pivots nudged, none failing
        return _out(g, F.tridiagonal_perturbed(g, sup, main, sub, b3), ins[1], F.lead_shape(g, rhs), r, rhs.shape)
    solve = F.tridiagonal_pivoting if pivoting else F.tridiagonal_thomas
    x, failed = solve(g, sup, main, sub, b3)
    x = g.op1("Where", g.op1("Unsqueeze", failed, F.i64(g, [1, 2])), _nan(g, x.dtype), x)
    return _out(g, x, ins[1], F.lead_shape(g, rhs), r, rhs.shape)


# Degree-13 Pade coefficients b_j = (26 - j)! 13! / (26! j! (13 - j)!) (Higham 2005, "The scaling and
# squaring method for the matrix exponential revisited"), and its theta_13 = 5.371920351148152:
# the runtime's _pade13, whose values match tf.linalg.expm's.
_PADE13 = [math.factorial(26 - j) * math.factorial(13) / (math.factorial(26) * math.factorial(j) * math.factorial(13 - j))
           for j in range(14)]
_THETA13 = 5.371920351148152


@converter("MatrixExponential", onnx="MatMul (Pade 13), Loops (LU solve), Loop (squarings, as many as the largest norm needs)")
def matrix_exponential(cx, node, ins):
    """exp by scaling and squaring with the degree-13 Pade approximant, in float64 (the runtime's
    _pade13): each matrix is scaled by 2^-s, s = max(0, ceil(log2(|A|_1 / theta_13))), and its
    approximant squared s times (a Loop running max(s) times, each matrix squared while s > i)."""
    g, x = cx.g, ins[0]
    r = _square(x)
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise ExportError(f"{node.op} of {x.dtype} matrices")
    f64 = np.dtype(np.float64)
    a = F.flat3(g, cast(g, x, f64))
    n = F.dim(g, a, 2)
    norm = reduce(g, "ReduceMax", g.op1("ReduceSum", g.op1("Abs", a), F.i64(g, [1]), keepdims=0), [1], keepdims=False)
    ratio = g.op1("Div", g.op1("Max", norm, scalar(g, 1e-300, f64)), scalar(g, _THETA13, f64))
    s = g.op1("Max", scalar(g, 0, f64), g.op1("Ceil", g.op1("Div", g.op1("Log", ratio), scalar(g, math.log(2), f64))))
    s = g.op1("Where", g.op1("IsInf", s), scalar(g, 0, f64), g.op1("Where", g.op1("IsNaN", s), scalar(g, 0, f64), s))
    a = g.op1("Div", a, g.op1("Unsqueeze", g.op1("Pow", scalar(g, 2, f64), s), F.i64(g, [1, 2])))
    ident = F.eye(g, n, f64)
    mm = lambda p, q: g.op1("MatMul", p, q)  # noqa: E731

    def comb(*terms):
        out = None
        for c, m in terms:
            t = g.op1("Mul", scalar(g, c, f64), m)
            out = t if out is None else g.op1("Add", out, t)
        return out

    b = _PADE13
    a2 = mm(a, a)
    a4 = mm(a2, a2)
    a6 = mm(a4, a2)
    u = mm(a, g.op1("Add", mm(a6, comb((b[13], a6), (b[11], a4), (b[9], a2))),
                    comb((b[7], a6), (b[5], a4), (b[3], a2), (b[1], ident))))
    v = g.op1("Add", mm(a6, comb((b[12], a6), (b[10], a4), (b[8], a2))),
              comb((b[6], a6), (b[4], a4), (b[2], a2), (b[0], ident)))
    packed, perm, _ = F.lu(g, g.op1("Sub", v, u))
    res = F.lu_solve(g, packed, perm, g.op1("Add", v, u))
    times = g.op1("Cast", reduce(g, "ReduceMax", g.op1("Concat", s, scalar(g, [0], f64), axis=0), [0], keepdims=False),
                  to=7)
    s3 = g.op1("Unsqueeze", s, F.i64(g, [1, 2]))

    def square(h: Graph, i: Val, carried: list[Val]) -> list[Val]:
        (m,) = carried
        more = h.op1("Less", h.op1("Cast", i, to=11), s3)
        return [h.op1("Where", more, h.op1("MatMul", m, m), m)]

    (res,) = F.loop(g, "expm_squarings", times, [res], square)
    return _out(g, res, x, F.lead_shape(g, x), r, x.shape)


@converter("SelfAdjointEigV2", "BatchSelfAdjointEigV2", "SelfAdjointEig", "BatchSelfAdjointEig",
           onnx="Loop (parallel Jacobi rounds: Gather, Mul, Sub), TopK (ascending)")
def self_adjoint_eig(cx, node, ins):
    """Eigenvalues (ascending) and vectors of the symmetric matrices in the lower triangles.

    Eigenvalues are TensorFlow's; eigenvectors are unique up to sign (TF's come from Eigen's
    tridiagonal QR iteration, the runtime's from LAPACK, these from Jacobi rotations: each column
    may differ from TF's by its sign, as the runtime's do).
    """
    g, x = cx.g, ins[0]
    r = _square(x)
    a = F.flat3(g, _work(g, x, node.op))
    low = g.op1("Trilu", a, upper=0)
    sym = g.op1("Add", low, F.transpose3(g, g.op1("Trilu", a, F.i64(g, -1), upper=0)))
    e, v = F.symmetric_eigen(g, sym)
    lead = F.lead_shape(g, x)
    if node.op in ("SelfAdjointEig", "BatchSelfAdjointEig"):  # [..., n + 1, n]: values over vectors
        return _out(g, g.op1("Concat", F.as_row(g, e), v, axis=1), x, lead, r)
    vals = _out(g, e, x, lead, r - 1, None if x.shape is None else x.shape[:-1])
    if not node.attr.get("compute_v", True):
        return [vals, g.const(np.zeros((), x.dtype))]  # TF's zero-filled scalar for an output not computed
    return [vals, _out(g, v, x, lead, r, x.shape)]


@converter("Svd", "BatchSvd", onnx="Loop (one-sided Jacobi rounds), TopK, Loop (Householder QR for U)")
def svd(cx, node, ins):
    """Singular values (descending) and vectors (u and v, not v's adjoint) by one-sided Jacobi.

    Singular values are TensorFlow's; singular vectors are unique up to sign (of a pair u_j, v_j),
    and TF's come from Eigen's BDCSVD, the runtime's from LAPACK, these from Jacobi rotations: as
    the runtime's, they are TF's up to those signs (and any basis of a repeated value's space).
    A matrix with an infinite or NaN entry is all NaN (Eigen's failure, as the runtime gives it).
    """
    g, x = cx.g, ins[0]
    r = need_rank(x)
    if r < 2:
        raise ExportError(f"Input tensor 0 must have rank >= 2, got {r}")
    m, n = x.shape[-2:]
    uv, full = bool(node.attr.get("compute_uv", True)), bool(node.attr.get("full_matrices", False))
    a = F.flat3(g, _work(g, x, node.op))
    dt = a.dtype

    def parts(h: Graph, wide: bool) -> list[Val]:
        s, u_work, v = F.one_sided_jacobi(h, F.transpose3(h, a) if wide else a)
        if not uv:
            return [s]
        basis = F.orthonormal_columns(h, u_work, full)
        # A = U S V^T; for a wide A the iteration ran on A^T = V' S U'^T: U = V', V = the basis.
        return [s, *((v, basis) if wide else (basis, v))]

    # The iteration orthogonalizes the columns of the taller of A and A^T: an If when that is
    # only known at run time.
    if isinstance(m, int) and isinstance(n, int):
        got = parts(g, m < n)
    else:
        got = if_graph(g, g.op1("Less", F.dim(g, a, 1), F.dim(g, a, 2)), lambda h: parts(h, True),
                       lambda h: parts(h, False))
    bad = g.op1("Less", g.op1("ReduceSum", g.op1("Cast", g.op1("Not", g.op1("IsNaN", g.op1("Mul", a, scalar(g, 0, dt)))),
                                                 to=7), F.i64(g, [1, 2]), keepdims=0),
                g.op1("Mul", F.dim(g, a, 1), F.dim(g, a, 2)))  # an entry whose product with 0 is NaN: inf or NaN

    def nan_where_bad(v: Val) -> Val:
        return g.op1("Where", g.op1("Reshape", bad, g.op1("Concat", g.op1("Shape", bad), F.i64(g, [1] * (v.rank - 1)),
                                                          axis=0)), _nan(g, dt), v)

    lead = F.lead_shape(g, x)
    static = isinstance(m, int) and isinstance(n, int)
    p = min(m, n) if static else None
    vals = _out(g, nan_where_bad(got[0]), x, lead, r - 1, None if x.shape is None else (*x.shape[:-2], p))
    if not uv:
        zero = g.const(np.zeros((), x.dtype))  # TF's zero-filled scalars for outputs not computed
        return [vals, zero, zero]
    u_out, v_out = got[1:]
    cu, cv = (m, n) if full else (p, p)
    shape_u = None if x.shape is None else (*x.shape[:-2], m, cu)
    shape_v = None if x.shape is None else (*x.shape[:-2], n, cv)
    return [vals, _out(g, nan_where_bad(u_out), x, lead, r, shape_u), _out(g, nan_where_bad(v_out), x, lead, r, shape_v)]
