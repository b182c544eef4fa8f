"""Convolution / pooling variants against ``tf.raw_ops``: Conv (N-D, batch_dims, EXPLICIT,
channels first), Conv2DBackpropInputV2 (no CPU kernel in TF: compared with TF's
Conv2DBackpropInput on the same shapes), DepthwiseConv2dNativeBackpropInput, Dilation2D,
MaxPoolWithArgmax, DataFormatDimMap, DataFormatVecPermute, SpaceToBatch and BatchToSpace.
(FusedPadConv2D / FusedResizeAndPadConv2D need known input ranks to build a graph: they are
compared in the image fixtures, tests/graph/test_image_tf.py.)
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from .raw_ops_harness import Cases, i32, oracle_results, run_ours
from _oracles.codec import decode

CASES = Cases(seed=7005)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs


def _conv() -> None:
    x4, w4 = f32(2, 6, 7, 3), f32(3, 2, 3, 4)
    for pad in ("SAME", "VALID"):
        add("Conv", f"2d-{pad}", {"strides": [1, 2, 1, 1], "padding": pad}, input=x4, filter=w4)
        add("Conv", f"2d-dil-{pad}", {"strides": [1, 1, 1, 1], "dilations": [1, 2, 1, 1],
                                      "padding": pad}, input=x4, filter=w4, rtol=1e-4)
    add("Conv", "2d-explicit", {"strides": [1, 1, 2, 1], "padding": "EXPLICIT",
                                "explicit_paddings": [0, 0, 1, 2, 0, 1, 0, 0]}, input=x4, filter=w4)
    add("Conv", "1d", {"strides": [1, 2, 1], "padding": "SAME"}, input=f32(2, 9, 3),
        filter=f32(3, 3, 5))
    add("Conv", "3d", {"strides": [1, 1, 2, 1, 1], "padding": "VALID"}, input=f32(1, 4, 5, 6, 2),
        filter=f32(2, 2, 3, 2, 3), rtol=1e-4)
    add("Conv", "batch_dims2", {"strides": [1, 1, 1, 1], "padding": "SAME", "batch_dims": 2},
        input=f32(2, 3, 5, 4, 3), filter=w4)
    add("Conv", "channels_first", {"strides": [1, 1, 1, 2], "padding": "SAME",
                                   "data_format": "CHANNELS_FIRST"},
        input=f32(2, 3, 6, 7), filter=w4)
    add("Conv", "groups", {"strides": [1, 1, 1, 1], "padding": "VALID", "groups": 3},
        input=f32(1, 5, 5, 6), filter=f32(2, 2, 2, 6))
    add("Conv", "double", {"strides": [1, 1, 1, 1], "padding": "VALID"},
        input=x4.astype(np.float64), filter=w4.astype(np.float64))
    add("Conv", "int32", {"strides": [1, 1, 1, 1], "padding": "SAME"},
        input=RS.randint(-5, 5, (1, 4, 4, 3)).astype(np.int32),
        filter=RS.randint(-3, 3, (2, 2, 3, 2)).astype(np.int32))
    add("Conv", "depth_mismatch", {"strides": [1, 1, 1, 1], "padding": "SAME"}, input=x4,
        filter=f32(2, 2, 5, 4))


def _transposed() -> None:
    w = f32(3, 3, 2, 3)  # depthwise: (kh, kw, C, M)
    for pad, st, size in (("SAME", 1, (2, 5, 6, 2)), ("VALID", 2, (2, 7, 8, 2)),
                          ("SAME", 2, (1, 6, 5, 2)), ("VALID", 1, (1, 4, 4, 2))):
        oh = -(-size[1] // st) if pad == "SAME" else (size[1] - 3) // st + 1
        ow = -(-size[2] // st) if pad == "SAME" else (size[2] - 3) // st + 1
        add("DepthwiseConv2dNativeBackpropInput", f"{pad}-s{st}-{size[1]}x{size[2]}",
            {"strides": [1, st, st, 1], "padding": pad}, input_sizes=i32(*size), filter=w,
            out_backprop=f32(size[0], oh, ow, 6))
    add("DepthwiseConv2dNativeBackpropInput", "explicit",
        {"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
         "explicit_paddings": [0, 0, 1, 0, 0, 2, 0, 0]},
        input_sizes=i32(1, 4, 4, 2), filter=w, out_backprop=f32(1, 3, 4, 6))
    same = {"strides": [1, 1, 1, 1], "padding": "SAME"}
    add("DepthwiseConv2dNativeBackpropInput", "double", same,
        input_sizes=i32(1, 4, 4, 2), filter=w.astype(np.float64),
        out_backprop=f32(1, 4, 4, 6).astype(np.float64))
    add("DepthwiseConv2dNativeBackpropInput", "bad_out", same,
        input_sizes=i32(1, 4, 4, 2), filter=w, out_backprop=f32(1, 3, 4, 6))


def _morphology() -> None:
    x = f32(2, 6, 7, 3)
    for pad in ("SAME", "VALID"):
        for st, r in (((1, 1), (1, 1)), ((2, 1), (1, 2)), ((1, 3), (2, 2))):
            add("Dilation2D", f"{pad}-s{st}-r{r}", {"strides": [1, *st, 1], "rates": [1, *r, 1],
                                                   "padding": pad}, input=x, filter=f32(2, 3, 3))
    for dt in ("int32", "uint8", "float64", "float16", "int8"):
        add("Dilation2D", f"dtype-{dt}", {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1],
                                           "padding": "SAME"},
            input=(np.abs(x) * 20).astype(dt), filter=(np.abs(f32(2, 2, 3)) * 5).astype(dt))
    nan = x.copy()
    nan[0, 1, 1, 0] = np.nan
    add("Dilation2D", "nan", {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1], "padding": "SAME"},
        input=nan, filter=f32(2, 2, 3))
    add("Dilation2D", "depth_mismatch", {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1],
                                          "padding": "SAME"}, input=x, filter=f32(2, 2, 2))

    for pad in ("SAME", "VALID"):
        for k, st in (((2, 2), (2, 2)), ((3, 3), (1, 2)), ((3, 2), (2, 3))):
            for batch in (False, True):
                add("MaxPoolWithArgmax", f"{pad}-k{k}-s{st}-b{batch}",
                    {"ksize": [1, *k, 1], "strides": [1, *st, 1], "padding": pad,
                     "include_batch_in_index": batch}, input=x)
    ties = np.round(x * 2) / 2
    ties[1, 2, 2, 1] = np.nan
    ties[0, 0, 0, 2] = np.nan
    add("MaxPoolWithArgmax", "ties_nan", {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1],
                                          "padding": "SAME"}, input=ties)
    for dt in ("int32", "uint8", "float16", "float64"):
        add("MaxPoolWithArgmax", f"dtype-{dt}", {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1],
                                                  "padding": "SAME", "Targmax": {"dtype": "int32"}},
            input=(np.abs(x) * 10).astype(dt))


def _layout() -> None:
    for src, dst in (("NHWC", "NCHW"), ("NCHW", "NHWC"), ("NHWC", "HWNC"), ("NDHWC", "NCDHW")):
        n = len(src)
        add("DataFormatDimMap", f"{src}-{dst}", {"src_format": src, "dst_format": dst},
            x=np.arange(-n, n, dtype=np.int32).reshape(2, n))
        vec = RS.randint(0, 100, n).astype(np.int64)
        if n == 4:
            add("DataFormatVecPermute", f"{src}-{dst}", {"src_format": src, "dst_format": dst},
                x=vec)
            add("DataFormatVecPermute", f"{src}-{dst}-2d", {"src_format": src, "dst_format": dst},
                x=RS.randint(0, 9, (4, 2)).astype(np.int32))
            add("DataFormatVecPermute", f"{src}-{dst}-hw", {"src_format": src, "dst_format": dst},
                x=i32(3, 7))
    add("DataFormatDimMap", "bad_format", {"src_format": "NHWC", "dst_format": "NCHX"},
        x=i32(1))
    add("DataFormatDimMap", "scalar", x=np.int64(-3))
    add("DataFormatVecPermute", "bad_size", x=i32(1, 2, 3))
    add("DataFormatVecPermute", "bad_2d", x=np.zeros((4, 3), np.int32))


def _space_batch() -> None:
    x = f32(2, 4, 6, 3)
    add("SpaceToBatch", "b2", {"block_size": 2}, input=x, paddings=i32(0, 0, 1, 1).reshape(2, 2))
    add("SpaceToBatch", "b3", {"block_size": 3}, input=f32(1, 4, 5, 2),
        paddings=i32(1, 1, 0, 1).reshape(2, 2))
    add("SpaceToBatch", "not_divisible", {"block_size": 2}, input=f32(1, 3, 4, 1),
        paddings=i32(0, 0, 0, 0).reshape(2, 2))
    add("SpaceToBatch", "rank3", {"block_size": 2}, input=f32(4, 4, 1),
        paddings=i32(0, 0, 0, 0).reshape(2, 2))
    add("BatchToSpace", "b2", {"block_size": 2}, input=f32(8, 2, 3, 3),
        crops=i32(0, 1, 1, 0).reshape(2, 2))
    add("BatchToSpace", "int64_crops", {"block_size": 2}, input=f32(4, 3, 3, 1).astype(np.int32),
        crops=np.int64([[1, 0], [0, 2]]))
    add("BatchToSpace", "bad_batch", {"block_size": 2}, input=f32(3, 2, 2, 1),
        crops=i32(0, 0, 0, 0).reshape(2, 2))


def _winograd() -> None:
    """3x3 stride-1 float32 Conv2D with 16+ input channels: the Winograd path (graph/ops/
    _winograd.py), on odd sizes, batches, every padding form, NCHW, and a single small image
    (its output channels split over the threads)."""
    tol = 1e-4  # float32 tolerance of the suite; these sums run over up to 288 products
    for tag, x, w, attrs in [
            ("same_odd_batch", f32(2, 9, 11, 16), f32(3, 3, 16, 8), {"padding": "SAME"}),
            ("valid_odd", f32(1, 8, 7, 24), f32(3, 3, 24, 5), {"padding": "VALID"}),
            ("explicit", f32(1, 6, 6, 16), f32(3, 3, 16, 4),
             {"padding": "EXPLICIT", "explicit_paddings": [0, 0, 2, 1, 0, 3, 0, 0]}),
            ("one_pixel", f32(3, 1, 1, 16), f32(3, 3, 16, 4), {"padding": "SAME"}),
            ("column_split", f32(1, 6, 5, 32), f32(3, 3, 32, 80), {"padding": "SAME"})]:
        add("Conv2D", f"winograd_{tag}", {"strides": [1, 1, 1, 1], **attrs}, input=x, filter=w,
            rtol=tol)
    add("Conv2D", "winograd_nchw", {"strides": [1, 1, 1, 1], "padding": "SAME",
                                    "data_format": "NCHW"},
        input=f32(2, 16, 5, 6), filter=f32(3, 3, 16, 6), rtol=tol)


_conv()
_transposed()
_morphology()
_layout()
_space_batch()
_winograd()

test_kernel_matches_tensorflow = CASES.test()

# Conv2DBackpropInputV2 has no kernel in TensorFlow's CPU build: each case is checked against
# TF's Conv2DBackpropInput on the same shapes (the V2 op only takes the input itself).
V1 = Cases(seed=7006)
V2_SHAPES = [((1, 5, 6, 2), "SAME", 1), ((2, 7, 7, 2), "VALID", 2), ((1, 6, 5, 2), "SAME", 2)]
for shape, pad, st in V2_SHAPES:
    oh = -(-shape[1] // st) if pad == "SAME" else (shape[1] - 3) // st + 1
    ow = -(-shape[2] // st) if pad == "SAME" else (shape[2] - 3) // st + 1
    V1.add("Conv2DBackpropInput", f"{pad}-s{st}", {"strides": [1, st, st, 1], "padding": pad},
           input_sizes=i32(*shape), filter=V1.f32(3, 3, 2, 4),
           out_backprop=V1.f32(shape[0], oh, ow, 4))


@pytest.mark.tf
@pytest.mark.parametrize("case", list(V1), ids=[c.id for c in V1])
def test_conv2d_backprop_input_v2_matches_v1(case):
    from savedmodel_io.proto import NodeDef

    want = oracle_results(V1)[case.id]
    nd = NodeDef.FromString(base64.b64decode(want["node_def"]))
    nd.op = "Conv2DBackpropInputV2"
    sizes, w, dy = case.flat_inputs()
    v2 = type(case)(case.id, "Conv2DBackpropInputV2",
                    [("input", np.zeros(sizes, np.float32)), ("filter", w), ("out_backprop", dy)])
    got = run_ours(v2, nd.SerializeToString(), 1)[0]
    np.testing.assert_allclose(got, decode(want["outputs"][0]), rtol=1e-5, atol=1e-6)
