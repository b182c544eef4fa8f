"""Run-time budgets: endless loops, call fan-outs, huge TensorLists and per-element Python work
stop with a LimitExceededError naming the node and the limit to raise."""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.cli.main import main
from savedmodel_io.errors import LimitExceededError
from savedmodel_io.graph import runtime
from savedmodel_io.graph.budget import Budget
from savedmodel_io.proto import DataType, SavedModel

from .test_runtime_core import I32, const, function, meta, node

def endless_while():
    """A While whose condition is always true (a counter runs forever)."""
    cond_f = function("cond", [("i", I32)], {"c": (DataType.DT_BOOL, "t:output:0")},
                      [const("t", np.bool_(True))])
    body_f = function("body", [("i", I32)], {"i": (I32, "n:z:0")},
                      [const("one", np.int32(1)), node("n", "AddV2", ["i", "one:output:0"],
                                                       T=("type", I32))])
    return meta([const("i0", np.int32(0)),
                 node("w", "While", ["i0"], cond=("func", "cond"), body=("func", "body"),
                      T=("types", [I32]))],
                [cond_f, body_f], {"s": ({}, {"y": "w:0"})})


def fan_out(levels: int):
    """f0 calls f1 twice, f1 calls f2 twice, ...: 2**levels calls of the last function."""
    fns = [function(f"f{levels}", [("x", I32)], {"y": (I32, "x")}, [])]
    for k in range(levels - 1, -1, -1):
        call = {"f": ("func", f"f{k + 1}"), "Tin": ("types", [I32]), "Tout": ("types", [I32])}
        fns.append(function(f"f{k}", [("x", I32)], {"y": (I32, "b:output:0")}, [
            node("a", "PartitionedCall", ["x"], **call),
            node("b", "PartitionedCall", ["a:output:0"], **call),
        ]))
    return meta([const("x0", np.int32(0)),
                 node("c", "PartitionedCall", ["x0"], f=("func", "f0"), Tin=("types", [I32]),
                      Tout=("types", [I32]))],
                fns, {"s": ({}, {"y": "c:0"})})


def test_defaults_bound_every_run():
    b = Budget()
    assert (b.max_seconds, b.max_loop_iterations, b.max_python_elements) == (300.0, 1_000_000,
                                                                             50_000_000)
    assert runtime.Session(meta([])).budget == b


def test_loop_iterations():
    sess = runtime.Session(endless_while())
    sess.budget = Budget(max_loop_iterations=1000)
    with pytest.raises(LimitExceededError, match=r"more than 1000 iterations; raise the limit "
                       r"with Budget.max_loop_iterations, run --max_loop_iterations") as info:
        sess.run_signature("s", {})
    assert info.value.where == "node 'w' (While) in the graph"


def test_deadline_stops_an_endless_loop():
    sess = runtime.Session(endless_while())
    start = time.monotonic()
    with pytest.raises(LimitExceededError, match=r"longer than 0.3 s.*Budget.max_seconds"):
        sess.run_signature("s", {}, budget=Budget(max_seconds=0.3, max_loop_iterations=None))
    assert time.monotonic() - start < 5


def test_deadline_stops_a_call_fan_out():
    """2**20 calls, each cheap: the clock is read at every function call."""
    start = time.monotonic()
    with pytest.raises(LimitExceededError, match="longer than 0.3 s") as info:
        runtime.run_signature(fan_out(20), "s", {}, budget=Budget(max_seconds=0.3))
    assert time.monotonic() - start < 5
    assert "f" in info.value.where  # the call site: a node inside one of the functions


def test_a_budget_per_call_leaves_the_session_default():
    sess = runtime.Session(fan_out(3))
    assert sess.run_signature("s", {}, budget=Budget(max_seconds=10))["y"] == 0
    assert sess.budget == Budget()


