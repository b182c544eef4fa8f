"""repr / _repr_html_ of a loaded model, and --json on every subcommand."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.cli.main import build_parser
from savedmodel_io.formats.bundle import write_checkpoint
from savedmodel_io.proto import SavedModel


def _model(tmp_path, *, corrupt_index: bool = False):
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x<1>"].name = "x:0"
    sig.inputs["x<1>"].dtype = 1
    d = sig.inputs["x<1>"].tensor_shape.dim
    d.add(size=-1)
    d.add(size=3)
    sig.outputs["y"].name = "y:0"
    sig.outputs["y"].dtype = 1
    mg.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "NoOp"
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    write_checkpoint(tmp_path / "variables" / "variables",
                     {"w": np.zeros((4, 4), np.float32), "b": np.zeros(4, np.float64)})
    if corrupt_index:
        (tmp_path / "variables" / "variables.index").write_bytes(b"garbage")
    return savedmodel_io.load(tmp_path)


def test_repr(tmp_path):
    m = _model(tmp_path)
    text = repr(m)
    lines = text.splitlines()
    assert lines[0] == f"SavedModel({str(tmp_path)!r}, tag_sets=['serve'])"
    assert "  tag-set 'serve': 1 signature(s), 0 function(s), 0 node(s)" in lines
    # y records no shape: unknown, not a scalar.
    assert "    serving_default(x<1>: float32[?,3]) -> (y: float32?)" in lines
    assert lines[-1] == "  variables: 2 tensors, 96 B"
    assert m.summary()["variables"] == {"count": 2, "bytes": 96}


def test_repr_html_escapes(tmp_path):
    html = _model(tmp_path)._repr_html_()
    assert "<table>" in html and "x&lt;1&gt;: float32[?,3]" in html and "x<1>" not in html
    assert "tensorflow/serving/predict" in html and "2 tensors, 96 B" in html


def test_repr_of_damaged_variables(tmp_path):
    text = repr(_model(tmp_path, corrupt_index=True))
    assert "variables: unreadable (" in text


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_has_json():
    subs = _subparsers(build_parser())
    assert {"show", "variables", "fingerprint", "graph", "export", "import-weights"} <= set(subs)
    missing = [name for name, p in subs.items()
               if not any("--json" in a.option_strings for a in p._actions)]
    assert missing == []


@pytest.mark.parametrize("argv", [["show", "--dir", "{d}", "--json"],
                                  ["variables", "--dir", "{d}", "--json"]])
def test_json_runs(tmp_path, argv, capsys):
    import json

    from savedmodel_io.cli.main import main

    _model(tmp_path)
    assert main([a.format(d=tmp_path) for a in argv]) == 0
    json.loads(capsys.readouterr().out)
