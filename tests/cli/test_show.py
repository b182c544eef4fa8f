"""``savedmodel-io show`` against TensorFlow's ``saved_model_cli show``, byte for byte."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CPB_DATA, ROOT
from _oracles import Oracle

import savedmodel_io
from savedmodel_io.cli import show
from savedmodel_io.cli.main import main

SMCLI = Oracle("smcli")
MODELS = [
    "keras_sequential",
    "keras_functional",
    "module_no_signature",
    "module_one_signature",
    "module_signatures",
    "module_named_outputs",
    "module_ragged",
    "module_assets",
    "module_dtypes",
    "tf1_tags",
    "tf1_pbtxt",
    "tf1_sparse_ragged",
    "module_two_meta_graphs",
    "serving_half_plus_three",  # signature TensorInfos without a shape
    "serving_counter",  # DT_FLOAT_REF outputs, signatures without inputs
    "complex_api",  # complex64 / complex128 inputs, outputs and variables
]
NON_CHUNKED = CPB_DATA / "chunked_saved_model" / "non_chunked_model"
# saved_model.cpb (read by us) next to saved_model.pbtxt (read by saved_model_cli).
CHUNKED = CPB_DATA / "chunked_saved_model" / "chunked_model"
EXAMPLE = ROOT / "examples" / "mlp"
OTHER = {"non_chunked_model": NON_CHUNKED, "chunked_model": CHUNKED, "examples_mlp": EXAMPLE}


def combos(path: Path) -> list[list[str]]:
    """Every flag combination worth comparing for one model."""
    m = savedmodel_io.load(path)
    out: list[list[str]] = [[], ["--all"], ["--list_ops"], ["--signature_def", "x"]]
    for tags in m.tag_sets:
        t = ",".join(tags)
        out.append(["--tag_set", t])
        out.append(["--tag_set", t, "--list_ops"])
        for key in m.meta_graph(tags).signatures:
            out.append(["--tag_set", t, "--signature_def", key])
        keys = list(m.meta_graph(tags).signatures)
        if keys:
            out.append(["--tag_set", t, "--signature_def", keys[-1], "--list_ops"])
    return out


def model_dirs(fixture_model) -> list[Path]:
    dirs = [fixture_model(n) for n in MODELS]
    return dirs + [d for d in OTHER.values() if d.is_dir()]


@pytest.fixture(scope="session")
def oracle(fixture_model):
    """(dir, argv) -> saved_model_cli's stdout (or error), from one TF process per session."""
    requests = [
        {"dir": str(d), "argv": argv} for d in model_dirs(fixture_model) for argv in combos(d)
    ]
    results = SMCLI.answers(requests)
    return {(r["dir"], tuple(r["argv"])): res for r, res in zip(requests, results)}


_OPS = re.compile(r"^(.*contains the following ops: )(\{.*\}|set\(\))$")
_DICT = re.compile(r"^(\s*Value: \{)(.*)(\x08\x08\})$")


def normalize(text: str) -> list:
    """Lines, with the parts TensorFlow prints in random order made order-free.

    Those are the op set, dict-valued arguments, and the keyword names listed as
    "Named Argument #i" (TensorFlow iterates a dict decoded from a protobuf map).
    """
    out: list = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"^\s*Named Argument #\d+$", lines[i]):
            names = []
            while i + 1 < len(lines) and re.match(r"^\s*Named Argument #\d+$", lines[i]):
                names.append(lines[i + 1])
                i += 2
            out.append(("named arguments", frozenset(names), len(names)))
            continue
        line = lines[i]
        i += 1
        m = _OPS.match(line)
        if m:
            body = m.group(2)
            ops = set() if body == "set()" else set(re.findall(r"'([^']*)'", body))
            out.append((m.group(1), frozenset(ops)))
            continue
        m = _DICT.match(line)
        if m:
            out.append((m.group(1), frozenset(m.group(2).split(", ")), m.group(3)))
            continue
        out.append(line)
    return out


@pytest.mark.tf
@pytest.mark.parametrize("name", MODELS + list(OTHER))
def test_show_matches_saved_model_cli(name, fixture_model, oracle):
    d = OTHER[name] if name in OTHER else fixture_model(name)
    if not d.is_dir():
        pytest.skip("shared test data not present")
    model = savedmodel_io.load(d)
    checked = 0
    for argv in combos(d):
        want = oracle[(str(d), tuple(argv))]
        args = _parse(argv)
        if want["error"]:
            with pytest.raises(savedmodel_io.SavedModelError):
                show.render(model, **args)
            continue
        got = show.render(model, **args)
        if got != want["stdout"]:
            assert normalize(got) == normalize(want["stdout"]), f"show {' '.join(argv)}"
        checked += 1
    assert checked >= 3


