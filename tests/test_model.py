"""The object model (``savedmodel_io.load``) and the signature fast path, checked against TF."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CPB_DATA
from _oracles import Oracle

import savedmodel_io
from savedmodel_io.errors import CorruptFileError, LimitExceededError, NotFoundError
from savedmodel_io.formats import saved_model_file
from savedmodel_io.proto import SavedModel as SavedModelProto
from savedmodel_io.proto import TensorInfo, to_text

SIGNATURES = Oracle("signatures")
SIGNATURE_MODELS = [
    "keras_sequential",
    "keras_functional",
    "module_one_signature",
    "module_signatures",
    "module_named_outputs",
    "module_ragged",
    "module_assets",
    "module_dtypes",
    "tf1_tags",
    "tf1_pbtxt",
]


@pytest.fixture(scope="session")
def tf_signatures(fixture_model):
    requests = [
        {"dir": str(fixture_model(n)), "tags": ["serve"] if n.startswith("tf1") else None}
        for n in SIGNATURE_MODELS
    ]
    results = SIGNATURES.answers(requests)
    return dict(zip(SIGNATURE_MODELS, results))


def _spec(s):
    return {"dtype": s.tf_dtype, "shape": None if s.shape is None else list(s.shape)}


@pytest.mark.tf
@pytest.mark.parametrize("name", SIGNATURE_MODELS)
def test_signatures_match_tensorflow(name, fixture_model, tf_signatures):
    """Our inputs/outputs == TF's structured_input_signature kwargs / structured_outputs."""
    want = tf_signatures[name]
    assert "error" not in want, want
    model = savedmodel_io.load(fixture_model(name))
    ours = {k: s for k, s in model.signatures.items() if not k.startswith("__")}
    assert sorted(ours) == sorted(want["signatures"])
    for key, sig in ours.items():
        w = want["signatures"][key]
        assert w["args"] == []
        assert {k: _spec(v) for k, v in sig.inputs.items()} == {
            k: {"dtype": v["dtype"], "shape": v["shape"]} for k, v in w["kwargs"].items()
        }
        outs = w["outputs"]
        assert {k: _spec(v) for k, v in sig.outputs.items()} == {
            k: {"dtype": v["dtype"], "shape": v["shape"]} for k, v in outs.items()
        }
    fast = savedmodel_io.read_signatures(fixture_model(name))
    assert {k: repr(v) for k, v in fast.items()} == {k: repr(v) for k, v in model.signatures.items()}


@pytest.mark.tf
def test_browse_tf2_model(fixture_model):
    m = savedmodel_io.load(fixture_model("module_named_outputs"))
    assert repr(m).splitlines()[0].endswith("tag_sets=['serve'])")
    assert m.tag_sets == [("serve",)]
    mg = m.meta_graph("serve")
    assert m["serve"] is mg and m.meta_graph({"serve"}) is mg and m.meta_graph(["serve"]) is mg
    sig = m.signatures["predict"]
    assert sig.method_name == "tensorflow/serving/predict"
    x = sig.inputs["x"]
    assert (x.key, x.name, x.dtype, x.dtype_name, x.shape) == (
        "x", "predict_x:0", np.dtype("float32"), "DT_FLOAT", (None, 3)
    )
    assert sig.inputs["training"].dtype == np.dtype(bool) and sig.inputs["training"].shape == ()
    assert sig.outputs["count"].dtype == np.dtype("int32")
    assert "predict" in repr(sig) and "x: float32[?,3]" in repr(sig)
    assert "MatMul" in mg.ops and mg.ops == sorted(mg.ops)
    # Mul only appears in the traces of options(), which no graph node calls.
    assert "Mul" not in mg.ops and "Mul" in mg.all_ops and set(mg.ops) <= set(mg.all_ops)
    assert any(f.name.startswith("__inference_predict") for f in mg.functions.values())
    fn = next(f for f in mg.functions.values() if f.name.startswith("__inference_predict"))
    assert "MatMul" in fn.ops and len(fn) > 0 and fn.input_names
    og = mg.object_graph
    assert og is not None and og.root.kind == "user_object"
    funcs = og.functions()
    assert sorted(funcs) == ["keywords", "options", "predict"]
    (kw,) = funcs["keywords"]
    assert kw.args[0].name == "x" and sorted(kw.kwargs) == ["y", "z"]
    (pred,) = funcs["predict"]
    assert sorted(pred.output_signature) == ["count", "logits", "probs"]
    # options(x, scale, mode, flags, opts) traced five times with Python values; TF does
    # not save the trace whose argument is a TensorShape.
    traces = funcs["options"]
    assert len(traces) == 4
    values = sorted((cf.args[1], cf.args[2]) for cf in traces if isinstance(cf.args[2], str))
    assert values == [(2.0, "fast"), (2.0, "fast"), (3, "slow")]
    (odd,) = [cf for cf in traces if not isinstance(cf.args[2], str)]
    assert odd.args[2].name == "float16" and type(odd.args[4]).__name__ == "Pair"
    assert odd.args[4] == (1, "q") and odd.args[4].second == "q"
    assert isinstance(mg.proto.SerializeToString(), bytes)
    assert "ObjectGraph(" in repr(og)


