"""Image resizing (ResizeBilinear / ResizeNearestNeighbor as ONNX Resize) and contrast.

TF's coordinate rules (graph/ops/image.py; tensorflow/tensorflow
tensorflow/core/kernels/image/resize_bilinear_op.cc, resize_nearest_neighbor_op.cc) map to
Resize attributes: align_corners -> align_corners; half_pixel_centers -> half_pixel
(nearest: ``floor((i + 0.5) * scale)`` is half_pixel with round_prefer_ceil); neither ->
asymmetric (nearest: floor).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import ExportError, invert
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, i64, need_rank, reduce, working


def _resize(cx, node, ins, mode: str):
    g = cx.g
    x, size = ins[0], g.plain(ins[1])
    perm = x.perm
    linear = mode != "nearest"
    if linear and x.dtype != np.float32:
        x = cast(g, x, np.float32)  # TF resizes bilinearly in float32
        x.perm = perm
    if mode == "nearest" and x.dtype.kind != "b" and x.dtype.itemsize < 4:
        perm, x = x.perm, working(g, x)  # onnxruntime resizes 32-bit and 8-bit types only
        x.perm = perm
    elif mode == "nearest" and x.dtype in (np.float64, np.int64):
        raise ExportError(f"onnxruntime's Resize has no {x.dtype} kernel")
    axes = [1, 2] if perm is None else [invert(perm)[1], invert(perm)[2]]
    align = bool(node.attr.get("align_corners", False))
    half = bool(node.attr.get("half_pixel_centers", False))
    coord = "align_corners" if align else "half_pixel" if half else "asymmetric"
    nearest = "round_prefer_ceil" if (align or half) else "floor"
    sizes = i64(g, size)
    attrs: dict[str, object] = {"mode": mode, "coordinate_transformation_mode": coord,
                                "nearest_mode": None if linear else nearest}
    if cx.opset >= 18:
        out = g.op1("Resize", x, None, None, sizes, axes=axes, **attrs)
    else:
        shape = g.op1("Shape", x)
        parts = []
        for p in range(4):
            if p in axes:
                k = axes.index(p)
                parts.append(g.op1("Slice", sizes, g.const(np.asarray([k], np.int64)),
                                   g.const(np.asarray([k + 1], np.int64))))
            else:
                parts.append(g.op1("Slice", shape, g.const(np.asarray([p], np.int64)),
                                   g.const(np.asarray([p + 1], np.int64))))
        out = g.op1("Resize", x, None, None, g.op1("Concat", *parts, axis=0), **attrs)
    if not linear and out.dtype != ins[0].dtype:
        out = cast(g, out, ins[0].dtype)
    out.perm = perm
    return out


@converter("ResizeBilinear", onnx="Resize(linear)", layout=True)
def resize_bilinear(cx, node, ins):
    return _resize(cx, node, ins, "linear")


@converter("ResizeNearestNeighbor", onnx="Resize(nearest)", layout=True)
def resize_nearest(cx, node, ins):
    return _resize(cx, node, ins, "nearest")


@converter("AdjustContrastv2", onnx="ReduceMean, Sub, Mul, Add")
def adjust_contrast(cx, node, ins):
    """mean + factor * (x - mean), the mean over height and width, in float32 (adjust_contrast_op.cc)."""
    g = cx.g
    x, factor = ins
    if need_rank(x) < 3:
        raise ExportError("the image must be at least 3-D")
    xf = cast(g, x, np.float32)
    mean = reduce(g, "ReduceMean", xf, [-3, -2], True)
    out = g.op1("Add", mean, g.op1("Mul", cast(g, factor, np.float32), g.op1("Sub", xf, mean)))
    return cast(g, out, x.dtype)


inexpressible("ONNX Resize has no area mode", "ResizeArea")
# resize_bicubic_op.cc tabulates Keys' kernel in 1/1024 steps: ONNX's exact cubic differs by ~1e-3,
# and onnxruntime's cubic Resize of NCHW images only upsamples.
inexpressible("TensorFlow's tabulated cubic weights differ from ONNX Resize's exact cubic by ~1e-3, and "
              "onnxruntime's cubic Resize only upsamples images", "ResizeBicubic")
inexpressible("kernel resampling with arbitrary scale and translation: no ONNX operator", "ScaleAndTranslate")
inexpressible("ONNX RoiAlign averages its samples, CropAndResize interpolates one per output: no ONNX form",
              "CropAndResize")
inexpressible("HSV colour conversion: no ONNX operator (a long chain of element-wise selections)",
              "RGBToHSV", "HSVToRGB", "AdjustHue", "AdjustSaturation")
inexpressible("image codecs: ONNX has no encoders, and its ImageDecoder is not specified to decode as "
              "TensorFlow's decoders do", "DecodeJpeg", "DecodeAndCropJpeg", "DecodePng", "DecodeBmp",
              "DecodeGif", "DecodeWebP", "DecodeJxl", "DecodeImage", "EncodeJpeg", "EncodeJpegVariableQuality", "EncodePng",
              "ExtractJpegShape")
inexpressible("not mapped yet: TensorFlow's box layout and greedy order differ from ONNX NonMaxSuppression's "
              "(per-batch, per-class, [batch, class, box] triples)", "NonMaxSuppression", "NonMaxSuppressionV2",
              "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5")
inexpressible("no ONNX form: suppression by an arbitrary overlap matrix, or per-class suppression merged "
              "and padded across classes", "NonMaxSuppressionWithOverlaps", "CombinedNonMaxSuppression")
inexpressible("drawing boxes into images: no cheap ONNX form", "DrawBoundingBoxes", "DrawBoundingBoxesV2")
inexpressible("per-pixel projective sampling with TensorFlow's fill modes: no ONNX operator (GridSample's "
              "padding modes differ)", "ImageProjectiveTransformV2", "ImageProjectiveTransformV3")
inexpressible("glimpses with TensorFlow's noise and centring rules: no cheap ONNX form", "ExtractGlimpse",
              "ExtractGlimpseV2")
inexpressible("not mapped yet: patch extraction (ONNX could express it as a Conv with one-hot kernels)",
              "ExtractImagePatches", "ExtractVolumePatches")
