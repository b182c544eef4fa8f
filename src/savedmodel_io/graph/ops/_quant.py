"""TensorFlow's arithmetic for quantized tensors, reproduced to the bit.

The quantized kernels (graph/ops/quantize.py, graph/ops/quantized_nn.py) convert between
float and quantized values the way tensorflow/tensorflow
tensorflow/core/kernels/quantization_utils.h does: which steps run in float32, which in
float64, and how each rounds (``std::round``: half away from zero). These helpers keep
each float32 step in float32 so results match TensorFlow exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from savedmodel_io.graph.ops._util import bad, np_dtype

F32 = np.float32
F64 = np.float64


@dataclass(frozen=True)
class QType:
    """A quantized dtype: its numpy storage type, bit width and limits."""

    dtype: np.dtype
    bits: int
    lowest: int
    highest: int

    @property
    def signed(self) -> bool:
        return self.lowest < 0


def qtype(dt: int) -> QType:
    """The QType of a DataType attr (qint8, quint8, qint16, quint16, qint32 or a plain integer)."""
    d = np_dtype(dt)
    info = np.iinfo(d)
    return QType(d, info.bits, int(info.min), int(info.max))


def round_away(x: np.ndarray) -> np.ndarray:
    """``std::round``: halves away from zero (exact: the fraction is split off first)."""
    x = np.asarray(x)
    t = np.trunc(x)
    frac = x - t
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0).astype(x.dtype)


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Eigen's ``scalar_round_up_op``: floor(x + 0.5) in the input's own precision."""
    x = np.asarray(x)
    return np.floor(x + x.dtype.type(0.5))


def scalar(node, value, what: str) -> float:
    """A float32 range input that must hold one value (TF reads its first element)."""
    a = np.asarray(value)
    if a.size != 1:
        raise bad(node, f"{what} must have 1 element, got shape {list(a.shape)}")
    return float(F32(a.reshape(-1)[0]))


def _range(rmin: float, rmax: float, bits: int) -> float:
    """``(range_max - range_min) * range_adjust`` in float64, the subtraction in float32."""
    steps = float(1 << bits)
    return float(F32(rmax) - F32(rmin)) * (steps / (steps - 1.0))


def to_float(q: np.ndarray, rmin: float, rmax: float, t: QType) -> np.ndarray:
    """QuantizedToFloat: quantized values as float32 (float64 steps, as TF computes them)."""
    if rmin == rmax:
        return np.full(np.shape(q), rmin, F32)
    scale = _range(rmin, rmax, t.bits) / float(1 << t.bits)
    scale32 = F32(scale)
    rmin_rounded = float(F32(round_away(F32(rmin) / scale32)) * scale32)
    offset = np.asarray(q).astype(F64) - t.lowest
    return (rmin_rounded + offset * scale).astype(F32)


def to_quantized_unclamped(x: np.ndarray, rmin: float, rmax: float, t: QType) -> np.ndarray:
    """FloatToQuantizedUnclamped: float32 values in the quantized scale, as int64, unclamped."""
    if rmin == rmax:
        return np.full(np.shape(x), t.lowest, np.int64)
    scale = float(1 << t.bits) / _range(rmin, rmax, t.bits)
    q = round_away(np.asarray(x, F32).astype(F64) * scale) - round_away(F64(F32(rmin)) * scale)
    return q.astype(np.int64) + t.lowest


def to_quantized(x: np.ndarray, rmin: float, rmax: float, t: QType) -> np.ndarray:
    """FloatToQuantized: float32 values quantized and saturated to ``t``."""
    q = to_quantized_unclamped(x, rmin, rmax, t)
    return np.clip(q, t.lowest, t.highest).astype(t.dtype)


def requantize(q: np.ndarray, in_min: float, in_max: float, t_in: QType,
               out_min: float, out_max: float, t_out: QType) -> np.ndarray:
    """RequantizeInNewRange, element by element (through float32)."""
    return to_quantized(to_float(q, in_min, in_max, t_in), out_min, out_max, t_out)


