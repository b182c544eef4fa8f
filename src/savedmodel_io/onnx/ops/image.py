"""Image resizing (ResizeBilinear / ResizeNearestNeighbor as ONNX Resize; ResizeArea,
ResizeBicubic and ScaleAndTranslate as two MatMuls with constant weights), contrast, patch
extraction (strided Slices), non-max suppression (ONNX NonMaxSuppression, also per class for
CombinedNonMaxSuppression; a Loop for an overlap matrix), CropAndResize,
ImageProjectiveTransformV2/V3 and ExtractGlimpse/V2 as coordinate arithmetic and GatherND, and
DrawBoundingBoxes/V2 as outline masks on the pixel grid painted by a Loop (semantics: graph/ops/image.py,
graph/ops/image_sampling.py, graph/ops/image_boxes.py; tensorflow/tensorflow
tensorflow/core/kernels/image/crop_and_resize_op.cc, image_ops.h, attention_ops.cc,
draw_bounding_box_op.cc).

TF's coordinate rules (graph/ops/image.py; tensorflow/tensorflow
tensorflow/core/kernels/image/resize_bilinear_op.cc, resize_nearest_neighbor_op.cc) map to
Resize attributes: align_corners -> align_corners; half_pixel_centers -> half_pixel
(nearest: ``floor((i + 0.5) * scale)`` is half_pixel with round_prefer_ceil); neither ->
asymmetric (nearest: floor).

Area, bicubic and ScaleAndTranslate resampling is linear and separable (resize_area_op.cc,
resize_bicubic_op.cc, scale_and_translate_op.cc: one set of weighted taps per output row,
then per output column), so with static sizes it is ``out = Wh . x . Ww^T``: each axis's
matrix is built at export time from the numpy runtime's own tap tables, which hold
TensorFlow's weights (Keys' cubic tabulated at 1/1024 steps, area coverage fractions,
the sampling kernels of ScaleAndTranslate).
"""

from __future__ import annotations

import itertools

from collections.abc import Callable, Sequence

import numpy as np

from onnx.numpy_helper import from_array as onnx_tensor

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph.ops import image as _rt_image  # the runtime's tap tables: TF's weights
from savedmodel_io.graph.ops import image_boxes as _rt_boxes  # TF's default box colours
from savedmodel_io.graph.ops import image_sampling as _rt_sampling  # glimpse rules
from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import body_graph, if_graph
from savedmodel_io.onnx.ops._util import (
    INT64_MAX, INT64_MIN, MAX_CONST_ELEMENTS, MAX_UNROLLED, attr_text, bounded, cast, const_ints, i64, need_rank, reduce, scalar, split, squeeze, unsqueeze, working,
)


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


# -- separable resampling as MatMuls ------------------------------------------------------------
# ONNX Resize has no area mode, its cubic mode uses Keys' exact kernel where resize_bicubic_op.cc
# tabulates it in 1/1024 steps (~1e-3 apart), and it has no ScaleAndTranslate kernels. Each of
# these resamplers is a weighted sum of taps per output row, then per output column (the numpy
# runtime's _resample; tensorflow/tensorflow tensorflow/core/kernels/image/resize_area_op.cc,
# resize_bicubic_op.cc, scale_and_translate_op.cc), so each axis is a constant [out, in] matrix.



def _image_hw(x: Val) -> tuple[int, int]:
    """The logical height and width of a 4-D image (ExportError unless both are static)."""
    if need_rank(x, "image") != 4:
        raise ExportError(f"the image must be 4-D [batch, height, width, channels], got rank {x.rank}")
    shape = x.logical_shape
    assert shape is not None
    h, w = shape[1], shape[2]
    if not isinstance(h, int) or not isinstance(w, int):
        raise ExportError("the image's height or width is only known at run time: the resampling weights "
                          "are computed at export, from static sizes")
    if h <= 0 or w <= 0:
        raise ExportError("the input image must be of non-zero size")
    return h, w


def _out_hw(size: Val) -> tuple[int, int]:
    """The constant output size [height, width] (ExportError when computed at run time or invalid)."""
    vals = const_ints(size, "the output size")
    if len(vals) != 2:
        raise ExportError(f"the output size must have two elements, got {len(vals)}")
    if vals[0] <= 0 or vals[1] <= 0:
        raise ExportError(f"output dimensions must be positive, got {vals}")
    return vals[0], vals[1]


def _check_weights(which: str, out_size: int, in_size: int) -> None:
    """Refuse a weight matrix too large to build at export (rather than allocating gigabytes)."""
    bounded(out_size * in_size, MAX_CONST_ELEMENTS, f"the size of the {which} resampling weights "
                                                    f"({out_size}x{in_size})")


def _tap_matrix(index: np.ndarray, weight: np.ndarray, in_size: int) -> np.ndarray:
    """The float64 [out, in] matrix of a tap table: m[o, index[o, k]] += weight[o, k]."""
    m = np.zeros((index.shape[0], in_size), np.float64)
    rows = np.broadcast_to(np.arange(index.shape[0])[:, None], index.shape)
    np.add.at(m, (rows, index), weight.astype(np.float64))  # clamped taps land on one column
    return m


def _shape_part(g: Graph, x: Val, start: int) -> Val:
    """``Shape(x)[start:]`` as an int64 vector."""
    return g.op1("Slice", g.op1("Shape", x), g.const(np.asarray([start], np.int64)),
                 g.const(np.asarray([INT64_MAX], np.int64)))


def _resample_axis(g: Graph, x: Val, pos: int, m: np.ndarray) -> Val:
    """``x`` with its physical axis ``pos`` replaced by ``m @ x`` along it (``m`` float32 [out, in])."""
    rank = need_rank(x, "image")
    if pos == rank - 1:
        return g.op1("MatMul", x, g.const(np.ascontiguousarray(m.T)))
    if pos == rank - 2:
        return g.op1("MatMul", g.const(m), x)
    # An outer axis: the axes after it become one column axis of the product, then unfold again.
    assert x.shape is not None
    tail = x.shape[pos + 1:]
    head = [0] * pos  # Reshape's 0: this dimension as it is
    if all(isinstance(d, int) for d in tail):
        cols = int(np.prod(tail, dtype=np.int64))
        flat: Val = g.const(np.asarray(head + [m.shape[1], cols], np.int64))
        back: Val = g.const(np.asarray(head + [m.shape[0], *tail], np.int64))
    else:
        rest = _shape_part(g, x, pos + 1)
        flat = g.op1("Concat", g.const(np.asarray(head + [m.shape[1]], np.int64)),
                     reduce(g, "ReduceProd", rest, [0], True), axis=0)
        back = g.op1("Concat", g.const(np.asarray(head + [m.shape[0]], np.int64)), rest, axis=0)
    out = g.op1("MatMul", g.const(m), g.op1("Reshape", x, flat))
    return g.op1("Reshape", out, back)


def _separable(g: Graph, x: Val, rows: np.ndarray, cols: np.ndarray) -> Val:
    """float32 ``rows . x . cols^T`` over the image's height and width, in ``x``'s layout.

    ``rows`` [out_h, in_h] and ``cols`` [out_w, in_w] are float64; an axis whose matrix is the
    identity is left alone. TF casts each pixel to float and returns float32 (the kernels'
    ``static_cast<float>``), so the input is cast to float32 first.
    """
    perm = x.perm
    if x.dtype != np.float32:
        x = cast(g, x, np.float32)
        x.perm = perm
    at = (1, 2) if perm is None else (invert(perm)[1], invert(perm)[2])
    out = x
    # Columns first: in NCHW (the pending layout of a conv net) the width is the last axis, one GEMM.
    for pos, m in ((at[1], cols), (at[0], rows)):
        if m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])):
            continue
        out = _resample_axis(g, out, pos, m.astype(np.float32))
    if out is x:
        out = g.op1("Identity", x)
    out.perm = perm
    return out


def _align_half(node) -> tuple[bool, bool]:
    """(align_corners, half_pixel_centers), refused together as TF refuses them."""
    align = bool(node.attr.get("align_corners", False))
    half = bool(node.attr.get("half_pixel_centers", False))
    if align and half:
        raise ExportError("If half_pixel_centers is True, align_corners must be False.")
    return align, half


@converter("ResizeBicubic", onnx="MatMul per axis, constant weights (static sizes)", layout=True)
def resize_bicubic(cx, node, ins):
    """Keys' cubic as TF tabulates it (runtime ``_bicubic_taps``), one weight matrix per axis."""
    x = ins[0]
    (h, w), (oh, ow) = _image_hw(x), _out_hw(ins[1])
    align, half = _align_half(node)
    _check_weights("height", oh, h)
    _check_weights("width", ow, w)
    rows = _tap_matrix(*_rt_image._bicubic_taps(h, oh, half, align), h)
    cols = _tap_matrix(*_rt_image._bicubic_taps(w, ow, half, align), w)
    return _separable(cx.g, x, rows, cols)


@converter("ResizeArea", onnx="MatMul per axis, constant weights (static sizes)", layout=True)
def resize_area(cx, node, ins):
    """Area coverage fractions (runtime ``_area_taps``) times TF's 1 / (scale_h * scale_w)."""
    x = ins[0]
    (h, w), (oh, ow) = _image_hw(x), _out_hw(ins[1])
    align = bool(node.attr.get("align_corners", False))
    _check_weights("height", oh, h)
    _check_weights("width", ow, w)
    hs, ws = _rt_image._scale(h, oh, align), _rt_image._scale(w, ow, align)
    rows = _tap_matrix(*_rt_image._area_taps(h, oh, hs), h)
    cols = _tap_matrix(*_rt_image._area_taps(w, ow, ws), w)
    # TF scales the sum by float(1.0 / (float scale_h * scale_w)): folded into one of the matrices
    # (both are identities only when both scales, hence the factor, are 1).
    factor = float(np.float32(1.0 / float(hs * ws)))
    if rows.shape[0] != rows.shape[1] or not np.array_equal(rows, np.eye(h)):
        rows = rows * factor
    else:
        cols = cols * factor
    return _separable(cx.g, x, rows, cols)


def _const_pair(v: Val, what: str) -> tuple[np.float32, np.float32]:
    if not v.is_const:
        raise ExportError(f"the {what} must be a constant (it is computed at run time)")
    a = np.asarray(v.const)
    if a.shape != (2,):
        raise ExportError(f"the {what} must be a 1-D tensor of two elements, got shape {list(a.shape)}")
    return np.float32(a[0]), np.float32(a[1])


