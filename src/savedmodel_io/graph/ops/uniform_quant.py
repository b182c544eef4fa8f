"""UniformQuantize / UniformDequantize / UniformRequantize and the uniform quantized Add, Dot,
Clip and Convolution.

The scale/zero-point ops TensorFlow's StableHLO quantizer leaves in a SavedModel. The
arithmetic is TensorFlow's (tensorflow/tensorflow tensorflow/core/kernels/uniform_quant_ops/
math_utils.{h,cc}, tensor_utils.cc, uniform_*_op.cc): quantize as floor(x / scale + 0.5) +
zero point, requantize through a 31-bit fixed-point multiplier with one rounding (TFLite's
MultiplyByQuantizedMultiplier), accumulate dot products in int32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from savedmodel_io.formats import varint
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, np_dtype

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


# -- convolution --------------------------------------------------------------------------------
# tensorflow/core/kernels/uniform_quant_ops/uniform_quantized_convolution_ops.cc and
# tensorflow/core/util/quantization/uniform_quant_ops_params.cc: operands transposed to
# (batch, feature, spatial...) / (out feature, in feature, spatial...), lhs dilated and padded
# with its zero point, int32 accumulation, batch and feature groups picked per output feature.

# UniformQuantizedConvolutionDimensionNumbersAttr's fields (uniform_quant_ops_attr.proto):
# int64 numbers 1, 2, 4, 5, 7, 8 and repeated int64 numbers 3, 6, 9.
_DIM_FIELDS = {1: "input_batch", 2: "input_feature", 3: "input_spatial",
               4: "kernel_input_feature", 5: "kernel_output_feature", 6: "kernel_spatial",
               7: "output_batch", 8: "output_feature", 9: "output_spatial"}
_DIM_REPEATED = {3, 6, 9}


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _parse_dimension_numbers(node, raw: bytes) -> dict[str, Any]:
    """The dimension-numbers attr's fields (protobuf wire format; unknown fields skipped)."""
    out: dict[str, Any] = {"input_spatial": [], "kernel_spatial": [], "output_spatial": []}
    pos, end = 0, len(raw)
    try:
        while pos < end:
            key, pos = varint.decode(raw, pos, end, wrap=True)
            number, wire = key >> 3, key & 7
            name = _DIM_FIELDS.get(number)
            if wire == 0:
                value, pos = varint.decode(raw, pos, end, wrap=True)
                if name is not None and number in _DIM_REPEATED:
                    out[name].append(_signed64(value))
                elif name is not None:
                    out[name] = _signed64(value)
            elif wire == 2:
                size, pos = varint.decode(raw, pos, end, wrap=True)
                if pos + size > end:
                    raise varint.VarintError("truncated field")
                if name is not None and number in _DIM_REPEATED:  # packed
                    p = pos
                    while p < pos + size:
                        value, p = varint.decode(raw, p, pos + size, wrap=True)
                        out[name].append(_signed64(value))
                pos += size
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
                if pos > end:
                    raise varint.VarintError("truncated field")
            else:
                raise varint.VarintError(f"wire type {wire}")
    except varint.VarintError:
        raise bad(node, "Error parsing convolution dimension numbers.") from None
    return out


def _dilated(size: int, dilation: int) -> int:
    return 0 if size == 0 else dilation * (size - 1) + 1


