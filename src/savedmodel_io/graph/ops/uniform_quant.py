"""UniformQuantize / UniformDequantize / UniformRequantize and the uniform quantized Add, Dot, Clip.

The scale/zero-point ops TensorFlow's StableHLO quantizer leaves in a SavedModel. The
arithmetic is TensorFlow's (tensorflow/tensorflow tensorflow/core/kernels/uniform_quant_ops/
math_utils.{h,cc}, tensor_utils.cc, uniform_*_op.cc): quantize as floor(x / scale + 0.5) +
zero point, requantize through a 31-bit fixed-point multiplier with one rounding (TFLite's
MultiplyByQuantizedMultiplier), accumulate dot products in int32.
"""

from __future__ import annotations

import math

import numpy as np

from savedmodel_io.graph.ops import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype

F32 = np.float32


def _check_axis(node, shape: tuple[int, ...], scales: np.ndarray, zero_points: np.ndarray,
                axis: int) -> None:
    """QuantizationAxisAndShapeValid: per-tensor scalars, or one scale per slice of ``axis``."""
    if scales.shape != zero_points.shape:
        raise bad(node, f"scales and zero_points shape must be same, but given scales shape "
                        f"{list(scales.shape)} and zero_points shape {list(zero_points.shape)}")
    if axis < -1 or axis >= len(shape):
        raise bad(node, f"quantization_axis must be -1 or in range [0, input.rank), but given {axis}")
    if axis == -1:
        if scales.ndim:
            raise bad(node, "If quantization_axis is -1, scales and zero_points must be scalar "
                            f"tensors, but given scales shape {list(scales.shape)}")
    elif scales.ndim != 1 or scales.shape[0] != shape[axis]:
        raise bad(node, "If quantization_axis is not -1, scales and zero_points must be a tensor "
                        "of rank 1 and the size must be equal to the input.dim_size("
                        f"quantization_axis), but given quantization_axis {axis}, scales shape "
                        f"{list(scales.shape)}")


def _positive(node, *scales: np.ndarray) -> None:
    if any(not np.all(s > 0) for s in scales):
        raise bad(node, "scales elements must be all positive.")


