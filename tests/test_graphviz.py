"""Graph pictures: hand-built graphs (calls, folding, loops, hostile input) and TF fixtures."""

from __future__ import annotations

import json
import shutil

import pytest

from savedmodel_io import graphviz
from savedmodel_io.cli import main as cli
from savedmodel_io.errors import (
    InvalidArgumentError,
    LimitExceededError,
    MissingDependencyError,
    NotFoundError,
)
from savedmodel_io.model import MetaGraph, load
from savedmodel_io.proto import DataType, MetaGraphDef

F32 = DataType.DT_FLOAT
RES = DataType.DT_RESOURCE


def _shape_attr(node, *shapes):
    lst = node.attr["_output_shapes"].list
    for shape in shapes:
        s = lst.shape.add()
        for d in shape:
            s.dim.add(size=-1 if d is None else d)


def _meta_graph() -> MetaGraph:
    """x -> StatefulPartitionedCall(f) -> y; f: relu(matmul(x, read(w)) + const)."""
    mg = MetaGraphDef()
    g = mg.graph_def
    x = g.node.add(name="serving_x", op="Placeholder")
    x.attr["dtype"].type = F32
    _shape_attr(x, (None, 3))
    w = g.node.add(name="w", op="VarHandleOp")
    w.attr["shared_name"].s = b"dense/kernel"
    w.attr["shape"].shape.dim.add(size=3)
    w.attr["shape"].shape.dim.add(size=2)
    call = g.node.add(name="call", op="StatefulPartitionedCall", input=["serving_x", "w", "^w"])
    call.attr["f"].func.name = "f"
    g.node.add(name="out", op="Identity", input=["call:1"])
    f = g.library.function.add()
    f.signature.name = "f"
    f.signature.input_arg.add(name="x", type=F32)
    f.signature.input_arg.add(name="w_res", type=RES)
    f.signature.output_arg.add(name="unused", type=F32)
    f.signature.output_arg.add(name="y", type=F32)
    f.node_def.add(name="read", op="ReadVariableOp", input=["w_res"])
    mm = f.node_def.add(name="dense/MatMul", op="MatMul", input=["x", "read:value:0"])
    _shape_attr(mm, (None, 2))
    c = f.node_def.add(name="dense/bias", op="Const")
    c.attr["value"].tensor.dtype = F32
    c.attr["value"].tensor.float_val.append(0.5)
    f.node_def.add(name="dense/add", op="AddV2", input=["dense/MatMul:product:0", "dense/bias:output:0"])
    f.node_def.add(name="dense/Relu", op="Relu", input=["dense/add:z:0"])
    f.node_def.add(name="other", op="Neg", input=["x"])
    f.ret["y"] = "dense/Relu:activations:0"
    f.ret["unused"] = "other:y:0"
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = "serving_x:0"
    sig.outputs["y"].name = "out:0"
    sig.outputs["y"].dtype = F32
    return MetaGraph(mg)


def _by_op(pic):
    return {n.op: n for n in pic.nodes.values()}


def test_signature_follows_calls_and_folds():
    pic = graphviz.signature_picture(_meta_graph(), "serving_default")
    ops = _by_op(pic)
    # Only what the output needs: Neg feeds the other output and is not drawn.
    assert set(pic.ops()) == {"MatMul", "AddV2", "Relu"}
    assert "Neg" not in ops
    assert ops["MatMul"].folded == ["dense/kernel 3×2"]
    assert ops["AddV2"].folded == ["const 0.5"]
    assert ops["MatMul"].shapes == [(None, 2)]
    assert ops["Placeholder"].kind == "input" and "'x'" in ops["Placeholder"].detail
    edges = {(pic.nodes[a].op, pic.nodes[b].op) for a, b in pic.edges}
    assert edges == {("Placeholder", "MatMul"), ("MatMul", "AddV2"), ("AddV2", "Relu"), ("Relu", "output")}
    assert [c.label for c in pic.clusters.values()] == ["f"]
    assert ops["MatMul"].cluster == 0 and ops["Placeholder"].cluster is None


def test_no_fold_and_no_expand():
    mg = _meta_graph()
    pic = graphviz.signature_picture(mg, "serving_default", fold=False)
    assert {"ReadVariableOp", "Const", "VarHandleOp", "Identity"} <= set(pic.ops())
    pic = graphviz.signature_picture(mg, "serving_default", expand=False)
    assert [n.kind for n in pic.nodes.values() if n.op == "StatefulPartitionedCall"] == ["call"]
    assert not pic.clusters


