"""Quantized ops: fake quantization in float, and TensorFlow's quantized types in exact integer/float steps.

FakeQuant* and QuantizeAndDequantize* stay in float: the same clip, scale, round and
rescale steps as the numpy kernels (graph/ops/quantize.py; tensorflow/tensorflow
tensorflow/core/kernels/fake_quant_ops_functor.h, quantize_and_dequantize_op.h), each an
ONNX op on the same type, so the results are TensorFlow's bit for bit. ONNX Round rounds
halves to even (TF's HALF_TO_EVEN); HALF_UP is Floor(x + 0.5) as Eigen computes it.

TF's quantized types (qint8, quint8, qint16, quint16, qint32) are plain integer tensors here
(int8, uint8, int16, uint16, int32) with their float ranges as separate float32 tensors;
QuantizeV2, Dequantize, Requantize, the eight-bit reference kernels, oneDNN's int8 fusions and
the Uniform* scale / zero-point ops are emitted as the kernels' own sequences of float32,
float64 and integer operations (see the section below). ONNX QuantizeLinear / DequantizeLinear
are not used: they round halves to even and saturate differently from these kernels.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from savedmodel_io.graph.ops._quant import F32, QType, qtype
from savedmodel_io.graph.ops.quantize import fake_quant_nudge
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx._types import onnx_type
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_dtype, attr_text, bounded, cast, const_ints, need_rank, norm_axis, reduce

inexpressible("its float32 means and variances are sums in Eigen's reduction order, which ONNX's reductions "
              "do not promise to follow: the quantized result moves by a step where the sums round apart",
              "QuantizedInstanceNorm")


# -- FakeQuant ------------------------------------------------------------------------------------

def _fake_bounds(node) -> tuple[int, int]:
    bits = int(node.attr.get("num_bits", 8))
    if not 2 <= bits <= 16:
        raise ExportError("num_bits must be between 2 and 16")
    return (1 if node.attr.get("narrow_range") else 0), (1 << bits) - 1


def _fake_quant(g: Graph, x: Val, lo: np.ndarray, hi: np.ndarray, q_min: int, q_max: int) -> Val:
    """The nudged quantize-dequantize of float32 ``x`` with constant ranges (scalars or per channel)."""
    if x.dtype != np.float32:
        raise ExportError("FakeQuant takes float32")
    params = [fake_quant_nudge(float(a), float(b), q_min, q_max) if not (a == 0 and b == 0) else (F32(0),) * 5
              for a, b in zip(lo.reshape(-1), hi.reshape(-1))]
    n_min, n_max, scale, inv, q_zero = (g.const(np.asarray([p[k] for p in params], F32).reshape(lo.shape))
                                        for k in range(5))
    shifted = g.op1("Sub", g.op1("Min", g.op1("Max", x, n_min), n_max), n_min)
    y = g.op1("Add", g.op1("Sub", g.op1("Mul", shifted, inv), q_zero), g.const(F32(0.5)))
    out = g.op1("Mul", g.op1("Floor", y), scale)
    zero = (lo == 0) & (hi == 0)  # TF gives zeros for a range of [0, 0]
    if zero.any():
        out = g.op1("Where", g.const(zero), g.const(F32(0)), out)
    return out


@converter("FakeQuantWithMinMaxArgs", onnx="Max, Min, Sub, Mul, Add, Floor (nudged range)")
def fake_quant_args(cx, node, ins):
    lo, hi = F32(node.attr.get("min", -6.0)), F32(node.attr.get("max", 6.0))
    if not lo < hi:
        raise ExportError("min has to be smaller than max")
    return _fake_quant(cx.g, ins[0], np.asarray(lo), np.asarray(hi), *_fake_bounds(node))


@converter("FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
           onnx="Max, Min, Sub, Mul, Add, Floor (nudged range)")
def fake_quant_vars(cx, node, ins):
    x, lo, hi = ins
    if not (lo.is_const and hi.is_const):
        raise ExportError("min and max must be constants (the nudged range is computed while exporting)")
    per_channel = node.op.endswith("PerChannel")
    lo_a, hi_a = np.asarray(lo.const, F32), np.asarray(hi.const, F32)
    if (lo_a.ndim != 1) if per_channel else (lo_a.ndim or hi_a.ndim):
        raise ExportError("min and max have the wrong rank")
    return _fake_quant(cx.g, x, lo_a, hi_a, *_fake_bounds(node))


# -- QuantizeAndDequantize --------------------------------------------------------------------------

def _qdq(g: Graph, node, x: Val, lo: Val | None, hi: Val | None, bits: int, rounding: str) -> Val:
    """QuantizeAndDequantizeV2-V4 in ``x``'s float type; ``lo``/``hi`` None: the data's own range."""
    if x.dtype.kind != "f":
        raise ExportError("QuantizeAndDequantize takes floats")
    signed = bool(node.attr.get("signed_input", True))
    if not 0 < bits < (62 if signed else 63):
        raise ExportError(f"num_bits {bits} is out of range")
    narrow = bool(node.attr.get("narrow_range", False))
    r = need_rank(x)
    axis = int(node.attr.get("axis", -1))
    if axis < -1 or (axis != -1 and axis >= r):
        raise ExportError(f"axis {axis} is out of range")
    ft = x.dtype.type
    # The ranges as [1, .., n, .., 1] on the quantization axis (scalars when axis is -1).
    per = None if axis == -1 else norm_axis(axis, r)
    shape = None if per is None else [1 if d != per else -1 for d in range(r)]
    others = None if per is None else [d for d in range(r) if d != per]
    if lo is None:
        lo = reduce(g, "ReduceMin", x, others, True) if per is not None else reduce(g, "ReduceMin", x, None, False)
        hi = reduce(g, "ReduceMax", x, others, True) if per is not None else reduce(g, "ReduceMax", x, None, False)
        given = False
    else:
        if shape is not None:
            lo = g.op1("Reshape", lo, g.const(np.asarray(shape, np.int64)))
            hi = g.op1("Reshape", hi, g.const(np.asarray(shape, np.int64)))
        given = True
    q_min = (-(1 << (bits - 1)) + (1 if narrow else 0)) if signed else 0
    q_max = ((1 << (bits - 1)) - 1) if signed else (1 << bits) - 1
    qmin_c, qmax_c, zero = g.const(ft(q_min)), g.const(ft(q_max)), g.const(ft(0))
    big = g.const(np.asarray(np.finfo(x.dtype).max, x.dtype))
    # ComputeQuantizationRange: the scale the tighter end allows; the other end follows from it.
    from_min = g.op1("Where", g.op1("Greater", g.op1("Mul", qmin_c, lo), zero), g.op1("Div", qmin_c, lo), big)
    from_max = g.op1("Where", g.op1("Greater", g.op1("Mul", qmax_c, hi), zero), g.op1("Div", qmax_c, hi), big)
    use_min = g.op1("Less", from_min, from_max)
    inv = g.op1("Where", use_min, g.op1("Div", lo, qmin_c), g.op1("Div", hi, qmax_c))
    scale = g.op1("Where", use_min, from_min, from_max)
    v = x
    if given:
        lo2 = g.op1("Where", use_min, lo, g.op1("Mul", qmin_c, inv))
        hi2 = g.op1("Where", use_min, g.op1("Mul", qmax_c, inv), hi)
        v = g.op1("Min", g.op1("Max", v, lo2), hi2)
    v = g.op1("Mul", v, scale)
    v = g.op1("Round", v) if rounding == "HALF_TO_EVEN" else g.op1("Floor", g.op1("Add", v, g.const(ft(0.5))))
    return g.op1("Mul", v, inv)


@converter("QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4",
           onnx="ReduceMin/Max, Div, Where, Max, Min, Mul, Round or Floor")
def quantize_and_dequantize(cx, node, ins):
    if node.op == "QuantizeAndDequantizeV3":
        bits, rounding = const_ints(ins[3], "num_bits")[0], "HALF_TO_EVEN"
    else:
        bits, rounding = int(node.attr.get("num_bits", 8)), attr_text(node, "round_mode", "HALF_TO_EVEN")
    x, lo, hi = ins[:3]
    given = bool(node.attr.get("range_given"))
    if given and (lo.rank or hi.rank) and node.op != "QuantizeAndDequantizeV3":
        raise ExportError("input_min and input_max must be scalars")
    return _qdq(cx.g, node, x, lo if given else None, hi if given else None, bits, rounding)


@converter("QuantizeAndDequantize", onnx="ReduceMin/Max, Div, Where, Max, Min, Mul, Round")
def quantize_and_dequantize_v1(cx, node, ins):
    g, x = cx.g, ins[0]
    given = bool(node.attr.get("range_given"))
    lo = g.const(np.asarray(node.attr.get("input_min", 0.0), x.dtype)) if given else None
    hi = g.const(np.asarray(node.attr.get("input_max", 0.0), x.dtype)) if given else None
    return _qdq(g, node, x, lo, hi, int(node.attr.get("num_bits", 8)), "HALF_TO_EVEN")


# -- TensorFlow's quantized types ------------------------------------------------------------------
#
# A qint8 / quint8 / qint16 / quint16 / qint32 tensor is an int8 / uint8 / int16 / uint16 / int32
# tensor (savedmodel_io.dtypes.to_numpy); its float range is a pair of separate float32 tensors.
# Every kernel is a fixed sequence of float32, float64 and integer operations on those
# (graph/ops/_quant.py, quantize.py, quantized_nn.py, quantized_onednn.py, after tensorflow/tensorflow
# tensorflow/core/kernels/quantization_utils.h and the kernels named there). The converters below
# emit the same operations in the same types and order, so the results are TensorFlow's bit for bit:
# ``std::round`` (halves away from zero) is built from Floor (see ``_Q.round_away``), rounding to
# even is ONNX Round, C's truncating float->int conversions are ONNX Cast, and the fixed-point
# shifts are int64 floor divisions. The range arithmetic runs through ``_Q``, which computes it
# with numpy when the ranges are constants (the same IEEE operations, folded at export) and
# as ONNX nodes when they are computed at run time.

F64 = np.float64
I64 = np.int64

_NP = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum, "Min": np.minimum,
    "Abs": np.abs, "Floor": np.floor, "Round": np.rint, "Less": np.less, "Greater": np.greater,
    "Equal": np.equal, "GreaterOrEqual": np.greater_equal, "LessOrEqual": np.less_equal, "IsNaN": np.isnan, "Where": np.where,
    "Mod": np.mod, "And": np.logical_and, "Sqrt": np.sqrt,
}


class _Q:
    """Element-wise arithmetic on Vals: numpy when every input is a constant, else ONNX nodes."""

    def __init__(self, g: Graph) -> None:
        self.g = g

    def c(self, value, dtype) -> Val:
        return self.g.const(np.asarray(value, dtype))

    def op(self, name: str, *vals: Val, **attrs) -> Val:
        if all(v.is_const for v in vals):
            a = [np.asarray(v.const) for v in vals]
            with np.errstate(all="ignore"):
                if name == "Cast":
                    out = a[0].astype(attrs["to"])
                elif name == "Div":
                    # ONNX Div: IEEE division of floats, C's truncating division of integers.
                    out = np.divide(*a) if a[0].dtype.kind == "f" else (a[0] - np.fmod(a[0], a[1])) // a[1]
                else:
                    out = _NP[name](*a)
            return self.g.const(np.asarray(out))
        if name == "Cast":
            return self.g.op1("Cast", vals[0], to=onnx_type(attrs["to"]))
        return self.g.op1(name, *vals, **attrs)

    def cast(self, v: Val, dtype) -> Val:
        dt = np.dtype(dtype)
        return v if v.dtype == dt else self.op("Cast", v, to=dt)

    def f32(self, value) -> Val:
        return self.c(value, F32)

    def f64(self, value) -> Val:
        return self.c(value, F64)

    def pymax(self, a: Val, b: Val) -> Val:
        """C++'s ``std::max(a, b)`` (Python's ``max``): ``a`` unless ``b > a`` (signed zeros and NaN
        as the kernels leave them; ONNX Max may pick either zero)."""
        return self.op("Where", self.op("Greater", b, a), b, a)

    def pymin(self, a: Val, b: Val) -> Val:
        """``std::min(a, b)``: ``a`` unless ``b < a``."""
        return self.op("Where", self.op("Less", b, a), b, a)

    def clip(self, v: Val, lo: Val, hi: Val) -> Val:
        """``np.clip``: ``min(max(v, lo), hi)``."""
        return self.op("Min", self.op("Max", v, lo), hi)

    def round_away(self, v: Val) -> Val:
        """``std::round`` (halves away from zero), exactly: the fraction split off by Floor.
        A negative value rounding to zero gives +0, as graph/ops/_quant.round_away does."""
        dt = v.dtype
        a = self.op("Abs", v)
        f = self.op("Floor", a)
        up = self.op("GreaterOrEqual", self.op("Sub", a, f), self.c(0.5, dt))
        r = self.op("Where", up, self.op("Add", f, self.c(1, dt)), f)
        return self.op("Where", self.op("Less", v, self.c(0, dt)), self.op("Sub", self.c(0, dt), r), r)

    def floor_div(self, v: Val, d: int) -> Val:
        """int64 ``v >> log2(d)`` (floor division by the power of two ``d``)."""
        dv = self.c(d, I64)
        return self.op("Div", self.op("Sub", v, self.op("Mod", v, dv)), dv)

    def int_of(self, v: Val, dtype) -> Val:
        """C's conversion of float ``v`` to int64 and then (wrapping) to ``dtype``."""
        return self.cast(self.cast(v, I64), dtype)


def _qt(node, attr: str) -> QType:
    t = qtype(node.attr[attr])
    if t.bits > 32:
        raise ExportError(f"{attr} must be a quantized type")
    return t


def _one(g: Graph, v: Val, what: str) -> Val:
    """A float32 range input holding one value (TensorFlow reads its first element), as a scalar."""
    if v.is_const:
        a = np.asarray(v.const)
        if a.size != 1:
            raise ExportError(f"{what} must have 1 element, got shape {list(a.shape)}")
        return g.const(np.asarray(a.reshape(-1)[0], F32))
    if v.shape is not None and any(isinstance(d, int) and d != 1 for d in v.shape):
        raise ExportError(f"{what} must have 1 element, got shape {list(v.shape)}")
    return g.op1("Reshape", cast(g, v, F32), g.const(np.zeros(0, np.int64)))


