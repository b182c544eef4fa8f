"""Clean exported graphs: fused forms (Gemm, Conv with folded batch norm, LayerNormalization, Gelu), few Transposes.

And the same signatures at older opsets, where the fused ops do not exist yet: the
unfused forms must give TensorFlow's outputs too.
"""

from __future__ import annotations

import collections

import pytest

from onnx_export._cases import assert_same, cases

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402

pytestmark = pytest.mark.tf


def _ops(proto) -> collections.Counter:
    return collections.Counter(n.op_type for n in proto.graph.node)


def test_dense_layers_become_gemm_and_gelu(fixture_model):
    ops = _ops(sx.export(fixture_model("runtime_mlp")))
    assert ops["Gemm"] == 4 and ops["Gelu"] == 1
    assert not {"MatMul", "Erf", "Add", "Mul"} & set(ops), ops


def test_fused_nodes_name_the_saved_nodes_they_stand_for(fixture_model):
    """A Gemm made of MatMul + BiasAdd + Relu (the optimiser's _FusedMatMul) says so in doc_string."""
    gemm = next(n for n in sx.export(fixture_model("runtime_mlp")).graph.node if n.op_type == "Gemm")
    assert "dense_1/MatMul (MatMul)" in gemm.doc_string and "(BiasAdd)" in gemm.doc_string, gemm.doc_string


@pytest.mark.slow  # runtime_resnet50: 186 MB built by TensorFlow; mobilenet checks the folding too
def test_resnet_is_convolutions_only(fixture_model):
    ops = _ops(sx.export(fixture_model("runtime_resnet50")))
    # Batch norm folded into the 53 convolutions; NHWC -> NCHW once, at the input.
    assert ops["Conv"] == 53 and ops["Transpose"] == 1, ops
    assert not {"Mul", "BatchNormalization", "Sub"} & set(ops), ops
    assert ops["Add"] == 16  # the residual connections
    assert "Pad" not in ops, ops  # the stem's zero pad: into the first Conv and the MaxPool


def test_mobilenet_transposes(fixture_model):
    ops = _ops(sx.export(fixture_model("runtime_mobilenetv2")))
    assert ops["Transpose"] == 1 and ops["Pad"] == 0 and "Mul" not in ops, ops


def test_layer_norm_and_gelu_in_a_transformer(fixture_model):
    ops = _ops(sx.export(fixture_model("runtime_transformer")))
    assert ops["LayerNormalization"] == 2 and ops["Gelu"] == 1, ops
    assert "Sqrt" not in ops and "Erf" not in ops, ops


def test_attention_products_become_matmul(fixture_model):
    # Keras' score and context Einsums: Transposes around MatMul (onnxruntime's Einsum is slower).
    ops = _ops(sx.export(fixture_model("keras_attention")))
    assert "Einsum" not in ops and ops["MatMul"] == 6, ops


def test_keras_rnn_layers_become_lstm_and_gru(fixture_model):
    lstm = _ops(sx.export(fixture_model("runtime_lstm")))
    assert lstm["LSTM"] == 2 and "Loop" not in lstm, lstm
    gru = _ops(sx.export(fixture_model("runtime_bigru")))
    assert gru["GRU"] == 4 and "Loop" not in gru, gru  # two bidirectional layers
    # A masked SimpleRNN is not a plain cell: it stays a Loop (and matches TF, test_export_tf).
    assert "Loop" in _ops(sx.export(fixture_model("control_keras_rnn")))


@pytest.mark.parametrize("opset", [15, 17])
@pytest.mark.parametrize("name", ["runtime_transformer", "runtime_mlp", "runtime_cnn"])
def test_older_opsets_match_tensorflow(name, opset, fixture_model):
    path = fixture_model(name)
    proto = sx.export(savedmodel_io.load(path), opset=opset)
    assert proto.opset_import[0].version == opset
    ops = _ops(proto)
    assert "Gelu" not in ops and (opset >= 17 or "LayerNormalization" not in ops)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs, want = cases(path)["serving_default"][0]
    got = dict(zip(output_keys(sess), sess.run(None, inputs)))
    for k in want:
        assert_same(got[k], want[k], f"{name} opset {opset} {k}")


def test_tanh_gelu_is_recognised_by_its_values(tmp_path):
    import numpy as np

    from savedmodel_io.writer import Model, save

    m = Model()
    w = m.variable("w", np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    f = m.function("__call__", {"features": ("float32", (None, 4))})
    x = f.dense(f.inputs["features"], w)
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written out as a model would.
    cube = f.pow(x, f.const(np.float32(3)))
    inner = f.mul(f.const(np.float32(0.7978845608)), f.add(x, f.mul(f.const(np.float32(0.044715)), cube)))
    y = f.mul(f.mul(f.const(np.float32(0.5)), x), f.add(f.const(np.float32(1)), f.tanh(inner)))
    f.outputs({"y": y})
    m.signature("serving_default", f)
    save(tmp_path / "m", m)
    proto = sx.export(tmp_path / "m")
    gelus = [n for n in proto.graph.node if n.op_type == "Gelu"]
    assert len(gelus) == 1 and gelus[0].attribute[0].s == b"tanh", _ops(proto)
    feats = np.linspace(-3, 3, 20, dtype=np.float32).reshape(5, 4)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = savedmodel_io.load(tmp_path / "m").signatures["serving_default"](features=feats)["y"]
    np.testing.assert_allclose(sess.run(None, {"features": feats})[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act, folds", [("relu", True), ("relu6", True), ("tanh", False)])
def test_zero_pad_before_max_pool_of_relu_becomes_its_pads(act, folds, tmp_path):
    # ResNet's stem: ReLU, ZeroPadding2D, MaxPool 3x3/2. After a ReLU the zeros are never the
    # maximum, so the Pad folds into MaxPool's pads (onnxruntime keeps NCHWc); after tanh it stays.
    import numpy as np

    from savedmodel_io.writer import Model, save

    m = Model()
    w = m.variable("w", np.linspace(-1, 1, 3 * 3 * 3 * 4, dtype=np.float32).reshape(3, 3, 3, 4))
    f = m.function("__call__", {"x": ("float32", (None, 9, 9, 3))})
    h = getattr(f, act)(f.conv2d(f.inputs["x"], w, padding="SAME"))
    y = f.max_pool(f.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2)
    f.outputs({"y": y})
    m.signature("serving_default", f)
    save(tmp_path / "m", m)
    proto = sx.export(tmp_path / "m")
    assert ("Pad" not in _ops(proto)) == folds, _ops(proto)
    x = np.random.RandomState(0).uniform(-2, 2, (2, 9, 9, 3)).astype(np.float32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = savedmodel_io.load(tmp_path / "m").signatures["serving_default"](x=x)["y"]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
