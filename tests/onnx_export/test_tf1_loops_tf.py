"""TF1 dataflow loops, conds and TensorArrays exported to ONNX, against TensorFlow's TF1 session.

The fixtures (tests/fixtures/models_tf1_loops.py, models_tf1_onnx.py) are built with control
flow v1: while loops (counters, run 0 times too, nested, with conds inside, inside a cond,
``maximum_iterations``, shape-changing variables), ``map_fn`` / ``scan`` / ``foldl`` /
``foldr``, dynamic RNNs over TensorArrays (with and without sequence lengths) and
TensorArray writes, reads, gathers, scatters, splits, concats and sizes (dynamic arrays
too). Each signature exports, passes ``onnx.checker`` (full check) and strict shape
inference, and gives on onnxruntime the outputs TensorFlow gave for each recorded call
(``steps.json``; calls where TensorFlow failed are left out). A loop or cond the exporter
cannot structure is refused with a problem naming the node and the reason.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from onnx_export._cases import assert_same, ort_value

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import savedmodel_io  # noqa: E402
import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.onnx._convert import Exporter  # noqa: E402
from savedmodel_io.onnx.backend import output_keys  # noqa: E402
from savedmodel_io.proto import MetaGraphDef  # noqa: E402

pytestmark = pytest.mark.tf

SIGNATURES = {
    "tf1_while": ["loops", "functional"],
    "tf1_tensor_array": ["arrays", "dynamic", "read_index", "scatter", "split"],
    "tf1_rnn": ["serving_default"],
    "tf1_onnx_loops": ["counter", "nested", "conds", "functional", "rnn", "arrays", "split"],
}


def _calls(path, sig: str) -> list[tuple[dict, dict]]:
    """The recorded TF1 session calls of ``sig`` that TensorFlow answered: (inputs, outputs)."""
    doc = json.loads((path / "steps.json").read_text())
    data = np.load(path / "reference.npz")

    def array(key: str) -> np.ndarray:
        a = data[key]
        return a.astype(object) if a.dtype.kind == "S" else a

    return [({k: array(f"{i}/in/{k}") for k in step["inputs"]}, {k: array(f"{i}/out/{k}") for k in step["outputs"]})
            for i, step in enumerate(doc["steps"]) if step.get("sig") == sig and "error" not in step]


def _session(proto):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _ops(graph) -> list[str]:
    """Every op type in ``graph`` and its subgraphs."""
    out = []
    for n in graph.node:
        out.append(n.op_type)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out += _ops(a.g)
    return out


@pytest.mark.parametrize("name,sig", [(n, s) for n, sigs in SIGNATURES.items() for s in sigs])
def test_onnxruntime_matches_tensorflow(name, sig, fixture_model):
    path = fixture_model(name)
    proto = sx.export(savedmodel_io.load(path), sig)
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    assert "Loop" in _ops(proto.graph) or sig in ("read_index", "scatter", "split"), sig
    sess = _session(proto)
    names = output_keys(sess)
    calls = _calls(path, sig)
    assert calls, f"{name} {sig}: no call TensorFlow answered"
    for i, (inputs, want) in enumerate(calls):
        got = dict(zip(names, sess.run(None, {k: ort_value(v) for k, v in inputs.items()})))
        assert sorted(got) == sorted(want), (sig, i)
        for k in want:
            assert_same(got[k], want[k], f"{name} {sig} call {i} {k}")


def test_structure_of_the_exported_loops(fixture_model):
    """A loop becomes one ONNX Loop (none when its condition is false from the start); a cond inside
    a loop an If inside the Loop's body; the main graph's cond an If."""
    model = savedmodel_io.load(fixture_model("tf1_onnx_loops"))
    counter = sx.export(model, "counter")
    assert [n.op_type for n in counter.graph.node].count("Loop") == 1  # 'never' does not run
    conds = sx.export(model, "conds")
    top = [n.op_type for n in conds.graph.node]
    assert "If" in top and "Loop" in top
    body = next(a.g for n in conds.graph.node if n.op_type == "Loop" for a in n.attribute if a.name == "body")
    # The cond of two outputs is one If (the nested cond in its true branch another, inside it).
    assert [n.op_type for n in body.node].count("If") == 1
    assert _ops(body).count("If") == 2
    # The RNN's output array is carried through the Loop as a sequence and stacked after it.
    rnn = _ops(sx.export(model, "rnn").graph)
    assert "SequenceInsert" in rnn and "ConcatFromSequence" in rnn


def _counter_graph(fixture_model) -> MetaGraphDef:
    return savedmodel_io.load(fixture_model("tf1_onnx_loops")).meta_graph(["serve"]).proto


def _problems(mg: MetaGraphDef, sig: str):
    ex = Exporter(runtime.Session(mg), 20)
    ex.signature(sig)
    return ex.problems


def test_a_loop_entry_read_outside_its_merge_is_refused(fixture_model):
    """A body node reading a loop variable's Enter (its value exists in the first iteration only)
    is a frame the exporter does not structure: the loop node is refused, naming the reader."""
    mg = _counter_graph(fixture_model)
    add = next(n for n in mg.graph_def.node if n.name == "while/add_1")
    add.input[0] = "while/Enter_1"
    problems = _problems(mg, "counter")
    assert [p.op for p in problems] == ["_DataflowLoop"]
    assert "'while/add_1' reads the loop entry 'while/Enter_1'" in problems[0].reason


def _graph(*nodes: tuple[str, str, list[str], dict]) -> MetaGraphDef:
    """Inputs x (float [2]) and p (bool scalar), the given nodes; output y is the last node's output 0."""
    mg = MetaGraphDef()
    sd = mg.signature_def["s"]
    for name, dt, dims in (("x", np.float32, [2]), ("p", np.bool_, [])):
        ph = mg.graph_def.node.add(name=name, op="Placeholder")
        ph.attr["dtype"].type = dtypes.from_numpy(dt)
        sd.inputs[name].name = f"{name}:0"
        sd.inputs[name].dtype = ph.attr["dtype"].type
        for d in dims:
            sd.inputs[name].tensor_shape.dim.add().size = d
    for name, op, inputs, attrs in nodes:
        n = mg.graph_def.node.add(name=name, op=op)
        n.input.extend(inputs)
        for k, v in attrs.items():
            n.attr[k].type = v
    sd.outputs["y"].name = nodes[-1][0] + (":1" if nodes[-1][1] == "Switch" else ":0")
    sd.outputs["y"].dtype = dtypes.from_numpy(np.float32)
    sd.outputs["y"].tensor_shape.dim.add().size = 2
    return mg


