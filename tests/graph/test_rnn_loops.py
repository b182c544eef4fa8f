"""Keras LSTM/GRU While loops run as one fused kernel (graph/rnn_loops.py, optimize.fuse_rnn_loops).

The fused runs match TensorFlow in tests/graph/test_runtime_tf.py (optimised and not);
here: the loops are recognised, the fused kernel (not the loop) computes them, it equals
the loop it replaces for other loop variables too (falling back to the loop where the
layer does not apply), and it honours the run budget.
"""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.errors import LimitExceededError
from savedmodel_io.graph.budget import Budget
from savedmodel_io.graph.ops import control
from savedmodel_io.graph.ops import rnn as rnn_ops
from savedmodel_io.graph.ops.tensorlist import TensorList
from savedmodel_io.graph.program import Context

from .reference_cases import assert_same, load_cases

pytestmark = pytest.mark.tf

FUSED = {"runtime_lstm": "_KerasLSTM", "runtime_bigru": "_KerasGRU"}


def _run(name, fixture_model):
    """(model, the optimised signature's fused nodes), after checking its outputs against TF."""
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    inputs, want = load_cases(path)["serving_default"][0]
    got = model.signatures["serving_default"](**inputs)
    for k in want:
        assert_same(got[k], want[k], f"{name} {k}")
    sess = model.meta_graph().session
    (prog,) = sess._programs.values()
    return model, sess, prog.body


@pytest.mark.parametrize("name", sorted(FUSED))
def test_keras_layers_run_as_one_kernel(name, fixture_model, monkeypatch):
    def no_loop(node, inputs, ctx):
        raise AssertionError(f"the loop ran: {node.where}")

    monkeypatch.setattr(control, "while_", no_loop)  # the fused kernel's fallback
    _, _, body = _run(name, fixture_model)
    ops = [n.op for n in body.nodes]
    assert "While" not in ops and "StatelessWhile" not in ops
    fused = [n for n in body.nodes if n.op == FUSED[name]]
    assert len(fused) == (2 if name == "runtime_lstm" else 4)
    assert all(n.origins[0].op in ("While", "StatelessWhile") for n in fused)  # errors name the loop


def _loop_inputs(node, body, batch: int, rs) -> list:
    """Random values for the fused node's inputs: the loop's variables, then its weights."""
    a = node.attr
    w = body.nodes[node.inputs[-3][0]].attr["value"]
    units = body.nodes[node.inputs[-2][0]].attr["value"].shape[0]
    state = []
    for k in range(len(node.inputs) - 3):
        if k == a["inputs"]:
            xs = [rs.standard_normal((batch, w.shape[0])).astype(np.float32) for _ in range(a["steps"])]
            state.append(TensorList(xs, np.dtype(np.float32), (None, w.shape[0])))
        elif k == a["output"]:
            state.append(TensorList([None] * a["steps"], np.dtype(np.float32), None))
        elif k in (a["h"], a["c"]):
            state.append(rs.standard_normal((batch, units)).astype(np.float32))
        elif k in a["counters"]:
            state.append(np.int32(0))
        elif k in a["limits"]:
            state.append(np.int32(a["steps"]))
        else:
            state.append(body.nodes[node.inputs[k][0]].attr["value"])
    return state + [body.nodes[r[0]].attr["value"] for r in node.inputs[-3:]]


def _same_state(got, want, what):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        if g is w:  # passed through (weights, handles)
            continue
        if isinstance(w, TensorList):
            assert len(g.items) == len(w.items), (what, k)
            for a, b in zip(g.items, w.items):
                assert (a is None) == (b is None), (what, k)
                if b is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{what} {k}")
        else:
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{what} {k}")


