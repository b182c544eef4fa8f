"""Convolution and pooling variants: the generic Conv op, Conv2DBackpropInputV2,
DepthwiseConv2dNativeBackpropInput (depthwise transposed convolution), FusedPadConv2D,
FusedResizeAndPadConv2D, Dilation2D(BackpropInput), MaxPoolWithArgmax, and the layout helpers
DataFormatDimMap / DataFormatVecPermute.

Window geometry is the one nn.py uses (tensorflow/tensorflow
tensorflow/core/framework/kernel_shape_util.cc). Semantics: tensorflow/core/kernels/
conv_ops.cc (Conv), depthwise_conv_grad_op.cc, conv_ops_fused_image_transform.cc,
dilation_ops.cc, maxpooling_op.cc (SpatialMaxPoolWithArgMaxHelper), data_format_ops.cc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import (
    attr_str, bad, check_size, extreme, ints, np_dtype, pad_constant,
)
from savedmodel_io.graph.ops.array import mirror_pad
from savedmodel_io.graph.ops.image import resize_bilinear
from savedmodel_io.graph.ops.nn import _window, conv2d, conv2d_backprop_input


class _WithAttrs:
    """A node seen with some attrs replaced (to run a sibling op's kernel on it)."""

    def __init__(self, node: Any, **attrs: Any) -> None:
        self._node = node
        self.attr = {**node.attr, **attrs}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


def _pads(node, sizes, ks, strides, dil, padding: str, explicit=None):
    """(output sizes, [(before, after)]) of each spatial dimension."""
    outs, pads = [], []
    for d in range(len(ks)):
        o, a, b = _window(node, sizes[d], ks[d], strides[d], dil[d], padding,
                          explicit[d] if explicit else (0, 0))
        outs.append(o)
        pads.append((a, b))
    return outs, pads


# -- the generic Conv op (tf.raw_ops.Conv: N-D, extra batch dimensions, groups) ---------------

def _conv_nd(x: np.ndarray, w: np.ndarray, strides, dil, outs, pads, groups: int) -> np.ndarray:
    """Channels-last N-D convolution of x (N, *S, C) by w (*K, C/groups, O): im2col + GEMM."""
    rank = w.ndim - 2
    ks, cin, cout = w.shape[:rank], w.shape[rank], w.shape[rank + 1]
    n = x.shape[0]
    dtype = np.result_type(x.dtype, w.dtype)
    if 0 in (n, *outs, cout):
        return np.zeros((n, *outs, cout), dtype)
    xp = pad_constant(x, [(0, 0), *pads, (0, 0)])
    s = xp.strides
    view = as_strided(xp, (n, *outs, *ks, x.shape[-1]),
                      (s[0], *(s[1 + d] * strides[d] for d in range(rank)),
                       *(s[1 + d] * dil[d] for d in range(rank)), s[-1]), writeable=False)
    rows = n * int(np.prod(outs))
    og = cout // groups
    parts = []
    for g in range(groups):
        cols = view[..., g * cin:(g + 1) * cin].reshape(rows, -1)
        parts.append(cols @ w[..., g * og:(g + 1) * og].reshape(-1, og))
    y = parts[0] if groups == 1 else np.concatenate(parts, axis=1)
    return y.reshape(n, *outs, cout).astype(dtype, copy=False)


@kernel("Conv")
def conv(node, inputs, ctx):
    x, w = np.asarray(inputs[0]), np.asarray(inputs[1])
    batch_dims = int(node.attr["batch_dims"])
    groups = int(node.attr["groups"])
    rank = w.ndim - 2
    if rank not in (2, 3):
        raise bad(node, f"The input must have 2 or 3 spatial dimensions but got {rank}")
    if batch_dims < 1 or x.ndim != batch_dims + rank + 1:
        raise bad(node, f"input of shape {list(x.shape)} with batch_dims {batch_dims} does not "
                        f"fit a rank-{w.ndim} filter")
    first = attr_str(node, "data_format") == "CHANNELS_FIRST"
    lead = x.shape[:batch_dims]
    x = x.reshape(-1, *x.shape[batch_dims:])
    if first:
        x = np.moveaxis(x, 1, -1)
    strides = [int(v) for v in node.attr["strides"]]
    dil = [int(v) for v in node.attr["dilations"]] or [1] * (rank + 2)
    if len(strides) != rank + 2 or len(dil) != rank + 2:
        raise bad(node, f"strides and dilations must have {rank + 2} values")
    sp = slice(2, None) if first else slice(1, -1)
    strides, dil = strides[sp], dil[sp]
    c = x.shape[-1]
    if groups < 1 or w.shape[rank] * groups != c or w.shape[rank + 1] % groups:
        raise bad(node, f"input depth {c} does not fit filter {list(w.shape)} in {groups} groups")
    padding = attr_str(node, "padding")
    explicit = None
    if padding == "EXPLICIT":
        p = [int(v) for v in node.attr["explicit_paddings"]]
        if len(p) != 2 * (rank + 2):
            raise bad(node, f"explicit_paddings must have {2 * (rank + 2)} values")
        pairs = [(p[2 * i], p[2 * i + 1]) for i in range(rank + 2)]
        explicit = pairs[sp]
    outs, pads = _pads(node, x.shape[1:-1], w.shape[:rank], strides, dil, padding, explicit)
    check_size(node, (x.shape[0], *outs, w.shape[-1]), x.itemsize)
    y = _conv_nd(x, w, strides, dil, outs, pads, groups)
    if first:
        y = np.moveaxis(y, -1, 1)
    return np.ascontiguousarray(y.reshape(*lead, *y.shape[1:]))


# -- transposed convolutions ---------------------------------------------------------------------

@kernel("Conv2DBackpropInputV2")
def conv2d_backprop_input_v2(node, inputs, ctx):
    """Conv2DBackpropInput given the input tensor itself instead of its shape."""
    sizes = np.asarray(np.shape(inputs[0]), np.int32)
    return conv2d_backprop_input(node, [sizes, inputs[1], inputs[2]], ctx)


@kernel("DepthwiseConv2dNativeBackpropInput")
def depthwise_backprop_input(node, inputs, ctx):
    """Depthwise transposed convolution: each out_backprop tap scattered back through the filter."""
    fmt = attr_str(node, "data_format")
    sizes = ints(inputs[0])
    w, dy = np.asarray(inputs[1]), np.asarray(inputs[2])
    if len(sizes) != 4 or w.ndim != 4 or dy.ndim != 4:
        raise bad(node, "input_sizes must have 4 values and filter/out_backprop must be 4-D")
    if fmt == "NCHW":
        sizes = [sizes[0], sizes[2], sizes[3], sizes[1]]
        dy = dy.transpose(0, 2, 3, 1)
    n, h, wd, c = sizes
    kh, kw, fc, m = w.shape
    if fc != c or dy.shape[3] != c * m or dy.shape[0] != n:
        raise bad(node, f"filter {list(w.shape)} does not match input {sizes} / out_backprop "
                        f"{list(dy.shape)}")
    st = [int(v) for v in node.attr["strides"]]
    dl = [int(v) for v in node.attr["dilations"]]
    hw = (1, 2) if fmt != "NCHW" else (2, 3)
    strides, dil = (st[hw[0]], st[hw[1]]), (dl[hw[0]], dl[hw[1]])
    padding = attr_str(node, "padding")
    explicit = None
    if padding == "EXPLICIT":
        p = [int(v) for v in node.attr["explicit_paddings"]]
        if len(p) != 8:
            raise bad(node, "explicit_paddings must have 8 values")
        explicit = [(p[2 * hw[0]], p[2 * hw[0] + 1]), (p[2 * hw[1]], p[2 * hw[1] + 1])]
    outs, pads = _pads(node, (h, wd), (kh, kw), strides, dil, padding, explicit)
    if tuple(dy.shape[1:3]) != tuple(outs):
        raise bad(node, f"out_backprop spatial shape {list(dy.shape[1:3])} != {outs} computed "
                        f"from input_sizes")
    check_size(node, sizes, dy.itemsize)
    dtype = np.result_type(w.dtype, dy.dtype)
    (pt, pb), (pl, pr) = pads
    full_h = max(h + pt + pb, (outs[0] - 1) * strides[0] + (kh - 1) * dil[0] + 1)
    full_w = max(wd + pl + pr, (outs[1] - 1) * strides[1] + (kw - 1) * dil[1] + 1)
    buf = np.zeros((n, full_h, full_w, c), dtype)
    g = dy.reshape(n, outs[0], outs[1], c, m)
    for i in range(kh):
        for j in range(kw):
            contrib = np.einsum("nhwcm,cm->nhwc", g, w[i, j])
            r0, c0 = i * dil[0], j * dil[1]
            buf[:, r0:r0 + (outs[0] - 1) * strides[0] + 1:strides[0],
                c0:c0 + (outs[1] - 1) * strides[1] + 1:strides[1]] += contrib
    y = buf[:, pt:pt + h, pl:pl + wd].astype(dtype, copy=False)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2) if fmt == "NCHW" else y)