@converter("ScaleAndTranslate", onnx="MatMul per axis, constant weights (static sizes)", layout=True)
def scale_and_translate(cx, node, ins):
    """The sampling kernel's normalised taps (runtime ``_span_taps``), one weight matrix per axis."""
    x = ins[0]
    (h, w), (oh, ow) = _image_hw(x), _out_hw(ins[1])
    kind = attr_text(node, "kernel_type", "lanczos3")
    if kind not in _rt_image._SAMPLING:
        raise ExportError(f"Unrecognized kernel type: {kind}")
    fn, radius = _rt_image._SAMPLING[kind]
    sy, sx = _const_pair(ins[2], "scale")
    ty, tx = _const_pair(ins[3], "translation")
    if not (sy > 0 and sx > 0):
        raise ExportError("Scale must be greater than zero.")
    if not all(np.isfinite(v) for v in (sy, sx, ty, tx)):
        raise ExportError(f"scale and translation must be finite, got {[sy, sx]} and {[ty, tx]}")
    _check_weights("height", oh, h)
    _check_weights("width", ow, w)
    antialias = bool(node.attr.get("antialias", True))
    rows = _tap_matrix(*_rt_image._span_taps(node, fn, radius, oh, h, sy, ty, antialias), h)
    cols = _tap_matrix(*_rt_image._span_taps(node, fn, radius, ow, w, sx, tx, antialias), w)
    return _separable(cx.g, x, rows, cols)


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


def roundf(g: Graph, x: Val) -> Val:
    """C's roundf (halves away from zero) of float32 ``x``; ONNX Round rounds halves to even."""
    a = g.op1("Abs", x)
    fa = g.op1("Floor", a)
    up = cast(g, g.op1("GreaterOrEqual", g.op1("Sub", a, fa), scalar(g, 0.5, np.float32)), np.float32)
    return g.op1("Mul", g.op1("Sign", x), g.op1("Add", fa, up))


def _dim_f32(g: Graph, x: Val, axis: int) -> Val:
    """``x``'s size on ``axis`` minus one, as a float32 scalar (the last pixel's coordinate)."""
    d = x.shape[axis] if x.shape is not None else None
    if isinstance(d, int):
        return g.const(np.float32(d - 1))
    last = g.op1("Sub", g.op1("Shape", x, start=axis, end=axis + 1), g.const(np.asarray([1], np.int64)))
    return cast(g, g.op1("Reshape", last, g.const(np.zeros(0, np.int64))), np.float32)


def _crop_coords(g: Graph, lo: Val, hi: Val, extent: Val, crop: int) -> Val:
    """Source coordinates [boxes, crop] of one axis, in float32 in TF's operation order."""
    if crop > 1:
        step = g.op1("Div", g.op1("Mul", g.op1("Sub", hi, lo), extent), scalar(g, crop - 1, np.float32))
        return g.op1("Add", g.op1("Mul", lo, extent),
                     g.op1("Mul", g.const(np.arange(crop, dtype=np.float32)[None, :]), step))
    # crop_and_resize_op.cc: 0.5 * (y1 + y2) * (height - 1) with a double 0.5, rounded to float once.
    mid = g.op1("Mul", g.op1("Mul", cast(g, g.op1("Add", lo, hi), np.float64), scalar(g, 0.5, np.float64)),
                cast(g, extent, np.float64))
    return cast(g, mid, np.float32)


def _gather_pixels(g: Graph, image: Val, b: Val, y: Val, x: Val) -> Val:
    """image[b, y, x, :] for int64 index tensors that broadcast to [..., 1] (GatherND)."""
    shape = g.op1("Shape", g.op1("Add", g.op1("Add", b, y), x))
    idx = g.op1("Concat", *(g.op1("Expand", v, shape) for v in (b, y, x)), axis=-1)
    return g.op1("GatherND", image, idx)


@converter("CropAndResize", onnx="Floor, Ceil, Clip, GatherND, Where (arithmetic on the box coordinates)")
def crop_and_resize(cx, node, ins):
    """Each crop pixel sampled at its box coordinate (tensorflow/tensorflow tensorflow/core/kernels/
    image/crop_and_resize_op.cc): nearest rounds halves away from zero, bilinear interpolates the
    four neighbours in float32; coordinates outside [0, size - 1] give extrapolation_value."""
    g = cx.g
    image, boxes, box_ind = ins[0], ins[1], ins[2]
    method = attr_text(node, "method", "bilinear")
    if method not in ("bilinear", "nearest"):
        raise ExportError(f"method must be 'bilinear' or 'nearest', got {method!r}")
    crop = const_ints(ins[3], "crop_size")
    if len(crop) != 2 or min(crop) <= 0:
        raise ExportError(f"crop_size must be two positive sizes, got {crop}")
    ch, cw = (bounded(c, MAX_CONST_ELEMENTS, "crop_size") for c in crop)
    if need_rank(image, "image") != 4 or need_rank(boxes, "boxes") != 2 or need_rank(box_ind, "box_ind") != 1:
        raise ExportError("the image must be 4-D, boxes 2-D and box_ind 1-D")
    if isinstance(boxes.shape[1], int) and boxes.shape[1] != 4:
        raise ExportError(f"boxes must have 4 columns, got {boxes.shape[1]}")
    f32 = np.float32
    fill = scalar(g, float(node.attr.get("extrapolation_value", 0.0)), f32)
    b = cast(g, boxes, f32)
    y1, x1, y2, x2 = (g.op1("Gather", b, g.const(np.asarray([k], np.int64)), axis=1) for k in range(4))  # [N, 1]
    hm1, wm1 = _dim_f32(g, image, 1), _dim_f32(g, image, 2)
    ys, xs = _crop_coords(g, y1, y2, hm1, ch), _crop_coords(g, x1, x2, wm1, cw)  # [N, ch], [N, cw]
    zero = scalar(g, 0, f32)

    def inside(c: Val, last: Val) -> Val:
        return g.op1("And", g.op1("GreaterOrEqual", c, zero), g.op1("LessOrEqual", c, last))

    # [N, ch, 1, 1] and [N, 1, cw, 1]: rows and columns broadcast against each other.
    rows, cols = unsqueeze(g, ys, [2, 3]), unsqueeze(g, xs, [1, 3])
    ok = g.op1("And", inside(rows, hm1), inside(cols, wm1))
    bi = unsqueeze(g, i64(g, box_ind), [1, 2, 3])
    if method == "nearest":
        yi = i64(g, g.op1("Clip", roundf(g, rows), zero, hm1))
        xi = i64(g, g.op1("Clip", roundf(g, cols), zero, wm1))
        out = cast(g, _gather_pixels(g, image, bi, yi, xi), f32)
    else:
        yc, xc = g.op1("Clip", rows, zero, hm1), g.op1("Clip", cols, zero, wm1)
        top, left = g.op1("Floor", yc), g.op1("Floor", xc)
        bottom, right = i64(g, g.op1("Ceil", yc)), i64(g, g.op1("Ceil", xc))
        yl, xl = g.op1("Sub", yc, top), g.op1("Sub", xc, left)
        top, left = i64(g, top), i64(g, left)
        tl, tr, bl, br = (cast(g, _gather_pixels(g, image, bi, yy, xx), f32)
                          for yy, xx in ((top, left), (top, right), (bottom, left), (bottom, right)))
        t = g.op1("Add", tl, g.op1("Mul", g.op1("Sub", tr, tl), xl))
        bo = g.op1("Add", bl, g.op1("Mul", g.op1("Sub", br, bl), xl))
        out = g.op1("Add", t, g.op1("Mul", g.op1("Sub", bo, t), yl))
    return g.op1("Where", ok, out, fill)


inexpressible("image codecs: ONNX has no encoders, and its ImageDecoder is not specified to decode as "
              "TensorFlow's decoders do", "DecodeJpeg", "DecodeAndCropJpeg", "DecodePng", "DecodeBmp",
              "DecodeGif", "DecodeWebP", "DecodeJxl", "DecodeImage", "EncodeJpeg", "EncodeJpegVariableQuality", "EncodePng",
              "ExtractJpegShape")


# -- non-max suppression --------------------------------------------------------------------------
# TF (graph/ops/image_boxes.py; tensorflow/tensorflow tensorflow/core/kernels/image/
# non_max_suppression_op.cc) and ONNX NonMaxSuppression (onnxruntime's CPU kernel) agree on hard
# NMS of one box set: candidates with score > score_threshold, visited by descending score (ties:
# lower index first), IoU in float32 from each box's min/max corners (0 for a box without area),
# a candidate dropped when its IoU with a kept box is > iou_threshold, at most max_output_size
# kept. TF's form is one class of one batch: [N, 4] -> [1, N, 4], scores [N] -> [1, 1, N], and the
# box column of ONNX's [selected, 3] (batch, class, box) triples.

def _half_iou_bound(thr: np.float16) -> np.float32:
    """The float32 bound b with float16(iou) > thr <=> iou > b: TF compares half-precision IoUs."""
    up = np.nextafter(thr, np.float16(np.inf))
    mid = np.float32((np.float64(thr) + np.float64(up)) / 2)  # exact: half has 11 significant bits
    return mid if np.float16(mid) == thr else np.nextafter(mid, np.float32(-np.inf))


def _threshold(g: Graph, v: Val, t: np.dtype) -> Val:
    """A threshold as TF compares it (rounded to the boxes' type T), as a float32 scalar."""
    return g.op1("Reshape", cast(g, cast(g, v, t), np.float32), g.const(np.zeros(0, np.int64)))


def _as_1(g: Graph, v: Val) -> Val:
    return g.op1("Reshape", v, g.const(np.asarray([1], np.int64)))


def _onnx_nms(g: Graph, boxes: Val, scores: Val, limit: Val, iou: Val, score: Val) -> list[Val]:
    """[indices int32 [n], n int32] of hard NMS by ONNX NonMaxSuppression (float32 boxes and scores)."""
    b = unsqueeze(g, boxes, [0])
    sc = unsqueeze(g, scores, [0, 1])
    sel = g.op1("NonMaxSuppression", b, sc, _as_1(g, i64(g, limit)), _as_1(g, iou), _as_1(g, score))
    idx = g.op1("Gather", sel, scalar(g, 2, np.int64), axis=1)
    n = g.op1("Squeeze", g.op1("Shape", idx))
    return [cast(g, idx, np.int32), cast(g, n, np.int32)]


Similarity = Callable[[Graph, Val, Val], Val]  # (graph, candidate [1] int64, kept box () int64) -> [1] float32


