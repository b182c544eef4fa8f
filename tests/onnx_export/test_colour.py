"""The colour mappings (onnx/ops/colour.py) beyond TensorFlow's kernel cases.

tests/onnx_export/test_ops_tf.py runs the kernel cases of tests/graph/test_ops_image_color_tf.py
(the exported ops give TensorFlow's recorded outputs bit for bit). Here: batches of any rank,
ties, greys, hues next to the 0/1 wrap, out-of-range values, deltas and scales constant or
fed at run time, float16/bfloat16/float64 images, and the refusals. Outputs must equal the
numpy runtime's (which follows TensorFlow's kernels to the bit, tests/graph) exactly.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from graph.test_runtime_core import F32, const, node, placeholder
from onnx_export._cases import exported, signature

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from savedmodel_io import dtypes, tensors  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.proto import DataType, MetaGraphDef  # noqa: E402

RS = np.random.RandomState(4242)
ADJUST = {"AdjustHue": "delta", "AdjustSaturation": "scale"}


def _colours(n: int) -> np.ndarray:
    """[n, 3] float32 RGB: random, ties, greys, tiny chromas, hues next to 0/1, out-of-range values."""
    levels = np.float32([0, 0.25, 0.5, 1, -0.5, 1.5, 0.3])
    tied = levels[RS.randint(0, len(levels), (n // 4, 3))]
    base = RS.uniform(0, 1, (n // 4, 1)).astype(np.float32)
    # One channel an ulp or a few from another: a chroma of almost 0, a hue of almost 0 (or 1).
    near = np.repeat(base, 3, axis=1)
    near[:, 2] = np.nextafter(near[:, 2], np.float32(2))
    near[1::2, 1] = np.nextafter(near[1::2, 1], np.float32(-2))
    near[2::3, 0] += np.float32(0.25)
    rand = RS.uniform(-0.2, 1.2, (n - 3 * (n // 4), 3)).astype(np.float32)
    out = np.concatenate([tied, near, np.float32([[1, 0.5, 0.5]]).repeat(n // 4, 0) +
                          np.float32([0, 0, 1]) * RS.uniform(0, 1e-6, (n // 4, 1)).astype(np.float32), rand])
    return out[RS.permutation(n)]


def _hsv(n: int) -> np.ndarray:
    """[n, 3] float32 HSV: random, hue on and next to the sextants and 0/1, out-of-range values."""
    sextants = np.float32(np.arange(7) / 6)
    k = (n - 14) // 2
    h = np.concatenate([sextants, np.nextafter(sextants, np.float32(-1)), RS.uniform(0, 1, k),
                        RS.uniform(-1.5, 2.5, n - 14 - k)]).astype(np.float32)
    s = RS.uniform(-0.2, 1.2, n).astype(np.float32)
    v = RS.uniform(-0.2, 1.2, n).astype(np.float32)
    s[::5], v[::7] = 0, 0
    return np.stack([h, s, v], axis=-1)


def _signature(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple]) -> MetaGraphDef:
    return signature(nodes, {k: (dtypes.from_numpy(a.dtype), shapes.get(k, a.shape)) for k, a in feeds.items()},
                     {"y": "out:0"})


def _same_as_runtime(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple] | None = None,
                     opset: int = 20) -> onnx.ModelProto:
    """Export, check strictly, run on onnxruntime: the runtime's outputs, bit for bit."""
    mg = _signature(nodes, feeds, shapes or {})
    want = np.asarray(runtime.run_signature(mg, "s", feeds)["y"])
    sd = mg.signature_def["s"]
    sd.outputs["y"].dtype = dtypes.from_numpy(want.dtype)
    sd.outputs["y"].tensor_shape.CopyFrom(tensors.shape_to_proto((None,) * want.ndim))
    proto, problems = exported(mg, opset)
    assert not problems, problems
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, feeds)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    return proto


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(48,), (2, 3, 4, 2), (1, 2, 2, 3, 2)])
@pytest.mark.parametrize("op", ["RGBToHSV", "HSVToRGB", "round_trip"])
def test_conversions(op, shape, dtype):
    n = int(np.prod(shape))
    x = (_hsv(n) if op == "HSVToRGB" else _colours(n)).reshape(*shape, 3).astype(dtype)
    t = dtypes.from_numpy(np.dtype(dtype))
    if op == "round_trip":
        ops = [node("hsv", "RGBToHSV", ["x"], T=("type", t)), node("out", "HSVToRGB", ["hsv"], T=("type", t))]
    else:
        ops = [node("out", op, ["x"], T=("type", t))]
    # Every dimension but the channels' unknown before running.
    _same_as_runtime([placeholder("x", t), *ops], {"x": x}, {"x": (None,) * len(shape) + (3,)})


