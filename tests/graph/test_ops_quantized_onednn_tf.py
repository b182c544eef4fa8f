"""oneDNN's int8 convolutions and matmuls against TensorFlow with oneDNN enabled.

TensorFlow computes these ops only through its oneDNN graph rewrite, in graph mode, with
constant filters: the TF side (``tf_answer``, run by a ModuleOracle) turns oneDNN on,
runs each case as a tf.function over constants and records the outputs and the op's
NodeDef; our runtime runs that NodeDef and must agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from _oracles import ModuleOracle

from .raw_ops_harness import DT, Cases, quantized

F = np.float32


def tf_answer(request: dict) -> dict:
    """TF side: the op's NodeDef, and its outputs on constant inputs with oneDNN on."""
    import base64
    import os

    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"  # read when TensorFlow first runs an op
    import tensorflow as tf
    from _oracles.codec import decode, encode

    def tf_dtype(d: dict):
        return tf.as_dtype(d.get("tf_dtype", d["dtype"]))

    attrs = {k: tf.as_dtype(v["dtype"]) if isinstance(v, dict) else v
             for k, v in request["attrs"].items()}
    out: dict = {}
    g = tf.Graph()
    try:
        with g.as_default():
            kwargs = {}
            for k, (name, value) in enumerate(request["inputs"]):
                kwargs[name] = tf.compat.v1.placeholder(tf_dtype(value), shape=None, name=f"in{k}")
            getattr(tf.raw_ops, request["op"])(**kwargs, **attrs, name="op")
        node = g.get_operation_by_name("op").node_def
        out["node_def"] = base64.b64encode(node.SerializeToString()).decode()
    except Exception as e:  # noqa: BLE001 (a wrong case is reported as data)
        out["node_def_error"] = f"{type(e).__name__}: {e}"
        return out

    def run():
        kw = {name: tf.constant(decode(v), dtype=tf_dtype(v)) for name, v in request["inputs"]}
        result = getattr(tf.raw_ops, request["op"])(**kw, **attrs)
        return list(result) if isinstance(result, (list, tuple)) else [result]

    try:
        out["outputs"] = [encode(t.numpy()) for t in tf.function(run)()]
    except Exception as e:  # noqa: BLE001 (TF's failure is the answer)
        out["error"] = f"{type(e).__name__}: {str(e)[:600]}"
    return out


class OneDnnCases(Cases):
    """Cases answered by ``tf_answer`` (graph mode, constants, oneDNN on)."""

    def oracle(self) -> dict[str, dict]:
        requests = [{"function": "tf_answer", **c.request()} for c in self]
        answers = ModuleOracle(__name__).answers(requests)
        return {c.id: a for c, a in zip(self, answers)}


CASES = OneDnnCases(seed=5105)
add = CASES.add
RS = CASES.rs


def u8(*shape: int):
    return quantized("quint8", RS.randint(0, 256, size=shape))


def s8(*shape: int, low: int = -127):
    return quantized("qint8", RS.randint(low, 128, size=shape))


CONV = {"strides": [1, 1, 1, 1], "padding": "SAME"}


