"""TF Serving-style TF1 models against TensorFlow's TF1 loader: init ops, state, old layouts.

The fixtures (tests/fixtures/models_serving.py) record a sequence of signature calls made
on one ``tf.compat.v1`` session; replaying it on one ``savedmodel_io.load`` must give the
same outputs (float32 rtol 1e-4 / atol 1e-5, everything else exact) and fail where
TensorFlow failed. ``{"reload": true}`` steps load the model again: state starts over
from the checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import savedmodel_io
from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph import runtime

pytestmark = pytest.mark.tf

HALF_PLUS_TWO = ["assign", "main_op", "pbtxt", "empty_tags", "legacy_init_op", "random_main_op",
                 "assets_collection"]
MODELS = [("serving_half_plus_two", v) for v in HALF_PLUS_TWO] + [
    ("serving_half_plus_three", ""), ("serving_counter", ""), ("serving_state", "")]


def _path(fixture_model, name: str, variant: str) -> Path:
    return fixture_model(name) / variant if variant else fixture_model(name)


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert (got.shape, got.dtype) == (want.shape, want.dtype), (what, got.shape, got.dtype)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("name,variant", MODELS, ids=[f"{n}-{v}" if v else n for n, v in MODELS])
def test_replay_matches_tensorflow(name, variant, fixture_model):
    path = _path(fixture_model, name, variant)
    doc = json.loads((path / "steps.json").read_text())
    data = np.load(path / "reference.npz")

    def array(key: str) -> np.ndarray:
        a = data[key]
        return a.astype(object) if a.dtype.kind == "S" else a

    meta_graph = savedmodel_io.load(path).meta_graph(doc["tags"])
    for i, step in enumerate(doc["steps"]):
        if step.get("reload"):
            meta_graph = savedmodel_io.load(path).meta_graph(doc["tags"])
            continue
        what = f"step {i}: {step['sig']}"
        fn = meta_graph.signatures[step["sig"]]
        inputs = {k: array(f"{i}/in/{k}") for k in step["inputs"]}
        if "error" in step:
            with pytest.raises(SavedModelError):
                fn(**inputs)
            continue
        got = fn(**inputs)
        assert sorted(got) == step["outputs"], what
        for k in step["outputs"]:
            assert_same(got[k], array(f"{i}/out/{k}"), f"{what} output {k}")


@pytest.mark.parametrize("name,variant", MODELS, ids=[f"{n}-{v}" if v else n for n, v in MODELS])
def test_every_signature_is_covered(name, variant, fixture_model):
    path = _path(fixture_model, name, variant)
    doc = json.loads((path / "steps.json").read_text())
    mg = savedmodel_io.load(path).meta_graph(doc["tags"])
    called = {s["sig"] for s in doc["steps"] if "sig" in s}
    assert called == set(mg.signatures)
    for key in mg.signatures:
        assert runtime.check_signature(mg, key) == [], key
