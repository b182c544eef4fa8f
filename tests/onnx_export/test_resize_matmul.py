"""ResizeArea, ResizeBicubic and ScaleAndTranslate as MatMuls with constant weights, in both layouts.

tests/onnx_export/test_ops_tf.py runs TensorFlow's kernel cases (plain NHWC inputs of exact
shapes); here the same ops sit in a conv net (the pending NCHW layout), take inputs of unknown
batch or channels, uint8 and float64 images and 1-pixel axes, and are compared with the numpy
runtime (itself compared with TensorFlow in tests/graph/test_ops_image_tf.py) within
rtol 1e-5 / atol 1e-5. Sizes the weights cannot be computed from are refused.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from graph.test_runtime_core import F32, I32, const, node, placeholder
from onnx_export._cases import exported, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes, tensors  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.proto import DataType, MetaGraphDef  # noqa: E402

RS = np.random.RandomState(4242)
OPS = ("ResizeArea", "ResizeBicubic", "ScaleAndTranslate")


def _meta(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple]) -> MetaGraphDef:
    return signature(nodes, {k: (dtypes.from_numpy(a.dtype), shapes.get(k, a.shape)) for k, a in feeds.items()},
                     {"y": ("y:0", DataType.DT_FLOAT, None)})


def _run(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple] | None = None,
         out: str = "y:0") -> onnx.ModelProto:
    """Export, check strictly, run on onnxruntime and compare with the numpy runtime (rtol/atol 1e-5)."""
    mg = _meta(nodes, feeds, shapes or {})
    mg.signature_def["s"].outputs["y"].name = out
    want = np.asarray(runtime.run_signature(mg, "s", feeds)["y"])
    mg.signature_def["s"].outputs["y"].tensor_shape.CopyFrom(tensors.shape_to_proto((None,) * want.ndim))
    proto, problems = exported(mg)
    assert proto is not None, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return proto


def _ops(proto: onnx.ModelProto) -> collections.Counter:
    return collections.Counter(n.op_type for n in proto.graph.node)


def _resize_nodes(op: str, x: str, size: tuple[int, int], mode: str = "legacy",
                  src: tuple[int, int] | None = None) -> list:
    """The size (and scale/translation) Consts and the op ``y`` reading image ``x``."""
    nodes = [const("size", np.asarray(size, np.int32))]
    if op == "ScaleAndTranslate":
        assert src is not None
        scale = np.float32([size[0] / src[0], size[1] / src[1]])
        shift = np.float32([0.25, -0.5]) if mode == "half" else np.float32([0, 0])
        nodes += [const("scale", scale), const("shift", shift),
                  node("y", op, [x, "size", "scale", "shift"], T=("type", F32),
                       kernel_type=b"lanczos3" if mode == "legacy" else b"keyscubic", antialias=mode != "align")]
        return nodes
    attrs = {"align_corners": mode == "align"}
    if op == "ResizeBicubic":
        attrs["half_pixel_centers"] = mode == "half"
    nodes.append(node("y", op, [x, "size"], T=("type", F32), **attrs))
    return nodes


SIZES = {"up": (9, 11), "down": (2, 3), "mixed": (8, 3), "one": (1, 1)}
# (op, coordinate mode): ResizeArea has no half_pixel_centers.
OP_MODES = [(op, mode) for op in OPS for mode in ("legacy", "align", "half") if (op, mode) != ("ResizeArea", "half")]


@pytest.mark.parametrize("tag", sorted(SIZES))
@pytest.mark.parametrize("op,mode", OP_MODES)
def test_nhwc_of_unknown_batch_and_channels(op, mode, tag):
    """Plain NHWC: the width as MatMul(Ww, x), the height through a Reshape (dynamic when channels are unknown)."""
    feeds = {"x": RS.standard_normal((2, 4, 5, 3)).astype(np.float32)}
    nodes = [placeholder("x"), *_resize_nodes(op, "x", SIZES[tag], mode, (4, 5))]
    _run(nodes, feeds, {"x": (None, 4, 5, None)})
    _run(nodes, feeds)  # every dimension static: constant Reshape targets


@pytest.mark.parametrize("tag", sorted(SIZES))
@pytest.mark.parametrize("op", OPS)
def test_nchw_inside_a_conv_net(op, tag):
    """Conv2D -> resize -> Conv2D stays NCHW: no Transpose besides the net's input and output ones."""
    feeds = {"x": RS.standard_normal((2, 6, 5, 3)).astype(np.float32)}
    nodes = [placeholder("x"), const("w1", RS.standard_normal((3, 3, 3, 4)).astype(np.float32)),
             const("w2", RS.standard_normal((3, 3, 4, 2)).astype(np.float32))]
    for name, inp, w in (("c1", "x", "w1"), ("c2", "y", "w2")):
        n = node(name, "Conv2D", [inp, w], T=("type", F32), padding=b"SAME", data_format=b"NHWC")
        n.attr["strides"].list.i.extend([1, 1, 1, 1])
        n.attr["dilations"].list.i.extend([1, 1, 1, 1])
        nodes.append(n)
    nodes += _resize_nodes(op, "c1", SIZES[tag], "half" if op == "ResizeBicubic" else "legacy", (6, 5))
    proto = _run(nodes, feeds, out="c2:0")
    ops = _ops(proto)
    assert ops["Transpose"] == 2, ops  # the net's input to NCHW, its output back to NHWC
    assert ops["MatMul"] == 2, ops


