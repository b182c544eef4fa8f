"""Quantize and dequantize: QuantizeV2, Dequantize, QuantizeAndDequantize, FakeQuant*, Requantize.

These are the ops quantization-aware training (FakeQuant*, QuantizeAndDequantize*) and
TF1 eight-bit graphs (QuantizeV2 -> quantized kernels -> Requantize -> Dequantize) leave
in a model. Semantics follow tensorflow/tensorflow tensorflow/core/kernels/quantize_op.cc,
dequantize_op.cc, quantize_and_dequantize_op.{h,cc}, fake_quant_ops_functor.h,
requantize.cc, requantization_range_op.cc and quantize_down_and_shrink_range.cc; the
rounding of each step is TensorFlow's (see graph/ops/_quant.py).
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._quant import (
    F32,
    QType,
    dequantize_eigen,
    qtype,
    quantize_eigen,
    requantize_eigen,
    round_away,
    round_half_up,
    scalar,
    to_float,
)
from savedmodel_io.graph.ops._util import attr_str, bad, np_dtype


def _slices(node, x: np.ndarray, axis: int, mins, maxs) -> tuple[int, np.ndarray, np.ndarray]:
    """How many slices along ``axis`` (1 when -1) and the per-slice float32 ranges."""
    n = 1
    if axis > -1:
        if axis >= x.ndim:
            raise bad(node, f"Axis must be less than input dimension({x.ndim}), got {axis}")
        n = x.shape[axis]
    lo = np.asarray(mins, F32).reshape(-1)
    hi = np.asarray(maxs, F32).reshape(-1)
    for what, v in (("min_range", lo), ("max_range", hi)):
        if v.size != n:
            raise bad(node, f"{what} must have as many elements as input on the "
                            f"quantization axis ({axis}), got {v.size}, expected {n}")
    return n, lo, hi


def _per_slice(x: np.ndarray, axis: int, n: int, fn) -> list:
    """``fn(slice, i)`` for each slice along ``axis`` (the whole tensor when n == 1)."""
    if n == 1 and axis < 0:
        return [fn(x, 0)]
    return [fn(np.take(x, i, axis=axis), i) for i in range(n)]


# -- QuantizeV2 / Dequantize ------------------------------------------------------------------

def _nudged(lo: float, hi: float, ensure: float) -> tuple[float, float]:
    """Range with zero inside and at least ``ensure`` times its magnitude wide (QuantizeSlice)."""
    rmin = min(F32(0.0), F32(lo))
    eps = F32(max(F32(1.0), max(abs(F32(lo)), abs(F32(hi)))) * F32(ensure))
    rmax = max(F32(0.0), max(F32(hi), F32(rmin + eps)))
    return float(rmin), float(rmax)


def _quantize_slice(node, x: np.ndarray, lo: float, hi: float, t: QType, mode: str,
                    rounding: str, narrow: bool, ensure: float):
    if hi < lo:
        raise bad(node, "input_max_range must be larger than input_min_range.")
    rmin, rmax = _nudged(lo, hi, ensure)
    x = np.asarray(x, F32)
    with np.errstate(all="ignore"):
        if mode == "MIN_FIRST":
            return quantize_eigen(x, rmin, rmax, t), rmin, rmax
        if mode == "MIN_COMBINED":
            factor = F32((float(t.highest) - float(t.lowest)) / float(F32(F32(rmax) - F32(rmin))))
            shifted = (np.clip(x, F32(rmin), F32(rmax)) - F32(rmin)) * factor
            if t.signed:
                half = F32((float(t.highest) - float(t.lowest) + 1) / 2.0)
                return round_away(shifted - half).astype(np.int64).astype(t.dtype), rmin, rmax
            return (shifted + F32(0.5)).astype(np.int64).astype(t.dtype), rmin, rmax
        # SCALED: symmetric around zero, scaled so the wider side fills the type.
        low_q = t.lowest + (1 if narrow else 0)
        f_max = np.finfo(F32).max
        from_min = F32(low_q / F32(rmin)) if low_q * rmin > 0 else f_max
        from_max = F32(t.highest / F32(rmax)) if t.highest * rmax > 0 else f_max
        factor = min(from_min, from_max)
        rmin, rmax = float(F32(low_q / factor)), float(F32(t.highest / factor))
        v = np.clip(x, F32(rmin), F32(rmax)) * F32(factor)
        v = np.rint(v) if rounding == "HALF_TO_EVEN" else round_away(v)
        return v.astype(np.int64).astype(t.dtype), rmin, rmax


@kernel("QuantizeV2")
def quantize_v2(node, inputs, ctx):
    x = np.asarray(inputs[0], F32)
    t = qtype(node.attr["T"])
    mode = attr_str(node, "mode")
    rounding = attr_str(node, "round_mode")
    if mode not in ("MIN_COMBINED", "MIN_FIRST", "SCALED"):
        raise bad(node, f"Mode string must be 'MIN_COMBINED', 'MIN_FIRST', or 'SCALED', is '{mode}'")
    if rounding not in ("HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN"):
        raise bad(node, f"Round mode string must be 'HALF_AWAY_FROM_ZERO' or 'HALF_TO_EVEN', is '{rounding}'")
    if rounding == "HALF_TO_EVEN" and mode != "SCALED":
        raise bad(node, f"Round mode 'HALF_TO_EVEN' only supported for mode 'SCALED', but mode is '{mode}'.")
    axis = int(node.attr["axis"])
    n, lo, hi = _slices(node, x, axis, inputs[1], inputs[2])
    args = (t, mode, rounding, bool(node.attr["narrow_range"]), float(node.attr["ensure_minimum_range"]))
    if n == 1:
        q, rmin, rmax = _quantize_slice(node, x, float(lo[0]), float(hi[0]), *args)
        return [q, F32(rmin), F32(rmax)]
    if mode == "MIN_FIRST":
        raise bad(node, "MIN_FIRST mode is not implemented for Quantize with axis != -1.")
    parts = _per_slice(x, axis, n, lambda s, i: _quantize_slice(node, s, float(lo[i]), float(hi[i]), *args))
    out = np.stack([p[0] for p in parts], axis=axis).astype(t.dtype)
    mins = np.array([p[1] for p in parts], F32).reshape(np.shape(inputs[1]))
    maxs = np.array([p[2] for p in parts], F32).reshape(np.shape(inputs[2]))
    return [out, mins, maxs]


def _dequantize_slice(q: np.ndarray, lo: float, hi: float, t: QType, mode: str, narrow: bool):
    with np.errstate(all="ignore"):
        if mode == "MIN_FIRST":
            return dequantize_eigen(q, lo, hi, t)
        if mode == "MIN_COMBINED":
            half = F32(0.0) if not t.signed else F32((F32(t.highest) - F32(t.lowest) + F32(1)) / F32(2))
            factor = F32(F32(F32(hi) - F32(lo)) / F32(F32(t.highest) - F32(t.lowest)))
            return (np.asarray(q).astype(F32) + half) * factor + F32(lo)
        low_q = t.lowest + (1 if narrow else 0)
        if t.lowest == 0:
            factor = F32(F32(hi) / F32(t.highest))
        else:
            factor = max(F32(F32(lo) / F32(low_q)), F32(F32(hi) / F32(t.highest)))
        return np.asarray(q).astype(np.int64).astype(F32) * factor


@kernel("Dequantize")
def dequantize(node, inputs, ctx):
    q = np.asarray(inputs[0])
    t = qtype(node.attr["T"])
    mode = attr_str(node, "mode")
    out_dtype = np_dtype(node.attr["dtype"])
    if mode not in ("MIN_COMBINED", "MIN_FIRST", "SCALED"):
        raise bad(node, f"Mode string must be 'MIN_COMBINED', 'MIN_FIRST', or 'SCALED', is '{mode}'")
    if out_dtype != np.float32 and mode != "MIN_COMBINED":
        raise bad(node, f"When output type is bfloat16, Mode string must be 'MIN_COMBINED', is '{mode}'")
    axis = int(node.attr["axis"])
    n, lo, hi = _slices(node, q, axis, inputs[1], inputs[2])
    narrow = bool(node.attr["narrow_range"])
    if n == 1:
        out = _dequantize_slice(q, float(lo[0]), float(hi[0]), t, mode, narrow)
    else:
        if mode == "MIN_FIRST":
            raise bad(node, "MIN_FIRST mode is not implemented for Dequantize with axis != -1.")
        parts = _per_slice(q, axis, n, lambda s, i: _dequantize_slice(s, float(lo[i]), float(hi[i]), t, mode, narrow))
        out = np.stack(parts, axis=axis)
    return np.asarray(out, F32).astype(out_dtype)


# -- QuantizeAndDequantize (simulated quantization) -------------------------------------------

def _qdq_range(signed: bool, bits: int, narrow: bool, lo, hi, dt):
    """ComputeQuantizationRange: (min, max, scale, inverse scale), in the input's float type."""
    ft = dt.type
    q_min = (-(1 << (bits - 1)) + (1 if narrow else 0)) if signed else 0
    q_max = ((1 << (bits - 1)) - 1) if signed else (1 << bits) - 1
    lo, hi = ft(lo), ft(hi)
    big = np.finfo(dt).max
    with np.errstate(all="ignore"):
        from_min = ft(ft(q_min) / lo) if q_min * lo > 0 else big
        from_max = ft(ft(q_max) / hi) if q_max * hi > 0 else big
        if from_min < from_max:
            inv = ft(lo / ft(q_min))
            return lo, ft(ft(q_max) * inv), from_min, inv
        inv = ft(hi / ft(q_max))
        return ft(ft(q_min) * inv), hi, from_max, inv


