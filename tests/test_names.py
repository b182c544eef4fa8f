"""Variable names round-trip: every name a user can know resolves, everywhere, to the right tensor.

The class under test is ``formats.names.NameTable`` and everything that reads names through it:
``load(d).variables``, ``CheckpointReader.resolve``, ``replace_weights`` / ``variable_names`` and
weight export. Models: written by this library (paths of 1..6 parts), TF-made tf.Modules
(nesting, lists, dicts, shared objects, named variables) and Keras 3 exports.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode
from hypothesis import given
from hypothesis import strategies as st

import savedmodel_io
from savedmodel_io import convert
from savedmodel_io.errors import NotFoundError
from savedmodel_io.formats import bundle
from savedmodel_io.replace import replace_weights, variable_names
from savedmodel_io.writer import Model, escape_local_name, save

PATHS = ["a", "l1/kernel", "attn/q/kernel", "b/c/d/e", "x/y/z/w/v", "m/n/o/p/q/r"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A model of this library's writer with variables at paths of 1..6 parts."""
    m = Model()
    for i, p in enumerate(PATHS):
        m.variable(p, np.full(i + 1, i, np.float32))
    f = m.function("__call__", {"x": ("float32", (None,))})
    f.outputs({"y": f.inputs["x"]})
    m.signature("serving_default", f)
    return save(tmp_path_factory.mktemp("names") / "m", m)


def _key(path: str) -> str:
    return "/".join(escape_local_name(p) for p in path.split("/")) + "/.ATTRIBUTES/VARIABLE_VALUE"


def test_written_paths_are_the_names(written):
    """Paths of three or more parts were listed as variables/N (the root's list: a shorter path)."""
    variables = savedmodel_io.load(written).variables
    assert list(variables) == sorted(PATHS)
    reader = savedmodel_io.open_checkpoint(written)
    assert set(reader.object_paths()) == set(PATHS)
    for i, p in enumerate(PATHS):
        want = np.full(i + 1, i, np.float32)
        for name in (p, f"{p}:0", _key(p), f"variables/{i}", f"trainable_variables/{i}"):
            np.testing.assert_array_equal(variables[name], want, err_msg=name)
            assert name in variables
            np.testing.assert_array_equal(reader[reader.resolve(name)], want, err_msg=name)
        assert variables.checkpoint_key(p) == _key(p)


def test_a_miss_suggests_near_names(written):
    variables = savedmodel_io.load(written).variables
    for lookup in (variables.__getitem__, savedmodel_io.open_checkpoint(written).resolve):
        with pytest.raises(NotFoundError, match="did you mean attn/q/kernel") as info:
            lookup("attn/q/kernl")
        assert isinstance(info.value, KeyError)
    assert "attn/q/kernl" not in variables
    assert variables.get("attn/q/kernl") is None


def tf_values_by_path(request: dict) -> dict:
    """TF's value of the variable at each object path (attribute access; runs in the oracle)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(request["dir"])
    out = {}
    for p in PATHS:
        obj = loaded
        for part in p.split("/"):
            obj = getattr(obj, part)
        out[p] = encode(obj.numpy())
    return out


@pytest.mark.tf
def test_written_names_reach_the_same_variable_in_tensorflow(written):
    oracle = ModuleOracle(__name__, paths=("dir",))
    (theirs,) = oracle.answers([{"function": "tf_values_by_path", "dir": str(written)}])
    ours = savedmodel_io.load(written).variables
    for p in PATHS:
        np.testing.assert_array_equal(decode(theirs[p]), ours[p])


@pytest.mark.tf
def test_tf_module_names(fixture_model, tmp_path):
    """tf.Module: nesting 1..6 deep, lists, dicts ('.' and '/' in keys), a shared submodule,
    named and unnamed variables; TensorFlow's attribute access is the reference."""
    fx = fixture_model("names_module")
    model = fx / "model"
    expected = dict(np.load(fx / "expected.npz"))
    variables = savedmodel_io.load(model).variables
    reader = savedmodel_io.open_checkpoint(model)
    for name, want in expected.items():
        np.testing.assert_array_equal(variables[name], want, err_msg=name)
        np.testing.assert_array_equal(reader[reader.resolve(name)], want, err_msg=name)
    # Natural names: the variable's own name where one was given, else the path TF's key spells.
    assert set(variables) == set(expected) - {"named", "attn/q/kernel", "shared/q/kernel"}
    keys = set(json.loads((fx / "keys.json").read_text()))
    for name in variables:
        assert variables.checkpoint_key(name) in keys
    assert variables.checkpoint_key("dct/p/q") == "dct/p.Sq/.ATTRIBUTES/VARIABLE_VALUE"
    assert variables.checkpoint_key("dct/y.z") == "dct/y..z/.ATTRIBUTES/VARIABLE_VALUE"
    # Every name replace_weights accepts, for every key; each one sets that variable.
    names = variable_names(model)
    for name in expected:
        assert any(name in ns for ns in names.values()), name
    new = replace_weights(model, tmp_path / "new", {"shared/q/kernel": expected["attn/q/kernel"] + 1,
                                                    "d6_0/d6_1/d6_2/d6_3/d6_4/v": np.full(6, 7, np.float32)})
    after = savedmodel_io.load(new).variables
    np.testing.assert_array_equal(after["attn/q/kernel"], expected["attn/q/kernel"] + 1)
    np.testing.assert_array_equal(after["d6_0/d6_1/d6_2/d6_3/d6_4/v"], np.full(6, 7, np.float32))
    # Weight export uses the same natural names.
    assert [w.name for w in convert.weight_table(model)] == sorted(variables)