@pytest.mark.parametrize("dtype", ["uint8", "float64", "float16", "int32"])
@pytest.mark.parametrize("op", OPS)
def test_input_types_give_float32(op, dtype):
    """TF casts each pixel to float: any real input gives a float32 image."""
    dt = np.dtype(dtype)
    x = RS.randint(0, 256, (1, 5, 4, 2)).astype(dt) if dt.kind in "iu" else (RS.standard_normal((1, 5, 4, 2)) * 10).astype(dt)
    nodes = [placeholder("x", dtypes.from_numpy(dt)), *_resize_nodes(op, "x", (3, 7), "legacy", (5, 4))]
    nodes[-1].attr["T"].type = dtypes.from_numpy(dt)
    _run(nodes, {"x": x})


@pytest.mark.parametrize("op,mode", OP_MODES)
def test_one_pixel_axes(op, mode):
    """1 -> n, n -> 1 and 1 -> 1 along each axis."""
    for shape, size in (((2, 1, 5, 2), (4, 1)), ((2, 4, 1, 2), (1, 3)), ((1, 1, 1, 3), (1, 1))):
        feeds = {"x": RS.standard_normal(shape).astype(np.float32)}
        _run([placeholder("x"), *_resize_nodes(op, "x", size, mode, shape[1:3])], feeds)


def test_unchanged_identity_axes_are_left_alone():
    """An axis of unchanged size whose weights are the identity (bicubic, area) gets no MatMul."""
    feeds = {"x": RS.standard_normal((2, 4, 5, 3)).astype(np.float32)}
    proto = _run([placeholder("x"), *_resize_nodes("ResizeBicubic", "x", (4, 9), "half")], feeds)
    assert _ops(proto)["MatMul"] == 1 and "Reshape" not in _ops(proto), _ops(proto)
    proto = _run([placeholder("x"), *_resize_nodes("ResizeArea", "x", (4, 5), "align")], feeds)
    assert "MatMul" not in _ops(proto), _ops(proto)
    proto = _run([placeholder("x"), *_resize_nodes("ResizeBicubic", "x", (4, 5), "legacy")], feeds)
    assert "MatMul" not in _ops(proto), _ops(proto)
    # Lanczos taps at whole-pixel offsets are float32 sines, not exact zeros: an unchanged size still resamples.
    proto = _run([placeholder("x"), *_resize_nodes("ScaleAndTranslate", "x", (4, 5), "legacy", (4, 5))], feeds)
    assert _ops(proto)["MatMul"] == 2, _ops(proto)


def _refusal(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple]) -> str:
    proto, problems = exported(_meta(nodes, feeds, shapes))
    assert proto is None and problems
    return problems[0].reason


@pytest.mark.parametrize("op", OPS)
def test_unknown_height_or_size_is_refused(op):
    feeds = {"x": RS.standard_normal((1, 4, 5, 2)).astype(np.float32)}
    nodes = [placeholder("x"), *_resize_nodes(op, "x", (3, 3), "legacy", (4, 5))]
    assert "height or width is only known at run time" in _refusal(nodes, feeds, {"x": (1, None, 5, 2)})
    # the size a graph input
    feeds["sz"] = np.asarray([3, 3], np.int32)
    nodes = [placeholder("sz", I32) if n.name == "size" else n for n in nodes]
    for n in nodes:
        if n.name == "y":
            n.input[1] = "sz"
    assert "output size must be a constant (it is computed at run time)" in _refusal(nodes, feeds, {})


def test_huge_weights_are_refused():
    feeds = {"x": np.zeros((1, 9000, 1, 1), np.float32)}
    nodes = [placeholder("x"), *_resize_nodes("ResizeArea", "x", (9000, 1))]
    nodes[1] = const("size", np.asarray([9001, 1], np.int32))
    assert "(9001x9000) is 81009000, over the exporter's limit" in _refusal(nodes, feeds, {})