def _qdq_slice(x: np.ndarray, lo, hi, signed: bool, bits: int, given: bool, rounding: str,
               narrow: bool) -> np.ndarray:
    if not given:
        lo, hi = (x.min(), x.max()) if x.size else (0.0, 0.0)
    lo, hi, scale, inv = _qdq_range(signed, bits, narrow, lo, hi, x.dtype)
    with np.errstate(all="ignore"):
        v = np.clip(x, lo, hi) if given else x
        v = v * scale
        v = np.rint(v) if rounding == "HALF_TO_EVEN" else round_half_up(v)
        return (v * inv).astype(x.dtype)


def _quantize_and_dequantize(node, x: np.ndarray, mins, maxs, bits: int, rounding: str,
                             vector_ranges: bool = True) -> np.ndarray:
    """QuantizeAndDequantizeV2/V3/V4; ``vector_ranges``: per-axis ranges are accepted (V3).

    V2 and V4 check per-axis ranges for rank 1 and then for being scalars, so TensorFlow
    runs neither with ``range_given`` and an axis; neither do we.
    """
    signed = bool(node.attr["signed_input"])
    if not 0 < bits < (62 if signed else 63):
        raise bad(node, f"num_bits is out of range: {bits} with signed_input_ {signed}")
    given = bool(node.attr["range_given"])
    narrow = bool(node.attr.get("narrow_range", False))
    axis = int(node.attr.get("axis", -1))
    if axis < -1:
        raise bad(node, f"Axis must be at least -1. Found {axis}")
    if axis != -1 and axis >= x.ndim:
        raise bad(node, f"Shape must be at least rank {axis + 1} but is rank {x.ndim}")
    mins, maxs = np.asarray(mins), np.asarray(maxs)
    if given:
        if axis == -1:
            if mins.ndim or maxs.ndim:
                raise bad(node, "input_min and input_max must be scalars when axis is -1")
            if float(mins) > float(maxs):
                raise bad(node, f"Invalid range: input_min {float(mins)} > input_max {float(maxs)}")
        else:
            for what, v in (("input_min_tensor", mins), ("input_max_tensor", maxs)):
                if v.ndim != 1:
                    raise bad(node, f"Shape must be rank 1 for {what} when the axis is specified")
                if v.shape[0] != x.shape[axis]:
                    raise bad(node, f"{what} has incorrect size, was {v.shape[0]} expected "
                                    f"{x.shape[axis]} to match dim {axis} of the input")
            if not vector_ranges:
                raise bad(node, f"{what[:9]} must be a scalar.")
    if axis == -1:
        return _qdq_slice(x, mins.reshape(-1)[0] if given else 0, maxs.reshape(-1)[0] if given else 0,
                          signed, bits, given, rounding, narrow)
    parts = [_qdq_slice(np.take(x, i, axis=axis), mins[i] if given else 0, maxs[i] if given else 0,
                        signed, bits, given, rounding, narrow) for i in range(x.shape[axis])]
    return np.stack(parts, axis=axis) if parts else x.copy()


