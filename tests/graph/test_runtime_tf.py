"""Signatures of TensorFlow-built models, run without TensorFlow, against TensorFlow's outputs.

Each fixture (tests/fixtures/models_runtime.py) stores fixed inputs and the outputs of
``tf.saved_model.load(p).signatures[k](**inputs)`` in ``reference.npz``; here
``savedmodel_io.load(p).signatures[k](**inputs)`` must match them: float32 within
rtol 1e-4 / atol 1e-5, integers, booleans and strings exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .reference_cases import assert_outputs, load_cases

pytestmark = pytest.mark.tf

FIXTURES = [
    "runtime_mlp", "runtime_cnn", "runtime_mobilenetv2", "runtime_lstm",
    "runtime_bigru", "runtime_transformer", "runtime_module", "runtime_tf1", "runtime_lookup",
    "runtime_keras_layers", "runtime_keras_text",
    # ResNet50 (186 MB, too big to record: TensorFlow builds it on every clean clone) uses no op
    # that runtime_cnn, runtime_mobilenetv2 and the others above do not: the default suite
    # leaves it to -m slow.
    pytest.param("runtime_resnet50", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("optimize", [True, False], ids=["optimised", "saved_graph"])
@pytest.mark.parametrize("name", FIXTURES)
def test_outputs_match_tensorflow(name, optimize, fixture_model):
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    for mg in model.meta_graphs:
        mg.session.optimize = optimize
    cases = load_cases(path)
    assert cases
    for sig, by_case in cases.items():
        inputs, want = by_case[0]
        assert_outputs(model.signatures[sig](**inputs), want, f"{name} {sig}")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_signature_is_covered(name, fixture_model):
    model = savedmodel_io.load(fixture_model(name))
    for mg in model.meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], (name, key)


def test_repeated_calls_reuse_the_session(fixture_model):
    path = fixture_model("runtime_cnn")
    model = savedmodel_io.load(path)
    inputs, want = load_cases(path)["serving_default"][0]
    sig = model.signatures["serving_default"]
    first = sig(**inputs)
    sess = model.meta_graph().session
    assert model.meta_graph().session is sess
    second = sig(**inputs)
    np.testing.assert_array_equal(first["output_0"], second["output_0"])
    # A batch of one and a bigger batch: the plan does not depend on shapes.
    x = inputs["x"]
    big = sig(x=np.concatenate([x, x, x]))["output_0"]
    np.testing.assert_allclose(big, np.concatenate([want["output_0"]] * 3), rtol=1e-4, atol=1e-5)


def test_variables_can_be_supplied(fixture_model):
    # The TF2 binding of handles to checkpoint keys goes through the object graphs.
    path = fixture_model("runtime_module")
    mg = savedmodel_io.load(path).meta_graph()
    from savedmodel_io.formats.bundle import open_checkpoint

    values = dict(open_checkpoint(path / "variables" / "variables"))
    key = next(k for k in values if k.startswith("v/"))
    values[key] = np.float32(10.0)
    out = runtime.run_signature(mg, "array_input", {"x": np.array([1.0, 2.0], np.float32)},
                                variables=values)
    np.testing.assert_array_equal(out["output_0"], [10.0, 20.0])


def test_signature_without_inputs(fixture_model):
    model = savedmodel_io.load(fixture_model("runtime_module"))
    out = model.signatures["no_inputs"]()
    assert out["doubled"] == np.float32(2.0)
    np.testing.assert_array_equal(out["rows"], np.arange(20, dtype=np.float32).reshape(10, 2).sum(1))