def _iou_similarity(g: Graph, boxes: Val) -> Similarity:
    """TF's IoU (float32, from min/max corners, 0 for a box without area) of two of ``boxes`` [N, 4]."""
    c = [squeeze(g, v, [1]) for v in split(g, boxes, 1, num=4)]
    ymin, ymax = g.op1("Min", c[0], c[2]), g.op1("Max", c[0], c[2])
    xmin, xmax = g.op1("Min", c[1], c[3]), g.op1("Max", c[1], c[3])
    area = g.op1("Mul", g.op1("Sub", ymax, ymin), g.op1("Sub", xmax, xmin))
    f32 = np.dtype(np.float32)

    def sim(h: Graph, i: Val, kj: Val) -> Val:
        mine = [h.op1("Gather", v, i, axis=0) for v in (ymin, xmin, ymax, xmax, area)]
        y0, x0, y1, x1, a = (h.op1("Gather", v, kj, axis=0) for v in (ymin, xmin, ymax, xmax, area))
        nought = scalar(h, 0, f32)
        ih = h.op1("Max", h.op1("Sub", h.op1("Min", mine[2], y1), h.op1("Max", mine[0], y0)), nought)
        iw = h.op1("Max", h.op1("Sub", h.op1("Min", mine[3], x1), h.op1("Max", mine[1], x0)), nought)
        inter = h.op1("Mul", ih, iw)
        iou = h.op1("Div", inter, h.op1("Sub", h.op1("Add", mine[4], a), inter))
        empty = h.op1("Or", h.op1("LessOrEqual", mine[4], nought), h.op1("LessOrEqual", a, nought))
        return h.op1("Where", empty, nought, iou)

    return sim


def _queue_nms(g: Graph, sim: Similarity, scores: Val, limit: Val, iou: Val, score_thr: Val,
               scale: Val | None) -> list[Val]:
    """TF's NMS queue (DoNonMaxSuppressionOp) as an ONNX Loop: [indices int32 [n], their scores [n], n int32].

    Each round takes the live candidate of highest score (ties: lower index, as ArgMax's first
    maximum) and rescores it against the boxes kept since it was last scored, newest first, by
    their similarity ``sim`` (IoU, or a given overlap): soft (``scale`` = -0.5 / sigma) multiplies
    by exp(scale * sim^2); hard (``scale`` None) drops the candidate at a similarity > ``iou`` and
    zeroes its score at a NaN one. The scan stops once the score is <= score_thr. The candidate is
    kept if its score did not change, else re-queued while its score is above score_thr. Float32
    scores; ``iou`` a float32 scalar.
    """
    f32, i64_, b8 = np.dtype(np.float32), np.dtype(np.int64), np.dtype(bool)
    zero, one = scalar(g, 0, np.int64), scalar(g, 1, np.int64)
    positions = g.op1("Range", zero, g.op1("Squeeze", g.op1("Shape", scores)), one)
    alive0 = g.op1("Greater", scores, score_thr)
    lim = g.op1("Reshape", i64(g, limit), g.const(np.zeros(0, np.int64)))

    def go_on(gg: Graph, count: Val, alive: Val) -> Val:
        left = gg.op1("ReduceSum", cast(gg, alive, np.int64), keepdims=0)
        return gg.op1("And", gg.op1("Less", count, lim), gg.op1("Greater", left, zero))

    n = None if scores.shape is None else scores.shape[0]
    carried = [("cur", f32, (n,)), ("alive", b8, (n,)), ("begin", i64_, (n,)), ("kept", i64_, (n,)),
               ("kscores", f32, (n,)), ("count", i64_, ())]
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("iter", "cond", *(name for name, _, _ in carried))]
    types = [tensor_type(dt, shape) for _, dt, shape in carried]
    in_types = [(names[0], tensor_type(i64_, ())), (names[1], tensor_type(b8, ()))] + list(zip(names[2:], types))

    def round_(gg: Graph) -> list[Val]:
        cur, alive, begin, kept, kscores, count = (Val(nm, dt, shape) for nm, (_, dt, shape)
                                                  in zip(names[2:], carried))
        i = gg.op1("ArgMax", gg.op1("Where", alive, cur, scalar(gg, -np.inf, f32)), axis=0, keepdims=1)
        first = gg.op1("Gather", cur, i, axis=0)
        steps = gg.op1("Squeeze", gg.op1("Sub", count, gg.op1("Gather", begin, i, axis=0)))
        inner = [g.model.fresh(f"{g.hint}/{k}") for k in ("k", "go", "score", "hard")]

        def rescore(h: Graph) -> list[Val]:
            k, score = Val(inner[0], i64_, ()), Val(inner[2], f32, (1,))
            j = h.op1("Sub", h.op1("Sub", count, one), k)  # the kept boxes, newest first
            s = sim(h, i, h.op1("Gather", kept, j, axis=0))
            if scale is not None:
                weight = h.op1("Exp", h.op1("Mul", h.op1("Mul", scale, s), s))
                hard = h.const(np.zeros(1, bool))
            else:  # 1 at an IoU <= iou, else 0 (NaN included); dropped at an IoU > iou
                weight = cast(h, h.op1("LessOrEqual", s, iou), np.float32)
                hard = h.op1("Greater", s, iou)
            score = h.op1("Mul", score, weight)
            low = h.op1("LessOrEqual", score, score_thr)
            more = h.op1("Squeeze", h.op1("Not", h.op1("Or", hard, low)))
            return [more, score, hard]

        body, _ = body_graph(gg, "rescore", rescore, [(inner[0], tensor_type(i64_, ())),
                                                      (inner[1], tensor_type(b8, ())),
                                                      (inner[2], tensor_type(f32, (1,))),
                                                      (inner[3], tensor_type(b8, (1,)))])
        score, hard = gg.op("Loop", [steps, None, first, gg.const(np.zeros(1, bool))], outputs=2,
                            types=[tensor_type(f32, (1,)), tensor_type(b8, (1,))], body=body)
        kept_now = gg.op1("And", gg.op1("Not", hard), gg.op1("Equal", score, first))
        again = gg.op1("And", gg.op1("Not", gg.op1("Or", hard, kept_now)), gg.op1("Greater", score, score_thr))
        at_i = gg.op1("Equal", positions, i)
        alive2 = gg.op1("Or", gg.op1("And", at_i, again), gg.op1("And", gg.op1("Not", at_i), alive))
        cur2 = gg.op1("Where", at_i, score, cur)
        begin2 = gg.op1("Where", at_i, count, begin)
        slot = gg.op1("And", gg.op1("Equal", positions, count), kept_now)
        kept2 = gg.op1("Where", slot, i, kept)
        kscores2 = gg.op1("Where", slot, score, kscores)
        count2 = gg.op1("Add", count, gg.op1("Squeeze", cast(gg, kept_now, np.int64)))
        return [go_on(gg, count2, alive2), cur2, alive2, begin2, kept2, kscores2, count2]

    body, _ = body_graph(g, "nms_queue", round_, in_types)
    zeros_i = g.op1("ConstantOfShape", g.op1("Shape", scores), value=onnx_tensor(np.zeros(1, np.int64)))
    zeros_f = g.op1("ConstantOfShape", g.op1("Shape", scores), value=onnx_tensor(np.zeros(1, np.float32)))
    count0 = g.const(np.asarray(0, np.int64))
    outs = g.op("Loop", [None, go_on(g, count0, alive0), scores, alive0, zeros_i, zeros_i, zeros_f, count0],
                outputs=6, types=types, body=body)
    kept, kscores, count = outs[3], outs[4], outs[5]
    end = _as_1(g, count)
    start = g.const(np.asarray([0], np.int64))
    return [cast(g, g.op1("Slice", kept, start, end), np.int32), g.op1("Slice", kscores, start, end),
            cast(g, count, np.int32)]


def _nms(cx, ins, iou: Val, score: Val | None) -> list[Val]:
    """[indices int32 [n], n int32] of TF's hard NMS: ONNX NonMaxSuppression when every box is
    finite, else (an If) the queue Loop, where TF's handling of NaN IoUs differs from ONNX's."""
    g = cx.g
    boxes, scores, limit = ins[0], ins[1], ins[2]
    if need_rank(boxes, "boxes") != 2 or need_rank(scores, "scores") != 1:
        raise ExportError("boxes must be 2-D and scores 1-D")
    t = np.dtype(boxes.dtype)
    if t == np.float16:
        if not iou.is_const:
            raise ExportError("half-precision NMS compares IoUs in half precision: its iou_threshold must be a "
                              "constant to carry that rounding over to float32")
        iou_v = g.const(np.asarray(_half_iou_bound(np.float16(iou.const)), np.float32))
    elif t == np.float32:
        iou_v = _threshold(g, iou, t)
    else:
        raise ExportError(f"NMS of {t} boxes")
    # V1/V2 keep scores above the lowest finite value of T (no score threshold of their own).
    score_v = _threshold(g, score if score is not None else scalar(g, np.finfo(t).min, t), t)
    b, sc = cast(g, boxes, np.float32), cast(g, scores, np.float32)
    odd = g.op1("ReduceSum", cast(g, g.op1("Or", g.op1("IsNaN", b), g.op1("IsInf", b)), np.int64), keepdims=0)
    finite = g.op1("Equal", odd, scalar(g, 0, np.int64))
    return if_graph(g, finite, lambda gg: _onnx_nms(gg, b, sc, limit, iou_v, score_v),
                    lambda gg: [v for k, v in enumerate(_queue_nms(gg, _iou_similarity(gg, b), sc, limit, iou_v,
                                                                   score_v, None)) if k != 1])


def _padded(g: Graph, node, v: Val, limit: Val) -> Val:
    """``v`` ([n]) with zeros up to max_output_size when pad_to_max_output_size is set."""
    if not node.attr.get("pad_to_max_output_size"):
        return v
    more = g.op1("Sub", _as_1(g, i64(g, limit)), g.op1("Shape", v))
    pads = g.op1("Concat", g.const(np.asarray([0], np.int64)), more, axis=0)
    return g.op1("Pad", v, pads, scalar(g, 0, v.dtype), mode="constant")


@converter("NonMaxSuppression", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
           onnx="NonMaxSuppression, Gather (non-finite boxes: Loop of TF's queue)")
def nms(cx, node, ins):
    g = cx.g
    iou = g.const(np.float32(node.attr.get("iou_threshold", 0.5))) if node.op == "NonMaxSuppression" else ins[3]
    return _nms(cx, ins, iou, ins[4] if node.op == "NonMaxSuppressionV3" else None)[0]


@converter("NonMaxSuppressionV4", onnx="NonMaxSuppression, Gather, Pad (non-finite boxes: Loop of TF's queue)")
def nms_v4(cx, node, ins):
    idx, n = _nms(cx, ins, ins[3], ins[4])
    return [_padded(cx.g, node, idx, ins[2]), n]


