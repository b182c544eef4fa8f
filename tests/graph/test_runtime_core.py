"""The interpreter on hand-built graphs (no TensorFlow): naming, calls, control flow, errors."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io import tensors
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    RuntimeFailure,
    UnsupportedOpError,
)
from savedmodel_io.graph import runtime
from savedmodel_io.graph.budget import Budget
from savedmodel_io.graph.ops import supported_ops
from savedmodel_io.proto import AttrValue, DataType, FunctionDef, MetaGraphDef, NodeDef

F32 = DataType.DT_FLOAT
I32 = DataType.DT_INT32


def attr(v) -> AttrValue:
    a = AttrValue()
    if isinstance(v, bool):
        a.b = v
    elif isinstance(v, int):
        a.i = v
    elif isinstance(v, float):
        a.f = v
    elif isinstance(v, bytes):
        a.s = v
    elif isinstance(v, np.ndarray):
        a.tensor.CopyFrom(tensors.from_array(v))
    elif isinstance(v, tuple) and v[0] == "type":
        a.type = v[1]
    elif isinstance(v, tuple) and v[0] == "func":
        a.func.name = v[1]
    elif isinstance(v, tuple) and v[0] == "types":
        a.list.type.extend(v[1])
    elif isinstance(v, tuple) and v[0] == "funcs":
        for name in v[1]:
            a.list.func.add().name = name
    elif isinstance(v, tuple) and v[0] == "shape":
        a.shape.CopyFrom(tensors.shape_to_proto(v[1]))
    else:
        raise TypeError(v)
    return a


def node(name, op, inputs=(), **attrs) -> NodeDef:
    n = NodeDef(name=name, op=op)
    n.input.extend(inputs)
    for k, v in attrs.items():
        n.attr[k].CopyFrom(attr(v))
    return n


def const(name, value) -> NodeDef:
    value = np.asarray(value)
    return node(name, "Const", value=value, dtype=("type", tensors.from_array(value).dtype))


def function(name, args, rets, nodes, control_ret=None) -> FunctionDef:
    f = FunctionDef()
    f.signature.name = name
    for a, t in args:
        f.signature.input_arg.add(name=a, type=t)
    for r, (t, _) in rets.items():
        f.signature.output_arg.add(name=r, type=t)
    for r, (_, ref) in rets.items():
        f.ret[r] = ref
    f.node_def.extend(nodes)
    for k, v in (control_ret or {}).items():
        f.control_ret[k] = v
        f.signature.control_output.append(k)
    return f


def meta(nodes, functions=(), sigs=None) -> MetaGraphDef:
    mg = MetaGraphDef()
    mg.graph_def.node.extend(nodes)
    mg.graph_def.library.function.extend(functions)
    for key, (ins, outs) in (sigs or {}).items():
        sd = mg.signature_def[key]
        for k, (name, dt, shape) in ins.items():
            sd.inputs[k].name = name
            sd.inputs[k].dtype = dt
            sd.inputs[k].tensor_shape.CopyFrom(tensors.shape_to_proto(shape))
        for k, name in outs.items():
            sd.outputs[k].name = name
            sd.outputs[k].dtype = F32
    return mg


def placeholder(name, dt=F32) -> NodeDef:
    return node(name, "Placeholder", dtype=("type", dt))


def test_registry_is_broad():
    ops = set(supported_ops())
    for op in ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MaxPool", "AvgPool",
               "FusedBatchNormV3", "Relu6", "Selu", "Erf", "Softmax", "LogSoftmax", "FloorDiv",
               "FloorMod", "BatchMatMulV2", "Einsum", "StridedSlice", "GatherV2", "MirrorPad",
               "OneHot", "SelectV2", "While", "StatelessIf", "Case", "TensorListReserve",
               "ResourceGather", "HashTableV2", "InitializeTableFromTextFileV2",
               "LookupTableFindV2", "ParseExampleV2", "VarHandleOp", "ReadVariableOp"):
        assert op in ops, op


def test_function_call_with_internal_names():
    # f(x) = (x + 1, x * 2) through node:out_arg:index names; the graph sums the two.
    f = function(
        "f", [("x", F32)], {"a": (F32, "add:z:0"), "b": (F32, "pair:output:1")},
        [const("one", np.float32(1)), node("add", "AddV2", ["x", "one:output:0"]),
         const("two", np.float32(2)), node("mul", "Mul", ["x", "two:output:0"]),
         node("pair", "IdentityN", ["add:z:0", "mul:z:0"], T=("types", [F32, F32]))])
    mg = meta([placeholder("x"), node("call", "StatefulPartitionedCall", ["x"], f=("func", "f")),
               node("sum", "AddV2", ["call:0", "call:1"])], [f],
              {"s": ({"x": ("x:0", F32, (None,))}, {"y": "sum:0", "a": "call:0"})})
    out = runtime.run_signature(mg, "s", {"x": np.array([1, 2], np.float32)})
    np.testing.assert_array_equal(out["y"], [4, 7])
    np.testing.assert_array_equal(out["a"], [2, 3])


def test_library_function_as_op():
    f = function("plus1", [("x", F32)], {"y": (F32, "add:z:0")},
                 [const("one", np.float32(1)), node("add", "AddV2", ["x", "one:output:0"])])
    mg = meta([placeholder("x"), node("c", "plus1", ["x"])], [f],
              {"s": ({"x": ("x:0", F32, ())}, {"y": "c:0"})})
    assert runtime.run_signature(mg, "s", {"x": np.float32(1.5)})["y"] == np.float32(2.5)


def test_if_while_case():
    then_f = function("then", [("x", F32)], {"y": (F32, "n:y:0")}, [node("n", "Neg", ["x"])])
    else_f = function("else", [("x", F32)], {"y": (F32, "x")}, [])
    cond_f = function("cond", [("i", I32), ("acc", F32)], {"c": (DataType.DT_BOOL, "lt:z:0")},
                      [const("lim", np.int32(5)), node("lt", "Less", ["i", "lim:output:0"])])
    body_f = function("body", [("i", I32), ("acc", F32)], {"i2": (I32, "inc:z:0"), "a2": (F32, "dbl:z:0")},
                      [const("one", np.int32(1)), node("inc", "AddV2", ["i", "one:output:0"]),
                       node("dbl", "AddV2", ["acc", "acc"])])
    b0 = function("b0", [("x", F32)], {"y": (F32, "x")}, [])
    b1 = function("b1", [("x", F32)], {"y": (F32, "s:y:0")}, [node("s", "Square", ["x"])])
    nodes = [
        placeholder("p", DataType.DT_BOOL), placeholder("x"), placeholder("k", I32),
        node("if", "StatelessIf", ["p", "x"], then_branch=("func", "then"), else_branch=("func", "else")),
        const("i0", np.int32(0)),
        node("loop", "StatelessWhile", ["i0", "x"], cond=("func", "cond"), body=("func", "body")),
        node("case", "Case", ["k", "x"], branches=("funcs", ["b0", "b1"])),
    ]
    mg = meta(nodes, [then_f, else_f, cond_f, body_f, b0, b1], {"s": (
        {"p": ("p:0", DataType.DT_BOOL, ()), "x": ("x:0", F32, ()), "k": ("k:0", I32, ())},
        {"if": "if:0", "loop": "loop:1", "case": "case:0"})})
    out = runtime.run_signature(mg, "s", {"p": True, "x": np.float32(3), "k": np.int32(1)})
    assert (out["if"], out["loop"], out["case"]) == (-3, 96, 9)
    # Out-of-range branch indices run the last branch, as TensorFlow's Case does.
    out = runtime.run_signature(mg, "s", {"p": False, "x": np.float32(3), "k": np.int32(7)})
    assert (out["if"], out["case"]) == (3, 9)


def test_variables_and_control_dependencies():
    # A resource variable assigned (under a control dependency) before being read.
    nodes = [
        node("v", "VarHandleOp", shared_name=b"v", dtype=("type", F32)),
        placeholder("x"),
        node("assign", "AssignVariableOp", ["v", "x"], dtype=("type", F32)),
        node("read", "ReadVariableOp", ["v", "^assign"], dtype=("type", F32)),
        node("read_ckpt", "ReadVariableOp", ["w"], dtype=("type", F32)),
        node("w", "VarHandleOp", shared_name=b"w", dtype=("type", F32)),
    ]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (2,))}, {"y": "read:0"}),
                           "w": ({}, {"w": "read_ckpt:0"})})
    x = np.array([4, 5], np.float32)
    np.testing.assert_array_equal(runtime.run_signature(mg, "s", {"x": x})["y"], x)
    got = runtime.run_signature(mg, "w", {}, variables={"w": np.float32(7)})["w"]
    assert got == 7
    with pytest.raises(NotFoundError, match="checkpoint"):
        runtime.run_signature(meta(nodes, sigs={"w": ({}, {"w": "read_ckpt:0"})}), "w", {},
                              variables={})


def _counter_graph() -> MetaGraphDef:
    """TF Serving's saved_model_counter in miniature, plus a variable only the init op sets."""
    f32 = ("type", F32)
    nodes = [
        node("counter", "VariableV2", dtype=f32, shape=("shape", ())),
        const("one", np.float32(1)), const("zero", np.float32(0)),
        node("incr", "AssignAdd", ["counter", "one"], T=f32),
        node("reset", "Assign", ["counter", "zero"], T=f32),
        placeholder("delta"), node("incr_by", "AssignAdd", ["counter", "delta"], T=f32),
        node("name", "VariableV2", dtype=("type", DataType.DT_STRING), shape=("shape", ())),
        const("foo", np.array(b"foo.txt", dtype=object)),
        node("set_name", "Assign", ["name", "foo"], T=("type", DataType.DT_STRING)),
        node("init", "NoOp", ["^set_name"]),
        node("read_name", "Identity", ["name"], T=("type", DataType.DT_STRING)),
        node("doubled", "Mul", ["counter", "counter"], T=f32),
    ]
    mg = meta(nodes, sigs={"get": ({}, {"y": "counter:0"}), "incr": ({}, {"y": "incr:0"}),
                           "reset": ({}, {"y": "reset:0"}), "sq": ({}, {"y": "doubled:0"}),
                           "by": ({"d": ("delta:0", F32, None)}, {"y": "incr_by:0"}),
                           "name": ({}, {"y": "read_name:0"})})
    mg.collection_def["legacy_init_op"].node_list.value.append("init")
    return mg


