"""Patches and geometric sampling: ExtractImagePatches, ExtractVolumePatches,
ImageProjectiveTransformV2/V3 and ExtractGlimpse/V2.

Patch geometry is the convolution's (SAME/VALID windows with strides and rates, zero
padding; tensorflow/tensorflow tensorflow/core/kernels/image/extract_image_patches_op.cc,
extract_volume_patches_op.cc). Projective transforms map each output pixel through the
8-parameter transform in float32 and read the input with TF's fill modes
(tensorflow/core/kernels/image/image_ops.h, which follows scipy.ndimage). Glimpses follow
tensorflow/core/kernels/eigen_attention.h; their "uniform" and "gaussian" noise outside the
image is random (numpy's generator, as TensorFlow's is unseeded too: never bit-equal).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints, pad_constant
from savedmodel_io.graph.ops.image import roundf
from savedmodel_io.graph.ops.nn import _window

_F = np.float32


# -- patches ---------------------------------------------------------------------------------

def _spatial(node, name: str, rank: int) -> list[int]:
    v = [int(a) for a in node.attr[name]]
    if len(v) != rank + 2 or v[0] != 1 or v[-1] != 1:
        raise bad(node, f"{name} must be [1, ..., 1] of length {rank + 2}, got {v}")
    return v[1:-1]


def _extract(node, x: np.ndarray, ks, strides, rates) -> np.ndarray:
    """Patches of an (N, *spatial, C) array: (N, *out, prod(ks) * C), patch-major then channel."""
    rank = len(ks)
    padding = attr_str(node, "padding")
    if padding not in ("SAME", "VALID"):
        raise bad(node, f"padding must be SAME or VALID, got {padding!r}")
    outs, pads = [], []
    for d in range(rank):
        if ks[d] < 1:
            raise bad(node, "patch sizes must be positive")
        o, a, b = _window(node, x.shape[1 + d], ks[d], strides[d], rates[d], padding)
        outs.append(o)
        pads.append((a, b))
    depth = x.shape[-1]
    check_size(node, (x.shape[0], *outs, int(np.prod(ks)) * depth), x.itemsize)
    xp = pad_constant(x, [(0, 0), *pads, (0, 0)])
    s = xp.strides
    shape = (x.shape[0], *outs, *ks, depth)
    step = (s[0], *(s[1 + d] * strides[d] for d in range(rank)),
            *(s[1 + d] * rates[d] for d in range(rank)), s[-1])
    if 0 in shape:
        return np.zeros((x.shape[0], *outs, int(np.prod(ks)) * depth), x.dtype)
    view = as_strided(xp, shape, step, writeable=False)
    return np.ascontiguousarray(view).reshape(x.shape[0], *outs, -1)


@kernel("ExtractImagePatches")
def extract_image_patches(node, inputs, ctx):
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    return _extract(node, x, _spatial(node, "ksizes", 2), _spatial(node, "strides", 2),
                    _spatial(node, "rates", 2))


@kernel("ExtractVolumePatches")
def extract_volume_patches(node, inputs, ctx):
    x = np.asarray(inputs[0])
    if x.ndim != 5:
        raise bad(node, f"input must be 5-dimensional, got shape {list(x.shape)}")
    return _extract(node, x, _spatial(node, "ksizes", 3), _spatial(node, "strides", 3),
                    [1, 1, 1])


# -- projective transforms (tf.raw_ops, keras.ops.image.affine_transform) -----------------------

def _map_reflect(c: np.ndarray, n: int) -> np.ndarray:
    """Reflect [abcd] to [dcba|abcd|dcba] (MapCoordinate FILL_REFLECT), then clamp."""
    if n <= 1:
        return np.zeros_like(c)
    sz2 = 2 * n
    out = c.copy()
    neg = c < 0
    lo = c[neg]
    lo = np.where(lo < sz2, _F(sz2) * np.trunc(-lo / _F(sz2)) + lo, lo)
    out[neg] = np.where(lo < -n, lo + _F(sz2), -lo - _F(1))
    pos = c > _F(n - 1)
    hi = c[pos]
    hi = hi - _F(sz2) * np.trunc(hi / _F(sz2))
    out[pos] = np.where(hi >= n, _F(sz2) - hi - _F(1), hi)
    return np.clip(out, _F(0), _F(n - 1))


def _map_wrap(c: np.ndarray, n: int) -> np.ndarray:
    """Wrap [abcd] to [abcd|abcd|abcd] (MapCoordinate FILL_WRAP), then clamp."""
    if n <= 1:
        return np.zeros_like(c)
    sz = _F(n - 1)
    out = np.where(c < 0, c + _F(n) * (np.trunc(-c / sz) + _F(1)), c)
    out = np.where(c > sz, c - _F(n) * np.trunc(c / sz), out)
    return np.clip(out, _F(0), _F(n - 1))


_FILL = {
    "REFLECT": _map_reflect,
    "WRAP": _map_wrap,
    "CONSTANT": lambda c, n: c,
    "NEAREST": lambda c, n: np.clip(c, _F(0), _F(n - 1)),
}


def _int_index(v: np.ndarray) -> np.ndarray:
    """float32 -> int64 as C++ converts it (truncating; NaN/overflow: an out-of-range index)."""
    bad_ = ~np.isfinite(v) | (np.abs(v) >= 2.0**62)
    return np.where(bad_, -1, np.trunc(np.where(bad_, 0, v))).astype(np.int64)


def _read(img: np.ndarray, b: np.ndarray, y: np.ndarray, x: np.ndarray, fill) -> np.ndarray:
    """img[b, y, x, :] where (y, x) is inside, else ``fill``."""
    h, w = img.shape[1], img.shape[2]
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    vals = img[b, np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]
    return np.where(inside[..., None], vals, fill)


def _to_type(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """T(float) as C++ casts it: integers truncate toward zero."""
    if dtype.kind in "iu":
        with np.errstate(invalid="ignore"):
            return np.trunc(v).astype(dtype)
    return v.astype(dtype)


def _projective(node, inputs, fill_value) -> np.ndarray:
    images, transforms = np.asarray(inputs[0]), np.asarray(inputs[1])
    if images.ndim != 4:
        raise bad(node, "Input images must have rank 4")
    n, h, w, c = images.shape
    if transforms.ndim != 2 or transforms.shape[0] not in (n, 1) or transforms.shape[1] != 8:
        raise bad(node, "Input transform should be num_images x 8 or 1 x 8")
    shape = np.asarray(inputs[2])
    if shape.ndim != 1 or shape.size != 2:
        raise bad(node, f"output shape must be a 1-D tensor of two elements, got "
                        f"{list(shape.shape)}")
    oh, ow = ints(shape)
    if oh <= 0 or ow <= 0:
        raise bad(node, "output dimensions must be positive")
    check_size(node, (n, oh, ow, c), images.itemsize)
    interp = attr_str(node, "interpolation")
    mode = attr_str(node, "fill_mode")
    if interp not in ("NEAREST", "BILINEAR") or mode not in _FILL:
        raise bad(node, f"unsupported interpolation {interp!r} or fill_mode {mode!r}")
    dtype = images.dtype
    fill = _to_type(np.asarray(_F(fill_value)), dtype)
    if n == 0:
        return np.zeros((0, oh, ow, c), dtype)
    t = np.broadcast_to(transforms.astype(_F, copy=False), (n, 8))[:, :, None, None]
    ox = np.arange(ow, dtype=_F)[None, None, :]
    oy = np.arange(oh, dtype=_F)[None, :, None]
    proj = t[:, 6] * ox + t[:, 7] * oy + _F(1)
    with np.errstate(all="ignore"):
        in_x = (t[:, 0] * ox + t[:, 1] * oy + t[:, 2]) / proj
        in_y = (t[:, 3] * ox + t[:, 4] * oy + t[:, 5]) / proj
    x = _FILL[mode](in_x, w)
    y = _FILL[mode](in_y, h)
    b = np.arange(n)[:, None, None]
    if interp == "NEAREST":
        out = _read(images, b, _int_index(roundf(y)), _int_index(roundf(x)), fill)
    else:
        yf, xf = np.floor(y), np.floor(x)
        yc, xc = yf + _F(1), xf + _F(1)
        yi, xi, yci, xci = (_int_index(v) for v in (yf, xf, yc, xc))

        def rd(yy, xx):
            return _read(images, b, yy, xx, fill).astype(_F)

        with np.errstate(all="ignore"):  # inf/NaN coordinates read the fill value
            wx0, wx1 = (xc - x)[..., None], (x - xf)[..., None]
            top = wx0 * rd(yi, xi) + wx1 * rd(yi, xci)
            bottom = wx0 * rd(yci, xi) + wx1 * rd(yci, xci)
            out = _to_type((yc - y)[..., None] * top + (y - yf)[..., None] * bottom, dtype)
    return np.where((proj == 0)[..., None], fill, out).astype(dtype, copy=False)


@kernel("ImageProjectiveTransformV2")
def projective_transform_v2(node, inputs, ctx):
    return _projective(node, inputs, 0.0)


@kernel("ImageProjectiveTransformV3")
def projective_transform_v3(node, inputs, ctx):
    fv = np.asarray(inputs[3])
    if fv.ndim != 0:
        raise bad(node, f"fill_value must be a scalar, got shape {list(fv.shape)}")
    return _projective(node, inputs, float(fv))


# -- glimpses ----------------------------------------------------------------------------------

def _noise_mode(node) -> str:
    uniform = bool(node.attr["uniform_noise"])
    noise = attr_str(node, "noise")
    if uniform and noise not in ("", "uniform"):
        raise bad(node, "The uniform_noise and noise could not be specified at the same time")
    if not noise:
        return "uniform" if uniform else "gaussian"
    if noise not in ("uniform", "gaussian", "zero"):
        raise bad(node, f"The noise could only be uniform, gaussian, or zero, got {noise}")
    return noise


def _glimpse_origin(y: np.float32, x: np.float32, h: int, w: int, gh: int, gw: int,
                    normalized: bool, centered: bool, version: int) -> tuple[int, int]:
    """Top-left corner of one glimpse (GlimpseExtractionOp::eval), truncated like (Index)x."""
    if normalized:
        x, y = x * _F(w), y * _F(h)
    if version == 1 or (normalized and centered):
        if centered:
            x, y = x / _F(2), y / _F(2)
            x, y = x + _F(w / 2.0), y + _F(h / 2.0)
        x, y = x - _F(gw / 2.0), y - _F(gh / 2.0)
    elif centered:
        x, y = x + _F(w / 2.0), y + _F(h / 2.0)
    return int(_int_index(np.asarray(y))), int(_int_index(np.asarray(x)))


@kernel("ExtractGlimpse", "ExtractGlimpseV2")
def extract_glimpse(node, inputs, ctx):
    noise = _noise_mode(node)
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional (batch_size, height, width, depth), "
                        f"got shape {list(x.shape)}")
    size = np.asarray(inputs[1])
    if size.shape != (2,):
        raise bad(node, f"input must be a vector of size 2 (height, width), got {list(size.shape)}")
    gh, gw = ints(size)
    if gh < 0 or gw < 0:
        raise bad(node, f"glimpse size must be non-negative, got {[gh, gw]}")
    offsets = np.asarray(inputs[2])
    n, h, w, c = x.shape
    if offsets.ndim != 2 or offsets.shape[0] != n or offsets.shape[1] != 2:
        raise bad(node, f"offsets must be a (batch, 2) matrix of (y, x), got {list(offsets.shape)}")
    check_size(node, (n, gh, gw, c), 4)
    out = np.zeros((n, gh, gw, c), _F)
    if out.size == 0:
        return out
    version = 1 if node.op == "ExtractGlimpse" else 2
    offsets = offsets.astype(_F, copy=False)
    rng = np.random.default_rng()
    xf = x.astype(_F, copy=False)
    for i in range(n):
        oy, ox = _glimpse_origin(offsets[i, 0], offsets[i, 1], h, w, gh, gw,
                                 bool(node.attr["normalized"]), bool(node.attr["centered"]),
                                 version)
        y0, y1 = max(oy, 0), min(oy + gh, h)
        x0, x1 = max(ox, 0), min(ox + gw, w)
        partial = oy < 0 or ox < 0 or oy + gh >= h or ox + gw >= w
        if partial and noise == "uniform":
            lo = xf[i].min()
            out[i] = lo + rng.random((gh, gw, c), dtype=_F) * (xf[i].max() - lo)
        elif partial and noise == "gaussian":
            mean = xf[i].mean(axis=(0, 1))
            sigma = np.sqrt(np.square(xf[i] - mean).mean(axis=(0, 1)))
            g = mean + rng.standard_normal((gh, gw, c), dtype=_F) * sigma
            out[i] = np.clip(g, xf[i].min(axis=(0, 1)), xf[i].max(axis=(0, 1)))
        if y1 > y0 and x1 > x0:
            out[i, y0 - oy:y1 - oy, x0 - ox:x1 - ox] = xf[i, y0:y1, x0:x1]
    return out