@converter("NonMaxSuppressionV5", onnx="NonMaxSuppression, Gather, Pad; soft-NMS: Loop of TF's queue")
def nms_v5(cx, node, ins):
    g = cx.g
    boxes, scores, sigma = ins[0], ins[1], ins[5]
    if sigma.is_const and float(sigma.const) == 0:
        idx, n = _nms(cx, ins, ins[3], ins[4])
        picked = g.op1("Gather", scores, idx, axis=0)
    elif boxes.dtype != np.float32:
        raise ExportError(f"soft-NMS of {boxes.dtype} boxes (soft_nms_sigma not the constant 0): TensorFlow rounds "
                          "each step to the boxes' type, which the float32 Loop does not")
    elif sigma.is_const:
        if need_rank(boxes, "boxes") != 2 or need_rank(scores, "scores") != 1:
            raise ExportError("boxes must be 2-D and scores 1-D")
        f32 = np.dtype(np.float32)
        scale = g.op1("Div", scalar(g, -0.5, f32), cast(g, sigma, f32))
        idx, picked, n = _queue_nms(g, _iou_similarity(g, boxes), scores, ins[2], _threshold(g, ins[3], f32),
                                    _threshold(g, ins[4], f32), scale)
    else:
        raise ExportError("soft_nms_sigma is computed at run time: hard NMS (0) and soft-NMS (> 0) export "
                          "differently, so it must be a constant")
    return [_padded(g, node, idx, ins[2]), _padded(g, node, picked, ins[2]), n]




# -- drawing boxes ---------------------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/image/draw_bounding_box_op.cc, as the numpy runtime's
# draw_bounding_boxes (graph/ops/image_boxes.py): a box's rows are int64(float32(y) * float32(h - 1))
# (truncated; NaN and overflow give INT64_MIN, as x86 converts them), its columns likewise; an
# inverted box (min > max) or one wholly outside is skipped; otherwise its top and bottom rows are
# drawn when inside the image, over the columns clamped to it, and its left and right columns over
# the rows clamped to it. Box k takes colour k mod K of the table (TF's default table when colors is
# empty); later boxes draw over earlier ones. On the pixel grid, with 0 <= r < h and 0 <= c < w, the
# clamping and the outside tests fold away: box pixel (r, c) is drawn iff y0 <= y1, x0 <= x1 and
# ((r == y0 or r == y1) and x0 <= c <= x1, or (c == x0 or c == x1) and y0 <= r <= y1).

def _pixel_index(g: Graph, v: Val) -> Val:
    """float32 -> int64 as C++ converts it on x86: truncated, INT64_MIN for NaN and out of range."""
    bad_ = g.op1("Not", g.op1("Less", g.op1("Abs", v), scalar(g, 2.0**63, np.float32)))  # NaN too
    safe = i64(g, g.op1("Where", bad_, scalar(g, 0, np.float32), v))
    return g.op1("Where", bad_, scalar(g, INT64_MIN, np.int64), safe)


def _box_colours(g: Graph, node, ins: list[Val], depth: int, dt: np.dtype) -> tuple[Val, Val | int]:
    """(colour table [K', depth] in the images' type, K or a run-time int64 scalar of the colours given);
    box k's colour is row k mod K (K = len(TF's default table) when no colours are given)."""
    default = _rt_boxes._COLOURS[:, :depth].copy()
    if depth == 1:
        default[:, 0] = 1
    if node.op != "DrawBoundingBoxesV2":
        return g.const(default.astype(dt)), len(default)
    colors = ins[2]
    if need_rank(colors, "colors") != 2:
        raise ExportError(f"colors must be a 2-D matrix, got rank {colors.rank}")
    if isinstance(colors.shape[1], int) and colors.shape[1] < depth:
        raise ExportError(f"colors must have equal or more channels than the image provided: "
                          f"{list(colors.shape)} for depth {depth}")
    if colors.is_const:
        table = np.asarray(colors.const, np.float32)
        table = table[:, :depth] if table.size else default
        return g.const(table.astype(dt)), len(table)
    # Colours given at run time: their first depth columns, then the default table (used when none are).
    given = g.op1("Slice", cast(g, colors, np.float32), g.const(np.asarray([0], np.int64)),
                  g.const(np.asarray([depth], np.int64)), g.const(np.asarray([1], np.int64)))
    table = cast(g, g.op1("Concat", given, g.const(default), axis=0), dt)
    return table, g.op1("Reshape", g.op1("Shape", colors, start=0, end=1), g.const(np.zeros(0, np.int64)))


@converter("DrawBoundingBoxes", "DrawBoundingBoxesV2",
           onnx="box outlines as comparisons on pixel grids, a Loop over boxes of Where (in box order)")
def draw_bounding_boxes(cx, node, ins):
    """Each box's outline mask from its rows and columns (TF's rounding), drawn in box order by a
    Loop whose step k paints box k's colour with Where: later boxes over earlier, any box count."""
    g = cx.g
    images, boxes = ins[0], ins[1]
    if need_rank(images, "images") != 4:
        raise ExportError("The rank of the images should be 4")
    if need_rank(boxes, "boxes") != 3:
        raise ExportError("The rank of the boxes tensor should be 3")
    if isinstance(boxes.shape[2], int) and boxes.shape[2] != 4:
        raise ExportError(f"The size of the third dimension of the box must be 4. Received: {boxes.shape[2]}")
    b_img, b_box = images.shape[0], boxes.shape[0]
    if isinstance(b_img, int) and isinstance(b_box, int) and b_img != b_box:
        raise ExportError("The batch sizes should be the same")
    depth = images.shape[3]
    if not isinstance(depth, int):
        raise ExportError("the images' depth must be known before running (it sizes the colour table)")
    if depth not in (1, 3, 4):
        raise ExportError("Channel depth should be either 1 (GRY), 3 (RGB), or 4 (RGBA)")
    dt = np.dtype(images.dtype)
    if dt not in (np.float16, np.float32):
        raise ExportError(f"drawing into {dt} images (TensorFlow draws into float and half images)")
    table, k_colours = _box_colours(g, node, ins, depth, dt)
    f32, i64_ = np.float32, np.int64
    bx = cast(g, boxes, f32)
    y0, x0, y1, x1 = (_pixel_index(g, g.op1("Mul", g.op1("Gather", bx, g.const(np.asarray(k, i64_)), axis=2),
                                               _dim_f32(g, images, 1 if k % 2 == 0 else 2)))
                      for k in range(4))  # [B, N] each
    zero, one = scalar(g, 0, i64_), scalar(g, 1, i64_)

    def grid(axis: int) -> Val:  # [1, 1, size]: every row (column) index
        size = g.op1("Reshape", g.op1("Shape", images, start=axis, end=axis + 1), g.const(np.zeros(0, i64_)))
        return unsqueeze(g, g.op1("Range", zero, size, one), [0, 1])

    r, c = grid(1), grid(2)
    y0, x0, y1, x1 = (unsqueeze(g, v, [2]) for v in (y0, x0, y1, x1))  # [B, N, 1]
    valid = g.op1("And", g.op1("LessOrEqual", y0, y1), g.op1("LessOrEqual", x0, x1))

    def between(v: Val, lo: Val, hi: Val) -> Val:
        return g.op1("And", g.op1("LessOrEqual", lo, v), g.op1("LessOrEqual", v, hi))

    def either(v: Val, a: Val, b: Val) -> Val:
        return g.op1("Or", g.op1("Equal", v, a), g.op1("Equal", v, b))

    row_line = g.op1("And", valid, either(r, y0, y1))  # [B, N, H]: a top or bottom row of a drawn box
    row_span = g.op1("And", valid, between(r, y0, y1))  # [B, N, H]: rows of its left and right columns
    col_span, col_line = between(c, x0, x1), either(c, x0, x1)  # [B, N, W]
    n_boxes = g.op1("Reshape", g.op1("Shape", boxes, start=1, end=2), g.const(np.zeros(0, i64_)))
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("box", "cond", "canvas")]
    canvas_t = tensor_type(dt, images.shape)

    def paint(gg: Graph) -> list[Val]:
        k = Val(names[0], np.dtype(i64_), ())
        canvas = Val(names[2], dt, images.shape)

        def at_k(v: Val, axis: int) -> Val:
            """Box k's row of ``v`` [B, N, X], as [B, X, 1] (axis 2) or [B, 1, X] (axis 1)."""
            return unsqueeze(gg, gg.op1("Gather", v, k, axis=1), [axis])

        mask = gg.op1("Or", gg.op1("And", at_k(row_line, 2), at_k(col_span, 1)),
                      gg.op1("And", at_k(row_span, 2), at_k(col_line, 1)))  # [B, H, W]
        if isinstance(k_colours, int):
            which = gg.op1("Mod", k, scalar(gg, k_colours, i64_))
        else:  # colours given at run time: row k mod K, or the default table after them when K == 0
            some = gg.op1("Greater", k_colours, zero)
            which = gg.op1("Where", some, gg.op1("Mod", k, gg.op1("Max", k_colours, one)),
                           gg.op1("Add", k_colours, gg.op1("Mod", k, scalar(gg, len(_rt_boxes._COLOURS), i64_))))
        colour = gg.op1("Gather", table, which, axis=0)  # [depth]
        return [gg.const(np.asarray(True)), gg.op1("Where", unsqueeze(gg, mask, [3]), colour, canvas)]

    body, _ = body_graph(g, "draw_box", paint, [(names[0], tensor_type(np.dtype(i64_), ())),
                                                (names[1], tensor_type(np.dtype(bool), ())),
                                                (names[2], canvas_t)])
    return g.op("Loop", [n_boxes, None, images], outputs=1, types=[canvas_t], body=body)[0]