@pytest.mark.parametrize("block", [None, 1], ids=["one_projection", "projection_per_step"])
@pytest.mark.parametrize("name", sorted(FUSED))
def test_fused_kernel_equals_the_loop(name, block, fixture_model, monkeypatch):
    _, sess, body = _run(name, fixture_model)
    if block is not None:  # long sequences project x W in blocks of steps
        monkeypatch.setattr(rnn_ops, "_BLOCK_VALUES", block)
    ctx = Context(sess, None, sess.budget)
    rs = np.random.RandomState(3)
    taken = []
    sequence = rnn_ops._sequence
    monkeypatch.setattr(rnn_ops, "_sequence", lambda *a: taken.append(sequence(*a)) or taken[-1])
    for node in (n for n in body.nodes if n.op == FUSED[name]):
        a = node.attr
        for batch in (1, 3):
            ins = _loop_inputs(node, body, batch, rs)
            _same_state(rnn_ops.keras_rnn(node, ins, ctx), control.while_(node, ins[:-3], ctx), node.name)
            assert taken[-1] is not None  # fused
        # Loops the layer does not cover run the loop itself: a smaller iteration limit, an
        # output list already written, inputs of another dtype.
        ins = _loop_inputs(node, body, 2, rs)
        ins[a["limits"][0]] = np.int32(a["steps"] - 2)
        out = rnn_ops.keras_rnn(node, ins, ctx)
        assert taken[-1] is None and int(out[a["counters"][0]]) == a["steps"] - 2
        _same_state(out, control.while_(node, ins[:-3], ctx), node.name)
        ins = _loop_inputs(node, body, 2, rs)
        ins[a["output"]].items[0] = np.zeros_like(ins[a["h"]])
        out = rnn_ops.keras_rnn(node, ins, ctx)
        assert taken[-1] is None
        _same_state(out, control.while_(node, ins[:-3], ctx), node.name)


def test_fused_loop_keeps_the_iteration_budget(fixture_model):
    path = fixture_model("runtime_lstm")
    model = savedmodel_io.load(path)
    inputs, _ = load_cases(path)["serving_default"][0]
    sess = model.meta_graph().session
    sess.budget = Budget(max_loop_iterations=3)
    with pytest.raises(LimitExceededError, match="more than 3 iterations") as info:
        model.signatures["serving_default"](**inputs)
    assert "(While)" in info.value.where or "(StatelessWhile)" in info.value.where
    assert any(n.op == "_KerasLSTM" for p in sess._programs.values() for n in p.body.nodes)


def test_internal_ops_are_not_registered():
    # TensorFlow has no _KerasLSTM/_KerasGRU: a saved graph naming them is not run by this kernel.
    from savedmodel_io.graph import ops

    assert {"_KerasLSTM", "_KerasGRU"}.isdisjoint(ops.supported_ops())
    assert ops.get("_KerasLSTM") is None and ops.get("_KerasGRU") is None


@pytest.mark.parametrize("optimize", [True, False], ids=["optimised", "saved_graph"])
@pytest.mark.parametrize("name", ["keras_rnn", "control_keras_rnn"])
def test_keras_rnn_layers_match_tensorflow_both_ways(name, optimize, fixture_model):
    # Every Keras recurrent layer (LSTM, GRU, bidirectional, stacked, masked, SimpleRNN,
    # ConvLSTM...): the loops recognised as layers run fused, the others as loops.
    path = fixture_model(name)
    model = savedmodel_io.load(path)
    sess = model.meta_graph().session
    sess.optimize = optimize
    for sig, by_case in sorted(load_cases(path).items()):
        inputs, want = by_case[0]
        got = model.signatures[sig](**inputs)
        for k in want:
            assert_same(got[k], want[k], f"{name} {sig} {k}")
    fused = {n.op for p in sess._programs.values() for n in p.body.nodes} & {"_KerasLSTM", "_KerasGRU"}
    # control_keras_rnn: its LSTM has inputs of any length (T known when it runs); its GRU is
    # reset_after=False, its SimpleRNN masked: loops.
    want = {"keras_rnn": {"_KerasLSTM", "_KerasGRU"}, "control_keras_rnn": {"_KerasLSTM"}}[name]
    assert fused == (want if optimize else set())


def test_loops_with_side_effects_are_not_tried():
    # Recognising runs the loop's functions on trial values: only functions of stateless ops
    # and reads (through the functions they call) qualify.
    from graph.test_runtime_core import F32, function, meta, node

    from savedmodel_io.graph import optimize
    from savedmodel_io.graph.runtime import Session
    from savedmodel_io.proto import DataType

    pure = function("pure", [("x", F32)], {"y": (F32, "t:y:0")}, [node("t", "Tanh", ["x"], T=("type", F32))])
    calls = function("calls", [("x", F32)], {"y": (F32, "c:output:0")},
                     [node("c", "StatefulPartitionedCall", ["x"], Tin=("types", [F32]), Tout=("types", [F32]),
                           f=("func", "pure"))])
    prints = function("prints", [("x", F32)], {"y": (F32, "p:output:0")},
                      [node("p", "PrintV2", ["x"]), node("q", "Identity", ["x"], T=("type", F32))])
    writes = function("writes", [("v", DataType.DT_RESOURCE), ("x", F32)], {"y": (F32, "x")},
                      [node("a", "AssignAddVariableOp", ["v", "x"], dtype=("type", F32))])
    sess = Session(meta([], [pure, calls, prints, writes]))
    assert optimize._side_effect_free(["pure", "calls"], sess)
    assert not optimize._side_effect_free(["pure", "prints"], sess)
    assert not optimize._side_effect_free(["writes"], sess)