def test_ref_variables_keep_state_across_runs():
    # Updates persist in the session as in a TF1 session; a new session starts from the checkpoint.
    mg = _counter_graph()
    ckpt = {"counter": np.float32(5)}
    sess = runtime.Session(mg, variables=ckpt)

    def run(key, **inputs):
        return sess.run_signature(key, inputs)["y"]

    assert run("get") == 5
    assert [run("incr"), run("incr"), run("get"), run("sq")] == [6, 7, 7, 49]
    first = run("get")
    assert run("by", d=np.float32(0.5)) == 7.5 and first == 7  # an output is not changed later
    assert run("reset") == 0 and run("get") == 0
    assert run("name") == b"foo.txt"  # not in the checkpoint: the legacy_init_op assigns it
    with pytest.raises(InvalidArgumentError, match="must be the same size"):
        run("by", d=np.ones(2, np.float32))
    assert runtime.Session(mg, variables=ckpt).run_signature("get", {})["y"] == 5


def test_uninitialized_ref_variable_is_an_error():
    mg = _counter_graph()
    del mg.collection_def["legacy_init_op"]
    sess = runtime.Session(mg, variables={"counter": np.float32(1)})
    with pytest.raises(NotFoundError, match="variable 'name' is not initialized"):
        sess.run_signature("name", {})
    with pytest.raises(NotFoundError, match="variable 'counter' is not initialized"):
        runtime.Session(mg, variables={}).run_signature("incr", {})


