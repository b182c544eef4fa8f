"""Neural-network ops: convolutions, pooling, normalisation, activations, padding, block moves.

TensorFlow's channels-last tensors (NHWC, NDHWC) become ONNX's channels-first by a
pending layout permutation on the value (see ``_graph.Val.perm``): a chain of
convolutions, activations and element-wise ops stays NCHW, with one Transpose where
the chain starts and one where a layout-unaware op reads it.
Semantics: tf.raw_ops docs and graph/ops/nn.py; ONNX: onnx/onnx docs/Operators.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.onnx._graph import ExportError, Graph, Val, invert
from savedmodel_io.onnx.ops._registry import converter
from savedmodel_io.onnx.ops.math import batch_matmul, in_float32, matmul
from savedmodel_io.onnx.ops._util import (
    INT64_MAX,
    INT64_MIN,
    attr_text,
    cast,
    const_ints,
    i64,
    need_rank,
    partly_known,
    reduce,
    scalar,
)

# -- layouts --------------------------------------------------------------------------------------


def channels_first(rank: int) -> tuple[int, ...]:
    """The permutation taking channels-last (N, spatial..., C) to channels-first (N, C, spatial...)."""
    return (0, rank - 1) + tuple(range(1, rank - 1))


def _is_channels_last(node: Any) -> bool:
    fmt = attr_text(node, "data_format", "NHWC")
    if fmt in ("NHWC", "NDHWC", "NWC"):
        return True
    if fmt in ("NCHW", "NCDHW", "NCW"):
        return False
    raise ExportError(f"data_format {fmt} is not supported")


def _nchw(g: Graph, x: Val, rank: int, channels_last: bool) -> Val:
    """``x`` with its ONNX value channels-first."""
    if not channels_last:
        return g.plain(x)
    return g.with_perm(x, channels_first(rank))


def _out(v: Val, rank: int, channels_last: bool) -> Val:
    v.perm = channels_first(rank) if channels_last else None
    return v


def _spatial(values: list[int], rank: int, channels_last: bool) -> list[int]:
    """The spatial entries of a per-dimension attr (strides, ksize, dilations)."""
    return list(values[1:rank - 1]) if channels_last else list(values[2:])


def _pads(node: Any, x: Val, kernel: list[int], strides: list[int], dil: list[int], rank: int,
          channels_last: bool) -> dict[str, Any]:
    """ONNX pads (or auto_pad) for TF's padding attr on input ``x`` (laid out channels-first)."""
    padding = attr_text(node, "padding", "VALID")
    nsp = rank - 2
    if padding == "VALID":
        return {"pads": [0] * (2 * nsp)}
    if padding == "EXPLICIT":
        p = list(node.attr.get("explicit_paddings") or [0] * (2 * rank))
        pairs = [(p[2 * i], p[2 * i + 1]) for i in range(rank)]
        sp = pairs[1:rank - 1] if channels_last else pairs[2:]
        return {"pads": [a for a, _ in sp] + [b for _, b in sp]}
    if padding != "SAME":
        raise ExportError(f"padding {padding!r} is not supported")
    sizes = x.shape[2:] if x.shape is not None else [None] * nsp
    if any(not isinstance(s, int) for s in sizes):
        if any(d != 1 for d in dil):  # onnxruntime: "Dilation not supported for AutoPadType::SAME_UPPER"
            raise ExportError("SAME padding with dilations needs the spatial size before running")
        return {"auto_pad": "SAME_UPPER"}  # TF's SAME puts the odd cell at the end, like SAME_UPPER
    before, after = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dil):
        eff = (k - 1) * d + 1
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return {"pads": before + after}


# -- convolutions ---------------------------------------------------------------------------------

def _conv(cx: Any, node: Any, x: Val, w: np.ndarray | Val, rank: int, group: int = 1,
          bias: Val | None = None) -> Val:
    """ONNX Conv of ``x`` (TF layout per data_format) with an OI[spatial] weight (and a bias vector)."""
    g = cx.g
    last = _is_channels_last(node)
    xc = _nchw(g, x, rank, last)
    strides = _spatial(list(node.attr.get("strides") or [1] * rank), rank, last)
    dil = _spatial(list(node.attr.get("dilations") or [1] * rank), rank, last)
    wv = w if isinstance(w, Val) else g.const(w)
    if wv.shape is None or any(not isinstance(d, int) for d in wv.shape[2:]):
        raise ExportError("the filter's spatial size is not known before running")
    kernel = [int(d) for d in wv.shape[2:]]
    attrs = dict(strides=strides, dilations=dil, group=group, **_pads(node, xc, kernel, strides, dil, rank, last))
    if xc.dtype == np.float64:  # onnxruntime convolves float32 (and float16) only
        b = None if bias is None else cast(g, bias, np.float32)
        out = cast(g, g.op1("Conv", cast(g, xc, np.float32), cast(g, wv, np.float32), b, **attrs), np.float64)
    else:
        out = g.op1("Conv", xc, wv, None if bias is None else cast(g, bias, xc.dtype), **attrs)
    return _out(out, rank, last)


