"""TF1 graphs with dataflow while loops and TensorArrayV3 against TensorFlow's TF1 session.

The fixtures (tests/fixtures/models_tf1_loops.py) are built with control flow v1: nested
loops, conds inside loops, map_fn/scan/foldl, TensorArrays and dynamic_rnn over LSTM/GRU
cells. Replaying their recorded calls must give TensorFlow's outputs, and its errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.graph import runtime

from .tf1_replay import check_replay, check_signatures_covered

pytestmark = pytest.mark.tf

MODELS = ["tf1_while", "tf1_tensor_array", "tf1_rnn", "tf1_onnx_loops"]


@pytest.mark.parametrize("name", MODELS)
def test_replay_matches_tensorflow(name, fixture_model):
    check_replay(fixture_model(name))


@pytest.mark.parametrize("name", MODELS)
def test_every_signature_is_covered(name, fixture_model):
    check_signatures_covered(fixture_model(name))


def test_ops_inside_loops_are_checked(fixture_model):
    """An op without a kernel inside a loop frame (or a nested one) is reported before running."""
    path = fixture_model("tf1_while")
    mg = savedmodel_io.load(path).meta_graph(["serve"]).proto
    inner = next(n for n in mg.graph_def.node if n.name.startswith("while/while/") and n.op == "AddV2")
    inner.op = "MyCustomAdd"
    missing = runtime.check_signature(mg, "loops")
    assert [(m.op, m.node) for m in missing] == [("MyCustomAdd", inner.name)]
    assert "custom op" in str(missing[0])


def test_a_cycle_without_enter_is_refused():
    """A NextIteration feeding a Merge with no Enter into the frame is not a loop TF can run."""
    from savedmodel_io.errors import UnsupportedOpError
    from savedmodel_io.proto import MetaGraphDef

    mg = MetaGraphDef()
    nodes = {"m": ("Merge", ["n", "n"]), "n": ("NextIteration", ["m"])}
    for name, (op, ins) in nodes.items():
        nd = mg.graph_def.node.add(name=name, op=op)
        nd.input.extend(ins)
        nd.attr["T"].type = 1
    mg.signature_def["s"].outputs["y"].name = "m:0"
    with pytest.raises(UnsupportedOpError, match="cycle"):
        runtime.run_signature(mg, "s", {})


def test_loop_iterations_are_bounded(fixture_model):
    """Every TF1 loop frame counts its iterations against the run's budget."""
    from savedmodel_io.errors import LimitExceededError
    from savedmodel_io.graph.budget import Budget

    mg = savedmodel_io.load(fixture_model("tf1_while")).meta_graph(["serve"])
    x = np.ones(2, np.float32)
    with pytest.raises(LimitExceededError, match="more than 3 iterations"):
        runtime.run_signature(mg.proto, "loops", {"x": x, "n": np.int32(10)},
                              budget=Budget(max_loop_iterations=3))