@pytest.mark.tf
def test_other_saved_model_cli_flags_flagfile_and_undefok(fixture_model, capsys):
    # saved_model_cli's flags are global (absl): show accepts run's flags and ignores them,
    # reads --flagfile, and skips unknown flags named by --undefok.
    d = str(fixture_model("tf1_tags"))
    flagfile = ROOT / "tests" / ".cache" / "show_flagfile.txt"
    flagfile.parent.mkdir(parents=True, exist_ok=True)
    flagfile.write_text("# a comment\n--tag_set=serve\n\n// another\n--signature_def=raw\n")
    cases = [
        ["--tag_set", "serve", "--overwrite", "--op_denylist", "X", "--verbosity", "1"],
        ["--tag_set=serve", "--signature_def=raw", "--inputs", "a=b.npy", "--notf_debug",
         "--signature_def_key", "k", "--logtostderr"],
        ["--undefok=foo,bar", "--foo", "--nobar", "--tag_set", "serve", "--list_ops"],
        ["--flagfile", str(flagfile)],
        [f"--flagfile={flagfile}", "--list_ops"],
    ]
    # The flagfile enters the key by content, not by where the checkout is.
    results = Oracle("smcli", paths=("dir", "flagfile")).answers(
        [{"dir": d, "argv": c, "flagfile": str(flagfile)} for c in cases])
    for argv, want in zip(cases, results):
        assert want["error"] is None, (argv, want)
        assert main(["show", "--dir", d, *argv]) == 0, argv
        got = capsys.readouterr().out
        assert normalize(got) == normalize(want["stdout"]), argv


def _parse(argv: list[str]) -> dict:
    args = {"all": False, "tag_set": None, "signature_def": None, "list_ops": False}
    it = iter(argv)
    for a in it:
        if a in ("--all", "--list_ops"):
            args[a[2:]] = True
        else:
            args[a[2:]] = next(it)
    return args


def test_ops_sorted_and_dicts_sorted(fixture_model):
    text = show.render(savedmodel_io.load(fixture_model("module_named_outputs")), all=True)
    line = next(x for x in text.splitlines() if "contains the following ops" in x)
    ops = re.findall(r"'([^']*)'", line.split("ops: ", 1)[1])
    assert ops == sorted(ops) and "MatMul" in ops
    assert "Value: {'a': 1, 'b': 'x', \b\b}" in text