def _filter_oi(w: Val, g: Graph, rank: int) -> Val:
    """A TF filter [spatial..., in, out] as ONNX's [out, in, spatial...]."""
    perm = [rank - 1, rank - 2] + list(range(rank - 2))
    return g.op1("Transpose", w, perm=perm)


@converter("Conv2D", "Conv3D", onnx="Conv", layout=True)
def conv(cx, node, ins, bias=None):
    g = cx.g
    x, w = ins
    rank = 5 if node.op == "Conv3D" else 4
    w = g.plain(w)
    cin = w.shape[rank - 2] if w.shape is not None else None
    c = x.logical_shape[rank - 1 if _is_channels_last(node) else 1] if x.shape is not None else None
    group = 1
    if isinstance(cin, int) and isinstance(c, int) and cin and c != cin:
        group = c // cin
    return _conv(cx, node, x, _filter_oi(w, g, rank), rank, group, bias)


@converter("DepthwiseConv2dNative", onnx="Conv(group=C)", layout=True)
def depthwise_conv(cx, node, ins, bias=None):
    g = cx.g
    x, w = ins
    w = g.plain(w)
    if w.shape is None or any(not isinstance(d, int) for d in w.shape):
        raise ExportError("the depthwise filter's shape is not known before running")
    kh, kw, c, m = w.shape
    # [H, W, C, M] -> [H, W, 1, C*M] -> [C*M, 1, H, W]: output channel c*M + m, as in TF.
    w2 = g.op1("Reshape", w, g.const(np.asarray([kh, kw, 1, c * m], np.int64)))
    return _conv(cx, node, x, _filter_oi(w2, g, 4), 4, group=c, bias=bias)


@converter("Conv2DBackpropInput", "Conv3DBackpropInputV2", "Conv3DBackpropInput", onnx="ConvTranspose",
           layout=True)
def conv_transpose(cx, node, ins):
    g = cx.g
    sizes_v, w, dy = ins
    if node.op == "Conv3DBackpropInput":  # v1 takes the input tensor itself, for its shape
        sizes_v = g.const(np.asarray([-1 if not isinstance(d, int) else d
                                      for d in (sizes_v.logical_shape or ())], np.int64))
    rank = 4 if node.op == "Conv2DBackpropInput" else 5
    w = g.plain(w)
    if w.shape is None or any(not isinstance(d, int) for d in w.shape):
        raise ExportError("the filter's shape is not known before running")
    # TF filter [spatial..., out_c, in_c] -> ConvTranspose weight [in_c, out_c, spatial...].
    wt = g.op1("Transpose", w, perm=[rank - 1, rank - 2] + list(range(rank - 2)))
    return transposed_conv(cx, node, sizes_v, wt, list(w.shape[:rank - 2]), dy, rank)


def transposed_conv(cx: Any, node: Any, sizes_v: Val, wt: Val, kernel: list[int], dy: Val, rank: int,
                    group: int = 1) -> Val:
    """ONNX ConvTranspose of ``dy`` (TF layout) by weight ``wt`` [in_c, out_c / group, spatial...],
    to the input size ``sizes_v`` gives (TF's SAME / VALID / EXPLICIT padding rules)."""
    g = cx.g
    last = _is_channels_last(node)
    sizes = partly_known(sizes_v, "input_sizes")
    dyc = _nchw(g, dy, rank, last)
    out_sp = _spatial(sizes, rank, last)
    if any(d is None for d in out_sp):
        raise ExportError("the spatial part of input_sizes is computed at run time")
    in_sp = dyc.shape[2:] if dyc.shape is not None else None
    if in_sp is None or any(not isinstance(d, int) for d in in_sp):
        raise ExportError("the spatial size of out_backprop is not known before running")
    strides = _spatial(list(node.attr.get("strides") or [1] * rank), rank, last)
    dil = _spatial(list(node.attr.get("dilations") or [1] * rank), rank, last)
    padding = attr_text(node, "padding", "VALID")
    explicit = _pads(node, dyc, kernel, strides, dil, rank, last)["pads"] if padding == "EXPLICIT" else None
    pads_b, pads_e, out_pad = [], [], []
    for i, (o, n, k, s, d) in enumerate(zip(out_sp, in_sp, kernel, strides, dil)):
        eff = (k - 1) * d + 1
        if padding == "SAME":
            total = max((n - 1) * s + eff - o, 0)
            b = total // 2
            e = total - b
        elif padding == "VALID":
            b = e = 0
        elif explicit is not None:
            b, e = explicit[i], explicit[len(kernel) + i]
        else:
            raise ExportError(f"padding {padding!r} is not supported")
        full = s * (n - 1) + eff - b - e
        pads_b.append(b)
        pads_e.append(e)
        out_pad.append(o - full)
    if any(p < 0 for p in out_pad):
        raise ExportError("input_sizes is smaller than the transposed convolution's output")
    attrs = dict(strides=strides, dilations=dil, pads=pads_b + pads_e, group=group if group != 1 else None,
                 output_padding=out_pad if any(out_pad) else None)
    if dyc.dtype == np.float64:  # onnxruntime's ConvTranspose: float32 (and float16) only
        out = cast(g, g.op1("ConvTranspose", cast(g, dyc, np.float32), cast(g, wt, np.float32), **attrs),
                   np.float64)
    else:
        out = g.op1("ConvTranspose", dyc, wt, **attrs)
    return _out(out, rank, last)


