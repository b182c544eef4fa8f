"""Multi-node graphs (control flow, TensorLists, tables, parsing, 3-D ops) against TensorFlow.

Each fixture (tests/fixtures/models_control.py) stores numbered input cases per
signature and TensorFlow's outputs for them; ``savedmodel_io.load(p)`` must match:
floats within rtol 1e-5 / atol 1e-6, integers, booleans and strings exactly.
Cases of one signature run in order on one loaded model (mutable tables keep state).
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

pytestmark = pytest.mark.tf

FIXTURES = ["control_flow", "control_tensorlist", "control_keras_rnn", "control_lookup",
            "control_parsing", "control_misc", "misc_functions", "misc_state"]

Cases = dict[str, dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]]


def reference(path) -> Cases:
    """{signature: {case: (inputs, outputs)}} from a fixture's reference.npz."""
    data = np.load(path / "reference.npz")
    out: Cases = {}
    for name in data.files:
        kind, sig, case, key = name.split("/")
        arr = data[name]
        if arr.dtype.kind == "S":
            arr = arr.astype(object)
        pair = out.setdefault(sig, {}).setdefault(int(case), ({}, {}))
        pair[0 if kind == "in" else 1][key] = arr
    return out


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same shape and dtype; floats close, everything else equal."""
    got = np.asarray(got)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _signatures(name: str) -> list[tuple[str, str]]:
    return [(name, sig) for sig in {
        "control_flow": ["nested", "growing", "early_exit", "stateful", "while_v1"],
        "control_tensorlist": ["arrays", "ragged", "rnn_like", "scan"],
        "control_keras_rnn": ["serving_default"],
        "control_lookup": ["static", "mutate"],
        "control_parsing": ["v2", "v1", "single"],
        "control_misc": ["fmt", "bincount", "conv3d"],
        "misc_functions": ["loops", "batch", "plumbing", "maps", "list_batches", "composite",
                           "serial"],
        "misc_state": ["update", "tables"],
    }[name]]


@pytest.mark.parametrize("name,sig", [p for n in FIXTURES for p in _signatures(n)])
def test_outputs_match_tensorflow(name, sig, fixture_model):
    path = fixture_model(name)
    cases = reference(path)[sig]
    fn = savedmodel_io.load(path).signatures[sig]
    for i in sorted(cases):
        inputs, want = cases[i]
        got = fn(**inputs)
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            assert_same(got[k], want[k], f"{name} {sig} case {i} {k}")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_signature_is_covered(name, fixture_model):
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    assert sorted(reference(path)) == sorted(s for _, s in _signatures(name))
    for mg in model.meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], (name, key)
