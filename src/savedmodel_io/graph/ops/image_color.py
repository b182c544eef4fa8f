"""Colour ops: RGBToHSV, HSVToRGB, AdjustContrastv2, AdjustHue, AdjustSaturation.

Arithmetic follows TensorFlow's CPU kernels step by step, in float32 where they use
float and in double where a C++ double constant widens an expression, so results
match to the last bit or two: tensorflow/tensorflow tensorflow/core/kernels/image/
colorspace_op.h, adjust_contrast_op.cc, adjust_hue_op.cc, adjust_saturation_op.cc.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad

_F = np.float32


def _rgb(node, x, what: str = "input") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 1:
        raise bad(node, f"{what} must be at least 1D, got shape {list(x.shape)}")
    if x.shape[-1] != 3:
        raise bad(node, f"{what} must have 3 channels but input only has {x.shape[-1]} channels.")
    return x


def _scalar(node, v, what: str) -> np.float32:
    v = np.asarray(v)
    if v.ndim != 0:
        raise bad(node, f"{what} must be scalar: {list(v.shape)}")
    return _F(v)


# -- colour spaces (any float type: arithmetic stays in the input's type, as Eigen's does) -----

@kernel("RGBToHSV")
def rgb_to_hsv(node, inputs, ctx):
    x = _rgb(node, inputs[0], "input_data")
    t = x.dtype.type
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    with np.errstate(all="ignore"):
        v = np.maximum(np.maximum(r, g), b)
        rng = v - np.minimum(np.minimum(r, g), b)
        s = np.where(v > 0, rng / v, t(0))
        norm = (t(1) / rng) * (t(1) / t(6))
        h = np.where(r == v, norm * (g - b),
                     np.where(g == v, norm * (b - r) + t(2) / t(6), norm * (r - g) + t(4) / t(6)))
    h = np.where(rng > 0, h, t(0))
    h = np.where(h < 0, h + t(1), h)
    return np.stack([h, s, v], axis=-1).astype(x.dtype, copy=False)


@kernel("HSVToRGB")
def hsv_to_rgb(node, inputs, ctx):
    x = _rgb(node, inputs[0], "input_data")
    t = x.dtype.type
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = h * t(6)
    one, two, zero = t(1), t(2), t(0)
    dr = np.minimum(np.maximum(np.abs(dh - t(3)) - one, zero), one)
    dg = np.minimum(np.maximum(-np.abs(dh - two) + two, zero), one)
    db = np.minimum(np.maximum(-np.abs(dh - t(4)) + two, zero), one)
    one_s = -s + one
    out = [(one_s + s * d) * v for d in (dr, dg, db)]
    return np.stack(out, axis=-1).astype(x.dtype, copy=False)


# -- adjustments (float32 only: TF registers no other CPU kernel) ------------------------------

def _image3(node, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 3:
        raise bad(node, f"input must be at least 3-D, got shape {list(x.shape)}")
    return x


@kernel("AdjustContrastv2")
def adjust_contrast_v2(node, inputs, ctx):
    x = _image3(node, inputs[0])
    factor = _scalar(node, inputs[1], "contrast_factor")
    if x.size == 0:
        return np.zeros(x.shape, x.dtype)
    xf = x.astype(_F, copy=False)
    h, w, c = x.shape[-3:]
    n = h * w
    planes = xf.reshape(-1, n, c)
    # The mean is a pairwise halving sum (right half folded onto the left), as TF sums it.
    acc = planes
    size = n
    while size > 1:
        right = size // 2
        left = size - right
        head = acc[:, :right] + acc[:, left:left + right]
        acc = np.concatenate([head, acc[:, right:left]], axis=1) if left > right else head
        size = left
    mean = acc[:, :1] * (_F(1) / _F(n))
    out = mean + factor * (planes - mean)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _hv_range(r, g, b):
    """Hue in [0, 6) and the min/max channel (adjust_hue_op.cc, rgb_to_hv_range)."""
    lt = r < g
    conds = [lt & (b < r), lt & (b > g), lt, b < g, b > r]
    vmax = np.select(conds, [g, b, g, r, b], r)
    vmid = np.select(conds, [r, g, b, g, r], b)
    vmin = np.select(conds, [b, r, r, b, g], g)
    cat = np.select(conds, [1, 3, 2, 0, 4], 5)
    with np.errstate(all="ignore"):
        ratio = (vmid - vmin) / (vmax - vmin)
    h = np.where(cat & 1, cat + (_F(1) - ratio), cat + ratio).astype(_F)
    return np.where(vmax == vmin, _F(0), h), vmin, vmax


def _hv_to_rgb(h, vmin, vmax):
    cat = np.trunc(h).astype(np.int64)
    ratio = h - cat.astype(_F)
    ratio = np.where(cat & 1, _F(1) - ratio, ratio)
    vmid = vmin + ratio * (vmax - vmin)
    conds = [cat == k for k in range(5)]
    r = np.select(conds, [vmax, vmid, vmin, vmin, vmid], vmax)
    g = np.select(conds, [vmid, vmax, vmax, vmid, vmin], vmin)
    b = np.select(conds, [vmin, vmin, vmid, vmax, vmax], vmid)
    return r, g, b


def _wrap(h: np.ndarray, period: float, low_open: bool) -> np.ndarray:
    """TF's ``while (h < 0) h += p; while (h >= p) h -= p`` (``<= 0`` when ``low_open``)."""
    p = _F(period)
    for _ in range(64):
        low = (h <= 0) if low_open else (h < 0)
        if not low.any():
            break
        h = np.where(low, h + p, h)
    for _ in range(64):
        high = h >= p
        if not high.any():
            break
        h = np.where(high, h - p, h)
    return h