def _greedy_overlaps(g: Graph, overlaps: Val, scores: Val, limit: Val, thr: Val, score_thr: Val) -> Val:
    """Hard NMS by a finite overlap matrix as a Loop keeping one candidate a round: indices int32 [n].

    A round keeps the live candidate of highest score (ties: lower index, ArgMax's first maximum)
    and drops every candidate ``c`` with overlaps[c, kept] > thr: TF's queue compares
    similarity(candidate, kept) (non_max_suppression_op.cc), and with finite overlaps and hard
    suppression its queue is this greedy pass (graph/ops/image_boxes.py, _hard_nms).
    """
    f32, i64_, b8 = np.dtype(np.float32), np.dtype(np.int64), np.dtype(bool)
    zero, one = scalar(g, 0, np.int64), scalar(g, 1, np.int64)
    positions = g.op1("Range", zero, g.op1("Squeeze", g.op1("Shape", scores)), one)
    lim = g.op1("Reshape", i64(g, limit), g.const(np.zeros(0, np.int64)))
    n = None if scores.shape is None else scores.shape[0]
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("iter", "cond", "alive", "count")]

    def go_on(gg: Graph, count: Val, alive: Val) -> Val:
        left = gg.op1("ReduceSum", cast(gg, alive, np.int64), keepdims=0)
        return gg.op1("And", gg.op1("Less", count, lim), gg.op1("Greater", left, zero))

    def round_(gg: Graph) -> list[Val]:
        alive, count = Val(names[2], b8, (n,)), Val(names[3], i64_, ())
        i = gg.op1("ArgMax", gg.op1("Where", alive, scores, scalar(gg, -np.inf, f32)), axis=0, keepdims=0)
        hit = gg.op1("Greater", gg.op1("Gather", overlaps, i, axis=1), thr)
        alive2 = gg.op1("And", alive, gg.op1("Not", gg.op1("Or", hit, gg.op1("Equal", positions, i))))
        count2 = gg.op1("Add", count, one)
        return [go_on(gg, count2, alive2), alive2, count2, i]

    body, _ = body_graph(g, "nms_overlaps", round_, [(names[0], tensor_type(i64_, ())),
                                                     (names[1], tensor_type(b8, ())),
                                                     (names[2], tensor_type(b8, (n,))),
                                                     (names[3], tensor_type(i64_, ()))])
    alive0 = g.op1("Greater", scores, score_thr)
    count0 = g.const(np.asarray(0, np.int64))
    outs = g.op("Loop", [None, go_on(g, count0, alive0), alive0, count0], outputs=3,
                types=[tensor_type(b8, (n,)), tensor_type(i64_, ()), tensor_type(i64_, (None,))], body=body)
    return cast(g, outs[2], np.int32)


@converter("NonMaxSuppressionWithOverlaps",
           onnx="Loop keeping one candidate a round (NaN overlaps: Loop of TF's queue)")
def nms_with_overlaps(cx, node, ins):
    g = cx.g
    overlaps, scores, limit = ins[0], ins[1], ins[2]
    if need_rank(overlaps, "overlaps") != 2 or need_rank(scores, "scores") != 1:
        raise ExportError("overlaps must be 2-D and scores 1-D")
    n0, n1, ns = overlaps.shape[0], overlaps.shape[1], scores.shape[0]
    if isinstance(n0, int) and isinstance(n1, int) and n0 != n1:
        raise ExportError(f"overlaps must be square, got shape [{n0}, {n1}]")
    if isinstance(n0, int) and isinstance(ns, int) and n0 != ns:
        raise ExportError(f"scores must have one element per row of overlaps ({n0}), got {ns}")
    f32 = np.dtype(np.float32)
    thr, score_thr = _threshold(g, ins[3], f32), _threshold(g, ins[4], f32)
    ov, sc = cast(g, overlaps, f32), cast(g, scores, f32)
    # A NaN overlap zeroes the candidate's score in TF's queue instead of dropping it: the queue Loop.
    nans = g.op1("ReduceSum", cast(g, g.op1("IsNaN", ov), np.int64), keepdims=0)
    plain = g.op1("Equal", nans, scalar(g, 0, np.int64))

    def overlap(h: Graph, i: Val, kj: Val) -> Val:
        return h.op1("Gather", h.op1("Gather", ov, i, axis=0), kj, axis=1)

    return if_graph(g, plain, lambda gg: [_greedy_overlaps(gg, ov, sc, limit, thr, score_thr)],
                    lambda gg: [_queue_nms(gg, overlap, sc, limit, thr, score_thr, None)[0]])[0]


# -- CombinedNonMaxSuppression --------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/image/non_max_suppression_op.cc (DoNMSPerClass,
# SelectResultPerBatch, BatchedNonMaxSuppressionOp) and graph/ops/image_boxes.py (combined_nms):
# for each batch b and class c (here one "row" h = b * C + c) the boxes of score > score_threshold
# are popped from a std::priority_queue compared by score alone and kept unless their float32 IoU
# with a box kept before (of that class) is > iou_threshold, at most S = min(per_class, N) a class.
# Kept box r of class c fills slot c * S + r of a vector of C * S slots prefilled with score -inf,
# which is sorted by descending score (the runtime sorts stably: equal scores by slot); the first
# min(count, M) are written, boxes clipped to [0, 1] when clip_boxes, the rest zero. M is
# max_total_size, or min(max_total_size, per_class * C) when pad_per_class.
#
# ONNX NonMaxSuppression pops equal scores lower index first. TF's heap pops them in the order
# libstdc++'s push_heap / pop_heap leave them (the runtime's _heap_order), which only changes the
# result when a kept box's score equals another candidate's of its row (a tie group where nothing
# is kept is suppressed, or cut off, whatever its order). Then (an If) the rows' pop orders are
# worked out by the same heap operations in Loops, and NonMaxSuppression runs on the boxes in that
# order with strictly decreasing stand-in scores.

Step = Callable[[Graph, Val, list[Val]], tuple[Val, list[Val], list[Val]]]


def _loop(g: Graph, name: str, init: list[Val], step: Step, cond0: Val | None, trip: Val | None = None,
          scans: Sequence[tuple[np.dtype, tuple[int | None, ...]]] = ()) -> list[Val]:
    """An ONNX Loop carrying ``init``; ``step(body, iteration, carried)`` gives (go on, carried, scan outputs)."""
    i64_, b8 = np.dtype(np.int64), np.dtype(bool)
    names = [g.model.fresh(f"{g.hint}/{k}") for k in ("iter", "cond", *(f"v{j}" for j in range(len(init))))]
    types = [tensor_type(np.dtype(v.dtype), v.shape) for v in init]

    def body(gg: Graph) -> list[Val]:
        carried = [Val(nm, v.dtype, v.shape) for nm, v in zip(names[2:], init)]
        go, new, out = step(gg, Val(names[0], i64_, ()), carried)
        return [go, *new, *out]

    proto, _ = body_graph(g, name, body, [(names[0], tensor_type(i64_, ())), (names[1], tensor_type(b8, ())),
                                          *zip(names[2:], types)])
    return g.op("Loop", [trip, cond0, *init], outputs=len(init) + len(scans),
                types=types + [tensor_type(dt, (None, *shape)) for dt, shape in scans], body=proto)


def _any(g: Graph, v: Val) -> Val:
    return g.op1("Greater", g.op1("ReduceSum", cast(g, v, np.int64), keepdims=0), scalar(g, 0, np.int64))


def _at(g: Graph, rows: Val, idx: Val) -> Val:
    """rows[h, idx[h]] for each row h ([H, N], [H] -> [H])."""
    return squeeze(g, g.op1("GatherElements", rows, unsqueeze(g, idx, [1]), axis=1), [1])


def _put(g: Graph, rows: Val, idx: Val, value: Val, mask: Val) -> Val:
    """``rows`` with rows[h, idx[h]] = value[h] where mask[h]."""
    value = g.op1("Where", mask, value, _at(g, rows, idx))
    return g.op1("ScatterElements", rows, unsqueeze(g, idx, [1]), unsqueeze(g, value, [1]), axis=1)


def _heap_pop_order(g: Graph, sc: Val, cand: Val) -> Val:
    """For each row of ``sc`` [H, N], the order a libstdc++ std::priority_queue compared by score pops
    the candidates (``cand``) pushed in index order: [H, N] int64, the first count(cand) meaningful.

    std::push_heap and std::pop_heap (libstdc++ bits/stl_heap.h: __push_heap, __adjust_heap, as the
    runtime's _heap_order replays them), one Loop round a push or pop for every row at once.
    """
    zero, one, two = (scalar(g, k, np.int64) for k in (0, 1, 2))
    n_ = g.op1("Squeeze", g.op1("Shape", sc, start=1, end=2))
    h_shape = g.op1("Shape", sc, start=0, end=1)
    heap0 = g.op1("ConstantOfShape", g.op1("Shape", sc), value=onnx_tensor(np.zeros(1, np.int64)))
    size0 = g.op1("ConstantOfShape", h_shape, value=onnx_tensor(np.zeros(1, np.int64)))

    def score(gg: Graph, heap: Val, at: Val) -> Val:
        return _at(gg, sc, _at(gg, heap, at))

    def sift_up(gg: Graph, heap: Val, hole: Val, value: Val, mask: Val) -> Val:
        """__push_heap: move parents down while their score is below ``value``'s, then place it."""
        mine = _at(gg, sc, value)

        def step(h: Graph, _it: Val, v: list[Val]) -> tuple[Val, list[Val], list[Val]]:
            heap_, hole_, act = v
            parent = h.op1("Div", h.op1("Max", h.op1("Sub", hole_, one), zero), two)
            up = _at(h, heap_, parent)
            go = h.op1("And", h.op1("And", act, h.op1("Greater", hole_, zero)),
                       h.op1("Less", _at(h, sc, up), mine))
            return _any(h, go), [_put(h, heap_, hole_, up, go), h.op1("Where", go, parent, hole_), go], []

        heap, hole, _ = _loop(gg, "heap_up", [heap, hole, mask], step, _any(gg, mask))
        return _put(gg, heap, hole, value, mask)

    def push(gg: Graph, i: Val, v: list[Val]) -> tuple[Val, list[Val], list[Val]]:
        heap, size = v
        mask = squeeze(gg, gg.op1("Gather", cand, unsqueeze(gg, i, [0]), axis=1), [1])
        value = gg.op1("Expand", i, h_shape)
        heap = sift_up(gg, heap, size, value, mask)
        return gg.const(np.asarray(True)), [heap, gg.op1("Add", size, cast(gg, mask, np.int64))], []

    heap, size = _loop(g, "heap_push", [heap0, size0], push, None, n_)

    def pop(gg: Graph, _i: Val, v: list[Val]) -> tuple[Val, list[Val], list[Val]]:
        heap, size = v
        top = _at(gg, heap, g.op1("Expand", zero, h_shape))
        n = gg.op1("Max", gg.op1("Sub", size, one), zero)  # the length left
        value = _at(gg, heap, n)
        active = gg.op1("Greater", size, one)
        half = gg.op1("Div", gg.op1("Max", gg.op1("Sub", n, one), zero), two)  # (len - 1) / 2

        def down(h: Graph, _it: Val, w: list[Val]) -> tuple[Val, list[Val], list[Val]]:
            heap_, hole, child, act = w
            go = h.op1("And", act, h.op1("Less", child, half))
            right = h.op1("Where", go, h.op1("Mul", h.op1("Add", child, one), two), zero)
            left = h.op1("Max", h.op1("Sub", right, one), zero)
            pick = h.op1("Where", h.op1("Less", score(h, heap_, right), score(h, heap_, left)), left, right)
            heap_ = _put(h, heap_, hole, _at(h, heap_, pick), go)
            return _any(h, go), [heap_, h.op1("Where", go, pick, hole), h.op1("Where", go, pick, child), go], []

        heap, hole, child, _ = _loop(gg, "heap_down", [heap, g.op1("Expand", zero, h_shape),
                                                       g.op1("Expand", zero, h_shape), active], down, _any(gg, active))
        # An even length whose last parent has only a left child: move that child up too.
        even = gg.op1("Equal", gg.op1("Mod", n, two), zero)
        last = gg.op1("Div", gg.op1("Max", gg.op1("Sub", n, two), zero), two)
        fix = gg.op1("And", gg.op1("And", active, even), gg.op1("Equal", child, last))
        lone = gg.op1("Add", gg.op1("Mul", child, two), one)
        lone = gg.op1("Where", fix, lone, zero)
        heap = _put(gg, heap, hole, _at(gg, heap, lone), fix)
        hole = gg.op1("Where", fix, lone, hole)
        heap = sift_up(gg, heap, hole, value, active)
        return gg.const(np.asarray(True)), [heap, n], [top]

    order = _loop(g, "heap_pop", [heap, size], pop, None, n_, scans=[(np.dtype(np.int64), (None,))])[2]
    # Reshaped: no rounds (N == 0) leave the scan output without its row axis.
    return g.op1("Reshape", g.op1("Transpose", order, perm=[1, 0]), g.op1("Shape", sc))


