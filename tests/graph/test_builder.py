"""graph.builder and graph.shapes: attrs, tensor names, static shapes, errors; OpDefs vs TF."""

from __future__ import annotations

import numpy as np
import pytest
from _oracles import ModuleOracle

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import shapes
from savedmodel_io.graph.builder import FunctionBuilder, GraphBuilder, arg_name
from savedmodel_io.proto import DataType
from savedmodel_io.tensors import to_array


class Var:
    """A variable-like object (name, dtype, shape) for captures."""

    def __init__(self, name, value):
        self.name, self.value = name, np.asarray(value)
        self.dtype, self.shape = self.value.dtype, self.value.shape


def node(builder, name):
    (n,) = [n for n in builder.nodes if n.name == name]
    return n


def test_function_tensor_names_and_defaults():
    f = FunctionBuilder("f")
    x = f.arg("X-in", "float32", (None, 3))
    w = f.capture(Var("dense/kernel", np.zeros((3, 2), np.float32)))
    y = f.matmul(x, f.read(w))
    assert x.ref == "x_in" and y.ref == "MatMul:product:0"
    assert y.shape == (None, 2) and y.dtype == DataType.DT_FLOAT
    attrs = node(f, "MatMul").attr
    assert {k for k in attrs} == {"T", "transpose_a", "transpose_b", "grad_a", "grad_b"}
    assert attrs["T"].type == DataType.DT_FLOAT and attrs["transpose_a"].b is False
    fdef = f.to_function_def({"y": y})
    assert [a.name for a in fdef.signature.input_arg] == ["x_in", "dense_kernel_resource"]
    res = fdef.signature.input_arg[1]
    assert res.type == DataType.DT_RESOURCE and res.handle_data[0].dtype == DataType.DT_FLOAT
    assert [d.size for d in res.handle_data[0].shape.dim] == [3, 2]
    assert fdef.arg_attr[0].attr["_user_specified_name"].s == b"X-in"
    # the ReadVariableOp is stateful: outputs wait for it through a NoOp
    assert dict(fdef.control_ret) == {"dense_kernel_resource/Read/ReadVariableOp":
                                      "dense_kernel_resource/Read/ReadVariableOp"}
    ident = node_by_ref(fdef, fdef.ret["identity"])
    assert ident.op == "Identity" and "^NoOp" in ident.input


def node_by_ref(fdef, ref):
    name = ref.split(":")[0]
    (n,) = [n for n in fdef.node_def if n.name == name]
    return n


def test_graph_tensor_names():
    g = GraphBuilder()
    a = g.placeholder("a", "float32", (2, 2))
    outs = g.op("IdentityN", [[a, a]], {"T": [DataType.DT_FLOAT] * 2},
                out_types=[DataType.DT_FLOAT] * 2, out_shapes=[(2, 2)] * 2)
    assert a.ref == "a" and [o.ref for o in outs] == ["IdentityN", "IdentityN:1"]
    assert list(node(g, "IdentityN").attr["T"].list.type) == [DataType.DT_FLOAT] * 2


def test_unique_names():
    f = FunctionBuilder("f")
    x = f.arg("x", "float32", (2,))
    y1, y2 = f.relu(x), f.relu(x)
    assert (y1.node, y2.node) == ("Relu", "Relu_1")
    assert arg_name("1st Input") == "arg_1st_input"


def test_const_and_operators():
    f = FunctionBuilder("f")
    x = f.arg("x", "float32", (None, 4))
    y = (x * 2.0 + 1) / np.float32(3) - x
    assert y.shape == (None, 4)
    consts = [n for n in f.nodes if n.op == "Const"]
    assert [to_array(c.attr["value"].tensor).item() for c in consts] == [2.0, 1.0, 3.0]
    assert all(c.attr["dtype"].type == DataType.DT_FLOAT for c in consts)


