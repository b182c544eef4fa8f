"""Linear algebra: matrix diagonals and bands, decompositions, solves, determinants, inverses.

Shapes, validation and output conventions follow TensorFlow's CPU kernels in
tensorflow/tensorflow tensorflow/core/kernels/linalg/ (linalg_ops_common.cc: every input at
least rank 2, the same rank and batch dimensions unless the op broadcasts). The numerics are
numpy's LAPACK where TensorFlow's Eigen computes the same factorization (LU with partial
pivoting, Householder QR, Cholesky, symmetric eigensolver) and our own numpy code where
numpy has no equivalent (triangular, banded and tridiagonal solves, the pivoted LU with its
permutation, matrix functions). Decompositions unique only up to signs or phases (SVD, Eig,
eigenvectors) are TensorFlow's up to those signs; eigenvalues and singular values match.
The Batch* names of TF 0.x graphs (TensorFlow refuses them in graphs from before 1.0 on)
share their modern ops' kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints, np_dtype


def _a(x: Any) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _work_dtype(dt: np.dtype) -> np.dtype:
    """The dtype a decomposition runs in: float16 through float32, as TF's half kernels do."""
    return np.dtype(np.float32) if dt == np.float16 else dt


def _wide(dt: np.dtype) -> np.dtype:
    """float64 / complex128 for iterative matrix functions of float32 / complex64 inputs."""
    return np.dtype(np.complex128) if dt.kind == "c" else np.dtype(np.float64)


def _adjoint(x: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(x, -1, -2)) if x.dtype.kind == "c" else np.swapaxes(x, -1, -2)


