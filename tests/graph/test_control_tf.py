"""Multi-node graphs (control flow, TensorLists, tables, parsing, 3-D ops) against TensorFlow.

Each fixture (tests/fixtures/models_control.py, models_misc.py, models_onnx.py) stores
numbered input cases per signature and TensorFlow's outputs for them;
``savedmodel_io.load(p)`` must match: floats within rtol 1e-5 / atol 1e-6, integers,
booleans and strings exactly.
Cases of one signature run in order on one loaded model (mutable tables keep state).
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .reference_cases import assert_same, load_cases

pytestmark = pytest.mark.tf

FIXTURES = ["control_flow", "control_tensorlist", "control_keras_rnn", "control_lookup",
            "control_parsing", "control_misc", "misc_functions", "misc_state", "onnx_mappings"]

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
        "onnx_mappings": ["diag", "arrays", "quant", "sparse", "strings", "list_batches"],
    }[name]]


@pytest.mark.parametrize("optimize", [True, False], ids=["optimised", "saved_graph"])
@pytest.mark.parametrize("name,sig", [p for n in FIXTURES for p in _signatures(n)])
def test_outputs_match_tensorflow(name, sig, optimize, fixture_model):
    path = fixture_model(name)
    cases = load_cases(path)[sig]
    model = savedmodel_io.load(path)
    for mg in model.meta_graphs:
        mg.session.optimize = optimize
    fn = model.signatures[sig]
    for i in sorted(cases):
        inputs, want = cases[i]
        got = fn(**inputs)
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            assert_same(got[k], want[k], f"{name} {sig} case {i} {k}", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_signature_is_covered(name, fixture_model):
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    assert sorted(load_cases(path)) == sorted(s for _, s in _signatures(name))
    for mg in model.meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], (name, key)