@pytest.mark.parametrize("op", ["RGBToHSV", "HSVToRGB"])
def test_bfloat16_images(op):
    """bfloat16 (onnxruntime cannot feed it): cast from float32 in the graph, the result cast back."""
    x = (_hsv(40) if op == "HSVToRGB" else _colours(40)).reshape(4, 10, 3)
    bf = DataType.DT_BFLOAT16
    nodes = [placeholder("x"), node("b", "Cast", ["x"], SrcT=("type", F32), DstT=("type", bf)),
             node("op", op, ["b"], T=("type", bf)),
             node("out", "Cast", ["op"], SrcT=("type", bf), DstT=("type", F32))]
    _same_as_runtime(nodes, {"x": x})
    # Half types are computed in float32 and rounded after each operation, as Eigen's are: a
    # single rounding at the end gives other answers on some of these inputs.
    half = runtime.run_signature(_signature(nodes, {"x": x}, {}), "s", {"x": x})["y"]
    once = np.asarray(runtime.run_signature(_signature(
        [placeholder("x"), node("out", op, ["x"], T=("type", F32))], {"x": x}, {}), "s", {"x": x})["y"])
    assert not np.array_equal(once.astype(ml_dtypes.bfloat16).astype(np.float32), half)


@pytest.mark.parametrize("arg", ["input", "const"])
@pytest.mark.parametrize("op,values", [("AdjustHue", [0.0, 0.37, -0.2, 0.5, 1.0, -1.0, 7.25, -13.6, 1e-8, -1e-8]),
                                       ("AdjustSaturation", [0.0, 0.6, 1.0, 1.7, -1.0, 1e3])])
def test_adjustments(op, values, arg):
    """Deltas and scales fed at run time (one export for all) or constant, on a batch of 4-D images."""
    x = _colours(2 * 3 * 5 * 4).reshape(2, 3, 5, 4, 3)
    name = ADJUST[op]
    for v in values if arg == "const" else values[:1]:
        nodes = [placeholder("x"), placeholder(name) if arg == "input" else const(name, np.float32(v)),
                 node("out", op, ["x", name], T=("type", F32))]
        feeds = {"x": x, **({name: np.asarray(v, np.float32)} if arg == "input" else {})}
        proto = _same_as_runtime(nodes, feeds, {"x": (None, None, None, None, 3)})
    if arg == "input":
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        mg = _signature(nodes, feeds, {})
        for v in values[1:]:
            feeds = {"x": x, name: np.asarray(v, np.float32)}
            np.testing.assert_array_equal(sess.run(None, feeds)[0], runtime.run_signature(mg, "s", feeds)["y"])


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
@pytest.mark.parametrize("op", ["AdjustHue", "AdjustSaturation"])
def test_adjustments_of_other_floats(op, dtype):
    """Computed in float32 and cast back, as the runtime computes them."""
    x = _colours(60).reshape(3, 4, 5, 3).astype(dtype)
    t = dtypes.from_numpy(np.dtype(dtype))
    nodes = [placeholder("x", t), const("a", np.float32(0.3)), node("out", op, ["x", "a"], T=("type", t))]
    _same_as_runtime(nodes, {"x": x})


@pytest.mark.parametrize("opset", [15, 17])
def test_older_opsets(opset):
    x = _colours(24).reshape(2, 4, 3, 3)
    nodes = [placeholder("x"), const("d", np.float32(0.4)), const("s", np.float32(1.3)),
             node("h", "AdjustHue", ["x", "d"], T=("type", F32)),
             node("a", "AdjustSaturation", ["h", "s"], T=("type", F32)),
             node("hsv", "RGBToHSV", ["a"], T=("type", F32)), node("out", "HSVToRGB", ["hsv"], T=("type", F32))]
    _same_as_runtime(nodes, {"x": x}, opset=opset)


def _refused(nodes: list, feeds: dict[str, np.ndarray], shapes: dict[str, tuple]) -> str:
    mg = _signature(nodes, feeds, shapes)
    mg.signature_def["s"].outputs["y"].dtype = DataType.DT_FLOAT
    proto, problems = exported(mg)
    assert proto is None and len(problems) == 1
    return problems[0].reason


@pytest.mark.parametrize("op", ["RGBToHSV", "HSVToRGB", "AdjustHue", "AdjustSaturation"])
def test_refusals(op):
    adjust = op in ADJUST
    extra = [const("a", np.float32(0.2))] if adjust else []
    ins = ["x", "a"] if adjust else ["x"]

    def reason(shape, arg=None) -> str:
        nodes = [placeholder("x"), *(arg or extra), node("out", op, ins, T=("type", F32))]
        return _refused(nodes, {"x": np.zeros([d or 1 for d in shape], np.float32)}, {"x": shape})

    assert "static size of 3" in reason((2, 2, None))
    assert "3 channels" in reason((2, 2, 4)) and "it has 4" in reason((2, 2, 4))
    if adjust:
        assert "at least 3-D" in reason((2, 3))
        assert "must be a scalar" in reason((2, 2, 3), [const("a", np.float32([0.2]))])
