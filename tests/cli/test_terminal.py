"""Control characters in model names reach a terminal escaped (a name is data, not a command)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from savedmodel_io.cli._terminal import printable
from savedmodel_io.cli.main import main
from savedmodel_io.proto import SavedModel
from savedmodel_io.writer import Model, save

EVIL = "evil\x1b]0;pwned\x07\x1b[2J\x9b"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def evil_model(tmp_path):
    m = Model()
    v = m.variable("v", np.ones(3, np.float32))
    f = m.function("serving_default", {"x": ("float32", (3,))})
    f.outputs(f.inputs["x"] * f.read(v))
    save(tmp_path / "m", m)
    pb = tmp_path / "m" / "saved_model.pb"
    sm = SavedModel.FromString(pb.read_bytes())
    sigs = sm.meta_graphs[0].signature_def
    sigs[EVIL].CopyFrom(sigs["serving_default"])
    pb.write_bytes(sm.SerializeToString())
    return tmp_path / "m"


def test_printable():
    assert printable("a\tb\nc\x1b[31m\x7f\x9b") == "a\tb\nc\\x1b[31m\\x7f\\x9b"
    assert printable("ünïcode ✓") == "ünïcode ✓"


def test_show_escapes_names_on_a_terminal(evil_model, monkeypatch):
    out = _Terminal()
    monkeypatch.setattr("sys.stdout", out)
    assert main(["show", "--dir", str(evil_model), "--all"]) == 0
    text = out.getvalue()
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b" in text and "\x1b" not in text


def test_piped_output_keeps_names_exact(evil_model, capsys):
    assert main(["show", "--dir", str(evil_model), "--all"]) == 0
    assert EVIL in capsys.readouterr().out


def test_error_messages_escape_control_characters(tmp_path, capsys):
    assert main(["show", "--dir", str(tmp_path / "no\x1b[2Jwhere")]) == 1
    err = capsys.readouterr().err
    assert "no\\x1b[2Jwhere" in err and "\x1b" not in err
