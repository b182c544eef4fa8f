"""Rarer convolution and pooling ops: the generic Conv, transposed and TF1-fused convolutions,
arg-max pooling, morphological dilation and its input gradient, data-format maps (built on nn's convolution converters).

Semantics: the numpy kernels (graph/ops/conv_pool.py; tensorflow/tensorflow
tensorflow/core/kernels/conv_ops.cc, depthwise_conv_grad_op.cc,
conv_ops_fused_image_transform.cc, maxpooling_op.cc, data_format_ops.cc, dilation_ops.cc).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.ops._util import extreme
from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import (
    INT64_MAX, MAX_UNROLLED, attr_dtype, bounded, attr_text, cast, is_float, need_rank, scalar, unsqueeze, working_dtype,
)
from savedmodel_io.onnx.ops.image import _resize
from savedmodel_io.onnx.ops.nn import _conv, _filter_oi, _pads, conv, conv_transpose, mirror_pad, transposed_conv


def _formats(node) -> tuple[str, str]:
    src, dst = attr_text(node, "src_format", "NHWC"), attr_text(node, "dst_format", "NCHW")
    if len(src) != len(dst) or sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ExportError(f"formats {src!r} and {dst!r} do not determine a permutation")
    return src, dst


@converter("DataFormatDimMap", onnx="Mod, Gather")
def dim_map(cx, node, ins):
    g, x = cx.g, ins[0]
    src, dst = _formats(node)
    table = g.const(np.asarray([dst.index(ch) for ch in src], x.dtype))
    return g.op1("Gather", table, g.op1("Mod", x, scalar(g, len(src), x.dtype), fmod=0), axis=0)


@converter("DataFormatVecPermute", onnx="Gather")
def vec_permute(cx, node, ins):
    g, x = cx.g, ins[0]
    src, dst = _formats(node)
    need_rank(x)
    n = x.shape[0]
    if n == 2:
        src, dst = "".join(c for c in src if c in "HW"), "".join(c for c in dst if c in "HW")
    if not isinstance(n, int) or len(src) != n:
        raise ExportError("DataFormatVecPermute needs a first dimension of 2 or 4 known before running")
    return g.op1("Gather", x, g.const(np.asarray([src.index(c) for c in dst], np.int64)), axis=0)


class _Attrs:
    """A node seen with some attrs replaced (to convert it as a sibling op)."""

    def __init__(self, node: Any, op: str, **attrs: Any) -> None:
        self.op, self.name = op, node.name
        self.attr = {**node.attr, **attrs}


# -- the generic Conv op (tf.raw_ops.Conv: N-D, extra batch dimensions, groups) -----------------

@converter("Conv", onnx="Conv (Reshape for batch dimensions)", layout=True)
def generic_conv(cx, node, ins):
    """A Conv2D/Conv3D of ``groups`` groups on the input with its batch dimensions merged."""
    g = cx.g
    x, w = g.plain(ins[0]), g.plain(ins[1])
    batch_dims = int(node.attr.get("batch_dims", 1))
    groups = int(node.attr.get("groups", 1))
    rank = need_rank(w, "filter") - 2
    if rank not in (1, 2, 3) or batch_dims < 1 or need_rank(x) != batch_dims + rank + 1:
        raise ExportError(f"an input of rank {x.rank} with batch_dims {batch_dims} and a rank-{w.rank} filter")
    if x.dtype.kind != "f":
        raise ExportError(f"onnxruntime convolves floats only (got {x.dtype})")
    first = attr_text(node, "data_format", "CHANNELS_LAST") == "CHANNELS_FIRST"
    fmt = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[rank]
    if first:
        fmt = fmt[0] + "C" + fmt[1:-1]
    flat = x
    if batch_dims > 1:
        rest = x.shape[batch_dims:]
        if all(isinstance(d, int) for d in rest):  # known sizes stay known (SAME padding needs them)
            target = g.const(np.asarray([-1, *rest], np.int64))
        else:
            target = g.op1("Concat", g.const(np.asarray([-1], np.int64)), g.op1("Shape", x, start=batch_dims), axis=0)
        flat = g.op1("Reshape", x, target)
    shim = _Attrs(node, "Conv", data_format=fmt)
    wt = _filter_oi(w, g, rank + 2)
    y = _conv(cx, shim, flat, wt, rank + 2, groups)
    if batch_dims > 1:
        y = g.plain(y)
        y = g.op1("Reshape", y, g.op1("Concat", g.op1("Shape", x, start=0, end=batch_dims),
                                      g.op1("Shape", y, start=1), axis=0))
    return y


# -- transposed convolutions ----------------------------------------------------------------------

@converter("Conv2DBackpropInputV2", onnx="ConvTranspose", layout=True)
def conv_transpose_v2(cx, node, ins):
    """Conv2DBackpropInput given the input tensor itself (for its shape) instead of its shape."""
    shape = ins[0].logical_shape
    if shape is None or len(shape) != 4 or any(not isinstance(d, int) for d in shape[1:]):
        raise ExportError("the input's size (but for the batch) is not known before running")
    sizes = cx.g.const(np.asarray([d if isinstance(d, int) else -1 for d in shape], np.int64))
    return conv_transpose(cx, _Attrs(node, "Conv2DBackpropInput"), [sizes, ins[1], ins[2]])


@converter("DepthwiseConv2dNativeBackpropInput", onnx="ConvTranspose(group=C)", layout=True)
def depthwise_transpose(cx, node, ins):
    """A ConvTranspose of C groups: out_backprop channel c*M + m goes back through filter[..., c, m]."""
    g = cx.g
    w = g.plain(ins[1])
    if w.shape is None or any(not isinstance(d, int) for d in w.shape):
        raise ExportError("the depthwise filter's shape is not known before running")
    kh, kw, c, m = w.shape
    # [H, W, C, M] -> [H, W, 1, C*M] -> ConvTranspose's [C*M, 1, H, W].
    wt = g.op1("Transpose", g.op1("Reshape", w, g.const(np.asarray([kh, kw, 1, c * m], np.int64))),
               perm=[3, 2, 0, 1])
    return transposed_conv(cx, node, ins[0], wt, [kh, kw], ins[2], 4, group=c)


# -- TF1 graph-transform fusions: MirrorPad (after a bilinear resize) then Conv2D -----------------

def _conv_after(cx: Any, node: Any, x: Val, paddings: Val, w: Val) -> Val:
    shim = _Attrs(node, "MirrorPad")
    padded = mirror_pad(cx, shim, [x, paddings])
    conv_node = _Attrs(node, "Conv2D", data_format="NHWC", dilations=[1, 1, 1, 1], explicit_paddings=[])
    return conv(cx, conv_node, [padded, w])


@converter("FusedPadConv2D", onnx="Pad(reflect) or Slice/Concat, Conv", layout=True)
def fused_pad_conv(cx, node, ins):
    if need_rank(ins[0]) != 4:
        raise ExportError("the input must be 4-D")
    return _conv_after(cx, node, ins[0], ins[1], ins[2])


@converter("FusedResizeAndPadConv2D", onnx="Resize(linear), Pad, Conv", layout=True)
def fused_resize_pad_conv(cx, node, ins):
    """ResizeBilinear with TF's legacy pixel centres, in the input's type, then FusedPadConv2D."""
    x = ins[0]
    if need_rank(x) != 4:
        raise ExportError("the input must be 4-D")
    shim = _Attrs(node, "ResizeBilinear", align_corners=bool(node.attr.get("resize_align_corners", False)),
                  half_pixel_centers=False)
    resized = _resize(cx, shim, [x, ins[1]], "linear")
    perm = resized.perm
    resized = cast(cx.g, resized, x.dtype)
    resized.perm = perm
    return _conv_after(cx, node, resized, ins[2], ins[3])


# -- arg-max pooling ------------------------------------------------------------------------------

@converter("MaxPoolWithArgmax", onnx="MaxPool (Indices), Div, Mod, Mul, Add", layout=True)
def max_pool_with_argmax(cx, node, ins):
    """ONNX MaxPool's Indices count NCHW positions ((b*C + c)*H + y)*W + x; TF's NHWC ones
    ((b*H + y)*W + x)*C + c, without the batch term when include_batch_in_index is False."""
    g = cx.g
    x = ins[0]
    if need_rank(x) != 4:
        raise ExportError("the input must be 4-D")
    if x.dtype.kind not in "fiu" or (x.dtype.kind != "f" and x.dtype.itemsize > 4):
        raise ExportError(f"onnxruntime's MaxPool has no {x.dtype} form, nor an exact wider one")
    xc = g.with_perm(x, (0, 3, 1, 2))
    ksize, strides = list(node.attr["ksize"]), list(node.attr["strides"])
    k, s = ksize[1:3], strides[1:3]
    # onnxruntime's MaxPool: floats, int8 and uint8; other integers of up to 32 bits are exact in float64.
    src = xc if xc.dtype.kind == "f" or xc.dtype.itemsize == 1 else cast(g, xc, np.float64)
    y, idx = g.op("MaxPool", [src], outputs=2, kernel_shape=k, strides=s,
                  **_pads(node, xc, k, s, [1, 1], 4, True))
    y = cast(g, y, xc.dtype)
    y.perm = (0, 3, 1, 2)
    shape = g.op1("Shape", xc)  # N, C, H, W
    c, h, w = (g.op1("Gather", shape, g.const(np.asarray(i, np.int64)), axis=0) for i in (1, 2, 3))
    hw = g.op1("Mul", h, w)
    spatial = g.op1("Mod", idx, hw)
    channel = g.op1("Mod", g.op1("Div", idx, hw), c)
    out = g.op1("Add", g.op1("Mul", spatial, c), channel)
    if node.attr.get("include_batch_in_index"):
        batch = g.op1("Div", idx, g.op1("Mul", hw, c))
        out = g.op1("Add", out, g.op1("Mul", batch, g.op1("Mul", hw, c)))
    out = cast(g, out, attr_dtype(node, "Targmax", 9))
    out.perm = (0, 3, 1, 2)
    return [y, out]


# -- grayscale morphological dilation ------------------------------------------------------------
# tensorflow/tensorflow tensorflow/core/kernels/dilation_ops.cc: out[b, y, x, c] starts at T's lowest
# finite value and takes ``val = in[b, y*sy + i*ry - pad_top, x*sx + j*rx - pad_left, c] + f[i, j, c]``
# (added in T, so integers wrap) when the tap is inside the image and ``val > out`` (so NaN never
# wins). SAME/VALID padding as convolutions with the effective size (f - 1) * r + 1.

def _inner_attr(node: Any, name: str) -> list[int]:
    """[rows, cols] of a [1, rows, cols, 1] attr (strides, rates)."""
    v = [int(a) for a in node.attr.get(name) or [1, 1, 1, 1]]
    if len(v) != 4 or v[0] != 1 or v[3] != 1 or min(v) < 1:
        raise ExportError(f"{name} must be [1, rows, cols, 1] of positive values, got {v}")
    return v[1:3]


def _same_pads(g: Graph, x: Val, axes: list[int], strides: list[int], effs: list[int]) -> Val:
    """ONNX Pad's pads (physical order) for SAME windows on ``x``'s spatial ``axes``, at run time if need be."""
    rank = len(x.shape)
    sizes = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in sizes):
        before, after = [0] * rank, [0] * rank
        for a, size, s, eff in zip(axes, sizes, strides, effs):
            total = max((-(-size // s) - 1) * s + eff - size, 0)
            before[a], after[a] = total // 2, total - total // 2
        return g.const(np.asarray(before + after, np.int64))
    zero = g.const(np.asarray([0], np.int64))
    before_v, after_v = [zero] * rank, [zero] * rank
    for a, s, eff in zip(axes, strides, effs):
        size = g.op1("Shape", x, start=a, end=a + 1)
        step = g.const(np.asarray([s], np.int64))
        out = g.op1("Div", g.op1("Add", size, g.const(np.asarray([s - 1], np.int64))), step)
        total = g.op1("Max", g.op1("Sub", g.op1("Add", g.op1("Mul", g.op1("Sub", out, g.const(
            np.asarray([1], np.int64))), step), g.const(np.asarray([eff], np.int64))), size), zero)
        before_v[a] = g.op1("Div", total, g.const(np.asarray([2], np.int64)))
        after_v[a] = g.op1("Sub", total, before_v[a])
    return g.op1("Concat", *before_v, *after_v, axis=0)


class _Taps:
    """Dilation2D's taps on an input: each tap's ``in + filter`` (out-of-image and NaN sums as T's lowest
    value), in row-major tap order, in the working type ``work``; and the window geometry."""

    def __init__(self, g: Graph, node: Any, x: Val, w: Val, exact: bool) -> None:
        """``exact``: each float16/bfloat16 sum rounded to T (ties between taps then break as TF's do)."""
        if need_rank(x) != 4:
            raise ExportError("the input must be 4-D")
        if w.shape is None or len(w.shape) != 3 or any(not isinstance(d, int) for d in w.shape[:2]):
            raise ExportError("the filter must be 3-D with its height and width known before running")
        fh, fw = w.shape[0], w.shape[1]
        if fh * fw == 0:
            raise ExportError("the filter has no taps")
        bounded(fh * fw, MAX_UNROLLED, "the number of filter taps")
        depth = x.logical_shape[3]
        if isinstance(depth, int) and isinstance(w.shape[2], int) and depth != w.shape[2]:
            raise ExportError(f"the filter's depth {w.shape[2]} is not the input's {depth}")
        dt = np.dtype(x.dtype)
        if dt != w.dtype:
            raise ExportError(f"the filter's type {w.dtype} is not the input's {dt}")
        if dt.kind not in "fiu" and not is_float(dt):
            raise ExportError(f"dilation of {dt} values")
        strides, rates = _inner_attr(node, "strides"), _inner_attr(node, "rates")
        effs = [(k - 1) * r + 1 for k, r in zip((fh, fw), rates)]
        perm = x.perm or (0, 1, 2, 3)
        axes = [invert(perm)[1], invert(perm)[2]]  # where height and width are in the ONNX value
        floats = is_float(dt)
        narrow = dt in (np.int16, np.uint16)
        # float16 / bfloat16 in float32: rounding each sum to T is monotone, so it commutes with the max.
        # onnxruntime has no 16-bit integer Pad, Where or Max: those are padded, added and compared in
        # int32, each sum wrapped to T by a Cast there and back.
        work = np.dtype(np.float32) if floats and dt.itemsize < 4 else np.dtype(np.int32) if narrow else dt
        lowest = extreme(dt, False)
        xv = cast(g, x, work)
        padding = attr_text(node, "padding", "VALID")
        if padding == "SAME":
            pads = _same_pads(g, xv, axes, strides, effs)
        elif padding == "VALID":
            pads = None
        else:
            raise ExportError(f"padding {padding!r} is not supported")
        if pads is not None and pads.is_const and not pads.const.any():
            pads = None
        inside = None
        if pads is not None:
            # Floats: pad with NaN, which the max skips like an out-of-image tap. Integers: a mask of the image.
            xv = g.op1("Pad", xv, pads, scalar(g, np.nan if floats else 0, work), mode="constant")
            if not floats:
                dims = [x.shape[a] if a in axes else 1 for a in range(4)]
                if all(isinstance(d, int) for d in dims):
                    ones = g.const(np.ones(dims, bool))
                else:
                    ones = g.op1("Expand", g.const(np.ones([1] * 4, bool)), g.op1("Concat", *(
                        g.op1("Shape", x, start=a, end=a + 1) if a in axes else g.const(np.asarray([1], np.int64))
                        for a in range(4)), axis=0))
                inside = g.op1("Pad", ones, pads, scalar(g, False, bool), mode="constant")
        tap_shape = [-1 if p == 3 else 1 for p in perm]
        taps = g.op1("Reshape", w, g.const(np.asarray([fh * fw, -1], np.int64)))
        low = scalar(g, lowest, work)
        steps = g.const(np.asarray(strides, np.int64))
        axes_v = g.const(np.asarray(axes, np.int64))
        self.sums: list[Val] = []
        for i in range(fh):
            for j in range(fw):
                starts = [i * rates[0], j * rates[1]]
                ends = [-(eff - 1 - st) if eff - 1 - st else INT64_MAX for eff, st in zip(effs, starts)]
                sl = [g.const(np.asarray(starts, np.int64)), g.const(np.asarray(ends, np.int64)), axes_v, steps]
                tap = g.op1("Reshape", cast(g, g.op1("Gather", taps, g.const(np.asarray(i * fw + j, np.int64)),
                                                     axis=0), work), g.const(np.asarray(tap_shape, np.int64)))
                v = g.op1("Add", g.op1("Slice", xv, *sl), tap)
                if narrow or (exact and work != dt):
                    v = cast(g, cast(g, v, dt), work)
                if floats:
                    v = g.op1("Where", g.op1("IsNaN", v), low, v)
                elif inside is not None and work == np.uint64:  # no uint64 Where: 0 is the lowest, a product masks
                    v = g.op1("Mul", v, cast(g, g.op1("Slice", inside, *sl), np.uint64))
                elif inside is not None:
                    v = g.op1("Where", g.op1("Slice", inside, *sl), v, low)
                self.sums.append(v)
        self.dt, self.work, self.low, self.pads = dt, work, low, pads
        self.fh, self.fw, self.strides, self.rates = fh, fw, strides, rates


@converter("Dilation2D", onnx="Pad, Slice, Add, Where, Max", layout=True)
def dilation2d(cx, node, ins):
    """One strided Slice + Add of the filter's tap per tap, out-of-image and NaN values replaced
    by T's lowest value, then a variadic Max (with the lowest value itself, TF's start)."""
    g = cx.g
    x = ins[0]
    t = _Taps(g, node, x, g.plain(ins[1]), exact=False)
    out = cast(g, g.op1("Max", t.low, *t.sums), t.dt)
    out.perm = x.perm
    return out


# The gradient (dilation_ops.cc, DilationBackpropInputOp; the runtime's dilation2d_backprop_input):
# out_backprop[b, y, x, c] is added at the input pixel of the first tap (row-major) whose sum is
# strictly above those before it and T's lowest value (a NaN sum never is); a window without such a tap
# sends it to its first row and column, each clamped to 0. The additions run in T, output after output.

@converter("Dilation2DBackpropInput", onnx="Pad, Slice, Add, Greater, Where per tap; ScatterND(reduction=add)")
def dilation2d_backprop_input(cx, node, ins):
    """The winning tap of each output by TF's sequence of strict comparisons (one Greater and Where per
    tap), its input position by arithmetic, and the gradients added there by ScatterND in TF's order."""
    g = cx.g
    if cx.opset < 16:
        raise ExportError(f"adding gradients at the winning taps needs ScatterND's reduction 'add' "
                          f"(ONNX opset 16 or later; exporting to opset {cx.opset})")
    x, dy = g.plain(ins[0]), g.plain(ins[2])
    t = _Taps(g, node, x, g.plain(ins[1]), exact=True)
    acc = working_dtype(t.dt)  # onnxruntime's ScatterND: 32/64-bit numbers (integers wrap to T at the end)
    if need_rank(dy, "out_backprop") != 4:
        raise ExportError("out_backprop must be 4-D")
    i64_ = np.int64
    best, row_off, col_off = t.low, scalar(g, -1, i64_), scalar(g, -1, i64_)
    for k, v in enumerate(t.sums):
        i, j = divmod(k, t.fw)
        win = g.op1("Greater", v, best)
        best = g.op1("Where", win, v, best)
        row_off = g.op1("Where", win, scalar(g, i * t.rates[0], i64_), row_off)
        col_off = g.op1("Where", win, scalar(g, j * t.rates[1], i64_), col_off)
    # Each output's window start (out * stride - pad before), [1, oh, 1, 1] and [1, 1, ow, 1].
    zero, one = scalar(g, 0, i64_), scalar(g, 1, i64_)

    def starts(axis: int) -> Val:
        n = g.op1("Reshape", g.op1("Shape", t.sums[0], start=axis, end=axis + 1), g.const(np.zeros(0, i64_)))
        pos = g.op1("Mul", g.op1("Range", zero, n, one), scalar(g, t.strides[axis - 1], i64_))
        if t.pads is not None:
            pos = g.op1("Sub", pos, g.op1("Gather", t.pads, g.const(np.asarray([axis], i64_)), axis=0))
        return g.op1("Reshape", pos, g.const(np.asarray([1, -1, 1, 1] if axis == 1 else [1, 1, -1, 1], i64_)))

    def position(start: Val, off: Val) -> Val:
        return g.op1("Where", g.op1("Less", off, zero), g.op1("Max", start, zero), g.op1("Add", start, off))

    rows, cols = position(starts(1), row_off), position(starts(2), col_off)  # [B, oh, ow, C]
    shape = g.op1("Shape", t.sums[0])
    b = g.op1("Reshape", g.op1("Range", zero, g.op1("Gather", shape, g.const(np.asarray(0, i64_)), axis=0), one),
              g.const(np.asarray([-1, 1, 1, 1], i64_)))
    c = g.op1("Range", zero, g.op1("Gather", shape, g.const(np.asarray(3, i64_)), axis=0), one)
    idx = g.op1("Concat", *(unsqueeze(g, g.op1("Expand", v, shape), [4]) for v in (b, rows, cols, c)), axis=4)
    base = g.op1("Expand", scalar(g, 0, acc), g.op1("Shape", x))
    grad = g.op1("ScatterND", base, idx, cast(g, dy, acc), reduction="add")
    return cast(g, grad, t.dt)