# -- fused image transforms + convolution (TF1 graph-transform tool output) -----------------------

def _conv_nhwc(node, x, w, ctx):
    plain = _WithAttrs(node, data_format=b"NHWC", dilations=[1, 1, 1, 1], explicit_paddings=[])
    return conv2d(plain, [x, w], ctx)


@kernel("FusedPadConv2D")
def fused_pad_conv2d(node, inputs, ctx):
    """MirrorPad (REFLECT / SYMMETRIC), then Conv2D."""
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    return _conv_nhwc(node, mirror_pad(node, [x, inputs[1]], ctx), inputs[2], ctx)


@kernel("FusedResizeAndPadConv2D")
def fused_resize_pad_conv2d(node, inputs, ctx):
    """ResizeBilinear (legacy pixel centers), MirrorPad, then Conv2D, in the input's type."""
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    resize = _WithAttrs(node, align_corners=bool(node.attr["resize_align_corners"]),
                        half_pixel_centers=False)
    resized = resize_bilinear(resize, [x, inputs[1]], ctx).astype(x.dtype)
    return _conv_nhwc(node, mirror_pad(node, [resized, inputs[2]], ctx), inputs[3], ctx)


# -- morphological dilation and arg-max pooling -------------------------------------------------

def _taps(node, x: np.ndarray, k, strides, rates, padding: str):
    """(output size, iterator of (tap, window view, valid mask)) over an NHWC input's taps."""
    outs, pads = _pads(node, x.shape[1:3], k, strides, rates, padding)
    (pt, pb), (pl, pr) = pads
    xp = pad_constant(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    inside = pad_constant(np.ones(x.shape[1:3], bool), [(pt, pb), (pl, pr)], False)

    def each():
        for i in range(k[0]):
            for j in range(k[1]):
                r, c = i * rates[0], j * rates[1]
                rs = slice(r, r + (outs[0] - 1) * strides[0] + 1, strides[0])
                cs = slice(c, c + (outs[1] - 1) * strides[1] + 1, strides[1])
                yield (i, j), xp[:, rs, cs], inside[rs, cs][None, :, :, None], (rs, cs)

    return outs, pads, each()


def _inner(node, name: str) -> tuple[int, int]:
    v = [int(a) for a in node.attr[name]]
    if len(v) != 4 or v[0] != 1 or v[3] != 1:
        raise bad(node, f"{name} must be [1, rows, cols, 1], got {v}")
    return v[1], v[2]


@kernel("Dilation2D")
def dilation2d(node, inputs, ctx):
    x, f = np.asarray(inputs[0]), np.asarray(inputs[1])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    if f.ndim != 3 or f.shape[2] != x.shape[3]:
        raise bad(node, f"filter {list(f.shape)} must be 3-D with the input's depth {x.shape[3]}")
    strides, rates = _inner(node, "strides"), _inner(node, "rates")
    outs, _, taps = _taps(node, x, f.shape[:2], strides, rates, attr_str(node, "padding"))
    check_size(node, (x.shape[0], *outs, x.shape[3]), x.itemsize)
    out = np.full((x.shape[0], *outs, x.shape[3]), extreme(x.dtype, False), x.dtype)
    if out.size == 0:
        return out
    for (i, j), view, valid, _ in taps:
        with np.errstate(over="ignore"):
            val = view + f[i, j]
        np.copyto(out, val, where=valid & (val > out))
    return out


@kernel("Dilation2DBackpropInput")
def dilation2d_backprop_input(node, inputs, ctx):
    """Each output's gradient added at the input its dilation took the maximum from.

    tensorflow/core/kernels/dilation_ops.cc: the first tap (row-major) with the strictly
    largest input + filter wins; a window with no such tap sends it to its first row and
    column clamped to 0; the additions run in the input's type, output after output.
    """
    x, f, dy = (np.asarray(a) for a in inputs[:3])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    if f.ndim != 3 or f.shape[2] != x.shape[3]:
        raise bad(node, f"filter {list(f.shape)} must be 3-D with the input's depth {x.shape[3]}")
    strides, rates = _inner(node, "strides"), _inner(node, "rates")
    outs, pads, taps = _taps(node, x, f.shape[:2], strides, rates, attr_str(node, "padding"))
    n, _, _, depth = x.shape
    if dy.shape != (n, *outs, depth):
        raise bad(node, f"out_backprop has shape {list(dy.shape)}, expected "
                        f"{[n, *outs, depth]}")
    grad = np.zeros(x.shape, x.dtype)
    if dy.size == 0:
        return grad
    starts = [np.arange(outs[d]) * strides[d] - pads[d][0] for d in range(2)]
    best = np.full(dy.shape, extreme(x.dtype, False), x.dtype)
    rows = np.broadcast_to(np.maximum(starts[0], 0)[None, :, None, None], dy.shape).copy()
    cols = np.broadcast_to(np.maximum(starts[1], 0)[None, None, :, None], dy.shape).copy()
    for (i, j), view, valid, _ in taps:
        with np.errstate(over="ignore", invalid="ignore"):
            val = view + f[i, j]
        wins = valid & (val > best)
        np.copyto(best, val, where=wins)
        np.copyto(rows, (starts[0] + i * rates[0])[None, :, None, None], where=wins)
        np.copyto(cols, (starts[1] + j * rates[1])[None, None, :, None], where=wins)
    b = np.arange(n)[:, None, None, None]
    d = np.arange(depth)[None, None, None, :]
    np.add.at(grad, (np.broadcast_to(b, dy.shape), rows, cols, np.broadcast_to(d, dy.shape)),
              dy.astype(x.dtype))
    return grad


@kernel("MaxPoolWithArgmax")
def max_pool_with_argmax(node, inputs, ctx):
    x = np.asarray(inputs[0])
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    k, strides = _inner(node, "ksize"), _inner(node, "strides")
    outs, pads, taps = _taps(node, x, k, strides, (1, 1), attr_str(node, "padding"))
    n, h, w, c = x.shape
    check_size(node, (n, *outs, c), 8)
    out = np.full((n, *outs, c), extreme(x.dtype, False), x.dtype)
    arg = np.full((n, *outs, c), -1, np.int64)
    if out.size:
        (pt, _), (pl, _) = pads
        oy = np.arange(outs[0])[:, None] * strides[0] - pt
        ox = np.arange(outs[1])[None, :] * strides[1] - pl
        base = np.arange(n)[:, None, None, None] * (h * w * c) if node.attr[
            "include_batch_in_index"] else 0
        # Window pixels in row-major order; the first one seen always wins over nothing, a
        # later one only when strictly greater (so a leading NaN stays, later NaNs are skipped).
        for (i, j), view, valid, _ in taps:
            take = valid & ((out < view) | (arg < 0))
            np.copyto(out, view, where=take)
            index = ((oy + i) * w + (ox + j))[None, :, :, None] * c + np.arange(c) + base
            np.copyto(arg, np.broadcast_to(index, arg.shape), where=take)
    return [out, arg.astype(np_dtype(node.attr["Targmax"]))]


# -- layout helpers ------------------------------------------------------------------------------

def _formats(node) -> tuple[str, str]:
    src, dst = attr_str(node, "src_format"), attr_str(node, "dst_format")
    if len(src) not in (4, 5) or len(dst) not in (4, 5):
        raise bad(node, f"formats must be of length 4 or 5, got {src!r} and {dst!r}")
    if len(src) != len(dst) or len(set(src)) != len(src) or set(src) != set(dst):
        raise bad(node, f"Destination and source format must determine a permutation, got "
                        f"{src} and {dst}")
    return src, dst


@kernel("DataFormatDimMap")
def data_format_dim_map(node, inputs, ctx):
    src, dst = _formats(node)
    x = np.asarray(inputs[0])
    n = len(src)
    table = np.array([dst.index(ch) for ch in src], x.dtype)
    return table[np.mod(x, n).astype(np.int64)]


@kernel("DataFormatVecPermute")
def data_format_vec_permute(node, inputs, ctx):
    src, dst = _formats(node)
    x = np.asarray(inputs[0])
    if x.ndim not in (1, 2):
        raise bad(node, f"input must be a vector or 2D tensor, but got shape {list(x.shape)}")
    if x.shape[0] not in (2, 4) or (x.ndim == 2 and x.shape[1] != 2):
        raise bad(node, f"input must be of shape [2 or 4] or [2 or 4, 2], got {list(x.shape)}")
    if x.shape[0] == 2:
        src = "".join(ch for ch in src if ch in "HW")
        dst = "".join(ch for ch in dst if ch in "HW")
        if len(src) != 2 or len(dst) != 2:
            raise bad(node, "Format specifier must contain H and W for 2D case")
    out = np.empty_like(x)
    for i, ch in enumerate(src):
        j = dst.find(ch)
        if j >= 0:
            out[j] = x[i]
    return out