def _dense_kept(g: Graph, rows: Val, boxes: Val, shape: Val) -> Val:
    """[H, S] kept box indices (-1: none) from ``rows``/``boxes`` [K] sorted by row, then by when kept."""
    zero, one = scalar(g, 0, np.int64), scalar(g, 1, np.int64)
    pos = g.op1("Range", zero, g.op1("Squeeze", g.op1("Shape", rows)), one)
    prev = g.op1("Concat", g.const(np.asarray([-1], np.int64)),
                 g.op1("Slice", rows, g.const(np.asarray([0], np.int64)), g.const(np.asarray([-1], np.int64))),
                 axis=0)
    first = g.op1("Not", g.op1("Equal", rows, prev))
    group = g.op1("Sub", g.op1("CumSum", cast(g, first, np.int64), zero), one)
    starts = g.op1("Compress", pos, first, axis=0)
    rank = g.op1("Sub", pos, g.op1("Gather", starts, group, axis=0))
    where = g.op1("Concat", unsqueeze(g, rows, [1]), unsqueeze(g, rank, [1]), axis=1)
    empty = g.op1("ConstantOfShape", shape, value=onnx_tensor(np.full(1, -1, np.int64)))
    return g.op1("ScatterND", empty, where, boxes)


def _tie_matters(g: Graph, sc: Val, cand: Val, kept: Val) -> Val:
    """[H] bool: a kept box's score equals another candidate's of its row (``sc``, ``cand`` [H, N])."""
    f32 = np.dtype(np.float32)
    live = g.op1("Where", cand, sc, scalar(g, -np.inf, f32))
    ranked, perm = g.op("TopK", [live, g.op1("Shape", sc, start=1, end=2)], outputs=2, axis=1)
    start, stop = g.const(np.asarray([0], np.int64)), g.const(np.asarray([-1], np.int64))
    hi = g.op1("Slice", ranked, start, stop, g.const(np.asarray([1], np.int64)))
    lo = g.op1("Slice", ranked, g.const(np.asarray([1], np.int64)), g.const(np.asarray([INT64_MAX], np.int64)),
               g.const(np.asarray([1], np.int64)))
    tie = cast(g, g.op1("And", g.op1("Equal", hi, lo), g.op1("Greater", hi, scalar(g, -np.inf, f32))), np.int32)
    nought = scalar(g, 0, np.int32)
    tied = g.op1("Max", g.op1("Pad", tie, g.const(np.asarray([0, 1, 0, 0], np.int64)), nought),
                 g.op1("Pad", tie, g.const(np.asarray([0, 0, 0, 1], np.int64)), nought))
    tied = g.op1("Slice", tied, start, g.op1("Shape", sc, start=1, end=2), g.const(np.asarray([1], np.int64)))  # N == 0
    by_box = g.op1("ScatterElements", g.op1("Mul", cast(g, cand, np.int32), nought), perm, tied, axis=1)
    hit = g.op1("And", g.op1("GreaterOrEqual", kept, scalar(g, 0, np.int64)),
                cast(g, g.op1("GatherElements", by_box, g.op1("Max", kept, scalar(g, 0, np.int64)), axis=1), bool))
    return g.op1("Greater", g.op1("ReduceSum", cast(g, hit, np.int64), g.const(np.asarray([1], np.int64)),
                                  keepdims=0), scalar(g, 0, np.int64))


def _const_int(v: Val, what: str) -> int | None:
    """The value of a scalar integer input, None when computed at run time."""
    return int(np.asarray(v.const).reshape(-1)[0]) if v.is_const and np.asarray(v.const).size == 1 else None


@converter("CombinedNonMaxSuppression",
           onnx="NonMaxSuppression, ScatterND, TopK, GatherND (a kept score tied: Loops replaying TF's heap order)")
def combined_nms(cx, node, ins):
    g: Graph = cx.g
    f32, i64_ = np.dtype(np.float32), np.dtype(np.int64)
    boxes, scores, per_class, total = ins[0], ins[1], ins[2], ins[3]
    if need_rank(boxes, "boxes") != 4 or need_rank(scores, "scores") != 3:
        raise ExportError("boxes must be 4-D [batch, num_boxes, q, 4] and scores 3-D [batch, num_boxes, num_classes]")
    q, four, classes = boxes.shape[2], boxes.shape[3], scores.shape[2]
    if isinstance(four, int) and four != 4:
        raise ExportError(f"boxes must have 4 columns, got {four}")
    if not isinstance(q, int):
        raise ExportError("the third dimension of boxes (q: 1, or one box per class) is not known before running")
    if isinstance(classes, int) and q not in (1, classes):
        raise ExportError(f"the third dimension of boxes must be 1 or the number of classes ({classes}), got {q}")
    for v, what in ((per_class, "max_output_size_per_class"), (total, "max_total_size")):
        k = _const_int(v, what)
        if k is not None and k <= 0:
            raise ExportError(f"{what} must be positive, got {k}")
    if ins[4].is_const and not 0 <= float(np.asarray(ins[4].const).reshape(-1)[0]) <= 1:
        raise ExportError("iou_threshold must be in [0, 1]")
    boxes, scores = cast(g, boxes, f32), cast(g, scores, f32)
    iou, score_thr = _threshold(g, ins[4], f32), _threshold(g, ins[5], f32)
    limit = _as_1(g, i64(g, per_class))
    one_d = g.const(np.asarray([1], np.int64))
    b1 = g.op1("Shape", scores, start=0, end=1)
    n1 = g.op1("Shape", scores, start=1, end=2)
    c1 = g.op1("Shape", scores, start=2, end=3)
    h1 = g.op1("Mul", b1, c1)
    s1 = g.op1("Min", limit, n1)  # S = min(per_class, N)

    # Rows h = b * C + c: scores [H, N], boxes [H, N, 4] (one box set per class when q == 1).
    by_class = g.op1("Transpose", scores, perm=[0, 2, 1])  # [B, C, N]
    sc = g.op1("Flatten", by_class, axis=2)
    cand = g.op1("Greater", sc, score_thr)
    per_row = g.op1("Transpose", boxes, perm=[0, 2, 1, 3])  # [B, q, N, 4]
    if q == 1:
        per_row = g.op1("Expand", per_row, g.op1("Concat", one_d, c1, one_d, one_d, axis=0))
    row_boxes = g.op1("Reshape", g.op1("Flatten", per_row, axis=2), g.const(np.asarray([0, -1, 4], np.int64)))

    def column(sel: Val, k: int) -> Val:
        return g.op1("Gather", sel, scalar(g, k, np.int64), axis=1)

    if q == 1:  # NonMaxSuppression's own class axis: boxes [B, N, 4], scores [B, C, N]
        sel = g.op1("NonMaxSuppression", squeeze(g, boxes, [2]), by_class, limit, _as_1(g, iou), _as_1(g, score_thr))
        rows = g.op1("Add", g.op1("Mul", column(sel, 0), g.op1("Squeeze", c1)), column(sel, 1))
    else:
        sel = g.op1("NonMaxSuppression", row_boxes, unsqueeze(g, sc, [1]), limit, _as_1(g, iou), _as_1(g, score_thr))
        rows = column(sel, 0)
    dense_shape = g.op1("Concat", h1, s1, axis=0)
    kept_fast = _dense_kept(g, rows, column(sel, 2), dense_shape)

    tied_rows = _tie_matters(g, sc, cand, kept_fast)

    def heap_ordered(gg: Graph) -> list[Val]:
        """The rows with a tied kept score redone in TF's heap order (only those: the Loops are slow)."""
        redo = gg.op1("NonZero", tied_rows)  # [1, H']
        which = squeeze(gg, redo, [0])
        sub_sc, sub_cand = gg.op1("Gather", sc, which, axis=0), gg.op1("Gather", cand, which, axis=0)
        order = _heap_pop_order(gg, sub_sc, sub_cand)
        n = gg.op1("Squeeze", n1)
        pos = gg.op1("Range", scalar(gg, 0, np.int64), n, scalar(gg, 1, np.int64))
        count = gg.op1("ReduceSum", cast(gg, sub_cand, np.int64), g.const(np.asarray([1], np.int64)), keepdims=1)
        stand_in = gg.op1("Where", gg.op1("Less", pos, count), cast(gg, gg.op1("Sub", n, pos), f32),
                          scalar(gg, -1, f32))
        moved = gg.op1("GatherND", gg.op1("Gather", row_boxes, which, axis=0), unsqueeze(gg, order, [2]),
                       batch_dims=1)
        got = gg.op1("NonMaxSuppression", moved, unsqueeze(gg, stand_in, [1]), limit, _as_1(gg, iou),
                     g.const(np.zeros(1, np.float32)))
        r = gg.op1("Gather", got, scalar(gg, 0, np.int64), axis=1)
        at = gg.op1("Concat", unsqueeze(gg, r, [1]), gg.op1("Gather", got, g.const(np.asarray([2], np.int64)), axis=1),
                    axis=1)
        sub_shape = gg.op1("Concat", gg.op1("Shape", which), s1, axis=0)
        redone = _dense_kept(gg, r, gg.op1("GatherND", order, at), sub_shape)
        return [gg.op1("ScatterND", kept_fast, gg.op1("Transpose", redo, perm=[1, 0]), redone)]

    kept = if_graph(g, _any(g, tied_rows), heap_ordered, lambda gg: [gg.op1("Identity", kept_fast)])[0]

    # TF's result vector per batch: slot c * S + r; the first M by descending score (TopK: equal
    # values lower slot first, as the runtime's stable sort).
    pad_per_class = bool(node.attr.get("pad_per_class", False))
    m1 = _as_1(g, i64(g, total))
    if pad_per_class:
        m1 = g.op1("Min", m1, g.op1("Mul", limit, c1))
    width = g.op1("Mul", c1, s1)
    flat_shape = g.op1("Concat", b1, width, axis=0)
    found = g.op1("GreaterOrEqual", kept, scalar(g, 0, np.int64))
    first = g.op1("Max", kept, scalar(g, 0, np.int64))
    slot_scores = g.op1("Where", found, g.op1("GatherElements", sc, first, axis=1), scalar(g, -np.inf, f32))
    more = g.op1("Max", g.op1("Sub", m1, width), g.const(np.asarray([0], np.int64)))
    pads = g.op1("Concat", g.const(np.asarray([0, 0, 0], np.int64)), more, axis=0)
    slot_scores = g.op1("Pad", g.op1("Reshape", slot_scores, flat_shape), pads, scalar(g, -np.inf, f32))
    slot_boxes = g.op1("Pad", g.op1("Reshape", first, flat_shape), pads, scalar(g, 0, np.int64))
    top, slot = g.op("TopK", [slot_scores, m1], outputs=2, axis=1)
    count = g.op1("ReduceSum", cast(g, g.op1("Reshape", found, flat_shape), np.int64), one_d, keepdims=0)
    valid = g.op1("Min", count, m1)
    mask = g.op1("Less", unsqueeze(g, g.op1("Range", scalar(g, 0, np.int64), g.op1("Squeeze", m1),
                                            scalar(g, 1, np.int64)), [0]), unsqueeze(g, valid, [1]))
    cls = g.op1("Div", slot, g.op1("Max", s1, g.const(np.asarray([1], np.int64))))
    box = g.op1("GatherElements", slot_boxes, slot, axis=1)
    which = cls if q > 1 else g.op1("Mul", cls, scalar(g, 0, np.int64))
    padded = g.op1("Pad", boxes, g.const(np.asarray([0, 0, 0, 0, 0, 1, 0, 0], np.int64)), scalar(g, 0, f32))
    out_boxes = g.op1("GatherND", padded, g.op1("Concat", unsqueeze(g, box, [2]), unsqueeze(g, which, [2]), axis=2),
                      batch_dims=1)
    if node.attr.get("clip_boxes", True):
        out_boxes = g.op1("Max", g.op1("Min", out_boxes, scalar(g, 1, f32)), scalar(g, 0, f32))
    nought = scalar(g, 0, f32)
    return [g.op1("Where", unsqueeze(g, mask, [2]), out_boxes, nought), g.op1("Where", mask, top, nought),
            g.op1("Where", mask, cast(g, cls, f32), nought), cast(g, valid, np.int32)]


