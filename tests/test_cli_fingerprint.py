"""``savedmodel-io fingerprint``: print, compute, write and verify from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CPB_DATA

from savedmodel_io.cli import fingerprint as cli_fingerprint
from savedmodel_io.cli.main import COMMANDS, main
from savedmodel_io.fingerprint import read_fingerprint

HERE = Path(__file__).resolve().parent
NON_CHUNKED = CPB_DATA / "chunked_saved_model" / "non_chunked_model"


@pytest.fixture(autouse=True)
def only_this_command(monkeypatch):
    # Build the parser with just this subcommand: the test does not depend on the others.
    monkeypatch.setattr("savedmodel_io.cli.main.COMMANDS", ["fingerprint"])


@pytest.fixture
def model(tmp_path) -> Path:
    if not NON_CHUNKED.is_dir():
        pytest.skip("../shared/testdata/cpb is not present")
    d = tmp_path / "model"
    shutil.copytree(NON_CHUNKED, d)
    return d


def test_registered():
    assert "fingerprint" in COMMANDS


def test_print_stored(model, capsys):
    assert main(["fingerprint", "--dir", str(model)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SavedModel Fingerprint\n")
    assert "  graph_def_program_hash: 15266202133698634463\n" in out
    assert "  version: 1\n" in out
    assert "singleprint: 15266202133698634463/10287743835048874254/" in out


def test_json_and_compute(model, capsys):
    assert main(["fingerprint", "--dir", str(model), "--compute", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["saved_model_checksum"] == 3375828970860316073
    assert data["version"] == 4 and data["uuid"].isdigit()


def test_verify_ok(model, capsys):
    assert main(["fingerprint", "--dir", str(model), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "fingerprint: OK" in out
    assert "note: stored fingerprint has producer 1" in out


def test_verify_changed(model, capsys):
    with open(model / "variables" / "variables.index", "ab") as f:
        f.write(b"!")
    assert main(["fingerprint", "--dir", str(model), "--verify"]) == cli_fingerprint.EXIT_CHANGED
    out = capsys.readouterr().out
    assert "checkpoint_hash          CHANGED  stored 1837899844926689093" in out
    assert "fingerprint: CHANGED since it was saved: checkpoint index (variables)" in out
    assert main(["fingerprint", "--dir", str(model), "--verify", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["changed"] == ["checkpoint index (variables)"]
    assert data["fields"]["graph_def_program_hash"]["ok"] is True


def test_write(model, capsys):
    (model / "fingerprint.pb").unlink()
    assert main(["fingerprint", "--dir", str(model)]) == 1
    assert "has no fingerprint.pb" in capsys.readouterr().err
    assert main(["fingerprint", "--dir", str(model), "--write"]) == 0
    assert read_fingerprint(model).version == 4
    assert main(["fingerprint", "--dir", str(model), "--verify"]) == 0


def test_corrupt_file_is_one_line_error(model, capsys):
    (model / "fingerprint.pb").write_bytes(b"\x0a\x05abc")
    assert main(["fingerprint", "--dir", str(model), "--verify"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fingerprint.pb" in err and "wire type" in err
