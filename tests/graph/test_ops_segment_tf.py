"""Segment reductions (sorted, unsorted, sparse, string join) against ``tf.raw_ops``."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .raw_ops_harness import Cases, i32, s

CASES = Cases(seed=7301)
add = CASES.add
f32 = CASES.f32
BF16 = np.dtype(ml_dtypes.bfloat16)

# Every dtype TF's CPU kernels register for the segment ops (small integer values: exact in all).
NUMERIC = [np.float16, np.float32, np.float64, BF16, np.int8, np.int16, np.int32, np.int64,
           np.uint8, np.uint16, np.uint32, np.uint64, np.complex64, np.complex128]
REAL = [t for t in NUMERIC if np.dtype(t).kind != "c"]
SORTED = ["SegmentSum", "SegmentProd", "SegmentMean", "SegmentMax", "SegmentMin"]
UNSORTED = ["UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax",
            "UnsortedSegmentMin"]
SPARSE = ["SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN"]
NAN = np.float32(np.nan)
INF = np.float32(np.inf)


def _data(dtype, *shape) -> np.ndarray:
    vals = CASES.rs.randint(-3, 4, size=shape)
    if np.dtype(dtype).kind == "u":
        vals = np.abs(vals)
    if np.dtype(dtype).kind == "c":
        return (vals + 1j * CASES.rs.randint(-3, 4, size=shape)).astype(dtype)
    return vals.astype(dtype)


def _sorted() -> None:
    ids = i32(0, 0, 2, 2, 2, 5)
    for op in SORTED:
        for dt in NUMERIC if op in ("SegmentSum", "SegmentProd", "SegmentMean") else REAL:
            add(op, np.dtype(dt).name, data=_data(dt, 6, 3), segment_ids=ids)
        add(op, "ids64", data=f32(4), segment_ids=np.int64([0, 1, 1, 3]))
        add(op, "rank3", data=f32(3, 2, 2), segment_ids=i32(1, 1, 2))
        add(op, "empty", data=np.zeros((0, 2), np.float32), segment_ids=i32())
        add(op, "one_row", data=f32(1, 3), segment_ids=i32(0))
        add(op, "not_sorted", data=f32(3), segment_ids=i32(0, 2, 1))
        add(op, "negative_first", data=f32(3), segment_ids=i32(-1, 0, 2))
        add(op, "all_negative", data=f32(2), segment_ids=i32(-2, -1))
        add(op, "ids_2d", data=f32(2, 2), segment_ids=np.int32([[0], [1]]))
        add(op, "ids_short", data=f32(3), segment_ids=i32(0, 1))
        add(op, "scalar_data", data=np.float32(1), segment_ids=np.int32(0))
    add("SegmentMean", "int_trunc", data=i32(-3, -4, 5, 7, 2), segment_ids=i32(0, 0, 0, 1, 1))
    for op in ("SegmentMax", "SegmentMin"):
        # 1-D data: TF folds each segment in order (its multi-column path vectorises and
        # ignores NaN instead, so NaN cases stay 1-D).
        add(op, "nan", data=np.float32([1, NAN, 2, 3, NAN, NAN, 4, NAN, 1, 5]),
            segment_ids=i32(0, 0, 0, 1, 1, 2, 2, 3, 3, 3))
        add(op, "inf", data=np.float32([-INF, -INF, INF, INF]), segment_ids=i32(0, 0, 1, 1))
        add(op, "signed_zero", data=np.float32([-0.0, 0.0, 0.0, -0.0]),
            segment_ids=i32(0, 0, 1, 1))
        add(op, "int_extremes", data=np.int64([np.iinfo(np.int64).min, 3, np.iinfo(np.int64).max]),
            segment_ids=i32(0, 0, 1))


def _unsorted() -> None:
    ids = i32(3, 0, -1, 3, 1, 0)
    for op in UNSORTED:
        for dt in NUMERIC if op in ("UnsortedSegmentSum", "UnsortedSegmentProd") else REAL:
            add(op, np.dtype(dt).name, data=_data(dt, 6, 2), segment_ids=ids,
                num_segments=np.int32(5))
        add(op, "ids_2d", data=f32(2, 3, 2), segment_ids=np.int64([[0, 1, 1], [2, -1, 0]]),
            num_segments=np.int64(3))
        add(op, "zero_segments", data=np.zeros((0, 2), np.float32), segment_ids=i32(),
            num_segments=np.int32(0))
        add(op, "empty_data", data=np.zeros((0, 3), np.float32), segment_ids=i32(),
            num_segments=np.int32(2))
        add(op, "out_of_range", data=f32(3), segment_ids=i32(0, 3, 1), num_segments=np.int32(3))
        add(op, "negative_n", data=f32(3), segment_ids=i32(0, 1, 1), num_segments=np.int32(-1))
        add(op, "n_vector", data=f32(3), segment_ids=i32(0, 1, 1), num_segments=i32(2))
        add(op, "bad_prefix", data=f32(3, 2), segment_ids=i32(0, 1), num_segments=np.int32(2))
    for op in ("UnsortedSegmentMax", "UnsortedSegmentMin"):
        add(op, "nan_wide", data=np.float32([[1, NAN, 3, 4, 5, 9], [NAN, 2, NAN, 1, 1, NAN],
                                             [3, 3, 3, NAN, 1, 1]]),
            segment_ids=i32(0, 0, 0), num_segments=np.int32(2))
        add(op, "inf", data=np.float32([-INF, INF, -INF, INF]), segment_ids=i32(0, 0, 1, 1),
            num_segments=np.int32(2))
        add(op, "signed_zero", data=np.float32([-0.0, 0.0, 0.0, -0.0]),
            segment_ids=i32(0, 0, 1, 1), num_segments=np.int32(2))
    add("UnsortedSegmentSum", "ids_int16", data=f32(3), segment_ids=np.int16([0, 1, 1]),
        num_segments=np.int32(2))


def _sparse() -> None:
    data = f32(5, 3)
    idx, ids = i32(0, 4, 1, 1, 3), i32(0, 0, 2, 2, 4)
    for op in SPARSE:
        for dt in ([np.float16, np.float32, np.float64, BF16] if op != "SparseSegmentSum" else
                   [np.float16, np.float32, np.float64, BF16, np.int8, np.int16, np.int32,
                    np.int64, np.uint8, np.uint16, np.uint32, np.uint64]):
            add(op, np.dtype(dt).name, data=_data(dt, 5, 3), indices=idx, segment_ids=ids)
        add(op, "idx64", data=data, indices=idx.astype(np.int64), segment_ids=ids.astype(np.int64))
        add(op, "empty", data=data, indices=i32(), segment_ids=i32())
        add(op, "not_sorted", data=data, indices=idx, segment_ids=i32(0, 2, 0, 2, 4))
        add(op, "negative_id", data=data, indices=idx, segment_ids=i32(-1, 0, 2, 2, 4))
        add(op, "bad_index", data=data, indices=i32(0, 5, 1, 1, 3), segment_ids=ids)
        add(op, "negative_index", data=data, indices=i32(0, -1, 1, 1, 3), segment_ids=ids)
        add(op, "size_mismatch", data=data, indices=i32(0, 1), segment_ids=i32(0))
        add(op, "rank3", data=f32(3, 2, 2), indices=i32(2, 0), segment_ids=i32(1, 1))
        wn = op + "WithNumSegments"
        add(wn, "more", data=data, indices=idx, segment_ids=ids, num_segments=np.int32(7))
        add(wn, "exact", data=data, indices=idx, segment_ids=ids, num_segments=np.int64(5))
        add(wn, "too_few", data=data, indices=idx, segment_ids=ids, num_segments=np.int32(4))
        add(wn, "empty", data=data, indices=i32(), segment_ids=i32(), num_segments=np.int32(2))
        add(wn, "not_sorted", data=data, indices=idx, segment_ids=i32(2, 0, 2, 2, 4),
            num_segments=np.int32(5))


def _join() -> None:
    add("UnsortedSegmentJoin", "basic", {"separator": ":"}, inputs=s("a", "b", "c", "d"),
        segment_ids=i32(1, 0, 1, 1), num_segments=np.int32(3))
    add("UnsortedSegmentJoin", "matrix", {"separator": ", "},
        inputs=np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object), segment_ids=i32(1, 1),
        num_segments=np.int64(2))
    add("UnsortedSegmentJoin", "ids_2d", inputs=np.array([[b"a", b"b"], [b"c", b""]], dtype=object),
        segment_ids=np.int64([[1, 0], [1, 1]]), num_segments=np.int32(2))
    add("UnsortedSegmentJoin", "empty", inputs=s(), segment_ids=i32(), num_segments=np.int32(2))
    add("UnsortedSegmentJoin", "negative", inputs=s("a", "b"), segment_ids=i32(0, -1),
        num_segments=np.int32(2))
    add("UnsortedSegmentJoin", "too_big", inputs=s("a", "b"), segment_ids=i32(0, 2),
        num_segments=np.int32(2))
    add("UnsortedSegmentJoin", "bad_prefix", inputs=s("a", "b"), segment_ids=i32(0),
        num_segments=np.int32(2))


_sorted()
_unsorted()
_sparse()
_join()
test_kernel_matches_tensorflow = CASES.test()