@pytest.mark.parametrize("loop", [["a"], ["b", "a"]])
def test_identity_cycle_feeding_an_unreached_assign(loop):
    # Finding the TF1 Saver's checkpoint keys followed the Identity chain forever.
    ring = [node(n, "Identity", [loop[(i + 1) % len(loop)]]) for i, n in enumerate(loop)]
    nodes = [node("v", "VarHandleOp", shared_name=b"v", dtype=("type", F32)),
             node("y", "ReadVariableOp", ["v"], dtype=("type", F32)),
             *ring, node("asg", "Assign", ["v", "a"])]
    mg = meta(nodes, sigs={"s": ({}, {"y": "y:0"})})
    with pytest.raises(CorruptFileError, match="Identity node '[ab]' is its own input"):
        runtime.run_signature(mg, "s", {}, variables={"v": np.float32(1)})


def test_only_needed_nodes_run(capsys):
    nodes = [placeholder("x"), node("y", "Identity", ["x"]),
             const("msg", np.array(b"side effect", dtype=object)),
             node("print", "PrintV2", ["msg"], output_stream=b"stdout"),
             node("z", "Identity", ["x", "^print"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "y:0"}),
                           "t": ({"x": ("x:0", F32, ())}, {"z": "z:0"})})
    runtime.run_signature(mg, "s", {"x": np.float32(1)})
    assert "side effect" not in capsys.readouterr().out
    runtime.run_signature(mg, "t", {"x": np.float32(1)})
    assert "side effect" in capsys.readouterr().out