@pytest.mark.parametrize("build, shape", [
    (lambda f, x: f.conv2d(x, f.const(np.zeros((3, 3, 3, 8), np.float32)), 1, "SAME"),
     (None, 12, 12, 8)),
    (lambda f, x: f.conv2d(x, f.const(np.zeros((3, 3, 3, 8), np.float32)), 2, "VALID"),
     (None, 5, 5, 8)),
    (lambda f, x: f.conv2d(x, f.const(np.zeros((3, 3, 3, 4), np.float32)), 2, "SAME"),
     (None, 6, 6, 4)),
    (lambda f, x: f.depthwise_conv2d(x, f.const(np.zeros((3, 3, 3, 2), np.float32))),
     (None, 10, 10, 6)),
    (lambda f, x: f.max_pool(x, 2), (None, 6, 6, 3)),
    (lambda f, x: f.avg_pool(x, 3, 2, "SAME"), (None, 6, 6, 3)),
    (lambda f, x: f.reshape(x, [-1, 432]), (None, 432)),
    (lambda f, x: f.transpose(x, [0, 3, 1, 2]), (None, 3, 12, 12)),
    (lambda f, x: f.mean(x, [1, 2]), (None, 3)),
    (lambda f, x: f.mean(x, -1, keepdims=True), (None, 12, 12, 1)),
    (lambda f, x: f.concat([x, x], -1), (None, 12, 12, 6)),
    (lambda f, x: f.stack([x, x], 1), (None, 2, 12, 12, 3)),
    (lambda f, x: f.expand_dims(x, 0), (1, None, 12, 12, 3)),
    (lambda f, x: f.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]]), (None, 14, 16, 3)),
    (lambda f, x: f.argmax(x, -1), (None, 12, 12)),
    (lambda f, x: f.layer_norm(x), (None, 12, 12, 3)),
    (lambda f, x: f.gelu(x), (None, 12, 12, 3)),
    (lambda f, x: f.batch_matmul(x, f.const(np.zeros((3, 5), np.float32))), (None, 12, 12, 5)),
])
def test_shape_inference(build, shape):
    f = FunctionBuilder("f")
    x = f.arg("x", "float32", (None, 12, 12, 3))
    assert build(f, x).shape == shape


def test_gather_and_cast():
    f = FunctionBuilder("f")
    ids = f.arg("ids", "int32", (None, 7))
    emb = f.capture(Var("emb", np.zeros((100, 16), np.float32)))
    e = f.gather(emb, ids)
    assert e.shape == (None, 7, 16) and e.dtype == DataType.DT_FLOAT
    c = f.cast(ids, "float32")
    assert c.dtype == DataType.DT_FLOAT and node(f, "Cast").attr["SrcT"].type == DataType.DT_INT32


@pytest.mark.parametrize("build, text", [
    (lambda f, x: f.matmul(x, f.const(np.zeros((5, 2), np.float32))), "inner dimension"),
    (lambda f, x: f.add(x, f.const(np.zeros((3,), np.int32))), "int32"),
    (lambda f, x: f.add(x, f.const(np.zeros((5,), np.float32))), "do not broadcast"),
    (lambda f, x: f.reshape(x, [5, -1]), "cannot reshape"),
    (lambda f, x: f.reshape(x, [-1, -1]), "at most one -1"),
    (lambda f, x: f.transpose(x, [0, 0]), "not a permutation"),
    (lambda f, x: f.mean(x, 3), "out of range"),
    (lambda f, x: f.max_pool(f.reshape(x, [2, 2, 2, 1]), 2, padding="FULL"), "padding"),
    (lambda f, x: f.activation(x, "swishy"), "unknown activation"),
    (lambda f, x: f.read(x), "not a variable handle"),
    (lambda f, x: f.stack([x, f.const(np.zeros((1, 4), np.float32))]), "do not match"),
    (lambda f, x: f.stack([x, f.const(np.zeros((4,), np.float32))]), "differ in rank"),
])
def test_errors(build, text):
    f = FunctionBuilder("f")
    x = f.arg("x", "float32", (2, 4))
    with pytest.raises(InvalidArgumentError, match=text):
        build(f, x)


