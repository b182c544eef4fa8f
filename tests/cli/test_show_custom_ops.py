"""``show --all`` on models with ops TensorFlow does not register (tensorflow-text's and the
like): the same "N/A" text as saved_model_cli, the full listing in --json."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from _oracles import Oracle
from conftest import CACHE

import savedmodel_io
from savedmodel_io.cli import show
from savedmodel_io.cli.main import main
from savedmodel_io.proto import SavedModel
from savedmodel_io.writer import Model, save

NA = "Concrete Functions: N/A (could not be listed due to the existence of custom ops in the SavedModel)"
_OPS = re.compile(r"contains the following ops: \{(.*)\}")


def _in_function(path):
    """The custom op inside the traced function, as tensorflow-text's ops are."""
    m = Model()
    f = m.function("__call__", {"x": ("string", (None,))})
    y = f.op("CustomStringSplit", [f.inputs["x"]], {"T": 7}, out_types=[7], out_shapes=[(None,)])
    f.outputs({"y": y[0]})
    m.signature("serving_default", f)
    save(path, m)


def _uncalled_function(path):
    """A library function no one calls uses the custom op: TensorFlow's loader still fails."""
    _plain(path)
    m = Model()
    g = m.function("unused", {"x": ("float32", (None,))})
    g.outputs({"y": g.op("CustomOp", [g.inputs["x"]], {"T": 1}, out_types=[1])[0]})
    extra = save(path.with_name(path.name + "_tmp"), m)
    sm = SavedModel.FromString((path / "saved_model.pb").read_bytes())
    other = SavedModel.FromString((extra / "saved_model.pb").read_bytes())
    lib = sm.meta_graphs[0].graph_def.library.function
    lib.add().CopyFrom(other.meta_graphs[0].graph_def.library.function[0])
    (path / "saved_model.pb").write_bytes(sm.SerializeToString(deterministic=True))
    shutil.rmtree(extra)


def _plain(path):
    m = Model()
    f = m.function("__call__", {"x": ("float32", (None,))})
    f.outputs({"y": f.identity(f.inputs["x"])})
    save(path, m)


def _in_graph_only(path):
    """Only the top-level graph has the custom op: TensorFlow's loader does not import it."""
    _plain(path)
    sm = SavedModel.FromString((path / "saved_model.pb").read_bytes())
    node = sm.meta_graphs[0].graph_def.node.add()
    node.name, node.op = "custom", "CustomTopLevel"
    (path / "saved_model.pb").write_bytes(sm.SerializeToString(deterministic=True))


BUILDERS = {"in_function": _in_function, "uncalled_function": _uncalled_function,
            "in_graph_only": _in_graph_only}


@pytest.fixture(scope="module")
def models():
    """Written to one place in the fixture cache, so the oracle's cached answers apply."""
    root = CACHE / "show_custom_ops"
    out = {}
    for name, build in BUILDERS.items():
        path = root / name
        if path.exists():
            shutil.rmtree(path)
        build(path)
        out[name] = path
    return out


def _same(ours: str, theirs: str) -> None:
    """Equal apart from the op set's order (saved_model_cli prints a Python set)."""
    def norm(text: str) -> list:
        return [frozenset(m.group(1).split(", ")) if (m := _OPS.search(line)) else line
                for line in text.split("\n")]
    assert norm(ours) == norm(theirs)


@pytest.mark.tf
def test_show_all_matches_saved_model_cli(models):
    requests = [{"dir": str(p), "argv": ["--all"]} for p in models.values()]
    answers = dict(zip(models, Oracle("smcli").answers(requests)))
    for name, path in models.items():
        want = answers[name]
        assert want["error"] is None, want
        got = show.render(savedmodel_io.load(path), all=True)
        _same(got, want["stdout"])
        assert (NA in got) == (name != "in_graph_only"), name


def test_json_keeps_the_listing(models, capsys):
    for name in ("in_function", "uncalled_function"):
        assert main(["show", "--dir", str(models[name]), "--all"]) == 0
        assert NA in capsys.readouterr().out
        assert main(["show", "--dir", str(models[name]), "--all", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert "__call__" in doc["concrete_functions"] or "unused" in doc["concrete_functions"]
        assert doc["custom_ops"] in (["CustomStringSplit"], ["CustomOp"])
    assert show.custom_ops(savedmodel_io.load(models["in_graph_only"]).meta_graph()) == []