F32 = {"T": dtypes.from_numpy(np.float32)}


def _saved(mg: MetaGraphDef, tmp_path):
    """``mg`` written as a SavedModel (tag "serve")."""
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    sm.saved_model_schema_version = 1
    one = sm.meta_graphs.add()
    one.CopyFrom(mg)
    one.meta_info_def.tags.append("serve")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pb").write_bytes(sm.SerializeToString())
    return tmp_path / "m"


def test_a_switch_without_merge_is_refused():
    """A Switch output the signature fetches exists on one side only: no If can give it."""
    (p,) = _problems(_graph(("sw", "Switch", ["x", "p"], F32)), "s")
    assert (p.op, p.node) == ("Switch", "sw")
    assert "reach no Merge" in p.reason


def test_a_merge_of_no_cond_is_refused():
    """A Merge whose inputs no Switch predicate splits is not a cond."""
    (p,) = _problems(_graph(("neg", "Neg", ["x"], F32), ("m", "Merge", ["x", "neg"], {**F32, "N": 0})), "s")
    assert (p.op, p.node) == ("Merge", "m")
    assert "no Switch predicate" in p.reason


def test_a_cond_in_the_main_graph_is_an_if(tmp_path):
    """Switch/Merge on a run-time predicate: one If, each branch computing its side."""
    mg = _graph(("sw", "Switch", ["x", "p"], F32), ("t", "Neg", ["sw:1"], F32), ("f", "Exp", ["sw:0"], F32),
                ("m", "Merge", ["f", "t"], {**F32, "N": 0}))
    mg.graph_def.node[-1].attr["N"].i = 2
    proto = sx.export(_saved(mg, tmp_path), "s")
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node if n.op_type == "If"] == ["If"]
    sess = _session(proto)
    x = np.array([0.5, -2.0], np.float32)
    for flag, want in ((True, -x), (False, np.exp(x))):
        np.testing.assert_allclose(sess.run(None, {"x": x, "p": np.asarray(flag)})[0], want, rtol=1e-6)


