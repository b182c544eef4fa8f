"""Bincounts, sparse-output counts and histograms against ``tf.raw_ops``."""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, i32

CASES = Cases(seed=7302)
add = CASES.add
f32 = CASES.f32
WEIGHTS = [np.int32, np.int64, np.float32, np.float64]


def i64(*values) -> np.ndarray:
    return np.array(values, np.int64)


def _bincount() -> None:
    arr = i32(1, 1, 3, 0, 7, 2)
    for wt in WEIGHTS:
        add("Bincount", np.dtype(wt).name, arr=arr, size=np.int32(5),
            weights=np.arange(6).astype(wt))
        add("Bincount", f"{np.dtype(wt).name}_unweighted", arr=arr, size=np.int32(5),
            weights=np.zeros(0, wt))
    add("Bincount", "2d", arr=np.int32([[1, 2], [2, 2]]), size=np.int32(3),
        weights=np.zeros(0, np.float32))
    add("Bincount", "size0", arr=arr, size=np.int32(0), weights=np.zeros(0, np.float32))
    add("Bincount", "negative", arr=i32(1, -1), size=np.int32(3), weights=np.zeros(0, np.float32))
    add("Bincount", "negative_size", arr=arr, size=np.int32(-1), weights=np.zeros(0, np.float32))
    add("Bincount", "size_vector", arr=arr, size=i32(3), weights=np.zeros(0, np.float32))
    add("Bincount", "weights_mismatch", arr=i32(1, 2), size=np.int32(3), weights=f32(1))
    add("Bincount", "empty", arr=i32(), size=np.int32(2), weights=np.zeros(0, np.float32))

    for idx in (np.int32, np.int64):
        name = np.dtype(idx).name
        for wt in WEIGHTS:
            add("DenseBincount", f"{name}_{np.dtype(wt).name}", input=arr.astype(idx),
                size=idx(5), weights=np.arange(6).astype(wt))
        add("DenseBincount", f"{name}_2d", input=np.array([[1, 4, 1], [0, 0, 9]], idx),
            size=idx(5), weights=np.zeros(0, np.float32))
        add("DenseBincount", f"{name}_2d_weighted", input=np.array([[1, 4, 1], [0, 0, 9]], idx),
            size=idx(5), weights=f32(2, 3))
        for shape in ((6,), (2, 3)):
            add("DenseBincount", f"{name}_binary_{len(shape)}d", {"binary_output": True},
                input=arr.astype(idx).reshape(shape), size=idx(4), weights=f32(*shape))
    add("DenseBincount", "scalar", input=np.int32(1), size=np.int32(3),
        weights=np.zeros(0, np.float32))
    add("DenseBincount", "rank3", input=np.int32([[[1]]]), size=np.int32(3),
        weights=np.zeros(0, np.float32))
    add("DenseBincount", "negative_1d", input=i32(1, -1), size=np.int32(3),
        weights=np.zeros(0, np.float32))
    add("DenseBincount", "negative_2d", input=np.int32([[1, -1]]), size=np.int32(3),
        weights=np.zeros(0, np.float32))
    add("DenseBincount", "weights_shape", input=np.int32([[1, 1]]), size=np.int32(3),
        weights=f32(2))
    add("DenseBincount", "empty_2d", input=np.zeros((0, 3), np.int32), size=np.int32(3),
        weights=np.zeros(0, np.float32))


