"""Public APIs behind linear algebra, signal processing, special functions and complex
numbers (tf.linalg, tf.signal, tf.audio, tf.math.special, complex variables) saved as
SavedModels and run by our runtime against TensorFlow's outputs.

Fixtures: tests/fixtures/models_linalg.py. Floats and complex numbers compare within rtol
1e-4 / atol 1e-5, integers, booleans and strings exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import savedmodel_io

from .reference_cases import assert_same, check_cases, load_cases

pytestmark = pytest.mark.tf

SIGNATURES = {
    "linalg_api": ["solves", "decompositions", "diagonals", "double", "special"],
    "signal_api": ["spectral", "dct", "windows", "audio"],
    "complex_api": ["single", "double"],
}

@pytest.mark.parametrize("name,sig", [(n, s) for n, sigs in SIGNATURES.items() for s in sigs])
def test_outputs_match_tensorflow(name, sig, fixture_model):
    path = fixture_model(name)
    cases = load_cases(path)[sig]
    fn = savedmodel_io.load(path).signatures[sig]
    check_cases(fn, cases, f"{name} {sig}")


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_every_signature_is_covered(name, fixture_model):
    model = savedmodel_io.load(fixture_model(name))
    assert sorted(load_cases(fixture_model(name))) == sorted(SIGNATURES[name])
    assert sorted(k for k in model.signatures if not k.startswith("__")) == \
        sorted(SIGNATURES[name])


def test_complex_variables_read_from_the_checkpoint(fixture_model):
    """complex64 / complex128 checkpoint values decode exactly (TF's values are in the model)."""
    v = savedmodel_io.load(fixture_model("complex_api")).variables
    w64 = v["w64"]
    assert w64.dtype == np.complex64
    np.testing.assert_array_equal(w64, np.array([[1 + 2j, -0.5j], [3, 1 - 1j]], np.complex64))
    np.testing.assert_array_equal(v["w128"], np.array([0.25 - 4j, 1e-3 + 1e3j, -2], np.complex128))


def test_complex_run_prints_like_saved_model_cli(fixture_model, capsys):
    """``run`` parses complex literals and prints complex results as saved_model_cli does."""
    from savedmodel_io.cli.main import main

    path = fixture_model("complex_api")
    ref = json.loads((path / "cli_double.json").read_text())
    assert ref["returncode"] == 0, ref
    assert main(["run", "--dir", str(path), *ref["args"]]) == 0
    out = capsys.readouterr().out
    assert out == ref["stdout"]


def test_complex_variables_written_are_read_by_tensorflow(fixture_model, tmp_path):
    """replace_weights writes complex64 / complex128 checkpoint values TF reads bit-exactly and
    runs with; our runtime computes the same outputs from them."""
    tf = pytest.importorskip("tensorflow")
    w64 = np.array([[2 - 1j, 0.125j], [-3.5, 7 + 0.5j]], np.complex64)
    w128 = np.array([1e-300 + 1j, -np.inf + 0j, np.nan * 1j + 5], np.complex128)
    dst = savedmodel_io.replace_weights(fixture_model("complex_api"), tmp_path / "m",
                                        {"w64": w64, "w128": w128})
    reader = tf.train.load_checkpoint(str(dst / "variables" / "variables"))
    np.testing.assert_array_equal(reader.get_tensor("w64/.ATTRIBUTES/VARIABLE_VALUE"), w64)
    got128 = reader.get_tensor("w128/.ATTRIBUTES/VARIABLE_VALUE")
    assert got128.dtype == np.complex128 and got128.tobytes() == w128.tobytes()
    z = np.array([1 + 1j, -2, 0.5j], np.complex128)
    want = tf.saved_model.load(str(dst)).signatures["single"](
        z=tf.constant(np.ones((2, 2), np.complex64)), x=tf.constant(np.ones(2, np.float32)))
    ours = savedmodel_io.load(dst).signatures["single"](z=np.ones((2, 2), np.complex64),
                                                       x=np.ones(2, np.float32))
    for k in ("y", "inv", "det"):
        assert_same(ours[k], want[k].numpy(), k)
    assert savedmodel_io.load(dst).signatures["double"](z=z)["v"].dtype == np.complex128
