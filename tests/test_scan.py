"""``savedmodel-io scan`` and ``savedmodel_io.scan``: denylisted ops, compared with saved_model_cli."""

from __future__ import annotations

import ast
import json
import re

import pytest
from _oracles import Oracle

from savedmodel_io.cli.main import main
from savedmodel_io.cli.scan import EXIT_FOUND
from savedmodel_io.errors import NotFoundError
from savedmodel_io.graph import opdefs
from savedmodel_io.proto import SavedModel
from savedmodel_io.scan import DENYLIST, TF_DEFAULT_DENYLIST, scan_meta_graph, scan_saved_model

FILE_OPS = "robust_file_ops"
CLEAN = "robust_clean"
TF1 = "robust_tf1"


def tf_scans(paths) -> list[dict[str, set[str]]]:
    """saved_model_cli scan's findings for each model (recorded): tag-set text -> denylisted
    ops (empty when clean)."""
    answers = Oracle("saved_model_cli").answers([{"dir": str(p), "argv": ["scan"]} for p in paths])
    for answer in answers:
        assert answer["code"] == 0, answer["stdout"][-2000:]
    return [_findings(answer["stdout"]) for answer in answers]


def _findings(text: str) -> dict[str, set[str]]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"MetaGraph with tag set (\[.*?\]) contains the following denylisted ops: (.*)", line)
        if m:
            out[m.group(1)] = set(ast.literal_eval(m.group(2)))
            continue
        m = re.match(r"MetaGraph with tag set (\[.*?\]) does not contain", line)
        if m:
            out[m.group(1)] = set()
    return out


def our_scan(capsys, path, *extra) -> tuple[int, dict[str, set[str]], str]:
    code = main(["scan", "--dir", str(path), *extra])
    text = capsys.readouterr().out
    out = {}
    for line in text.splitlines():
        m = re.match(r"MetaGraph with tag set (\[.*?\]) contains the following denylisted ops: (.*)", line)
        if m:
            out[m.group(1)] = set(ast.literal_eval(m.group(2)))
        elif m := re.match(r"MetaGraph with tag set (\[.*?\]) does not contain", line):
            out[m.group(1)] = set()
    return code, out, text


@pytest.mark.tf
def test_file_ops_model_is_flagged(fixture_model, capsys):
    path = fixture_model(FILE_OPS)
    code, found, text = our_scan(capsys, path)
    assert code == EXIT_FOUND
    assert found == {"['serve']": {"ReadFile", "PrintV2", "WriteFile", "SaveV2"}}
    assert "function '__inference_serve_" in text and "ReadFile (reads or writes files)" in text


@pytest.mark.tf
def test_same_findings_as_saved_model_cli(fixture_model, capsys):
    names = (FILE_OPS, CLEAN, TF1)
    for name, theirs in zip(names, tf_scans([fixture_model(n) for n in names])):
        path = fixture_model(name)
        # TF's own list: identical results.
        code, ours, _ = our_scan(capsys, path, "--op_denylist", ",".join(TF_DEFAULT_DENYLIST))
        assert ours == theirs, name
        assert code == (EXIT_FOUND if any(theirs.values()) else 0)
        # Our default list finds everything TF's does, plus only ops of the wider list.
        _, wide, _ = our_scan(capsys, path)
        for tags, ops in theirs.items():
            assert ops <= wide[tags]
            assert all(op in DENYLIST for op in wide[tags])


@pytest.mark.tf
def test_clean_models_pass(fixture_model, capsys):
    for name in (CLEAN, TF1):
        code, found, text = our_scan(capsys, fixture_model(name))
        assert code == 0, text
        assert found and not any(found.values())
        assert "see --list_denylist" in text


@pytest.mark.tf
def test_own_saver_is_not_reported_but_explicit_list_reports_it(fixture_model, capsys):
    path = fixture_model(CLEAN)
    code, found, _ = our_scan(capsys, path, "--op_denylist", "SaveV2, RestoreV2")
    assert code == EXIT_FOUND and found["['serve']"] == {"SaveV2", "RestoreV2"}
    code, found, text = our_scan(capsys, path, "--op_denylist", "")
    assert code == 0 and found == {"['serve']": set()}
    assert "does not contain the default denylisted ops: {}" in text


