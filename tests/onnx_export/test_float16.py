"""float16 graphs (Keras mixed precision) on onnxruntime round where TensorFlow rounds.

TensorFlow computes each float16 op in float32 and rounds its result to float16;
onnxruntime, left to itself, runs a chain of float16 ops in float32 and rounds once at
the end (several float16 steps away). The exporter computes float16 ops in float32
between Casts, so signatures made of such ops give TensorFlow's outputs exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from onnx_export._cases import assert_same, cases

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402

pytestmark = pytest.mark.tf

# Signatures of keras_mixed_float16 built from ops TensorFlow rounds one at a time (matmul, bias,
# gelu's element-wise ops, convolution, batch norm, relu, pooling): TensorFlow's outputs within
# float32 tolerance. The others go through kernels that round inside (Softmax's exp, sum and
# division each in float16; the LSTM's loop): within float16 precision, as the numpy runtime
# (tests/graph/test_keras_tf.py).
ROUNDED_PER_OP = {"dense", "conv"}
HALF_TOLERANCE = (1e-2, 4e-3)


def _run(proto, inputs: dict) -> dict:
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip(output_keys(sess), sess.run(None, inputs)))


@pytest.mark.parametrize("sig", ["dense", "conv", "attention", "lstm", "softmax"])
def test_mixed_float16_matches_tensorflow(sig, fixture_model):
    path = fixture_model("keras_mixed_float16")
    mg = savedmodel_io.load(path).default_meta_graph
    inputs, want = cases(path)[sig][0]
    got = _run(sx.export(mg, sig), inputs)
    for key, w in want.items():
        if sig in ROUNDED_PER_OP:
            assert_same(got[key], w, f"{sig} {key}")
        else:
            np.testing.assert_allclose(got[key], w, *HALF_TOLERANCE, err_msg=f"{sig} {key}")


def test_float16_ops_compute_in_float32(fixture_model):
    """The float16 matmuls and convolutions run as float32 ONNX ops (no float16 MatMul / Conv)."""
    mg = savedmodel_io.load(fixture_model("keras_mixed_float16")).default_meta_graph
    for sig in ("dense", "conv"):
        g = sx.export(mg, sig).graph
        types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(
            sx.export(mg, sig)).graph.value_info}
        heavy = [n for n in g.node if n.op_type in ("MatMul", "Gemm", "Conv")]
        assert heavy, sig
        assert all(types.get(n.output[0]) == onnx.TensorProto.FLOAT for n in heavy), sig
