"""Weight converters: export to .npz / .safetensors by friendly names, import with a report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _oracles import Oracle
from _oracles.codec import decode, encode
from conftest import ROOT

from savedmodel_io import convert
from savedmodel_io.cli import main as cli
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    MissingDependencyError,
)
from savedmodel_io.formats.bundle import OBJECT_GRAPH_KEY, CheckpointReader, write_checkpoint
from savedmodel_io.proto import SavedModel, TrackableObjectGraph

HAS_SAFETENSORS = importlib.util.find_spec("safetensors") is not None
HAS_REPLACE = importlib.util.find_spec("savedmodel_io.replace") is not None
ml_dtypes = pytest.importorskip("ml_dtypes")

V = ".ATTRIBUTES/VARIABLE_VALUE"


def _checkpoint(root: Path, *, copies: bool = True) -> Path:
    """A SavedModel-like directory: a Keras-3-style object graph (each variable tracked twice)."""
    g = TrackableObjectGraph()
    r = g.nodes.add()
    r.children.add(node_id=1, local_name="variables")
    r.children.add(node_id=2, local_name="_all_variables")
    r.children.add(node_id=7, local_name="table")
    vs, alls = g.nodes.add(), g.nodes.add()
    vs.children.add(node_id=3, local_name="0")
    vs.children.add(node_id=4, local_name="1")
    alls.children.add(node_id=5, local_name="0")
    alls.children.add(node_id=6, local_name="1")
    for nid, key in [(3, "variables/0"), (4, "variables/1"), (5, "_all_variables/0"), (6, "_all_variables/1")]:
        g.nodes.add().attributes.add(name="VARIABLE_VALUE", checkpoint_key=f"{key}/{V}")
        assert len(g.nodes) == nid + 1
    g.nodes.add().attributes.add(name="words", checkpoint_key="table/.ATTRIBUTES/words")
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    bias = np.array([0.5, -1.0], ml_dtypes.bfloat16)
    write_checkpoint(root / "variables" / "variables", {
        OBJECT_GRAPH_KEY: np.array(g.SerializeToString(), dtype=object),
        f"variables/0/{V}": kernel,
        f"variables/1/{V}": bias,
        f"_all_variables/0/{V}": bias if copies else np.array([0.5, 2.0], ml_dtypes.bfloat16),
        f"_all_variables/1/{V}": kernel,
        "table/.ATTRIBUTES/words": np.array([b"a", b"bc"], dtype=object),
    })
    sm = SavedModel()
    og = sm.meta_graphs.add().object_graph_def
    for i in range(len(g.nodes)):
        og.nodes.add()
    for nid, name in [(3, "dense/kernel"), (4, "dense/bias"), (5, "dense/bias"), (6, "dense/kernel")]:
        og.nodes[nid].variable.name = name
    (root / "saved_model.pb").write_bytes(sm.SerializeToString())
    return root


@pytest.fixture()
def model(tmp_path):
    return _checkpoint(tmp_path / "m")


def test_table_merges_copies_and_names_by_variable(model):
    table = {w.name: w for w in convert.weight_table(model)}
    assert set(table) == {"dense/kernel", "dense/bias", "table/.ATTRIBUTES/words"}
    assert table["dense/kernel"].keys == (f"variables/0/{V}", f"_all_variables/1/{V}")
    assert "_all_variables/1" in table["dense/kernel"].aliases
    assert table["dense/bias"].dtype == "bfloat16"
    paths = {w.name for w in convert.weight_table(model, names="path")}
    assert paths == {"variables/0", "variables/1", "_all_variables/0", "_all_variables/1",
                     "table/.ATTRIBUTES/words"}
    keys = {w.name for w in convert.weight_table(model, names="key")}
    assert f"variables/0/{V}" in keys and OBJECT_GRAPH_KEY not in keys
    with pytest.raises(InvalidArgumentError):
        convert.weight_table(model, names="nope")  # type: ignore[arg-type]


def test_different_values_under_one_name_are_not_merged(tmp_path):
    m = _checkpoint(tmp_path / "m", copies=False)
    names = {w.name for w in convert.weight_table(m)}
    assert "dense/bias" not in names and {"variables/1", "_all_variables/0"} <= names


def test_npz_round_trip(model, tmp_path):
    out = tmp_path / "w.npz"
    report = convert.export_weights(model, out)
    assert [w.name for w in report.written] == ["dense/bias", "dense/kernel", "table/.ATTRIBUTES/words"]
    arrays = convert.load_weights_file(out)
    assert arrays["dense/bias"].dtype == np.float32  # bfloat16 widened for .npz
    assert arrays["table/.ATTRIBUTES/words"].tolist() == [b"a", b"bc"]
    with np.load(out) as npz:
        keymap = json.loads(str(npz["__savedmodel_io__"]))
    assert keymap["dense/kernel"] == [f"variables/0/{V}", f"_all_variables/1/{V}"]
    report = convert.match_weights(model, arrays)
    assert report.ok and report.matched["dense/bias"] == (f"variables/1/{V}", f"_all_variables/0/{V}")
    assert report.values["dense/bias"].dtype == ml_dtypes.bfloat16
    assert report.values["table/.ATTRIBUTES/words"].dtype == object


def test_export_reports_progress_through_the_callback(model, tmp_path, capsys):
    """Library code reports (done, total) in bytes and draws nothing; the CLI draws the bar."""
    calls: list[tuple[int, int]] = []
    convert.export_weights(model, tmp_path / "w.npz", progress=lambda done, total: calls.append((done, total)))
    with CheckpointReader(model) as reader:
        sizes = [reader.entry(w.key).size for w in convert.weight_table(reader)]
    assert [done for done, _ in calls] == list(np.cumsum(sizes))
    assert {total for _, total in calls} == {sum(sizes)}
    assert capsys.readouterr() == ("", "")


def test_match_report(model):
    arrays = {
        "_all_variables/1": np.zeros((2, 3), np.float32),        # an alias of dense/kernel
        "dense/bias": np.array([0.1, 0.2], np.float32),          # not exact in bfloat16
        "dense/kernal": np.zeros(1),                              # typo
    }
    r = convert.match_weights(model, arrays)
    assert list(r.matched) == ["dense/kernel"]
    assert [m.name for m in r.mismatched] == ["dense/bias"]
    assert "bfloat16 exactly" in r.mismatched[0].reason
    assert r.unexpected == ["dense/kernal (did you mean dense/kernel?)"]
    assert r.missing == ["table/.ATTRIBUTES/words"]  # dense/bias is given, mismatched
    assert not r.ok
    text = str(r)
    assert "mismatched dense/bias" in text and "missing    table/.ATTRIBUTES/words" in text
    # one reason per line, as docs/convert.md shows it
    assert "  unexpected dense/kernal (did you mean dense/kernel?)\n" in text + "\n"
    bare = convert.match_weights(model, {"zzzz": np.zeros(1)})
    assert "  unexpected zzzz (no such variable in the model)" in str(bare)
    json.dumps(r.to_dict())
    r = convert.match_weights(model, {"dense/kernel": np.zeros((3, 2), np.float32),
                                      "variables/0": np.zeros((2, 3), np.float32)})
    assert r.mismatched[0].reason == "shape differs"
    assert "same variable as another name" in r.unexpected[0]
    r = convert.match_weights(model, {"dense/kernel": np.zeros((2, 3), np.float64)})
    assert "dtype differs" in r.mismatched[0].reason
    r = convert.match_weights(model, {"dense/kernel": np.zeros((2, 3), np.float64)}, cast=True)
    assert r.values["dense/kernel"].dtype == np.float32


@pytest.mark.parametrize("var, value, reason", [
    (np.zeros(2, np.float32), np.array([1e300, 1.0]), "overflow float32"),
    (np.zeros(2, np.float16), np.array([1e6, np.nan], np.float32), "overflow float16"),
    (np.zeros(2, np.int32), np.array([2**40, 1]), "do not fit int32"),
    (np.zeros(2, np.float32), np.array([2**40 + 1, 1]), "do not fit float32"),
])
def test_cast_refuses_values_it_would_change(tmp_path, var, value, reason):
    """cast=True rounds floats but never turns finite values into inf or wraps integers."""
    write_checkpoint(tmp_path / "m" / "variables" / "variables", {f"v/{V}": var})
    r = convert.match_weights(tmp_path / "m", {f"v/{V}": value}, cast=True)
    assert not r.matched and reason in r.mismatched[0].reason


def test_cast_converts_what_fits(tmp_path):
    write_checkpoint(tmp_path / "m" / "variables" / "variables", {
        f"f/{V}": np.zeros(3, np.float32), f"i/{V}": np.zeros(2, np.int32)})
    r = convert.match_weights(tmp_path / "m", {f"f/{V}": np.array([np.inf, 0.1, 1e-50]),
                                               f"i/{V}": np.array([-(2**31), 5])}, cast=True)
    assert r.ok
    np.testing.assert_array_equal(r.values[f"f/{V}"], np.array([np.inf, 0.1, 0.0], np.float32))
    assert r.values[f"i/{V}"].tolist() == [-(2**31), 5]


def test_strict_import_refuses_and_writes_nothing(model, tmp_path):
    with pytest.raises(InvalidArgumentError, match="nothing written") as info:
        convert.import_weights(model, {"dense/kernel": np.zeros((2, 3), np.float32)}, tmp_path / "o")
    assert info.value.report.missing  # type: ignore[attr-defined]
    assert not (tmp_path / "o").exists()


def test_hostile_weight_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFileError, match="bad.npz"):
        convert.load_weights_file(bad)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptFileError, match="unpickling"):
        convert.load_weights_file(pickled)
    with pytest.raises(InvalidArgumentError, match=".npz or .safetensors"):
        convert.load_weights_file(tmp_path / "w.bin")
    if HAS_SAFETENSORS:
        st = tmp_path / "bad.safetensors"
        st.write_bytes(b"\xff" * 8 + b"{}")
        with pytest.raises(CorruptFileError, match="bad.safetensors"):
            convert.load_weights_file(st)


def test_safetensors_missing(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(MissingDependencyError, match=r"savedmodel-io\[safetensors\]"):
        convert.export_weights(model, tmp_path / "w.safetensors")


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors is not installed")
def test_safetensors_export(model, tmp_path):
    out = tmp_path / "w.safetensors"
    report = convert.export_weights(model, out)
    assert report.skipped == {"table/.ATTRIBUTES/words": "safetensors cannot hold string tensors"}
    arrays = convert.load_weights_file(out)
    np.testing.assert_array_equal(arrays["dense/kernel"], np.arange(6, dtype=np.float32).reshape(2, 3))
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        keys = json.loads(f.metadata()["savedmodel_io.keys"])
    assert keys["dense/bias"] == [f"variables/1/{V}", f"_all_variables/0/{V}"]


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors is not installed")
def test_safetensors_bfloat16_round_trip_in_a_fresh_process(model, tmp_path):
    """BF16 comes back exactly, also when nothing imported ml_dtypes before (the CLI case)."""
    out = tmp_path / "w.safetensors"
    convert.export_weights(model, out)
    code = (
        "import sys; from savedmodel_io import convert\n"
        f"a = convert.load_weights_file({str(out)!r})\n"
        "b = a['dense/bias']; print(b.dtype.name, b.astype('float32').tolist())\n"
        f"print(convert.match_weights({str(model)!r}, a))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "bfloat16 [0.5, -1.0]"
    assert lines[1].startswith("matched 2, missing 1")  # the string table cannot travel


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors is not installed")
def test_safetensors_keeps_scalars_scalar(tmp_path):
    """A 0-d variable stays shape [] (np.ascontiguousarray made it [1]: import then refused it)."""
    write_checkpoint(tmp_path / "m" / "variables" / "variables", {
        f"step/{V}": np.array(7, np.int64), f"lr/{V}": np.array(0.5, np.float64)})
    out = tmp_path / "w.safetensors"
    convert.export_weights(tmp_path / "m", out, names="key")
    arrays = convert.load_weights_file(out)
    assert {k: v.shape for k, v in arrays.items()} == {f"step/{V}": (), f"lr/{V}": ()}
    assert convert.match_weights(tmp_path / "m", arrays, names="key").ok


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors is not installed")
def test_safetensors_float8_round_trip(tmp_path):
    """F8_E4M3 / F8_E5M2 tensors load (safetensors' own numpy loader raises AttributeError)."""
    vals = {f"a/{V}": np.array([1.5, 448, -0.0], ml_dtypes.float8_e4m3fn),
            f"b/{V}": np.array([2.0, -57344], ml_dtypes.float8_e5m2),
            f"c/{V}": np.array([[1.5, 3e38]], ml_dtypes.bfloat16)}
    write_checkpoint(tmp_path / "m" / "variables" / "variables", vals)
    out = tmp_path / "w.safetensors"
    assert not convert.export_weights(tmp_path / "m", out, names="key").skipped
    arrays = convert.load_weights_file(out)
    for k, v in vals.items():
        assert arrays[k].dtype == v.dtype and arrays[k].tobytes() == v.tobytes(), k
    assert convert.match_weights(tmp_path / "m", arrays).ok


def test_cli_export(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ["export", "import_weights"])
    out = tmp_path / "w.npz"
    assert cli.main(["export", "--dir", str(model), "--npz", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w["name"] for w in doc["written"]][:2] == ["dense/bias", "dense/kernel"]
    assert cli.main(["import-weights", "--dir", str(model), "--from", str(out), "--dry-run"]) == 0
    assert "matched 3, missing 0" in capsys.readouterr().out
    np.savez(tmp_path / "part.npz", **{"dense/kernel": np.ones((3, 3), np.float32)})
    code = cli.main(["import-weights", "--dir", str(model), "--from", str(tmp_path / "part.npz"),
                     "--out", str(tmp_path / "o")])
    cap = capsys.readouterr()
    assert code == 3 and "mismatched dense/kernel: shape differs" in cap.out
    assert "nothing written" in cap.err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("fmt", ["--npz", "--safetensors"])
def test_cli_export_to_a_directory_is_a_clear_error(model, tmp_path, monkeypatch, capsys, fmt):
    monkeypatch.setattr(cli, "COMMANDS", ["export"])
    (tmp_path / "out.npz").mkdir()
    (tmp_path / "out.safetensors").mkdir()
    target = tmp_path / ("out.npz" if fmt == "--npz" else "out.safetensors")
    assert cli.main(["export", "--dir", str(model), fmt, str(target)]) == 1
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_REPLACE, reason="savedmodel_io.replace (the writer) is not available")
def test_import_writes_every_copy(model, tmp_path):
    new_kernel = np.full((2, 3), 7.0, np.float32)
    report = convert.import_weights(model, {"dense/kernel": new_kernel}, tmp_path / "o", strict=False)
    assert report.output == str(tmp_path / "o") and report.missing
    with CheckpointReader(tmp_path / "o") as r:
        np.testing.assert_array_equal(r.read(f"variables/0/{V}"), new_kernel)
        np.testing.assert_array_equal(r.read(f"_all_variables/1/{V}"), new_kernel)
        assert r.read("table/.ATTRIBUTES/words").tolist() == [b"a", b"bc"]


# ----------------------------------------------------------------------- TensorFlow


def _tf_outputs(requests: list[dict]) -> list[dict]:
    """TensorFlow's outputs of serving_default for each {"dir", "inputs"} (recorded)."""
    coded = [{"dir": r["dir"], "inputs": {k: encode(v) for k, v in r["inputs"].items()}}
             for r in requests]
    answers = Oracle("signature_runs").answers(coded)
    for a in answers:
        assert "error" not in a, a
    return [{k: decode(v) for k, v in a["outputs"].items()} for a in answers]


@pytest.mark.tf
@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors is not installed")
@pytest.mark.skipif(not HAS_REPLACE, reason="savedmodel_io.replace (the writer) is not available")
def test_keras_safetensors_round_trip_tf(fixture_model, tmp_path, monkeypatch, capsys):
    a = fixture_model("eco_keras_small")
    b = fixture_model("eco_keras_small_b")
    st = tmp_path / "a.safetensors"
    monkeypatch.setattr(cli, "COMMANDS", ["export", "import_weights"])
    assert cli.main(["export", "--dir", str(a), "--safetensors", str(st), "-q"]) == 0
    assert "wrote 8 tensors" in capsys.readouterr().out
    out = tmp_path / "b_with_a"
    assert cli.main(["import-weights", "--dir", str(b), "--from", str(st), "--out", str(out)]) == 0
    assert "matched 8, missing 0, unexpected 0, mismatched 0" in capsys.readouterr().out
    assert (out / "saved_model.pb").read_bytes() == (b / "saved_model.pb").read_bytes()
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).round(3).astype(np.float32)
    ra, rb, rc = _tf_outputs([{"dir": str(d), "inputs": {"image": x}} for d in (a, b, out)])
    np.testing.assert_allclose(rc["output_0"], ra["output_0"], rtol=1e-6, atol=1e-6)
    assert not np.allclose(rb["output_0"], ra["output_0"])