# -- pooling --------------------------------------------------------------------------------------

def _pool(cx: Any, node: Any, x: Val, onnx_op: str, rank: int, ksize: list[int], strides: list[int]) -> Val:
    g = cx.g
    last = _is_channels_last(node)
    xc = _nchw(g, x, rank, last)
    k = _spatial(ksize, rank, last)
    s = _spatial(strides, rank, last)
    if (ksize[0] != 1 or ksize[rank - 1 if last else 1] != 1):
        raise ExportError("pooling across the batch or channel dimension")
    extra: dict[str, Any] = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
    if xc.dtype.kind != "f":
        raise ExportError(f"onnxruntime pools floats only (got {xc.dtype})")
    src = cast(g, xc, np.float32) if xc.dtype == np.float64 else xc  # onnxruntime: float32 / float16
    out = g.op1(onnx_op, src, kernel_shape=k, strides=s,
                **_pads(node, xc, k, s, [1] * len(k), rank, last), **extra)
    return _out(cast(g, out, xc.dtype), rank, last)


@converter("MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D", onnx="MaxPool, AveragePool", layout=True)
def pool(cx, node, ins):
    rank = 5 if node.op.endswith("3D") else 4
    onnx_op = "MaxPool" if node.op.startswith("Max") else "AveragePool"
    return _pool(cx, node, ins[0], onnx_op, rank, list(node.attr["ksize"]), list(node.attr["strides"]))


@converter("MaxPoolV2", onnx="MaxPool", layout=True)
def max_pool_v2(cx, node, ins):
    return _pool(cx, node, ins[0], "MaxPool", 4, const_ints(ins[1], "ksize"), const_ints(ins[2], "strides"))


# -- normalisation, bias, activations ----------------------------------------------------------

@converter("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", onnx="BatchNormalization", layout=True)
def fused_batch_norm(cx, node, ins):
    g = cx.g
    if node.attr.get("is_training", True):
        raise ExportError("batch normalisation in training mode (batch statistics)")
    x, scale, offset, mean, var = (ins[0],) + tuple(g.plain(v) for v in ins[1:5])
    rank = need_rank(x)
    last = _is_channels_last(node)
    xc = _nchw(g, x, rank, last)
    dt = x.dtype
    from savedmodel_io.onnx.ops._util import cast

    params = [cast(g, v, dt) for v in (scale, offset, mean, var)]
    y = g.op1("BatchNormalization", xc, *params, epsilon=float(node.attr.get("epsilon", 1e-4)))
    y = _out(y, rank, last)
    outs = [y, mean, var, mean, var]
    return outs + [mean] if node.op == "FusedBatchNormV3" else outs


@converter("BiasAdd", "BiasAddV1", onnx="Add", layout=True)
def bias_add(cx, node, ins):
    g = cx.g
    x, b = ins[0], g.plain(ins[1])
    rank = need_rank(x)
    last = node.op == "BiasAddV1" or _is_channels_last(node)
    axis = rank - 1 if last else 1
    phys = invert(x.perm)[axis] if x.perm is not None else axis
    if phys == rank - 1:
        out = g.op1("Add", x, b)
    else:
        shape = [1] * rank
        shape[phys] = -1
        out = g.op1("Add", x, g.op1("Reshape", b, g.const(np.asarray(shape, np.int64))))
    out.perm = x.perm
    return out


def _act(fn):
    def convert(cx, node, ins):
        out = fn(cx.g, node, ins[0])
        out.perm = ins[0].perm
        return out
    return convert