def test_unsupported_ops_found_before_running(capsys):
    f = function("inner", [("x", F32)], {"y": (F32, "m:y:0")}, [node("m", "MysteryOp", ["x"])])
    nodes = [placeholder("x"), const("msg", np.array(b"ran", dtype=object)),
             node("print", "PrintV2", ["msg"], output_stream=b"stdout"),
             node("a", "FancyOp", ["x", "^print"]),
             node("c", "PartitionedCall", ["a"], f=("func", "inner"))]
    mg = meta(nodes, [f], {"s": ({"x": ("x:0", F32, ())}, {"y": "c:0"})})
    with pytest.raises(UnsupportedOpError) as e:
        runtime.run_signature(mg, "s", {"x": np.float32(1)})
    assert "FancyOp" in str(e.value) and "'a'" in str(e.value) and "MysteryOp" in str(e.value)
    assert "ran" not in capsys.readouterr().out
    missing = runtime.check_signature(mg, "s")
    assert {(m.op, m.node, m.function) for m in missing} == {
        ("FancyOp", "a", "the graph"), ("MysteryOp", "m", "function 'inner'")}


def test_custom_ops_are_named_as_such_and_more_lists_distinct_ops():
    nodes = [placeholder("x"),
             node("a", "CaseFoldUTF8", ["x"]), node("b", "TFText>WhitespaceTokenizeWithOffsetsV2", ["a"]),
             node("c", "MyCustomOp", ["b"]), node("d", "MyCustomOp", ["c"]), node("e", "MyCustomOp", ["d"]),
             node("f", "ApplyGradientDescent", ["e"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "f:0"})})
    with pytest.raises(UnsupportedOpError) as e:
        runtime.run_signature(mg, "s", {"x": np.float32(1)})
    text = str(e.value)
    first, _, more = text.partition(" (and ")
    assert "custom op from tensorflow-text, not part of TensorFlow" in first
    # The others, each once, and not the first again.
    assert more.startswith("3 more: ") and more.count("MyCustomOp") == 1
    assert first.split()[4] not in more
    missing = {m.op: m.note for m in runtime.check_signature(mg, "s")}
    assert missing == {
        "CaseFoldUTF8": "custom op from tensorflow-text, not part of TensorFlow",
        "TFText>WhitespaceTokenizeWithOffsetsV2": "custom op from tensorflow-text, not part of TensorFlow",
        "MyCustomOp": "custom op (not part of TensorFlow)",
        "ApplyGradientDescent": None,  # registered by TensorFlow, a training op (no kernel)
    }