def _chain(conds: int, nested: bool) -> MetaGraphDef:
    """``conds`` TF1 conds on x, one after the other (each on the last one's result), or each in the
    true branch of the one before; each on its own predicate (p, not p, p, ...)."""
    nodes: list = []
    value, pred = "x", "p"
    for k in range(conds):
        if k:
            nodes.append((f"q{k}", "LogicalNot", [pred], {}))
            pred = f"q{k}"
        nodes.append((f"sw{k}", "Switch", [value, pred], F32))
        nodes.append((f"in{k}", "Identity", [f"sw{k}:1"], F32))
        if not nested:
            nodes.append((f"t{k}", "Neg", [f"in{k}"], F32))
            nodes.append((f"m{k}", "Merge", [f"sw{k}", f"t{k}"], F32))
            value = f"m{k}"
        else:
            value = f"in{k}"
    if nested:
        nodes.append(("inner", "Neg", [value], F32))
        merged = "inner"
        for k in reversed(range(conds)):
            nodes.append((f"m{k}", "Merge", [f"sw{k}", merged], F32))
            merged = f"m{k}"
        nodes.append(("y", "Identity", [merged], F32))
    else:
        nodes.append(("y", "Identity", [value], F32))
    return _graph(*nodes)


def test_many_conds_one_after_another_export(tmp_path):
    """300 conds in a row: 300 Ifs side by side (none inside another), TensorFlow's result."""
    proto = sx.export(_saved(_chain(300, nested=False), tmp_path), "s")
    assert [n.op_type for n in proto.graph.node].count("If") == 300
    x = np.array([0.5, -2.0], np.float32)
    for flag in (True, False):
        # cond k negates when its predicate (p for even k, not p for odd k) is true.
        negations = sum(1 for k in range(300) if (flag if k % 2 == 0 else not flag))
        want = x * (-1) ** negations
        np.testing.assert_array_equal(_session(proto).run(None, {"x": x, "p": np.asarray(flag)})[0], want)


def test_conds_nested_too_deep_are_refused_not_a_crash():
    """Conds nested 100 deep: refused at the exporter's nesting limit, naming a Merge."""
    problems = _problems(_chain(100, nested=True), "s")
    assert problems and all(p.op == "Merge" for p in problems)
    assert any("nest deeper than" in p.reason for p in problems)


def test_a_loop_that_changes_state_is_refused(fixture_model):
    """A variable assignment inside a loop frame (here reached by a control edge only) is refused."""
    mg = _counter_graph(fixture_model)
    bad = mg.graph_def.node.add(name="while/assign", op="AssignVariableOp")
    bad.input.extend(["while/Sum/Enter", "while/Identity_1"])
    bad.attr["dtype"].type = dtypes.from_numpy(np.float32)
    next(n for n in mg.graph_def.node if n.name == "while/add_1").input.append("^while/assign")
    problems = _problems(mg, "counter")
    assert ("AssignVariableOp", "while/assign") in [(p.op, p.node) for p in problems]
    assert any("changes a variable" in p.reason for p in problems)
