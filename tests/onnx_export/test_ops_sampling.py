"""Dilation2D, CropAndResize and ImageProjectiveTransformV3 in the cases TensorFlow's kernel cases
(tests/onnx_export/test_ops_tf.py) do not reach: an input laid out NCHW by a Conv2D before it, sizes
known only at run time, integer sums that wrap, run-time fill values. Compared with the numpy
runtime's kernels, which tests/graph compares with TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import F32, I32, const, node, placeholder
from onnx_export.test_fused_ops import export_and_compare, f32

from savedmodel_io import dtypes
from savedmodel_io.proto import DataType

pytest.importorskip("onnxruntime")


def _dilation(name: str, x: str, w: str, t: int, padding: bytes, strides=(1, 1), rates=(1, 1)):
    n = node(name, "Dilation2D", [x, w], T=("type", t), padding=padding)
    n.attr["strides"].list.i.extend([1, *strides, 1])
    n.attr["rates"].list.i.extend([1, *rates, 1])
    return n


@pytest.mark.parametrize("padding", [b"SAME", b"VALID"])
def test_dilation_after_conv_keeps_the_nchw_layout(padding):
    """A Conv2D leaves its output NCHW (a pending permutation): the dilation slices that layout
    directly, so the graph transposes back once, at the output."""
    feeds = {"x": f32(2, 9, 8, 3)}
    conv = node("c", "Conv2D", ["x", "k"], T=("type", F32), padding=b"SAME", data_format=b"NHWC")
    conv.attr["strides"].list.i.extend([1, 1, 1, 1])
    conv.attr["dilations"].list.i.extend([1, 1, 1, 1])
    nodes = [placeholder("x"), const("k", f32(3, 3, 3, 4)), conv, const("w", f32(3, 2, 4)),
             _dilation("y", "c", "w", F32, padding, strides=(2, 1), rates=(1, 2)),
             node("r", "Relu", ["y"], T=("type", F32))]
    proto = export_and_compare(nodes, feeds, ["r:0"])
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Transpose") == 2 and ops.index("Conv") < ops.index("Slice"), ops


@pytest.mark.parametrize("dt", [np.float32, np.float16, np.float64, np.int8, np.uint8, np.int16, np.uint16,
                                np.int32, np.uint32, np.int64, np.uint64])
def test_dilation_of_unknown_size_and_every_type(dt):
    """SAME pads computed at run time; integer sums wrap as in T, out-of-image taps never count
    (a filter of T's extremes would win from the padding otherwise)."""
    rs = np.random.RandomState(5)
    if np.dtype(dt).kind == "f":
        x = rs.standard_normal((2, 7, 6, 2)).astype(dt) * 4
        x[0, 3, 2, 1], x[1, 0, 0, 0], x[1, 4, 4, 1] = np.nan, -np.inf, np.inf
        w = rs.standard_normal((3, 2, 2)).astype(dt)
        w[0, 0, 0] = np.inf
    else:
        info = np.iinfo(dt)
        x = rs.randint(info.min, int(info.max) + 1, (2, 7, 6, 2), dtype=np.int64 if dt != np.uint64 else dt
                       ).astype(dt)
        w = rs.randint(info.min, int(info.max) + 1, (3, 2, 2), dtype=np.int64 if dt != np.uint64 else dt
                       ).astype(dt)
        w[0, 0] = info.min if info.min < 0 else info.max
    t = dtypes.from_numpy(np.dtype(dt))
    nodes = [placeholder("x", t), placeholder("w", t),
             _dilation("y", "x", "w", t, b"SAME", strides=(2, 2), rates=(2, 1))]
    export_and_compare(nodes, {"x": x, "w": w}, ["y:0"], shapes={"x": (None, None, None, 2), "w": (3, 2, 2)})


def test_dilation_refuses_a_filter_of_unknown_size():
    nodes = [placeholder("x"), placeholder("w"), _dilation("y", "x", "w", F32, b"VALID")]
    with pytest.raises(AssertionError, match="height and width known before running"):
        export_and_compare(nodes, {"x": f32(1, 4, 4, 2), "w": f32(2, 2, 2)}, ["y:0"],
                           shapes={"x": (1, 4, 4, 2), "w": (None, None, 2)})


@pytest.mark.parametrize("method", [b"bilinear", b"nearest"])
@pytest.mark.parametrize("crop", [(3, 4), (1, 1), (1, 5)])
def test_crop_and_resize_of_unknown_sizes(method, crop):
    """Image height/width and the number of boxes known only at run time; boxes partly and wholly
    outside the image, flipped, on halves of a pixel; box_ind repeating and skipping images."""
    img = (np.random.RandomState(2).uniform(0, 255, (3, 5, 8, 2))).astype(np.uint8)
    boxes = np.float32([[-0.5, -0.25, 0.5, 0.75], [0.125, 0.5, 0.875, 1.5], [1.25, 1.1, 2, 3],
                        [0.9, 0.8, 0.1, 0.2], [0.375, 1 / 14, 0.625, 13 / 14], [0, 0, 1, 1]])
    feeds = {"image": img, "boxes": boxes, "box_ind": np.int32([2, 0, 2, 2, 0, 2])}
    nodes = [placeholder("image", DataType.DT_UINT8), placeholder("boxes"), placeholder("box_ind", I32),
             const("size", np.int32(crop)),
             node("y", "CropAndResize", ["image", "boxes", "box_ind", "size"], T=("type", DataType.DT_UINT8),
                  method=method, extrapolation_value=7.5)]
    export_and_compare(nodes, feeds, ["y:0"], shapes={"image": (None, None, None, 2), "boxes": (None, 4),
                                                     "box_ind": (None,)})


def test_crop_and_resize_refuses_a_crop_size_computed_at_run_time():
    nodes = [placeholder("image"), placeholder("boxes"), placeholder("box_ind", I32), placeholder("size", I32),
             node("y", "CropAndResize", ["image", "boxes", "box_ind", "size"], T=("type", F32),
                  method=b"bilinear", extrapolation_value=0.0)]
    feeds = {"image": f32(1, 4, 4, 1), "boxes": np.float32([[0, 0, 1, 1]]), "box_ind": np.int32([0]),
             "size": np.int32([2, 2])}
    with pytest.raises(AssertionError, match="crop_size must be a constant"):
        export_and_compare(nodes, feeds, ["y:0"])


@pytest.mark.parametrize("mode", [b"REFLECT", b"WRAP", b"NEAREST", b"CONSTANT"])
@pytest.mark.parametrize("interp", [b"NEAREST", b"BILINEAR"])
@pytest.mark.parametrize("size", [(5, 6), (1, 4)])
def test_projective_transform_of_unknown_size(mode, interp, size):
    """Image sizes at run time (the fill modes' one-pixel rule included), one transform for a batch
    of three, a fill value fed at run time, a NaN coefficient."""
    img = np.random.RandomState(4).uniform(-5, 5, (3, *size, 2)).astype(np.float32)
    t = np.float32([[0.7, -0.9, 1.5, 0.9, 0.6, -2.2, 0.03, -0.05]])
    feeds = {"images": img, "t": t, "fill": np.asarray(-3.25, np.float32)}
    nodes = [placeholder("images"), placeholder("t"), placeholder("fill"), const("shape", np.int32([7, 8])),
             node("y", "ImageProjectiveTransformV3", ["images", "t", "shape", "fill"], dtype=("type", F32),
                  interpolation=interp, fill_mode=mode)]
    export_and_compare(nodes, feeds, ["y:0"], shapes={"images": (None, None, None, 2), "t": (None, 8), "fill": ()})
    feeds["t"] = np.float32([[np.nan, 0, 0, 0, 1, 0, 0, 0], [1, 0, 0.5, 0, 1, 0, 0, 0],
                             [1, 0, 0, 0, 1, 0, -0.25, 0]])
    export_and_compare(nodes, feeds, ["y:0"], shapes={"images": (None, None, None, 2), "t": (None, 8), "fill": ()})