def test_attrs_left_out_take_their_opdef_defaults():
    # Mean without keep_dims, Conv2D without data_format/dilations, LeakyRelu without alpha:
    # the kernels read TensorFlow's defaults, filled in while compiling.
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) - 3
    w = np.ones((1, 1, 2, 1), np.float32)
    nodes = [const("x", x), const("w", w), const("ax", np.int32(3)),
             node("conv", "Conv2D", ["x", "w"], T=("type", F32), padding=b"VALID"),
             node("m", "Mean", ["x", "ax"], T=("type", F32)),
             node("lr", "LeakyRelu", ["x"], T=("type", F32))]
    nodes[3].attr["strides"].list.i.extend([1, 1, 1, 1])
    mg = meta(nodes, sigs={"s": ({}, {"conv": "conv:0", "m": "m:0", "lr": "lr:0"})})
    out = runtime.run_signature(mg, "s", {})
    np.testing.assert_array_equal(out["conv"], x.sum(axis=3, keepdims=True))
    np.testing.assert_array_equal(out["m"], x.mean(axis=3))
    np.testing.assert_array_equal(out["lr"], np.where(x > 0, x, x * np.float32(0.2)))
    sess = runtime.Session(mg)
    assert sess.graph.nodes[sess.graph.by_name["m"]].attr["keep_dims"] is False


def test_output_names_resolve_for_ops_without_kernels():
    # Layouts come from the OpDef, so a missing kernel is reported as such, not as a bad name.
    mg = meta([placeholder("x"), node("q", "Qr", ["x"]), node("y", "Identity", ["q:r:0"])],
              sigs={"s": ({"x": ("x:0", F32, (2, 2))}, {"y": "y:0"})})
    sess = runtime.Session(mg)
    assert sess.graph.resolve("q:r:0") == (sess.graph.by_name["q"], 1)
    with pytest.raises(RuntimeFailure, match="names output 2 of node 'q'"):
        sess.graph.resolve("q:2")


def test_a_meta_graph_owns_its_session_and_protos_get_fresh_ones():
    from savedmodel_io.model import MetaGraph

    proto = meta([placeholder("x"), node("y", "Identity", ["x"])],
                 sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "y:0"})})
    mg = MetaGraph(proto)
    assert runtime.run_signature(mg, "s", {"x": np.float32(2)})["y"] == 2
    sess = mg.session
    assert isinstance(sess, runtime.Session) and mg.session is sess
    assert sess.graph._plans  # the call above ran in it
    # A bare MetaGraphDef is not cached anywhere: each call compiles its own Session.
    assert runtime.run_signature(proto, "s", {"x": np.float32(3)})["y"] == 3
    with pytest.raises(InvalidArgumentError, match="expected a MetaGraph or a MetaGraphDef, got dict"):
        runtime.run_signature({"proto": proto}, "s", {})


def test_input_validation():
    mg = meta([placeholder("x"), node("y", "Identity", ["x"]),
               placeholder("s", DataType.DT_STRING), node("t", "Identity", ["s"])],
              sigs={"s": ({"x": ("x:0", F32, (None, 2))}, {"y": "y:0"}),
                    "str": ({"s": ("s:0", DataType.DT_STRING, (None,))}, {"t": "t:0"})})
    ok = np.zeros((3, 2), np.float32)
    with pytest.raises(InvalidArgumentError, match="unknown input 'z'"):
        runtime.run_signature(mg, "s", {"x": ok, "z": ok})
    with pytest.raises(InvalidArgumentError, match="missing input 'x'"):
        runtime.run_signature(mg, "s", {})
    with pytest.raises(InvalidArgumentError, match=r"expects shape \(None, 2\), got \(3, 3\)"):
        runtime.run_signature(mg, "s", {"x": np.zeros((3, 3), np.float32)})
    with pytest.raises(InvalidArgumentError, match=r"expects float32, got an array of float64 \(strict"):
        runtime.run_signature(mg, "s", {"x": np.zeros((3, 2))}, strict=True)
    with pytest.raises(NotFoundError, match="no signature 'nope'"):
        runtime.run_signature(mg, "nope", {})
    # Python lists convert like tf.convert_to_tensor; ints widen to float.
    assert runtime.run_signature(mg, "s", {"x": [[1, 2]]})["y"].dtype == np.float32
    out = runtime.run_signature(mg, "str", {"s": ["a", b"b"]})["t"]
    assert out.tolist() == [b"a", b"b"]
    with pytest.raises(InvalidArgumentError, match="expects strings"):
        runtime.run_signature(mg, "str", {"s": [1, 2]})


