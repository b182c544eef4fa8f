"""Linear algebra: determinants (ONNX Det), cross products, diagonals (Gather by computed
indices) and tridiagonal products; decompositions and solves have no ONNX form.

Semantics: the numpy kernels (graph/ops/linalg.py; tensorflow/tensorflow
tensorflow/core/kernels/linalg/determinant_op.cc, cross_op.cc, matrix_diag_op.cc,
matrix_set_diag_op.cc, diag_op.cc, tridiagonal_matmul_op.cc); ONNX Det takes [..., M, M].
Diagonals k in [lo, hi] are packed from hi down, each of length
``min(M + min(d, 0), N - max(d, 0))``, padded to the longest on the side ``align`` says
(V1/V2: left; the main diagonal counts as both a super- and a subdiagonal).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_text, cast, const_ints, dim_of, need_rank, squeeze, working


@converter("MatrixDeterminant", "BatchMatrixDeterminant", onnx="Det")
def determinant(cx, node, ins):
    g, x = cx.g, ins[0]
    if x.dtype.kind != "f":
        raise ExportError("ONNX Det takes real floating-point matrices")
    if x.dtype == np.float64:
        raise ExportError("onnxruntime's Det has float32 kernels only (float64 would lose precision)")
    if x.dtype == np.float16:  # onnxruntime's Det has float32 kernels only
        return cast(g, g.op1("Det", cast(g, x, np.float32)), np.float16)
    return g.op1("Det", x)


@converter("Cross", onnx="Gather, Mul, Sub")
def cross(cx, node, ins):
    g = cx.g
    a, b = ins
    # a x b = a[1,2,0] * b[2,0,1] - a[2,0,1] * b[1,2,0] over the last axis.
    p, q = g.const(np.asarray([1, 2, 0], np.int64)), g.const(np.asarray([2, 0, 1], np.int64))
    left = g.op1("Mul", g.op1("Gather", a, p, axis=-1), g.op1("Gather", b, q, axis=-1))
    right = g.op1("Mul", g.op1("Gather", a, q, axis=-1), g.op1("Gather", b, p, axis=-1))
    return g.op1("Sub", left, right)


inexpressible("matrix decompositions and solves: ONNX has no such operator (its only matrix function is Det)",
              "Cholesky", "BatchCholesky", "Qr", "Svd", "BatchSvd", "Eig", "SelfAdjointEig", "SelfAdjointEigV2",
              "BatchSelfAdjointEig", "BatchSelfAdjointEigV2", "Lu", "MatrixInverse", "BatchMatrixInverse",
              "MatrixSolve", "BatchMatrixSolve", "MatrixSolveLs", "BatchMatrixSolveLs", "MatrixTriangularSolve",
              "BatchMatrixTriangularSolve", "BandedTriangularSolve", "TridiagonalSolve", "MatrixExponential",
              "MatrixLogarithm", "MatrixSquareRoot", "LogMatrixDeterminant")


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