def _conv() -> None:
    x, w = u8(2, 5, 6, 3), s8(3, 2, 3, 4)
    ranges = {"min_input": F(0.0), "max_input": F(2.5), "min_filter": F(-0.8), "max_filter": F(0.6)}
    negative = {**ranges, "min_input": F(-3.0)}
    bias = CASES.f32(4) * F(2)
    frozen = {"min_freezed_output": F(0.0), "max_freezed_output": F(12.0)}
    signed_frozen = {"min_freezed_output": F(-6.0), "max_freezed_output": F(6.0)}
    for tag, attrs in (("same", CONV), ("valid_strided", {"strides": [1, 2, 1, 1], "padding": "VALID"}),
                       ("dilated", {**CONV, "dilations": [1, 2, 1, 1]})):
        add("QuantizedConv2D", tag, {**attrs, "out_type": DT("qint32")}, input=x, filter=w, **ranges)
        add("QuantizedConv2DWithBias", tag, attrs, input=x, filter=w, bias=bias, **ranges)
    add("QuantizedConv2DWithBias", "negative_input_min", CONV, input=x, filter=w, bias=bias, **negative)
    add("QuantizedConv2DWithBias", "padding_list", {"strides": [1, 1, 1, 1], "padding": "VALID",
                                                    "padding_list": [0, 0, 1, 0, 2, 1, 0, 0]},
        input=x, filter=w, bias=bias, **ranges)
    add("QuantizedConv2DWithBias", "qint8_input", CONV, input=s8(2, 5, 6, 3, low=-128), filter=w,
        bias=bias, **negative)
    per_channel = {**ranges, "min_filter": F([-0.8, -0.1, -2.0, -0.5]), "max_filter": F([0.6, 0.3, 1.0, 0.5])}
    add("QuantizedConv2DWithBias", "per_channel", CONV, input=x, filter=w, bias=bias, **per_channel)
    add("QuantizedConv2DPerChannel", "basic", {**CONV, "out_type": DT("qint32")}, input=x, filter=w,
        **per_channel)
    add("QuantizedConv2DAndRelu", "basic", CONV, input=x, filter=w, **negative)
    add("QuantizedConv2DWithBiasAndRelu", "basic", CONV, input=x, filter=w, bias=bias, **ranges)
    add("QuantizedConv2DAndRequantize", "qint8", {**CONV, "out_type": DT("qint8")}, input=x, filter=w,
        **ranges, **signed_frozen)
    add("QuantizedConv2DAndReluAndRequantize", "quint8", CONV, input=x, filter=w, **ranges, **frozen)
    add("QuantizedConv2DWithBiasAndRequantize", "qint8", {**CONV, "out_type": DT("qint8")}, input=x,
        filter=w, bias=bias, **ranges, **signed_frozen)
    add("QuantizedConv2DWithBiasAndReluAndRequantize", "quint8", CONV, input=x, filter=w, bias=bias,
        **ranges, **frozen)
    add("QuantizedConv2DWithBiasAndReluAndRequantize", "per_channel", CONV, input=x, filter=w,
        bias=bias, **per_channel, **frozen)
    add("QuantizedConv2DWithBiasAndReluAndRequantize", "qint32_bias", CONV, input=x, filter=w,
        bias=quantized("qint32", RS.randint(-20000, 20000, size=4)), **ranges, **frozen)
    dw = s8(3, 3, 3, 2)
    add("QuantizedDepthwiseConv2D", "basic", {**CONV, "out_type": DT("qint32")}, input=x, filter=dw,
        **ranges)
    add("QuantizedDepthwiseConv2DWithBias", "basic", CONV, input=x, filter=dw, bias=CASES.f32(6), **ranges)
    add("QuantizedDepthwiseConv2DWithBiasAndRelu", "strided", {"strides": [1, 2, 2, 1], "padding": "SAME"},
        input=x, filter=dw, bias=CASES.f32(6), **ranges)
    add("QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize", "basic", CONV, input=x, filter=dw,
        bias=CASES.f32(6), **ranges, **frozen)
    add("QuantizedConv2DWithBias", "depth_mismatch", CONV, input=x, filter=s8(3, 2, 2, 4), bias=bias,
        **ranges)