converter("Relu6", onnx="Clip", layout=True)(_act(
    lambda g, n, x: g.op1("Clip", x, scalar(g, 0, x.dtype), scalar(g, 6, x.dtype))))
converter("Elu", onnx="Elu", layout=True)(_act(lambda g, n, x: in_float32(g, "Elu", x, alpha=1.0)))
converter("Selu", onnx="Selu", layout=True)(_act(lambda g, n, x: in_float32(g, "Selu", x)))
converter("LeakyRelu", onnx="LeakyRelu", layout=True)(_act(
    lambda g, n, x: in_float32(g, "LeakyRelu", x, alpha=float(n.attr.get("alpha", 0.2)))))


@converter("Softmax", "LogSoftmax", onnx="Softmax, LogSoftmax", layout=True)
def softmax(cx, node, ins):
    x = ins[0]
    rank = need_rank(x)
    axis = invert(x.perm)[rank - 1] if x.perm is not None else -1
    out = cx.g.op1(node.op, x, axis=axis)
    out.perm = x.perm
    return out


@converter("LRN", onnx="LRN", layout=True)
def lrn(cx, node, ins):
    g = cx.g
    r = int(node.attr.get("depth_radius", 5))
    size = 2 * r + 1
    xc = _nchw(g, ins[0], 4, True)
    # TF divides by (bias + alpha * sum), ONNX by (bias + alpha / size * sum).
    out = g.op1("LRN", xc, size=size, bias=float(node.attr.get("bias", 1.0)),
                alpha=float(node.attr.get("alpha", 1.0)) * size, beta=float(node.attr.get("beta", 0.5)))
    return _out(out, 4, True)


# -- padding --------------------------------------------------------------------------------------

def _pad(cx: Any, node: Any, x: Val, paddings: Val, mode: str, value: Val | None) -> Val:
    g = cx.g
    if not paddings.is_const:  # [rank, 2] at run time -> ONNX's [begins..., ends...]
        x = g.plain(x)
        pads = g.op1("Reshape", g.op1("Transpose", i64(g, paddings), perm=[1, 0]),
                     g.const(np.asarray([-1], np.int64)))
        return g.op1("Pad", x, pads, value, mode=mode) if mode == "constant" else g.op1("Pad", x, pads, mode=mode)
    p = np.asarray(const_ints(paddings, "paddings"), np.int64).reshape(-1, 2)
    rank = p.shape[0]
    if x.perm is not None:
        p = p[list(x.perm)]
    pads = g.const(np.concatenate([p[:, 0], p[:, 1]]).astype(np.int64))
    if not p.any():
        return x
    if mode == "constant":
        out = g.op1("Pad", x, pads, value, mode="constant")
    else:
        out = g.op1("Pad", x, pads, mode=mode)
    out.perm = x.perm if rank == x.rank else None
    return out


@converter("Pad", "PadV2", onnx="Pad", layout=True)
def pad(cx, node, ins):
    x = ins[0]
    value = cx.g.plain(ins[2]) if len(ins) > 2 else scalar(cx.g, 0 if x.dtype.kind != "O" else b"", x.dtype)
    return _pad(cx, node, x, ins[1], "constant", value)


@converter("MirrorPad", onnx="Pad(mode=reflect); Slice, Concat (SYMMETRIC)", layout=True)
def mirror_pad(cx, node, ins):
    mode = attr_text(node, "mode", "REFLECT")
    if mode == "REFLECT":
        return _pad(cx, node, ins[0], ins[1], "reflect", None)
    if mode != "SYMMETRIC":
        raise ExportError(f"MirrorPad mode {mode}")
    # SYMMETRIC repeats the edge: each side is the mirrored slice [0, a) / [n - b, n).
    g = cx.g
    x = g.plain(ins[0])
    p = np.asarray(const_ints(ins[1], "paddings"), np.int64).reshape(-1, 2)
    y = x
    for axis, (a, b) in enumerate(p):
        if not a and not b:
            continue
        ax = g.const(np.asarray([axis], np.int64))
        rev = g.const(np.asarray([-1], np.int64))
        parts = []
        if a:
            head = g.op1("Slice", y, g.const(np.asarray([a - 1], np.int64)), g.const(np.asarray([INT64_MIN], np.int64)),
                         ax, rev)
            parts.append(head)
        parts.append(y)
        if b:
            tail = g.op1("Slice", y, g.const(np.asarray([-1], np.int64)), g.const(np.asarray([-b - 1], np.int64)),
                         ax, rev)
            parts.append(tail)
        y = g.op1("Concat", *parts, axis=axis)
    return y


# -- block moves ----------------------------------------------------------------------------------