def test_tensor_info_without_a_shape_is_unknown():
    # TF Serving's half_plus_three records no shape for its input: any shape is fed (as
    # TensorFlow does), while a recorded scalar shape is still enforced.
    mg = meta([placeholder("x"), node("y", "Identity", ["x"])],
              sigs={"none": ({"x": ("x:0", F32, ())}, {"y": "y:0"}),
                    "scalar": ({"x": ("x:0", F32, ())}, {"y": "y:0"})})
    mg.signature_def["none"].inputs["x"].ClearField("tensor_shape")
    x = np.ones((2, 1), np.float32)
    np.testing.assert_array_equal(runtime.run_signature(mg, "none", {"x": x})["y"], x)
    with pytest.raises(InvalidArgumentError, match=r"expects shape \(\), got \(2, 1\)"):
        runtime.run_signature(mg, "scalar", {"x": x})
    from savedmodel_io.model import Signature

    assert Signature("none", mg.signature_def["none"]).inputs["x"].shape is None
    assert Signature("scalar", mg.signature_def["scalar"]).inputs["x"].shape == ()


def test_unfed_placeholder_and_kernel_failure():
    mg = meta([placeholder("x"), placeholder("other"), node("y", "AddV2", ["x", "other"]),
               const("shape", np.array([5], np.int32)), node("r", "Reshape", ["x", "shape"])],
              sigs={"s": ({"x": ("x:0", F32, (None,))}, {"y": "y:0"}),
                    "r": ({"x": ("x:0", F32, (None,))}, {"r": "r:0"})})
    with pytest.raises(InvalidArgumentError, match="placeholder 'other'"):
        runtime.run_signature(mg, "s", {"x": np.zeros(2, np.float32)})
    with pytest.raises(InvalidArgumentError, match="cannot reshape") as e:
        runtime.run_signature(mg, "r", {"x": np.zeros(2, np.float32)})
    assert "'r'" in str(e.value)


def test_cycle_is_reported():
    mg = meta([placeholder("x"), node("a", "AddV2", ["x", "b"]), node("b", "Identity", ["a"])],
              sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "b:0"})})
    with pytest.raises(UnsupportedOpError, match="cycle"):
        runtime.run_signature(mg, "s", {"x": np.float32(1)})


def test_bad_tensor_names():
    mg = meta([placeholder("x"), node("y", "Identity", ["nowhere:0"])],
              sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "y:0"})})
    with pytest.raises(NotFoundError, match="no node named 'nowhere'"):
        runtime.run_signature(mg, "s", {"x": np.float32(1)})


@pytest.mark.parametrize("name", ["x:-3", "x:400000000", "x:1048576"])
def test_hostile_output_index_in_a_signature_input(name):
    # Used to be a raw IndexError (negative) or a list of 4e8 Nones (MemoryError).
    mg = meta([placeholder("x"), node("y", "Identity", ["x"])],
              sigs={"s": ({"x": (name, F32, ())}, {"y": "y:0"})})
    with pytest.raises(RuntimeFailure, match=f"tensor '{name}' names output"):
        runtime.run_signature(mg, "s", {"x": np.float32(1)})


