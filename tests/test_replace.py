"""replace_weights: new variable values in existing SavedModels, checked against TensorFlow."""

from __future__ import annotations

import hashlib
import os
import re

import _writer_models as wm
import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode

from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    ModelExistsError,
    NotFoundError,
)
from savedmodel_io.fingerprint import read_fingerprint, verify_fingerprint
from savedmodel_io.formats import bundle
from savedmodel_io.replace import replace_weights, variable_names
from savedmodel_io.writer import save


@pytest.fixture
def mlp_dir(tmp_path):
    model, _, _ = wm.build_mlp()
    return save(tmp_path / "mlp", model)


def _values(path):
    with bundle.open_checkpoint(path / "variables" / "variables") as r:
        return {k: r.read(k) for k in r}


def test_replace_by_object_path_key_and_name(mlp_dir, tmp_path):
    k = np.full((4, 8), 0.5, np.float32)
    b = np.arange(8, dtype=np.float32)
    w = np.ones((8, 3), np.float32)
    out = replace_weights(mlp_dir, tmp_path / "new", {
        "dense/kernel": k,                                      # object path
        "dense/bias/.ATTRIBUTES/VARIABLE_VALUE": b,             # checkpoint key
        "dense_1/kernel:0": w,                                  # variable name, TF style
    })
    old, new = _values(mlp_dir), _values(out)
    assert set(old) == set(new)
    np.testing.assert_array_equal(new["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"], k)
    np.testing.assert_array_equal(new["dense/bias/.ATTRIBUTES/VARIABLE_VALUE"], b)
    np.testing.assert_array_equal(new["dense_1/kernel/.ATTRIBUTES/VARIABLE_VALUE"], w)
    np.testing.assert_array_equal(new["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"],
                                  old["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"])
    assert new["_CHECKPOINTABLE_OBJECT_GRAPH"] == old["_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert (out / "saved_model.pb").read_bytes() == (mlp_dir / "saved_model.pb").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in mlp_dir.iterdir())
    check = verify_fingerprint(out)
    assert check.ok and check.stored.checkpoint_hash != read_fingerprint(mlp_dir).checkpoint_hash


def test_list_values_are_converted(mlp_dir, tmp_path):
    out = replace_weights(mlp_dir, tmp_path / "new", {"dense_1/bias": [1, 2, 3]})
    got = _values(out)["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"]
    assert got.dtype == np.float32 and got.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name, value, error, text", [
    ("dense/kernel", np.zeros((4, 7), np.float32), InvalidArgumentError, "shape [4, 8]"),
    ("dense/kernel", np.zeros((4, 8), np.float64), InvalidArgumentError, "float64"),
    ("dense/kernal", np.zeros((4, 8), np.float32), NotFoundError, "did you mean"),
    ("dense/bias", ["x"] * 8, InvalidArgumentError, "not convertible"),
])
def test_bad_replacements_name_the_variable(mlp_dir, tmp_path, name, value, error, text):
    with pytest.raises(error, match=re.escape(text)) as info:
        replace_weights(mlp_dir, tmp_path / "new", {name: value})
    assert name in str(info.value)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mlp"]


def test_same_variable_twice_is_an_error(mlp_dir, tmp_path):
    z = np.zeros((4, 8), np.float32)
    with pytest.raises(InvalidArgumentError, match="given twice"):
        replace_weights(mlp_dir, tmp_path / "new", {"dense/kernel": z, "dense/kernel:0": z})


def test_existing_destination_needs_overwrite(mlp_dir, tmp_path):
    before = (mlp_dir / "variables" / "variables.data-00000-of-00001").read_bytes()
    with pytest.raises(ModelExistsError):
        replace_weights(mlp_dir, mlp_dir, {"dense_1/bias": np.zeros(3, np.float32)})
    assert (mlp_dir / "variables" / "variables.data-00000-of-00001").read_bytes() == before
    replace_weights(mlp_dir, mlp_dir, {"dense_1/bias": np.zeros(3, np.float32)}, overwrite=True)
    assert _values(mlp_dir)["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"].tolist() == [0, 0, 0]
    assert [p.name for p in tmp_path.iterdir()] == ["mlp"]


def test_hard_links_leave_the_source_intact(mlp_dir, tmp_path):
    out = replace_weights(mlp_dir, tmp_path / "new", {"dense_1/bias": np.ones(3, np.float32)},
                          link=True)
    src_pb, dst_pb = mlp_dir / "saved_model.pb", out / "saved_model.pb"
    assert os.path.samefile(src_pb, dst_pb)
    assert not os.path.samefile(mlp_dir / "variables" / "variables.index",
                                out / "variables" / "variables.index")
    assert _values(mlp_dir)["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"].tolist() != [1, 1, 1]