def test_huge_tensorlist_is_refused_before_allocating():
    mg = meta([const("shape", np.int32(-1)), const("n", np.int32(100_000_000)),
               node("r", "TensorListReserve", ["shape", "n"], element_dtype=("type", I32),
                    shape_type=("type", I32)),
               node("len", "TensorListLength", ["r"])],
              sigs={"s": ({}, {"y": "len:0"})})
    with pytest.raises(LimitExceededError, match="more than 50000000 elements .*100000000 here"):
        runtime.run_signature(mg, "s", {})
    small = Budget(max_python_elements=2000)
    with pytest.raises(LimitExceededError, match="more than 2000 elements"):
        runtime.run_signature(mg, "s", {}, budget=small)


@pytest.mark.parametrize("op,attrs,extra", [
    ("ReduceJoin", {"separator": b""}, True),
    ("SerializeTensor", {"T": ("type", DataType.DT_STRING)}, False),
])
def test_per_element_kernels_are_charged_before_they_start(op, attrs, extra):
    """Kernels that step through strings in Python count their elements against the budget."""
    words = np.array([b"a"] * 3000, dtype=object)
    consts = [const("w", words)] + ([const("axis", np.int32(0))] if extra else [])
    inputs = ["w", "axis"] if extra else ["w"]
    mg = meta(consts + [node("j", op, inputs, **attrs)], sigs={"s": ({}, {"y": "j:0"})})
    assert runtime.run_signature(mg, "s", {})["y"]
    with pytest.raises(LimitExceededError, match="more than 2000 elements") as info:
        runtime.run_signature(mg, "s", {}, budget=Budget(max_python_elements=2000))
    assert info.value.where == f"node 'j' ({op}) in the graph"


def test_none_lifts_a_limit():
    sess = runtime.Session(fan_out(4))
    sess.budget = Budget(max_seconds=None, max_loop_iterations=None, max_python_elements=None)
    assert sess.run_signature("s", {})["y"] == 0


def _save(tmp_path, mg):
    sm = SavedModel()
    sm.meta_graphs.add().CopyFrom(mg)
    sm.meta_graphs[0].meta_info_def.tags.append("serve")
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return tmp_path


def test_signature_run_takes_a_budget(tmp_path):
    sig = savedmodel_io.load(_save(tmp_path, endless_while())).signatures["s"]
    with pytest.raises(LimitExceededError, match="more than 10 iterations") as info:
        sig.run({}, budget=Budget(max_loop_iterations=10))
    assert info.value.path == str(tmp_path)


@pytest.mark.parametrize(
    ("flags", "match"),
    [(["--max_loop_iterations", "20"], "more than 20 iterations"),
     (["--max_seconds", "0.3", "--max_loop_iterations", "0"], "longer than 0.3 s")],
)
def test_run_command_flags(tmp_path, flags, match):
    d = _save(tmp_path, endless_while())
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["run", "--dir", str(d), "--tag_set", "serve", "--signature_def", "s", *flags])
    assert code == 1
    assert match in err.getvalue() and "Traceback" not in err.getvalue()


def test_run_command_defaults_are_the_budget_defaults():
    import argparse

    from savedmodel_io.cli import run as run_cli

    p = argparse.ArgumentParser()
    run_cli._budget_flags(p)
    assert run_cli._budget(p.parse_args([])) == Budget()
    lifted = run_cli._budget(p.parse_args(["--max_seconds", "0", "--max_python_elements", "0"]))
    assert lifted.max_seconds is None and lifted.max_python_elements is None


@pytest.mark.slow
def test_default_budget_ends_an_endless_loop():
    """What a user gets without options: the million-iteration default (tens of seconds)."""
    with pytest.raises(LimitExceededError, match="more than 1000000 iterations"):
        runtime.run_signature(endless_while(), "s", {})


def test_beam_search_pays_for_its_branches():
    """A huge beam width grows the beam geometrically: each step's extensions are charged."""
    logits = np.zeros((6, 1, 40), np.float32)
    mg = meta([const("x", logits), const("n", np.array([6], np.int32)),
               node("d", "CTCBeamSearchDecoder", ["x", "n"], beam_width=1 << 30, top_paths=1)],
              sigs={"s": ({}, {"p": "d:3"})})
    with pytest.raises(LimitExceededError, match="more than 100000 elements") as info:
        runtime.run_signature(mg, "s", {}, budget=Budget(max_python_elements=100_000))
    assert info.value.where == "node 'd' (CTCBeamSearchDecoder) in the graph"