def _sparse_ragged() -> None:
    idx2 = np.int64([[0, 0], [0, 2], [1, 1], [3, 0]])
    vals = i32(1, 1, 5, 2)
    for wt in WEIGHTS:
        add("SparseBincount", f"2d_{np.dtype(wt).name}", indices=idx2, values=vals,
            dense_shape=i64(4, 3), size=np.int32(4), weights=np.arange(4).astype(wt))
        add("SparseBincount", f"1d_{np.dtype(wt).name}", indices=np.int64([[0], [2], [3]]),
            values=np.int64([1, 3, 3]), dense_shape=i64(5), size=np.int64(4),
            weights=np.arange(3).astype(wt))
    add("SparseBincount", "binary", {"binary_output": True}, indices=idx2, values=vals,
        dense_shape=i64(4, 3), size=np.int32(4), weights=np.zeros(0, np.float32))
    add("SparseBincount", "2d_negative_value", indices=idx2, values=i32(1, -1, 5, 2),
        dense_shape=i64(4, 3), size=np.int32(4), weights=np.zeros(0, np.float32))
    add("SparseBincount", "1d_negative_value", indices=np.int64([[0], [1]]), values=i32(1, -1),
        dense_shape=i64(3), size=np.int32(4), weights=np.zeros(0, np.float32))
    add("SparseBincount", "rank3", indices=np.int64([[0, 0, 0], [1, 1, 0]]), values=i32(1, 2),
        dense_shape=i64(2, 3, 1), size=np.int32(3), weights=np.zeros(0, np.float32))
    add("SparseBincount", "bad_batch", indices=np.int64([[0, 0], [2, 1]]), values=i32(1, 2),
        dense_shape=i64(2, 3), size=np.int32(3), weights=np.zeros(0, np.float32))
    add("SparseBincount", "negative_size", indices=idx2, values=vals, dense_shape=i64(4, 3),
        size=np.int32(-2), weights=np.zeros(0, np.float32))

    splits = i64(0, 2, 2, 5)
    for wt in WEIGHTS:
        add("RaggedBincount", np.dtype(wt).name, splits=splits, values=i32(1, 2, 0, 0, 7),
            size=np.int32(4), weights=np.arange(5).astype(wt))
    add("RaggedBincount", "binary", {"binary_output": True}, splits=splits,
        values=np.int64([1, 1, 0, 0, 3]), size=np.int64(4), weights=np.zeros(0, np.float32))
    add("RaggedBincount", "splits_down", splits=i64(0, 3, 2), values=i32(1, 2),
        size=np.int32(4), weights=np.zeros(0, np.float32))
    add("RaggedBincount", "splits_bad_start", splits=i64(1, 2), values=i32(1, 2),
        size=np.int32(4), weights=np.zeros(0, np.float32))
    add("RaggedBincount", "splits_bad_end", splits=i64(0, 1), values=i32(1, 2),
        size=np.int32(4), weights=np.zeros(0, np.float32))
    add("RaggedBincount", "splits_empty", splits=i64(), values=i32(), size=np.int32(4),
        weights=np.zeros(0, np.float32))
    add("RaggedBincount", "no_rows", splits=i64(0), values=i32(), size=np.int32(4),
        weights=np.zeros(0, np.float32))
    add("RaggedBincount", "negative", splits=i64(0, 2), values=i32(1, -2), size=np.int32(4),
        weights=np.zeros(0, np.float32))
    add("RaggedBincount", "values_2d", splits=i64(0, 2), values=np.int32([[1], [2]]),
        size=np.int32(4), weights=np.zeros(0, np.float32))