class _ConvParams:
    """The convolution's attrs validated against the operands' shapes, TF's defaults filled."""

    def __init__(self, node, lhs_shape: tuple[int, ...], rhs_shape: tuple[int, ...]) -> None:
        padding = attr_str(node, "padding")
        explicit = [int(v) for v in node.attr["explicit_padding"]]
        if padding not in ("EXPLICIT", "SAME", "VALID"):
            raise bad(node, f"padding Attr must be one of [EXPLICIT | SAME | VALID], but given: "
                            f"{padding}")
        if padding != "EXPLICIT" and explicit:
            raise bad(node, "If padding Attr is not 'EXPLICIT', explicit_padding Attr must be "
                            "empty.")
        raw = node.attr["dimension_numbers"]
        dn = _parse_dimension_numbers(node, raw if isinstance(raw, bytes) else raw.encode())
        if len(lhs_shape) != len(rhs_shape):
            raise bad(node, f"lhs and rhs must have same dims. Given lhs and rhs of shapes: "
                            f"{list(lhs_shape)}{list(rhs_shape)}")
        rank = len(lhs_shape)
        if rank <= 2:
            raise bad(node, f"lhs and rhs shape dims must be at least 3. Given: {rank}")
        n = rank - 2
        self.strides = self._per_dim(node, "window_strides", n)
        self.lhs_dilation = self._per_dim(node, "lhs_dilation", n)
        self.rhs_dilation = self._per_dim(node, "rhs_dilation", n)
        if not dn["input_spatial"]:
            spatial = list(range(2, rank))
            dn = {"input_batch": 0, "input_feature": 1, "input_spatial": spatial,
                  "kernel_output_feature": 0, "kernel_input_feature": 1,
                  "kernel_spatial": spatial, "output_batch": 0, "output_feature": 1,
                  "output_spatial": spatial}
        for side in ("input", "kernel", "output"):
            # (batch, feature) / (output feature, input feature) first, then the spatial ones
            singles = ("batch", "feature") if side != "kernel" else ("output_feature",
                                                                       "input_feature")
            perm = [dn.get(f"{side}_{s}", 0) for s in singles] + list(dn[f"{side}_spatial"])
            if len(dn[f"{side}_spatial"]) != n:
                raise bad(node, f"Spatial dimensions size must be rank - 2. Given rank {rank} "
                                f"and spatial dimensions size {len(dn[f'{side}_spatial'])}")
            if sorted(perm) != list(range(rank)):
                raise bad(node, "Each dimension number must be in region [0, rank) and name "
                                f"each dimension once. Given rank {rank} and {perm}")
            setattr(self, f"{side}_perm", perm)
        self.dn = dn
        fgc, bgc = int(node.attr["feature_group_count"]), int(node.attr["batch_group_count"])
        if fgc <= 0:
            raise bad(node, f"feature_group_count must be a positive integer, given: {fgc}")
        features = lhs_shape[dn["input_feature"]]
        rhs_in, rhs_out = rhs_shape[dn["kernel_input_feature"]], rhs_shape[dn["kernel_output_feature"]]
        if features % fgc:
            raise bad(node, f"feature_group_count must divide lhs feature dimension size, but "
                            f"{fgc} does not divide {features}")
        if rhs_in == 0 or features % rhs_in or features // fgc != rhs_in:
            raise bad(node, "lhs feature dimension size divided by feature_group_count must "
                            f"equal the rhs input feature dimension size, but {features} / "
                            f"{fgc} != {rhs_in}")
        if rhs_out % fgc:
            raise bad(node, f"rhs output dimension size must be a multiple of "
                            f"feature_group_count, but {rhs_out} is not a multiple of {fgc}")
        if bgc <= 0:
            raise bad(node, f"batch_group_count Attr must be a positive integer. Given: {bgc}")
        if lhs_shape[dn["input_batch"]] % bgc:
            raise bad(node, f"batch_group_count must divide lhs batch dimension size, but {bgc} "
                            f"does not divide {lhs_shape[dn['input_batch']]}")
        if rhs_out % bgc:
            raise bad(node, f"rhs output dimension size must be a multiple of batch_group_count, "
                            f"but {rhs_out} is not a multiple of {bgc}")
        self.fgc, self.bgc = fgc, bgc
        lhs_sizes = [_dilated(lhs_shape[d], self.lhs_dilation[i])
                     for i, d in enumerate(dn["input_spatial"])]
        rhs_sizes = [_dilated(rhs_shape[d], self.rhs_dilation[i])
                     for i, d in enumerate(dn["kernel_spatial"])]
        if padding == "EXPLICIT":
            if len(explicit) != 2 * n:
                raise bad(node, f"Size of explicit_padding Attr must be 2 * (rank - 2). Given "
                                f"rank {rank} and explicit_padding of size {len(explicit)}")
            if min(explicit) < 0:
                raise bad(node, f"All explicit_padding elems must be >= 0, Given {explicit}")
            self.pads = [(explicit[2 * i], explicit[2 * i + 1]) for i in range(n)]
        elif padding == "VALID":
            self.pads = [(0, 0)] * n
        else:
            self.pads = []
            for i in range(n):
                s = self.strides[i]
                total = max(((lhs_sizes[i] + s - 1) // s - 1) * s + rhs_sizes[i] - lhs_sizes[i], 0)
                self.pads.append((total // 2, total - total // 2))
        self.out_spatial = []
        for i in range(n):
            num = lhs_sizes[i] + sum(self.pads[i]) - rhs_sizes[i] + 1
            top = num + self.strides[i] - 1
            size = (abs(top) // self.strides[i]) * (1 if top >= 0 else -1)  # C's division
            if size < 0:
                raise bad(node, f"Dimension {size} must be >= 0")
            self.out_spatial.append(size)
        shape = [0] * rank
        shape[dn["output_batch"]] = lhs_shape[dn["input_batch"]] // bgc
        shape[dn["output_feature"]] = rhs_out
        for i, d in enumerate(dn["output_spatial"]):
            shape[d] = self.out_spatial[i]
        self.out_shape = tuple(shape)

    @staticmethod
    def _per_dim(node, name: str, n: int) -> list[int]:
        v = [int(a) for a in node.attr[name]]
        if not v:
            return [1] * n
        if len(v) != n:
            raise bad(node, f"Size of {name} Attr must be dims - 2.")
        if min(v) < 1:
            raise bad(node, f"All elements of {name} must be >= 1. Given {v}")
        return v


def _conv_accumulate(node, p: _ConvParams, lhs: np.ndarray, lhs_zps: np.ndarray,
                     rhs: np.ndarray, rhs_zps: np.ndarray) -> np.ndarray:
    """int32 sums of (lhs - zero point) * (rhs - zero point) over each output's window, in the
    transposed layout (out batch, out feature, spatial...). ``lhs`` is already transposed;
    ``lhs_zps`` has one zero point per lhs batch, ``rhs_zps`` one per output feature."""
    rt = rhs.transpose(p.kernel_perm).astype(np.int64) - rhs_zps.reshape(
        (-1,) + (1,) * (rhs.ndim - 1))
    batch, features = lhs.shape[:2]
    padded_shape = [batch, features] + [
        _dilated(lhs.shape[2 + i], p.lhs_dilation[i]) + sum(p.pads[i])
        for i in range(len(p.pads))]
    check_size(node, padded_shape, 8)
    padded = np.empty(padded_shape, np.int64)
    padded[...] = lhs_zps.reshape((-1,) + (1,) * (lhs.ndim - 1))
    place = tuple(slice(lo, lo + _dilated(lhs.shape[2 + i], p.lhs_dilation[i]), p.lhs_dilation[i])
                  for i, (lo, _) in enumerate(p.pads))
    padded[(slice(None), slice(None)) + place] = lhs
    padded -= lhs_zps.reshape((-1,) + (1,) * (lhs.ndim - 1))
    outs = p.out_spatial
    n_out, n_in = rt.shape[:2]
    out_batch = batch // p.bgc
    check_size(node, [out_batch, n_out, *outs, n_in], 8)
    o = np.arange(n_out)
    batch_group = o // (n_out // p.bgc)
    feature_group = o // (n_out // p.fgc)
    grouped = padded.reshape(p.bgc, out_batch, p.fgc, n_in, *padded_shape[2:])
    acc = np.zeros((out_batch, n_out, *outs), np.int64)
    if 0 in acc.shape:
        return acc
    for tap in np.ndindex(*rt.shape[2:]):
        window = tuple(slice(k * p.rhs_dilation[i], k * p.rhs_dilation[i]
                             + (outs[i] - 1) * p.strides[i] + 1, p.strides[i])
                       for i, k in enumerate(tap))
        view = grouped[(slice(None), slice(None), slice(None), slice(None)) + window]
        picked = view[batch_group, :, feature_group]  # (out feature, out batch, in feature, ...)
        acc += np.einsum("obi...,oi->bo...", picked, rt[(...,) + tap])
    return _int32(acc)


def _conv_transposed_lhs(p: _ConvParams, lhs: np.ndarray) -> np.ndarray:
    return lhs.transpose(p.input_perm)


def _conv_output(p: _ConvParams, out_t: np.ndarray) -> np.ndarray:
    return out_t.transpose(np.argsort(p.output_perm))


@kernel("UniformQuantizedConvolution")
def uniform_quantized_convolution(node, inputs, ctx):
    lhs, rhs, l_s, l_z, r_s, r_z, o_s, o_z = (np.asarray(v) for v in inputs)
    if int(node.attr["lhs_quantization_axis"]) != -1:
        raise bad(node, "lhs_quantization_axis Attr must be -1 (per-tensor).")
    for what, s in (("lhs", l_s), ("rhs", r_s), ("output", o_s)):
        if not np.all(s > 0):
            raise bad(node, f"{what} scales elements must be all positive.")
    p = _ConvParams(node, lhs.shape, rhs.shape)
    if l_s.shape != l_z.shape or l_s.ndim:
        raise bad(node, "lhs scales/zero_points must be all scalar tensors.")
    r_axis, o_axis = int(node.attr["rhs_quantization_axis"]), int(node.attr["output_quantization_axis"])
    if r_axis not in (-1, p.dn["kernel_output_feature"]):
        raise bad(node, "rhs_quantization_axis Attr must be -1 (per-tensor) or "
                        "dimension_numbers.kernel_output_feature_dimension (per-channel).")
    _check_axis(node, rhs.shape, r_s, r_z, r_axis)
    if o_axis not in (-1, p.dn["output_feature"]):
        raise bad(node, "output_quantization_axis Attr must be -1 (per-tensor) or "
                        "dimension_numbers.output_feature_dimension (per-channel).")
    _check_axis(node, p.out_shape, o_s, o_z, o_axis)
    if r_s.ndim == 0 and o_s.ndim:
        raise bad(node, "If rhs is per-tensor quantized, output must be also per-tensor quantized.")
    lt = _conv_transposed_lhs(p, lhs)
    n_out = p.out_shape[p.dn["output_feature"]]
    acc = _conv_accumulate(node, p, lt, np.full(lt.shape[0], int(l_z), np.int64), rhs,
                           np.broadcast_to(r_z.astype(np.int64).reshape(-1), (n_out,)))
    r_scales = np.broadcast_to(r_s.astype(F32).reshape(-1), (n_out,))
    o_scales = np.broadcast_to(o_s.astype(F32).reshape(-1), (n_out,))
    pairs = [quantize_multiplier(node, float(F32(l_s)) * float(a) / float(b))
             for a, b in zip(r_scales, o_scales)]
    shape = (1, n_out) + (1,) * (acc.ndim - 2)
    mult = np.array([m for m, _ in pairs], np.int64).reshape(shape)
    shift = np.array([s for _, s in pairs], np.int64).reshape(shape)
    zp = np.broadcast_to(o_z.astype(np.int64).reshape(-1), (n_out,)).reshape(shape)
    v = _int32(_multiply(acc, mult, shift) + zp)
    lo, hi = int(node.attr["output_quantization_min_val"]), int(node.attr["output_quantization_max_val"])
    return _conv_output(p, np.clip(v, lo, hi).astype(np_dtype(node.attr["Tout"])))


@kernel("UniformQuantizedConvolutionHybrid")
def uniform_quantized_convolution_hybrid(node, inputs, ctx):
    """Float lhs quantized per batch (asymmetric int8, as TFLite), then the int convolution,
    scaled back to float32 by the lhs batch's and the output feature's scales."""
    lhs, rhs, r_s, r_z = (np.asarray(v) for v in inputs)
    if not np.all(r_s > 0):
        raise bad(node, "rhs scales elements must be all positive.")
    p = _ConvParams(node, lhs.shape, rhs.shape)
    r_axis = int(node.attr["rhs_quantization_axis"])
    if r_axis not in (-1, p.dn["kernel_output_feature"]):
        raise bad(node, "rhs_quantization_axis Attr must be -1 (per-tensor) or "
                        "dimension_numbers.kernel_output_feature_dimension (per-channel).")
    _check_axis(node, rhs.shape, r_s, r_z, r_axis)
    lt = _conv_transposed_lhs(p, lhs.astype(F32))
    rows = [asymmetric_quantize(lt[b]) for b in range(lt.shape[0])]
    q = np.stack([r[0] for r in rows]) if rows else np.zeros(lt.shape, np.int8)
    l_scales = np.array([r[1] for r in rows], F32)
    l_zps = np.array([r[2] for r in rows], np.int64)
    n_out = p.out_shape[p.dn["output_feature"]]
    acc = _conv_accumulate(node, p, q, l_zps, rhs,
                           np.broadcast_to(r_z.astype(np.int64).reshape(-1), (n_out,)))
    out_batch = acc.shape[0]
    o = np.arange(n_out)
    lhs_batch = (o // (n_out // p.bgc))[None, :] * out_batch + np.arange(out_batch)[:, None]
    extra = (1,) * (acc.ndim - 2)
    ls = l_scales[lhs_batch].reshape(acc.shape[:2] + extra) if rows else F32(0)
    rs = np.broadcast_to(r_s.astype(F32).reshape(-1), (n_out,)).reshape((1, n_out) + extra)
    return _conv_output(p, ((acc.astype(F32) * ls).astype(F32) * rs).astype(F32))
