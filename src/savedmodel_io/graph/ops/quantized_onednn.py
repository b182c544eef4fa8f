"""oneDNN's int8 kernels: QuantizedConv2D* / QuantizedDepthwiseConv2D* / QuantizedMatMulWithBias*
and QuantizedConcatV2.

These are what Intel's int8 toolchains (Neural Compressor, TF's oneDNN graph rewrites)
leave in a SavedModel: quint8 or qint8 activations scaled by ``max|range| / 255`` (or 127)
without a zero point, qint8 weights scaled by ``max|range| / 127`` (per output channel when
the ranges are vectors), int32 accumulation, then in float32 as oneDNN 3 computes it:
``v = acc * (src_scale * wei_scale) + bias``, an optional ReLU, and the result
multiplied by ``1 / dst_scale``, rounded to nearest even and saturated. ``dst_scale`` is
``src_scale * wei_scale`` for qint32 results and ``max|frozen range| / 255`` (or 127) for
requantized ones. The matmuls quantize their input as MIN_FIRST whatever
``input_quant_mode`` says (TensorFlow 2.21's oneDNN 3 path) and add its compensation
``bias + min_a * 255 / (max_a - min_a) * colsum(weights)``. Output ranges follow
MklQuantizationRangeForMultiplication. Semantics: tensorflow/tensorflow
tensorflow/core/kernels/mkl/mkl_conv_ops.cc, mkl_qmatmul_op.cc, mkl_quantized_conv_ops.h;
checked bit for bit against TensorFlow with oneDNN enabled (tests/graph/
test_ops_quantized_onednn_tf.py). TensorFlow runs them only with oneDNN on
(``TF_ENABLE_ONEDNN_OPTS``): without it their CPU kernels are placeholders.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._quant import F32, qtype, requantize_eigen
from savedmodel_io.graph.ops._util import attr_str, bad, check_size, ints
from savedmodel_io.graph.ops.nn import _patches, _window

_INT32 = (-(1 << 31), (1 << 31) - 1)


def _float_per_level(lo, hi, lowest: int, highest: int):
    """MklFloatForOneQuantizedLevel: the float step of one level (symmetric signed ranges)."""
    if lowest < -highest:
        lowest += 1
    return (np.asarray(hi, F32) - np.asarray(lo, F32)) / F32(highest - lowest)


def output_range(min_x, max_x, x_signed: bool, min_w, max_w):
    """MklQuantizationRangeForMultiplication<Tx, qint8, qint32>: the qint32 result's range."""
    step_x = _float_per_level(min_x, max_x, -128 if x_signed else 0, 127 if x_signed else 255)
    step_w = _float_per_level(min_w, max_w, -128, 127)
    step = (step_x * step_w).astype(F32)
    return (step * F32(_INT32[0])).astype(F32), (step * F32(_INT32[1])).astype(F32)


def _scale(lo, hi, levels: float):
    """``max(|lo|, |hi|) / levels`` in float32 (elementwise for per-channel ranges)."""
    top = np.maximum(np.abs(np.asarray(lo, F32)), np.abs(np.asarray(hi, F32)))
    return (top.astype(np.float64) / levels).astype(F32)


def _finish(v: np.ndarray, dst_scale, relu: bool, out_dtype: np.dtype) -> np.ndarray:
    """ReLU, the destination scale (as a reciprocal), rounding to even, saturation."""
    if relu:
        v = np.maximum(v, F32(0.0))
    with np.errstate(all="ignore"):
        v = v * (F32(1.0) / np.asarray(dst_scale, F32)).astype(F32)
        info = np.iinfo(out_dtype)
        return np.clip(np.nan_to_num(np.rint(v)), info.min, info.max).astype(out_dtype)


def _scalar(node, value, what: str) -> F32:
    a = np.asarray(value)
    if a.ndim:
        raise bad(node, f"`{what}` must be rank 0 but is rank {a.ndim}")
    return F32(a)


# -- convolutions ---------------------------------------------------------------------------------

