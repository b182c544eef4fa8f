"""TF1 graphs with dataflow while loops and TensorArrayV3 against TensorFlow's TF1 session.

The fixtures (tests/fixtures/models_tf1_loops.py) are built with control flow v1: nested
loops, conds inside loops, map_fn/scan/foldl, TensorArrays and dynamic_rnn over LSTM/GRU
cells. Replaying their recorded calls must give TensorFlow's outputs, and its errors.
"""

from __future__ import annotations

import pytest

from .tf1_replay import check_replay, check_signatures_covered

pytestmark = pytest.mark.tf

MODELS = ["tf1_while", "tf1_tensor_array", "tf1_rnn"]


@pytest.mark.parametrize("name", MODELS)
def test_replay_matches_tensorflow(name, fixture_model):
    check_replay(fixture_model(name))


@pytest.mark.parametrize("name", MODELS)
def test_every_signature_is_covered(name, fixture_model):
    check_signatures_covered(fixture_model(name))
