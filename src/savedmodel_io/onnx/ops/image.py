"""Image resizing (ResizeBilinear / ResizeNearestNeighbor as ONNX Resize), contrast, patch
extraction (strided Slices) and non-max suppression (ONNX NonMaxSuppression).

TF's coordinate rules (graph/ops/image.py; tensorflow/tensorflow
tensorflow/core/kernels/image/resize_bilinear_op.cc, resize_nearest_neighbor_op.cc) map to
Resize attributes: align_corners -> align_corners; half_pixel_centers -> half_pixel
(nearest: ``floor((i + 0.5) * scale)`` is half_pixel with round_prefer_ceil); neither ->
asymmetric (nearest: floor).
"""

from __future__ import annotations

import itertools

import numpy as np

from onnx.numpy_helper import from_array as onnx_tensor

from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx._types import tensor_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._subgraph import body_graph, if_graph
from savedmodel_io.onnx.ops._util import (
    INT64_MAX, attr_text, cast, i64, need_rank, reduce, scalar, split, squeeze, unsqueeze, working,
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


def _queue_nms(g: Graph, boxes: Val, scores: Val, limit: Val, iou: Val, score_thr: Val,
               scale: Val | None) -> list[Val]:
    """TF's NMS queue (DoNonMaxSuppressionOp) as an ONNX Loop: [indices int32 [n], their scores [n], n int32].

    Each round takes the live candidate of highest score (ties: lower index, as ArgMax's first
    maximum) and rescores it against the boxes kept since it was last scored, newest first: soft
    (``scale`` = -0.5 / sigma) multiplies by exp(scale * iou^2); hard (``scale`` None) drops the
    candidate at an IoU > ``iou`` and zeroes its score at a NaN IoU. The scan stops once the score
    is <= score_thr. The candidate is kept if its score did not change, else re-queued while its
    score is above score_thr. Float32 boxes and scores; ``iou`` a float32 scalar.
    """
    f32, i64_, b8 = np.dtype(np.float32), np.dtype(np.int64), np.dtype(bool)
    c = [squeeze(g, v, [1]) for v in split(g, boxes, 1, num=4)]
    ymin, ymax = g.op1("Min", c[0], c[2]), g.op1("Max", c[0], c[2])
    xmin, xmax = g.op1("Min", c[1], c[3]), g.op1("Max", c[1], c[3])
    area = g.op1("Mul", g.op1("Sub", ymax, ymin), g.op1("Sub", xmax, xmin))
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
        mine = [gg.op1("Gather", v, i, axis=0) for v in (ymin, xmin, ymax, xmax, area)]
        steps = gg.op1("Squeeze", gg.op1("Sub", count, gg.op1("Gather", begin, i, axis=0)))
        inner = [g.model.fresh(f"{g.hint}/{k}") for k in ("k", "go", "score", "hard")]

        def rescore(h: Graph) -> list[Val]:
            k, score = Val(inner[0], i64_, ()), Val(inner[2], f32, (1,))
            j = h.op1("Sub", h.op1("Sub", count, one), k)  # the kept boxes, newest first
            kj = h.op1("Gather", kept, j, axis=0)
            y0, x0, y1, x1, a = (h.op1("Gather", v, kj, axis=0) for v in (ymin, xmin, ymax, xmax, area))
            nought = scalar(h, 0, f32)
            ih = h.op1("Max", h.op1("Sub", h.op1("Min", mine[2], y1), h.op1("Max", mine[0], y0)), nought)
            iw = h.op1("Max", h.op1("Sub", h.op1("Min", mine[3], x1), h.op1("Max", mine[1], x0)), nought)
            inter = h.op1("Mul", ih, iw)
            sim = h.op1("Div", inter, h.op1("Sub", h.op1("Add", mine[4], a), inter))
            empty = h.op1("Or", h.op1("LessOrEqual", mine[4], nought), h.op1("LessOrEqual", a, nought))
            sim = h.op1("Where", empty, nought, sim)
            if scale is not None:
                weight = h.op1("Exp", h.op1("Mul", h.op1("Mul", scale, sim), sim))
                hard = h.const(np.zeros(1, bool))
            else:  # 1 at an IoU <= iou, else 0 (NaN included); dropped at an IoU > iou
                weight = cast(h, h.op1("LessOrEqual", sim, iou), np.float32)
                hard = h.op1("Greater", sim, iou)
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
                    lambda gg: [v for k, v in enumerate(_queue_nms(gg, b, sc, limit, iou_v, score_v, None))
                                if k != 1])


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
        idx, picked, n = _queue_nms(g, boxes, scores, ins[2], _threshold(g, ins[3], f32),
                                    _threshold(g, ins[4], f32), scale)
    else:
        raise ExportError("soft_nms_sigma is computed at run time: hard NMS (0) and soft-NMS (> 0) export "
                          "differently, so it must be a constant")
    return [_padded(g, node, idx, ins[2]), _padded(g, node, picked, ins[2]), n]


inexpressible("no ONNX form: suppression by an arbitrary overlap matrix, or per-class suppression merged "
              "and padded across classes", "NonMaxSuppressionWithOverlaps", "CombinedNonMaxSuppression")
inexpressible("drawing boxes into images: no cheap ONNX form", "DrawBoundingBoxes", "DrawBoundingBoxesV2")
inexpressible("per-pixel projective sampling with TensorFlow's fill modes: no ONNX operator (GridSample's "
              "padding modes differ)", "ImageProjectiveTransformV2", "ImageProjectiveTransformV3")
inexpressible("glimpses with TensorFlow's noise and centring rules: no cheap ONNX form", "ExtractGlimpse",
              "ExtractGlimpseV2")


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
