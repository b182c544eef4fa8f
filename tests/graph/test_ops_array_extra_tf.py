"""Array and math leftovers (Reverse, ReverseSequence, Bitcast, ConcatOffset, Inplace*,
TensorStridedSliceUpdate, ScatterNdNonAliasingAdd, PopulationCount, CumulativeLogsumexp...)
against ``tf.raw_ops``."""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, i32

CASES = Cases(seed=5104)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs

F = np.float32


def _array() -> None:
    x = f32(2, 3, 4)
    add("Reverse", "some", {}, tensor=x, dims=np.array([True, False, True]))
    add("Reverse", "none", {}, tensor=x, dims=np.array([False, False, False]))
    add("Reverse", "bad_len", {}, tensor=x, dims=np.array([True, False]))
    add("Reverse", "string", {}, tensor=np.array([b"a", b"b", b"c"], dtype=object), dims=np.array([True]))
    for seq_dim, batch_dim in ((1, 0), (0, 1), (2, 0)):
        lengths = np.array([1, 3, 0, 2][:x.shape[batch_dim]], np.int64)
        lengths = np.minimum(lengths, x.shape[seq_dim])
        add("ReverseSequence", f"s{seq_dim}_b{batch_dim}", {"seq_dim": seq_dim, "batch_dim": batch_dim},
            input=x, seq_lengths=lengths)
    add("ReverseSequence", "too_long", {"seq_dim": 1, "batch_dim": 0}, input=x, seq_lengths=i32(4, 1))
    add("ReverseSequence", "negative", {"seq_dim": 1, "batch_dim": 0}, input=x, seq_lengths=i32(-1, 1))
    add("ReverseSequence", "same_dims", {"seq_dim": 1, "batch_dim": 1}, input=x, seq_lengths=i32(1, 1, 1))
    add("ReverseSequence", "bad_count", {"seq_dim": 1, "batch_dim": 0}, input=x, seq_lengths=i32(1, 1, 1))
    ints = np.array([[1, -1, 2 ** 30, -(2 ** 31)]], np.int32)
    for to in ("uint8", "int16", "float32", "int32", "uint32"):
        add("Bitcast", f"int32_{to}", {"type": DT(to)}, input=ints)
    add("Bitcast", "uint8_int32", {"type": DT("int32")}, input=np.arange(8, dtype=np.uint8).reshape(2, 4))
    add("Bitcast", "uint8_int32_bad", {"type": DT("int32")}, input=np.arange(6, dtype=np.uint8).reshape(2, 3))
    add("Bitcast", "float64_complex", {"type": DT("complex64")}, input=np.array([1.5, -2.0], np.float64))
    add("ConcatOffset", "axis1", {}, concat_dim=np.int32(1), shape=[i32(2, 3, 5), i32(2, 7, 5), i32(2, 0, 5)])
    add("ConcatOffset", "negative_axis", {}, concat_dim=np.int32(-1), shape=[i32(2, 3), i32(2, 7)])
    add("ConcatOffset", "int64", {}, concat_dim=np.int32(0), shape=[np.int64([2, 3]), np.int64([4, 3])])
    add("ConcatOffset", "mismatch", {}, concat_dim=np.int32(1), shape=[i32(2, 3, 5), i32(3, 7, 5)])
    add("ConcatOffset", "bad_axis", {}, concat_dim=np.int32(3), shape=[i32(2, 3, 5), i32(2, 7, 5)])
    add("Empty", "init", {"dtype": DT("float32"), "init": True}, shape=i32(2, 3))
    add("Empty", "int_init", {"dtype": DT("int64"), "init": True}, shape=i32(0, 3))
    add("DeepCopy", "basic", {}, x=x)
    add("GuaranteeConst", "basic", {}, input=x)
    m = f32(4, 3)
    for op in ("InplaceUpdate", "InplaceAdd", "InplaceSub"):
        add(op, "rows", {}, x=m, i=i32(2, 0), v=f32(2, 3))
        add(op, "repeat", {}, x=m, i=i32(1, 1), v=f32(2, 3))
        add(op, "wrapping", {}, x=m, i=i32(4, -1), v=f32(2, 3))
        add(op, "bad_v", {}, x=m, i=i32(1), v=f32(1, 2))
    add("InplaceAdd", "int", {}, x=np.arange(6, dtype=np.int32).reshape(3, 2), i=i32(0), v=i32(5, 5).reshape(1, 2))
    upd = {"begin_mask": 0, "end_mask": 0}
    add("TensorStridedSliceUpdate", "block", upd, input=x, begin=i32(0, 1), end=i32(2, 3), strides=i32(1, 1),
        value=f32(2, 2, 4))
    add("TensorStridedSliceUpdate", "broadcast", upd, input=x, begin=i32(0, 1), end=i32(2, 3),
        strides=i32(1, 1), value=F(7.0))
    add("TensorStridedSliceUpdate", "stride_shrink", {"shrink_axis_mask": 1, "end_mask": 2}, input=x,
        begin=i32(1, 0, 1), end=i32(2, 0, 4), strides=i32(1, 2, 2), value=f32(2, 2))
    add("TensorStridedSliceUpdate", "negative_stride", {"begin_mask": 1, "end_mask": 1}, input=m,
        begin=i32(0), end=i32(0), strides=i32(-1), value=f32(4, 3))
    add("TensorStridedSliceUpdate", "bad_value", upd, input=x, begin=i32(0, 1), end=i32(2, 3),
        strides=i32(1, 1), value=f32(3))
    add("ScatterNdNonAliasingAdd", "basic", {}, input=m, indices=np.array([[0], [3], [0]], np.int32),
        updates=f32(3, 3))
    add("ScatterNdNonAliasingAdd", "elements", {}, input=m, indices=np.array([[0, 1], [3, 2]], np.int64),
        updates=f32(2))
    add("ScatterNdNonAliasingAdd", "out_of_range", {}, input=m, indices=np.array([[4]], np.int32),
        updates=f32(1, 3))