def test_concat_of_one_tensor_is_identity():
    """ConcatV2 needs N >= 2, so one tensor gives an Identity, as tf.concat does."""
    f = FunctionBuilder("f")
    y = f.concat([f.arg("x", "float32", (None, 3))], 1)
    assert y.shape == (None, 3)
    assert [n.op for n in f.nodes] == ["Identity"]


def test_tensors_of_other_builders_are_refused():
    f, g = FunctionBuilder("f"), FunctionBuilder("g")
    x = f.arg("x", "float32", (2,))
    with pytest.raises(InvalidArgumentError, match="input 'x' .* belongs to function 'f', not to function 'g'"):
        g.relu(x)


def _variable_model():
    from savedmodel_io.writer import Model

    m = Model()
    w = m.variable("l1/kernel", np.ones((3, 3), np.float32))
    b = m.variable("l1/bias", np.ones(3, np.float32))
    f = m.function("__call__", {"x": ("float32", (None, 3)), "i": ("int32", (None, 3))})
    return m, w, b, f


# Every op method taking tensors, called with a variable where a tensor goes.
_WITH_VARIABLE = {
    "bias_add": lambda f, x, w, b: f.bias_add(x, b),
    "matmul": lambda f, x, w, b: f.matmul(x, w),
    "matmul_left": lambda f, x, w, b: f.matmul(w, w),
    "add": lambda f, x, w, b: f.add(x, b),
    "operator": lambda f, x, w, b: x + f.value(b),
    "relu": lambda f, x, w, b: f.relu(w),
    "concat": lambda f, x, w, b: f.concat([w, x], 0),
    "stack": lambda f, x, w, b: f.stack([b, b]),
    "reshape": lambda f, x, w, b: f.reshape(w, [9]),
    "transpose": lambda f, x, w, b: f.transpose(w, [1, 0]),
    "mean": lambda f, x, w, b: f.mean(w, 0),
    "cast": lambda f, x, w, b: f.cast(b, "float64"),
    "identity": lambda f, x, w, b: f.identity(b),
    "squared_difference": lambda f, x, w, b: f.squared_difference(x, b),
    "expand_dims": lambda f, x, w, b: f.expand_dims(b, 0),
    "argmax": lambda f, x, w, b: f.argmax(w),
}


@pytest.mark.parametrize("op", list(_WITH_VARIABLE))
def test_every_op_reads_a_variable_given_for_a_tensor(op):
    """bias_add(x, variable) raised AttributeError: 'Variable' object has no attribute 'rank'."""
    _, w, b, f = _variable_model()
    y = _WITH_VARIABLE[op](f, f.inputs["x"], w, b)
    assert y.builder is f
    assert "ReadVariableOp" in {n.op for n in f.nodes}
    assert set(map(id, f.captures)) <= {id(w), id(b)}


def test_a_variable_output_is_read():
    _, w, _, f = _variable_model()
    f.outputs({"y": w})
    assert f.output_tensors[0].dtype == DataType.DT_FLOAT and f.captures == [w]


def test_dtype_errors_name_the_users_input_and_variable():
    """They named l1_kernel_resource/Read/ReadVariableOp:value:0 and blamed the kernel alone."""
    _, w, b, f = _variable_model()
    with pytest.raises(InvalidArgumentError) as info:
        f.dense(f.inputs["i"], w, b)
    msg = str(info.value)
    assert "input 'i' is int32" in msg and "variable 'l1/kernel' is float32" in msg
    assert "ReadVariableOp" not in msg
    g = GraphBuilder()
    p = g.placeholder("images", "float64", (None, 3))
    with pytest.raises(InvalidArgumentError, match="input 'images' is float64, .* is float32"):
        g.add(p, g.const(np.ones(3, np.float32)))


def test_output_errors_name_the_users_function():
    """'__inference___call___1: output 'y' is not a Tensor of it' named an internal function."""
    m, _, _, f = _variable_model()
    other = m.function("serve", {"z": ("float32", (None,))})
    with pytest.raises(InvalidArgumentError,
                       match="function '__call__': output 'y': input 'z' .* belongs to function 'serve'"):
        f.outputs({"y": other.inputs["z"]})
    with pytest.raises(InvalidArgumentError, match="output 'y' is a list, not a Tensor"):
        f.outputs({"y": [1.0]})


