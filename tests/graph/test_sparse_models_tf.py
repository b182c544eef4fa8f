"""Public APIs behind segments, sparse, ragged, sets, counting and CSR ops, against TensorFlow.

Each fixture (tests/fixtures/models_sparse.py) stores numbered input cases per signature
and TensorFlow's outputs for them; ``savedmodel_io.load(p)`` must match: float32 within
rtol 1e-4 / atol 1e-5, integers, booleans and strings exactly. Cases of one signature run
in order on one loaded model (the SparseTensorsMap keeps its handles).
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .reference_cases import check_cases, load_cases

pytestmark = pytest.mark.tf

SIGNATURES = {
    "sparse_segments": ["segment", "count", "index", "sets"],
    "sparse_tensors": ["algebra", "shape", "cross", "serial"],
    "sparse_ragged": ["convert", "range", "cross", "variant"],
    "sparse_csr": ["matrix", "batch"],
    "sparse_xla": ["segments"],
    "sparse_keras": ["serving_default"],
}

@pytest.mark.parametrize("name,sig", [(n, s) for n, sigs in SIGNATURES.items() for s in sigs])
def test_outputs_match_tensorflow(name, sig, fixture_model):
    path = fixture_model(name)
    cases = load_cases(path, closing=True)[sig]
    fn = savedmodel_io.load(path).signatures[sig]
    check_cases(fn, cases, f"{name} {sig}")


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_every_signature_is_covered(name, fixture_model):
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    assert sorted(load_cases(path, closing=True)) == sorted(SIGNATURES[name])
    for mg in model.meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], (name, key)
