"""``savedmodel-io variables``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from savedmodel_io.cli import main as cli
from savedmodel_io.formats.bundle import OBJECT_GRAPH_KEY, write_checkpoint
from savedmodel_io.proto import TrackableObjectGraph

ml_dtypes = pytest.importorskip("ml_dtypes")


@pytest.fixture()
def model(tmp_path):
    g = TrackableObjectGraph()
    g.nodes.add().children.add(node_id=1, local_name="dense")
    g.nodes.add().children.add(node_id=2, local_name="kernel")
    g.nodes.add().attributes.add(name="VARIABLE_VALUE", checkpoint_key="dense/kernel/.ATTRIBUTES/VARIABLE_VALUE")
    write_checkpoint(tmp_path / "m" / "variables" / "variables", {
        OBJECT_GRAPH_KEY: np.array(g.SerializeToString(), dtype=object),
        "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.arange(6, dtype=np.float32).reshape(2, 3),
        "names": np.array([b"ok", b"\xff"], dtype=object),
        "bf": np.array([1.5], ml_dtypes.bfloat16),
    })
    return tmp_path / "m"


def run(monkeypatch, capsys, *argv):
    monkeypatch.setattr(cli, "COMMANDS", ["variables"])
    code = cli.main(["variables", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_list(model, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "--dir", model)
    assert code == 0
    assert "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE  float32   [2, 3]  <- dense/kernel" in out
    assert "bf" in out and "bfloat16" in out


def test_list_columns_line_up(tmp_path, monkeypatch, capsys):
    """Each column starts at one offset on every line, whatever the dtype and shape widths."""
    g = TrackableObjectGraph()
    root = g.nodes.add()
    values = {"a": np.zeros((2, 3), np.float32), "long_name": np.zeros(1, ml_dtypes.float8_e4m3fnuz),
              "c": np.zeros((10, 20, 30), np.int8)}
    for i, name in enumerate(values, 1):
        root.children.add(node_id=i, local_name=name)
    for name in values:
        g.nodes.add().attributes.add(name="VARIABLE_VALUE", checkpoint_key=f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
    write_checkpoint(tmp_path / "ck", {
        OBJECT_GRAPH_KEY: np.array(g.SerializeToString(), dtype=object),
        **{f"{k}/.ATTRIBUTES/VARIABLE_VALUE": v for k, v in values.items()},
    })
    _, out, _ = run(monkeypatch, capsys, "--dir", tmp_path / "ck")
    lines = [line for line in out.splitlines() if "<-" in line]
    assert len(lines) == 3
    for token in ("float", "[", "<-"):
        assert len({line.index(token) if token != "float" else line.index(line.split()[1])
                    for line in lines}) == 1, out


def test_list_json(model, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "--dir", model, "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"]["object_path"] == "dense/kernel"
    assert rows["names"]["dtype"] == "string"


def test_one_by_object_path(model, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "--dir", model, "--name", "dense/kernel", "--json")
    doc = json.loads(out)
    assert doc["value"] == [[0, 1, 2], [3, 4, 5]]
    code, out, _ = run(monkeypatch, capsys, "--dir", model, "--name", "names", "--json")
    assert json.loads(out)["value"] == ["ok", {"base64": "/w=="}]
    code, out, _ = run(monkeypatch, capsys, "--dir", model, "--name", "names")
    assert "b'\\xff'" in out


def test_npz(model, tmp_path, monkeypatch, capsys):
    out_file = tmp_path / "all.npz"
    code, _, _ = run(monkeypatch, capsys, "--dir", model, "--npz", out_file)
    assert code == 0
    with np.load(out_file) as z:
        assert z["names"].tolist() == [b"ok", b"\xff"]
        assert z["bf"].dtype == np.float32 and z["bf"][0] == 1.5
        assert z["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"].shape == (2, 3)


def test_errors(model, tmp_path, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "--dir", model, "--name", "dense/kernl")
    assert code == 1 and "no tensor named" in err and "did you mean dense/kernel" in err
    code, _, err = run(monkeypatch, capsys, "--dir", tmp_path / "nope")
    assert code == 1 and "no checkpoint" in err
