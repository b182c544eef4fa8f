"""Ragged kernels (range, gather, to-sparse, to-tensor, fill-empty-rows) against ``tf.raw_ops``.

The variant ops (RaggedTensorToVariant / FromVariant) are checked end to end in
test_sparse_models_tf.py: a variant cannot cross the oracle's process boundary.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import DT, Cases, i32, s

CASES = Cases(seed=7308)
add = CASES.add
f32 = CASES.f32
BF16 = np.dtype(ml_dtypes.bfloat16)


def i64(*v) -> np.ndarray:
    return np.array(v, np.int64)


SPLITS = [i64(0, 1, 3), i64(0, 2, 2, 5)]  # ragged rank 2 over 5 values
TYPES = [np.float16, np.float32, np.float64, BF16, np.int8, np.int32, np.int64, np.uint8,
         np.complex64, np.bool_]


def _vals(dtype, *shape) -> np.ndarray:
    v = np.arange(1, int(np.prod(shape)) + 1).reshape(shape)
    return (v % 2 == 0) if dtype is np.bool_ else v.astype(dtype)


def _range() -> None:
    for dt in (np.int32, np.int64, np.float32, np.float64, BF16):
        add("RaggedRange", np.dtype(dt).name, starts=np.array([0, 5, 2, -3], dt),
            limits=np.array([3, 1, 2, 4], dt), deltas=np.array([1, -2, 1, 3], dt),
            rtol=1e-2 if dt is BF16 else None)
    add("RaggedRange", "float_steps", starts=np.float32([0, 1, 0.1]),
        limits=np.float32([1, 0, 2.9]), deltas=np.float32([0.3, -0.4, 0.7]))
    add("RaggedRange", "scalar_start", starts=np.int32(3), limits=i32(5, 7, 1), deltas=np.int32(1))
    add("RaggedRange", "all_scalars", starts=np.int64(-2), limits=np.int64(9), deltas=np.int64(4))
    add("RaggedRange", "splits32", {"Tsplits": DT("int32")}, starts=i32(0, 5),
        limits=i32(3, 1), deltas=i32(1, -2))
    add("RaggedRange", "empty", starts=i32(), limits=i32(), deltas=i32())
    add("RaggedRange", "zero_delta", starts=i32(0), limits=i32(5), deltas=i32(0))
    add("RaggedRange", "mismatch", starts=i32(0, 1), limits=i32(5, 1, 1), deltas=i32(1))
    add("RaggedRange", "matrix", starts=np.int32([[0]]), limits=np.int32([[5]]),
        deltas=np.int32([[1]]))


def _gather() -> None:
    for dt in TYPES + [object]:
        vals = _vals(dt, 5) if dt is not object else s("a", "b", "c", "d", "e")
        name = np.dtype(dt).name if dt is not object else "string"
        add("RaggedGather", name, {"OUTPUT_RAGGED_RANK": 1},
            params_nested_splits=[SPLITS[1]], params_dense_values=vals, indices=i32(2, 0, 2, 1))
    add("RaggedGather", "rank2_params", {"OUTPUT_RAGGED_RANK": 2},
        params_nested_splits=SPLITS, params_dense_values=f32(5, 2), indices=np.int64([1, 0, 1]))
    add("RaggedGather", "matrix_indices", {"OUTPUT_RAGGED_RANK": 2},
        params_nested_splits=[SPLITS[1]], params_dense_values=i32(1, 2, 3, 4, 5),
        indices=np.int32([[2, 0], [1, 1]]))
    add("RaggedGather", "rank3_indices", {"OUTPUT_RAGGED_RANK": 4},
        params_nested_splits=SPLITS, params_dense_values=f32(5),
        indices=np.int32([[[1], [0]], [[1], [1]]]))
    add("RaggedGather", "splits32", {"OUTPUT_RAGGED_RANK": 1},
        params_nested_splits=[SPLITS[1].astype(np.int32)], params_dense_values=f32(5),
        indices=i32(0, 2))
    add("RaggedGather", "no_indices", {"OUTPUT_RAGGED_RANK": 1},
        params_nested_splits=[SPLITS[1]], params_dense_values=f32(5), indices=i32())
    add("RaggedGather", "out_of_range", {"OUTPUT_RAGGED_RANK": 1},
        params_nested_splits=[SPLITS[1]], params_dense_values=f32(5), indices=i32(3))
    add("RaggedGather", "negative", {"OUTPUT_RAGGED_RANK": 1},
        params_nested_splits=[SPLITS[1]], params_dense_values=f32(5), indices=i32(-1))
    add("RaggedGather", "bad_splits", {"OUTPUT_RAGGED_RANK": 1},
        params_nested_splits=[i64(0, 3, 2, 5)], params_dense_values=f32(5), indices=i32(0))


def _to_sparse() -> None:
    for dt in TYPES:
        add("RaggedTensorToSparse", np.dtype(dt).name, rt_nested_splits=SPLITS,
            rt_dense_values=_vals(dt, 5))
    add("RaggedTensorToSparse", "inner_dims", rt_nested_splits=SPLITS,
        rt_dense_values=f32(5, 2, 3))
    add("RaggedTensorToSparse", "string", rt_nested_splits=[SPLITS[1]],
        rt_dense_values=s("a", "b", "c", "d", "e"))
    add("RaggedTensorToSparse", "splits32", rt_nested_splits=[SPLITS[1].astype(np.int32)],
        rt_dense_values=f32(5))
    add("RaggedTensorToSparse", "empty_rows", rt_nested_splits=[i64(0, 0, 0)],
        rt_dense_values=f32(0))
    add("RaggedTensorToSparse", "bad_end", rt_nested_splits=[i64(0, 1, 4)],
        rt_dense_values=f32(3))
    add("RaggedTensorToSparse", "decreasing", rt_nested_splits=[i64(0, 2, 1, 3)],
        rt_dense_values=f32(3))


def _to_tensor() -> None:
    both = ["ROW_SPLITS", "ROW_SPLITS"]
    unknown = np.int64(-1)
    for dt in TYPES:
        add("RaggedTensorToTensor", np.dtype(dt).name, {"row_partition_types": both},
            shape=unknown, values=_vals(dt, 5), default_value=_vals(dt, 1)[0],
            row_partition_tensors=SPLITS)
    add("RaggedTensorToTensor", "string", {"row_partition_types": ["ROW_SPLITS"]},
        shape=unknown, values=s("a", "b", "c"), default_value=np.array(b"-", object),
        row_partition_tensors=[i64(0, 2, 3)])
    for tag, shape in (("cut", (3, 1, 2)), ("partial", (-1, -1, 2)), ("grow", (4, 3, 4)),
                       ("exact", (2, 2, 3)), ("zero", (0, 2, 3))):
        add("RaggedTensorToTensor", f"shape_{tag}", {"row_partition_types": both},
            shape=np.int64(shape), values=i32(1, 2, 3, 4, 5), default_value=np.int32(-1),
            row_partition_tensors=SPLITS)
    add("RaggedTensorToTensor", "shape_int32", {"row_partition_types": ["ROW_SPLITS"]},
        shape=i32(-1, 2), values=f32(3), default_value=np.float32(0),
        row_partition_tensors=[i64(0, 2, 3)])
    rowids = ["FIRST_DIM_SIZE", "VALUE_ROWIDS"]
    add("RaggedTensorToTensor", "rowids", {"row_partition_types": rowids}, shape=unknown,
        values=i32(1, 2, 3, 4, 5), default_value=np.int32(0),
        row_partition_tensors=[np.int64(4), i64(0, 0, 2, 2, 3)])
    add("RaggedTensorToTensor", "rowids_rank2",
        {"row_partition_types": rowids + ["VALUE_ROWIDS"]}, shape=unknown,
        values=i32(1, 2, 3, 4, 5), default_value=np.int32(0),
        row_partition_tensors=[np.int64(2), i64(0, 1, 1), i64(0, 0, 2, 2, 2)])
    add("RaggedTensorToTensor", "rowids_cut", {"row_partition_types": rowids},
        shape=i64(2, 1), values=i32(1, 2, 3, 4, 5), default_value=np.int32(0),
        row_partition_tensors=[np.int64(4), i64(0, 0, 1, 1, 3)])
    add("RaggedTensorToTensor", "rowids_out_of_range", {"row_partition_types": rowids},
        shape=unknown, values=i32(1, 2, 3), default_value=np.int32(0),
        row_partition_tensors=[np.int64(2), i64(0, 0, 2)])
    splits = {"row_partition_types": ["ROW_SPLITS"]}
    add("RaggedTensorToTensor", "inner_default_vector", splits, shape=unknown,
        values=np.int32([[1, 1], [2, 2], [3, 3]]), default_value=i32(7, 8),
        row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "inner_default_scalar", splits, shape=i64(2, 3, 2),
        values=np.int32([[1, 1], [2, 2], [3, 3]]), default_value=np.int32(7),
        row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "inner_mismatch", splits, shape=i64(2, 3, 3),
        values=np.int32([[1, 1], [2, 2], [3, 3]]), default_value=np.int32(7),
        row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "inner_no_broadcast", splits, shape=i64(2, 3, 4),
        values=np.int32([[1], [2], [3]]), default_value=np.int32(7),
        row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "bad_default", splits, shape=unknown,
        values=np.int32([[1, 1], [2, 2], [3, 3]]), default_value=i32(7, 8, 9),
        row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "rank_mismatch", splits, shape=i64(4, 4, 4), values=i32(1, 2, 3),
        default_value=np.int32(0), row_partition_tensors=[i64(0, 2, 3)])
    add("RaggedTensorToTensor", "empty_values", splits, shape=unknown, values=i32(),
        default_value=np.int32(0), row_partition_tensors=[i64(0, 0, 0)])
    add("RaggedTensorToTensor", "empty_values_shape", splits, shape=i64(2, 3), values=i32(),
        default_value=np.int32(0), row_partition_tensors=[i64(0, 0, 0)])
    add("RaggedTensorToTensor", "no_rows", splits, shape=unknown, values=i32(),
        default_value=np.int32(0), row_partition_tensors=[i64(0)])
    add("RaggedTensorToTensor", "decreasing", splits, shape=unknown, values=i32(1, 2, 3),
        default_value=np.int32(0), row_partition_tensors=[i64(0, 2, 1, 3)])
    add("RaggedTensorToTensor", "splits32", {"row_partition_types": both}, shape=unknown,
        values=f32(5), default_value=np.float32(0),
        row_partition_tensors=[x.astype(np.int32) for x in SPLITS])


def _fill() -> None:
    for dt in TYPES:
        add("RaggedFillEmptyRows", np.dtype(dt).name, value_rowids=i64(0, 0, 2, 2),
            values=_vals(dt, 4), nrows=np.int64(4), default_value=_vals(dt, 1)[0])
    add("RaggedFillEmptyRows", "string", value_rowids=i64(1, 3), values=s("a", "b"),
        nrows=np.int64(5), default_value=np.array(b"", object))
    add("RaggedFillEmptyRows", "unsorted", value_rowids=i64(2, 0, 2), values=f32(3),
        nrows=np.int64(4), default_value=np.float32(9))
    add("RaggedFillEmptyRows", "no_values", value_rowids=i64(), values=f32(0),
        nrows=np.int64(3), default_value=np.float32(9))
    add("RaggedFillEmptyRows", "out_of_range", value_rowids=i64(5), values=f32(1),
        nrows=np.int64(4), default_value=np.float32(9))
    add("RaggedFillEmptyRows", "matrix_values", value_rowids=i64(0, 2), values=f32(2, 2),
        nrows=np.int64(3), default_value=np.float32(9))


_range()
_gather()
_to_sparse()
_to_tensor()
_fill()
test_kernel_matches_tensorflow = CASES.test()


# StringNGrams: the ragged n-grams behind tf.strings.ngrams and TextVectorization(ngrams=...).
NGRAMS = Cases(seed=7311)
_WORDS = s("the", "cat", "sat", "a", "b", "c", "d")
for _widths, _pad, _short in (([2], -1, False), ([1, 3], 0, False), ([2, 3], 1, False),
                              ([4], 0, True), ([5], 1, True), ([3], -1, True), ([2], 5, False)):
    NGRAMS.add("StringNGrams", f"w{'_'.join(map(str, _widths))}_p{_pad}_{_short}",
               {"separator": " ", "ngram_widths": _widths, "left_pad": "<s>",
                "right_pad": "</s>", "pad_width": _pad, "preserve_short_sequences": _short},
               data=_WORDS, data_splits=i64(0, 3, 3, 4, 7))
_NG = {"separator": "_", "ngram_widths": [2], "left_pad": "", "right_pad": "", "pad_width": 0,
       "preserve_short_sequences": False}
NGRAMS.add("StringNGrams", "splits32", _NG, data=_WORDS, data_splits=i32(0, 2, 7))
NGRAMS.add("StringNGrams", "empty", _NG, data=s(), data_splits=i64(0, 0))
NGRAMS.add("StringNGrams", "no_splits", _NG, data=_WORDS, data_splits=i64())
NGRAMS.add("StringNGrams", "bad_first", _NG, data=_WORDS, data_splits=i64(1, 7))
NGRAMS.add("StringNGrams", "bad_last", _NG, data=_WORDS, data_splits=i64(0, 5))
NGRAMS.add("StringNGrams", "zero_width", {**_NG, "ngram_widths": [0]}, data=_WORDS,
           data_splits=i64(0, 7))
test_string_ngrams = NGRAMS.test()
