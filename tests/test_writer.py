"""writer.save without TensorFlow: layout, checkpoint, object graph, atomicity, errors."""

from __future__ import annotations

import os
import stat

import _writer_models as wm
import numpy as np
import pytest
from _oracles import ModuleOracle

from savedmodel_io import writer
from savedmodel_io.errors import InvalidArgumentError, ModelExistsError, NotFoundError
from savedmodel_io.fingerprint import verify_fingerprint
from savedmodel_io.formats import bundle, saved_model_file
from savedmodel_io.proto import DataType, TrackableObjectGraph, parse_message
from savedmodel_io.writer import Model, checkpoint_key, save


@pytest.fixture
def mlp():
    model, _, _ = wm.build_mlp()
    return model


def test_layout_and_signatures(tmp_path, mlp):
    path = save(tmp_path / "m", mlp)
    assert sorted(p.name for p in path.iterdir()) == [
        "assets", "fingerprint.pb", "saved_model.pb", "variables"]
    assert sorted(p.name for p in (path / "variables").iterdir()) == [
        "variables.data-00000-of-00001", "variables.index"]
    sm = saved_model_file.read(path)
    (mg,) = sm.meta_graphs
    assert list(mg.meta_info_def.tags) == ["serve"]
    assert set(mg.signature_def) == {"serving_default", "classify", "__saved_model_init_op"}
    sd = mg.signature_def["serving_default"]
    assert sd.method_name == "tensorflow/serving/predict"
    assert sd.inputs["x"].name == "serving_default_x:0"
    assert [d.size for d in sd.inputs["x"].tensor_shape.dim] == [-1, 4]
    assert set(sd.outputs) == {"probs", "logits"}
    assert [d.size for d in sd.outputs["probs"].tensor_shape.dim] == [-1, 3]
    ids = mg.signature_def["classify"].outputs["class_ids"]
    assert ids.dtype == DataType.DT_INT64 and [d.size for d in ids.tensor_shape.dim] == [-1]
    init = mg.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name
    assert init in {n.name for n in mg.graph_def.node}
    assert mg.saver_def.filename_tensor_name == "saver_filename:0"
    assert verify_fingerprint(path).ok


@pytest.mark.parametrize("build", [wm.build_cnn, wm.build_transformer])
def test_checkpoint_holds_the_exact_values(tmp_path, build):
    model, _, _ = build()
    path = save(tmp_path / "m", model)
    with bundle.open_checkpoint(path / "variables" / "variables") as r:
        for v in model.variables:
            got = r.read(checkpoint_key(v.name.split("/")))
            assert got.dtype == v.value.dtype
            np.testing.assert_array_equal(got, v.value)
        tog = parse_message(TrackableObjectGraph, r.read(writer.OBJECT_GRAPH_KEY).item())
    keys = {a.checkpoint_key for n in tog.nodes for a in n.attributes}
    assert keys == {checkpoint_key(v.name.split("/")) for v in model.variables}