@kernel("AdjustHue")
def adjust_hue(node, inputs, ctx):
    x = _image3(node, inputs[0])
    delta = _scalar(node, inputs[1], "delta")
    if x.shape[-1] != 3:
        raise bad(node, f"input must have 3 channels but instead has {x.shape[-1]} channels.")
    xf = x.astype(_F, copy=False)
    h, vmin, vmax = _hv_range(xf[..., 0], xf[..., 1], xf[..., 2])
    h = _wrap(h + delta * _F(6), 6.0, low_open=False)
    return np.stack(_hv_to_rgb(h, vmin, vmax), axis=-1).astype(x.dtype, copy=False)


def _rgb_to_hsv_f32(r, g, b):
    """adjust_saturation_op.cc's float rgb_to_hsv (its hue offsets are double constants)."""
    v = np.maximum(r, np.maximum(g, b))
    rng = v - np.minimum(r, np.minimum(g, b))
    with np.errstate(all="ignore"):
        s = np.where(v > 0, rng / v, _F(0)).astype(_F)
        norm = _F(1) / (_F(6) * rng)
        hh = np.where(r == v, norm * (g - b),
                      np.where(g == v, ((norm * (b - r)).astype(np.float64) + 2.0 / 6.0).astype(_F),
                               ((norm * (r - g)).astype(np.float64) + 4.0 / 6.0).astype(_F)))
    hh = np.where(rng <= 0, _F(0), hh)
    hh = np.where(hh < 0, hh + _F(1), hh)
    return hh.astype(_F), s, v


def _hsv_to_rgb_f32(h, s, v):
    c = s * v
    m = v - c
    dh = h * _F(6)
    with np.errstate(invalid="ignore"):
        cat = np.trunc(dh)
    cat = np.where(np.isfinite(cat), cat, -1).astype(np.int64)
    fm = _wrap(dh, 2.0, low_open=True)
    x = c * (_F(1) - np.abs(fm - _F(1)))
    zero = np.zeros_like(c)
    conds = [cat == k for k in range(6)]
    rr = np.select(conds, [c, x, zero, zero, x, c], zero)
    gg = np.select(conds, [x, c, c, x, zero, zero], zero)
    bb = np.select(conds, [zero, zero, x, c, c, x], zero)
    return rr + m, gg + m, bb + m


@kernel("AdjustSaturation")
def adjust_saturation(node, inputs, ctx):
    x = _image3(node, inputs[0])
    scale = _scalar(node, inputs[1], "scale")
    if x.shape[-1] != 3:
        raise bad(node, f"input must have 3 channels but instead has {x.shape[-1]} channels.")
    xf = x.astype(_F, copy=False)
    h, s, v = _rgb_to_hsv_f32(xf[..., 0], xf[..., 1], xf[..., 2])
    s = np.minimum(_F(1), np.maximum(_F(0), s * scale))
    return np.stack(_hsv_to_rgb_f32(h, s, v), axis=-1).astype(x.dtype, copy=False)
