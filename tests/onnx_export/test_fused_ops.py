"""grappler's and oneDNN's fused ops (_FusedConv2D, _FusedMatMul, ...) exported and run on onnxruntime.

``tf.raw_ops`` cannot run these ops, so the oracle is the numpy runtime's kernels (tested
against TensorFlow's unfused chains in tests/graph/test_optimize.py). Each case is a
one-op signature; every ``fused_ops`` form the kernels accept is covered, in both layouts.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import F32, const, node, placeholder
from onnx_export._cases import assert_same, exported, ort_value, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402

RS = np.random.RandomState(77)


def f32(*shape: int) -> np.ndarray:
    return RS.standard_normal(shape).astype(np.float32)


def export_and_compare(nodes: list, feeds: dict[str, np.ndarray], outputs: list[str], opset: int = 20,
                       dynamic: tuple[str, ...] = (), shapes: dict[str, tuple] | None = None) -> onnx.ModelProto:
    """Export signature ``s`` (inputs ``feeds``, placeholders; ``dynamic`` ones with an unknown first
    dimension, ``shapes`` declared as given), check it strictly, run it on onnxruntime and compare
    with the numpy runtime."""
    inputs = {k: (dtypes.from_numpy(a.dtype), (shapes or {}).get(k, (None, *a.shape[1:]) if k in dynamic
                                                                    else a.shape)) for k, a in feeds.items()}
    want = runtime.run_signature(signature(nodes, inputs, {f"o{i}": ref for i, ref in enumerate(outputs)}),
                                 "s", feeds)
    typed = {}
    for i, ref in enumerate(outputs):
        out = np.asarray(want[f"o{i}"])
        typed[f"o{i}"] = (ref, dtypes.from_numpy(out.dtype), (None,) * out.ndim if dynamic or shapes else out.shape)
    proto, problems = exported(signature(nodes, inputs, typed), opset)
    assert not problems, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {k: ort_value(v) for k, v in feeds.items()})))
    for i in range(len(outputs)):
        assert_same(got[f"o{i}"], np.asarray(want[f"o{i}"]), f"o{i}")
    return proto


_ACTS = [None, "Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Tanh", "GeluExact"]


def _fused(name: str, op: str, inputs: list[str], ops: list[str], **attrs) -> object:
    n = node(name, op, inputs, T=("type", F32), num_args=len(inputs) - 2, **attrs)
    n.attr["fused_ops"].list.s.extend(o.encode() for o in ops)
    if "LeakyRelu" in ops:
        n.attr["leakyrelu_alpha"].f = 0.3
    return n


def _conv_attrs(n, fmt: bytes, strides=(1, 1)) -> None:
    n.attr["data_format"].s = fmt
    s = [1, 1, *strides] if fmt == b"NCHW" else [1, *strides, 1]
    n.attr["strides"].list.i.extend(s)
    n.attr["dilations"].list.i.extend([1, 1, 1, 1])
    n.attr["padding"].s = b"SAME"


def _epilogue_args(kind: str, channels: int) -> tuple[list, list[str], list[str]]:
    """(const nodes, input names, fused_ops head) for BiasAdd [, Add] or FusedBatchNorm."""
    if kind == "bn":
        consts = [const("scale", f32(channels) + 2), const("offset", f32(channels)), const("mean", f32(channels)),
                  const("var", np.abs(f32(channels)) + 0.5)]
        return consts, ["scale", "offset", "mean", "var"], ["FusedBatchNorm"]
    consts = [const("bias", f32(channels))]
    if kind == "bias_add":
        return consts, ["bias", "res"], ["BiasAdd", "Add"]
    return consts, ["bias"], ["BiasAdd"]


@pytest.mark.parametrize("act", _ACTS)
@pytest.mark.parametrize("kind", ["bias", "bias_add", "bn"])
@pytest.mark.parametrize("fmt", [b"NHWC", b"NCHW"])
@pytest.mark.parametrize("op", ["_FusedConv2D", "_FusedDepthwiseConv2dNative"])
def test_fused_convolution(op, fmt, kind, act):
    depthwise = op == "_FusedDepthwiseConv2dNative"
    x = f32(2, 5, 6, 3) if fmt == b"NHWC" else f32(2, 3, 5, 6)
    w = f32(3, 3, 3, 2) if depthwise else f32(3, 3, 3, 4)
    channels = 6 if depthwise else 4
    out_shape = (2, 3, 3, channels) if fmt == b"NHWC" else (2, channels, 3, 3)
    consts, args, ops = _epilogue_args(kind, channels)
    feeds = {"x": x}
    nodes = [placeholder("x"), const("w", w), *consts]
    if kind == "bias_add":
        feeds["res"] = f32(*out_shape)
        nodes.append(placeholder("res"))
    n = _fused("y", op, ["x", "w", *args], ops + ([act] if act else []), epsilon=1e-3)
    _conv_attrs(n, fmt, strides=(2, 2))
    export_and_compare(nodes + [n], feeds, ["y:0"], dynamic=tuple(feeds))


@pytest.mark.parametrize("kind,act", [("none", None)] + [(k, a) for k in ("bias", "bias_add") for a in _ACTS])
def test_fused_matmul(kind, act):
    ops = [] if kind == "none" else ["BiasAdd"] + (["Add"] if kind == "bias_add" else [])
    args = [] if kind == "none" else ["bias"] + (["res"] if kind == "bias_add" else [])
    feeds = {"a": f32(4, 5)}
    nodes = [placeholder("a"), const("b", f32(3, 5)), const("bias", f32(3))]
    if kind == "bias_add":
        feeds["res"] = f32(4, 3)
        nodes.append(placeholder("res"))
    n = _fused("y", "_FusedMatMul", ["a", "b", *args], ops + ([act] if act else []), transpose_b=True)
    export_and_compare(nodes + [n], feeds, ["y:0"], dynamic=tuple(feeds))


@pytest.mark.parametrize("act", [None, "Relu", "GeluExact"])
@pytest.mark.parametrize("opset", [15, 20])
def test_fused_batch_matmul(act, opset):
    feeds = {"x": f32(2, 3, 5)}
    nodes = [placeholder("x"), const("w", f32(5, 4)), const("bias", f32(4))]
    n = _fused("y", "_MklFusedBatchMatMulV2", ["x", "w", "bias"], ["BiasAdd"] + ([act] if act else []))
    export_and_compare(nodes + [n], feeds, ["y:0"], opset=opset, dynamic=("x",))


@pytest.mark.parametrize("opset", [15, 17, 20])
@pytest.mark.parametrize("shape", [(4, 8), (2, 3, 16)])
def test_layer_norm(opset, shape):
    feeds = {"x": f32(*shape) * 3 + 1}
    c = shape[-1]
    nodes = [placeholder("x"), const("scale", f32(c)), const("offset", f32(c)),
             node("y", "_MklLayerNorm", ["x", "scale", "offset"], T=("type", F32), epsilon=1e-3)]
    export_and_compare(nodes, feeds, ["y:0"], opset=opset, dynamic=("x",))


def test_unsupported_fused_ops_are_refused():
    nodes = [placeholder("x"), const("w", f32(1, 1, 3, 4)), const("bias", f32(4))]
    n = _fused("y", "_FusedConv2D", ["x", "w", "bias"], ["BiasAdd", "Relu", "Tanh"])
    _conv_attrs(n, b"NHWC")
    proto, problems = exported(signature(nodes + [n], {"x": (F32, (1, 2, 2, 3))}, {"y": "y:0"}))
    assert proto is None and "fused ops" in problems[0].reason


# -- ops TensorFlow's CPU build cannot run from tf.raw_ops: Conv2DBackpropInputV2 and the TF1
# graph-transform fusions (the runtime's kernels are checked against TF's unfused ops in
# tests/graph/test_ops_conv_pool_tf.py).

@pytest.mark.parametrize("pad,stride,shape", [("SAME", 1, (1, 5, 6, 2)), ("VALID", 2, (2, 7, 7, 2)),
                                              ("SAME", 2, (1, 6, 5, 2))])
def test_conv2d_backprop_input_v2(pad, stride, shape):
    oh = -(-shape[1] // stride) if pad == "SAME" else (shape[1] - 3) // stride + 1
    ow = -(-shape[2] // stride) if pad == "SAME" else (shape[2] - 3) // stride + 1
    feeds = {"x": f32(*shape), "dy": f32(shape[0], oh, ow, 4)}
    n = node("y", "Conv2DBackpropInputV2", ["x", "w", "dy"], T=("type", F32), padding=pad.encode(),
             data_format=b"NHWC")
    n.attr["strides"].list.i.extend([1, stride, stride, 1])
    export_and_compare([placeholder("x"), const("w", f32(3, 3, 2, 4)), placeholder("dy"), n], feeds, ["y:0"])


@pytest.mark.parametrize("mode", [b"REFLECT", b"SYMMETRIC"])
@pytest.mark.parametrize("resize", [None, False, True])
def test_fused_pad_and_resize_convolutions(mode, resize):
    feeds = {"x": f32(2, 5, 4, 3)}
    nodes = [placeholder("x"), const("pads", np.asarray([[0, 0], [1, 2], [2, 1], [0, 0]], np.int32)),
             const("w", f32(3, 3, 3, 4))]
    if resize is None:
        n = node("y", "FusedPadConv2D", ["x", "pads", "w"], T=("type", F32), mode=mode, padding=b"VALID")
    else:
        nodes.append(const("size", np.asarray([7, 6], np.int32)))
        n = node("y", "FusedResizeAndPadConv2D", ["x", "size", "pads", "w"], T=("type", F32), mode=mode,
                 padding=b"SAME", resize_align_corners=resize)
    n.attr["strides"].list.i.extend([1, 2, 1, 1])
    export_and_compare(nodes + [n], feeds, ["y:0"], dynamic=("x",))
