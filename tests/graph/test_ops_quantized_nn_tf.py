"""TensorFlow's eight-bit reference kernels (QuantizedMatMul, QuantizedConv2D...) against ``tf.raw_ops``.

Inputs are quint8 (the type TF's eight-bit graph rewrite produces) and, where TF registers
them, qint8/qint32; ranges include unbalanced ones (zero point far from the middle) and
degenerate ones. Results must be bit-exact.
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, quantized

CASES = Cases(seed=5102)
add = CASES.add
RS = CASES.rs

F = np.float32


def u8(*shape: int):
    return quantized("quint8", RS.randint(0, 256, size=shape))


def s8(*shape: int):
    return quantized("qint8", RS.randint(-128, 128, size=shape))


def s32(*shape: int, span: int = 1 << 20):
    return quantized("qint32", RS.randint(-span, span, size=shape))


RANGES = {"balanced": (F(-1.0), F(1.0)), "unbalanced": (F(-0.3), F(6.2)), "positive": (F(0.0), F(2.5))}


def _matmul_conv() -> None:
    for name, (lo, hi) in RANGES.items():
        add("QuantizedMatMul", name, {}, a=u8(3, 4), b=u8(4, 5), min_a=lo, max_a=hi,
            min_b=F(-2.0), max_b=F(0.5))
    add("QuantizedMatMul", "transposed", {"transpose_a": True, "transpose_b": True},
        a=u8(4, 3), b=u8(5, 4), min_a=F(-1), max_a=F(3), min_b=F(-2), max_b=F(2))
    add("QuantizedMatMul", "empty", {}, a=u8(0, 4), b=u8(4, 2), min_a=F(-1), max_a=F(1),
        min_b=F(-1), max_b=F(1))
    add("QuantizedMatMul", "mismatch", {}, a=u8(3, 4), b=u8(3, 2), min_a=F(-1), max_a=F(1),
        min_b=F(-1), max_b=F(1))
    add("QuantizedMatMul", "not_matrix", {}, a=u8(3), b=u8(3, 2), min_a=F(-1), max_a=F(1),
        min_b=F(-1), max_b=F(1))
    for pad in ("SAME", "VALID"):
        for stride in (1, 2):
            add("QuantizedConv2D", f"{pad}_{stride}", {"strides": [1, stride, stride, 1], "padding": pad},
                input=u8(2, 5, 6, 3), filter=u8(3, 2, 3, 4), min_input=F(-0.5), max_input=F(4.0),
                min_filter=F(-1.0), max_filter=F(1.5))
    add("QuantizedConv2D", "positive_range", {"strides": [1, 1, 1, 1], "padding": "SAME"},
        input=u8(1, 4, 4, 2), filter=u8(2, 2, 2, 1), min_input=F(0.0), max_input=F(1.0),
        min_filter=F(-1.0), max_filter=F(1.0))
    add("QuantizedConv2D", "depth_mismatch", {"strides": [1, 1, 1, 1], "padding": "SAME"},
        input=u8(1, 4, 4, 2), filter=u8(2, 2, 3, 1), min_input=F(0.0), max_input=F(1.0),
        min_filter=F(-1.0), max_filter=F(1.0))
    add("QuantizedConv2D", "batch_stride", {"strides": [2, 1, 1, 1], "padding": "SAME"},
        input=u8(2, 4, 4, 2), filter=u8(2, 2, 2, 1), min_input=F(0.0), max_input=F(1.0),
        min_filter=F(-1.0), max_filter=F(1.0))


def _elementwise() -> None:
    shapes = {"same": ((2, 3), (2, 3)), "scalar_x": ((), (2, 3)), "scalar_y": ((2, 3), ()),
              "row": ((2, 3), (3,)), "col_vector_quirk": ((2, 3), (2, 1)), "big_left": ((3,), (4, 3)),
              "three_runs": ((2, 1, 3), (1, 4, 3)), "bad": ((2, 3), (4,))}
    for name, (xs, ys) in shapes.items():
        for op in ("QuantizedAdd", "QuantizedMul"):
            add(op, name, {}, x=u8(*xs), y=u8(*ys), min_x=F(-1.0), max_x=F(3.0),
                min_y=F(-0.25), max_y=F(0.5))
    for op in ("QuantizedAdd", "QuantizedMul"):
        add(op, "empty_range", {}, x=u8(2), y=u8(2), min_x=F(1.0), max_x=F(1.0), min_y=F(0), max_y=F(1))
        add(op, "vector_range", {}, x=u8(2), y=u8(2), min_x=F([0.0]), max_x=F(1.0), min_y=F(0), max_y=F(1))
    for t, maker in (("quint8", u8), ("qint8", s8)):
        for bt, bmaker in (("quint8", u8), ("qint8", s8)):
            add("QuantizedBiasAdd", f"{t}_{bt}", {"out_type": DT("qint32")}, input=maker(2, 3, 4),
                bias=bmaker(4), min_input=F(-0.5), max_input=F(2.0), min_bias=F(-1.0), max_bias=F(0.25))
    add("QuantizedBiasAdd", "bad_bias", {"out_type": DT("qint32")}, input=u8(2, 4), bias=u8(3),
        min_input=F(-1), max_input=F(1), min_bias=F(-1), max_bias=F(1))
    add("QuantizedBiasAdd", "rank1_input", {"out_type": DT("qint32")}, input=u8(4), bias=u8(4),
        min_input=F(-1), max_input=F(1), min_bias=F(-1), max_bias=F(1))
    for op in ("QuantizedRelu", "QuantizedRelu6"):
        for t, maker in (("quint8", u8), ("qint32", s32)):
            add(op, t, {"out_type": DT(t)}, features=maker(3, 4), min_features=F(-2.0), max_features=F(8.0))
            add(op, f"{t}_positive", {"out_type": DT(t)}, features=maker(5), min_features=F(1.0),
                max_features=F(8.0))


def _layout_pool_norm() -> None:
    for t, maker in (("quint8", u8), ("qint32", s32)):
        add("QuantizedConcat", t, {}, concat_dim=np.int32(1), values=[maker(2, 3), maker(2, 1), maker(2, 2)],
            input_mins=[F(-1.0), F(-2.0), F(-1.0)], input_maxes=[F(1.0), F(3.0), F(1.0)])
        add("QuantizedConcat", f"{t}_same_range", {}, concat_dim=np.int32(0), values=[maker(1, 3), maker(2, 3)],
            input_mins=[F(-1.0), F(-1.0)], input_maxes=[F(1.0), F(1.0)])
        add("QuantizedConcat", f"{t}_positive", {}, concat_dim=np.int32(-1), values=[maker(2), maker(2)],
            input_mins=[F(0.5), F(1.0)], input_maxes=[F(1.0), F(3.0)])
    add("QuantizedConcat", "bad_shapes", {}, concat_dim=np.int32(0), values=[u8(1, 3), u8(2, 2)],
        input_mins=[F(-1.0), F(-1.0)], input_maxes=[F(1.0), F(1.0)])
    add("QuantizedReshape", "basic", {}, tensor=u8(2, 6), shape=np.int32([3, -1]),
        input_min=F(-1), input_max=F(2))
    add("QuantizedReshape", "bad", {}, tensor=u8(2, 6), shape=np.int32([5, -1]),
        input_min=F(-1), input_max=F(2))
    for op in ("QuantizedMaxPool", "QuantizedAvgPool"):
        for t, maker in (("quint8", u8), ("qint8", s8)):
            for pad in ("SAME", "VALID"):
                add(op, f"{t}_{pad}", {"ksize": [1, 3, 2, 1], "strides": [1, 2, 1, 1], "padding": pad},
                    input=maker(2, 5, 4, 3), min_input=F(-1), max_input=F(1))
        add(op, "depth_window", {"ksize": [1, 1, 1, 2], "strides": [1, 1, 1, 2], "padding": "VALID"},
            input=u8(1, 2, 2, 4), min_input=F(-1), max_input=F(1))
    for scale_after in (False, True):
        add("QuantizedBatchNormWithGlobalNormalization", f"scale_{scale_after}",
            {"out_type": DT("qint32"), "variance_epsilon": 0.001, "scale_after_normalization": scale_after},
            t=u8(2, 3, 2, 4), t_min=F(-1.0), t_max=F(2.0), m=u8(4), m_min=F(-0.5), m_max=F(0.5),
            v=u8(4), v_min=F(0.1), v_max=F(2.0), beta=u8(4), beta_min=F(-1), beta_max=F(1),
            gamma=u8(4), gamma_min=F(0.5), gamma_max=F(1.5))


_matmul_conv()
_elementwise()
_layout_pool_norm()


def _instance_norm() -> None:
    x = u8(2, 4, 5, 3)
    for tag, attrs in (("own_range", {}), ("given", {"output_range_given": True, "given_y_min": -2.0,
                                                     "given_y_max": 2.5}),
                       ("separation", {"min_separation": 100.0})):
        add("QuantizedInstanceNorm", tag, attrs, x=x, x_min=F(-1.0), x_max=F(3.0))
    add("QuantizedInstanceNorm", "constant", {}, x=quantized("quint8", np.full((1, 2, 2, 2), 7)),
        x_min=F(0.0), x_max=F(1.0))
    add("QuantizedInstanceNorm", "bad_range", {}, x=x, x_min=F(1.0), x_max=F(1.0))
    add("QuantizedInstanceNorm", "bad_given", {"output_range_given": True, "given_y_min": 2.0,
                                               "given_y_max": 1.0}, x=x, x_min=F(-1.0), x_max=F(3.0))


_instance_norm()


def _resize() -> None:
    rng = {"min": F(-1.0), "max": F(2.0)}
    # qint32 over its whole range: TF rounds the values to float32 first
    for tag, maker in (("quint8", u8), ("qint32", lambda *sh: s32(*sh, span=1 << 31)),
                       ("float", lambda *sh: CASES.f32(*sh))):
        for size, align, half in (((5, 7), False, False), ((5, 7), True, False),
                                  ((5, 7), False, True), ((2, 3), False, True),
                                  ((1, 9), True, False), ((6, 4), True, True)):
            add("QuantizedResizeBilinear", f"{tag}-{size}-a{align}-h{half}",
                {"align_corners": align, "half_pixel_centers": half},
                images=maker(2, 3, 4, 3), size=np.array(size, np.int32), **rng)
        add("QuantizedResizeBilinear", f"{tag}-one_channel_wide", {},
            images=maker(1, 2, 3, 1), size=np.array([3, 17], np.int32), **rng)
        add("QuantizedResizeBilinear", f"{tag}-same_size", {"half_pixel_centers": True},
            images=maker(1, 3, 4, 2), size=np.array([3, 4], np.int32), **rng)
    # the largest qint32 rounds up to 2**31 in float32 and wraps to the smallest
    add("QuantizedResizeBilinear", "qint32-extremes", {},
        images=quantized("qint32", np.array([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, 5],
                                            np.int64).reshape(1, 2, 2, 1)),
        size=np.array([3, 3], np.int32), **rng)
    x = u8(1, 3, 4, 3)
    # TF returns before setting the range outputs of an empty batch: compare the images only
    add("QuantizedResizeBilinear", "empty_batch", {}, only=(0,), images=u8(0, 3, 4, 3),
        size=np.array([5, 5], np.int32), **rng)
    add("QuantizedResizeBilinear", "zero_size", {}, images=x, size=np.array([0, 5], np.int32), **rng)
    add("QuantizedResizeBilinear", "bad_size", {}, images=x, size=np.array([5], np.int32), **rng)
    add("QuantizedResizeBilinear", "rank3", {}, images=u8(3, 4, 3), size=np.array([5, 5], np.int32),
        **rng)
    add("QuantizedResizeBilinear", "min_not_scalar", {}, images=x, size=np.array([5, 5], np.int32),
        min=np.array([F(-1.0)]), max=F(2.0))


_resize()
test_kernel_matches_tensorflow = CASES.test()