def _rounding(node) -> str:
    mode = attr_str(node, "round_mode", "HALF_TO_EVEN")
    if mode not in ("HALF_UP", "HALF_TO_EVEN"):
        raise bad(node, f"Round mode string must be 'HALF_UP' or 'HALF_TO_EVEN', is '{mode}'")
    return mode


@kernel("QuantizeAndDequantizeV2", "QuantizeAndDequantizeV4")
def quantize_and_dequantize_v2(node, inputs, ctx):
    x = np.asarray(inputs[0])
    return _quantize_and_dequantize(node, x, inputs[1], inputs[2], int(node.attr["num_bits"]),
                                    _rounding(node), vector_ranges=False)


@kernel("QuantizeAndDequantizeV3")
def quantize_and_dequantize_v3(node, inputs, ctx):
    bits = np.asarray(inputs[3])
    if bits.ndim:
        raise bad(node, f"Invalid shape. The `num_bits` tensor should be a scalar. Got dimensions: {bits.ndim}")
    return _quantize_and_dequantize(node, np.asarray(inputs[0]), inputs[1], inputs[2], int(bits),
                                    "HALF_TO_EVEN")


@kernel("QuantizeAndDequantize")
def quantize_and_dequantize_v1(node, inputs, ctx):
    lo, hi = float(node.attr["input_min"]), float(node.attr["input_max"])
    if node.attr["range_given"] and lo > hi:
        raise bad(node, f"Invalid range: input_min {lo} > input_max {hi}")
    x = np.asarray(inputs[0])
    return _quantize_and_dequantize(node, x, np.array(lo, x.dtype), np.array(hi, x.dtype),
                                    int(node.attr["num_bits"]), "HALF_TO_EVEN")