# -- projective transforms -------------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/image/image_ops.h (ProjectiveGenerator, MapCoordinate):
# output pixel (x, y) reads the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k) with
# k = c0 x + c1 y + 1, in float32; the fill mode maps each coordinate (scipy.ndimage's rules), and
# what is still outside reads fill_value (cast to T); k == 0 gives fill_value. Nearest rounds halves
# away from zero; bilinear weights the four neighbours in float32 and casts to T (truncating integers).

def _clamp(g: Graph, c: Val, last: Val) -> Val:
    """``c`` clamped to [0, last], NaN kept (onnxruntime's Min and Max propagate NaN, as np.clip does)."""
    return g.op1("Max", g.op1("Min", c, last), scalar(g, 0, np.float32))


def _map_coordinate(g: Graph, c: Val, mode: str, size: Val, last: Val, one_pixel: Val | bool) -> Val:
    """MapCoordinate: ``c`` by fill_mode on an axis of ``size`` pixels (float32 scalars ``size``,
    ``last`` = size - 1); REFLECT and WRAP map everything to 0 on a ``one_pixel`` axis."""
    f32 = np.float32
    if mode == "CONSTANT":
        return c
    if mode == "NEAREST":
        return _clamp(g, c, last)
    if one_pixel is True:
        return g.op1("Expand", scalar(g, 0, f32), g.op1("Shape", c))  # zeros, NaN coordinates included
    one = scalar(g, 1, f32)
    neg, pos = g.op1("Less", c, scalar(g, 0, f32)), g.op1("Greater", c, last)
    if mode == "REFLECT":  # trunc of these quotients is Floor: they are positive where selected
        sz2 = g.op1("Add", size, size)
        lo = g.op1("Add", g.op1("Mul", sz2, g.op1("Floor", g.op1("Div", g.op1("Neg", c), sz2))), c)
        lo = g.op1("Where", g.op1("Less", lo, g.op1("Neg", size)), g.op1("Add", lo, sz2),
                   g.op1("Sub", g.op1("Neg", lo), one))
        hi = g.op1("Sub", c, g.op1("Mul", sz2, g.op1("Floor", g.op1("Div", c, sz2))))
        hi = g.op1("Where", g.op1("GreaterOrEqual", hi, size), g.op1("Sub", g.op1("Sub", sz2, hi), one), hi)
    elif mode == "WRAP":
        lo = g.op1("Add", c, g.op1("Mul", size, g.op1("Add", g.op1("Floor", g.op1("Div", g.op1("Neg", c), last)),
                                                         one)))
        hi = g.op1("Sub", c, g.op1("Mul", size, g.op1("Floor", g.op1("Div", c, last))))
    else:
        raise ExportError(f"unsupported fill_mode {mode!r}")
    out = _clamp(g, g.op1("Where", neg, lo, g.op1("Where", pos, hi, c)), last)
    if one_pixel is False:
        return out
    return g.op1("Where", one_pixel, scalar(g, 0, f32), out)


def _axis_size(g: Graph, x: Val, axis: int) -> tuple[Val, Val, Val | bool]:
    """(size, size - 1, size <= 1) of ``x``'s axis as float32 scalars (a bool when known before running)."""
    d = x.shape[axis] if x.shape is not None else None
    if isinstance(d, int):
        return g.const(np.float32(d)), g.const(np.float32(d - 1)), d <= 1
    size = cast(g, g.op1("Reshape", g.op1("Shape", x, start=axis, end=axis + 1), g.const(np.zeros(0, np.int64))),
                np.float32)
    return size, g.op1("Sub", size, scalar(g, 1, np.float32)), g.op1("LessOrEqual", size, scalar(g, 1, np.float32))


@converter("ImageProjectiveTransformV2", "ImageProjectiveTransformV3",
           onnx="arithmetic on a constant grid of output pixels, Floor, Where, GatherND")
def projective_transform(cx, node, ins):
    """Every output pixel's source coordinate by ONNX arithmetic in TF's order, the fill mode, then
    one (nearest) or four (bilinear) GatherND reads of the image."""
    g = cx.g
    images, transforms = ins[0], ins[1]
    if need_rank(images, "images") != 4 or need_rank(transforms, "transforms") != 2:
        raise ExportError("the images must be 4-D and the transforms 2-D")
    if isinstance(transforms.shape[1], int) and transforms.shape[1] != 8:
        raise ExportError(f"transforms must have 8 columns, got {transforms.shape[1]}")
    oh_ow = const_ints(ins[2], "output_shape")
    if len(oh_ow) != 2 or min(oh_ow) <= 0:
        raise ExportError(f"output_shape must be two positive sizes, got {oh_ow}")
    oh, ow = (bounded(d, MAX_CONST_ELEMENTS, "output_shape") for d in oh_ow)
    interp, mode = attr_text(node, "interpolation"), attr_text(node, "fill_mode", "CONSTANT")
    if interp not in ("NEAREST", "BILINEAR") or mode not in ("CONSTANT", "REFLECT", "WRAP", "NEAREST"):
        raise ExportError(f"unsupported interpolation {interp!r} or fill_mode {mode!r}")
    f32, dt = np.dtype(np.float32), np.dtype(images.dtype)
    if dt.kind not in "fiu":
        raise ExportError(f"projective transform of {dt} images")
    # onnxruntime's Where has no bfloat16 kernel: such images are read as float32 (exactly).
    work = f32 if dt.itemsize == 2 and dt.kind == "f" and dt != np.float16 else dt
    img = cast(g, images, work)
    if node.op == "ImageProjectiveTransformV3":
        fv = ins[3]
        if fv.shape is not None and len(fv.shape) != 0:
            raise ExportError(f"fill_value must be a scalar, got shape {list(fv.shape)}")
        fill = cast(g, cast(g, fv, f32), work)
    else:
        fill = g.const(np.zeros((), work))
    t = cast(g, transforms, f32)
    a0, a1, a2, b0, b1, b2, c0, c1 = (unsqueeze(g, g.op1("Gather", t, g.const(np.asarray([k], np.int64)), axis=1),
                                                [2]) for k in range(8))  # [T, 1, 1]
    ox = g.const(np.arange(ow, dtype=np.float32)[None, None, :])
    oy = g.const(np.arange(oh, dtype=np.float32)[None, :, None])

    def lin(p: Val, q: Val) -> Val:
        return g.op1("Add", g.op1("Mul", p, ox), g.op1("Mul", q, oy))

    proj = g.op1("Add", lin(c0, c1), scalar(g, 1, f32))
    in_x = g.op1("Div", g.op1("Add", lin(a0, a1), a2), proj)
    in_y = g.op1("Div", g.op1("Add", lin(b0, b1), b2), proj)
    h, hm1, h1 = _axis_size(g, images, 1)
    w, wm1, w1 = _axis_size(g, images, 2)
    y = unsqueeze(g, _map_coordinate(g, in_y, mode, h, hm1, h1), [3])  # [T, oh, ow, 1]
    x = unsqueeze(g, _map_coordinate(g, in_x, mode, w, wm1, w1), [3])
    n = g.op1("Shape", images, start=0, end=1)
    b = unsqueeze(g, g.op1("Range", scalar(g, 0, np.int64), g.op1("Reshape", n, g.const(np.zeros(0, np.int64))),
                           scalar(g, 1, np.int64)), [1, 2, 3])  # [N, 1, 1, 1]
    zero = scalar(g, 0, f32)

    def read(yy: Val, xx: Val, as_f32: bool) -> Val:
        """img[b, yy, xx, :] at integral float coordinates, fill where outside (NaN included)."""
        oky = g.op1("And", g.op1("GreaterOrEqual", yy, zero), g.op1("LessOrEqual", yy, hm1))
        okx = g.op1("And", g.op1("GreaterOrEqual", xx, zero), g.op1("LessOrEqual", xx, wm1))
        yi, xi = (i64(g, g.op1("Where", ok, v, zero)) for ok, v in ((oky, yy), (okx, xx)))
        px = _gather_pixels(g, img, b, yi, xi)
        if as_f32:
            return g.op1("Where", g.op1("And", oky, okx), cast(g, px, f32), cast(g, fill, f32))
        return g.op1("Where", g.op1("And", oky, okx), px, fill)

    if interp == "NEAREST":
        out = read(roundf(g, y), roundf(g, x), False)
    else:
        yf, xf = g.op1("Floor", y), g.op1("Floor", x)
        one = scalar(g, 1, f32)
        yc, xc = g.op1("Add", yf, one), g.op1("Add", xf, one)
        wx0, wx1 = g.op1("Sub", xc, x), g.op1("Sub", x, xf)
        top = g.op1("Add", g.op1("Mul", wx0, read(yf, xf, True)), g.op1("Mul", wx1, read(yf, xc, True)))
        bottom = g.op1("Add", g.op1("Mul", wx0, read(yc, xf, True)), g.op1("Mul", wx1, read(yc, xc, True)))
        out = cast(g, g.op1("Add", g.op1("Mul", g.op1("Sub", yc, y), top), g.op1("Mul", g.op1("Sub", y, yf), bottom)),
                   work)
    out = g.op1("Where", unsqueeze(g, g.op1("Equal", proj, zero), [3]), fill, out)
    return cast(g, out, dt)


