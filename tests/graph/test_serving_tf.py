"""TF Serving-style TF1 models against TensorFlow's TF1 loader: init ops, state, old layouts.

The fixtures (tests/fixtures/models_serving.py) record a sequence of signature calls made
on one ``tf.compat.v1`` session; replaying it on one ``savedmodel_io.load`` must give the
same outputs (float32 rtol 1e-4 / atol 1e-5, everything else exact) and fail where
TensorFlow failed. ``{"reload": true}`` steps load the model again: state starts over
from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .tf1_replay import check_replay, check_signatures_covered

pytestmark = pytest.mark.tf

HALF_PLUS_TWO = ["assign", "main_op", "pbtxt", "empty_tags", "legacy_init_op", "random_main_op",
                 "assets_collection"]
MODELS = [("serving_half_plus_two", v) for v in HALF_PLUS_TWO] + [
    ("serving_half_plus_three", ""), ("serving_counter", ""), ("serving_state", "")]


def _path(fixture_model, name: str, variant: str) -> Path:
    return fixture_model(name) / variant if variant else fixture_model(name)


@pytest.mark.parametrize("name,variant", MODELS, ids=[f"{n}-{v}" if v else n for n, v in MODELS])
def test_replay_matches_tensorflow(name, variant, fixture_model):
    check_replay(_path(fixture_model, name, variant))


@pytest.mark.parametrize("name,variant", MODELS, ids=[f"{n}-{v}" if v else n for n, v in MODELS])
def test_every_signature_is_covered(name, variant, fixture_model):
    check_signatures_covered(_path(fixture_model, name, variant))