# -- FakeQuant ---------------------------------------------------------------------------------

def _fake_quant_bounds(node) -> tuple[int, int]:
    bits = int(node.attr["num_bits"])
    if not 2 <= bits <= 16:
        raise bad(node, "num_bits must be between 2 and 16, inclusive")
    return (1 if node.attr["narrow_range"] else 0), (1 << bits) - 1


def fake_quant_nudge(lo: float, hi: float, q_min: int, q_max: int) -> tuple[F32, F32, F32, F32, F32]:
    """FakeQuant's nudged range (fake_quant_ops_functor.h): (min, max, scale, 1 / scale, zero point)."""
    lo, hi = F32(lo), F32(hi)
    qmin_f, qmax_f = F32(q_min), F32(q_max)
    scale = F32(F32(hi - lo) / F32(qmax_f - qmin_f))
    inv = F32(F32(qmax_f - qmin_f) / F32(hi - lo))
    zero_from_min = F32(qmin_f - F32(lo / scale))
    if zero_from_min < qmin_f:
        zero = q_min
    elif zero_from_min > qmax_f:
        zero = q_max
    else:
        zero = int(round_away(zero_from_min))
    n_min = F32(F32(qmin_f - F32(zero)) * scale)
    n_max = F32(F32(qmax_f - F32(zero)) * scale)
    q_zero = np.floor(F32(F32(-n_min * inv) + F32(0.5)))
    return n_min, n_max, scale, inv, q_zero


