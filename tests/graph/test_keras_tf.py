"""Keras 3 layers and preprocessing layers exported as SavedModels, run against TensorFlow.

Each fixture (tests/fixtures/models_keras_*.py) is one SavedModel with a signature per
small model and TensorFlow's outputs for fixed inputs. Every signature must run without
an unsupported op and match: float32 within rtol 1e-4 / atol 1e-5 (float16 and bfloat16
outputs, and the mixed-precision fixtures, within the half-precision tolerances below),
integers, booleans and strings exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .reference_cases import load_cases

pytestmark = pytest.mark.tf

# Fixture -> (rtol, atol) for its float outputs.
FIXTURES = {
    "keras_lookup": (1e-4, 1e-5),
    "keras_hashing": (1e-4, 1e-5),
    "keras_numeric_prep": (1e-4, 1e-5),
    "keras_text_vectorization": (1e-4, 1e-5),
    "keras_audio_prep": (1e-4, 1e-5),
    "keras_core_conv": (1e-4, 1e-5),
    "keras_pool_norm": (1e-4, 1e-5),
    "keras_attention": (1e-4, 1e-5),
    "keras_rnn": (1e-4, 1e-5),
    "keras_misc": (1e-4, 1e-5),
    "keras_jit": (1e-4, 1e-5),
    # Half-precision arithmetic: the order of a sum's roundings is not TF's (Eigen's and
    # oneDNN's blocks). bfloat16 keeps 8 significant bits (steps of 2**-7 relative): one
    # intermediate rounded the other way moves a layer-normalised output by a few steps.
    # float16: an output near zero made from terms near 2 keeps their step, 2**-9 (the
    # attention signature: 0.0018 on an output of -0.042; the same unoptimised).
    "keras_mixed_float16": (1e-2, 4e-3),
    "keras_mixed_bfloat16": (5e-2, 5e-2),
}


def _mismatch(got, want: np.ndarray, rtol: float, atol: float) -> str | None:
    got = np.asarray(got)
    if (got.shape, got.dtype) != (want.shape, want.dtype):
        return f"{got.dtype}{list(got.shape)} != {want.dtype}{list(want.shape)}"
    if want.dtype.kind in "fcV":
        g, w = got.astype(np.float64), want.astype(np.float64)
        if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            return f"max abs diff {np.nanmax(np.abs(g - w))}"
        return None
    return None if np.array_equal(got, want) else "values differ"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_signatures_match_tensorflow(name, fixture_model):
    path = fixture_model(name)
    rtol, atol = FIXTURES[name]
    model = savedmodel_io.load(path)
    failures = []
    for sig, (inputs, want) in sorted((s, c[0]) for s, c in load_cases(path).items()):
        fn = model.signatures[sig]
        try:
            got = fn(**inputs)
        except savedmodel_io.SavedModelError as exc:
            failures.append(f"{sig}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        if sorted(got) != sorted(want):
            failures.append(f"{sig}: outputs {sorted(got)} != {sorted(want)}")
            continue
        for key in want:
            problem = _mismatch(got[key], want[key], rtol, atol)
            if problem:
                failures.append(f"{sig} {key}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_op_has_a_kernel(name, fixture_model):
    model = savedmodel_io.load(fixture_model(name))
    for mg in model.meta_graphs:
        for key in mg.signatures:
            assert runtime.check_signature(mg, key) == [], (name, key)