def _sparse_output() -> None:
    for wt in WEIGHTS:
        add("DenseCountSparseOutput", f"2d_{np.dtype(wt).name}", {"binary_output": False},
            values=np.int32([[1, 2, 2], [7, 7, 3]]), weights=np.arange(6).astype(wt).reshape(2, 3))
        add("SparseCountSparseOutput", np.dtype(wt).name, {"binary_output": False},
            indices=np.int64([[0, 0], [0, 1], [1, 1]]), values=np.int64([4, 4, 1]),
            dense_shape=i64(3, 2), weights=np.arange(3).astype(wt))
        add("RaggedCountSparseOutput", np.dtype(wt).name, {"binary_output": False},
            splits=i64(0, 2, 2, 5), values=i32(1, 2, 0, 0, 7), weights=np.arange(5).astype(wt))
    for binary in (False, True):
        for mn, mx in ((-1, -1), (9, -1), (-1, 3), (2, 5)):
            attrs = {"binary_output": binary, "minlength": mn, "maxlength": mx}
            tag = f"{'bin' if binary else 'count'}_{mn}_{mx}"
            add("DenseCountSparseOutput", f"1d_{tag}", attrs, values=np.int64([3, 1, 1, 6]),
                weights=np.zeros(0, np.float32))
            add("DenseCountSparseOutput", f"2d_{tag}", attrs,
                values=np.int32([[1, 2, 2], [7, 7, 3]]), weights=np.zeros(0, np.float32))
            add("SparseCountSparseOutput", tag, attrs,
                indices=np.int64([[0, 0], [0, 1], [2, 1]]), values=i32(4, 4, 1),
                dense_shape=i64(3, 2), weights=np.zeros(0, np.float32))
            add("RaggedCountSparseOutput", tag, attrs, splits=i64(0, 2, 2, 5),
                values=i32(1, 2, 0, 0, 7), weights=np.zeros(0, np.float32))
    no_w = np.zeros(0, np.float32)
    add("DenseCountSparseOutput", "negative", {"binary_output": False},
        values=i32(1, -1), weights=no_w)
    add("DenseCountSparseOutput", "empty_1d", {"binary_output": False}, values=i32(),
        weights=no_w)
    add("DenseCountSparseOutput", "no_rows", {"binary_output": False},
        values=np.zeros((0, 3), np.int32), weights=no_w)
    add("DenseCountSparseOutput", "rank3", {"binary_output": False},
        values=np.zeros((1, 1, 1), np.int32), weights=no_w)
    add("DenseCountSparseOutput", "weights_shape", {"binary_output": False},
        values=i32(1, 2), weights=np.float32([1, 2, 3]))
    add("SparseCountSparseOutput", "1d", {"binary_output": False},
        indices=np.int64([[0], [3]]), values=i32(2, 2), dense_shape=i64(5), weights=no_w)
    add("SparseCountSparseOutput", "rank3", {"binary_output": False},
        indices=np.int64([[0, 0, 0], [1, 1, 0]]), values=i32(1, 5), dense_shape=i64(2, 3, 1),
        weights=no_w)
    add("SparseCountSparseOutput", "index_out_of_shape", {"binary_output": False},
        indices=np.int64([[0, 0], [1, 3]]), values=i32(1, 5), dense_shape=i64(2, 3),
        weights=no_w)
    add("SparseCountSparseOutput", "negative", {"binary_output": False},
        indices=np.int64([[0, 0], [1, 1]]), values=i32(1, -5), dense_shape=i64(2, 3),
        weights=no_w)
    add("SparseCountSparseOutput", "shape_rank", {"binary_output": False},
        indices=np.int64([[0, 0], [1, 1]]), values=i32(1, 5), dense_shape=i64(2), weights=no_w)
    add("RaggedCountSparseOutput", "splits_down", {"binary_output": False},
        splits=i64(0, 3, 2, 5), values=i32(1, 2, 0, 0, 7), weights=no_w)
    add("RaggedCountSparseOutput", "splits_bad_end", {"binary_output": False},
        splits=i64(0, 3), values=i32(1, 2), weights=no_w)
    add("RaggedCountSparseOutput", "one_split", {"binary_output": False},
        splits=i64(0), values=i32(), weights=no_w)
    add("RaggedCountSparseOutput", "negative", {"binary_output": False},
        splits=i64(0, 2), values=i32(1, -2), weights=no_w)


def _histogram() -> None:
    for dt in (np.float32, np.float64):
        add("HistogramFixedWidth", np.dtype(dt).name,
            values=np.array([-1.0, 0, 1.5, 2, 4.999, 5, 7, 0.9999999], dt),
            value_range=np.array([0, 5], dt), nbins=np.int32(5))
        add("HistogramFixedWidth", f"{np.dtype(dt).name}_random", {"dtype": DT("int64")},
            values=(CASES.rs.standard_normal((4, 25)) * 3).astype(dt),
            value_range=np.array([-2.5, 3.1], dt), nbins=np.int32(7))
    for dt in (np.int32, np.int64):
        add("HistogramFixedWidth", np.dtype(dt).name, values=np.array([-1, 0, 1, 2, 5, 9], dt),
            value_range=np.array([0, 5], dt), nbins=np.int32(3))
    add("HistogramFixedWidth", "inf", values=np.float32([-np.inf, np.inf, 1]),
        value_range=np.float32([0, 2]), nbins=np.int32(2))
    add("HistogramFixedWidth", "nan", values=np.float32([np.nan, 1]),
        value_range=np.float32([0, 2]), nbins=np.int32(2))
    add("HistogramFixedWidth", "empty", values=np.zeros(0, np.float32),
        value_range=np.float32([0, 2]), nbins=np.int32(3))
    add("HistogramFixedWidth", "equal_range", values=np.float32([1]),
        value_range=np.float32([2, 2]), nbins=np.int32(3))
    add("HistogramFixedWidth", "nbins0", values=np.float32([1]),
        value_range=np.float32([0, 2]), nbins=np.int32(0))
    add("HistogramFixedWidth", "range3", values=np.float32([1]),
        value_range=np.float32([0, 2, 3]), nbins=np.int32(2))


_bincount()
_sparse_ragged()
_sparse_output()
_histogram()
test_kernel_matches_tensorflow = CASES.test()