def test_object_graph(tmp_path, mlp):
    path = save(tmp_path / "m", mlp)
    og = saved_model_file.read(path).meta_graphs[0].object_graph_def
    root = {c.local_name: c.node_id for c in og.nodes[0].children}
    assert list(root) == ["dense", "dense_1", "__call__", "classify", "variables",
                          "trainable_variables", "signatures"]
    dense = {c.local_name: c.node_id for c in og.nodes[root["dense_1"]].children}
    bias = og.nodes[dense["bias"]].variable
    assert bias.name == "dense_1/bias" and not bias.trainable
    assert og.nodes[dense["kernel"]].variable.trainable
    trainable = og.nodes[root["trainable_variables"]]
    assert [c.local_name for c in trainable.children] == ["0", "1", "2"]
    call = og.nodes[root["__call__"]].function
    (cf_name,) = call.concrete_functions
    cf = og.concrete_functions[cf_name]
    assert [og.nodes[i].variable.name for i in cf.bound_inputs] == [
        "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    sigs = {c.local_name: c.node_id for c in og.nodes[root["signatures"]].children}
    bare = og.nodes[sigs["serving_default"]].bare_concrete_function
    assert list(bare.argument_keywords) == ["x"]
    library = {f.signature.name for f in
               saved_model_file.read(path).meta_graphs[0].graph_def.library.function}
    assert set(og.concrete_functions) <= library


def test_checkpoint_key_escaping():
    assert checkpoint_key(["a.b", "c/d"]) == "a..b/c.Sd/.ATTRIBUTES/VARIABLE_VALUE"


def test_existing_model_is_not_overwritten(tmp_path, mlp):
    path = save(tmp_path / "m", mlp)
    before = (path / "saved_model.pb").read_bytes()
    other, _, _ = wm.build_transformer()
    with pytest.raises(ModelExistsError):
        save(path, other)
    assert (path / "saved_model.pb").read_bytes() == before
    save(path, other, overwrite=True)
    assert (path / "saved_model.pb").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("stage", ["write_variables", "write_fingerprint", "_copy_asset"])
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_mid_save_leaves_nothing(tmp_path, monkeypatch, stage, exc):
    model = Model()
    model.variable("v", np.ones(3, np.float32))
    model.asset("vocab.txt", b"a\n")
    f = model.function("f", {"x": ("float32", (3,))})
    f.outputs(f.inputs["x"] * f.read(model.variables[0]))

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(writer, stage, fail)
    with pytest.raises(type(exc)):
        save(tmp_path / "new", model)
    assert list(tmp_path.iterdir()) == []
    # Over an existing model: the old one survives intact.
    monkeypatch.undo()
    old = save(tmp_path / "old", model)
    snapshot = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
    monkeypatch.setattr(writer, stage, fail)
    with pytest.raises(type(exc)):
        save(old, model, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == snapshot


def test_directory_permissions_follow_umask(tmp_path, mlp):
    old = os.umask(0o022)
    try:
        path = save(tmp_path / "m", mlp)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


def test_single_function_becomes_serving_default(tmp_path):
    m = Model()
    f = m.function("double", {"x": ("int32", (None,))})
    f.outputs(f.inputs["x"] * 2)
    path = save(tmp_path / "m", m)
    sd = saved_model_file.read(path).meta_graphs[0].signature_def
    assert set(sd) == {"serving_default", "__saved_model_init_op"}
    assert set(sd["serving_default"].outputs) == {"output_0"}


def test_assets_and_extra(tmp_path):
    src = tmp_path / "labels.txt"
    src.write_bytes(b"cat\ndog\n")
    m = Model()
    a = m.asset("labels.txt", src, name="labels")
    f = m.function("f", {"x": ("float32", ())})
    f.outputs({"path": f.identity(f.capture(a)), "y": f.inputs["x"]})
    path = save(tmp_path / "m", m, assets_extra={"x/y.bin": src})
    assert (path / "assets" / "labels.txt").read_bytes() == b"cat\ndog\n"
    assert (path / "assets.extra" / "x" / "y.bin").read_bytes() == b"cat\ndog\n"
    mg = saved_model_file.read(path).meta_graphs[0]
    (afd,) = mg.asset_file_def
    assert afd.filename == "labels.txt" and afd.tensor_info.name == "asset_path_initializer:0"


def test_save_with_cpb_image_format(tmp_path, mlp):
    path = save(tmp_path / "m", mlp, image_format=True)
    names = {p.name for p in path.iterdir()}
    assert "saved_model.pb" in names or "saved_model.cpb" in names
    assert set(saved_model_file.read(path).meta_graphs[0].signature_def) >= {"classify"}


@pytest.mark.parametrize("action, error, text", [
    (lambda m: m.variable("a/b", np.zeros(2)) and m.variable("a/b/c", np.zeros(2)),
     InvalidArgumentError, "already a leaf"),
    (lambda m: m.variable("a", np.zeros(2)) and m.variable("a", np.zeros(2)),
     InvalidArgumentError, "already used"),
    (lambda m: m.variable("variables", np.zeros(2)), InvalidArgumentError, "reserved"),
    (lambda m: m.variable("a//b", np.zeros(2)), InvalidArgumentError, "bad object path"),
    (lambda m: m.variable("s", np.array([b"x"])), InvalidArgumentError, "string variables"),
    (lambda m: m.asset("../x", b""), InvalidArgumentError, "plain file name"),
    (lambda m: m.asset("x", "/nonexistent/file"), NotFoundError, "does not exist"),
    (lambda m: m.function("f", {"x": ("float32", None)}), InvalidArgumentError, "needs a shape"),
    (lambda m: m.signature("k", "missing"), NotFoundError, "not part of this model"),
])
def test_model_errors(action, error, text):
    with pytest.raises(error, match=text):
        action(Model())


def test_save_errors(tmp_path):
    m = Model()
    m.function("f", {"x": ("float32", (2,))})
    with pytest.raises(InvalidArgumentError, match="no outputs"):
        save(tmp_path / "a", m)
    m2 = Model()
    stranger = Model().variable("w", np.ones(2, np.float32))
    f = m2.function("f", {"x": ("float32", (2,))})
    f.outputs(f.inputs["x"] * f.read(stranger))
    with pytest.raises(InvalidArgumentError, match="not a variable or asset of this model"):
        save(tmp_path / "b", m2)
    with pytest.raises(InvalidArgumentError, match="relative path"):
        save(tmp_path / "c", wm.build_mlp()[0], assets_extra={"../evil": b""})
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotFoundError, match="parent directory"):
        save(tmp_path / "file" / "such" / "dir", wm.build_mlp()[0])
    (tmp_path / "file").unlink()
    with pytest.raises(InvalidArgumentError, match="needs a Model"):
        save(tmp_path / "d", object())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_save_creates_missing_parent_directories(tmp_path):
    """save("/models/mnist/1", m) works without /models/mnist, as tf.saved_model.save does."""
    out = save(tmp_path / "models" / "mnist" / "1", wm.build_mlp()[0])
    assert (out / "saved_model.pb").is_file() and (out / "variables" / "variables.index").is_file()
    assert sorted(p.name for p in (tmp_path / "models" / "mnist").iterdir()) == ["1"]  # no temp dirs left


def tf_save_into_missing_parents(request: dict) -> bool:
    """Whether tf.saved_model.save creates missing parent directories (runs in the oracle)."""
    import tempfile
    from pathlib import Path

    import tensorflow as tf

    m = tf.Module()
    m.v = tf.Variable(1.0)
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(m, str(Path(tmp, "tf", "mnist", "1")))
        return Path(tmp, "tf", "mnist", "1", "saved_model.pb").is_file()


@pytest.mark.tf
def test_tf_save_creates_missing_parent_directories():
    """The behaviour we mirror (recorded)."""
    (created,) = ModuleOracle(__name__).answers([{"function": "tf_save_into_missing_parents"}])
    assert created


def test_our_reader_reads_what_we_write(tmp_path):
    """savedmodel_io.load sees the signatures, shapes, assets and functions we declared."""
    from savedmodel_io.model import load

    model, _, _ = wm.build_transformer()
    model.asset("labels.txt", b"x\n")
    path = save(tmp_path / "m", model, assets_extra={"warmup.bin": b"w"})
    sm = load(path)
    sig = sm.signatures["encode"]
    assert sig.inputs["tokens"].shape == (None, 6, 16)
    assert sig.outputs["sequence"].shape == (None, 6, 16)
    assert sig.outputs["pooled"].shape == (None, 16)
    assert sig.outputs["pooled"].dtype_enum == DataType.DT_FLOAT
    assert [a.filename for a in sm.assets] == ["labels.txt"]
    assert sm.assets[0].read_bytes() == b"x\n"
    assert [p.name for p in sm.assets_extra] == ["warmup.bin"]


def test_saving_twice_is_deterministic_and_leaves_the_model_alone(tmp_path):
    model, _, _ = wm.build_mlp()
    extra = {"logits_only": "__call__"}
    a = save(tmp_path / "a", model, signatures=extra)
    b = save(tmp_path / "b", model, signatures=extra)
    assert (a / "saved_model.pb").read_bytes() == (b / "saved_model.pb").read_bytes()
    assert "logits_only" not in model.signatures
    sd = saved_model_file.read(a).meta_graphs[0].signature_def
    assert {"serving_default", "classify", "logits_only"} <= set(sd)


@pytest.mark.parametrize("name", list(wm.BUILDERS))
def test_written_models_run_in_our_runtime(tmp_path, name):
    """Write, load and run without TensorFlow: savedmodel_io.load(...).signatures[k](...)."""
    from savedmodel_io.model import load

    model, inputs, expected = wm.BUILDERS[name]()
    loaded = load(save(tmp_path / name, model))
    for key, feeds in inputs.items():
        got = loaded.signatures[key](**feeds)
        assert set(got) == set(expected[key])
        for out, want in expected[key].items():
            np.testing.assert_allclose(got[out], want, rtol=1e-5, atol=1e-5, err_msg=out)
