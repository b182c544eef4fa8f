"""Partition/stitch, ListDiff, UnravelIndex, searches and order statistics vs ``tf.raw_ops``."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import DT, Cases, i32, s

CASES = Cases(seed=7303)
add = CASES.add
f32 = CASES.f32
BF16 = np.dtype(ml_dtypes.bfloat16)
ANY = [np.float16, np.float32, np.float64, BF16, np.int8, np.int16, np.int32, np.int64,
       np.uint8, np.uint16, np.uint32, np.uint64, np.complex64, np.complex128, np.bool_]
REAL = [np.float16, np.float32, np.float64, BF16, np.int8, np.int16, np.int32, np.int64,
        np.uint8, np.uint16, np.uint32, np.uint64]


def _values(dtype, *shape) -> np.ndarray:
    v = CASES.rs.randint(0, 9, size=shape)
    if np.dtype(dtype).kind == "c":
        return (v + 1j * CASES.rs.randint(0, 9, size=shape)).astype(dtype)
    return v.astype(dtype)


def _partition_stitch() -> None:
    for dt in ANY:
        add("DynamicPartition", np.dtype(dt).name, {"num_partitions": 3},
            data=_values(dt, 5, 2), partitions=i32(1, 0, 1, 1, 2))
        add("DynamicStitch", np.dtype(dt).name, indices=[i32(0, 3), i32(5, 1)],
            data=[_values(dt, 2, 2), _values(dt, 2, 2)])
    add("DynamicPartition", "string", {"num_partitions": 2}, data=s("a", "b", "c"),
        partitions=i32(1, 0, 1))
    add("DynamicPartition", "partitions_2d", {"num_partitions": 2}, data=f32(2, 3, 2),
        partitions=np.int32([[0, 1, 1], [1, 0, 0]]))
    add("DynamicPartition", "scalar", {"num_partitions": 2}, data=np.float32(5),
        partitions=np.int32(1))
    add("DynamicPartition", "empty", {"num_partitions": 2}, data=np.zeros((0, 3), np.float32),
        partitions=i32())
    add("DynamicPartition", "out_of_range", {"num_partitions": 3}, data=f32(4),
        partitions=i32(1, 0, 3, 1))
    add("DynamicPartition", "negative", {"num_partitions": 3}, data=f32(2),
        partitions=i32(1, -1))
    add("DynamicPartition", "bad_prefix", {"num_partitions": 2}, data=f32(2, 2),
        partitions=i32(1, 0, 0))
    for op in ("DynamicStitch", "ParallelDynamicStitch"):
        add(op, "gaps", indices=[i32(0, 3), i32(5)], data=[f32(2), f32(1)])
        add(op, "matrix_indices", indices=[np.int32([[0, 1]]), i32(2)],
            data=[f32(1, 2, 3), f32(1, 3)])
        add(op, "empty", indices=[i32()], data=[np.zeros((0, 2), np.float32)])
        add(op, "string_gap", indices=[i32(0, 2)], data=[s("a", "b")])
        add(op, "negative", indices=[i32(0, -1)], data=[f32(2)])
        add(op, "bad_shape", indices=[i32(0, 1)], data=[f32(3)])
        add(op, "inner_mismatch", indices=[i32(0), i32(1)], data=[f32(1, 2), f32(1, 3)])
    add("DynamicStitch", "repeat_later_wins", indices=[i32(0, 1), i32(1)],
        data=[np.float32([1, 2]), np.float32([3])])


def _listdiff_unravel() -> None:
    for dt in (np.int32, np.int64, np.float32, np.float64):
        add("ListDiff", np.dtype(dt).name, x=np.array([1, 2, 3, 2, 5], dt), y=np.array([2, 7], dt))
    add("ListDiff", "idx64", {"out_idx": DT("int64")}, x=i32(4, 1), y=i32(1))
    add("ListDiff", "string", x=s("a", "b", "a", "c"), y=s("a"))
    add("ListDiff", "empty", x=i32(), y=i32(1))
    add("ListDiff", "all_removed", x=i32(1, 1), y=i32(1))
    add("ListDiff", "x_2d", x=np.int32([[1, 2]]), y=i32(2))
    add("ListDiff", "y_2d", x=i32(1, 2), y=np.int32([[2]]))
    # tf.sparse.from_dense of strings compares with ZerosLike: empty strings.
    add("ZerosLike", "string", x=np.array([[b"a", b""], [b"bc", b"d"]], dtype=object))
    for dt in (np.int32, np.int64):
        add("UnravelIndex", np.dtype(dt).name, indices=np.array([2, 5, 7, 0], dt),
            dims=np.array([3, 3], dt))
        add("UnravelIndex", f"{np.dtype(dt).name}_3d", indices=np.array([23, 0, 11], dt),
            dims=np.array([2, 3, 4], dt))
    add("UnravelIndex", "scalar", indices=np.int32(5), dims=i32(3, 3))
    add("UnravelIndex", "negative", indices=np.int32(-1), dims=i32(3, 3))
    add("UnravelIndex", "negative_vector", indices=i32(-4, -7), dims=i32(2, 5))
    add("UnravelIndex", "out_of_bound", indices=np.int32(9), dims=i32(3, 3))
    add("UnravelIndex", "zero_dim", indices=np.int32(0), dims=i32(3, 0))
    add("UnravelIndex", "negative_dim", indices=np.int32(0), dims=i32(3, -1))
    add("UnravelIndex", "indices_2d", indices=np.int32([[1]]), dims=i32(3, 3))
    add("UnravelIndex", "dims_scalar", indices=i32(1), dims=np.int32(3))
    add("UnravelIndex", "empty", indices=i32(), dims=i32(4, 2))


def _searches() -> None:
    sorted_in = np.float32([[1, 2, 2, 5], [0, 1, 1, 1], [-np.inf, 0, 0, np.inf]])
    values = np.float32([[2, 6, 0], [1, -1, 1.5], [0, -np.inf, np.inf]])
    for op in ("LowerBound", "UpperBound"):
        for dt in REAL:
            if np.dtype(dt).kind in "f" or dt is BF16:
                sv, vv = sorted_in.astype(dt), values.astype(dt)
            else:
                sv, vv = np.sort(_values(dt, 3, 5), axis=1), _values(dt, 3, 4)
            add(op, np.dtype(dt).name, sorted_inputs=sv, values=vv)
        add(op, "int64_out", {"out_type": DT("int64")}, sorted_inputs=np.int32([[1, 3, 3]]),
            values=np.int32([[3, 0, 4]]))
        add(op, "empty_rows", sorted_inputs=np.zeros((2, 0), np.float32), values=f32(2, 3))
        add(op, "no_values", sorted_inputs=f32(2, 3), values=np.zeros((2, 0), np.float32))
        add(op, "vector", sorted_inputs=f32(4), values=f32(2))
        add(op, "rank3", sorted_inputs=f32(1, 1, 4), values=f32(1, 1, 2))
        add(op, "batch_mismatch", sorted_inputs=f32(2, 4), values=f32(1, 2))

    for dt in REAL:
        add("NthElement", np.dtype(dt).name, input=_values(dt, 3, 5), n=np.int32(2))
        add("NthElement", f"{np.dtype(dt).name}_reverse", {"reverse": True},
            input=_values(dt, 3, 5), n=np.int32(1))
    add("NthElement", "rank3", input=f32(2, 3, 4), n=np.int32(3))
    add("NthElement", "vector", input=np.float32([3, -np.inf, 2, np.inf]), n=np.int32(0))
    add("NthElement", "n_too_big", input=f32(2, 3), n=np.int32(3))
    add("NthElement", "negative_n", input=f32(2, 3), n=np.int32(-1))
    add("NthElement", "scalar_input", input=np.float32(3), n=np.int32(0))
    add("NthElement", "n_vector", input=f32(2, 3), n=i32(1))

    preds = np.float32([[0.1, 0.5, 0.5, 0.2], [1, 2, 3, 4], [4, 3, 2, 1]])
    for t in (np.int32, np.int64):
        for k in (0, 1, 2, 4, -1):
            add("InTopK", f"{np.dtype(t).name}_k{k}", {"k": k}, predictions=preds,
                targets=np.array([1, 0, 0], t))
            add("InTopKV2", f"{np.dtype(t).name}_k{k}", predictions=preds,
                targets=np.array([2, 3, 1], t), k=t(k))
    add("InTopKV2", "out_of_range", predictions=preds, targets=i32(5, -1, 4), k=np.int32(4))
    add("InTopKV2", "non_finite", k=np.int32(4), targets=i32(2, 3, 0),
        predictions=np.float32([[0.1, np.nan, 0.5, 0.2], [1, np.inf, 3, 4], [-np.inf, 0, 0, 0]]))
    add("InTopKV2", "length_mismatch", predictions=preds, targets=i32(1, 2), k=np.int32(1))
    add("InTopKV2", "k_vector", predictions=preds, targets=i32(1, 2, 0), k=i32(1))
    add("InTopKV2", "no_classes", predictions=np.zeros((2, 0), np.float32), targets=i32(0, 0),
        k=np.int32(1))


_partition_stitch()
_listdiff_unravel()
_searches()
test_kernel_matches_tensorflow = CASES.test()