def _matmul() -> None:
    a, b = u8(3, 7), s8(7, 5)
    bias = CASES.f32(5) * F(3)
    for tag, lo in (("zero_min", 0.0), ("negative_min", -1.5), ("positive_min", 0.5)):
        ranges = {"min_a": F(lo), "max_a": F(4.0), "min_b": F(-0.7), "max_b": F(0.9)}
        for mode in ("MIN_FIRST", "SCALED"):
            q = {"input_quant_mode": mode}
            add("QuantizedMatMulWithBias", f"{tag}_{mode}", q, a=a, b=b, bias=bias, **ranges)
            add("QuantizedMatMulWithBiasAndRelu", f"{tag}_{mode}", q, a=a, b=b, bias=bias, **ranges)
            add("QuantizedMatMulWithBiasAndReluAndRequantize", f"{tag}_{mode}", q, a=a, b=b, bias=bias,
                **ranges, min_freezed_output=F(0.0), max_freezed_output=F(20.0))
            add("QuantizedMatMulWithBiasAndRequantize", f"{tag}_{mode}", q, a=a, b=b, bias=bias,
                **ranges, min_freezed_output=F(-10.0), max_freezed_output=F(20.0))
            # TensorFlow's float result is only right for the first row (see tests'
            # test_ops_quantized_onednn: rows after it differ): one row here.
            add("QuantizedMatMulWithBiasAndDequantize", f"{tag}_{mode}", {**q, "Toutput": DT("float32")},
                a=a[:1], b=b, bias=bias, **ranges, min_freezed_output=F(-10.0), max_freezed_output=F(20.0))
        qbias = quantized("qint32", RS.randint(-30000, 30000, size=5))
        add("QuantizedMatMulWithBias", f"{tag}_qint32_bias", {}, a=a, b=b, bias=qbias, **ranges)
        add("QuantizedMatMulWithBiasAndRequantize", f"{tag}_qint32_bias", {}, a=a, b=b, bias=qbias,
            **ranges, min_freezed_output=F(-10.0), max_freezed_output=F(20.0))
    ranges = {"min_a": F(0.0), "max_a": F(4.0), "min_b": F(-0.7), "max_b": F(0.9)}
    add("QuantizedMatMulWithBias", "transposed_b", {"transpose_b": True}, a=a, b=s8(5, 7), bias=bias, **ranges)
    add("QuantizedMatMulWithBias", "transposed_a", {"transpose_a": True}, a=u8(7, 3), b=b, bias=bias, **ranges)
    add("QuantizedMatMulWithBias", "mismatch", {}, a=a, b=s8(6, 5), bias=bias, **ranges)


_conv()
_matmul()
test_kernel_matches_tensorflow = CASES.test()


def tf_concat_v2_answer(request: dict) -> dict:
    """TF side for QuantizedConcatV2, which has no Python wrapper: the node built by name in a
    TF1 graph over constants and run in a session with oneDNN on."""
    import base64
    import os

    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    import tensorflow as tf
    from _oracles.codec import decode, encode
    from tensorflow.core.framework import attr_value_pb2

    inputs = dict(request["inputs"])
    t = tf.as_dtype(inputs["values"][0]["tf_dtype"])
    storage = tf.uint8 if t == tf.quint8 else tf.int8
    g = tf.Graph()
    out: dict = {}
    feed = {}
    with g.as_default():
        # shapeless placeholders (TF's shape function cannot refuse a case before it runs),
        # the op's inputs named in0, in1... as the harness names its constants
        def placeholder(value: dict, dtype, name: str):
            ph = tf.compat.v1.placeholder(dtype, shape=None, name=name)
            feed[ph] = decode(value)
            return ph

        n = len(inputs["values"])
        values = [tf.bitcast(placeholder(v, storage, f"raw{k}"), t, name=f"in{k}")
                  for k, v in enumerate(inputs["values"])]
        axis = placeholder(inputs["axis"], tf.as_dtype(inputs["axis"]["dtype"]), f"in{n}")
        mins = [placeholder(v, tf.float32, f"in{n + 1 + k}")
                for k, v in enumerate(inputs["input_mins"])]
        maxes = [placeholder(v, tf.float32, f"in{2 * n + 1 + k}")
                 for k, v in enumerate(inputs["input_maxes"])]
        op = g.create_op(
            "QuantizedConcatV2", [*values, axis, *mins, *maxes], [t, tf.float32, tf.float32],
            attrs={"N": attr_value_pb2.AttrValue(i=len(values)),
                   "T": attr_value_pb2.AttrValue(type=t.as_datatype_enum),
                   "Tidx": attr_value_pb2.AttrValue(type=axis.dtype.as_datatype_enum)},
            name="op")
        out["node_def"] = base64.b64encode(op.node_def.SerializeToString()).decode()
        as_int = tf.bitcast(op.outputs[0], storage)
        try:
            with tf.compat.v1.Session(graph=g) as sess:
                q, lo, hi = sess.run([as_int, op.outputs[1], op.outputs[2]], feed_dict=feed)
            out["outputs"] = [encode(q), encode(lo), encode(hi)]
        except Exception as e:  # noqa: BLE001 (TF's failure is the answer)
            out["error"] = f"{type(e).__name__}: {str(e)[:600]}"
    return out