def test_hostile_output_index_in_an_asset_and_a_node_input():
    mg = meta([const("c", np.float32(1)), node("y", "Identity", ["c"])], sigs={"s": ({}, {"y": "y:0"})})
    mg.asset_file_def.add(filename="v.txt").tensor_info.name = "c:-7"
    with pytest.raises(RuntimeFailure, match="tensor 'c:-7' names output -7"):
        runtime.run_signature(mg, "s", {})
    # A negative input index must not wrap around to the last output.
    mg = meta([placeholder("x"), node("u", "Unique", ["x"]), node("y", "Identity", ["u:-1"])],
              sigs={"s": ({"x": ("x:0", F32, (None,))}, {"y": "y:0"})})
    with pytest.raises(RuntimeFailure, match="names output -1 .*Unique has 2 output"):
        runtime.run_signature(mg, "s", {"x": np.zeros(2, np.float32)})
    mg = meta([placeholder("x"), node("u", "Unique", ["x"]), node("y", "Identity", ["u:idx:1"])],
              sigs={"s": ({"x": ("x:0", F32, (None,))}, {"y": "y:0"})})
    with pytest.raises(RuntimeFailure, match="'u:idx:1' names output 2"):
        runtime.run_signature(mg, "s", {"x": np.zeros(2, np.float32)})


def test_feeding_a_later_output_of_a_node():
    mg = meta([const("c", np.float32(1)), node("u", "Unique", ["c"]), node("y", "Identity", ["u:1"])],
              sigs={"s": ({"i": ("u:1", I32, (None,))}, {"y": "y:0"})})
    np.testing.assert_array_equal(runtime.run_signature(mg, "s", {"i": np.array([3], np.int32)})["y"], [3])


@pytest.mark.parametrize("attrs", [{"num_sparse": b"x"}, {"num_sparse": -1}, {"Tdense": 5}])
def test_output_layout_attrs_of_the_wrong_kind(attrs):
    # ParseExampleV2's output layout is computed from attrs while compiling the graph:
    # a string num_sparse or an int Tdense used to raise a raw ValueError / TypeError.
    mg = meta([node("p", "ParseExampleV2", **attrs), node("y", "Identity", ["p:dense_values:0"])],
              sigs={"s": ({}, {"y": "y:0"})})
    with pytest.raises(RuntimeFailure, match=r"node 'p' \(ParseExampleV2\).*bad attrs"):
        runtime.run_signature(mg, "s", {})


def test_while_iteration_guard():
    cond_f = function("cond", [("i", I32)], {"c": (DataType.DT_BOOL, "t:output:0")},
                      [const("t", np.bool_(True))])
    body_f = function("body", [("i", I32)], {"i": (I32, "i")}, [])
    mg = meta([const("i0", np.int32(0)),
               node("w", "While", ["i0"], cond=("func", "cond"), body=("func", "body"))],
              [cond_f, body_f], {"s": ({}, {"y": "w:0"})})
    sess = runtime.Session(mg)
    sess.budget = Budget(max_loop_iterations=50)
    with pytest.raises(LimitExceededError, match="more than 50 iterations.*max_loop_iterations") as info:
        sess.run_signature("s", {})
    assert "node 'w' (While)" in str(info.value.where)


def test_trace_sees_every_node():
    mg = meta([placeholder("x"), node("n", "Neg", ["x"]), node("y", "Exp", ["n"])],
              sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "y:0"})})
    seen = []
    runtime.run_signature(mg, "s", {"x": np.float32(0)}, trace=lambda e: seen.append(e.node.name))
    assert seen == ["n", "y"]