def _int_conv(node, x: np.ndarray, w: np.ndarray, depthwise: bool) -> np.ndarray:
    """The int64 convolution of NHWC ``x`` with HWIO (or HWIM depthwise) ``w``, zero-padded."""
    if x.ndim != 4:
        raise bad(node, f"input must be 4-dimensional {list(x.shape)}")
    if w.ndim != 4:
        raise bad(node, f"filter must be 4-dimensional: {list(w.shape)}")
    if x.shape[3] != w.shape[2]:
        raise bad(node, f"input and filter must have the same depth: {x.shape[3]} vs {w.shape[2]}")
    strides = ints(node.attr["strides"])
    dil = ints(node.attr["dilations"])
    if len(strides) != 4 or strides[0] != 1 or strides[3] != 1:
        raise bad(node, "Current implementation does not yet support strides in the batch and "
                        "depth dimensions.")
    if len(dil) != 4 or dil[0] != 1 or dil[3] != 1:
        raise bad(node, "Current implementation does not yet support dilations in the batch and "
                        "depth dimensions.")
    explicit = ints(node.attr.get("padding_list") or [])
    padding = attr_str(node, "padding")
    kh, kw = w.shape[0], w.shape[1]
    if explicit:
        if len(explicit) != 8:
            raise bad(node, f"padding_list must have 8 values, got {len(explicit)}")
        oh, pt, pb = _window(node, x.shape[1], kh, strides[1], dil[1], "EXPLICIT", (explicit[2], explicit[3]))
        ow, pl, pr = _window(node, x.shape[2], kw, strides[2], dil[2], "EXPLICIT", (explicit[4], explicit[5]))
    else:
        oh, pt, pb = _window(node, x.shape[1], kh, strides[1], dil[1], padding)
        ow, pl, pr = _window(node, x.shape[2], kw, strides[2], dil[2], padding)
    out_c = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    check_size(node, (x.shape[0], oh, ow, out_c), 8)
    xp = np.pad(x.astype(np.int64), [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    patches = _patches(xp, (oh, ow), (kh, kw), (strides[1], strides[2]), (dil[1], dil[2]))
    wi = w.astype(np.int64)
    if depthwise:
        out = np.einsum("nhwijc,ijcm->nhwcm", patches, wi)
        return out.reshape(out.shape[0], oh, ow, out_c)
    return np.tensordot(patches, wi, axes=([3, 4, 5], [0, 1, 2]))


def _wrap32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.int64).astype(np.int32)


def _channel(node, value, channels: int, what: str) -> np.ndarray:
    """A filter range: a scalar, or one value per output channel."""
    a = np.asarray(value, F32)
    if a.ndim and a.size not in (1, channels):
        raise bad(node, f"{what} must have 1 or {channels} elements, got {a.size}")
    return a


def quantized_conv(node, inputs, ctx):
    """Every QuantizedConv2D* / QuantizedDepthwiseConv2D* op, its fused parts read from its name."""
    op = node.op
    depthwise = op.startswith("QuantizedDepthwise")
    has_bias = "WithBias" in op
    requantize = op.endswith("Requantize")
    relu = "Relu" in op
    x, w = np.asarray(inputs[0]), np.asarray(inputs[1])
    k = 3 if has_bias else 2
    min_x, max_x = _scalar(node, inputs[k], "min_input"), _scalar(node, inputs[k + 1], "max_input")
    acc = _int_conv(node, x, w, depthwise)
    channels = acc.shape[3]
    min_w = _channel(node, inputs[k + 2], channels, "min_filter")
    max_w = _channel(node, inputs[k + 3], channels, "max_filter")
    k += 4
    x_signed = qtype(node.attr["Tinput"]).signed
    src = _scale(min_x, max_x, 127.0 if x_signed else 255.0)
    wei = _scale(min_w, max_w, 127.0)
    sw = (src * wei).astype(F32)
    v = _wrap32(acc).astype(F32) * sw
    if has_bias:
        bias = np.asarray(inputs[2])
        if bias.ndim != 1 or bias.shape[0] != channels:
            raise bad(node, f"bias must be 1-dimensional with {channels} elements, got "
                            f"{list(bias.shape)}")
        # A qint32 bias is in the accumulator's units.
        v = (v + (bias.astype(F32) * sw if bias.dtype.kind in "iu" else bias.astype(F32))).astype(F32)
    out_dtype = np.dtype(np.int32)
    out_range = output_range(min_x, max_x, x_signed, min_w, max_w)
    if requantize:
        lo, hi = _scalar(node, inputs[k], "min_freezed_output"), _scalar(node, inputs[k + 1], "max_freezed_output")
        k += 2
        out_t = qtype(node.attr["out_type"])
        out_dtype = out_t.dtype
        dst = _scale(lo, hi, 127.0 if out_t.signed else 255.0)
        out_range = (F32(lo), F32(hi))
    else:
        # Per-channel ranges still give one scale: the widest channel's (TF's int32 values are
        # in that channel's units, whatever the ranges it reports).
        dst = F32(src * F32(np.max(wei)))
    out = _finish(v, dst, relu, out_dtype)
    lo, hi = out_range
    if np.ndim(lo) == 0:
        lo, hi = F32(lo), F32(hi)
    return [out, lo, hi]


for _op in ("QuantizedConv2DAndRelu", "QuantizedConv2DAndReluAndRequantize",
            "QuantizedConv2DAndRequantize", "QuantizedConv2DPerChannel", "QuantizedConv2DWithBias",
            "QuantizedConv2DWithBiasAndRelu", "QuantizedConv2DWithBiasAndReluAndRequantize",
            "QuantizedConv2DWithBiasAndRequantize",
            "QuantizedDepthwiseConv2D", "QuantizedDepthwiseConv2DWithBias",
            "QuantizedDepthwiseConv2DWithBiasAndRelu",
            "QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize"):
    kernel(_op)(quantized_conv)


# -- matmuls --------------------------------------------------------------------------------------

@kernel("QuantizedMatMulWithBias", "QuantizedMatMulWithBiasAndRelu",
        "QuantizedMatMulWithBiasAndReluAndRequantize", "QuantizedMatMulWithBiasAndRequantize",
        "QuantizedMatMulWithBiasAndDequantize")
def quantized_matmul(node, inputs, ctx):
    op = node.op
    a, b, bias = (np.asarray(v) for v in inputs[:3])
    min_a, max_a = _scalar(node, inputs[3], "min_a"), _scalar(node, inputs[4], "max_a")
    min_b, max_b = _scalar(node, inputs[5], "min_b"), _scalar(node, inputs[6], "max_b")
    mode = attr_str(node, "input_quant_mode")
    if mode not in ("MIN_FIRST", "SCALED"):
        raise bad(node, f"Quantization mode must be either MIN_FIRST or SCALED, but received {mode}")
    for i, m in enumerate((a, b)):
        if m.ndim != 2:
            raise bad(node, f"In[{i}] is not a matrix")
    if node.attr["transpose_a"] or node.attr["transpose_b"]:
        # oneDNN builds no inner product for transposed operands; TensorFlow fails too.
        raise bad(node, "could not create a primitive descriptor for transposed operands")
    if a.shape[1] != b.shape[0]:
        raise bad(node, f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    if bias.ndim != 1 or bias.shape[0] != b.shape[1]:
        raise bad(node, f"bias must be a vector of {b.shape[1]} values, got {list(bias.shape)}")
    acc = _wrap32(a.astype(np.int64) @ b.astype(np.int64))
    span = F32(max_a - min_a)
    src = F32(float(span) / 255.0)
    wei = _scale(min_b, max_b, 127.0)
    if op.endswith("Dequantize") and mode == "SCALED":
        # The float-output kernel honours SCALED: no offset, no compensation.
        src = _scale(min_a, max_a, 255.0)
    sw = F32(src * wei)
    if bias.dtype.kind in "iu":
        out_scale = F32((255.0 * 127.0) / (float(span) * float(max(abs(max_b), abs(min_b)))))
        bias_f = (bias.astype(F32) / out_scale).astype(F32)
    elif op.endswith("Dequantize") and mode == "SCALED":
        bias_f = bias.astype(F32)
    else:
        # MIN_FIRST compensation for the input's offset (TF adds it in these units).
        colsum = _wrap32(b.astype(np.int64).sum(axis=0))
        qa_amin = F32(F32(F32(255) * min_a) / span)
        bias_f = (bias.astype(F32) + (colsum.astype(F32) * qa_amin).astype(F32)).astype(F32)
    v = (acc.astype(F32) * sw + bias_f).astype(F32)
    relu = "Relu" in op
    if op.endswith(("Requantize", "Dequantize")):
        lo = _scalar(node, inputs[7], "min_freezed_output")
        hi = _scalar(node, inputs[8], "max_freezed_output")
        if op.endswith("Dequantize"):
            return (np.maximum(v, F32(0.0)) if relu else v).astype(F32)
        out_t = qtype(node.attr["Toutput"])
        return [_finish(v, _scale(lo, hi, 127.0 if out_t.signed else 255.0), relu, out_t.dtype),
                F32(lo), F32(hi)]
    lo, hi = output_range(min_a, max_a, False, min_b, max_b)
    return [_finish(v, sw, relu, np.dtype(np.int32)), F32(lo), F32(hi)]


# -- concatenation ------------------------------------------------------------------------------

@kernel("QuantizedConcatV2")
def quantized_concat_v2(node, inputs, ctx):
    """oneDNN's quantized concat (tensorflow/core/kernels/mkl/mkl_concat_op.cc): rank-4 inputs
    whose ranges agree within 1e-6 are copied and keep the first range; otherwise (Eigen's
    path) the output range is [0, largest max] (quint8) or symmetric about zero (qint8) and
    each input with another range is requantized into it through float32."""
    n = int(node.attr["N"])
    values = [np.asarray(v) for v in inputs[:n]]
    axis_t = np.asarray(inputs[n])
    mins, maxs = inputs[n + 1:2 * n + 1], inputs[2 * n + 1:3 * n + 1]
    t = qtype(node.attr["T"])
    if axis_t.ndim:
        raise bad(node, f"Concat dim tensor should be a scalar integer, but got shape "
                        f"{list(axis_t.shape)}")
    if axis_t.dtype != np.int32:
        # TF's oneDNN rewrite takes only int32 axes; its placeholder kernel outputs nothing
        raise bad(node, "Missing 0-th output: TensorFlow computes QuantizedConcatV2 only with "
                        "an int32 axis")
    rank = values[0].ndim
    axis = int(axis_t) + rank if int(axis_t) < 0 else int(axis_t)
    for i, v in enumerate(values):
        if v.ndim != rank:
            raise bad(node, f"_MklConcatOp : Ranks of all input tensors should match: input "
                            f"dimensions = {v.ndim} vs. expected rank = {rank}")
        for d in range(rank):
            if d != axis and v.shape[d] != values[0].shape[d]:
                raise bad(node, f"_MklConcatOp : Dimensions of inputs should match: "
                                f"shape[0][{d}]= {values[0].shape[d]} vs. shape[{i}][{d}] = "
                                f"{v.shape[d]}")
    if not 0 <= axis < rank:
        raise bad(node, f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, "
                        f"{rank}), but got {int(axis_t)}")
    ranges = [(float(F32(np.asarray(lo).reshape(-1)[0])), float(F32(np.asarray(hi).reshape(-1)[0])))
              for lo, hi in zip(mins, maxs)]
    same = all(abs(F32(lo) - F32(ranges[0][0])) <= F32(1e-6)
               and abs(F32(hi) - F32(ranges[0][1])) <= F32(1e-6) for lo, hi in ranges[1:])
    onednn = rank == 4 and same and any(v.size for v in values)
    check_size(node, values[0].shape[:axis] + (sum(v.shape[axis] for v in values),)
               + values[0].shape[axis + 1:], t.dtype.itemsize)
    if onednn:
        out_lo, out_hi = ranges[0]
        parts = values
    else:
        overall_min = min(F32(lo) for lo, _ in ranges)
        overall_max = max(F32(hi) for _, hi in ranges)
        if t.signed:
            big = max(abs(overall_min), abs(overall_max))
            out_lo, out_hi = float(-big), float(big)
        else:
            out_lo, out_hi = 0.0, float(overall_max)
        parts = [v if (lo, hi) == (out_lo, out_hi)
                 else requantize_eigen(v, lo, hi, t, out_lo, out_hi, t)
                 for v, (lo, hi) in zip(values, ranges)]
    return [np.concatenate(parts, axis=axis).astype(t.dtype), F32(out_lo), F32(out_hi)]
