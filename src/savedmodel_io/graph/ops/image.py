"""Image resizing: ResizeBilinear and ResizeNearestNeighbor (Keras Resizing / UpSampling2D).

Coordinate mapping (align_corners, half_pixel_centers) follows tensorflow/tensorflow
tensorflow/core/util/image_resizer_state.h (CalculateResizeScale, HalfPixelScaler,
HalfPixelScalerForNN, LegacyScaler) and the bilinear/nearest kernels in
tensorflow/core/kernels/image/.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, ints


def _setup(node, inputs):
    x = np.asarray(inputs[0])
    size = ints(inputs[1])
    if x.ndim != 4 or len(size) != 2 or min(size) <= 0:
        raise bad(node, f"resize needs a 4-D image and a positive 2-element size, got {x.shape} and {size}")
    align = bool(node.attr["align_corners"])
    half = bool(node.attr["half_pixel_centers"])
    if align and half:
        raise bad(node, "align_corners and half_pixel_centers cannot both be true")
    return x, size, align, half


def _scale(in_size: int, out_size: int, align: bool) -> float:
    if align and out_size > 1:
        return (in_size - 1) / (out_size - 1)
    return in_size / out_size


@kernel("ResizeBilinear")
def resize_bilinear(node, inputs, ctx):
    x, (oh, ow), align, half = _setup(node, inputs)
    xf = x.astype(np.float32)

    def weights(in_size, out_size):
        s = _scale(in_size, out_size, align)
        i = np.arange(out_size, dtype=np.float64)
        src = (i + 0.5) * s - 0.5 if half else i * s
        fl = np.floor(src)
        lo = np.maximum(fl, 0).astype(np.int64)
        hi = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
        return lo, hi, (src - fl).astype(np.float32)

    ylo, yhi, yl = weights(x.shape[1], oh)
    xlo, xhi, xl = weights(x.shape[2], ow)
    top_l, top_r = xf[:, ylo][:, :, xlo], xf[:, ylo][:, :, xhi]
    bot_l, bot_r = xf[:, yhi][:, :, xlo], xf[:, yhi][:, :, xhi]
    xl = xl[None, None, :, None]
    top = top_l + (top_r - top_l) * xl
    bot = bot_l + (bot_r - bot_l) * xl
    return (top + (bot - top) * yl[None, :, None, None]).astype(np.float32)


@kernel("ResizeNearestNeighbor")
def resize_nearest(node, inputs, ctx):
    x, (oh, ow), align, half = _setup(node, inputs)

    def index(in_size, out_size):
        s = _scale(in_size, out_size, align)
        i = np.arange(out_size, dtype=np.float64)
        src = (i + 0.5) * s if half else i * s
        # align_corners rounds half away from zero (std::round); others floor.
        j = np.floor(src + 0.5) if align else np.floor(src)
        j = np.minimum(j, in_size - 1)
        if half:
            j = np.maximum(j, 0)
        return j.astype(np.int64)

    return x[:, index(x.shape[1], oh)][:, :, index(x.shape[2], ow)]