@pytest.mark.tf
def test_tag_set_filter(fixture_model, capsys):
    path = fixture_model(TF1)
    code, found, _ = our_scan(capsys, path, "--tag_set", "serve,train")
    assert code == 0 and list(found) == ["['train', 'serve']"]
    assert main(["scan", "--dir", str(path), "--tag_set", "gpu"]) == 1
    err = capsys.readouterr().err
    assert "no meta graph with tag-set 'gpu'" in err and "serve,train" in err
    assert err.count("\n") == 1


@pytest.mark.tf
def test_json(fixture_model, capsys):
    path = fixture_model(FILE_OPS)
    assert main(["scan", "--dir", str(path), "--json"]) == EXIT_FOUND
    doc = json.loads(capsys.readouterr().out)
    assert doc["found"] is True and doc["denylist"] == "default"
    (mg,) = doc["meta_graphs"]
    ops = {d["op"]: d for d in mg["denylisted_ops"]}
    assert set(ops) == {"ReadFile", "PrintV2", "WriteFile", "SaveV2"}
    assert ops["SaveV2"]["category"] == "checkpoint"
    assert ops["ReadFile"]["locations"][0]["function"].startswith("__inference_serve_")


def test_missing_model_is_one_line_error(tmp_path, capsys):
    assert main(["scan", "--dir", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("savedmodel-io scan: error:") and "nope" in err


def test_list_denylist(capsys):
    assert main(["scan", "--list_denylist"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {r[0] for r in rows} == set(DENYLIST)
    assert TF_DEFAULT_DENYLIST <= set(DENYLIST)


def test_dir_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan"])
    assert exc.value.code == 2


def test_denylist_names_are_tensorflow_ops():
    # graph/opdefs is TensorFlow's op registry (checked against it by test_opdefs).
    unknown = [op for op in DENYLIST if not opdefs.is_registered(op)]
    assert not unknown


def _graph(*ops_and_names):
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    for name, op, inputs in ops_and_names:
        mg.graph_def.node.add(name=name, op=op, input=inputs)
    return mg


def test_checkpoint_ops_reachable_from_a_signature_are_reported():
    mg = _graph(
        ("prefix", "Const", []), ("save", "SaveV2", ["prefix"]), ("out", "Identity", ["^save"]),
        ("restore", "RestoreV2", ["prefix"]), ("dead", "RestoreV2", ["prefix"]),
    )
    mg.saver_def.restore_op_name = "restore"
    mg.signature_def["s"].outputs["y"].name = "out:0"
    found = scan_meta_graph(mg).found
    assert list(found) == ["SaveV2"] and found["SaveV2"][0].node == "save"
    # A function called only by the saver is exempt; one also called by a signature is not.
    f = mg.graph_def.library.function.add()
    f.signature.name = "writer"
    f.node_def.add(name="w", op="SaveV2")
    call = mg.graph_def.node.add(name="call", op="StatefulPartitionedCall")
    call.attr["f"].func.name = "writer"
    assert "w" not in {o.node for o in scan_meta_graph(mg).found["SaveV2"]}
    mg.signature_def["s"].outputs["z"].name = "call:0"
    assert "w" in {o.node for o in scan_meta_graph(mg).found["SaveV2"]}


def test_unreached_functions_are_scanned_too():
    mg = _graph(("x", "Placeholder", []))
    f = mg.graph_def.library.function.add()
    f.signature.name = "orphan"
    f.node_def.add(name="r", op="ReadFile")
    f.node_def.add(name="p", op="PyFunc")
    found = scan_meta_graph(mg).found
    assert set(found) == {"ReadFile", "PyFunc"}
    assert found["PyFunc"][0].function == "orphan"


def test_library_api_errors(tmp_path):
    with pytest.raises(NotFoundError):
        scan_saved_model(tmp_path / "missing")
    with pytest.raises(NotFoundError):
        scan_saved_model(tmp_path)