@pytest.mark.tf
def test_tf1_tag_sets(fixture_model):
    m = savedmodel_io.load(fixture_model("tf1_tags"))
    assert m.tag_sets == [("serve",), ("train", "serve"), ("gpu", "serve", "tpu")]
    assert m.meta_graph("serve,train").tags == ("train", "serve")
    assert m.meta_graph(" tpu , gpu,serve").tags == ("gpu", "serve", "tpu")
    assert m.default_meta_graph.tags == ("serve",)
    assert sorted(m.signatures) == ["raw", "serving_default"]
    assert m.meta_graph("serve").object_graph is None
    raw = m.signatures["raw"]
    assert raw.inputs["y"].shape is None and raw.inputs["y"].dtype == np.dtype("int64")
    assert raw.method_name == ""
    with pytest.raises(NotFoundError, match=r"available tag-sets: 'serve'; 'serve, train'"):
        m.meta_graph("bogus")
    with pytest.raises(NotFoundError, match=r"available: raw, serving_default"):
        m.meta_graph("serve").signature("nope")
    with pytest.raises(NotFoundError) as e:
        m.meta_graph("gpu")
    assert isinstance(e.value, FileNotFoundError)


@pytest.mark.tf
def test_sparse_and_ragged_encodings(fixture_model):
    m = savedmodel_io.load(fixture_model("tf1_sparse_ragged"))
    sig = m.signatures["serving_default"]
    sp = sig.inputs["sp"]
    assert sp.encoding == "coo_sparse" and sp.name is None
    assert sp.coo_sparse.values_tensor_name.startswith("sp")
    assert sp.coo_sparse.indices_tensor_name.startswith("sp")
    assert sp.dtype == np.dtype("float32") and sp.shape == (None, 4)
    rt = sig.inputs["rt"]
    assert rt.encoding == "composite" and rt.dtype is None and rt.dtype_name == "DT_INVALID"
    assert rt.type_spec.type_name == "RaggedTensorSpec"
    shape, dtype, ragged_rank, splits = rt.type_spec.state[:4]
    assert (shape.dims, dtype.name, ragged_rank, splits.name) == ((None, None, None), "int32", 1, "int64")
    assert [c.dtype_name for c in rt.components] == ["DT_INT32", "DT_INT64"]
    assert "composite" in repr(rt)


@pytest.mark.tf
def test_assets_and_extra(fixture_model):
    d = fixture_model("module_assets")
    m = savedmodel_io.load(d)
    (asset,) = m.assets
    assert asset.filename == "vocab.txt" and asset.path == d / "assets" / "vocab.txt"
    assert asset.read_bytes() == b"apple\nbanana\ncherry\n"
    assert asset.tensor_name
    assert [p.relative_to(d / "assets.extra").as_posix() for p in m.assets_extra] == [
        "notes/README",
        "tf_serving_warmup_requests",
    ]
    og = m.default_meta_graph.object_graph
    assert any(n.kind == "asset" for n in og.nodes)


@pytest.mark.tf
def test_pbtxt_model(fixture_model):
    d = fixture_model("tf1_pbtxt")
    assert (d / "saved_model.pbtxt").is_file() and not (d / "saved_model.pb").exists()
    m = savedmodel_io.load(d)
    assert m.signatures["serving_default"].inputs["x"].shape == (3,)
    assert saved_model_file.find(d)[0].name == "saved_model.pbtxt"


