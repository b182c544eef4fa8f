"""SparseTensor ops: a sparse tensor is three inputs, ``indices`` (n x rank int64), ``values``
(n) and ``dense_shape`` (rank).

Unless an op says otherwise, TensorFlow keeps entries in the order it is given them and
trusts that order ("many sparse ops require sorted indices"): merges (SparseAdd,
SparseSparseMaximum) walk both operands once as if sorted, reductions and softmax reorder
first. Facts from tensorflow/tensorflow tensorflow/core/kernels/sparse_*.cc and
tensorflow/core/util/sparse/sparse_tensor.h.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import axis_list, bad, check_size, scalar_int
from savedmodel_io.graph.ops.segment import reduce_segments

__all__ = ["Sparse", "check_valid", "fill_empty_rows", "lex_order", "sparse_input"]


def _a(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


class Sparse(NamedTuple):
    """The three tensors of a SparseTensor, checked to fit together."""

    indices: np.ndarray  # (n, rank) int64
    values: np.ndarray  # (n,)
    shape: np.ndarray  # (rank,) int64

    @property
    def rank(self) -> int:
        return int(self.shape.size)


def sparse_input(node, indices, values, shape, name: str = "input", *,
                 counts: bool = True) -> Sparse:
    """A SparseTensor from three inputs: a matrix, a vector of as many values, a shape vector.

    ``counts=False`` skips checking that the three agree in sizes (ops that only pass the
    tensors on, such as SerializeSparse, do not check them).
    """
    indices, values, shape = _a(indices), _a(values), _a(shape)
    if indices.ndim != 2:
        raise bad(node, f"{name} indices must be a matrix, got shape {list(indices.shape)}")
    if values.ndim != 1:
        raise bad(node, f"{name} values must be a vector, got shape {list(values.shape)}")
    if shape.ndim != 1:
        raise bad(node, f"{name} shape must be a vector, got shape {list(shape.shape)}")
    if not counts:
        return Sparse(indices.astype(np.int64, copy=False), values,
                      shape.astype(np.int64, copy=False))
    if indices.shape[0] != values.shape[0]:
        raise bad(node, f"{name} has {indices.shape[0]} indices but {values.shape[0]} values")
    if indices.shape[1] != shape.shape[0]:
        raise bad(node, f"{name} indices have {indices.shape[1]} columns but its shape has "
                        f"{shape.shape[0]} dimensions")
    return Sparse(indices.astype(np.int64, copy=False), values, shape.astype(np.int64, copy=False))


def lex_order(indices: np.ndarray) -> np.ndarray:
    """Positions sorting index rows in row-major (lexicographic) order, ties kept in order."""
    if indices.shape[1] == 0:
        return np.arange(indices.shape[0])
    return np.lexsort(indices.T[::-1])


def _in_bounds(indices: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return ((indices >= 0) & (indices < shape[None, :])).all(axis=1)


def check_valid(node, sp: Sparse) -> None:
    """SparseTensor::IndicesValid: every index inside the shape and strictly increasing."""
    inside = _in_bounds(sp.indices, sp.shape)
    if not inside.all():
        i = int(np.argmin(inside))
        raise bad(node, f"indices[{i}] = {sp.indices[i].tolist()} is out of bounds: need "
                        f"0 <= index < {sp.shape.tolist()}")
    if sp.indices.shape[0] > 1:
        prev, cur = sp.indices[:-1], sp.indices[1:]
        diff = cur != prev
        first = np.argmax(diff, axis=1)
        rows = np.arange(len(cur))
        equal = ~diff.any(axis=1)
        down = ~equal & (cur[rows, first] < prev[rows, first])
        wrong = np.flatnonzero(equal | down)
        if wrong.size:
            i = int(wrong[0]) + 1
            what = "repeated" if equal[i - 1] else "out of order"
            raise bad(node, f"indices[{i}] = {sp.indices[i].tolist()} is {what}. Many sparse "
                            "ops require sorted indices.")


def _check_bounds(node, indices: np.ndarray, shape: np.ndarray) -> None:
    inside = _in_bounds(indices, shape)
    if not inside.all():
        i = int(np.argmin(inside))
        raise bad(node, f"Sparse index tuple indices[{i}, :] = {indices[i].tolist()} is out "
                        "of bounds")


def _out(sp: Sparse) -> list[np.ndarray]:
    return [sp.indices, sp.values, sp.shape]


def _same_shapes(node, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise bad(node, f"Operands do not have the same ranks; got shapes: {a.tolist()} and "
                        f"{b.tolist()}")
    wrong = np.flatnonzero(a != b)
    if wrong.size:
        d = int(wrong[0])
        raise bad(node, f"Operands' shapes do not match: got {int(a[d])} and {int(b[d])} for "
                        f"dimension {d}")


# -- order, conversion ------------------------------------------------------------------

@kernel("SparseReorder")
def sparse_reorder(node, inputs, ctx):
    sp = sparse_input(node, *inputs[:3])
    order = lex_order(sp.indices)
    return [sp.indices[order], sp.values[order]]


@kernel("SparseToDense")
def sparse_to_dense(node, inputs, ctx):
    """Scatter one value (or one per index) into a default-filled dense tensor."""
    idx, out_shape, vals, default = (_a(v) for v in inputs[:4])
    if idx.ndim > 2:
        raise bad(node, f"sparse_indices should be a scalar, vector, or matrix, got shape "
                        f"{list(idx.shape)}")
    if out_shape.ndim != 1:
        raise bad(node, f"output_shape must be rank 1, got shape {list(out_shape.shape)}")
    rank = out_shape.size
    n = idx.shape[0] if idx.ndim > 0 else 1
    ndims = idx.shape[1] if idx.ndim > 1 else 1
    if vals.ndim > 1 or (vals.ndim == 1 and vals.size != n):
        raise bad(node, f"sparse_values has incorrect shape {list(vals.shape)}, should be [] "
                        f"or [{n}]")
    if default.ndim != 0:
        raise bad(node, "default_value should be a scalar")
    if ndims != rank:
        raise bad(node, f"sparse_indices has {ndims} columns for an output of rank {rank}")
    indices = idx.reshape(n, rank).astype(np.int64)
    shape = out_shape.astype(np.int64)
    if (shape < 0).any():
        raise bad(node, f"output_shape {shape.tolist()} has a negative dimension")
    sp = Sparse(indices, np.broadcast_to(vals, (n,)), shape)
    if node.attr["validate_indices"]:
        check_valid(node, sp)
    else:
        _check_bounds(node, indices, shape)
    check_size(node, shape.tolist(), vals.dtype.itemsize)
    out = np.full(tuple(shape.tolist()), default, dtype=vals.dtype)
    out[tuple(indices.T)] = sp.values
    return out


@kernel("SparseTensorDenseAdd")
def sparse_tensor_dense_add(node, inputs, ctx):
    """Dense ``b`` plus the sparse entries (repeated indices add up)."""
    sp = sparse_input(node, *inputs[:3], name="a")
    b = _a(inputs[3])
    if sp.rank != b.ndim:
        raise bad(node, f"Two operands have different ranks; received: {sp.rank} and {b.ndim}")
    if tuple(sp.shape.tolist()) != b.shape:
        raise bad(node, f"Dimension mismatch: a_shape {sp.shape.tolist()} vs. b.shape "
                        f"{list(b.shape)}")
    bad_rows = ~_in_bounds(sp.indices, sp.shape)
    if bad_rows.any():
        raise bad(node, "Sparse tensor has an invalid index")
    out = b.copy()
    np.add.at(out, tuple(sp.indices.T), sp.values.astype(b.dtype, copy=False))
    return out


# -- reductions ---------------------------------------------------------------------------

def _reduce(node, inputs, sparse_out: bool):
    """Group the entries by the kept dimensions (in row-major order) and reduce each group."""
    sp = sparse_input(node, *inputs[:3])
    axes = _a(inputs[3])
    rank = sp.rank
    for a in axes.reshape(-1).tolist():
        if not -rank <= a < rank:
            raise bad(node, f"Invalid reduction dimension {a}, for input with {rank} dimensions.")
    reduced = axis_list(axes, rank, node) if rank else ()
    kept = [d for d in range(rank) if d not in reduced]
    keep_dims = node.attr["keep_dims"]
    order = lex_order(sp.indices[:, kept + list(reduced)])
    keys = sp.indices[order][:, kept]
    if kept:
        groups, ids = np.unique(keys, axis=0, return_inverse=True)
        groups = groups.reshape(-1, len(kept))
    else:  # everything reduced: one group holding every entry
        groups, ids = np.zeros((min(len(keys), 1), 0), np.int64), np.zeros(len(keys), np.int64)
    how = "sum" if "Sum" in node.op else "max"
    vals = reduce_segments(sp.values[order], ids.reshape(-1), len(groups), how, 0)
    out_shape = np.array([1 if d in reduced else sp.shape[d] for d in range(rank)]
                         if keep_dims else sp.shape[kept], np.int64)
    if sparse_out:
        if keep_dims:
            full = np.zeros((len(groups), rank), np.int64)
            full[:, kept] = groups
            groups = full
        return [groups.astype(np.int64), vals, out_shape]
    kept_shape = sp.shape[kept]
    inside = _in_bounds(groups, kept_shape)
    if not inside.all():
        raise bad(node, "an index of a kept dimension is outside the dense shape")
    check_size(node, kept_shape.tolist(), sp.values.dtype.itemsize)
    dense = np.zeros(tuple(kept_shape.tolist()), sp.values.dtype)
    if kept:
        dense[tuple(groups.T)] = vals
    elif vals.size:
        dense[()] = vals[0]
    return dense.reshape(tuple(out_shape.tolist()))


@kernel("SparseReduceSum", "SparseReduceMax")
def sparse_reduce(node, inputs, ctx):
    """Dense result: zero where no entry falls (max is over the stored values only)."""
    return _reduce(node, inputs, False)


@kernel("SparseReduceSumSparse", "SparseReduceMaxSparse")
def sparse_reduce_sparse(node, inputs, ctx):
    return _reduce(node, inputs, True)


# -- merges ---------------------------------------------------------------------------------

def _is_sorted(indices: np.ndarray) -> bool:
    if indices.shape[0] < 2:
        return True
    return bool((lex_order(indices) == np.arange(indices.shape[0])).all())


def _has_repeats(indices: np.ndarray) -> bool:
    return indices.shape[0] > 1 and bool((indices[1:] == indices[:-1]).all(axis=1).any())


def _merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One forward walk over two index lists as if both were sorted, as TF's merges do.

    Returns the positions (ia, jb) of each output entry in a and b, -1 for the side that
    has no entry there. Sorted operands without repeats take a vectorised path.
    """
    na = a.shape[0]
    if _is_sorted(a) and _is_sorted(b) and not _has_repeats(a) and not _has_repeats(b):
        both = np.concatenate([a, b])
        order = lex_order(both)  # among equal rows a's comes first (stable)
        k = order.size
        pair = np.zeros(k, bool)
        if k > 1:
            pair[:-1] = (order[:-1] < na) & (order[1:] >= na) & \
                (both[order[:-1]] == both[order[1:]]).all(axis=1)
        partner = np.append(order[1:], -1)
        keep = np.ones(k, bool)
        keep[1:] = ~pair[:-1]
        sel, pair, partner = order[keep], pair[keep], partner[keep]
        ia = np.where(sel < na, sel, -1)
        jb = np.where(pair, partner - na, np.where(sel >= na, sel - na, -1))
        return ia, jb
    ta, tb = [tuple(r) for r in a.tolist()], [tuple(r) for r in b.tolist()]
    i = j = 0
    out: list[tuple[int, int]] = []
    while i < len(ta) and j < len(tb):
        if ta[i] < tb[j]:
            out.append((i, -1))
            i += 1
        elif ta[i] == tb[j]:
            out.append((i, j))
            i += 1
            j += 1
        else:
            out.append((-1, j))
            j += 1
    out += [(k, -1) for k in range(i, len(ta))] + [(-1, k) for k in range(j, len(tb))]
    pairs = np.array(out, np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _pick(arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """arr[pos] where pos >= 0 (other rows: whatever; callers mask them)."""
    if arr.shape[0] == 0:
        return np.zeros((pos.size,) + arr.shape[1:], arr.dtype)
    return arr[np.maximum(pos, 0)]


def _merged(a: Sparse, b: Sparse) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(indices, a's values, b's values, which sides have an entry) of the merged walk."""
    ia, jb = _merge(a.indices, b.indices)
    has_a, has_b = ia >= 0, jb >= 0
    idx = np.where(has_a[:, None], _pick(a.indices, ia), _pick(b.indices, jb))
    return idx.reshape(-1, a.rank), _pick(a.values, ia), _pick(b.values, jb), \
        np.stack([has_a, has_b])


@kernel("SparseAdd", per_element=True)
def sparse_add(node, inputs, ctx):
    """Merged sum; a sum of two entries is kept only if its magnitude reaches ``thresh``."""
    a = sparse_input(node, *inputs[:3], name="a")
    b = sparse_input(node, *inputs[3:6], name="b")
    thresh = _a(inputs[6])
    if thresh.ndim != 0:
        raise bad(node, f"The magnitude threshold must be a scalar: got shape "
                        f"{list(thresh.shape)}")
    _same_shapes(node, a.shape, b.shape)
    idx, av, bv, (has_a, has_b) = _merged(a, b)
    both = has_a & has_b
    with np.errstate(all="ignore"):
        vals = np.where(both, av + bv, np.where(has_a, av, bv)).astype(a.values.dtype)
        keep = ~both | (thresh <= np.abs(vals))
    return [idx[keep], vals[keep], a.shape.copy()]


@kernel("SparseSparseMaximum", "SparseSparseMinimum", per_element=True)
def sparse_sparse_extremum(node, inputs, ctx):
    """Union of the entries; an entry on one side only meets an implicit zero."""
    a = sparse_input(node, *inputs[:3], name="a")
    b = sparse_input(node, *inputs[3:6], name="b")
    _same_shapes(node, a.shape, b.shape)
    _check_bounds(node, a.indices, a.shape)
    _check_bounds(node, b.indices, b.shape)
    fn = np.maximum if node.op == "SparseSparseMaximum" else np.minimum
    idx, av, bv, (has_a, has_b) = _merged(a, b)
    zero = a.values.dtype.type(0)
    return [idx, fn(np.where(has_a, av, zero), np.where(has_b, bv, zero)).astype(a.values.dtype)]


# -- reshaping ----------------------------------------------------------------------------

@kernel("SparseConcat")
def sparse_concat(node, inputs, ctx):
    """Entries shifted along concat_dim, then sorted row-major."""
    n = int(node.attr["N"])
    parts = [sparse_input(node, inputs[i], inputs[n + i], inputs[2 * n + i], f"input {i}")
             for i in range(n)]
    rank = parts[0].rank
    dim = int(node.attr["concat_dim"])
    if not -rank <= dim < rank:
        raise bad(node, f"Concat dimension must be in range [{-rank}, {rank}), got {dim}")
    dim %= rank
    for k, p in enumerate(parts[1:], 1):
        if p.rank != rank:
            raise bad(node, f"Ranks of all input tensors must match: expected {rank} but got "
                            f"{p.rank} at position {k}")
        other = [d for d in range(rank) if d != dim]
        if (p.shape[other] != parts[0].shape[other]).any():
            raise bad(node, f"Input shapes must match except along the concat dimension, "
                            f"at position {k}")
    offset = 0
    rows, vals = [], []
    for p in parts:
        idx = p.indices.copy()
        idx[:, dim] += offset
        offset += int(p.shape[dim])
        rows.append(idx)
        vals.append(p.values)
    indices, values = np.concatenate(rows), np.concatenate(vals)
    order = lex_order(indices)
    shape = parts[0].shape.copy()
    shape[dim] = offset
    return [indices[order], values[order], shape]


def _vector(node, v, name: str, length: int) -> np.ndarray:
    a = _a(v)
    if a.ndim != 1 or a.size != length:
        raise bad(node, f"{name} must be a vector of {length} elements, got shape "
                        f"{list(a.shape)}")
    return a.astype(np.int64)


@kernel("SparseSlice")
def sparse_slice(node, inputs, ctx):
    """Entries with start <= index < start + size, shifted by start, in input order."""
    sp = sparse_input(node, *inputs[:3])
    start = _vector(node, inputs[3], "start", sp.rank)
    size = _vector(node, inputs[4], "size", sp.rank)
    if (size < 0).any():
        raise bad(node, f"Expected a non-negative size, got {int(size[np.argmax(size < 0)])}")
    keep = ((sp.indices >= start) & (sp.indices < start + size)).all(axis=1)
    shape = np.maximum(np.where(start + size < sp.shape, size, sp.shape - start), 0)
    return [sp.indices[keep] - start, sp.values[keep], shape.astype(np.int64)]


@kernel("SparseSplit")
def sparse_split(node, inputs, ctx):
    """num_split pieces along split_dim, the first shape % num_split of them one larger."""
    sp = sparse_input(node, *inputs[1:4])
    dim = scalar_int(node, inputs[0], "split_dim")
    n = int(node.attr["num_split"])
    if not -sp.rank <= dim < sp.rank:
        raise bad(node, f"Input split_dim should be between {-sp.rank} and {sp.rank}, got {dim}")
    dim %= sp.rank
    length = int(sp.shape[dim])
    if not 1 <= n <= length:
        raise bad(node, f"Input num_split should be between 1 and the splitting dimension size "
                        f"({length}), got {n}")
    small, extra = divmod(length, n)
    sizes = [small + 1] * extra + [small] * (n - extra)
    starts = np.cumsum([0] + sizes)
    out_idx, out_val, out_shape = [], [], []
    for k in range(n):
        col = sp.indices[:, dim]
        keep = (col >= starts[k]) & (col < starts[k + 1])
        idx = sp.indices[keep].copy()
        idx[:, dim] -= starts[k]
        shape = sp.shape.copy()
        shape[dim] = sizes[k]
        out_idx.append(idx)
        out_val.append(sp.values[keep])
        out_shape.append(shape)
    return out_idx + out_val + out_shape


def _strides(shape: np.ndarray) -> np.ndarray:
    """Row-major strides of a shape (the suffix products)."""
    out = np.ones(shape.size, np.int64)
    for d in range(shape.size - 2, -1, -1):
        out[d] = out[d + 1] * shape[d + 1]
    return out


@kernel("SparseReshape")
def sparse_reshape(node, inputs, ctx):
    """Indices re-linearised for a new shape (one dimension may be -1)."""
    indices, shape, new = _a(inputs[0]), _a(inputs[1]), _a(inputs[2])
    if indices.ndim != 2:
        raise bad(node, "Input indices should be a matrix")
    if shape.ndim != 1 or new.ndim != 1:
        raise bad(node, "Input shape and new shape should be vectors")
    if indices.shape[1] != shape.size:
        raise bad(node, "Input indices have a column per dimension of the input shape")
    shape, new = shape.astype(np.int64), new.astype(np.int64).copy()
    total = int(np.prod(shape.astype(object))) if shape.size else 1
    unknown = np.flatnonzero(new == -1)
    if unknown.size > 1:
        raise bad(node, f"only one output dimension may be -1, not both {int(unknown[0])} and "
                        f"{int(unknown[1])}")
    if (new < -1).any():
        raise bad(node, f"size {int(new[np.argmax(new < -1)])} must be non-negative")
    known = int(np.prod(np.delete(new, unknown).astype(object))) if new.size else 1
    if unknown.size:
        if known == 0:
            raise bad(node, "reshape cannot infer the missing input size for an empty tensor "
                            "unless all specified input sizes are non-zero")
        if total % known:
            raise bad(node, f"Input to reshape is a SparseTensor with {total} dense values, but "
                            f"the requested shape requires a multiple of {known}.")
        new[unknown[0]] = total // known
    elif known != total:
        raise bad(node, f"Input to reshape is a tensor with {total} dense values, but the "
                        f"requested shape has {known}")
    # reshape_util.cc: linear position from the input strides, then divided out by the
    # output strides (C division; out-of-range indices are not checked).
    lin = (indices.astype(np.int64) * _strides(shape)[None, :]).sum(axis=1)
    out = np.zeros((indices.shape[0], new.size), np.int64)
    for j, stride in enumerate(_strides(new).tolist()):
        q = np.abs(lin) // stride
        q = np.where(lin < 0, -q, q)
        out[:, j] = q
        lin = lin - q * stride
    return [out.astype(np.int64), new]


def fill_empty_rows(node, rows: np.ndarray, nrows: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, int]:
    """Where each entry of ``rows`` goes when entries are grouped by row (stably) and every
    empty row gets one default entry: (position per entry, empty-row flags, each row's
    first output position, output length). Shared by Sparse- and RaggedFillEmptyRows."""
    wrong = np.flatnonzero((rows < 0) | (rows >= nrows))
    if wrong.size:
        i = int(wrong[0])
        raise bad(node, f"indices({i}, 0) is invalid: {int(rows[i])} >= {nrows}")
    check_size(node, [nrows], 8)
    counts = np.bincount(rows, minlength=nrows)
    empty = counts == 0
    per_row = np.maximum(counts, 1)  # an empty row gets its default entry
    row_start = np.cumsum(per_row) - per_row  # where each row begins in the output
    order = np.argsort(rows, kind="stable")
    grouped = rows[order]
    rank_in_row = np.arange(len(rows)) - (np.cumsum(counts) - counts)[grouped]
    position = np.empty(len(rows), np.int64)
    position[order] = row_start[grouped] + rank_in_row
    return position, empty, row_start, int(per_row.sum())


@kernel("SparseFillEmptyRows")
def sparse_fill_empty_rows(node, inputs, ctx):
    """Entries grouped by row (stably) with [row, 0, ...] = default added for each empty row."""
    indices, values, dense_shape, default = (_a(v) for v in inputs[:4])
    if dense_shape.ndim != 1 or dense_shape.size == 0:
        raise bad(node, "dense_shape must be a non-empty vector")
    if default.ndim != 0:
        raise bad(node, "default_value must be a scalar")
    sp = sparse_input(node, indices, values, dense_shape)
    position, empty, row_start, total = fill_empty_rows(node, sp.indices[:, 0], int(sp.shape[0]))
    out_idx = np.zeros((total, sp.rank), np.int64)
    out_val = np.empty(total, sp.values.dtype)
    out_idx[position] = sp.indices
    out_val[position] = sp.values
    empty_rows = np.flatnonzero(empty)
    out_idx[row_start[empty_rows], 0] = empty_rows
    out_val[row_start[empty_rows]] = default
    return [out_idx, out_val, empty, position]


# -- with dense operands --------------------------------------------------------------------

@kernel("SparseTensorDenseMatMul")
def sparse_tensor_dense_matmul(node, inputs, ctx):
    """op(A) @ op(B) for a sparse matrix A (repeated indices add up)."""
    indices, values, shape, b = (_a(v) for v in inputs[:4])
    if indices.ndim != 2 or indices.shape[1] != 2 or values.ndim != 1 or \
            indices.shape[0] != values.shape[0]:
        raise bad(node, "a_indices must be an (nnz, 2) matrix with one value per row")
    if shape.shape != (2,):
        raise bad(node, "Tensor 'a_shape' is not a vector of 2 elements")
    if b.ndim != 2:
        raise bad(node, "Tensor 'b' is not a matrix")
    adj_a, adj_b = node.attr["adjoint_a"], node.attr["adjoint_b"]
    rows, cols = int(shape[0]), int(shape[1])
    m, k = (cols, rows) if adj_a else (rows, cols)
    bk, n = (b.shape[1], b.shape[0]) if adj_b else b.shape
    if k != bk:
        raise bad(node, f"Cannot multiply A and B because inner dimension does not match: "
                        f"{k} vs. {bk}")
    idx = indices.astype(np.int64)
    im, ik = (idx[:, 1], idx[:, 0]) if adj_a else (idx[:, 0], idx[:, 1])
    for name, col, limit in (("m", im, m), ("k", ik, k)):
        wrong = np.flatnonzero((col < 0) | (col >= limit))
        if wrong.size:
            i = int(wrong[0])
            raise bad(node, f"{name} ({int(col[i])}) from index[{i}] out of bounds (>={limit})")
    check_size(node, [m, n], b.dtype.itemsize)
    vals = np.conj(values) if adj_a else values
    bb = np.conj(b.T) if adj_b else b
    out = np.zeros((m, n), np.result_type(vals.dtype, b.dtype))
    np.add.at(out, im, vals[:, None] * bb[ik])
    return out.astype(b.dtype)


@kernel("SparseDenseCwiseAdd", "SparseDenseCwiseMul", "SparseDenseCwiseDiv")
def sparse_dense_cwise(node, inputs, ctx):
    """sp_values op dense[index], the dense operand broadcast to the sparse shape."""
    sp = sparse_input(node, *inputs[:3], name="sp")
    dense = _a(inputs[3])
    shape = tuple(sp.shape.tolist())
    ok = dense.ndim <= len(shape) and all(
        d in (1, s) for d, s in zip(dense.shape[::-1], shape[::-1]))
    if not ok:
        raise bad(node, f"SparseDenseBinaryOpShared broadcasts dense to sparse only; got "
                        f"incompatible shapes: {list(shape)} vs. {list(dense.shape)}")
    if not _in_bounds(sp.indices, sp.shape).all():
        raise bad(node, "Provided indices are out-of-bounds w.r.t. dense side with broadcasted "
                        "shape")
    if node.op == "SparseDenseCwiseDiv" and (dense == 0).any():
        raise bad(node, "SparseDenseCwiseDiv cannot divide by zero, but input dense tensor "
                        "contains zero")
    lead = len(shape) - dense.ndim
    cols = [np.where(np.array(dense.shape)[d] == 1, 0, sp.indices[:, lead + d])
            for d in range(dense.ndim)]
    picked = dense[tuple(cols)] if dense.ndim else np.broadcast_to(dense, sp.values.shape)
    with np.errstate(all="ignore"):
        if node.op == "SparseDenseCwiseAdd":
            out = sp.values + picked
        elif node.op == "SparseDenseCwiseMul":
            out = sp.values * picked
        elif sp.values.dtype.kind in "iu":
            q = np.abs(sp.values) // np.abs(picked)  # C division truncates toward zero
            out = np.where((sp.values < 0) != (picked < 0), -q, q)
        else:
            out = sp.values / picked
    return out.astype(sp.values.dtype)


@kernel("SparseSoftmax")
def sparse_softmax(node, inputs, ctx):
    """Softmax over the last dimension of each group; values come out in row-major order."""
    sp = sparse_input(node, *inputs[:3], name="sp")
    if sp.rank < 2:
        raise bad(node, f"Input should have rank >= 2, but received shape: {sp.shape.tolist()}")
    order = lex_order(sp.indices)
    keys = sp.indices[order][:, :-1]
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    vals = sp.values[order]
    work = vals.astype(np.float32) if vals.dtype == np.float16 else vals
    n = int(ids.max()) + 1 if ids.size else 0
    top = np.full(n, -np.inf, work.dtype)
    np.maximum.at(top, ids, work)
    with np.errstate(all="ignore"):
        e = np.exp(work - top[ids])
        total = np.zeros(n, work.dtype)
        np.add.at(total, ids, e)
        return (e / total[ids]).astype(vals.dtype)


# SparseMatMul is a dense matrix product (a_is_sparse/b_is_sparse only pick TF's algorithm).
@kernel("SparseMatMul")
def sparse_mat_mul(node, inputs, ctx):
    a, b = _a(inputs[0]), _a(inputs[1])
    if a.ndim != 2 or b.ndim != 2:
        raise bad(node, "SparseMatMul takes two matrices")
    a = a.T if node.attr["transpose_a"] else a
    b = b.T if node.attr["transpose_b"] else b
    if a.shape[1] != b.shape[0]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: "
                        f"{list(b.shape)}")
    return np.matmul(a.astype(np.float32), b.astype(np.float32))


# -- edit distance: tensorflow/tensorflow tensorflow/core/kernels/edit_distance_op.cc ------------

def _levenshtein(s: list, t: list) -> int:
    if not s:
        return len(t)
    if not t:
        return len(s)
    prev = list(range(len(t) + 1))
    for i, x in enumerate(s, 1):
        cur = [i] + [0] * len(t)
        for j, y in enumerate(t, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def _sequences(sp: Sparse) -> dict[tuple, list]:
    """Values grouped by all but the last index, each group in index order."""
    out: dict[tuple, list] = {}
    order = lex_order(sp.indices)
    for i in order.tolist():
        out.setdefault(tuple(sp.indices[i, :-1].tolist()), []).append(sp.values[i])
    return out


@kernel("EditDistance", per_element=True)
def edit_distance(node, inputs, ctx):
    """Levenshtein distance per sequence (the last dimension), over the truth's length if
    normalize (a missing truth gives inf)."""
    hyp = sparse_input(node, *inputs[:3], name="hypothesis")
    truth = sparse_input(node, *inputs[3:6], name="truth")
    if hyp.rank != truth.rank:
        raise bad(node, "hypothesis and truth should have the same rank")
    if hyp.rank < 1:
        raise bad(node, "hypothesis and truth must have rank >= 1")
    out_shape = np.maximum(hyp.shape[:-1], truth.shape[:-1])
    check_size(node, out_shape.tolist(), 4)
    out = np.zeros(tuple(out_shape.tolist()), np.float32)
    hs, ts = _sequences(hyp), _sequences(truth)
    normalize = node.attr["normalize"]
    for key in set(hs) | set(ts):
        if any(k < 0 or k >= s for k, s in zip(key, out_shape.tolist())):
            raise bad(node, f"group {list(key)} is outside the output shape")
        h, t = hs.get(key, []), ts.get(key, [])
        d = float(_levenshtein(h, t))
        if normalize:
            d = d / len(t) if t else np.inf
        out[key] = d
    return out