def test_args_after_captures_are_refused():
    f = FunctionBuilder("f")
    f.capture(Var("v", np.zeros(2, np.float32)))
    with pytest.raises(InvalidArgumentError, match="before capturing"):
        f.arg("x", "float32", (2,))


def test_shapes_module_directly():
    assert shapes.broadcast((None, 1, 3), (4, 1)) == (None, 4, 3)
    assert shapes.broadcast(None, (2,)) is None
    assert shapes.concat([(2, None), (3, 4)], 0) == (5, 4)
    assert shapes.squeeze((1, None, 1, 3), [0, 2]) == (None, 3)
    assert shapes.reshape((None, 6), [-1, 2, 3]) == (None, 2, 3)
    assert shapes.conv2d((1, 8, 8, 2), (3, 3, 2, 4), [1, 1, 1, 1], [1, 2, 2, 1], "VALID",
                         "NHWC") == (1, 4, 4, 4)


# --------------------------------------------------------------------------- TensorFlow


def test_written_nodes_carry_exactly_the_opdef_attrs(tmp_path):
    """Every node we emit (all models, save/restore functions) has all OpDef attrs, no others
    (TensorFlow's OpDefs from graph/opdefs, checked against TF by test_opdefs)."""
    import _writer_models as wm

    from savedmodel_io.graph import opdefs
    from savedmodel_io.writer import build_meta_graph

    seen = set()
    for build in wm.BUILDERS.values():
        model, _, _ = build()
        mg = build_meta_graph(model).meta_graph
        nodes = list(mg.graph_def.node)
        for fdef in mg.graph_def.library.function:
            nodes.extend(fdef.node_def)
        for n in nodes:
            opdef = opdefs.get(n.op)
            assert opdef is not None, (n.name, n.op)
            want = {a.name for a in opdef.attrs}
            have = {k for k in n.attr if not k.startswith("_")}
            assert have == want, (n.name, n.op, have ^ want)
            seen.add(n.op)
    assert {"Conv2D", "FusedBatchNormV3", "BatchMatMulV2", "Erf", "Softmax", "ConcatV2",
            "RestoreV2", "SaveV2", "VarHandleOp"} <= seen


# Builder shapes against TensorFlow's own shape inference of the same computation:
# (name, input shapes, our build, the TF computation). None as an input shape is an
# unknown rank. Too specific a shape is a bug; too general a gap.
_W = np.zeros((3, 3, 3, 8), np.float32)
_G = np.ones(8, np.float32)


def _tf_layer_norm(tf, x):
    mu = tf.reduce_mean(x, -1, keepdims=True)
    var = tf.reduce_mean(tf.math.squared_difference(x, mu), -1, keepdims=True)
    return (x - mu) * tf.math.rsqrt(var + 1e-5) * _G + _G


