"""TensorFlow's eight-bit reference kernels: QuantizedMatMul, QuantizedConv2D, QuantizedAdd...

Each takes quantized tensors with their float ranges (min/max inputs) and returns the
quantized result with its range, as tensorflow/tensorflow tensorflow/core/kernels/
quantized_matmul_op.cc, quantized_conv_ops.cc, quantized_add_op.cc, quantized_mul_op.cc,
quantized_bias_add_op.cc, quantized_activation_ops.cc, quantized_concat_op.cc,
quantized_reshape_op.cc, quantized_pooling_ops.cc, quantized_batch_norm_op.cc and
quantized_resize_bilinear_op.cc compute them: integer arithmetic on values offset by the
quantized zero, and TF's own (sometimes surprising) broadcasting rules where they differ from
numpy's.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._quant import (
    F32,
    QType,
    dequantize_eigen,
    multiplication_range,
    qtype,
    quantize_eigen,
    requantize,
    requantize_eigen,
    scalar,
    to_float,
    to_quantized,
    to_quantized_unclamped,
)
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints
from savedmodel_io.graph.ops.image import _image, _scale, _size, _src
from savedmodel_io.graph.ops.nn import _patches, _window

QINT32 = QType(np.dtype(np.int32), 32, -(1 << 31), (1 << 31) - 1)


def _rank0(node, value, what: str) -> float:
    a = np.asarray(value)
    if a.ndim:
        raise bad(node, f"`{what}` must be rank 0 but is rank {a.ndim}")
    return float(F32(a))


def _zero(lo: float, hi: float, t: QType) -> int:
    """The quantized value of real zero (FloatToQuantizedUnclamped(0)), as int32 truncates it."""
    return int(np.int64(to_quantized_unclamped(np.float32(0.0), lo, hi, t)).astype(np.int32))


def _wrap32(x: np.ndarray) -> np.ndarray:
    """int64 results stored into int32 as C++ does (two's complement wrap)."""
    return np.asarray(x, np.int64).astype(np.int32)


# -- matmul and convolution ---------------------------------------------------------------------

@kernel("QuantizedMatMul")
def quantized_matmul(node, inputs, ctx):
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    ta, tb = qtype(node.attr["T1"]), qtype(node.attr["T2"])
    min_a, max_a = scalar(node, inputs[2], "min_a"), scalar(node, inputs[3], "max_a")
    min_b, max_b = scalar(node, inputs[4], "min_b"), scalar(node, inputs[5], "max_b")
    for i, m in enumerate((a, b)):
        if m.ndim != 2:
            raise bad(node, f"In[{i}] is not a matrix")
    if node.attr["transpose_a"]:
        a = a.T
    if node.attr["transpose_b"]:
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    aa = a.astype(np.int64) - _zero(min_a, max_a, ta)
    bb = b.astype(np.int64) - _zero(min_b, max_b, tb)
    out = _wrap32(aa @ bb)
    lo, hi = multiplication_range(min_a, max_a, ta, min_b, max_b, tb, qtype(node.attr["Toutput"]))
    return [out, F32(lo), F32(hi)]


@kernel("QuantizedConv2D")
def quantized_conv2d(node, inputs, ctx):
    x, w = np.asarray(inputs[0]), np.asarray(inputs[1])
    tx, tw = qtype(node.attr["Tinput"]), qtype(node.attr["Tfilter"])
    if tw.signed and tw.bits == 8:
        # qint8 filters: TensorFlow runs oneDNN's kernel (scales, no zero points).
        from savedmodel_io.graph.ops.quantized_onednn import quantized_conv

        return quantized_conv(node, inputs, ctx)
    min_x, max_x = scalar(node, inputs[2], "min_input"), scalar(node, inputs[3], "max_input")
    min_w, max_w = scalar(node, inputs[4], "min_filter"), scalar(node, inputs[5], "max_filter")
    if x.ndim != 4:
        raise bad(node, f"input must be rank 4 but is rank {x.ndim}")
    if w.ndim != 4:
        raise bad(node, f"filter must be rank 4 but is rank {w.ndim}")
    if x.shape[3] != w.shape[2]:
        raise bad(node, f"input and filter must have the same depth: {x.shape[3]} vs {w.shape[2]}")
    strides = ints(node.attr["strides"])
    if len(strides) != 4 or strides[0] != 1 or strides[3] != 1:
        raise bad(node, "Current implementation does not yet support strides in the batch and "
                        "depth dimensions.")
    if any(d != 1 for d in ints(node.attr["dilations"])):
        raise bad(node, "Current implementation does not yet support dilations.")
    padding = attr_str(node, "padding")
    kh, kw = w.shape[0], w.shape[1]
    oh, pt, pb = _window(node, x.shape[1], kh, strides[1], 1, padding)
    ow, pl, pr = _window(node, x.shape[2], kw, strides[2], 1, padding)
    check_size(node, (x.shape[0], oh, ow, w.shape[3]), 4)
    # Padding holds real zero, so it adds nothing once the input's zero point is taken off.
    xi = x.astype(np.int64) - _zero(min_x, max_x, tx)
    xp = np.pad(xi, [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    patches = _patches(xp, (oh, ow), (kh, kw), (strides[1], strides[2]), (1, 1))
    wi = w.astype(np.int64) - _zero(min_w, max_w, tw)
    out = np.tensordot(patches, wi, axes=([3, 4, 5], [0, 1, 2]))
    lo, hi = multiplication_range(min_x, max_x, tx, min_w, max_w, tw, qtype(node.attr["out_type"]))
    return [_wrap32(out), F32(lo), F32(hi)]


# -- elementwise ------------------------------------------------------------------------------

def _broadcast_runs(x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> int | None:
    """How many dimensions TF's BCast collapses two shapes to (None: they do not broadcast)."""
    n = max(len(x_shape), len(y_shape))
    xs = (1,) * (n - len(x_shape)) + tuple(x_shape)
    ys = (1,) * (n - len(y_shape)) + tuple(y_shape)
    runs, prev = 0, None
    for a, b in zip(xs, ys):
        if a == 1 and b == 1:
            continue
        state = "same" if a == b else "x" if a == 1 else "y" if b == 1 else None
        if state is None:
            return None
        if state != prev:
            runs += 1
            prev = state
    return max(runs, 1)


def _binary_layout(node, x: np.ndarray, y: np.ndarray) -> tuple[tuple[int, ...], str]:
    """The output shape and which of TF's loops applies: "x_scalar", "y_scalar", "same",
    "x_vector" or "y_vector" (the smaller operand's flat values repeat along the other's)."""
    runs = _broadcast_runs(x.shape, y.shape)
    if runs is None:
        raise bad(node, f"Incompatible shapes: {list(x.shape)} vs. {list(y.shape)}")
    shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    if runs > 2:
        raise bad(node, f"Broadcast between {list(x.shape)} and {list(y.shape)} is not supported yet.")
    if runs <= 1:
        kind = "x_scalar" if x.size == 1 else "y_scalar" if y.size == 1 else "same"
    else:
        if min(x.size, y.size) == 0:
            raise bad(node, "Must have some elements to add")
        kind = "x_vector" if x.size < y.size else "y_vector"
        # TF's loop runs over the larger operand only: a result it would leave partly
        # unwritten (e.g. [2, 1] with [1, 3]) is refused.
        if max(x.size, y.size) != int(np.prod(shape)):
            raise bad(node, f"Broadcast between {list(x.shape)} and {list(y.shape)} is not supported yet.")
    return shape, kind


def _spread(a: np.ndarray, b: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The two operands' flat values, element for element, as TF's loop pairs them."""
    a, b = a.reshape(-1), b.reshape(-1)
    if kind == "x_scalar" or kind == "x_vector":
        return np.resize(a, b.size), b
    if kind == "y_scalar" or kind == "y_vector":
        return a, np.resize(b, a.size)
    return a, b


@kernel("QuantizedAdd")
def quantized_add(node, inputs, ctx):
    x, y = np.asarray(inputs[0]), np.asarray(inputs[1])
    t = qtype(node.attr["T1"])
    min_x, max_x = _rank0(node, inputs[2], "min_x"), _rank0(node, inputs[3], "max_x")
    min_y, max_y = _rank0(node, inputs[4], "min_y"), _rank0(node, inputs[5], "max_y")
    shape, kind = _binary_layout(node, x, y)
    if not max_x > min_x:
        raise bad(node, "max_x must be larger than min_x.")
    if not max_y > min_y:
        raise bad(node, "max_y must be larger than min_y.")
    biggest = max(abs(F32(min(min_x, min_y))), abs(F32(max(max_x, max_y))))
    out_hi = float(F32(biggest * F32(1 << 14)))
    out_lo = -out_hi

    def in_output_range(q: np.ndarray, lo: float, hi: float, exact: bool) -> np.ndarray:
        # A scalar operand is requantized exactly (RequantizeInNewRange); the others by the
        # linear form TF uses for quint8 -> qint32: value(0) + q * (value(1) - value(0)).
        if exact:
            return requantize(q, lo, hi, t, out_lo, out_hi, QINT32).astype(np.int64)
        zero = to_quantized_unclamped(to_float(np.array(0), lo, hi, t), out_lo, out_hi, QINT32)
        one = to_quantized_unclamped(to_float(np.array(1), lo, hi, t), out_lo, out_hi, QINT32)
        mult = np.int64(np.int64(one - zero).astype(np.int32))
        v = np.int64(zero) + q.astype(np.int64) * mult
        return np.clip(v, QINT32.lowest, QINT32.highest)

    xs = in_output_range(x, min_x, max_x, kind == "x_scalar")
    ys = in_output_range(y, min_y, max_y, kind == "y_scalar")
    a, b = _spread(xs, ys, kind)
    return [_wrap32(a + b).reshape(shape), F32(out_lo), F32(out_hi)]


@kernel("QuantizedMul")
def quantized_mul(node, inputs, ctx):
    x, y = np.asarray(inputs[0]), np.asarray(inputs[1])
    t = qtype(node.attr["T1"])
    ranges = []
    for k, what in enumerate(("min_x", "max_x", "min_y", "max_y")):
        v = np.asarray(inputs[2 + k])
        if v.ndim:
            raise bad(node, f"{what} must be a scalar")
        ranges.append(float(F32(v)))
    min_x, max_x, min_y, max_y = ranges
    shape, kind = _binary_layout(node, x, y)
    if not max_x > min_x:
        raise bad(node, "max_x must be larger than min_a.")
    if not max_y > min_y:
        raise bad(node, "max_x must be larger than min_b.")
    a, b = _spread(x.astype(np.int64) - _zero(min_x, max_x, t), y.astype(np.int64) - _zero(min_y, max_y, t), kind)
    lo, hi = multiplication_range(min_x, max_x, t, min_y, max_y, t, qtype(node.attr["Toutput"]))
    return [_wrap32(a * b).reshape(shape), F32(lo), F32(hi)]


def _add_range(a_min: float, a_max: float, b_min: float, b_max: float) -> tuple[float, float]:
    """GetOutputMinAndMaxForQuantizedAdd: symmetric, 2^17 times the widest input range."""
    top = max(F32(a_max), max(F32(-a_min), max(F32(b_max), F32(-b_min))))
    hi = float(F32(top * F32(1 << 17)))
    return -hi, hi


@kernel("QuantizedBiasAdd")
def quantized_bias_add(node, inputs, ctx):
    x, bias = np.asarray(inputs[0]), np.asarray(inputs[1])
    t_x, t_b = qtype(node.attr["T1"]), qtype(node.attr["T2"])
    min_x, max_x = scalar(node, inputs[2], "min_input"), scalar(node, inputs[3], "max_input")
    min_b, max_b = scalar(node, inputs[4], "min_bias"), scalar(node, inputs[5], "max_bias")
    if x.ndim < 2:
        raise bad(node, f"Input tensor must be at least 2D: {list(x.shape)}")
    if bias.ndim != 1:
        raise bad(node, f"Biases must be 1D: {list(bias.shape)}")
    if bias.shape[0] != x.shape[-1]:
        raise bad(node, f"Must provide as many biases as the last dimension of the input tensor: "
                        f"{list(bias.shape)} vs. {list(x.shape)}")
    if bias.size == 0:
        raise bad(node, "0 bias elements")
    lo, hi = _add_range(min_x, max_x, min_b, max_b)
    t_out = qtype(node.attr["out_type"])
    # QuantizedAddUsingEigen dequantizes the bias as T1 and the input as T2 (their types
    # swapped; the same when both are quint8, the case TF's graph rewrites produce).
    x_total = quantize_eigen(dequantize_eigen(x, min_x, max_x, t_b), lo, hi, t_out).astype(np.int64)
    b_total = quantize_eigen(dequantize_eigen(bias, min_b, max_b, t_x), lo, hi, t_out).astype(np.int64)
    zero = np.int64(to_quantized(np.float32(0.0), lo, hi, t_out))
    out = _wrap32(x_total + (b_total + zero))
    return [out.astype(t_out.dtype), F32(lo), F32(hi)]


@kernel("QuantizedRelu", "QuantizedRelu6")
def quantized_relu(node, inputs, ctx):
    x = np.asarray(inputs[0])
    t = qtype(node.attr["Tinput"])
    lo, hi = scalar(node, inputs[1], "min_features"), scalar(node, inputs[2], "max_features")
    low = to_quantized(np.float32(0.0), lo, hi, t)
    out = np.maximum(x, low)
    if node.op == "QuantizedRelu6":
        out = np.minimum(out, to_quantized(np.float32(6.0), lo, hi, t))
    return [out.astype(qtype(node.attr["out_type"]).dtype), F32(lo), F32(hi)]


# -- layout -------------------------------------------------------------------------------------

@kernel("QuantizedConcat")
def quantized_concat(node, inputs, ctx):
    n = int(node.attr["N"])
    dim_t, values = np.asarray(inputs[0]), [np.asarray(v) for v in inputs[1:1 + n]]
    mins, maxs = inputs[1 + n:1 + 2 * n], inputs[1 + 2 * n:1 + 3 * n]
    t = qtype(node.attr["T"])
    if dim_t.ndim:
        raise bad(node, f"Concat dim tensor should be a scalar integer, but got shape {list(dim_t.shape)}")
    ranges = [(scalar(node, lo, "input_min"), scalar(node, hi, "input_max")) for lo, hi in zip(mins, maxs)]
    overall_min = min(F32(0.0), min(F32(lo) for lo, _ in ranges))
    overall_max = max(F32(hi) for _, hi in ranges)
    if t.signed:
        big = max(abs(overall_min), abs(overall_max))
        out_lo, out_hi = float(-big), float(big)
    else:
        out_lo, out_hi = float(overall_min), float(overall_max)
    rank = values[0].ndim
    axis = int(dim_t)
    if not 0 <= axis < rank:
        raise bad(node, f"ConcatOp : Expected concatenating dimensions in the range [0, {rank}), "
                        f"but got {axis}")
    for i, v in enumerate(values[1:], 1):
        if v.ndim != rank or any(a != b for k, (a, b) in enumerate(zip(v.shape, values[0].shape)) if k != axis):
            raise bad(node, f"input {i} should have shape {list(values[0].shape)} except in dimension "
                            f"{axis}, got {list(v.shape)}")
    parts = [v if (lo, hi) == (out_lo, out_hi) else requantize_eigen(v, lo, hi, t, out_lo, out_hi, t)
             for v, (lo, hi) in zip(values, ranges)]
    return [np.concatenate(parts, axis=axis).astype(t.dtype), F32(out_lo), F32(out_hi)]


# -- resizing -----------------------------------------------------------------------------------

def _lerp_axis(in_size: int, out_size: int, align: bool, half: bool):
    """Each output index's lower and upper source index and its float32 weight (the
    interpolation cache of tensorflow/core/kernels/quantized_resize_bilinear_op.cc)."""
    src = _src(out_size, _scale(in_size, out_size, align), half)
    fl = np.floor(src)
    hi = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    lo = np.minimum(np.maximum(fl, 0).astype(np.int64), hi)
    return lo, hi, (src - fl).astype(F32)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C's integer division (toward zero) of int64 values by a positive ``d``."""
    return np.sign(a) * (np.abs(a) // d)


@kernel("QuantizedResizeBilinear")
def quantized_resize_bilinear(node, inputs, ctx):
    """Bilinear resize of quint8 / qint32 values in fixed point (7 and 30 fraction bits,
    weights truncated, each row step truncated, the result rounded half up and wrapped to
    int32; qint32 values are first rounded to float32 as TF's scalar conversion does), or of
    floats in float32; the range passes through. Same-size resizes copy the input."""
    lo, hi = _rank0(node, inputs[2], "min"), _rank0(node, inputs[3], "max")
    # TF builds its resize state without half_pixel_centers: both flags together are allowed.
    align, half = bool(node.attr["align_corners"]), bool(node.attr["half_pixel_centers"])
    x = _image(node, inputs[0])
    oh, ow = _size(node, inputs[1])
    check_size(node, (x.shape[0], oh, ow, x.shape[3]), x.itemsize)
    if (oh, ow) == x.shape[1:3]:
        return [x.copy(), F32(lo), F32(hi)]
    ylo, yhi, yl = _lerp_axis(x.shape[1], oh, align, half)
    xlo, xhi, xl = _lerp_axis(x.shape[2], ow, align, half)
    if x.dtype.kind == "f":
        v = x.astype(F32)
        top, bot = v[:, ylo], v[:, yhi]
        w = xl[None, None, :, None]
        t = top[:, :, xlo] + (top[:, :, xhi] - top[:, :, xlo]) * w
        b = bot[:, :, xlo] + (bot[:, :, xhi] - bot[:, :, xlo]) * w
        return [(t + (b - t) * yl[None, :, None, None]).astype(x.dtype), F32(lo), F32(hi)]
    res = 30 if x.dtype.itemsize == 4 else 7
    one = 1 << res
    xi = (xl * F32(one)).astype(np.int64)[None, None, :, None]  # truncated toward zero
    yi = (yl * F32(one)).astype(np.int64)[None, :, None, None]
    # Eigen's quantized scalars reach int64 through float: qint32 values round to float32
    v = x.astype(F32).astype(np.int64)
    top, bot = v[:, ylo], v[:, yhi]
    t = top[:, :, xlo] * one + (top[:, :, xhi] - top[:, :, xlo]) * xi
    b = bot[:, :, xlo] * one + (bot[:, :, xhi] - bot[:, :, xlo]) * xi
    out = t + _trunc_div(b - t, one) * yi
    return [_wrap32(_trunc_div(out + one // 2, one)).astype(x.dtype), F32(lo), F32(hi)]


@kernel("QuantizedReshape")
def quantized_reshape(node, inputs, ctx):
    from savedmodel_io.graph.ops.array import reshape

    lo, hi = scalar(node, inputs[2], "input_min"), scalar(node, inputs[3], "input_max")
    return [reshape(node, inputs[:2], ctx), F32(lo), F32(hi)]


# -- pooling -------------------------------------------------------------------------------------

def _pool_geometry(node, x: np.ndarray, k: list[int], s: list[int]):
    if x.ndim != 4:
        raise bad(node, "tensor_in must be 4-dimensional")
    if len(k) != 4 or len(s) != 4:
        raise bad(node, "Sliding window ksize and strides fields must specify 4 dimensions")
    if k[0] != 1 or s[0] != 1:
        raise bad(node, "Pooling is not yet supported on the batch dimension.")
    padding = attr_str(node, "padding")
    oh, pt, pb = _window(node, x.shape[1], k[1], s[1], 1, padding)
    ow, pl, pr = _window(node, x.shape[2], k[2], s[2], 1, padding)
    return (k[1], k[2]), (s[1], s[2]), (oh, ow), ((pt, pb), (pl, pr))


def _depth_max_pool(node, x: np.ndarray, k: list[int], s: list[int]) -> np.ndarray:
    """Max pooling across channels only (tensorflow/core/kernels/pooling_ops_common.cc rules)."""
    if k[1] != 1 or k[2] != 1 or s[1] != 1 or s[2] != 1:
        raise bad(node, "MaxPooling supports exactly one of pooling across depth or pooling "
                        "across width/height.")
    depth = x.shape[3]
    if depth % k[3]:
        raise bad(node, "Depthwise max pooling requires the depth window to evenly divide the "
                        "input depth.")
    if s[3] != k[3]:
        raise bad(node, "Depthwise max pooling requires the depth window to equal the depth stride.")
    return x.reshape(x.shape[:3] + (depth // k[3], k[3])).max(axis=4)


@kernel("QuantizedMaxPool", "QuantizedAvgPool")
def quantized_pool(node, inputs, ctx):
    x = np.asarray(inputs[0])
    lo, hi = scalar(node, inputs[1], "min_input"), scalar(node, inputs[2], "max_input")
    ksize, strides = ints(node.attr["ksize"]), ints(node.attr["strides"])
    if len(ksize) == 4 and len(strides) == 4 and (ksize[3] != 1 or strides[3] != 1) and x.ndim == 4:
        if node.op == "QuantizedAvgPool":
            raise bad(node, "Non-spatial pooling is not yet supported. Volunteers? :)")
        return [_depth_max_pool(node, x, ksize, strides), F32(lo), F32(hi)]
    k, step, out_hw, pads = _pool_geometry(node, x, ksize, strides)
    xi = x.astype(np.int64)
    if node.op == "QuantizedMaxPool":
        low = np.iinfo(x.dtype).min
        xp = np.pad(xi, [(0, 0), pads[0], pads[1], (0, 0)], constant_values=low)
        out = _patches(xp, out_hw, k, step, (1, 1)).max(axis=(3, 4))
    else:
        # The average over the window's cells inside the input, in int32: C division truncates.
        xp = np.pad(xi, [(0, 0), pads[0], pads[1], (0, 0)])
        total = _patches(xp, out_hw, k, step, (1, 1)).sum(axis=(3, 4))
        ones = np.pad(np.ones((1, x.shape[1], x.shape[2], 1), np.int64), [(0, 0), pads[0], pads[1], (0, 0)])
        count = _patches(ones, out_hw, k, step, (1, 1)).sum(axis=(3, 4))
        out = np.trunc(total / count).astype(np.int64)
    return [out.astype(x.dtype), F32(lo), F32(hi)]


# -- normalisation ---------------------------------------------------------------------------------

@kernel("QuantizedBatchNormWithGlobalNormalization")
def quantized_batch_norm(node, inputs, ctx):
    x = np.asarray(inputs[0])
    t_in, t_out = qtype(node.attr["Tinput"]), qtype(node.attr["out_type"])
    params = []
    for k, what in enumerate(("t", "m", "v", "beta", "gamma")):
        v = np.asarray(inputs[3 * k])
        lo = scalar(node, inputs[3 * k + 1], f"{what}_min")
        hi = scalar(node, inputs[3 * k + 2], f"{what}_max")
        params.append((v, lo, hi))
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional{list(x.shape)}")
    depth = x.shape[-1]
    for (v, _, _), what in zip(params[1:], ("mean", "variance", "beta", "gamma")):
        if v.ndim != 1:
            raise bad(node, f"{what} must be 1-dimensional{list(v.shape)}")
        if v.shape[0] != depth:
            raise bad(node, f"{what} must have the same number of elements as the channels of x, "
                            f"got {v.shape[0]} and {depth}")
    eps = F32(node.attr["variance_epsilon"])
    out_lo, out_hi = -float(1 << 20), float(1 << 20)
    (xv, x_lo, x_hi), *rest = params
    mean, var, beta, gamma = (to_float(v, lo, hi, t_in) for v, lo, hi in rest)
    scale = F32(1.0) / np.sqrt(var + eps)
    if node.attr["scale_after_normalization"]:
        scale = scale * gamma
    offset = -mean * scale + beta
    q_scale = to_quantized(scale, out_lo, out_hi, t_out).astype(np.int64)
    q_offset = to_quantized(offset, out_lo, out_hi, t_out).astype(np.int64)
    one = int(to_quantized(np.float32(1.0), out_lo, out_hi, t_out))
    v = requantize(xv, x_lo, x_hi, t_in, out_lo, out_hi, t_out).astype(np.int64)
    prod = _wrap32(v * q_scale).astype(np.int64)
    out = _wrap32(np.trunc(prod / one).astype(np.int64) + q_offset)
    return [out.astype(t_out.dtype), F32(out_lo), F32(out_hi)]


@kernel("QuantizedInstanceNorm")
def quantized_instance_norm(node, inputs, ctx):
    """Instance normalisation of quint8 NHWC values (quantized_instance_norm.cc's non-NEON path):
    per image and channel, scale * (x - mean) / sqrt(var + eps) in float32, quantized into
    the given range or the result's own (widened to ``min_separation``)."""
    x = np.asarray(inputs[0])
    lo, hi = _rank0(node, inputs[1], "x_min"), _rank0(node, inputs[2], "x_max")
    if not lo < hi:
        raise bad(node, f"input_min must be less than input_max : {lo} >= {hi}")
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional, got shape {list(x.shape)}")
    given = bool(node.attr["output_range_given"])
    y_lo, y_hi = F32(node.attr["given_y_min"]), F32(node.attr["given_y_max"])
    if given and not y_lo < y_hi:
        raise bad(node, f"given_y_min must be less than given_y_max : {y_lo} >= {y_hi}")
    scale = F32(F32(F32(hi) - F32(lo)) / F32(255.0))
    f = x.astype(F32)
    mean = f.mean(axis=(1, 2), keepdims=True, dtype=F32)
    centred = (scale * (f - mean)).astype(F32)
    var = np.square(centred).mean(axis=(1, 2), keepdims=True, dtype=F32)
    normed = (centred * (F32(1.0) / np.sqrt(var + F32(node.attr["variance_epsilon"])))).astype(F32)
    if not given:
        y_lo, y_hi = (F32(normed.min()), F32(normed.max())) if normed.size else (F32(0), F32(0))
    sep = F32(node.attr["min_separation"])
    if F32(y_hi - y_lo) < sep:
        y_hi = F32(y_lo + sep)
    return [quantize_eigen(normed, float(y_lo), float(y_hi), qtype(node.attr["T"])), F32(y_lo), F32(y_hi)]
