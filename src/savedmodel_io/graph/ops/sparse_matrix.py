"""CSR sparse matrices (``tf.raw_ops.SparseMatrix*``, ``*CSRSparseMatrix*``).

TensorFlow passes a CSR matrix, or a batch of them, as a scalar variant; here that variant
holds a :class:`CSRSparseMatrix`. Facts from tensorflow/tensorflow
tensorflow/core/kernels/sparse/ (sparse_matrix.h, dense_to_csr_sparse_matrix_op.cc,
sparse_tensor_to_csr_sparse_matrix_op.cc, mat_mul_op.cc, sparse_mat_mul_op.cc,
sparse_cholesky_op.cc, ...). Each op checks that the matrix's value type is its ``type``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from savedmodel_io.graph.ops._amd import AmdError, amd_columns, amd_order
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, np_dtype, scalar_int
from savedmodel_io.graph.ops.sparse import lex_order


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


@dataclass(frozen=True)
class CSRSparseMatrix:
    """A CSR matrix, or a batch of CSR matrices of one shape, laid out as TF lays them out.

    ``row_pointers`` holds ``rows + 1`` offsets per batch member, relative to that member's
    first entry ``batch_pointers[b]``; ``col_indices`` and ``values`` hold every member's
    entries one member after the other.
    """

    dense_shape: np.ndarray  # int64: (rows, cols) or (batch, rows, cols)
    batch_pointers: np.ndarray  # int32, batch + 1
    row_pointers: np.ndarray  # int32, batch * (rows + 1)
    col_indices: np.ndarray  # int32, nnz
    values: np.ndarray  # nnz

    @property
    def batched(self) -> bool:
        return self.dense_shape.size == 3

    @property
    def batch(self) -> int:
        return int(self.dense_shape[0]) if self.batched else 1

    @property
    def rows(self) -> int:
        return int(self.dense_shape[-2])

    @property
    def cols(self) -> int:
        return int(self.dense_shape[-1])

    def member(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row_pointers, col_indices, values) of batch member ``b``."""
        lo, hi = int(self.batch_pointers[b]), int(self.batch_pointers[b + 1])
        rp = self.row_pointers[b * (self.rows + 1):(b + 1) * (self.rows + 1)]
        return rp, self.col_indices[lo:hi], self.values[lo:hi]

    def coo(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, values) of member ``b``'s entries in storage order."""
        rp, ci, vals = self.member(b)
        rows = np.repeat(np.arange(self.rows), np.diff(rp.astype(np.int64)))
        return rows, ci.astype(np.int64), vals

    def dense(self, b: int) -> np.ndarray:
        out = np.zeros((self.rows, self.cols), self.values.dtype)
        r, c, v = self.coo(b)
        np.add.at(out, (r, c), v)
        return out


def from_coo(shape: np.ndarray, batch_ids: np.ndarray, rows: np.ndarray, cols: np.ndarray,
             values: np.ndarray) -> CSRSparseMatrix:
    """A CSR matrix from entries, as TF's converters build it: the pointers count the
    entries of each batch member and row, while columns and values are taken in the order
    given (so entries not in row-major order land in the wrong rows, as in TF)."""
    shape = shape.astype(np.int64)
    batch = int(shape[0]) if shape.size == 3 else 1
    nrows = int(shape[-2])
    per_batch = np.bincount(batch_ids, minlength=batch)[:batch]
    per_row = np.zeros((batch, nrows), np.int64)
    np.add.at(per_row, (batch_ids, rows), 1)
    row_ptrs = np.concatenate([np.zeros((batch, 1), np.int64), np.cumsum(per_row, 1)], 1)
    return CSRSparseMatrix(shape, _splits(per_batch), row_ptrs.reshape(-1).astype(np.int32),
                           cols.astype(np.int32), values)


def _splits(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)


def _build(shape: np.ndarray, members: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
           dtype: np.dtype) -> CSRSparseMatrix:
    """A CSR matrix from per-member (row_pointers, col_indices, values)."""
    counts = np.array([len(m[1]) for m in members], np.int64)
    row_ptrs = np.concatenate([m[0] for m in members]) if members else np.zeros(0, np.int64)
    cols = np.concatenate([m[1] for m in members]) if members else np.zeros(0, np.int64)
    vals = np.concatenate([m[2] for m in members]).astype(dtype) if members else \
        np.zeros(0, dtype)
    return CSRSparseMatrix(shape.astype(np.int64), _splits(counts), row_ptrs.astype(np.int32),
                           cols.astype(np.int32), vals)