_TF_CASES = [
    ("matmul", [(None, 3), (3, 4)], lambda f, a, b: f.matmul(a, b),
     lambda tf, a, b: tf.matmul(a, b)),
    ("matmul_ta_tb", [(3, 5), (None, 3)], lambda f, a, b: f.matmul(a, b, True, True),
     lambda tf, a, b: tf.matmul(a, b, True, True)),
    ("matmul_b_rank_unknown", [(5, 3), None], lambda f, a, b: f.matmul(a, b),
     lambda tf, a, b: tf.raw_ops.MatMul(a=a, b=b)),
    ("matmul_a_rank_unknown_tb", [None, (4, 3)], lambda f, a, b: f.matmul(a, b, False, True),
     lambda tf, a, b: tf.raw_ops.MatMul(a=a, b=b, transpose_b=True)),
    ("matmul_rank3", [(None, 3, 4), (4, 5)], lambda f, a, b: f.matmul(a, b),
     lambda tf, a, b: tf.matmul(a, b)),
    ("bmm_broadcast", [(1, 3, 4), (7, None, 4, 5)], lambda f, a, b: f.batch_matmul(a, b),
     lambda tf, a, b: tf.raw_ops.BatchMatMulV2(x=a, y=b)),
    ("bmm_adj", [(None, 4, 3), (2, 5, 4)], lambda f, a, b: f.batch_matmul(a, b, True, True),
     lambda tf, a, b: tf.raw_ops.BatchMatMulV2(x=a, y=b, adj_x=True, adj_y=True)),
    ("bias_add_unknown", [(None, None), (5,)], lambda f, a, b: f.bias_add(a, b),
     lambda tf, a, b: tf.nn.bias_add(a, b)),
    ("bias_add_nchw", [(None, None, 4, 4), (3,)], lambda f, a, b: f.bias_add(a, b, "NCHW"),
     lambda tf, a, b: tf.raw_ops.BiasAdd(value=a, bias=b, data_format="NCHW")),
    ("add_broadcast", [(None, 1, 3), (4, 1)], lambda f, a, b: f.add(a, b),
     lambda tf, a, b: tf.raw_ops.AddV2(x=a, y=b)),
    ("sub_unknown_vs_1", [(None, 1), (1, None)], lambda f, a, b: f.sub(a, b),
     lambda tf, a, b: tf.raw_ops.Sub(x=a, y=b)),
    ("mul_unknown_vs_known", [(2, None), (None,)], lambda f, a, b: f.mul(a, b),
     lambda tf, a, b: tf.raw_ops.Mul(x=a, y=b)),
    ("div_unknown_vs_zero", [(None,), (0,)], lambda f, a, b: f.div(a, b),
     lambda tf, a, b: tf.raw_ops.RealDiv(x=a, y=b)),
    ("add_rank_unknown", [None, (3,)], lambda f, a, b: f.add(a, b),
     lambda tf, a, b: tf.raw_ops.AddV2(x=a, y=b)),
    ("conv_same_s2", [(None, 9, 10, 3)], lambda f, x: f.conv2d(x, f.const(_W), 2, "SAME"),
     lambda tf, x: tf.nn.conv2d(x, _W, 2, "SAME")),
    ("conv_valid_d2", [(None, 9, 10, 3)],
     lambda f, x: f.conv2d(x, f.const(_W), 1, "VALID", dilations=2),
     lambda tf, x: tf.nn.conv2d(x, _W, 1, "VALID", dilations=2)),
    ("conv_valid_s3", [(None, 9, 10, None)], lambda f, x: f.conv2d(x, f.const(_W), 3, "VALID"),
     lambda tf, x: tf.nn.conv2d(x, _W, 3, "VALID")),
    ("conv_rank_unknown", [None], lambda f, x: f.conv2d(x, f.const(_W)),
     lambda tf, x: tf.raw_ops.Conv2D(input=x, filter=_W, strides=[1] * 4, padding="VALID")),
    ("conv_nchw_rank_unknown", [None],
     lambda f, x: f.conv2d(x, f.const(_W), data_format="NCHW"),
     lambda tf, x: tf.raw_ops.Conv2D(input=x, filter=_W, strides=[1] * 4, padding="VALID",
                                     data_format="NCHW")),
    ("depthwise_rank_unknown", [None],
     lambda f, x: f.depthwise_conv2d(x, f.const(_W[..., :2])),
     lambda tf, x: tf.raw_ops.DepthwiseConv2dNative(input=x, filter=_W[..., :2],
                                                    strides=[1] * 4, padding="VALID")),
    ("max_pool_same", [(None, 9, 10, 3)], lambda f, x: f.max_pool(x, 3, 2, "SAME"),
     lambda tf, x: tf.nn.max_pool2d(x, 3, 2, "SAME")),
    ("avg_pool_valid", [(None, 9, 10, 3)], lambda f, x: f.avg_pool(x, 2),
     lambda tf, x: tf.nn.avg_pool2d(x, 2, 2, "VALID")),
    ("relu", [(None, 7)], lambda f, x: f.relu(x), lambda tf, x: tf.nn.relu(x)),
    ("sigmoid", [None], lambda f, x: f.sigmoid(x), lambda tf, x: tf.sigmoid(x)),
    ("tanh", [(None, None, 3)], lambda f, x: f.tanh(x), lambda tf, x: tf.tanh(x)),
    ("softmax", [(None, 7)], lambda f, x: f.softmax(x), lambda tf, x: tf.nn.softmax(x)),
    ("gelu", [(None, 7)], lambda f, x: f.gelu(x),
     lambda tf, x: tf.nn.gelu(x, approximate=False)),
    ("reshape_fill", [(None, 4, 8)], lambda f, x: f.reshape(x, [-1, 32]),
     lambda tf, x: tf.reshape(x, [-1, 32])),
    ("reshape_unknown_fill", [(None, 4, 8)], lambda f, x: f.reshape(x, [2, -1]),
     lambda tf, x: tf.reshape(x, [2, -1])),
    ("reshape_known", [(2, 4, 8)], lambda f, x: f.reshape(x, [-1, 16]),
     lambda tf, x: tf.reshape(x, [-1, 16])),
    ("transpose", [(None, 2, 3, 4)], lambda f, x: f.transpose(x, [3, 1, 0, 2]),
     lambda tf, x: tf.transpose(x, [3, 1, 0, 2])),
    ("concat_unknown", [(None, 3, None), (2, None, 5)], lambda f, a, b: f.concat([a, b], 1),
     lambda tf, a, b: tf.concat([a, b], 1)),
    ("concat_rank_unknown", [(2, 3), None], lambda f, a, b: f.concat([a, b], 0),
     lambda tf, a, b: tf.concat([a, b], 0)),
    ("concat_one", [(None, 3)], lambda f, x: f.concat([x], 1), lambda tf, x: tf.concat([x], 1)),
    ("mean_keepdims", [(None, 3, 4)], lambda f, x: f.mean(x, [1, 2], True),
     lambda tf, x: tf.reduce_mean(x, [1, 2], keepdims=True)),
    ("mean_all", [(None, 3, 4)], lambda f, x: f.mean(x), lambda tf, x: tf.reduce_mean(x)),
    ("mean_rank_unknown", [None], lambda f, x: f.mean(x, 1),
     lambda tf, x: tf.reduce_mean(x, 1)),
    ("layer_norm", [(None, None, 8)], lambda f, x: f.layer_norm(x, f.const(_G), f.const(_G)),
     _tf_layer_norm),
]