def test_missing_parent_directories_are_created(mlp_dir, tmp_path):
    # Like save() and tf.saved_model.save: models/mlp/2 may be the first version written.
    out = replace_weights(mlp_dir, tmp_path / "models" / "mlp" / "2",
                          {"dense_1/bias": np.ones(3, np.float32)})
    assert out == tmp_path / "models" / "mlp" / "2"
    assert _values(out)["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"].tolist() == [1, 1, 1]


def test_not_a_saved_model(tmp_path):
    with pytest.raises(NotFoundError, match="saved_model"):
        replace_weights(tmp_path, tmp_path / "x", {})


def test_failure_while_writing_leaves_nothing(mlp_dir, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle, "write_checkpoint", boom)
    with pytest.raises(OSError, match="disk full"):
        replace_weights(mlp_dir, tmp_path / "new", {"dense_1/bias": np.ones(3, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["mlp"]


def test_variable_names_lists_aliases(mlp_dir):
    names = variable_names(mlp_dir)
    assert names["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"][:2] == [
        "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel"]
    assert "variables/0" in names["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"]


def _digest(value: np.ndarray) -> str:
    """dtype, shape and bytes of an array, as one string."""
    value = np.ascontiguousarray(value)
    return f"{value.dtype}{list(value.shape)}:{hashlib.sha256(value.tobytes()).hexdigest()}"


def tf_reload(request: dict) -> dict:
    """TF loads a replaced model: the serving_default outputs for ``inputs``, each variable's
    digest (Keras models, which list ``variables``) and the trainable flag of the variables
    at ``attrs`` (runs in the oracle)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(request["dir"])
    feeds = {k: tf.constant(decode(v)) for k, v in request["inputs"].items()}
    got = loaded.signatures["serving_default"](**feeds)
    return {"variables": {v.name[:-2]: _digest(v.numpy())
                          for v in getattr(loaded, "variables", [])},
            "trainable": {a: bool(getattr(loaded, a).trainable) for a in request["attrs"]},
            "outputs": {k: encode(v.numpy()) for k, v in got.items()}}


def _tf_reload(path, inputs: dict, attrs: tuple[str, ...] = ()) -> dict:
    """TensorFlow's view of the model at ``path`` (recorded)."""
    oracle = ModuleOracle(__name__, paths=("dir",))
    request = {"function": "tf_reload", "dir": str(path), "attrs": list(attrs),
               "inputs": {k: encode(v) for k, v in inputs.items()}}
    (answer,) = oracle.answers([request])
    answer["outputs"] = {k: decode(v) for k, v in answer["outputs"].items()}
    return answer


@pytest.mark.tf
def test_tf_module_replacement_matches_tf_assign(fixture_model, tmp_path):
    """tf.Module: replace by object path and variable name; ambiguous names are refused."""
    fx = fixture_model("writer_module")
    new = dict(np.load(fx / "new_weights.npz"))
    io = np.load(fx / "io.npz")
    with pytest.raises(InvalidArgumentError, match="several variables"):
        replace_weights(fx / "model", tmp_path / "bad", {"kernel": new["blocks/0/kernel"]})
    with pytest.raises(InvalidArgumentError, match="int64"):
        replace_weights(fx / "model", tmp_path / "bad", {"steps": np.int32(3)})
    out = replace_weights(fx / "model", tmp_path / "new", new)
    theirs = _tf_reload(out, {"x": io["x"]}, attrs=("scale",))
    np.testing.assert_array_equal(theirs["outputs"]["y"], io["out_y"])
    assert int(theirs["outputs"]["steps"]) == 7
    assert not theirs["trainable"]["scale"]


@pytest.mark.tf
def test_keras_mobilenetv2_replacement_matches_tf_assign(fixture_model, tmp_path):
    """Every variable of a Keras MobileNetV2 replaced without TF = TF assigning them itself."""
    fx = fixture_model("writer_mobilenetv2")
    new = dict(np.load(fx / "new_weights.npz"))
    io = np.load(fx / "io.npz")
    out = replace_weights(fx / "model", tmp_path / "new", new)
    theirs = _tf_reload(out, {str(io["input_key"]): io["x"]})
    assert theirs["variables"]
    for name, digest in theirs["variables"].items():
        assert digest == _digest(new[name]), name
    got = theirs["outputs"]
    for name, value in got.items():
        np.testing.assert_array_equal(value, io[f"out_{name}"])
    # Not vacuous: the original weights gave other outputs.
    assert any(not np.array_equal(io[f"before_{n}"], io[f"out_{n}"]) for n in got)


def test_corrupt_object_graph_is_reported(mlp_dir, tmp_path):
    values = _values(mlp_dir)
    values["_CHECKPOINTABLE_OBJECT_GRAPH"] = np.asarray(b"\xff\xff\xff garbage", dtype=object)
    prefix = mlp_dir / "variables" / "variables"
    for p in (mlp_dir / "variables").iterdir():
        p.unlink()
    bundle.write_checkpoint(str(prefix), values)
    with pytest.raises(CorruptFileError, match="TrackableObjectGraph"):
        replace_weights(mlp_dir, tmp_path / "new", {"dense/kernel": np.zeros((4, 8), np.float32)})
    assert not (tmp_path / "new").exists()


def test_sharded_source_checkpoint(mlp_dir, tmp_path):
    """A source split into several shards (MaxShardSizePolicy-style) is read whole."""
    values = _values(mlp_dir)
    for p in (mlp_dir / "variables").iterdir():
        p.unlink()
    bundle.write_checkpoint(str(mlp_dir / "variables" / "variables"), values, max_shard_size=100)
    assert len(list((mlp_dir / "variables").glob("variables.data-*"))) > 1
    out = replace_weights(mlp_dir, tmp_path / "new", {"dense_1/bias": np.ones(3, np.float32)})
    new = _values(out)
    assert sorted(p.name for p in (out / "variables").iterdir()) == [
        "variables.data-00000-of-00001", "variables.index"]
    for key, value in values.items():
        if key != "dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE":
            np.testing.assert_array_equal(new[key], value)
    assert new["dense_1/bias/.ATTRIBUTES/VARIABLE_VALUE"].tolist() == [1, 1, 1]


def _variables_bytes(model):
    return {p.name: p.read_bytes() for p in sorted((model / "variables").iterdir())}


def test_unchanged_replacement_keeps_the_source_data_order(mlp_dir, tmp_path):
    """Data written in the source's (shard, offset) order, not key order: nothing changes."""
    values = _values(mlp_dir)
    for p in (mlp_dir / "variables").iterdir():
        p.unlink()
    reverse = dict(reversed(list(values.items())))  # data order != sorted key order
    bundle.write_checkpoint(str(mlp_dir / "variables" / "variables"), reverse)
    out = replace_weights(mlp_dir, tmp_path / "same", {})
    assert _variables_bytes(out) == _variables_bytes(mlp_dir)
    with bundle.open_checkpoint(out / "variables" / "variables") as r:
        assert r.data_order() == list(reverse)


@pytest.mark.tf
def test_unchanged_replacement_of_a_tf_model_is_byte_identical(fixture_model, tmp_path):
    src = fixture_model("writer_small_module")
    out = replace_weights(src, tmp_path / "same", {})
    assert _variables_bytes(out) == _variables_bytes(src)
    assert read_fingerprint(out).checkpoint_hash == read_fingerprint(src).checkpoint_hash


def test_destination_inside_source_is_refused(mlp_dir):
    with pytest.raises(InvalidArgumentError, match="inside the source"):
        replace_weights(mlp_dir, mlp_dir / "assets" / "new", {})
    assert sorted(p.name for p in (mlp_dir / "assets").iterdir()) == []


def test_symlinks_are_kept_as_links(mlp_dir, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    os.symlink(outside, mlp_dir / "assets" / "link.txt")
    out = replace_weights(mlp_dir, tmp_path / "new", {})
    copied = out / "assets" / "link.txt"
    assert copied.is_symlink() and os.readlink(copied) == str(outside)


def test_variables_npz_dump_round_trips(mlp_dir, tmp_path):
    """`variables --npz` output (with the object graph in it) is accepted back as is."""
    from savedmodel_io.cli.main import main

    from savedmodel_io.convert import load_weights_file

    assert main(["variables", "--dir", str(mlp_dir), "--npz", str(tmp_path / "w.npz")]) == 0
    weights = load_weights_file(tmp_path / "w.npz")  # joins strings stored losslessly
    weights["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"] = weights[
        "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"] * 2
    out = replace_weights(mlp_dir, tmp_path / "new", weights)
    np.testing.assert_array_equal(_values(out)["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"],
                                  weights["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"])
    weights["_CHECKPOINTABLE_OBJECT_GRAPH"] = np.asarray(b"other")
    with pytest.raises(InvalidArgumentError, match="cannot be replaced"):
        replace_weights(mlp_dir, tmp_path / "new2", weights)
