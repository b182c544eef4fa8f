"""SparseTensor (de)serialization and the SparseTensorsMap's add ops against ``tf.raw_ops``."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from savedmodel_io import tensors

from .raw_ops_harness import DT, Cases, s

CASES = Cases(seed=7306)
add = CASES.add
f32 = CASES.f32
TYPES = [np.float16, np.float32, np.float64, np.dtype(ml_dtypes.bfloat16), np.int8, np.int16,
         np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.complex64,
         np.complex128, np.bool_]


def i64(*rows) -> np.ndarray:
    return np.array(rows, np.int64)


IND = i64([0, 1], [2, 0], [1, 2], [0, 0])
SORTED = i64([0, 0, 1], [0, 1, 0], [2, 0, 0], [2, 1, 1])


def _vals(dtype, n: int) -> np.ndarray:
    v = np.arange(1, n + 1)
    return (v % 2 == 0) if dtype is np.bool_ else v.astype(dtype)


def _proto(arr: np.ndarray, typed: bool) -> bytes:
    """A serialized TensorProto: as TF's C++ writes it, or with typed value fields."""
    tp = tensors.from_array(arr) if typed else tensors.to_content_proto(arr)
    return tp.SerializeToString()


def _serial(indices, values, shape, typed: bool = False) -> np.ndarray:
    out = np.empty(3, dtype=object)
    out[:] = [_proto(indices, typed), _proto(values, typed), _proto(shape, typed)]
    return out


def _cases() -> None:
    for dt in TYPES:
        name = np.dtype(dt).name
        add("SerializeSparse", name, sparse_indices=IND, sparse_values=_vals(dt, 4),
            sparse_shape=i64(3, 4))
        add("SerializeManySparse", name, sparse_indices=SORTED, sparse_values=_vals(dt, 4),
            sparse_shape=i64(3, 2, 2))
        one = _serial(IND, _vals(dt, 4), i64(3, 4))
        add("DeserializeSparse", name, {"dtype": DT(name)}, serialized_sparse=one)
    add("SerializeSparse", "string", sparse_indices=IND[:2], sparse_values=s("a", ""),
        sparse_shape=i64(3, 4))
    add("SerializeSparse", "empty", sparse_indices=np.zeros((0, 2), np.int64),
        sparse_values=f32(0), sparse_shape=i64(3, 4))
    add("SerializeSparse", "one_value", sparse_indices=IND[:1], sparse_values=f32(1),
        sparse_shape=i64(3, 4))
    add("SerializeSparse", "rank0", sparse_indices=np.zeros((1, 0), np.int64),
        sparse_values=f32(1), sparse_shape=np.zeros(0, np.int64))
    add("SerializeSparse", "nnz_mismatch", sparse_indices=IND, sparse_values=f32(3),
        sparse_shape=i64(3, 4))
    add("SerializeManySparse", "string", sparse_indices=SORTED, sparse_values=s("a", "b", "", "c"),
        sparse_shape=i64(3, 2, 2))
    add("SerializeManySparse", "empty_rows", sparse_indices=SORTED[:1], sparse_values=f32(1),
        sparse_shape=i64(4, 2, 2))
    add("SerializeManySparse", "unsorted", sparse_indices=SORTED[::-1], sparse_values=f32(4),
        sparse_shape=i64(3, 2, 2))
    add("SerializeManySparse", "repeated", sparse_indices=SORTED[[0, 0]], sparse_values=f32(2),
        sparse_shape=i64(3, 2, 2))
    add("SerializeManySparse", "out_of_bounds", sparse_indices=i64([5, 0, 0]),
        sparse_values=f32(1), sparse_shape=i64(3, 2, 2))
    add("SerializeManySparse", "rank1", sparse_indices=i64([2]), sparse_values=f32(1),
        sparse_shape=i64(3))
    add("SerializeManySparse", "no_rows", sparse_indices=np.zeros((0, 2), np.int64),
        sparse_values=f32(0), sparse_shape=i64(0, 4))

    a = _serial(IND, np.float32([1, 2, 3, 4]), i64(3, 4))
    b = _serial(i64([0, 0]), np.float32([7]), i64(2, 6), typed=True)
    c = _serial(np.zeros((0, 2), np.int64), f32(0), i64(1, 1))
    f = {"dtype": DT("float32")}
    add("DeserializeSparse", "batch", f, serialized_sparse=np.stack([a, b, c]))
    add("DeserializeSparse", "batch_2d", f,
        serialized_sparse=np.stack([a, b, c, a]).reshape(2, 2, 3))
    add("DeserializeSparse", "typed_fields", f, serialized_sparse=b)
    add("DeserializeSparse", "string", {"dtype": DT("string")},
        serialized_sparse=_serial(IND[:2], s("x", ""), i64(3, 4)))
    add("DeserializeSparse", "wrong_dtype", {"dtype": DT("int32")}, serialized_sparse=a)
    add("DeserializeSparse", "garbage", f, serialized_sparse=s("a", "b", "c"))
    add("DeserializeSparse", "rank_mismatch", f, serialized_sparse=np.stack(
        [a, _serial(i64([0]), f32(1), i64(2))]))
    add("DeserializeSparse", "no_tensors", f, serialized_sparse=np.zeros((0, 3), object))
    add("DeserializeSparse", "last_dim", f, serialized_sparse=s("a", "b"))
    add("DeserializeManySparse", "batch", f, serialized_sparse=np.stack([a, b, c]))
    add("DeserializeManySparse", "vector", f, serialized_sparse=a)
    add("DeserializeManySparse", "no_tensors", f, serialized_sparse=np.zeros((0, 3), object))

    for k, dt in enumerate((np.float32, np.int64, np.complex64)):
        name = np.dtype(dt).name
        add("AddSparseToTensorsMap", name, {"shared_name": f"serial_test_one_{k}"},
            sparse_indices=IND, sparse_values=_vals(dt, 4), sparse_shape=i64(3, 4))
    add("AddManySparseToTensorsMap", "rows", {"shared_name": "serial_test_many_rows"},
        sparse_indices=SORTED, sparse_values=f32(4), sparse_shape=i64(3, 2, 2))
    add("AddManySparseToTensorsMap", "empty_rows", {"shared_name": "serial_test_many_gaps"},
        sparse_indices=i64([1, 0, 0], [3, 1, 1], [3, 1, 2]), sparse_values=f32(3),
        sparse_shape=i64(6, 2, 3))
    add("AddManySparseToTensorsMap", "unsorted", {"shared_name": "serial_test_many_unsorted"},
        sparse_indices=SORTED[::-1], sparse_values=f32(4), sparse_shape=i64(3, 2, 2))
    add("AddManySparseToTensorsMap", "rank1", {"shared_name": "serial_test_many_rank1"},
        sparse_indices=i64([1]), sparse_values=f32(1), sparse_shape=i64(3))


_cases()
test_kernel_matches_tensorflow = CASES.test()