def test_non_chunked_shared_model():
    d = CPB_DATA / "chunked_saved_model" / "non_chunked_model"
    if not d.is_dir():
        pytest.skip("shared test data not present")
    m = savedmodel_io.load(d)
    assert m.tag_sets == [("serve",)]
    assert "serving_default" in m.signatures
    fast = savedmodel_io.read_signatures(d)
    assert {k: repr(v) for k, v in fast.items()} == {k: repr(v) for k, v in m.signatures.items()}


def _write_model(d, proto: SavedModelProto, text: bool = False):
    d.mkdir(parents=True, exist_ok=True)
    if text:
        (d / "saved_model.pbtxt").write_text(to_text(proto))
    else:
        (d / "saved_model.pb").write_bytes(proto.SerializeToString())
    return d


def _tiny() -> SavedModelProto:
    sm = SavedModelProto(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    node = mg.graph_def.node.add()
    node.name, node.op = "x", "Placeholder"
    sig = mg.signature_def["s"]
    sig.method_name = "m"
    ti = sig.inputs["x"]
    ti.name, ti.dtype = "x:0", 1
    ti.tensor_shape.dim.add().size = -1
    ti.tensor_shape.dim.add().size = 2
    return sm


def test_assets_listed_only_in_the_collection(tmp_path):
    # Older TF1 SavedModelBuilders (and tfx) list assets in the saved_model_assets collection
    # of packed AssetFileDefs; TF's loader falls back to it when asset_file_def is empty.
    from savedmodel_io.graph.variables import asset_feeds
    from savedmodel_io.proto import AssetFileDef

    sm = _tiny()
    mg = sm.meta_graphs[0]
    packed = mg.collection_def["saved_model_assets"].any_list.value.add()
    packed.Pack(AssetFileDef(filename="vocab.txt", tensor_info=TensorInfo(name="path:0")))
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "vocab.txt").write_bytes(b"a\nb\n")
    m = savedmodel_io.SavedModel(sm, tmp_path)
    (asset,) = m.assets
    assert (asset.filename, asset.tensor_name, asset.read_bytes()) == ("vocab.txt", "path:0", b"a\nb\n")
    feeds = asset_feeds(mg, str(tmp_path))
    assert feeds["path:0"].item() == str(tmp_path / "assets" / "vocab.txt").encode()
    # asset_file_def wins when both are present, as in TensorFlow.
    mg.asset_file_def.add(filename="other.txt").tensor_info.name = "other:0"
    assert [a.filename for a in savedmodel_io.SavedModel(sm, tmp_path).assets] == ["other.txt"]
    # A packed message of another type is a corrupt model, named as such.
    del mg.asset_file_def[:]
    mg.collection_def["saved_model_assets"].any_list.value.add().Pack(TensorInfo(name="x"))
    with pytest.raises(CorruptFileError, match="entry 1 of collection 'saved_model_assets'"):
        _ = savedmodel_io.SavedModel(sm, tmp_path).assets


def test_pb_preferred_over_pbtxt(tmp_path):
    sm = _tiny()
    _write_model(tmp_path, sm, text=True)
    other = _tiny()
    other.meta_graphs[0].signature_def["s"].method_name = "from_pb"
    _write_model(tmp_path, other)
    assert savedmodel_io.load(tmp_path).signatures["s"].method_name == "from_pb"


def test_fast_path_skips_graph(tmp_path):
    sm = _tiny()
    mg = sm.meta_graphs[0]
    mg.graph_def.node.add().name = "y" * 1000
    _write_model(tmp_path, sm)
    (small,) = saved_model_file.read_signature_defs(tmp_path)
    assert not small.HasField("graph_def") and list(small.meta_info_def.tags) == ["serve"]
    sig = savedmodel_io.read_signatures(tmp_path)["s"]
    assert sig.inputs["x"].shape == (None, 2)
    with pytest.raises(NotFoundError, match="read_signatures"):
        sig(x=np.zeros((1, 2), np.float32))


def test_default_meta_graph_rules(tmp_path):
    sm = _tiny()
    mg2 = sm.meta_graphs.add()
    mg2.meta_info_def.tags.extend(["train"])
    m = savedmodel_io.SavedModel(sm, tmp_path)
    assert m.default_meta_graph.tags == ("serve",)
    del sm.meta_graphs[0]
    sm.meta_graphs.add().meta_info_def.tags.append("gpu")
    m = savedmodel_io.SavedModel(sm, tmp_path)
    with pytest.raises(NotFoundError, match="no meta graph tagged 'serve'"):
        _ = m.signatures