@converter("DepthToSpace", "SpaceToDepth", onnx="DepthToSpace(DCR), SpaceToDepth", layout=True)
def depth_space(cx, node, ins):
    g = cx.g
    last = _is_channels_last(node)
    xc = _nchw(g, ins[0], 4, last)
    bs = int(node.attr["block_size"])
    # TF's depth order (block row, block column, channel) is ONNX's DCR mode.
    attrs: dict[str, Any] = {"blocksize": bs}
    if node.op == "DepthToSpace":
        attrs["mode"] = "DCR"
    return _out(g.op1(node.op, xc, **attrs), 4, last)


def _dims(g: Graph, x: Val) -> Val:
    return g.op1("Shape", x)


def _part(g: Graph, shape: Val, start: int, end: int | None = None) -> Val:
    return g.op1("Slice", shape, g.const(np.asarray([start], np.int64)),
                 g.const(np.asarray([end if end is not None else INT64_MAX], np.int64)))


@converter("SpaceToBatchND", onnx="Pad, Reshape, Transpose")
def space_to_batch(cx, node, ins):
    try:
        return _space_to_batch_static(cx, node, ins)
    except ExportError:
        pass
    g = cx.g
    x, block_v, pad_v = ins
    block = const_ints(block_v, "block_shape")
    m = len(block)
    rank = need_rank(x)
    pads = i64(g, pad_v)  # [m, 2], maybe computed at run time
    zeros = g.const(np.zeros((1, 2), np.int64))
    tail = g.const(np.zeros((rank - 1 - m, 2), np.int64))
    full = g.op1("Concat", zeros, g.op1("Reshape", pads, g.const(np.asarray([m, 2], np.int64))), tail, axis=0)
    onnx_pads = g.op1("Reshape", g.op1("Transpose", full, perm=[1, 0]), g.const(np.asarray([-1], np.int64)))
    xp = g.op1("Pad", x, onnx_pads, mode="constant")
    shape = _dims(g, xp)
    bl = g.const(np.asarray(block, np.int64))
    reduced = g.op1("Div", _part(g, shape, 1, 1 + m), bl)  # s_i / b_i
    # [B, s1/b1, b1, ..., rest] -> [b1, ..., B, s1/b1, ..., rest] -> [b1*...*B, s1/b1, ..., rest]
    pieces = [_part(g, shape, 0, 1)]
    for i in range(m):
        pieces += [_part(g, reduced, i, i + 1), g.const(np.asarray([block[i]], np.int64))]
    pieces.append(_part(g, shape, 1 + m))
    y = g.op1("Reshape", xp, g.op1("Concat", *pieces, axis=0))
    nrest = rank - 1 - m
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + nrest))
    y = g.op1("Transpose", y, perm=perm)
    out = g.op1("Concat", g.const(np.asarray([-1], np.int64)), reduced, _part(g, shape, 1 + m), axis=0)
    return g.op1("Reshape", y, out)


@converter("SpaceToBatch", onnx="Pad, Reshape, Transpose")
def space_to_batch_4d(cx, node, ins):
    """SpaceToBatchND of a 4-D input with one block size for both spatial dimensions."""
    if need_rank(ins[0]) != 4:
        raise ExportError("SpaceToBatch takes a 4-D input")
    block = cx.g.const(np.full(2, int(node.attr["block_size"]), np.int64))
    return space_to_batch(cx, node, [ins[0], block, ins[1]])


@converter("BatchToSpace", onnx="Reshape, Transpose, Slice")
def batch_to_space_4d(cx, node, ins):
    """BatchToSpaceND of a 4-D input with one block size for both spatial dimensions."""
    if need_rank(ins[0]) != 4:
        raise ExportError("BatchToSpace takes a 4-D input")
    block = cx.g.const(np.full(2, int(node.attr["block_size"]), np.int64))
    return batch_to_space(cx, node, [ins[0], block, ins[1]])


