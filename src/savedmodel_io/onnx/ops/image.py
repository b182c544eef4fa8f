"""Image resizing: ResizeBilinear / ResizeNearestNeighbor as ONNX Resize.

TF's coordinate rules (graph/ops/image.py; tensorflow/tensorflow
tensorflow/core/kernels/image/resize_bilinear_op.cc, resize_nearest_neighbor_op.cc) map to
Resize attributes: align_corners -> align_corners; half_pixel_centers -> half_pixel
(nearest: ``floor((i + 0.5) * scale)`` is half_pixel with round_prefer_ceil); neither ->
asymmetric (nearest: floor).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.onnx._graph import invert
from savedmodel_io.onnx.ops import converter
from savedmodel_io.onnx.ops._util import cast, i64


def _resize(cx, node, ins, linear: bool):
    g = cx.g
    x, size = ins[0], g.plain(ins[1])
    perm = x.perm
    if linear and x.dtype != np.float32:
        x = cast(g, x, np.float32)  # TF resizes bilinearly in float32
        x.perm = perm
    axes = [1, 2] if perm is None else [invert(perm)[1], invert(perm)[2]]
    align = bool(node.attr.get("align_corners", False))
    half = bool(node.attr.get("half_pixel_centers", False))
    coord = "align_corners" if align else "half_pixel" if half else "asymmetric"
    nearest = "round_prefer_ceil" if (align or half) else "floor"
    sizes = i64(g, size)
    if cx.opset >= 18:
        out = g.op1("Resize", x, None, None, sizes, axes=axes, mode="linear" if linear else "nearest",
                    coordinate_transformation_mode=coord, nearest_mode=None if linear else nearest)
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
        out = g.op1("Resize", x, None, None, g.op1("Concat", *parts, axis=0),
                    mode="linear" if linear else "nearest", coordinate_transformation_mode=coord,
                    nearest_mode=None if linear else nearest)
    out.perm = perm
    return out


@converter("ResizeBilinear", onnx="Resize(linear)", layout=True)
def resize_bilinear(cx, node, ins):
    return _resize(cx, node, ins, True)


@converter("ResizeNearestNeighbor", onnx="Resize(nearest)", layout=True)
def resize_nearest(cx, node, ins):
    return _resize(cx, node, ins, False)
