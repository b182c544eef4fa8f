"""Image resizing: the Resize* ops, ScaleAndTranslate and CropAndResize (tf.image.resize,
Keras Resizing / UpSampling2D, tf.image.crop_and_resize).

Coordinates are computed in float32 as TensorFlow computes them, so the same source
pixels are picked: tensorflow/tensorflow tensorflow/core/util/image_resizer_state.h
(CalculateResizeScale, HalfPixelScaler, LegacyScaler) and the kernels in
tensorflow/core/kernels/image/ (resize_*_op.cc, scale_and_translate_op.cc,
sampling_kernels.h, crop_and_resize_op.cc). Every resize but nearest-neighbour returns
float32 whatever the input type (TF casts each pixel to float).

Separable resamplers (bicubic, area, ScaleAndTranslate) are one set of taps per output
row and column: (index, weight) pairs applied tap by tap as whole-tensor operations,
rows first, then columns, as TensorFlow does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints

_F = np.float32
_INT32_MAX = 2**31 - 1


def roundf(x: np.ndarray) -> np.ndarray:
    """C's roundf (halves away from zero) on float32 values, never rounding ``x + 0.5``."""
    t = np.trunc(x)
    return t + np.sign(x) * (np.abs(x - t) >= 0.5)


def _size(node, value, what: str = "size") -> tuple[int, int]:
    v = np.asarray(value)
    if v.ndim != 1 or v.size != 2:
        raise bad(node, f"{what} must be a 1-D tensor of two elements, got shape {list(v.shape)}")
    h, w = ints(v)
    if h <= 0 or w <= 0:
        raise bad(node, "output dimensions must be positive")
    return h, w