def test_function_picture():
    pic = graphviz.function_picture(_meta_graph(), "f")
    kinds = sorted(n.kind for n in pic.nodes.values())
    assert kinds.count("output") == 2 and kinds.count("input") == 1  # w_res is folded
    assert "Neg" in pic.ops()
    with pytest.raises(NotFoundError, match="did you mean f"):
        graphviz.function_picture(_meta_graph(), "ff")


def test_unknown_signature():
    with pytest.raises(NotFoundError, match="serving_default"):
        graphviz.signature_picture(_meta_graph(), "nope")


def test_collapse_by_scope():
    pic = graphviz.signature_picture(_meta_graph(), "serving_default", collapse=1)
    scopes = [n for n in pic.nodes.values() if n.kind == "scope"]
    assert len(scopes) == 1 and scopes[0].name == "dense" and scopes[0].op == "MatMul"
    assert "MatMul" in scopes[0].detail and "Relu" in scopes[0].detail
    assert scopes[0].folded == ["dense/kernel 3×2"]  # constants are not listed on scopes
    kinds = sorted(pic.nodes[a].kind + ">" + pic.nodes[b].kind for a, b in pic.edges)
    assert kinds == ["input>scope", "scope>output"]
    auto = graphviz.signature_picture(_meta_graph(), "serving_default", max_nodes=3)
    assert len(auto.nodes) == 3
    with pytest.raises(InvalidArgumentError):
        graphviz.signature_picture(_meta_graph(), "serving_default", collapse=0)


def test_recursion_missing_function_and_loops_are_drawn_not_followed():
    mg = MetaGraphDef()
    g = mg.graph_def
    g.node.add(name="x", op="Placeholder")
    # A TF1-style loop: merge <- next_iteration <- add <- merge (a cycle).
    g.node.add(name="merge", op="Merge", input=["x", "next"])
    g.node.add(name="add", op="AddV2", input=["merge", "x"])
    g.node.add(name="next", op="NextIteration", input=["add"])
    c1 = g.node.add(name="c1", op="PartitionedCall", input=["add"])
    c1.attr["f"].func.name = "rec"
    c2 = g.node.add(name="c2", op="PartitionedCall", input=["c1"])
    c2.attr["f"].func.name = "missing"
    f = g.library.function.add()
    f.signature.name = "rec"
    f.signature.input_arg.add(name="a", type=F32)
    f.signature.output_arg.add(name="b", type=F32)
    inner = f.node_def.add(name="again", op="PartitionedCall", input=["a"])
    inner.attr["f"].func.name = "rec"
    f.ret["b"] = "again:output:0"
    mg.signature_def["s"].outputs["o"].name = "c2:0"
    pic = graphviz.signature_picture(MetaGraph(mg), "s")
    details = sorted(n.detail for n in pic.nodes.values() if n.kind == "call")
    assert details == ["missing (missing from the library)", "rec (recursive call)"]
    edges = {(pic.nodes[a].op, pic.nodes[b].op) for a, b in pic.edges}
    assert ("NextIteration", "Merge") in edges and ("Merge", "AddV2") in edges
    graphviz.to_dot(pic)


def test_node_budget():
    mg = _meta_graph()
    with pytest.raises(LimitExceededError):
        graphviz.signature_picture(mg, "serving_default", node_budget=2)


def test_call_fan_out_is_bounded():
    # f_i calls f_{i+1} twice and the last body is `ret = arg`: no boxes, 2**31 call sites.
    # Expanded calls count against the budget, so this ends in an error, fast.
    mg = MetaGraphDef()
    g = mg.graph_def
    g.node.add(name="x", op="Placeholder").attr["dtype"].type = F32
    g.node.add(name="y", op="f0", input=["x"])
    depth = 31
    for i in range(depth + 1):
        f = g.library.function.add()
        f.signature.name = f"f{i}"
        f.signature.input_arg.add(name="a", type=F32)
        f.signature.output_arg.add(name="r", type=F32)
        if i == depth:
            f.ret["r"] = "a"
            continue
        f.node_def.add(name="c1", op=f"f{i + 1}", input=["a"])
        f.node_def.add(name="c2", op=f"f{i + 1}", input=["c1:r:0"])
        f.ret["r"] = "c2:r:0"
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = "x:0"
    sig.outputs["y"].name = "y:0"
    with pytest.raises(LimitExceededError, match="boxes and calls"):
        graphviz.signature_picture(MetaGraph(mg), "serving_default", node_budget=5000)


