"""Signatures of TensorFlow-built fixtures, exported to ONNX and run on onnxruntime, against TensorFlow.

Every signature with stored TensorFlow outputs (tests/fixtures/models_runtime.py,
models_control.py, models_misc.py's functions, models_onnx.py) either exports, passes
``onnx.checker`` (full check) and strict shape inference, and gives TensorFlow's outputs
on onnxruntime (float32 within rtol 1e-4 / atol 1e-5, everything else exact); or is
listed in ``UNSUPPORTED`` with the op the export report must name.
"""

from __future__ import annotations

import re

import pytest

from onnx_export._cases import assert_same, cases, ort_value

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io.errors import UnsupportedOpError  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402

pytestmark = pytest.mark.tf

SIGNATURES = {
    "runtime_mlp": ["serving_default"],
    "runtime_cnn": ["serving_default"],
    "runtime_mobilenetv2": ["serving_default"],
    "runtime_resnet50": ["serving_default"],
    "runtime_lstm": ["serving_default"],
    "runtime_bigru": ["serving_default"],
    "runtime_transformer": ["serving_default"],
    "runtime_module": ["array_input", "control", "image", "indexing", "intmath", "no_inputs",
                       "serving_default", "strings"],
    "runtime_tf1": ["examples", "serving_default"],
    "runtime_lookup": ["serving_default"],
    "runtime_keras_layers": ["serving_default"],
    "runtime_keras_text": ["serving_default"],
    "control_flow": ["early_exit", "growing", "nested", "stateful", "while_v1"],
    "control_tensorlist": ["arrays", "ragged", "rnn_like", "scan"],
    "control_keras_rnn": ["serving_default"],
    "control_lookup": ["mutate", "static"],
    "control_parsing": ["single", "v1", "v2"],
    "control_misc": ["bincount", "conv3d", "fmt"],
    "misc_functions": ["batch", "composite", "list_batches", "loops", "maps", "plumbing", "serial"],
    "onnx_mappings": ["arrays", "diag", "list_batches", "quant", "sparse", "strings"],
}

# Signatures ONNX cannot express, with the op the report names first.
UNSUPPORTED = {
    ("runtime_module", "serving_default"): "input 'x' has no known rank",
    ("runtime_module", "array_input"): "input 'x' has no known rank",
    ("runtime_module", "strings"): "StringToHashBucketFast",
    ("runtime_tf1", "examples"): "ParseExampleV2",
    ("runtime_keras_text", "serving_default"): "StringToHashBucketFast",
    ("control_flow", "stateful"): "AssignAddVariableOp",
    ("control_lookup", "mutate"): "LookupTableRemoveV2",
    ("control_lookup", "static"): "StringToHashBucketFast",
    ("control_parsing", "single"): "ParseExampleV2",
    ("control_parsing", "v1"): "ParseExample",
    ("control_parsing", "v2"): "ParseExampleV2",
    ("control_misc", "fmt"): "StringFormat",
    ("misc_functions", "batch"): "BatchFunction",
    ("misc_functions", "composite"): "CompositeTensorVariantFromComponents",
    ("misc_functions", "maps"): "EmptyTensorMap",
    ("misc_functions", "serial"): "SerializeTensor",
}


def _session(proto):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _params(pairs):
    """The fixtures' parameters, runtime_resnet50's under ``-m slow``: 186 MB, too big to record
    (TensorFlow builds it on every clean clone), and no op the smaller convnets lack."""
    return [pytest.param(*p, marks=pytest.mark.slow) if p[0] == "runtime_resnet50" else p
            for p in pairs]


@pytest.mark.parametrize("name,sig", _params([(n, s) for n, sigs in SIGNATURES.items() for s in sigs]))
def test_onnxruntime_matches_tensorflow(name, sig, fixture_model):
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    expected = UNSUPPORTED.get((name, sig))
    if expected is not None:
        with pytest.raises(UnsupportedOpError, match=expected.replace("(", r"\(")):
            sx.export(model, sig)
        return
    _agrees(sx.export(model, sig), path, name, sig)


def _agrees(proto, path, name: str, sig: str) -> None:
    """``proto`` passes the checker and strict inference, and gives the stored TensorFlow outputs."""
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    sess = _session(proto)
    names = output_keys(sess)
    for i, (inputs, want) in enumerate(cases(path)[sig]):
        feeds = {k: ort_value(v) for k, v in inputs.items()}
        got = dict(zip(names, sess.run(None, feeds)))
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            assert_same(got[k], want[k], f"{name} {sig} case {i} {k}")


@pytest.mark.parametrize("opset", [15, 16, 18])
def test_older_opsets_agree_or_name_the_opset(opset, fixture_model):
    """onnx_mappings at older opsets: TensorFlow's outputs, or a refusal naming the opset an op needs."""
    path = fixture_model("onnx_mappings")
    model = savedmodel_io.load(path)
    for sig in SIGNATURES["onnx_mappings"]:
        try:
            proto = sx.export(model, sig, opset=opset)
        except UnsupportedOpError as exc:
            assert re.search(r"needs? ONNX opset \d+", str(exc)), (sig, str(exc))
            continue
        _agrees(proto, path, "onnx_mappings", sig)


@pytest.mark.parametrize("name,sigs", _params(SIGNATURES.items()))
def test_every_reference_signature_is_listed(name, sigs, fixture_model):
    assert sorted(cases(fixture_model(name))) == sorted(sigs), name
