"""Quantized ops: fake quantization in float maps; TF's quantized types have no ONNX mapping.

TF's qint8/quint8/qint32 tensors carry float [min, max] ranges beside them and round as
Eigen's fixed-point code does (graph/ops/quantized*.py, uniform_quant.py); ONNX's
QuantizeLinear / QLinear* ops use a scale and zero point with their own rounding.
FakeQuant* and QuantizeAndDequantize* stay in float: the same clip, scale, round and
rescale steps as the numpy kernels (graph/ops/quantize.py; tensorflow/tensorflow
tensorflow/core/kernels/fake_quant_ops_functor.h, quantize_and_dequantize_op.h), each an
ONNX op on the same type, so the results are TensorFlow's bit for bit. ONNX Round rounds
halves to even (TF's HALF_TO_EVEN); HALF_UP is Floor(x + 0.5) as Eigen computes it.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._quant import F32
from savedmodel_io.graph.ops.quantize import fake_quant_nudge
from savedmodel_io.onnx._graph import ExportError, Graph, Val
from savedmodel_io.onnx.ops._registry import converter, inexpressible
from savedmodel_io.onnx.ops._util import attr_text, const_ints, need_rank, norm_axis, reduce

inexpressible("TensorFlow's quantized types (float ranges beside qint/quint tensors, Eigen's fixed-point "
              "rounding): ONNX's scale/zero-point quantization does not reproduce them",
              "Dequantize", "QuantizeV2", "QuantizeDownAndShrinkRange", "RequantizationRange",
              "RequantizationRangePerChannel", "Requantize", "RequantizePerChannel", "QuantizedAdd", "QuantizedMul",
              "QuantizedAvgPool", "QuantizedMaxPool", "QuantizedBatchNormWithGlobalNormalization", "QuantizedBiasAdd",
              "QuantizedConcat", "QuantizedConcatV2", "QuantizedInstanceNorm", "QuantizedRelu", "QuantizedRelu6",
              "QuantizedReshape", "QuantizedResizeBilinear",
              *(f"QuantizedConv2D{s}" for s in ("", "AndRelu", "AndReluAndRequantize", "AndRequantize", "PerChannel",
                                                 "WithBias", "WithBiasAndRelu", "WithBiasAndReluAndRequantize",
                                                 "WithBiasAndRequantize")),
              *(f"QuantizedDepthwiseConv2D{s}" for s in ("", "WithBias", "WithBiasAndRelu",
                                                          "WithBiasAndReluAndRequantize")),
              *(f"QuantizedMatMul{s}" for s in ("", "WithBias", "WithBiasAndDequantize", "WithBiasAndRelu",
                                                 "WithBiasAndReluAndRequantize", "WithBiasAndRequantize")),
              "UniformQuantize", "UniformDequantize", "UniformRequantize", "UniformQuantizedAdd",
              "UniformQuantizedClipByValue", "UniformQuantizedConvolution", "UniformQuantizedConvolutionHybrid",
              "UniformQuantizedDot", "UniformQuantizedDotHybrid")


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
