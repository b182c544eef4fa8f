"""Quantize/dequantize kernels against ``tf.raw_ops``: every mode, rounding and range edge.

Quantized inputs reach TensorFlow as qint8/quint8/... (``quantized``); outputs compare
exactly (quantized values) or to float32 rounding (dequantized values).
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, quantized

CASES = Cases(seed=5101)
add = CASES.add
f32 = CASES.f32
RS = CASES.rs

F = np.float32
QTYPES = ("qint8", "quint8", "qint16", "quint16", "qint32")
# Values on and between rounding boundaries, both signs, and beyond the ranges used below.
EDGE = np.array([-7.5, -6.0, -3.0, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, 2.5, 3.0, 5.9, 6.0, 9.0],
                F)


def _quantize() -> None:
    for t in QTYPES:
        for mode in ("MIN_COMBINED", "MIN_FIRST", "SCALED"):
            add("QuantizeV2", f"{t}_{mode}", {"T": DT(t), "mode": mode},
                input=f32(3, 5) * 3, min_range=F(-4.0), max_range=F(5.0))
    add("QuantizeV2", "edge_qint8", {"T": DT("qint8")}, input=EDGE, min_range=F(-6), max_range=F(6))
    add("QuantizeV2", "edge_quint8_first", {"T": DT("quint8"), "mode": "MIN_FIRST"},
        input=EDGE, min_range=F(-1), max_range=F(7))
    add("QuantizeV2", "positive_range", {"T": DT("quint8")}, input=EDGE, min_range=F(1), max_range=F(3))
    add("QuantizeV2", "tiny_range", {"T": DT("qint8"), "mode": "MIN_FIRST"},
        input=EDGE, min_range=F(0.0), max_range=F(0.0))
    add("QuantizeV2", "ensure_range", {"T": DT("qint8"), "ensure_minimum_range": 0.5},
        input=EDGE, min_range=F(-0.1), max_range=F(0.1))
    for rnd in ("HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN"):
        for narrow in (False, True):
            add("QuantizeV2", f"scaled_{rnd}_{narrow}",
                {"T": DT("qint8"), "mode": "SCALED", "round_mode": rnd, "narrow_range": narrow},
                input=np.arange(-20, 20, dtype=F) / 4, min_range=F(-2.0), max_range=F(4.0))
    add("QuantizeV2", "half_even_not_scaled", {"T": DT("qint8"), "round_mode": "HALF_TO_EVEN"},
        input=EDGE, min_range=F(-1), max_range=F(1))
    add("QuantizeV2", "axis", {"T": DT("qint8"), "mode": "SCALED", "axis": 1},
        input=f32(2, 3, 2), min_range=F([-1, -2, -0.5]), max_range=F([1, 3, 0.5]))
    add("QuantizeV2", "axis_combined", {"T": DT("quint8"), "axis": 0},
        input=f32(2, 3), min_range=F([-1, -2]), max_range=F([1, 3]))
    add("QuantizeV2", "axis_first", {"T": DT("quint8"), "axis": 0, "mode": "MIN_FIRST"},
        input=f32(2, 3), min_range=F([-1, -2]), max_range=F([1, 3]))
    add("QuantizeV2", "axis_wrong_count", {"T": DT("qint8"), "axis": 1},
        input=f32(2, 3), min_range=F([-1, -2]), max_range=F([1, 3]))
    add("QuantizeV2", "max_below_min", {"T": DT("qint8")}, input=EDGE, min_range=F(1), max_range=F(-1))
    add("QuantizeV2", "empty", {"T": DT("quint8")}, input=np.zeros((0, 3), F),
        min_range=F(-1), max_range=F(1))


def _dequantize() -> None:
    ranges = {"qint8": (-128, 128), "quint8": (0, 256), "qint16": (-32768, 32768),
              "quint16": (0, 65536), "qint32": (-(1 << 31), 1 << 31)}
    for t, (lo, hi) in ranges.items():
        q = quantized(t, RS.randint(lo, hi, size=(3, 4), dtype=np.int64))
        for mode in ("MIN_COMBINED", "MIN_FIRST", "SCALED"):
            add("Dequantize", f"{t}_{mode}", {"mode": mode}, input=q,
                min_range=F(-3.5), max_range=F(7.25))
        add("Dequantize", f"{t}_scaled_narrow", {"mode": "SCALED", "narrow_range": True},
            input=q, min_range=F(-3.5), max_range=F(7.25))
        add("Dequantize", f"{t}_bfloat16", {"dtype": DT("bfloat16")}, input=q,
            min_range=F(-1.0), max_range=F(2.0))
    q8 = quantized("qint8", np.array([-128, -1, 0, 1, 127], np.int8))
    add("Dequantize", "equal_range_first", {"mode": "MIN_FIRST"}, input=q8,
        min_range=F(0.5), max_range=F(0.5))
    add("Dequantize", "bfloat16_min_first", {"mode": "MIN_FIRST", "dtype": DT("bfloat16")},
        input=q8, min_range=F(-1), max_range=F(1))


def _quantize_and_dequantize() -> None:
    x = f32(4, 6) * 3
    for op in ("QuantizeAndDequantizeV2", "QuantizeAndDequantizeV4"):
        for rnd in ("HALF_TO_EVEN", "HALF_UP"):
            for given in (False, True):
                add(op, f"{rnd}_{given}", {"range_given": given, "round_mode": rnd},
                    input=x, input_min=F(-2.0), input_max=F(1.5))
        add(op, "unsigned_4bit", {"signed_input": False, "num_bits": 4, "range_given": True},
            input=x, input_min=F(0.0), input_max=F(3.0))
        add(op, "narrow", {"narrow_range": True, "range_given": True},
            input=EDGE, input_min=F(-6.0), input_max=F(6.0))
        add(op, "axis", {"axis": 1, "range_given": True}, input=x,
            input_min=-np.abs(f32(6)), input_max=np.abs(f32(6)))
        add(op, "axis_computed", {"axis": 0}, input=x, input_min=F(0), input_max=F(0))
        add(op, "bad_range", {"range_given": True}, input=x, input_min=F(2.0), input_max=F(1.0))
        add(op, "bad_bits", {"num_bits": 70}, input=x, input_min=F(0), input_max=F(1))
        add(op, "float64", {}, input=x.astype(np.float64), input_min=0.0, input_max=0.0)
        add(op, "zero_range", {"range_given": True}, input=EDGE, input_min=F(0.0), input_max=F(0.0))
        add(op, "halves", {"range_given": True, "num_bits": 3}, input=np.arange(-9, 9, dtype=F) / 2,
            input_min=F(-4), input_max=F(3))
    for given in (False, True):
        add("QuantizeAndDequantizeV3", f"given_{given}", {"range_given": given}, input=x,
            input_min=F(-1.0), input_max=F(2.0), num_bits=np.int32(5))
    add("QuantizeAndDequantizeV3", "axis", {"axis": 0, "range_given": True, "narrow_range": True},
        input=x, input_min=-np.abs(f32(4)), input_max=np.abs(f32(4)), num_bits=np.int32(8))
    add("QuantizeAndDequantizeV3", "bits_not_scalar", {}, input=x, input_min=F(0),
        input_max=F(1), num_bits=np.int32([8]))
    add("QuantizeAndDequantizeV3", "bits_zero", {}, input=x, input_min=F(0), input_max=F(1),
        num_bits=np.int32(0))


def _fake_quant() -> None:
    x = np.concatenate([EDGE, f32(20) * 4])
    for bits, narrow in ((8, False), (8, True), (4, False), (2, True), (16, False)):
        add("FakeQuantWithMinMaxArgs", f"{bits}_{narrow}",
            {"num_bits": bits, "narrow_range": narrow, "min": -5.5, "max": 3.25}, inputs=x)
        add("FakeQuantWithMinMaxVars", f"{bits}_{narrow}", {"num_bits": bits, "narrow_range": narrow},
            inputs=x, min=F(-0.75), max=F(6.0))
    add("FakeQuantWithMinMaxArgs", "positive_min", {"min": 1.0, "max": 3.0}, inputs=x)
    add("FakeQuantWithMinMaxArgs", "negative_max", {"min": -3.0, "max": -1.0}, inputs=x)
    add("FakeQuantWithMinMaxArgs", "min_above_max", {"min": 3.0, "max": -1.0}, inputs=x)
    add("FakeQuantWithMinMaxArgs", "bits_1", {"num_bits": 1}, inputs=x)
    add("FakeQuantWithMinMaxVars", "zero_range", {}, inputs=x, min=F(0.0), max=F(0.0))
    add("FakeQuantWithMinMaxVars", "min_not_scalar", {}, inputs=x, min=F([0.0]), max=F(1.0))
    add("FakeQuantWithMinMaxVars", "empty", {}, inputs=np.zeros((0,), F), min=F(-1), max=F(1))
    add("FakeQuantWithMinMaxVarsPerChannel", "basic", {}, inputs=f32(3, 4) * 4,
        min=F([-1, -6, 0, 0.5]), max=F([1, 6, 0, 2]))
    add("FakeQuantWithMinMaxVarsPerChannel", "narrow_4", {"num_bits": 4, "narrow_range": True},
        inputs=f32(2, 2, 3) * 4, min=F([-1, -6, -2]), max=F([1, 6, 0.5]))
    add("FakeQuantWithMinMaxVarsPerChannel", "bad_depth", {}, inputs=f32(3, 4),
        min=F([-1, -6]), max=F([1, 6]))


def _requantize() -> None:
    acc = quantized("qint32", RS.randint(-(1 << 20), 1 << 20, size=(4, 5)))
    wide = quantized("qint32", np.array([-(1 << 31), -(1 << 30), -1, 0, 1, 1 << 29, (1 << 31) - 1]))
    for out in ("quint8", "qint8"):
        add("Requantize", out, {"out_type": DT(out)}, input=acc, input_min=F(-50.0),
            input_max=F(50.0), requested_output_min=F(-0.03), requested_output_max=F(0.04))
        add("Requantize", f"{out}_wide", {"out_type": DT(out)}, input=wide, input_min=F(-8.0),
            input_max=F(8.0), requested_output_min=F(-3.0), requested_output_max=F(5.0))
        add("Requantize", f"{out}_zero_width", {"out_type": DT(out)}, input=wide, input_min=F(-8.0),
            input_max=F(8.0), requested_output_min=F(0.0), requested_output_max=F(0.0))
    add("Requantize", "positive_min", {"out_type": DT("quint8")}, input=acc, input_min=F(-1),
        input_max=F(1), requested_output_min=F(0.5), requested_output_max=F(1.0))
    add("Requantize", "max_below_min", {"out_type": DT("quint8")}, input=acc, input_min=F(-1),
        input_max=F(1), requested_output_min=F(-0.5), requested_output_max=F(-1.0))
    for name, q in (("acc", acc), ("wide", wide), ("positive", quantized("qint32", [5, 1 << 24]))):
        add("RequantizationRange", name, {}, input=q, input_min=F(-20.0), input_max=F(20.0))
        for out in ("quint8", "qint8"):
            add("QuantizeDownAndShrinkRange", f"{name}_{out}", {"out_type": DT(out)}, input=q,
                input_min=F(-20.0), input_max=F(20.0))


_quantize()
_dequantize()
_quantize_and_dequantize()
_fake_quant()
_requantize()


def _uniform() -> None:
    x = np.concatenate([EDGE, f32(9) * 5]).reshape(4, 6)
    q = {"quantization_min_val": -128, "quantization_max_val": 127}
    for t in ("qint8", "qint32"):
        add("UniformQuantize", t, {**q, "Tout": DT(t)}, input=x, scales=F(0.05), zero_points=np.int32(3))
    add("UniformQuantize", "axis", {**q, "Tout": DT("qint8"), "quantization_axis": 1}, input=x,
        scales=np.abs(f32(6)) + F(0.01), zero_points=np.int32([0, 1, -2, 5, 0, 127]))
    add("UniformQuantize", "bad_axis_size", {**q, "Tout": DT("qint8"), "quantization_axis": 0}, input=x,
        scales=F([0.1, 0.2]), zero_points=np.int32([0, 1]))
    add("UniformQuantize", "narrow", {**q, "Tout": DT("qint8"), "quantization_min_val": -127}, input=x,
        scales=F(0.01), zero_points=np.int32(0))
    dq = {"Tout": DT("float32"), "quantization_min_val": -128, "quantization_max_val": 127}
    q8 = quantized("qint8", RS.randint(-128, 128, size=(3, 4)))
    add("UniformDequantize", "tensor", dq, input=q8, scales=F(0.3), zero_points=np.int32(-4))
    add("UniformDequantize", "axis", {**dq, "quantization_axis": 0}, input=q8, scales=F([0.1, 2, 3]),
        zero_points=np.int32([1, 0, -1]))
    add("UniformDequantize", "qint32", {**dq, "quantization_min_val": -(1 << 31),
        "quantization_max_val": (1 << 31) - 1}, input=quantized("qint32", RS.randint(-1000, 1000, size=5)),
        scales=F(0.001), zero_points=np.int32(7))
    acc = quantized("qint32", RS.randint(-5000, 5000, size=(3, 4)))
    rq = {"Tout": DT("qint8"), "input_quantization_min_val": -(1 << 31), "input_quantization_max_val": (1 << 31) - 1,
          "output_quantization_min_val": -128, "output_quantization_max_val": 127}
    add("UniformRequantize", "tensor", rq, input=acc, input_scales=F(0.002), input_zero_points=np.int32(1),
        output_scales=F(0.07), output_zero_points=np.int32(-3))
    add("UniformRequantize", "in_axis", {**rq, "input_quantization_axis": 1}, input=acc,
        input_scales=F([0.002, 0.01, 0.003, 0.5]), input_zero_points=np.int32([0, 1, 2, 3]),
        output_scales=F(0.07), output_zero_points=np.int32(0))
    add("UniformRequantize", "both_axis", {**rq, "input_quantization_axis": 0, "output_quantization_axis": 0},
        input=acc, input_scales=F([0.002, 0.01, 0.003]), input_zero_points=np.int32([0, 1, 2]),
        output_scales=F([0.1, 0.2, 0.05]), output_zero_points=np.int32([4, -4, 0]))
    add("UniformRequantize", "out_axis", {**rq, "output_quantization_axis": 1}, input=acc,
        input_scales=F(0.004), input_zero_points=np.int32(2),
        output_scales=F([0.1, 0.2, 0.05, 0.3]), output_zero_points=np.int32([4, -4, 0, 1]))
    add("UniformRequantize", "qint8_in", {**rq, "input_quantization_min_val": -128, "input_quantization_max_val": 127},
        input=q8, input_scales=F(0.5), input_zero_points=np.int32(0),
        output_scales=F(0.2), output_zero_points=np.int32(1))
    add("UniformRequantize", "negative_scale", rq, input=acc, input_scales=F(-0.002),
        input_zero_points=np.int32(1), output_scales=F(0.07), output_zero_points=np.int32(-3))
    i32 = {"lhs_quantization_min_val": -(1 << 31), "lhs_quantization_max_val": (1 << 31) - 1,
           "rhs_quantization_min_val": -(1 << 31), "rhs_quantization_max_val": (1 << 31) - 1,
           "output_quantization_min_val": -(1 << 31), "output_quantization_max_val": (1 << 31) - 1}
    rhs = quantized("qint32", RS.randint(-5000, 5000, size=(4,)))
    add("UniformQuantizedAdd", "tensor", i32, lhs=acc, rhs=rhs, lhs_scales=F(0.01), lhs_zero_points=np.int32(0),
        rhs_scales=F(0.03), rhs_zero_points=np.int32(0), output_scales=F(0.02), output_zero_points=np.int32(5))
    add("UniformQuantizedAdd", "axis", {**i32, "lhs_quantization_axis": 1, "rhs_quantization_axis": 0,
                                        "output_quantization_axis": 1},
        lhs=acc, rhs=rhs, lhs_scales=F([0.01, 0.02, 0.03, 0.04]), lhs_zero_points=np.int32([0, 0, 0, 0]),
        rhs_scales=F([0.03, 0.01, 0.05, 0.02]), rhs_zero_points=np.int32([0, 0, 0, 0]),
        output_scales=F([0.02, 0.02, 0.1, 0.01]), output_zero_points=np.int32([1, 2, 3, 4]))
    add("UniformQuantizedAdd", "bad_shapes", i32, lhs=acc, rhs=quantized("qint32", [1, 2, 3]),
        lhs_scales=F(0.01), lhs_zero_points=np.int32(0), rhs_scales=F(0.03), rhs_zero_points=np.int32(0),
        output_scales=F(0.02), output_zero_points=np.int32(5))
    cl = {"quantization_min_val": -(1 << 31), "quantization_max_val": (1 << 31) - 1}
    add("UniformQuantizedClipByValue", "tensor", cl, operand=acc, min=quantized("qint32", -100),
        max=quantized("qint32", 2000), scales=F(0.1), zero_points=np.int32(0))
    add("UniformQuantizedClipByValue", "axis", {**cl, "quantization_axis": 0}, operand=acc,
        min=quantized("qint32", [-100, 0, -3000]), max=quantized("qint32", [100, 4000, 0]),
        scales=F([0.1, 0.2, 0.3]), zero_points=np.int32([0, 0, 0]))
    lhs8 = quantized("qint8", RS.randint(-128, 128, size=(3, 5)))
    rhs8 = quantized("qint8", RS.randint(-128, 128, size=(5, 4)))
    dot = {"Tout": DT("qint32"), "lhs_quantization_min_val": -128, "lhs_quantization_max_val": 127,
           "rhs_quantization_min_val": -128, "rhs_quantization_max_val": 127,
           "output_quantization_min_val": -(1 << 31), "output_quantization_max_val": (1 << 31) - 1}
    add("UniformQuantizedDot", "tensor", dot, lhs=lhs8, rhs=rhs8, lhs_scales=F(0.05), lhs_zero_points=np.int32(2),
        rhs_scales=F(0.02), rhs_zero_points=np.int32(-1), output_scales=F(0.001), output_zero_points=np.int32(3))
    add("UniformQuantizedDot", "channel", {**dot, "rhs_quantization_axis": 1, "output_quantization_axis": 1},
        lhs=lhs8, rhs=rhs8, lhs_scales=F(0.05), lhs_zero_points=np.int32(2),
        rhs_scales=F([0.02, 0.01, 0.5, 0.03]), rhs_zero_points=np.int32([0, 0, 0, 0]),
        output_scales=F([0.001, 0.002, 0.01, 0.003]), output_zero_points=np.int32([0, 1, 2, 3]))
    add("UniformQuantizedDot", "narrow_out", {**dot, "output_quantization_min_val": -1000,
                                              "output_quantization_max_val": 1000},
        lhs=lhs8, rhs=rhs8, lhs_scales=F(0.05), lhs_zero_points=np.int32(2),
        rhs_scales=F(0.02), rhs_zero_points=np.int32(-1), output_scales=F(0.001), output_zero_points=np.int32(3))
    add("UniformQuantizedDot", "mismatch", dot, lhs=lhs8, rhs=quantized("qint8", np.zeros((4, 4))),
        lhs_scales=F(0.05), lhs_zero_points=np.int32(2), rhs_scales=F(0.02), rhs_zero_points=np.int32(-1),
        output_scales=F(0.001), output_zero_points=np.int32(3))
    hy = {"Tout": DT("float32"),
          "rhs_quantization_min_val": -128, "rhs_quantization_max_val": 127}
    add("UniformQuantizedDotHybrid", "tensor", hy, lhs=f32(3, 5) * 2, rhs=rhs8, rhs_scales=F(0.02),
        rhs_zero_points=np.int32(0))
    add("UniformQuantizedDotHybrid", "channel", {**hy, "rhs_quantization_axis": 1},
        lhs=np.vstack([f32(2, 5), np.zeros((1, 5), F), np.abs(f32(1, 5))]), rhs=rhs8,
        rhs_scales=F([0.02, 0.01, 0.5, 0.03]), rhs_zero_points=np.int32([0, 1, 0, -1]))


def _per_channel() -> None:
    big = np.array([-(1 << 31), -(1 << 30), -100, 0, 5, 1 << 24, 3 << 28, (1 << 31) - 1], np.int64)
    q = quantized("qint32", RS.choice(big, size=(2, 3, 2, 4)))
    q_even = quantized("qint32", np.array([1, 3, 5, 7] * 4).reshape(1, 2, 2, 4) << 20)
    for t, lo, hi in (("qint8", -1.0, 1.0), ("quint8", 0.0, 2.0), ("qint8", -0.001, 0.5)):
        add("RequantizePerChannel", f"{t}_{lo}", {"out_type": DT(t)}, input=q,
            input_min=F([-1, -2, -0.5, -8]), input_max=F([1, 2, 4, 8]),
            requested_output_min=F(lo), requested_output_max=F(hi))
    # scales that put values exactly halfway between two integers (ties round to even)
    add("RequantizePerChannel", "ties", {"out_type": DT("qint8")}, input=q_even,
        input_min=F([-1, -1, -1, -1]), input_max=F([1, 1, 1, 1]),
        requested_output_min=F(-127 / 256), requested_output_max=F(127 / 256))
    add("RequantizePerChannel", "qint8_positive_min", {"out_type": DT("qint8")}, input=q,
        input_min=F([-1, -2, -0.5, -8]), input_max=F([1, 2, 4, 8]),
        requested_output_min=F(0.0), requested_output_max=F(1.0))
    add("RequantizePerChannel", "not_4d", {"out_type": DT("qint8")}, input=q[0],
        input_min=F([-1, -2, -0.5, -8]), input_max=F([1, 2, 4, 8]),
        requested_output_min=F(-1.0), requested_output_max=F(1.0))


_uniform()
_per_channel()


def _dimension_numbers(lhs: tuple[int, int, list[int]], rhs: tuple[int, int, list[int]],
                       out: tuple[int, int, list[int]]) -> str:
    """A UniformQuantizedConvolutionDimensionNumbersAttr as TF's string attr (every byte ASCII):
    (batch, feature, spatial) of lhs and out, (input feature, output feature, spatial) of rhs."""
    raw = bytearray()
    for first, (a, b, spatial) in ((1, lhs), (4, rhs), (7, out)):
        raw += bytes([first << 3, a, (first + 1) << 3, b, (first + 2) << 3 | 2, len(spatial),
                      *spatial])
    return raw.decode("ascii")


def _convolution() -> None:
    conv = {"Tout": DT("qint32"), "padding": "VALID",
            "lhs_quantization_min_val": -128, "lhs_quantization_max_val": 127,
            "rhs_quantization_min_val": -128, "rhs_quantization_max_val": 127,
            "output_quantization_min_val": -(1 << 31), "output_quantization_max_val": (1 << 31) - 1}
    scales = {"lhs_scales": F(0.05), "lhs_zero_points": np.int32(3), "rhs_scales": F(0.02),
              "rhs_zero_points": np.int32(-2), "output_scales": F(0.003),
              "output_zero_points": np.int32(5)}

    def s8(*shape: int):
        return quantized("qint8", RS.randint(-128, 128, size=shape))

    lhs, rhs = s8(2, 4, 6, 5), s8(6, 4, 3, 2)  # NCHW lhs, OIHW rhs (the default numbers)
    for tag, extra in (("valid", {}), ("same", {"padding": "SAME"}),
                       ("explicit", {"padding": "EXPLICIT", "explicit_padding": [1, 0, 2, 3]}),
                       ("strides", {"window_strides": [2, 3]}),
                       ("lhs_dilation", {"lhs_dilation": [2, 1], "padding": "SAME"}),
                       ("rhs_dilation", {"rhs_dilation": [2, 2]}),
                       ("narrow_out", {"output_quantization_min_val": -50,
                                       "output_quantization_max_val": 50})):
        add("UniformQuantizedConvolution", tag, {**conv, **extra}, lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "feature_groups", {**conv, "feature_group_count": 2},
        lhs=lhs, rhs=s8(6, 2, 2, 2), **scales)
    add("UniformQuantizedConvolution", "batch_groups", {**conv, "batch_group_count": 2},
        lhs=lhs, rhs=s8(6, 4, 2, 2), **scales)
    per_channel = {**conv, "rhs_quantization_axis": 0, "output_quantization_axis": 1}
    add("UniformQuantizedConvolution", "per_channel", per_channel, lhs=lhs, rhs=rhs,
        lhs_scales=F(0.05), lhs_zero_points=np.int32(-1),
        rhs_scales=F([0.02, 0.01, 0.5, 0.03, 0.2, 0.07]),
        rhs_zero_points=np.int32([0, 1, -1, 2, 0, 0]),
        output_scales=F([0.001, 0.002, 0.01, 0.003, 0.5, 0.04]),
        output_zero_points=np.int32([0, 1, 2, 3, -4, 5]))
    add("UniformQuantizedConvolution", "per_channel_tensor_out",
        {**conv, "rhs_quantization_axis": 0}, lhs=lhs, rhs=rhs, lhs_scales=F(0.05),
        lhs_zero_points=np.int32(-1), rhs_scales=F([0.02, 0.01, 0.5, 0.03, 0.2, 0.07]),
        rhs_zero_points=np.int32([0, 1, -1, 2, 0, 0]), output_scales=F(0.01),
        output_zero_points=np.int32(7))
    # NHWC lhs, HWIO rhs, NHWC output: TF's dimension numbers for Conv2D layouts
    nhwc = _dimension_numbers((0, 3, [1, 2]), (2, 3, [0, 1]), (0, 3, [1, 2]))
    add("UniformQuantizedConvolution", "nhwc", {**conv, "dimension_numbers": nhwc,
                                                "padding": "SAME", "window_strides": [2, 1]},
        lhs=s8(2, 5, 6, 4), rhs=s8(3, 2, 4, 6), **scales)
    add("UniformQuantizedConvolution", "nhwc_per_channel",
        {**conv, "dimension_numbers": nhwc, "rhs_quantization_axis": 3,
         "output_quantization_axis": 3},
        lhs=s8(1, 4, 4, 4), rhs=s8(2, 2, 4, 3), lhs_scales=F(0.05), lhs_zero_points=np.int32(0),
        rhs_scales=F([0.02, 0.01, 0.5]), rhs_zero_points=np.int32([0, 0, 0]),
        output_scales=F([0.001, 0.002, 0.01]), output_zero_points=np.int32([0, 1, 2]))
    # TF's eager kernel cache keeps the strides the first call filled in (a kernel per attrs):
    # other ranks name theirs
    add("UniformQuantizedConvolution", "conv1d", {**conv, "window_strides": [2]},
        lhs=s8(2, 3, 7), rhs=s8(4, 3, 3), **scales)
    add("UniformQuantizedConvolution", "conv3d", {**conv, "padding": "SAME",
                                                  "window_strides": [1, 1, 1]},
        lhs=s8(1, 2, 3, 4, 3), rhs=s8(2, 2, 2, 2, 2), **scales)
    add("UniformQuantizedConvolution", "window_too_big", conv, lhs=s8(1, 4, 2, 2),
        rhs=s8(2, 4, 3, 3), **scales)
    add("UniformQuantizedConvolution", "empty_batch", conv, lhs=s8(0, 4, 6, 5), rhs=rhs,
        **scales)
    # errors: feature mismatch, rank 2, bad axis, non-positive scales, per-tensor rhs with
    # per-channel output, bad padding attrs, a bad dimension-numbers string
    add("UniformQuantizedConvolution", "feature_mismatch", conv, lhs=lhs, rhs=s8(6, 3, 3, 2),
        **scales)
    add("UniformQuantizedConvolution", "rank2", conv, lhs=s8(2, 4), rhs=s8(4, 4), **scales)
    add("UniformQuantizedConvolution", "lhs_axis", {**conv, "lhs_quantization_axis": 0},
        lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "rhs_axis", {**conv, "rhs_quantization_axis": 1},
        lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "zero_scale", conv, lhs=lhs, rhs=rhs,
        **{**scales, "rhs_scales": F(0.0)})
    add("UniformQuantizedConvolution", "tensor_rhs_channel_out",
        {**conv, "output_quantization_axis": 1}, lhs=lhs, rhs=rhs,
        **{**scales, "output_scales": F([0.1] * 6), "output_zero_points": np.int32([0] * 6)})
    add("UniformQuantizedConvolution", "explicit_with_valid",
        {**conv, "explicit_padding": [1, 1, 1, 1]}, lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "explicit_size", {**conv, "padding": "EXPLICIT",
                                                         "explicit_padding": [1, 1]},
        lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "bad_dimension_numbers",
        {**conv, "dimension_numbers": "\x08"}, lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "strides_size", {**conv, "window_strides": [1]},
        lhs=lhs, rhs=rhs, **scales)
    add("UniformQuantizedConvolution", "group_mismatch", {**conv, "feature_group_count": 3},
        lhs=lhs, rhs=rhs, **scales)

    hy = {"Tout": DT("float32"), "padding": "SAME", "rhs_quantization_min_val": -128, "rhs_quantization_max_val": 127}
    x = np.concatenate([f32(1, 4, 6, 5) * 3, np.zeros((1, 4, 6, 5), F),
                        np.abs(f32(1, 4, 6, 5))])
    add("UniformQuantizedConvolutionHybrid", "tensor", hy, lhs=x, rhs=rhs,
        rhs_scales=F(0.02), rhs_zero_points=np.int32(0))
    add("UniformQuantizedConvolutionHybrid", "channel", {**hy, "rhs_quantization_axis": 0,
                                                         "window_strides": [2, 2]},
        lhs=x, rhs=rhs, rhs_scales=F([0.02, 0.01, 0.5, 0.03, 0.2, 0.07]),
        rhs_zero_points=np.int32([0, 1, -1, 2, 0, 0]))
    add("UniformQuantizedConvolutionHybrid", "nhwc_groups",
        {**hy, "dimension_numbers": nhwc, "feature_group_count": 2, "lhs_dilation": [1, 2],
         "rhs_dilation": [2, 1]},
        lhs=f32(2, 5, 6, 4), rhs=s8(2, 2, 2, 6), rhs_scales=F(0.05),
        rhs_zero_points=np.int32(1))
    add("UniformQuantizedConvolutionHybrid", "batch_groups", {**hy, "batch_group_count": 3,
                                                              "padding": "VALID"},
        lhs=x, rhs=s8(6, 4, 2, 2), rhs_scales=F(0.02), rhs_zero_points=np.int32(0))
    add("UniformQuantizedConvolutionHybrid", "bad_axis", {**hy, "rhs_quantization_axis": 2},
        lhs=x, rhs=rhs, rhs_scales=F(0.02), rhs_zero_points=np.int32(0))


_convolution()
test_kernel_matches_tensorflow = CASES.test()