def _along(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Per-slice ``values`` shaped to broadcast along ``axis`` of a rank-``ndim`` tensor."""
    if axis < 0:
        return values
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def affine_quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, lo: int, hi: int,
                    dtype: np.dtype) -> np.ndarray:
    """AffineQuantize: floor(x * (1/scale) + 0.5) + zero point, clamped, in float32 steps."""
    inv = (F32(1.0) / scale.astype(F32)).astype(F32)
    with np.errstate(all="ignore"):
        q = np.floor(x.astype(F32) * inv + F32(0.5))
        q = np.nan_to_num(q, nan=0.0, posinf=2 ** 31 - 1, neginf=-(2 ** 31))
    v = np.clip(q, -(2 ** 31), 2 ** 31 - 1).astype(np.int64) + zero_point.astype(np.int64)
    return np.clip(_int32(v), lo, hi).astype(dtype)


def _int32(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, np.int64).astype(np.int32).astype(np.int64)


def quantize_multiplier(node, m: float) -> tuple[int, int]:
    """QuantizeMultiplier: ``m`` as a 31-bit fixed-point multiplier and a shift."""
    if not math.isfinite(m) or m <= 0:
        raise bad(node, f"double_multiplier must be a poisitive finite number. Given {m}")
    q, shift = math.frexp(m)
    fixed = math.floor(q * (1 << 31) + 0.5)  # std::round of a positive value
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        shift, fixed = 0, 0
    if shift > 30:
        shift, fixed = 30, (1 << 31) - 1
    return fixed, shift


def _multiply(x: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """MultiplyByQuantizedMultiplier with single rounding, clamped to int32 (int64 arrays)."""
    total = 31 - shift
    with np.errstate(over="ignore"):
        r = (x * mult + (np.int64(1) << (total - 1))) >> total
    return np.clip(r, -(2 ** 31), 2 ** 31 - 1)


def requantize(node, x: np.ndarray, in_scales, in_zps, out_scales, out_zps, in_axis: int,
               out_axis: int, lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """EvalRequantize: scale by in_scale / out_scale per element's slices, shift zero points."""
    in_scales, out_scales = np.asarray(in_scales, F32), np.asarray(out_scales, F32)
    axis = in_axis if in_axis >= 0 else out_axis
    if in_axis >= 0 and out_axis >= 0:
        out_axis = in_axis  # both per-axis: the output's slices follow the input's axis
    n = x.shape[axis] if axis >= 0 else 1
    ins = np.broadcast_to(in_scales.reshape(-1), (n,)) if in_scales.ndim else np.full(n, in_scales)
    outs = np.broadcast_to(out_scales.reshape(-1), (n,)) if out_scales.ndim else np.full(n, out_scales)
    pairs = [quantize_multiplier(node, float(a) / float(b)) for a, b in zip(ins, outs)]
    mult = _along(np.array([p[0] for p in pairs], np.int64), axis, x.ndim)
    shift = _along(np.array([p[1] for p in pairs], np.int64), axis, x.ndim)
    in_zp = _along(np.asarray(in_zps, np.int64).reshape(-1), in_axis, x.ndim)
    out_zp = _along(np.asarray(out_zps, np.int64).reshape(-1), out_axis, x.ndim)
    if in_axis < 0:
        in_zp = in_zp.reshape(())
    if out_axis < 0:
        out_zp = out_zp.reshape(())
    v = _int32(x.astype(np.int64) - in_zp)
    v = _int32(_multiply(v, mult, shift) + out_zp)
    return np.clip(v, lo, hi).astype(dtype)


@kernel("UniformQuantize")
def uniform_quantize(node, inputs, ctx):
    x, scales, zps = (np.asarray(v) for v in inputs)
    axis = int(node.attr["quantization_axis"])
    _check_axis(node, x.shape, scales, zps, axis)
    lo, hi = int(node.attr["quantization_min_val"]), int(node.attr["quantization_max_val"])
    dtype = np_dtype(node.attr["Tout"])
    return affine_quantize(x, _along(scales, axis, x.ndim), _along(zps, axis, x.ndim), lo, hi, dtype)


@kernel("UniformDequantize")
def uniform_dequantize(node, inputs, ctx):
    q, scales, zps = (np.asarray(v) for v in inputs)
    axis = int(node.attr["quantization_axis"])
    _check_axis(node, q.shape, scales, zps, axis)
    diff = _int32(q.astype(np.int64) - _along(zps.astype(np.int64), axis, q.ndim))
    return (diff.astype(F32) * _along(scales.astype(F32), axis, q.ndim)).astype(F32)


@kernel("UniformRequantize")
def uniform_requantize(node, inputs, ctx):
    x, in_s, in_z, out_s, out_z = (np.asarray(v) for v in inputs)
    in_axis, out_axis = int(node.attr["input_quantization_axis"]), int(node.attr["output_quantization_axis"])
    if in_axis >= 0 and out_axis >= 0 and in_axis != out_axis:
        raise bad(node, "If input and output is both per-axis quantized, the quantization axis "
                        "must be same.")
    _check_axis(node, x.shape, in_s, in_z, in_axis)
    _check_axis(node, x.shape, out_s, out_z, out_axis)
    _positive(node, in_s, out_s)
    return requantize(node, x, in_s, in_z, out_s, out_z, in_axis, out_axis,
                      int(node.attr["output_quantization_min_val"]),
                      int(node.attr["output_quantization_max_val"]), np_dtype(node.attr["Tout"]))


@kernel("UniformQuantizedAdd")
def uniform_quantized_add(node, inputs, ctx):
    lhs, rhs, l_s, l_z, r_s, r_z, o_s, o_z = (np.asarray(v) for v in inputs)
    l_axis, r_axis = int(node.attr["lhs_quantization_axis"]), int(node.attr["rhs_quantization_axis"])
    o_axis = int(node.attr["output_quantization_axis"])
    _check_axis(node, lhs.shape, l_s, l_z, l_axis)
    _check_axis(node, rhs.shape, r_s, r_z, r_axis)
    try:
        shape = np.broadcast_shapes(lhs.shape, rhs.shape)
    except ValueError:
        raise bad(node, f"Cannot Add tensors of shapes: {list(lhs.shape)}{list(rhs.shape)}") from None
    _check_axis(node, shape, o_s, o_z, o_axis)
    for what, t, axis in (("lhs", lhs, l_axis), ("rhs", rhs, r_axis)):
        if axis >= 0 and o_axis >= 0 and t.ndim - axis != len(shape) - o_axis:
            raise bad(node, f"If {what} and output is both per-axis quantized, the quantization "
                            "axis must match.")
    _positive(node, l_s, r_s, o_s)
    dtype = np_dtype(node.attr["T"])
    info = np.iinfo(dtype)
    zeros = np.zeros(o_s.shape, np.int32)
    # TF requantizes both operands to the output scale with zero points 0, then adds them
    # and the output's zero point.
    lq = requantize(node, lhs, l_s, l_z, o_s, zeros, l_axis, -1 if o_axis == -1 else l_axis,
                    int(info.min), int(info.max), dtype)
    rq = requantize(node, rhs, r_s, r_z, o_s, zeros, r_axis, o_axis, int(info.min), int(info.max), dtype)
    zp = _along(o_z.astype(np.int64), o_axis, len(shape)) if o_axis >= 0 else o_z.astype(np.int64)
    total = _int32(lq.astype(np.int64) + rq.astype(np.int64) + zp)
    lo, hi = int(node.attr["output_quantization_min_val"]), int(node.attr["output_quantization_max_val"])
    return np.clip(np.broadcast_to(total, shape), lo, hi).astype(dtype)


@kernel("UniformQuantizedClipByValue")
def uniform_quantized_clip(node, inputs, ctx):
    x, lo, hi, scales, zps = (np.asarray(v) for v in inputs)
    axis = int(node.attr["quantization_axis"])
    _check_axis(node, x.shape, scales, zps, axis)
    for what, v in (("min", lo), ("max", hi)):
        if v.shape != scales.shape:
            raise bad(node, f"{what} shape must be same as scales shape {list(scales.shape)}, "
                            f"given {list(v.shape)}")
    _positive(node, scales)
    return np.minimum(np.maximum(x, _along(lo, axis, x.ndim)), _along(hi, axis, x.ndim)).astype(x.dtype)


def _dot_shapes(node, lhs: np.ndarray, rhs: np.ndarray) -> None:
    if lhs.ndim != 2:
        raise bad(node, f"lhs rank must be 2, but given lhs shape {list(lhs.shape)}")
    if rhs.ndim != 2:
        raise bad(node, f"rhs rank must be 2, but given rhs shape {list(rhs.shape)}")
    if lhs.shape[1] != rhs.shape[0]:
        raise bad(node, "lhs.dim_size(1) and rhs.dim_size(0) must be equal, but given lhs shape "
                        f"{list(lhs.shape)} and rhs shape {list(rhs.shape)}")


def _accumulate(lhs: np.ndarray, lhs_zp, rhs: np.ndarray, rhs_zp) -> np.ndarray:
    """int32 dot products of zero-point-shifted operands (wrapping as int32 does)."""
    a = lhs.astype(np.int64) - np.asarray(lhs_zp, np.int64)
    b = rhs.astype(np.int64) - np.asarray(rhs_zp, np.int64)
    return _int32(a @ b)


def _rhs_axis(node, attr: str) -> int:
    axis = int(node.attr[attr])
    if axis not in (1, -1):
        raise bad(node, f"{attr} Attr must be 1 (per-channel) or -1 (per-tensor).")
    return axis


@kernel("UniformQuantizedDot")
def uniform_quantized_dot(node, inputs, ctx):
    lhs, rhs, l_s, l_z, r_s, r_z, o_s, o_z = (np.asarray(v) for v in inputs)
    if int(node.attr["lhs_quantization_axis"]) != -1:
        raise bad(node, "lhs_quantization_axis Attr must be -1 (per-tensor).")
    _rhs_axis(node, "rhs_quantization_axis")
    _rhs_axis(node, "output_quantization_axis")
    _positive(node, l_s, r_s, o_s)
    _dot_shapes(node, lhs, rhs)
    if l_s.shape != l_z.shape or l_s.ndim:
        raise bad(node, "lhs scales/zero_points must be all scalar tensors.")
    _check_axis(node, rhs.shape, r_s, r_z, -1 if r_s.ndim == 0 else 1)
    out_shape = (lhs.shape[0], rhs.shape[1])
    _check_axis(node, out_shape, o_s, o_z, -1 if o_s.ndim == 0 else 1)
    if r_s.ndim == 0 and o_s.ndim:
        raise bad(node, "If rhs is per-tensor quantized, output must be also per-tensor quantized.")
    acc = _accumulate(lhs, l_z, rhs, r_z.reshape(-1) if r_s.ndim else r_z)
    n = out_shape[1]
    r_scales = r_s.reshape(-1) if r_s.ndim else np.full(n, r_s)
    o_scales = o_s.reshape(-1) if o_s.ndim else np.full(n, o_s)
    pairs = [quantize_multiplier(node, float(F32(l_s)) * float(a) / float(b)) for a, b in zip(r_scales, o_scales)]
    mult = np.array([p[0] for p in pairs], np.int64)
    shift = np.array([p[1] for p in pairs], np.int64)
    zp = o_z.reshape(-1).astype(np.int64) if o_s.ndim else np.int64(o_z)
    v = _int32(_multiply(acc, mult, shift) + zp)
    lo, hi = int(node.attr["output_quantization_min_val"]), int(node.attr["output_quantization_max_val"])
    return np.clip(v, lo, hi).astype(np_dtype(node.attr["Tout"]))


def asymmetric_quantize(x: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Dynamic-range int8 quantization of one row (TFLite's AsymmetricQuantizeFloats, with
    TF's floor(x / scale + 0.5) rounding): the values, their scale and zero point."""
    rmin = float(min(F32(0.0), x.min())) if x.size else 0.0
    rmax = float(max(F32(0.0), x.max())) if x.size else 0.0
    if rmin == rmax:
        return np.zeros(x.shape, np.int8), 1.0, 0
    scale = (rmax - rmin) / 255.0
    from_min, from_max = -128.0 - rmin / scale, 127.0 - rmax / scale
    err_min, err_max = 128.0 + abs(rmin / scale), 127.0 + abs(rmax / scale)
    zero = from_min if err_min < err_max else from_max
    nudged = -128 if zero <= -128 else 127 if zero >= 127 else int(math.floor(abs(zero) + 0.5) * math.copysign(1, zero))
    scale32 = F32(scale)
    q = affine_quantize(x, np.array(scale32), np.array(nudged), -128, 127, np.dtype(np.int8))
    return q, float(scale32), nudged


@kernel("UniformQuantizedDotHybrid")
def uniform_quantized_dot_hybrid(node, inputs, ctx):
    lhs, rhs, r_s, r_z = (np.asarray(v) for v in inputs)
    _rhs_axis(node, "rhs_quantization_axis")
    _dot_shapes(node, lhs, rhs)
    _check_axis(node, rhs.shape, r_s, r_z, -1 if r_s.ndim == 0 else 1)
    _positive(node, r_s)
    rows = [asymmetric_quantize(lhs[b].astype(F32)) for b in range(lhs.shape[0])]
    q = np.stack([r[0] for r in rows]) if rows else np.zeros(lhs.shape, np.int8)
    l_scales = np.array([r[1] for r in rows], F32).reshape(-1, 1)
    l_zps = np.array([r[2] for r in rows], np.int64).reshape(-1, 1)
    acc = _int32((q.astype(np.int64) - l_zps) @ (rhs.astype(np.int64) - np.asarray(r_z, np.int64).reshape(-1)))
    r_scales = r_s.astype(F32).reshape(1, -1) if r_s.ndim else F32(r_s)
    return ((acc.astype(F32) * l_scales).astype(F32) * r_scales).astype(F32)