class ConcatCases(Cases):
    """QuantizedConcatV2 cases answered by ``tf_concat_v2_answer``."""

    def oracle(self) -> dict[str, dict]:
        requests = [{"function": "tf_concat_v2_answer", **c.request()} for c in self]
        answers = ModuleOracle(__name__).answers(requests)
        return {c.id: a for c, a in zip(self, answers)}


CONCAT = ConcatCases(seed=5107)


def _concat() -> None:
    add = CONCAT.add
    rs = CONCAT.rs
    for name in ("quint8", "qint8"):
        def make(*shape: int, name: str = name):
            return quantized(name, rs.randint(-128 if name == "qint8" else 0,
                                              128 if name == "qint8" else 256, size=shape))
        a, b, c = make(2, 3, 2, 2), make(2, 1, 2, 2), make(2, 2, 2, 2)
        ranges = {"input_mins": [F(-1.0), F(0.0), F(-2.5)], "input_maxes": [F(1.0), F(3.0), F(0.5)]}
        same = {"input_mins": [F(-1.0)] * 3, "input_maxes": [F(2.0)] * 3}
        near = {"input_mins": [F(-1.0), F(-1.0000005), F(-1.0)], "input_maxes": [F(2.0)] * 3}
        for tag, r in (("ranges", ranges), ("same", same), ("near", near)):
            add("QuantizedConcatV2", f"{name}-rank4-{tag}", values=[a, b, c], axis=np.int32(1), **r)
            add("QuantizedConcatV2", f"{name}-rank3-{tag}",
                values=[a[0], b[0], c[0]], axis=np.int32(0), **r)
            add("QuantizedConcatV2", f"{name}-rank2-{tag}", values=[a[0, 0], b[0, 0], c[0, 0]],
                axis=np.int32(-1), **r)
        add("QuantizedConcatV2", f"{name}-int64_axis", values=[a, b, c], axis=np.int64(1),
            **same)
        add("QuantizedConcatV2", f"{name}-negative_axis", values=[a, a], axis=np.int32(-3),
            input_mins=[F(-1.0), F(-1.0)], input_maxes=[F(1.0), F(1.0)])
        add("QuantizedConcatV2", f"{name}-empty", values=[make(2, 0, 2, 2), a],
            axis=np.int32(1), input_mins=[F(-1.0), F(-1.0)], input_maxes=[F(1.0), F(1.0)])
    q = quantized("quint8", rs.randint(0, 256, size=(1, 2, 2, 2)))
    add("QuantizedConcatV2", "shape_mismatch", values=[q, quantized("quint8", np.zeros((1, 2, 3, 2)))],
        axis=np.int32(1), input_mins=[F(0.0), F(0.0)], input_maxes=[F(1.0), F(1.0)])
    add("QuantizedConcatV2", "rank_mismatch", values=[q, q[0]], axis=np.int32(0),
        input_mins=[F(0.0), F(0.0)], input_maxes=[F(1.0), F(1.0)])
    add("QuantizedConcatV2", "axis_out_of_range", values=[q[0], q[0]], axis=np.int32(3),
        input_mins=[F(0.0), F(0.0)], input_maxes=[F(1.0), F(1.0)])


_concat()
test_concat_v2_matches_tensorflow = CONCAT.test()