def test_tensor_spec_dtypes():
    info = TensorInfo(name="s:0", dtype=7)  # DT_STRING
    info.tensor_shape.unknown_rank = True
    from savedmodel_io.specs import spec_from_tensor_info

    s = spec_from_tensor_info("s", info)
    assert s.dtype == np.dtype(object) and s.shape is None and s.rank is None and s.tf_dtype == "string"
    r = spec_from_tensor_info("r", TensorInfo(name="r:0", dtype=20))  # DT_RESOURCE
    assert r.dtype is None and r.dtype_name == "DT_RESOURCE"


@pytest.mark.parametrize(
    "data",
    [
        b"\x12\x05\x0a\x03",  # meta graph field running past the end
        b"\x12\x02\x0a\x10",  # meta_info_def longer than its meta graph
        b"\x12",  # tag without value
        b"\x0b\x00",  # wire type 3 (groups)
        b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # overlong varint
    ],
)
def test_corrupt_files_raise_clean_errors(tmp_path, data):
    (tmp_path / "saved_model.pb").write_bytes(data)
    with pytest.raises(CorruptFileError) as e:
        savedmodel_io.read_signatures(tmp_path)
    assert "saved_model.pb" in str(e.value)
    with pytest.raises(CorruptFileError):
        savedmodel_io.load(tmp_path)


def test_corrupt_pbtxt(tmp_path):
    (tmp_path / "saved_model.pbtxt").write_text("meta_graphs { bogus: 1 }")
    with pytest.raises(CorruptFileError, match="saved_model.pbtxt"):
        savedmodel_io.load(tmp_path)
    (tmp_path / "saved_model.pbtxt").write_bytes(b"\xff\xfe")
    with pytest.raises(CorruptFileError, match="UTF-8"):
        savedmodel_io.load(tmp_path)