def _range64(q: _Q, lo: Val, hi: Val, bits: int) -> Val:
    """``(max - min) * range_adjust`` in float64, the subtraction in float32."""
    steps = float(1 << bits)
    span = q.cast(q.op("Sub", hi, lo), F64)
    adjust = steps / (steps - 1.0)
    if F32(adjust) == 1:
        # 32 bits: the factor is 1 + 2^-32, which onnxruntime's optimiser takes for 1 (it compares
        # in float32) and drops. x + x * 2^-32 is the same exact product, rounded once.
        assert adjust == 1 + 2.0 ** -32
        return q.op("Add", span, q.op("Mul", span, q.f64(2.0 ** -32)))
    return q.op("Mul", span, q.f64(adjust))


def _to_float(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> Val:
    """QuantizedToFloat (graph/ops/_quant.to_float)."""
    scale = q.op("Div", _range64(q, lo, hi, t.bits), q.f64(float(1 << t.bits)))
    s32 = q.cast(scale, F32)
    rounded = q.cast(q.op("Mul", q.round_away(q.op("Div", lo, s32)), s32), F64)
    offset = q.op("Sub", q.cast(x, F64), q.f64(t.lowest))
    out = q.cast(q.op("Add", rounded, q.op("Mul", offset, scale)), F32)
    return q.op("Where", q.op("Equal", lo, hi), lo, out)


def _to_quantized_unclamped(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> Val:
    """FloatToQuantizedUnclamped as int64 (graph/ops/_quant.to_quantized_unclamped)."""
    scale = q.op("Div", q.f64(float(1 << t.bits)), _range64(q, lo, hi, t.bits))
    v = q.op("Sub", q.round_away(q.op("Mul", q.cast(x, F64), scale)),
             q.round_away(q.op("Mul", q.cast(lo, F64), scale)))
    v = q.op("Add", q.cast(v, I64), q.c(t.lowest, I64))
    return q.op("Where", q.op("Equal", lo, hi), q.c(t.lowest, I64), v)


def _to_quantized(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> Val:
    """FloatToQuantized: saturated to ``t``, in int64."""
    return q.clip(_to_quantized_unclamped(q, x, lo, hi, t), q.c(t.lowest, I64), q.c(t.highest, I64))


def _quantize_eigen(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> Val:
    """QUANTIZE_WITH_EIGEN (graph/ops/_quant.quantize_eigen): float32, saturating, NaN to 0."""
    steps = float(1 << t.bits)
    span = q.cast(q.op("Sub", hi, lo), F64)
    scale = q.op("Where", q.op("Equal", hi, lo), q.f32(0.0), q.cast(q.op("Div", q.f64(steps - 1.0), span), F32))
    shift = q.op("Sub", q.round_away(q.op("Mul", lo, scale)), q.f32(t.lowest))
    v = q.op("Sub", q.round_away(q.op("Mul", cast(q.g, x, F32), scale)), shift)
    lower = max(F32(t.lowest), F32(-2.147483648e9))
    upper = min(F32(t.highest), F32(2.147483520e9))
    clipped = q.clip(v, q.f32(lower), q.f32(upper))
    return q.cast(q.op("Where", q.op("IsNaN", v), q.f32(0.0), clipped), t.dtype)


def _dequantize_eigen(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> Val:
    """DEQUANTIZE_WITH_EIGEN (graph/ops/_quant.dequantize_eigen): all in float32."""
    steps = float(1 << t.bits)
    scale = q.cast(q.op("Div", q.cast(q.op("Sub", hi, lo), F64), q.f64(steps - 1.0)), F32)
    rounded = q.op("Where", q.op("Equal", hi, lo), lo, q.op("Mul", q.round_away(q.op("Div", lo, scale)), scale))
    base = q.op("Sub", rounded, q.op("Mul", q.f32(t.lowest), scale))
    return q.op("Add", base, q.op("Mul", q.cast(x, F32), scale))


def _requantize_32_to_u8(q: _Q, x: Val, in_lo: Val, in_hi: Val, out_lo: Val, out_hi: Val) -> Val:
    """The 16-bit fixed-point qint32 -> quint8 path of RequantizeManyInNewRangeUsingEigen
    (graph/ops/_quant._requantize_32_to_u8): int64 products, arithmetic shifts as floor divisions."""
    in_range = q.op("Sub", in_hi, in_lo)
    out_range = q.op("Sub", out_hi, out_lo)
    out_range64 = q.cast(out_range, F64)
    none = q.op("Equal", out_range, q.f32(0.0))
    recip = q.op("Where", none, q.f32(0.0), q.cast(q.op("Div", q.f64(255.0), out_range64), F32))
    rezero = q.cast(q.op("Div", q.cast(q.op("Add", in_lo, in_hi), F64), q.f64(2.0)), F32)
    zero = q.c(0, I64)
    scale_fp = q.op("Where", none, zero, q.cast(q.op("Div", q.op("Mul", q.f64(255.0 * 65536), q.cast(in_range, F64)),
                                                       out_range64), I64))
    in_off = q.cast(q.op("Mul", q.op("Mul", rezero, recip), q.f32(65536.0)), I64)
    out_off = q.op("Where", none, zero, q.cast(q.op("Div", q.op("Mul", q.f64(65536.0), q.op(
        "Mul", q.cast(out_lo, F64), q.f64(255.0))), out_range64), I64))
    offset = q.op("Add", q.op("Sub", in_off, out_off), q.c(1 << 15, I64))
    fp = q.op("Add", q.floor_div(q.op("Mul", q.cast(x, I64), scale_fp), 1 << 32), offset)
    return q.cast(q.clip(q.floor_div(fp, 1 << 16), zero, q.c(255, I64)), np.uint8)


def _requantize(q: _Q, x: Val, in_lo: Val, in_hi: Val, t_in: QType, out_lo: Val, out_hi: Val, t_out: QType) -> Val:
    """RequantizeManyInNewRangeUsingEigen (graph/ops/_quant.requantize_eigen)."""
    if t_in.bits == 32 and t_in.signed and t_out.bits == 8 and not t_out.signed:
        return _requantize_32_to_u8(q, x, in_lo, in_hi, out_lo, out_hi)
    return _quantize_eigen(q, _dequantize_eigen(q, x, in_lo, in_hi, t_in), out_lo, out_hi, t_out)


def _known(v: Val):
    """A constant's value as a numpy array (None when computed at run time)."""
    return np.asarray(v.const) if v.is_const else None


# -- QuantizeV2 / Dequantize ------------------------------------------------------------------------

def _axis_ranges(g: Graph, node, x: Val, lo: Val, hi: Val) -> tuple[Val, Val, int | None]:
    """The ranges of ``x`` as scalars (axis -1) or as [1, .., n, .., 1] (one per slice), and the axis."""
    axis = int(node.attr.get("axis", -1))
    if axis < 0:
        return _one(g, lo, "min_range"), _one(g, hi, "max_range"), None
    r = need_rank(x)
    if axis >= r:
        raise ExportError(f"Axis must be less than input dimension({r}), got {axis}")
    n = x.shape[axis]
    for what, v in (("min_range", lo), ("max_range", hi)):
        size = None if v.shape is None or any(not isinstance(d, int) for d in v.shape) else int(np.prod(v.shape))
        if isinstance(n, int) and size is not None and size != n:
            raise ExportError(f"{what} must have as many elements as input on the quantization axis "
                              f"({axis}), got {size}, expected {n}")
    shape = g.const(np.asarray([-1 if d == axis else 1 for d in range(r)], np.int64))
    return (g.op1("Reshape", cast(g, lo, F32), shape), g.op1("Reshape", cast(g, hi, F32), shape), axis)


def _mode(node, what: str) -> str:
    mode = attr_text(node, "mode", "MIN_COMBINED")
    if mode not in ("MIN_COMBINED", "MIN_FIRST", "SCALED"):
        raise ExportError(f"Mode string must be 'MIN_COMBINED', 'MIN_FIRST', or 'SCALED', is '{mode}'")
    if mode == "MIN_FIRST" and int(node.attr.get("axis", -1)) >= 0:
        raise ExportError(f"MIN_FIRST mode is not implemented for {what} with axis != -1.")
    return mode


@converter("QuantizeV2", onnx="float32/float64 Mul, Div, Floor or Round, Max/Min, Cast (TF's rounding)")
def quantize_v2(cx, node, ins):
    g = cx.g
    q = _Q(g)
    t = _qt(node, "T")
    mode = _mode(node, "Quantize")
    rounding = attr_text(node, "round_mode", "HALF_AWAY_FROM_ZERO")
    if rounding not in ("HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN"):
        raise ExportError(f"Round mode string must be 'HALF_AWAY_FROM_ZERO' or 'HALF_TO_EVEN', is '{rounding}'")
    if rounding == "HALF_TO_EVEN" and mode != "SCALED":
        raise ExportError(f"Round mode 'HALF_TO_EVEN' only supported for mode 'SCALED', but mode is '{mode}'.")
    x = ins[0]
    if x.dtype != np.float32:
        raise ExportError("QuantizeV2 takes float32")
    lo, hi, axis = _axis_ranges(g, node, x, ins[1], ins[2])
    klo, khi = _known(lo), _known(hi)
    if klo is not None and khi is not None and (khi < klo).any():
        raise ExportError("input_max_range must be larger than input_min_range.")
    # QuantizeSlice's range: zero inside, at least ensure_minimum_range times its magnitude wide.
    ensure = F32(node.attr.get("ensure_minimum_range", 0.01))
    rmin = q.pymin(q.f32(0.0), lo)
    eps = q.op("Mul", q.pymax(q.f32(1.0), q.pymax(q.op("Abs", lo), q.op("Abs", hi))), q.f32(ensure))
    rmax = q.pymax(q.f32(0.0), q.pymax(hi, q.op("Add", rmin, eps)))
    if mode == "MIN_FIRST":
        out = _quantize_eigen(q, x, rmin, rmax, t)
    elif mode == "MIN_COMBINED":
        factor = q.cast(q.op("Div", q.f64(float(t.highest) - float(t.lowest)),
                             q.cast(q.op("Sub", rmax, rmin), F64)), F32)
        shifted = q.op("Mul", q.op("Sub", q.clip(x, rmin, rmax), rmin), factor)
        if t.signed:
            half = F32((float(t.highest) - float(t.lowest) + 1) / 2.0)
            out = q.int_of(q.round_away(q.op("Sub", shifted, q.f32(half))), t.dtype)
        else:
            out = q.int_of(q.op("Add", shifted, q.f32(0.5)), t.dtype)
    else:
        # SCALED: symmetric about zero, the wider side filling the type.
        low_q = t.lowest + (1 if node.attr.get("narrow_range") else 0)
        big = q.f32(np.finfo(F32).max)
        zero = q.f32(0.0)
        from_min = q.op("Where", q.op("Greater", q.op("Mul", q.f32(low_q), rmin), zero),
                        q.op("Div", q.f32(low_q), rmin), big)
        from_max = q.op("Where", q.op("Greater", q.op("Mul", q.f32(t.highest), rmax), zero),
                        q.op("Div", q.f32(t.highest), rmax), big)
        factor = q.pymin(from_min, from_max)
        rmin = q.op("Div", q.f32(low_q), factor)
        rmax = q.op("Div", q.f32(t.highest), factor)
        v = q.op("Mul", q.clip(x, rmin, rmax), factor)
        v = q.op("Round", v) if rounding == "HALF_TO_EVEN" else q.round_away(v)
        out = q.int_of(v, t.dtype)
    if axis is None:
        return [out, rmin, rmax]
    return [out] + [g.op1("Reshape", r, g.const(np.asarray([-1], np.int64))) for r in (rmin, rmax)]


@converter("Dequantize", onnx="Cast, float32/float64 Mul, Add, Div, Floor (TF's scale and rounding)")
def dequantize(cx, node, ins):
    g = cx.g
    q = _Q(g)
    t = _qt(node, "T")
    mode = _mode(node, "Dequantize")
    out_dtype = attr_dtype(node, "dtype", 1)
    if out_dtype != np.float32 and mode != "MIN_COMBINED":
        raise ExportError(f"When output type is bfloat16, Mode string must be 'MIN_COMBINED', is '{mode}'")
    x = ins[0]
    lo, hi, _ = _axis_ranges(g, node, x, ins[1], ins[2])
    if mode == "MIN_FIRST":
        out = _dequantize_eigen(q, x, lo, hi, t)
    elif mode == "MIN_COMBINED":
        half = F32(0.0) if not t.signed else F32((F32(t.highest) - F32(t.lowest) + F32(1)) / F32(2))
        factor = q.op("Div", q.op("Sub", hi, lo), q.f32(F32(t.highest) - F32(t.lowest)))
        out = q.op("Add", q.op("Mul", q.op("Add", q.cast(x, F32), q.f32(half)), factor), lo)
    else:
        low_q = t.lowest + (1 if node.attr.get("narrow_range") else 0)
        if t.lowest == 0:
            factor = q.op("Div", hi, q.f32(t.highest))
        else:
            factor = q.pymax(q.op("Div", lo, q.f32(low_q)), q.op("Div", hi, q.f32(t.highest)))
        out = q.op("Mul", q.cast(x, F32), factor)
    return cast(g, out, out_dtype)


# -- Requantize and ranges ----------------------------------------------------------------------------

def _used_range(q: _Q, x: Val, lo: Val, hi: Val, t: QType) -> tuple[Val, Val]:
    """CalculateUsedRange: the float range the values of ``x`` span, zero included."""
    g = q.g
    xi = cast(g, x, np.int64 if t.bits == 32 else np.int32)
    used_min = _to_float(q, reduce(g, "ReduceMin", xi, None, False), lo, hi, t)
    used_max = _to_float(q, reduce(g, "ReduceMax", xi, None, False), lo, hi, t)
    return q.pymin(q.f32(0.0), used_min), q.pymax(q.f32(0.0), used_max)


@converter("RequantizationRange", onnx="ReduceMin/Max, float64 Mul/Add, Floor, Cast")
def requantization_range(cx, node, ins):
    q = _Q(cx.g)
    lo, hi = _one(cx.g, ins[1], "input_min"), _one(cx.g, ins[2], "input_max")
    return list(_used_range(q, ins[0], lo, hi, _qt(node, "Tinput")))


def _requested(g: Graph, ins: list[Val]) -> tuple[Val, Val]:
    out_lo, out_hi = _one(g, ins[3], "requested_output_min"), _one(g, ins[4], "requested_output_max")
    klo, khi = _known(out_lo), _known(out_hi)
    if klo is not None and klo > 0:
        raise ExportError(f"requested_output_min must be <= 0, but got {float(klo)}")
    if klo is not None and khi is not None and khi < klo:
        raise ExportError(f"requested_output_max must be >= requested_output_min, but got {float(khi)} and "
                          f"{float(klo)}")
    return out_lo, out_hi


@converter("Requantize", onnx="float32 Mul/Sub/Floor/Cast, or int64 fixed point (qint32 -> quint8)")
def requantize(cx, node, ins):
    g = cx.g
    q = _Q(g)
    lo, hi = _one(g, ins[1], "input_min"), _one(g, ins[2], "input_max")
    out_lo, out_hi = _requested(g, ins)
    out = _requantize(q, ins[0], lo, hi, _qt(node, "Tinput"), out_lo, out_hi, _qt(node, "out_type"))
    return [out, out_lo, out_hi]


@converter("QuantizeDownAndShrinkRange", onnx="ReduceMin/Max, then as Requantize")
def quantize_down_and_shrink_range(cx, node, ins):
    g = cx.g
    q = _Q(g)
    lo, hi = _one(g, ins[1], "input_min"), _one(g, ins[2], "input_max")
    t_in = _qt(node, "Tinput")
    used_lo, used_hi = _used_range(q, ins[0], lo, hi, t_in)
    out = _requantize(q, ins[0], lo, hi, t_in, used_lo, used_hi, _qt(node, "out_type"))
    return [out, used_lo, used_hi]


# -- eight-bit reference kernels (graph/ops/quantized_nn.py) ------------------------------------------

def _zero_point(q: _Q, lo: Val, hi: Val, t: QType) -> Val:
    """The quantized value of real zero (int64), as int32 truncates it."""
    return q.cast(q.cast(_to_quantized_unclamped(q, q.f32(0.0), lo, hi, t), np.int32), I64)


def _mult_range(q: _Q, lo_a: Val, hi_a: Val, ta: QType, lo_b: Val, hi_b: Val, tb: QType,
                tc: QType) -> tuple[Val, Val]:
    """QuantizationRangeForMultiplication (graph/ops/_quant.multiplication_range)."""
    step_a = q.op("Div", q.op("Sub", hi_a, lo_a), q.f32(ta.highest - ta.lowest))
    step_b = q.op("Div", q.op("Sub", hi_b, lo_b), q.f32(tb.highest - tb.lowest))
    step = q.op("Mul", step_a, step_b)
    return q.op("Mul", step, q.f32(tc.lowest)), q.op("Mul", step, q.f32(tc.highest))


def _fits(v: Val, dt: np.dtype) -> bool:
    """Whether ``v`` is a constant (scalar, or one per column) within ``dt``'s values."""
    if not v.is_const:
        return False
    info = np.iinfo(dt)
    a = np.asarray(v.const)
    return a.ndim <= 1 and bool(np.all((a >= info.min) & (a <= info.max)))


def _eight_bit(v: Val, what: str) -> None:
    if v.dtype not in (np.dtype(np.uint8), np.dtype(np.int8)):
        raise ExportError(f"{what} must be 8-bit (onnxruntime's integer matrix products take int8/uint8)")


@converter("QuantizedMatMul", onnx="MatMulInteger (zero points, or int64 row/column-sum corrections), Cast")
def quantized_matmul(cx, node, ins):
    g = cx.g
    q = _Q(g)
    a, b = g.plain(ins[0]), g.plain(ins[1])
    ta, tb, tc = _qt(node, "T1"), _qt(node, "T2"), _qt(node, "Toutput")
    if tc.bits != 32:
        raise ExportError("Toutput must be qint32")
    _eight_bit(a, "a")
    _eight_bit(b, "b")
    lo_a, hi_a = _one(g, ins[2], "min_a"), _one(g, ins[3], "max_a")
    lo_b, hi_b = _one(g, ins[4], "min_b"), _one(g, ins[5], "max_b")
    for i, m in enumerate((a, b)):
        if need_rank(m) != 2:
            raise ExportError(f"In[{i}] is not a matrix")
    if node.attr.get("transpose_a"):
        a = g.op1("Transpose", a, perm=[1, 0])
    if node.attr.get("transpose_b"):
        b = g.op1("Transpose", b, perm=[1, 0])
    ka, kb = a.shape[1], b.shape[0]
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise ExportError(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    za, zb = _zero_point(q, lo_a, hi_a, ta), _zero_point(q, lo_b, hi_b, tb)
    out = _int_product(g, q, a, b, za, zb, ka)
    lo, hi = _mult_range(q, lo_a, hi_a, ta, lo_b, hi_b, tb, tc)
    return [out, lo, hi]


def _int_product(g: Graph, q: _Q, a: Val, b: Val, za: Val, zb: Val, k) -> Val:
    """``(a - za) @ (b - zb)`` wrapped to int32. MatMulInteger takes zero points of the operands'
    own types; others (a range without zero inside, or one known at run time) are taken off by
    ``a @ b - zb * rowsum(a) - za * colsum(b) + k * za * zb`` in int64 (mod 2^32 throughout)."""
    if _fits(za, a.dtype) and _fits(zb, b.dtype):
        return g.op1("MatMulInteger", a, b, g.const(np.asarray(za.const, a.dtype)),
                     g.const(np.asarray(zb.const, b.dtype)))
    raw = cast(g, g.op1("MatMulInteger", a, b), I64)
    rows = reduce(g, "ReduceSum", cast(g, a, I64), [1], True)
    cols = reduce(g, "ReduceSum", cast(g, b, I64), [0], True)
    kk = g.const(np.asarray(k, I64)) if isinstance(k, int) else \
        g.op1("Reshape", g.op1("Shape", a, start=1, end=2), g.const(np.zeros(0, np.int64)))
    out = q.op("Sub", q.op("Sub", raw, q.op("Mul", zb, rows)), q.op("Mul", za, cols))
    out = q.op("Add", out, q.op("Mul", kk, q.op("Mul", za, zb)))
    return cast(g, out, np.int32)


def _conv_window(node, x: Val, w: Val, explicit: list[int] | None = None) -> dict:
    """ONNX Conv attrs for an NHWC TensorFlow convolution of ``x`` with HWIO ``w``."""
    from savedmodel_io.onnx.ops.nn import _pads

    strides = [int(s) for s in node.attr.get("strides") or [1, 1, 1, 1]]
    if len(strides) != 4 or strides[0] != 1 or strides[3] != 1:
        raise ExportError("Current implementation does not yet support strides in the batch and depth dimensions.")
    dil = [int(d) for d in node.attr.get("dilations") or [1, 1, 1, 1]]
    if len(dil) != 4 or dil[0] != 1 or dil[3] != 1:
        raise ExportError("Current implementation does not yet support dilations in the batch and depth "
                          "dimensions.")
    if w.shape is None or any(not isinstance(d, int) for d in w.shape):
        raise ExportError("the filter's shape is not known before running")
    kernel = [int(w.shape[0]), int(w.shape[1])]
    nchw = Val(None, x.dtype, None if x.shape is None else (x.shape[0], x.shape[3], x.shape[1], x.shape[2]))
    if explicit:
        if len(explicit) != 8:
            raise ExportError(f"padding_list must have 8 values, got {len(explicit)}")
        pads = {"pads": [explicit[2], explicit[4], explicit[3], explicit[5]]}
    else:
        padding = attr_text(node, "padding", "VALID")
        if padding not in ("SAME", "VALID"):
            raise ExportError(f"padding {padding!r} is not supported")
        pads = _pads(node, nchw, kernel, strides[1:3], dil[1:3], 4, True)
    return dict(strides=strides[1:3], dilations=dil[1:3], **pads)


def _int_conv(g: Graph, q: _Q, x: Val, w: Val, zx: Val, zw: Val, attrs: dict, group: int = 1) -> Val:
    """The int32-wrapped convolution of (NCHW ``x`` - zx) with (OIHW ``w`` - zw), the padding
    holding real zero. ConvInteger pads with ``x``'s zero point; zero points outside the types
    (or known at run time) are taken off with convolutions of ones: the products, less
    ``zw * sum(x)`` and ``zx * sum(w)`` over each window's cells inside the input, plus
    ``zx * zw * cells``, in int64."""
    if _fits(zx, x.dtype) and _fits(zw, w.dtype):
        return g.op1("ConvInteger", x, w, g.const(np.asarray(zx.const, x.dtype)),
                     g.const(np.asarray(zw.const, w.dtype)), group=group, **attrs)
    if group != 1:
        raise ExportError("a grouped integer convolution needs zero points known before running")
    if x.shape is None or any(not isinstance(d, int) for d in x.shape[1:]):
        raise ExportError("the input's channels and spatial size must be known before running")
    _, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ones_w = g.const(np.ones((1, c, kh, kw), x.dtype))
    ones_x = g.const(np.ones((1, c, h, wd), x.dtype))
    raw = cast(g, g.op1("ConvInteger", x, w, **attrs), I64)
    sx = cast(g, g.op1("ConvInteger", x, ones_w, **attrs), I64)
    sw = cast(g, g.op1("ConvInteger", ones_x, w, **attrs), I64)
    cells = cast(g, g.op1("ConvInteger", ones_x, ones_w, **attrs), I64)
    out = q.op("Sub", q.op("Sub", raw, q.op("Mul", zw, sx)), q.op("Mul", zx, sw))
    out = q.op("Add", out, q.op("Mul", cells, q.op("Mul", zx, zw)))
    return cast(g, out, np.int32)


def _to_nchw(g: Graph, x: Val) -> Val:
    return g.op1("Transpose", g.plain(x), perm=[0, 3, 1, 2])


def _to_nhwc(g: Graph, x: Val) -> Val:
    return g.op1("Transpose", x, perm=[0, 2, 3, 1])


@converter("QuantizedConv2D", onnx="ConvInteger (zero points, or corrections by convolutions of ones), Cast")
def quantized_conv2d(cx, node, ins):
    g = cx.g
    q = _Q(g)
    tx, tw = _qt(node, "Tinput"), _qt(node, "Tfilter")
    if tw.signed and tw.bits == 8:
        # qint8 filters: TensorFlow runs oneDNN's kernel (scales, no zero points).
        return quantized_conv_onednn(cx, node, ins)
    if any(int(d) != 1 for d in node.attr.get("dilations") or []):
        raise ExportError("Current implementation does not yet support dilations.")
    x, w = g.plain(ins[0]), g.plain(ins[1])
    _eight_bit(x, "input")
    _eight_bit(w, "filter")
    if need_rank(x) != 4 or need_rank(w) != 4:
        raise ExportError("input and filter must be rank 4")
    if isinstance(x.shape[3], int) and isinstance(w.shape[2], int) and x.shape[3] != w.shape[2]:
        raise ExportError(f"input and filter must have the same depth: {x.shape[3]} vs {w.shape[2]}")
    lo_x, hi_x = _one(g, ins[2], "min_input"), _one(g, ins[3], "max_input")
    lo_w, hi_w = _one(g, ins[4], "min_filter"), _one(g, ins[5], "max_filter")
    attrs = _conv_window(node, x, w)
    zx, zw = _zero_point(q, lo_x, hi_x, tx), _zero_point(q, lo_w, hi_w, tw)
    out = _int_conv(g, q, _to_nchw(g, x), g.op1("Transpose", w, perm=[3, 2, 0, 1]), zx, zw, attrs)
    lo, hi = _mult_range(q, lo_x, hi_x, tx, lo_w, hi_w, tw, _qt(node, "out_type"))
    return [_to_nhwc(g, out), lo, hi]


def _add_range(q: _Q, a_lo: Val, a_hi: Val, b_lo: Val, b_hi: Val) -> tuple[Val, Val]:
    """GetOutputMinAndMaxForQuantizedAdd: symmetric, 2^17 times the widest input range."""
    neg = q.op("Sub", q.f32(0.0), a_lo)
    top = q.pymax(a_hi, q.pymax(neg, q.pymax(b_hi, q.op("Sub", q.f32(0.0), b_lo))))
    hi = q.op("Mul", top, q.f32(1 << 17))
    return q.op("Sub", q.f32(0.0), hi), hi


@converter("QuantizedBiasAdd", onnx="float32 dequantize/quantize (as Eigen), int64 Add, Cast")
def quantized_bias_add(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, bias = g.plain(ins[0]), g.plain(ins[1])
    t_x, t_b, t_out = _qt(node, "T1"), _qt(node, "T2"), _qt(node, "out_type")
    if need_rank(x) < 2:
        raise ExportError(f"Input tensor must be at least 2D: {list(x.shape)}")
    if need_rank(bias) != 1:
        raise ExportError(f"Biases must be 1D: {list(bias.shape)}")
    if isinstance(bias.shape[0], int) and isinstance(x.shape[-1], int) and bias.shape[0] != x.shape[-1]:
        raise ExportError(f"Must provide as many biases as the last dimension of the input tensor: "
                          f"{list(bias.shape)} vs. {list(x.shape)}")
    lo_x, hi_x = _one(g, ins[2], "min_input"), _one(g, ins[3], "max_input")
    lo_b, hi_b = _one(g, ins[4], "min_bias"), _one(g, ins[5], "max_bias")
    lo, hi = _add_range(q, lo_x, hi_x, lo_b, hi_b)
    # QuantizedAddUsingEigen dequantizes the input as T2 and the bias as T1 (graph/ops/quantized_nn.py).
    xt = q.cast(_quantize_eigen(q, _dequantize_eigen(q, x, lo_x, hi_x, t_b), lo, hi, t_out), I64)
    bt = q.cast(_quantize_eigen(q, _dequantize_eigen(q, bias, lo_b, hi_b, t_x), lo, hi, t_out), I64)
    zero = _to_quantized(q, q.f32(0.0), lo, hi, t_out)
    out = q.op("Add", xt, q.op("Add", bt, zero))
    return [cast(g, cast(g, out, np.int32), t_out.dtype), lo, hi]


@converter("QuantizedRelu", "QuantizedRelu6", onnx="Max (Min), the quantized 0 (and 6), Cast")
def quantized_relu(cx, node, ins):
    g = cx.g
    q = _Q(g)
    t = _qt(node, "Tinput")
    lo, hi = _one(g, ins[1], "min_features"), _one(g, ins[2], "max_features")
    out = q.op("Max", cast(g, g.plain(ins[0]), I64), _to_quantized(q, q.f32(0.0), lo, hi, t))
    if node.op == "QuantizedRelu6":
        out = q.op("Min", out, _to_quantized(q, q.f32(6.0), lo, hi, t))
    return [cast(g, out, _qt(node, "out_type").dtype), lo, hi]


@converter("QuantizedReshape", onnx="Reshape")
def quantized_reshape(cx, node, ins):
    from savedmodel_io.onnx.ops.array import reshape

    lo, hi = _one(cx.g, ins[2], "input_min"), _one(cx.g, ins[3], "input_max")
    return [reshape(cx, node, ins[:2]), lo, hi]


@converter("QuantizedMaxPool", "QuantizedAvgPool",
           onnx="MaxPool; AvgPool: window sums and cell counts by Conv of ones, int64 Div (truncating)")
def quantized_pool(cx, node, ins):
    g = cx.g
    x = g.plain(ins[0])
    lo, hi = _one(g, ins[1], "min_input"), _one(g, ins[2], "max_input")
    k = [int(v) for v in node.attr.get("ksize") or []]
    s = [int(v) for v in node.attr.get("strides") or []]
    if need_rank(x) != 4:
        raise ExportError("tensor_in must be 4-dimensional")
    if len(k) != 4 or len(s) != 4:
        raise ExportError("Sliding window ksize and strides fields must specify 4 dimensions")
    if k[0] != 1 or s[0] != 1:
        raise ExportError("Pooling is not yet supported on the batch dimension.")
    _eight_bit(x, "input")
    if k[3] != 1 or s[3] != 1:
        return [_depth_max_pool(g, node, x, k, s), lo, hi]
    window = SimpleNamespace(attr={"padding": node.attr.get("padding"), "strides": s, "dilations": [1] * 4})
    attrs = _conv_window(window, x, Val(None, x.dtype, (k[1], k[2], 1, 1)))
    xc = _to_nchw(g, x)
    if node.op == "QuantizedMaxPool":
        # ONNX MaxPool's padding never wins, as TF's padding with the lowest value.
        out = g.op1("MaxPool", xc, kernel_shape=k[1:3], strides=attrs["strides"], pads=attrs.get("pads"),
                    auto_pad=attrs.get("auto_pad"))
        return [_to_nhwc(g, out), lo, hi]
    # The sum over the window's cells inside the input (exact in float32: below 2^24) divided by
    # their count in int64, truncating as C's int division does.
    c = x.shape[3]
    if not isinstance(c, int):
        raise ExportError("the input's depth must be known before running")
    ones = g.const(np.ones((c, 1, k[1], k[2]), F32))
    bounded(k[1] * k[2] * 255, 1 << 24, "the pooling window's sum")
    total = g.op1("Conv", cast(g, xc, F32), ones, group=c, **attrs)
    h, wd = x.shape[1], x.shape[2]
    if isinstance(h, int) and isinstance(wd, int):
        grid = g.const(np.ones((1, 1, h, wd), F32))
    else:
        grid = g.op1("Expand", g.const(np.ones((1, 1, 1, 1), F32)),
                     g.op1("Concat", g.const(np.ones(2, np.int64)), g.op1("Shape", xc, start=2), axis=0))
    cells = g.op1("Conv", grid, g.const(np.ones((1, 1, k[1], k[2]), F32)), **attrs)
    out = g.op1("Div", cast(g, total, I64), cast(g, cells, I64))
    return [_to_nhwc(g, cast(g, out, x.dtype)), lo, hi]


def _depth_max_pool(g: Graph, node, x: Val, k: list[int], s: list[int]) -> Val:
    """Max pooling across channels only (pooling_ops_common.cc's rules): a Reshape to
    [..., depth / k, k] and ReduceMax."""
    if node.op == "QuantizedAvgPool":
        raise ExportError("Non-spatial pooling is not yet supported.")
    if k[1] != 1 or k[2] != 1 or s[1] != 1 or s[2] != 1:
        raise ExportError("MaxPooling supports exactly one of pooling across depth or pooling across width/height.")
    depth = x.shape[3]
    if not isinstance(depth, int):
        raise ExportError("the input's depth must be known before running")
    if depth % k[3]:
        raise ExportError("Depthwise max pooling requires the depth window to evenly divide the input depth.")
    if s[3] != k[3]:
        raise ExportError("Depthwise max pooling requires the depth window to equal the depth stride.")
    v = g.op1("Reshape", cast(g, x, np.int32), g.const(np.asarray([0, 0, 0, depth // k[3], k[3]], np.int64)))
    return cast(g, reduce(g, "ReduceMax", v, [4], False), x.dtype)


@converter("QuantizedConcat", onnx="Concat; inputs of other ranges requantized (float32, as Eigen)")
def quantized_concat(cx, node, ins):
    g = cx.g
    q = _Q(g)
    n = int(node.attr["N"])
    t = _qt(node, "T")
    axis = const_ints(ins[0], "concat_dim")
    if len(axis) != 1 or ins[0].rank:
        raise ExportError("Concat dim tensor should be a scalar integer")
    values = [g.plain(v) for v in ins[1:1 + n]]
    ranges = [(_one(g, a, "input_min"), _one(g, b, "input_max"))
              for a, b in zip(ins[1 + n:1 + 2 * n], ins[1 + 2 * n:1 + 3 * n])]
    rank = need_rank(values[0])
    if not 0 <= axis[0] < rank:
        raise ExportError(f"ConcatOp : Expected concatenating dimensions in the range [0, {rank}), but got {axis[0]}")
    overall_min = ranges[0][0]
    for lo, _ in ranges[1:]:
        overall_min = q.pymin(overall_min, lo)
    overall_min = q.pymin(q.f32(0.0), overall_min)
    overall_max = ranges[0][1]
    for _, hi in ranges[1:]:
        overall_max = q.pymax(overall_max, hi)
    if t.signed:
        big = q.pymax(q.op("Abs", overall_min), q.op("Abs", overall_max))
        out_lo, out_hi = q.op("Sub", q.f32(0.0), big), big
    else:
        out_lo, out_hi = overall_min, overall_max
    parts = _onto_range(q, g, values, ranges, t, out_lo, out_hi)
    return [g.op1("Concat", *parts, axis=axis[0]), out_lo, out_hi]


def _onto_range(q: Any, g: Graph, values: list[Val], ranges: list[tuple[Val, Val]], t: Any, out_lo: Val,
                out_hi: Val) -> list[Val]:
    """Each quantized input requantized onto the joined range [out_lo, out_hi] (as it is where
    its range is that one already): the inputs of the quantized concatenations."""
    parts = []
    for v, (lo, hi) in zip(values, ranges):
        same = q.op("And", q.op("Equal", lo, out_lo), q.op("Equal", hi, out_hi))
        if same.is_const and bool(same.const):
            parts.append(v)
            continue
        moved = _requantize(q, v, lo, hi, t, out_lo, out_hi, t)
        parts.append(moved if same.is_const else g.op1("Where", same, v, moved))
    return parts

# -- oneDNN's int8 kernels (graph/ops/quantized_onednn.py) ----------------------------------------------
#
# No zero points: int32 accumulation of the raw values (ConvInteger / MatMulInteger), then float32
# as oneDNN 3 computes it (tensorflow/tensorflow tensorflow/core/kernels/mkl/mkl_conv_ops.cc,
# mkl_qmatmul_op.cc, mkl_quantized_conv_ops.h): v = acc * (src_scale * wei_scale) + bias, ReLU,
# times 1 / dst_scale, rounded to even and saturated.

_INT32 = (-(1 << 31), (1 << 31) - 1)


def _rank0(g: Graph, v: Val, what: str) -> Val:
    if v.rank is not None and v.rank != 0:
        raise ExportError(f"`{what}` must be rank 0 but is rank {v.rank}")
    return cast(g, v, F32) if not v.is_const else g.const(np.asarray(v.const, F32))


def _per_level(q: _Q, lo: Val, hi: Val, lowest: int, highest: int) -> Val:
    """MklFloatForOneQuantizedLevel."""
    if lowest < -highest:
        lowest += 1
    return q.op("Div", q.op("Sub", hi, lo), q.f32(highest - lowest))


def _onednn_range(q: _Q, lo_x: Val, hi_x: Val, x_signed: bool, lo_w: Val, hi_w: Val) -> tuple[Val, Val]:
    """MklQuantizationRangeForMultiplication<Tx, qint8, qint32>."""
    step = q.op("Mul", _per_level(q, lo_x, hi_x, -128 if x_signed else 0, 127 if x_signed else 255),
                _per_level(q, lo_w, hi_w, -128, 127))
    return q.op("Mul", step, q.f32(_INT32[0])), q.op("Mul", step, q.f32(_INT32[1]))


def _abs_scale(q: _Q, lo: Val, hi: Val, levels: float) -> Val:
    """``max(|lo|, |hi|) / levels``, divided in float64, in float32."""
    top = q.op("Max", q.op("Abs", lo), q.op("Abs", hi))
    return q.cast(q.op("Div", q.cast(top, F64), q.f64(levels)), F32)


def _finish(q: _Q, v: Val, dst: Val, relu: bool, out_dtype) -> Val:
    """ReLU, the destination scale as a reciprocal, rounding to even, NaN to 0, saturation."""
    if relu:
        v = q.op("Max", v, q.f32(0.0))
    inv = q.op("Div", q.f32(1.0), dst) if dst.is_const else q.g.op1("Reciprocal", dst)
    v = q.op("Round", q.op("Mul", v, inv))
    info = np.iinfo(out_dtype)
    clipped = q.clip(v, q.f32(info.min), q.f32(info.max))
    return q.cast(q.op("Where", q.op("IsNaN", v), q.f32(0.0), clipped), out_dtype)


def _channel_range(g: Graph, v: Val, what: str) -> Val:
    """A filter range: a scalar, or one value per output channel (as a vector)."""
    if v.rank is None:
        raise ExportError(f"the rank of {what} is not known before running")
    return cast(g, v, F32) if not v.is_const else g.const(np.asarray(v.const, F32))


def quantized_conv_onednn(cx, node, ins):
    """Every QuantizedConv2D* / QuantizedDepthwiseConv2D*, its fused parts read from its name."""
    g = cx.g
    q = _Q(g)
    op = node.op
    depthwise = op.startswith("QuantizedDepthwise")
    has_bias = "WithBias" in op
    requantize_out = op.endswith("Requantize")
    relu = "Relu" in op
    x, w = g.plain(ins[0]), g.plain(ins[1])
    _eight_bit(x, "input")
    if w.dtype != np.int8:
        raise ExportError("the filter must be qint8")
    if need_rank(x) != 4:
        raise ExportError(f"input must be 4-dimensional {list(x.shape)}")
    if need_rank(w) != 4:
        raise ExportError(f"filter must be 4-dimensional: {list(w.shape)}")
    if w.shape is None or any(not isinstance(d, int) for d in w.shape):
        raise ExportError("the filter's shape is not known before running")
    if isinstance(x.shape[3], int) and x.shape[3] != w.shape[2]:
        raise ExportError(f"input and filter must have the same depth: {x.shape[3]} vs {w.shape[2]}")
    k = 3 if has_bias else 2
    lo_x, hi_x = _rank0(g, ins[k], "min_input"), _rank0(g, ins[k + 1], "max_input")
    lo_w, hi_w = _channel_range(g, ins[k + 2], "min_filter"), _channel_range(g, ins[k + 3], "max_filter")
    k += 4
    kh, kw, cin, mult = w.shape
    channels = cin * mult if depthwise else mult
    for what, v in (("min_filter", lo_w), ("max_filter", hi_w)):
        if v.shape is not None and v.rank and isinstance(v.shape[0], int) and v.shape[0] not in (1, channels):
            raise ExportError(f"{what} must have 1 or {channels} elements, got {v.shape[0]}")
    explicit = [int(p) for p in node.attr.get("padding_list") or []]
    attrs = _conv_window(node, x, w, explicit)
    if depthwise:
        # [H, W, C, M] -> [C*M, 1, H, W]: output channel c*M + m, as in TF.
        wf = g.op1("Transpose", g.op1("Reshape", w, g.const(np.asarray([kh, kw, 1, cin * mult], np.int64))),
                   perm=[3, 2, 0, 1])
        acc = g.op1("ConvInteger", _to_nchw(g, x), wf, group=cin, **attrs)
    else:
        acc = g.op1("ConvInteger", _to_nchw(g, x), g.op1("Transpose", w, perm=[3, 2, 0, 1]), **attrs)
    acc = _to_nhwc(g, acc)
    x_signed = x.dtype == np.int8
    src = _abs_scale(q, lo_x, hi_x, 127.0 if x_signed else 255.0)
    wei = _abs_scale(q, lo_w, hi_w, 127.0)
    sw = q.op("Mul", src, wei)
    v = q.op("Mul", cast(g, acc, F32), sw)
    if has_bias:
        bias = g.plain(ins[2])
        if need_rank(bias) != 1 or (isinstance(bias.shape[0], int) and bias.shape[0] != channels):
            raise ExportError(f"bias must be 1-dimensional with {channels} elements, got {list(bias.shape)}")
        b = cast(g, bias, F32)
        # A qint32 bias is in the accumulator's units.
        v = q.op("Add", v, q.op("Mul", b, sw) if bias.dtype.kind in "iu" else b)
    if requantize_out:
        lo = _rank0(g, ins[k], "min_freezed_output")
        hi = _rank0(g, ins[k + 1], "max_freezed_output")
        t_out = _qt(node, "out_type")
        out = _finish(q, v, _abs_scale(q, lo, hi, 127.0 if t_out.signed else 255.0), relu, t_out.dtype)
        return [out, lo, hi]
    # Per-channel ranges still give one scale: the widest channel's.
    top = wei if not wei.rank else reduce(g, "ReduceMax", wei, None, False) if not wei.is_const else \
        g.const(np.asarray(np.max(wei.const), F32))
    out = _finish(q, v, q.op("Mul", src, top), relu, np.int32)
    lo, hi = _onednn_range(q, lo_x, hi_x, x_signed, lo_w, hi_w)
    return [out, lo, hi]


converter(*(f"QuantizedConv2D{s}" for s in ("AndRelu", "AndReluAndRequantize", "AndRequantize", "PerChannel",
                                            "WithBias", "WithBiasAndRelu", "WithBiasAndReluAndRequantize",
                                            "WithBiasAndRequantize")),
          *(f"QuantizedDepthwiseConv2D{s}" for s in ("", "WithBias", "WithBiasAndRelu",
                                                     "WithBiasAndReluAndRequantize")),
          onnx="ConvInteger (group for depthwise), float32 scale, bias, Relu, Round, Clip, Cast (oneDNN's steps)")(
    quantized_conv_onednn)


@converter("QuantizedMatMulWithBias", "QuantizedMatMulWithBiasAndRelu", "QuantizedMatMulWithBiasAndReluAndRequantize",
           "QuantizedMatMulWithBiasAndRequantize", "QuantizedMatMulWithBiasAndDequantize",
           onnx="MatMulInteger, float32 scale and MIN_FIRST compensation, Round, Clip, Cast (oneDNN's steps)")
def quantized_matmul_onednn(cx, node, ins):
    g = cx.g
    q = _Q(g)
    op = node.op
    a, b, bias = g.plain(ins[0]), g.plain(ins[1]), g.plain(ins[2])
    _eight_bit(a, "a")
    if b.dtype != np.int8:
        raise ExportError("b must be qint8")
    lo_a, hi_a = _rank0(g, ins[3], "min_a"), _rank0(g, ins[4], "max_a")
    lo_b, hi_b = _rank0(g, ins[5], "min_b"), _rank0(g, ins[6], "max_b")
    mode = attr_text(node, "input_quant_mode", "MIN_FIRST")
    if mode not in ("MIN_FIRST", "SCALED"):
        raise ExportError(f"Quantization mode must be either MIN_FIRST or SCALED, but received {mode}")
    for i, m in enumerate((a, b)):
        if need_rank(m) != 2:
            raise ExportError(f"In[{i}] is not a matrix")
    if node.attr.get("transpose_a") or node.attr.get("transpose_b"):
        raise ExportError("could not create a primitive descriptor for transposed operands")
    if isinstance(a.shape[1], int) and isinstance(b.shape[0], int) and a.shape[1] != b.shape[0]:
        raise ExportError(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    if need_rank(bias) != 1 or (isinstance(bias.shape[0], int) and isinstance(b.shape[1], int)
                                and bias.shape[0] != b.shape[1]):
        raise ExportError(f"bias must be a vector of {b.shape[1]} values, got {list(bias.shape)}")
    acc = g.op1("MatMulInteger", a, b)
    span = q.op("Sub", hi_a, lo_a)
    src = q.cast(q.op("Div", q.cast(span, F64), q.f64(255.0)), F32)
    wei = _abs_scale(q, lo_b, hi_b, 127.0)
    scaled_float = op.endswith("Dequantize") and mode == "SCALED"
    if scaled_float:
        # The float-output kernel honours SCALED: no offset, no compensation.
        src = _abs_scale(q, lo_a, hi_a, 255.0)
    sw = q.op("Mul", src, wei)
    if bias.dtype.kind in "iu":
        top = q.cast(q.pymax(q.op("Abs", hi_b), q.op("Abs", lo_b)), F64)
        out_scale = q.cast(q.op("Div", q.f64(255.0 * 127.0), q.op("Mul", q.cast(span, F64), top)), F32)
        bias_f = q.op("Div", cast(g, bias, F32), out_scale)
    elif scaled_float:
        bias_f = cast(g, bias, F32)
    else:
        # MIN_FIRST compensation for the input's offset, in these units.
        colsum = cast(g, cast(g, reduce(g, "ReduceSum", cast(g, b, I64), [0], False), np.int32), F32)
        qa_amin = q.op("Div", q.op("Mul", q.f32(255.0), lo_a), span)
        bias_f = q.op("Add", cast(g, bias, F32), q.op("Mul", colsum, qa_amin))
    v = q.op("Add", q.op("Mul", cast(g, acc, F32), sw), bias_f)
    relu = "Relu" in op
    if op.endswith("Dequantize"):
        return q.op("Max", v, q.f32(0.0)) if relu else v
    if op.endswith("Requantize"):
        lo, hi = _rank0(g, ins[7], "min_freezed_output"), _rank0(g, ins[8], "max_freezed_output")
        t_out = _qt(node, "Toutput")
        return [_finish(q, v, _abs_scale(q, lo, hi, 127.0 if t_out.signed else 255.0), relu, t_out.dtype), lo, hi]
    lo, hi = _onednn_range(q, lo_a, hi_a, False, lo_b, hi_b)
    return [_finish(q, v, sw, relu, np.int32), lo, hi]


@converter("QuantizedConcatV2", onnx="Concat; Where between oneDNN's copy and Eigen's requantization")
def quantized_concat_v2(cx, node, ins):
    """oneDNN's quantized concat (graph/ops/quantized_onednn.quantized_concat_v2): rank-4 inputs whose
    ranges agree within 1e-6 are copied with the first range; otherwise the range is [0, largest
    max] (quint8) or symmetric (qint8) and inputs of other ranges are requantized into it."""
    g = cx.g
    q = _Q(g)
    n = int(node.attr["N"])
    t = _qt(node, "T")
    values = [g.plain(v) for v in ins[:n]]
    axis_v = ins[n]
    if axis_v.dtype != np.int32:
        raise ExportError("TensorFlow computes QuantizedConcatV2 only with an int32 axis")
    axis_l = const_ints(axis_v, "axis")
    if len(axis_l) != 1 or axis_v.rank:
        raise ExportError("Concat dim tensor should be a scalar integer")
    rank = need_rank(values[0])
    axis = axis_l[0] + rank if axis_l[0] < 0 else axis_l[0]
    if not 0 <= axis < rank:
        raise ExportError(f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, {rank}), "
                          f"but got {axis_l[0]}")
    for v in values:
        if need_rank(v) != rank:
            raise ExportError("_MklConcatOp : Ranks of all input tensors should match")
    ranges = [(_one(g, a, "input_min"), _one(g, b, "input_max"))
              for a, b in zip(ins[n + 1:2 * n + 1], ins[2 * n + 1:3 * n + 1])]
    overall_min, overall_max = ranges[0]
    for lo, hi in ranges[1:]:
        overall_min, overall_max = q.pymin(overall_min, lo), q.pymax(overall_max, hi)
    if t.signed:
        big = q.pymax(q.op("Abs", overall_min), q.op("Abs", overall_max))
        out_lo, out_hi = q.op("Sub", q.f32(0.0), big), big
    else:
        out_lo, out_hi = q.f32(0.0), overall_max
    parts = _onto_range(q, g, values, ranges, t, out_lo, out_hi)
    out = g.op1("Concat", *parts, axis=axis)
    sizes = [None if v.shape is None else v.shape for v in values]
    empty = all(s is not None and any(d == 0 for d in s) for s in sizes)
    if rank != 4 or empty:
        return [out, out_lo, out_hi]
    if not all(s is not None and all(isinstance(d, int) for d in s) for s in sizes) and \
            not all(s is not None and all(isinstance(d, int) and d > 0 for d in s) for s in sizes[:1]):
        raise ExportError("whether the inputs are empty must be known before running")
    eps = q.f32(1e-6)
    lo0, hi0 = ranges[0]
    agree = None
    for lo, hi in ranges[1:]:
        ok = q.op("And", q.op("LessOrEqual", q.op("Abs", q.op("Sub", lo, lo0)), eps),
                  q.op("LessOrEqual", q.op("Abs", q.op("Sub", hi, hi0)), eps))
        agree = ok if agree is None else q.op("And", agree, ok)
    if agree is None or (agree.is_const and bool(agree.const)):
        return [g.op1("Concat", *values, axis=axis), lo0, hi0]
    if agree.is_const:
        return [out, out_lo, out_hi]
    copied = g.op1("Concat", *values, axis=axis)
    return [g.op1("Where", agree, copied, out), q.op("Where", agree, lo0, out_lo), q.op("Where", agree, hi0, out_hi)]


# -- QuantizedAdd / QuantizedMul -----------------------------------------------------------------------

def _binary_layout(x: Val, y: Val) -> tuple[tuple[int, ...], str]:
    """TF's loop for the two static shapes (graph/ops/quantized_nn._binary_layout): "x_scalar",
    "y_scalar", "same", or "x_vector" / "y_vector" (the smaller operand's flat values repeat
    along the other's)."""
    from savedmodel_io.graph.ops.quantized_nn import _broadcast_runs

    if x.shape is None or y.shape is None or any(not isinstance(d, int) for d in (*x.shape, *y.shape)):
        raise ExportError("the operands' shapes must be known before running (TensorFlow's broadcasting "
                          "depends on them)")
    xs, ys = tuple(x.shape), tuple(y.shape)
    runs = _broadcast_runs(xs, ys)
    if runs is None:
        raise ExportError(f"Incompatible shapes: {list(xs)} vs. {list(ys)}")
    shape = tuple(np.broadcast_shapes(xs, ys))
    nx, ny, n = int(np.prod(xs)), int(np.prod(ys)), int(np.prod(shape))
    if runs > 2:
        raise ExportError(f"Broadcast between {list(xs)} and {list(ys)} is not supported yet.")
    if runs <= 1:
        return shape, "x_scalar" if nx == 1 else "y_scalar" if ny == 1 else "same"
    if min(nx, ny) == 0:
        raise ExportError("Must have some elements to add")
    if max(nx, ny) != n:
        raise ExportError(f"Broadcast between {list(xs)} and {list(ys)} is not supported yet.")
    return shape, "x_vector" if nx < ny else "y_vector"


def _spread(g: Graph, a: Val, b: Val, kind: str) -> tuple[Val, Val]:
    """The operands' flat values paired as TF's loop pairs them (np.resize: the smaller one
    repeated cyclically over the larger's length)."""
    flat = g.const(np.asarray([-1], np.int64))
    a, b = g.op1("Reshape", a, flat), g.op1("Reshape", b, flat)
    if kind == "same":
        return a, b
    small, big = (a, b) if kind.startswith("x") else (b, a)
    n, m = int(big.shape[0]), int(small.shape[0])
    if m != n:
        reps = -(-n // m)
        small = g.op1("Tile", small, g.const(np.asarray([reps], np.int64)))
        if reps * m != n:
            small = g.op1("Slice", small, g.const(np.asarray([0], np.int64)), g.const(np.asarray([n], np.int64)))
    return (small, big) if kind.startswith("x") else (big, small)


def _binary_ranges(g: Graph, node, ins: list[Val], names: tuple[str, ...]) -> list[Val]:
    out = []
    for k, what in enumerate(names):
        v = ins[2 + k]
        if v.rank:
            raise ExportError(f"`{what}` must be rank 0 but is rank {v.rank}")
        out.append(_rank0(g, v, what))
    lo_x, hi_x, lo_y, hi_y = out
    for lo, hi, which in ((lo_x, hi_x, "x"), (lo_y, hi_y, "y")):
        if lo.is_const and hi.is_const and not hi.const > lo.const:
            raise ExportError(f"max_{which} must be larger than min_{which}.")
    return out


@converter("QuantizedAdd", onnx="float64 requantization into the sum's range (int64), Tile for TF's broadcasting, "
                                "Add, Cast")
def quantized_add(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, y = g.plain(ins[0]), g.plain(ins[1])
    t = _qt(node, "T1")
    shape, kind = _binary_layout(x, y)
    lo_x, hi_x, lo_y, hi_y = _binary_ranges(g, node, ins, ("min_x", "max_x", "min_y", "max_y"))
    biggest = q.pymax(q.op("Abs", q.pymin(lo_x, lo_y)), q.op("Abs", q.pymax(hi_x, hi_y)))
    out_hi = q.op("Mul", biggest, q.f32(1 << 14))
    out_lo = q.op("Sub", q.f32(0.0), out_hi)
    qint32 = QType(np.dtype(np.int32), 32, -(1 << 31), (1 << 31) - 1)
    lim = (q.c(qint32.lowest, I64), q.c(qint32.highest, I64))

    def in_output_range(v: Val, lo: Val, hi: Val, exact: bool) -> Val:
        # A scalar operand is requantized exactly; the others by TF's linear form for quint8 ->
        # qint32: value(0) + q * (value(1) - value(0)) (graph/ops/quantized_nn.quantized_add).
        if exact:
            return _to_quantized(q, _to_float(q, v, lo, hi, t), out_lo, out_hi, qint32)
        zero = _to_quantized_unclamped(q, _to_float(q, q.c(0, t.dtype), lo, hi, t), out_lo, out_hi, qint32)
        one = _to_quantized_unclamped(q, _to_float(q, q.c(1, t.dtype), lo, hi, t), out_lo, out_hi, qint32)
        mult = q.cast(q.cast(q.op("Sub", one, zero), np.int32), I64)
        return q.clip(q.op("Add", zero, q.op("Mul", cast(g, v, I64), mult)), *lim)

    xs = in_output_range(x, lo_x, hi_x, kind == "x_scalar")
    ys = in_output_range(y, lo_y, hi_y, kind == "y_scalar")
    a, b = _spread(g, xs, ys, kind)
    out = cast(g, g.op1("Add", a, b), np.int32)
    return [g.op1("Reshape", out, g.const(np.asarray(shape, np.int64))), out_lo, out_hi]


@converter("QuantizedMul", onnx="int64 Sub (zero points), Tile for TF's broadcasting, Mul, Cast")
def quantized_mul(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, y = g.plain(ins[0]), g.plain(ins[1])
    t = _qt(node, "T1")
    shape, kind = _binary_layout(x, y)
    lo_x, hi_x, lo_y, hi_y = _binary_ranges(g, node, ins, ("min_x", "max_x", "min_y", "max_y"))
    a = q.op("Sub", cast(g, x, I64), _zero_point(q, lo_x, hi_x, t))
    b = q.op("Sub", cast(g, y, I64), _zero_point(q, lo_y, hi_y, t))
    a, b = _spread(g, a, b, kind)
    out = cast(g, g.op1("Mul", a, b), np.int32)
    lo, hi = _mult_range(q, lo_x, hi_x, t, lo_y, hi_y, t, _qt(node, "Toutput"))
    return [g.op1("Reshape", out, g.const(np.asarray(shape, np.int64))), lo, hi]


# -- Uniform* (scale / zero-point quantization; graph/ops/uniform_quant.py) -------------------------------
#
# tensorflow/tensorflow tensorflow/core/kernels/uniform_quant_ops/math_utils.{h,cc}: quantize as
# floor(x * (1 / scale) + 0.5) + zero point in float32 (not ONNX QuantizeLinear's rounding to
# even), requantize through TFLite's 31-bit fixed-point multiplier with one rounding. The
# multipliers are computed while exporting, so Requantize, Add and Dot take constant scales.

def _uq_axis(node, attr: str, x: Val, scales: Val, zps: Val) -> int:
    """QuantizationAxisAndShapeValid, on what is known before running."""
    axis = int(node.attr.get(attr, -1))
    r = need_rank(x)
    if axis < -1 or axis >= r:
        raise ExportError(f"{attr} must be -1 or in range [0, input.rank), but given {axis}")
    for v in (scales, zps):
        if v.rank is None:
            raise ExportError("the rank of the scales and zero points must be known before running")
        if (axis == -1) != (v.rank == 0) or v.rank > 1:
            raise ExportError("scales and zero_points must be scalars for quantization_axis -1, else vectors")
    return axis


def _uq_along(g: Graph, v: Val, axis: int, rank: int, dtype) -> Val:
    """Per-slice values shaped to broadcast along ``axis`` (scalars as they are)."""
    v = cast(g, v, dtype) if not v.is_const else g.const(np.asarray(v.const, dtype))
    if axis < 0:
        return v
    shape = [1] * rank
    shape[axis] = -1
    return g.op1("Reshape", v, g.const(np.asarray(shape, np.int64)))


def _wrap_i32(q: _Q, v: Val) -> Val:
    """int64 values wrapped to int32 and back, as C++ stores them."""
    return q.cast(q.cast(v, np.int32), I64)


@converter("UniformQuantize", onnx="Reciprocal, Mul, Add, Floor (float32), int64 zero point, Clip, Cast")
def uniform_quantize(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, scales, zps = g.plain(ins[0]), ins[1], ins[2]
    axis = _uq_axis(node, "quantization_axis", x, scales, zps)
    r = need_rank(x)
    s = _uq_along(g, scales, axis, r, F32)
    inv = q.op("Div", q.f32(1.0), s) if s.is_const else g.op1("Reciprocal", s)
    v = q.op("Floor", q.op("Add", q.op("Mul", cast(g, x, F32), inv), q.f32(0.5)))
    # nan_to_num, then the clamp to int32 in float32 (2^31 - 1 is 2^31 there), as the kernel does.
    v = q.op("Where", q.op("IsNaN", v), q.f32(0.0), q.clip(v, q.f32(-(2 ** 31)), q.f32(2 ** 31 - 1)))
    v = _wrap_i32(q, q.op("Add", q.cast(v, I64), _uq_along(g, zps, axis, r, I64)))
    lo, hi = int(node.attr.get("quantization_min_val")), int(node.attr.get("quantization_max_val"))
    return cast(g, q.clip(v, q.c(lo, I64), q.c(hi, I64)), attr_dtype(node, "Tout"))


@converter("UniformDequantize", onnx="int64 Sub (zero point), Cast, Mul (float32)")
def uniform_dequantize(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, scales, zps = g.plain(ins[0]), ins[1], ins[2]
    axis = _uq_axis(node, "quantization_axis", x, scales, zps)
    r = need_rank(x)
    diff = _wrap_i32(q, q.op("Sub", cast(g, x, I64), _uq_along(g, zps, axis, r, I64)))
    return q.op("Mul", q.cast(diff, F32), _uq_along(g, scales, axis, r, F32))


@converter("UniformQuantizedClipByValue", onnx="Max, Min (int64), Cast")
def uniform_quantized_clip(cx, node, ins):
    g = cx.g
    q = _Q(g)
    x, lo, hi, scales, zps = g.plain(ins[0]), ins[1], ins[2], ins[3], ins[4]
    axis = _uq_axis(node, "quantization_axis", x, scales, zps)
    r = need_rank(x)
    for what, v in (("min", lo), ("max", hi)):
        if v.rank is not None and v.rank != scales.rank:
            raise ExportError(f"{what} shape must be same as scales shape")
    v = q.op("Min", q.op("Max", cast(g, x, I64), _uq_along(g, lo, axis, r, I64)), _uq_along(g, hi, axis, r, I64))
    return cast(g, v, x.dtype)


def _const_of(v: Val, what: str, dtype,
              why: str = "the fixed-point multipliers are computed while exporting") -> np.ndarray:
    if not v.is_const:
        raise ExportError(f"{what} must be constants ({why})")
    return np.asarray(v.const, dtype)


def _scale_zero(ins: list[Val], i: int, why: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The constant (scales, zero points) given as inputs ``i`` and ``i + 1`` of a Uniform* op."""
    extra = () if why is None else (why,)
    return _const_of(ins[i], "the scales", F32, *extra), _const_of(ins[i + 1], "the zero points", np.int64, *extra)


def _multipliers(ratios: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """QuantizeMultiplier of each ratio (graph/ops/uniform_quant.quantize_multiplier)."""
    from savedmodel_io.graph.ops.uniform_quant import quantize_multiplier

    out = []
    for m in ratios:
        if not np.isfinite(m) or m <= 0:
            raise ExportError(f"double_multiplier must be a positive finite number. Given {m}")
        out.append(quantize_multiplier(None, m))
    return np.asarray([p[0] for p in out], np.int64), np.asarray([p[1] for p in out], np.int64)


def _fixed_multiply(q: _Q, v: Val, mult: np.ndarray, shift: np.ndarray) -> Val:
    """MultiplyByQuantizedMultiplier: ``(v * mult + 2^(t - 1)) >> t`` (t = 31 - shift) in int64,
    the shift a floor division, clamped to int32."""
    total = 31 - shift
    d = q.g.const(np.left_shift(np.int64(1), total).astype(np.int64))
    half = q.g.const(np.left_shift(np.int64(1), total - 1).astype(np.int64))
    a = q.op("Add", q.op("Mul", v, q.g.const(mult)), half)
    r = q.op("Div", q.op("Sub", a, q.op("Mod", a, d)), d)
    return q.clip(r, q.c(-(2 ** 31), I64), q.c(2 ** 31 - 1, I64))


def _along_np(values: np.ndarray, axis: int, rank: int) -> np.ndarray:
    if axis < 0:
        return values.reshape(())
    shape = [1] * rank
    shape[axis] = -1
    return values.reshape(shape)


def _uq_requantize(q: _Q, x: Val, in_s: np.ndarray, in_z: np.ndarray, out_s: np.ndarray, out_z: np.ndarray,
                   in_axis: int, out_axis: int, lo: int, hi: int, dtype) -> Val:
    """EvalRequantize (graph/ops/uniform_quant.requantize), the scales and zero points constants."""
    r = need_rank(x)
    axis = in_axis if in_axis >= 0 else out_axis
    if in_axis >= 0 and out_axis >= 0:
        out_axis = in_axis
    n = 1
    if axis >= 0:
        n = x.shape[axis]
        if not isinstance(n, int):
            raise ExportError("the quantization axis' size must be known before running")
    ins = np.broadcast_to(in_s.reshape(-1), (n,)) if in_s.ndim else np.full(n, in_s)
    outs = np.broadcast_to(out_s.reshape(-1), (n,)) if out_s.ndim else np.full(n, out_s)
    mult, shift = _multipliers([float(a) / float(b) for a, b in zip(ins, outs)])
    mult, shift = _along_np(mult, axis, r) if axis >= 0 else mult.reshape(()), \
        _along_np(shift, axis, r) if axis >= 0 else shift.reshape(())
    in_zp = _along_np(in_z.astype(np.int64).reshape(-1), in_axis, r)
    out_zp = _along_np(out_z.astype(np.int64).reshape(-1), out_axis, r)
    v = _wrap_i32(q, q.op("Sub", cast(q.g, x, I64), q.g.const(in_zp)))
    v = _wrap_i32(q, q.op("Add", _fixed_multiply(q, v, mult, shift), q.g.const(out_zp)))
    return cast(q.g, q.clip(v, q.c(lo, I64), q.c(hi, I64)), dtype)


@converter("UniformRequantize", onnx="int64 fixed-point multiply (Mul, Add, Mod, Div), Clip, Cast")
def uniform_requantize(cx, node, ins):
    g = cx.g
    x = g.plain(ins[0])
    in_axis, out_axis = int(node.attr.get("input_quantization_axis", -1)), int(node.attr.get("output_quantization_axis", -1))
    if in_axis >= 0 and out_axis >= 0 and in_axis != out_axis:
        raise ExportError("If input and output is both per-axis quantized, the quantization axis must be same.")
    _uq_axis(node, "input_quantization_axis", x, ins[1], ins[2])
    _uq_axis(node, "output_quantization_axis", x, ins[3], ins[4])
    (in_s, in_z), (out_s, out_z) = _scale_zero(ins, 1), _scale_zero(ins, 3)
    if not (np.all(in_s > 0) and np.all(out_s > 0)):
        raise ExportError("scales elements must be all positive.")
    return _uq_requantize(_Q(g), x, in_s, in_z, out_s, out_z, in_axis, out_axis,
                          int(node.attr.get("output_quantization_min_val")),
                          int(node.attr.get("output_quantization_max_val")), attr_dtype(node, "Tout"))


@converter("UniformQuantizedAdd", onnx="both operands requantized to the output scale (int64 fixed point), Add, Clip")
def uniform_quantized_add(cx, node, ins):
    g = cx.g
    q = _Q(g)
    lhs, rhs = g.plain(ins[0]), g.plain(ins[1])
    l_axis = _uq_axis(node, "lhs_quantization_axis", lhs, ins[2], ins[3])
    r_axis = _uq_axis(node, "rhs_quantization_axis", rhs, ins[4], ins[5])
    l_s, l_z = _scale_zero(ins, 2)
    r_s, r_z = _scale_zero(ins, 4)
    o_s, o_z = _scale_zero(ins, 6)
    if lhs.shape is None or rhs.shape is None or any(not isinstance(d, int) for d in (*lhs.shape, *rhs.shape)):
        raise ExportError("the operands' shapes must be known before running")
    try:
        shape = tuple(np.broadcast_shapes(tuple(lhs.shape), tuple(rhs.shape)))
    except ValueError:
        raise ExportError(f"Cannot Add tensors of shapes: {list(lhs.shape)}{list(rhs.shape)}") from None
    o_axis = int(node.attr.get("output_quantization_axis", -1))
    if o_axis < -1 or o_axis >= len(shape) or (o_axis == -1) != (o_s.ndim == 0):
        raise ExportError("output scales do not match output_quantization_axis")
    for t, axis in ((lhs, l_axis), (rhs, r_axis)):
        if axis >= 0 and o_axis >= 0 and len(t.shape) - axis != len(shape) - o_axis:
            raise ExportError("If an operand and the output are both per-axis quantized, the quantization axis must match.")
    if not (np.all(l_s > 0) and np.all(r_s > 0) and np.all(o_s > 0)):
        raise ExportError("scales elements must be all positive.")
    dtype = attr_dtype(node, "T")
    info = np.iinfo(dtype)
    zeros = np.zeros(o_s.shape, np.int64)
    lq = _uq_requantize(q, lhs, l_s, l_z, o_s, zeros, l_axis, -1 if o_axis == -1 else l_axis,
                        int(info.min), int(info.max), dtype)
    rq = _uq_requantize(q, rhs, r_s, r_z, o_s, zeros, r_axis, o_axis, int(info.min), int(info.max), dtype)
    zp = g.const(_along_np(o_z.reshape(-1), o_axis, len(shape)) if o_axis >= 0 else o_z.reshape(()))
    total = _wrap_i32(q, q.op("Add", q.op("Add", cast(g, lq, I64), cast(g, rq, I64)), zp))
    lo, hi = int(node.attr.get("output_quantization_min_val")), int(node.attr.get("output_quantization_max_val"))
    out = q.clip(total, q.c(lo, I64), q.c(hi, I64))
    if tuple(out.shape or ()) != shape:
        out = g.op1("Expand", out, g.const(np.asarray(shape, np.int64)))
    return cast(g, out, dtype)


@converter("UniformQuantizedDot", onnx="MatMulInteger (zero points, or int64 corrections), int64 fixed-point "
                                       "multiply, Clip, Cast")
def uniform_quantized_dot(cx, node, ins):
    g = cx.g
    q = _Q(g)
    lhs, rhs = g.plain(ins[0]), g.plain(ins[1])
    if int(node.attr.get("lhs_quantization_axis", -1)) != -1:
        raise ExportError("lhs_quantization_axis Attr must be -1 (per-tensor).")
    for attr in ("rhs_quantization_axis", "output_quantization_axis"):
        if int(node.attr.get(attr, -1)) not in (1, -1):
            raise ExportError(f"{attr} Attr must be 1 (per-channel) or -1 (per-tensor).")
    l_s, l_z = _scale_zero(ins, 2)
    r_s, r_z = _scale_zero(ins, 4)
    o_s, o_z = _scale_zero(ins, 6)
    if not (np.all(l_s > 0) and np.all(r_s > 0) and np.all(o_s > 0)):
        raise ExportError("scales elements must be all positive.")
    if need_rank(lhs) != 2 or need_rank(rhs) != 2:
        raise ExportError("lhs and rhs must be rank 2")
    _eight_bit(lhs, "lhs")
    _eight_bit(rhs, "rhs")
    if l_s.ndim or l_z.ndim:
        raise ExportError("lhs scales/zero_points must be all scalar tensors.")
    n = rhs.shape[1]
    if not isinstance(n, int):
        raise ExportError("the output's columns must be known before running")
    if r_s.ndim == 0 and o_s.ndim:
        raise ExportError("If rhs is per-tensor quantized, output must be also per-tensor quantized.")
    for s, z in ((r_s, r_z), (o_s, o_z)):
        if s.shape != z.shape or (s.ndim and s.shape != (n,)):
            raise ExportError("scales and zero_points must be scalars or one per column")
    acc = _int_product(g, q, lhs, rhs, g.const(l_z.reshape(())), g.const(r_z.reshape(-1) if r_z.ndim else r_z),
                       lhs.shape[1])
    r_scales = r_s.reshape(-1) if r_s.ndim else np.full(n, r_s)
    o_scales = o_s.reshape(-1) if o_s.ndim else np.full(n, o_s)
    mult, shift = _multipliers([float(F32(l_s)) * float(a) / float(b) for a, b in zip(r_scales, o_scales)])
    zp = g.const(o_z.reshape(-1) if o_s.ndim else o_z.reshape(()))
    v = _wrap_i32(q, q.op("Add", _fixed_multiply(q, cast(g, acc, I64), mult, shift), zp))
    lo, hi = int(node.attr.get("output_quantization_min_val")), int(node.attr.get("output_quantization_max_val"))
    return cast(g, q.clip(v, q.c(lo, I64), q.c(hi, I64)), attr_dtype(node, "Tout"))


# -- per-channel requantization (oneDNN int8 graphs) and the quantized batch norm ---------------------------

def _channel_vectors(g: Graph, x: Val, lo: Val, hi: Val) -> tuple[Val, Val]:
    if need_rank(x) != 4:
        raise ExportError("input must be in NHWC format (rank 4)")
    out = []
    for v in (lo, hi):
        v = cast(g, v, F32) if not v.is_const else g.const(np.asarray(v.const, F32))
        out.append(g.op1("Reshape", v, g.const(np.asarray([-1], np.int64))))
    c = x.shape[3]
    for v in out:
        if isinstance(c, int) and isinstance(v.shape[0], int) and v.shape[0] != c:
            raise ExportError(f"input must have same number of channels as length of input_min: {c} vs {v.shape[0]}")
    return out[0], out[1]


@converter("RequantizePerChannel", onnx="float32 per-channel scale, Round, Clip, Cast")
def requantize_per_channel(cx, node, ins):
    """mkl_requantize_per_channel_op.cc (graph/ops/quantize.requantize_per_channel):
    ``round(x * 255|127 * max|range_c| / max|requested| / 2^31)``, to nearest even, saturated."""
    g = cx.g
    q = _Q(g)
    x = g.plain(ins[0])
    lo, hi = _channel_vectors(g, x, ins[1], ins[2])
    out_lo, out_hi = _one(g, ins[3], "requested_output_min"), _one(g, ins[4], "requested_output_max")
    t = _qt(node, "out_type")
    if t.signed and out_lo.is_const and not float(out_lo.const) < 0.0:
        raise ExportError("If out_type is QINT8, requested_output_min must be negative")
    requested = q.pymax(q.op("Abs", out_lo), q.op("Abs", out_hi))
    top = q.op("Max", q.op("Abs", lo), q.op("Abs", hi))
    scales = q.op("Mul", q.f32(127.0 if t.signed else 255.0),
                  q.op("Div", q.op("Div", top, requested), q.f32(1 << 31)))
    v = q.op("Round", q.op("Mul", cast(g, x, F32), scales))
    clipped = q.clip(v, q.f32(t.lowest), q.f32(t.highest))
    out = q.cast(q.op("Where", q.op("IsNaN", v), q.f32(0.0), clipped), t.dtype)
    return [out, out_lo, out_hi]


@converter("RequantizationRangePerChannel", onnx="ReduceMin/Max per channel (int64), Abs, float32 Mul/Div, ReduceMax")
def requantization_range_per_channel(cx, node, ins):
    """mkl_requantization_range_per_channel_op.cc (graph/ops/quantize.requantization_range_per_channel)."""
    g = cx.g
    q = _Q(g)
    x = g.plain(ins[0])
    lo, hi = _channel_vectors(g, x, ins[1], ins[2])
    xi = cast(g, x, I64)
    mins = reduce(g, "ReduceMin", xi, [0, 1, 2], False)
    maxs = reduce(g, "ReduceMax", xi, [0, 1, 2], False)
    # std::abs of int32 keeps INT32_MIN negative.
    abs_min = q.op("Abs", mins)
    abs_min = q.op("Where", q.op("Greater", abs_min, q.c(2 ** 31 - 1, I64)), q.c(-(2 ** 31), I64), abs_min)
    abs_max = q.op("Max", abs_min, q.op("Abs", maxs))
    scale = q.op("Max", q.op("Abs", lo), q.op("Abs", hi))
    ranges = q.op("Div", q.op("Mul", scale, q.cast(abs_max, F32)), q.f32(1 << 31))
    top = q.pymax(q.f32(np.finfo(F32).tiny), reduce(g, "ReduceMax", ranges, None, False))
    top = q.pymin(top, q.f32(F32(node.attr.get("clip_value_max", 0.0))))
    nonneg = q.op("GreaterOrEqual", reduce(g, "ReduceMin", mins, None, False), q.c(0, I64))
    low = q.op("Where", nonneg, q.f32(0.0), q.op("Sub", q.f32(0.0), top))
    return [low, top]


@converter("QuantizedBatchNormWithGlobalNormalization",
           onnx="float32 Sqrt, Reciprocal, Mul, Add; quantize, requantize (float64), int64 Mul, float64 Div, Cast")
def quantized_batch_norm(cx, node, ins):
    """quantized_batch_norm_op.cc (graph/ops/quantized_nn.quantized_batch_norm): in TF's ±2^20 qint32 range."""
    g = cx.g
    q = _Q(g)
    t_in, t_out = _qt(node, "Tinput"), _qt(node, "out_type")
    x = g.plain(ins[0])
    if need_rank(x) != 4:
        raise ExportError(f"input must be 4-dimensional{list(x.shape)}")
    params = []
    for k, what in enumerate(("t", "m", "v", "beta", "gamma")):
        v = g.plain(ins[3 * k])
        if k and need_rank(v) != 1:
            raise ExportError(f"{what} must be 1-dimensional{list(v.shape)}")
        params.append((v, _one(g, ins[3 * k + 1], f"{what}_min"), _one(g, ins[3 * k + 2], f"{what}_max")))
    out_lo, out_hi = q.f32(-float(1 << 20)), q.f32(float(1 << 20))
    (xv, x_lo, x_hi), *rest = params
    mean, var, beta, gamma = (_to_float(q, v, lo, hi, t_in) for v, lo, hi in rest)
    root = q.op("Sqrt", q.op("Add", var, q.f32(F32(node.attr.get("variance_epsilon", 0.0)))))
    # 1 / x as Reciprocal: onnxruntime rewrites Mul(Div(1, x), y) as Div(y, x), which rounds differently.
    scale = q.op("Div", q.f32(1.0), root) if root.is_const else g.op1("Reciprocal", root)
    if node.attr.get("scale_after_normalization"):
        scale = q.op("Mul", scale, gamma)
    offset = q.op("Add", q.op("Mul", q.op("Sub", q.f32(0.0), mean), scale), beta)
    q_scale = _to_quantized(q, scale, out_lo, out_hi, t_out)
    q_offset = _to_quantized(q, offset, out_lo, out_hi, t_out)
    one = _to_quantized(q, q.f32(1.0), out_lo, out_hi, t_out)
    v = _to_quantized(q, _to_float(q, xv, x_lo, x_hi, t_in), out_lo, out_hi, t_out)
    prod = _wrap_i32(q, q.op("Mul", v, q_scale))
    ratio = q.op("Div", q.cast(prod, F64), q.cast(one, F64))  # np.trunc(prod / one): float64
    trunc = q.op("Where", q.op("Less", ratio, q.f64(0.0)), q.op("Sub", q.f64(0.0), q.op("Floor", q.op(
        "Sub", q.f64(0.0), ratio))), q.op("Floor", ratio))
    out = _wrap_i32(q, q.op("Add", q.cast(trunc, I64), q_offset))
    return [cast(g, out, t_out.dtype), out_lo, out_hi]


# -- QuantizedResizeBilinear ----------------------------------------------------------------------------

MAX_RESIZE = 1 << 16  # output rows or columns (their source-index tables are constants)


@converter("QuantizedResizeBilinear", onnx="Gather of constant source rows/columns; int64 fixed point (7 or 30 "
                                           "fraction bits, truncating Div) or float32 lerp")
def quantized_resize_bilinear(cx, node, ins):
    """quantized_resize_bilinear_op.cc (graph/ops/quantized_nn.quantized_resize_bilinear): the
    interpolation tables are computed while exporting, so the image's height and width and the
    size must be known; the range passes through."""
    from savedmodel_io.graph.ops.quantized_nn import _lerp_axis

    g = cx.g
    q = _Q(g)
    x = g.plain(ins[0])
    lo, hi = _rank0(g, ins[2], "min"), _rank0(g, ins[3], "max")
    size = const_ints(ins[1], "size")
    if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        raise ExportError("size must be a 1-D tensor of two positive elements")
    if need_rank(x) != 4:
        raise ExportError(f"input must be 4-dimensional, got shape {list(x.shape)}")
    h, w = x.shape[1], x.shape[2]
    if not (isinstance(h, int) and isinstance(w, int)):
        raise ExportError("the image's height and width must be known before running")
    if h <= 0 or w <= 0:
        raise ExportError("input image must be of non-zero size")
    oh, ow = (bounded(s, MAX_RESIZE, "the output size") for s in size)
    if (oh, ow) == (h, w):
        return [x, lo, hi]
    align, half = bool(node.attr.get("align_corners")), bool(node.attr.get("half_pixel_centers"))
    ylo, yhi, yl = _lerp_axis(h, oh, align, half)
    xlo, xhi, xl = _lerp_axis(w, ow, align, half)

    def take(v: Val, idx: np.ndarray, axis: int) -> Val:
        return g.op1("Gather", v, g.const(idx.astype(np.int64)), axis=axis)

    if x.dtype.kind == "f":
        v = cast(g, x, F32)
        top, bot = take(v, ylo, 1), take(v, yhi, 1)
        wx = g.const(xl.reshape(1, 1, -1, 1))

        def row(r: Val) -> Val:
            left = take(r, xlo, 2)
            return q.op("Add", left, q.op("Mul", q.op("Sub", take(r, xhi, 2), left), wx))

        t, b = row(top), row(bot)
        out = q.op("Add", t, q.op("Mul", q.op("Sub", b, t), g.const(yl.reshape(1, -1, 1, 1))))
        return [cast(g, out, x.dtype), lo, hi]
    if x.dtype not in (np.dtype(np.uint8), np.dtype(np.int32)):
        raise ExportError("quint8, qint32 or float images only")
    res = 30 if x.dtype.itemsize == 4 else 7
    one = 1 << res
    xi = g.const((xl * F32(one)).astype(np.int64).reshape(1, 1, -1, 1))  # truncated toward zero
    yi = g.const((yl * F32(one)).astype(np.int64).reshape(1, -1, 1, 1))
    onev = q.c(one, I64)
    v = cast(g, cast(g, x, F32), I64)  # qint32 values reach int64 through float32, as Eigen's scalars do
    top, bot = take(v, ylo, 1), take(v, yhi, 1)

    def row(r: Val) -> Val:
        left = take(r, xlo, 2)
        return q.op("Add", q.op("Mul", left, onev), q.op("Mul", q.op("Sub", take(r, xhi, 2), left), xi))

    t, b = row(top), row(bot)
    # ONNX's integer Div truncates toward zero, as C's does.
    out = q.op("Add", t, q.op("Mul", q.op("Div", q.op("Sub", b, t), onev), yi))
    out = q.op("Div", q.op("Add", out, q.c(one // 2, I64)), onev)
    return [cast(g, _wrap_i32(q, out), x.dtype), lo, hi]


def _asymmetric_rows(q: _Q, x: Val) -> tuple[Val, Val, Val]:
    """TFLite's AsymmetricQuantizeFloats of each row (the first axis) of float32 ``x``, with TF's
    floor(x / scale + 0.5) (graph/ops/uniform_quant.asymmetric_quantize): the int8 values, the
    float32 scales and the int64 zero points, both shaped [rows, 1, ...]."""
    g = q.g
    axes = list(range(1, need_rank(x)))
    f64 = q.f64
    zero32 = q.f32(0.0)
    rmin = q.pymin(zero32, reduce(g, "ReduceMin", x, axes, True))
    rmax = q.pymax(zero32, reduce(g, "ReduceMax", x, axes, True))
    same = q.op("Equal", rmin, rmax)
    dmin, dmax = q.cast(rmin, F64), q.cast(rmax, F64)
    scale = q.op("Div", q.op("Sub", dmax, dmin), f64(255.0))
    s_min, s_max = q.op("Div", dmin, scale), q.op("Div", dmax, scale)
    from_min, from_max = q.op("Sub", f64(-128.0), s_min), q.op("Sub", f64(127.0), s_max)
    err_min, err_max = q.op("Add", f64(128.0), q.op("Abs", s_min)), q.op("Add", f64(127.0), q.op("Abs", s_max))
    zero = q.op("Where", q.op("Less", err_min, err_max), from_min, from_max)
    # floor(|zero| + 0.5) * copysign(1, zero), saturated to [-128, 127]
    mag = q.op("Floor", q.op("Add", q.op("Abs", zero), f64(0.5)))
    rounded = q.op("Where", q.op("Less", zero, f64(0.0)), q.op("Sub", f64(0.0), mag), mag)
    nudged = q.op("Where", q.op("LessOrEqual", zero, f64(-128.0)), f64(-128.0),
                  q.op("Where", q.op("GreaterOrEqual", zero, f64(127.0)), f64(127.0), rounded))
    nudged = q.op("Where", same, f64(0.0), nudged)
    scale32 = q.op("Where", same, q.f32(1.0), q.cast(scale, F32))
    zp = q.cast(nudged, I64)
    # affine_quantize with the row's scale and zero point, as UniformQuantize
    v = q.op("Floor", q.op("Add", q.op("Mul", x, g.op1("Reciprocal", scale32)), q.f32(0.5)))
    v = q.op("Where", q.op("IsNaN", v), q.f32(0.0), q.clip(v, q.f32(-(2 ** 31)), q.f32(2 ** 31 - 1)))
    v = _wrap_i32(q, q.op("Add", q.cast(v, I64), zp))
    ql = q.cast(q.clip(v, q.c(-128, I64), q.c(127, I64)), np.int8)
    ql = q.op("Where", same, q.c(0, np.int8), ql)
    return ql, scale32, zp


@converter("UniformQuantizedDotHybrid", onnx="per-row ReduceMin/Max, float64 scale and nudged zero point, "
                                             "float32 quantize, MatMulInteger with int64 corrections, Mul")
def uniform_quantized_dot_hybrid(cx, node, ins):
    """Float lhs quantized per row (TFLite's AsymmetricQuantizeFloats with TF's floor(x / scale + 0.5);
    graph/ops/uniform_quant.asymmetric_quantize), the int8 product, rescaled in float32."""
    g = cx.g
    q = _Q(g)
    lhs, rhs = g.plain(ins[0]), g.plain(ins[1])
    if int(node.attr.get("rhs_quantization_axis", -1)) not in (1, -1):
        raise ExportError("rhs_quantization_axis Attr must be 1 (per-channel) or -1 (per-tensor).")
    if need_rank(lhs) != 2 or need_rank(rhs) != 2:
        raise ExportError("lhs and rhs must be rank 2")
    if lhs.dtype != np.float32 or rhs.dtype != np.int8:
        raise ExportError("float32 lhs and qint8 rhs only")
    r_s, r_z = ins[2], ins[3]
    if r_s.rank is None or r_z.rank is None or r_s.rank > 1 or r_s.rank != r_z.rank:
        raise ExportError("rhs scales and zero points must be scalars or vectors of one rank")
    ql, scale32, zp = _asymmetric_rows(q, lhs)
    rz = r_z if not r_z.is_const else g.const(np.asarray(r_z.const, I64))
    acc = _int_product(g, q, ql, rhs, zp, cast(g, rz, I64), lhs.shape[1])
    rs = cast(g, r_s, F32) if not r_s.is_const else g.const(np.asarray(r_s.const, F32))
    return q.op("Mul", q.op("Mul", cast(g, acc, F32), scale32), rs)


# -- UniformQuantizedConvolution(Hybrid) ----------------------------------------------------------------

def _uq_conv_params(node, lhs: Val, rhs: Val):
    """The kernel's own parameter checks and defaults (graph/ops/uniform_quant._ConvParams)."""
    from savedmodel_io.errors import SavedModelError
    from savedmodel_io.graph.ops.uniform_quant import _ConvParams

    for v in (lhs, rhs):
        if v.shape is None or any(not isinstance(d, int) for d in v.shape):
            raise ExportError("the operands' shapes must be known before running")
    try:
        return _ConvParams(node, tuple(lhs.shape), tuple(rhs.shape))
    except SavedModelError as exc:
        raise ExportError(str(exc).split(": ", 1)[-1]) from None


def _lhs_dilate(g: Graph, x: Val, dilation: list[int], fill: Val) -> Val:
    """Insert ``d - 1`` cells of ``fill`` between neighbours along each spatial axis of [B, C, S...]."""
    for i, d in enumerate(dilation):
        if d == 1:
            continue
        axis = 2 + i
        shape = list(x.shape)
        n = shape[axis]
        v = g.op1("Unsqueeze", x, g.const(np.asarray([axis + 1], np.int64)))
        pads = [0] * (2 * (len(shape) + 1))
        pads[len(shape) + 1 + axis + 1] = d - 1
        v = g.op1("Pad", v, g.const(np.asarray(pads, np.int64)), fill)
        shape[axis] = n * d
        v = g.op1("Reshape", v, g.const(np.asarray(shape, np.int64)))
        x = g.op1("Slice", v, g.const(np.asarray([0], np.int64)), g.const(np.asarray([(n - 1) * d + 1], np.int64)),
                  g.const(np.asarray([axis], np.int64)))
    return x


def _per_group(g: Graph, v: Val, groups: int, n_out: int, rank: int) -> Val:
    """Per-lhs-batch values [B, 1, ...] as [B / groups, n_out, 1, ...]: output feature ``o`` of
    output batch ``b`` reads lhs batch ``(o // (n_out / groups)) * (B / groups) + b``."""
    m = g.op1("Transpose", g.op1("Reshape", v, g.const(np.asarray([groups, -1], np.int64))), perm=[1, 0])
    m = g.op1("Gather", m, g.const((np.arange(n_out) // (n_out // groups)).astype(np.int64)), axis=1)
    return g.op1("Reshape", m, g.const(np.asarray([0, n_out] + [1] * (rank - 2), np.int64)))


def _uq_conv_acc(g: Graph, q: _Q, p, lhs_t: Val, rhs: Val, lz: Val, rz: np.ndarray) -> Val:
    """int32 sums of (lhs - zero point) * (rhs - zero point), layout (out batch, out feature, spatial...).
    ``lhs_t`` is transposed already; ``lz`` a scalar (ConvInteger's own zero point) or one per batch
    ([B, 1, ...]: corrections by convolutions of ones, the padding and dilation cells counted out)."""
    if p.bgc != 1 and p.fgc != 1:
        raise ExportError("batch and feature groups together")
    w = g.op1("Transpose", rhs, perm=list(p.kernel_perm))
    rank = len(p.kernel_perm)
    attrs = dict(strides=list(p.strides), dilations=list(p.rhs_dilation),
                 pads=[a for a, _ in p.pads] + [b for _, b in p.pads])
    x = lhs_t
    n_out = int(w.shape[0])
    rz_v = np.broadcast_to(rz.reshape(-1), (n_out,)).astype(np.int64)
    if p.bgc != 1:
        # Batch groups: group k's batches become feature group k of one batch.
        b, c = x.shape[0], x.shape[1]
        rest = list(x.shape[2:])
        x = g.op1("Reshape", x, g.const(np.asarray([p.bgc, b // p.bgc, c] + rest, np.int64)))
        x = g.op1("Transpose", x, perm=[1, 0, 2] + list(range(3, 3 + len(rest))))
        x = g.op1("Reshape", x, g.const(np.asarray([b // p.bgc, p.bgc * c] + rest, np.int64)))
        if not lz.is_const:  # one zero point per lhs batch: per (output batch, output feature) now
            lz = _per_group(g, lz, p.bgc, n_out, rank)
    group = p.fgc * p.bgc
    if lz.is_const and _fits(lz, x.dtype) and bool(np.all((rz_v >= -128) & (rz_v <= 127))):
        zx = g.const(np.asarray(lz.const, x.dtype).reshape(()))
        x = _lhs_dilate(g, x, p.lhs_dilation, zx)
        if len(set(rz_v.tolist())) == 1:
            return g.op1("ConvInteger", x, w, zx, g.const(np.asarray(rz_v[0], np.int8)), group=group, **attrs)
        # onnxruntime's ConvInteger takes one filter zero point: the others come off as
        # zw[o] * (each window's sum of x - zx), a convolution with ones.
        raw = cast(g, g.op1("ConvInteger", x, w, zx, group=group, **attrs), I64)
        ones_w = g.const(np.ones([int(d) for d in w.shape], np.int8))
        sx = cast(g, g.op1("ConvInteger", x, ones_w, zx, group=group, **attrs), I64)
        zw = g.const(rz_v.reshape((1, -1) + (1,) * (rank - 2)))
        return cast(g, q.op("Sub", raw, q.op("Mul", zw, sx)), np.int32)
    zero = g.const(np.asarray(0, x.dtype))
    xd = _lhs_dilate(g, x, p.lhs_dilation, zero)
    ones = g.const(np.ones([1] + list(x.shape[1:]), x.dtype))
    grid = _lhs_dilate(g, ones, p.lhs_dilation, zero)
    ones_w = g.const(np.ones([int(d) for d in w.shape] if group != 1 else [1] + [int(d) for d in w.shape[1:]],
                             x.dtype))
    zw = g.const(rz_v.reshape((1, -1) + (1,) * (rank - 2)))
    raw = cast(g, g.op1("ConvInteger", xd, w, group=group, **attrs), I64)
    sx = cast(g, g.op1("ConvInteger", xd, ones_w, group=group, **attrs), I64)
    sw = cast(g, g.op1("ConvInteger", grid, w, group=group, **attrs), I64)
    cells = cast(g, g.op1("ConvInteger", grid, ones_w, group=group, **attrs), I64)
    out = q.op("Sub", q.op("Sub", raw, q.op("Mul", zw, sx)), q.op("Mul", lz, sw))
    out = q.op("Add", out, q.op("Mul", cells, q.op("Mul", lz, zw)))
    return cast(g, out, np.int32)


@converter("UniformQuantizedConvolution", onnx="Transpose, ConvInteger (zero points; group for feature or batch "
                                               "groups; Pad for lhs dilation), int64 fixed-point multiply, Clip")
def uniform_quantized_convolution(cx, node, ins):
    g = cx.g
    q = _Q(g)
    lhs, rhs = g.plain(ins[0]), g.plain(ins[1])
    if int(node.attr.get("lhs_quantization_axis", -1)) != -1:
        raise ExportError("lhs_quantization_axis Attr must be -1 (per-tensor).")
    l_s, l_z = _scale_zero(ins, 2)
    r_s, r_z = _scale_zero(ins, 4)
    o_s, o_z = _scale_zero(ins, 6)
    if not (np.all(l_s > 0) and np.all(r_s > 0) and np.all(o_s > 0)):
        raise ExportError("scales elements must be all positive.")
    if lhs.dtype != np.int8 or rhs.dtype != np.int8:
        raise ExportError("qint8 operands only")
    p = _uq_conv_params(node, lhs, rhs)
    if l_s.ndim or l_z.ndim:
        raise ExportError("lhs scales/zero_points must be all scalar tensors.")
    r_axis, o_axis = int(node.attr.get("rhs_quantization_axis", -1)), int(node.attr.get("output_quantization_axis", -1))
    if r_axis not in (-1, p.dn["kernel_output_feature"]) or o_axis not in (-1, p.dn["output_feature"]):
        raise ExportError("the quantization axes must be -1 or the output feature dimension")
    n_out = p.out_shape[p.dn["output_feature"]]
    for s, z, axis in ((r_s, r_z, r_axis), (o_s, o_z, o_axis)):
        if s.shape != z.shape or (axis == -1) != (s.ndim == 0) or (s.ndim and s.shape != (n_out,)):
            raise ExportError("scales and zero points must be scalars or one per output feature")
    if r_s.ndim == 0 and o_s.ndim:
        raise ExportError("If rhs is per-tensor quantized, output must be also per-tensor quantized.")
    if 0 in p.out_shape:  # nothing to compute (onnxruntime refuses a window larger than the input)
        return g.const(np.zeros(p.out_shape, attr_dtype(node, "Tout")))
    lt = g.op1("Transpose", lhs, perm=list(p.input_perm))
    acc = _uq_conv_acc(g, q, p, lt, rhs, g.const(l_z.reshape(())), r_z)
    r_scales = np.broadcast_to(r_s.reshape(-1), (n_out,))
    o_scales = np.broadcast_to(o_s.reshape(-1), (n_out,))
    mult, shift = _multipliers([float(F32(l_s)) * float(a) / float(b) for a, b in zip(r_scales, o_scales)])
    shape = (1, n_out) + (1,) * (len(p.out_shape) - 2)
    zp = g.const(np.broadcast_to(o_z.reshape(-1), (n_out,)).astype(np.int64).reshape(shape))
    v = _wrap_i32(q, q.op("Add", _fixed_multiply(q, cast(g, acc, I64), mult.reshape(shape), shift.reshape(shape)), zp))
    lo, hi = int(node.attr.get("output_quantization_min_val")), int(node.attr.get("output_quantization_max_val"))
    out = cast(g, q.clip(v, q.c(lo, I64), q.c(hi, I64)), attr_dtype(node, "Tout"))
    return g.op1("Transpose", out, perm=[int(i) for i in np.argsort(p.output_perm)])


@converter("UniformQuantizedConvolutionHybrid", onnx="per-batch asymmetric int8 quantization (as the hybrid dot), "
                                                     "ConvInteger with int64 zero-point corrections, Mul")
def uniform_quantized_convolution_hybrid(cx, node, ins):
    """Float lhs quantized per batch (graph/ops/uniform_quant.uniform_quantized_convolution_hybrid),
    the int convolution, scaled back to float32 by the batch's and the output feature's scales."""
    g = cx.g
    q = _Q(g)
    lhs, rhs = g.plain(ins[0]), g.plain(ins[1])
    why = "the convolution's zero-point corrections are built while exporting"
    r_s, r_z = _scale_zero(ins, 2, why)
    if not np.all(r_s > 0):
        raise ExportError("rhs scales elements must be all positive.")
    if lhs.dtype != np.float32 or rhs.dtype != np.int8:
        raise ExportError("float32 lhs and qint8 rhs only")
    p = _uq_conv_params(node, lhs, rhs)
    r_axis = int(node.attr.get("rhs_quantization_axis", -1))
    n_out = p.out_shape[p.dn["output_feature"]]
    if r_axis not in (-1, p.dn["kernel_output_feature"]) or r_s.shape != r_z.shape or \
            (r_axis == -1) != (r_s.ndim == 0) or (r_s.ndim and r_s.shape != (n_out,)):
        raise ExportError("rhs scales and zero points must be scalars or one per output feature")
    if 0 in p.out_shape:
        return g.const(np.zeros(p.out_shape, F32))
    lt = g.op1("Transpose", lhs, perm=list(p.input_perm))
    ql, scale32, zp = _asymmetric_rows(q, lt)
    acc = _uq_conv_acc(g, q, p, ql, rhs, zp, r_z)
    rs = g.const(np.broadcast_to(r_s.reshape(-1), (n_out,)).astype(F32).reshape((1, n_out) + (1,) * (len(p.out_shape) - 2)))
    if p.bgc != 1:
        scale32 = _per_group(g, scale32, p.bgc, n_out, len(p.out_shape))
    out = q.op("Mul", q.op("Mul", cast(g, acc, F32), scale32), rs)
    return g.op1("Transpose", out, perm=[int(i) for i in np.argsort(p.output_perm)])