TF = ModuleOracle(__name__)


def tf_inferred(request: dict) -> dict:
    """TF's dtype (enum) and static shape of case ``request["case"]`` (runs in the oracle)."""
    import tensorflow as tf

    _, ins, _, theirs = next(c for c in _TF_CASES if c[0] == request["case"])
    specs = [tf.TensorSpec(s, tf.float32) for s in ins]
    want = tf.function(lambda *a: theirs(tf, *a)).get_concrete_function(*specs).structured_outputs
    return {"dtype": want.dtype.as_datatype_enum,
            "shape": None if want.shape.rank is None else want.shape.as_list()}


@pytest.fixture(scope="module")
def tf_shapes() -> dict[str, dict]:
    """TF's answer for every case (recorded; one TF run for the module when it changes)."""
    names = [c[0] for c in _TF_CASES]
    return dict(zip(names, TF.answers([{"function": "tf_inferred", "case": n} for n in names])))


@pytest.mark.tf
@pytest.mark.parametrize("name, ins, ours", [c[:3] for c in _TF_CASES],
                         ids=[c[0] for c in _TF_CASES])
def test_shapes_match_tensorflow_inference(name, ins, ours, tf_shapes):
    """Each built op's static shape and dtype is what TF infers in a tf.function."""
    f = FunctionBuilder("f")
    args = [f.arg(f"a{i}", "float32", s) for i, s in enumerate(ins)]
    got = ours(f, *args)
    want = tf_shapes[name]
    assert got.dtype == want["dtype"]
    assert got.shape == (None if want["shape"] is None else tuple(want["shape"]))