def test_dot_escapes_hostile_names():
    mg = _meta_graph()
    mg.proto.graph_def.library.function[0].node_def[1].name = 'dense/Mat"Mul<b>\n'
    for n in mg.proto.graph_def.library.function[0].node_def:
        for i, ref in enumerate(n.input):
            if ref.startswith("dense/MatMul"):
                n.input[i] = ref.replace("dense/MatMul", 'dense/Mat"Mul<b>\n')
    dot = graphviz.to_dot(graphviz.signature_picture(mg, "serving_default"))
    assert 'tooltip="dense/Mat\\"Mul<b>\\n"' in dot
    assert "Mat&quot;Mul&lt;b&gt;" in dot
    assert dot.count("{") == dot.count("}")


def test_missing_graphviz(monkeypatch):
    monkeypatch.setenv("SAVEDMODEL_IO_DOT", "/nonexistent/dot")
    with pytest.raises(MissingDependencyError, match="apt-get install graphviz"):
        graphviz.render("digraph {}", "png")
    assert graphviz.render("digraph {}", "dot") == b"digraph {}"
    with pytest.raises(InvalidArgumentError):
        graphviz.render("digraph {}", "gif")


@pytest.mark.skipif(graphviz.dot_binary() is None, reason="Graphviz 'dot' is not installed")
def test_render_svg_png():
    dot = graphviz.to_dot(graphviz.signature_picture(_meta_graph(), "serving_default"))
    svg = graphviz.render(dot, "svg")
    assert b"<svg" in svg and b"MatMul" in svg
    assert graphviz.render(dot, "png").startswith(b"\x89PNG\r\n\x1a\n")


# ----------------------------------------------------------------------- TensorFlow fixtures


@pytest.fixture(scope="module")
def mobilenet(fixture_model):
    return fixture_model("eco_mobilenet_v2")


@pytest.mark.tf
def test_mobilenet_v2_conv_stack(mobilenet):
    pic = graphviz.signature_picture(load(mobilenet).meta_graph(), "serving_default")
    ops = pic.ops()
    # MobileNetV2: Conv1, 16 expand + 17 project 1x1 convolutions, Conv_1; 17 depthwise.
    assert ops["Conv2D"] == 35 and ops["DepthwiseConv2dNative"] == 17
    assert ops["Relu6"] == 35 and ops["Softmax"] == 1
    assert "ReadVariableOp" not in ops and "StatefulPartitionedCall" not in ops
    shapes = {tuple(s) for n in pic.nodes.values() for s in n.shapes or [] if s}
    assert (None, 112, 112, 32) in shapes and (None, 7, 7, 1280) in shapes and (None, 1000) in shapes
    convs = [n for n in pic.nodes.values() if n.op == "Conv2D"]
    assert all(len(n.folded) == 1 and "kernel" in n.folded[0] for n in convs)
    # One box per Keras layer when collapsed two scope levels deep.
    layers = graphviz.signature_picture(load(mobilenet).meta_graph(), "serving_default", collapse=2)
    assert len(layers.nodes) < len(pic.nodes) / 2
    assert {n.name.rsplit("/", 1)[-1] for n in layers.nodes.values() if n.kind == "scope"} >= {
        "bn_Conv1_1", "block_16_project_BN_1"
    }


@pytest.mark.tf
def test_cli_graph(mobilenet, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ["graph"])
    assert cli.main(["graph", "--dir", str(mobilenet), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ops"]["DepthwiseConv2dNative"] == 17 and len(doc["clusters"]) == 2
    out = tmp_path / "m.dot"
    assert cli.main(["graph", "--dir", str(mobilenet), "--collapse", "2", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph savedmodel {")
    assert cli.main(["graph", "--dir", str(mobilenet), "--signature_def", "nope"]) == 1
    assert "no signature 'nope'" in capsys.readouterr().err
    if shutil.which("dot"):
        png = tmp_path / "m.png"
        assert cli.main(["graph", "--dir", str(mobilenet), "--collapse", "2",
                         "--format", "png", "-o", str(png)]) == 0
        assert png.read_bytes().startswith(b"\x89PNG")
