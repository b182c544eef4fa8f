"""Replay a TF1 session's recorded signature calls on one loaded model (see models_serving.replay).

A fixture's ``steps.json`` lists calls made in order on one ``tf.compat.v1`` session and
``reference.npz`` their inputs and outputs (or the error class TF raised); replaying them
on one ``savedmodel_io.load`` must give the same outputs (float32 rtol 1e-4 / atol 1e-5,
everything else exact) and fail where TensorFlow failed. ``{"reload": true}`` steps load
the model again: state starts over from the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.errors import SavedModelError
from savedmodel_io.graph import runtime

from .reference_cases import assert_same


def check_replay(path: Path) -> None:
    """Replay ``path``'s recorded steps and compare every output (or error) with TensorFlow's."""
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


def check_signatures_covered(path: Path) -> None:
    """Every signature of the model is called by some step, and has every kernel it needs."""
    doc = json.loads((path / "steps.json").read_text())
    mg = savedmodel_io.load(path).meta_graph(doc["tags"])
    called = {s["sig"] for s in doc["steps"] if "sig" in s}
    assert called == set(mg.signatures)
    for key in mg.signatures:
        assert runtime.check_signature(mg, key) == [], key
