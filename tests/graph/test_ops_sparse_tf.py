"""SparseTensor kernels (reorder, reduce, merge, reshape, dense operands) against ``tf.raw_ops``."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import Cases, i32, s

CASES = Cases(seed=7304)
add = CASES.add
f32 = CASES.f32
BF16 = np.dtype(ml_dtypes.bfloat16)
INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOATS = [np.float16, np.float32, np.float64, BF16]
COMPLEX = [np.complex64, np.complex128]
NUMERIC = FLOATS + INTS + COMPLEX


def i64(*rows) -> np.ndarray:
    return np.array(rows, np.int64)


def _vals(dtype, n: int) -> np.ndarray:
    v = CASES.rs.randint(1, 6, size=n)
    if np.dtype(dtype).kind == "c":
        return (v - 2j * CASES.rs.randint(0, 3, size=n)).astype(dtype)
    return v.astype(dtype)


IND = i64([0, 1], [2, 0], [1, 2], [0, 0])  # deliberately not in row-major order
SHAPE = i64(3, 4)
IND3 = i64([0, 1, 1], [0, 0, 0], [1, 0, 2], [0, 1, 0], [1, 1, 2])
SHAPE3 = i64(2, 2, 3)
NO_IDX = np.zeros((0, 2), np.int64)


def _order_and_dense() -> None:
    for dt in NUMERIC + [np.bool_]:
        add("SparseReorder", np.dtype(dt).name, input_indices=IND,
            input_values=_vals(dt, 4) if dt is not np.bool_ else np.array([1, 0, 1, 1], bool),
            input_shape=SHAPE)
    add("SparseReorder", "string", input_indices=IND, input_values=s("a", "b", "c", "d"),
        input_shape=SHAPE)
    add("SparseReorder", "rank3", input_indices=IND3, input_values=f32(5), input_shape=SHAPE3)
    add("SparseReorder", "empty", input_indices=NO_IDX, input_values=f32(0), input_shape=SHAPE)
    add("SparseReorder", "out_of_bounds_kept", input_indices=i64([0, 9], [0, -1]),
        input_values=f32(2), input_shape=SHAPE)
    add("SparseReorder", "nnz_mismatch", input_indices=IND, input_values=f32(3),
        input_shape=SHAPE)
    add("SparseReorder", "rank_mismatch", input_indices=IND, input_values=f32(4),
        input_shape=i64(3, 4, 1))

    srt = i64([0, 0], [0, 1], [1, 2], [2, 0])
    for dt in NUMERIC + [np.bool_]:
        vals = _vals(dt, 4) if dt is not np.bool_ else np.array([1, 0, 1, 1], bool)
        add("SparseToDense", np.dtype(dt).name, sparse_indices=srt, output_shape=SHAPE,
            sparse_values=vals, default_value=vals[1])
    add("SparseToDense", "string", sparse_indices=srt, output_shape=SHAPE,
        sparse_values=s("a", "b", "c", "d"), default_value=np.array(b"-", dtype=object))
    add("SparseToDense", "int32_indices", sparse_indices=srt.astype(np.int32),
        output_shape=SHAPE.astype(np.int32), sparse_values=f32(4), default_value=np.float32(0))
    add("SparseToDense", "scalar_value", sparse_indices=srt, output_shape=SHAPE,
        sparse_values=np.float32(7), default_value=np.float32(-1))
    add("SparseToDense", "vector_indices", sparse_indices=np.int64([1, 3]),
        output_shape=i64(5), sparse_values=f32(2), default_value=np.float32(0))
    add("SparseToDense", "scalar_index", sparse_indices=np.int64(1), output_shape=i64(3),
        sparse_values=np.float32(5), default_value=np.float32(0))
    add("SparseToDense", "unsorted", sparse_indices=IND, output_shape=SHAPE,
        sparse_values=f32(4), default_value=np.float32(0))
    add("SparseToDense", "unsorted_unchecked", {"validate_indices": False}, sparse_indices=IND,
        output_shape=SHAPE, sparse_values=f32(4), default_value=np.float32(0))
    add("SparseToDense", "repeated", sparse_indices=i64([0, 0], [0, 0]), output_shape=SHAPE,
        sparse_values=f32(2), default_value=np.float32(0))
    add("SparseToDense", "out_of_bounds", sparse_indices=i64([0, 4]), output_shape=SHAPE,
        sparse_values=f32(1), default_value=np.float32(0))
    add("SparseToDense", "out_of_bounds_unchecked", {"validate_indices": False},
        sparse_indices=i64([3, 0]), output_shape=SHAPE, sparse_values=f32(1),
        default_value=np.float32(0))
    add("SparseToDense", "scalar_shape", sparse_indices=np.int64(1), output_shape=np.int64(3),
        sparse_values=np.float32(5), default_value=np.float32(0))
    add("SparseToDense", "values_mismatch", sparse_indices=srt, output_shape=SHAPE,
        sparse_values=f32(3), default_value=np.float32(0))
    add("SparseToDense", "default_vector", sparse_indices=srt, output_shape=SHAPE,
        sparse_values=f32(4), default_value=f32(1))
    add("SparseToDense", "empty", sparse_indices=NO_IDX, output_shape=SHAPE,
        sparse_values=f32(0), default_value=np.float32(3))

    for dt in NUMERIC:
        add("SparseTensorDenseAdd", np.dtype(dt).name, a_indices=IND, a_values=_vals(dt, 4),
            a_shape=SHAPE, b=_vals(dt, 12).reshape(3, 4))
    add("SparseTensorDenseAdd", "int32_indices", a_indices=IND.astype(np.int32),
        a_values=f32(4), a_shape=SHAPE.astype(np.int32), b=f32(3, 4))
    add("SparseTensorDenseAdd", "repeated", a_indices=i64([0, 0], [0, 0]), a_values=f32(2),
        a_shape=SHAPE, b=f32(3, 4))
    add("SparseTensorDenseAdd", "rank_mismatch", a_indices=IND, a_values=f32(4), a_shape=SHAPE,
        b=f32(4))
    add("SparseTensorDenseAdd", "shape_mismatch", a_indices=IND, a_values=f32(4), a_shape=SHAPE,
        b=f32(3, 5))
    add("SparseTensorDenseAdd", "out_of_bounds", a_indices=i64([0, 9]), a_values=f32(1),
        a_shape=SHAPE, b=f32(3, 4))


def _reductions() -> None:
    for op in ("SparseReduceSum", "SparseReduceMax", "SparseReduceSumSparse",
               "SparseReduceMaxSparse"):
        types = NUMERIC if "Sum" in op else FLOATS + INTS
        for dt in types:
            vals = _vals(dt, 5)
            if np.dtype(dt).kind in "iu" or dt is BF16 or np.dtype(dt).kind == "f":
                vals = (vals.astype(np.int64) - 3).astype(dt) if np.dtype(dt).kind != "u" \
                    else vals
            add(op, np.dtype(dt).name, input_indices=IND3, input_values=vals,
                input_shape=SHAPE3, reduction_axes=i32(1))
        for axes in ((0,), (2,), (-1,), (0, 2), (0, 1, 2), (), (1, 1)):
            tag = "_".join(str(a) for a in axes) or "none"
            add(op, f"axes_{tag}", input_indices=IND3, input_values=f32(5),
                input_shape=SHAPE3, reduction_axes=np.array(axes, np.int32))
            add(op, f"axes_{tag}_keep", {"keep_dims": True}, input_indices=IND3,
                input_values=f32(5), input_shape=SHAPE3, reduction_axes=np.array(axes, np.int32))
        add(op, "repeated_index", input_indices=i64([0, 1], [0, 1]),
            input_values=np.float32([2, 3]), input_shape=SHAPE, reduction_axes=i32(1))
        add(op, "empty", input_indices=NO_IDX, input_values=f32(0), input_shape=SHAPE,
            reduction_axes=i32(0))
        add(op, "bad_axis", input_indices=IND, input_values=f32(4), input_shape=SHAPE,
            reduction_axes=i32(2))
        add(op, "scalar_axis", input_indices=IND, input_values=f32(4), input_shape=SHAPE,
            reduction_axes=np.int32(-2))
    add("SparseReduceSum", "reduced_index_out_of_bounds", input_indices=i64([0, 7]),
        input_values=f32(1), input_shape=SHAPE, reduction_axes=i32(1))
    add("SparseReduceSum", "kept_index_out_of_bounds", input_indices=i64([7, 0]),
        input_values=f32(1), input_shape=SHAPE, reduction_axes=i32(1))
    # TF's reduction folds in order: a NaN is replaced by the next value.
    add("SparseReduceMax", "nan", input_indices=i64([0, 0], [0, 1], [0, 2], [1, 0], [1, 1]),
        input_values=np.float32([1, np.nan, 0, 4, np.nan]), input_shape=SHAPE,
        reduction_axes=i32(1))
    add("SparseReduceMax", "inf", input_indices=i64([0, 0], [0, 1]),
        input_values=np.float32([-np.inf, -np.inf]), input_shape=SHAPE, reduction_axes=i32(1))


def _merges() -> None:
    a_i, b_i = i64([0, 0], [1, 1], [2, 3]), i64([0, 0], [1, 1], [1, 2])
    for dt in NUMERIC:
        real = np.float32 if np.dtype(dt).kind == "c" else dt
        if dt is BF16 or dt is np.float16:
            real = dt
        add("SparseAdd", np.dtype(dt).name, a_indices=a_i, a_values=_vals(dt, 3), a_shape=SHAPE,
            b_indices=b_i, b_values=_vals(dt, 3), b_shape=SHAPE,
            thresh=np.array(4, real if np.dtype(dt).kind != "c" else np.float32))
    av, bv = np.float32([1, -2, 3]), np.float32([-1, 2.5, 4])
    for t in (0.0, 0.6, -1.0, 10.0):
        add("SparseAdd", f"thresh_{t}", a_indices=a_i, a_values=av, a_shape=SHAPE,
            b_indices=b_i, b_values=bv, b_shape=SHAPE, thresh=np.float32(t))
    add("SparseAdd", "unsorted", a_indices=a_i[::-1], a_values=av, a_shape=SHAPE,
        b_indices=b_i, b_values=bv, b_shape=SHAPE, thresh=np.float32(0))
    add("SparseAdd", "repeated", a_indices=i64([0, 0], [0, 0]), a_values=np.float32([1, 2]),
        a_shape=SHAPE, b_indices=i64([0, 0]), b_values=np.float32([5]), b_shape=SHAPE,
        thresh=np.float32(0))
    add("SparseAdd", "empty_a", a_indices=NO_IDX, a_values=f32(0), a_shape=SHAPE,
        b_indices=b_i, b_values=bv, b_shape=SHAPE, thresh=np.float32(0))
    add("SparseAdd", "both_empty", a_indices=NO_IDX, a_values=f32(0), a_shape=SHAPE,
        b_indices=NO_IDX, b_values=f32(0), b_shape=SHAPE, thresh=np.float32(0))
    add("SparseAdd", "out_of_bounds_kept", a_indices=i64([0, 9]), a_values=f32(1),
        a_shape=SHAPE, b_indices=b_i, b_values=bv, b_shape=SHAPE, thresh=np.float32(0))
    add("SparseAdd", "shape_mismatch", a_indices=a_i, a_values=av, a_shape=SHAPE,
        b_indices=b_i, b_values=bv, b_shape=i64(3, 5), thresh=np.float32(0))
    add("SparseAdd", "rank_mismatch", a_indices=a_i, a_values=av, a_shape=SHAPE,
        b_indices=i64([0, 0, 0]), b_values=f32(1), b_shape=i64(3, 4, 1), thresh=np.float32(0))
    add("SparseAdd", "thresh_vector", a_indices=a_i, a_values=av, a_shape=SHAPE,
        b_indices=b_i, b_values=bv, b_shape=SHAPE, thresh=np.float32([0]))
    add("SparseAdd", "rank3", a_indices=IND3[[1, 3, 0]], a_values=f32(3), a_shape=SHAPE3,
        b_indices=IND3[[3, 2, 4]], b_values=f32(3), b_shape=SHAPE3, thresh=np.float32(0))

    for op in ("SparseSparseMaximum", "SparseSparseMinimum"):
        for dt in FLOATS + INTS:
            av_ = _vals(dt, 3)
            add(op, np.dtype(dt).name, a_indices=a_i, a_values=av_, a_shape=SHAPE,
                b_indices=b_i, b_values=_vals(dt, 3), b_shape=SHAPE)
        add(op, "signs", a_indices=a_i, a_values=np.float32([1, -2, 5]), a_shape=SHAPE,
            b_indices=i64([0, 0], [2, 1], [2, 3]), b_values=np.float32([3, -4, -5]),
            b_shape=SHAPE)
        add(op, "unsorted", a_indices=i64([1, 1], [0, 0]), a_values=np.float32([1, -2]),
            a_shape=SHAPE, b_indices=i64([0, 0], [2, 1]), b_values=np.float32([3, -4]),
            b_shape=SHAPE)
        add(op, "empty_b", a_indices=a_i, a_values=av, a_shape=SHAPE, b_indices=NO_IDX,
            b_values=f32(0), b_shape=SHAPE)
        add(op, "out_of_bounds", a_indices=i64([0, 9]), a_values=f32(1), a_shape=SHAPE,
            b_indices=b_i, b_values=bv, b_shape=SHAPE)
        add(op, "shape_mismatch", a_indices=a_i, a_values=av, a_shape=SHAPE, b_indices=b_i,
            b_values=bv, b_shape=i64(3, 5))


def _reshaping() -> None:
    p0, p1 = i64([0, 1], [2, 0]), i64([0, 0], [1, 2])
    for dt in NUMERIC:
        add("SparseConcat", np.dtype(dt).name, {"concat_dim": 1}, indices=[p0, p1],
            values=[_vals(dt, 2), _vals(dt, 2)], shapes=[i64(3, 2), i64(3, 3)])
    add("SparseConcat", "string", {"concat_dim": 0}, indices=[p0, p1],
        values=[s("a", "b"), s("c", "d")], shapes=[i64(3, 3), i64(2, 3)])
    for dim in (0, 1, -1):
        shapes = [i64(3, 3), i64(2, 3)] if dim == 0 else [i64(3, 2), i64(3, 3)]
        add("SparseConcat", f"dim{dim}", {"concat_dim": dim}, indices=[p0, p1],
            values=[f32(2), f32(2)], shapes=shapes)
        add("SparseConcat", f"dim{dim}_unsorted", {"concat_dim": dim},
            indices=[p0[::-1], p1[::-1]], values=[f32(2), f32(2)], shapes=shapes)
    add("SparseConcat", "three_rank3", {"concat_dim": 2},
        indices=[IND3[:2], IND3[2:], i64([1, 1, 0])], values=[f32(2), f32(3), f32(1)],
        shapes=[SHAPE3, SHAPE3, i64(2, 2, 1)])
    add("SparseConcat", "empty_part", {"concat_dim": 0}, indices=[p0, NO_IDX],
        values=[f32(2), f32(0)], shapes=[i64(3, 3), i64(1, 3)])
    add("SparseConcat", "shape_mismatch", {"concat_dim": 1}, indices=[p0, p1],
        values=[f32(2), f32(2)], shapes=[i64(3, 2), i64(4, 3)])
    add("SparseConcat", "rank_mismatch", {"concat_dim": 0}, indices=[p0, i64([0, 0, 0])],
        values=[f32(2), f32(1)], shapes=[i64(3, 3), i64(1, 3, 1)])
    add("SparseConcat", "bad_dim", {"concat_dim": 2}, indices=[p0, p1],
        values=[f32(2), f32(2)], shapes=[i64(3, 2), i64(3, 3)])

    for dt in NUMERIC + [np.bool_]:
        vals = _vals(dt, 4) if dt is not np.bool_ else np.array([1, 0, 1, 1], bool)
        add("SparseSlice", np.dtype(dt).name, indices=IND, values=vals, shape=SHAPE,
            start=i64(0, 1), size=i64(2, 5))
    for tag, start, size in (("inside", (1, 1), (2, 2)), ("beyond", (5, 1), (2, 5)),
                             ("negative_start", (-1, 1), (2, 5)), ("all", (0, 0), (3, 4)),
                             ("zero_size", (0, 0), (0, 4))):
        add("SparseSlice", tag, indices=IND, values=f32(4), shape=SHAPE,
            start=np.int64(start), size=np.int64(size))
    add("SparseSlice", "rank3", indices=IND3, values=f32(5), shape=SHAPE3, start=i64(0, 1, 1),
        size=i64(2, 1, 5))
    add("SparseSlice", "negative_size", indices=IND, values=f32(4), shape=SHAPE,
        start=i64(0, 1), size=i64(2, -1))
    add("SparseSlice", "start_rank", indices=IND, values=f32(4), shape=SHAPE, start=i64(0),
        size=i64(2, 2))

    for dim, n in ((0, 3), (1, 3), (1, 2), (-1, 4), (0, 1)):
        add("SparseSplit", f"dim{dim}_{n}", {"num_split": n}, split_dim=np.int64(dim),
            indices=IND, values=f32(4), shape=SHAPE)
    add("SparseSplit", "string", {"num_split": 2}, split_dim=np.int64(1), indices=IND,
        values=s("a", "b", "c", "d"), shape=SHAPE)
    add("SparseSplit", "rank3", {"num_split": 2}, split_dim=np.int64(2), indices=IND3,
        values=f32(5), shape=SHAPE3)
    add("SparseSplit", "too_many", {"num_split": 5}, split_dim=np.int64(0), indices=IND,
        values=f32(4), shape=SHAPE)
    add("SparseSplit", "bad_dim", {"num_split": 2}, split_dim=np.int64(2), indices=IND,
        values=f32(4), shape=SHAPE)

    for tag, new in (("flat", (-1,)), ("2x6", (2, -1)), ("rank3", (2, 3, 2)), ("same", (3, 4)),
                     ("ones", (1, 12, 1))):
        add("SparseReshape", tag, input_indices=IND, input_shape=SHAPE, new_shape=np.int64(new))
    add("SparseReshape", "from_rank3", input_indices=IND3, input_shape=SHAPE3,
        new_shape=i64(3, -1))
    add("SparseReshape", "empty", input_indices=NO_IDX, input_shape=i64(0, 4),
        new_shape=i64(-1, 2))
    add("SparseReshape", "empty_zero_known", input_indices=NO_IDX, input_shape=i64(0, 4),
        new_shape=i64(0, -1))
    add("SparseReshape", "not_divisible", input_indices=IND, input_shape=SHAPE,
        new_shape=i64(5, -1))
    add("SparseReshape", "size_mismatch", input_indices=IND, input_shape=SHAPE,
        new_shape=i64(5, 2))
    add("SparseReshape", "two_unknown", input_indices=IND, input_shape=SHAPE,
        new_shape=i64(-1, -1))
    add("SparseReshape", "negative", input_indices=IND, input_shape=SHAPE, new_shape=i64(-2, -6))

    for dt in NUMERIC + [np.bool_]:
        vals = _vals(dt, 4) if dt is not np.bool_ else np.array([1, 0, 1, 1], bool)
        add("SparseFillEmptyRows", np.dtype(dt).name, indices=IND, values=vals,
            dense_shape=i64(5, 4), default_value=vals[0])
    add("SparseFillEmptyRows", "string", indices=IND, values=s("a", "b", "c", "d"),
        dense_shape=i64(5, 4), default_value=np.array(b"z", dtype=object))
    add("SparseFillEmptyRows", "unsorted", indices=i64([2, 0], [0, 1], [2, 1]), values=f32(3),
        dense_shape=i64(4, 4), default_value=np.float32(9))
    add("SparseFillEmptyRows", "rank3", indices=IND3, values=f32(5), dense_shape=i64(4, 2, 3),
        default_value=np.float32(-1))
    add("SparseFillEmptyRows", "no_rows", indices=NO_IDX, values=f32(0), dense_shape=i64(0, 4),
        default_value=np.float32(9))
    add("SparseFillEmptyRows", "no_entries", indices=NO_IDX, values=f32(0),
        dense_shape=i64(3, 4), default_value=np.float32(9))
    add("SparseFillEmptyRows", "row_out_of_bounds", indices=i64([5, 0]), values=f32(1),
        dense_shape=i64(4, 4), default_value=np.float32(9))
    add("SparseFillEmptyRows", "column_out_of_bounds", indices=i64([1, 9]), values=f32(1),
        dense_shape=i64(4, 4), default_value=np.float32(9))
    add("SparseFillEmptyRows", "default_vector", indices=IND, values=f32(4),
        dense_shape=i64(5, 4), default_value=f32(1))


def _dense_operands() -> None:
    for dt in [np.float16, np.float32, np.float64, BF16, np.int32, np.int64] + COMPLEX:
        add("SparseTensorDenseMatMul", np.dtype(dt).name, a_indices=IND, a_values=_vals(dt, 4),
            a_shape=SHAPE, b=_vals(dt, 8).reshape(4, 2), rtol=1e-2 if dt is BF16 else None)
    for adj_a in (False, True):
        for adj_b in (False, True):
            b = f32(2, 4) if adj_b else f32(4, 2)
            if adj_a:
                b = f32(2, 3) if adj_b else f32(3, 2)
            add("SparseTensorDenseMatMul", f"adj_{adj_a}_{adj_b}",
                {"adjoint_a": adj_a, "adjoint_b": adj_b}, a_indices=IND, a_values=f32(4),
                a_shape=SHAPE, b=b)
            add("SparseTensorDenseMatMul", f"complex_adj_{adj_a}_{adj_b}",
                {"adjoint_a": adj_a, "adjoint_b": adj_b}, a_indices=IND,
                a_values=_vals(np.complex64, 4), a_shape=SHAPE,
                b=(b + 1j * b[::-1, ::-1]).astype(np.complex64))
    add("SparseTensorDenseMatMul", "int32_indices", a_indices=IND.astype(np.int32),
        a_values=f32(4), a_shape=SHAPE, b=f32(4, 2))
    add("SparseTensorDenseMatMul", "repeated", a_indices=i64([0, 0], [0, 0]), a_values=f32(2),
        a_shape=SHAPE, b=f32(4, 2))
    add("SparseTensorDenseMatMul", "column_out_of_bounds", a_indices=i64([0, 9]),
        a_values=f32(1), a_shape=SHAPE, b=f32(4, 2))
    add("SparseTensorDenseMatMul", "row_out_of_bounds", a_indices=i64([7, 0]), a_values=f32(1),
        a_shape=SHAPE, b=f32(4, 2))
    add("SparseTensorDenseMatMul", "inner_mismatch", a_indices=IND, a_values=f32(4),
        a_shape=SHAPE, b=f32(3, 2))
    add("SparseTensorDenseMatMul", "b_rank3", a_indices=IND, a_values=f32(4), a_shape=SHAPE,
        b=f32(1, 4, 2))
    add("SparseTensorDenseMatMul", "empty", a_indices=NO_IDX, a_values=f32(0), a_shape=SHAPE,
        b=f32(4, 2))

    for op in ("SparseDenseCwiseAdd", "SparseDenseCwiseMul", "SparseDenseCwiseDiv"):
        for dt in NUMERIC:
            dense = _vals(dt, 4)
            add(op, np.dtype(dt).name, sp_indices=IND, sp_values=_vals(dt, 4), sp_shape=SHAPE,
                dense=dense)
        add(op, "column", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE,
            dense=np.float32([[1], [2], [3]]))
        add(op, "full", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE,
            dense=f32(3, 4) + 5)
        add(op, "scalar", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE,
            dense=np.float32(2))
        add(op, "rank3", sp_indices=IND3, sp_values=f32(5), sp_shape=SHAPE3,
            dense=np.float32([[2, 3, 4]]))
        add(op, "dense_bigger", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE,
            dense=f32(2, 3, 4))
        add(op, "incompatible", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE, dense=f32(3))
        add(op, "out_of_bounds", sp_indices=i64([0, 9]), sp_values=f32(1), sp_shape=SHAPE,
            dense=f32(3, 4))
    add("SparseDenseCwiseDiv", "zero", sp_indices=IND, sp_values=f32(4), sp_shape=SHAPE,
        dense=np.float32([1, 0, 2, 3]))
    add("SparseDenseCwiseDiv", "int_trunc", sp_indices=IND, sp_values=i32(-7, 7, -8, 9),
        sp_shape=SHAPE, dense=i32(2, -3, 4, 5))

    for dt in (np.float16, np.float32, np.float64):
        add("SparseSoftmax", np.dtype(dt).name, sp_indices=IND, sp_values=_vals(dt, 4),
            sp_shape=SHAPE)
    add("SparseSoftmax", "rank3_unsorted", sp_indices=IND3, sp_values=f32(5), sp_shape=SHAPE3)
    add("SparseSoftmax", "large", sp_indices=i64([0, 0], [0, 1], [1, 1]),
        sp_values=np.float32([1000, 999, -1000]), sp_shape=SHAPE)
    add("SparseSoftmax", "empty", sp_indices=NO_IDX, sp_values=f32(0), sp_shape=SHAPE)
    add("SparseSoftmax", "rank1", sp_indices=i64([1], [0]), sp_values=f32(2), sp_shape=i64(3))

    for ta in (False, True):
        for tb in (False, True):
            a = f32(3, 2) if ta else f32(2, 3)
            b = f32(4, 3) if tb else f32(3, 4)
            add("SparseMatMul", f"t{ta:d}{tb:d}", {"transpose_a": ta, "transpose_b": tb,
                                                   "a_is_sparse": True}, a=a, b=b)
    add("SparseMatMul", "bfloat16", a=f32(2, 3).astype(BF16), b=f32(3, 2), rtol=1e-2)
    add("SparseMatMul", "mismatch", a=f32(2, 3), b=f32(2, 3))


def _edit_distance() -> None:
    hyp = (i64([0, 0, 0], [1, 0, 0]), s("a", "b"), i64(2, 1, 1))
    truth = (i64([0, 1, 0], [1, 0, 0], [1, 0, 1]), s("a", "b", "c"), i64(2, 2, 2))
    for norm in (True, False):
        add("EditDistance", f"strings_{norm}", {"normalize": norm}, hypothesis_indices=hyp[0],
            hypothesis_values=hyp[1], hypothesis_shape=hyp[2], truth_indices=truth[0],
            truth_values=truth[1], truth_shape=truth[2])
    words = i64(*[[0, k] for k in range(5)], *[[1, k] for k in range(3)])
    add("EditDistance", "ints", hypothesis_indices=words, hypothesis_values=i32(1, 2, 3, 4, 5,
                                                                                 7, 8, 9),
        hypothesis_shape=i64(2, 5), truth_indices=words[[0, 1, 2, 5, 6, 7]],
        truth_values=i32(1, 3, 4, 7, 7, 9), truth_shape=i64(2, 4))
    add("EditDistance", "floats", {"normalize": False}, hypothesis_indices=words[:5],
        hypothesis_values=np.float32([1, np.nan, 3, 4, 5]), hypothesis_shape=i64(1, 5),
        truth_indices=words[:5], truth_values=np.float32([1, np.nan, 3, 4, 6]),
        truth_shape=i64(1, 5))
    add("EditDistance", "unsorted", hypothesis_indices=hyp[0][::-1], hypothesis_values=hyp[1],
        hypothesis_shape=hyp[2], truth_indices=truth[0], truth_values=truth[1],
        truth_shape=truth[2])
    add("EditDistance", "rank_mismatch", hypothesis_indices=i64([0, 0]), hypothesis_values=s("a"),
        hypothesis_shape=i64(1, 1), truth_indices=truth[0], truth_values=truth[1],
        truth_shape=truth[2])
    add("EditDistance", "empty", hypothesis_indices=np.zeros((0, 2), np.int64),
        hypothesis_values=s(), hypothesis_shape=i64(2, 3),
        truth_indices=np.zeros((0, 2), np.int64), truth_values=s(), truth_shape=i64(2, 3))


_order_and_dense()
_reductions()
_merges()
_reshaping()
_dense_operands()
_edit_distance()
test_kernel_matches_tensorflow = CASES.test()