def _fake_quant(x: np.ndarray, lo: float, hi: float, q_min: int, q_max: int) -> np.ndarray:
    """FakeQuant's nudged quantize-dequantize of float32 ``x``."""
    n_min, n_max, scale, inv, q_zero = fake_quant_nudge(lo, hi, q_min, q_max)
    shifted = np.clip(x, n_min, n_max) - n_min
    return (np.floor(shifted * inv - q_zero + F32(0.5)) * scale).astype(F32)


@kernel("FakeQuantWithMinMaxArgs")
def fake_quant_args(node, inputs, ctx):
    q_min, q_max = _fake_quant_bounds(node)
    lo, hi = float(F32(node.attr["min"])), float(F32(node.attr["max"]))
    if not lo < hi:
        raise bad(node, f"min has to be smaller than max, was: {lo} >= {hi}")
    with np.errstate(all="ignore"):
        return _fake_quant(np.asarray(inputs[0], F32), lo, hi, q_min, q_max)


@kernel("FakeQuantWithMinMaxVars")
def fake_quant_vars(node, inputs, ctx):
    q_min, q_max = _fake_quant_bounds(node)
    lo, hi = (np.asarray(v) for v in inputs[1:3])
    if lo.ndim or hi.ndim:
        raise bad(node, "min and max must be scalars")
    x = np.asarray(inputs[0], F32)
    if float(lo) == 0.0 and float(hi) == 0.0:
        return np.zeros_like(x)
    with np.errstate(all="ignore"):
        return _fake_quant(x, float(lo), float(hi), q_min, q_max)


@kernel("FakeQuantWithMinMaxVarsPerChannel")
def fake_quant_vars_per_channel(node, inputs, ctx):
    q_min, q_max = _fake_quant_bounds(node)
    x = np.asarray(inputs[0], F32)
    lo, hi = np.asarray(inputs[1], F32), np.asarray(inputs[2], F32)
    if x.ndim == 0:
        raise bad(node, "inputs must be at least 1-D")
    depth = x.shape[-1]
    for what, v in (("min", lo), ("max", hi)):
        if v.ndim != 1 or v.shape[0] != depth:
            raise bad(node, f"{what} has incorrect size, expected {depth} was {v.size}")
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for c in range(depth):
            if lo[c] == 0.0 and hi[c] == 0.0:
                out[..., c] = 0.0
            else:
                out[..., c] = _fake_quant(x[..., c], float(lo[c]), float(hi[c]), q_min, q_max)
    return out


# -- Requantize and ranges ---------------------------------------------------------------------

def _used_range(node, q: np.ndarray, lo: float, hi: float, t: QType) -> tuple[float, float]:
    """CalculateUsedRange: the float range the values of ``q`` actually span, zero included."""
    if q.size == 0:
        raise bad(node, "input must not be empty")
    used_min = to_float(np.array(q.min()), lo, hi, t)
    used_max = to_float(np.array(q.max()), lo, hi, t)
    return float(min(F32(0.0), F32(used_min))), float(max(F32(0.0), F32(used_max)))


@kernel("RequantizationRange")
def requantization_range(node, inputs, ctx):
    q = np.asarray(inputs[0])
    lo, hi = scalar(node, inputs[1], "input_min"), scalar(node, inputs[2], "input_max")
    used_min, used_max = _used_range(node, q, lo, hi, qtype(node.attr["Tinput"]))
    return [F32(used_min), F32(used_max)]


@kernel("Requantize")
def requantize_op(node, inputs, ctx):
    q = np.asarray(inputs[0])
    lo, hi = scalar(node, inputs[1], "input_min"), scalar(node, inputs[2], "input_max")
    out_lo = scalar(node, inputs[3], "requested_output_min")
    out_hi = scalar(node, inputs[4], "requested_output_max")
    if out_lo > 0.0:
        raise bad(node, f"requested_output_min must be <= 0, but got {out_lo}")
    if out_hi < out_lo:
        raise bad(node, f"requested_output_max must be >= requested_output_min, but got {out_hi} and {out_lo}")
    out = requantize_eigen(q, lo, hi, qtype(node.attr["Tinput"]), out_lo, out_hi,
                           qtype(node.attr["out_type"]))
    return [out, F32(out_lo), F32(out_hi)]