# (signature dtype, value, result dtype or the refusal's text): the one casting rule.
_CASTS = [
    (DataType.DT_FLOAT, np.array([1, 2], np.int16), np.float32),
    (DataType.DT_FLOAT, np.array([1.5, -2.25]), np.float32),          # float64 rounds: fine
    (DataType.DT_FLOAT, np.array([1, 2], np.int64), np.float32),
    (DataType.DT_INT64, np.array([1, 2], np.int32), np.int64),
    (DataType.DT_INT32, np.array([1, 2**31 - 1], np.int64), np.int32),  # every value fits
    (DataType.DT_INT64, np.array([1, 2], np.uint64), np.int64),
    (DataType.DT_FLOAT, [1, 2], np.float32),                           # Python ints widen
    (DataType.DT_FLOAT, np.array([1e300]), "overflow float32"),
    (DataType.DT_FLOAT, np.array([2**40 + 1], np.int64), "do not fit float32"),
    (DataType.DT_INT32, np.array([2**40], np.int64), "do not fit int32"),
    (DataType.DT_INT64, np.array([2**63], np.uint64), "do not fit int64"),
    (DataType.DT_INT32, np.array([1.0, 2.0]), "do not convert to int32"),  # never float -> int
    (DataType.DT_INT32, [1.5], "do not convert to int32"),
    (DataType.DT_FLOAT, np.array([1j]), "do not convert to float32"),
]


@pytest.mark.parametrize("dt, value, want", _CASTS)
def test_one_casting_rule(dt, value, want):
    """The Python API refused float64 for float32 while the CLI cast anything (float -> int
    truncated, overflow gave inf): one rule now, and strict=True refuses any conversion."""
    mg = meta([placeholder("x", dt), node("y", "Identity", ["x"])],
              sigs={"s": ({"x": ("x:0", dt, (None,))}, {"y": "y:0"})})
    if isinstance(want, str):
        with pytest.raises(InvalidArgumentError, match=want):
            runtime.run_signature(mg, "s", {"x": value})
        return
    assert runtime.run_signature(mg, "s", {"x": value})["y"].dtype == want
    if isinstance(value, np.ndarray):
        with pytest.raises(InvalidArgumentError, match="strict: no conversion"):
            runtime.run_signature(mg, "s", {"x": value}, strict=True)


def test_blas_threads_are_limited_while_running():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    mg = meta([placeholder("x"), node("y", "MatMul", ["x", "x"])],
              sigs={"s": ({"x": ("x:0", F32, (2, 2))}, {"y": "y:0"})})
    seen = []

    def trace(event):
        seen.extend(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")

    sess = runtime.Session(mg)
    sess.blas_threads = 1
    sess.run_signature("s", {"x": np.eye(2, dtype=np.float32)}, trace=trace)
    if seen:  # numpy's BLAS is visible to threadpoolctl
        assert set(seen) == {1}
    sess.blas_threads = None
    seen.clear()
    sess.run_signature("s", {"x": np.eye(2, dtype=np.float32)}, trace=trace)
    before = {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    assert set(seen) == before


def test_tf1_cond_with_switch_and_merge():
    # y = pred ? x * 2 : -x, the way TF1's tf.cond builds it; z depends on the untaken branch.
    nodes = [placeholder("x"), placeholder("p", DataType.DT_BOOL),
             node("sw", "Switch", ["x", "p"]), const("two", np.float32(2)),
             node("t", "Mul", ["sw:1", "two"]), node("f", "Neg", ["sw"]),
             node("m", "Merge", ["f", "t"]), node("only_true", "Identity", ["t"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, ()), "p": ("p:0", DataType.DT_BOOL, ())},
                                 {"y": "m:0", "i": "m:1"}),
                           "t": ({"x": ("x:0", F32, ()), "p": ("p:0", DataType.DT_BOOL, ())},
                                 {"z": "only_true:0"})})
    out = runtime.run_signature(mg, "s", {"x": np.float32(3), "p": True})
    assert (out["y"], out["i"]) == (6, 1)
    out = runtime.run_signature(mg, "s", {"x": np.float32(3), "p": False})
    assert (out["y"], out["i"]) == (-3, 0)
    with pytest.raises(RuntimeFailure, match="not taken"):
        runtime.run_signature(mg, "t", {"x": np.float32(3), "p": False})