def _image(node, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    if x.shape[3] <= 0:
        raise bad(node, "image must have at least one channel")
    if x.shape[1] <= 0 or x.shape[2] <= 0:
        raise bad(node, "input image must be of non-zero size")
    if max(x.shape[1], x.shape[2]) > _INT32_MAX:
        raise bad(node, "input sizes must be between 0 and max int32")
    return x


def _setup(node, inputs, half_attr: bool = True):
    """(image, (out_h, out_w), align_corners, half_pixel_centers), validated as TF does."""
    align = bool(node.attr["align_corners"])
    half = bool(node.attr["half_pixel_centers"]) if half_attr else False
    if align and half:
        raise bad(node, "If half_pixel_centers is True, align_corners must be False.")
    x = _image(node, inputs[0])
    oh, ow = _size(node, inputs[1])
    check_size(node, (x.shape[0], oh, ow, x.shape[3]), 4)
    return x, (oh, ow), align, half


def _scale(in_size: int, out_size: int, align: bool) -> np.float32:
    """CalculateResizeScale (image_resizer_state.h), in float32: align_corners counts only when
    both sizes exceed 1 (a 1-pixel input keeps in / out, not the scale 0 that ResizeArea divides by)."""
    if align and in_size > 1 and out_size > 1:
        return _F(in_size - 1) / _F(out_size - 1)
    return _F(in_size) / _F(out_size)


def _src(out_size: int, scale: np.float32, half: bool, nn: bool = False) -> np.ndarray:
    """Source coordinate of each output index (HalfPixelScaler[ForNN] / LegacyScaler)."""
    i = np.arange(out_size, dtype=_F)
    if not half:
        return i * scale
    return (i + _F(0.5)) * scale if nn else (i + _F(0.5)) * scale - _F(0.5)


def _empty(x: np.ndarray, oh: int, ow: int, dtype: Any = None) -> np.ndarray | None:
    """The (empty) result when the image or the size has a 0: no taps to compute (a size of 2**30
    beside an empty batch would otherwise build tap tables of 2**30 rows)."""
    shape = (x.shape[0], oh, ow, x.shape[3])
    return np.zeros(shape, dtype or _F) if 0 in shape else None


def _floats(x: np.ndarray) -> np.ndarray:
    return x.astype(_F, copy=False)


# -- bilinear and nearest ---------------------------------------------------------------

@kernel("ResizeBilinear")
def resize_bilinear(node, inputs, ctx):
    x, (oh, ow), align, half = _setup(node, inputs)
    empty = _empty(x, oh, ow)
    if empty is not None:
        return empty
    xf = _floats(x)

    def weights(in_size, out_size):
        src = _src(out_size, _scale(in_size, out_size, align), half)
        fl = np.floor(src)
        lo = np.maximum(fl, 0).astype(np.int64)
        hi = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
        return lo, hi, src - fl

    ylo, yhi, yl = weights(x.shape[1], oh)
    xlo, xhi, xl = weights(x.shape[2], ow)
    top, bot = xf[:, ylo], xf[:, yhi]
    xl = xl[None, None, :, None]
    top_l, top_r = top[:, :, xlo], top[:, :, xhi]
    bot_l, bot_r = bot[:, :, xlo], bot[:, :, xhi]
    t = top_l + (top_r - top_l) * xl
    b = bot_l + (bot_r - bot_l) * xl
    return t + (b - t) * yl[None, :, None, None]


@kernel("ResizeNearestNeighbor")
def resize_nearest(node, inputs, ctx):
    x, (oh, ow), align, half = _setup(node, inputs)
    empty = _empty(x, oh, ow, x.dtype)
    if empty is not None:
        return empty
    if x.shape[1] >= 1 << 24 or x.shape[2] >= 1 << 24:
        raise bad(node, "nearest neighbor requires max height & width of 2^24")

    def index(in_size, out_size):
        src = _src(out_size, _scale(in_size, out_size, align), half, nn=True)
        j = roundf(src) if align else np.floor(src)
        j = np.minimum(j, in_size - 1)
        if half:
            j = np.maximum(j, 0)
        return j.astype(np.int64)

    return x[:, index(x.shape[1], oh)][:, :, index(x.shape[2], ow)]


# -- separable resampling by taps ----------------------------------------------------------

def _apply_taps(x: np.ndarray, axis: int, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Resample float32 ``x`` along ``axis``: out[o] = sum_k weight[o, k] * x[index[o, k]].

    The sum starts from +0.0, as TF's does (a row of zero weights gives 0.0, never -0.0).
    """
    shape = [1] * x.ndim
    shape[axis] = index.shape[0]
    out_shape = list(x.shape)
    out_shape[axis] = index.shape[0]
    out = np.zeros(out_shape, _F)
    for k in range(index.shape[1]):
        out += np.take(x, index[:, k], axis=axis) * weight[:, k].reshape(shape)
    return out


def _resample(x: np.ndarray, rows, cols) -> np.ndarray:
    """Rows, then columns, of an NHWC float32 image through (index, weight) tap tables."""
    return _apply_taps(_apply_taps(_floats(x), 1, *rows), 2, *cols)


# Keys' cubic coefficients, tabulated as TF tabulates them (1024 steps): a = -0.5 with
# half-pixel centers, -0.75 (the legacy kernel) without (resize_bicubic_op.cc).
_TABLE = 1 << 10


def _cubic_table(a: float) -> np.ndarray:
    """(near, far) tap weights at 1025 fractional offsets, computed in double, kept as float."""
    t = np.arange(_TABLE + 1) / _TABLE
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    u = t + 1
    far = ((a * u - 5 * a) * u + 8 * a) * u - 4 * a
    return np.stack([near, far], axis=1).astype(_F)


_CUBIC = {True: _cubic_table(-0.5), False: _cubic_table(-0.75)}


def _bicubic_taps(in_size: int, out_size: int, half: bool, align: bool):
    src = _src(out_size, _scale(in_size, out_size, align), half)
    base = np.floor(src)
    offset = np.rint((src - base) * _F(_TABLE)).astype(np.int64)  # lrintf: ties to even
    table = _CUBIC[half]
    w = np.stack([table[offset, 1], table[offset, 0], table[_TABLE - offset, 0],
                  table[_TABLE - offset, 1]], axis=1)
    raw = base.astype(np.int64)[:, None] + np.arange(-1, 3)
    index = np.clip(raw, 0, in_size - 1)
    if half:
        # Keys' kernel: taps outside the image weigh nothing, the rest are renormalised.
        w = np.where(index == raw, w, _F(0))
        total = w[:, 0] + w[:, 1] + w[:, 2] + w[:, 3]
        ok = np.abs(total) >= _F(1000) * np.finfo(_F).tiny
        w = np.where(ok[:, None], w * (_F(1) / np.where(ok, total, _F(1)))[:, None], w)
    return index, w.astype(_F)


@kernel("ResizeBicubic")
def resize_bicubic(node, inputs, ctx):
    x, (oh, ow), align, half = _setup(node, inputs)
    empty = _empty(x, oh, ow)
    if empty is not None:
        return empty
    check_size(node, (max(oh, ow), 4), 12)  # the tap tables: 4 int64 indices and float32 weights a row
    return _resample(x, _bicubic_taps(x.shape[1], oh, half, align),
                     _bicubic_taps(x.shape[2], ow, half, align))


def _area_taps(in_size: int, out_size: int, scale: np.float32):
    """Each output cell's covering input cells and the fraction of each (resize_area_op.cc), in
    float32: cell o spans [o * scale, (o + 1) * scale); input cell i weighs the part of [i, i + 1)
    inside it. Unused taps of a row have index 0 and weight 0."""
    one = _F(1)
    o = np.arange(out_size, dtype=np.int64)
    lo, hi = o.astype(_F) * scale, (o + 1).astype(_F) * scale
    first, end = np.floor(lo).astype(np.int64), np.ceil(hi).astype(np.int64)
    span = int((end - first).max()) if out_size else 0
    i = first[:, None] + np.arange(span)
    used = i < end[:, None]
    fi = i.astype(_F)
    lo, hi = lo[:, None], hi[:, None]
    past = fi + one > hi
    w = np.where(fi < lo, np.where(past, scale, fi + one - lo), np.where(past, hi - fi, one)).astype(_F)
    index = np.where(used, np.clip(i, 0, in_size - 1), 0)
    return index, np.where(used, w, _F(0)).astype(_F)


@kernel("ResizeArea")
def resize_area(node, inputs, ctx):
    x, (oh, ow), align, _ = _setup(node, inputs, half_attr=False)
    empty = _empty(x, oh, ow)
    if empty is not None:
        return empty
    hs, ws = _scale(x.shape[1], oh, align), _scale(x.shape[2], ow, align)
    for out_size, scale in ((oh, hs), (ow, ws)):  # the tap tables, before building them
        check_size(node, (out_size, int(np.ceil(float(scale))) + 2), 12)
    out = _resample(x, _area_taps(x.shape[1], oh, hs), _area_taps(x.shape[2], ow, ws))
    return out * _F(1.0 / float(hs * ws))  # float product, then a double quotient


# -- ScaleAndTranslate (tf.image.resize with antialias or the lanczos/gaussian/cubic methods) --

def _lanczos(radius: float):
    def f(x):
        with np.errstate(all="ignore"):
            v = _F(radius) * np.sin(_F(np.pi) * x) * np.sin(_F(np.pi) * x / _F(radius)) / (
                _F(np.pi) * _F(np.pi) * x * x)
        v = np.where(x <= _F(1e-3), _F(1), v)
        return np.where(x > _F(radius), _F(0), v).astype(_F)
    return f, radius


def _gaussian(x):
    sigma = _F(1.5) / _F(3)
    v = np.exp(-x * x / (2.0 * float(sigma) * float(sigma))).astype(_F)
    return np.where(x >= _F(1.5), _F(0), v)


def _box(x):
    return np.where(x < _F(0.5), _F(1), np.where(x == _F(0.5), _F(0.5), _F(0))).astype(_F)


def _triangle(x):
    return np.where(x < _F(1), _F(1) - x, _F(0)).astype(_F)


def _keys_cubic(x):
    far = ((_F(-0.5) * x + _F(2.5)) * x - _F(4)) * x + _F(2)
    near = ((_F(1.5) * x - _F(2.5)) * x) * x + _F(1)
    return np.where(x >= _F(2), _F(0), np.where(x >= _F(1), far, near)).astype(_F)


def _mitchell_cubic(x):
    far = (((_F(-7.0 / 18.0)) * x + _F(2)) * x - _F(10.0 / 3.0)) * x + _F(16.0 / 9.0)
    near = (((_F(7.0 / 6.0)) * x - _F(2)) * x) * x + _F(8.0 / 9.0)
    return np.where(x >= _F(2), _F(0), np.where(x >= _F(1), far, near)).astype(_F)


# tensorflow/core/kernels/image/sampling_kernels.{h,cc}: name -> (function, radius).
_SAMPLING = {
    "lanczos1": _lanczos(1.0), "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0),
    "gaussian": (_gaussian, 1.5), "box": (_box, 1.0), "triangle": (_triangle, 1.0),
    "keyscubic": (_keys_cubic, 2.0), "mitchellcubic": (_mitchell_cubic, 2.0),
}


def _span_taps(node, fn, radius: float, out_size: int, in_size: int, scale: np.float32,
               translate: np.float32, antialias: bool):
    """ComputeSpansCore: the normalised kernel taps of each output pixel."""
    inv_scale = _F(1.0 / float(scale))
    inv_translate = -inv_scale * translate
    kscale = max(inv_scale, _F(1)) if antialias else _F(1)
    reach = _F(radius) * kscale
    span = min(2 * int(np.ceil(reach)) + 1, in_size)
    check_size(node, (out_size, span), 8)
    sample = (np.arange(out_size, dtype=_F) + _F(0.5)) * inv_scale + inv_translate
    inside = (sample >= 0) & (sample <= _F(in_size))
    start = np.clip(np.ceil(sample - reach - _F(0.5)), 0, in_size - 1).astype(np.int64)
    end = np.clip(np.floor(sample + reach - _F(0.5)), 0, in_size - 1).astype(np.int64) + 1
    index = start[:, None] + np.arange(span)
    valid = (index < end[:, None]) & inside[:, None]
    pos = index.astype(_F) + _F(0.5) - sample[:, None]
    w = np.where(valid, fn(np.abs(pos * (_F(1) / kscale))), _F(0)).astype(_F)
    total = np.zeros(out_size, _F)
    for k in range(span):  # the float32 sum in TF's order
        total = total + w[:, k]
    ok = np.abs(total) >= _F(1000) * np.finfo(_F).tiny
    w = np.where(ok[:, None], w * (_F(1) / np.where(ok, total, _F(1)))[:, None], _F(0))
    return np.minimum(index, in_size - 1), w.astype(_F)


def _pair(node, value, what: str) -> tuple[np.float32, np.float32]:
    v = np.asarray(value)
    if v.ndim != 1 or v.size != 2:
        raise bad(node, f"{what} must be a 1-D tensor of two elements, got shape {list(v.shape)}")
    return _F(v[0]), _F(v[1])


@kernel("ScaleAndTranslate")
def scale_and_translate(node, inputs, ctx):
    kind = attr_str(node, "kernel_type")
    if kind not in _SAMPLING:
        raise bad(node, f"Unrecognized kernel type: {kind}")
    fn, radius = _SAMPLING[kind]
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    oh, ow = _size(node, inputs[1])
    if x.shape[3] <= 0:
        raise bad(node, "image must have at least one channel")
    if x.shape[1] <= 0 or x.shape[2] <= 0:
        raise bad(node, "input image must be of non-zero size")
    sy, sx = _pair(node, inputs[2], "scale")
    if not (sy > 0 and sx > 0):
        raise bad(node, "Scale must be greater than zero.")
    ty, tx = _pair(node, inputs[3], "translation")
    check_size(node, (x.shape[0], oh, ow, x.shape[3]), 4)
    if x.shape[0] == 0:
        return np.zeros((0, oh, ow, x.shape[3]), _F)
    antialias = bool(node.attr["antialias"])
    rows = _span_taps(node, fn, radius, oh, x.shape[1], sy, ty, antialias)
    cols = _span_taps(node, fn, radius, ow, x.shape[2], sx, tx, antialias)
    return _resample(x, rows, cols)


# -- CropAndResize -------------------------------------------------------------------------

def _crop_coords(lo: np.ndarray, hi: np.ndarray, size: int, crop: int) -> np.ndarray:
    """Source coordinates (boxes x crop) of one axis, in float32 as TF computes them."""
    extent = _F(size - 1)
    if crop > 1:
        step = (hi - lo) * extent / _F(crop - 1)
        return lo[:, None] * extent + np.arange(crop, dtype=_F)[None, :] * step[:, None]
    # 0.5 is a double in TF's expression: the product is formed in double, then rounded.
    mid = (0.5 * (lo + hi).astype(np.float64) * float(extent)).astype(_F)
    return mid[:, None]


@kernel("CropAndResize")
def crop_and_resize(node, inputs, ctx):
    method = attr_str(node, "method")
    if method not in ("bilinear", "nearest"):
        raise bad(node, f"method must be 'bilinear' or 'nearest', got {method!r}")
    image, boxes, box_index = (np.asarray(v) for v in inputs[:3])
    if image.ndim != 4:
        raise bad(node, f"input image must be 4-D, got shape {list(image.shape)}")
    n, h, w, depth = image.shape
    if h <= 0 or w <= 0:
        raise bad(node, "image dimensions must be positive")
    if boxes.ndim != 2:
        raise bad(node, f"boxes must be 2-D, got shape {list(boxes.shape)}")
    if box_index.ndim != 1:
        raise bad(node, f"box_indices must be rank 1 but is shape {list(box_index.shape)}")
    if boxes.size == 0 and box_index.size == 0:
        num = 0
    else:
        num = boxes.shape[0]
        if boxes.shape[1] != 4:
            raise bad(node, "boxes must have 4 columns")
        if box_index.shape[0] != num:
            raise bad(node, "box_index has incompatible shape")
    ch, cw = _size(node, inputs[3], "crop_size")
    check_size(node, (num, ch, cw, depth), 4)
    if ((box_index < 0) | (box_index >= n)).any():
        raise bad(node, "box_index has values outside [0, batch_size)")
    boxes = boxes.astype(_F, copy=False).reshape(num, 4)
    if not np.isfinite(boxes).all():
        raise bad(node, "Boxes contains at least one element that is not finite")
    fill = _F(node.attr["extrapolation_value"])
    ys = _crop_coords(boxes[:, 0], boxes[:, 2], h, ch)  # (num, ch)
    xs = _crop_coords(boxes[:, 1], boxes[:, 3], w, cw)  # (num, cw)
    ys = np.broadcast_to(ys, (num, ch))
    xs = np.broadcast_to(xs, (num, cw))
    y_in = (ys >= 0) & (ys <= _F(h - 1))
    x_in = (xs >= 0) & (xs <= _F(w - 1))
    img = _floats(image)[box_index.astype(np.int64)]  # (num, h, w, depth)
    b = np.arange(num)[:, None, None]
    if method == "nearest":
        yi = np.clip(roundf(ys), 0, h - 1).astype(np.int64)
        xi = np.clip(roundf(xs), 0, w - 1).astype(np.int64)
        out = img[b, yi[:, :, None], xi[:, None, :]]
    else:
        yc, xc = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
        top, left = np.floor(yc), np.floor(xc)
        bottom, right = np.ceil(yc).astype(np.int64), np.ceil(xc).astype(np.int64)
        yl = (yc - top)[:, :, None, None]
        xl = (xc - left)[:, None, :, None]
        top, left = top.astype(np.int64), left.astype(np.int64)
        tl = img[b, top[:, :, None], left[:, None, :]]
        tr = img[b, top[:, :, None], right[:, None, :]]
        bl = img[b, bottom[:, :, None], left[:, None, :]]
        br = img[b, bottom[:, :, None], right[:, None, :]]
        t = tl + (tr - tl) * xl
        bo = bl + (br - bl) * xl
        out = t + (bo - t) * yl
    inside = (y_in[:, :, None] & x_in[:, None, :])[..., None]
    return np.where(inside, out, fill).astype(_F)