def test_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="no such SavedModel directory"):
        savedmodel_io.load(tmp_path / "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(NotFoundError, match="not a directory"):
        savedmodel_io.load(tmp_path / "f")
    with pytest.raises(NotFoundError, match=r"it holds: f\)"):
        savedmodel_io.load(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    import os

    real_open = os.open

    def refuse(path, *args, **kwargs):
        if os.fspath(path).endswith("saved_model.pb"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)  # files are opened by _fsutil.open_regular
    with pytest.raises(savedmodel_io.SavedModelError, match="cannot be read"):
        savedmodel_io.load(tmp_path)
    with pytest.raises(savedmodel_io.SavedModelError, match="Permission denied"):
        savedmodel_io.read_signatures(tmp_path)


def test_too_big_is_refused_before_reading(tmp_path):
    p = tmp_path / "saved_model.pb"
    with open(p, "wb") as f:
        f.truncate(saved_model_file.MAX_PROTO_BYTES + 1)  # sparse file: no disk used
    with pytest.raises(LimitExceededError, match="2 GiB"):
        savedmodel_io.load(tmp_path)


@pytest.mark.slow
def test_saved_model_close_to_2gb_loads(tmp_path):
    """A 1.9 GB saved_model.pb (one huge constant) parses with Python protobuf."""
    sm = _tiny()
    node = sm.meta_graphs[0].graph_def.node.add()
    node.name, node.op = "big", "Const"
    t = node.attr["value"].tensor
    t.dtype = 4  # DT_UINT8
    n = 1900 * 1024 * 1024
    t.tensor_shape.dim.add().size = n
    t.tensor_content = b"\x01" * n
    data = sm.SerializeToString()
    del sm, t, node
    assert saved_model_file.MAX_PROTO_BYTES > len(data) > 1900 * 1024 * 1024
    (tmp_path / "saved_model.pb").write_bytes(data)
    del data
    sig = savedmodel_io.read_signatures(tmp_path)
    assert sig["s"].inputs["x"].shape == (None, 2)
    m = savedmodel_io.load(tmp_path)
    big = m.default_meta_graph.graph_def.node[1]
    assert len(big.attr["value"].tensor.tensor_content) == n


@pytest.mark.tf
def test_variables_many_dtypes(fixture_model):
    m = savedmodel_io.load(fixture_model("module_dtypes"))
    v = m.variables
    assert sorted(v) == sorted(
        ["f16", "f32", "f64", "bf16", "i8", "i16", "i32", "i64", "u8", "u16", "b", "s", "c64", "c128"]
    )
    np.testing.assert_array_equal(v["f16"], np.arange(6, dtype=np.float16).reshape(2, 3))
    assert v["f16"].dtype == np.float16
    assert v["f64"].shape == () and v["f64"] == 3.5
    assert v["bf16"].dtype.name == "bfloat16" and v["bf16"].astype(np.float32).tolist() == [1.5, -2.0]
    assert v["i8"].tolist() == [-1, 2, 127] and v["u16"].tolist() == [65535]
    assert v["i64"].tolist() == [[1 << 40]] and v["b"].tolist() == [True, False, True]
    assert v["s"].tolist() == [b"a", b"bc", b""]
    assert v["c128"].tolist() == [[3 - 4j]] and v["c64"].dtype == np.complex64
    assert v.spec("f16") == ("float16", (2, 3))
    assert v.checkpoint_key("f16") == "f16/.ATTRIBUTES/VARIABLE_VALUE"
    assert "Variables(14:" in repr(v)
    with pytest.raises(NotFoundError, match="did you mean f64, f16"):
        v["f61"]


@pytest.mark.tf
def test_variables_tf1_keras_and_none(fixture_model):
    tf1 = savedmodel_io.load(fixture_model("tf1_tags"))
    assert list(tf1.variables) == ["w"] and tf1.variables["w"].tolist() == [[1, 1], [1, 1]]
    k = savedmodel_io.load(fixture_model("keras_sequential"))
    assert k.variables.spec("variables/0") == ("float32", (4, 8))
    empty = savedmodel_io.load(fixture_model("tf1_pbtxt"))
    assert len(empty.variables) == 0
    with pytest.raises(NotFoundError, match="no variables"):
        _ = empty.checkpoint


def test_signature_call_runs_the_graph():
    """Signature.__call__ delegates to the graph runtime; checked against numpy math."""
    pytest.importorskip("savedmodel_io.graph.runtime")
    from conftest import ROOT

    m = savedmodel_io.load(ROOT / "examples" / "mlp")
    v = m.variables
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    h = np.maximum(x @ v["variables/0"] + v["variables/1"], 0)
    logits = h @ v["variables/2"] + v["variables/3"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    got = m.signatures["serving_default"](features=x)
    assert sorted(got) == ["output_0"]
    np.testing.assert_allclose(got["output_0"], want, rtol=1e-5, atol=1e-6)


def _model_with_bounded_spec(tmp_path, dims, content=False):
    """A saved_model.pb whose one function takes a BoundedTensorSpec with these bounds."""
    sm = SavedModelProto()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    og = mg.object_graph_def
    og.nodes.add().user_object.identifier = "_generic_user_object"
    og.nodes.add().function.concrete_functions.append("cf_1")
    og.nodes[0].children.add(local_name="f", node_id=1)
    cf = og.concrete_functions["cf_1"]
    args = cf.canonicalized_input_signature.tuple_value.values.add().tuple_value
    cf.canonicalized_input_signature.tuple_value.values.add().dict_value.SetInParent()
    b = args.values.add().bounded_tensor_spec_value
    b.name, b.dtype = "x", 1
    for bound, value in ((b.minimum, 1.0), (b.maximum, 2.0)):
        bound.dtype = 1
        for d in dims:
            bound.tensor_shape.dim.add().size = d
        if content:
            bound.tensor_content = np.full(dims, value, np.float32).tobytes()
        else:
            bound.float_val.append(value)
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return tmp_path


def test_signature_values_do_not_expand_without_bound(tmp_path):
    # Browsing decodes every tensor stored in function signatures: one float repeated into
    # 2**28 elements (1 GiB) from a 200-byte file is refused, naming the model.
    d = _model_with_bounded_spec(tmp_path, [1 << 28])
    assert (d / "saved_model.pb").stat().st_size < 300
    with pytest.raises(LimitExceededError, match=f"{d}.*function signature value.*larger than"):
        savedmodel_io.load(d).meta_graph().object_graph.concrete_functions  # noqa: B018


def test_signature_values_are_decoded(tmp_path):
    for content in (False, True):
        og = savedmodel_io.load(_model_with_bounded_spec(tmp_path, [2, 3], content)).meta_graph().object_graph
        spec = og.concrete_functions["cf_1"].args[0]
        np.testing.assert_array_equal(spec.minimum, np.full((2, 3), 1.0, np.float32))
        np.testing.assert_array_equal(spec.maximum, np.full((2, 3), 2.0, np.float32))