@converter("BatchToSpaceND", onnx="Reshape, Transpose, Slice")
def batch_to_space(cx, node, ins):
    try:
        return _batch_to_space_static(cx, node, ins)
    except ExportError:
        pass
    g = cx.g
    x, block_v, crop_v = ins
    block = const_ints(block_v, "block_shape")
    m = len(block)
    rank = need_rank(x)
    shape = _dims(g, x)
    bl = g.const(np.asarray(block, np.int64))
    # [b1, ..., B, s1, ..., rest] -> [B, s1, b1, ..., rest] -> [B, s1*b1, ..., rest]
    first = g.op1("Concat", bl, g.const(np.asarray([-1], np.int64)), _part(g, shape, 1), axis=0)
    y = g.op1("Reshape", x, first)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, m + rank))
    y = g.op1("Transpose", y, perm=perm)
    grown = g.op1("Mul", _part(g, shape, 1, 1 + m), bl)
    y = g.op1("Reshape", y, g.op1("Concat", g.const(np.asarray([-1], np.int64)), grown,
                                  _part(g, shape, 1 + m), axis=0))
    crops = g.op1("Reshape", i64(g, crop_v), g.const(np.asarray([m, 2], np.int64)))
    if crops.is_const and not crops.const.any():
        return y
    starts = g.op1("Reshape", g.op1("Slice", crops, g.const(np.asarray([0], np.int64)),
                                    g.const(np.asarray([1], np.int64)), g.const(np.asarray([1], np.int64))),
                   g.const(np.asarray([-1], np.int64)))
    ends_c = g.op1("Reshape", g.op1("Slice", crops, g.const(np.asarray([1], np.int64)),
                                    g.const(np.asarray([2], np.int64)), g.const(np.asarray([1], np.int64))),
                   g.const(np.asarray([-1], np.int64)))
    return g.op1("Slice", y, starts, g.op1("Sub", grown, ends_c), g.const(np.arange(1, 1 + m, dtype=np.int64)))