def _math() -> None:
    x = f32(3, 4)
    add("ApproximateEqual", "basic", {"tolerance": 0.1}, x=x, y=x + f32(3, 4) * F(0.1))
    add("ApproximateEqual", "float64", {}, x=x.astype(np.float64), y=x.astype(np.float64) + 1e-6)
    add("ApproximateEqual", "shapes", {}, x=x, y=f32(4))
    for excl in (False, True):
        for rev in (False, True):
            add("CumulativeLogsumexp", f"e{excl}_r{rev}", {"exclusive": excl, "reverse": rev},
                x=np.vstack([x, [-np.inf, 0, np.inf, 1000]]).astype(F), axis=np.int32(1))
    add("CumulativeLogsumexp", "axis0_f64", {}, x=x.astype(np.float64), axis=np.int32(0))
    add("CumulativeLogsumexp", "negative_axis", {}, x=x, axis=np.int32(-1))
    add("CumulativeLogsumexp", "half", {}, rtol=2e-3, x=x.astype(np.float16), axis=np.int32(0))
    add("CumulativeLogsumexp", "bad_axis", {}, x=x, axis=np.int32(2))
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        info = np.iinfo(dt)
        add("PopulationCount", np.dtype(dt).name, {},
            x=np.array([0, 1, info.max, info.min, info.max // 3, 5], dtype=dt))


def _isotonic() -> None:
    rows = np.array([[1, 3, 2, 4, 0.5], [5, 4, 3, 2, 1], [1, 1, 1, 2, 2], [0, 0, 0, 0, 0]], F)
    for dt in (np.float32, np.float64, np.float16, np.int32, np.int8):
        add("IsotonicRegression", np.dtype(dt).name, {"output_dtype": DT(
            "float64" if dt in (np.float64, np.int32) else "float16" if dt == np.float16 else "float32")},
            input=(rows * 3).astype(dt))
    add("IsotonicRegression", "random_3d", {}, input=f32(2, 3, 6))
    add("IsotonicRegression", "vector", {}, input=f32(7))
    for shape in ((3, 0), (0, 3), (0,)):  # empty rows, or none
        add("IsotonicRegression", "empty_" + "x".join(map(str, shape)), {}, input=np.zeros(shape, np.float32))


_array()
_math()
_isotonic()
test_kernel_matches_tensorflow = CASES.test()
