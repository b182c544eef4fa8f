"""Export of odd and damaged graphs: every problem is reported with its node, never a raw traceback."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import savedmodel_io.onnx as sx  # noqa: E402
from savedmodel_io import dtypes  # noqa: E402
from savedmodel_io.errors import InvalidArgumentError, NotFoundError  # noqa: E402
from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.onnx._convert import Exporter  # noqa: E402
from savedmodel_io.proto import MetaGraphDef  # noqa: E402
from savedmodel_io.writer import Model, save  # noqa: E402


def _graph(*nodes: tuple[str, str, list[str], dict]) -> MetaGraphDef:
    """A graph with float input x (a signature input) and the given nodes; output is the last node."""
    mg = MetaGraphDef()
    x = mg.graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = dtypes.from_numpy(np.float32)
    sd = mg.signature_def["s"]
    sd.inputs["x"].name = "x:0"
    sd.inputs["x"].dtype = x.attr["dtype"].type
    sd.inputs["x"].tensor_shape.dim.add().size = 2
    for name, op, inputs, attrs in nodes:
        n = mg.graph_def.node.add(name=name, op=op)
        n.input.extend(inputs)
        for k, v in attrs.items():
            if isinstance(v, str):
                n.attr[k].func.name = v
            else:
                n.attr[k].type = v
    sd.outputs["y"].name = f"{nodes[-1][0]}:0"
    sd.outputs["y"].dtype = x.attr["dtype"].type
    return mg


def _problems(mg: MetaGraphDef):
    ex = Exporter(runtime.Session(mg), 20)
    ex.signature("s")
    return ex.problems


def test_an_op_without_mapping_is_named():
    (p,) = _problems(_graph(("weird", "NoSuchOp", ["x"], {})))
    assert (p.op, p.node, p.function) == ("NoSuchOp", "weird", "the graph")
    assert "no ONNX mapping" in p.reason


def test_missing_attrs_are_a_problem_not_a_crash():
    (p,) = _problems(_graph(("c", "Cast", ["x"], {})))  # no DstT
    assert p.op == "Cast" and p.node == "c"


def test_every_problem_at_once_and_downstream_nodes_stay_quiet():
    problems = _problems(_graph(("a", "NoSuchOp", ["x"], {}), ("b", "OtherOp", ["x"], {}),
                                ("c", "AddV2", ["a", "b"], {"T": dtypes.from_numpy(np.float32)})))
    assert [p.op for p in problems] == ["NoSuchOp", "OtherOp"]


def test_recursive_functions_stop():
    mg = _graph(("call", "loop_f", ["x"], {}))
    f = mg.graph_def.library.function.add()
    f.signature.name = "loop_f"
    f.signature.input_arg.add(name="a", type=dtypes.from_numpy(np.float32))
    f.signature.output_arg.add(name="out", type=dtypes.from_numpy(np.float32))
    inner = f.node_def.add(name="again", op="loop_f")
    inner.input.append("a")
    f.ret["out"] = "again:out:0"
    problems = _problems(mg)
    assert problems and "nest deeper" in problems[0].reason


@pytest.fixture
def small(tmp_path):
    m = Model()
    w = m.variable("w", np.ones((4, 2), np.float32))
    f = m.function("__call__", {"features": ("float32", (None, 4))})
    f.outputs({"y": f.dense(f.inputs["features"], w)})
    m.signature("serving_default", f)
    save(tmp_path / "m", m)
    return tmp_path / "m"


def test_api_arguments_are_checked(small):
    with pytest.raises(NotFoundError, match="no signature 'nope'"):
        sx.export(small, "nope")
    with pytest.raises(InvalidArgumentError, match="opset"):
        sx.export(small, opset=7)
    with pytest.raises(InvalidArgumentError, match="expected a SavedModel"):
        sx.export(42)
    with pytest.raises(NotFoundError):
        sx.export(small, tags="gpu")
    assert sx.check(small) == []
