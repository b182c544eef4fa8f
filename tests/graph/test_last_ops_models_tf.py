"""The public APIs behind DecodeJxl, AudioMicrofrontend and SparseMatrixOrderingAMD, saved by
TensorFlow (tests/fixtures/models_last_ops.py) and run here: outputs must match TensorFlow's
(the JPEG XL, microfrontend and AMD results exactly; the Cholesky factor within float32
tolerance, in TensorFlow's AMD ordering)."""

from __future__ import annotations

import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .reference_cases import assert_same, load_cases

pytestmark = pytest.mark.tf

SIGNATURES = ["amd_cholesky", "frontend", "jxl"]


@pytest.mark.parametrize("sig", SIGNATURES)
def test_outputs_match_tensorflow(sig, fixture_model):
    if sig == "jxl":
        pytest.importorskip("imagecodecs")
    path = fixture_model("last_ops")
    cases = load_cases(path, closing=True)[sig]
    fn = savedmodel_io.load(path).signatures[sig]
    for i in sorted(cases):
        inputs, want = cases[i]
        got = fn(**inputs)
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            assert_same(got[k], want[k], f"{sig} case {i} {k}")


def test_every_signature_is_covered(fixture_model):
    path = fixture_model("last_ops")
    assert sorted(load_cases(path, closing=True)) == SIGNATURES
    for mg in savedmodel_io.load(path).meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], key