def _space_to_batch_static(cx, node, ins):
    """SpaceToBatchND when every size is known: constant shapes keep later shapes known."""
    g = cx.g
    x, block_v, pad_v = ins
    block = const_ints(block_v, "block_shape")
    pads = np.asarray(const_ints(pad_v, "paddings"), np.int64).reshape(-1, 2)
    m = len(block)
    rank = need_rank(x)
    shape = x.shape
    sp = []
    for i in range(m):
        d = shape[1 + i]
        if not isinstance(d, int):
            raise ExportError("SpaceToBatchND needs the spatial size before running")
        sp.append(d + int(pads[i].sum()))
    if any(s % b for s, b in zip(sp, block)):
        raise ExportError("padded spatial size is not a multiple of the block")
    full = np.zeros((rank, 2), np.int64)
    full[1:1 + m] = pads
    if full.any():
        x = g.op1("Pad", x, g.const(np.concatenate([full[:, 0], full[:, 1]])), mode="constant")
    rest = list(shape[1 + m:])
    if any(not isinstance(d, int) for d in rest):
        raise ExportError("SpaceToBatchND needs the trailing dimensions before running")
    # [B, s1/b1, b1, ..., rest] -> [b1, ..., B, s1/b1, ..., rest] -> [b1*...*B, s1/b1, ..., rest]
    split = [-1]
    for s, b in zip(sp, block):
        split += [s // b, b]
    y = g.op1("Reshape", x, g.const(np.asarray(split + rest, np.int64)))
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    y = g.op1("Transpose", y, perm=perm)
    return g.op1("Reshape", y, g.const(np.asarray([-1] + [s // b for s, b in zip(sp, block)] + rest, np.int64)))


def _batch_to_space_static(cx, node, ins):
    """BatchToSpaceND when every size but the batch is known and the crops are constants."""
    g = cx.g
    x, block_v, crop_v = ins
    block = const_ints(block_v, "block_shape")
    crops = np.asarray(const_ints(crop_v, "crops"), np.int64).reshape(-1, 2)
    m = len(block)
    shape = x.shape
    if shape is None or any(not isinstance(d, int) for d in shape[1:]):
        raise ExportError("BatchToSpaceND needs every dimension but the batch before running")
    sp = list(shape[1:1 + m])
    rest = list(shape[1 + m:])
    # [b1, ..., B, s1, ..., rest] -> [B, s1, b1, ..., rest] -> [B, s1*b1, ..., rest]
    y = g.op1("Reshape", x, g.const(np.asarray(block + [-1] + sp + rest, np.int64)))
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    y = g.op1("Transpose", y, perm=perm)
    y = g.op1("Reshape", y, g.const(np.asarray([-1] + [s * b for s, b in zip(sp, block)] + rest, np.int64)))
    if crops.any():
        starts = crops[:, 0]
        ends = np.asarray([s * b for s, b in zip(sp, block)], np.int64) - crops[:, 1]
        y = g.op1("Slice", y, g.const(starts.astype(np.int64)), g.const(ends),
                  g.const(np.arange(1, 1 + m, dtype=np.int64)))
    return y


# -- grappler's and oneDNN's fused ops ----------------------------------------------------------
# The fused_ops forms the numpy kernels run (graph/ops/nn.py _Epilogue; tensorflow/tensorflow
# tensorflow/core/kernels/conv_ops_fused_impl.h, matmul_op_fused.cc): BiasAdd [, Add]
# [, activation] with args (bias [, residual]), or FusedBatchNorm [, activation] with args
# (scale, offset, mean, variance) and attr epsilon; an empty list is the plain op.

def _channel_op(g: Graph, op: str, y: Val, vec: Val, axis: int) -> Val:
    """``op`` (Add, Mul) of ``y`` and a vector along ``y``'s logical ``axis`` (``y``'s layout kept)."""
    rank = need_rank(y)
    phys = invert(y.perm)[axis] if y.perm is not None else axis
    if phys != rank - 1:
        shape = [1] * rank
        shape[phys] = -1
        vec = g.op1("Reshape", vec, g.const(np.asarray(shape, np.int64)))
    out = g.op1(op, y, vec)
    out.perm = y.perm
    return out


def _activation(g: Graph, act: str, y: Val, alpha: float) -> Val:
    if act == "Relu":
        out = g.op1("Relu", y)
    elif act == "Relu6":
        out = g.op1("Clip", y, scalar(g, 0, y.dtype), scalar(g, 6, y.dtype))
    elif act == "Elu":
        out = in_float32(g, "Elu", y, alpha=1.0)
    elif act == "LeakyRelu":
        out = in_float32(g, "LeakyRelu", y, alpha=alpha)
    elif act in ("Sigmoid", "Tanh"):
        out = g.op1(act, y)
    elif act == "GeluExact":  # 0.5 * y * (1 + erf(y / sqrt 2)), as tf.nn.gelu(approximate=False)
        if g.model.opset >= 20:
            out = g.op1("Gelu", y)
        else:
            half = g.op1("Mul", y, scalar(g, 0.5, y.dtype))
            erf = in_float32(g, "Erf", g.op1("Mul", y, scalar(g, 0.7071067811865476, y.dtype)))
            out = g.op1("Mul", half, g.op1("Add", erf, scalar(g, 1, y.dtype)))
    else:
        raise ExportError(f"fused activation {act} is not supported")
    out.perm = y.perm
    return out


_FUSED_ACTIVATIONS = ("Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Tanh", "GeluExact")


def _fused_ops(node: Any) -> list[str]:
    return [o.decode() if isinstance(o, bytes) else str(o) for o in node.attr.get("fused_ops") or ()]


def _epilogue(cx: Any, node: Any, y: Val, args: list[Val], axis: int, folded: bool = False) -> Val:
    """The fused_ops of ``node`` applied to the convolution's or matmul's output ``y`` (``folded``:
    its bias or batch norm is in ``y`` already: Conv's bias, Gemm's C, scaled weights)."""
    g = cx.g
    ops = _fused_ops(node)
    if not ops:
        return y
    res = args[1] if len(args) > 1 else None  # a residual keeps its layout
    args = [a if k == 1 and ops[0] == "BiasAdd" else g.plain(a) for k, a in enumerate(args)]
    if ops[0] == "BiasAdd" and args:
        if not folded:
            y = _channel_op(g, "Add", y, cast(g, args[0], y.dtype), axis)
        rest = ops[1:]
        if rest[:1] == ["Add"]:
            if res is None:
                raise ExportError("fused Add needs a second argument")
            if y.perm is not None and res.rank == y.rank:
                res = g.with_perm(res, y.perm)
            else:
                y, res = g.plain(y), g.plain(res)
            perm = y.perm
            y = g.op1("Add", y, res)
            y.perm = perm
            rest = rest[1:]
    elif ops[0] == "FusedBatchNorm" and folded:
        rest = ops[1:]
    elif ops[0] == "FusedBatchNorm" and len(args) >= 4:
        scale, offset, mean, var = (cast(g, a, np.float32) for a in args[:4])
        eps = scalar(g, float(node.attr.get("epsilon", 1e-4)), np.float32)
        s = g.op1("Div", scale, g.op1("Sqrt", g.op1("Add", var, eps)))
        t = g.op1("Sub", offset, g.op1("Mul", mean, s))
        y = _channel_op(g, "Add", _channel_op(g, "Mul", y, cast(g, s, y.dtype), axis), cast(g, t, y.dtype), axis)
        rest = ops[1:]
    else:
        raise ExportError(f"fused ops {ops} are not supported")
    if len(rest) > 1 or (rest and rest[0] not in _FUSED_ACTIVATIONS):
        raise ExportError(f"fused ops {ops} are not supported")
    if rest:
        y = _activation(g, rest[0], y, float(node.attr.get("leakyrelu_alpha", 0.2)))
    return y


def _fused_convolution(cx: Any, node: Any, ins: list[Val], plain: Any, depthwise: bool) -> Val:
    """A convolution and its fused_ops: a bias is Conv's B input; a batch norm with constant
    statistics on constant filters is folded into them (scaled output channels, B the shift)."""
    g = cx.g
    ops = _fused_ops(node)
    axis = 3 if _is_channels_last(node) else 1
    x, w, args = ins[0], g.plain(ins[1]), ins[2:]
    if ops[:1] == ["BiasAdd"] and args:
        return _epilogue(cx, node, plain(cx, node, [x, w], bias=g.plain(args[0])), args, axis, folded=True)
    if ops[:1] == ["FusedBatchNorm"] and len(args) >= 4 and w.is_const and w.rank == 4 and \
            w.dtype.kind == "f" and all(a.is_const for a in args[:4]):
        # tensorflow/tensorflow tensorflow/core/kernels/fused_batch_norm_op.cc, inference: in float32.
        scale, offset, mean, var = (np.asarray(a.const, np.float32) for a in args[:4])
        s = scale / np.sqrt(var + np.float32(node.attr.get("epsilon", 1e-4)))
        shift = g.const((offset - mean * s).astype(w.dtype))
        f = w.const * (s.reshape(w.const.shape[2:]) if depthwise else s).astype(w.dtype)
        return _epilogue(cx, node, plain(cx, node, [x, g.const(f)], bias=shift), args, axis, folded=True)
    return _epilogue(cx, node, plain(cx, node, [x, w]), args, axis)


@converter("_FusedConv2D", onnx="Conv (bias; batch norm folded into the filter), Add, activation", layout=True)
def fused_conv(cx, node, ins):
    return _fused_convolution(cx, node, ins, conv, False)


@converter("_FusedDepthwiseConv2dNative", onnx="Conv(group=C) (bias; batch norm folded), Add, activation",
           layout=True)
def fused_depthwise_conv(cx, node, ins):
    return _fused_convolution(cx, node, ins, depthwise_conv, True)


@converter("_FusedMatMul", onnx="Gemm (2-D, constant weights), or MatMul and Add; Add, activation")
def fused_matmul(cx, node, ins):
    g = cx.g
    a, b, args = ins[0], ins[1], ins[2:]
    ops = _fused_ops(node)
    src = a.origin[1] if a.origin is not None and a.origin[0] == "reshape" else None
    if src is not None and src.rank is not None and src.rank > 2 and a.rank == 2 and "Add" not in ops and \
            not node.attr.get("transpose_a") and src.shape[-1] == a.shape[-1]:
        # Keras' tensordot (reshape to 2-D, matmul and epilogue, reshape back): one broadcasting
        # MatMul and the epilogue on the N-D input, flattened; array.reshape undoes the flattening.
        y = _epilogue(cx, node, matmul(cx, node, [src, b]), args, src.rank - 1)
        n = y.shape[-1] if y.shape is not None and isinstance(y.shape[-1], int) else -1
        flat = g.op1("Reshape", y, g.const(np.asarray([-1, n], np.int64)))
        flat.origin = ("reshape", y)
        return flat
    if ops[:1] == ["BiasAdd"] and args and a.rank == 2 and b.is_const and b.rank == 2 and \
            a.dtype == b.dtype and a.dtype.kind == "f" and not node.attr.get("transpose_a"):
        y = g.op1("Gemm", a, b, cast(g, g.plain(args[0]), a.dtype),
                  transB=1 if node.attr.get("transpose_b") else None)
        return _epilogue(cx, node, y, args, 1, folded=True)
    y = matmul(cx, node, ins[:2])
    return _epilogue(cx, node, y, args, need_rank(y) - 1)


@converter("_MklFusedBatchMatMulV2", onnx="MatMul, Add, activation")
def fused_batch_matmul(cx, node, ins):
    y = batch_matmul(cx, node, ins[:2])
    return _epilogue(cx, node, y, ins[2:], need_rank(y) - 1)


@converter("_MklLayerNorm", onnx="LayerNormalization")
def layer_norm(cx, node, ins):
    """(x - mean) / sqrt(var + epsilon) * scale + offset over the last axis (graph/ops/nn.py)."""
    g = cx.g
    x, scale, offset = ins
    if need_rank(x) == 0:
        raise ExportError("layer normalisation of a scalar")
    eps = float(node.attr.get("epsilon", 1e-3))
    scale, offset = cast(g, scale, x.dtype), cast(g, offset, x.dtype)
    if cx.opset >= 17:
        return g.op1("LayerNormalization", x, scale, offset, axis=-1, epsilon=eps)
    centred = g.op1("Sub", x, reduce(g, "ReduceMean", x, [-1], True))
    var = reduce(g, "ReduceMean", g.op1("Mul", centred, centred), [-1], True)
    norm = g.op1("Div", centred, g.op1("Sqrt", g.op1("Add", var, scalar(g, eps, x.dtype))))
    return g.op1("Add", g.op1("Mul", norm, scale), offset)