@pytest.mark.tf
def test_cli_process_output_is_byte_identical(fixture_model, oracle):
    """The real console entry point, as a process, prints exactly the expected bytes."""
    d = fixture_model("tf1_tags")
    argv = ["--tag_set", "serve", "--signature_def", "serving_default"]
    proc = subprocess.run(
        [sys.executable, "-m", "savedmodel_io", "show", "--dir", str(d), *argv],
        capture_output=True,
        check=False,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == oracle[(str(d), tuple(argv))]["stdout"]
    assert proc.stderr == b""


def test_absl_style_flags(fixture_model, capsys):
    d = str(fixture_model("tf1_tags"))
    assert main(["show", "--dir=" + d, "--tag_set=train,serve", "--nolist_ops"]) == 0
    assert capsys.readouterr().out.endswith('SignatureDef key: "raw"\n')
    assert main(["show", "--dir", d, "--all=false", "--list_ops=true", "--tag_set", "serve"]) == 0
    assert "contains the following ops" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--tag_set", "bogus"], "available tag-sets: 'serve'; 'serve, train'; 'gpu, serve, tpu'"),
        (["--tag_set", "serve", "--signature_def", "nope"], "available: raw, serving_default"),
        (["--tag_set", " , ", "--signature_def", "raw"], "at least one non-empty tag"),
        (["--tag_set", " , "], "no meta graph with tag-set ''"),
    ],
)
def test_errors_are_one_line(fixture_model, capsys, argv, needle):
    d = str(fixture_model("tf1_tags"))
    assert main(["show", "--dir", d, *argv]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.count("\n") == 1 and needle in cap.err, cap.err


def test_ops_line_comes_before_an_unknown_signature_error(fixture_model, capsys):
    # saved_model_cli prints the --list_ops line, then fails on the signature key.
    d = str(fixture_model("tf1_tags"))
    argv = ["show", "--dir", d, "--tag_set", "serve", "--list_ops", "--signature_def", "nope"]
    assert main(argv) == 1
    cap = capsys.readouterr()
    assert cap.out.startswith("The MetaGraph with tag set ['serve'] contains the following ops: {")
    assert cap.out.count("\n") == 1 and "available: raw, serving_default" in cap.err


def test_keys_of_a_meta_graph_without_tags(tmp_path, capsys):
    # A meta graph saved with no tags (SavedModelBuilder with tags=[]): saved_model_cli lists
    # its keys for --tag_set "" (and ","); --signature_def still needs a tag.
    from savedmodel_io.proto import SavedModel

    model = tmp_path / "untagged"
    shutil.copytree(EXAMPLE, model)
    proto = SavedModel.FromString((model / "saved_model.pb").read_bytes())
    del proto.meta_graphs[0].meta_info_def.tags[:]
    (model / "saved_model.pb").write_bytes(proto.SerializeToString())
    (model / "fingerprint.pb").unlink()
    keys = "".join(f'SignatureDef key: "{k}"\n'
                   for k in sorted(proto.meta_graphs[0].signature_def))
    for tag_set in ("", ","):
        assert main(["show", "--dir", str(model), "--tag_set", tag_set]) == 0
        assert capsys.readouterr().out == (
            "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n"
            + keys)
    assert main(["show", "--dir", str(model)]) == 0
    assert capsys.readouterr().out == "The given SavedModel contains the following tag-sets:\n''\n"
    assert main(["show", "--dir", str(model), "--tag_set", "", "--signature_def", "serve"]) == 1
    assert "at least one non-empty tag" in capsys.readouterr().err


def test_missing_dir_and_file(tmp_path, capsys):
    assert main(["show", "--dir", str(tmp_path / "nope")]) == 1
    assert "no such SavedModel directory" in capsys.readouterr().err
    (tmp_path / "variables").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert main(["show", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no saved_model.pb or saved_model.pbtxt" in err and "notes.txt, variables/" in err


def test_corrupt_proto(tmp_path, capsys):
    (tmp_path / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\x0f garbage")
    assert main(["show", "--dir", str(tmp_path), "--all"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "saved_model.pb" in err and "not a valid" in err


def test_json(fixture_model, capsys):
    d = str(fixture_model("module_named_outputs"))
    assert main(["show", "--dir", d, "--all", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (mg,) = doc["meta_graphs"]
    assert mg["tags"] == ["serve"]
    x = mg["signatures"]["predict"]["inputs"]["x"]
    assert x == {"name": "predict_x:0", "dtype": "DT_FLOAT", "shape": [None, 3], "encoding": "dense"}
    opts = doc["concrete_functions"]["options"]
    assert len(opts) == 4
    xs = [o["input_signature"][0][0]["tensor_spec"] for o in opts]
    assert {"name": "x", "dtype": "int32", "shape": [1, 2]} in xs
    # Same order as the text output (saved_model_cli's order).
    text = show.render(savedmodel_io.load(d), all=True)
    text = text.split("Function Name: 'options'")[1].split("Function Name:")[0]
    listed = re.findall(r"x: TensorSpec\(shape=\(([^)]*)\), dtype=tf\.(\w+)", text)
    assert [(x["shape"], x["dtype"]) for x in xs] == [
        ([int(v) for v in shape.split(",") if v.strip()], dt) for shape, dt in listed
    ]
    assert main(["show", "--dir", d, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"tag_sets": [["serve"]]}
    assert main(["show", "--dir", d, "--json", "--tag_set", "serve", "--signature_def", "predict"]) == 0
    sig = json.loads(capsys.readouterr().out)["signature"]
    assert sorted(sig["outputs"]) == ["count", "logits", "probs"]


def test_json_composite(fixture_model, capsys):
    d = str(fixture_model("tf1_sparse_ragged"))
    assert main(["show", "--dir", d, "--json", "--tag_set", "serve", "--signature_def",
                 "serving_default"]) == 0
    sig = json.loads(capsys.readouterr().out)["signature"]
    sp = sig["inputs"]["sp"]
    assert sp["encoding"] == "coo_sparse" and sp["coo_sparse"]["values_tensor_name"].startswith("sp")
    rt = sig["inputs"]["rt"]
    assert rt["encoding"] == "composite" and rt["type_spec"]["type_spec"] == "RaggedTensorSpec"
    assert [c["dtype"] for c in rt["components"]] == ["DT_INT32", "DT_INT64"]