@pytest.mark.tf
def test_keras_variable_paths(fixture_model, tmp_path):
    """Keras 3 exports store each variable twice (variables/N, _all_variables/M): listed once,
    under Keras' variable path; variable_names lists that path for both copies."""
    fx = fixture_model("names_keras")
    model = fx / "model"
    expected = dict(np.load(fx / "expected.npz"))
    variables = savedmodel_io.load(model).variables
    assert list(variables) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_array_equal(variables[name], want, err_msg=name)
        assert len([k for k, ns in variable_names(model).items() if name in ns]) == 2, name
    new = replace_weights(model, tmp_path / "new", {"conv1/kernel": expected["conv1/kernel"] * 3})
    with bundle.open_checkpoint(new) as r:
        copies = [k for k, ns in variable_names(new).items() if "conv1/kernel" in ns]
        for k in copies:
            np.testing.assert_array_equal(r[k], expected["conv1/kernel"] * 3)


def test_unnamed_variable_default_name_is_not_a_natural_name(tmp_path):
    """TensorFlow names unnamed variables 'Variable': the object path names them instead."""
    from savedmodel_io.formats.names import NameTable
    from savedmodel_io.proto import SavedModel

    m = Model()
    m.variable("w", np.zeros(2, np.float32))
    f = m.function("__call__", {"x": ("float32", (None,))})
    f.outputs({"y": f.inputs["x"]})
    path = save(tmp_path / "m", m)
    sm = SavedModel.FromString((path / "saved_model.pb").read_bytes())
    for node in sm.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") == "variable":
            node.variable.name = "Variable"
    with bundle.open_checkpoint(path) as r:
        assert [e.name for e in NameTable(r, sm).entries] == ["w"]
        assert NameTable(r, sm).resolve("Variable:0") == (_key("w"),)


@given(st.lists(st.text(alphabet="./Sa", min_size=1, max_size=6), min_size=1, max_size=4))
def test_key_paths_unescape_what_tensorflow_escapes(parts):
    from savedmodel_io.formats.object_paths import key_object_path

    key = "/".join(escape_local_name(p) for p in parts) + "/.ATTRIBUTES/VARIABLE_VALUE"
    assert key_object_path(key, "VARIABLE_VALUE") == parts


def test_runtime_keys_without_object_graph_escape_like_tensorflow():
    """graph/variables derived keys with '.' -> '.S' and '/' -> './' (TF: '..' and '.S')."""
    from savedmodel_io.graph.variables import _path_keys
    from savedmodel_io.proto import SavedObjectGraph

    og = SavedObjectGraph()
    og.nodes.add().children.add(node_id=1, local_name="a.b")
    og.nodes.add().children.add(node_id=2, local_name="c/d")
    og.nodes.add().variable.name = "v"
    assert _path_keys(og) == {2: "a..b/c.Sd/.ATTRIBUTES/VARIABLE_VALUE"}


def test_runtime_keys_walk_the_object_graph_like_checkpoint_paths(monkeypatch):
    """graph/variables and the checkpoint names share one walk: ids out of range are skipped
    (a negative id named the last node), and a hostile graph's paths are bounded."""
    from savedmodel_io.errors import LimitExceededError
    from savedmodel_io.formats.object_paths import PathBudget
    from savedmodel_io.graph.variables import _path_keys
    from savedmodel_io.proto import SavedObjectGraph

    og = SavedObjectGraph()
    root = og.nodes.add()
    root.children.add(node_id=-1, local_name="wrapped")
    root.children.add(node_id=7, local_name="missing")
    root.children.add(node_id=1, local_name="v")
    og.nodes.add().variable.name = "v"
    assert _path_keys(og) == {1: "v/.ATTRIBUTES/VARIABLE_VALUE"}

    chain = SavedObjectGraph()
    for i in range(1, 301):
        chain.nodes.add().children.add(node_id=i, local_name="x" * 200)
    chain.nodes.add().variable.name = "v"
    monkeypatch.setattr(PathBudget, "MINIMUM", 0)  # 300 steps of 200 characters: 9 MB of
    with pytest.raises(LimitExceededError, match="paths need more than"):  # paths from 63 kB
        _path_keys(chain, "/m")


def test_entry_dtype_is_a_numpy_dtype(written):
    with bundle.open_checkpoint(written) as r:
        e = r.entry(_key("attn/q/kernel"))
        assert e.dtype == np.float32 and np.zeros(1).astype(e.dtype).dtype == np.float32
        assert e.dtype_enum == 1 and e.dtype_name == "float32"
        assert r.entry(bundle.OBJECT_GRAPH_KEY).dtype == np.dtype(object)


def test_a_variable_name_equal_to_another_variables_path_falls_back(tmp_path):
    """Natural names stay unique: a variable named 'b' at path 'a' beside a variable at 'b'."""
    from savedmodel_io.formats.names import NameTable
    from savedmodel_io.proto import SavedModel

    m = Model()
    m.variable("a", np.zeros(1, np.float32))
    m.variable("b", np.ones(2, np.float32))
    f = m.function("__call__", {"x": ("float32", (None,))})
    f.outputs({"y": f.inputs["x"]})
    path = save(tmp_path / "m", m)
    sm = SavedModel.FromString((path / "saved_model.pb").read_bytes())
    for node in sm.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") == "variable":
            node.variable.name = {"a": "b", "b": "Variable"}[node.variable.name]
    with bundle.open_checkpoint(path) as r:
        table = NameTable(r, sm)
        assert [e.name for e in table.entries] == ["a", "b"]
        assert table.resolve("b") == (_key("b"),)  # the natural name wins over the alias
        assert table.resolve("a") == (_key("a"),)