def _sorted_member(nrows: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_pointers, col_indices, values) of entries put in row-major order."""
    order = lex_order(np.stack([rows, cols], 1)) if len(rows) else np.zeros(0, np.int64)
    counts = np.bincount(rows, minlength=nrows)[:nrows]
    return np.concatenate([[0], np.cumsum(counts)]), cols[order], vals[order]


def _wrap(m: CSRSparseMatrix) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = m
    return out


def _matrix(node, v, want: np.dtype | None = None) -> CSRSparseMatrix:
    """The CSRSparseMatrix a variant input holds, of value type ``want`` when given."""
    m = v[()] if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0 else v
    if not isinstance(m, CSRSparseMatrix):
        raise bad(node, f"expected a CSRSparseMatrix variant, got {type(m).__name__}")
    if want is not None and m.values.dtype != want:
        raise bad(node, f"Expected a CSRSparseMatrix of type {want}, got {m.values.dtype}")
    return m


def _type(node) -> np.dtype:
    return np_dtype(node.attr["type"])


def _shape_of(node, shape: np.ndarray) -> np.ndarray:
    if shape.ndim != 1 or shape.size not in (2, 3):
        raise bad(node, f"dense_shape must be a vector of 2 or 3 elements, got "
                        f"{shape.tolist()}")
    if (shape < 0).any():
        raise bad(node, f"dense_shape {shape.tolist()} has a negative dimension")
    return shape.astype(np.int64)


# -- conversions --------------------------------------------------------------------------

def _coo_input(node, indices: np.ndarray, values: np.ndarray, shape: np.ndarray
               ) -> CSRSparseMatrix:
    if indices.ndim != 2 or indices.shape[1] != shape.size or indices.shape[0] != values.size:
        raise bad(node, "indices must be an (nnz, rank) matrix with one value per row")
    inside = ((indices >= 0) & (indices < shape[None, :])).all(axis=1)
    if not inside.all():
        i = int(np.argmin(inside))
        raise bad(node, f"indices[{i}] = {indices[i].tolist()} does not index into param "
                        f"shape {shape.tolist()}")
    check_size(node, [shape[0] * (shape[-2] + 1) if shape.size == 3 else shape[0] + 1], 4)
    idx = indices.astype(np.int64)
    batch_ids = idx[:, 0] if shape.size == 3 else np.zeros(len(idx), np.int64)
    return from_coo(shape, batch_ids, idx[:, -2], idx[:, -1], values)


@kernel("DenseToCSRSparseMatrix")
def dense_to_csr(node, inputs, ctx):
    """The entries of ``dense_input`` at ``indices`` (zeros included) as a CSR matrix."""
    dense, indices = _a(inputs[0]), _a(inputs[1])
    if dense.ndim not in (2, 3):
        raise bad(node, f"dense_input must be a matrix or a batch of matrices, got rank "
                        f"{dense.ndim}")
    shape = np.array(dense.shape, np.int64)
    if indices.ndim != 2 or indices.shape[1] != dense.ndim:
        raise bad(node, "indices must have one column per dimension of dense_input")
    inside = ((indices >= 0) & (indices < shape[None, :])).all(axis=1)
    if not inside.all():
        i = int(np.argmin(inside))
        raise bad(node, f"indices[{i}] = {indices[i].tolist()} does not index into param "
                        f"shape {shape.tolist()}")
    values = dense[tuple(indices.astype(np.int64).T)]
    return _wrap(_coo_input(node, indices, values, shape))


@kernel("SparseTensorToCSRSparseMatrix")
def sparse_tensor_to_csr(node, inputs, ctx):
    indices, values, shape = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    if values.ndim != 1:
        raise bad(node, "values must be a vector")
    return _wrap(_coo_input(node, indices, values, _shape_of(node, shape)))


@kernel("CSRSparseMatrixToDense")
def csr_to_dense(node, inputs, ctx):
    m = _matrix(node, inputs[0], _type(node))
    check_size(node, m.dense_shape.tolist(), m.values.dtype.itemsize)
    out = np.stack([m.dense(b) for b in range(m.batch)]) if m.batch else \
        np.zeros(m.dense_shape.tolist(), m.values.dtype)
    return out if m.batched else out[0]


@kernel("CSRSparseMatrixToSparseTensor")
def csr_to_sparse_tensor(node, inputs, ctx):
    """Entries in storage order, as [batch,] row, column indices."""
    m = _matrix(node, inputs[0], _type(node))
    parts = []
    for b in range(m.batch):
        r, c, _ = m.coo(b)
        cols = [np.full(len(r), b, np.int64)] if m.batched else []
        parts.append(np.stack(cols + [r, c], 1))
    indices = np.concatenate(parts) if parts else np.zeros((0, m.dense_shape.size), np.int64)
    return [indices.reshape(-1, m.dense_shape.size), m.values, m.dense_shape.copy()]


@kernel("CSRSparseMatrixComponents")
def csr_components(node, inputs, ctx):
    m = _matrix(node, inputs[0], _type(node))
    b = scalar_int(node, inputs[1], "index")
    if not 0 <= b < m.batch:
        raise bad(node, f"index ({b}) not in [0, {m.batch})")
    rp, ci, vals = m.member(b)
    return [rp.astype(np.int32), ci.astype(np.int32), vals]


@kernel("SparseMatrixNNZ")
def sparse_matrix_nnz(node, inputs, ctx):
    """Entries per batch member (a scalar for an unbatched matrix)."""
    m = _matrix(node, inputs[0])
    counts = np.diff(m.batch_pointers.astype(np.int64)).astype(np.int32)
    return counts if m.batched else counts[0]


@kernel("SparseMatrixZeros")
def sparse_matrix_zeros(node, inputs, ctx):
    shape = _shape_of(node, _a(inputs[0]))
    batch = int(shape[0]) if shape.size == 3 else 1
    check_size(node, [batch * (int(shape[-2]) + 1)], 4)
    return _wrap(CSRSparseMatrix(shape, np.zeros(batch + 1, np.int32),
                                 np.zeros(batch * (int(shape[-2]) + 1), np.int32),
                                 np.zeros(0, np.int32), np.zeros(0, _type(node))))


# -- algebra --------------------------------------------------------------------------

def _transposed(m: CSRSparseMatrix, conj: bool) -> CSRSparseMatrix:
    """Transpose (columns within each new row come in the old rows' order)."""
    shape = m.dense_shape.copy()
    shape[-2], shape[-1] = shape[-1], shape[-2]
    members = []
    for b in range(m.batch):
        r, c, v = m.coo(b)
        order = np.argsort(c, kind="stable")
        counts = np.bincount(c, minlength=m.cols)[:m.cols]
        vals = np.conj(v[order]) if conj else v[order]
        members.append((np.concatenate([[0], np.cumsum(counts)]), r[order], vals))
    return _build(shape, members, m.values.dtype)


@kernel("SparseMatrixTranspose")
def sparse_matrix_transpose(node, inputs, ctx):
    return _wrap(_transposed(_matrix(node, inputs[0], _type(node)), node.attr["conjugate"]))


def _same_shape(node, a: CSRSparseMatrix, b: CSRSparseMatrix) -> None:
    if a.dense_shape.tolist() != b.dense_shape.tolist():
        raise bad(node, f"a and b have different shapes: {a.dense_shape.tolist()} vs "
                        f"{b.dense_shape.tolist()}")


@kernel("SparseMatrixAdd")
def sparse_matrix_add(node, inputs, ctx):
    """alpha * a + beta * b over the union of both structures (zeros kept)."""
    dtype = np_dtype(node.attr["T"])
    a, b = _matrix(node, inputs[0], dtype), _matrix(node, inputs[1], dtype)
    alpha, beta = _a(inputs[2]), _a(inputs[3])
    if alpha.ndim or beta.ndim:
        raise bad(node, "alpha and beta must be scalars")
    _same_shape(node, a, b)
    members = []
    for k in range(a.batch):
        ra, ca, va = a.coo(k)
        rb, cb, vb = b.coo(k)
        keys = np.concatenate([ra * a.cols + ca, rb * a.cols + cb])
        vals = np.concatenate([alpha * va, beta * vb]).astype(dtype)
        uniq, inv = np.unique(keys, return_inverse=True)
        total = np.zeros(len(uniq), dtype)
        np.add.at(total, inv.reshape(-1), vals)
        members.append(_sorted_member(a.rows, uniq // a.cols, uniq % a.cols, total))
    return _wrap(_build(a.dense_shape, members, dtype))


@kernel("SparseMatrixMul")
def sparse_matrix_mul(node, inputs, ctx):
    """a times a scalar, or each batch member times its own scalar (b of shape [batch, 1, 1])."""
    dtype = np_dtype(node.attr["T"])
    a = _matrix(node, inputs[0], dtype)
    b = _a(inputs[1])
    if b.ndim == 0:
        scale = np.full(a.batch, b)
    elif a.batched and b.shape == (a.batch, 1, 1):
        scale = b.reshape(-1)
    else:
        raise bad(node, f"b must be a scalar or of shape [batch, 1, 1], got {list(b.shape)}")
    counts = np.diff(a.batch_pointers.astype(np.int64))
    vals = (a.values * np.repeat(scale, counts)).astype(dtype)
    return _wrap(CSRSparseMatrix(a.dense_shape, a.batch_pointers, a.row_pointers,
                                 a.col_indices, vals))


@kernel("SparseMatrixSoftmax")
def sparse_matrix_softmax(node, inputs, ctx):
    """Softmax over each row's stored entries (the structure is kept)."""
    m = _matrix(node, inputs[0], _type(node))
    vals = np.empty_like(m.values)
    for b in range(m.batch):
        lo = int(m.batch_pointers[b])
        r, _, v = m.coo(b)
        if not len(v):
            continue
        top = np.full(m.rows, -np.inf, v.dtype)
        np.maximum.at(top, r, v)
        e = np.exp(v - top[r])
        total = np.zeros(m.rows, v.dtype)
        np.add.at(total, r, e)
        vals[lo:lo + len(v)] = e / total[r]
    return _wrap(CSRSparseMatrix(m.dense_shape, m.batch_pointers, m.row_pointers,
                                 m.col_indices, vals))


def _op_flags(node, side: str) -> tuple[bool, bool]:
    t, adj = bool(node.attr[f"transpose_{side}"]), bool(node.attr[f"adjoint_{side}"])
    if t and adj:
        raise bad(node, f"Only one of adjoint_{side} and transpose_{side} may be true.")
    return t or adj, adj


@kernel("SparseMatrixMatMul")
def sparse_matrix_matmul(node, inputs, ctx):
    """Dense op(a) @ op(b), then optionally transposed and/or conjugated."""
    b = _a(inputs[1])
    a = _matrix(node, inputs[0], b.dtype)
    ta, ca = _op_flags(node, "a")
    tb, cb = _op_flags(node, "b")
    if b.ndim != a.dense_shape.size:
        raise bad(node, f"Ranks of a and b must match, saw: {a.dense_shape.size} vs. {b.ndim}")
    bb = b if a.batched else b[None]
    if bb.shape[0] != a.batch:
        raise bad(node, f"Batch sizes of a and b must match, saw: {a.batch} vs. {bb.shape[0]}")
    if tb:
        bb = np.swapaxes(bb, -1, -2)
    if cb:
        bb = np.conj(bb)
    m, k = (a.cols, a.rows) if ta else (a.rows, a.cols)
    if bb.shape[1] != k:
        raise bad(node, f"Inner dimensions of a and b must match: {k} vs. {bb.shape[1]}")
    n = bb.shape[2]
    check_size(node, [a.batch, m, n], b.dtype.itemsize)
    out = np.zeros((a.batch, m, n), b.dtype)
    for i in range(a.batch):
        r, c, v = a.coo(i)
        if ta:
            r, c = c, r
        if ca:
            v = np.conj(v)
        np.add.at(out[i], r, v[:, None] * bb[i][c])
    if node.attr["transpose_output"]:
        out = np.swapaxes(out, -1, -2)
    if node.attr["conjugate_output"]:
        out = np.conj(out)
    return out if a.batched else out[0]


@kernel("SparseMatrixSparseMatMul")
def sparse_matrix_sparse_matmul(node, inputs, ctx):
    """op(a) @ op(b) as a CSR matrix with the structural product's pattern (zeros kept)."""
    dtype = _type(node)
    a, b = _matrix(node, inputs[0], dtype), _matrix(node, inputs[1], dtype)
    ta, ca = _op_flags(node, "a")
    tb, cb = _op_flags(node, "b")
    if a.batched != b.batched or a.batch != b.batch:
        raise bad(node, "a and b must have the same rank and batch size")
    if ta:
        a = _transposed(a, ca)
    if tb:
        b = _transposed(b, cb)
    if a.cols != b.rows:
        raise bad(node, f"Inner dimensions of a and b must match: {a.cols} vs. {b.rows}")
    check_size(node, [a.rows, b.cols], dtype.itemsize)
    shape = a.dense_shape.copy()
    shape[-1] = b.cols
    members = []
    for i in range(a.batch):
        ra, ka, va = a.coo(i)
        rb, cb_, vb = b.coo(i)
        # every pair (a[r, k], b[k, c]) contributes to (r, c)
        order = np.argsort(rb, kind="stable")
        rb, cb_, vb = rb[order], cb_[order], vb[order]
        start = np.searchsorted(rb, ka, side="left")
        count = np.searchsorted(rb, ka, side="right") - start
        pick = np.repeat(np.arange(len(ka)), count)
        other = (np.arange(int(count.sum())) -
                 np.repeat(np.cumsum(count) - count, count) + np.repeat(start, count))
        keys = ra[pick] * b.cols + cb_[other]
        uniq, inv = np.unique(keys, return_inverse=True)
        total = np.zeros(len(uniq), dtype)
        np.add.at(total, inv.reshape(-1), (va[pick] * vb[other]).astype(dtype))
        members.append(_sorted_member(a.rows, uniq // b.cols, uniq % b.cols, total))
    return _wrap(_build(shape, members, dtype))


# -- Cholesky: tensorflow/tensorflow tensorflow/core/kernels/sparse/sparse_cholesky_op.cc ------

def _cholesky_pattern(pattern: np.ndarray) -> np.ndarray:
    """The lower-triangular pattern of L from A's pattern (symbolic elimination)."""
    n = pattern.shape[0]
    low = np.tril(pattern | pattern.T)
    low[np.diag_indices(n)] = True
    for k in range(n):
        below = np.flatnonzero(low[k + 1:, k]) + k + 1
        if below.size > 1:
            low[np.ix_(below, below)] |= np.tril(np.ones((below.size, below.size), bool))
    return low


@kernel("SparseMatrixSparseCholesky")
def sparse_matrix_cholesky(node, inputs, ctx):
    """L with L L^H = P A P^T for the permutation P, as a lower-triangular CSR matrix whose
    structure is the symbolic factorisation's (numerically zero entries kept)."""
    dtype = _type(node)
    m = _matrix(node, inputs[0], dtype)
    perm = _a(inputs[1])
    if m.rows != m.cols:
        raise bad(node, f"sparse matrix must be square, got {m.rows} x {m.cols}")
    want = (m.batch, m.rows) if m.batched else (m.rows,)
    if perm.shape != want:
        raise bad(node, f"permutation must have shape {list(want)}, got {list(perm.shape)}")
    check_size(node, [m.rows, m.rows], 8)
    perms = perm.reshape(m.batch, m.rows)
    members = []
    for b in range(m.batch):
        p = perms[b].astype(np.int64)
        if sorted(p.tolist()) != list(range(m.rows)):
            raise bad(node, f"permutation {p.tolist()} is not a permutation of the rows")
        # Eigen's SimplicialLLT reads the lower triangle and mirrors it.
        r, c, _ = m.coo(b)
        lower = r >= c
        pattern = np.zeros((m.rows, m.rows), bool)
        pattern[r[lower], c[lower]] = True
        low = np.tril(m.dense(b))
        dense = (low + np.conj(np.tril(low, -1)).T)[np.ix_(p, p)]
        try:
            full = np.linalg.cholesky(dense.astype(np.complex128 if dtype.kind == "c"
                                                    else np.float64))
        except np.linalg.LinAlgError:
            raise bad(node, "Sparse Cholesky factorization failed: the matrix is not "
                            "positive definite") from None
        keep = _cholesky_pattern(pattern[np.ix_(p, p)])
        rows, cols = np.nonzero(keep)
        members.append((np.concatenate([[0], np.cumsum(keep.sum(axis=1))]), cols,
                        full[rows, cols].astype(dtype)))
    return _wrap(_build(m.dense_shape, members, dtype))


# -- AMD ordering: tensorflow/tensorflow tensorflow/core/kernels/sparse/sparse_ordering_amd_op.cc --

@kernel("SparseMatrixOrderingAMD")
def sparse_matrix_ordering_amd(node, inputs, ctx):
    """Eigen's approximate minimum degree permutation of each (square) member's symmetric
    pattern, read from its lower triangle: int32 [rows] or [batch, rows]."""
    m = _matrix(node, inputs[0])
    if m.rows != m.cols:
        raise bad(node, f"sparse matrix must be square; got: {m.rows} != {m.cols}")
    out = np.empty((m.batch, m.rows), np.int32)
    for b in range(m.batch):
        rp, cols, _ = m.member(b)
        # Python lists of every node's neighbours and a dozen ints per node
        ctx.meter.elements(2 * len(cols) + 16 * m.rows, node.where)
        columns = amd_columns(m.rows, rp.tolist(), cols.tolist())
        try:
            out[b] = amd_order(m.rows, columns, lambda: ctx.meter.clock(node.where))
        except AmdError as exc:
            raise bad(node, f"AMD ordering failed: {exc}") from None
    return out if m.batched else out[0]