# -- glimpses ---------------------------------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/image/attention_ops.cc and eigen_attention.h
# (GlimpseExtractionOp::eval), as the numpy runtime's extract_glimpse (graph/ops/image_sampling.py):
# each window's top-left corner is computed from the offset in float32 and truncated toward zero
# ((Index)x); window pixels inside the image copy it, the others keep the fill. The fill is zeros
# for noise "zero", random (uniform or gaussian, unseeded) otherwise: a glimpse that reaches outside
# the image cannot be reproduced then.

def _glimpse_noise(node) -> str:
    """The fill of pixels outside the image: "zero", "uniform" or "gaussian" (the runtime's rule)."""
    try:
        return _rt_sampling._noise_mode(node)
    except InvalidArgumentError as e:  # an invalid combination of uniform_noise and noise
        raise ExportError(str(e)) from None


def _glimpse_corner(g: Graph, off: Val, size: Val, half_glimpse: float, normalized: bool, centered: bool,
                    version: int) -> Val:
    """One axis's window origins [B, 1] int64 from its offsets [B, 1] (float32, TF's order of operations)."""
    f32 = np.float32
    v = g.op1("Mul", off, size) if normalized else off
    if version == 1 or (normalized and centered):
        if centered:
            v = g.op1("Add", g.op1("Div", v, scalar(g, 2, f32)), g.op1("Mul", size, scalar(g, 0.5, f32)))
        v = g.op1("Sub", v, scalar(g, half_glimpse, f32))
    elif centered:
        v = g.op1("Add", v, g.op1("Mul", size, scalar(g, 0.5, f32)))
    # (Index)v truncates; NaN and huge values (undefined in C++) give the runtime's -1, an index outside.
    bad_ = g.op1("Or", g.op1("Not", g.op1("Less", g.op1("Abs", v), scalar(g, 2.0**62, f32))), g.op1("IsNaN", v))
    safe = g.op1("Where", bad_, scalar(g, 0, f32), v)
    return g.op1("Where", bad_, scalar(g, -1, np.int64), i64(g, safe))


def _glimpses_inside(node, images: Val, offsets: Val, gh: int, gw: int, version: int) -> bool:
    """Whether every glimpse lies wholly inside the image (constant offsets, static sizes), so a
    random fill never shows."""
    shape = images.shape
    if not offsets.is_const or shape is None or not all(isinstance(d, int) for d in shape[1:3]):
        return False
    h, w = shape[1], shape[2]
    for y, x in np.asarray(offsets.const, np.float32).reshape(-1, 2):
        oy, ox = _rt_sampling._glimpse_origin(y, x, h, w, gh, gw, bool(node.attr.get("normalized", True)),
                                              bool(node.attr.get("centered", True)), version)
        if oy < 0 or ox < 0 or oy + gh > h or ox + gw > w:
            return False
    return True


@converter("ExtractGlimpse", "ExtractGlimpseV2",
           onnx="window origins by arithmetic (Cast truncates), GatherND, Where (zero fill)")
def extract_glimpse(cx, node, ins):
    """Each glimpse pixel read at origin + (row, col) where inside the image, else 0: noise "zero", or
    a random noise that never shows (constant offsets keeping every glimpse inside the image)."""
    g = cx.g
    images, offsets = ins[0], ins[2]
    version = 1 if node.op == "ExtractGlimpse" else 2
    noise = _glimpse_noise(node)
    if need_rank(images, "input") != 4:
        raise ExportError(f"input must be 4-D [batch, height, width, channels], got rank {images.rank}")
    if need_rank(offsets, "offsets") != 2 or (isinstance(offsets.shape[1], int) and offsets.shape[1] != 2):
        raise ExportError(f"offsets must be a [batch, 2] matrix of (y, x), got shape {list(offsets.shape)}")
    gsize = const_ints(ins[1], "the glimpse size")
    if len(gsize) != 2 or min(gsize) < 0:
        raise ExportError(f"the glimpse size must be two non-negative sizes (height, width), got {gsize}")
    gh, gw = (bounded(d, MAX_CONST_ELEMENTS, "the glimpse size") for d in gsize)
    if noise != "zero" and not _glimpses_inside(node, images, offsets, gh, gw, version):
        raise ExportError(f"random fill (noise {noise!r}) of the glimpse pixels outside the image: ONNX's "
                          "generators do not reproduce TensorFlow's (exported only with noise 'zero', or with "
                          "constant offsets keeping every glimpse inside an image of static size)")
    f32 = np.float32
    normalized = bool(node.attr.get("normalized", True))
    centered = bool(node.attr.get("centered", True))
    h, _, _ = _axis_size(g, images, 1)
    w, _, _ = _axis_size(g, images, 2)
    off = cast(g, offsets, f32)
    oy, ox = (g.op1("Gather", off, g.const(np.asarray([k], np.int64)), axis=1) for k in range(2))  # [B, 1]
    # F(gh / 2.0): the half window rounded to float32 once, as the kernel's float expression.
    y0 = _glimpse_corner(g, oy, h, float(f32(gh / 2.0)), normalized, centered, version)
    x0 = _glimpse_corner(g, ox, w, float(f32(gw / 2.0)), normalized, centered, version)
    rows = g.op1("Add", y0, g.const(np.arange(gh, dtype=np.int64)[None, :]))  # [B, gh]
    cols = g.op1("Add", x0, g.const(np.arange(gw, dtype=np.int64)[None, :]))  # [B, gw]
    hi, wi = i64(g, h), i64(g, w)
    zero = scalar(g, 0, np.int64)

    def inside(c: Val, n: Val) -> Val:
        return g.op1("And", g.op1("GreaterOrEqual", c, zero), g.op1("Less", c, n))

    ok = g.op1("And", unsqueeze(g, inside(rows, hi), [2, 3]), unsqueeze(g, inside(cols, wi), [1, 3]))
    one = scalar(g, 1, np.int64)
    yi = unsqueeze(g, g.op1("Max", g.op1("Min", rows, g.op1("Sub", hi, one)), zero), [2, 3])  # [B, gh, 1, 1]
    xi = unsqueeze(g, g.op1("Max", g.op1("Min", cols, g.op1("Sub", wi, one)), zero), [1, 3])  # [B, 1, gw, 1]
    n = g.op1("Shape", images, start=0, end=1)
    b = unsqueeze(g, g.op1("Range", zero, g.op1("Reshape", n, g.const(np.zeros(0, np.int64))), one), [1, 2, 3])
    px = _gather_pixels(g, cast(g, images, f32), b, yi, xi)
    return g.op1("Where", ok, px, scalar(g, 0, f32))


def _patches(cx, node, x: Val, name: str, rank: int) -> Val:
    """Every window of ``x`` (N, spatial..., C) as one strided Slice per tap, concatenated on the last
    axis in TF's order (tap row-major, then channel): exact for every value and type, unlike a
    Conv with one-hot kernels (0 * inf, signed zeros)."""
    g = cx.g
    if need_rank(x) != rank + 2:
        raise ExportError(f"the input must be {rank + 2}-D")

    def spatial(attr: str, default: int = 1) -> list[int]:
        v = [int(a) for a in node.attr.get(attr) or [default] * (rank + 2)]
        if len(v) != rank + 2 or v[0] != 1 or v[-1] != 1 or min(v) < 1:
            raise ExportError(f"{attr} must be [1, ..., 1] of length {rank + 2}, got {v}")
        return v[1:-1]

    ks, strides = spatial("ksizes"), spatial("strides")
    bounded(int(np.prod(ks)), MAX_UNROLLED, "the number of patch taps")
    rates = spatial("rates") if name == "ExtractImagePatches" else [1] * rank
    effs = [(k - 1) * r + 1 for k, r in zip(ks, rates)]
    padding = attr_text(node, "padding", "VALID")
    if padding == "SAME":
        sizes = x.shape[1:-1]
        if any(not isinstance(d, int) for d in sizes):
            raise ExportError("SAME patches need the spatial size before running")
        pads = []
        for size, s, eff in zip(sizes, strides, effs):
            total = max((-(-size // s) - 1) * s + eff - size, 0)
            pads.append((total // 2, total - total // 2))
        if any(a or b for a, b in pads):
            flat = [0] + [a for a, _ in pads] + [0, 0] + [b for _, b in pads] + [0]
            x = g.op1("Pad", x, g.const(np.asarray(flat, np.int64)), scalar(g, 0, x.dtype), mode="constant")
    elif padding != "VALID":
        raise ExportError(f"padding {padding!r} is not supported")
    axes = g.const(np.arange(1, rank + 1, dtype=np.int64))
    steps = g.const(np.asarray(strides, np.int64))
    parts = []
    for tap in itertools.product(*(range(k) for k in ks)):
        starts = [t * r for t, r in zip(tap, rates)]
        # The last window starting at or after ``start`` that fits ends ``eff - 1 - start`` before the end.
        ends = [-(eff - 1 - st) if eff - 1 - st else INT64_MAX for eff, st in zip(effs, starts)]
        parts.append(g.op1("Slice", x, g.const(np.asarray(starts, np.int64)), g.const(np.asarray(ends, np.int64)),
                           axes, steps))
    return parts[0] if len(parts) == 1 else g.op1("Concat", *parts, axis=-1)


@converter("ExtractImagePatches", onnx="Pad, Slice, Concat")
def extract_image_patches(cx, node, ins):
    return _patches(cx, node, ins[0], node.op, 2)


@converter("ExtractVolumePatches", onnx="Pad, Slice, Concat")
def extract_volume_patches(cx, node, ins):
    return _patches(cx, node, ins[0], node.op, 3)