def _keras_lstm_loop(activation=np.tanh, length=None):
    """A Keras-like LSTM loop as plain functions: cond(counter, limit, ...) and body."""
    from savedmodel_io.graph.rnn_loops import _sigmoid

    def cond(args):
        k, limit = int(args[0]), int(args[1])
        return [np.bool_(k < limit and (length is None or k < length))]

    def body(args):
        k, limit, out, h, c, xs, w, u, b = args
        z = xs.items[int(k)] @ w + h @ u + b
        i, f, g, o = np.split(z, 4, axis=1)
        c2 = _sigmoid(f) * c + _sigmoid(i) * activation(g)
        h2 = (_sigmoid(o) * activation(c2)).astype(np.float32)
        out = out.copy()
        out.items[int(k)] = h2
        return [np.int32(k + 1), limit, out, h2, c2.astype(np.float32), xs, w, u, b]

    return {"cond": cond, "body": body}


def _slots(rs, units=3, depth=2):
    from savedmodel_io.graph.rnn_loops import Slot

    f32 = np.dtype(np.float32)
    weights = [rs.standard_normal(s).astype(np.float32) for s in ((depth, 4 * units), (units, 4 * units), (4 * units,))]
    return [Slot(False, np.int32(0), np.asarray(np.int32(0)), False, np.dtype(np.int32), 0),
            Slot(True, None, None, False, np.dtype(np.int32), 0),  # the limit: known when it runs
            Slot(False, None, None, True), Slot(False, None, None, False, f32, 2),
            Slot(False, None, None, False, f32, 2), Slot(True, None, None, True)] + \
        [Slot(True, w, w, False, f32, w.ndim) for w in weights]


@pytest.mark.parametrize("length, steps", [(None, 0), (6, 6)], ids=["run_time_length", "fixed_length"])
def test_recognition_of_a_counted_lstm_loop(length, steps):
    from savedmodel_io.graph.rnn_loops import recognise

    fns = _keras_lstm_loop(length=length)
    rs = np.random.RandomState(5)
    slots = _slots(rs)
    layer = recognise(lambda f, args: fns[f](args), "cond", "body", slots, limits=True)
    assert layer is not None and layer.kind == "LSTM" and layer.steps == steps
    assert (layer.inputs, layer.output, layer.h, layer.c, layer.counters, layer.limits) == (5, 2, 3, 4, [0], [1])
    assert layer.sequence and layer.w is not None and layer.w.shape == (2, 12)
    # Without admitting run-time limits, or with another activation, it is no such layer.
    assert recognise(lambda f, args: fns[f](args), "cond", "body", slots) is None
    relu = _keras_lstm_loop(activation=lambda v: np.maximum(v, 0), length=length)
    assert recognise(lambda f, args: relu[f](args), "cond", "body", slots, limits=True) is None


@pytest.mark.parametrize("steps", [1, 2, 9])
def test_run_time_length_layer_equals_the_loop(steps, fixture_model):
    # control_keras_rnn takes sequences of any length: the fused LSTM takes T from its input.
    path = fixture_model("control_keras_rnn")
    (inputs, _), = [c[0] for c in load_cases(path).values()]
    (key, x), = inputs.items()
    x = np.random.RandomState(steps).standard_normal((x.shape[0], steps, x.shape[2])).astype(np.float32)
    fast, slow = savedmodel_io.load(path), savedmodel_io.load(path)
    slow.meta_graph().session.optimize = False
    got = fast.signatures["serving_default"](**{key: x})
    want = slow.signatures["serving_default"](**{key: x})
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert any(n.op == "_KerasLSTM" for p in fast.meta_graph().session._programs.values() for n in p.body.nodes)