def dequantize_eigen(q: np.ndarray, rmin: float, rmax: float, t: QType) -> np.ndarray:
    """DEQUANTIZE_WITH_EIGEN: the vectorised dequantization, all in float32."""
    steps = float(1 << t.bits)
    scale = F32(float(F32(rmax) - F32(rmin)) / (steps - 1.0))
    rounded = F32(rmin) if rmax == rmin else F32(round_away(F32(rmin) / scale) * scale)
    base = F32(rounded - F32(t.lowest) * scale)
    return base + np.asarray(q).astype(F32) * scale


def quantize_eigen(x: np.ndarray, rmin: float, rmax: float, t: QType) -> np.ndarray:
    """QUANTIZE_WITH_EIGEN: the vectorised quantization, all in float32, saturating."""
    steps = float(1 << t.bits)
    scale = F32(0.0) if rmax == rmin else F32((steps - 1.0) / float(F32(rmax) - F32(rmin)))
    min_scaled = F32(round_away(F32(rmin) * scale))
    lower = max(F32(t.lowest), F32(-2.147483648e9))
    upper = min(F32(t.highest), F32(2.147483520e9))
    with np.errstate(invalid="ignore", over="ignore"):
        v = round_away(np.asarray(x, F32) * scale) - F32(min_scaled - F32(t.lowest))
        v = np.clip(v, lower, upper)
        return np.nan_to_num(v, nan=0.0).astype(np.int64).astype(t.dtype)


def requantize_eigen(q: np.ndarray, in_min: float, in_max: float, t_in: QType,
                     out_min: float, out_max: float, t_out: QType) -> np.ndarray:
    """RequantizeManyInNewRangeUsingEigen, with TF's fixed-point path for qint32 -> quint8."""
    if t_in.bits == 32 and t_in.signed and t_out.bits == 8 and not t_out.signed:
        return _requantize_32_to_u8(np.asarray(q), in_min, in_max, out_min, out_max)
    return quantize_eigen(dequantize_eigen(q, in_min, in_max, t_in), out_min, out_max, t_out)


def _requantize_32_to_u8(q: np.ndarray, in_min: float, in_max: float, out_min: float,
                         out_max: float) -> np.ndarray:
    """The 16-bit fixed-point qint32 -> quint8 requantization of quantization_utils.h."""
    shift = 16
    in_range = F32(F32(in_max) - F32(in_min))
    out_range = F32(F32(out_max) - F32(out_min))
    recip = F32(0.0) if out_range == 0 else F32(255.0 / float(out_range))
    rezero = F32((float(F32(F32(in_min) + F32(in_max)))) / 2.0)
    scale_fp = 0 if out_range == 0 else int(255.0 * (1 << shift) * float(in_range) / float(out_range))
    in_offset_fp = int(F32(F32(rezero * recip) * F32(1 << shift)))
    out_offset_fp = 0 if out_range == 0 else \
        int((1 << shift) * (float(F32(out_min)) * 255.0) / float(out_range))
    with np.errstate(over="ignore"):
        fp = ((q.astype(np.int64) * np.int64(scale_fp)) >> 32) + \
            np.int64(in_offset_fp - out_offset_fp + (1 << (shift - 1)))
    return np.clip(fp >> shift, 0, 255).astype(np.uint8)


def multiplication_range(min_a: float, max_a: float, t_a: QType, min_b: float, max_b: float,
                         t_b: QType, t_c: QType) -> tuple[float, float]:
    """QuantizationRangeForMultiplication: the float range of a product's quantized values."""
    step_a = F32(F32(F32(max_a) - F32(min_a)) / F32(t_a.highest - t_a.lowest))
    step_b = F32(F32(F32(max_b) - F32(min_b)) / F32(t_b.highest - t_b.lowest))
    step_c = F32(step_a * step_b)
    return float(F32(step_c * F32(t_c.lowest))), float(F32(step_c * F32(t_c.highest)))
