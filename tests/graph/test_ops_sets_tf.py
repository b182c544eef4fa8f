"""Set operations and SetSize against ``tf.raw_ops``."""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import Cases, s

CASES = Cases(seed=7305)
add = CASES.add
TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16]
OPS = ["a-b", "b-a", "intersection", "union"]


def i64(*rows) -> np.ndarray:
    return np.array(rows, np.int64)


A = np.array([[[1, 2, 2, 5], [3, 3, 3, 3]], [[9, 8, 7, 6], [0, 1, 0, 1]]])
B = np.array([[[2, 4, 5], [1, 2, 3]], [[6, 6, 6], [7, 8, 9]]])
# B as a SparseTensor (row-major, group (1, 1) empty), and an unsorted copy.
B_IND = i64([0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 2], [1, 0, 0], [1, 0, 2])
B_VAL = np.array([2, 4, 1, 3, 6, 6])
A_IND = i64([0, 0, 0], [0, 0, 1], [0, 0, 3], [0, 1, 1], [1, 1, 0])
A_VAL = np.array([5, 1, 5, 3, 0])


def _cases() -> None:
    for how in OPS:
        attrs = {"set_operation": how}
        for dt in TYPES:
            name = f"{how}_{np.dtype(dt).name}"
            add("DenseToDenseSetOperation", name, attrs, set1=A.astype(dt), set2=B.astype(dt))
            add("DenseToSparseSetOperation", name, attrs, set1=A.astype(dt), set2_indices=B_IND,
                set2_values=B_VAL.astype(dt), set2_shape=i64(2, 2, 3))
            add("SparseToSparseSetOperation", name, attrs, set1_indices=A_IND,
                set1_values=A_VAL.astype(dt), set1_shape=i64(2, 2, 4), set2_indices=B_IND,
                set2_values=B_VAL.astype(dt), set2_shape=i64(2, 2, 3))
        strs = np.array([[b"b", b"a", b"ab"], [b"", b"z", b""]], dtype=object)
        add("DenseToDenseSetOperation", f"{how}_string", attrs, set1=strs,
            set2=np.array([[b"a", b"c"], [b"", b"y"]], dtype=object))
        add("DenseToDenseSetOperation", f"{how}_rank2", attrs, set1=A[0], set2=B[0])
        add("DenseToDenseSetOperation", f"{how}_rank4", attrs, set1=A.reshape(2, 1, 2, 4),
            set2=B.reshape(2, 1, 2, 3))
        add("SparseToSparseSetOperation", f"{how}_string", attrs, set1_indices=i64([0, 0], [0, 1]),
            set1_values=s("x", "a"), set1_shape=i64(2, 2), set2_indices=i64([1, 0]),
            set2_values=s("q"), set2_shape=i64(2, 1))
    union = {"set_operation": "union"}
    add("DenseToDenseSetOperation", "group_mismatch", union, set1=A, set2=B[:1])
    add("DenseToDenseSetOperation", "rank1", union, set1=np.array([1, 2]), set2=np.array([2]))
    add("DenseToDenseSetOperation", "bad_operation", {"set_operation": "xor"}, set1=A, set2=B)
    add("DenseToDenseSetOperation", "empty_sets", union, set1=np.zeros((2, 0), np.int32),
        set2=np.zeros((2, 0), np.int32))
    add("DenseToSparseSetOperation", "unsorted", union, set1=A, set2_indices=B_IND[::-1],
        set2_values=B_VAL, set2_shape=i64(2, 2, 3))
    add("DenseToSparseSetOperation", "unsorted_unchecked",
        {"set_operation": "union", "validate_indices": False}, set1=A, set2_indices=B_IND[::-1],
        set2_values=B_VAL, set2_shape=i64(2, 2, 3))
    add("DenseToSparseSetOperation", "group_mismatch", union, set1=A, set2_indices=B_IND,
        set2_values=B_VAL, set2_shape=i64(2, 3, 3))
    add("DenseToSparseSetOperation", "out_of_bounds", union, set1=A,
        set2_indices=i64([0, 0, 5]), set2_values=B_VAL[:1], set2_shape=i64(2, 2, 3))
    add("SparseToSparseSetOperation", "empty", union, set1_indices=np.zeros((0, 2), np.int64),
        set1_values=np.zeros(0, np.int64), set1_shape=i64(3, 4),
        set2_indices=np.zeros((0, 2), np.int64), set2_values=np.zeros(0, np.int64),
        set2_shape=i64(3, 4))
    for how in OPS:
        add("SparseToSparseSetOperation", f"{how}_unsorted_unchecked",
            {"set_operation": how, "validate_indices": False}, set1_indices=A_IND[[3, 0, 4, 1, 2]],
            set1_values=A_VAL, set1_shape=i64(2, 2, 4), set2_indices=B_IND[::-1],
            set2_values=B_VAL, set2_shape=i64(2, 2, 3))
    add("SparseToSparseSetOperation", "unsorted", union, set1_indices=A_IND[::-1],
        set1_values=A_VAL, set1_shape=i64(2, 2, 4), set2_indices=B_IND, set2_values=B_VAL,
        set2_shape=i64(2, 2, 3))
    add("SparseToSparseSetOperation", "shape_mismatch", union, set1_indices=A_IND,
        set1_values=A_VAL, set1_shape=i64(2, 2, 4), set2_indices=B_IND, set2_values=B_VAL,
        set2_shape=i64(3, 2, 3))

    for dt in TYPES:
        add("SetSize", np.dtype(dt).name, set_indices=A_IND, set_values=A_VAL.astype(dt),
            set_shape=i64(2, 2, 4))
    add("SetSize", "string", set_indices=i64([0, 0], [0, 1], [1, 0]), set_values=s("a", "a", ""),
        set_shape=i64(3, 2))
    add("SetSize", "unsorted", set_indices=A_IND[::-1], set_values=A_VAL, set_shape=i64(2, 2, 4))
    add("SetSize", "unsorted_unchecked", {"validate_indices": False}, set_indices=A_IND[::-1],
        set_values=A_VAL, set_shape=i64(2, 2, 4))
    add("SetSize", "rank1", set_indices=i64([0]), set_values=np.array([3]), set_shape=i64(2))
    add("SetSize", "out_of_bounds", set_indices=i64([0, 9]), set_values=np.array([3]),
        set_shape=i64(2, 4))
    add("SetSize", "empty", set_indices=np.zeros((0, 3), np.int64),
        set_values=np.zeros(0, np.int32),
        set_shape=i64(2, 0, 4))


_cases()
test_kernel_matches_tensorflow = CASES.test()