def _matrix(node, x: np.ndarray, square: bool = True) -> np.ndarray:
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/linalg_ops_common.cc (AnalyzeInputs,
    # ValidateSingleSquareMatrix).
    if x.ndim < 2:
        raise bad(node, f"Input tensor 0 must have rank >= 2, got {x.ndim}")
    if square and x.shape[-1] != x.shape[-2]:
        raise bad(node, "Input matrix must be square.")
    return x


def _same_batch(node, *xs: np.ndarray) -> None:
    """LinearAlgebraOp inputs: the same rank and batch dimensions (no broadcasting)."""
    rank = xs[0].ndim
    if rank < 2:
        raise bad(node, f"Input tensor 0 must have rank >= 2, got {rank}")
    for x in xs[1:]:
        if x.ndim != rank:
            raise bad(node, "All input tensors must have the same rank.")
        if x.shape[:-2] != xs[0].shape[:-2]:
            raise bad(node, "All input tensors must have the same outer dimensions.")


def _batch_broadcast(node, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    """MatMulBCast: the batch dimensions of two matrix stacks broadcast numpy-style."""
    for i, x in enumerate((a, b)):
        if x.ndim < 2:
            raise bad(node, f"In[{i}] ndims must be >= 2: {x.ndim}")
    try:
        return tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise bad(node, "In[0] and In[1] must have compatible batch dimensions: "
                        f"{list(a.shape)} vs. {list(b.shape)}") from None


# -- diagonals and bands ------------------------------------------------------------------

@kernel("MatrixBandPart", "BatchMatrixBandPart")
def matrix_band_part(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_band_part_op.cc: a matrix or a
    # batch of them; scalar band widths, each negative (whole triangle) or at most rows/columns.
    x = _a(inputs[0])
    if x.ndim < 2:
        raise bad(node, f"input must be at least 2-dim, received shape: {list(x.shape)}")
    m, n = x.shape[-2], x.shape[-1]
    widths = []
    for name, value, limit, what in (("num_lower", inputs[1], m, "rows"),
                                     ("num_upper", inputs[2], n, "columns")):
        v = _a(value)
        if v.ndim:
            raise bad(node, f"{name} must be scalar, got shape {list(v.shape)}")
        w = int(v)
        if w > limit:
            raise bad(node, f"{name} must be negative or less or equal to number of {what} "
                            f"({limit}) got: {w}")
        widths.append(w)
    lo, hi = widths
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    keep = ((lo < 0) | (i - j <= lo)) & ((hi < 0) | (j - i <= hi))
    return np.where(keep, x, np.zeros((), x.dtype))


def _diag_range(node, k: Any, need_one: bool = False) -> tuple[int, int]:
    """The diagonal range [lo, hi] from a scalar k or a 1-2 element vector."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_diag_op.cc and
    # matrix_set_diag_op.cc: k is a scalar or a vector of one or two diagonal indices.
    k = _a(k)
    if k.ndim > 1:
        raise bad(node, f"diag_index must be a scalar or vector, received shape: {list(k.shape)}")
    if need_one and k.size == 0:
        raise bad(node, "diag_index must have at least one element")
    if k.ndim == 1 and not 0 < k.size <= 2:
        raise bad(node, f"diag_index must have only one or two elements, received {k.size} "
                        "elements.")
    ks = ints(k)
    lo, hi = ks[0], ks[-1]
    if lo > hi:
        raise bad(node, f"lower_diag_index must not be larger than upper_diag_index: {lo} > {hi}")
    return lo, hi


def _check_diag_bounds(node, lo: int, hi: int, rows: int, cols: int) -> None:
    for name, d in (("lower_diag_index", lo), ("upper_diag_index", hi)):
        if not (-rows < d < cols or d == 0):
            raise bad(node, f"{name} is out of bound: {d}. It must be between {-rows} and {cols}")


def _left_aligned(node, d: int) -> bool:
    """Whether diagonal d is packed from the left (V3's align attr; V1/V2 always left)."""
    # matrix_diag_op.cc (ReadAlignment, ComputeDiagLenAndContentOffset): the main diagonal
    # counts as both a super- and a subdiagonal.
    align = attr_str(node, "align", "LEFT_LEFT")
    sup, sub = align.split("_")
    return (d >= 0 and sup == "LEFT") or (d <= 0 and sub == "LEFT")


def _diagonals(node, lo: int, hi: int, rows: int, cols: int):
    """(row index, d, diagonal length, offset into the packed row) for d = hi down to lo."""
    width = min(rows + min(hi, 0), cols - max(lo, 0))
    out = []
    for r, d in enumerate(range(hi, lo - 1, -1)):
        length = min(rows + min(0, d), cols - max(0, d))
        off = 0 if _left_aligned(node, d) else width - length
        out.append((r, d, max(length, 0), off))
    return width, out


def _first(x: Any, node, what: str) -> Any:
    v = _a(x).reshape(-1)
    if v.size == 0:
        raise bad(node, f"{what} must not be empty")
    return v[0]


@kernel("MatrixDiag", "MatrixDiagV2", "MatrixDiagV3", "BatchMatrixDiag")
def matrix_diag(node, inputs, ctx):
    """Build matrices from diagonals k (one, or a band [lo, hi] packed from hi down)."""
    diag = _a(inputs[0])
    lo = hi = 0
    rows = cols = -1
    pad = np.zeros((), diag.dtype)
    if len(inputs) > 1:
        lo, hi = _diag_range(node, inputs[1])
        rows = int(_first(inputs[2], node, "num_rows"))
        cols = int(_first(inputs[3], node, "num_cols"))
        pad = np.asarray(_first(inputs[4], node, "padding_value"), diag.dtype)
    if diag.ndim < 1:
        raise bad(node, f"diagonal must be at least 1-dim, received shape: {list(diag.shape)}")
    num = hi - lo + 1
    if num > 1 and (diag.ndim < 2 or diag.shape[-2] != num):
        raise bad(node, "The number of diagonals provided in the input does not match the "
                        "lower_diag_index and upper_diag_index range.")
    width = diag.shape[-1]
    min_rows, min_cols = width - min(hi, 0), width + max(lo, 0)
    if rows != -1 and rows < min_rows:
        raise bad(node, "The number of rows is too small.")
    if cols != -1 and cols < min_cols:
        raise bad(node, "The number of columns is too small.")
    if rows == -1 and cols == -1:
        rows = cols = max(min_rows, min_cols)
    rows = min_rows if rows == -1 else rows
    cols = min_cols if cols == -1 else cols
    if rows != min_rows and cols != min_cols:
        raise bad(node, "The number of rows or columns is not consistent with the specified "
                        "d_lower, d_upper, and diagonal.")
    batch = diag.shape[:-1] if num == 1 else diag.shape[:-2]
    check_size(node, [*batch, rows, cols], diag.itemsize)
    out = np.full((*batch, rows, cols), pad, diag.dtype)
    _, diagonals = _diagonals(node, lo, hi, rows, cols)
    for r, d, length, off in diagonals:
        if length:
            vals = diag if num == 1 else diag[..., r, :]
            i = np.arange(length) + max(0, -d)
            out[..., i, i + d] = vals[..., off:off + length]
    return out


@kernel("MatrixDiagPart", "MatrixDiagPartV2", "MatrixDiagPartV3", "BatchMatrixDiagPart")
def matrix_diag_part(node, inputs, ctx):
    """Diagonals k of a batch of matrices, a band packed from hi down and padded."""
    x = _a(inputs[0])
    lo = hi = 0
    pad = np.zeros((), x.dtype)
    if len(inputs) > 1:
        lo, hi = _diag_range(node, inputs[1])
        pad = np.asarray(_first(inputs[2], node, "padding_value"), x.dtype)
    if x.ndim < 2:
        raise bad(node, f"input must be at least 2-dim, received shape: {list(x.shape)}")
    rows, cols = x.shape[-2:]
    _check_diag_bounds(node, lo, hi, rows, cols)
    width, diagonals = _diagonals(node, lo, hi, rows, cols)
    num = hi - lo + 1
    out = np.full((*x.shape[:-2], num, max(width, 0)), pad, x.dtype)
    for r, d, length, off in diagonals:
        if length:
            i = np.arange(length) + max(0, -d)
            out[..., r, off:off + length] = x[..., i, i + d]
    return out if num > 1 else out[..., 0, :]


@kernel("MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3", "BatchMatrixSetDiag")
def matrix_set_diag(node, inputs, ctx):
    """A copy of the matrices with diagonals k replaced."""
    x, diag = _a(inputs[0]), _a(inputs[1])
    lo = hi = 0
    if len(inputs) > 2:
        lo, hi = _diag_range(node, inputs[2], need_one=True)
    if x.ndim < 2:
        raise bad(node, f"input must be at least 2-dim, received shape: {list(x.shape)}")
    if diag.ndim < 1:
        raise bad(node, f"diagonal must be at least 1-dim, received shape: {list(diag.shape)}")
    rows, cols = x.shape[-2:]
    _check_diag_bounds(node, lo, hi, rows, cols)
    num = hi - lo + 1
    width, diagonals = _diagonals(node, lo, hi, rows, cols)
    want = (*x.shape[:-2], *((num,) if num > 1 else ()), width)
    if num > 1 and (diag.ndim < x.ndim or diag.shape[x.ndim - 2] != num):
        raise bad(node, "The number of diagonals provided in `diag` is not consistent with "
                        "`lower_diag_index` and `upper_diag_index`")
    if diag.shape != want:
        raise bad(node, "Either first dimensions of diagonal don't match input.shape[:-2], or "
                        "diagonal.shape[:-1] is not equal to the longests diagonal in range "
                        f"[lower_diag_index:upper_diag_index]. Input shape: {list(x.shape)}, "
                        f"diagonal shape: {list(diag.shape)}, expected: {list(want)}")
    out = x.copy()
    for r, d, length, off in diagonals:
        if length:
            vals = diag if num == 1 else diag[..., r, :]
            i = np.arange(length) + max(0, -d)
            out[..., i, i + d] = vals[..., off:off + length]
    return out


@kernel("Diag")
def diag(node, inputs, ctx):
    """A tensor of rank 2k with the input on its diagonal (tf.linalg.tensor_diag)."""
    # tensorflow/tensorflow tensorflow/core/kernels/diag_op.cc
    x = _a(inputs[0])
    if x.ndim < 1:
        raise bad(node, "Input must be at least rank 1, got 0")
    check_size(node, [x.size, x.size], x.itemsize)
    out = np.zeros((x.size, x.size), x.dtype)
    out[np.arange(x.size), np.arange(x.size)] = x.reshape(-1)
    return out.reshape(x.shape + x.shape)


@kernel("DiagPart")
def diag_part(node, inputs, ctx):
    """The diagonal of a rank-2k tensor whose halves have equal shapes."""
    # tensorflow/tensorflow tensorflow/core/kernels/diag_op.cc
    x = _a(inputs[0])
    if x.ndim == 0 or x.ndim % 2:
        raise bad(node, f"The rank of the tensor should be even and positive, got shape "
                        f"{list(x.shape)}")
    half = x.ndim // 2
    if x.shape[:half] != x.shape[half:]:
        raise bad(node, f"Invalid shape {list(x.shape)}: the first {half} dimensions must "
                        "equal the last ones")
    n = int(np.prod(x.shape[:half], dtype=np.int64))
    return x.reshape(n, n)[np.arange(n), np.arange(n)].reshape(x.shape[:half])


@kernel("Cross")
def cross(node, inputs, ctx):
    """Pairwise 3-vector cross products over the innermost dimension."""
    # tensorflow/tensorflow tensorflow/core/kernels/cross_op.cc
    a, b = _a(inputs[0]), _a(inputs[1])
    if a.shape != b.shape:
        raise bad(node, f"Both inputs must be of same shape: {list(a.shape)} vs. "
                        f"{list(b.shape)}")
    if a.ndim < 1:
        raise bad(node, "Input must be at least 1D")
    if a.shape[-1] != 3:
        raise bad(node, f"Trailing dimension of the input must be of size 3, got {a.shape[-1]}")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    with np.errstate(all="ignore"):
        return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


# -- determinants, inverses and solves ---------------------------------------------------

def _slogdet(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sign and log|det| from the partially pivoted LU, signed zero included."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/determinant_op.cc (SLogDet): log|det|
    # sums log|u_ii|; the sign multiplies the permutation's parity by the pivots' signs (u/|u|,
    # 0 for a zero pivot: a singular matrix's sign is a signed zero in TF 2.21). LAPACK's
    # getrf pivots alike, so its slogdet serves every matrix whose result is finite; the
    # others (singular, overflowing, NaN) are factored again here to get TF's signs.
    w = x.astype(_work_dtype(x.dtype), copy=False)
    if x.shape[-1] == 0 or x.size == 0:
        return np.ones(x.shape[:-2], x.dtype), np.zeros(x.shape[:-2], w.real.dtype)
    with np.errstate(all="ignore"):
        sign, logdet = (np.array(v) for v in np.linalg.slogdet(w))
        redo = ~np.isfinite(logdet) | (sign == 0)
        if redo.any():
            packed, _, parity = _pivoted_lu(w[redo])
            d = np.diagonal(packed, axis1=-2, axis2=-1)
            logdet[redo] = np.log(np.abs(d)).sum(axis=-1)
            sign[redo] = parity.astype(d.dtype) * np.prod(np.sign(d), axis=-1)
    return sign.astype(x.dtype), logdet


@kernel("MatrixDeterminant", "BatchMatrixDeterminant")
def matrix_determinant(node, inputs, ctx):
    x = _matrix(node, _a(inputs[0]))
    sign, logdet = _slogdet(x)
    with np.errstate(all="ignore"):
        return np.asarray(sign * np.exp(logdet)).astype(x.dtype)


@kernel("LogMatrixDeterminant")
def log_matrix_determinant(node, inputs, ctx):
    x = _matrix(node, _a(inputs[0]))
    sign, logdet = _slogdet(x)
    return [np.asarray(sign), np.asarray(logdet).astype(x.dtype)]


def _solve_or_fail(node, a: np.ndarray, b: np.ndarray | None, message: str) -> np.ndarray:
    """inv(a) or solve(a, b) by LU with partial pivoting; an exact zero pivot is an error."""
    # matrix_inverse_op.cc / matrix_solve_op.cc: TF refuses only an exactly zero pivot, which is
    # LAPACK getrf's singularity report.
    try:
        with np.errstate(all="ignore"):
            return np.linalg.inv(a) if b is None else np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise bad(node, message) from None


@kernel("MatrixInverse", "BatchMatrixInverse")
def matrix_inverse(node, inputs, ctx):
    x = _matrix(node, _a(inputs[0]))
    if node.attr["adjoint"]:
        x = _adjoint(x)
    if x.shape[-1] == 0:
        return x.copy()
    inv = _solve_or_fail(node, x.astype(_work_dtype(x.dtype), copy=False), None,
                         "Input is not invertible.")
    return inv.astype(x.dtype)


def _solver_shapes(node, a: np.ndarray, b: np.ndarray, square: bool) -> None:
    # linalg_ops_common.cc (ValidateSolver, ValidateSquareSolver)
    _same_batch(node, a, b)
    if square and a.shape[-1] != a.shape[-2]:
        raise bad(node, "First input (lhs) must be a square matrix.")
    if a.shape[-2] != b.shape[-2]:
        raise bad(node, "Input matrix and rhs are incompatible.")


@kernel("MatrixSolve", "BatchMatrixSolve")
def matrix_solve(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    _solver_shapes(node, a, b, square=True)
    if node.attr["adjoint"]:
        a = _adjoint(a)
    if a.shape[-1] == 0 or b.shape[-1] == 0:
        return np.zeros(b.shape, b.dtype)
    return _solve_or_fail(node, a, b, "Input matrix is not invertible.").astype(b.dtype)


@kernel("MatrixSolveLs", "BatchMatrixSolveLs")
def matrix_solve_ls(node, inputs, ctx):
    """Least squares: normal equations with Cholesky (fast) or the minimum-norm solution."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_solve_ls_op_impl.h
    a, b, l2 = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    _solver_shapes(node, a, b, square=False)
    if l2.ndim:
        raise bad(node, f"l2_regularizer must be scalar, got shape {list(l2.shape)}")
    reg = float(l2)
    if not reg >= 0:
        raise bad(node, "l2_regularizer must be >= 0.")
    rows, cols = a.shape[-2:]
    out_shape = (*a.shape[:-2], cols, b.shape[-1])
    if 0 in (rows, cols, b.shape[-1]):
        return np.zeros(out_shape, a.dtype)
    ah = _adjoint(a)
    with np.errstate(all="ignore"):
        if not node.attr["fast"]:
            # Complete orthogonal decomposition: the minimum-norm least-squares solution.
            rcond = np.finfo(a.dtype).eps * min(rows, cols)
            return (np.linalg.pinv(a, rcond=rcond) @ b).astype(a.dtype)
        over = rows >= cols
        gram = ah @ a if over else a @ ah
        if reg > 0:
            gram = gram + np.asarray(reg, a.dtype) * np.eye(gram.shape[-1], dtype=a.dtype)
        try:
            np.linalg.cholesky(_hermitian_from_lower(gram))
        except np.linalg.LinAlgError:
            tail = "a larger l2_regularizer > 0." if over else "an l2_regularizer > 0."
            raise bad(node, "Input matrix was rank deficient or ill-conditioned. Try setting "
                            f"fast=False or provide {tail}") from None
        out = np.linalg.solve(gram, ah @ b) if over else ah @ np.linalg.solve(gram, b)
    return out.astype(a.dtype)


def _hermitian_from_lower(x: np.ndarray) -> np.ndarray:
    """The Hermitian matrix whose lower triangle is x's (what Eigen's LLT reads)."""
    low = np.tril(x)
    return low + _adjoint(np.tril(x, -1))


def _substitute(t: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """Solve t x = b for triangular t (batch dims broadcast) by forward/back substitution."""
    n = t.shape[-1]
    batch = np.broadcast_shapes(t.shape[:-2], b.shape[:-2])
    t = np.broadcast_to(t, (*batch, n, n))
    b = np.broadcast_to(b, (*batch, *b.shape[-2:]))
    x = np.zeros(b.shape, np.result_type(t, b))
    with np.errstate(all="ignore"):
        for i in (range(n) if lower else range(n - 1, -1, -1)):
            done = slice(0, i) if lower else slice(i + 1, n)
            acc = (t[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
            x[..., i, :] = (b[..., i, :] - acc) / t[..., i, i, None]
    return x


@kernel("MatrixTriangularSolve", "BatchMatrixTriangularSolve")
def matrix_triangular_solve(node, inputs, ctx):
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_triangular_solve_op_impl.h:
    # batch dimensions broadcast; only the named triangle is read; a zero on the diagonal gives
    # inf/NaN, not an error.
    a, b = _a(inputs[0]), _a(inputs[1])
    batch = _batch_broadcast(node, a, b)
    n = a.shape[-1]
    if a.shape[-2] != n:
        raise bad(node, "In[0] matrices in the last dimensions must be square "
                        f"({n} =/= {a.shape[-2]})")
    if b.shape[-2] != n:
        raise bad(node, f"In[0] mismatch In[1] shape: {n} vs. {b.shape[-2]}: "
                        f"{list(a.shape)} {list(b.shape)}")
    lower, adjoint = bool(node.attr["lower"]), bool(node.attr["adjoint"])
    shape = (*batch, n, b.shape[-1])
    check_size(node, shape, np.result_type(a, b).itemsize)
    if 0 in shape:
        return np.zeros(shape, b.dtype)
    t = np.tril(a) if lower else np.triu(a)
    if adjoint:
        t, lower = _adjoint(t), not lower
    return _substitute(t, b, lower).astype(b.dtype)


@kernel("BandedTriangularSolve")
def banded_triangular_solve(node, inputs, ctx):
    """Triangular solve with the matrix in band storage ([..., bands, n])."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/banded_triangular_solve_op.cc: a
    # lower matrix keeps subdiagonal r in band row r (A[i, i-r] = band[r, i]); an upper one keeps
    # superdiagonal d in row bands-1-d (A[i, i+d] = band[bands-1-d, i]).
    band, b = _a(inputs[0]), _a(inputs[1])
    for i, x in enumerate((band, b)):
        if x.ndim < 2:
            raise bad(node, f"In[{i}] ndims must be >= 2: {x.ndim}")
        if x.size == 0:
            raise bad(node, f"In[{i}] must not be an empty tensor: shape {list(x.shape)}")
    batch = _batch_broadcast(node, band, b)
    nb, n = band.shape[-2:]
    if b.shape[-2] != n:
        raise bad(node, f"In[0] mismatch In[1] shape: {n} vs. {b.shape[-2]}: "
                        f"{list(band.shape)} {list(b.shape)}")
    lower, adjoint = bool(node.attr["lower"]), bool(node.attr["adjoint"])
    check_size(node, [*batch, n, b.shape[-1]], np.result_type(band, b).itemsize)
    # TF checks the diagonal of the first matrix of the batch only.
    first = band.reshape(-1, nb, n)[0]
    if np.abs(first[0 if lower else nb - 1]).min() <= 0:
        raise bad(node, "Input matrix is not invertible.")
    band = np.broadcast_to(band, (*batch, nb, n))
    b = np.broadcast_to(b, (*batch, n, b.shape[-1]))
    conj = np.conj if adjoint and band.dtype.kind == "c" else (lambda v: v)
    # The system's own triangle: forward substitution when (lower, not adjoint) or (upper,
    # adjoint); coef(i, r) is its entry r places off the diagonal in row i.
    forward = lower != adjoint
    x = np.zeros(b.shape, np.result_type(band, b))
    with np.errstate(all="ignore"):
        for i in (range(n) if forward else range(n - 1, -1, -1)):
            reach = min(i if forward else n - 1 - i, nb - 1)
            r = np.arange(1, reach + 1)
            if lower and not adjoint:       # A[i, i-r] = band[r, i]
                coef, diag_ = band[..., r, i], band[..., 0, i]
            elif lower:                     # conj(A[i+r, i]) = conj(band[r, i+r])
                coef, diag_ = conj(band[..., r, i + r]), conj(band[..., 0, i])
            elif not adjoint:               # A[i, i+r] = band[nb-1-r, i]
                coef, diag_ = band[..., nb - 1 - r, i], band[..., nb - 1, i]
            else:                           # conj(A[i-r, i]) = conj(band[nb-1-r, i-r])
                coef, diag_ = conj(band[..., nb - 1 - r, i - r]), conj(band[..., nb - 1, i])
            other = x[..., i - r, :] if forward else x[..., i + r, :]
            acc = np.einsum("...r,...rk->...k", coef, other)
            x[..., i, :] = (b[..., i, :] - acc) / diag_[..., None]
    return x.astype(b.dtype)


# -- tridiagonal systems -------------------------------------------------------------------

def _tridiagonal_inputs(node, diags: np.ndarray, rhs: np.ndarray) -> None:
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/tridiagonal_solve_op.cc
    _same_batch(node, diags, rhs)
    if diags.shape[-2] != 3:
        raise bad(node, "Expected diagonals to be provided as a matrix with 3 rows, got "
                        f"{diags.shape[-2]} rows.")
    if diags.shape[-1] != rhs.shape[-2]:
        raise bad(node, "Expected the same number of left-hand sides and right-hand sides, "
                        f"got {diags.shape[-1]} and {rhs.shape[-2]}.")


def _thomas(sup, main, sub, rhs):
    """Tridiagonal solve without pivoting; a zero pivot makes the matrix's solution NaN."""
    n = main.shape[-1]
    failed = main[..., 0] == 0
    u = np.zeros(main.shape, main.dtype)
    x = np.zeros(rhs.shape, rhs.dtype)
    u[..., 0] = sup[..., 0] / main[..., 0]
    x[..., 0, :] = rhs[..., 0, :] / main[..., 0, None]
    for i in range(1, n):
        denom = main[..., i] - sub[..., i] * u[..., i - 1]
        failed |= denom == 0
        u[..., i] = sup[..., i] / denom
        x[..., i, :] = (rhs[..., i, :] - sub[..., i, None] * x[..., i - 1, :]) / denom[..., None]
    for i in range(n - 2, -1, -1):
        x[..., i, :] -= u[..., i, None] * x[..., i + 1, :]
    return x, failed


def _pivoted_tridiagonal(sup, main, sub, rhs):
    """Gaussian elimination with partial pivoting (LAPACK gtsv's scheme), batch-vectorized."""
    n = main.shape[-1]
    u = np.zeros((*main.shape, 3), main.dtype)  # U's diagonal and two superdiagonals
    x = rhs.copy()
    u[..., 0, 0], u[..., 0, 1] = main[..., 0], sup[..., 0]
    failed = np.zeros(main.shape[:-1], bool)
    for i in range(n - 1):
        keep = np.abs(u[..., i, 0]) >= np.abs(sub[..., i + 1])
        failed |= keep & (u[..., i, 0] == 0)
        k1 = keep[..., None]
        f_keep = sub[..., i + 1] / u[..., i, 0]
        f_swap = u[..., i, 0] / sub[..., i + 1]
        ui0, ui1 = u[..., i, 0].copy(), u[..., i, 1].copy()
        xi = x[..., i, :].copy()
        u[..., i + 1, 0] = np.where(keep, main[..., i + 1] - f_keep * ui1,
                                    ui1 - f_swap * main[..., i + 1])
        x[..., i + 1, :] = np.where(k1, rhs[..., i + 1, :] - f_keep[..., None] * xi,
                                    xi - f_swap[..., None] * rhs[..., i + 1, :])
        x[..., i, :] = np.where(k1, xi, rhs[..., i + 1, :])
        u[..., i, 0] = np.where(keep, ui0, sub[..., i + 1])
        u[..., i, 1] = np.where(keep, ui1, main[..., i + 1])
        if i != n - 2:
            u[..., i + 1, 1] = np.where(keep, sup[..., i + 1], -f_swap * sup[..., i + 1])
            u[..., i, 2] = np.where(keep, 0, sup[..., i + 1])
    failed |= u[..., n - 1, 0] == 0
    x[..., n - 1, :] /= u[..., n - 1, 0, None]
    x[..., n - 2, :] = (x[..., n - 2, :] - u[..., n - 2, 1, None] * x[..., n - 1, :]) \
        / u[..., n - 2, 0, None]
    for i in range(n - 3, -1, -1):
        x[..., i, :] = (x[..., i, :] - u[..., i, 1, None] * x[..., i + 1, :]
                        - u[..., i, 2, None] * x[..., i + 2, :]) / u[..., i, 0, None]
    return x, failed


def _perturb_pivots(perturb: np.ndarray, pivot: np.ndarray, row: np.ndarray):
    """Nudge tiny pivots (a batch) so that row / pivot cannot overflow: LAPACK xLAGTS's
    safeguard as tridiagonal_solve_op.cc's MaybePerturbPivot applies it."""
    real = np.finfo(row.real.dtype)
    safemin = max(float(real.tiny), (1 + float(real.eps)) / float(real.max))
    bignum = 1 / safemin
    pivot, row = pivot.copy(), row.copy()
    abs_pivot = np.abs(pivot)
    active = abs_pivot < 1
    perturb = np.copysign(np.maximum(np.abs(perturb), safemin), np.real(pivot))
    biggest = np.abs(row).max(axis=-1, initial=0)
    while active.any():
        tiny = abs_pivot < safemin
        nudge_tiny = active & tiny & ((abs_pivot == 0) | (biggest * safemin > abs_pivot))
        scale = active & tiny & ~nudge_tiny
        nudge = nudge_tiny | (active & ~tiny & (biggest > abs_pivot * bignum))
        pivot = np.where(nudge, pivot + perturb, np.where(scale, pivot * bignum, pivot))
        row = np.where(scale[:, None], row * bignum, row)
        perturb = np.where(nudge, perturb * 2, perturb)
        abs_pivot = np.abs(pivot)
        active = nudge & (abs_pivot < 1)
    return pivot, row


def _perturbed_tridiagonal(sup, main, sub, rhs):
    """Pivoted elimination that perturbs tiny pivots instead of failing, batch-vectorized."""
    # tridiagonal_solve_op.cc (SolveWithGaussianEliminationWithPivotingAndPerturbSingular).
    n = main.shape[-1]
    eps = float(np.finfo(rhs.real.dtype).eps)
    one = rhs.dtype.type(1)
    if n == 1:
        denom, row = _perturb_pivots(eps * np.abs(main[:, 0]), main[:, 0], rhs[:, 0])
        return (row * (one / denom)[:, None])[:, None]
    u = np.zeros((*main.shape, 3), main.dtype)
    x = np.zeros(rhs.shape, rhs.dtype)
    u[:, 0, 0], u[:, 0, 1] = main[:, 0], sup[:, 0]
    max_u = np.maximum(np.abs(u[:, 0, 0]), np.abs(u[:, 0, 1]))
    scale1 = np.abs(u[:, 0, 0]) + np.abs(u[:, 0, 1])
    x[:, 0] = rhs[:, 0]
    for k in range(n - 1):
        u[:, k + 1, 0] = main[:, k + 1]
        scale2 = np.abs(sub[:, k + 1]) + np.abs(main[:, k + 1])
        if k < n - 2:
            scale2 = scale2 + np.abs(sup[:, k + 1])
        zero_sub = sub[:, k + 1] == 0
        piv1 = np.where(u[:, k, 0] == 0, 0.0, np.abs(u[:, k, 0]) / scale1)
        piv2 = np.abs(sub[:, k + 1]) / scale2
        keep = ~zero_sub & (piv2 <= piv1)
        swap = ~zero_sub & ~keep
        f_keep = sub[:, k + 1] / u[:, k, 0]
        f_swap = u[:, k, 0] / sub[:, k + 1]
        uk0, uk1, xk = u[:, k, 0].copy(), u[:, k, 1].copy(), x[:, k].copy()
        next_sup = sup[:, k + 1] if k < n - 2 else np.zeros_like(uk0)
        u[:, k + 1, 0] = np.where(keep, main[:, k + 1] - f_keep * uk1,
                                  np.where(swap, uk1 - f_swap * main[:, k + 1], main[:, k + 1]))
        u[:, k + 1, 1] = np.where(swap, -f_swap * next_sup if k < n - 2 else 0, sup[:, k + 1])
        u[:, k, 2] = np.where(swap, next_sup, 0)
        u[:, k, 0] = np.where(swap, sub[:, k + 1], uk0)
        u[:, k, 1] = np.where(swap, main[:, k + 1], uk1)
        x[:, k + 1] = np.where(keep[:, None], rhs[:, k + 1] - f_keep[:, None] * xk,
                               np.where(swap[:, None], xk - f_swap[:, None] * rhs[:, k + 1],
                                        rhs[:, k + 1]))
        x[:, k] = np.where(swap[:, None], rhs[:, k + 1], xk)
        scale1 = np.where(swap, scale1, scale2)
        if k < n - 2:
            max_u = np.maximum(max_u, np.abs(u[:, k]).max(axis=-1))
    max_u = np.maximum(max_u, np.abs(u[:, n - 1, 0]))
    tol = eps * max_u
    denom, row = _perturb_pivots(tol, u[:, n - 1, 0], x[:, n - 1])
    x[:, n - 1] = row * (one / denom)[:, None]
    for k in range(n - 2, -1, -1):
        acc = x[:, k] - u[:, k, 1, None] * x[:, k + 1]
        if k < n - 2:
            acc = acc - u[:, k, 2, None] * x[:, k + 2]
        denom, row = _perturb_pivots(tol, u[:, k, 0], acc)
        x[:, k] = row * (one / denom)[:, None]
    return x


@kernel("TridiagonalSolve")
def tridiagonal_solve(node, inputs, ctx):
    """Solve tridiagonal systems given as [..., 3, M] (superdiagonal, diagonal, subdiagonal)."""
    diags, rhs = _a(inputs[0]), _a(inputs[1])
    pivoting, perturb = bool(node.attr["partial_pivoting"]), bool(node.attr["perturb_singular"])
    if perturb and not pivoting:
        raise bad(node, "Setting perturb_singular requires also setting partial_pivoting.")
    _tridiagonal_inputs(node, diags, rhs)
    n = diags.shape[-1]
    if n == 0 or rhs.size == 0:
        return np.zeros(rhs.shape, rhs.dtype)
    sup, main, sub = diags[..., 0, :], diags[..., 1, :], diags[..., 2, :]
    with np.errstate(all="ignore"):
        if perturb:
            out = _perturbed_tridiagonal(sup.reshape(-1, n), main.reshape(-1, n),
                                         sub.reshape(-1, n), rhs.reshape(-1, *rhs.shape[-2:]))
            return out.astype(rhs.dtype).reshape(rhs.shape)
        if n == 1:
            failed = main[..., 0] == 0
            x = rhs / main[..., :, None]
        elif pivoting:
            x, failed = _pivoted_tridiagonal(sup, main, sub, rhs)
        else:
            x, failed = _thomas(sup, main, sub, rhs)
    x = np.where(failed[..., None, None], np.array(np.nan, rhs.dtype), x)
    return x.astype(rhs.dtype)


@kernel("TridiagonalMatMul")
def tridiagonal_matmul(node, inputs, ctx):
    """Product of a tridiagonal matrix (three [..., 1, M] diagonals) with [..., M, N]."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/tridiagonal_matmul_op.cc
    sup, main, sub, rhs = (_a(v) for v in inputs)
    _same_batch(node, sup, main, sub, rhs)
    m = rhs.shape[-2]
    for name, d in (("superdiagonal", sup), ("main diagonal", main), ("subdiagonal", sub)):
        if d.shape[-2:] != (1, m):
            raise bad(node, f"Invalid {name} shape.")
    sup, main, sub = sup[..., 0, :, None], main[..., 0, :, None], sub[..., 0, :, None]
    out = main * rhs
    out[..., 1:, :] += sub[..., 1:, :] * rhs[..., :-1, :]
    out[..., :-1, :] += sup[..., :-1, :] * rhs[..., 1:, :]
    return out.astype(rhs.dtype)


# -- decompositions ------------------------------------------------------------------------

def _empty_output(dtype: np.dtype) -> np.ndarray:
    """An output a linalg kernel does not compute (compute_v/compute_uv false)."""
    # TF 2.21's LinearAlgebraOp (linalg_ops_common.cc, PrepareOutputs) allocates outputs the
    # derived op does not produce as zero-filled scalars.
    return np.zeros((), dtype)


def _cholesky_masked(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of a batch by columns (vectorized over the batch), and which
    matrices are not positive definite (a pivot <= 0 or NaN, as LAPACK potrf stops)."""
    n = a.shape[-1]
    low = np.zeros(a.shape, a.dtype)
    failed = np.zeros(a.shape[:-2], bool)
    with np.errstate(all="ignore"):
        for j in range(n):
            row = low[..., j, :j]
            d = np.real(a[..., j, j] - np.sum(row * np.conj(row), axis=-1))
            failed |= ~(d > 0)
            root = np.sqrt(np.where(d > 0, d, 1)).astype(a.dtype)
            low[..., j, j] = root
            below = a[..., j + 1:, j] - np.einsum("...ik,...k->...i", low[..., j + 1:, :j],
                                                  np.conj(row))
            low[..., j + 1:, j] = below / root[..., None]
    return low, failed


@kernel("Cholesky", "BatchCholesky")
def cholesky(node, inputs, ctx):
    """Lower Cholesky factor of the lower triangle; a failed matrix gets NaN below the diagonal."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/cholesky_op.cc
    x = _matrix(node, _a(inputs[0]))
    n = x.shape[-1]
    if n == 0 or x.size == 0:
        return x.copy()
    herm = _hermitian_from_lower(x)
    try:
        return np.linalg.cholesky(herm).astype(x.dtype)
    except np.linalg.LinAlgError:
        pass
    low, failed = _cholesky_masked(herm)
    nan_low = np.where(np.tri(n, dtype=bool), np.array(np.nan, x.dtype), 0)
    return np.where(failed[..., None, None], nan_low, low).astype(x.dtype)


@kernel("Qr")
def qr(node, inputs, ctx):
    """Householder QR (R's diagonal keeps the sign Householder reflections give, as Eigen's)."""
    x = _matrix(node, _a(inputs[0]), square=False)
    m, n = x.shape[-2:]
    p = min(m, n)
    full = bool(node.attr["full_matrices"])
    batch = x.shape[:-2]
    if full:  # Q is m x m: an m x 1 input asks for m^2 values
        check_size(node, [*batch, m, m], _work_dtype(x.dtype).itemsize)
    if x.size == 0:
        k = m if full else p
        q = np.broadcast_to(np.eye(m, k, dtype=x.dtype), (*batch, m, k))
        return [q.copy(), np.zeros((*batch, k, n), x.dtype)]
    with np.errstate(all="ignore"):
        q, r = np.linalg.qr(x.astype(_work_dtype(x.dtype), copy=False),
                            mode="complete" if full else "reduced")
    return [q.astype(x.dtype), r.astype(x.dtype)]


@kernel("Svd", "BatchSvd")
def svd(node, inputs, ctx):
    """Singular values (descending) and vectors: u and v, not v's adjoint."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/svd_op_impl.h: an empty matrix gets
    # identity u (or v) for its non-empty side when full_matrices; failure fills NaN.
    x = _matrix(node, _a(inputs[0]), square=False)
    m, n = x.shape[-2:]
    p = min(m, n)
    uv, full = bool(node.attr["compute_uv"]), bool(node.attr["full_matrices"])
    batch = x.shape[:-2]
    cu, cv = (m, n) if full else (p, p)
    if uv and full:  # U is m x m and V n x n, whatever min(m, n) is
        check_size(node, [*batch, m + n, max(m, n)], _work_dtype(x.dtype).itemsize)
    if m == 0 or n == 0 or x.size == 0:
        s = np.zeros((*batch, p), x.dtype)
        if not uv:
            return [s, _empty_output(x.dtype), _empty_output(x.dtype)]
        u = np.broadcast_to(np.eye(m, cu, dtype=x.dtype), (*batch, m, cu)).copy()
        v = np.broadcast_to(np.eye(n, cv, dtype=x.dtype), (*batch, n, cv)).copy()
        return [s, u, v]
    # Eigen's BDCSVD reports failure (NaN outputs) for non-finite input; LAPACK would raise
    # for the whole batch, so such matrices are set aside.
    flat = x.astype(_work_dtype(x.dtype), copy=False).reshape(-1, m, n)
    ok = np.isfinite(flat).all(axis=(1, 2))
    s = np.full((flat.shape[0], p), np.nan, flat.dtype)
    u = np.full((flat.shape[0], m, cu), np.nan, flat.dtype)
    v = np.full((flat.shape[0], n, cv), np.nan, flat.dtype)
    try:
        with np.errstate(all="ignore"):
            if uv:
                uu, ss, vh = np.linalg.svd(flat[ok], full_matrices=full)
                s[ok], u[ok], v[ok] = ss, uu, _adjoint(vh)
            else:
                s[ok] = np.linalg.svd(flat[ok], compute_uv=False)
    except np.linalg.LinAlgError:
        s[:], u[:], v[:] = np.nan, np.nan, np.nan
    s = s.reshape(*batch, p).astype(x.dtype)
    if not uv:
        return [s, _empty_output(x.dtype), _empty_output(x.dtype)]
    return [s, u.reshape(*batch, m, cu).astype(x.dtype), v.reshape(*batch, n, cv).astype(x.dtype)]


@kernel("Eig")
def eig(node, inputs, ctx):
    """Eigenvalues (complex) and unit eigenvectors.

    TF's order is whatever Eigen's complex Schur iteration leaves (TF documents none); ours
    is LAPACK's, so the same values and vectors may come in another order.
    """
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/eig_op_impl.h (ComplexEigenSolver).
    x = _matrix(node, _a(inputs[0]))
    out = np.dtype(np.complex128) if x.dtype in (np.float64, np.complex128) \
        else np.dtype(np.complex64)
    want_v = bool(node.attr["compute_v"])
    n = x.shape[-1]
    if n == 0 or x.size == 0:
        e = np.zeros((*x.shape[:-2], n), out)
        return [e, np.zeros(x.shape, out) if want_v else _empty_output(out)]
    if not np.isfinite(x).all():
        raise bad(node, "Eigen decomposition was not successful. The input might not be valid.")
    try:
        with np.errstate(all="ignore"):
            if want_v:
                e, v = np.linalg.eig(x)
            else:
                e, v = np.linalg.eigvals(x), None
    except np.linalg.LinAlgError:
        raise bad(node, "Eigen decomposition was not successful. The input might not be "
                        "valid.") from None
    return [e.astype(out), v.astype(out) if want_v else _empty_output(out)]


def _eigh(node, x: np.ndarray, vectors: bool = True):
    """Ascending eigenvalues (and vectors) of the Hermitian matrices in x's lower triangles."""
    n = x.shape[-1]
    if not np.isfinite(x[..., np.tri(n, dtype=bool)]).all():
        raise bad(node, "Self-adjoint eigen decomposition was not successful. The input might "
                        "not be valid.")
    with np.errstate(all="ignore"):
        if vectors:
            e, v = np.linalg.eigh(x, UPLO="L")
            return e.astype(x.dtype), v.astype(x.dtype)
        return np.linalg.eigvalsh(x, UPLO="L").astype(x.dtype), None


@kernel("SelfAdjointEigV2", "BatchSelfAdjointEigV2")
def self_adjoint_eig(node, inputs, ctx):
    """Eigenvalues (ascending) and vectors of the Hermitian matrix in the lower triangle."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/self_adjoint_eig_v2_op_impl.h
    x = _matrix(node, _a(inputs[0]))
    want_v = bool(node.attr["compute_v"])
    n = x.shape[-1]
    if n == 0 or x.size == 0:
        return [np.zeros((*x.shape[:-2], n), x.dtype),
                x.copy() if want_v else _empty_output(x.dtype)]
    e, v = _eigh(node, x, want_v)
    return [e, v if want_v else _empty_output(x.dtype)]


@kernel("SelfAdjointEig", "BatchSelfAdjointEig")
def self_adjoint_eig_v1(node, inputs, ctx):
    """The TF 1.0 form: one [..., n+1, n] output, eigenvalues in row 0, vectors below."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/self_adjoint_eig_op.cc
    x = _matrix(node, _a(inputs[0]))
    n = x.shape[-1]
    out = np.zeros((*x.shape[:-2], n + 1, n), x.dtype)
    if n and x.size:
        e, v = _eigh(node, x)
        out[..., 0, :], out[..., 1:, :] = e, v
    return out


def _pivoted_lu(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed LU with partial pivoting (Eigen's PartialPivLU: the row of largest modulus, the
    first on ties; a zero column is left in place), ``perm`` with LU = a[perm], and the
    permutation's parity (+1 or -1)."""
    n = a.shape[-1]
    flat = a.reshape(-1, n, n).copy()
    perm = np.tile(np.arange(n), (flat.shape[0], 1))
    parity = np.ones(flat.shape[0])
    rows = np.arange(flat.shape[0])
    with np.errstate(all="ignore"):
        for k in range(n):
            r = np.argmax(np.abs(flat[:, k:, k]), axis=1) + k
            parity = np.where(r != k, -parity, parity)
            swap_k, swap_r = flat[rows, k].copy(), flat[rows, r].copy()
            flat[rows, k], flat[rows, r] = swap_r, swap_k
            pk, pr = perm[rows, k].copy(), perm[rows, r].copy()
            perm[rows, k], perm[rows, r] = pr, pk
            piv = flat[:, k, k]
            nonzero = (piv != 0)[:, None]
            flat[:, k + 1:, k] = np.where(nonzero, flat[:, k + 1:, k] / np.where(
                nonzero[:, 0], piv, 1)[:, None], flat[:, k + 1:, k])
            flat[:, k + 1:, k + 1:] -= flat[:, k + 1:, k, None] * flat[:, k, None, k + 1:]
    return (flat.reshape(a.shape), perm.reshape(a.shape[:-1]),
            parity.reshape(a.shape[:-2]))


@kernel("Lu")
def lu(node, inputs, ctx):
    """Packed L (unit lower) and U with the row permutation p: L @ U = input[..., p, :]."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/lu_op.cc (Eigen's PartialPivLU); an
    # exactly zero pivot is an error.
    x = _a(inputs[0])
    if x.ndim < 2:
        raise bad(node, f"Input tensor must have rank >= 2, got {x.ndim}")
    _matrix(node, x)
    idx = np_dtype(node.attr["output_idx_type"])
    n = x.shape[-1]
    if n == 0 or x.size == 0:
        return [x.copy(), np.zeros(x.shape[:-1], idx)]
    packed, perm, _ = _pivoted_lu(x)
    if (np.abs(np.diagonal(packed, axis1=-2, axis2=-1)) == 0).any():
        raise bad(node, "Input is not invertible.")
    return [packed, perm.astype(idx)]


# -- matrix functions --------------------------------------------------------------------

def _pade13(a: np.ndarray) -> np.ndarray:
    """exp(a) by scaling and squaring with the degree-13 Pade approximant (Higham 2005)."""
    from math import factorial

    n = a.shape[-1]
    coef = [factorial(26 - j) * factorial(13) / (factorial(26) * factorial(j) * factorial(13 - j))
            for j in range(14)]
    norm = np.abs(a).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(np.maximum(norm, 1e-300) / 5.371920351148152)))
    s = np.where(np.isfinite(s), s, 0).astype(int)
    a = a / (2.0 ** s)[..., None, None]
    eye = np.eye(n, dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (coef[13] * a6 + coef[11] * a4 + coef[9] * a2)
             + coef[7] * a6 + coef[5] * a4 + coef[3] * a2 + coef[1] * eye)
    v = a6 @ (coef[12] * a6 + coef[10] * a4 + coef[8] * a2) \
        + coef[6] * a6 + coef[4] * a4 + coef[2] * a2 + coef[0] * eye
    r = np.linalg.solve(v - u, v + u)
    for step in range(int(s.max()) if s.size else 0):
        r = np.where((s > step)[..., None, None], r @ r, r)
    return r


@kernel("MatrixExponential")
def matrix_exponential(node, inputs, ctx):
    """exp of each square matrix (deprecated op of TF 1.x graphs; tf.linalg.expm's value)."""
    x = _matrix(node, _a(inputs[0]))
    if x.shape[-1] == 0 or x.size == 0:
        return x.copy()
    with np.errstate(all="ignore"):
        try:
            out = _pade13(x.astype(_wide(x.dtype)))
        except np.linalg.LinAlgError:
            out = np.full(x.shape, np.nan)
    return out.astype(x.dtype)


def _sqrtm_iteration(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal square roots of a batch by the scaled product-form Denman-Beavers iteration,
    and which matrices converged (singular ones and ones with eigenvalues on the negative
    real axis do not)."""
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    x, m = a.copy(), a.copy()
    done = np.zeros(a.shape[:-2], bool)
    ok = np.ones(a.shape[:-2], bool)
    for _ in range(100):
        live = ~done & ok
        if not live.any():
            break
        sign, logdet = np.linalg.slogdet(m)
        ok &= np.isfinite(logdet) & (sign != 0)
        live &= ok
        mu = np.exp(-np.where(live, logdet, 0) / (2 * n))[..., None, None]
        xs, ms = x * mu, m * mu * mu
        minv = np.linalg.inv(np.where(live[..., None, None], ms, eye))
        x = np.where(live[..., None, None], xs @ (eye + minv) / 2, x)
        m = np.where(live[..., None, None], (eye + (ms + minv) / 2) / 2, m)
        done |= live & (np.abs(m - eye).sum(axis=-2).max(axis=-1)
                        <= 10 * n * np.finfo(np.float64).eps)
    return x, done & ok


def _eig_function(a: np.ndarray, fn) -> np.ndarray:
    """f(a) for a batch through eigendecompositions (eigh for the Hermitian ones)."""
    out = np.zeros(a.shape, np.complex128)
    herm = np.all(a == _adjoint(a), axis=(-2, -1))
    if herm.any():
        e, v = np.linalg.eigh(a[herm])
        fe = fn(e.astype(np.complex128) if a.dtype.kind == "c" else e)
        out[herm] = (v * fe[..., None, :]) @ _adjoint(v)
    if (~herm).any():
        e, v = np.linalg.eig(a[~herm].astype(np.complex128))
        fv = v * fn(e)[..., None, :]
        out[~herm] = _adjoint(np.linalg.solve(_adjoint(v), _adjoint(fv)))
    return out


def _iterable(a: np.ndarray) -> np.ndarray:
    """Which matrices the square-root iteration suits: not Hermitian (those take eigh) and
    without eigenvalues on the closed negative real axis (there it cannot converge)."""
    herm = np.all(a == _adjoint(a), axis=(-2, -1))
    e = np.linalg.eigvals(a)
    on_cut = np.any((e.real <= 0) & (e.imag == 0), axis=-1)
    return ~herm & ~on_cut


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """Principal square roots: Denman-Beavers where it converges, else (Hermitian matrices,
    eigenvalues on the negative real axis, non-convergence) the eigendecomposition."""
    out = np.zeros(a.shape, np.complex128)
    use = _iterable(a)
    root, ok = _sqrtm_iteration(a[use])
    done = np.zeros_like(use)
    done[use] = ok
    out[done] = root[ok]
    if (~done).any():
        out[~done] = _eig_function(a[~done], np.sqrt)
    return out


def _logm(a: np.ndarray) -> np.ndarray:
    """Principal logarithms by inverse scaling and squaring: square roots until near I,
    then 2 atanh((r - I)(r + I)^-1) summed as a series, times 2^k (eigendecompositions for
    Hermitian matrices, eigenvalues on the negative real axis, and non-convergence)."""
    out = np.zeros(a.shape, np.complex128)
    iterable = _iterable(a)
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    root = a.copy()
    k = np.zeros(a.shape[:-2])
    ok = iterable.copy()
    for _ in range(64):
        far = ok & (np.abs(root - eye).sum(axis=-2).max(axis=-1) > 0.25)
        if not far.any():
            break
        r, conv = _sqrtm_iteration(root[far])
        root[far] = r
        k[far] += 1
        bad_ = np.zeros_like(ok)
        bad_[far] = ~conv
        ok &= ~bad_
    ok &= np.abs(root - eye).sum(axis=-2).max(axis=-1) <= 0.25
    near = root[ok]
    z = _adjoint(np.linalg.solve(_adjoint(near + eye), _adjoint(near - eye)))
    z2 = z @ z
    term, total = z, z.copy()
    for j in range(1, 60):
        term = term @ z2
        total = total + term / (2 * j + 1)
        if np.abs(term).max(initial=0) < 1e-18:
            break
    out[ok] = total * (2.0 ** (k[ok] + 1))[..., None, None]
    if (~ok).any():
        out[~ok] = _eig_function(a[~ok], np.log)
    return out


def _matrix_function(node, inputs, fn):
    x = _matrix(node, _a(inputs[0]))
    n = x.shape[-1]
    if n == 0 or x.size == 0:
        return x.copy()
    flat = x.reshape(-1, n, n).astype(_wide(x.dtype))
    finite = np.isfinite(flat).all(axis=(1, 2))
    result = np.full(flat.shape, np.nan, np.complex128)
    with np.errstate(all="ignore"):
        try:
            result[finite] = fn(flat[finite])
        except np.linalg.LinAlgError:
            pass
    if x.dtype.kind == "f":
        result = np.where(np.abs(result.imag) > 0, np.nan, result.real)
    return result.reshape(x.shape).astype(x.dtype)


@kernel("MatrixSquareRoot")
def matrix_square_root(node, inputs, ctx):
    """Principal square root (real matrices with negative eigenvalues give NaN, as Eigen's)."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_square_root_op.cc
    return _matrix_function(node, inputs, _sqrtm)


@kernel("MatrixLogarithm")
def matrix_logarithm(node, inputs, ctx):
    """Principal matrix logarithm of complex matrices."""
    # tensorflow/tensorflow tensorflow/core/kernels/linalg/matrix_logarithm_op.cc
    return _matrix_function(node, inputs, _logm)