@kernel("QuantizeDownAndShrinkRange")
def quantize_down_and_shrink_range(node, inputs, ctx):
    q = np.asarray(inputs[0])
    lo, hi = scalar(node, inputs[1], "input_min"), scalar(node, inputs[2], "input_max")
    t_in = qtype(node.attr["Tinput"])
    used_min, used_max = _used_range(node, q, lo, hi, t_in)
    out = requantize_eigen(q, lo, hi, t_in, used_min, used_max, qtype(node.attr["out_type"]))
    return [out, F32(used_min), F32(used_max)]


# -- per-channel requantization (oneDNN int8 graphs) ----------------------------------------------

def _channel_ranges(node, q: np.ndarray, mins, maxs, not_4d: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.asarray(mins, F32).reshape(-1), np.asarray(maxs, F32).reshape(-1)
    if lo.size != hi.size:
        raise bad(node, f"input_max has incorrect size, expected {lo.size} was {hi.size}")
    if q.ndim != 4:
        raise bad(node, not_4d)
    if q.shape[3] != lo.size:
        raise bad(node, f"input must have same number of channels as length of input_min: "
                        f"{q.shape[3]} vs {lo.size}")
    return lo, hi


@kernel("RequantizePerChannel")
def requantize_per_channel(node, inputs, ctx):
    """qint32 NHWC values to 8 bits, one scale per channel (mkl_requantize_per_channel_op.cc):
    ``round(x * 255|127 * max|range_c| / max|requested| / 2^31)``, to nearest even, saturated."""
    q = np.asarray(inputs[0])
    lo, hi = _channel_ranges(node, q, inputs[1], inputs[2],
                             "Current RequantizePerChannel operatorsupports 4D tensors only.")
    out_lo = scalar(node, inputs[3], "requested_output_min")
    out_hi = scalar(node, inputs[4], "requested_output_max")
    t = qtype(node.attr["out_type"])
    if t.signed and not out_lo < 0.0:
        raise bad(node, f"If out_type is QINT8, requested_output_max must be non negative, got {out_lo}")
    factor = F32(127.0 if t.signed else 255.0)
    requested = max(abs(F32(out_lo)), abs(F32(out_hi)))
    with np.errstate(all="ignore"):
        scales = factor * (np.maximum(np.abs(lo), np.abs(hi)) / requested / F32(1 << 31))
        v = np.rint(q.astype(F32) * scales.astype(F32))
    out = np.clip(np.nan_to_num(v), t.lowest, t.highest).astype(t.dtype)
    return [out, F32(out_lo), F32(out_hi)]


@kernel("RequantizationRangePerChannel")
def requantization_range_per_channel(node, inputs, ctx):
    """The float range a per-channel qint32 tensor spans, capped at ``clip_value_max``
    (mkl_requantization_range_per_channel_op.cc; zero as the minimum when nothing is negative)."""
    q = np.asarray(inputs[0])
    if q.size == 0:
        raise bad(node, "input must not be empty")
    lo, hi = _channel_ranges(node, q, inputs[1], inputs[2], "input must be in NHWC format")
    flat = q.reshape(-1, q.shape[3]).astype(np.int64)
    # std::abs of int32 keeps INT32_MIN negative: the other bound decides then.
    abs_min = np.abs(flat.min(axis=0))
    abs_min = np.where(abs_min > np.iinfo(np.int32).max, np.iinfo(np.int32).min, abs_min)
    abs_max = np.maximum(abs_min, np.abs(flat.max(axis=0)))
    scale = np.maximum(np.abs(lo), np.abs(hi))
    ranges = (scale * abs_max.astype(F32) / F32(1 << 31)).astype(F32)
    top = max(F32(np.finfo(F32).tiny), F32(ranges.max()))
    top = min(top, F32(node.attr["clip_value_max"]))
    low = F32(0.0) if flat.min() >= 0 else -top
    return [F32(low), F32(top)]
